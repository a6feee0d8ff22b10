//! Which proxy, if any, the remote-write client goes through, decided once for its one URL, so
//! that every failure can name it. First the JVM's way (`-Dhttps.proxyHost`/`-Dhttps.proxyPort`,
//! `-Dhttp.proxyHost` for an http URL, `-Dhttp.nonProxyHosts`, as set in
//! `spark.{driver,executor}.extraJavaOptions`; the Java side hands them over), then the
//! environment's (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`, either case).

use std::net::IpAddr;

use crate::auth::aws::environment::{var, Environment};
use crate::config::JvmNetwork;

/// The proxy requests go through, and where that was set (for log lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxy {
    pub url: String,
    pub from: &'static str,
}

/// The JVM's `http.nonProxyHosts` when it is not set (the JDK's own default).
const JVM_DEFAULT_NON_PROXY_HOSTS: &str = "localhost|127.*|[::1]|0.0.0.0|[::0]";

/// The proxy for `url`, or None to connect directly.
pub fn for_url(url: &reqwest::Url, jvm: &JvmNetwork, env: &Environment) -> Option<Proxy> {
    let host = url
        .host_str()?
        .trim_matches(['[', ']'])
        .to_ascii_lowercase();
    let https = url.scheme() == "https";
    let jvm_proxy = if https {
        &jvm.https_proxy
    } else {
        &jvm.http_proxy
    };
    if let Some(address) = jvm_proxy {
        let exempt = jvm
            .non_proxy_hosts
            .as_deref()
            .unwrap_or(JVM_DEFAULT_NON_PROXY_HOSTS);
        return (!jvm_exempts(exempt, &host)).then(|| Proxy {
            url: with_scheme(address),
            from: if https {
                "-Dhttps.proxyHost"
            } else {
                "-Dhttp.proxyHost"
            },
        });
    }
    let either = |upper: &str| var(env, upper).or_else(|| var(env, &upper.to_ascii_lowercase()));
    let (name, address) = if https {
        ("HTTPS_PROXY", either("HTTPS_PROXY")?)
    } else {
        ("HTTP_PROXY", either("HTTP_PROXY")?)
    };
    if either("NO_PROXY").is_some_and(|list| no_proxy_exempts(list, &host)) {
        return None;
    }
    Some(Proxy {
        url: with_scheme(address),
        from: name,
    })
}

/// `proxy:3128` is taken as `http://proxy:3128`, as curl and the JVM take it.
fn with_scheme(address: &str) -> String {
    if address.contains("://") {
        address.to_string()
    } else {
        format!("http://{address}")
    }
}

/// `http.nonProxyHosts`: `|`-separated host names, each with at most a `*` at either end.
fn jvm_exempts(patterns: &str, host: &str) -> bool {
    patterns.split('|').map(str::trim).any(|pattern| {
        let pattern = pattern.trim_matches(['[', ']']).to_ascii_lowercase();
        if let Some(suffix) = pattern.strip_prefix('*') {
            host.ends_with(suffix)
        } else if let Some(prefix) = pattern.strip_suffix('*') {
            host.starts_with(prefix)
        } else {
            !pattern.is_empty() && pattern == host
        }
    })
}

/// `NO_PROXY`: comma-separated host names (each also covering its subdomains, with or without a
/// leading `.`), IP addresses, CIDR ranges, or `*` for every host.
fn no_proxy_exempts(list: &str, host: &str) -> bool {
    let host_ip = host.parse::<IpAddr>().ok();
    list.split(',').map(str::trim).any(|entry| {
        let entry = entry.to_ascii_lowercase();
        if entry == "*" {
            return true;
        }
        if let Some((network, bits)) = entry.split_once('/') {
            return match (host_ip, network.parse::<IpAddr>(), bits.parse::<u32>()) {
                (Some(ip), Ok(network), Ok(bits)) => in_network(ip, network, bits),
                _ => false,
            };
        }
        let entry = entry.trim_matches(['[', ']']);
        if let (Some(ip), Ok(listed)) = (host_ip, entry.parse::<IpAddr>()) {
            return ip == listed;
        }
        // A port in the entry does not narrow it here.
        let name = entry.rsplit_once(':').map_or(entry, |(name, _)| name);
        let name = name.trim_start_matches("*.").trim_start_matches('.');
        !name.is_empty() && (host == name || host.ends_with(&format!(".{name}")))
    })
}

