//! Writes what a report pushes in Prometheus' text exposition format, when the `textfile`
//! property names a file: to see exactly what goes out, to lint it with `promtool check
//! metrics`, or for node_exporter's textfile collector. Written whole to a temporary file and
//! renamed, so a reader never sees half a report. Written on a helper thread and waited for at
//! most [`WRITE_TIMEOUT`], like every file operation that a hung mount can block: the ingest
//! thread goes on without it.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use once_cell::sync::Lazy;

use crate::identity::Identity;
use crate::sample::MetricType;
use crate::sample::{is_stale, Sample};

/// Fills `{app_id}`, `{executor_id}`, `{role}` and `{pid}` in the configured path, so the JVMs
/// of one host can share one setting.
pub fn expand_path(template: &str, identity: &Identity, role: &str) -> PathBuf {
    let executor = if identity.executor_id.is_empty() {
        "unknown"
    } else {
        &identity.executor_id
    };
    PathBuf::from(
        template
            .replace("{app_id}", &identity.app_id)
            .replace("{executor_id}", executor)
            .replace("{role}", role)
            .replace("{pid}", &std::process::id().to_string()),
    )
}

/// One report's samples as exposition text: each family's HELP and TYPE, then its series, each
/// once with its newest sample (a report can carry more than one of a series: the synthetic first
/// `0` before its value, or a stale marker before it starts again; the format allows one). A
/// series whose newest sample is a stale marker ended and is left out: the text format has no way
/// to say "ended".
pub fn render(samples: &[Sample]) -> String {
    let newest = newest_of_each_series(samples);
    let mut out = String::new();
    let mut families: Vec<&str> = Vec::new();
    let mut by_family: std::collections::HashMap<&str, Vec<&Sample>> = Default::default();
    let shown = samples
        .iter()
        .filter(|s| std::ptr::eq(newest[s.series.key.as_slice()], *s) && !is_stale(s.value));
    for s in shown {
        let name = s.series.family.name.as_str();
        by_family.entry(name).or_insert_with(|| {
            families.push(name);
            Vec::new()
        });
        by_family.get_mut(name).expect("just inserted").push(s);
    }
    for name in families {
        let list = &by_family[name];
        let family = &list[0].series.family;
        let _ = writeln!(out, "# HELP {name} {}", escape_help(&family.help));
        let _ = writeln!(out, "# TYPE {name} {}", type_name(family.metric_type));
        for s in list {
            let mut metric = String::new();
            let mut labels = Vec::new();
            for l in &s.series.labels {
                if l.name == "__name__" {
                    metric = l.value.clone();
                } else {
                    labels.push(format!("{}=\"{}\"", l.name, escape_label(&l.value)));
                }
            }
            let _ = writeln!(
                out,
                "{metric}{{{}}} {}",
                labels.join(","),
                format_value(s.value)
            );
        }
    }
    out
}

/// Per label set, its newest sample: the latest timestamp, and of equal ones the last given.
fn newest_of_each_series(samples: &[Sample]) -> std::collections::HashMap<&[u8], &Sample> {
    let mut newest: std::collections::HashMap<&[u8], &Sample> = Default::default();
    for s in samples {
        let kept = newest.entry(s.series.key.as_slice()).or_insert(s);
        if s.timestamp_ms >= kept.timestamp_ms {
            *kept = s;
        }
    }
    newest
}

/// How long a report's textfile write may take: as long as a secret file's read may.
pub const WRITE_TIMEOUT: Duration = crate::threads::FILE_READ_TIMEOUT;

/// Why a report's textfile was not written (the WARN is logged here).
#[derive(Debug, PartialEq)]
pub enum NotWritten {
    Failed,
    /// It did not finish within WRITE_TIMEOUT, or an earlier write of the file still has not.
    TimedOut,
}

/// Files with a write out, JVM-wide: on a hung mount the write never returns, and the reports
/// after it must neither wait for it nor pile up threads behind it.
static WRITING: Lazy<Mutex<HashSet<PathBuf>>> = Lazy::new(Default::default);
/// Files whose hung write was warned about: one WARN per file however long the mount hangs.
static WARNED: Lazy<Mutex<HashSet<PathBuf>>> = Lazy::new(Default::default);

