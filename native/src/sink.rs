//! One sink instance of the JVM: the object behind a Java `RemoteWriteSink`'s native handle.
//!
//! `submit` runs on Spark's reporting thread and only copies the snapshot into a pooled buffer
//! and hands it to the ingest thread. The ingest thread decodes snapshots into samples and queues
//! them; the sender thread delivers them. Neither ever blocks the JVM's thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};

use crate::auth::RequestAuth;
use crate::config::{Config, ConfigError};
use crate::ingest::{Ingest, IngestLinks};
use crate::metadata::PendingMetadata;
use crate::queue::SampleQueue;
use crate::remote_write::client::{Client, ClientError};
use crate::sender::{GiveUp, SenderLoop};
use crate::stats::Stats;
use crate::threads::spawn_guarded;

/// What `submit` tells the Java side.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmitStatus {
    Accepted = 0,
    /// The snapshot was dropped (the ingest thread is behind). Its name definitions are lost
    /// with it, so the Java side must define every name again in its next snapshot.
    DroppedResendNames = 1,
    Closed = 2,
}

/// Snapshots waiting for the ingest thread. It keeps up easily (decoding is microseconds);
/// this only absorbs a burst, e.g. the final report arriving during a slow decode.
const SNAPSHOT_BACKLOG: usize = 8;

pub struct Sink {
    snapshots: Option<Sender<Vec<u8>>>,
    /// Buffers the ingest thread has finished with, reused so submit does not allocate.
    spare_buffers: Receiver<Vec<u8>>,
    wake_sender: Sender<()>,
    threads: Vec<JoinHandle<()>>,
    queue: Arc<SampleQueue>,
    pub stats: Arc<Stats>,
    give_up: Arc<GiveUp>,
    /// The ingest thread lost name definitions: the next submit asks for all names again.
    resend_names: Arc<AtomicBool>,
    flush_timeout: Duration,
    /// A thread of this sink ended while the sink was open (a panic, logged by spawn_guarded):
    /// said once at WARN, then the sink counts as closed.
    dead_thread_seen: AtomicBool,
}

/// Why a sink did not start.
#[derive(Debug)]
pub enum StartError {
    /// A property that cannot work (a TLS or secret file unreadable, no AWS region, ...).
    Config(ConfigError),
    Threads(std::io::Error),
    /// The HTTP client could not be built (its thread, say): the machine's, not a property's.
    Client(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Config(e) => e.fmt(f),
            StartError::Threads(e) => write!(f, "sparkprom cannot start its threads: {e}"),
            StartError::Client(why) => write!(f, "sparkprom {why}"),
        }
    }
}

/// What the sink, its ingest thread and its sender thread share.
struct Shared {
    queue: Arc<SampleQueue>,
    stats: Arc<Stats>,
    give_up: Arc<GiveUp>,
    metadata: Arc<PendingMetadata>,
    resend_names: Arc<AtomicBool>,
}

impl Sink {
    /// Checks what the configuration needs from outside (files, credentials), then starts the
    /// ingest and sender threads.
    pub fn start(config: Config) -> Result<Sink, StartError> {
        for property in &config.unknown_properties {
            tracing::warn!(
                "ignoring unknown sink property '{property}': check its spelling against README's property table"
            );
        }
        let client = client_for(&config)?;
        let shared = Shared {
            queue: Arc::new(SampleQueue::new(config.capacity)),
            stats: Arc::new(Stats::default()),
            give_up: Arc::new(GiveUp::default()),
            metadata: Arc::new(PendingMetadata::default()),
            resend_names: Arc::new(AtomicBool::new(false)),
        };
        let (snapshot_tx, snapshot_rx) = bounded::<Vec<u8>>(SNAPSHOT_BACKLOG);
        let (spare_tx, spare_rx) = bounded::<Vec<u8>>(SNAPSHOT_BACKLOG);
        let (wake_tx, wake_rx) = bounded::<()>(1);
        let ingest = Ingest::new(
            &config,
            IngestLinks {
                snapshots: snapshot_rx,
                spare_buffers: spare_tx,
                queue: Arc::clone(&shared.queue),
                stats: Arc::clone(&shared.stats),
                metadata: Arc::clone(&shared.metadata),
                resend_names: Arc::clone(&shared.resend_names),
            },
        );
        let sender = SenderLoop {
            config: config.clone(),
            client,
            queue: Arc::clone(&shared.queue),
            stats: Arc::clone(&shared.stats),
            give_up: Arc::clone(&shared.give_up),
            metadata: Arc::clone(&shared.metadata),
            wake: wake_rx,
        };
        let threads = vec![
            spawn_guarded("sparkprom-ingest", move || ingest.run()).map_err(StartError::Threads)?,
            spawn_guarded("sparkprom-sender", move || sender.run()).map_err(StartError::Threads)?,
        ];
        tracing::info!(
            "sparkprom {} pushing to {} (capacity {} samples)",
            crate::VERSION,
            crate::http::redact_url(&config.url),
            config.capacity
        );
        Ok(Sink {
            snapshots: Some(snapshot_tx),
            spare_buffers: spare_rx,
            wake_sender: wake_tx,
            threads,
            queue: shared.queue,
            stats: shared.stats,
            give_up: shared.give_up,
            resend_names: shared.resend_names,
            flush_timeout: config.flush_timeout,
            dead_thread_seen: AtomicBool::new(false),
        })
    }

