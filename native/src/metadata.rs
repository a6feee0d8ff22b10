//! Metric metadata (type, unit, help) on its way to the receiver: the families a sink has
//! exported, and the metadata waiting to ride along with the next requests.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::proto::MetricMetadata;
use crate::sample::Family;

/// The families one sink has exported: the new ones since they were last taken (their metadata
/// is still to send) and all of them (sent again now and then).
#[derive(Default)]
pub struct FamilyLog {
    new: RefCell<Vec<Arc<Family>>>,
    all: RefCell<HashMap<String, Arc<Family>>>,
}

impl FamilyLog {
    pub fn record(&self, family: &Arc<Family>) {
        self.new.borrow_mut().push(Arc::clone(family));
        self.all
            .borrow_mut()
            .insert(family.name.clone(), Arc::clone(family));
    }

    /// The families recorded since the last call.
    pub fn take_new(&self) -> Vec<Arc<Family>> {
        std::mem::take(&mut *self.new.borrow_mut())
    }

    /// Every family recorded so far.
    pub fn all(&self) -> Vec<Arc<Family>> {
        self.all.borrow().values().cloned().collect()
    }
}

/// Metadata waiting to ride along with the next requests, at most one entry per family: while
/// the receiver is down the periodic resend replaces what is waiting instead of piling up, so
/// this stays as small as the number of families.
#[derive(Default)]
pub struct PendingMetadata(Mutex<HashMap<String, MetricMetadata>>);

impl PendingMetadata {
    pub fn add(&self, metadata: impl IntoIterator<Item = MetricMetadata>) {
        let mut pending = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for m in metadata {
            pending.insert(m.metric_family_name.clone(), m);
        }
    }

    /// Moves up to `max` entries into `out`.
    pub fn take(&self, max: usize, out: &mut Vec<MetricMetadata>) {
        let mut pending = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let names: Vec<String> = pending.keys().take(max).cloned().collect();
        out.extend(names.iter().filter_map(|n| pending.remove(n)));
    }

    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(name: &str, help: &str) -> MetricMetadata {
        MetricMetadata {
            r#type: 1,
            metric_family_name: name.into(),
            help: help.into(),
            unit: String::new(),
        }
    }

    #[test]
    fn pending_metadata_keeps_one_entry_per_family_however_often_it_is_resent() {
        let pending = PendingMetadata::default();
        for round in 0..50 {
            pending.add((0..10).map(|i| metadata(&format!("f{i}"), &format!("round {round}"))));
        }
        assert_eq!(pending.len(), 10);
        let mut out = Vec::new();
        pending.take(4, &mut out);
        assert_eq!((out.len(), pending.len()), (4, 6));
        assert!(
            out.iter().all(|m| m.help == "round 49"),
            "the newest entry wins"
        );
        pending.take(100, &mut out);
        assert!(pending.is_empty());
        assert_eq!(out.len(), 10);
    }
}
