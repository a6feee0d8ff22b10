//! The ingest thread of one sink: decodes each registry snapshot, applies its identity to the
//! sink's label context, lets the producers of series (the Spark names, the
//! self-metrics and the node statistics) turn what they have into samples, queues the samples
//! and their families' metadata, and at the end stale markers for everything it exported.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use crate::config::Config;
use crate::identity::Identity;
use crate::labels::{IdentityChange, SinkLabels};
use crate::metadata::PendingMetadata;
use crate::node::series::NodeSeries;
use crate::node::sources::{in_kubernetes, warn_once, Placement, NODE_NAME_VARIABLE};
use crate::node::thread::{Collection, Subscription};
use crate::queue::SampleQueue;
use crate::sample::Sample;
use crate::self_metrics::{ReportFigures, SelfMetrics};
use crate::signals::SignalSeries;
use crate::snapshot::{decode_into, Snapshot};
use crate::spark_series::SparkSeries;
use crate::stats::{now_ms, Stats};

/// Decodes snapshots into samples and queues them.
pub struct Ingest {
    /// The node-stats thread's collections, when node statistics are on.
    pub(crate) node: Option<Subscription>,
    /// The sink's label context, which the producers below borrow.
    pub(crate) labels: SinkLabels,
    pub(crate) table: SparkSeries,
    pub(crate) self_metrics: SelfMetrics,
    pub(crate) node_series: NodeSeries,
    /// Node-statistics sources this JVM should have and lacks (`node::sources`).
    pub(crate) node_unavailable: crate::node::sources::Unavailable,
    /// The newest collection that came before the first report, which it could not go out with
    /// (no identity yet): sent right after that report, so a JVM that lives less than one
    /// `node.period` still sends its node statistics once.
    pub(crate) early_collection: Option<Arc<Collection>>,
    /// The driver listener's series (none elsewhere).
    pub(crate) signals: SignalSeries,
    pub(crate) capacity: usize,
    pub(crate) textfile: Option<String>,
    pub(crate) snapshots: Receiver<Vec<u8>>,
    pub(crate) spare_buffers: Sender<Vec<u8>>,
    pub(crate) queue: Arc<SampleQueue>,
    pub(crate) stats: Arc<Stats>,
    pub(crate) metadata: Arc<PendingMetadata>,
    /// Set when name definitions were lost; the next submit asks the Java side for all again.
    pub(crate) resend_names: Arc<AtomicBool>,
    /// When every family's metadata was last queued.
    pub(crate) metadata_sent_at: Option<Instant>,
    /// `mallocTrim`: whether this sink asks for the JVM's periodic malloc_trim.
    pub(crate) malloc_trim: bool,
    /// The newest timestamp sent: every later sample, stale markers included, comes after it.
    pub(crate) last_ts: i64,
}

/// What an ingest thread shares with its sink and sender: the snapshots it takes and the buffers
/// it gives back, the queue, the counters, the metadata, and the flag that asks for every name.
pub struct IngestLinks {
    pub snapshots: Receiver<Vec<u8>>,
    pub spare_buffers: Sender<Vec<u8>>,
    pub queue: Arc<SampleQueue>,
    pub stats: Arc<Stats>,
    pub metadata: Arc<PendingMetadata>,
    pub resend_names: Arc<AtomicBool>,
}

/// How often the metadata of every family is sent again: receivers keep it in memory only
/// (Prometheus forgets it on restart), so it must come back now and then.
const METADATA_RESEND: Duration = Duration::from_secs(600);

impl Ingest {
    /// The ingest thread's state for a sink of `config`: its label context (where the JVM runs,
    /// the user's labels and filters), its four producers of series, and a place on the JVM's
    /// node-stats thread when node statistics are on.
    pub fn new(config: &Config, links: IngestLinks) -> Ingest {
        let root = std::path::PathBuf::from("/");
        let node = config.node_enabled.then(|| {
            let period = config.node_period.unwrap_or(config.report_period);
            crate::node::thread::subscribe(period, root.clone())
        });
        let placement = Placement::find(
            config.node_instance.as_deref(),
            std::env::var(NODE_NAME_VARIABLE).ok(),
            in_kubernetes(),
            &root,
        );
        let node_unavailable = if config.node_enabled {
            warn_once(&placement.unavailable, &placement.instance);
            placement.unavailable
        } else {
            Default::default()
        };
        Ingest {
            node,
            labels: SinkLabels::new(
                &config.url,
                config.static_labels.clone(),
                config.filters.clone(),
            )
            .on_host(config.node_instance.clone().unwrap_or(placement.host_name))
            .on_node(placement.instance)
            .with_budget(config.max_series),
            table: SparkSeries::new(),
            self_metrics: SelfMetrics::default(),
            node_series: NodeSeries::new(placement.in_pod, config.node_host_wide),
            node_unavailable,
            early_collection: None,
            signals: SignalSeries::default(),
            capacity: config.capacity,
            textfile: config.textfile.clone(),
            snapshots: links.snapshots,
            spare_buffers: links.spare_buffers,
            queue: links.queue,
            stats: links.stats,
            metadata: links.metadata,
            metadata_sent_at: None,
            resend_names: links.resend_names,
            last_ts: 0,
            malloc_trim: config.malloc_trim,
        }
    }

