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
/// malformed proxy variable), since that is where a secret is likeliest to be echoed: a password
/// may hold `/`, `?`, `#` or `@` unescaped (`http://u:pa/ss@proxy:3128`), so the user part runs
/// to the last `@`, and an `@` after a `/` still ends one when a `:` (user:password) precedes
/// it. When unsure, more is hidden: a password is never printed.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    let rest = match user_info_end(rest) {
        Some(at) => {
            let mut out = format!("{scheme}***");
            out.push_str(&redact_query(&rest[at..]));
            return out;
        }
        None => rest,
    };
    format!("{scheme}{}", redact_query(rest))
}

/// Where the user part of `rest` (a URL after `scheme://`) ends: the index of its `@`.
fn user_info_end(rest: &str) -> Option<usize> {
    let at = rest.rfind('@')?;
    let before = &rest[..at];
    // `host/a@b` is a path; `user:pa/ss@host` (or `u:p?x@h`, `u:p#x@h`) is a password.
    let path_start = before.find(['/', '?', '#']);
    (path_start.is_none() || before.contains(':')).then_some(at)
}

/// `host/p?token=abc#f` with every query value and the fragment hidden.
fn redact_query(text: &str) -> String {
    let (text, fragment) = text
        .split_once('#')
        .map_or((text, None), |(t, f)| (t, Some(f)));
    let (base, query) = text
        .split_once('?')
        .map_or((text, None), |(b, q)| (b, Some(q)));
    let mut out = base.to_string();
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

    /// A proxy variable is written by hand, its password unescaped: `/`, `?`, `#` and `@` in it
    /// must not end the part that is hidden (#34).
    #[test]
    fn a_password_with_url_delimiters_is_never_printed() {
        for (url, logged) in [
            ("http://user:pa/ss@proxy:3128", "http://***@proxy:3128"),
            ("http://user:pa?ss@proxy:3128", "http://***@proxy:3128"),
            ("http://user:pa#ss@proxy:3128", "http://***@proxy:3128"),
            ("http://user:p@ss@proxy:3128/", "http://***@proxy:3128/"),
            ("http://user:a/b?c#d@proxy:3128", "http://***@proxy:3128"),
            ("user:pa/ss@proxy:3128", "***@proxy:3128"),
            (
                "https://u:s/x@h/p?token=abc#f",
                "https://***@h/p?token=***#***",
            ),
        ] {
            let shown = redact_url(url);
            assert_eq!(shown, logged, "{url}");
            assert!(!shown.contains("pa") && !shown.contains("ss@"), "{shown}");
        }
    }
}
