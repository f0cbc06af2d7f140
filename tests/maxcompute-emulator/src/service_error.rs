//! The emulator's one error type and its mapping to MaxCompute error codes and HTTP statuses.
//!
//! Every failure a handler can report is a variant here; `status()` and `code()` are the only
//! place where codes are chosen. Rendering (XML on `/api`, JSON on the tunnel) lives in
//! `server.rs`. This module does no I/O.

use axum::http::StatusCode;
use maxcompute_core::protocol::ErrorCode;

/// A request failure, named after the MaxCompute error code it becomes.
#[derive(Debug, thiserror::Error)]
pub enum EmuError {
    #[error("{0}")]
    Unauthorized(String),
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
    /// An STS `AssumeRole` refusal; `code` is STS's own (`SignatureDoesNotMatch`,
    /// `InvalidParameter.RoleArn`, ...).
    #[error("{message}")]
    Sts {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
    #[error("storage error: {0}")]
    Storage(#[from] rusqlite::Error),
    #[error("{0}")]
    Internal(String),
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
            Self::Unauthorized(_) | Self::SignatureNotMatch(_) => StatusCode::UNAUTHORIZED,
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
            | Self::BucketMismatch(_)
            | Self::InvalidRowRange(_)
            | Self::InvalidColumnSpec(_)
            | Self::InvalidArgument(_)
            | Self::NotSupported(_)
            | Self::InstanceTypeNotSupported(_) => StatusCode::BAD_REQUEST,
            Self::StatusConflict(_) => StatusCode::CONFLICT,
            Self::SchemaModified { .. } => StatusCode::PRECONDITION_FAILED,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Storage(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Injected { status, .. } | Self::Sts { status, .. } => *status,
        }
    }

    /// The MaxCompute error code clients map to exception classes.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Unauthorized(_) => ErrorCode::Unauthorized,
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
            Self::MalformedDataStream(_) => ErrorCode::MalformedDataStream,
            Self::BucketMismatch(_) => ErrorCode::BucketMismatch,
            Self::InvalidRowRange(_) => ErrorCode::InvalidRowRange,
            Self::InvalidColumnSpec(_) => ErrorCode::InvalidColumnSpec,
            Self::InvalidArgument(_) => ErrorCode::InvalidArgument,
            Self::StatusConflict(_) => ErrorCode::StatusConflict,
            // The shared protocol has no variant for it yet; the spelling is the service's.
            Self::SchemaModified { .. } => ErrorCode::Other(SCHEMA_MODIFIED.to_owned()),
            Self::InstanceTypeNotSupported(_) => ErrorCode::InstanceTypeNotSupported,
            Self::MethodNotAllowed(_) => ErrorCode::MethodNotAllowed,
            Self::NotSupported(_) => ErrorCode::NotSupported,
            Self::Storage(_) | Self::Internal(_) => ErrorCode::InternalServerError,
            Self::Injected { code, .. } => code.clone(),
            // STS speaks its own codes; they are not MaxCompute's.
            Self::Sts { code, .. } => ErrorCode::Other((*code).to_owned()),
        }
    }
}

pub type EmuResult<T> = Result<T, EmuError>;

/// The tunnel's code for a write on a stale schema.
pub const SCHEMA_MODIFIED: &str = "SchemaModified";

/// The header of a `SchemaModified` answer that names the table's latest schema version.
pub const LATEST_SCHEMA_VERSION_HEADER: &str = "odps-tunnel-latest-schema-version";
