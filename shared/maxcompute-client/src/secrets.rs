//! Secrets kept out of the function's configuration: AWS Secrets Manager values read through the
//! AWS Parameters and Secrets Lambda Extension, and the credentials provider that signs with an
//! AccessKey pair held in such a secret.
//!
//! # Why the extension, not the AWS SDK
//!
//! The extension is a Lambda layer that serves `GET /secretsmanager/get?secretId=…` on
//! `localhost:2773` (`PARAMETERS_SECRETS_EXTENSION_HTTP_PORT`), authenticated by the function's own
//! `AWS_SESSION_TOKEN` in `X-Aws-Parameters-Secrets-Token`, and answers with Secrets Manager's
//! `GetSecretValue` JSON. Reading it takes the HTTP client the functions already link: no new
//! crate, no SigV4 signer, no credential chain at cold start. The AWS SDK for Rust
//! (`aws-config` + `aws-sdk-secretsmanager`) would add well over a hundred crates, several MB
//! of binary and its own credential discovery to every cold start, for one call per container.
//!
//! # Caching and refresh
//!
//! A value is read once and kept for the container's life. When MaxCompute refuses the
//! credentials (an authentication failure, see [`super::ServiceError::is_authentication_failure`]),
//! the client calls [`CredentialsProvider::rejected`]: the cached pair is dropped and the next
//! request reads the secret again, which is how a rotated AccessKey is picked up. The template
//! sets the extension's own cache off (`SECRETS_MANAGER_TTL=0`) so that this second read reaches
//! Secrets Manager.
//!
//! Nothing here logs or prints a value: the answer's body is parsed into [`Secret`]s and
//! dropped, and errors carry the secret's id, the status and Secrets Manager's error type only.

use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;
use tracing::{debug, info};

use super::credentials::{CredentialsError, CredentialsFuture, CredentialsProvider};
use super::retry::{GiveUp, RandomJitter, RetryPolicy, Retryable, run_with_retries};
use maxcompute_core::signing::{Credentials, Secret};

/// The extension's port when `PARAMETERS_SECRETS_EXTENSION_HTTP_PORT` is not set.
pub const DEFAULT_EXTENSION_PORT: u16 = 2773;

/// The header that carries the function's session token to the extension.
pub const TOKEN_HEADER: &str = "X-Aws-Parameters-Secrets-Token";

/// How long one secret read may take, retries included: it runs at cold start, where the
/// extension answers from the same machine.
const READ_BUDGET: Duration = Duration::from_secs(5);

/// Where the extension listens and the token it wants.
#[derive(Clone)]
pub struct SecretsExtension {
    http: reqwest::Client,
    base_url: String,
    token: Secret,
}

impl fmt::Debug for SecretsExtension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretsExtension")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// A secret could not be read or does not hold what it should.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("the secrets extension at {url} could not be reached ({kind})")]
    Unreachable { url: String, kind: String },

    /// The extension answered with an error status; `error_type` is Secrets Manager's
    /// `__type` (such as `ResourceNotFoundException`) when the body carried one.
    #[error("reading secret {secret_id} through the secrets extension: HTTP {status}{}", type_suffix(.error_type))]
    Status {
        secret_id: String,
        status: u16,
        error_type: Option<String>,
    },

    #[error("secret {secret_id}: {reason}")]
    Content { secret_id: String, reason: String },

    #[error("reading secret {secret_id}: gave up after {attempts} attempt(s): {last}")]
    GaveUp {
        secret_id: String,
        attempts: u32,
        last: Box<SecretsError>,
    },
}

fn type_suffix(t: &Option<String>) -> String {
    t.as_ref().map(|t| format!(" ({t})")).unwrap_or_default()
}

impl SecretsError {
    /// Whether reading again later may succeed: the extension not up yet, throttling, server
    /// trouble. A missing secret, a refused token or a malformed value stay as they are.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            Self::Status { status, .. } => matches!(status, 429 | 500..=599),
            Self::Content { .. } => false,
            Self::GaveUp { last, .. } => last.is_transient(),
        }
    }
}

