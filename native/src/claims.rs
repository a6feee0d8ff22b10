//! Which sink exports each series, JVM-wide. Several sinks share one JVM (local-cluster runs the
//! master and the workers inside the driver's) and some Spark sources, and the JVM's node
//! statistics, are seen by all of them: two sinks pushing one label set to one receiver would
//! make it refuse whole requests as out of order, so the second one is told no.
//!
//! A claim is held by one producer of one sink (its Spark names, its self-metrics or its node
//! statistics), so each producer gives back only its own: a reset of the Spark names must not
//! free the label sets the self-metrics go on sending.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use once_cell::sync::Lazy;

/// The receiver's URL and a series' encoded label set.
pub type Key = (String, Vec<u8>);

/// The producers of one sink's series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Producer {
    SparkNames,
    SelfMetrics,
    Node,
    /// The driver listener's series (signals.rs).
    Signals,
}

/// Who holds a claim: a sink, its producer, and what exports the series (a Spark name or a
/// self/node metric's name), for log lines and for giving back one name's claims.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Holder {
    sink: u64,
    producer: Producer,
    owner: String,
}

static CLAIMS: Lazy<Mutex<HashMap<Key, Holder>>> = Lazy::new(Default::default);
static NEXT_SINK_ID: AtomicU64 = AtomicU64::new(1);
/// Counts the releases that gave something back: a name refused for lack of budget or for a
/// label set held elsewhere looks again when it moved.
static RELEASES: AtomicU64 = AtomicU64::new(0);

fn claims() -> std::sync::MutexGuard<'static, HashMap<Key, Holder>> {
    CLAIMS.lock().unwrap_or_else(|p| p.into_inner())
}

/// A new sink's id, unique in this JVM.
pub fn new_sink_id() -> u64 {
    NEXT_SINK_ID.fetch_add(1, Ordering::Relaxed)
}

/// Who else holds a key: whether it is the same sink, and what exports it there.
#[derive(Debug, PartialEq, Eq)]
pub struct Taken {
    pub same_sink: bool,
    pub by: String,
}

/// Claims `key` for `owner` of `sink`'s `producer`; Err names who has it when that is anyone
/// else (the same sink too: two Spark names that map to one series).
pub fn claim(key: Key, sink: u64, producer: Producer, owner: &str) -> Result<(), Taken> {
    let mut claims = claims();
    let holder = Holder {
        sink,
        producer,
        owner: owner.to_string(),
    };
    match claims.get(&key) {
        Some(other) if *other != holder => Err(Taken {
            same_sink: other.sink == sink,
            by: other.owner.clone(),
        }),
        _ => {
            claims.insert(key, holder);
            Ok(())
        }
    }
}

/// What to give back: everything of a sink, one producer's claims, or one owner's of a producer.
#[derive(Debug, Clone, Copy)]
pub enum Release<'a> {
    All,
    Producer(Producer),
    Owner(Producer, &'a str),
}

/// How many releases gave something back since the JVM started.
pub fn releases() -> u64 {
    RELEASES.load(Ordering::Relaxed)
}

/// Gives up claims of `sink`.
pub fn release(sink: u64, which: Release) {
    let mut claims = claims();
    let before = claims.len();
    claims.retain(|_, h| {
        let mine = h.sink == sink
            && match which {
                Release::All => true,
                Release::Producer(p) => h.producer == p,
                Release::Owner(p, owner) => h.producer == p && h.owner == owner,
            };
        !mine
    });
    if claims.len() != before {
        RELEASES.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(labels: &str) -> Key {
        ("test:claims".to_string(), labels.as_bytes().to_vec())
    }

    #[test]
    fn a_second_sink_is_told_who_exports_the_series() {
        let (a, b) = (new_sink_id(), new_sink_id());
        assert_eq!(claim(key("x1"), a, Producer::Node, "node_load1"), Ok(()));
        assert_eq!(
            claim(key("x1"), a, Producer::Node, "node_load1"),
            Ok(()),
            "claiming again is fine"
        );
        assert_eq!(
            claim(key("x1"), b, Producer::Node, "node_load1"),
            Err(Taken {
                same_sink: false,
                by: "node_load1".into()
            })
        );
        assert_eq!(
            claim(key("x1"), a, Producer::SparkNames, "a.b"),
            Err(Taken {
                same_sink: true,
                by: "node_load1".into()
            })
        );
        release(a, Release::All);
        assert_eq!(claim(key("x1"), b, Producer::Node, "node_load1"), Ok(()));
        release(b, Release::All);
    }

    #[test]
    fn each_producer_gives_back_only_its_own_claims() {
        let (sink, other) = (new_sink_id(), new_sink_id());
        claim(key("p1"), sink, Producer::SparkNames, "s.one").unwrap();
        claim(key("p2"), sink, Producer::SparkNames, "s.two").unwrap();
        claim(key("p3"), sink, Producer::SelfMetrics, "sparkprom_series").unwrap();
        claim(key("p4"), sink, Producer::Node, "node_load1").unwrap();

        release(sink, Release::Owner(Producer::SparkNames, "s.one"));
        assert!(claim(key("p1"), other, Producer::SparkNames, "s.one").is_ok());
        assert!(claim(key("p2"), other, Producer::SparkNames, "s.two").is_err());

        release(sink, Release::Producer(Producer::SparkNames));
        assert!(claim(key("p2"), other, Producer::SparkNames, "s.two").is_ok());
        assert!(claim(key("p3"), other, Producer::SelfMetrics, "sparkprom_series").is_err());
        assert!(claim(key("p4"), other, Producer::Node, "node_load1").is_err());
        release(sink, Release::All);
        release(other, Release::All);
    }
}
