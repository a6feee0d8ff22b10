//! The container's resources from cgroup v2, with cAdvisor's names: what Kubernetes (and so EMR
//! on EKS) limits the executor pod to and how close it is. On cgroup v1 or without cgroups
//! nothing is reported: the node and process statistics still are. Nor under YARN from a cgroup
//! that is not the container's own: a NodeManager that does not put each container in a cgroup
//! leaves it in its own, shared with every container it runs.

use std::path::{Path, PathBuf};

use super::stat::{family, read, NodeFamily, Stat};
use crate::label_names as names;

family!(
    Container,
    CPU_USAGE,
    "container_cpu_usage_seconds_total",
    Counter,
    "seconds",
    "Cumulative cpu time consumed."
);
family!(
    Container,
    CPU_USER,
    "container_cpu_user_seconds_total",
    Counter,
    "seconds",
    "Cumulative user cpu time consumed."
);
family!(
    Container,
    CPU_SYSTEM,
    "container_cpu_system_seconds_total",
    Counter,
    "seconds",
    "Cumulative system cpu time consumed."
);
family!(
    Container,
    CFS_PERIODS,
    "container_cpu_cfs_periods_total",
    Counter,
    "",
    "Number of elapsed enforcement period intervals."
);
family!(
    Container,
    CFS_THROTTLED_PERIODS,
    "container_cpu_cfs_throttled_periods_total",
    Counter,
    "",
    "Number of throttled period intervals."
);
family!(
    Container,
    CFS_THROTTLED_SECONDS,
    "container_cpu_cfs_throttled_seconds_total",
    Counter,
    "seconds",
    "Total time duration the container has been throttled."
);
family!(
    Container,
    MEMORY_USAGE,
    "container_memory_usage_bytes",
    Gauge,
    "bytes",
    "Current memory usage in bytes, including all memory regardless of when it was accessed."
);
family!(
    Container,
    MEMORY_WORKING_SET,
    "container_memory_working_set_bytes",
    Gauge,
    "bytes",
    "Current working set in bytes."
);
family!(
    Container,
    MEMORY_LIMIT,
    "container_spec_memory_limit_bytes",
    Gauge,
    "bytes",
    "Memory limit for the container."
);
family!(
    Container,
    OOM_EVENTS,
    "container_oom_events_total",
    Counter,
    "",
    "Count of out of memory events observed for the container."
);
family!(
    Container,
    MEMORY_EVENTS,
    "container_memory_events_total",
    Counter,
    "",
    "Memory events of the container's cgroup v2 (memory.events): high (usage went over memory.high and was throttled), max (usage reached memory.max), oom (the OOM killer was invoked), oom_kill (processes it killed), ..."
);
family!(
    Container,
    FS_READS_BYTES,
    "container_fs_reads_bytes_total",
    Counter,
    "bytes",
    "Cumulative count of bytes read."
);
family!(
    Container,
    FS_WRITES_BYTES,
    "container_fs_writes_bytes_total",
    Counter,
    "bytes",
    "Cumulative count of bytes written."
);

/// The variable YARN's NodeManager sets in every container it launches: the container's id.
pub const YARN_CONTAINER_VARIABLE: &str = "CONTAINER_ID";

/// This JVM's YARN container, when YARN launched it.
pub fn yarn_container() -> Option<String> {
    std::env::var(YARN_CONTAINER_VARIABLE)
        .ok()
        .filter(|id| !id.trim().is_empty())
}

pub fn collect(root: &Path, out: &mut Vec<Stat>) {
    collect_for(root, yarn_container().as_deref(), out)
}

