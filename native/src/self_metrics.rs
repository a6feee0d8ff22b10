//! `sparkprom_*`: the sink's own health, pushed with the Spark metrics of each report so a
//! dashboard or an alert sees a JVM that drops or fails to send.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::claims::Producer;
use crate::identity::IDENTITY_FIELDS;
use crate::label_names::{FIELD, REASON, SOURCE};
use crate::labels::{SinkLabels, Variant};
use crate::sample::MetricType;
use crate::sample::{Family, Sample};
use crate::series_set::{Made, SeriesSet};
use crate::stats::Stats;

/// Reads one value per variant from the stats.
type Read = fn(&Stats, &ReportFigures) -> Vec<f64>;

/// The node-statistics sources `sparkprom_node_source_unavailable` reports, in the order of
/// `ReportFigures::node_unavailable` (node/sources.rs says why each can be missing).
pub const NODE_SOURCES: [&str; 3] = ["node_name", "cgroup", "pressure"];

/// Figures that are not in `Stats`: the ingest thread reads them at report time.
#[derive(Default)]
pub struct ReportFigures {
    pub queue_len: usize,
    pub capacity: usize,
    pub skipped_gauges: u64,
    /// Counters, meters, histograms and timers whose read threw.
    pub failed_reads: u64,
    /// Dropwizard Counter readings lower than the one before.
    pub counters_decreased: u64,
    pub over_limit: u64,
    /// Series refused because a label name would have appeared twice (labels.rs).
    pub repeated_labels: u64,
    /// Spark and listener series exported now.
    pub live_series: usize,
    /// Per `IDENTITY_FIELDS`: not learnt from Spark.
    pub missing_identity: [bool; 4],
    /// Per `NODE_SOURCES`: should be there and cannot be read.
    pub node_unavailable: [bool; 3],
}

struct Definition {
    name: &'static str,
    metric_type: MetricType,
    help: &'static str,
    unit: &'static str,
    variants: fn() -> Vec<Variant>,
    read: Read,
}

fn get(counter: &std::sync::atomic::AtomicU64) -> f64 {
    counter.load(Ordering::Relaxed) as f64
}

fn plain() -> Vec<Variant> {
    vec![Variant::PLAIN]
}

