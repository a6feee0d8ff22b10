//! Where the JVM runs, for keying node statistics (`in_kubernetes`, the node's name or boot id),
//! and the sources the node thread should read there and cannot: each is said once per JVM at
//! WARN with what to do, and every sink exports them (`sparkprom_node_source_unavailable`, made
//! by self_metrics.rs from what ingest.rs hands it).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use super::stat::read;

/// The Kubernetes node's name, set by the pod templates we ship from the downward API's
/// `spec.nodeName`: in a pod the kernel's host name is the pod's name, not the node's.
pub const NODE_NAME_VARIABLE: &str = "SPARKPROM_NODE_NAME";

/// Which sources are missing where they should be there.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Unavailable {
    /// A pod given no node name.
    pub node_name: bool,
    /// A pod on a node without cgroup v2, or a YARN container in a cgroup not its own.
    pub cgroup: bool,
    /// A kernel without `/proc/pressure`.
    pub pressure: bool,
    /// Under YARN: the container id and the cgroup that is not the container's, for the WARN.
    pub shared_cgroup: Option<(String, String)>,
}

/// Whether this JVM runs in a Kubernetes pod: the kubelet gives every container
/// `KUBERNETES_SERVICE_HOST` (the Java side decides its `pod` label on the same variable).
pub fn in_kubernetes() -> bool {
    std::env::var_os("KUBERNETES_SERVICE_HOST").is_some_and(|v| !v.is_empty())
}

/// The host's boot id: the same in every container on a host and new at each boot, so it keys
/// host-wide series where no node name is known (a pod's host name is the pod's).
pub fn boot_id(root: &Path) -> Option<String> {
    read(root, "proc/sys/kernel/random/boot_id")
        .map(|id| id.trim().to_string())
        .filter(|id| !id.is_empty())
}

/// Where this JVM's node statistics are read and how their series are keyed.
#[derive(Debug, PartialEq)]
pub struct Placement {
    /// `instance` of node statistics: the node.
    pub instance: String,
    /// The kernel's host name (in a pod, the pod's).
    pub host_name: String,
    /// Whether the JVM sees a Kubernetes pod's own network namespace: in a pod
    /// (`in_kubernetes`), unless it shares the node's (`hostNetwork: true`, whose host name is
    /// the node's).
    pub in_pod: bool,
    pub unavailable: Unavailable,
}

impl Placement {
    /// `instance` is `node.instance`, else the node name the pod was given, else (in a pod, whose
    /// host name is the pod's) the host's boot id, else the host name: outside Kubernetes
    /// node statistics keep node_exporter's usual `instance`.
    pub fn find(
        node_instance: Option<&str>,
        node_name: Option<String>,
        in_kubernetes: bool,
        root: &Path,
    ) -> Placement {
        let given = node_instance
            .map(str::to_string)
            .or(node_name.filter(|name| !name.trim().is_empty()));
        let node_name_known = given.is_some();
        let host_name = super::series::host_name(root);
        let host_network = given.as_deref() == Some(host_name.as_str());
        let instance = given
            .or_else(|| in_kubernetes.then(|| boot_id(root)).flatten())
            .unwrap_or_else(|| host_name.clone());
        Placement {
            instance,
            host_name,
            in_pod: in_kubernetes && !host_network,
            unavailable: unavailable(
                root,
                in_kubernetes,
                node_name_known,
                super::cgroup::yarn_container().as_deref(),
            ),
        }
    }
}

/// What is missing under `root`: the node name (in a pod without one), the container's
/// cgroup v2 files (in a pod on a cgroup v1 node; in YARN container `yarn_container`, a cgroup
/// that is not the container's) and pressure stall figures (anywhere).
pub fn unavailable(
    root: &Path,
    in_kubernetes: bool,
    node_name_known: bool,
    yarn_container: Option<&str>,
) -> Unavailable {
    let shared_cgroup = yarn_container.and_then(|container| {
        let path = super::cgroup::not_the_containers(root, Some(container))?;
        Some((container.to_string(), path))
    });
    Unavailable {
        node_name: in_kubernetes && !node_name_known,
        cgroup: shared_cgroup.is_some()
            || in_kubernetes && super::cgroup::own_cgroup_dir(root).is_none(),
        pressure: read(root, "proc/pressure/memory").is_none(),
        shared_cgroup,
    }
}

