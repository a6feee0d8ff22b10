//! Container credentials: EKS Pod Identity (`AWS_CONTAINER_CREDENTIALS_FULL_URI` with a token
//! file) and ECS task roles (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`). One GET answers with the
//! same JSON the instance profile uses.

use reqwest::blocking::Client as HttpClient;
use reqwest::header::AUTHORIZATION;

use super::credentials::Credentials;
use super::environment::{var, Environment};
use crate::auth::secret_file::SecretFile;

/// Where ECS serves relative URIs.
const ECS_HOST: &str = "http://169.254.170.2";

/// Plain http is accepted only to these hosts (the SDKs' rule): a token sent in clear text
/// must not leave the machine or the task's link-local network.
const HTTP_HOSTS: &[&str] = &["169.254.170.2", "169.254.170.23", "[fd00:ec2::23]"];

pub struct Container {
    url: String,
    token: Option<Token>,
    http: HttpClient,
}

enum Token {
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`: re-read when it changes (EKS rotates it).
    File(SecretFile),
    Value(String),
}

impl Container {
    /// None when the environment configures no container credentials; `http` is only called
    /// when it does.
    pub fn from_environment(
        env: &Environment,
        http: impl FnOnce() -> Result<HttpClient, String>,
    ) -> Result<Option<Container>, String> {
        let get = |name: &str| var(env, name);
        let url = if let Some(relative) = get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
            format!("{ECS_HOST}{relative}")
        } else if let Some(full) = get("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
            check_full_uri(full)?;
            full.to_string()
        } else {
            return Ok(None);
        };
        let token = if let Some(file) = get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") {
            Some(Token::File(SecretFile::new(
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                file,
            )))
        } else {
            get("AWS_CONTAINER_AUTHORIZATION_TOKEN").map(|t| Token::Value(t.to_string()))
        };
        Ok(Some(Container {
            url,
            token,
            http: http()?,
        }))
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn fetch(&self) -> Result<Credentials, String> {
        let mut request = self.http.get(&self.url);
        match &self.token {
            Some(Token::File(file)) => request = request.header(AUTHORIZATION, file.current()?),
            Some(Token::Value(value)) => request = request.header(AUTHORIZATION, value.as_str()),
            None => {}
        }
        let what = format!("container credentials at {}", self.url);
        let text = super::answer::answer_text(request, &what)?;
        super::imds::parse_credentials_json(&text).map_err(|e| format!("{what}: {e}"))
    }
}

fn check_full_uri(uri: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(uri)
        .map_err(|e| format!("AWS_CONTAINER_CREDENTIALS_FULL_URI '{uri}' is not a URL: {e}"))?;
    let host = parsed.host_str().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
        || host == "[::1]";
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback || HTTP_HOSTS.contains(&host) => Ok(()),
        _ => Err(format!(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI '{uri}' must be https, or http to a loopback \
             or the EKS/ECS link-local address"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_loopback_or_the_link_local_agents() {
        assert!(check_full_uri("http://127.0.0.1:8080/creds").is_ok());
        assert!(check_full_uri("http://169.254.170.23/v1/credentials").is_ok());
        assert!(check_full_uri("https://creds.example.com/x").is_ok());
        assert!(check_full_uri("http://creds.example.com/x").is_err());
    }
}
