//! What a receiver's refusal most likely means and what to do about it, added to the refusal's
//! log line and to `check`'s answer: the status alone sends users to the wrong place (a 403
//! from AMP is about credentials or region, a 404 about the URL's path).

/// A hint for an HTTP status the receiver answered with (a refusal, or 429 and 5xx, which are
/// retried), read with its body `message`; `auth` is how the request was authenticated
/// (`RequestAuth::describe`).
pub fn for_refusal(status: u16, message: &str, url: &str, auth: &str) -> Option<String> {
    let amp = url.contains("aps-workspaces.");
    let said = |words: &[&str]| {
        let message = message.to_ascii_lowercase();
        words.iter().any(|word| message.contains(word))
    };
    match status {
        400 if said(&["out of order", "out-of-order", "duplicate sample", "too old", "out of bounds"]) => Some(
            "samples of one series arrived out of order or twice: two writers send the same \
             series (two sinks or two JVMs with the same labels and URL: give each its own \
             labels, or one URL per sink), or the receiver took a sample newer than this one \
             (a clock that jumped back). The batch is dropped, later ones go on"
                .to_string(),
        ),
        400 if said(&["duplicate label", "duplicate-label", "repeated"]) => Some(
            "a series carries one label name twice: a name in `labels` is one sparkprom or \
             Spark sets; rename it"
                .to_string(),
        ),
        400 if said(&["label value too long", "too many labels", "labels exceed", "label name too long"]) => {
            Some(
                "the receiver's label limits: shorten long values in `labels`, or raise the limit \
                 (Mimir's -validation.max-length-label-value, -validation.max-label-names-per-series)"
                    .to_string(),
            )
        }
        429 if said(&["series limit", "max series", "active series", "series per", "maxseries"]) => Some(
            "the receiver's limit on series is reached: retrying does not clear it until series \
             expire. Raise the limit (AMP: the active series per workspace quota; Mimir: \
             -ingester.max-global-series-per-user) or send fewer series (include/exclude, \
             maxSeries, node.enabled=false on extra sinks)"
                .to_string(),
        ),
        429 => Some(
            "the receiver limits the rate of samples: retried after its Retry-After; if it lasts, \
             raise the ingestion rate limit or lower the rate (a longer period, include/exclude)"
                .to_string(),
        ),
        501 => Some(
            "the URL does not implement remote write (HTTP 501 Not Implemented): it is not a \
             remote-write endpoint. AMP is /workspaces/<id>/api/v1/remote_write, Prometheus \
             /api/v1/write (with --web.enable-remote-write-receiver), Mimir /api/v1/push"
                .to_string(),
        ),
        401 | 403 if auth.starts_with("SigV4") => Some(format!(
            "signed with {auth}: the role needs aps:RemoteWrite on this workspace, and the \
             region must be the workspace's{}",
            if amp {
                ""
            } else {
                "; is this an AWS-signed receiver?"
            }
        )),
        401 | 403 if amp => Some(
            "AMP needs SigV4: set sigv4.region (or use an aps-workspaces.<region> URL with \
             AWS credentials in reach)"
                .to_string(),
        ),
        401 | 403 => Some(format!(
            "sent with {auth}: the receiver wants other credentials (bearerTokenFile, \
             basicAuth.*, headers=X-Scope-OrgID=... for a multi-tenant Mimir)"
        )),
        404 => Some(
            "no remote-write endpoint at this path: AMP is \
             /workspaces/<id>/api/v1/remote_write, Prometheus /api/v1/write (started with \
             --web.enable-remote-write-receiver), Mimir and Cortex /api/v1/push"
                .to_string(),
        ),
        405 => Some(
            "the URL answers but not to POST: is it a query or UI address rather than the \
             remote-write one?"
                .to_string(),
        ),
        413 => {
            Some("the request is too large for the receiver: lower maxSamplesPerSend".to_string())
        }
        _ => None,
    }
}

/// What a certificate the client refused means and what to set: a configuration error, which
/// sending again does not mend.
pub fn for_certificate(error: &rustls::Error) -> String {
    use rustls::CertificateError::*;
    let rustls::Error::InvalidCertificate(problem) = error else {
        return format!("TLS failed: {error}");
    };
    let what = match problem {
        UnknownIssuer => "is signed by a CA this machine does not trust: set tls.caFile to that \
             CA's PEM certificate (or add it to the OS store or the JVM's truststore; \
             behind a TLS-inspecting proxy, the proxy's CA)"
            .to_string(),
        NotValidForName | NotValidForNameContext { .. } => "is not issued for the URL's host \
             name: use a name the certificate carries in url"
            .to_string(),
        Expired | ExpiredContext { .. } | NotValidYet | NotValidYetContext { .. } => {
            "is outside its validity period: the receiver must renew it (or this machine's clock \
             is wrong)"
                .to_string()
        }
        _ if super::tls::is_ca_used_as_end_entity(error) => "is a CA certificate used as the \
             server's own (openssl req -x509 makes these): put exactly that certificate in \
             tls.caFile (it is then pinned and accepted), or sign a server certificate with a CA \
             and give the CA in tls.caFile"
            .to_string(),
        other => format!("cannot be used ({other:?}): check it, and tls.caFile"),
    };
    format!("the receiver's TLS certificate {what}; not retried: a setting must change")
}

#[cfg(test)]
mod tests {
    use super::*;

    const AMP: &str =
        "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write";

    #[test]
    fn a_403_names_who_signed_and_a_404_the_paths() {
        let signed = "SigV4 for service aps in region eu-west-1, credentials from environment variables, access key AKIAEXAM...";
        let hint = for_refusal(403, "", AMP, signed).unwrap();
        assert!(
            hint.contains("region eu-west-1") && hint.contains("AKIAEXAM"),
            "{hint}"
        );
        assert!(for_refusal(403, "", AMP, "no authentication")
            .unwrap()
            .contains("sigv4.region"));
        assert!(
            for_refusal(401, "", "http://mimir/api/v1/push", "no authentication")
                .unwrap()
                .contains("X-Scope-OrgID")
        );
        assert!(for_refusal(404, "", AMP, "x")
            .unwrap()
            .contains("/api/v1/write"));
        assert_eq!(for_refusal(400, "bad snappy", AMP, "x"), None);
    }

    /// The bodies Prometheus, Mimir and AMP answer with.
    #[test]
    fn a_400_a_429_and_a_501_each_say_what_to_do() {
        let hint = |status, body| for_refusal(status, body, AMP, "x").unwrap_or_default();
        assert!(hint(400, "out of order sample").contains("two writers send the same series"));
        assert!(hint(400, "duplicate sample for timestamp").contains("two writers"));
        assert!(hint(400, "err-mimir-duplicate-label-names").contains("label name twice"));
        let limit = hint(429, "per-user series limit of 10000 exceeded");
        assert!(limit.contains("retrying does not clear it"), "{limit}");
        assert!(hint(429, "ingestion rate limit exceeded").contains("Retry-After"));
        assert!(hint(501, "Unsupported method ('POST')").contains("not a remote-write endpoint"));
    }
}
