//! SigV4 over a request whose headers are final: every header given is signed, and the
//! signature headers (Authorization, X-Amz-Date, X-Amz-Security-Token) are added to them.

use std::time::SystemTime;

use aws_sigv4::http_request::{sign as sigv4_sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::credentials::Credentials;

pub fn sign(
    credentials: &Credentials,
    region: &str,
    service: &str,
    method: &str,
    url: &str,
    headers: &mut HeaderMap,
    body: &[u8],
) -> Result<(), String> {
    let identity = aws_credential_types::Credentials::new(
        &credentials.access_key_id,
        &credentials.secret_access_key,
        credentials.session_token.clone(),
        credentials.expires,
        "sparkprom",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| format!("SigV4 parameters: {e}"))?
        .into();
    let pairs = headers
        .iter()
        .map(|(name, value)| Ok((name.as_str(), value.to_str().map_err(|_| name.as_str())?)))
        .collect::<Result<Vec<_>, &str>>()
        .map_err(|name| format!("header {name} is not text and cannot be signed"))?;
    let signable = SignableRequest::new(method, url, pairs.into_iter(), SignableBody::Bytes(body))
        .map_err(|e| format!("cannot sign a request to {url}: {e}"))?;
    let (instructions, _signature) = sigv4_sign(signable, &params)
        .map_err(|e| format!("SigV4 signing failed: {e}"))?
        .into_parts();
    for (name, value) in instructions.headers() {
        let value = HeaderValue::from_str(value)
            .map_err(|_| format!("SigV4 produced a bad {name} header"))?;
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("SigV4 produced a bad header name {name}"))?;
        headers.insert(name, value);
    }
    Ok(())
}
