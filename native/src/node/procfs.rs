//! Host-wide statistics from `/proc`: CPU, load, memory, disks, network, boot time, context
//! switches, as node_exporter's cpu, loadavg, meminfo, diskstats, netdev and stat collectors.

use std::path::Path;

use super::stat::{family, read, NodeFamily, Stat};
use crate::label_names::{self as names, LabelName};

/// USER_HZ: the unit of CPU times in /proc/stat. Linux fixes it at 100 for user space on every
/// architecture Spark runs on, which is also what node_exporter assumes.
const USER_HZ: f64 = 100.0;
/// /proc/diskstats times are milliseconds; multiplied (not divided) as node_exporter does, so
/// both give the same float.
const SECONDS_PER_MS: f64 = 1.0 / 1000.0;
/// /proc/diskstats counts 512-byte sectors whatever the device's sector size.
const SECTOR_BYTES: f64 = 512.0;

family!(
    Host,
    CPU_SECONDS,
    "node_cpu_seconds_total",
    Counter,
    "seconds",
    "Seconds the CPUs spent in each mode."
);
family!(
    Host,
    CONTEXT_SWITCHES,
    "node_context_switches_total",
    Counter,
    "",
    "Total number of context switches."
);
family!(
    Host,
    BOOT_TIME,
    "node_boot_time_seconds",
    Gauge,
    "seconds",
    "Node boot time, in unixtime."
);
family!(
    Host,
    FORKS,
    "node_forks_total",
    Counter,
    "",
    "Total number of forks."
);
family!(
    Host,
    INTERRUPTS,
    "node_intr_total",
    Counter,
    "",
    "Total number of interrupts serviced."
);
family!(
    Host,
    PROCS_RUNNING,
    "node_procs_running",
    Gauge,
    "",
    "Number of processes in runnable state."
);
family!(
    Host,
    PROCS_BLOCKED,
    "node_procs_blocked",
    Gauge,
    "",
    "Number of processes blocked waiting for I/O to complete."
);
family!(Host, LOAD1, "node_load1", Gauge, "", "1m load average.");
family!(Host, LOAD5, "node_load5", Gauge, "", "5m load average.");
family!(Host, LOAD15, "node_load15", Gauge, "", "15m load average.");

/// The modes of a `cpu` line, in order; guest time is already counted in user and nice.
const CPU_MODES: [&str; 8] = [
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];

pub fn collect(root: &Path, out: &mut Vec<Stat>) {
    if let Some(text) = read(root, "proc/stat") {
        parse_stat(&text, out);
    }
    if let Some(text) = read(root, "proc/loadavg") {
        parse_loadavg(&text, out);
    }
    if let Some(text) = read(root, "proc/meminfo") {
        parse_meminfo(&text, out);
    }
    if let Some(text) = read(root, "proc/diskstats") {
        parse_diskstats(&text, out);
    }
    if let Some(text) = read(root, "proc/net/dev") {
        parse_net_dev(&text, out);
    }
}

pub fn parse_stat(text: &str, out: &mut Vec<Stat>) {
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some(key) = fields.next() else { continue };
        let numbers: Vec<f64> = fields.filter_map(|f| f.parse().ok()).collect();
        let first = numbers.first().copied();
        match key {
            // "cpu" alone is the total; node_exporter reports only the per-CPU lines.
            cpu if cpu.starts_with("cpu") && cpu.len() > 3 => {
                let id = &cpu[3..];
                for (mode, ticks) in CPU_MODES.iter().zip(&numbers) {
                    out.push(
                        Stat::new(&CPU_SECONDS, ticks / USER_HZ)
                            .with(names::CPU, id)
                            .with(names::MODE, *mode),
                    );
                }
            }
            "ctxt" => out.extend(first.map(|v| Stat::new(&CONTEXT_SWITCHES, v))),
            "btime" => out.extend(first.map(|v| Stat::new(&BOOT_TIME, v))),
            "processes" => out.extend(first.map(|v| Stat::new(&FORKS, v))),
            "intr" => out.extend(first.map(|v| Stat::new(&INTERRUPTS, v))),
            "procs_running" => out.extend(first.map(|v| Stat::new(&PROCS_RUNNING, v))),
            "procs_blocked" => out.extend(first.map(|v| Stat::new(&PROCS_BLOCKED, v))),
            _ => {}
        }
    }
}

