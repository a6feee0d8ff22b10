//! POSTs one encoded body and sorts the answer into sent, retry or reject, by the remote-write
//! spec's rules for senders: 2xx is done; 5xx, 429 and network errors are retried; any other
//! 4xx is the receiver refusing the data, and sending it again would not change that. A 3xx is
//! a refusal too: redirects are not followed. A certificate the client does not accept is a
//! configuration error (a setting must change), not retried either. TLS: tls.rs; the proxy, if
//! any: proxy.rs.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::blocking::Client as HttpClient;
use reqwest::header::{
    HeaderMap, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, LOCATION, RETRY_AFTER, USER_AGENT,
};

use crate::auth::aws::environment::process_environment;
use crate::auth::RequestAuth;
use crate::config::{Config, ConfigError};

/// The message of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `prometheus.WriteRequest`.
    V1,
    /// `io.prometheus.write.v2.Request`.
    V2,
    /// OTLP/HTTP's `ExportMetricsServiceRequest`, gzipped.
    Otlp,
}

/// An OTLP receiver's `partial_success` answer: it accepted the request but kept only part.
#[derive(Debug, PartialEq)]
pub struct PartialSuccess {
    pub rejected: u64,
    pub message: String,
}

/// The 2.0 answer header with the count of samples the receiver wrote.
const SAMPLES_WRITTEN: &str = "x-prometheus-remote-write-samples-written";

#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// `samples_written`: the receiver's X-Prometheus-Remote-Write-Samples-Written, read for a
    /// 2.0 request only (a 1.0 receiver has no such header). `partial`: what an OTLP receiver
    /// said it did not keep.
    Sent {
        samples_written: Option<u64>,
        partial: Option<PartialSuccess>,
    },
    /// Try again; `after` is the receiver's Retry-After when it gave one.
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    /// The receiver refused this data for good.
    Rejected {
        status: u16,
        message: String,
        /// As for `Sent`: a 2.0 receiver says what it wrote of a request it refused in part.
        samples_written: Option<u64>,
    },
    /// No request can succeed with this configuration (the receiver's certificate is not
    /// trusted): what to set is in `reason`.
    Misconfigured { reason: String },
}

/// Why a client could not be made.
#[derive(Debug)]
pub enum ClientError {
    /// A property that cannot work (a URL, a TLS file): it names the property.
    Config(ConfigError),
    /// Not the configuration: the HTTP client could not be built on this machine now.
    Build(String),
}

impl From<ConfigError> for ClientError {
    fn from(e: ConfigError) -> ClientError {
        ClientError::Config(e)
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Config(e) => e.fmt(f),
            ClientError::Build(why) => write!(f, "sparkprom {why}"),
        }
    }
}

pub struct Client {
    http: HttpClient,
    url: String,
    /// Every request's headers before authentication; all of them are signed under SigV4, so
    /// they are set here explicitly rather than left to the HTTP client's defaults.
    headers: HeaderMap,
    auth: RequestAuth,
    /// The proxy requests go through, named in every network failure.
    proxy: Option<super::proxy::Proxy>,
}

/// How much of a refusal's body is kept for the log: receivers explain the problem there.
const MAX_MESSAGE: usize = 512;

impl Client {
    /// Fails, naming the property, when a TLS file cannot be read or used.
    pub fn new(config: &Config, auth: RequestAuth) -> Result<Client, ClientError> {
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
        if let Ok(agent) = HeaderValue::from_str(&format!("sparkprom/{}", crate::VERSION)) {
            headers.insert(USER_AGENT, agent);
        }
        let sink = config.sink_name.as_deref();
        let url = reqwest::Url::parse(&config.url)
            .map_err(|e| ConfigError::new("url", format!("is not a URL: {e}")).of_sink(sink))?;
        let mut builder = HttpClient::builder()
            // A redirect would turn the POST into a body-less GET (301-303), count a login
            // page's 200 as sent, and carry headers and signatures to another host.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            // The proxy is ours to choose (proxy.rs), so that failures can name it.
            .no_proxy();
        if url.scheme() == "https" {
            let tls = super::tls::client_config(&config.tls, config.jvm.trusted_pem.as_deref())
                .map_err(|e| e.of_sink(sink))?;
            builder = builder.use_preconfigured_tls(tls);
        } else {
            // No TLS to a plain http receiver: no certificate store to load either.
            builder = builder.tls_built_in_root_certs(false);
        }
        let proxy = super::proxy::for_url(&url, &config.jvm, &process_environment());
        if let Some(chosen) = &proxy {
            match reqwest::Proxy::all(chosen.url.as_str()) {
                Ok(through) => builder = builder.proxy(through),
                // Said once, at the start: requests then go direct, as the variable cannot be used.
                Err(e) => tracing::warn!(
                    "the proxy {} (from {}) is not a proxy URL ({e}): the remote write goes \
                     without a proxy. Fix {}",
                    crate::http::redact_url(&chosen.url),
                    chosen.from,
                    chosen.from
                ),
            }
        }
        // What is left to fail here is the machine's, not the configuration's (the client's own
        // thread cannot start in a container at its pids.max): not a property to blame, and not
        // one that failOnConfigError may fail a job for.
        let http = builder
            .build()
            .map_err(|e| ClientError::Build(format!("cannot build the HTTP client: {e}")))?;
        if let Some(chosen) = &proxy {
            tracing::info!(
                "remote write goes through the proxy {} (from {})",
                crate::http::redact_url(&chosen.url),
                chosen.from
            );
        }
        Ok(Client {
            http,
            url: config.url.clone(),
            headers,
            auth,
            proxy,
        })
    }

