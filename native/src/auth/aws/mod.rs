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
}

impl AwsSigner {
    pub fn new(
        config: &SigV4Config,
        url: &str,
        env: &Environment,
    ) -> Result<AwsSigner, ConfigError> {
        let region = signing_region(config, url, env)?;
        let source = Source::from_environment(env, &region, config.role_arn.as_deref())
            .map_err(|e| ConfigError::new("sigv4.region", format!("SigV4 is on but {e}")))?;
        tracing::info!(
            "signing requests with SigV4 (service {}, region {region}); credentials from {}",
            config.service,
            source.describe()
        );
        Ok(AwsSigner {
            region,
            service: config.service.clone(),
            credentials: CredentialCache::new(source),
        })
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
    let from_env = ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|name| environment::var(env, name))
        .map(str::to_string);
    let from_url = || {
        let host = reqwest::Url::parse(url).ok()?.host_str()?.to_string();
        let rest = host.strip_prefix("aps-workspaces.")?;
        Some(rest.split('.').next()?.to_string())
    };
    config
        .region
        .clone()
        .or(from_env)
        .or_else(from_url)
        .ok_or_else(|| {
            ConfigError::new(
                "sigv4.region",
                "is needed for SigV4: set it (e.g. us-east-1), or AWS_REGION in the \
                 environment, or use an aps-workspaces.<region>.amazonaws.com URL",
            )
        })
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
}
