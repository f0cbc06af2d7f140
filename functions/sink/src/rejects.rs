//! Where rejected records go: the error topic, or nowhere, which fails the batch.
//!
//! [`ErrorTopicSink`] turns each reject into an error-topic message (original bytes plus the
//! `mc.*` headers of `maxcompute_core::error_record`) and produces them with [`ErrorTopicWriter`],
//! connecting on first use to the configured cluster or, by default, to the event's own
//! `bootstrapServers`. [`NoErrorTopic`] is used when no error topic is configured: any reject
//! then fails the batch, permanently, so that nothing is dropped silently.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use maxcompute_core::error_record::{ErrorContext, ErrorMessage};
use maxcompute_core::event::Reject;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tracing::info;

use crate::error::SinkError;
use crate::error_topic::{ErrorTopicError, ErrorTopicWriter, KafkaSecurity};

/// The future [`RejectSink::deliver`] returns.
pub type DeliverFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SinkError>> + Send + 'a>>;

/// Where rejects go.
pub trait RejectSink: Send + Sync + fmt::Debug {
    /// Delivers every reject or fails; `Ok` means all of them are durably elsewhere.
    /// `bootstrap_servers` are the trigger event's, `now_ms` the time of rejection.
    fn deliver<'a>(
        &'a self,
        rejects: &'a [Reject],
        bootstrap_servers: &'a [String],
        now_ms: i64,
        deadline: Instant,
    ) -> DeliverFuture<'a>;
}

/// Used when `SINK_ERROR_TOPIC` is not set: any reject fails the batch, permanently.
#[derive(Debug)]
pub struct NoErrorTopic;

impl RejectSink for NoErrorTopic {
    fn deliver<'a>(
        &'a self,
        rejects: &'a [Reject],
        _bootstrap_servers: &'a [String],
        _now_ms: i64,
        _deadline: Instant,
    ) -> DeliverFuture<'a> {
        Box::pin(async move {
            Err(SinkError::NoErrorTopic {
                count: rejects.len(),
                first: rejects
                    .first()
                    .map(|r| format!("{}: {}", r.class, r.message))
                    .unwrap_or_default(),
            })
        })
    }
}

/// Produces rejects to the error topic.
pub struct ErrorTopicSink {
    topic: String,
    bootstrap_servers: Option<Vec<String>>,
    security: KafkaSecurity,
    function: String,
    /// The writer and the servers it was connected through; kept across warm invocations.
    writer: Mutex<Option<(Vec<String>, ErrorTopicWriter)>>,
}

impl fmt::Debug for ErrorTopicSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorTopicSink")
            .field("topic", &self.topic)
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("security", &self.security)
            .finish_non_exhaustive()
    }
}

impl ErrorTopicSink {
    /// `bootstrap_servers` of `None` means "the cluster the trigger event came from".
    pub fn new(
        topic: String,
        bootstrap_servers: Option<Vec<String>>,
        security: KafkaSecurity,
        function: String,
    ) -> Self {
        Self {
            topic,
            bootstrap_servers,
            security,
            function,
            writer: Mutex::new(None),
        }
    }

    async fn send(
        &self,
        rejects: &[Reject],
        event_servers: &[String],
        now_ms: i64,
        deadline: Instant,
    ) -> Result<(), SinkError> {
        let servers = self
            .bootstrap_servers
            .as_deref()
            .unwrap_or(event_servers)
            .to_vec();
        if servers.is_empty() {
            return Err(ErrorTopicError::NoEventBootstrapServers.into());
        }
        let ctx = ErrorContext {
            function: &self.function,
            now_ms,
        };
        let messages: Vec<ErrorMessage> = rejects
            .iter()
            .map(|r| ErrorMessage::from_reject(r, ctx))
            .collect();
        let mut slot = self.writer.lock().await;
        // The warm writer if it is connected to these servers, else a new one; a failed connect
        // leaves the old writer in place.
        let writer = match slot.take() {
            Some((connected, writer)) if connected == servers => writer,
            old => {
                match ErrorTopicWriter::connect(
                    &servers,
                    &self.topic,
                    self.security.clone(),
                    deadline,
                )
                .await
                {
                    Ok(writer) => writer,
                    Err(e) => {
                        *slot = old;
                        return Err(e.into());
                    }
                }
            }
        };
        let (_, writer) = slot.insert((servers, writer));
        let count = messages.len();
        writer.send(messages, deadline).await?;
        info!(topic = %self.topic, count, "rejects sent to the error topic");
        Ok(())
    }
}

impl RejectSink for ErrorTopicSink {
    fn deliver<'a>(
        &'a self,
        rejects: &'a [Reject],
        bootstrap_servers: &'a [String],
        now_ms: i64,
        deadline: Instant,
    ) -> DeliverFuture<'a> {
        Box::pin(self.send(rejects, bootstrap_servers, now_ms, deadline))
    }
}