/// The container's statistics, for the YARN container `yarn_container` if YARN launched the JVM.
fn collect_for(root: &Path, yarn_container: Option<&str>, out: &mut Vec<Stat>) {
    let Some(dir) = container_cgroup_dir(root, yarn_container) else {
        return;
    };
    let file = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
    if let Some(text) = file("cpu.stat") {
        parse_cpu_stat(&text, out);
    }
    let current = file("memory.current").and_then(|t| t.trim().parse::<f64>().ok());
    if let Some(usage) = current {
        out.push(Stat::new(&MEMORY_USAGE, usage));
        let inactive_file = file("memory.stat")
            .and_then(|t| stat_value(&t, "inactive_file"))
            .unwrap_or(0.0);
        // cAdvisor's working set: usage less the page cache the kernel can drop at once.
        out.push(Stat::new(
            &MEMORY_WORKING_SET,
            (usage - inactive_file).max(0.0),
        ));
    }
    // "max" means unlimited: no limit series, as cAdvisor reports none either.
    if let Some(limit) = file("memory.max").and_then(|t| t.trim().parse::<f64>().ok()) {
        out.push(Stat::new(&MEMORY_LIMIT, limit));
    }
    if let Some(events) = file("memory.events") {
        // cAdvisor's own counter reads the kernel log and is known to stay 0 in pods; the
        // cgroup's count of OOM kills is the truth.
        let oom_kills = stat_value(&events, "oom_kill").unwrap_or(0.0);
        out.push(Stat::new(&OOM_EVENTS, oom_kills));
        parse_memory_events(&events, out);
    }
    super::pressure::collect_cgroup(&dir, out);
    if let Some(text) = file("io.stat") {
        parse_io_stat(&text, out);
    }
}

/// The unified hierarchy's directory of this process' cgroup, when cgroup v2 is what is mounted
/// at /sys/fs/cgroup (not the hybrid layout, which keeps v1 controllers there).
pub fn own_cgroup_dir(root: &Path) -> Option<PathBuf> {
    own_cgroup(root).map(|(_, dir)| dir)
}

/// This process' cgroup v2 path (`/kubepods/...`) and its directory.
fn own_cgroup(root: &Path) -> Option<(String, PathBuf)> {
    let base = root.join("sys/fs/cgroup");
    if !base.join("cgroup.controllers").exists() {
        return None;
    }
    let membership = read(root, "proc/self/cgroup")?;
    let path = parse_unified_path(&membership)?;
    let dir = base.join(path.trim_start_matches('/'));
    dir.is_dir().then(|| (path.to_string(), dir))
}

/// The cgroup whose figures are the container's: the process' own, unless YARN launched it
/// (`yarn_container`) and that cgroup's path does not name the container.
pub fn container_cgroup_dir(root: &Path, yarn_container: Option<&str>) -> Option<PathBuf> {
    match not_the_containers(root, yarn_container) {
        Some(_) => None,
        None => own_cgroup_dir(root),
    }
}

/// Under YARN, the process' cgroup path when it is not the container's own (its path does not
/// name the container: the NodeManager's, which it shares with every container it launched).
pub fn not_the_containers(root: &Path, yarn_container: Option<&str>) -> Option<String> {
    let container = yarn_container?;
    let (path, _) = own_cgroup(root)?;
    (!path.split('/').any(|part| part.contains(container))).then_some(path)
}

/// `0::/kubepods/pod.../container` -> `/kubepods/pod.../container`.
pub fn parse_unified_path(membership: &str) -> Option<&str> {
    membership.lines().find_map(|l| l.strip_prefix("0::"))
}

fn stat_value(text: &str, key: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

pub fn parse_cpu_stat(text: &str, out: &mut Vec<Stat>) {
    let micros = 1e-6;
    for (key, family, factor) in [
        ("usage_usec", &CPU_USAGE, micros),
        ("user_usec", &CPU_USER, micros),
        ("system_usec", &CPU_SYSTEM, micros),
        ("nr_periods", &CFS_PERIODS, 1.0),
        ("nr_throttled", &CFS_THROTTLED_PERIODS, 1.0),
        ("throttled_usec", &CFS_THROTTLED_SECONDS, micros),
    ] {
        if let Some(v) = stat_value(text, key) {
            out.push(Stat::new(family, v * factor));
        }
    }
}

/// memory.events: `low 0`, `high 12`, `max 3`, `oom 1`, `oom_kill 1`, ... one counter per
/// line, each kept (kernels add events: oom_group_kill came in 5.17).
pub fn parse_memory_events(text: &str, out: &mut Vec<Stat>) {
    for line in text.lines() {
        let Some((event, value)) = line.split_once(' ') else {
            continue;
        };
        if let Ok(value) = value.trim().parse::<f64>() {
            out.push(Stat::new(&MEMORY_EVENTS, value).with(names::EVENT, event));
        }
    }
}

/// `MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=.. dbytes=.. dios=..` per device.
pub fn parse_io_stat(text: &str, out: &mut Vec<Stat>) {
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some(device) = fields.next() else {
            continue;
        };
        for field in fields {
            let Some((key, value)) = field.split_once('=') else {
                continue;
            };
            let family = match key {
                "rbytes" => &FS_READS_BYTES,
                "wbytes" => &FS_WRITES_BYTES,
                _ => continue,
            };
            if let Ok(v) = value.parse::<f64>() {
                out.push(Stat::new(family, v).with(names::DEVICE, device));
            }
        }
    }
}

