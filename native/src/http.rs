//! What the remote-write client and the AWS credential calls share about HTTP.

/// reqwest's Display omits the cause ("error sending request"); the cause is what the user
/// needs ("connection refused").
pub fn describe_error(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_string()
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
