//! The client's error type and the one place that decides whether an error is transient
//! (worth retrying within the invocation) or permanent.
//!
//! Service errors are parsed from both body shapes MaxCompute uses: the service API's XML
//! `<Error><Code/><Message/><RequestId/><HostId/></Error>` and the tunnel's JSON
//! `{"Code", "Message", "RequestId"}`. This module does no I/O and does not decide how long to
//! wait between attempts (that is `retry`).

use std::fmt;

use super::credentials::CredentialsError;
use super::endpoint::EndpointError;
use super::error_text::{excerpt, transport_kind, write_service_error};
use super::limits::MAX_BLOCKS;
use super::retry::{GiveUp, Retryable};
use super::xml;
use maxcompute_core::protocol::{ErrorCode, SessionState};
use maxcompute_core::spec::SpecError;

/// An error answer from MaxCompute (any non-2xx status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceError {
    pub status: u16,
    /// The error code such as `NoSuchPartition`; `None` when the body carried none.
    pub code: Option<ErrorCode>,
    pub message: String,
    /// From the body, else from the `x-odps-request-id` response header.
    pub request_id: Option<String>,
}

impl ServiceError {
    /// Parses an error body (XML or JSON); falls back to the raw text when neither parses.
    pub fn from_response(status: u16, request_id_header: Option<&str>, body: &[u8]) -> Self {
        let text = String::from_utf8_lossy(body);
        let trimmed = text.trim();
        let parsed = if trimmed.starts_with('{') {
            parse_json(trimmed)
        } else if trimmed.starts_with('<') {
            parse_xml(trimmed)
        } else {
            None
        };
        let (code, message, request_id) =
            parsed.unwrap_or_else(|| (String::new(), excerpt(trimmed), None));
        let code = Some(code)
            .filter(|c| !c.is_empty())
            .map(|c| ErrorCode::parse(&c));
        let request_id = request_id
            .filter(|r| !r.is_empty())
            .or_else(|| request_id_header.map(str::to_owned));
        Self {
            status,
            code,
            message,
            request_id,
        }
    }

    /// Whether the service refused the request's credentials (not its permissions): a wrong or
    /// unknown AccessKey, a bad signature, expired temporary credentials. New credentials may
    /// succeed where these failed.
    pub fn is_authentication_failure(&self) -> bool {
        self.status == 401
            || matches!(
                self.code,
                Some(
                    ErrorCode::Unauthorized
                        | ErrorCode::SignatureNotMatch
                        | ErrorCode::InvalidAccessKeyId
                        | ErrorCode::AuthenticationRequestExpired
                )
            )
    }

    /// Whether this status is worth retrying: throttling (429), server errors (5xx), request
    /// timeout (408) and the tunnel's slot reassignment (308).
    pub fn is_transient(&self) -> bool {
        matches!(self.status, 308 | 408 | 429 | 500..=599)
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_service_error(
            f,
            self.status,
            self.code.as_ref().map_or("", ErrorCode::as_str),
            &self.message,
            self.request_id.as_deref(),
        )
    }
}

fn parse_json(text: &str) -> Option<(String, String, Option<String>)> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let field = |k: &str| value.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let code = field("Code")?;
    Some((
        code,
        field("Message").unwrap_or_default(),
        field("RequestId"),
    ))
}

fn parse_xml(text: &str) -> Option<(String, String, Option<String>)> {
    let code = xml::text_at(text, &["Error", "Code"])?;
    Some((
        code,
        xml::text_at(text, &["Error", "Message"]).unwrap_or_default(),
        xml::text_at(text, &["Error", "RequestId"]),
    ))
}

