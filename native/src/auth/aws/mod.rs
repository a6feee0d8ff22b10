//! SigV4 signing for Amazon Managed Service for Prometheus (and any other AWS-signed
//! receiver): credentials resolved like the AWS SDKs do, renewed before they expire, each
//! request (every retry too) signed afresh with the time it is sent.

mod answer;
pub mod cache;
mod container;
pub mod credentials;
pub mod environment;
mod imds;
pub mod signing;
pub mod sources;
mod sts;

use reqwest::header::HeaderMap;

use crate::config::{ConfigError, SigV4Config};
use cache::CredentialCache;
use environment::Environment;
use sources::Source;

pub struct AwsSigner {
    region: String,
    service: String,
    credentials: CredentialCache,
    /// Where the credentials come from, for log lines and `check`.
    source: String,
}

impl AwsSigner {
    pub fn new(
        config: &SigV4Config,
        url: &str,
        env: &Environment,
    ) -> Result<AwsSigner, ConfigError> {
        let region = signing_region(config, url, env)?;
        if let Some(warning) = region_mismatch(config, url, env) {
            tracing::warn!("{warning}");
        }
        let source = Source::from_environment(env, &region, config.role_arn.as_deref())
            .map_err(|e| ConfigError::new("sigv4.region", format!("SigV4 is on but {e}")))?;
        let described = source.describe();
        tracing::info!(
            "signing requests with SigV4 (service {}, region {region}); credentials from {described}",
            config.service,
        );
        Ok(AwsSigner {
            region,
            service: config.service.clone(),
            credentials: CredentialCache::new(source),
            source: described,
        })
    }

    /// Who signs, for a refusal's log line and `check`: the credential source, the access key
    /// id's first characters (or why there are no credentials), the region and the service.
    pub fn describe(&self) -> String {
        let key = match self.credentials.get() {
            Ok(c) => format!(
                "access key {}...",
                c.access_key_id.chars().take(8).collect::<String>()
            ),
            Err(e) => format!("no credentials ({e})"),
        };
        format!(
            "SigV4 for service {} in region {}, credentials from {}, {key}",
            self.service, self.region, self.source
        )
    }

    /// Why no credentials can be had now, if so (for `check`'s verdict).
    pub fn missing_credentials(&self) -> Option<String> {
        self.credentials.get().err()
    }

    pub fn sign(&self, url: &str, headers: &mut HeaderMap, body: &[u8]) -> Result<(), String> {
        let credentials = self.credentials.get()?;
        signing::sign(
            &credentials,
            &self.region,
            &self.service,
            "POST",
            url,
            headers,
            body,
        )
    }
}

/// `sigv4.region`, else `AWS_REGION` / `AWS_DEFAULT_REGION`, else the region in an AMP URL
/// (`aps-workspaces.<region>.amazonaws.com`).
fn signing_region(
    config: &SigV4Config,
    url: &str,
    env: &Environment,
) -> Result<String, ConfigError> {
    let from_env = environment_region(env).map(|(region, _)| region);
    config
        .region
        .clone()
        .or(from_env)
        .or_else(|| amp_region(url))
        .ok_or_else(|| {
            ConfigError::new(
                "sigv4.region",
                "is needed for SigV4: set it (e.g. us-east-1), or AWS_REGION in the \
                 environment, or use an aps-workspaces.<region>.amazonaws.com URL",
            )
        })
}

/// A WARN for a signing region that differs from the region of an AMP URL: AMP answers such
/// requests with 403, and the cause is easy to miss (AWS_REGION set for another service).
pub fn region_mismatch(config: &SigV4Config, url: &str, env: &Environment) -> Option<String> {
    let from_url = amp_region(url)?;
    let (region, source) = match &config.region {
        Some(region) => (region.clone(), "sigv4.region"),
        None => environment_region(env)?,
    };
    (region != from_url).then(|| {
        format!(
            "SigV4 signs for region {region} (from {source}) but the URL is an AMP workspace in \
             {from_url}: AMP will refuse every request with 403. Set sigv4.region={from_url}, or \
             leave sigv4.region out and unset {source} to take the URL's region."
        )
    })
}

/// `AWS_REGION`, else `AWS_DEFAULT_REGION`, as the SDKs read them, with the variable's name.
fn environment_region(env: &Environment) -> Option<(String, &'static str)> {
    ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .into_iter()
        .find_map(|name| environment::var(env, name).map(|v| (v.to_string(), name)))
}

/// The region of an AMP URL (`aps-workspaces.<region>.amazonaws.com`).
fn amp_region(url: &str) -> Option<String> {
    let host = reqwest::Url::parse(url).ok()?.host_str()?.to_string();
    let rest = host.strip_prefix("aps-workspaces.")?;
    Some(rest.split('.').next()?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(region: Option<&str>) -> SigV4Config {
        SigV4Config {
            region: region.map(str::to_string),
            service: "aps".into(),
            role_arn: None,
        }
    }

    #[test]
    fn region_from_property_then_environment_then_amp_url() {
        let amp = "https://aps-workspaces.ap-southeast-2.amazonaws.com/workspaces/ws-1/api/v1/remote_write";
        let env: Environment = [("AWS_REGION".to_string(), "eu-central-1".to_string())].into();
        let none = Environment::new();
        assert_eq!(
            signing_region(&config(Some("us-west-2")), amp, &env).unwrap(),
            "us-west-2"
        );
        assert_eq!(
            signing_region(&config(None), amp, &env).unwrap(),
            "eu-central-1"
        );
        assert_eq!(
            signing_region(&config(None), amp, &none).unwrap(),
            "ap-southeast-2"
        );
        let err =
            signing_region(&config(None), "http://127.0.0.1:9090/api/v1/write", &none).unwrap_err();
        assert_eq!(err.property, "sigv4.region");
    }

    #[test]
    fn a_signing_region_other_than_the_amp_urls_is_a_warning() {
        let amp = "https://aps-workspaces.ap-southeast-2.amazonaws.com/workspaces/ws-1/api/v1/remote_write";
        let env: Environment = [("AWS_REGION".to_string(), "eu-central-1".to_string())].into();
        let none = Environment::new();
        let warning = region_mismatch(&config(None), amp, &env).unwrap();
        assert!(
            warning.contains("region eu-central-1 (from AWS_REGION)"),
            "{warning}"
        );
        assert!(warning.contains("sigv4.region=ap-southeast-2"), "{warning}");
        assert!(region_mismatch(&config(Some("us-east-1")), amp, &none)
            .unwrap()
            .contains("(from sigv4.region)"));
        assert_eq!(
            region_mismatch(&config(Some("ap-southeast-2")), amp, &env),
            None
        );
        assert_eq!(region_mismatch(&config(None), amp, &none), None);
        assert_eq!(
            region_mismatch(&config(None), "http://127.0.0.1:9090/api/v1/write", &env),
            None
        );
    }
}
