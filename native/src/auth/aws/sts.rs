//! The two STS calls the sink needs: AssumeRoleWithWebIdentity (unsigned: the web identity
//! token is the proof) and AssumeRole (signed with the credentials that assume).

use reqwest::blocking::Client as HttpClient;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};

use super::credentials::{parse_expiration, Credentials};

pub struct Sts {
    endpoint: String,
    region: String,
    http: HttpClient,
}

const API_VERSION: &str = "2011-06-15";

impl Sts {
    pub fn new(endpoint: String, region: &str, http: HttpClient) -> Sts {
        Sts {
            endpoint,
            region: region.to_string(),
            http,
        }
    }

    pub fn assume_role_with_web_identity(
        &self,
        role_arn: &str,
        session_name: &str,
        token: &str,
    ) -> Result<Credentials, String> {
        let body = form(&[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", API_VERSION),
            ("RoleArn", role_arn),
            ("RoleSessionName", session_name),
            ("WebIdentityToken", token),
        ]);
        self.call("AssumeRoleWithWebIdentity", body, None)
    }

    pub fn assume_role(
        &self,
        role_arn: &str,
        session_name: &str,
        with: &Credentials,
    ) -> Result<Credentials, String> {
        let body = form(&[
            ("Action", "AssumeRole"),
            ("Version", API_VERSION),
            ("RoleArn", role_arn),
            ("RoleSessionName", session_name),
        ]);
        self.call("AssumeRole", body, Some(with))
    }

    fn call(
        &self,
        action: &str,
        body: String,
        signer: Option<&Credentials>,
    ) -> Result<Credentials, String> {
        let url = format!("{}/", self.endpoint.trim_end_matches('/'));
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
        );
        if let Some(credentials) = signer {
            super::signing::sign(
                credentials,
                &self.region,
                "sts",
                "POST",
                &url,
                &mut headers,
                body.as_bytes(),
            )?;
        }
        let failed = |e: String| format!("STS {action} at {url}: {e}");
        let response = self
            .http
            .post(&url)
            .headers(headers)
            .body(body)
            .send()
            .map_err(|e| failed(crate::http::describe_error(&e)))?;
        let status = response.status();
        let text = response.text().map_err(|e| failed(e.to_string()))?;
        if !status.is_success() {
            // STS explains itself in <Code> and <Message>; the rest of an error body is not
            // shown, so nothing unexpected can reach the log.
            let code = xml_text(&text, "Code").unwrap_or_default();
            let message = xml_text(&text, "Message").unwrap_or_default();
            return Err(failed(format!(
                "HTTP {} {code}: {message}",
                status.as_u16()
            )));
        }
        parse_credentials(&text).map_err(failed)
    }
}

fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// The `<Credentials>` element of an AssumeRole* answer.
fn parse_credentials(xml: &str) -> Result<Credentials, String> {
    let field = |tag: &str| xml_text(xml, tag).ok_or_else(|| format!("the answer has no <{tag}>"));
    Ok(Credentials {
        access_key_id: field("AccessKeyId")?,
        secret_access_key: field("SecretAccessKey")?,
        session_token: Some(field("SessionToken")?),
        expires: Some(parse_expiration(&field("Expiration")?)?),
    })
}

/// The text of the first `<tag>` element. STS answers are flat and machine-written; this
/// reads them without a general XML parser.
fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(unescape(xml[start..end].trim()))
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_credentials_of_an_sts_answer() {
        let xml = r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <Credentials>
      <SessionToken>FwoGZX&amp;token</SessionToken>
      <SecretAccessKey>wJalr/K7MDENG+bPxRfi</SecretAccessKey>
      <Expiration>2026-11-21T10:00:00Z</Expiration>
      <AccessKeyId>ASIAEXAMPLE</AccessKeyId>
    </Credentials>
  </AssumeRoleWithWebIdentityResult>
</AssumeRoleWithWebIdentityResponse>"#;
        let c = parse_credentials(xml).unwrap();
        assert_eq!(c.access_key_id, "ASIAEXAMPLE");
        assert_eq!(c.secret_access_key, "wJalr/K7MDENG+bPxRfi");
        assert_eq!(c.session_token.as_deref(), Some("FwoGZX&token"));
        assert!(c.expires.is_some());
        assert!(parse_credentials("<ErrorResponse/>")
            .unwrap_err()
            .contains("AccessKeyId"));
    }

    #[test]
    fn form_bodies_are_url_encoded() {
        assert_eq!(
            form(&[("RoleArn", "arn:aws:iam::1:role/a b")]),
            "RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fa+b"
        );
    }
}
