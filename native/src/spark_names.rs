//! What Spark's names mean, as data: which parts of a name are really labels (a listener class,
//! a queue, a streaming query, an application), and the unit of every Spark metric that has
//! one. [`describe`] turns the part of a name after `<namespace>.<executorId>.` into a
//! Prometheus metric name, its labels, a factor to base units, and whether a gauge is really a
//! counter (Spark exposes some running totals as gauges); [`decide`] adds the Dropwizard kind
//! and says what the metric becomes: family (name with its type suffix, type, unit, help), the
//! series it feeds and the factor. This is the one place that decides it.

use crate::label_names::{self as names, LabelName};
use crate::labels::Variant;
use crate::naming;
use crate::sample::Family;
use crate::sample::MetricType;
use crate::snapshot::{Kind, QUANTILES};

/// A unit Spark uses and its factor to Prometheus' base unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unit {
    Nanoseconds,
    Milliseconds,
    Mebibytes,
    Bytes,
}

impl Unit {
    pub fn factor(self) -> f64 {
        match self {
            Unit::Nanoseconds => 1e-9,
            Unit::Milliseconds => 1e-3,
            Unit::Mebibytes => 1024.0 * 1024.0,
            Unit::Bytes => 1.0,
        }
    }

    /// The base unit's name, as suffix and in metadata.
    pub fn base(self) -> &'static str {
        match self {
            Unit::Nanoseconds | Unit::Milliseconds => "seconds",
            Unit::Mebibytes | Unit::Bytes => "bytes",
        }
    }
}

/// One entry of the unit table. `pattern` matches a name (after label extraction) whole; one
/// `*` stands for any run of characters.
struct UnitRule {
    pattern: &'static str,
    /// None: no unit, but the rule still says something (`cumulative`).
    unit: Option<Unit>,
    /// A unit spelled into Spark's name, replaced by the base unit (`memUsed_MB` -> `mem_used_bytes`).
    drop_suffix: &'static str,
    /// A gauge that holds a running total: exported as a counter.
    cumulative: bool,
}

const fn rule(pattern: &'static str, unit: Unit) -> UnitRule {
    UnitRule {
        pattern,
        unit: Some(unit),
        drop_suffix: "",
        cumulative: false,
    }
}

/// A name a broader `total` would take for a counter, which is a gauge.
const fn gauge(pattern: &'static str) -> UnitRule {
    UnitRule {
        pattern,
        unit: None,
        drop_suffix: "",
        cumulative: false,
    }
}

const fn total(pattern: &'static str, unit: Option<Unit>) -> UnitRule {
    UnitRule {
        pattern,
        unit,
        drop_suffix: "",
        cumulative: true,
    }
}

