//! Pressure stall information (PSI): the share of time tasks waited for CPU, memory or I/O. The
//! kernel keeps it for the whole host (`/proc/pressure/*`, node_exporter's pressure collector)
//! and, on cgroup v2, for each cgroup (`cpu.pressure`, ...: what kubelet's cAdvisor reports per
//! container). Memory pressure is the warning before an OOM kill: while usage sits at the
//! limit, reclaim stalls the container's tasks.

use std::path::Path;

use super::stat::{family, read, NodeFamily, Stat};

/// One pressure file: the family of its `some` line (at least one task waited) and of its
/// `full` line (every task stalled at once); None where there is no such family.
struct Resource {
    file: &'static str,
    waiting: Option<&'static NodeFamily>,
    stalled: Option<&'static NodeFamily>,
}

family!(
    Host,
    NODE_CPU_WAITING,
    "node_pressure_cpu_waiting_seconds_total",
    Counter,
    "seconds",
    "Total time in seconds that processes have waited for CPU time"
);
family!(
    Host,
    NODE_MEMORY_WAITING,
    "node_pressure_memory_waiting_seconds_total",
    Counter,
    "seconds",
    "Total time in seconds that processes have waited for memory"
);
family!(
    Host,
    NODE_MEMORY_STALLED,
    "node_pressure_memory_stalled_seconds_total",
    Counter,
    "seconds",
    "Total time in seconds no process could make progress due to memory congestion"
);
family!(
    Host,
    NODE_IO_WAITING,
    "node_pressure_io_waiting_seconds_total",
    Counter,
    "seconds",
    "Total time in seconds that processes have waited due to IO congestion"
);
family!(
    Host,
    NODE_IO_STALLED,
    "node_pressure_io_stalled_seconds_total",
    Counter,
    "seconds",
    "Total time in seconds no process could make progress due to IO congestion"
);
family!(
    Host,
    NODE_IRQ_STALLED,
    "node_pressure_irq_stalled_seconds_total",
    Counter,
    "seconds",
    "Total time in seconds no process could make progress due to IRQ congestion"
);

/// The host's files. The host-wide `full` line of cpu is always 0 (every CPU idle-stalled at
/// once has no meaning for the whole system), so node_exporter has no family for it, nor do we;
/// irq has only a `full` line.
const HOST: [Resource; 4] = [
    Resource {
        file: "cpu",
        waiting: Some(&NODE_CPU_WAITING),
        stalled: None,
    },
    Resource {
        file: "memory",
        waiting: Some(&NODE_MEMORY_WAITING),
        stalled: Some(&NODE_MEMORY_STALLED),
    },
    Resource {
        file: "io",
        waiting: Some(&NODE_IO_WAITING),
        stalled: Some(&NODE_IO_STALLED),
    },
    Resource {
        file: "irq",
        waiting: None,
        stalled: Some(&NODE_IRQ_STALLED),
    },
];

family!(
    Container,
    CONTAINER_CPU_WAITING,
    "container_pressure_cpu_waiting_seconds_total",
    Counter,
    "seconds",
    "Total time duration tasks in the container have waited due to CPU congestion."
);
family!(
    Container,
    CONTAINER_CPU_STALLED,
    "container_pressure_cpu_stalled_seconds_total",
    Counter,
    "seconds",
    "Total time duration no tasks in the container could make progress due to CPU congestion."
);
family!(
    Container,
    CONTAINER_MEMORY_WAITING,
    "container_pressure_memory_waiting_seconds_total",
    Counter,
    "seconds",
    "Total time duration tasks in the container have waited due to memory congestion."
);
family!(
    Container,
    CONTAINER_MEMORY_STALLED,
    "container_pressure_memory_stalled_seconds_total",
    Counter,
    "seconds",
    "Total time duration no tasks in the container could make progress due to memory congestion."
);
family!(
    Container,
    CONTAINER_IO_WAITING,
    "container_pressure_io_waiting_seconds_total",
    Counter,
    "seconds",
    "Total time duration tasks in the container have waited due to IO congestion."
);
family!(
    Container,
    CONTAINER_IO_STALLED,
    "container_pressure_io_stalled_seconds_total",
    Counter,
    "seconds",
    "Total time duration no tasks in the container could make progress due to IO congestion."
);

/// A cgroup's `cpu.pressure`, `memory.pressure` and `io.pressure`, with cAdvisor's names.
const CONTAINER: [Resource; 3] = [
    Resource {
        file: "cpu.pressure",
        waiting: Some(&CONTAINER_CPU_WAITING),
        stalled: Some(&CONTAINER_CPU_STALLED),
    },
    Resource {
        file: "memory.pressure",
        waiting: Some(&CONTAINER_MEMORY_WAITING),
        stalled: Some(&CONTAINER_MEMORY_STALLED),
    },
    Resource {
        file: "io.pressure",
        waiting: Some(&CONTAINER_IO_WAITING),
        stalled: Some(&CONTAINER_IO_STALLED),
    },
];

