//! The JVM's own process, with the names Prometheus' client libraries use (`process_*`).
//!
//! Memory comes from `/proc/self/statm` and CPU time from `getrusage`, not from
//! `/proc/self/stat`: under qemu-user (how the aarch64 build is tested here) `stat` is a stand-in
//! with zero CPU and memory fields, while `statm` and `getrusage` give the real process's
//! figures, on emulated and real machines alike. `stat` still gives the start time.

use std::path::Path;

use super::stat::{family, read, NodeFamily, Stat};

family!(
    Process,
    CPU,
    "process_cpu_seconds_total",
    Counter,
    "seconds",
    "Total user and system CPU time spent in seconds."
);
family!(
    Process,
    RESIDENT,
    "process_resident_memory_bytes",
    Gauge,
    "bytes",
    "Resident memory size in bytes."
);
family!(
    Process,
    VIRTUAL,
    "process_virtual_memory_bytes",
    Gauge,
    "bytes",
    "Virtual memory size in bytes."
);
family!(
    Process,
    START_TIME,
    "process_start_time_seconds",
    Gauge,
    "seconds",
    "Start time of the process since unix epoch in seconds."
);
family!(
    Process,
    OPEN_FDS,
    "process_open_fds",
    Gauge,
    "",
    "Number of open file descriptors."
);
family!(
    Process,
    MAX_FDS,
    "process_max_fds",
    Gauge,
    "",
    "Maximum number of open file descriptors."
);

/// CPU ticks per second in /proc/<pid>/stat (USER_HZ, 100 on Linux).
const TICKS: f64 = 100.0;

pub fn collect(root: &Path, out: &mut Vec<Stat>) {
    let boot_time = read(root, "proc/stat").and_then(|t| {
        t.lines().find_map(|l| {
            l.strip_prefix("btime ")
                .and_then(|v| v.trim().parse::<f64>().ok())
        })
    });
    out.extend(cpu_seconds().map(|v| Stat::new(&CPU, v)));
    if let Some(text) = read(root, "proc/self/stat") {
        out.extend(parse_start_time(&text, boot_time).map(|v| Stat::new(&START_TIME, v)));
    }
    if let Some(text) = read(root, "proc/self/statm") {
        parse_statm(&text, page_size(), out);
    }
    if let Ok(entries) = std::fs::read_dir(root.join("proc/self/fd")) {
        // read_dir's own descriptor is one of them, as it is for client libraries.
        out.push(Stat::new(&OPEN_FDS, entries.count() as f64));
    }
    if let Some(text) = read(root, "proc/self/limits") {
        out.extend(parse_max_fds(&text).map(|v| Stat::new(&MAX_FDS, v)));
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

/// User plus system CPU time of this process, from the kernel's accounting.
fn cpu_seconds() -> Option<f64> {
    // SAFETY: getrusage fills the zeroed struct it is given and reads nothing else.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return None;
    }
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Some(seconds(usage.ru_utime) + seconds(usage.ru_stime))
}

/// The start time (Unix seconds) in `/proc/<pid>/stat`: the command name is in parentheses and
/// may hold spaces or parentheses, so fields are counted from the last `)`.
pub fn parse_start_time(text: &str, boot_time: Option<f64>) -> Option<f64> {
    let end = text.rfind(')')?;
    // After ")": state is field 3 of the man page; starttime is field 22.
    let start: f64 = text[end + 1..]
        .split_whitespace()
        .nth(22 - 3)?
        .parse()
        .ok()?;
    Some(boot_time? + start / TICKS)
}

/// `/proc/<pid>/statm`: total program size and resident set, in pages.
pub fn parse_statm(text: &str, page_size: f64, out: &mut Vec<Stat>) {
    let mut pages = text.split_whitespace().map(|f| f.parse::<f64>().ok());
    if let Some(Some(size)) = pages.next() {
        out.push(Stat::new(&VIRTUAL, size * page_size));
    }
    if let Some(Some(resident)) = pages.next() {
        out.push(Stat::new(&RESIDENT, resident * page_size));
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

/// Every family this module declares, for docs/metrics-reference.md (`node::reference`).
pub const FAMILIES: &[&NodeFamily] = &[&CPU, &RESIDENT, &VIRTUAL, &START_TIME, &OPEN_FDS, &MAX_FDS];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_with_a_tricky_command_name() {
        let text = "4242 (java (main) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 40 0 1000 8000000 2000 18446744073709551615";
        assert_eq!(
            parse_start_time(text, Some(1_700_000_000.0)),
            Some(1_700_000_010.0)
        );
        assert_eq!(parse_start_time(text, None), None);
    }

    #[test]
    fn statm_pages_become_bytes() {
        let mut out = Vec::new();
        parse_statm("1953 500 120 3 0 700 0\n", 4096.0, &mut out);
        let v = |n: &str| out.iter().find(|r| r.family.name == n).unwrap().value;
        assert_eq!(v("process_virtual_memory_bytes"), 1953.0 * 4096.0);
        assert_eq!(v("process_resident_memory_bytes"), 500.0 * 4096.0);
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

    /// Real figures, not placeholders (under qemu-user `/proc/self/stat` has zeros there).
    #[test]
    fn this_process_is_readable() {
        // Some CPU time to count.
        let spin: u64 = (0..20_000_000u64).fold(0, |a, b| a ^ b.wrapping_mul(31));
        assert_ne!(spin, 1);
        let mut out = Vec::new();
        collect(Path::new("/"), &mut out);
        let v = |n: &str| {
            out.iter()
                .find(|r| r.family.name == n)
                .unwrap_or_else(|| panic!("{n} missing"))
                .value
        };
        assert!(v("process_cpu_seconds_total") > 0.0);
        assert!(v("process_resident_memory_bytes") > 1024.0 * 1024.0);
        assert!(v("process_virtual_memory_bytes") > v("process_resident_memory_bytes"));
        assert!(v("process_start_time_seconds") > 1.5e9);
        assert!(v("process_open_fds") > 0.0 && v("process_max_fds") > 0.0);
    }
}