    /// What an answer with this status and body most likely means here (hints.rs).
    pub fn refusal_hint(&self, status: u16, message: &str) -> Option<String> {
        super::hints::for_refusal(status, message, &self.url, &self.auth.describe())
    }

    /// How this client's requests are authenticated (never a secret).
    pub fn describe_auth(&self) -> String {
        self.auth.describe()
    }

    /// Why the credentials cannot be had now, if so (`RequestAuth::missing_credentials`).
    pub fn missing_credentials(&self) -> Option<String> {
        self.auth.missing_credentials()
    }

    /// POSTs `body`, a request encoded in `version`, with that version's headers.
    pub fn send(&self, body: &[u8], version: Version) -> Outcome {
        let mut headers = self.headers.clone();
        if version == Version::Otlp {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            headers.remove("X-Prometheus-Remote-Write-Version");
        }
        if version == Version::V2 {
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/x-protobuf;proto=io.prometheus.write.v2.Request",
                ),
            );
            headers.insert(
                "X-Prometheus-Remote-Write-Version",
                HeaderValue::from_static("2.0.0"),
            );
        }
        if let Err(reason) = self.auth.apply(&self.url, &mut headers, body) {
            // Credentials that cannot be had now (STS down, token file being rotated) may be
            // there on the next attempt.
            return Outcome::Retry {
                after: None,
                reason,
            };
        }
        let request = self
            .http
            .post(&self.url)
            .headers(headers)
            .body(body.to_vec());
        let response = match request.send() {
            Ok(r) => r,
            Err(e) => return self.failed(&e),
        };
        let status = response.status();
        let samples_written = match version {
            Version::V1 | Version::Otlp => None,
            Version::V2 => response
                .headers()
                .get(SAMPLES_WRITTEN)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok()),
        };
        if status.is_success() {
            let partial = match version {
                Version::Otlp => partial_success(&response.bytes().unwrap_or_default()),
                Version::V1 | Version::V2 => None,
            };
            return Outcome::Sent {
                samples_written,
                partial,
            };
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        if status.is_redirection() {
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("nowhere");
            return Outcome::Rejected {
                status: status.as_u16(),
                message: format!(
                    "redirected to {}; redirects are not followed (set url to the final address)",
                    crate::http::redact_url(location)
                ),
                samples_written,
            };
        }
        let mut message = response.text().unwrap_or_default();
        truncate(&mut message, MAX_MESSAGE);
        let message = message.trim().to_string();
        if status.is_server_error() || status.as_u16() == 429 {
            let hint = self
                .refusal_hint(status.as_u16(), &message)
                .map_or(String::new(), |hint| format!(" (hint: {hint})"));
            Outcome::Retry {
                after: retry_after,
                reason: format!("HTTP {}: {message}{hint}", status.as_u16()),
            }
        } else {
            Outcome::Rejected {
                status: status.as_u16(),
                message,
                samples_written,
            }
        }
    }

    /// A request that got no answer: a certificate this client does not accept is a setting to
    /// change; anything else is retried, naming the proxy it went through.
    fn failed(&self, error: &reqwest::Error) -> Outcome {
        let described = crate::http::describe_error(error);
        if let Some(certificate) = super::tls::certificate_error(error) {
            return Outcome::Misconfigured {
                reason: format!(
                    "{described}: {}",
                    super::hints::for_certificate(certificate)
                ),
            };
        }
        let reason = match &self.proxy {
            Some(proxy) => format!(
                "{described} (through the proxy {} set by {}{})",
                crate::http::redact_url(&proxy.url),
                proxy.from,
                if proxy.from.starts_with("-D") {
                    "; -Dhttp.nonProxyHosts exempts hosts"
                } else {
                    "; NO_PROXY exempts hosts"
                }
            ),
            None => described,
        };
        Outcome::Retry {
            after: None,
            reason,
        }
    }
}

/// An OTLP answer's `partial_success`, when it says points were rejected. An empty body (what
/// VictoriaMetrics answers) or one that is not the protobuf answer is a full success.
fn partial_success(body: &[u8]) -> Option<PartialSuccess> {
    use prost::Message;
    let answer = super::otlp_proto::ExportMetricsServiceResponse::decode(body).ok()?;
    let partial = answer.partial_success?;
    let rejected = u64::try_from(partial.rejected_data_points).unwrap_or(0);
    (rejected > 0 || !partial.error_message.is_empty()).then_some(PartialSuccess {
        rejected,
        message: partial.error_message,
    })
}

/// The longest a receiver's Retry-After is honoured. Past it the queue, sized for about half an
/// hour of reports, starts dropping the oldest anyway, and a wrong value (days, a date far
/// ahead) must not park the sender: it retries at this interval instead.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Retry-After as seconds or as an HTTP date (RFC 9110), capped at MAX_RETRY_AFTER; a date in
/// the past is no wait at all. None for what is neither.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let date =
                time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822)
                    .ok()?;
            let at = UNIX_EPOCH.checked_add(Duration::from_secs(
                u64::try_from(date.unix_timestamp()).ok()?,
            ))?;
            at.duration_since(now).unwrap_or(Duration::ZERO)
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_or_an_http_date_and_is_capped() {
        let now = UNIX_EPOCH + Duration::from_secs(1_445_412_480); // Wed, 21 Oct 2015 07:28:00 GMT
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        // A date already past: no wait; a date or a number far ahead: the cap.
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after("Fri, 01 Jan 2100 00:00:00 GMT", now),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(
            parse_retry_after("18446744073709551615", now),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
