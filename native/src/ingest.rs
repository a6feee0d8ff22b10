//! The ingest thread of one sink: decodes each registry snapshot, turns it into samples through
//! the sink's name-id table, adds the self-metrics and the node statistics, queues the samples
//! and their families' metadata, and at the end stale markers for everything it exported.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use crate::metadata::PendingMetadata;
use crate::node::series::NodeSeries;
use crate::node::thread::Subscription;
use crate::queue::SampleQueue;
use crate::sample::Sample;
use crate::self_metrics::{ReportFigures, SelfMetrics};
use crate::series::SeriesTable;
use crate::snapshot::{decode_into, Snapshot};
use crate::stats::{now_ms, Stats};

/// Decodes snapshots into samples and queues them.
pub struct Ingest {
    /// The node-stats thread's collections, when node statistics are on.
    pub(crate) node: Option<Subscription>,
    pub(crate) node_series: NodeSeries,
    pub(crate) capacity: usize,
    pub(crate) textfile: Option<String>,
    pub(crate) snapshots: Receiver<Vec<u8>>,
    pub(crate) spare_buffers: Sender<Vec<u8>>,
    pub(crate) table: SeriesTable,
    pub(crate) queue: Arc<SampleQueue>,
    pub(crate) stats: Arc<Stats>,
    pub(crate) metadata: Arc<PendingMetadata>,
    /// Set when name definitions were lost; the next submit asks the Java side for all again.
    pub(crate) resend_names: Arc<AtomicBool>,
    /// When every family's metadata was last queued.
    pub(crate) metadata_sent_at: Option<Instant>,
}

/// How often the metadata of every family is sent again: receivers keep it in memory only
/// (Prometheus forgets it on restart), so it must come back now and then.
const METADATA_RESEND: Duration = Duration::from_secs(600);

impl Ingest {
    pub fn run(mut self) {
        let mut snapshot = Snapshot::default();
        let mut samples = Vec::new();
        let mut self_metrics = SelfMetrics::default();
        let mut last_ts = 0;
        let mut trimmer = crate::trim::Trimmer::default();
        let snapshots = self.snapshots.clone();
        let node = match &self.node {
            Some(subscription) => subscription.collections.clone(),
            None => crossbeam_channel::never(),
        };
        loop {
            crossbeam_channel::select! {
                recv(snapshots) -> message => {
                    let Ok(bytes) = message else { break };
                    match decode_into(&bytes, &mut snapshot) {
                        Ok(()) => {
                            self.table.ingest(&snapshot, &mut samples);
                            if self.table.take_names_lost() {
                                self.resend_names.store(true, Ordering::Relaxed);
                            }
                            let figures = ReportFigures {
                                queue_len: self.queue.len(),
                                capacity: self.capacity,
                                skipped_gauges: self.table.skipped_gauges,
                                over_limit: self.table.over_limit,
                                live_series: self.table.live_series(),
                                missing_identity: self.table.missing_identity(),
                            };
                            last_ts = snapshot.timestamp_ms;
                            self_metrics.append(&self.table, &self.stats, &figures, last_ts, &mut samples);
                            self.queue_metadata();
                            self.write_textfile(&samples);
                            self.push(&mut samples);
                        }
                        Err(e) => {
                            // Its name definitions are lost with it: the next report resends all.
                            tracing::error!("dropping a snapshot that cannot be decoded: {e}");
                            self.resend_names.store(true, Ordering::Relaxed);
                        }
                    }
                    let _ = self.spare_buffers.try_send(bytes);
                    trimmer.maybe_trim();
                }
                recv(node) -> message => {
                    // Node series carry the identity labels: wait for the first report.
                    let Ok(collection) = message else { continue };
                    if self.table.has_reported() {
                        self.node_series.append(&self.table, &collection, &mut samples);
                        last_ts = last_ts.max(collection.timestamp_ms);
                        self.queue_metadata();
                        self.push(&mut samples);
                    }
                }
            }
        }
        // Leave the node-stats thread (the last sink to leave stops it).
        self.node = None;
        // The sink is closing: end every series so graphs stop where the JVM stopped. A stale
        // marker must come after the series' last sample.
        let ts = (now_ms() as i64).max(last_ts + 1);
        self.table.stale_all(ts, &mut samples);
        self_metrics.stale_all(ts, &mut samples);
        self.node_series.stale_all(ts, &mut samples);
        self.push(&mut samples);
        self.queue.close();
    }

    /// New families' metadata now, every family's again every METADATA_RESEND.
    fn queue_metadata(&mut self) {
        let resend = self
            .metadata_sent_at
            .is_none_or(|at| at.elapsed() >= METADATA_RESEND);
        let families = if resend {
            self.metadata_sent_at = Some(Instant::now());
            self.table.labeler().families().take_new();
            self.table.labeler().families().all()
        } else {
            self.table.labeler().families().take_new()
        };
        self.metadata.add(families.iter().map(|f| f.metadata()));
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
            crate::textfile::expand_path(template, self.table.identity(), self.table.sink_role());
        if let Err(e) = crate::textfile::write_atomically(&path, &crate::textfile::render(samples))
        {
            tracing::warn!("cannot write the textfile {}: {e}", path.display());
        }
    }

    fn push(&self, samples: &mut Vec<Sample>) {
        let dropped = self.queue.push(samples);
        self.stats
            .samples_dropped_capacity
            .fetch_add(dropped as u64, Ordering::Relaxed);
    }
}
