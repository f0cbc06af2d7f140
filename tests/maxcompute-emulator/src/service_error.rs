//! The emulator's one error type and its mapping to MaxCompute error codes and HTTP statuses.
//!
//! Every failure a handler can report is a variant here; `status()` and `code()` are the only
//! place where codes are chosen. Rendering (XML on `/api`, JSON on the tunnel) lives in
//! `server.rs`. This module does no I/O.

use std::path::PathBuf;

use axum::http::StatusCode;
use maxcompute_core::codec::{CompressError, DecodeError, EncodeError};
use maxcompute_core::protocol::ErrorCode;
use maxcompute_core::types::TypeParseError;

/// A request failure, named after the MaxCompute error code it becomes.
#[derive(Debug, thiserror::Error)]
pub enum EmuError {
    #[error("{0}")]
    Unauthorized(String),
    /// An `Authorization` header that does not parse (`Unauthorized`).
    #[error("Invalid Authorization header: {0}")]
    Authorization(#[from] crate::signature::AuthorizationParseError),
    #[error("{0}")]
    SignatureNotMatch(String),
    #[error("{0}")]
    RequestTimeTooSkewed(String),
    #[error("{0}")]
    NoSuchTable(String),
    #[error("{0}")]
    NoSuchPartition(String),
    #[error("{0}")]
    NoSuchObject(String),
    #[error("{0}")]
    NoSuchUpload(String),
    #[error("{0}")]
    NoSuchDownload(String),
    /// The one upsert error code clients give a meaning to: on a repeated commit, pyodps and
    /// the Java SDK take it as "committed and forgotten".
    #[error("{0}")]
    UpsertSessionNotFound(String),
    #[error("{0}")]
    NoSuchInstance(String),
    #[error("{0}")]
    MissingPartitionSpec(String),
    #[error("{0}")]
    InvalidPartitionSpec(String),
    #[error("{0}")]
    InvalidBlockId(String),
    #[error("{0}")]
    MalformedDataStream(String),
    /// A body that is not a valid record stream of the table's columns (`MalformedDataStream`).
    #[error("malformed data stream: {0}")]
    Decode(#[from] DecodeError),
    /// A body that does not decompress with its `Content-Encoding` (`MalformedDataStream`).
    #[error("the {encoding} body does not decompress: {source}")]
    Decompress {
        encoding: &'static str,
        #[source]
        source: DecodeError,
    },
    /// A record in an upsert PUT whose key hashes to another bucket than the PUT's `bucketid`.
    /// The code is the emulator's: the service's own is not documented.
    #[error("{0}")]
    BucketMismatch(String),
    #[error("{0}")]
    InvalidRowRange(String),
    #[error("{0}")]
    InvalidColumnSpec(String),
    #[error("{0}")]
    InvalidArgument(String),
    /// An instance body that is not a job of SQL tasks (`InvalidArgument`).
    #[error(transparent)]
    InstanceJob(#[from] crate::xml_body::InstanceJobError),
    /// A fault rule that does not parse (`InvalidArgument`).
    #[error("invalid fault rule: {0}")]
    FaultRule(#[source] serde_json::Error),
    #[error("{0}")]
    StatusConflict(String),
    /// A session opened on an older schema of a table whose columns changed since; the
    /// answer names the table's `latest` schema version in the
    /// `odps-tunnel-latest-schema-version` header.
    #[error("{message}")]
    SchemaModified { latest: i64, message: String },
    #[error("{0}")]
    InstanceTypeNotSupported(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    /// A feature of the service the emulator does not implement (the Arrow tunnel). The code
    /// is the emulator's own, so no client mistakes it for a refusal of its data.
    #[error("{0}")]
    NotSupported(String),
    /// An STS `AssumeRole` refusal, with STS's own code (`SignatureDoesNotMatch`,
    /// `InvalidParameter.RoleArn`, ...).
    #[error(transparent)]
    Sts(#[from] crate::assume_role::StsError),
    #[error("storage error: {0}")]
    Storage(#[from] rusqlite::Error),
    /// The data directory cannot be created.
    #[error("cannot create data dir {}: {source}", dir.display())]
    DataDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Stored metadata that does not read back: a database the emulator did not write.
    #[error("stored {what} is not valid JSON: {source}")]
    StoredJson {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// A stored schema names a type the emulator does not know.
    #[error("stored schema: {0}")]
    StoredType(#[source] TypeParseError),
    /// Stored rows that do not encode again for a reader.
    #[error("cannot re-encode stored rows: {0}")]
    Encode(#[from] EncodeError),
    /// A response body that does not compress.
    #[error("cannot compress the response: {0}")]
    Compress(#[from] CompressError),
    #[error("{0}")]
    Internal(String),
    /// A request handler that panicked or was cancelled.
    #[error("request handler failed: {0}")]
    Handler(#[from] tokio::task::JoinError),
    /// An error requested through the fault-injection endpoint.
    #[error("{message}")]
    Injected {
        status: StatusCode,
        code: ErrorCode,
        message: String,
    },
}

impl EmuError {
    /// The HTTP status the real service uses (or the closest documented guess).
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized(_) | Self::Authorization(_) | Self::SignatureNotMatch(_) => {
                StatusCode::UNAUTHORIZED
            }
            Self::RequestTimeTooSkewed(_) => StatusCode::FORBIDDEN,
            Self::NoSuchTable(_)
            | Self::NoSuchPartition(_)
            | Self::NoSuchObject(_)
            | Self::NoSuchUpload(_)
            | Self::NoSuchDownload(_)
            | Self::UpsertSessionNotFound(_)
            | Self::NoSuchInstance(_) => StatusCode::NOT_FOUND,
            Self::MissingPartitionSpec(_)
            | Self::InvalidPartitionSpec(_)
            | Self::InvalidBlockId(_)
            | Self::MalformedDataStream(_)
            | Self::Decode(_)
            | Self::Decompress { .. }
            | Self::BucketMismatch(_)
            | Self::InvalidRowRange(_)
            | Self::InvalidColumnSpec(_)
            | Self::InvalidArgument(_)
            | Self::InstanceJob(_)
            | Self::FaultRule(_)
            | Self::NotSupported(_)
            | Self::InstanceTypeNotSupported(_) => StatusCode::BAD_REQUEST,
            Self::StatusConflict(_) => StatusCode::CONFLICT,
            Self::SchemaModified { .. } => StatusCode::PRECONDITION_FAILED,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Storage(_)
            | Self::DataDir { .. }
            | Self::StoredJson { .. }
            | Self::StoredType(_)
            | Self::Encode(_)
            | Self::Compress(_)
            | Self::Handler(_)
            | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Injected { status, .. } => *status,
            Self::Sts(e) => e.status(),
        }
    }

    /// The MaxCompute error code clients map to exception classes.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Unauthorized(_) | Self::Authorization(_) => ErrorCode::Unauthorized,
            Self::SignatureNotMatch(_) => ErrorCode::SignatureNotMatch,
            Self::RequestTimeTooSkewed(_) => ErrorCode::RequestTimeTooSkewed,
            Self::NoSuchTable(_) => ErrorCode::NoSuchTable,
            Self::NoSuchPartition(_) => ErrorCode::NoSuchPartition,
            Self::NoSuchObject(_) => ErrorCode::NoSuchObject,
            Self::NoSuchUpload(_) => ErrorCode::NoSuchUpload,
            Self::NoSuchDownload(_) => ErrorCode::NoSuchDownload,
            Self::UpsertSessionNotFound(_) => ErrorCode::UpsertSessionNotFound,
            Self::NoSuchInstance(_) => ErrorCode::NoSuchInstance,
            Self::MissingPartitionSpec(_) => ErrorCode::MissingPartitionSpec,
            Self::InvalidPartitionSpec(_) => ErrorCode::InvalidPartitionSpec,
            Self::InvalidBlockId(_) => ErrorCode::InvalidBlockId,
            Self::MalformedDataStream(_) | Self::Decode(_) | Self::Decompress { .. } => {
                ErrorCode::MalformedDataStream
            }
            Self::BucketMismatch(_) => ErrorCode::BucketMismatch,
            Self::InvalidRowRange(_) => ErrorCode::InvalidRowRange,
            Self::InvalidColumnSpec(_) => ErrorCode::InvalidColumnSpec,
            Self::InvalidArgument(_) | Self::InstanceJob(_) | Self::FaultRule(_) => {
                ErrorCode::InvalidArgument
            }
            Self::StatusConflict(_) => ErrorCode::StatusConflict,
            // The shared protocol has no variant for it yet; the spelling is the service's.
            Self::SchemaModified { .. } => ErrorCode::SchemaModified,
            Self::InstanceTypeNotSupported(_) => ErrorCode::InstanceTypeNotSupported,
            Self::MethodNotAllowed(_) => ErrorCode::MethodNotAllowed,
            Self::NotSupported(_) => ErrorCode::NotSupported,
            Self::Storage(_)
            | Self::DataDir { .. }
            | Self::StoredJson { .. }
            | Self::StoredType(_)
            | Self::Encode(_)
            | Self::Compress(_)
            | Self::Handler(_)
            | Self::Internal(_) => ErrorCode::InternalServerError,
            Self::Injected { code, .. } => code.clone(),
            // STS speaks its own codes; they are not MaxCompute's.
            Self::Sts(e) => ErrorCode::Other(e.code().to_owned()),
        }
    }
}

pub type EmuResult<T> = Result<T, EmuError>;

/// The header of a `SchemaModified` answer that names the table's latest schema version.
pub const LATEST_SCHEMA_VERSION_HEADER: &str = "odps-tunnel-latest-schema-version";
