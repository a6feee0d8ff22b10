//! AWS credentials as the sources hand them over, and how their expirations are read.

use std::fmt;
use std::time::{Duration, SystemTime};

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

impl Credentials {
    /// Whether they expire within `margin` of `now` (never, for long-term keys).
    pub fn expires_within(&self, margin: Duration, now: SystemTime) -> bool {
        self.expires.is_some_and(|at| at <= now + margin)
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
