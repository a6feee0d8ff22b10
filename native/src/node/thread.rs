//! One node-stats thread per JVM, however many sinks it has: started by the first sink that
//! subscribes, stopped when the last one leaves. Each collection goes to every subscriber
//! without waiting: a sink that is behind misses a collection, it never stalls the thread.
//! The last subscriber stops the thread without joining it: a collection may be slow (see
//! filesystem.rs), and a sink's stop must not wait for it.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, Sender};
use once_cell::sync::Lazy;

use super::stat::Stat;

/// One collection: when it was taken (ms since the epoch) and what was read.
pub struct Collection {
    pub timestamp_ms: i64,
    pub stats: Vec<Stat>,
}

struct Collector {
    subscribers: Vec<(u64, Sender<Arc<Collection>>)>,
    next_id: u64,
    /// The channel whose disconnection stops the running thread.
    running: Option<Sender<()>>,
    /// Counts threads started: a stopped thread still finishing a collection sees that it is
    /// no longer the current one and sends nothing.
    generation: u64,
}

static COLLECTOR: Lazy<Mutex<Collector>> = Lazy::new(|| {
    Mutex::new(Collector {
        subscribers: Vec::new(),
        next_id: 1,
        running: None,
        generation: 0,
    })
});

fn collector() -> std::sync::MutexGuard<'static, Collector> {
    COLLECTOR.lock().unwrap_or_else(|p| p.into_inner())
}

/// A sink's place on the node-stats thread's list; leaving it (drop) may stop the thread.
pub struct Subscription {
    id: u64,
    pub collections: Receiver<Arc<Collection>>,
}

/// What one collection reads: `node::collect` (a stand-in in tests).
type CollectFn = fn(&std::path::Path, &mut Vec<Stat>);

/// Subscribes to collections, starting the thread with `period` if none runs (the first
/// subscriber's period is the thread's).
pub fn subscribe(period: Duration, root: PathBuf) -> Subscription {
    subscribe_with(period, root, super::collect)
}

/// Node-stats threads that have ended since the JVM started (for tests).
static THREADS_ENDED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn subscribe_with(period: Duration, root: PathBuf, collect: CollectFn) -> Subscription {
    let mut c = collector();
    let (tx, rx) = bounded(2);
    let id = c.next_id;
    c.next_id += 1;
    c.subscribers.push((id, tx));
    if c.running.is_none() {
        let (stop_tx, stop_rx) = bounded::<()>(0);
        c.generation += 1;
        let generation = c.generation;
        let spawned = std::thread::Builder::new()
            .name("sparkprom-node".into())
            .spawn(move || {
                run(period, root, collect, stop_rx, generation);
                THREADS_ENDED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            });
        match spawned {
            Ok(_) => c.running = Some(stop_tx),
            Err(e) => tracing::warn!("node statistics disabled: cannot start their thread: {e}"),
        }
    }
    Subscription {
        id,
        collections: rx,
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut c = collector();
        c.subscribers.retain(|(id, _)| *id != self.id);
        if c.subscribers.is_empty() {
            // Dropping the stop channel's sender wakes the thread, which then exits.
            c.running = None;
        }
    }
}

fn run(period: Duration, root: PathBuf, collect: CollectFn, stop: Receiver<()>, generation: u64) {
    loop {
        let mut stats = Vec::with_capacity(256);
        let started = std::time::Instant::now();
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| collect(&root, &mut stats)));
        if outcome.is_err() {
            tracing::error!("a node statistics collection panicked; skipped");
        }
        tracing::trace!(
            "node statistics: {} stats in {:?}",
            stats.len(),
            started.elapsed()
        );
        let collection = Arc::new(Collection {
            timestamp_ms: crate::stats::now_ms() as i64,
            stats,
        });
        let c = collector();
        if c.generation != generation {
            return;
        }
        for (_, subscriber) in c.subscribers.iter() {
            let _ = subscriber.try_send(Arc::clone(&collection));
        }
        drop(c);
        match stop.recv_timeout(period) {
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
            _ => return,
        }
    }
}

/// Whether the thread runs now (for tests).
pub fn is_running() -> bool {
    collector().running.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The node thread is one per process: its tests take turns.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

    #[test]
    fn one_thread_serves_every_subscriber_and_stops_with_the_last() {
        let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        let first = subscribe(Duration::from_millis(20), PathBuf::from("/"));
        let second = subscribe(Duration::from_secs(3600), PathBuf::from("/"));
        assert!(is_running());
        let a = first
            .collections
            .recv_timeout(Duration::from_secs(5))
            .unwrap();
        let b = second
            .collections
            .recv_timeout(Duration::from_secs(5))
            .unwrap();
        assert!(!a.stats.is_empty());
        assert!(b
            .stats
            .iter()
            .any(|r| r.family.name == "node_cpu_seconds_total"));
        drop(first);
        assert!(is_running());
        drop(second);
        assert!(!is_running());
    }

    static STUCK: Mutex<bool> = Mutex::new(false);
    static COLLECTING: std::sync::Condvar = std::sync::Condvar::new();

    /// A collection that blocks until the test lets it go (a hung mount, in life).
    fn stuck_collection(_: &std::path::Path, _: &mut Vec<Stat>) {
        let mut stuck = STUCK.lock().unwrap();
        *stuck = true;
        COLLECTING.notify_all();
        while *stuck {
            stuck = COLLECTING.wait(stuck).unwrap();
        }
    }

    /// The last subscriber leaves while a collection is stuck: leaving returns at once, and the
    /// thread ends, without sending, once the collection comes back.
    #[test]
    fn leaving_never_waits_for_a_stuck_collection_and_the_thread_ends_after_it() {
        let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        let ended_before = THREADS_ENDED.load(std::sync::atomic::Ordering::Relaxed);
        let subscription = subscribe_with(
            Duration::from_millis(10),
            PathBuf::from("/"),
            stuck_collection,
        );
        {
            let mut stuck = STUCK.lock().unwrap();
            while !*stuck {
                stuck = COLLECTING.wait(stuck).unwrap();
            }
        }
        let left = std::time::Instant::now();
        let collections = subscription.collections.clone();
        drop(subscription);
        assert!(
            left.elapsed() < Duration::from_millis(100),
            "leaving took {:?}",
            left.elapsed()
        );
        *STUCK.lock().unwrap() = false;
        COLLECTING.notify_all();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while THREADS_ENDED.load(std::sync::atomic::Ordering::Relaxed) == ended_before {
            assert!(
                std::time::Instant::now() < deadline,
                "the node thread did not end"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            collections.try_recv().is_err(),
            "a stopped thread sent a collection"
        );
    }
}
