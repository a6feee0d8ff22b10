//! Filesystem sizes of the mounted filesystems, as node_exporter's filesystem collector with its
//! default exclusions: `statvfs` on each mount point listed in `/proc/1/mounts`.
//!
//! A hard NFS mount whose server is gone blocks `statvfs` for ever. As node_exporter does, each
//! call runs on a thread of its own and is waited for at most [`MOUNT_TIMEOUT`]; a mount whose
//! call has not returned is stuck: it is reported with `device_error` 1, warned about once and
//! not called again until that call returns. The node thread never blocks on a mount.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::threads::{call_within, Within};
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

/// node_exporter's default `--collector.filesystem.mount-timeout`.
pub const MOUNT_TIMEOUT: Duration = Duration::from_secs(5);

/// The JVM's one guard: the node thread is one per JVM and stuck calls outlive collections.
static STATVFS: Lazy<GuardedStatvfs> = Lazy::new(|| GuardedStatvfs::new(statvfs, MOUNT_TIMEOUT));

pub fn collect(root: &Path, out: &mut Vec<Stat>) {
    collect_with(root, out, &STATVFS)
}

fn collect_with(root: &Path, out: &mut Vec<Stat>, guard: &GuardedStatvfs) {
    // node_exporter reads init's view of the mounts, like this.
    let Some(text) = read(root, "proc/1/mounts").or_else(|| read(root, "proc/self/mounts")) else {
        return;
    };
    for mount in parse_mounts(&text) {
        let path = root.join(mount.mount_point.trim_start_matches('/'));
        let labels = |r: Stat| {
            r.with(names::DEVICE, mount.device.clone())
                .with(names::FSTYPE, mount.fs_type.clone())
                .with(names::MOUNTPOINT, mount.mount_point.clone())
        };
        match guard.call(&path) {
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

/// What a statvfs call that may hang came back with.
enum Answer {
    Stats(FsStats),
    Failed,
    /// Still running from this or an earlier collection.
    Stuck,
}

/// `statvfs` with a time limit, remembering which mount points are stuck.
struct GuardedStatvfs {
    /// `statvfs` itself; tests put a call that blocks here.
    statvfs: fn(&Path) -> Option<FsStats>,
    timeout: Duration,
    /// Mount points with a call in flight: inserted before a call starts, removed by the call's
    /// thread when it returns, however late.
    in_flight: Arc<Mutex<HashSet<PathBuf>>>,
    /// Mount points already warned about, so a mount stuck for days is one WARN line.
    warned: Mutex<HashSet<PathBuf>>,
}

impl GuardedStatvfs {
    fn new(statvfs: fn(&Path) -> Option<FsStats>, timeout: Duration) -> GuardedStatvfs {
        GuardedStatvfs {
            statvfs,
            timeout,
            in_flight: Arc::default(),
            warned: Mutex::default(),
        }
    }

    fn call(&self, path: &Path) -> Option<FsStats> {
        match self.answer(path) {
            Answer::Stats(s) => Some(s),
            Answer::Failed => None,
            Answer::Stuck => {
                let first = lock(&self.warned).insert(path.to_path_buf());
                if first {
                    tracing::warn!(
                        "statvfs on {} has not returned after {:?} (a hard NFS mount whose server is gone?): \
                         its node_filesystem_device_error is 1 and it is not asked again until that call returns; \
                         bring its server back or unmount it",
                        path.display(),
                        self.timeout
                    );
                }
                None
            }
        }
    }

    fn answer(&self, path: &Path) -> Answer {
        if !lock(&self.in_flight).insert(path.to_path_buf()) {
            return Answer::Stuck;
        }
        let (statvfs, owned, in_flight) = (
            self.statvfs,
            path.to_path_buf(),
            Arc::clone(&self.in_flight),
        );
        let answer = call_within("sparkprom-statvfs", self.timeout, move || {
            let stats = statvfs(&owned);
            lock(&in_flight).remove(&owned);
            stats
        });
        match answer {
            Within::Done(Some(stats)) => {
                lock(&self.warned).remove(path);
                Answer::Stats(stats)
            }
            Within::Done(None) => Answer::Failed,
            Within::TimedOut => Answer::Stuck,
            Within::NoThread(e) => {
                lock(&self.in_flight).remove(path);
                tracing::debug!(
                    "statvfs on {}: cannot start its thread: {e}",
                    path.display()
                );
                Answer::Failed
            }
        }
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

    /// Released by the test; until then a call on a path ending in "stuck" blocks, as a hard
    /// NFS mount's statvfs does. Counts the calls made on it.
    static RELEASE: Lazy<(Mutex<bool>, std::sync::Condvar)> = Lazy::new(Default::default);
    static STUCK_CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    fn blocking_statvfs(path: &Path) -> Option<FsStats> {
        if path.ends_with("stuck") {
            STUCK_CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let (released, wake) = &*RELEASE;
            let mut r = released.lock().unwrap();
            while !*r {
                r = wake.wait(r).unwrap();
            }
        }
        statvfs(Path::new("/"))
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

    #[test]
    fn a_stuck_mount_is_skipped_reported_and_not_called_again_until_it_returns() {
        let root = std::env::temp_dir().join(format!("sparkprom-mounts-{}", std::process::id()));
        std::fs::create_dir_all(root.join("proc/1")).unwrap();
        std::fs::write(
            root.join("proc/1/mounts"),
            "/dev/vda1 / ext4 rw 0 0\nnfs:/export /mnt/stuck nfs4 rw,hard 0 0\n/dev/vdb /data xfs rw 0 0\n",
        )
        .unwrap();
        // A timeout far above what a collection takes, so that the bounds below tell waiting
        // from not waiting on a loaded CI machine (and under qemu).
        let guard = GuardedStatvfs::new(blocking_statvfs, Duration::from_secs(2));

        let started = std::time::Instant::now();
        let mut first = Vec::new();
        collect_with(&root, &mut first, &guard);
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

        // While the first call hangs, later collections neither wait nor call it again.
        let started = std::time::Instant::now();
        let mut second = Vec::new();
        collect_with(&root, &mut second, &guard);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "waited {:?}",
            started.elapsed()
        );
        assert_eq!(device_error(&second, "/mnt/stuck"), 1.0);
        assert_eq!(STUCK_CALLS.load(std::sync::atomic::Ordering::SeqCst), 1);

        // The server comes back: the hung call returns and the mount is read again.
        *RELEASE.0.lock().unwrap() = true;
        RELEASE.1.notify_all();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !lock(&guard.in_flight).is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut third = Vec::new();
        collect_with(&root, &mut third, &guard);
        assert_eq!(device_error(&third, "/mnt/stuck"), 0.0);
        assert_eq!(STUCK_CALLS.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert!(
            lock(&guard.warned).is_empty(),
            "a mount that recovers may be warned about again"
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn statvfs_of_the_root_filesystem_is_plausible() {
        let s = statvfs(Path::new("/")).unwrap();
        assert!(s.size > 0.0 && s.avail <= s.free && s.free <= s.size);
        assert!(statvfs(Path::new("/no/such/mount")).is_none());
    }
}
