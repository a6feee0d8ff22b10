//! The JVM's own process, with the names Prometheus' client libraries use (`process_*`).

use std::path::Path;

use super::{family, read, Reading};

family!(
    CPU,
    "process_cpu_seconds_total",
    Counter,
    "seconds",
    "Total user and system CPU time spent in seconds."
);
family!(
    RESIDENT,
    "process_resident_memory_bytes",
    Gauge,
    "bytes",
    "Resident memory size in bytes."
);
family!(
    VIRTUAL,
    "process_virtual_memory_bytes",
    Gauge,
    "bytes",
    "Virtual memory size in bytes."
);
family!(
    START_TIME,
    "process_start_time_seconds",
    Gauge,
    "seconds",
    "Start time of the process since unix epoch in seconds."
);
family!(
    OPEN_FDS,
    "process_open_fds",
    Gauge,
    "",
    "Number of open file descriptors."
);
family!(
    MAX_FDS,
    "process_max_fds",
    Gauge,
    "",
    "Maximum number of open file descriptors."
);

/// CPU ticks per second in /proc/<pid>/stat (USER_HZ, 100 on Linux).
const TICKS: f64 = 100.0;

pub fn collect(root: &Path, out: &mut Vec<Reading>) {
    let boot_time = read(root, "proc/stat").and_then(|t| {
        t.lines().find_map(|l| {
            l.strip_prefix("btime ")
                .and_then(|v| v.trim().parse::<f64>().ok())
        })
    });
    if let Some(text) = read(root, "proc/self/stat") {
        parse_stat(&text, page_size(), boot_time, out);
    }
    if let Ok(entries) = std::fs::read_dir(root.join("proc/self/fd")) {
        // read_dir's own descriptor is one of them, as it is for client libraries.
        out.push(Reading::new(&OPEN_FDS, entries.count() as f64));
    }
    if let Some(text) = read(root, "proc/self/limits") {
        out.extend(parse_max_fds(&text).map(|v| Reading::new(&MAX_FDS, v)));
    }
}

fn page_size() -> f64 {
    // SAFETY: sysconf only reads a constant of the running system.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 {
        size as f64
    } else {
        4096.0
    }
}

/// `/proc/<pid>/stat`: the command name is in parentheses and may hold spaces or parentheses,
/// so fields are counted from the last `)`.
pub fn parse_stat(text: &str, page_size: f64, boot_time: Option<f64>, out: &mut Vec<Reading>) {
    let Some(end) = text.rfind(')') else { return };
    // After ")": state is field 3 of the man page; index 0 here.
    let fields: Vec<&str> = text[end + 1..].split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<f64>().ok());
    if let (Some(utime), Some(stime)) = (field(14), field(15)) {
        out.push(Reading::new(&CPU, (utime + stime) / TICKS));
    }
    if let (Some(start), Some(boot)) = (field(22), boot_time) {
        out.push(Reading::new(&START_TIME, boot + start / TICKS));
    }
    if let Some(vsize) = field(23) {
        out.push(Reading::new(&VIRTUAL, vsize));
    }
    if let Some(rss) = field(24) {
        out.push(Reading::new(&RESIDENT, rss * page_size));
    }
}

/// The soft limit of `Max open files` in /proc/<pid>/limits.
pub fn parse_max_fds(text: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_a_tricky_command_name() {
        let text = "4242 (java (main) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 40 0 1000 8000000 2000 18446744073709551615";
        let mut out = Vec::new();
        parse_stat(text, 4096.0, Some(1_700_000_000.0), &mut out);
        let v = |n: &str| out.iter().find(|r| r.family.name == n).unwrap().value;
        assert_eq!(v("process_cpu_seconds_total"), 3.0);
        assert_eq!(v("process_start_time_seconds"), 1_700_000_010.0);
        assert_eq!(v("process_virtual_memory_bytes"), 8_000_000.0);
        assert_eq!(v("process_resident_memory_bytes"), 2000.0 * 4096.0);
    }

    #[test]
    fn max_fds_is_the_soft_limit() {
        let text = "Limit                     Soft Limit           Hard Limit           Units\nMax open files            65536                1048576              files\n";
        assert_eq!(parse_max_fds(text), Some(65536.0));
        assert_eq!(
            parse_max_fds("Max open files  unlimited unlimited files\n"),
            None
        );
    }

    #[test]
    fn this_process_is_readable() {
        let mut out = Vec::new();
        collect(Path::new("/"), &mut out);
        for name in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_max_fds",
        ] {
            assert!(out.iter().any(|r| r.family.name == name), "{name}");
        }
    }
}
