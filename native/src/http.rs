//! What the remote-write client and the AWS credential calls share about HTTP.

/// reqwest's Display omits the cause ("error sending request"); the cause is what the user
/// needs ("connection refused"). The URL it names is redacted (`redact_url`).
pub fn describe_error(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_string()
    } else {
        e.to_string()
    };
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), &redact_url(url.as_str()));
    }
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A URL as it may be logged: `https://user:secret@host/p?token=abc&x=1` becomes
/// `https://***@host/p?token=***&x=***`. Works on text that is not a valid URL too (a
/// malformed proxy variable), since that is where a secret is likeliest to be echoed.
pub fn redact_url(url: &str) -> String {
    let (url, fragment) = url
        .split_once('#')
        .map_or((url, None), |(u, f)| (u, Some(f)));
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let mut out = match base.find("://") {
        Some(scheme_end) => {
            let authority_start = scheme_end + 3;
            let authority_end = base[authority_start..]
                .find('/')
                .map_or(base.len(), |i| authority_start + i);
            match base[authority_start..authority_end].rfind('@') {
                Some(at) => format!(
                    "{}***{}",
                    &base[..authority_start],
                    &base[authority_start + at..]
                ),
                None => base.to_string(),
            }
        }
        None => base.to_string(),
    };
    if let Some(query) = query {
        let names: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) => format!("{name}=***"),
                None => pair.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&names.join("&"));
    }
    if fragment.is_some() {
        out.push_str("#***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_logged_without_userinfo_or_query_values() {
        for (url, logged) in [
            ("https://user:secret@proxy:3128", "https://***@proxy:3128"),
            ("http://secret@[bad", "http://***@[bad"),
            (
                "https://aps.example/api/v1/write?token=abc&x=1",
                "https://aps.example/api/v1/write?token=***&x=***",
            ),
            ("https://host/path#frag", "https://host/path#***"),
            ("https://host/a@b", "https://host/a@b"),
            (
                "http://127.0.0.1:9090/api/v1/write",
                "http://127.0.0.1:9090/api/v1/write",
            ),
            ("not a url at all", "not a url at all"),
        ] {
            assert_eq!(redact_url(url), logged, "{url}");
        }
    }
}