fn in_network(ip: IpAddr, network: IpAddr, bits: u32) -> bool {
    match (ip, network) {
        (IpAddr::V4(ip), IpAddr::V4(network)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(ip) & mask == u32::from(network) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(network)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(ip) & mask == u128::from(network) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> reqwest::Url {
        reqwest::Url::parse(text).unwrap()
    }

    fn env(pairs: &[(&str, &str)]) -> Environment {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const AMP: &str =
        "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write";

    #[test]
    fn the_jvms_proxy_comes_first_then_the_environments() {
        let jvm = JvmNetwork {
            https_proxy: Some("jvm-proxy:3128".into()),
            ..JvmNetwork::default()
        };
        let both = env(&[("HTTPS_PROXY", "http://env-proxy:8080")]);
        assert_eq!(
            for_url(&url(AMP), &jvm, &both),
            Some(Proxy {
                url: "http://jvm-proxy:3128".into(),
                from: "-Dhttps.proxyHost"
            })
        );
        assert_eq!(
            for_url(&url(AMP), &JvmNetwork::default(), &both).map(|p| p.from),
            Some("HTTPS_PROXY")
        );
        // An http URL takes the http proxy only.
        assert_eq!(
            for_url(&url("http://prometheus:9090/api/v1/write"), &jvm, &both),
            None
        );
        let lower = env(&[("http_proxy", "proxy:3128")]);
        assert_eq!(
            for_url(
                &url("http://prometheus:9090/w"),
                &JvmNetwork::default(),
                &lower
            )
            .map(|p| p.url),
            Some("http://proxy:3128".into())
        );
    }

    #[test]
    fn exemptions_follow_each_ways_syntax() {
        let jvm = |non_proxy: Option<&str>| JvmNetwork {
            https_proxy: Some("p:1".into()),
            non_proxy_hosts: non_proxy.map(str::to_string),
            ..JvmNetwork::default()
        };
        let none = Environment::new();
        // The JDK's default exempts loopback.
        assert_eq!(
            for_url(&url("https://127.0.0.1:9/w"), &jvm(None), &none),
            None
        );
        assert_eq!(
            for_url(&url("https://localhost:9/w"), &jvm(None), &none),
            None
        );
        assert!(for_url(&url(AMP), &jvm(Some("*.internal|localhost")), &none).is_some());
        assert_eq!(
            for_url(&url(AMP), &jvm(Some("*.amazonaws.com")), &none),
            None
        );
        assert_eq!(
            for_url(&url(AMP), &jvm(Some("aps-workspaces.*")), &none),
            None
        );

        let proxied = |no_proxy: &str, target: &str| {
            for_url(
                &url(target),
                &JvmNetwork::default(),
                &env(&[("HTTPS_PROXY", "http://p:1"), ("NO_PROXY", no_proxy)]),
            )
            .is_some()
        };
        assert!(!proxied(".amazonaws.com", AMP));
        assert!(!proxied("amazonaws.com", AMP));
        assert!(!proxied("*", AMP));
        assert!(proxied("example.com,notamazonaws.com", AMP));
        assert!(!proxied("10.0.0.0/8", "https://10.1.2.3/w"));
        assert!(proxied("10.0.0.0/8", "https://11.1.2.3/w"));
        assert!(!proxied("10.1.2.3", "https://10.1.2.3/w"));
        assert!(!proxied("mimir.internal:443", "https://mimir.internal/w"));
    }
}
