//! Filesystem sizes of the mounted filesystems, as node_exporter's filesystem collector with its
//! default exclusions: `statvfs` on each mount point listed in `/proc/1/mounts`.
//!
//! A hard NFS mount whose server is gone blocks `statvfs` for ever. As node_exporter does, each
//! call runs on a thread of its own; all of a collection's calls run at once and are waited for
//! together, at most [`MOUNT_TIMEOUT`], so N hung mounts cost one timeout, not N. A mount whose
//! call did not return in time hangs: it is reported with `device_error` 1, named once in a WARN,
//! counted (`sparkprom_node_mounts_hung_total`), and never waited for again: later collections
//! ask it in the background and report what its last call brought.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::threads::spawn_helper;
use once_cell::sync::Lazy;
use regex::Regex;

use super::stat::{family, read, NodeFamily, Stat};
use crate::label_names as names;

family!(
    Container,
    SIZE,
    "node_filesystem_size_bytes",
    Gauge,
    "bytes",
    "Filesystem size in bytes."
);
family!(
    Container,
    FREE,
    "node_filesystem_free_bytes",
    Gauge,
    "bytes",
    "Filesystem free space in bytes."
);
family!(
    Container,
    AVAIL,
    "node_filesystem_avail_bytes",
    Gauge,
    "bytes",
    "Filesystem space available to non-root users in bytes."
);
family!(
    Container,
    FILES,
    "node_filesystem_files",
    Gauge,
    "",
    "Filesystem total file nodes."
);
family!(
    Container,
    FILES_FREE,
    "node_filesystem_files_free",
    Gauge,
    "",
    "Filesystem total free file nodes."
);
family!(
    Container,
    READONLY,
    "node_filesystem_readonly",
    Gauge,
    "",
    "Filesystem read-only status."
);
family!(
    Container,
    DEVICE_ERROR,
    "node_filesystem_device_error",
    Gauge,
    "",
    "Whether an error occurred while getting statistics for the given device."
);

/// Upstream node_exporter's defaults (`--collector.filesystem.mount-points-exclude`,
/// `fs-types-exclude`). Debian's package also leaves out /mnt, /media and all of /run; on
/// EMR and Databricks data disks are mounted under /mnt, so upstream's choice is kept.
static EXCLUDED_MOUNT_POINTS: Lazy<Regex> = Lazy::new(|| {
    Regex::new(
        r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)",
    )
    .expect("valid regex")
});
static EXCLUDED_FS_TYPES: Lazy<Regex> = Lazy::new(|| {
    Regex::new(
        r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$",
    )
    .expect("valid regex")
});

#[derive(Debug, PartialEq)]
pub struct Mount {
    pub device: String,
    pub mount_point: String,
    pub fs_type: String,
    pub read_only: bool,
}

/// node_exporter's default `--collector.filesystem.mount-timeout`; here the bound of a whole
/// collection's wait.
pub const MOUNT_TIMEOUT: Duration = Duration::from_secs(5);

/// The JVM's one guard: the node thread is one per JVM and stuck calls outlive collections.
static STATVFS: Lazy<GuardedStatvfs> =
    Lazy::new(|| GuardedStatvfs::new(statvfs, MOUNT_TIMEOUT, &crate::stats::MOUNTS_HUNG));

pub fn collect(root: &Path, out: &mut Vec<Stat>) {
    collect_with(root, out, &STATVFS)
}

fn collect_with(root: &Path, out: &mut Vec<Stat>, guard: &GuardedStatvfs) {
    // node_exporter reads init's view of the mounts, like this.
    let Some(text) = read(root, "proc/1/mounts").or_else(|| read(root, "proc/self/mounts")) else {
        return;
    };
    let mounts = parse_mounts(&text);
    let paths: Vec<PathBuf> = mounts
        .iter()
        .map(|m| root.join(m.mount_point.trim_start_matches('/')))
        .collect();
    for (mount, answer) in mounts.iter().zip(guard.call_all(&paths)) {
        let labels = |r: Stat| {
            r.with(names::DEVICE, mount.device.clone())
                .with(names::FSTYPE, mount.fs_type.clone())
                .with(names::MOUNTPOINT, mount.mount_point.clone())
        };
        match answer {
            Some(s) => {
                for (f, v) in [
                    (&SIZE, s.size),
                    (&FREE, s.free),
                    (&AVAIL, s.avail),
                    (&FILES, s.files),
                    (&FILES_FREE, s.files_free),
                ] {
                    out.push(labels(Stat::new(f, v)));
                }
                out.push(labels(Stat::new(&DEVICE_ERROR, 0.0)));
            }
            None => out.push(labels(Stat::new(&DEVICE_ERROR, 1.0))),
        }
        out.push(labels(Stat::new(
            &READONLY,
            if mount.read_only { 1.0 } else { 0.0 },
        )));
    }
}