/// Every family this module declares, for docs/metrics-reference.md (`node::reference`).
pub const FAMILIES: &[&NodeFamily] = &[
    &CPU_USAGE,
    &CPU_USER,
    &CPU_SYSTEM,
    &CFS_PERIODS,
    &CFS_THROTTLED_PERIODS,
    &CFS_THROTTLED_SECONDS,
    &MEMORY_USAGE,
    &MEMORY_WORKING_SET,
    &MEMORY_LIMIT,
    &OOM_EVENTS,
    &MEMORY_EVENTS,
    &FS_READS_BYTES,
    &FS_WRITES_BYTES,
];

#[cfg(test)]
mod tests {
    use super::*;

    /// A cgroup v2 tree as a Kubernetes node lays it out, under a temporary root.
    fn fixture(memory_max: &str) -> tempdir::Root {
        let root = tempdir::Root::new();
        root.write("proc/self/cgroup", "0::/kubepods/burstable/pod123/abc\n");
        root.write("sys/fs/cgroup/cgroup.controllers", "cpu io memory pids\n");
        let dir = "sys/fs/cgroup/kubepods/burstable/pod123/abc";
        root.write(&format!("{dir}/cpu.stat"), "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\nnr_periods 40\nnr_throttled 3\nthrottled_usec 150000\nnr_bursts 0\n");
        root.write(&format!("{dir}/memory.current"), "1073741824\n");
        root.write(&format!("{dir}/memory.max"), memory_max);
        root.write(
            &format!("{dir}/memory.stat"),
            "anon 800000000\nfile 200000000\ninactive_file 73741824\n",
        );
        root.write(
            &format!("{dir}/memory.events"),
            "low 0\nhigh 14\nmax 2\noom 1\noom_kill 1\noom_group_kill 0\n",
        );
        root.write(
            &format!("{dir}/memory.pressure"),
            "some avg10=12.00 avg60=4.00 avg300=1.00 total=3500000\nfull avg10=8.00 avg60=2.00 avg300=0.50 total=2000000\n",
        );
        root.write(
            &format!("{dir}/io.stat"),
            "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n",
        );
        root
    }

    fn value(out: &[Stat], name: &str) -> Option<f64> {
        out.iter().find(|r| r.family.name == name).map(|r| r.value)
    }

    #[test]
    fn cgroup_v2_gives_cadvisor_metrics() {
        let root = fixture("2147483648\n");
        let mut out = Vec::new();
        collect(root.path(), &mut out);
        assert_eq!(value(&out, "container_cpu_usage_seconds_total"), Some(2.5));
        assert_eq!(
            value(&out, "container_cpu_cfs_throttled_periods_total"),
            Some(3.0)
        );
        assert_eq!(
            value(&out, "container_cpu_cfs_throttled_seconds_total"),
            Some(0.15)
        );
        assert_eq!(
            value(&out, "container_memory_usage_bytes"),
            Some(1073741824.0)
        );
        assert_eq!(
            value(&out, "container_memory_working_set_bytes"),
            Some(1000000000.0)
        );
        assert_eq!(
            value(&out, "container_spec_memory_limit_bytes"),
            Some(2147483648.0)
        );
        assert_eq!(value(&out, "container_oom_events_total"), Some(1.0));
        let event = |name: &str| {
            out.iter()
                .find(|s| {
                    s.family.name == "container_memory_events_total"
                        && s.labels == [(names::EVENT, name.to_string())]
                })
                .map(|s| s.value)
        };
        assert_eq!(event("high"), Some(14.0));
        assert_eq!(event("max"), Some(2.0));
        assert_eq!(event("oom_kill"), Some(1.0));
        assert_eq!(event("oom_group_kill"), Some(0.0));
        assert_eq!(
            value(&out, "container_pressure_memory_stalled_seconds_total"),
            Some(2.0)
        );
        assert_eq!(value(&out, "container_fs_writes_bytes_total"), Some(8192.0));
    }

