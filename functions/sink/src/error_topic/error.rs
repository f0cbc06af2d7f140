//! The error topic's one error type and its one transient/permanent classification.

use maxcompute_client::{GiveUp, Retryable, SecretsError};
use rskafka::SaslError;
use rskafka::messenger::{RequestError, SyncVersionsError};
use rskafka::protocol::error::Error as ProtocolError;

/// A failure to reach or write the error topic. The caller fails the batch on any of them.
#[derive(Debug, thiserror::Error)]
pub enum ErrorTopicError {
    #[error("no bootstrap server given for the error topic")]
    NoBootstrapServers,
    /// No error-topic cluster is configured and the trigger event names none to fall back on.
    #[error("the event names no bootstrap servers; set SINK_ERROR_BOOTSTRAP_SERVERS")]
    NoEventBootstrapServers,
    #[error("the error topic's TLS settings are unusable: {0}")]
    TlsConfig(String),
    /// The SASL user and password could not be read from their secret.
    #[error("the error topic's SASL credentials: {0}")]
    Secret(#[source] SecretsError),
    #[error("cannot connect to Kafka broker {broker}: {source}")]
    Connect {
        broker: String,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS handshake with Kafka broker {broker} failed: {source}")]
    TlsHandshake {
        broker: String,
        #[source]
        source: std::io::Error,
    },
    #[error("Kafka broker {broker} did not answer {stage} before the deadline")]
    Timeout { broker: String, stage: &'static str },
    #[error("cannot agree on protocol versions with Kafka broker {broker}: {source}")]
    Versions {
        broker: String,
        #[source]
        source: SyncVersionsError,
    },
    #[error("SASL authentication with Kafka broker {broker} failed: {source}")]
    Sasl {
        broker: String,
        #[source]
        source: SaslError,
    },
    #[error("request to Kafka broker {broker} failed: {source}")]
    Request {
        broker: String,
        #[source]
        source: RequestError,
    },
    #[error("the error topic `{topic}` does not exist (create it; the sink never creates topics)")]
    UnknownTopic { topic: String },
    #[error(
        "Kafka refused {operation} for the error topic `{topic}` partition {partition:?}: {error}"
    )]
    Broker {
        operation: &'static str,
        topic: String,
        partition: Option<i32>,
        error: ProtocolError,
    },
    #[error("unusable metadata for the error topic `{topic}`: {reason}")]
    Metadata { topic: String, reason: String },
    #[error(
        "error messages to one record batch have timestamps too far apart ({first} and {other})"
    )]
    TimestampRange { first: i64, other: i64 },
    /// The deadline had passed before the first attempt could start.
    #[error("the deadline passed before the error topic could be tried")]
    DeadlinePassed,
    #[error(
        "gave up on the error topic after {attempts} attempts ({}); last error: {last}",
        give_up_reason(*reason)
    )]
    GaveUp {
        reason: GiveUp,
        attempts: u32,
        #[source]
        last: Box<ErrorTopicError>,
    },
}

impl ErrorTopicError {
    /// The one classification of error-topic failures: `true` when a later attempt may succeed
    /// (the broker, the network or the leader may recover), `false` when retrying cannot help
    /// (configuration, authorisation, a message the broker refuses).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::NoBootstrapServers
            | Self::NoEventBootstrapServers
            | Self::TlsConfig(_)
            | Self::UnknownTopic { .. }
            | Self::TimestampRange { .. } => false,
            Self::Connect { .. }
            | Self::Timeout { .. }
            | Self::Request { .. }
            | Self::Metadata { .. }
            | Self::DeadlinePassed
            | Self::GaveUp { .. } => true,
            // A handshake that rustls refused (bad certificate, no common version) will be
            // refused again: tokio-rustls reports those as `InvalidData`. Anything else is the
            // network.
            Self::TlsHandshake { source, .. } => source.kind() != std::io::ErrorKind::InvalidData,
            Self::Secret(e) => e.is_transient(),
            Self::Versions { source, .. } => matches!(source, SyncVersionsError::RequestError(_)),
            Self::Sasl { source, .. } => matches!(source, SaslError::RequestError(_)),
            Self::Broker { error, .. } => is_transient_protocol_error(*error),
        }
    }
}

impl Retryable for ErrorTopicError {
    fn is_transient(&self) -> bool {
        ErrorTopicError::is_transient(self)
    }

    fn give_up(reason: GiveUp, attempts: u32, last: Self) -> Self {
        Self::GaveUp {
            reason,
            attempts,
            last: Box::new(last),
        }
    }

    fn deadline_passed() -> Self {
        Self::DeadlinePassed
    }
}

fn give_up_reason(reason: GiveUp) -> &'static str {
    match reason {
        GiveUp::Deadline => "the deadline leaves no time for another",
        GiveUp::Attempts => "the retry policy's attempt limit",
    }
}

/// Kafka's retriable error codes that can answer a metadata or produce request.
fn is_transient_protocol_error(error: ProtocolError) -> bool {
    matches!(
        error,
        ProtocolError::CorruptMessage
            | ProtocolError::UnknownTopicOrPartition
            | ProtocolError::LeaderNotAvailable
            | ProtocolError::NotLeaderOrFollower
            | ProtocolError::RequestTimedOut
            | ProtocolError::BrokerNotAvailable
            | ProtocolError::ReplicaNotAvailable
            | ProtocolError::NetworkException
            | ProtocolError::NotEnoughReplicas
            | ProtocolError::NotEnoughReplicasAfterAppend
            | ProtocolError::KafkaStorageError
            | ProtocolError::FencedLeaderEpoch
            | ProtocolError::UnknownLeaderEpoch
            | ProtocolError::PreferredLeaderNotAvailable
            | ProtocolError::ThrottlingQuotaExceeded
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_errors_are_classified() {
        let broker = |error| ErrorTopicError::Broker {
            operation: "a produce request",
            topic: "e".to_owned(),
            partition: Some(0),
            error,
        };
        assert!(broker(ProtocolError::NotLeaderOrFollower).is_transient());
        assert!(broker(ProtocolError::NotEnoughReplicas).is_transient());
        assert!(!broker(ProtocolError::MessageTooLarge).is_transient());
        assert!(!broker(ProtocolError::TopicAuthorizationFailed).is_transient());
        assert!(!ErrorTopicError::UnknownTopic { topic: "e".into() }.is_transient());
    }
}
