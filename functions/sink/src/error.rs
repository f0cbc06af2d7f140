//! Why an invocation failed, and how Lambda reports it: each error is transient (a retry may
//! help) or permanent, and its `errorType` says which.

use lambda_support::function::InvocationError;
use maxcompute_client::Error as ClientError;
use maxcompute_core::event::EventError;

use crate::error_topic::ErrorTopicError;
use crate::tables::TableError;

/// Why an invocation failed. Each error is transient (retrying may help) or permanent.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("malformed Kafka trigger event: {0}")]
    MalformedEvent(#[from] EventError),
    #[error(
        "{count} record(s) cannot be written and SINK_ERROR_TOPIC is not set, so they would be lost; first: {first}"
    )]
    NoErrorTopic { count: usize, first: String },
    #[error("writing rejected records to the error topic failed: {0}")]
    ErrorTopic(#[from] ErrorTopicError),
    #[error(transparent)]
    Table(Box<TableError>),
    #[error("writing partition {partition} failed: {source}")]
    Write {
        partition: String,
        #[source]
        source: ClientError,
    },
}

impl From<TableError> for SinkError {
    fn from(e: TableError) -> Self {
        Self::Table(Box::new(e))
    }
}

impl InvocationError for SinkError {
    fn is_transient(&self) -> bool {
        match self {
            Self::MalformedEvent(_) | Self::NoErrorTopic { .. } => false,
            Self::ErrorTopic(source) => source.is_transient(),
            Self::Table(source) => source.is_transient(),
            Self::Write { source, .. } => source.is_transient(),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::MalformedEvent(_) => "MalformedEvent",
            Self::NoErrorTopic { .. } => "NoErrorTopic",
            Self::ErrorTopic(_) => "ErrorTopic",
            Self::Table(_) => "Table",
            Self::Write { .. } => "MaxComputeWrite",
        }
    }
}
