//! The MaxCompute client: the only code in the project that speaks HTTP to MaxCompute.
//!
//! It signs every request (`maxcompute_core::signing`), retries transient failures within a
//! caller-given deadline (`retry`), and offers the calls the sink needs: table schema and partition
//! metadata, SQL instances for DDL and partition creation, tunnel discovery (`service`), batch
//! upload sessions (`batch`) and stream upload sessions (`stream`). Its one other HTTP peer is STS:
//! `sts` assumes a RAM role and keeps the temporary credentials fresh for the client's requests;
//! `secrets` reads an AccessKey pair (or any secret) from AWS Secrets Manager through the Lambda
//! extension.
//!
//! It does not encode records: data calls take already-encoded record-stream bytes (from
//! `maxcompute_core::codec`) and at most compress them. It does not read the environment;
//! configuration and credentials come in through [`ClientConfig`] and a [`CredentialsProvider`]. It
//! never logs secrets or payloads; per-request events are at debug level.
//!
//! Every call takes a deadline (`tokio::time::Instant`); a Lambda handler derives it from the
//! invocation deadline minus a safety margin. No call, retries and waits included, runs past it:
//! each attempt's timeout is the time left, and a backoff that would end at the deadline is not
//! started. Errors say once whether they are transient ([`Error::is_transient`]).

mod batch;
mod credentials;
mod endpoint;
mod error;
mod error_text;
mod handle;
mod http;
mod limits;
mod poll;
mod request;
mod retry;
mod secrets;
mod service;
mod sessions;
mod stream;
mod sts;
mod upsert;
mod xml;

pub use batch::{UploadSession, UploadSessionInfo};
pub use credentials::{
    CredentialsError, CredentialsFuture, CredentialsProvider, StaticCredentials, StsError,
    StsServiceError,
};
pub use endpoint::{Endpoint, EndpointError};
pub use error::{Error, ServiceError};
pub use handle::{Client, ClientConfig, ClientStats};
pub use http::http_client_builder;
pub use limits::MAX_BLOCKS;
pub use maxcompute_core::protocol::{ErrorCode, SessionState};
pub use retry::{
    Backoff, FixedJitter, GiveUp, Jitter, RandomJitter, RetryPolicy, Retryable, run_with_retries,
};
pub use secrets::{
    ACCESS_KEY_FIELDS, DEFAULT_EXTENSION_PORT, SecretCredentials, SecretsError, SecretsExtension,
    TOKEN_HEADER,
};
pub use service::{NewTable, TableInfo};
pub use sessions::StreamSessions;
pub use stream::{Slot, StreamSession};
pub use sts::{AssumeRoleConfig, Clock, StsAssumeRoleProvider, SystemClock};
pub use upsert::{
    OPERATION_DELETE, OPERATION_UPSERT, UPSERT_COLUMNS, UpsertSession, UpsertSessionInfo,
    UpsertSlot, upsert_column_types,
};