/// Why a request or a flow failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("MaxCompute answered {0}")]
    Service(ServiceError),

    /// MaxCompute refused the credentials and their provider has dropped them to get fresh
    /// ones (a rotated secret, renewed temporary credentials): worth another attempt.
    #[error("MaxCompute refused the credentials, which will be read again: {0}")]
    CredentialsRefused(ServiceError),

    /// Connecting, sending or reading failed (including timeouts).
    #[error("transport error talking to MaxCompute ({})", transport_kind(.0))]
    Transport(#[source] reqwest::Error),

    #[error(transparent)]
    Credentials(#[from] CredentialsError),

    #[error("invalid client configuration: {what}: {reason}")]
    Config { what: &'static str, reason: String },

    /// A configured endpoint (`endpoint`, `tunnel_endpoint`) that is not an endpoint URL.
    #[error("invalid client configuration: {what}: {source}")]
    Endpoint {
        what: &'static str,
        #[source]
        source: EndpointError,
    },

    #[error("invalid {kind} name {name:?}: use letters, digits and underscores, at most 128 bytes")]
    InvalidName { kind: &'static str, name: String },

    #[error(transparent)]
    PartitionSpec(#[from] SpecError),

    /// A success answer whose body or headers do not have the documented shape.
    #[error("unexpected answer from MaxCompute to {what}: {detail}")]
    Protocol { what: &'static str, detail: String },

    /// A SQL instance (such as `ALTER TABLE ... ADD PARTITION`) ended without success; `message`
    /// is the task's result text.
    #[error("SQL instance {instance_id} ended with task status {status}: {message}")]
    SqlFailed {
        instance_id: String,
        status: String,
        message: String,
    },

    /// The server's block list of an upload session differs from the blocks the caller wrote.
    #[error(
        "upload session {upload_id}: the server holds blocks {server:?} but {expected:?} were written"
    )]
    BlockListMismatch {
        upload_id: String,
        expected: Vec<u32>,
        server: Vec<u32>,
    },

    #[error("block id {0} is outside the allowed range 0..{max}", max = MAX_BLOCKS)]
    InvalidBlockId(u32),

    /// A session that can take no commit: expired, canceled or failed on the server.
    #[error("session {session} is {status}, not open for a commit")]
    SessionNotOpen {
        session: String,
        status: SessionState,
    },

    /// The deadline came before the call could succeed; `last` is the last transient error seen.
    #[error("gave up at the deadline after {attempts} attempt(s){}", last_suffix(.last))]
    DeadlineExceeded {
        attempts: u32,
        last: Option<Box<Error>>,
    },

    /// The retry policy's attempt limit was reached on transient errors.
    #[error("gave up after {attempts} attempts: {last}")]
    RetriesExhausted { attempts: u32, last: Box<Error> },
}

fn last_suffix(last: &Option<Box<Error>>) -> String {
    match last {
        Some(e) => format!(": {e}"),
        None => String::new(),
    }
}

impl Error {
    /// The single classification of every error: `true` when the same call may succeed later
    /// (throttling, server or network trouble, a deadline that ran out on such trouble), `false`
    /// when retrying cannot help (bad request, missing object, bad credentials, bad data).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Service(e) => e.is_transient(),
            Self::CredentialsRefused(_) => true,
            // A request that could not even be built will not build next time either.
            Self::Transport(e) => !(e.is_builder() || e.is_redirect()),
            Self::Credentials(e) => e.transient,
            Self::DeadlineExceeded { .. } | Self::RetriesExhausted { .. } => true,
            Self::Config { .. }
            | Self::Endpoint { .. }
            | Self::InvalidName { .. }
            | Self::PartitionSpec(_)
            | Self::Protocol { .. }
            | Self::SqlFailed { .. }
            | Self::BlockListMismatch { .. }
            | Self::InvalidBlockId(_)
            | Self::SessionNotOpen { .. } => false,
        }
    }

    /// The service error behind this error, looking through retry wrappers.
    pub fn service_error(&self) -> Option<&ServiceError> {
        match self {
            Self::Service(e) | Self::CredentialsRefused(e) => Some(e),
            Self::DeadlineExceeded { last: Some(e), .. }
            | Self::RetriesExhausted { last: e, .. } => e.service_error(),
            _ => None,
        }
    }

    /// The MaxCompute error code (`NoSuchPartition`, ...), if this is a service error.
    pub fn code(&self) -> Option<&ErrorCode> {
        self.service_error().and_then(|e| e.code.as_ref())
    }

    /// Whether this is a service error with `code` (looking through retry wrappers).
    pub fn has_code(&self, code: &ErrorCode) -> bool {
        self.code() == Some(code)
    }

    /// How many attempts were made, for errors that went through the retry loop.
    pub fn attempts(&self) -> Option<u32> {
        match self {
            Self::DeadlineExceeded { attempts, .. } | Self::RetriesExhausted { attempts, .. } => {
                Some(*attempts)
            }
            _ => None,
        }
    }

    /// A short stable name of the variant, for structured logs and error-topic headers.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Service(_) => "service",
            Self::CredentialsRefused(_) => "credentials_refused",
            Self::Transport(_) => "transport",
            Self::Credentials(_) => "credentials",
            Self::Config { .. } | Self::Endpoint { .. } => "config",
            Self::InvalidName { .. } => "invalid_name",
            Self::PartitionSpec(_) => "partition_spec",
            Self::Protocol { .. } => "protocol",
            Self::SqlFailed { .. } => "sql_failed",
            Self::BlockListMismatch { .. } => "block_list_mismatch",
            Self::InvalidBlockId(_) => "invalid_block_id",
            Self::SessionNotOpen { .. } => "session_not_open",
            Self::DeadlineExceeded { .. } => "deadline_exceeded",
            Self::RetriesExhausted { .. } => "retries_exhausted",
        }
    }

    pub(crate) fn protocol(what: &'static str, detail: impl Into<String>) -> Self {
        Self::Protocol {
            what,
            detail: detail.into(),
        }
    }
}