    /// One report as the thread takes it, for checks that drive the core without its threads
    /// (tests/rust/fuzz.rs): what it makes goes to the queue.
    pub fn take_report(&mut self, bytes: &[u8]) {
        let (mut snapshot, mut samples) = (Snapshot::default(), Vec::new());
        self.on_snapshot(bytes, &mut snapshot, &mut samples);
    }

    /// The sink's end as the thread makes it: every series ended, the queue closed.
    pub fn end(mut self) {
        self.finish(&mut Vec::new());
    }

    /// Series exported now by the Spark names and the listener (`maxSeries` counts these).
    pub fn live_series(&self) -> usize {
        self.table.live_series() + self.signals.live_series()
    }

    pub fn run(mut self) {
        let mut snapshot = Snapshot::default();
        let mut samples = Vec::new();
        let snapshots = self.snapshots.clone();
        let node = match &self.node {
            Some(subscription) => subscription.collections.clone(),
            None => crossbeam_channel::never(),
        };
        loop {
            crossbeam_channel::select! {
                recv(snapshots) -> message => {
                    let Ok(bytes) = message else { break };
                    self.on_snapshot(&bytes, &mut snapshot, &mut samples);
                    let _ = self.spare_buffers.try_send(bytes);
                    if self.malloc_trim {
                        crate::trim::maybe_trim();
                    }
                }
                recv(node) -> message => {
                    if let Ok(collection) = message {
                        self.on_collection(collection, &mut samples);
                    }
                }
            }
        }
        self.finish(&mut samples);
    }

    /// One report: the Spark names' samples, then the self-metrics', queued with their metadata.
    fn on_snapshot(&mut self, bytes: &[u8], snapshot: &mut Snapshot, samples: &mut Vec<Sample>) {
        if let Err(e) = decode_into(bytes, snapshot) {
            // Its name definitions are lost with it: the next report resends all.
            tracing::error!("dropping a snapshot that cannot be decoded: {e}");
            self.resend_names.store(true, Ordering::Relaxed);
            return;
        }
        let ts = self.stamp(snapshot.timestamp_ms);
        snapshot.timestamp_ms = ts;
        if let Some(pairs) = &snapshot.identity {
            self.relabel(Identity::from_pairs(pairs), ts, samples);
        }
        // One maxSeries budget for the Spark names and the listener's series: the label
        // context's.
        self.table.ingest(snapshot, &mut self.labels, samples);
        self.signals.append(snapshot, &self.labels, ts, samples);
        if self.table.take_names_lost() {
            self.resend_names.store(true, Ordering::Relaxed);
        }
        let figures = ReportFigures {
            queue_len: self.queue.len(),
            capacity: self.capacity,
            skipped_gauges: self.table.skipped_gauges,
            failed_reads: self.table.failed_reads,
            counters_decreased: self.table.counters_decreased,
            over_limit: self.table.over_limit + self.signals.over_limit,
            repeated_labels: self.labels.repeated_labels(),
            live_series: self.table.live_series() + self.signals.live_series(),
            missing_identity: self.labels.missing_identity(),
            node_unavailable: [
                self.node_unavailable.node_name,
                self.node_unavailable.cgroup,
                self.node_unavailable.pressure,
            ],
        };
        self.self_metrics
            .append(&self.labels, &self.stats, &figures, ts, samples);
        self.queue_metadata();
        self.write_textfile(samples);
        self.push(samples);
        if let Some(early) = self.early_collection.take() {
            self.on_collection(early, samples);
        }
    }

    /// One node-stats collection. Node series carry the identity labels: one that comes before
    /// the first report waits for it.
    fn on_collection(&mut self, collection: Arc<Collection>, samples: &mut Vec<Sample>) {
        if !self.table.has_reported() {
            self.early_collection = Some(collection);
            return;
        }
        let ts = self.stamp(collection.timestamp_ms);
        self.node_series
            .append(&self.labels, &collection, ts, samples);
        self.queue_metadata();
        self.push(samples);
    }

