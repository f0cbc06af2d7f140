//! Where the client gets its signing credentials from.
//!
//! Requests ask a [`CredentialsProvider`] for credentials each time they are signed, so a
//! provider that renews STS credentials (AssumeRole) can plug in without touching the client.
//! This module provides only the static provider; it does no I/O itself.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::signing::Credentials;

/// The future a provider returns.
pub type CredentialsFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Credentials, CredentialsError>> + Send + 'a>>;

/// A source of credentials; called once per signed request, so implementations should cache.
pub trait CredentialsProvider: Send + Sync + fmt::Debug {
    fn credentials(&self) -> CredentialsFuture<'_>;
}

/// Credentials could not be obtained.
#[derive(Debug, thiserror::Error)]
#[error("cannot obtain MaxCompute credentials: {message}")]
pub struct CredentialsError {
    pub message: String,
    /// Whether asking again later may succeed (e.g. the STS endpoint was unreachable).
    pub transient: bool,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
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