pub fn parse_loadavg(text: &str, out: &mut Vec<Stat>) {
    let values: Vec<f64> = text
        .split_whitespace()
        .take(3)
        .filter_map(|f| f.parse().ok())
        .collect();
    if let [one, five, fifteen] = values[..] {
        out.push(Stat::new(&LOAD1, one));
        out.push(Stat::new(&LOAD5, five));
        out.push(Stat::new(&LOAD15, fifteen));
    }
}

/// `node_memory_<Field>_bytes` for every field in kB, `node_memory_<Field>` for the counts
/// (HugePages_*); `Active(anon)` becomes `Active_anon`, as node_exporter names them. The
/// families are made at run time (kernels add fields), so they are leaked once per name.
pub fn parse_meminfo(text: &str, out: &mut Vec<Stat>) {
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let mut parts = rest.split_whitespace();
        let Some(Ok(value)) = parts.next().map(str::parse::<f64>) else {
            continue;
        };
        let key = key.replace('(', "_").replace(')', "");
        let (name, value) = match parts.next() {
            Some("kB") => (format!("node_memory_{key}_bytes"), value * 1024.0),
            _ => (format!("node_memory_{key}"), value),
        };
        out.push(Stat::new(
            dynamic_gauge(&name, "Memory information field from /proc/meminfo."),
            value,
        ));
    }
}

