//! Which sink exports each series, JVM-wide. Several sinks share one JVM (local-cluster runs the
//! master and the workers inside the driver's) and some Spark sources, and the JVM's node
//! statistics, are seen by all of them: two sinks pushing one label set to one receiver would
//! make it refuse whole requests as out of order, so the second one is told no.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use once_cell::sync::Lazy;

/// The receiver's URL and a series' encoded label set.
pub type Key = (String, Vec<u8>);

/// Key -> (sink id, what exports it: a Spark name or a self/node metric's name).
static CLAIMS: Lazy<Mutex<HashMap<Key, (u64, String)>>> = Lazy::new(Default::default);
static NEXT_SINK_ID: AtomicU64 = AtomicU64::new(1);

fn claims() -> std::sync::MutexGuard<'static, HashMap<Key, (u64, String)>> {
    CLAIMS.lock().unwrap_or_else(|p| p.into_inner())
}

/// A new sink's id, unique in this JVM.
pub fn new_sink_id() -> u64 {
    NEXT_SINK_ID.fetch_add(1, Ordering::Relaxed)
}

/// Claims `key` for `owner` of `sink`; Err names who has it when that is someone else
/// (`(same sink, other owner)` too: two Spark names that map to one series).
pub fn claim(key: Key, sink: u64, owner: &str) -> Result<(), (bool, String)> {
    let mut claims = claims();
    match claims.get(&key) {
        Some((holder, other)) if *holder != sink || other != owner => {
            Err((*holder == sink, other.clone()))
        }
        _ => {
            claims.insert(key, (sink, owner.to_string()));
            Ok(())
        }
    }
}

/// Gives up a sink's claims: those of one owner, or all of them.
pub fn release(sink: u64, owner: Option<&str>) {
    claims().retain(|_, (holder, held_by)| *holder != sink || owner.is_some_and(|o| o != held_by));
}
