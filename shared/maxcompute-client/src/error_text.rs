//! How error answers and transport failures read in messages: the one spelling shared by the
//! MaxCompute errors (`error`) and the STS errors (`credentials`). Pure text; a leaf module that
//! imports nothing else of the client.

use std::fmt;

/// The longest error-body excerpt kept when a body has no recognised error shape, so a proxy's
/// HTML page cannot flood logs.
pub(crate) const MAX_RAW_MESSAGE: usize = 512;

/// `HTTP 404 NoSuchPartition: message (request id ...)`, the one spelling of a service's error
/// answer (MaxCompute's and STS's) in messages and logs.
pub(crate) fn write_service_error(
    f: &mut fmt::Formatter<'_>,
    status: u16,
    code: &str,
    message: &str,
    request_id: Option<&str>,
) -> fmt::Result {
    let code = if code.is_empty() { "(no code)" } else { code };
    write!(f, "HTTP {status} {code}: {message}")?;
    if let Some(id) = request_id {
        write!(f, " (request id {id})")?;
    }
    Ok(())
}

/// At most [`MAX_RAW_MESSAGE`] bytes of `text` (cut at a character boundary, marked with `…`).
pub(crate) fn excerpt(text: &str) -> String {
    if text.len() <= MAX_RAW_MESSAGE {
        return text.to_owned();
    }
    let mut end = MAX_RAW_MESSAGE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", text.get(..end).unwrap_or_default())
}

/// What went wrong in transport, for one-line messages that do not print the source chain.
pub(crate) fn transport_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_body() || e.is_decode() {
        "broken response body"
    } else if e.is_builder() {
        "cannot build the request"
    } else {
        "request failed"
    }
}