    /// Hands one snapshot to the ingest thread without waiting.
    pub fn submit(&self, snapshot: &[u8]) -> SubmitStatus {
        let Some(snapshots) = &self.snapshots else {
            return SubmitStatus::Closed;
        };
        if self.a_thread_died() {
            return SubmitStatus::Closed;
        }
        if self.resend_names.swap(false, Ordering::Relaxed) {
            // This snapshot would refer to ids the core no longer has; the next one defines all.
            return SubmitStatus::DroppedResendNames;
        }
        let mut buffer = self.spare_buffers.try_recv().unwrap_or_default();
        buffer.clear();
        buffer.extend_from_slice(snapshot);
        match snapshots.try_send(buffer) {
            Ok(()) => SubmitStatus::Accepted,
            Err(TrySendError::Full(_)) => {
                self.stats.snapshots_dropped.fetch_add(1, Ordering::Relaxed);
                SubmitStatus::DroppedResendNames
            }
            Err(TrySendError::Disconnected(_)) => SubmitStatus::Closed,
        }
    }

    /// Snapshots handed over and not yet taken by the ingest thread (for tests and diagnostics).
    pub fn snapshots_waiting(&self) -> usize {
        self.snapshots.as_ref().map_or(0, |s| s.len())
    }

    /// Whether the ingest or the sender thread has ended although the sink is open: then nothing
    /// of this sink reaches the receiver any more, and saying so once beats looking alive.
    fn a_thread_died(&self) -> bool {
        let Some(dead) = self.threads.iter().find(|t| t.is_finished()) else {
            return false;
        };
        if !self.dead_thread_seen.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "sparkprom's {} thread has stopped (its error is logged above): this sink sends nothing \
                 more in this JVM and counts as closed. Report the error line",
                dead.thread().name().unwrap_or("unnamed")
            );
        }
        true
    }

    /// Stops taking snapshots, pushes what is queued until `flush_timeout` (the configured one
    /// when None), then logs what was sent and what was left; it never waits past the deadline.
    pub fn close(mut self, flush_timeout: Option<Duration>) {
        let timeout = flush_timeout.unwrap_or(self.flush_timeout);
        let give_up_at = Instant::now() + timeout;
        self.give_up.set(give_up_at);
        let _ = self.wake_sender.try_send(());
        // Disconnecting the channel lets the ingest thread finish what it has, close the queue
        // and exit; the sender then drains the queue.
        self.snapshots = None;
        let (done_tx, done_rx) = bounded::<()>(1);
        let threads = std::mem::take(&mut self.threads);
        // Joined on a helper thread so that waiting can stop at the give-up time.
        let joiner = std::thread::Builder::new()
            .name("sparkprom-close".into())
            .spawn(move || {
                for t in threads {
                    let _ = t.join();
                }
                let _ = done_tx.send(());
            });
        let finished = joiner.is_ok()
            && done_rx
                .recv_timeout(timeout + Duration::from_millis(200))
                .is_ok();
        let left = self.queue.len();
        let s = &self.stats;
        tracing::info!(
            "sparkprom stopped: {} samples sent, {} failed, {} rejected, {} dropped (queue full), {} left unsent{}",
            Stats::get(&s.samples_sent),
            Stats::get(&s.samples_failed),
            Stats::get(&s.samples_rejected),
            Stats::get(&s.samples_dropped_capacity),
            left,
            if finished { "" } else { "; a request was still in flight at the flush deadline" }
        );
    }
}

/// The HTTP client with its authentication and TLS. Their files and credential sources are
/// checked here, so a mistake fails the start, naming the property, instead of every later
/// request.
fn client_for(config: &Config) -> Result<Client, StartError> {
    let auth = RequestAuth::new(
        config,
        &crate::auth::aws::environment::process_environment(),
    )
    .map_err(StartError::Config)?;
    Client::new(config, auth).map_err(|e| match e {
        ClientError::Config(e) => StartError::Config(e),
        ClientError::Build(why) => StartError::Client(why),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink whose ingest thread died (a panic) says so once and stops taking snapshots,
    /// instead of queueing into a thread that is gone.
    #[test]
    fn a_sink_whose_thread_died_says_so_and_counts_as_closed() {
        let config = Config {
            url: "http://127.0.0.1:9/api/v1/write".into(),
            node_enabled: false,
            ..Config::default()
        };
        let mut sink = Sink::start(config).expect("starts");
        let snapshot = crate::snapshot::Encoder::default().buf;
        assert_eq!(sink.submit(&snapshot), SubmitStatus::Accepted);
        let dead = spawn_guarded("sparkprom-ingest", || panic!("a bug")).expect("spawns");
        while !dead.is_finished() {
            std::thread::sleep(Duration::from_millis(5));
        }
        sink.threads.push(dead);
        assert_eq!(sink.submit(&snapshot), SubmitStatus::Closed);
        assert!(sink.dead_thread_seen.load(Ordering::Relaxed));
        sink.close(Some(Duration::from_millis(100)));
    }
}
