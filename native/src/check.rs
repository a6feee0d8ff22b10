//! `java -jar sparkprom.jar check <metrics.properties>`: everything a sink would do at its start
//! and first send, done once from the command line, so a user finds a wrong property, missing
//! credentials, an unreachable receiver or a refusal before a cluster does. Parses the
//! properties as a sink does, resolves the credentials, sends one sample and reports what the
//! receiver answered. Nothing here runs inside Spark.

use std::time::{SystemTime, UNIX_EPOCH};

use prost::Message;

use crate::auth::aws::environment::process_environment;
use crate::auth::RequestAuth;
use crate::config::Config;
use crate::http::redact_url;
use crate::proto::{Label, Sample, TimeSeries, WriteRequest};
use crate::remote_write::client::{Client, Outcome};

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
    lines.push(format!(
        "ok   properties are valid; receiver {}",
        redact_url(&config.url)
    ));
    for unknown in &config.unknown_properties {
        lines.push(format!(
            "WARN property '{unknown}' is not one sparkprom reads (a typo?)"
        ));
    }
    let env = process_environment();
    if let Some(sigv4) = &config.auth.sigv4 {
        if let Some(warning) = crate::auth::aws::region_mismatch(sigv4, &config.url, &env) {
            lines.push(format!("WARN {warning}"));
        }
    }
    let client = match RequestAuth::new(&config, &env).and_then(|auth| Client::new(&config, auth)) {
        Ok(client) => client,
        Err(e) => return fail(lines, e.to_string()),
    };
    // For SigV4 this resolves the credentials, so a missing role shows here, by source.
    lines.push(format!("ok   authentication: {}", client.describe_auth()));
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
    let body = encode(labels, now.as_secs_f64(), now.as_millis() as i64);
    match client.send(&body) {
        Outcome::Sent => {
            lines.push(format!(
                "ok   the receiver accepted one sample: {PROBE_NAME}{{{shown}}} {:.3}",
                now.as_secs_f64()
            ));
            Ok(())
        }
        Outcome::Rejected { status, message } => {
            let hint = client
                .refusal_hint(status)
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
    }
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

fn encode(labels: Vec<Label>, value: f64, timestamp: i64) -> Vec<u8> {
    let request = WriteRequest {
        timeseries: vec![TimeSeries {
            labels,
            samples: vec![Sample { value, timestamp }],
        }],
        metadata: Vec::new(),
    };
    snap::raw::Encoder::new()
        .compress_vec(&request.encode_to_vec())
        .unwrap_or_default()
}
