//! `java -jar sparkprom.jar check <metrics.properties>`: everything a sink would do at its start
//! and first send, done once from the command line, so a user finds a wrong property, missing
//! credentials, an unreachable receiver or a refusal before a cluster does. Parses the
//! properties as a sink does, resolves the credentials, sends one sample and reports what the
//! receiver answered. Nothing here runs inside Spark.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::auth::aws::environment::process_environment;
use crate::auth::RequestAuth;
use crate::config::Config;
use crate::http::redact_url;
use crate::remote_write::client::{Client, ClientError, Outcome, Version};
use crate::remote_write::encoders::Encoders;
use crate::remote_write::negotiate::{self, Negotiation, Verdict as Negotiated};
use crate::sample::{Family, Label, MetricType, Sample, Series};

/// The series the check sends: its value is when the check ran.
pub const PROBE_NAME: &str = "sparkprom_check_timestamp_seconds";

/// What the check found: one line per step, and whether the receiver accepted the sample.
pub struct Verdict {
    pub accepted: bool,
    pub lines: Vec<String>,
}

/// Runs the check on a sink's properties (the blob the Java side builds for `create`).
pub fn run(blob: &[u8]) -> Verdict {
    let mut lines = Vec::new();
    let accepted = check(blob, &mut lines).is_ok();
    Verdict { accepted, lines }
}

/// Each step adds its line; the first failure adds a FAIL line naming the cause and stops.
fn check(blob: &[u8], lines: &mut Vec<String>) -> Result<(), ()> {
    let fail = |lines: &mut Vec<String>, why: String| {
        lines.push(format!("FAIL {why}"));
        Err(())
    };
    let config = match Config::from_blob(blob) {
        Ok(config) => config,
        Err(e) => return fail(lines, e.to_string()),
    };
    // A sink ignores a property it does not know (with a WARN); a check that a CI runs must not
    // pass a typo, which is a setting silently not applied.
    if !config.unknown_properties.is_empty() {
        for unknown in &config.unknown_properties {
            lines.push(format!(
                "FAIL property '{unknown}' is not one sparkprom reads{}",
                closest_property(unknown)
                    .map_or(String::new(), |known| format!("; did you mean '{known}'?"))
            ));
        }
        return Err(());
    }
    lines.push(format!(
        "ok   properties are valid; receiver {}",
        redact_url(&config.url)
    ));
    let amp = config.url.contains("://aps-workspaces.");
    if amp && config.auth.sigv4.is_none() {
        return fail(
            lines,
            "the URL is an Amazon Managed Service for Prometheus workspace, which accepts only \
             SigV4-signed writes: set sigv4.region (the workspace's region) to sign them"
                .to_string(),
        );
    }
    let env = process_environment();
    if let Some(sigv4) = &config.auth.sigv4 {
        if let Some(warning) = crate::auth::aws::region_mismatch(sigv4, &config.url, &env) {
            lines.push(format!("WARN {warning}"));
        }
    }
    let sink = config.sink_name.as_deref();
    let client = match RequestAuth::new(&config, &env)
        .map_err(ClientError::Config)
        .and_then(|auth| Client::new(&config, auth))
    {
        Ok(client) => client,
        Err(ClientError::Config(e)) => return fail(lines, e.of_sink(sink).to_string()),
        Err(e) => return fail(lines, e.to_string()),
    };
    let auth = &config.auth;
    if auth.sigv4.is_none() && auth.bearer_token_file.is_none() && auth.basic_auth.is_none() {
        lines.push(
            "--   authentication: none (no sigv4.*, bearerTokenFile or basicAuth.*): the receiver \
             must accept writes without credentials"
                .to_string(),
        );
    } else if let Some(missing) = client.missing_credentials() {
        // SigV4 resolves its credentials here, so a missing role shows now, by source.
        return fail(
            lines,
            format!("authentication: SigV4 is on but there are no credentials: {missing}"),
        );
    } else {
        lines.push(format!("ok   authentication: {}", client.describe_auth()));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let labels = probe_labels(&config);
    let shown = labels
        .iter()
        .filter(|l| l.name != "__name__")
        .map(|l| format!("{}=\"{}\"", l.name, l.value))
        .collect::<Vec<_>>()
        .join(",");
    let probe = probe(labels, now.as_secs_f64(), now.as_millis() as i64);
    // The message a sink would send: `protocol` says which, `auto` finds out as a sink does.
    let mut negotiation = Negotiation::new(&config);
    let mut version = negotiation.version();
    let send = |version| encode(&probe, version).map(|body| client.send(&body, version));
    let mut outcome = match send(version) {
        Ok(outcome) => outcome,
        Err(why) => return fail(lines, why),
    };
    match negotiation.judge(version, &outcome) {
        Negotiated::Keep => {}
        Negotiated::FallBack => {
            lines.push(
                "--   the receiver does not take remote write 2.0: protocol=auto sends it 1.0"
                    .to_string(),
            );
            version = Version::V1;
            outcome = match send(version) {
                Ok(outcome) => outcome,
                Err(why) => return fail(lines, why),
            };
        }
        Negotiated::Unsupported => {
            return fail(
                lines,
                "the receiver does not take remote write 2.0 (protocol=2.0): set protocol=auto \
                 (2.0 where the receiver takes it, else 1.0) or 1.0. Prometheus 3 takes 2.0 with \
                 --web.remote-write-receiver.accepted-protobuf-messages=io.prometheus.write.v2.Request"
                    .to_string(),
            )
        }
    }
    match outcome {
        Outcome::Sent { .. } => {
            lines.push(format!(
                "ok   the receiver accepted one sample in {}: {PROBE_NAME}{{{shown}}} {:.3}",
                negotiate::name(version),
                now.as_secs_f64()
            ));
            Ok(())
        }
        Outcome::Rejected {
            status, message, ..
        } => {
            let hint = client
                .refusal_hint(status, &message)
                .map_or(String::new(), |hint| format!("\n     hint: {hint}"));
            fail(
                lines,
                format!("the receiver refused the sample with HTTP {status}: {message}{hint}"),
            )
        }
        Outcome::Retry { reason, .. } => fail(
            lines,
            format!("the sample was not delivered (a sink would retry): {reason}"),
        ),
        Outcome::Misconfigured { reason } => fail(
            lines,
            format!("the sample was not delivered (a sink would not retry): {reason}"),
        ),
    }
}

/// The property a misspelt one most likely meant: the closest by edit distance, ignoring case,
/// when it is close enough to be a typo (a third of the name, at least 2 edits).
fn closest_property(unknown: &str) -> Option<&'static str> {
    let typed = unknown.to_ascii_lowercase();
    crate::config::user_properties()
        .map(|known| (edit_distance(&typed, &known.to_ascii_lowercase()), known))
        .filter(|(distance, known)| *distance <= (known.len() / 3).max(2))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, known)| known)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// The probe's labels, sorted by name as remote write requires: the user's `labels` and the