/// The unit of every Spark 3.5 / 4.x metric that has one. Counters are cumulative already; timers
/// are converted from nanoseconds by their type, not here. First match wins.
const UNITS: &[UnitRule] = &[
    // BlockManager.memory.*_MB, BlockManager.disk.diskSpaceUsed_MB, worker.mem*_MB
    UnitRule {
        pattern: "*_MB",
        unit: Some(Unit::Mebibytes),
        drop_suffix: "_MB",
        cumulative: false,
    },
    // master's application.<name>.<start>.runtime_ms
    UnitRule {
        pattern: "*_ms",
        unit: Some(Unit::Milliseconds),
        drop_suffix: "_ms",
        cumulative: false,
    },
    // ExecutorSource counters (TaskMetrics units)
    rule("executor.cpuTime", Unit::Nanoseconds),
    rule("executor.deserializeCpuTime", Unit::Nanoseconds),
    rule("executor.shuffleWriteTime", Unit::Nanoseconds),
    rule("executor.runTime", Unit::Milliseconds),
    rule("executor.deserializeTime", Unit::Milliseconds),
    rule("executor.jvmGCTime", Unit::Milliseconds),
    rule("executor.resultSerializationTime", Unit::Milliseconds),
    rule("executor.shuffleFetchWaitTime", Unit::Milliseconds),
    rule("executor.shuffleRemoteReqsDuration", Unit::Milliseconds),
    rule(
        "executor.shuffleMergedRemoteReqsDuration",
        Unit::Milliseconds,
    ),
    // Hadoop FileSystem statistics of the executor: running totals exposed as gauges
    total("executor.filesystem.*_bytes", Some(Unit::Bytes)),
    total("executor.filesystem.*_ops", None),
    // ThreadPoolExecutor's task totals, exposed as gauges
    total("executor.threadpool.completeTasks", None),
    total("executor.threadpool.startedTasks", None),
    rule("executor.*Bytes*", Unit::Bytes),
    rule("executor.*bytes*", Unit::Bytes),
    rule("executor.resultSize", Unit::Bytes),
    // ExecutorMetrics gauges: memory in bytes, GC totals in ms and counts
    rule("ExecutorMetrics.*Memory", Unit::Bytes),
    total("ExecutorMetrics.*GCTime", Some(Unit::Milliseconds)),
    total("ExecutorMetrics.*GCCount", None),
    // JVMCPU: process CPU time since start
    total("JVMCPU.jvmCpuTime", Some(Unit::Nanoseconds)),
    // AppStatusSource: duration of the running jobs
    rule("appStatus.jobDuration", Unit::Milliseconds),
    // CodegenMetrics histograms
    rule("CodeGenerator.compilationTime", Unit::Milliseconds),
    rule("CodeGenerator.*Size", Unit::Bytes),
    // Netty memory of the block transfer service
    rule("*.usedHeapMemory", Unit::Bytes),
    rule("*.usedDirectMemory", Unit::Bytes),
    // Structured streaming (spark.streaming.<query>.*)
    rule("spark.streaming.latency", Unit::Milliseconds),
    rule("spark.streaming.states-usedBytes", Unit::Bytes),
    // JvmSource, when enabled
    rule("jvm.*.used", Unit::Bytes),
    rule("jvm.*.committed", Unit::Bytes),
    rule("jvm.*.max", Unit::Bytes),
    rule("jvm.*.init", Unit::Bytes),
    rule("jvm.pools.used-after-gc", Unit::Bytes),
    rule("jvm.direct.capacity", Unit::Bytes),
    rule("jvm.mapped.capacity", Unit::Bytes),
    // BufferPoolMetricSet's count is how many buffers exist now (it goes down); a GC's count is
    // a running total.
    gauge("jvm.direct.count"),
    gauge("jvm.mapped.count"),
    total("jvm.*.time", Some(Unit::Milliseconds)),
    total("jvm.*.count", None),
];

/// Parts of names that are values, not names: `(prefix, label, what follows)`.
/// `Rest`: everything after the prefix is the value (`...listenerProcessingTime.<class>`).
/// `AllButLast`: the value runs to the last dot; the last part is the metric
/// (`LiveListenerBus.queue.<queue>.size`). Values may contain dots themselves.
enum Take {
    Rest,
    AllButLast,
}

const LABEL_RULES: &[(&str, LabelName, Take)] = &[
    (
        "LiveListenerBus.listenerProcessingTime.",
        names::LISTENER,
        Take::Rest,
    ),
    ("LiveListenerBus.queue.", names::QUEUE, Take::AllButLast),
    ("spark.streaming.", names::QUERY, Take::AllButLast),
    ("jvm.pools.", names::POOL, Take::AllButLast),
];

/// What one Spark name becomes.
#[derive(Debug, PartialEq)]
pub struct Described {
    /// The metric name without type suffixes (`_total`, `_seconds` of timers).
    pub name: String,
    pub labels: Vec<(LabelName, String)>,
    /// Multiply values by this to get base units.
    pub factor: f64,
    /// The base unit's name, or "" when the metric has none.
    pub unit: &'static str,
    /// A gauge that is really a counter.
    pub cumulative: bool,
}

