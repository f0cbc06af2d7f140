//! Where the client gets its signing credentials from.
//!
//! Requests ask a [`CredentialsProvider`] for credentials each time they are signed, so a
//! provider that renews STS credentials (AssumeRole) can plug in without touching the client.
//! This module provides the static provider and the error types every provider reports,
//! including [`StsError`], the typed cause behind a failed STS renewal (the provider itself, which
//! does the I/O, is `sts`). It does no I/O itself and imports nothing else of the client.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use std::sync::Arc;

use serde::Deserialize;

use super::error_text::{excerpt, transport_kind, write_service_error};
use maxcompute_core::signing::Credentials;

/// The future a provider returns.
pub type CredentialsFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Credentials, CredentialsError>> + Send + 'a>>;

/// A source of credentials; called once per signed request, so implementations should cache.
pub trait CredentialsProvider: Send + Sync + fmt::Debug {
    fn credentials(&self) -> CredentialsFuture<'_>;

    /// The service refused the credentials last handed out (an authentication failure): forget
    /// any cached ones. Returns whether asking again may give different credentials, in which
    /// case the client treats the refusal as transient and retries with them.
    fn rejected(&self) -> bool {
        false
    }
}

/// Credentials could not be obtained.
#[derive(Debug, thiserror::Error)]
#[error("cannot obtain MaxCompute credentials: {message}")]
pub struct CredentialsError {
    pub message: String,
    /// Whether asking again later may succeed (e.g. the STS endpoint was unreachable).
    pub transient: bool,
    /// What STS answered, when the provider assumes a role; kept typed so callers read it without
    /// downcasting.
    #[source]
    pub source: Option<Box<StsError>>,
}

/// Fixed credentials: an AccessKey pair, or an STS triple that the caller renews by building a
/// new client.
#[derive(Debug, Clone)]
pub struct StaticCredentials(Credentials);

impl StaticCredentials {
    pub fn new(credentials: Credentials) -> Self {
        Self(credentials)
    }
}

impl CredentialsProvider for StaticCredentials {
    fn credentials(&self) -> CredentialsFuture<'_> {
        let creds = self.0.clone();
        Box::pin(async move { Ok(creds) })
    }
}

/// An error answer from STS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsServiceError {
    pub status: u16,
    /// Such as `SignatureDoesNotMatch`; empty when the body carried none.
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
}

impl StsServiceError {
    /// Parses an STS error body `{"RequestId", "HostId", "Code", "Message"}`; keeps a bounded
    /// excerpt of anything else.
    pub fn from_response(status: u16, body: &[u8]) -> Self {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Body {
            code: Option<String>,
            message: Option<String>,
            request_id: Option<String>,
        }
        match serde_json::from_slice::<Body>(body) {
            Ok(b) => Self {
                status,
                code: b.code.unwrap_or_default(),
                message: b.message.unwrap_or_default(),
                request_id: b.request_id,
            },
            Err(_) => Self {
                status,
                code: String::new(),
                message: excerpt(String::from_utf8_lossy(body).trim()),
                request_id: None,
            },
        }
    }

    /// Whether STS refused the base AccessKey itself (unknown or disabled key, wrong secret).
    pub fn is_authentication_failure(&self) -> bool {
        self.code.starts_with("InvalidAccessKeyId") || self.code == "SignatureDoesNotMatch"
    }

    /// The classification of STS answers: throttling, unavailability and server errors may go
    /// away; bad keys, signatures, permissions, unknown roles and other client errors do not.
    pub fn is_transient(&self) -> bool {
        let code = self.code.as_str();
        if code.starts_with("Throttling") || code == "ServiceUnavailable" {
            return true;
        }
        // A reused nonce can only come from a duplicated request; the next attempt carries a
        // fresh nonce.
        if code == "SignatureNonceUsed" {
            return true;
        }
        matches!(self.status, 408 | 429 | 500..=599)
    }
}

impl fmt::Display for StsServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_service_error(
            f,
            self.status,
            &self.code,
            &self.message,
            self.request_id.as_deref(),
        )
    }
}

/// Why an `AssumeRole` call failed. Cheap to clone, so callers that waited for one shared
/// attempt each get its error.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StsError {
    #[error("STS answered {0}")]
    Service(StsServiceError),

    #[error("transport error talking to STS ({})", transport_kind(.0))]
    Transport(#[source] Arc<reqwest::Error>),

    /// The base credentials that sign the request could not be obtained.
    #[error("base credentials unavailable")]
    BaseCredentials(#[source] Arc<CredentialsError>),

    /// A success answer that does not have the documented shape.
    #[error("unexpected AssumeRole answer: {0}")]
    Protocol(String),
}

impl StsError {
    /// Whether asking again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Service(e) => e.is_transient(),
            Self::Transport(e) => !e.is_builder(),
            Self::BaseCredentials(e) => e.transient,
            Self::Protocol(_) => false,
        }
    }

    /// The STS error code, if STS answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Service(e) if !e.code.is_empty() => Some(&e.code),
            _ => None,
        }
    }

    /// Finds the `StsError` behind a [`CredentialsError`] returned by this module.
    pub fn of(error: &CredentialsError) -> Option<&StsError> {
        error.source.as_deref()
    }

    pub(crate) fn into_credentials_error(self, role_arn: &str) -> CredentialsError {
        CredentialsError {
            message: format!("STS AssumeRole of {role_arn} failed: {self}"),
            transient: self.is_transient(),
            source: Some(Box::new(self)),
        }
    }
}