/// Writes `text` to `path` (`write_atomically`), waiting at most WRITE_TIMEOUT.
pub fn write_within(path: &Path, text: String) -> Result<(), NotWritten> {
    write_with(path, text, WRITE_TIMEOUT, write_atomically)
}

/// `write_within` with the writer and the wait given; tests give a writer that hangs.
fn write_with(
    path: &Path,
    text: String,
    timeout: Duration,
    write: fn(&Path, &str) -> std::io::Result<()>,
) -> Result<(), NotWritten> {
    if !lock(&WRITING).insert(path.to_path_buf()) {
        return Err(NotWritten::TimedOut);
    }
    let owned = path.to_path_buf();
    let written = crate::threads::call_within("sparkprom-textfile", timeout, move || {
        let written = write(&owned, &text);
        lock(&WRITING).remove(&owned);
        written
    });
    let error = match written {
        crate::threads::Within::Done(Ok(())) => return Ok(()),
        crate::threads::Within::Done(Err(e)) => e,
        crate::threads::Within::NoThread(e) => {
            lock(&WRITING).remove(path);
            e
        }
        crate::threads::Within::TimedOut => {
            if lock(&WARNED).insert(path.to_path_buf()) {
                tracing::warn!(
                    "writing the textfile {} did not finish within {timeout:?} (a hung NFS or FUSE mount?): reports \
                     go on without it, and leave the file alone until that write returns; counted in \
                     sparkprom_textfile_writes_failed_total{{reason=\"timed_out\"}}. Point 'textfile' at a local disk",
                    path.display()
                );
            }
            return Err(NotWritten::TimedOut);
        }
    };
    tracing::warn!("cannot write the textfile {}: {error}", path.display());
    Err(NotWritten::Failed)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    // A fresh name in the target's directory, created exclusively and never through a link:
    // a predictable name in a shared directory (/tmp) would let another user plant a symlink
    // and have the JVM overwrite whatever it points to.
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(
        ".{name}.{}.{}.{}.tmp",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        crate::stats::now_ms()
    ));
    let written = create_fresh(&tmp)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Creates `path` for writing: only if nothing is there (O_EXCL) and never through a link
/// (O_NOFOLLOW), so a link planted at the name cannot redirect the write.
fn create_fresh(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(0o644)
        .open(path)
}

fn type_name(t: MetricType) -> &'static str {
    match t {
        MetricType::Counter => "counter",
        MetricType::Gauge => "gauge",
        MetricType::Summary => "summary",
        MetricType::Histogram => "histogram",
    }
}

fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::Label;
    use crate::sample::{Family, Series, STALE_NAN};
    use std::sync::Arc;

    #[test]
    fn renders_help_type_and_escaped_labels_and_leaves_ended_series_out() {
        let family = Arc::new(Family {
            name: "spark_x_total".into(),
            metric_type: MetricType::Counter,
            unit: "",
            help: "Spark metric x".into(),
        });
        let labels = |v: &str| {
            vec![
                Label {
                    name: "__name__".into(),
                    value: "spark_x_total".into(),
                },
                Label {
                    name: "app_name".into(),
                    value: v.into(),
                },
            ]
        };
        let a = Arc::new(Series::new(labels("say \"hi\"\\"), Arc::clone(&family)));
        let b = Arc::new(Series::new(labels("b"), Arc::clone(&family)));
        let c = Arc::new(Series::new(labels("c"), family));
        let samples = vec![
            Sample {
                series: a,
                timestamp_ms: 1,
                value: 2.5,
            },
            Sample {
                series: Arc::clone(&b),
                timestamp_ms: 1,
                value: f64::INFINITY,
            },
            Sample {
                series: b,
                timestamp_ms: 2,
                value: STALE_NAN,
            },
            Sample {
                series: c,
                timestamp_ms: 2,
                value: 4.0,
            },
        ];
        assert_eq!(
            render(&samples),
            "# HELP spark_x_total Spark metric x\n# TYPE spark_x_total counter\n\
             spark_x_total{app_name=\"say \\\"hi\\\"\\\\\"} 2.5\nspark_x_total{app_name=\"c\"} 4\n"
        );
    }

    /// A report with more than one sample of a series (a counter's synthetic first 0 and its value;
    /// a series ended and started again, as a new Series of the same labels) renders it once, with
    /// its newest value: the text format refuses a series twice.
    #[test]
    fn each_series_is_rendered_once_with_its_newest_value() {
        let family = Arc::new(Family {
            name: "spark_y_total".into(),
            metric_type: MetricType::Counter,
            unit: "",
            help: "y".into(),
        });
        let series = |query: &str| {
            let labels = vec![
                Label {
                    name: "__name__".into(),
                    value: "spark_y_total".into(),
                },
                Label {
                    name: "query".into(),
                    value: query.into(),
                },
            ];
            Arc::new(Series::new(labels, Arc::clone(&family)))
        };
        let sample = |series: &Arc<Series>, timestamp_ms, value| Sample {
            series: Arc::clone(series),
            timestamp_ms,
            value,
        };
        let (first, ended, restarted) = (series("a"), series("b"), series("b"));
        let samples = vec![
            sample(&ended, 9, STALE_NAN),
            sample(&first, 9, 0.0),
            sample(&restarted, 9, 0.0),
            sample(&first, 10, 3.0),
            sample(&restarted, 10, 7.0),
        ];
        assert_eq!(
            render(&samples),
            "# HELP spark_y_total y\n# TYPE spark_y_total counter\n\
             spark_y_total{query=\"a\"} 3\nspark_y_total{query=\"b\"} 7\n"
        );
    }

    /// Until the test lets it go, a write hangs, as one on a hung NFS or FUSE mount does.
    static HANG: Lazy<(Mutex<bool>, std::sync::Condvar)> = Lazy::new(Default::default);
    static HUNG_WRITES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    fn hanging_write(path: &Path, text: &str) -> std::io::Result<()> {
        HUNG_WRITES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let (released, wake) = &*HANG;
        let mut released = released.lock().unwrap();
        while !*released {
            released = wake.wait(released).unwrap();
        }
        write_atomically(path, text)
    }

    /// A write on a hung mount costs the report at most the timeout, and later reports nothing:
    /// no wait and no second thread while it hangs. Writes resume once it returns.
    #[test]
    fn a_hung_write_is_given_up_in_time_and_not_tried_again_while_it_hangs() {
        let dir =
            std::env::temp_dir().join(format!("sparkprom-hung-textfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.prom");
        let timeout = Duration::from_millis(500);

        let started = std::time::Instant::now();
        let first = write_with(&path, "a 1\n".into(), timeout, hanging_write);
        let waited = started.elapsed();
        assert_eq!(first, Err(NotWritten::TimedOut));
        assert!(waited < timeout * 3, "waited {waited:?}");
        assert!(lock(&WARNED).contains(&path));

        let started = std::time::Instant::now();
        let second = write_with(&path, "a 2\n".into(), timeout, hanging_write);
        assert_eq!(second, Err(NotWritten::TimedOut));
        assert!(started.elapsed() < timeout, "no wait while the write hangs");
        assert_eq!(HUNG_WRITES.load(std::sync::atomic::Ordering::SeqCst), 1);

        // The mount comes back: the late write lands, and the next ones are written again.
        *HANG.0.lock().unwrap() = true;
        HANG.1.notify_all();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while lock(&WRITING).contains(&path) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(
            write_with(&path, "a 3\n".into(), timeout, write_atomically),
            Ok(())
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a 3\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_temporary_file_follows_no_planted_link() {
        let dir = std::env::temp_dir().join(format!("sparkprom-textfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let victim = dir.join("victim");
        std::fs::write(&victim, "keep me").unwrap();
        let path = dir.join("out.prom");
        // A link planted at the very name the temporary file gets is refused, not followed.
        let planted = dir.join(".out.prom.planted.tmp");
        let _ = std::fs::remove_file(&planted);
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        assert!(create_fresh(&planted).is_err());
        std::fs::remove_file(&planted).unwrap();
        write_atomically(&path, "a 1\n").unwrap();
        write_atomically(&path, "a 2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a 2\n");
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "temporary files left: {left:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