/// `rest` is the name after `<namespace>.<executorId>.` (or the whole name in a daemon).
pub fn describe(rest: &str) -> Described {
    let (base, labels) = extract_labels(rest);
    let rule = UNITS.iter().find(|r| matches(r.pattern, &base));
    let stem = match rule {
        Some(r) if !r.drop_suffix.is_empty() => base.strip_suffix(r.drop_suffix).unwrap_or(&base),
        _ => &base,
    };
    // Structured streaming's source is already called spark.streaming.
    let prefix = if stem.starts_with("spark.") {
        ""
    } else {
        "spark"
    };
    let mut name = naming::metric_name(prefix, stem);
    let (factor, unit) = match rule.and_then(|r| r.unit) {
        Some(u) => {
            let unit = u.base();
            if !name.ends_with(unit) && !name.contains(&format!("_{unit}_")) {
                name.push('_');
                name.push_str(unit);
            }
            (u.factor(), unit)
        }
        None => (1.0, ""),
    };
    let cumulative = rule.is_some_and(|r| r.cumulative);
    Described {
        name,
        labels,
        factor,
        unit,
        cumulative,
    }
}

/// A summary's series: one per quantile Dropwizard reports, then `_count`.
fn summary_variants() -> Vec<Variant> {
    let mut list: Vec<Variant> = QUANTILES
        .iter()
        .map(|q| Variant::labelled(names::QUANTILE, q.to_string()))
        .collect();
    list.push(Variant::suffixed("_count"));
    list
}

/// How one Spark metric is exported: its family, the series each reading feeds (one, or a
/// summary's quantiles then `_count`) and the factor that turns its values into base units.
pub struct Decision {
    pub family: Family,
    pub variants: Vec<Variant>,
    pub factor: f64,
}

/// Dropwizard Counters that Spark counts up and down (open connections of the external shuffle
/// service, `ExternalBlockHandler.ShuffleMetrics`): gauges, since a counter that goes down reads
/// as a reset to Prometheus. Matched against the name's last part.
const UP_DOWN_COUNTERS: &[&str] = &["activeConnections", "registeredConnections"];

/// Whether a Counter of this name goes up and down.
pub fn is_up_down_counter(rest: &str) -> bool {
    let last = rest.rsplit('.').next().unwrap_or(rest);
    UP_DOWN_COUNTERS.contains(&last)
}

/// What a metric named `rest` (after `<namespace>.<executorId>.`) of this Dropwizard kind
/// becomes: the one place that decides type, suffix, unit and labels.
pub fn decide(rest: &str, kind: Kind) -> Decision {
    let described = describe(rest);
    let kind = match kind {
        Kind::Counter if is_up_down_counter(rest) => Kind::Gauge,
        other => other,
    };
    let (name, metric_type, unit, factor) = match kind {
        Kind::Gauge if described.cumulative => (
            with_suffix(described.name, "_total"),
            MetricType::Counter,
            described.unit,
            described.factor,
        ),
        Kind::Gauge => (
            described.name,
            MetricType::Gauge,
            described.unit,
            described.factor,
        ),
        Kind::Counter | Kind::Meter => (
            with_suffix(described.name, "_total"),
            MetricType::Counter,
            described.unit,
            described.factor,
        ),
        Kind::Histogram => (
            described.name,
            MetricType::Summary,
            described.unit,
            described.factor,
        ),
        // Dropwizard timers count nanoseconds whatever the name says; the conversion is done
        // when the value is read (SparkSeries::emit).
        Kind::Timer => (
            with_suffix(described.name, "_seconds"),
            MetricType::Summary,
            "seconds",
            1.0,
        ),
    };
    let mut variants = match metric_type {
        MetricType::Summary => summary_variants(),
        _ => vec![Variant::PLAIN],
    };
    for variant in &mut variants {
        variant.labels.extend(described.labels.iter().cloned());
    }
    Decision {
        family: Family {
            help: format!("Spark metric {rest}"),
            name,
            metric_type,
            unit,
        },
        variants,
        factor,
    }
}