    /// The time to stamp a report's or a collection's samples with: its own, unless that is not
    /// after the last one sent (two reports in one millisecond at stop, a clock stepped back),
    /// which a receiver refuses as out of order, whole batch and all.
    fn stamp(&mut self, ts: i64) -> i64 {
        self.last_ts = ts.max(self.last_ts + 1);
        self.last_ts
    }

    /// The one path for a new identity: when its labels differ every label set changes, so every
    /// producer ends the series it had (sums would count both generations for five minutes
    /// otherwise) and makes them again. One that corrects only the namespace changes only the
    /// Spark names that split otherwise; an identity equal to the current one changes nothing.
    fn relabel(&mut self, identity: Identity, ts: i64, samples: &mut Vec<Sample>) {
        match self.labels.set_identity(identity) {
            IdentityChange::None => return,
            // No label set changes: only Spark's names split otherwise.
            IdentityChange::NamesOnly => return self.table.renamespace(&self.labels, ts, samples),
            IdentityChange::Labels => {}
        }
        self.table.relabel(ts, samples);
        self.self_metrics.relabel(ts, samples);
        self.node_series.relabel(ts, samples);
        self.signals.relabel(ts, samples);
    }

    /// The sink is closing: leave the node-stats thread (the last sink to leave stops it), end
    /// every series so graphs stop where the JVM stopped, and close the queue.
    fn finish(&mut self, samples: &mut Vec<Sample>) {
        self.node = None;
        // A stale marker must come after the series' last sample.
        let ts = self.stamp(now_ms() as i64);
        self.table.stale_all(ts, samples);
        self.self_metrics.stale_all(ts, samples);
        self.node_series.stale_all(ts, samples);
        self.signals.stale_all(ts, samples);
        self.push(samples);
        self.queue.close();
    }

    /// New families' metadata now, every family's again every METADATA_RESEND.
    fn queue_metadata(&mut self) {
        let families = self.labels.families();
        let resend = self
            .metadata_sent_at
            .is_none_or(|at| at.elapsed() >= METADATA_RESEND);
        let families = if resend {
            self.metadata_sent_at = Some(Instant::now());
            families.take_new();
            families.all()
        } else {
            families.take_new()
        };
        self.metadata.add(families);
    }

    fn write_textfile(&self, samples: &[Sample]) {
        let Some(template) = &self.textfile else {
            return;
        };
        if samples.is_empty() {
            // Nothing of its own to show (e.g. a second worker of local-cluster, whose series
            // the first exports): leave the file of a sink that has something.
            return;
        }
        let path =
            crate::textfile::expand_path(template, self.labels.identity(), self.labels.sink_role());
        // Bounded: a hung mount must not hold this thread (textfile.rs logs why it failed).
        if let Err(why) = crate::textfile::write_within(&path, crate::textfile::render(samples)) {
            let counter = match why {
                crate::textfile::NotWritten::TimedOut => &self.stats.textfile_writes_timed_out,
                crate::textfile::NotWritten::Failed => &self.stats.textfile_writes_failed,
            };
            Stats::add(counter, 1);
        }
    }