/// A family whose name is only known at run time; each distinct name is allocated once.
fn dynamic_gauge(name: &str, help: &'static str) -> &'static super::stat::NodeFamily {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static FAMILIES: once_cell::sync::Lazy<
        Mutex<HashMap<String, &'static super::stat::NodeFamily>>,
    > = once_cell::sync::Lazy::new(Default::default);
    let mut families = FAMILIES.lock().unwrap_or_else(|p| p.into_inner());
    families.entry(name.to_string()).or_insert_with(|| {
        let unit = if name.ends_with("_bytes") {
            "bytes"
        } else {
            ""
        };
        Box::leak(Box::new(super::stat::NodeFamily {
            name: Box::leak(name.to_string().into_boxed_str()),
            metric_type: crate::sample::MetricType::Gauge,
            help,
            unit,
            scope: super::stat::Scope::Host,
        }))
    })
}

family!(
    Host,
    DISK_READS,
    "node_disk_reads_completed_total",
    Counter,
    "",
    "The total number of reads completed successfully."
);
family!(
    Host,
    DISK_READS_MERGED,
    "node_disk_reads_merged_total",
    Counter,
    "",
    "The total number of reads merged."
);
family!(
    Host,
    DISK_READ_BYTES,
    "node_disk_read_bytes_total",
    Counter,
    "bytes",
    "The total number of bytes read successfully."
);
family!(
    Host,
    DISK_READ_TIME,
    "node_disk_read_time_seconds_total",
    Counter,
    "seconds",
    "The total number of seconds spent by all reads."
);
family!(
    Host,
    DISK_WRITES,
    "node_disk_writes_completed_total",
    Counter,
    "",
    "The total number of writes completed successfully."
);
family!(
    Host,
    DISK_WRITES_MERGED,
    "node_disk_writes_merged_total",
    Counter,
    "",
    "The number of writes merged."
);
family!(
    Host,
    DISK_WRITTEN_BYTES,
    "node_disk_written_bytes_total",
    Counter,
    "bytes",
    "The total number of bytes written successfully."
);
family!(
    Host,
    DISK_WRITE_TIME,
    "node_disk_write_time_seconds_total",
    Counter,
    "seconds",
    "This is the total number of seconds spent by all writes."
);
family!(
    Host,
    DISK_IO_NOW,
    "node_disk_io_now",
    Gauge,
    "",
    "The number of I/Os currently in progress."
);
family!(
    Host,
    DISK_IO_TIME,
    "node_disk_io_time_seconds_total",
    Counter,
    "seconds",
    "Total seconds spent doing I/Os."
);
family!(
    Host,
    DISK_IO_WEIGHTED,
    "node_disk_io_time_weighted_seconds_total",
    Counter,
    "seconds",
    "The weighted # of seconds spent doing I/Os."
);

/// Partitions and virtual devices node_exporter 1.5 leaves out by default:
/// `^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$`. zram devices are reported, as there.
pub fn disk_excluded(device: &str) -> bool {
    let strip_digits = |s: &str| -> Option<usize> {
        let trimmed = s.trim_end_matches(|c: char| c.is_ascii_digit());
        (trimmed.len() < s.len()).then_some(trimmed.len())
    };
    let Some(end) = strip_digits(device) else {
        return false;
    };
    let stem = &device[..end];
    let lower = |c: char| c.is_ascii_lowercase();
    match stem {
        "ram" | "loop" | "fd" => true,
        _ if stem.len() == 3
            && matches!(&stem[..2], "hd" | "sd" | "vd")
            && stem[2..].chars().all(lower) =>
        {
            true
        }
        _ if stem.len() == 4 && stem.starts_with("xvd") && stem[3..].chars().all(lower) => true,
        _ => {
            // nvme<digits>n<digits>p
            let Some(rest) = stem.strip_prefix("nvme").and_then(|r| r.strip_suffix('p')) else {
                return false;
            };
            let Some((a, b)) = rest.split_once('n') else {
                return false;
            };
            !a.is_empty()
                && !b.is_empty()
                && a.chars().all(|c| c.is_ascii_digit())
                && b.chars().all(|c| c.is_ascii_digit())
        }
    }
}

pub fn parse_diskstats(text: &str, out: &mut Vec<Stat>) {
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 14 {
            continue;
        }
        let device = fields[2];
        if disk_excluded(device) {
            continue;
        }
        let v = |i: usize| fields[i].parse::<f64>().unwrap_or(0.0);
        let readings = [
            (&DISK_READS, v(3)),
            (&DISK_READS_MERGED, v(4)),
            (&DISK_READ_BYTES, v(5) * SECTOR_BYTES),
            (&DISK_READ_TIME, v(6) * SECONDS_PER_MS),
            (&DISK_WRITES, v(7)),
            (&DISK_WRITES_MERGED, v(8)),
            (&DISK_WRITTEN_BYTES, v(9) * SECTOR_BYTES),
            (&DISK_WRITE_TIME, v(10) * SECONDS_PER_MS),
            (&DISK_IO_NOW, v(11)),
            (&DISK_IO_TIME, v(12) * SECONDS_PER_MS),
            (&DISK_IO_WEIGHTED, v(13) * SECONDS_PER_MS),
        ];
        for (family, value) in readings {
            out.push(Stat::new(family, value).with(names::DEVICE, device));
        }
    }
}

family!(
    Network,
    NET_RX_BYTES,
    "node_network_receive_bytes_total",
    Counter,
    "bytes",
    "Network device statistic receive_bytes."
);
family!(
    Network,
    NET_RX_PACKETS,
    "node_network_receive_packets_total",
    Counter,
    "",
    "Network device statistic receive_packets."
);
family!(
    Network,
    NET_RX_ERRS,
    "node_network_receive_errs_total",
    Counter,
    "",
    "Network device statistic receive_errs."
);
family!(
    Network,
    NET_RX_DROP,
    "node_network_receive_drop_total",
    Counter,
    "",
    "Network device statistic receive_drop."
);
family!(
    Network,
    NET_TX_BYTES,
    "node_network_transmit_bytes_total",
    Counter,
    "bytes",
    "Network device statistic transmit_bytes."
);
family!(
    Network,
    NET_TX_PACKETS,
    "node_network_transmit_packets_total",
    Counter,
    "",
    "Network device statistic transmit_packets."
);
family!(
    Network,
    NET_TX_ERRS,
    "node_network_transmit_errs_total",
    Counter,
    "",
    "Network device statistic transmit_errs."
);
family!(
    Network,
    NET_TX_DROP,
    "node_network_transmit_drop_total",
    Counter,
    "",
    "Network device statistic transmit_drop."
);

