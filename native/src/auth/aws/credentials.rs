//! AWS credentials and the cache that renews them before they expire.
//!
//! The cache is asked for credentials on the sender thread before each request, never on
//! Spark's reporting thread: a slow STS or IMDS answer delays a send, not a report.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use super::sources::Source;

#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
    /// None for long-term keys (from the environment).
    pub expires: Option<SystemTime>,
}

/// Only the access key id (not a secret; it is what AWS's own logs show) is printed.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires", &self.expires)
            .finish()
    }
}

/// Temporary credentials are renewed this long before they expire, as the AWS SDKs for Java
/// and Python do: long enough for a few failed attempts, short against their usual hour.
pub const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

/// After a failed renewal while the old credentials still hold, wait this long before the next
/// attempt instead of asking again for every request.
const RETRY_RENEWAL_AFTER: Duration = Duration::from_secs(10);

impl Credentials {
    fn expires_within(&self, margin: Duration, now: SystemTime) -> bool {
        self.expires.is_some_and(|at| at <= now + margin)
    }
}

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

/// An ISO 8601 / RFC 3339 time as STS and IMDS write expirations (`2026-11-21T10:00:00Z`).
pub fn parse_expiration(text: &str) -> Result<SystemTime, String> {
    let parsed =
        time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
            .map_err(|e| format!("expiration '{text}' is not an RFC 3339 time: {e}"))?;
    let nanos = parsed.unix_timestamp_nanos();
    let since_epoch =
        u64::try_from(nanos).map_err(|_| format!("expiration '{text}' is before 1970"))?;
    Ok(SystemTime::UNIX_EPOCH + Duration::from_nanos(since_epoch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_secret_and_token() {
        let c = Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "very-secret".into(),
            session_token: Some("token-secret".into()),
            expires: None,
        };
        let text = format!("{c:?}");
        assert!(text.contains("AKIDEXAMPLE"));
        assert!(
            !text.contains("very-secret") && !text.contains("token-secret"),
            "{text}"
        );
    }

    #[test]
    fn expirations_as_sts_and_imds_write_them() {
        let at = parse_expiration("2026-11-21T10:00:00Z").unwrap();
        let secs = at.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(secs, 1_795_255_200);
        let fractional = parse_expiration("2026-11-21T10:00:00.500Z").unwrap();
        assert_eq!(
            fractional.duration_since(at).unwrap(),
            Duration::from_millis(500)
        );
        assert!(parse_expiration("tomorrow").is_err());
    }
}
