//! How each remote-write request proves who sends it: SigV4, a bearer token or basic auth
//! (one of them), plus the user's extra headers. Applied to the final headers of every
//! attempt, so a retry carries a fresh signature and the current token.

pub mod aws;
pub mod secret_file;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};

use crate::config::{Config, ConfigError};
use aws::environment::Environment;
use secret_file::SecretFile;

enum Scheme {
    None,
    SigV4(Box<aws::AwsSigner>),
    Bearer(SecretFile),
    Basic {
        username: String,
        password: SecretFile,
    },
}

pub struct RequestAuth {
    scheme: Scheme,
    extra_headers: HeaderMap,
}

impl RequestAuth {
    /// Checks what can be checked before the first request (secret files readable, region
    /// known, a credential source configured), so a mistake fails the sink's start with the
    /// property named.
    pub fn new(config: &Config, env: &Environment) -> Result<RequestAuth, ConfigError> {
        let auth = &config.auth;
        let check = |property: &str, secret: &SecretFile| {
            secret
                .current()
                .map(|_| ())
                .map_err(|message| ConfigError::new(property, message))
        };
        let scheme = if let Some(sigv4) = &auth.sigv4 {
            Scheme::SigV4(Box::new(aws::AwsSigner::new(sigv4, &config.url, env)?))
        } else if let Some(path) = &auth.bearer_token_file {
            let token = SecretFile::new("bearerTokenFile", path);
            check("bearerTokenFile", &token)?;
            Scheme::Bearer(token)
        } else if let Some((username, path)) = &auth.basic_auth {
            let password = SecretFile::new("basicAuth.passwordFile", path);
            check("basicAuth.passwordFile", &password)?;
            Scheme::Basic {
                username: username.clone(),
                password,
            }
        } else {
            Scheme::None
        };
        let mut extra_headers = HeaderMap::new();
        for (name, value) in &auth.headers {
            // Both were checked when the properties were parsed.
            if let (Ok(name), Ok(mut value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                value.set_sensitive(true);
                extra_headers.append(name, value);
            }
        }
        Ok(RequestAuth {
            scheme,
            extra_headers,
        })
    }

    /// How requests are authenticated, never a secret: for a refusal's log line and `check`.
    pub fn describe(&self) -> String {
        match &self.scheme {
            Scheme::None => "no authentication".to_string(),
            Scheme::SigV4(signer) => signer.describe(),
            Scheme::Bearer(token) => format!("a bearer token from {}", token.path()),
            Scheme::Basic { username, password } => {
                format!(
                    "basic auth as {username}, password from {}",
                    password.path()
                )
            }
        }
    }

    /// Why the credentials a request needs cannot be had now (SigV4's, resolved here), if so.
    pub fn missing_credentials(&self) -> Option<String> {
        match &self.scheme {
            Scheme::SigV4(signer) => signer.missing_credentials(),
            _ => None,
        }
    }

    /// Adds the extra headers and the authorization to a request's final headers.
    pub fn apply(&self, url: &str, headers: &mut HeaderMap, body: &[u8]) -> Result<(), String> {
        for (name, value) in &self.extra_headers {
            headers.insert(name.clone(), value.clone());
        }
        let authorization = match &self.scheme {
            Scheme::None => return Ok(()),
            Scheme::SigV4(signer) => return signer.sign(url, headers, body),
            Scheme::Bearer(token) => format!("Bearer {}", token.current()?),
            Scheme::Basic { username, password } => {
                let pair = format!("{username}:{}", password.current()?);
                format!("Basic {}", base64(pair.as_bytes()))
            }
        };
        let mut value = HeaderValue::from_str(&authorization).map_err(|_| {
            "the token or password holds characters a header cannot carry".to_string()
        })?;
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
        Ok(())
    }
}

/// Standard base64 with padding, for the Basic scheme (RFC 7617).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (*b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }
}
