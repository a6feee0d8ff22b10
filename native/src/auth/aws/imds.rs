//! The EC2 instance profile through IMDSv2: a PUT for a session token, then the role's name and
//! its credentials, each GET carrying the token. IMDSv1 (no token) is not used: Databricks and
//! current EC2 defaults require v2, and v1 is what SSRF attacks exploit.

use reqwest::blocking::Client as HttpClient;

use super::credentials::{parse_expiration, Credentials};

pub const DEFAULT_ENDPOINT: &str = "http://169.254.169.254";

/// Six hours, the longest IMDS grants; one token serves one renewal.
const TOKEN_TTL_SECONDS: &str = "21600";

pub struct Imds {
    endpoint: String,
    http: HttpClient,
}

impl Imds {
    pub fn new(endpoint: &str, http: HttpClient) -> Imds {
        Imds {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            http,
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn fetch(&self) -> Result<Credentials, String> {
        let token = self.call(
            self.http
                .put(format!("{}/latest/api/token", self.endpoint))
                .header("X-aws-ec2-metadata-token-ttl-seconds", TOKEN_TTL_SECONDS),
            "the session token",
        )?;
        let roles_url = format!(
            "{}/latest/meta-data/iam/security-credentials/",
            self.endpoint
        );
        let roles = self.call(
            self.http
                .get(&roles_url)
                .header("X-aws-ec2-metadata-token", &token),
            "the instance profile's role",
        )?;
        let role = roles
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .ok_or("the instance has no instance profile (no role listed)")?;
        let credentials = self.call(
            self.http
                .get(format!("{roles_url}{role}"))
                .header("X-aws-ec2-metadata-token", &token),
            "the role's credentials",
        )?;
        parse_credentials_json(&credentials)
    }

    fn call(
        &self,
        request: reqwest::blocking::RequestBuilder,
        what: &str,
    ) -> Result<String, String> {
        super::answer::answer_text(request, &format!("IMDS at {} ({what})", self.endpoint))
    }
}

/// The JSON both IMDS and the container service answer with:
/// `{"AccessKeyId": .., "SecretAccessKey": .., "Token": .., "Expiration": ..}`.
pub fn parse_credentials_json(text: &str) -> Result<Credentials, String> {
    let json: serde_json::Value =
        serde_json::from_str(text).map_err(|_| "the answer is not JSON".to_string())?;
    if let Some(code) = json.get("Code").and_then(|c| c.as_str()) {
        if code != "Success" {
            return Err(format!("the answer's Code is {code}"));
        }
    }
    let field = |name: &str| {
        json.get(name)
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .ok_or_else(|| format!("the answer has no {name}"))
    };
    Ok(Credentials {
        access_key_id: field("AccessKeyId")?,
        secret_access_key: field("SecretAccessKey")?,
        session_token: field("Token").ok(),
        expires: match field("Expiration") {
            Ok(text) => Some(parse_expiration(&text)?),
            Err(_) => None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_instance_profile_json() {
        let c = parse_credentials_json(
            r#"{"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"ASIA1","SecretAccessKey":"s",
                "Token":"t","Expiration":"2026-11-21T16:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(
            (c.access_key_id.as_str(), c.session_token.as_deref()),
            ("ASIA1", Some("t"))
        );
        assert!(
            parse_credentials_json(r#"{"Code":"AssumeRoleUnauthorizedAccess"}"#)
                .unwrap_err()
                .contains("AssumeRoleUnauthorizedAccess")
        );
        assert!(parse_credentials_json("<html>")
            .unwrap_err()
            .contains("not JSON"));
    }
}