/// Every self-metric, as data.
const DEFINITIONS: &[Definition] = &[
    Definition {
        name: "sparkprom_samples_sent_total",
        metric_type: MetricType::Counter,
        help: "Samples the receiver accepted.",
        unit: "",
        variants: plain,
        read: |s, _| vec![get(&s.samples_sent)],
    },
    Definition {
        name: "sparkprom_samples_failed_total",
        metric_type: MetricType::Counter,
        help: "Samples not delivered: rejected, refused by the receiver (4xx other than 429); retry_timeout, still failing (5xx, 429, network) after retryTimeout, given up so the next batch could go; gave_up, still failing when the final flush ended; not_written, in a remote write 2.0 request the receiver accepted but said it did not write (X-Prometheus-Remote-Write-Samples-Written), or points an OTLP receiver rejected in a partial_success answer.",
        unit: "",
        variants: || vec![Variant::labelled(REASON, "rejected"), Variant::labelled(REASON, "retry_timeout"), Variant::labelled(REASON, "gave_up"), Variant::labelled(REASON, "not_written")],
        read: |s, _| vec![get(&s.samples_rejected), get(&s.samples_retry_timeout), get(&s.samples_failed), get(&s.samples_not_written)],
    },
    Definition {
        name: "sparkprom_samples_dropped_total",
        metric_type: MetricType::Counter,
        help: "Samples dropped before sending: the oldest, when the queue was full.",
        unit: "",
        variants: || vec![Variant::labelled(REASON, "queue_full")],
        read: |s, _| vec![get(&s.samples_dropped_capacity)],
    },
    Definition {
        name: "sparkprom_snapshots_dropped_total",
        metric_type: MetricType::Counter,
        help: "Registry snapshots dropped because the ingest thread was behind.",
        unit: "",
        variants: plain,
        read: |s, _| vec![get(&s.snapshots_dropped)],
    },
    Definition {
        name: "sparkprom_retries_total",
        metric_type: MetricType::Counter,
        help: "Requests retried after a 5xx, a 429 or a network error.",
        unit: "",
        variants: plain,
        read: |s, _| vec![get(&s.retries)],
    },
    Definition {
        name: "sparkprom_queue_samples",
        metric_type: MetricType::Gauge,
        help: "Samples waiting to be sent.",
        unit: "",
        variants: plain,
        read: |_, g| vec![g.queue_len as f64],
    },
    Definition {
        name: "sparkprom_queue_capacity_samples",
        metric_type: MetricType::Gauge,
        help: "Most samples the queue holds before it drops the oldest.",
        unit: "",
        variants: plain,
        read: |_, g| vec![g.capacity as f64],
    },
    Definition {
        name: "sparkprom_request_duration_seconds",
        metric_type: MetricType::Summary,
        help: "Time of remote-write requests, answered or not.",
        unit: "seconds",
        variants: || {
            vec![Variant::suffixed("_sum"), Variant::suffixed("_count")]
        },
        read: |s, _| vec![get(&s.request_nanos) / 1e9, get(&s.requests)],
    },
    Definition {
        name: "sparkprom_last_success_timestamp_seconds",
        metric_type: MetricType::Gauge,
        help: "When the receiver last accepted a request (Unix time).",
        unit: "seconds",
        variants: plain,
        read: |s, _| vec![get(&s.last_success_ms) / 1e3],
    },
    Definition {
        name: "sparkprom_gauges_skipped_total",
        metric_type: MetricType::Counter,
        help: "Gauge readings skipped because the gauge returned null or no number, or threw.",
        unit: "",
        variants: plain,
        read: |_, g| vec![g.skipped_gauges as f64],
    },
    Definition {
        name: "sparkprom_metric_reads_failed_total",
        metric_type: MetricType::Counter,
        help: "Readings of counters, meters, histograms and timers skipped because reading them threw; the sink's WARN line names the first such metric.",
        unit: "",
        variants: plain,
        read: |_, g| vec![g.failed_reads as f64],
    },
    Definition {
        name: "sparkprom_counters_decreased_total",
        metric_type: MetricType::Counter,
        help: "Readings of Dropwizard Counters lower than the one before: exported as counters, Prometheus reads each as a reset; the sink's WARN line names the first.",
        unit: "",
        variants: plain,
        read: |_, g| vec![g.counters_decreased as f64],
    },
    Definition {
        name: "sparkprom_metrics_not_exported_total",
        metric_type: MetricType::Counter,
        help: "Spark metrics and driver listener series not exported: series_limit, the sink reached its maxSeries limit; duplicate_label, a label name would have appeared twice (the receiver refuses such a series with its whole request; the sink's WARN line names it).",
        unit: "",
        variants: || vec![Variant::labelled(REASON, "series_limit"), Variant::labelled(REASON, "duplicate_label")],
        read: |_, g| vec![g.over_limit as f64, g.repeated_labels as f64],
    },
    Definition {
        name: "sparkprom_series",
        metric_type: MetricType::Gauge,
        help: "Series this sink exports now for Spark metrics and the driver's listener (maxSeries is their limit); names that leave the registry, and streaming queries that end, give theirs back.",
        unit: "",
        variants: plain,
        read: |_, g| vec![g.live_series as f64],
    },
    Definition {
        name: "sparkprom_identity_missing",
        metric_type: MetricType::Gauge,
        help: "1 for each identity field (app_id, app_name, executor_id, namespace) the sink could not learn from Spark; its WARN line says why and what the series look like.",
        unit: "",
        variants: || IDENTITY_FIELDS.iter().map(|f| Variant::labelled(FIELD, *f)).collect(),
        read: |_, g| g.missing_identity.iter().map(|&m| f64::from(u8::from(m))).collect(),
    },
    Definition {
        name: "sparkprom_textfile_writes_failed_total",
        metric_type: MetricType::Counter,
        help: "Reports whose textfile (the textfile property) was not written: the write failed, or it did not finish within 3 s (a hung mount; reports go on without it until it returns); the sink's WARN line names the file.",
        unit: "",
        variants: || vec![Variant::labelled(REASON, "error"), Variant::labelled(REASON, "timed_out")],
        read: |s, _| vec![get(&s.textfile_writes_failed), get(&s.textfile_writes_timed_out)],
    },
    Definition {
        name: "sparkprom_node_mounts_hung_total",
        metric_type: MetricType::Counter,
        help: "Mounts whose statvfs did not return within 5 s (a hard NFS mount whose server is gone), since the JVM started: each is named once in a WARN, has node_filesystem_device_error 1 while it hangs, and is never waited for again.",
        unit: "",
        variants: plain,
        read: |_, _| vec![get(&crate::stats::MOUNTS_HUNG)],
    },
    Definition {
        name: "sparkprom_node_source_unavailable",
        metric_type: MetricType::Gauge,
        help: "1 for each node-statistics source this JVM should have and cannot read: node_name (a Kubernetes pod given no SPARKPROM_NODE_NAME), cgroup (a pod on a cgroup v1 node, or a YARN container left in the NodeManager's cgroup), pressure (a kernel without /proc/pressure); its WARN line says what to do.",
        unit: "",
        variants: || NODE_SOURCES.iter().map(|s| Variant::labelled(SOURCE, *s)).collect(),
        read: |_, g| g.node_unavailable.iter().map(|&m| f64::from(u8::from(m))).collect(),
    },
];

