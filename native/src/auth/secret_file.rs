//! A secret kept in a file (a bearer token, a password, a web identity token): read when first
//! needed and again whenever the file changes, because Kubernetes and Vault agents rotate
//! mounted secrets in place. Errors name the property and the path, never the content.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::threads::{Within, FILE_READ_TIMEOUT};

pub struct SecretFile {
    property: &'static str,
    path: String,
    /// The file's (modification time, length) when it was read, and what it held.
    cached: Mutex<Option<((SystemTime, u64), String)>>,
    /// A look at the file has not returned yet (a hung mount): no further thread is started.
    stuck: Arc<AtomicBool>,
}

impl SecretFile {
    pub fn new(property: &'static str, path: &str) -> SecretFile {
        SecretFile {
            property,
            path: path.to_string(),
            cached: Mutex::new(None),
            stuck: Arc::default(),
        }
    }

    /// Where the secret is kept (a path, never the secret).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The secret, trimmed of surrounding whitespace (files usually end with a newline). One
    /// `stat` per call; the file is read only when it changed. Both are done on a helper thread
    /// and waited for at most `threads::FILE_READ_TIMEOUT` (a secret on a hung FUSE mount such as
    /// /dbfs must not hold the sink's start or a request); while one is still stuck, no other
    /// is started.
    pub fn current(&self) -> Result<String, String> {
        let unreadable = |e: String| format!("cannot read {} '{}': {e}", self.property, self.path);
        if self.stuck.swap(true, Ordering::Relaxed) {
            return Err(unreadable(
                "an earlier attempt has not returned yet (a hung mount?)".into(),
            ));
        }
        let known = self
            .cached
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|(stamp, _)| *stamp);
        let (path, stuck) = (self.path.clone(), Arc::clone(&self.stuck));
        let look = crate::threads::call_within("sparkprom-secret", FILE_READ_TIMEOUT, move || {
            let found = look_at(&path, known);
            stuck.store(false, Ordering::Relaxed);
            found
        });
        let (stamp, read) = match look {
            Within::Done(found) => found.map_err(|e| unreadable(e.to_string()))?,
            Within::TimedOut => {
                return Err(unreadable(format!(
                    "it did not answer within {FILE_READ_TIMEOUT:?} (a hung NFS or FUSE mount?)"
                )))
            }
            Within::NoThread(e) => {
                self.stuck.store(false, Ordering::Relaxed);
                return Err(unreadable(format!("cannot start a thread to read it: {e}")));
            }
        };
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        let Some(bytes) = read else {
            if let Some((_, secret)) = cached.as_ref() {
                return Ok(secret.clone());
            }
            return Err(unreadable("it changed while it was read".into()));
        };
        let text =
            String::from_utf8(bytes).map_err(|_| unreadable("it is not UTF-8 text".into()))?;
        let secret = text.trim().to_string();
        if secret.is_empty() {
            return Err(format!("{} '{}' is empty", self.property, self.path));
        }
        *cached = Some((stamp, secret.clone()));
        Ok(secret)
    }
}

/// A file's (modification time, length): a change of either means it was rewritten.
type Stamp = (SystemTime, u64);

/// The file's stamp, and its bytes unless the stamp is `known`.
/// metadata() follows symbolic links, so a swapped ..data link (how Kubernetes rotates a mounted
/// secret) shows as a change.
fn look_at(path: &str, known: Option<Stamp>) -> std::io::Result<(Stamp, Option<Vec<u8>>)> {
    let meta = std::fs::metadata(path)?;
    let stamp = (
        meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        meta.len(),
    );
    if known == Some(stamp) {
        return Ok((stamp, None));
    }
    Ok((stamp, Some(std::fs::read(path)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rewritten_file_is_read_again() {
        let dir = std::env::temp_dir().join(format!("sparkprom-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        std::fs::write(&path, "first\n").unwrap();
        let secret = SecretFile::new("bearerTokenFile", path.to_str().unwrap());
        assert_eq!(secret.current().unwrap(), "first");
        // A different length is a change even when the clock's resolution hides the new mtime.
        std::fs::write(&path, "second-token\n").unwrap();
        assert_eq!(secret.current().unwrap(), "second-token");
        std::fs::write(&path, "\n").unwrap();
        let err = secret.current().unwrap_err();
        assert!(
            err.contains("bearerTokenFile") && err.contains("empty"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        let err = secret.current().unwrap_err();
        assert!(err.contains("cannot read bearerTokenFile"), "{err}");
    }

    #[test]
    fn a_secret_on_a_mount_that_hangs_fails_in_time_and_is_not_asked_again_meanwhile() {
        // A FIFO without a writer blocks open() forever, as a hung FUSE daemon does.
        let path =
            std::env::temp_dir().join(format!("sparkprom-secret-fifo-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let c_path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let secret = SecretFile::new("bearerTokenFile", path.to_str().unwrap());
        let started = std::time::Instant::now();
        let err = secret.current().unwrap_err();
        assert!(started.elapsed() < FILE_READ_TIMEOUT + std::time::Duration::from_secs(1));
        assert!(
            err.contains("bearerTokenFile") && err.contains("did not answer"),
            "{err}"
        );
        let again = std::time::Instant::now();
        let err = secret.current().unwrap_err();
        assert!(
            again.elapsed() < std::time::Duration::from_millis(100),
            "no second wait"
        );
        assert!(err.contains("has not returned yet"), "{err}");
        // Let the stuck thread go.
        let _ = std::fs::OpenOptions::new().write(true).open(&path);
        std::fs::remove_file(&path).unwrap();
    }
}