fn with_suffix(mut name: String, suffix: &str) -> String {
    if !name.ends_with(suffix) {
        name.push_str(suffix);
    }
    name
}

/// Moves the label-like parts of a name into labels; returns the remaining name.
fn extract_labels(rest: &str) -> (String, Vec<(LabelName, String)>) {
    // master: application.<app name>.<start time>.<metric>; the name may contain dots.
    if let Some(tail) = rest.strip_prefix("application.") {
        let mut parts = tail.rsplitn(3, '.');
        if let (Some(metric), Some(start), Some(app)) = (parts.next(), parts.next(), parts.next()) {
            if start.chars().all(|c| c.is_ascii_digit()) && !start.is_empty() {
                return (
                    format!("application.{metric}"),
                    vec![
                        (names::APPLICATION, app.to_string()),
                        (names::APPLICATION_START_TIME, start.to_string()),
                    ],
                );
            }
        }
    }
    // DStreams: the source is named "<app name>.StreamingMetrics".
    if let Some(at) = rest.find(".StreamingMetrics.") {
        return (rest[at + 1..].to_string(), Vec::new());
    }
    for (prefix, label, take) in LABEL_RULES {
        let Some(tail) = rest.strip_prefix(prefix) else {
            continue;
        };
        let (value, metric) = match take {
            Take::Rest => (tail, ""),
            Take::AllButLast => match tail.rsplit_once('.') {
                Some((value, metric)) => (value, metric),
                None => continue,
            },
        };
        if value.is_empty() {
            continue;
        }
        let base = if metric.is_empty() {
            prefix.trim_end_matches('.').to_string()
        } else {
            format!("{prefix}{metric}")
        };
        return (base, vec![(*label, value.to_string())]);
    }
    (rest.to_string(), Vec::new())
}

