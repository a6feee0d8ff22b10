//! Gives memory the core freed back to the system now and then.
//!
//! glibc gives every thread that allocates an arena of its own and keeps what is freed in it
//! for reuse; only the top of an arena is ever returned by itself. The ingest and sender
//! threads free a report's worth of samples and request buffers every period, so their arenas
//! stay at their peak for the JVM's life: measured, most of what the core added to a JVM's
//! resident memory (tests/bench/memory.py). `malloc_trim(0)` returns the free pages of every
//! arena; once a minute it costs well under a millisecond.

use std::time::{Duration, Instant};

const EVERY: Duration = Duration::from_secs(60);

pub struct Trimmer {
    last: Instant,
}

impl Default for Trimmer {
    fn default() -> Trimmer {
        Trimmer {
            last: Instant::now(),
        }
    }
}

impl Trimmer {
    /// Trims when a minute has passed since the last time.
    pub fn maybe_trim(&mut self) {
        if self.last.elapsed() >= EVERY {
            self.last = Instant::now();
            trim();
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
