//! Where AWS credentials come from, chosen the way the AWS SDKs' default chain chooses:
//! the first source the environment configures wins, in this order:
//!
//! 1. `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`;
//! 2. web identity: `AWS_ROLE_ARN` + `AWS_WEB_IDENTITY_TOKEN_FILE`, exchanged at STS
//!    (EKS IAM roles for service accounts, which EMR on EKS uses);
//! 3. container credentials: `AWS_CONTAINER_CREDENTIALS_FULL_URI` (EKS Pod Identity, with
//!    `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`) or `..._RELATIVE_URI` (ECS);
//! 4. the EC2 instance profile through IMDSv2 (Databricks on AWS), unless
//!    `AWS_EC2_METADATA_DISABLED=true`.
//!
//! Then, with `sigv4.roleArn`, those credentials assume a further role.
//!
//! Hand-written instead of the AWS SDK's `aws-config`: each source is one or two plain HTTP
//! calls, which the blocking client we already ship makes; `aws-config` would add an async
//! runtime, the STS SDK and a second TLS stack (aws-lc) to a library loaded into every executor
//! and built for glibc 2.17.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::blocking::Client as HttpClient;

use super::container::Container;
use super::credentials::Credentials;
use super::imds::Imds;
use super::sts::Sts;
use crate::auth::secret_file::SecretFile;

/// The process environment, read once; tests pass their own.
pub type Environment = BTreeMap<String, String>;

pub fn process_environment() -> Environment {
    std::env::vars().collect()
}

/// A variable's value, trimmed; None when it is unset or blank (the SDKs treat both alike).
pub fn var<'a>(env: &'a Environment, name: &str) -> Option<&'a str> {
    env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

pub struct Source {
    base: Base,
    /// `sigv4.roleArn`: assumed with the base credentials.
    assume_role: Option<(String, Sts)>,
    session_name: String,
}

enum Base {
    Environment(Credentials),
    WebIdentity {
        role_arn: String,
        token: SecretFile,
        sts: Sts,
    },
    Container(Container),
    Imds(Imds),
}

impl Source {
    /// Picks the source the environment configures. `region` is the signing region; STS is
    /// called in it unless an endpoint is given.
    pub fn from_environment(
        env: &Environment,
        region: &str,
        role_arn: Option<&str>,
    ) -> Result<Source, String> {
        let get = |name: &str| var(env, name);
        // Built once, and only for a source that calls a credential service: environment keys
        // need no client (each one is a thread with its own runtime).
        let client = once_cell::unsync::OnceCell::new();
        let http = || client.get_or_try_init(credential_http).cloned();
        let sts =
            || -> Result<Sts, String> { Ok(Sts::new(sts_endpoint(env, region), region, http()?)) };
        let base = if let Some(access_key_id) = get("AWS_ACCESS_KEY_ID") {
            let secret = get("AWS_SECRET_ACCESS_KEY")
                .ok_or("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")?;
            Base::Environment(Credentials {
                access_key_id: access_key_id.to_string(),
                secret_access_key: secret.to_string(),
                session_token: get("AWS_SESSION_TOKEN").map(str::to_string),
                expires: None,
            })
        } else if let (Some(arn), Some(token_file)) =
            (get("AWS_ROLE_ARN"), get("AWS_WEB_IDENTITY_TOKEN_FILE"))
        {
            Base::WebIdentity {
                role_arn: arn.to_string(),
                token: SecretFile::new("AWS_WEB_IDENTITY_TOKEN_FILE", token_file),
                sts: sts()?,
            }
        } else if let Some(container) = Container::from_environment(env, http)? {
            Base::Container(container)
        } else if get("AWS_EC2_METADATA_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Err(
                "no AWS credentials: none of AWS_ACCESS_KEY_ID, AWS_WEB_IDENTITY_TOKEN_FILE \
                        or AWS_CONTAINER_CREDENTIALS_*_URI is set and AWS_EC2_METADATA_DISABLED \
                        turns off the instance profile"
                    .to_string(),
            );
        } else {
            Base::Imds(Imds::new(
                get("AWS_EC2_METADATA_SERVICE_ENDPOINT").unwrap_or(super::imds::DEFAULT_ENDPOINT),
                http()?,
            ))
        };
        let session_name = get("AWS_ROLE_SESSION_NAME")
            .map(str::to_string)
            .unwrap_or_else(|| format!("sparkprom-{}", std::process::id()));
        Ok(Source {
            base,
            assume_role: match role_arn {
                Some(arn) => Some((arn.to_string(), sts()?)),
                None => None,
            },
            session_name,
        })
    }

    pub fn fetch(&self) -> Result<Credentials, String> {
        let base = match &self.base {
            Base::Environment(credentials) => credentials.clone(),
            Base::WebIdentity {
                role_arn,
                token,
                sts,
            } => {
                // Read at every exchange: the kubelet rotates the projected token.
                let token = token.current()?;
                sts.assume_role_with_web_identity(role_arn, &self.session_name, &token)?
            }
            Base::Container(container) => container.fetch()?,
            Base::Imds(imds) => imds.fetch()?,
        };
        match &self.assume_role {
            None => Ok(base),
            Some((arn, sts)) => sts.assume_role(arn, &self.session_name, &base),
        }
    }

    /// For log lines: which source, never a secret.
    pub fn describe(&self) -> String {
        let base = match &self.base {
            Base::Environment(_) => "environment variables".to_string(),
            Base::WebIdentity { role_arn, .. } => format!("web identity for {role_arn}"),
            Base::Container(c) => format!("container credentials at {}", c.url()),
            Base::Imds(i) => format!("the instance profile (IMDSv2 at {})", i.endpoint()),
        };
        match &self.assume_role {
            None => base,
            Some((arn, _)) => format!("{base}, then assuming {arn}"),
        }
    }
}

