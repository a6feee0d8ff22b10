//! Every label name sparkprom's own series can carry, declared once. Producers cannot spell a
//! label name of their own: a series' labels are [`LabelName`]s, and the only ones that exist are
//! declared here, so a new family that needs a new label adds it to this list, and the list the
//! user's `labels` are checked against (config.rs) can never miss it. Remote write refuses a
//! series with one label name twice (Prometheus answers 500 and stores nothing of the request), so
//! the user's labels and ours must never meet.
//!
//! `job` and `instance` as users write them are Prometheus' own conventions ("what produced this",
//! set in scrape configs and external labels): `job` is not among ours, so a user's `labels=job=...`
//! is theirs alone. `instance` is ours (the node of node statistics, a daemon's host).

/// A label name of sparkprom's own series: only the constants below exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LabelName(&'static str);

impl LabelName {
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl PartialEq<&str> for LabelName {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl std::fmt::Display for LabelName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// Declares each label name as a constant and lists them all in [`ALL`] from one list, so a
/// constant cannot exist without being listed.
macro_rules! label_names {
    ($($(#[$doc:meta])* $constant:ident = $name:literal,)*) => {
        $($(#[$doc])* pub const $constant: LabelName = LabelName($name);)*
        /// Every label name sparkprom's series can carry.
        pub const ALL: &[LabelName] = &[$($constant),*];
    };
}

label_names! {
    // Who sent it (labels.rs): every series.
    /// The sink's role: driver, executor, or the standalone daemon it serves.
    ROLE = "role",
    APP_ID = "app_id",
    APP_NAME = "app_name",
    EXECUTOR_ID = "executor_id",
    /// The node of node statistics; a JVM without an executor id's host.
    INSTANCE = "instance",
    /// A JVM without an executor id (a standalone daemon): with `instance`, who it is.
    PID = "pid",
    // Parts of Spark's names (spark_names.rs).
    /// A summary's quantile (Dropwizard histograms and timers).
    QUANTILE = "quantile",
    LISTENER = "listener",
    QUEUE = "queue",
    /// A Structured Streaming query (its name, else its id): Spark's names and the listener's.
    QUERY = "query",
    POOL = "pool",
    APPLICATION = "application",
    APPLICATION_START_TIME = "application_start_time",
    // The driver's listener (signals.rs).
    /// Spark's job key (job group, description or call site); not `job`, Prometheus' own label.
    SPARK_JOB = "spark_job",
    STAGE = "stage",
    OUTCOME = "outcome",
    /// Why: a task's failure, an executor's removal, a sample not delivered.
    REASON = "reason",
    PHASE = "phase",
    OPERATOR = "operator",
    /// A streaming query's source; a node-statistics source in self-metrics.
    SOURCE = "source",
    /// The listener label a folded key belonged to.
    LABEL = "label",
    /// What a listener count of live state holds (jobs, stages).
    KIND = "kind",
    /// A histogram bucket's upper bound.
    LE = "le",
    // Self-metrics (self_metrics.rs).
    FIELD = "field",
    // Node, container and process statistics (node/).
    CPU = "cpu",
    MODE = "mode",
    DEVICE = "device",
    FSTYPE = "fstype",
    MOUNTPOINT = "mountpoint",
    EVENT = "event",
    /// A pod's network interface (node_exporter's `device`, in cAdvisor's name).
    INTERFACE = "interface",
}

/// Whether `name` is one of sparkprom's own label names.
pub fn is_ours(name: &str) -> bool {
    ALL.iter().any(|l| l.0 == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_a_valid_label_name_and_listed_once() {
        let mut seen = std::collections::BTreeSet::new();
        for name in ALL {
            assert!(crate::naming::is_valid_label_name(name.0), "{name}");
            assert!(!name.0.starts_with("__"), "{name}");
            assert!(seen.insert(name.0), "{name} is listed twice");
        }
        // Prometheus' conventional labels as users set them stay theirs.
        assert!(!is_ours("job") && !is_ours("cluster") && !is_ours("team") && !is_ours("env"));
    }

    /// Every producer's series, made as a sink makes them (Spark names of every kind of part,
    /// every self-metric, this machine's node statistics, every listener family), carry no label
    /// name but `__name__`, the user's and the platform's, and ours: the list the user's labels
    /// are checked against holds all of them.
    #[test]
    fn every_label_every_producer_puts_on_a_series_is_one_of_ours() {
        use crate::identity::Identity;
        use crate::labels::SinkLabels;
        use crate::sample::Sample;
        use crate::snapshot::{decode_into, Encoder, Snapshot, Value};
        let mut labels = SinkLabels::new(
            "test:label-names-every-producer",
            vec![("team".into(), "data".into())],
            Default::default(),
        );
        labels.set_identity(Identity::from_pairs(
            &[
                ("app_id", "app-1"),
                ("app_name", "etl"),
                ("executor_id", "driver"),
                ("namespace", "app-1"),
                ("label.pod", "driver-pod"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
        ));
        let mut e = Encoder::default();
        e.begin(1_000, true);
        let spark_names = [
            "app-1.driver.LiveListenerBus.listenerProcessingTime.org.apache.spark.HeartbeatReceiver",
            "app-1.driver.LiveListenerBus.queue.appStatus.size",
            "app-1.driver.spark.streaming.query-1.latency",
            "app-1.driver.jvm.pools.G1-Eden-Space.used",
            "application.etl.1700000000000.cores",
            "app-1.driver.DAGScheduler.messageProcessingTime",
        ];
        for (id, name) in spark_names.iter().enumerate() {
            e.define(id as u32, name);
            e.reading(
                id as u32,
                Value::Timer {
                    count: 1,
                    quantiles: [1.0; 6],
                },
            );
        }
        for (id, family) in crate::signals::FAMILIES.iter().enumerate() {
            let values = vec!["x"; family.labels.len()];
            let name = if family.metric_type == crate::sample::MetricType::Histogram {
                format!("{}_bucket", family.name)
            } else {
                family.name.to_string()
            };
            let mut with_le = values.clone();
            if name.ends_with("_bucket") {
                with_le.push("5");
            }
            e.signal_define(id as u32, &name, &with_le);
            e.signal(id as u32, 1.0);
        }
        let mut snapshot = Snapshot::default();
        decode_into(&e.buf, &mut snapshot).expect("decodes");
        let mut out: Vec<Sample> = Vec::new();
        let mut table = crate::spark_series::SparkSeries::new();
        table.ingest(&snapshot, &mut labels, &mut out);
        let mut signals = crate::signals::SignalSeries::default();
        signals.append(&snapshot, &labels, 1_000, &mut out);
        let stats = crate::stats::Stats::default();
        let figures = crate::self_metrics::ReportFigures {
            capacity: 1,
            ..Default::default()
        };
        crate::self_metrics::SelfMetrics::default()
            .append(&labels, &stats, &figures, 1_000, &mut out);
        let mut stats_of_this_host = Vec::new();
        crate::node::collect(std::path::Path::new("/"), &mut stats_of_this_host);
        let collection = crate::node::thread::Collection {
            timestamp_ms: 1_000,
            stats: stats_of_this_host,
        };
        crate::node::series::NodeSeries::default().append(&labels, &collection, 1_000, &mut out);
        let families: std::collections::BTreeSet<&str> =
            out.iter().map(|s| s.series.family.name.as_str()).collect();
        assert!(families.len() > 60, "{families:?}");
        for sample in &out {
            for label in &sample.series.labels {
                let name = label.name.as_str();
                assert!(
                    is_ours(name) || ["__name__", "team", "pod"].contains(&name),
                    "{name} of {} is not in label_names::ALL",
                    sample.series.family.name
                );
            }
        }
    }
}