/// host it ran on, so a check never writes into a Spark JVM's series.
fn probe_labels(config: &Config) -> Vec<Label> {
    let host = crate::node::series::host_name(std::path::Path::new("/"));
    let mut labels = vec![
        Label {
            name: "__name__".into(),
            value: PROBE_NAME.into(),
        },
        Label {
            name: "instance".into(),
            value: host,
        },
    ];
    for (name, value) in &config.static_labels {
        labels.retain(|l| &l.name != name);
        labels.push(Label {
            name: name.clone(),
            value: value.clone(),
        });
    }
    labels.sort_by(|a, b| a.name.cmp(&b.name));
    labels
}

/// The probe's one sample, in the core's model.
fn probe(labels: Vec<Label>, value: f64, timestamp_ms: i64) -> Sample {
    let family = Arc::new(Family {
        name: PROBE_NAME.to_string(),
        metric_type: MetricType::Gauge,
        unit: "seconds",
        help: "When `java -jar sparkprom.jar check` last sent this sample.".to_string(),
    });
    Sample {
        series: Arc::new(Series::new(labels, family)),
        timestamp_ms,
        value,
    }
}

/// The probe as a request body in `version`, as the sender's encoders write it (an OTLP
/// endpoint reads nothing else: the probe goes as the sink's requests go).
/// An empty body would be "accepted" by a receiver and pass the check: a failure is said.
fn encode(probe: &Sample, version: Version) -> Result<Vec<u8>, String> {
    Encoders::default()
        .encode(version, std::slice::from_ref(probe), &[])
        .map(|(body, _)| body.to_vec())
        .map_err(|e| format!("cannot encode the probe: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_property_is_named_with_what_it_most_likely_meant() {
        for (typed, meant) in [
            ("perod", "period"),
            ("lables", "labels"),
            ("maxseries", "maxSeries"),
            ("maxSampelsPerSend", "maxSamplesPerSend"),
            ("sigv4.regoin", "sigv4.region"),
            ("tls.cafile", "tls.caFile"),
        ] {
            assert_eq!(closest_property(typed), Some(meant), "{typed}");
        }
        assert_eq!(closest_property("somethingElseEntirely"), None);
    }

    fn check_lines(pairs: &[(&str, &str)]) -> Verdict {
        let blob: Vec<u8> = pairs
            .iter()
            .flat_map(|(k, v)| [k.as_bytes(), b"\0", v.as_bytes(), b"\0"].concat())
            .collect();
        run(&blob)
    }

    /// Nothing is sent in these cases: the check stops at the properties.
    #[test]
    fn unknown_properties_fail_and_an_amp_url_needs_sigv4() {
        let verdict = check_lines(&[("url", "http://127.0.0.1:9/api/v1/write"), ("perod", "5")]);
        assert!(!verdict.accepted);
        assert_eq!(
            verdict.lines,
            ["FAIL property 'perod' is not one sparkprom reads; did you mean 'period'?"]
        );
        let amp = check_lines(&[(
            "url",
            "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write",
        )]);
        assert!(!amp.accepted);
        assert!(
            amp.lines[1].starts_with("FAIL the URL is an Amazon Managed Service for Prometheus")
                && amp.lines[1].contains("set sigv4.region"),
            "{:?}",
            amp.lines
        );
    }
}
