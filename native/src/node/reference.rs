//! The "Node, container and process families" section of docs/metrics-reference.md: every family
//! the readers declare, with its scope and the labels a collection gives it (read from this host,
//! and from cgroup v2 and pressure fixtures for what this host lacks).
//! Regenerate: SPARKPROM_UPDATE_REFERENCE=1 cargo test --release --lib node::reference

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use super::cgroup::tempdir;
use super::stat::{NodeFamily, Scope, Stat};
use crate::sample::MetricType;

const REFERENCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics-reference.md");
const HEADING: &str = "## Node, container and process families";

fn declared() -> Vec<&'static NodeFamily> {
    [
        super::procfs::FAMILIES,
        super::pressure::FAMILIES,
        super::filesystem::FAMILIES,
        super::cgroup::FAMILIES,
        super::process::FAMILIES,
    ]
    .concat()
}

/// Label names per family name, from collections of this host and of fixtures.
fn observed_labels() -> HashMap<&'static str, BTreeSet<&'static str>> {
    let root = tempdir::Root::new();
    root.write("proc/self/cgroup", "0::/\n");
    root.write("sys/fs/cgroup/cgroup.controllers", "cpu io memory\n");
    let psi = "some avg10=0.00 avg60=0.00 avg300=0.00 total=1\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=1\n";
    for (file, text) in [
        ("cpu.stat", "usage_usec 1\nuser_usec 1\nsystem_usec 1\nnr_periods 1\nnr_throttled 1\nthrottled_usec 1\n"),
        ("memory.current", "1\n"),
        ("memory.max", "2\n"),
        ("memory.stat", "inactive_file 0\n"),
        ("memory.events", "oom_kill 0\n"),
        ("io.stat", "8:0 rbytes=1 wbytes=1\n"),
        ("cpu.pressure", psi),
        ("memory.pressure", psi),
        ("io.pressure", psi),
    ] {
        root.write(&format!("sys/fs/cgroup/{file}"), text);
    }
    for file in ["cpu", "memory", "io", "irq"] {
        root.write(&format!("proc/pressure/{file}"), psi);
    }
    let mut stats: Vec<Stat> = Vec::new();
    super::collect(Path::new("/"), &mut stats);
    super::cgroup::collect(root.path(), &mut stats);
    super::pressure::collect_host(root.path(), &mut stats);
    let mut labels: HashMap<&'static str, BTreeSet<&'static str>> = HashMap::new();
    for stat in &stats {
        let names = labels.entry(stat.family.name).or_default();
        names.extend(stat.labels.iter().map(|(name, _)| name.as_str()));
        // The same statistic in a pod (procfs::in_pod).
        if let Some((pod, pod_labels)) = super::procfs::in_pod(stat.family, &stat.labels) {
            let names = labels.entry(pod.name).or_default();
            names.extend(pod_labels.iter().map(|(name, _)| name.as_str()));
        }
    }
    labels
}

fn scope(family: &NodeFamily) -> &'static str {
    match family.scope {
        Scope::Host => "node",
        Scope::Network => {
            if family.name.starts_with("container_") {
                "pod network (in a pod)"
            } else {
                "network namespace (outside Kubernetes)"
            }
        }
        Scope::Container => "container",
        Scope::Process => "JVM",
    }
}

fn section() -> String {
    let labels = observed_labels();
    let mut out = format!(
        "{HEADING}\n\n\
         <!-- Generated from native/src/node: SPARKPROM_UPDATE_REFERENCE=1 cargo test --release --lib node::reference -->\n\n\
         Every JVM's node-stats thread (`node.enabled`, on by default) reads these from `/proc` and `/sys`,\n\
         with node_exporter's and cAdvisor's names. Each series carries `instance` and the JVM's identity\n\
         labels (`app_id`, `app_name`, `executor_id`, no `role`), and how it is keyed follows its scope:\n\n\
         - **node**: the whole host, the same from every JVM on it. `instance` is the node: `node.instance`,\n\
         \x20 else `SPARKPROM_NODE_NAME` (our pod templates set it from `spec.nodeName`), else in a pod the\n\
         \x20 host's boot id, else the host name. In a pod these carry no `pod` label. Every JVM on a node\n\
         \x20 sends them under its own identity (the receiver refuses two writers on one series), so\n\
         \x20 dashboards and alerts take `max by (instance)` or `max without (app_id, app_name, executor_id, pod, emr_job_id)`:\n\
         \x20 one row per node with its true figures, never a sum over the JVMs on it.\n\
         - **network namespace / pod network**: `/proc/net/dev` as this JVM sees it. Outside Kubernetes that\n\
         \x20 is the host's (node_exporter's `node_network_*`, label `device`); in a pod it is the pod's own,\n\
         \x20 sent as cAdvisor's `container_network_*` with `interface` and `pod`.\n\
         - **container**: the container's mounts (node_exporter's filesystem names, figures of the whole\n\
         \x20 filesystem) and its cgroup v2 (cAdvisor's names; none on cgroup v1, nor under YARN from a cgroup\n\
         \x20 that is not the container's own); `pod` in Kubernetes.\n\
         - **JVM**: this process.\n\n\
         `node_memory_*` has one gauge per `/proc/meminfo` field (`node_memory_<Field>_bytes`), as\n\
         node_exporter. `sparkprom_node_source_unavailable{{source}}` is 1 where a source the platform should\n\
         have is missing (a pod without its node name, a pod on a cgroup v1 node, a YARN container left in\n\
         the NodeManager's cgroup, a kernel without `/proc/pressure`).\n\n\
         | metric | type | unit | scope | labels | meaning |\n|---|---|---|---|---|---|\n"
    );
    let mut families = declared();
    families.sort_by_key(|f| f.name);
    for family in families {
        let kind = match family.metric_type {
            MetricType::Counter => "counter",
            _ => "gauge",
        };
        let names = labels
            .get(family.name)
            .map(|set| set.iter().copied().collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            family.name,
            kind,
            family.unit,
            scope(family),
            names,
            family.help.replace('|', "\\|")
        ));
    }
    out
}

#[test]
fn the_reference_lists_every_node_family_with_its_scope() {
    let observed = observed_labels();
    let missing: Vec<&str> = declared()
        .iter()
        .map(|f| f.name)
        .filter(|name| !observed.contains_key(name))
        .collect();
    assert!(
        missing.is_empty(),
        "no collection here gives {missing:?}: add them to a fixture above"
    );
    let text = std::fs::read_to_string(REFERENCE).expect("docs/metrics-reference.md");
    let start = text.find(HEADING).unwrap_or(text.len());
    let section = section();
    if std::env::var_os("SPARKPROM_UPDATE_REFERENCE").is_some() {
        let updated = format!("{}\n\n{section}", text[..start].trim_end());
        std::fs::write(REFERENCE, updated).expect("writes the reference");
        return;
    }
    assert_eq!(
        &text[start..],
        section,
        "docs/metrics-reference.md's node section is out of date: \
         SPARKPROM_UPDATE_REFERENCE=1 cargo test --release --lib node::reference"
    );
}
