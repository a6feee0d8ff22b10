//! The life of one producer's series in one sink, written once for every producer: a series is
//! made once through the sink's label context ([`SinkLabels`]: claimed JVM-wide, counted against
//! `maxSeries` for the producers it budgets), ended once with a stale marker and its claim and
//! budget given back, ended when a round of the producer lacked it, decided again after claims
//! were given back anywhere in the JVM when it was refused for a claim or the budget, and
//! forgotten with everything else on a new identity. Each producer keys its series as it knows
//! them (a definition, a statistic and its labels, a listener series) and says how to make one.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use crate::claims::{Producer, Release};
use crate::labels::{Refused, SinkLabels};
use crate::sample::{push_stale_markers, Sample, Series};

/// What making one key's series gave.
pub type Made = Result<Vec<Arc<Series>>, Refused>;

/// What one key became.
struct Entry {
    made: Made,
    /// What holds its claim (a Spark name, a self-metric's name, a statistic), to give it back.
    owner: String,
    /// The last round that had it.
    seen: u64,
    /// `claims::releases()` when it was decided: a refusal for a claim or the budget is decided
    /// again once that moved.
    decided_at: u64,
    /// Whether a refusal may be decided again (a self-metric counter's may not: its counts
    /// would go on from another sink's in one series).
    retry: bool,
}

/// How one `get` went: the series (none when refused), and whether they were made just now.
pub struct Got<'a> {
    pub series: &'a [Arc<Series>],
    pub made_now: bool,
}

/// One producer's series of one sink, by the producer's key.
pub struct SeriesSet<K> {
    producer: Producer,
    entries: HashMap<K, Entry>,
    round: u64,
}

impl<K: Hash + Eq + Clone> SeriesSet<K> {
    pub fn new(producer: Producer) -> SeriesSet<K> {
        SeriesSet {
            producer,
            entries: HashMap::new(),
            round: 0,
        }
    }

    /// Starts a round: what `end_unseen` ends is what no `get` of this round asked for.
    pub fn begin_round(&mut self) {
        self.round += 1;
    }

    /// The series of `key`, made by `make` (which names their owner and asks the label context
    /// for them) the first time, and again when a refusal it may retry could have changed. The
    /// key counts as seen this round.
    pub fn get(&mut self, key: &K, retry: bool, make: impl FnOnce() -> (String, Made)) -> Got<'_> {
        let releases = crate::claims::releases();
        let stale_refusal = self.entries.get(key).is_some_and(|e| {
            e.retry
                && e.decided_at != releases
                && matches!(e.made, Err(Refused::Taken | Refused::OverBudget))
        });
        let made_now = stale_refusal || !self.entries.contains_key(key);
        if made_now {
            let (owner, made) = make();
            let entry = Entry {
                made,
                owner,
                seen: self.round,
                decided_at: releases,
                retry,
            };
            self.entries.insert(key.clone(), entry);
        }
        let round = self.round;
        let entry = self
            .entries
            .get_mut(key)
            .expect("inserted above when missing");
        entry.seen = round;
        Got {
            made_now: made_now && entry.made.is_ok(),
            series: entry.made.as_deref().unwrap_or_default(),
        }
    }

    /// The series of `key` if it is known and exported, without making or marking it.
    pub fn peek(&self, key: &K) -> Option<&[Arc<Series>]> {
        self.entries.get(key)?.made.as_deref().ok()
    }

    /// Whether `key` was decided (exported or refused).
    pub fn knows(&self, key: &K) -> bool {
        self.entries.contains_key(key)
    }

    /// Ends `key`'s series: one stale marker each, their claim and budget given back.
    pub fn end(&mut self, key: &K, labels: &SinkLabels, ts: i64, out: &mut Vec<Sample>) {
        if let Some(entry) = self.entries.remove(key) {
            self.end_entry(entry, labels, ts, out);
        }
    }

    /// Ends every series this round did not ask for (a statistic gone, a name that left).
    pub fn end_unseen(&mut self, labels: &SinkLabels, ts: i64, out: &mut Vec<Sample>) {
        let round = self.round;
        let gone: Vec<K> = self
            .entries
            .iter()
            .filter(|(_, e)| e.seen != round)
            .map(|(k, _)| k.clone())
            .collect();
        for key in gone {
            self.end(&key, labels, ts, out);
        }
    }

    fn end_entry(&self, entry: Entry, labels: &SinkLabels, ts: i64, out: &mut Vec<Sample>) {
        if let Ok(series) = &entry.made {
            push_stale_markers(series, ts, out);
            labels.release(Release::Owner(self.producer, &entry.owner));
        }
    }

    /// Decides every exported key again with `make`, when only how keys map changed and no
    /// label set did (a corrected namespace): a series it still maps to goes on (ending it would
    /// put a stale marker and a value at one time, which the receiver refuses), one it no
    /// longer maps to ends. A refused key is forgotten, to be decided when next asked for.
    pub fn remake_all(
        &mut self,
        labels: &SinkLabels,
        ts: i64,
        out: &mut Vec<Sample>,
        mut make: impl FnMut(&K) -> (String, Made),
    ) {
        self.entries.retain(|_, e| e.made.is_ok());
        for (key, entry) in self.entries.iter_mut() {
            labels.release(Release::Owner(self.producer, &entry.owner));
            let (owner, made) = make(key);
            let kept: Vec<&[u8]> = made.iter().flatten().map(|s| s.key.as_slice()).collect();
            if let Ok(old) = &entry.made {
                let ended = old.iter().filter(|s| !kept.contains(&s.key.as_slice()));
                push_stale_markers(ended, ts, out);
            }
            entry.owner = owner;
            entry.made = made;
            entry.decided_at = crate::claims::releases();
        }
    }

    /// Series exported now.
    pub fn live(&self) -> usize {
        self.entries
            .values()
            .map(|e| e.made.as_ref().map_or(0, Vec::len))
            .sum()
    }

    /// Ends every series still exported; for the sink's last report.
    pub fn stale_all(&self, ts: i64, out: &mut Vec<Sample>) {
        for entry in self.entries.values() {
            if let Ok(series) = &entry.made {
                push_stale_markers(series, ts, out);
            }
        }
    }

    /// The sink's labels changed (its claims and budget are already given back): ends every
    /// series and forgets every key, to be made again with the new labels.
    pub fn forget_all(&mut self, ts: i64, out: &mut Vec<Sample>) {
        self.stale_all(ts, out);
        self.entries.clear();
    }
}
