//! Why an invocation failed, and how Lambda reports it: each error is transient (a retry may
//! help) or permanent, and its `errorType` says which.

use shared::client::Error as ClientError;
use shared::event::EventError;

use crate::error_topic::ErrorTopicError;

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
    #[error("writing partition {partition} failed: {source}")]
    Write {
        partition: String,
        #[source]
        source: ClientError,
    },
}

impl SinkError {
    pub fn is_transient(&self) -> bool {
        match self {
            Self::MalformedEvent(_) | Self::NoErrorTopic { .. } => false,
            Self::ErrorTopic(source) => source.is_transient(),
            Self::Write { source, .. } => source.is_transient(),
        }
    }

    /// The `errorType` Lambda reports: the class of failure, prefixed by whether a retry may help.
    pub fn error_type(&self) -> String {
        let kind = match self {
            Self::MalformedEvent(_) => "MalformedEvent",
            Self::NoErrorTopic { .. } => "NoErrorTopic",
            Self::ErrorTopic(_) => "ErrorTopic",
            Self::Write { .. } => "MaxComputeWrite",
        };
        let class = if self.is_transient() {
            "Transient"
        } else {
            "Permanent"
        };
        format!("{class}.{kind}")
    }
}

impl From<SinkError> for lambda_runtime::Diagnostic {
    fn from(e: SinkError) -> Self {
        Self {
            error_type: e.error_type(),
            error_message: e.to_string(),
        }
    }
}