    /// containerd and CRI-O give a pod on cgroup v2 its own cgroup namespace: the container's
    /// cgroup is `/`, mounted at /sys/fs/cgroup.
    #[test]
    fn a_private_cgroup_namespace_is_read_at_the_mount_root() {
        let root = tempdir::Root::new();
        root.write("proc/self/cgroup", "0::/\n");
        root.write("sys/fs/cgroup/cgroup.controllers", "cpu io memory pids\n");
        root.write("sys/fs/cgroup/memory.current", "4096\n");
        root.write("sys/fs/cgroup/memory.events", "max 5\noom_kill 2\n");
        let mut out = Vec::new();
        collect(root.path(), &mut out);
        assert_eq!(value(&out, "container_memory_usage_bytes"), Some(4096.0));
        assert_eq!(value(&out, "container_oom_events_total"), Some(2.0));
    }

    /// YARN without cgroups per container: the executor runs in the NodeManager's cgroup, whose
    /// figures are the NodeManager's and every container's together. None of it is sent as the
    /// container's; a container in a cgroup of its own (LinuxContainerExecutor) is read.
    #[test]
    fn under_yarn_only_the_containers_own_cgroup_is_read() {
        let container = "container_1700000000000_0001_01_000002";
        let root = tempdir::Root::new();
        root.write("sys/fs/cgroup/cgroup.controllers", "cpu io memory pids\n");
        let shared = "system.slice/hadoop-yarn-nodemanager.service";
        root.write(
            &format!("sys/fs/cgroup/{shared}/memory.current"),
            "8589934592\n",
        );
        root.write("proc/self/cgroup", &format!("0::/{shared}\n"));
        let mut out = Vec::new();
        collect_for(root.path(), Some(container), &mut out);
        assert!(out.is_empty(), "read the NodeManager's cgroup: {out:?}");
        assert_eq!(
            not_the_containers(root.path(), Some(container)).as_deref(),
            Some("/system.slice/hadoop-yarn-nodemanager.service")
        );
        // Not under YARN, the same cgroup is this process' own.
        collect_for(root.path(), None, &mut out);
        assert_eq!(
            value(&out, "container_memory_usage_bytes"),
            Some(8589934592.0)
        );

        let own = format!("hadoop-yarn/{container}");
        root.write(&format!("sys/fs/cgroup/{own}/memory.current"), "1048576\n");
        root.write("proc/self/cgroup", &format!("0::/{own}\n"));
        let mut out = Vec::new();
        collect_for(root.path(), Some(container), &mut out);
        assert_eq!(value(&out, "container_memory_usage_bytes"), Some(1048576.0));
        assert_eq!(not_the_containers(root.path(), Some(container)), None);
    }

    #[test]
    fn unlimited_memory_has_no_limit_series() {
        let root = fixture("max\n");
        let mut out = Vec::new();
        collect(root.path(), &mut out);
        assert_eq!(value(&out, "container_spec_memory_limit_bytes"), None);
        assert!(value(&out, "container_memory_usage_bytes").is_some());
    }

    #[test]
    fn cgroup_v1_and_missing_files_report_nothing() {
        let root = tempdir::Root::new();
        root.write("proc/self/cgroup", "4:memory:/x\n0::/\n");
        root.write("sys/fs/cgroup/memory/memory.usage_in_bytes", "5\n");
        let mut out = Vec::new();
        collect(root.path(), &mut out);
        assert!(out.is_empty());
        collect(Path::new("/nonexistent-root"), &mut out);
        assert!(out.is_empty());
    }
}

/// A throwaway directory tree for fixture tests.
#[cfg(test)]
pub(crate) mod tempdir {
    use std::path::{Path, PathBuf};

    pub struct Root(PathBuf);

    impl Root {
        pub fn new() -> Root {
            use std::sync::atomic::{AtomicU64, Ordering};
            static N: AtomicU64 = AtomicU64::new(0);
            let dir = std::env::temp_dir().join(format!(
                "sparkprom-fixture-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            Root(dir)
        }

        pub fn write(&self, rel: &str, text: &str) {
            let path = self.0.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Root {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
