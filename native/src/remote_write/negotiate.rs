//! Which remote-write message a sink sends (`protocol=1.0|2.0|auto`), and with `auto` what the
//! receiver's answers to 2.0 say about it. The spec (2.0-rc.4, "Unsupported Request Content",
//! "Required Written Response Headers") gives three signs of a receiver that takes only 1.0:
//! 415; 400 (a 1.x receiver that fails to decode the body); and a 2xx without the
//! `X-Prometheus-Remote-Write-*-Written` headers, which is what Prometheus 2.x answers (it
//! decodes a 2.0 body as an empty 1.0 request, stores nothing and answers 204). On any of them
//! the sink settles on 1.0 for that URL for the JVM's life and sends the same batch again in
//! 1.0 at once (sender.rs), so nothing is lost.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::client::{Outcome, Version};
use crate::config::{Config, Protocol};
use crate::http::redact_url;

/// What `auto` settled on per URL in this JVM: a sink started later (a new SparkContext, a
/// second sink on the same URL) starts from it instead of sending 2.0 into a 1.0 receiver again.
static SETTLED: Mutex<BTreeMap<String, Version>> = Mutex::new(BTreeMap::new());

/// What the sender does with an answer to a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// As the answer says (sent, retried, refused).
    Keep,
    /// Nothing of the 2.0 request was taken and 1.0 is now the message: send it again in 1.0.
    FallBack,
    /// `protocol=2.0` and the receiver does not take 2.0: a refusal (said once, here).
    Unsupported,
}

pub struct Negotiation {
    setting: Protocol,
    url: String,
    /// None while `auto` has not seen a 2.0 answer that settles it.
    settled: Option<Version>,
    said_unsupported: bool,
}

impl Negotiation {
    pub fn new(config: &Config) -> Negotiation {
        let settled = match config.protocol {
            Protocol::V1 => Some(Version::V1),
            Protocol::V2 => Some(Version::V2),
            Protocol::Otlp => Some(Version::Otlp),
            Protocol::Auto => {
                let earlier = settled_earlier(&config.url);
                if let Some(version) = earlier {
                    tracing::info!(
                        "remote write to {} uses {} (protocol=auto): settled earlier in this JVM",
                        redact_url(&config.url),
                        name(version)
                    );
                }
                earlier
            }
        };
        Negotiation {
            setting: config.protocol,
            url: config.url.clone(),
            settled,
            said_unsupported: false,
        }
    }

    /// The message the next request is sent in.
    pub fn version(&self) -> Version {
        self.settled.unwrap_or(Version::V2)
    }

    /// Reads the answer to a request sent in `version`.
    pub fn judge(&mut self, version: Version, outcome: &Outcome) -> Verdict {
        if version != Version::V2 {
            return Verdict::Keep;
        }
        let not_2_0 = match outcome {
            Outcome::Rejected {
                status: 415,
                message,
                ..
            } => Some(format!("it answered 415 to a 2.0 request ({message})")),
            Outcome::Rejected {
                status: 400,
                message,
                samples_written: None,
            } if self.settled.is_none() => Some(format!(
                "it refused the first 2.0 request with 400 and no X-Prometheus-Remote-Write-*-\
                 Written header, as a receiver that cannot decode 2.0 does ({message})"
            )),
            Outcome::Sent {
                samples_written: None,
                ..
            } => Some(
                "it answered a 2.0 request with success but without the \
                 X-Prometheus-Remote-Write-Samples-Written header, as a receiver that takes only \
                 1.0 (Prometheus 2.x) does: it stored nothing of it"
                    .to_string(),
            ),
            Outcome::Sent {
                samples_written: Some(_),
                ..
            }
            | Outcome::Rejected {
                samples_written: Some(_),
                ..
            } => {
                if self.settled.is_none() {
                    self.settle(
                        Version::V2,
                        "the receiver confirmed what it wrote of a 2.0 request",
                    );
                }
                None
            }
            _ => None,
        };
        let Some(why) = not_2_0 else {
            return Verdict::Keep;
        };
        if self.setting == Protocol::Auto {
            self.settle(
                Version::V1,
                &format!("{why}; the batch goes again in 1.0 now, and every later one"),
            );
            return Verdict::FallBack;
        }
        if !self.said_unsupported {
            self.said_unsupported = true;
            tracing::error!(
                "remote write to {} does not take remote write 2.0 (protocol=2.0): {why}. Every \
                 batch is refused until protocol is auto (2.0 where the receiver takes it, else \
                 1.0) or 1.0; counted in sparkprom_samples_failed_total{{reason=\"rejected\"}}. \
                 Prometheus 3 takes 2.0 with \
                 --web.remote-write-receiver.accepted-protobuf-messages=io.prometheus.write.v2.Request",
                redact_url(&self.url)
            );
        }
        Verdict::Unsupported
    }