/// The host's pressure, from `/proc/pressure` (absent when the kernel has no PSI or was
/// booted with `psi=0`: see `sources.rs`).
pub fn collect_host(root: &Path, out: &mut Vec<Stat>) {
    for resource in &HOST {
        if let Some(text) = read(root, &format!("proc/pressure/{}", resource.file)) {
            parse(&text, resource, out);
        }
    }
}

/// One cgroup's pressure, from its directory.
pub fn collect_cgroup(dir: &Path, out: &mut Vec<Stat>) {
    for resource in &CONTAINER {
        if let Ok(text) = std::fs::read_to_string(dir.join(resource.file)) {
            parse(&text, resource, out);
        }
    }
}

/// `some avg10=0.12 avg60=0.05 avg300=0.01 total=123456` (`total` in microseconds), then the
/// same for `full`.
fn parse(text: &str, resource: &Resource, out: &mut Vec<Stat>) {
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let family = match fields.next() {
            Some("some") => resource.waiting,
            Some("full") => resource.stalled,
            _ => None,
        };
        let Some(family) = family else {
            continue;
        };
        let total = fields
            .find_map(|field| field.strip_prefix("total="))
            .and_then(|micros| micros.parse::<f64>().ok());
        if let Some(micros) = total {
            // Divided twice, as node_exporter does, so both give the same float.
            out.push(Stat::new(family, micros / 1000.0 / 1000.0));
        }
    }
}

/// Every family this module declares, for docs/metrics-reference.md (`node::reference`).
pub const FAMILIES: &[&NodeFamily] = &[
    &NODE_CPU_WAITING,
    &NODE_MEMORY_WAITING,
    &NODE_MEMORY_STALLED,
    &NODE_IO_WAITING,
    &NODE_IO_STALLED,
    &NODE_IRQ_STALLED,
    &CONTAINER_CPU_WAITING,
    &CONTAINER_CPU_STALLED,
    &CONTAINER_MEMORY_WAITING,
    &CONTAINER_MEMORY_STALLED,
    &CONTAINER_IO_WAITING,
    &CONTAINER_IO_STALLED,
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::cgroup::tempdir;

    /// The value, rounded to the microsecond the kernel counts in.
    fn value(out: &[Stat], name: &str) -> Option<f64> {
        out.iter()
            .find(|s| s.family.name == name)
            .map(|s| (s.value * 1e6).round() / 1e6)
    }

    #[test]
    fn the_hosts_pressure_has_node_exporters_names_and_no_cpu_full() {
        let root = tempdir::Root::new();
        let line = |some: u64, full: u64| {
            format!("some avg10=1.50 avg60=0.80 avg300=0.20 total={some}\nfull avg10=0.00 avg60=0.00 avg300=0.00 total={full}\n")
        };
        root.write("proc/pressure/cpu", &line(12_537_228_716, 0));
        root.write("proc/pressure/memory", &line(311_059_589, 206_958_811));
        root.write("proc/pressure/io", &line(4_000_000, 1_500_000));
        root.write(
            "proc/pressure/irq",
            "full avg10=0.00 avg60=0.00 avg300=0.00 total=2500000\n",
        );
        let mut out = Vec::new();
        collect_host(root.path(), &mut out);
        assert_eq!(
            value(&out, "node_pressure_cpu_waiting_seconds_total"),
            Some(12_537.228716)
        );
        assert_eq!(
            value(&out, "node_pressure_memory_waiting_seconds_total"),
            Some(311.059589)
        );
        assert_eq!(
            value(&out, "node_pressure_memory_stalled_seconds_total"),
            Some(206.958811)
        );
        assert_eq!(
            value(&out, "node_pressure_io_stalled_seconds_total"),
            Some(1.5)
        );
        assert_eq!(
            value(&out, "node_pressure_irq_stalled_seconds_total"),
            Some(2.5)
        );
        assert_eq!(out.len(), 6, "no cpu full, nothing else");
    }

    #[test]
    fn a_cgroups_pressure_has_cadvisors_names() {
        let root = tempdir::Root::new();
        root.write(
            "cg/memory.pressure",
            "some avg10=40.00 avg60=20.00 avg300=5.00 total=9000000\nfull avg10=30.00 avg60=10.00 avg300=2.00 total=6000000\n",
        );
        root.write(
            "cg/cpu.pressure",
            "some avg10=0.00 avg60=0.00 avg300=0.00 total=250000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=125000\n",
        );
        let mut out = Vec::new();
        collect_cgroup(&root.path().join("cg"), &mut out);
        assert_eq!(
            value(&out, "container_pressure_memory_waiting_seconds_total"),
            Some(9.0)
        );
        assert_eq!(
            value(&out, "container_pressure_memory_stalled_seconds_total"),
            Some(6.0)
        );
        assert_eq!(
            value(&out, "container_pressure_cpu_stalled_seconds_total"),
            Some(0.125)
        );
        assert_eq!(
            value(&out, "container_pressure_io_waiting_seconds_total"),
            None
        );
    }

    #[test]
    fn a_kernel_without_psi_gives_nothing() {
        let mut out = Vec::new();
        collect_host(Path::new("/nonexistent-root"), &mut out);
        collect_cgroup(Path::new("/nonexistent-root"), &mut out);
        assert!(out.is_empty());
    }
}