/// `pattern` with at most one `*` against the whole of `name`.
fn matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    match parts.as_slice() {
        [exact] => name == *exact,
        [head, tail] => {
            name.len() >= head.len() + tail.len() && name.starts_with(head) && name.ends_with(tail)
        }
        [head, middle, tail] => {
            name.len() >= head.len() + middle.len() + tail.len()
                && name.starts_with(head)
                && name.ends_with(tail)
                && name[head.len()..name.len() - tail.len()].contains(middle)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(rest: &str) -> String {
        describe(rest).name
    }

    #[test]
    fn counters_that_spark_counts_down_too_are_gauges() {
        let connections = decide("shuffleService.activeConnections", Kind::Counter);
        assert_eq!(connections.family.metric_type, MetricType::Gauge);
        assert_eq!(
            connections.family.name,
            "spark_shuffle_service_active_connections"
        );
        let tasks = decide("executor.succeededTasks", Kind::Counter);
        assert_eq!(tasks.family.metric_type, MetricType::Counter);
    }

    #[test]
    fn megabyte_gauges_become_bytes() {
        let d = describe("BlockManager.memory.maxMem_MB");
        assert_eq!(d.name, "spark_block_manager_memory_max_mem_bytes");
        assert_eq!(d.factor, 1048576.0);
        assert_eq!(d.unit, "bytes");
        assert_eq!(name("worker.memUsed_MB"), "spark_worker_mem_used_bytes");
    }

    #[test]
    fn task_times_become_seconds() {
        let cpu = describe("executor.cpuTime");
        assert_eq!(
            (cpu.name.as_str(), cpu.factor),
            ("spark_executor_cpu_time_seconds", 1e-9)
        );
        let run = describe("executor.runTime");
        assert_eq!(
            (run.name.as_str(), run.factor),
            ("spark_executor_run_time_seconds", 1e-3)
        );
        let jvm = describe("JVMCPU.jvmCpuTime");
        assert!(jvm.cumulative);
        assert_eq!(jvm.name, "spark_jvmcpu_jvm_cpu_time_seconds");
    }

    #[test]
    fn byte_counters_keep_their_name_and_gain_the_unit() {
        let d = describe("executor.shuffleRemoteBytesRead");
        assert_eq!(d.name, "spark_executor_shuffle_remote_bytes_read");
        assert_eq!(d.unit, "bytes");
        assert_eq!(
            describe("ExecutorMetrics.JVMHeapMemory").name,
            "spark_executor_metrics_jvm_heap_memory_bytes"
        );
    }

    #[test]
    fn running_totals_exposed_as_gauges_are_counters() {
        let d = describe("executor.filesystem.hdfs.read_bytes");
        assert!(d.cumulative);
        assert_eq!(
            (d.name.as_str(), d.unit),
            ("spark_executor_filesystem_hdfs_read_bytes", "bytes")
        );
        assert!(describe("executor.filesystem.file.largeRead_ops").cumulative);
        assert!(describe("executor.threadpool.completeTasks").cumulative);
        assert!(!describe("executor.threadpool.activeTasks").cumulative);
        assert!(describe("jvm.G1-Young-Generation.count").cumulative);
        // How many direct buffers exist now: it goes down when buffers are freed.
        assert!(!describe("jvm.direct.count").cumulative);
        assert!(!describe("jvm.mapped.count").cumulative);
    }

    #[test]
    fn gc_counts_are_counters_without_a_unit() {
        let d = describe("ExecutorMetrics.MinorGCCount");
        assert!(d.cumulative);
        assert_eq!(d.unit, "");
        assert_eq!(d.name, "spark_executor_metrics_minor_gc_count");
    }

    #[test]
    fn listener_classes_and_queues_become_labels() {
        let d =
            describe("LiveListenerBus.listenerProcessingTime.org.apache.spark.HeartbeatReceiver");
        assert_eq!(d.name, "spark_live_listener_bus_listener_processing_time");
        assert_eq!(
            d.labels,
            vec![(
                names::LISTENER,
                "org.apache.spark.HeartbeatReceiver".to_string()
            )]
        );
        let q = describe("LiveListenerBus.queue.appStatus.numDroppedEvents");
        assert_eq!(q.name, "spark_live_listener_bus_queue_num_dropped_events");
        assert_eq!(q.labels, vec![(names::QUEUE, "appStatus".to_string())]);
    }

    #[test]
    fn application_names_and_start_times_leave_the_metric_name() {
        let d = describe("application.my.etl job.1795292394184.runtime_ms");
        assert_eq!(d.name, "spark_application_runtime_seconds");
        assert_eq!(d.factor, 1e-3);
        assert_eq!(
            d.labels,
            vec![
                (names::APPLICATION, "my.etl job".to_string()),
                (names::APPLICATION_START_TIME, "1795292394184".to_string())
            ]
        );
    }

    #[test]
    fn streaming_queries_become_labels() {
        let d = describe("spark.streaming.orders.by.region.latency");
        assert_eq!(d.name, "spark_streaming_latency_seconds");
        assert_eq!(
            d.labels,
            vec![(names::QUERY, "orders.by.region".to_string())]
        );
        assert_eq!(
            describe("MyApp.v2.StreamingMetrics.streaming.totalCompletedBatches").name,
            "spark_streaming_metrics_streaming_total_completed_batches"
        );
    }

    #[test]
    fn names_without_rules_are_only_snake_cased() {
        let d = describe("DAGScheduler.job.activeJobs");
        assert_eq!(
            d,
            Described {
                name: "spark_dag_scheduler_job_active_jobs".into(),
                labels: vec![],
                factor: 1.0,
                unit: "",
                cumulative: false,
            }
        );
    }

    #[test]
    fn patterns_match_whole_names() {
        assert!(matches("*_MB", "a_MB"));
        assert!(!matches("*_MB", "a_MBx"));
        assert!(matches(
            "ExecutorMetrics.*Memory",
            "ExecutorMetrics.JVMHeapMemory"
        ));
        assert!(matches("executor.*Bytes*", "executor.shuffleBytesWritten"));
        assert!(!matches("executor.*Bytes*", "executor.cpuTime"));
    }
}
