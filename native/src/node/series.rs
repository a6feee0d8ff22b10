//! Turns node-stats collections into a sink's series: each statistic's own labels plus
//! `instance` (the host) and the JVM's identity labels (no `role`), decided once per series and
//! cached; a statistic that stops coming (an unmounted filesystem, a removed interface) ends.
//!
//! In a Kubernetes pod each statistic is keyed by its scope (`stat::Scope`): host-wide ones by
//! the node alone (no `pod` label), the pod's network with cAdvisor's container_network_* names,
//! the container's mounts and cgroup and the process with the pod. Elsewhere names and labels
//! are node_exporter's as they always were.

use std::collections::HashMap;
use std::sync::Arc;

use super::stat::{NodeFamily, Scope};
use super::thread::Collection;
use crate::claims::Producer;
use crate::label_names::LabelName;
use crate::labels::{Refused, SinkLabels, Variant};
use crate::sample::{Family, Sample};
use crate::series_set::{Made, SeriesSet};

/// A statistic: its family and its own labels.
type Key = (usize, Vec<(LabelName, String)>);

pub struct NodeSeries {
    /// Whether this JVM sees a Kubernetes pod's own network namespace (`Placement::in_pod`:
    /// in a pod and not `hostNetwork`).
    in_pod: bool,
    /// `node.hostWide=false`: only the pod's, container's and JVM's statistics.
    without_host: bool,
    families: HashMap<usize, Arc<Family>>,
    /// Each round is one collection: a statistic one lacks is gone (a mount or an interface).
    series: SeriesSet<Key>,
}

impl Default for NodeSeries {
    /// A host of its own, with the node's host-wide figures.
    fn default() -> NodeSeries {
        NodeSeries::new(false, true)
    }
}

impl NodeSeries {
    /// Node series keyed for a JVM in a Kubernetes pod, or on a host of its own; with or
    /// without the node's host-wide figures (`node.hostWide`).
    pub fn new(in_pod: bool, host_wide: bool) -> NodeSeries {
        NodeSeries {
            in_pod,
            without_host: !host_wide,
            families: HashMap::new(),
            series: SeriesSet::new(Producer::Node),
        }
    }

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
        self.series.begin_round();
        for stat in &collection.stats {
            let key: Key = (
                stat.family as *const NodeFamily as usize,
                stat.labels.clone(),
            );
            let (in_pod, without_host, families) =
                (self.in_pod, self.without_host, &mut self.families);
            let got = self.series.get(&key, true, || {
                let owner = format!("{}{:?}", stat.family.name, stat.labels);
                let made = series_of(
                    (in_pod, without_host),
                    families,
                    labels,
                    stat.family,
                    &stat.labels,
                    &owner,
                );
                (owner, made)
            });
            out.extend(got.series.iter().map(|series| Sample {
                series: Arc::clone(series),
                timestamp_ms: ts,
                value: stat.value,
            }));
        }
        // A mount, an interface or a disk this collection lacks is gone.
        self.series.end_unseen(labels, ts, out);
    }

    /// Ends every node series; for the sink's last report.
    pub fn stale_all(&self, ts: i64, out: &mut Vec<Sample>) {
        self.series.stale_all(ts, out);
    }

    /// The sink's labels changed: ends every series and makes them again at the next collection.
    pub fn relabel(&mut self, ts: i64, out: &mut Vec<Sample>) {
        self.series.forget_all(ts, out);
    }
}

/// Whether a family describes the node as a whole: host-wide, or the network outside a pod
/// (the host's own namespace).
fn is_the_nodes(in_pod: bool, family: &NodeFamily) -> bool {
    family.scope == Scope::Host || (family.scope == Scope::Network && !in_pod)
}

