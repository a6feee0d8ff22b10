//! Filesystem sizes of the mounted filesystems, as node_exporter's filesystem collector with its
//! default exclusions: `statvfs` on each mount point listed in `/proc/1/mounts`.

use std::path::Path;

use once_cell::sync::Lazy;
use regex::Regex;

use super::{family, read, Stat};

family!(
    SIZE,
    "node_filesystem_size_bytes",
    Gauge,
    "bytes",
    "Filesystem size in bytes."
);
family!(
    FREE,
    "node_filesystem_free_bytes",
    Gauge,
    "bytes",
    "Filesystem free space in bytes."
);
family!(
    AVAIL,
    "node_filesystem_avail_bytes",
    Gauge,
    "bytes",
    "Filesystem space available to non-root users in bytes."
);
family!(
    FILES,
    "node_filesystem_files",
    Gauge,
    "",
    "Filesystem total file nodes."
);
family!(
    FILES_FREE,
    "node_filesystem_files_free",
    Gauge,
    "",
    "Filesystem total free file nodes."
);
family!(
    READONLY,
    "node_filesystem_readonly",
    Gauge,
    "",
    "Filesystem read-only status."
);
family!(
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

pub fn collect(root: &Path, out: &mut Vec<Stat>) {
    // node_exporter reads init's view of the mounts, like this.
    let Some(text) = read(root, "proc/1/mounts").or_else(|| read(root, "proc/self/mounts")) else {
        return;
    };
    for mount in parse_mounts(&text) {
        let path = root.join(mount.mount_point.trim_start_matches('/'));
        let labels = |r: Stat| {
            r.with("device", mount.device.clone())
                .with("fstype", mount.fs_type.clone())
                .with("mountpoint", mount.mount_point.clone())
        };
        match statvfs(&path) {
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

    #[test]
    fn statvfs_of_the_root_filesystem_is_plausible() {
        let s = statvfs(Path::new("/")).unwrap();
        assert!(s.size > 0.0 && s.avail <= s.free && s.free <= s.size);
        assert!(statvfs(Path::new("/no/such/mount")).is_none());
    }
}
