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

use std::time::Duration;

use reqwest::blocking::Client as HttpClient;

use super::container::Container;
use super::credentials::Credentials;
use super::environment::{var, Environment};
use super::imds::Imds;
use super::sts::Sts;
use crate::auth::secret_file::SecretFile;

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
        // need no client (each one is a thread with its own runtime). STS is a public endpoint
        // and goes through the proxy the environment names; the link-local services do not.
        let client = once_cell::unsync::OnceCell::new();
        let http = || client.get_or_try_init(direct_http).cloned();
        let sts_client = once_cell::unsync::OnceCell::new();
        let sts = || -> Result<Sts, String> {
            let http = sts_client.get_or_try_init(|| sts_http(env))?.clone();
            Ok(Sts::new(sts_endpoint(env, region), region, http))
        };
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
            Base::Imds(imds) => imds.fetch().map_err(|e| no_credentials_found(&e))?,
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

/// The instance profile was the last source and it did not answer: say which sources were
/// looked at and what each platform needs, not only IMDS's error.
fn no_credentials_found(imds_error: &str) -> String {
    format!(
        "no AWS credentials: AWS_ACCESS_KEY_ID, AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE (IRSA) and \
         AWS_CONTAINER_CREDENTIALS_FULL_URI (EKS Pod Identity, ECS) are not set, and the instance \
         profile did not answer ({imds_error}). On EKS give the driver and the executors a service \
         account with an IRSA role or a Pod Identity association; on EC2, EMR and Databricks attach \
         an instance profile; a container on EC2 reaches IMDSv2 only with a hop limit of 2 or more"
    )
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

/// The client settings of every credential call. Short timeouts: IMDS answers in milliseconds
/// where it exists, and where it does not a connection attempt must not hold the sender long.
fn credential_http_builder() -> reqwest::blocking::ClientBuilder {
    HttpClient::builder()
        .no_proxy()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .user_agent(format!("sparkprom/{}", crate::VERSION))
}

fn build(builder: reqwest::blocking::ClientBuilder) -> Result<HttpClient, String> {
    builder
        .build()
        .map_err(|e| format!("cannot build the HTTP client for AWS credentials: {e}"))
}

/// IMDS and the container service: link-local or loopback, never behind a proxy (the SDKs
/// call them directly too).
fn direct_http() -> Result<HttpClient, String> {
    build(credential_http_builder())
}

/// STS: through `HTTPS_PROXY` (or `HTTP_PROXY` for an http endpoint) unless `NO_PROXY` covers
/// it, as the AWS SDKs do. In a VPC whose only way out is a proxy there are no credentials
/// otherwise. Read from `env` rather than left to reqwest, so the rule is ours and testable.
fn sts_http(env: &Environment) -> Result<HttpClient, String> {
    let either = |upper: &str| var(env, upper).or_else(|| var(env, &upper.to_lowercase()));
    let no_proxy = either("NO_PROXY").and_then(reqwest::NoProxy::from_string);
    let mut builder = credential_http_builder();
    for (name, scheme) in [("HTTPS_PROXY", "https"), ("HTTP_PROXY", "http")] {
        let Some(url) = either(name) else { continue };
        let proxy = match scheme {
            "https" => reqwest::Proxy::https(url),
            _ => reqwest::Proxy::http(url),
        };
        match proxy {
            Ok(proxy) => builder = builder.proxy(proxy.no_proxy(no_proxy.clone())),
            // The remote-write client ignores a variable it cannot read; so does STS, rather
            // than failing the sink's start on it. The value may carry credentials: redacted.
            Err(e) => tracing::warn!(
                "{name}={} is not a proxy URL ({e}); AWS STS is called without a proxy. Fix the variable",
                crate::http::redact_url(url)
            ),
        }
    }
    build(builder)
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

    /// A proxy on 127.0.0.1 that writes down each request line it gets. CONNECT (the https
    /// case) is refused after it is recorded; a plain-http request in absolute form is answered
    /// as STS would answer it, so credentials come back through the proxy.
    fn proxy() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = std::sync::Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let (mut line, mut length) = (String::new(), 0usize);
                reader.read_line(&mut line).unwrap();
                log.lock().unwrap().push(line.trim().to_string());
                loop {
                    let mut header = String::new();
                    reader.read_line(&mut header).unwrap();
                    if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                    if header.trim().is_empty() {
                        break;
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let answer = if line.starts_with("CONNECT") {
                    "HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n".to_string()
                } else {
                    let xml = "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>\
                               <Credentials><AccessKeyId>ASIAPROXIED</AccessKeyId><SecretAccessKey>s</SecretAccessKey>\
                               <SessionToken>t</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration>\
                               </Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>";
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{xml}",
                        xml.len()
                    )
                };
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        (url, seen)
    }

    fn web_identity(extra: &[(&str, &str)]) -> Environment {
        let token = std::env::temp_dir().join(format!("sparkprom-token-{}", std::process::id()));
        std::fs::write(&token, "eyJ.token").unwrap();
        let mut e = env(&[("AWS_ROLE_ARN", "arn:aws:iam::1:role/r")]);
        e.insert(
            "AWS_WEB_IDENTITY_TOKEN_FILE".into(),
            token.display().to_string(),
        );
        e.extend(env(extra));
        e
    }

    #[test]
    fn sts_goes_through_the_proxy_and_the_link_local_services_do_not() {
        let (proxy_url, seen) = proxy();

        // The regional https endpoint: a tunnel is asked for at the proxy.
        let source = Source::from_environment(
            &web_identity(&[("HTTPS_PROXY", &proxy_url)]),
            "eu-west-1",
            None,
        )
        .unwrap();
        let error = source.fetch().unwrap_err();
        assert!(error.contains("STS AssumeRoleWithWebIdentity"), "{error}");
        assert_eq!(
            seen.lock().unwrap().as_slice(),
            ["CONNECT sts.eu-west-1.amazonaws.com:443 HTTP/1.1"]
        );

        // An http endpoint through HTTP_PROXY (lower case, as often set): the credentials
        // come back through the proxy; the host never has to resolve here.
        seen.lock().unwrap().clear();
        let source = Source::from_environment(
            &web_identity(&[
                ("http_proxy", &proxy_url),
                ("AWS_ENDPOINT_URL_STS", "http://sts.proxied.test"),
            ]),
            "eu-west-1",
            None,
        )
        .unwrap();
        assert_eq!(source.fetch().unwrap().access_key_id, "ASIAPROXIED");
        assert_eq!(
            seen.lock().unwrap().as_slice(),
            ["POST http://sts.proxied.test/ HTTP/1.1"]
        );

        // NO_PROXY covers STS: no tunnel.
        seen.lock().unwrap().clear();
        let no_proxy = web_identity(&[("HTTPS_PROXY", &proxy_url), ("NO_PROXY", ".amazonaws.com")]);
        let _ = Source::from_environment(&no_proxy, "eu-west-1", None)
            .unwrap()
            .fetch();
        // The container service and IMDS are called directly, whatever the variables say.
        let unreachable = "http://127.0.0.1:9";
        for service in [
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", unreachable),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", unreachable),
        ] {
            let e = env(&[
                ("HTTPS_PROXY", &proxy_url),
                ("HTTP_PROXY", &proxy_url),
                service,
            ]);
            let _ = Source::from_environment(&e, "eu-west-1", None)
                .unwrap()
                .fetch();
        }
        assert!(
            seen.lock().unwrap().is_empty(),
            "{:?}",
            seen.lock().unwrap()
        );

        // A variable reqwest cannot read (the remote-write client ignores it too) does not fail
        // the start: STS goes direct, and the WARN shows it without its credentials.
        let bad = Source::from_environment(
            &web_identity(&[("HTTPS_PROXY", "http://user:secret@[::1")]),
            "eu-west-1",
            None,
        );
        assert!(bad.is_ok());
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