/// The series of one statistic for this sink, keyed by its scope (`(in_pod, without_host)`:
/// where the JVM runs and whether host-wide figures are wanted).
fn series_of(
    (in_pod, without_host): (bool, bool),
    families: &mut HashMap<usize, Arc<Family>>,
    sink_labels: &SinkLabels,
    family: &'static NodeFamily,
    labels: &[(LabelName, String)],
    owner: &str,
) -> Made {
    if without_host && is_the_nodes(in_pod, family) {
        return Err(Refused::Filtered);
    }
    let (family, labels) = named_for_scope(in_pod, family, labels);
    if !sink_labels.keeps(family.name, family.name) {
        return Err(Refused::Filtered);
    }
    let scope = family.scope;
    let family = Arc::clone(
        families
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
    let variant = Variant { suffix: "", labels };
    // No role: the statistics belong to the JVM, so when several sinks of one JVM push to
    // one receiver (local-cluster's driver, master and workers) the first exports them and
    // the others find them claimed.
    if scope == Scope::Host {
        sink_labels.host_series_for(&family, &[variant], owner)
    } else {
        sink_labels.series_for(Producer::Node, &family, None, &[variant], owner)
    }
}

/// The family and labels a statistic goes out with: in a pod the network namespace's figures
/// take cAdvisor's names (they are the pod's, not the node's).
fn named_for_scope(
    in_pod: bool,
    family: &'static NodeFamily,
    labels: &[(LabelName, String)],
) -> (&'static NodeFamily, Vec<(LabelName, String)>) {
    if in_pod && family.scope == Scope::Network {
        if let Some(in_pod) = super::procfs::in_pod(family, labels) {
            return in_pod;
        }
    }
    (family, labels.to_vec())
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
    use crate::sample::is_stale;
    use crate::sample::MetricType;

    static FREE: NodeFamily = NodeFamily {
        name: "node_filesystem_free_bytes",
        metric_type: MetricType::Gauge,
        help: "",
        unit: "bytes",
        scope: crate::node::stat::Scope::Container,
    };

    fn collection(mounts: &[&str]) -> Collection {
        Collection {
            timestamp_ms: 0,
            stats: mounts
                .iter()
                .map(|m| Stat::new(&FREE, 1.0).with(crate::label_names::MOUNTPOINT, *m))
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
            SinkLabels::new("test:node-gone", vec![], Filters::default()).on_node("h".into());
        let other =
            SinkLabels::new("test:node-gone", vec![], Filters::default()).on_node("h".into());
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

    /// Two pods on one node: the host's figures go out keyed by the node alone (no pod), the
    /// pod's network with cAdvisor's names and the pod; outside Kubernetes node_exporter's.
    #[test]
    fn in_a_pod_each_statistic_is_keyed_by_its_scope() {
        use crate::identity::Identity;
        use crate::node::{procfs, stat::Stat};
        let in_pod = |url: &str, pod: &str| {
            let mut labels =
                SinkLabels::new(url, vec![], Filters::default()).on_node("ip-10-0-1-17".into());
            labels.set_identity(Identity::from_pairs(
                &[
                    ("app_id", "app-1"),
                    ("executor_id", pod),
                    ("namespace", "app-1"),
                    ("label.pod", pod),
                ]
                .map(|(k, v)| (k.to_string(), v.to_string())),
            ));
            labels
        };
        let collection = Collection {
            timestamp_ms: 0,
            stats: vec![
                Stat::new(&procfs::LOAD1, 2.0),
                Stat::new(&procfs::NET_RX_BYTES, 9.0).with(crate::label_names::DEVICE, "eth0"),
                Stat::new(&FREE, 1.0).with(crate::label_names::MOUNTPOINT, "/var/data"),
            ],
        };
        let labels_of = |sample: &Sample| -> Vec<(String, String)> {
            let mut l: Vec<(String, String)> = sample
                .series
                .labels
                .iter()
                .filter(|l| {
                    ["__name__", "instance", "pod", "device", "interface"]
                        .contains(&l.name.as_str())
                })
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect();
            l.sort();
            l
        };
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let mut out = Vec::new();
        NodeSeries::new(true, true).append(
            &in_pod("test:scope", "exec-1"),
            &collection,
            1,
            &mut out,
        );
        let got: Vec<_> = out.iter().map(labels_of).collect();
        assert_eq!(
            got,
            [
                pairs(&[("__name__", "node_load1"), ("instance", "ip-10-0-1-17")]),
                pairs(&[
                    ("__name__", "container_network_receive_bytes_total"),
                    ("instance", "ip-10-0-1-17"),
                    ("interface", "eth0"),
                    ("pod", "exec-1")
                ]),
                pairs(&[
                    ("__name__", "node_filesystem_free_bytes"),
                    ("instance", "ip-10-0-1-17"),
                    ("pod", "exec-1")
                ]),
            ]
        );
        // The same JVM on a host of its own: node_exporter's names and labels.
        let mut out = Vec::new();
        NodeSeries::new(false, true).append(
            &in_pod("test:scope-host", "exec-1"),
            &collection,
            1,
            &mut out,
        );
        assert_eq!(
            labels_of(&out[1]),
            pairs(&[
                ("__name__", "node_network_receive_bytes_total"),
                ("device", "eth0"),
                ("instance", "ip-10-0-1-17"),
                ("pod", "exec-1")
            ])
        );

        // node.hostWide=false (a node_exporter DaemonSet sends the node): in a pod the pod's
        // network and mounts remain; on a host of its own the host's network goes too.
        let in_pod_labels = |url: &str| in_pod(url, "exec-1");
        let names = |pod: bool, url: &str| {
            let mut out = Vec::new();
            NodeSeries::new(pod, false).append(&in_pod_labels(url), &collection, 1, &mut out);
            out.iter()
                .map(|s| s.series.family.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(true, "test:scope-no-host-pod"),
            [
                "container_network_receive_bytes_total",
                "node_filesystem_free_bytes"
            ]
        );
        assert_eq!(
            names(false, "test:scope-no-host"),
            ["node_filesystem_free_bytes"]
        );
    }
}