impl Retryable for SecretsError {
    fn is_transient(&self) -> bool {
        SecretsError::is_transient(self)
    }

    fn give_up(_reason: GiveUp, attempts: u32, last: Self) -> Self {
        let secret_id = match &last {
            Self::Status { secret_id, .. }
            | Self::Content { secret_id, .. }
            | Self::GaveUp { secret_id, .. } => secret_id.clone(),
            Self::Unreachable { .. } => String::new(),
        };
        Self::GaveUp {
            secret_id,
            attempts,
            last: Box::new(last),
        }
    }

    fn deadline_passed() -> Self {
        Self::Unreachable {
            url: String::new(),
            kind: "no time left".to_owned(),
        }
    }
}

impl SecretsExtension {
    /// The extension on `127.0.0.1:port`, authenticated with `session_token`.
    pub fn new(port: u16, session_token: Secret) -> Result<Self, SecretsError> {
        let base_url = format!("http://127.0.0.1:{port}");
        let http = super::http::http_client_builder()
            .timeout(READ_BUDGET)
            .build()
            .map_err(|e| SecretsError::Unreachable {
                url: base_url.clone(),
                kind: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(Self {
            http,
            base_url,
            token: session_token,
        })
    }

    /// Reads the `SecretString` of `secret_id` (an ARN or a name), retrying while the extension
    /// is not reachable or Secrets Manager is throttling, for a few seconds at most.
    pub async fn secret_string(&self, secret_id: &str) -> Result<Secret, SecretsError> {
        let deadline = Instant::now() + READ_BUDGET;
        let policy = RetryPolicy {
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(1),
            max_attempts: 6,
        };
        let value = run_with_retries(
            &policy,
            &RandomJitter,
            deadline,
            "read secret",
            |_| {},
            |_| self.read_once(secret_id),
        )
        .await?;
        debug!(secret_id, "secret read");
        Ok(value)
    }

    async fn read_once(&self, secret_id: &str) -> Result<Secret, SecretsError> {
        let url = format!("{}/secretsmanager/get", self.base_url);
        let unreachable = |e: reqwest::Error| SecretsError::Unreachable {
            url: url.clone(),
            kind: if e.is_timeout() {
                "timed out".to_owned()
            } else if e.is_connect() {
                "connection refused or failed".to_owned()
            } else {
                "transport error".to_owned()
            },
        };
        let response = self
            .http
            .get(&url)
            .query(&[("secretId", secret_id)])
            .header(TOKEN_HEADER, self.token.expose())
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(unreachable)?;
        if !(200..300).contains(&status) {
            return Err(SecretsError::Status {
                secret_id: secret_id.to_owned(),
                status,
                error_type: error_type(&body),
            });
        }
        // No Debug on purpose: it holds the value until wrapped.
        #[derive(Deserialize)]
        struct Answer {
            #[serde(rename = "SecretString")]
            secret_string: Option<String>,
        }
        let content = |reason: String| SecretsError::Content {
            secret_id: secret_id.to_owned(),
            reason,
        };
        // serde's message names the field or the position, never the value.
        let answer: Answer = serde_json::from_slice(&body).map_err(|e| {
            content(format!(
                "the extension's answer is not GetSecretValue JSON: {e}"
            ))
        })?;
        answer.secret_string.map(Secret::new).ok_or_else(|| {
            content("it has no SecretString (binary secrets are not supported)".to_owned())
        })
    }

    /// Reads `secret_id` and parses its value as a JSON object of strings, returning the
    /// `fields` asked for (each `Some` when present and not empty).
    pub async fn secret_fields<const N: usize>(
        &self,
        secret_id: &str,
        fields: [&str; N],
    ) -> Result<[Option<Secret>; N], SecretsError> {
        let value = self.secret_string(secret_id).await?;
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(value.expose()).map_err(|_| SecretsError::Content {
                secret_id: secret_id.to_owned(),
                // Not serde's message: it may quote part of the value.
                reason: format!("its value is not a JSON object with the fields {fields:?}"),
            })?;
        Ok(fields.map(|name| {
            object
                .get(name)
                .and_then(serde_json::Value::as_str)
                .filter(|v| !v.is_empty())
                .map(Secret::new)
        }))
    }
}

/// Secrets Manager's error type from an error body such as
/// `{"__type":"ResourceNotFoundException","message":"…"}`; the message is left out (it is the
/// service's, but nothing needs it and it may echo the request).
fn error_type(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Body {
        #[serde(rename = "__type")]
        error_type: Option<String>,
    }
    serde_json::from_slice::<Body>(body)
        .ok()?
        .error_type
        .filter(|t| t.len() <= 100 && t.bytes().all(|b| b.is_ascii_graphic()))
}

/// The fields of an AccessKey secret: `{"AccessKeyId": "…", "AccessKeySecret": "…"}`, with an
/// optional `SecurityToken` for STS credentials.
pub const ACCESS_KEY_FIELDS: [&str; 3] = ["AccessKeyId", "AccessKeySecret", "SecurityToken"];

/// Signs with the AccessKey pair held in a Secrets Manager secret, read on first use and kept
/// until MaxCompute refuses it.
pub struct SecretCredentials {
    extension: SecretsExtension,
    secret_id: String,
    cached: Mutex<Option<Credentials>>,
    /// One read at a time; the others wait for it and use its result.
    reading: tokio::sync::Mutex<()>,
}

impl fmt::Debug for SecretCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretCredentials")
            .field("secret_id", &self.secret_id)
            .finish_non_exhaustive()
    }
}