/// The self-metric series of one sink, by definition: made when first needed and again after a
/// relabel.
pub struct SelfMetrics {
    series: SeriesSet<usize>,
}

impl Default for SelfMetrics {
    fn default() -> SelfMetrics {
        SelfMetrics {
            series: SeriesSet::new(Producer::SelfMetrics),
        }
    }
}

impl SelfMetrics {
    /// Appends one sample per self-metric series, stamped `ts`.
    pub fn append(
        &mut self,
        labels: &SinkLabels,
        stats: &Stats,
        figures: &ReportFigures,
        ts: i64,
        out: &mut Vec<Sample>,
    ) {
        for (index, definition) in DEFINITIONS.iter().enumerate() {
            // A refused gauge is decided again once claims were given back (the sink that
            // exported these label sets stopped, say). A counter is not: this sink's counters
            // are its own counts, and going on where another sink's stopped would make a
            // counter of one label set go down (local-cluster's two workers share one JVM and
            // one identity).
            let retry = definition.metric_type == MetricType::Gauge;
            let got = self.series.get(&index, retry, || {
                (definition.name.to_string(), series_of(labels, definition))
            });
            for (s, value) in got.series.iter().zip((definition.read)(stats, figures)) {
                out.push(Sample {
                    series: Arc::clone(s),
                    timestamp_ms: ts,
                    value,
                });
            }
        }
    }

    /// Ends every self-metric series; for the sink's last report.
    pub fn stale_all(&self, ts: i64, out: &mut Vec<Sample>) {
        self.series.stale_all(ts, out);
    }

    /// The sink's labels changed: ends every series and makes them again at the next report.
    pub fn relabel(&mut self, ts: i64, out: &mut Vec<Sample>) {
        self.series.forget_all(ts, out);
    }
}