family!(
    Network,
    POD_RX_BYTES,
    "container_network_receive_bytes_total",
    Counter,
    "bytes",
    "Cumulative count of bytes received"
);
family!(
    Network,
    POD_RX_PACKETS,
    "container_network_receive_packets_total",
    Counter,
    "",
    "Cumulative count of packets received"
);
family!(
    Network,
    POD_RX_ERRS,
    "container_network_receive_errors_total",
    Counter,
    "",
    "Cumulative count of errors encountered while receiving"
);
family!(
    Network,
    POD_RX_DROP,
    "container_network_receive_packets_dropped_total",
    Counter,
    "",
    "Cumulative count of packets dropped while receiving"
);
family!(
    Network,
    POD_TX_BYTES,
    "container_network_transmit_bytes_total",
    Counter,
    "bytes",
    "Cumulative count of bytes transmitted"
);
family!(
    Network,
    POD_TX_PACKETS,
    "container_network_transmit_packets_total",
    Counter,
    "",
    "Cumulative count of packets transmitted"
);
family!(
    Network,
    POD_TX_ERRS,
    "container_network_transmit_errors_total",
    Counter,
    "",
    "Cumulative count of errors encountered while transmitting"
);
family!(
    Network,
    POD_TX_DROP,
    "container_network_transmit_packets_dropped_total",
    Counter,
    "",
    "Cumulative count of packets dropped while transmitting"
);

/// In a Kubernetes pod /proc/net/dev is the pod's network namespace, not the node's: its
/// figures go out with cAdvisor's names for a pod's network (and its `interface` label), so no
/// node_network_* series ever holds one pod's traffic.
const POD_NETWORK: [(&NodeFamily, &NodeFamily); 8] = [
    (&NET_RX_BYTES, &POD_RX_BYTES),
    (&NET_RX_PACKETS, &POD_RX_PACKETS),
    (&NET_RX_ERRS, &POD_RX_ERRS),
    (&NET_RX_DROP, &POD_RX_DROP),
    (&NET_TX_BYTES, &POD_TX_BYTES),
    (&NET_TX_PACKETS, &POD_TX_PACKETS),
    (&NET_TX_ERRS, &POD_TX_ERRS),
    (&NET_TX_DROP, &POD_TX_DROP),
];

/// The family and labels a network statistic has in a pod: cAdvisor's name, and `interface`
/// for node_exporter's `device`. None for a family that has no pod name.
pub fn in_pod(
    family: &'static NodeFamily,
    labels: &[(LabelName, String)],
) -> Option<(&'static NodeFamily, Vec<(LabelName, String)>)> {
    let (_, pod) = POD_NETWORK
        .iter()
        .find(|(node, _)| std::ptr::eq(*node, family))?;
    let labels = labels
        .iter()
        .map(|(name, value)| {
            let name = if *name == names::DEVICE {
                names::INTERFACE
            } else {
                *name
            };
            (name, value.clone())
        })
        .collect();
    Some((pod, labels))
}

/// /proc/net/dev: two header lines, then `iface: 8 receive fields 8 transmit fields`.
pub fn parse_net_dev(text: &str, out: &mut Vec<Stat>) {
    for line in text.lines().skip(2) {
        let Some((device, rest)) = line.split_once(':') else {
            continue;
        };
        let fields: Vec<f64> = rest
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        if fields.len() < 16 {
            continue;
        }
        let device = device.trim();
        // Every device, loopback included, as upstream node_exporter by default (Debian's
        // package excludes ^lo$).
        let readings = [
            (&NET_RX_BYTES, fields[0]),
            (&NET_RX_PACKETS, fields[1]),
            (&NET_RX_ERRS, fields[2]),
            (&NET_RX_DROP, fields[3]),
            (&NET_TX_BYTES, fields[8]),
            (&NET_TX_PACKETS, fields[9]),
            (&NET_TX_ERRS, fields[10]),
            (&NET_TX_DROP, fields[11]),
        ];
        for (family, value) in readings {
            out.push(Stat::new(family, value).with(names::DEVICE, device));
        }
    }
}

