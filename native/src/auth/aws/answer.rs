//! Reading a credential service's answer (IMDS, the container service).

/// The body of a successful answer from a credential service; any failure is described as
/// "`what`: why" (the status only: an error body is never shown, so no secret can reach a log).
pub fn answer_text(
    request: reqwest::blocking::RequestBuilder,
    what: &str,
) -> Result<String, String> {
    let response = request
        .send()
        .map_err(|e| format!("{what}: {}", crate::http::describe_error(&e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("{what}: HTTP {}", status.as_u16()));
    }
    response.text().map_err(|e| format!("{what}: {e}"))
}