fn series_of(labels: &SinkLabels, d: &Definition) -> Made {
    let family = Arc::new(Family {
        name: d.name.to_string(),
        metric_type: d.metric_type,
        unit: d.unit,
        help: d.help.to_string(),
    });
    labels.series_for(
        Producer::SelfMetrics,
        &family,
        Some(labels.sink_role()),
        &(d.variants)(),
        d.name,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;

    #[test]
    fn every_self_metric_reports_its_counter_with_the_jvm_identity() {
        let mut labels = SinkLabels::new("test:self-metrics", vec![], Default::default());
        let identity = [
            ("app_id", "app-7"),
            ("executor_id", "2"),
            ("namespace", "app-7"),
        ];
        labels.set_identity(Identity::from_pairs(
            &identity.map(|(k, v)| (k.to_string(), v.to_string())),
        ));
        let stats = Stats::default();
        stats.samples_sent.store(40, Ordering::Relaxed);
        stats.samples_dropped_capacity.store(3, Ordering::Relaxed);
        let figures = ReportFigures {
            queue_len: 5,
            capacity: 100,
            skipped_gauges: 1,
            failed_reads: 0,
            counters_decreased: 0,
            over_limit: 0,
            repeated_labels: 0,
            live_series: 0,
            missing_identity: labels.missing_identity(),
            node_unavailable: [false, true, false],
        };
        let mut out = Vec::new();
        SelfMetrics::default().append(&labels, &stats, &figures, 1_000, &mut out);
        let find = |name: &str| {
            out.iter()
                .find(|s| {
                    s.series
                        .labels
                        .iter()
                        .any(|l| l.name == "__name__" && l.value == name)
                })
                .unwrap_or_else(|| panic!("{name} missing"))
        };
        assert_eq!(find("sparkprom_samples_sent_total").value, 40.0);
        assert_eq!(find("sparkprom_samples_dropped_total").value, 3.0);
        assert_eq!(find("sparkprom_queue_samples").value, 5.0);
        // (the label's value, the sample's value) of each series of a family.
        let by = |family: &str, label: &str| -> Vec<(String, f64)> {
            out.iter()
                .filter(|s| s.series.family.name == family)
                .map(|s| {
                    let l = s.series.labels.iter().find(|l| l.name == label).unwrap();
                    (l.value.clone(), s.value)
                })
                .collect()
        };
        let pairs = |list: &[(&str, f64)]| -> Vec<(String, f64)> {
            list.iter().map(|(k, v)| (k.to_string(), *v)).collect()
        };
        // No app_name in this identity: the one field reported missing.
        assert_eq!(
            by("sparkprom_identity_missing", "field"),
            pairs(&[
                ("app_id", 0.0),
                ("app_name", 1.0),
                ("executor_id", 0.0),
                ("namespace", 0.0)
            ])
        );
        assert_eq!(
            by("sparkprom_node_source_unavailable", "source"),
            pairs(&[("node_name", 0.0), ("cgroup", 1.0), ("pressure", 0.0)])
        );
        let sent = find("sparkprom_samples_sent_total");
        assert!(sent
            .series
            .labels
            .iter()
            .any(|l| l.name == "executor_id" && l.value == "2"));
        assert!(sent
            .series
            .labels
            .iter()
            .any(|l| l.name == "role" && l.value == "executor"));
        let series_count: usize = DEFINITIONS.iter().map(|d| (d.variants)().len()).sum();
        assert_eq!(out.len(), series_count);
    }

    /// Two sinks on one URL in one JVM with one identity: the second is refused the self-metric
    /// label sets while the first exports them, and takes them over once the first goes away.
    #[test]
    fn a_refused_sink_exports_its_self_metric_gauges_once_the_other_gives_them_back() {
        let identity = [
            ("app_id", "app-8"),
            ("executor_id", "1"),
            ("namespace", "app-8"),
        ];
        let sink = || {
            let mut labels =
                SinkLabels::new("test:self-metrics-handover", vec![], Default::default());
            labels.set_identity(Identity::from_pairs(
                &identity.map(|(k, v)| (k.to_string(), v.to_string())),
            ));
            labels
        };
        let (first, second) = (sink(), sink());
        let stats = Stats::default();
        let figures = ReportFigures {
            capacity: 100,
            ..Default::default()
        };
        let series_count: usize = DEFINITIONS.iter().map(|d| (d.variants)().len()).sum();
        let (mut exporting, mut refused) = (SelfMetrics::default(), SelfMetrics::default());
        let mut out = Vec::new();
        exporting.append(&first, &stats, &figures, 1_000, &mut out);
        assert_eq!(out.len(), series_count);
        out.clear();
        refused.append(&second, &stats, &figures, 1_000, &mut out);
        assert!(out.is_empty(), "the first sink exports these label sets");

        drop(first);
        refused.append(&second, &stats, &figures, 2_000, &mut out);
        // Its gauges are decided again once they were given back; its counters are not: its
        // counts would follow the first sink's in one series, and a counter would go down.
        let gauges: usize = DEFINITIONS
            .iter()
            .filter(|d| d.metric_type == MetricType::Gauge)
            .map(|d| (d.variants)().len())
            .sum();
        assert!(gauges > 0);
        assert_eq!(out.len(), gauges, "decided again once they were given back");
        assert!(out
            .iter()
            .all(|s| s.series.family.metric_type == MetricType::Gauge));
    }
}
