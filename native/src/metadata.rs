//! Metric metadata (type, unit, help) on its way to the receiver: the families a sink has
//! exported, and the metadata waiting to ride along with the next requests.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use crate::sample::Family;

/// The families one sink exports: the new ones since they were last taken (their metadata is
/// still to send) and all of them that still have a series (sent again now and then). A family
/// is held only by its series (weakly here), so one whose series are all gone is forgotten:
/// streaming queries and names that come and go leave nothing behind.
#[derive(Default)]
pub struct FamilyLog {
    new: RefCell<Vec<Arc<Family>>>,
    /// Per family name, the `Family`s of that name that series hold (several Spark names can
    /// make one family, each its own `Arc`).
    all: RefCell<HashMap<String, Vec<Weak<Family>>>>,
    /// `all`'s size after it was last cleared of forgotten families.
    kept: Cell<usize>,
}

impl FamilyLog {
    pub fn record(&self, family: &Arc<Family>) {
        self.new.borrow_mut().push(Arc::clone(family));
        let mut all = self.all.borrow_mut();
        let held = all.entry(family.name.clone()).or_default();
        held.retain(|f| f.strong_count() > 0);
        if !held
            .iter()
            .any(|f| std::ptr::eq(f.as_ptr(), Arc::as_ptr(family)))
        {
            held.push(Arc::downgrade(family));
        }
        // Amortised: names whose families all went are cleared out when the map has doubled.
        if all.len() > 2 * self.kept.get().max(64) {
            all.retain(|_, held| held.iter().any(|f| f.strong_count() > 0));
            self.kept.set(all.len());
        }
    }

    /// The families recorded since the last call.
    pub fn take_new(&self) -> Vec<Arc<Family>> {
        std::mem::take(&mut *self.new.borrow_mut())
    }

    /// Every family that still has a series.
    pub fn all(&self) -> Vec<Arc<Family>> {
        let mut all = self.all.borrow_mut();
        all.retain(|_, held| held.iter().any(|f| f.strong_count() > 0));
        self.kept.set(all.len());
        all.values()
            .filter_map(|held| held.iter().find_map(Weak::upgrade))
            .collect()
    }
}

/// Families whose metadata waits to ride along with the next requests, at most one entry per
/// family name: while the receiver is down the periodic resend replaces what is waiting instead
/// of piling up, so this stays as small as the number of families. The encoder writes each as
/// its wire format says.
#[derive(Default)]
pub struct PendingMetadata(Mutex<HashMap<String, Arc<Family>>>);

impl PendingMetadata {
    pub fn add(&self, families: impl IntoIterator<Item = Arc<Family>>) {
        let mut pending = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for family in families {
            pending.insert(family.name.clone(), family);
        }
    }

    /// Moves up to `max` entries into `out`.
    pub fn take(&self, max: usize, out: &mut Vec<Arc<Family>>) {
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

    fn metadata(name: &str, help: &str) -> Arc<Family> {
        Arc::new(Family {
            name: name.into(),
            metric_type: crate::sample::MetricType::Counter,
            unit: "",
            help: help.into(),
        })
    }

    fn family(name: &str) -> Arc<Family> {
        Arc::new(Family {
            name: name.into(),
            metric_type: crate::sample::MetricType::Gauge,
            unit: "",
            help: String::new(),
        })
    }

    /// Families come and go with their series (a streaming query per name, names that churn):
    /// the log keeps those still held, once each, and forgets the rest.
    #[test]
    fn the_family_log_forgets_families_whose_series_are_gone() {
        let log = FamilyLog::default();
        // Two Spark names make one family, each with its own Arc: one leaving keeps it.
        let (kept, twin) = (family("spark_kept"), family("spark_kept"));
        log.record(&kept);
        log.record(&twin);
        for round in 0..10_000 {
            let churned = family(&format!("spark_query_{round}_latency"));
            log.record(&churned);
            log.take_new();
        }
        drop(twin);
        let remembered = log.all.borrow().len();
        assert!(remembered <= 2 * 64 + 1, "{remembered} names remembered");
        let names: Vec<String> = log.all().iter().map(|f| f.name.clone()).collect();
        assert_eq!(names, vec!["spark_kept".to_string()]);
        assert_eq!(log.all.borrow().len(), 1);
        log.record(&kept);
        assert_eq!(log.all.borrow()["spark_kept"].len(), 1, "recorded once");
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