/// STS as the SDKs find it: `AWS_ENDPOINT_URL_STS`, then `AWS_ENDPOINT_URL`, then the regional
/// endpoint.
fn sts_endpoint(env: &Environment, region: &str) -> String {
    ["AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"]
        .iter()
        .find_map(|name| var(env, name))
        .map_or_else(
            || format!("https://sts.{region}.amazonaws.com"),
            str::to_string,
        )
}

/// One client for STS, IMDS and the container service. Short timeouts: IMDS answers in
/// milliseconds where it exists, and where it does not a connection attempt must not hold the
/// sender for long. No proxy: the link-local credential services are never behind one.
fn credential_http() -> Result<HttpClient, String> {
    HttpClient::builder()
        .no_proxy()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .user_agent(format!("sparkprom/{}", crate::VERSION))
        .build()
        .map_err(|e| format!("cannot build the HTTP client for AWS credentials: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Environment {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn describe(pairs: &[(&str, &str)]) -> String {
        match Source::from_environment(&env(pairs), "eu-west-1", None) {
            Ok(source) => source.describe(),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn the_first_configured_source_wins_in_the_sdk_order() {
        let keys = [
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
        ];
        let web = [
            ("AWS_ROLE_ARN", "arn:aws:iam::1:role/r"),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/t"),
        ];
        let container = [(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "http://127.0.0.1:1/creds",
        )];
        let all: Vec<_> = keys.iter().chain(&web).chain(&container).copied().collect();
        assert_eq!(describe(&all), "environment variables");
        let no_keys: Vec<_> = web.iter().chain(&container).copied().collect();
        assert_eq!(describe(&no_keys), "web identity for arn:aws:iam::1:role/r");
        assert_eq!(
            describe(&container),
            "container credentials at http://127.0.0.1:1/creds"
        );
        assert_eq!(
            describe(&[]),
            "the instance profile (IMDSv2 at http://169.254.169.254)"
        );
        assert!(describe(&[("AWS_EC2_METADATA_DISABLED", "true")])
            .starts_with("error: no AWS credentials"));
        assert!(describe(&[("AWS_ACCESS_KEY_ID", "AKID")]).contains("AWS_SECRET_ACCESS_KEY is not"));
    }

    #[test]
    fn sts_endpoint_follows_the_sdk_overrides() {
        assert_eq!(
            sts_endpoint(&env(&[]), "us-east-2"),
            "https://sts.us-east-2.amazonaws.com"
        );
        assert_eq!(
            sts_endpoint(
                &env(&[
                    ("AWS_ENDPOINT_URL", "http://a"),
                    ("AWS_ENDPOINT_URL_STS", "http://b")
                ]),
                "x"
            ),
            "http://b"
        );
        assert_eq!(
            sts_endpoint(&env(&[("AWS_ENDPOINT_URL", "http://a")]), "x"),
            "http://a"
        );
    }
}
