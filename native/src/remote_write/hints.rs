//! What a receiver's refusal most likely means and what to do about it, added to the refusal's
//! log line and to `check`'s answer: the status alone sends users to the wrong place (a 403
//! from AMP is about credentials or region, a 404 about the URL's path).

/// A hint for an HTTP status the receiver refused with; `auth` is how the request was
/// authenticated (`RequestAuth::describe`).
pub fn for_refusal(status: u16, url: &str, auth: &str) -> Option<String> {
    let amp = url.contains("aps-workspaces.");
    match status {
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

#[cfg(test)]
mod tests {
    use super::*;

    const AMP: &str =
        "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write";

    #[test]
    fn a_403_names_who_signed_and_a_404_the_paths() {
        let signed = "SigV4 for service aps in region eu-west-1, credentials from environment variables, access key AKIAEXAM...";
        let hint = for_refusal(403, AMP, signed).unwrap();
        assert!(
            hint.contains("region eu-west-1") && hint.contains("AKIAEXAM"),
            "{hint}"
        );
        assert!(for_refusal(403, AMP, "no authentication")
            .unwrap()
            .contains("sigv4.region"));
        assert!(
            for_refusal(401, "http://mimir/api/v1/push", "no authentication")
                .unwrap()
                .contains("X-Scope-OrgID")
        );
        assert!(for_refusal(404, AMP, "x")
            .unwrap()
            .contains("/api/v1/write"));
        assert_eq!(for_refusal(400, AMP, "x"), None);
    }
}