impl Retryable for Error {
    fn is_transient(&self) -> bool {
        Error::is_transient(self)
    }

    fn give_up(reason: GiveUp, attempts: u32, last: Self) -> Self {
        match reason {
            GiveUp::Deadline => Self::DeadlineExceeded {
                attempts,
                last: Some(Box::new(last)),
            },
            GiveUp::Attempts => Self::RetriesExhausted {
                attempts,
                last: Box::new(last),
            },
        }
    }

    fn deadline_passed() -> Self {
        Self::DeadlineExceeded {
            attempts: 0,
            last: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::error_text::MAX_RAW_MESSAGE;
    use super::*;

    #[test]
    fn parses_xml_error_bodies() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>NoSuchPartition</Code><Message>The specified partition does not exist</Message><RequestId>abc123</RequestId><HostId>h</HostId></Error>"#;
        let e = ServiceError::from_response(404, Some("hdr"), body);
        assert_eq!(e.code, Some(ErrorCode::NoSuchPartition));
        assert_eq!(e.message, "The specified partition does not exist");
        assert_eq!(e.request_id.as_deref(), Some("abc123"));
        assert!(!e.is_transient());
    }

    #[test]
    fn parses_json_error_bodies_and_falls_back_to_the_header_request_id() {
        let body = br#"{"Code":"FlowExceeded","Message":"slots"}"#;
        let e = ServiceError::from_response(429, Some("hdr-id"), body);
        assert_eq!(
            (e.code.clone(), e.message.as_str()),
            (Some(ErrorCode::FlowExceeded), "slots")
        );
        assert_eq!(e.request_id.as_deref(), Some("hdr-id"));
        assert!(e.is_transient());
    }

    #[test]
    fn keeps_a_bounded_excerpt_of_other_bodies() {
        let body = "é".repeat(600);
        let e = ServiceError::from_response(502, None, body.as_bytes());
        assert_eq!(e.code, None);
        assert!(e.message.len() <= MAX_RAW_MESSAGE + "…".len());
        assert!(e.is_transient());
        assert_eq!(
            e.to_string().split(':').next().unwrap(),
            "HTTP 502 (no code)"
        );
    }

    #[test]
    fn classification() {
        let svc = |status| Error::Service(ServiceError::from_response(status, None, b""));
        for s in [308, 408, 429, 500, 502, 503, 504] {
            assert!(svc(s).is_transient(), "{s}");
        }
        for s in [400, 401, 403, 404, 409, 412] {
            assert!(!svc(s).is_transient(), "{s}");
        }
        let wrapped = Error::DeadlineExceeded {
            attempts: 3,
            last: Some(Box::new(svc(503))),
        };
        assert!(wrapped.is_transient());
        assert_eq!(wrapped.attempts(), Some(3));
        assert_eq!(wrapped.service_error().map(|e| e.status), Some(503));
    }
}
