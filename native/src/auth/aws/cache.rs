//! The cache that renews AWS credentials before they expire.
//!
//! The cache is asked for credentials on the sender thread before each request, never on
//! Spark's reporting thread: a slow STS or IMDS answer delays a send, not a report.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use super::credentials::Credentials;
use super::sources::Source;

/// Temporary credentials are renewed this long before they expire, as the AWS SDKs for Java
/// and Python do: long enough for a few failed attempts, short against their usual hour.
pub const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

/// After a failed renewal while the old credentials still hold, wait this long before the next
/// attempt instead of asking again for every request.
const RETRY_RENEWAL_AFTER: Duration = Duration::from_secs(10);

pub struct CredentialCache {
    source: Source,
    state: Mutex<CacheState>,
}

#[derive(Default)]
struct CacheState {
    current: Option<Credentials>,
    /// No renewal attempt before this instant (set after a failure).
    quiet_until: Option<Instant>,
}

impl CredentialCache {
    pub fn new(source: Source) -> CredentialCache {
        CredentialCache {
            source,
            state: Mutex::new(CacheState::default()),
        }
    }

    /// Credentials to sign with now: the cached ones while they are not due for renewal,
    /// otherwise fresh ones. When renewal fails the old ones are used until they expire.
    pub fn get(&self) -> Result<Credentials, String> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = SystemTime::now();
        if let Some(current) = &state.current {
            if !current.expires_within(REFRESH_BEFORE_EXPIRY, now) {
                return Ok(current.clone());
            }
            let still_valid = !current.expires_within(Duration::ZERO, now);
            if still_valid && state.quiet_until.is_some_and(|t| Instant::now() < t) {
                return Ok(current.clone());
            }
        }
        match self.source.fetch() {
            Ok(fresh) => {
                tracing::info!(
                    "AWS credentials from {}: access key {}{}",
                    self.source.describe(),
                    fresh.access_key_id,
                    describe_expiry(fresh.expires, now)
                );
                state.current = Some(fresh.clone());
                state.quiet_until = None;
                Ok(fresh)
            }
            Err(e) => {
                state.quiet_until = Some(Instant::now() + RETRY_RENEWAL_AFTER);
                match &state.current {
                    Some(old) if !old.expires_within(Duration::ZERO, now) => {
                        tracing::warn!(
                            "cannot renew AWS credentials from {} (the current ones still hold): {e}",
                            self.source.describe()
                        );
                        Ok(old.clone())
                    }
                    _ => Err(format!(
                        "no AWS credentials from {}: {e}",
                        self.source.describe()
                    )),
                }
            }
        }
    }
}

fn describe_expiry(expires: Option<SystemTime>, now: SystemTime) -> String {
    match expires.map(|at| at.duration_since(now)) {
        Some(Ok(left)) => format!(", valid for {}s", left.as_secs()),
        Some(Err(_)) => ", already expired".to_string(),
        None => String::new(),
    }
}
