//! Turns node-stats collections into a sink's series: each statistic's own labels plus
//! `instance` (the host) and the JVM's identity labels (no `role`), decided once per series and
//! cached.

use std::collections::HashMap;
use std::sync::Arc;

use super::stat::NodeFamily;
use super::thread::Collection;
use crate::claims::Producer;
use crate::labels::{SinkLabels, Variant};
use crate::sample::{push_stale_markers, Family, Sample, Series};

type Key = (usize, Vec<(&'static str, String)>);

pub struct NodeSeries {
    instance: String,
    families: HashMap<usize, Arc<Family>>,
    /// None: not exported (filtered out, or another sink of this JVM exports it).
    series: HashMap<Key, Option<Arc<Series>>>,
}

impl NodeSeries {
    pub fn new(instance: String) -> NodeSeries {
        NodeSeries {
            instance,
            families: HashMap::new(),
            series: HashMap::new(),
        }
    }

    /// Appends one sample per statistic of `collection` to `out`.
    pub fn append(&mut self, labels: &SinkLabels, collection: &Collection, out: &mut Vec<Sample>) {
        for stat in &collection.stats {
            let key: Key = (
                stat.family as *const NodeFamily as usize,
                stat.labels.clone(),
            );
            let series = match self.series.get(&key) {
                Some(s) => s.clone(),
                None => {
                    let s = self.series_of(labels, stat.family, &stat.labels);
                    self.series.insert(key, s.clone());
                    s
                }
            };
            if let Some(series) = series {
                out.push(Sample {
                    series,
                    timestamp_ms: collection.timestamp_ms,
                    value: stat.value,
                });
            }
        }
    }

    fn series_of(
        &mut self,
        sink_labels: &SinkLabels,
        family: &'static NodeFamily,
        labels: &[(&'static str, String)],
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
        let mut variant = Variant {
            suffix: "",
            labels: labels.to_vec(),
        };
        variant.labels.push(("instance", self.instance.clone()));
        let owner = format!("{}{:?}", family.name, labels);
        // No role: the statistics belong to the JVM, so when several sinks of one JVM push to
        // one receiver (local-cluster's driver, master and workers) the first exports them and
        // the others find them claimed.
        sink_labels
            .series_for(Producer::Node, &family, None, &[variant], &owner)?
            .pop()
    }

    /// Ends every node series; for the sink's last report.
    pub fn stale_all(&self, ts: i64, out: &mut Vec<Sample>) {
        push_stale_markers(self.series.values().flatten(), ts, out);
    }

    /// The sink's labels changed: ends every series and makes them again at the next collection.
    pub fn relabel(&mut self, ts: i64, out: &mut Vec<Sample>) {
        self.stale_all(ts, out);
        self.series.clear();
    }
}

/// The host's name, for `instance`: the kernel's, as node_exporter's targets usually are.
pub fn host_name(root: &std::path::Path) -> String {
    super::stat::read(root, "proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}
