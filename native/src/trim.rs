//! Gives memory the core freed back to the system now and then.
//!
//! glibc gives every thread that allocates an arena of its own and keeps what is freed in it
//! for reuse; only the top of an arena is ever returned by itself. The ingest and sender
//! threads free the start-up's and each report's samples and request buffers, so without help
//! their arenas stay at their peak for the JVM's life: measured, most of what the core added to
//! a JVM's resident memory (tests/bench/memory.py). `malloc_trim(0)` returns the free pages of
//! every arena, the JVM's own included: about 0.3 ms, 10 s after the start (past the first
//! reports, which define every name) and then once a minute.

//!
//! The trim is process-wide, so it is scheduled once per JVM however many sinks the JVM has (each
//! ingest thread asks; the first that finds it due does it). `mallocTrim=false` turns a sink's
//! asking off.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use once_cell::sync::Lazy;

const FIRST_AFTER: Duration = Duration::from_secs(10);
const EVERY: Duration = Duration::from_secs(60);

/// When the next trim is due, in milliseconds since `epoch`; shared by whoever asks.
pub struct Schedule {
    epoch: Instant,
    next_ms: AtomicU64,
}

impl Schedule {
    pub fn new() -> Schedule {
        Schedule {
            epoch: Instant::now(),
            next_ms: AtomicU64::new(FIRST_AFTER.as_millis() as u64),
        }
    }

    /// Whether the caller should trim now: true for exactly one caller per due time.
    pub fn claim(&self, now: Instant) -> bool {
        let now_ms = now.saturating_duration_since(self.epoch).as_millis() as u64;
        let due = self.next_ms.load(Ordering::Relaxed);
        now_ms >= due
            && self
                .next_ms
                .compare_exchange(
                    due,
                    now_ms + EVERY.as_millis() as u64,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
    }
}

impl Default for Schedule {
    fn default() -> Schedule {
        Schedule::new()
    }
}

/// The JVM's one schedule: the first trim 10 s after the first sink started.
static JVM: Lazy<Schedule> = Lazy::new(Schedule::new);

/// Trims when the JVM's trim is due; called by each sink's ingest thread after a report.
pub fn maybe_trim() {
    let now = Instant::now();
    if JVM.claim(now) {
        trim();
        tracing::debug!("malloc_trim took {:?}", now.elapsed());
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: no arguments beyond the padding, callable from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_sinks_trim_once_per_due_time() {
        let schedule = Schedule::new();
        let start = schedule.epoch;
        assert!(
            !schedule.claim(start + Duration::from_secs(9)),
            "not before 10 s"
        );
        let due = start + FIRST_AFTER;
        // Every sink's ingest thread asks at the due time: one trims.
        let trims = (0..8).filter(|_| schedule.claim(due)).count();
        assert_eq!(trims, 1);
        assert!(!schedule.claim(due + Duration::from_secs(59)));
        assert!(schedule.claim(due + EVERY));
    }
}
