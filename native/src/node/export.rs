//! Turns node-stats collections into a sink's series: the reading's own labels plus `instance`
//! (the host) and the JVM's identity labels (no `role`), decided once per series and cached.

use std::collections::HashMap;
use std::sync::Arc;

use super::thread::Collection;
use super::NodeFamily;
use crate::series::{Family, QueuedSample, Series, SeriesTable, Variant, STALE_NAN};

type Key = (usize, Vec<(&'static str, String)>);

pub struct NodeExport {
    instance: String,
    families: HashMap<usize, Arc<Family>>,
    /// None: not exported (filtered out, or another sink of this JVM exports it).
    series: HashMap<Key, Option<Arc<Series>>>,
    generation: Option<u64>,
}

impl NodeExport {
    pub fn new(instance: String) -> NodeExport {
        NodeExport {
            instance,
            families: HashMap::new(),
            series: HashMap::new(),
            generation: None,
        }
    }

    /// Appends one sample per reading of `collection` to `out`.
    pub fn append(
        &mut self,
        table: &SeriesTable,
        collection: &Collection,
        out: &mut Vec<QueuedSample>,
    ) {
        if self.generation != Some(table.generation) {
            // A new identity changes every label set.
            self.generation = Some(table.generation);
            self.series.clear();
        }
        for reading in &collection.readings {
            let key: Key = (
                reading.family as *const NodeFamily as usize,
                reading.labels.clone(),
            );
            let series = match self.series.get(&key) {
                Some(s) => s.clone(),
                None => {
                    let s = self.export(table, reading.family, &reading.labels);
                    self.series.insert(key, s.clone());
                    s
                }
            };
            if let Some(series) = series {
                out.push(QueuedSample {
                    series,
                    timestamp_ms: collection.timestamp_ms,
                    value: reading.value,
                });
            }
        }
    }

    fn export(
        &mut self,
        table: &SeriesTable,
        family: &'static NodeFamily,
        labels: &[(&'static str, String)],
    ) -> Option<Arc<Series>> {
        if !table.keeps(family.name, family.name) {
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
        table.export(&family, None, &[variant], &owner)?.pop()
    }

    /// Ends every node series; for the sink's last report.
    pub fn stale_all(&self, ts: i64, out: &mut Vec<QueuedSample>) {
        for series in self.series.values().flatten() {
            out.push(QueuedSample {
                series: Arc::clone(series),
                timestamp_ms: ts,
                value: STALE_NAN,
            });
        }
    }
}

/// The host's name, for `instance`: the kernel's, as node_exporter's targets usually are.
pub fn host_name(root: &std::path::Path) -> String {
    super::read(root, "proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}
