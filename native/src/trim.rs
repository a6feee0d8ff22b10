//! Gives memory the core freed back to the system now and then.
//!
//! glibc gives every thread that allocates an arena of its own and keeps what is freed in it
//! for reuse; only the top of an arena is ever returned by itself. The ingest and sender
//! threads free the start-up's and each report's samples and request buffers, so without help
//! their arenas stay at their peak for the JVM's life: measured, most of what the core added to
//! a JVM's resident memory (tests/bench/memory.py). `malloc_trim(0)` returns the free pages of
//! every arena, the JVM's own included: about 0.3 ms, 10 s after the start (past the first
//! reports, which define every name) and then once a minute.

use std::time::{Duration, Instant};

const FIRST_AFTER: Duration = Duration::from_secs(10);
const EVERY: Duration = Duration::from_secs(60);

pub struct Trimmer {
    next: Instant,
}

impl Default for Trimmer {
    fn default() -> Trimmer {
        Trimmer {
            next: Instant::now() + FIRST_AFTER,
        }
    }
}

impl Trimmer {
    /// Trims when its time has come.
    pub fn maybe_trim(&mut self) {
        let now = Instant::now();
        if now >= self.next {
            trim();
            self.next = Instant::now() + EVERY;
            tracing::debug!("malloc_trim took {:?}", now.elapsed());
        }
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