    fn settle(&mut self, version: Version, why: &str) {
        self.settled = Some(version);
        SETTLED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(self.url.clone(), version);
        tracing::info!(
            "remote write to {} settled on {} (protocol=auto): {why}",
            redact_url(&self.url),
            name(version)
        );
    }
}

fn settled_earlier(url: &str) -> Option<Version> {
    SETTLED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(url)
        .copied()
}

pub fn name(version: Version) -> &'static str {
    match version {
        Version::V1 => "remote write 1.0",
        Version::V2 => "remote write 2.0",
        Version::Otlp => "OTLP/HTTP",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auto(url: &str) -> Negotiation {
        Negotiation::new(&Config {
            url: url.to_string(),
            protocol: Protocol::Auto,
            ..Config::default()
        })
    }

    fn sent(written: Option<u64>) -> Outcome {
        Outcome::Sent {
            samples_written: written,
            partial: None,
        }
    }

    fn refused(status: u16, written: Option<u64>) -> Outcome {
        Outcome::Rejected {
            status,
            message: "no".into(),
            samples_written: written,
        }
    }

    #[test]
    fn auto_falls_back_on_415_a_first_400_or_a_success_without_the_written_header() {
        for (n, answer) in [refused(415, None), refused(400, None), sent(None)]
            .into_iter()
            .enumerate()
        {
            let url = format!("http://negotiate-fallback-{n}/");
            let mut negotiation = auto(&url);
            assert_eq!(negotiation.version(), Version::V2);
            assert_eq!(
                negotiation.judge(Version::V2, &answer),
                Verdict::FallBack,
                "{answer:?}"
            );
            assert_eq!(negotiation.version(), Version::V1);
            // Remembered for the URL: the next sink starts on 1.0.
            assert_eq!(auto(&url).version(), Version::V1);
        }
    }

    #[test]
    fn a_confirmed_2_0_answer_settles_auto_and_a_later_400_is_a_refusal() {
        let mut negotiation = auto("http://negotiate-settled/");
        assert_eq!(
            negotiation.judge(Version::V2, &sent(Some(3))),
            Verdict::Keep
        );
        assert_eq!(
            negotiation.judge(Version::V2, &refused(400, None)),
            Verdict::Keep
        );
        assert_eq!(negotiation.version(), Version::V2);
        // A 400 with the written headers comes from a 2.0 receiver refusing data.
        let mut first = auto("http://negotiate-partial/");
        assert_eq!(
            first.judge(Version::V2, &refused(400, Some(1))),
            Verdict::Keep
        );
        assert_eq!(first.version(), Version::V2);
        // Retries and other refusals say nothing about the message.
        let mut retried = auto("http://negotiate-retried/");
        let retry = Outcome::Retry {
            after: None,
            reason: "503".into(),
        };
        assert_eq!(retried.judge(Version::V2, &retry), Verdict::Keep);
        assert_eq!(
            retried.judge(Version::V2, &refused(401, None)),
            Verdict::Keep
        );
        assert_eq!(retried.version(), Version::V2);
    }

    #[test]
    fn protocol_2_0_never_falls_back_and_1_0_never_looks() {
        let forced = |protocol| {
            Negotiation::new(&Config {
                url: "http://negotiate-forced/".into(),
                protocol,
                ..Config::default()
            })
        };
        let mut v2 = forced(Protocol::V2);
        assert_eq!(
            v2.judge(Version::V2, &refused(415, None)),
            Verdict::Unsupported
        );
        assert_eq!(v2.judge(Version::V2, &sent(None)), Verdict::Unsupported);
        assert_eq!(v2.version(), Version::V2);
        let mut v1 = forced(Protocol::V1);
        assert_eq!(v1.version(), Version::V1);
        assert_eq!(v1.judge(Version::V1, &sent(None)), Verdict::Keep);
    }
}
