//! Counters of what happened to samples, shared by a sink's threads, and the wall clock they
//! stamp samples with.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Counters of what happened to samples, shared by the sink's threads.
#[derive(Default)]
pub struct Stats {
    pub samples_sent: AtomicU64,
    /// Retried until the final flush gave up.
    pub samples_failed: AtomicU64,
    /// Refused by the receiver with a 4xx other than 429.
    pub samples_rejected: AtomicU64,
    /// Accepted by a 2.0 receiver that said it wrote fewer samples than the request held.
    pub samples_not_written: AtomicU64,
    /// Still failing (5xx, 429, network) after `retryTimeout`: given up so the next batch goes.
    pub samples_retry_timeout: AtomicU64,
    /// Pushed out of the full queue by newer samples.
    pub samples_dropped_capacity: AtomicU64,
    /// Lost because the JVM handed over a snapshot faster than it could be decoded.
    pub snapshots_dropped: AtomicU64,
    pub retries: AtomicU64,
    pub requests: AtomicU64,
    /// Time spent in requests, answered or not.
    pub request_nanos: AtomicU64,
    pub last_success_ms: AtomicU64,
    /// Reports whose textfile was not written: the write failed, or it did not finish in time
    /// (or one before it still had not: a hung mount).
    pub textfile_writes_failed: AtomicU64,
    pub textfile_writes_timed_out: AtomicU64,
}

/// Mounts whose `statvfs` did not return in time, since the JVM started: counted by
/// node::filesystem, JVM-wide as the node thread is, and reported by every sink.
pub static MOUNTS_HUNG: AtomicU64 = AtomicU64::new(0);

impl Stats {
    pub fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Milliseconds since the Unix epoch: remote write's timestamps.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
