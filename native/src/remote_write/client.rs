//! POSTs one encoded body and sorts the answer into sent, retry or reject, by the remote-write
//! spec's rules for senders: 2xx is done; 5xx, 429 and network errors are retried; any other
//! 4xx is the receiver refusing the data, and sending it again would not change that.

use std::time::Duration;

use reqwest::blocking::Client as HttpClient;
use reqwest::header::{
    HeaderMap, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER, USER_AGENT,
};

#[derive(Debug, PartialEq)]
pub enum Outcome {
    Sent,
    /// Try again; `after` is the receiver's Retry-After when it gave one.
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    /// The receiver refused this data for good.
    Rejected {
        status: u16,
        message: String,
    },
}

pub struct Client {
    http: HttpClient,
    url: String,
}

/// How much of a refusal's body is kept for the log: receivers explain the problem there.
const MAX_MESSAGE: usize = 512;

impl Client {
    pub fn new(url: &str, timeout: Duration) -> Result<Client, String> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("snappy"));
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        headers.insert(
            "X-Prometheus-Remote-Write-Version",
            HeaderValue::from_static("0.1.0"),
        );
        let agent = format!("sparkprom/{}", crate::VERSION);
        headers.insert(
            USER_AGENT,
            HeaderValue::from_str(&agent).map_err(|e| e.to_string())?,
        );
        let http = HttpClient::builder()
            .default_headers(headers)
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Client {
            http,
            url: url.to_string(),
        })
    }

    pub fn send(&self, body: &[u8]) -> Outcome {
        let response = match self.http.post(&self.url).body(body.to_vec()).send() {
            Ok(r) => r,
            Err(e) => {
                return Outcome::Retry {
                    after: None,
                    reason: describe_error(&e),
                }
            }
        };
        let status = response.status();
        if status.is_success() {
            return Outcome::Sent;
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let mut message = response.text().unwrap_or_default();
        truncate(&mut message, MAX_MESSAGE);
        let message = message.trim().to_string();
        if status.is_server_error() || status.as_u16() == 429 {
            Outcome::Retry {
                after: retry_after,
                reason: format!("HTTP {}: {message}", status.as_u16()),
            }
        } else {
            Outcome::Rejected {
                status: status.as_u16(),
                message,
            }
        }
    }
}

/// reqwest's Display omits the cause ("error sending request"); the cause is what the user
/// needs ("connection refused").
fn describe_error(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_string()
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn truncate(text: &mut String, max: usize) {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
}
