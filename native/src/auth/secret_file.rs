//! A secret kept in a file (a bearer token, a password, a web identity token): read when first
//! needed and again whenever the file changes, because Kubernetes and Vault agents rotate
//! mounted secrets in place. Errors name the property and the path, never the content.

use std::sync::Mutex;
use std::time::SystemTime;

pub struct SecretFile {
    property: &'static str,
    path: String,
    /// The file's (modification time, length) when it was read, and what it held.
    cached: Mutex<Option<((SystemTime, u64), String)>>,
}

impl SecretFile {
    pub fn new(property: &'static str, path: &str) -> SecretFile {
        SecretFile {
            property,
            path: path.to_string(),
            cached: Mutex::new(None),
        }
    }

    /// The secret, trimmed of surrounding whitespace (files usually end with a newline). One
    /// `stat` per call; the file is read only when it changed.
    pub fn current(&self) -> Result<String, String> {
        let unreadable =
            |e: std::io::Error| format!("cannot read {} '{}': {e}", self.property, self.path);
        // metadata() follows symbolic links, so a swapped ..data link (how Kubernetes rotates a
        // mounted secret) shows as a change.
        let meta = std::fs::metadata(&self.path).map_err(unreadable)?;
        let stamp = (
            meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            meta.len(),
        );
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((seen, secret)) = cached.as_ref() {
            if *seen == stamp {
                return Ok(secret.clone());
            }
        }
        let text = std::fs::read_to_string(&self.path).map_err(unreadable)?;
        let secret = text.trim().to_string();
        if secret.is_empty() {
            return Err(format!("{} '{}' is empty", self.property, self.path));
        }
        *cached = Some((stamp, secret.clone()));
        Ok(secret)
    }
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
}
