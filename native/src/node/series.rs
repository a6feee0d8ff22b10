//! Turns node-stats collections into a sink's series: each statistic's own labels plus
//! `instance` (the host) and the JVM's identity labels (no `role`), decided once per series and
//! cached; a statistic that stops coming (an unmounted filesystem, a removed interface) ends.

use std::collections::HashMap;
use std::sync::Arc;

use super::stat::NodeFamily;
use super::thread::Collection;
use crate::claims::{Producer, Release};
use crate::labels::{SinkLabels, Variant};
use crate::sample::{push_stale_markers, Family, Sample, Series};

type Key = (usize, Vec<(&'static str, String)>);

/// What one statistic became for this sink, and the last collection that had it.
struct Entry {
    /// None: not exported (filtered out, or another sink of this JVM exports it).
    series: Option<Arc<Series>>,
    /// What holds its claim (`series_of`), to give it back.
    owner: String,
    seen: u64,
}

#[derive(Default)]
pub struct NodeSeries {
    families: HashMap<usize, Arc<Family>>,
    entries: HashMap<Key, Entry>,
    /// Counts collections; an entry a collection lacks is gone (a mount or an interface).
    collections: u64,
    /// `claims::releases()` when the statistics not exported were last decided.
    releases_seen: u64,
}

impl NodeSeries {
    /// Appends one sample per statistic of `collection` to `out`, stamped `ts` (the collection's
    /// time, kept increasing by the ingest thread); then ends the series of statistics it no
    /// longer has.
    pub fn append(
        &mut self,
        labels: &SinkLabels,
        collection: &Collection,
        ts: i64,
        out: &mut Vec<Sample>,
    ) {
        self.collections += 1;
        let releases = crate::claims::releases();
        if releases != self.releases_seen {
            // A label set another sink held may be free now: decide those again.
            self.releases_seen = releases;
            self.entries.retain(|_, e| e.series.is_some());
        }
        for stat in &collection.stats {
            let key: Key = (
                stat.family as *const NodeFamily as usize,
                stat.labels.clone(),
            );
            if !self.entries.contains_key(&key) {
                let entry = self.entry_for(labels, stat.family, &stat.labels);
                self.entries.insert(key.clone(), entry);
            }
            let Some(entry) = self.entries.get_mut(&key) else {
                continue;
            };
            entry.seen = self.collections;
            if let Some(series) = &entry.series {
                out.push(Sample {
                    series: Arc::clone(series),
                    timestamp_ms: ts,
                    value: stat.value,
                });
            }
        }
        self.forget_what_is_gone(labels, ts, out);
    }

    /// A mount, an interface or a disk this collection lacks is gone: its series ends with a
    /// stale marker and its claim and entry are given back.
    fn forget_what_is_gone(&mut self, labels: &SinkLabels, ts: i64, out: &mut Vec<Sample>) {
        let current = self.collections;
        self.entries.retain(|_, entry| {
            if entry.seen == current {
                return true;
            }
            if let Some(series) = &entry.series {
                push_stale_markers([series], ts, out);
                labels.release(Release::Owner(Producer::Node, &entry.owner));
            }
            false
        });
    }

    fn entry_for(
        &mut self,
        labels: &SinkLabels,
        family: &'static NodeFamily,
        stat_labels: &[(&'static str, String)],
    ) -> Entry {
        let owner = format!("{}{:?}", family.name, stat_labels);
        Entry {
            series: self.series_of(labels, family, stat_labels, &owner),
            owner,
            seen: 0,
        }
    }

    fn series_of(
        &mut self,
        sink_labels: &SinkLabels,
        family: &'static NodeFamily,
        labels: &[(&'static str, String)],
        owner: &str,
    ) -> Option<Arc<Series>> {
        if !sink_labels.keeps(family.name, family.name) {
            return None;
        }
        let family = Arc::clone(
            self.families
                .entry(family as *const NodeFamily as usize)
                .or_insert_with(|| {
                    Arc::new(Family {
                        name: family.name.to_string(),
                        metric_type: family.metric_type,
                        unit: family.unit,
                        help: family.help.to_string(),
                    })
                }),
        );
        // `instance` (the host) comes from the sink's labels, as for every node series.
        let variant = Variant {
            suffix: "",
            labels: labels.to_vec(),
        };
        // No role: the statistics belong to the JVM, so when several sinks of one JVM push to
        // one receiver (local-cluster's driver, master and workers) the first exports them and
        // the others find them claimed.
        sink_labels
            .series_for(Producer::Node, &family, None, &[variant], owner)?
            .pop()
    }

    /// Ends every node series; for the sink's last report.
    pub fn stale_all(&self, ts: i64, out: &mut Vec<Sample>) {
        push_stale_markers(
            self.entries.values().filter_map(|e| e.series.as_ref()),
            ts,
            out,
        );
    }

    /// The sink's labels changed: ends every series and makes them again at the next collection.
    pub fn relabel(&mut self, ts: i64, out: &mut Vec<Sample>) {
        self.stale_all(ts, out);
        self.entries.clear();
    }
}

/// The host's name, for `instance`: the kernel's, as node_exporter's targets usually are.
pub fn host_name(root: &std::path::Path) -> String {
    super::stat::read(root, "proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Filters;
    use crate::node::stat::Stat;
    use crate::proto::MetricType;
    use crate::sample::is_stale;

    static FREE: NodeFamily = NodeFamily {
        name: "node_filesystem_free_bytes",
        metric_type: MetricType::Gauge,
        help: "",
        unit: "bytes",
    };

    fn collection(mounts: &[&str]) -> Collection {
        Collection {
            timestamp_ms: 0,
            stats: mounts
                .iter()
                .map(|m| Stat::new(&FREE, 1.0).with("mountpoint", *m))
                .collect(),
        }
    }

    fn mount(sample: &Sample) -> &str {
        let label = sample.series.labels.iter().find(|l| l.name == "mountpoint");
        label.map_or("", |l| l.value.as_str())
    }

    #[test]
    fn a_statistic_that_stops_coming_ends_and_gives_its_series_back() {
        let labels =
            SinkLabels::new("test:node-gone", vec![], Filters::default()).on_host("h".into());
        let other =
            SinkLabels::new("test:node-gone", vec![], Filters::default()).on_host("h".into());
        let mut node = NodeSeries::default();
        let mut other_node = NodeSeries::default();
        let mut out = Vec::new();
        node.append(&labels, &collection(&["/", "/mnt/scratch"]), 1, &mut out);
        assert_eq!(out.len(), 2);
        // Another sink of the JVM (same receiver) finds the series taken.
        let mut taken = Vec::new();
        other_node.append(&other, &collection(&["/mnt/scratch"]), 1, &mut taken);
        assert!(taken.is_empty());

        out.clear();
        node.append(&labels, &collection(&["/"]), 2, &mut out);
        let ended: Vec<&str> = out
            .iter()
            .filter(|s| is_stale(s.value))
            .map(mount)
            .collect();
        assert_eq!(ended, ["/mnt/scratch"]);
        assert_eq!(out.iter().filter(|s| !is_stale(s.value)).count(), 1);
        out.clear();
        node.append(&labels, &collection(&["/"]), 3, &mut out);
        assert_eq!(out.len(), 1, "the marker is sent once");

        // Its claim is back: the other sink, which was told no, exports it now.
        other_node.append(&other, &collection(&["/mnt/scratch"]), 3, &mut taken);
        assert_eq!(
            taken.iter().map(mount).collect::<Vec<_>>(),
            ["/mnt/scratch"]
        );
    }
}
