//! The core's threads: each is named, and a panic in one is logged, not lost. The JNI boundary
//! turns a panic into a Java exception with the same message.

use std::any::Any;
use std::path::Path;
use std::thread::JoinHandle;
use std::time::Duration;

/// Spawns a named thread whose panic is logged instead of silently ending the thread.
pub fn spawn_guarded(
    name: &str,
    body: impl FnOnce() + Send + 'static,
) -> std::io::Result<JoinHandle<()>> {
    let thread_name = name.to_string();
    std::thread::Builder::new()
        .name(thread_name.clone())
        .spawn(move || {
            if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
                tracing::error!(
                    "thread {thread_name} stopped by a panic: {}",
                    panic_message(&panic)
                );
            }
        })
}

/// The text a panic was raised with.
pub fn panic_message(panic: &Box<dyn Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

/// What became of a call made on a helper thread.
pub enum Within<T> {
    Done(T),
    /// Still running when the wait ended; its thread finishes (or hangs) on its own.
    TimedOut,
    /// The helper thread could not be started.
    NoThread(std::io::Error),
}

/// Runs `call` on a small helper thread and waits at most `timeout` for it: for file-system
/// calls that a hung mount (NFS, a FUSE daemon such as Databricks' /dbfs) can block forever,
/// which must never hold a Spark thread, the SparkContext's start or a shutdown hook.
pub fn call_within<T: Send + 'static>(
    name: &str,
    timeout: Duration,
    call: impl FnOnce() -> T + Send + 'static,
) -> Within<T> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    if let Err(e) = spawn_helper(name, move || {
        let _ = tx.send(call());
    }) {
        return Within::NoThread(e);
    }
    match rx.recv_timeout(timeout) {
        Ok(value) => Within::Done(value),
        Err(_) => Within::TimedOut,
    }
}

/// Starts a helper thread for one file-system call that may hang, detached: whoever waits for
/// it decides how long.
pub fn spawn_helper(name: &str, call: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name(name.to_string())
        // File-system calls need next to no stack; the default 2 MiB would only be address space.
        .stack_size(64 * 1024)
        .spawn(call)
        .map(drop)
}

/// How long a secret or TLS file may take to read before the read counts as failed.
pub const FILE_READ_TIMEOUT: Duration = Duration::from_secs(3);

/// Reads a file, waiting at most FILE_READ_TIMEOUT; the error says why, never what it holds.
pub fn read_within(path: &Path) -> Result<Vec<u8>, String> {
    let owned = path.to_path_buf();
    match call_within("sparkprom-read", FILE_READ_TIMEOUT, move || {
        std::fs::read(owned)
    }) {
        Within::Done(Ok(bytes)) => Ok(bytes),
        Within::Done(Err(e)) => Err(e.to_string()),
        Within::TimedOut => Err(format!(
            "reading it did not finish within {:?} (a hung NFS or FUSE mount, or a pipe?)",
            FILE_READ_TIMEOUT
        )),
        Within::NoThread(e) => Err(format!("cannot start a thread to read it: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_that_hangs_is_given_up_in_time() {
        // A FIFO without a writer blocks open() forever, as a hung FUSE daemon does.
        let path = std::env::temp_dir().join(format!("sparkprom-fifo-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let c_path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let started = std::time::Instant::now();
        let error = read_within(&path).unwrap_err();
        assert!(started.elapsed() < FILE_READ_TIMEOUT + Duration::from_secs(1));
        assert!(error.contains("did not finish"), "{error}");
        // Let the stuck thread go.
        let _ = std::fs::OpenOptions::new().write(true).open(&path);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            read_within(Path::new("/proc/self/comm")).map(|b| !b.is_empty()),
            Ok(true)
        );
    }
}