    fn push(&self, samples: &mut Vec<Sample>) {
        let dropped = self.queue.push(samples);
        self.stats
            .samples_dropped_capacity
            .fetch_add(dropped as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Filters;
    use crate::sample::is_stale;
    use crate::snapshot::{Encoder, Value};

    /// An ingest thread's state, pushing to `url` (its own per test: claims are JVM-wide).
    fn ingest(url: &str) -> Ingest {
        let (_, snapshots) = crossbeam_channel::bounded(1);
        let (spare_buffers, _) = crossbeam_channel::bounded(1);
        Ingest {
            node: None,
            labels: SinkLabels::new(url, vec![], Filters::default()),
            table: SparkSeries::new(),
            self_metrics: SelfMetrics::default(),
            node_series: NodeSeries::default(),
            node_unavailable: Default::default(),
            early_collection: None,
            signals: SignalSeries::default(),
            capacity: 10_000,
            textfile: None,
            snapshots,
            spare_buffers,
            queue: Arc::new(SampleQueue::new(10_000)),
            stats: Arc::new(Stats::default()),
            metadata: Arc::new(PendingMetadata::default()),
            resend_names: Arc::new(AtomicBool::new(false)),
            metadata_sent_at: None,
            last_ts: 0,
            malloc_trim: false,
        }
    }

    /// A report as an executor's first ones look before and after SparkEnv answers: the
    /// fallback identity (no app name), then Spark's.
    fn report(ts: i64, app_name: &str) -> Vec<u8> {
        let mut e = Encoder::default();
        e.begin(ts, false);
        let mut pairs = vec![
            ("app_id", "app-1"),
            ("executor_id", "4"),
            ("namespace", "app-1"),
        ];
        if !app_name.is_empty() {
            pairs.push(("app_name", app_name));
        }
        e.identity(&pairs);
        e.define(0, "app-1.4.executor.succeededTasks");
        e.reading(0, Value::Counter(3));
        e.buf
    }

    fn queued(ingest: &Ingest) -> Vec<Sample> {
        let mut out = Vec::new();
        ingest
            .queue
            .pop_batch(usize::MAX, Duration::ZERO, Some(Instant::now()), &mut out);
        out
    }

    fn app_name(sample: &Sample) -> Option<&str> {
        let label = sample.series.labels.iter().find(|l| l.name == "app_name");
        label.map(|l| l.value.as_str())
    }

    #[test]
    fn a_collection_before_the_first_report_goes_out_with_it() {
        let mut ingest = ingest("test:ingest-early-collection");
        let (mut snapshot, mut samples) = (Snapshot::default(), Vec::new());
        let boot = |value| crate::node::stat::Stat::new(&crate::node::procfs::BOOT_TIME, value);
        let early = Collection {
            timestamp_ms: 500,
            stats: vec![boot(1.0)],
        };
        ingest.on_collection(Arc::new(early), &mut samples);
        assert!(
            queued(&ingest).is_empty(),
            "no identity before the first report"
        );
        ingest.on_snapshot(&report(1_000, "etl"), &mut snapshot, &mut samples);
        let sent = queued(&ingest);
        let node: Vec<&Sample> = sent
            .iter()
            .filter(|s| s.series.family.name == "node_boot_time_seconds")
            .collect();
        assert_eq!(node.len(), 1, "sent once, with the report's identity");
        assert_eq!(app_name(node[0]), Some("etl"));
        assert!(
            node[0].timestamp_ms > 1_000,
            "after the report: never out of order"
        );
        assert!(ingest.early_collection.is_none());
    }

    #[test]
    fn a_new_identity_ends_every_series_of_the_old_one_once() {
        let mut ingest = ingest("test:ingest-relabel");
        let (mut snapshot, mut samples) = (Snapshot::default(), Vec::new());
        ingest.on_snapshot(&report(1_000, ""), &mut snapshot, &mut samples);
        let before = queued(&ingest);
        assert!(before
            .iter()
            .all(|s| !is_stale(s.value) && app_name(s).is_none()));

        ingest.on_snapshot(&report(2_000, "etl"), &mut snapshot, &mut samples);
        let after = queued(&ingest);
        let (ended, live): (Vec<&Sample>, Vec<&Sample>) =
            after.iter().partition(|s| is_stale(s.value));
        // Every series of the old label sets (the Spark metric and every self-metric) ends...
        let mut old: Vec<&[u8]> = before.iter().map(|s| s.series.key.as_slice()).collect();
        let mut stale: Vec<&[u8]> = ended.iter().map(|s| s.series.key.as_slice()).collect();
        old.sort();
        stale.sort();
        assert_eq!(old, stale, "each old series gets one stale marker");
        assert!(ended.iter().all(|s| s.timestamp_ms == 2_000));
        // ...and the same ones go on under the new identity.
        assert_eq!(live.len(), before.len());
        assert!(live.iter().all(|s| app_name(s) == Some("etl")));

        ingest.on_snapshot(&report(3_000, "etl"), &mut snapshot, &mut samples);
        assert!(
            queued(&ingest).iter().all(|s| !is_stale(s.value)),
            "an equal identity changes nothing"
        );
    }

    /// An executor's identity whose namespace the Java side corrected from the registry's names
    /// (Spark expanded spark.metrics.namespace otherwise than we read it): no label changes, so
    /// no series but the Spark names that now split otherwise may end. Ending the rest would put a
    /// stale marker and a value of one series at one time, which the receiver refuses.
    #[test]
    fn a_corrected_namespace_ends_only_the_spark_names_it_splits_otherwise() {
        let mut ingest = ingest("test:ingest-namespace");
        let (mut snapshot, mut samples) = (Snapshot::default(), Vec::new());
        let with_namespace = |ts: i64, namespace: &str| {
            let mut e = Encoder::default();
            e.begin(ts, false);
            e.identity(&[
                ("app_id", "app-1"),
                ("app_name", "etl"),
                ("executor_id", "4"),
                ("namespace", namespace),
            ]);
            e.define(0, "etl.4.executor.succeededTasks");
            e.reading(0, Value::Counter(3));
            // Under no namespace: it maps the same either way.
            e.define(1, "jvm.heap.used");
            e.reading(1, Value::Gauge(5.0));
            e.buf
        };
        ingest.on_snapshot(&with_namespace(1_000, "app-1"), &mut snapshot, &mut samples);
        let before = queued(&ingest);
        ingest.on_snapshot(&with_namespace(2_000, "etl"), &mut snapshot, &mut samples);
        let after = queued(&ingest);
        let ended: Vec<&Sample> = after.iter().filter(|s| is_stale(s.value)).collect();
        assert_eq!(ended.len(), 1, "only the Spark name's old series ends");
        assert_eq!(
            ended[0].series.family.name,
            "spark_etl_4_executor_succeeded_tasks_total"
        );
        let name = |s: &Sample| s.series.family.name.clone();
        assert!(after
            .iter()
            .any(|s| name(s) == "spark_executor_succeeded_tasks_total"));
        // A name that maps the same goes on in the same series, never ended.
        let heap = |list: &[Sample]| -> Vec<Vec<u8>> {
            list.iter()
                .filter(|s| name(s) == "spark_jvm_heap_used_bytes" && !is_stale(s.value))
                .map(|s| s.series.key.clone())
                .collect()
        };
        assert_eq!(heap(&before).len(), 1);
        assert_eq!(heap(&before), heap(&after));
        // Every self-metric series goes on with the same labels.
        let self_metrics = |list: &[Sample]| -> Vec<Vec<u8>> {
            let mut v: Vec<Vec<u8>> = list
                .iter()
                .filter(|s| s.series.family.name.starts_with("sparkprom_") && !is_stale(s.value))
                .map(|s| s.series.key.clone())
                .collect();
            v.sort();
            v
        };
        assert_eq!(self_metrics(&before), self_metrics(&after));
    }

    /// A textfile that cannot be written is counted (sparkprom_textfile_writes_failed_total at the
    /// next report) and the reports go on.
    #[test]
    fn a_textfile_that_cannot_be_written_is_counted() {
        let mut ingest = ingest("test:ingest-textfile");
        ingest.textfile = Some("/nonexistent-sparkprom-dir/{role}.prom".into());
        let (mut snapshot, mut samples) = (Snapshot::default(), Vec::new());
        ingest.on_snapshot(&report(1_000, "etl"), &mut snapshot, &mut samples);
        ingest.on_snapshot(&report(2_000, "etl"), &mut snapshot, &mut samples);
        assert_eq!(Stats::get(&ingest.stats.textfile_writes_failed), 2);
        let counted = queued(&ingest).into_iter().find(|s| {
            s.timestamp_ms == 2_000
                && s.series
                    .labels
                    .iter()
                    .any(|l| l.value == "sparkprom_textfile_writes_failed_total")
                && s.series
                    .labels
                    .iter()
                    .any(|l| l.name == "reason" && l.value == "error")
        });
        assert_eq!(counted.map(|s| s.value), Some(1.0));
    }

    /// Two reports in one millisecond (stop() right after a scheduled report), or a clock that
    /// stepped back: each series' timestamps still only go up, or the receiver refuses the batch.
    #[test]
    fn timestamps_only_go_up_whatever_the_clock_says() {
        let mut ingest = ingest("test:ingest-clock");
        let (mut snapshot, mut samples) = (Snapshot::default(), Vec::new());
        let mut last_per_series = std::collections::HashMap::new();
        for ts in [5_000, 5_000, 4_000, 5_001] {
            ingest.on_snapshot(&report(ts, "etl"), &mut snapshot, &mut samples);
            for s in queued(&ingest) {
                let previous = last_per_series.insert(s.series.key.clone(), s.timestamp_ms);
                assert!(
                    previous.is_none_or(|p| p < s.timestamp_ms),
                    "{previous:?} then {}",
                    s.timestamp_ms
                );
            }
        }
        ingest.finish(&mut samples);
        let ends = queued(&ingest);
        assert!(!ends.is_empty());
        for s in ends {
            assert!(last_per_series[&s.series.key] < s.timestamp_ms);
        }
    }
}