impl SecretCredentials {
    pub fn new(extension: SecretsExtension, secret_id: impl Into<String>) -> Self {
        Self {
            extension,
            secret_id: secret_id.into(),
            cached: Mutex::new(None),
            reading: tokio::sync::Mutex::new(()),
        }
    }

    fn cached(&self) -> Option<Credentials> {
        // A poisoned lock only means another thread panicked while copying; the data is intact.
        self.cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn set(&self, value: Option<Credentials>) {
        *self
            .cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = value;
    }

    async fn get(&self) -> Result<Credentials, CredentialsError> {
        if let Some(c) = self.cached() {
            return Ok(c);
        }
        let _reading = self.reading.lock().await;
        if let Some(c) = self.cached() {
            return Ok(c);
        }
        let credentials = self.read().await.map_err(|e| CredentialsError {
            message: e.to_string(),
            transient: e.is_transient(),
            source: None,
        })?;
        info!(
            secret_id = %self.secret_id,
            access_key_id = %credentials.access_key_id,
            "read the AccessKey from Secrets Manager"
        );
        self.set(Some(credentials.clone()));
        Ok(credentials)
    }

    async fn read(&self) -> Result<Credentials, SecretsError> {
        let [id, secret, token] = self
            .extension
            .secret_fields(&self.secret_id, ACCESS_KEY_FIELDS)
            .await?;
        let (Some(id), Some(secret)) = (id, secret) else {
            return Err(SecretsError::Content {
                secret_id: self.secret_id.clone(),
                reason: "expected a JSON object with the string fields AccessKeyId and AccessKeySecret (and optionally SecurityToken)".to_owned(),
            });
        };
        // The id is not secret: it is printed like the environment's access key id.
        let id = id.expose().to_owned();
        Ok(match token {
            Some(token) => Credentials::sts(id, secret, token),
            None => Credentials::access_key(id, secret),
        })
    }
}

impl CredentialsProvider for SecretCredentials {
    fn credentials(&self) -> CredentialsFuture<'_> {
        Box::pin(self.get())
    }

    fn rejected(&self) -> bool {
        info!(secret_id = %self.secret_id, "MaxCompute refused the AccessKey; reading the secret again");
        self.set(None);
        true
    }
}