/// Says what `unavailable` found, each source once per JVM however many sinks find it.
pub fn warn_once(unavailable: &Unavailable, instance: &str) {
    static NODE_NAME: AtomicBool = AtomicBool::new(false);
    static CGROUP: AtomicBool = AtomicBool::new(false);
    static PRESSURE: AtomicBool = AtomicBool::new(false);
    let warn = |missing: bool, warned: &AtomicBool, message: &dyn Fn() -> String| {
        if missing && !warned.swap(true, Ordering::Relaxed) {
            tracing::warn!("{}", message());
        }
    };
    warn(unavailable.node_name, &NODE_NAME, &|| {
        format!(
            "node statistics: this JVM runs in a Kubernetes pod and was given no node name \
             ({NODE_NAME_VARIABLE} unset, no node.instance): host-wide series (node_cpu_*, \
             node_memory_*, node_pressure_*, ...) carry instance=\"{instance}\", this host's \
             boot id, instead of the node's name. Set {NODE_NAME_VARIABLE} from the downward \
             API (fieldRef spec.nodeName) in the driver's and executors' pod templates, as \
             spark-conf/kubernetes/pod-template.yaml does."
        )
    });
    warn(unavailable.cgroup, &CGROUP, &|| {
        if let Some((container, path)) = &unavailable.shared_cgroup {
            return format!(
                "node statistics: this JVM is YARN container {container}, but its cgroup, {path}, is not \
                 the container's (its path does not name it): it is the NodeManager's, shared with every \
                 container the NodeManager runs without a cgroup of its own, so no container_* series \
                 (CPU, memory, OOM kills, pressure) are sent from it. Counted in \
                 sparkprom_node_source_unavailable{{source=\"cgroup\"}}. For per-container figures run the \
                 NodeManager with the LinuxContainerExecutor and its cgroups on a cgroup v2 host."
            );
        }
        "node statistics: this pod's node has no cgroup v2 hierarchy at /sys/fs/cgroup \
         (cgroup v1, as on Amazon Linux 2 nodes): the container's CPU, memory, OOM-kill and \
         pressure series (container_*) are not sent, and the executor memory alerts cannot \
         fire. Run executors on a cgroup v2 node image (Amazon Linux 2023, Bottlerocket, \
         Ubuntu 22.04 or later)."
            .to_string()
    });
    warn(unavailable.pressure, &PRESSURE, &|| {
        "node statistics: /proc/pressure is missing (a kernel without pressure stall \
         information, or booted with psi=0, as Amazon Linux 2 is by default): no \
         node_pressure_* or container_pressure_* series are sent and the memory-pressure alert \
         cannot fire. Boot the nodes with psi=1 on the kernel command line, or use an image \
         whose kernel enables it (Amazon Linux 2023, Bottlerocket, Ubuntu)."
            .to_string()
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::cgroup::tempdir;

    #[test]
    fn only_what_the_platform_should_have_counts_as_missing() {
        let root = tempdir::Root::new();
        root.write("proc/sys/kernel/random/boot_id", "03d919f7-62d1\n");
        let missing = |node_name, cgroup, pressure| Unavailable {
            node_name,
            cgroup,
            pressure,
            shared_cgroup: None,
        };
        // A host of its own without PSI: only pressure is missing.
        assert_eq!(
            unavailable(root.path(), false, false, None),
            missing(false, false, true)
        );
        root.write(
            "proc/pressure/memory",
            "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
        );
        assert_eq!(
            unavailable(root.path(), false, false, None),
            Unavailable::default()
        );
        // A pod on a cgroup v1 node without its node's name.
        assert_eq!(
            unavailable(root.path(), true, false, None),
            missing(true, true, false)
        );
        root.write("proc/self/cgroup", "0::/\n");
        root.write("sys/fs/cgroup/cgroup.controllers", "cpu memory\n");
        assert_eq!(
            unavailable(root.path(), true, true, None),
            Unavailable::default()
        );
        assert_eq!(boot_id(root.path()).as_deref(), Some("03d919f7-62d1"));
    }

    /// A YARN container left in the NodeManager's cgroup lacks its cgroup source, on any host,
    /// and the WARN can name both; one in a cgroup of its own does not.
    #[test]
    fn a_yarn_container_outside_a_cgroup_of_its_own_lacks_the_cgroup_source() {
        let root = tempdir::Root::new();
        root.write(
            "proc/pressure/memory",
            "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
        );
        root.write("sys/fs/cgroup/cgroup.controllers", "cpu memory\n");
        root.write("sys/fs/cgroup/yarn.slice/nodemanager/cgroup.procs", "1\n");
        root.write("proc/self/cgroup", "0::/yarn.slice/nodemanager\n");
        let container = "container_e01_1700000000000_0001_01_000003";
        let found = unavailable(root.path(), false, false, Some(container));
        assert!(found.cgroup && !found.node_name && !found.pressure);
        assert_eq!(
            found.shared_cgroup,
            Some((container.to_string(), "/yarn.slice/nodemanager".to_string()))
        );
        assert_eq!(
            unavailable(root.path(), false, false, None),
            Unavailable::default()
        );
        let own = format!("sys/fs/cgroup/yarn.slice/{container}/cgroup.procs");
        root.write(&own, "1\n");
        root.write("proc/self/cgroup", &format!("0::/yarn.slice/{container}\n"));
        assert_eq!(
            unavailable(root.path(), false, false, Some(container)),
            Unavailable::default()
        );
    }

    #[test]
    fn instance_is_the_property_then_the_node_name_then_in_a_pod_the_boot_id_then_the_host() {
        let root = tempdir::Root::new();
        root.write("proc/sys/kernel/hostname", "spark-exec-1\n");
        root.write("proc/sys/kernel/random/boot_id", "03d919f7-62d1\n");
        let node = || Some("ip-10-0-1-17.ec2.internal".to_string());
        let find = |property, name, pod| Placement::find(property, name, pod, root.path());
        // A host of its own: the host name, as node_exporter's targets.
        assert_eq!(find(None, None, false).instance, "spark-exec-1");
        assert_eq!(find(None, Some(" ".into()), false).instance, "spark-exec-1");
        // A pod: its host name is the pod's, never the node's key.
        let pod = find(None, None, true);
        assert_eq!(pod.instance, "03d919f7-62d1");
        assert!(pod.in_pod && pod.unavailable.node_name);
        let named = find(None, node(), true);
        assert_eq!(named.instance, "ip-10-0-1-17.ec2.internal");
        assert!(!named.unavailable.node_name);
        assert_eq!(find(Some("set"), node(), true).instance, "set");
        // A hostNetwork pod shares the node's host name and network namespace.
        let host_network = find(None, Some("spark-exec-1".into()), true);
        assert_eq!(host_network.instance, "spark-exec-1");
        assert!(!host_network.in_pod);
        assert!(!find(Some("set"), None, true).unavailable.node_name);
    }
}