/// The mounts node_exporter reports: excluded points and types left out, and a mount point
/// mounted over keeps only its last (visible) mount.
pub fn parse_mounts(text: &str) -> Vec<Mount> {
    let mut mounts: Vec<Mount> = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 4 {
            continue;
        }
        let mount = Mount {
            device: unescape(fields[0]),
            mount_point: unescape(fields[1]),
            fs_type: fields[2].to_string(),
            read_only: fields[3].split(',').any(|o| o == "ro"),
        };
        if EXCLUDED_MOUNT_POINTS.is_match(&mount.mount_point)
            || EXCLUDED_FS_TYPES.is_match(&mount.fs_type)
        {
            continue;
        }
        mounts.retain(|m| m.mount_point != mount.mount_point);
        mounts.push(mount);
    }
    mounts
}

/// /proc/mounts writes space, tab, newline and backslash as octal escapes (`\040`).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let code =
                (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(code);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub struct FsStats {
    pub size: f64,
    pub free: f64,
    pub avail: f64,
    pub files: f64,
    pub files_free: f64,
}

/// What the guard knows of one mount point, shared with the threads of its calls.
#[derive(Default)]
struct MountState {
    /// A call is running, started by this collection or an earlier one.
    in_flight: bool,
    /// A call once outlived the wait: never waited for again.
    hangs: bool,
    /// What the last call that returned brought (None: it failed), not used yet.
    answer: Option<Option<FsStats>>,
}

/// The mount points' states and the signal that a call returned.
type Mounts = (Mutex<HashMap<PathBuf, MountState>>, Condvar);

/// `statvfs` with a time limit per collection, remembering which mount points hang.
struct GuardedStatvfs {
    /// `statvfs` itself; tests put a call that blocks here.
    statvfs: fn(&Path) -> Option<FsStats>,
    timeout: Duration,
    mounts: Arc<Mounts>,
    /// Where mounts found hanging are counted (`stats::MOUNTS_HUNG`; a test's own).
    hung: &'static AtomicU64,
}

impl GuardedStatvfs {
    fn new(
        statvfs: fn(&Path) -> Option<FsStats>,
        timeout: Duration,
        hung: &'static AtomicU64,
    ) -> GuardedStatvfs {
        GuardedStatvfs {
            statvfs,
            timeout,
            mounts: Arc::default(),
            hung,
        }
    }

    /// The figures of each path (None: failed, or no answer), waiting at most `timeout` for all
    /// of them together and not at all for a mount known to hang.
    fn call_all(&self, paths: &[PathBuf]) -> Vec<Option<FsStats>> {
        let deadline = Instant::now() + self.timeout;
        let (mounts, returned) = &*self.mounts;
        let mut mounts = lock(mounts);
        // Unmounted: forgotten, once no call of theirs is out.
        let listed: HashSet<&PathBuf> = paths.iter().collect();
        mounts.retain(|path, state| state.in_flight || listed.contains(path));
        let mut answers: Vec<Option<FsStats>> = paths.iter().map(|_| None).collect();
        let mut waited = Vec::new();
        for (index, path) in paths.iter().enumerate() {
            let state = mounts.entry(path.clone()).or_default();
            if state.hangs {
                // What its last call brought, if it returned; and ask again for the next time.
                answers[index] = state.answer.take().flatten();
                if !state.in_flight {
                    self.start(path, state);
                }
            } else if !state.in_flight {
                state.answer = None;
                if self.start(path, state) {
                    waited.push(index);
                }
            }
        }
        loop {
            let all_returned = waited
                .iter()
                .all(|&i| mounts.get(&paths[i]).is_none_or(|s| s.answer.is_some()));
            let left = deadline.saturating_duration_since(Instant::now());
            if all_returned || left.is_zero() {
                break;
            }
            mounts = returned
                .wait_timeout(mounts, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        for index in waited {
            let path = &paths[index];
            let Some(state) = mounts.get_mut(path) else {
                continue;
            };
            match state.answer.take() {
                Some(answer) => answers[index] = answer,
                None => {
                    state.hangs = true;
                    self.hung.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        "statvfs on {} has not returned after {:?} (a hard NFS mount whose server is gone?): \
                         its node_filesystem_device_error is 1 and it is never waited for again (each collection \
                         asks it in the background and reports what the last answer brought); counted in \
                         sparkprom_node_mounts_hung_total. Bring its server back or unmount it",
                        path.display(),
                        self.timeout
                    );
                }
            }
        }
        answers
    }

    /// Starts a call on `path`; its thread leaves the answer in the path's state. False when
    /// no thread could be started.
    fn start(&self, path: &Path, state: &mut MountState) -> bool {
        let (statvfs, owned, mounts) = (self.statvfs, path.to_path_buf(), Arc::clone(&self.mounts));
        let started = spawn_helper("sparkprom-statvfs", move || {
            let answer = statvfs(&owned);
            let (states, returned) = &*mounts;
            if let Some(state) = lock(states).get_mut(&owned) {
                state.in_flight = false;
                state.answer = Some(answer);
            }
            returned.notify_all();
        });
        match started {
            Ok(()) => state.in_flight = true,
            Err(e) => tracing::debug!(
                "statvfs on {}: cannot start its thread: {e}",
                path.display()
            ),
        }
        state.in_flight
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn statvfs(path: &Path) -> Option<FsStats> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid NUL-terminated path and a zeroed struct the call fills in.
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut s) } != 0 {
        return None;
    }
    let frsize = s.f_frsize as f64;
    Some(FsStats {
        size: s.f_blocks as f64 * frsize,
        free: s.f_bfree as f64 * frsize,
        avail: s.f_bavail as f64 * frsize,
        files: s.f_files as f64,
        files_free: s.f_ffree as f64,
    })
}

/// Every family this module declares, for docs/metrics-reference.md (`node::reference`).
pub const FAMILIES: &[&NodeFamily] = &[
    &SIZE,
    &FREE,
    &AVAIL,
    &FILES,
    &FILES_FREE,
    &READONLY,
    &DEVICE_ERROR,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_exclusions_and_escapes_apply() {
        let text = "proc /proc proc rw 0 0\n/dev/vda1 / ext4 rw,relatime 0 0\ntmpfs /dev/shm tmpfs rw 0 0\n\
                    overlay /var/lib/docker/overlay2/x/merged overlay rw 0 0\ncgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n\
                    /dev/vdb /data\\040disk xfs ro,noatime 0 0\ntmpfs /run tmpfs rw 0 0\n/dev/vdc /run ext4 rw 0 0\nshort line\n";
        let mounts = parse_mounts(text);
        let points: Vec<&str> = mounts.iter().map(|m| m.mount_point.as_str()).collect();
        assert_eq!(points, vec!["/", "/data disk", "/run"]);
        assert!(mounts[1].read_only);
        assert_eq!(
            mounts[2].device, "/dev/vdc",
            "the last mount on a point is the visible one"
        );
    }

    /// A hung NFS server as a test sees it: a call on a path with "stuck" in it blocks until the
    /// test opens the gate; calls that start after an opening block until the next one. Counts
    /// the calls made on such paths.
    #[derive(Default)]
    struct Gate {
        openings: Mutex<u64>,
        opened: std::sync::Condvar,
        calls: AtomicU64,
    }

    impl Gate {
        fn pass(&self, path: &Path) -> Option<FsStats> {
            if path.to_string_lossy().contains("stuck") {
                self.calls.fetch_add(1, Ordering::SeqCst);
                let mut openings = self.openings.lock().unwrap();
                let arrived = *openings;
                while *openings == arrived {
                    openings = self.opened.wait(openings).unwrap();
                }
            }
            statvfs(Path::new("/"))
        }

        fn open(&self) {
            *self.openings.lock().unwrap() += 1;
            self.opened.notify_all();
        }

        fn calls(&self) -> u64 {
            self.calls.load(Ordering::SeqCst)
        }
    }

    fn device_error(out: &[Stat], mount_point: &str) -> f64 {
        out.iter()
            .find(|s| {
                s.family.name == "node_filesystem_device_error"
                    && s.labels
                        .iter()
                        .any(|(n, v)| *n == "mountpoint" && v == mount_point)
            })
            .map(|s| s.value)
            .unwrap()
    }

    /// A root whose /proc/1/mounts lists `mounts` (device, mount point, type).
    fn mounts_root(mounts: &[(&str, &str, &str)]) -> tempdir::Root {
        let root = tempdir::Root::new();
        let text: String = mounts
            .iter()
            .map(|(device, point, fs_type)| format!("{device} {point} {fs_type} rw 0 0\n"))
            .collect();
        root.write("proc/1/mounts", &text);
        root
    }

    /// Waits until no call of `guard` is out (the gate was opened).
    fn until_returned(guard: &GuardedStatvfs) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while lock(&guard.mounts.0).values().any(|s| s.in_flight) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    use crate::node::cgroup::tempdir;

    #[test]
    fn a_stuck_mount_is_skipped_reported_and_not_called_again_until_it_returns() {
        static GATE: Lazy<Gate> = Lazy::new(Gate::default);
        static HUNG: AtomicU64 = AtomicU64::new(0);
        let root = mounts_root(&[
            ("/dev/vda1", "/", "ext4"),
            ("nfs:/export", "/mnt/stuck", "nfs4"),
            ("/dev/vdb", "/data", "xfs"),
        ]);
        // A timeout far above what a collection takes, so that the bounds below tell waiting
        // from not waiting on a loaded CI machine (and under qemu).
        let guard = GuardedStatvfs::new(|p| GATE.pass(p), Duration::from_secs(2), &HUNG);

        let started = Instant::now();
        let mut first = Vec::new();
        collect_with(root.path(), &mut first, &guard);
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "waited {:?}",
            started.elapsed()
        );
        assert_eq!(device_error(&first, "/mnt/stuck"), 1.0);
        assert_eq!(
            device_error(&first, "/"),
            0.0,
            "the mounts around it are read"
        );
        assert_eq!(device_error(&first, "/data"), 0.0);
        assert!(first
            .iter()
            .any(|s| s.family.name == "node_filesystem_size_bytes"
                && s.labels
                    .iter()
                    .any(|(n, v)| *n == "mountpoint" && v == "/data")));
        assert_eq!(HUNG.load(Ordering::SeqCst), 1);

        // While the first call hangs, later collections neither wait nor call it again.
        let started = Instant::now();
        let mut second = Vec::new();
        collect_with(root.path(), &mut second, &guard);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "waited {:?}",
            started.elapsed()
        );
        assert_eq!(device_error(&second, "/mnt/stuck"), 1.0);
        assert_eq!(GATE.calls(), 1);

        // The server comes back: the hung call returns and what it brought is reported.
        GATE.open();
        until_returned(&guard);
        let mut third = Vec::new();
        collect_with(root.path(), &mut third, &guard);
        assert_eq!(device_error(&third, "/mnt/stuck"), 0.0);
        let deadline = Instant::now() + Duration::from_secs(5);
        while GATE.calls() < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(GATE.calls(), 2, "and it is asked again, in the background");
        assert_eq!(HUNG.load(Ordering::SeqCst), 1, "named and counted once");
        GATE.open();
    }

    /// Four hard NFS mounts gone at once cost a collection one timeout, not four; and a mount
    /// that hung once is never waited for again, even after its call returned.
    #[test]
    fn stuck_mounts_cost_one_wait_together_and_a_mount_known_to_hang_none() {
        static GATE: Lazy<Gate> = Lazy::new(Gate::default);
        static HUNG: AtomicU64 = AtomicU64::new(0);
        let mut mounts = vec![("/dev/vda1", "/", "ext4")];
        let points = ["/mnt/stuck1", "/mnt/stuck2", "/mnt/stuck3", "/mnt/stuck4"];
        mounts.extend(points.iter().map(|p| ("nfs:/export", *p, "nfs4")));
        let root = mounts_root(&mounts);
        let timeout = Duration::from_secs(2);
        let guard = GuardedStatvfs::new(|p| GATE.pass(p), timeout, &HUNG);

        let started = Instant::now();
        let mut first = Vec::new();
        collect_with(root.path(), &mut first, &guard);
        let waited = started.elapsed();
        assert!(
            waited >= timeout && waited < timeout * 2,
            "one collection waited {waited:?} for four stuck mounts"
        );
        for point in points {
            assert_eq!(device_error(&first, point), 1.0, "{point}");
        }
        assert_eq!(device_error(&first, "/"), 0.0);
        assert_eq!(HUNG.load(Ordering::SeqCst), 4);

        // The calls return; the next ones hang again: not waited for, and what came back is
        // reported meanwhile.
        GATE.open();
        until_returned(&guard);
        let started = Instant::now();
        let mut second = Vec::new();
        collect_with(root.path(), &mut second, &guard);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "waited {:?} for mounts known to hang",
            started.elapsed()
        );
        assert_eq!(device_error(&second, "/mnt/stuck1"), 0.0);
        let started = Instant::now();
        let mut third = Vec::new();
        collect_with(root.path(), &mut third, &guard);
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(device_error(&third, "/mnt/stuck1"), 1.0);
        // The second collection's four calls, and no more: one call out per mount at a time.
        let deadline = Instant::now() + Duration::from_secs(5);
        while GATE.calls() < 8 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(GATE.calls(), 8);
        assert_eq!(
            HUNG.load(Ordering::SeqCst),
            4,
            "each named and counted once"
        );
        GATE.open();
    }

    #[test]
    fn statvfs_of_the_root_filesystem_is_plausible() {
        let s = statvfs(Path::new("/")).unwrap();
        assert!(s.size > 0.0 && s.avail <= s.free && s.free <= s.size);
        assert!(statvfs(Path::new("/no/such/mount")).is_none());
    }
}