/// Every family this module declares, for docs/metrics-reference.md (`node::reference`).
pub const FAMILIES: &[&NodeFamily] = &[
    &CPU_SECONDS,
    &CONTEXT_SWITCHES,
    &BOOT_TIME,
    &FORKS,
    &INTERRUPTS,
    &PROCS_RUNNING,
    &PROCS_BLOCKED,
    &LOAD1,
    &LOAD5,
    &LOAD15,
    &DISK_READS,
    &DISK_READS_MERGED,
    &DISK_READ_BYTES,
    &DISK_READ_TIME,
    &DISK_WRITES,
    &DISK_WRITES_MERGED,
    &DISK_WRITTEN_BYTES,
    &DISK_WRITE_TIME,
    &DISK_IO_NOW,
    &DISK_IO_TIME,
    &DISK_IO_WEIGHTED,
    &NET_RX_BYTES,
    &NET_RX_PACKETS,
    &NET_RX_ERRS,
    &NET_RX_DROP,
    &NET_TX_BYTES,
    &NET_TX_PACKETS,
    &NET_TX_ERRS,
    &NET_TX_DROP,
    &POD_RX_BYTES,
    &POD_RX_PACKETS,
    &POD_RX_ERRS,
    &POD_RX_DROP,
    &POD_TX_BYTES,
    &POD_TX_PACKETS,
    &POD_TX_ERRS,
    &POD_TX_DROP,
];

#[cfg(test)]
mod tests {
    use super::*;

    fn find<'a>(out: &'a [Stat], name: &str, labels: &[(&str, &str)]) -> Option<&'a Stat> {
        out.iter().find(|r| {
            r.family.name == name
                && labels
                    .iter()
                    .all(|(k, v)| r.labels.iter().any(|(lk, lv)| *lk == *k && lv == v))
        })
    }

    #[test]
    fn stat_gives_per_cpu_modes_in_seconds_and_skips_the_total_line() {
        let text = "cpu  10 0 20 30 0 0 0 0 0 0\ncpu0 150 2 30 1000 5 0 7 1 9 0\nintr 500 1 2\nctxt 12345\nbtime 1700000000\nprocesses 77\nprocs_running 3\nprocs_blocked 1\nnewfield 1 2 3\n";
        let mut out = Vec::new();
        parse_stat(text, &mut out);
        assert_eq!(
            find(
                &out,
                "node_cpu_seconds_total",
                &[("cpu", "0"), ("mode", "user")]
            )
            .unwrap()
            .value,
            1.5
        );
        assert_eq!(
            find(
                &out,
                "node_cpu_seconds_total",
                &[("cpu", "0"), ("mode", "steal")]
            )
            .unwrap()
            .value,
            0.01
        );
        assert_eq!(
            out.iter()
                .filter(|r| r.family.name == "node_cpu_seconds_total")
                .count(),
            8
        );
        assert_eq!(
            find(&out, "node_context_switches_total", &[])
                .unwrap()
                .value,
            12345.0
        );
        assert_eq!(
            find(&out, "node_boot_time_seconds", &[]).unwrap().value,
            1.7e9
        );
        assert_eq!(find(&out, "node_intr_total", &[]).unwrap().value, 500.0);
    }

    #[test]
    fn meminfo_names_follow_node_exporter() {
        let text = "MemTotal:       16384 kB\nActive(anon):   4 kB\nHugePages_Total:       0\nNewKernelField:   2 kB\nbroken line\n";
        let mut out = Vec::new();
        parse_meminfo(text, &mut out);
        assert_eq!(
            find(&out, "node_memory_MemTotal_bytes", &[]).unwrap().value,
            16384.0 * 1024.0
        );
        assert!(find(&out, "node_memory_Active_anon_bytes", &[]).is_some());
        assert_eq!(
            find(&out, "node_memory_HugePages_Total", &[])
                .unwrap()
                .value,
            0.0
        );
        assert!(find(&out, "node_memory_NewKernelField_bytes", &[]).is_some());
        assert_eq!(out.len(), 4);
    }

    #[test]
    fn diskstats_converts_sectors_and_milliseconds_and_skips_partitions() {
        // 4.18+ kernels add discard fields, 5.5+ flush fields: extra columns are ignored.
        let text = "   8       0 sda 100 5 800 40 200 6 1600 90 0 120 130 0 0 0 0 0 0\n   8       1 sda1 1 1 1 1 1 1 1 1 0 1 1\n 259 0 nvme0n1 1 0 8 1 0 0 0 0 0 1 1\n 259 1 nvme0n1p1 1 0 8 1 0 0 0 0 0 1 1\n   7 0 loop0 1 0 8 1 0 0 0 0 0 1 1\n";
        let mut out = Vec::new();
        parse_diskstats(text, &mut out);
        assert_eq!(
            find(&out, "node_disk_read_bytes_total", &[("device", "sda")])
                .unwrap()
                .value,
            800.0 * 512.0
        );
        assert_eq!(
            find(
                &out,
                "node_disk_io_time_seconds_total",
                &[("device", "sda")]
            )
            .unwrap()
            .value,
            0.12
        );
        assert_eq!(
            find(&out, "node_disk_written_bytes_total", &[("device", "sda")])
                .unwrap()
                .value,
            1600.0 * 512.0
        );
        assert!(find(
            &out,
            "node_disk_reads_completed_total",
            &[("device", "nvme0n1")]
        )
        .is_some());
        for gone in ["sda1", "nvme0n1p1", "loop0"] {
            assert!(
                find(&out, "node_disk_reads_completed_total", &[("device", gone)]).is_none(),
                "{gone}"
            );
        }
    }

    #[test]
    fn disk_exclusions_match_node_exporter_defaults() {
        for excluded in [
            "sda1",
            "vdb12",
            "xvda1",
            "nvme0n1p2",
            "loop7",
            "ram0",
            "fd0",
            "hdc3",
        ] {
            assert!(disk_excluded(excluded), "{excluded}");
        }
        for kept in [
            "sda", "vdb", "nvme0n1", "dm-0", "md0", "sr0", "xvda", "zram0",
        ] {
            assert!(!disk_excluded(kept), "{kept}");
        }
    }

    #[test]
    fn net_dev_reads_both_directions_per_device() {
        let text = "Inter-|   Receive |  Transmit\n face |bytes packets|bytes\n    lo: 100 2 0 0 0 0 0 0 100 2 0 0 0 0 0 0\n  eth0: 5000 40 1 2 0 0 0 3 7000 50 4 5 0 0 0 0\n";
        let mut out = Vec::new();
        parse_net_dev(text, &mut out);
        assert_eq!(
            find(
                &out,
                "node_network_receive_bytes_total",
                &[("device", "eth0")]
            )
            .unwrap()
            .value,
            5000.0
        );
        assert_eq!(
            find(
                &out,
                "node_network_transmit_drop_total",
                &[("device", "eth0")]
            )
            .unwrap()
            .value,
            5.0
        );
        assert_eq!(
            find(
                &out,
                "node_network_receive_errs_total",
                &[("device", "eth0")]
            )
            .unwrap()
            .value,
            1.0
        );
        assert!(find(
            &out,
            "node_network_receive_bytes_total",
            &[("device", "lo")]
        )
        .is_some());
    }

    #[test]
    fn loadavg_and_counters_near_wrap_are_taken_as_they_are() {
        let mut out = Vec::new();
        parse_loadavg("0.50 1.25 2.00 3/400 12345\n", &mut out);
        assert_eq!(
            out.iter().map(|r| r.value).collect::<Vec<_>>(),
            vec![0.5, 1.25, 2.0]
        );
        // A 32-bit counter about to wrap (old kernels' net/dev): reported as read; rate()
        // handles the reset when it wraps.
        let mut out = Vec::new();
        parse_net_dev(
            "h\nh\n eth0: 4294967295 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
            &mut out,
        );
        assert_eq!(out[0].value, 4294967295.0);
    }
}
