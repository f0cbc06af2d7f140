//! The error-topic producer: sends [`ErrorMessage`]s (built by `maxcompute_core::error_record`) to
//! the error topic with `acks=all`, keeping every original header in order, duplicates included,
//! byte for byte. It does not build the messages, read configuration or consume anything.
//!
//! # Why rskafka's protocol layer, not its producer
//!
//! The client is [rskafka] 0.6 (pure Rust, tokio, rustls, SASL PLAIN/SCRAM/OAUTHBEARER; no
//! librdkafka, so it cross-compiles for x86_64 and arm64 Lambda). Its high-level `rskafka::record::Record` keeps
//! headers in a `BTreeMap<String, Vec<u8>>`: repeated header keys would be merged and all keys
//! sorted, on the produce side and again on the fetch side. Kafka itself carries headers as a
//! list, and the error topic must hand the original list on unchanged. rskafka's protocol-level
//! record (`rskafka::protocol::record::Record`) has `headers: Vec<RecordHeader>`, and its
//! connection type (`rskafka::messenger::Messenger`: framing, version negotiation, pipelining,
//! SASL) is complete; both are public only with the crate's `unstable-fuzzing` feature. We use
//! them through that feature with the version pinned exactly (`=0.6.0`), so an upgrade is a
//! deliberate change that this module's tests re-check. The alternatives were worse: the
//! `kafka-protocol` crate keeps headers in an `IndexMap` (duplicates merged too), librdkafka does
//! not cross-compile to arm64 here, and a home-made codec would duplicate rskafka's tested one.
//!
//! What this module adds on top: opening connections (TCP, then TLS through `tokio-rustls` with
//! the system's roots plus an optional CA, then SASL through the messenger, with an MSK IAM token
//! built here for `AWS_MSK_IAM`), reading the topic's
//! partitions and leaders from a metadata request, and routing. Retries are not its own: they go
//! through the workspace's one retry runner (`maxcompute_client::run_with_retries`). The TLS set-up
//! is ours rather than rskafka's `transport-tls` feature because that code sits behind rskafka's
//! private connection layer, which the messenger path does not go through.
//!
//! # Routing
//!
//! A message goes to partition `origin partition mod N` of the error topic (`N` its partition
//! count, read at connect time), or to partition 0 when the origin partition is unknown. Records
//! of one source partition therefore stay together and in offset order in the error topic, which
//! is what the error handler and a replay want; a key hash would scatter a partition's records
//! and gives nothing for records that have no key.
//!
//! # Delivery
//!
//! Every message is acknowledged by all in-sync replicas (`acks=-1`) or [`ErrorTopicWriter::send`]
//! returns an error; nothing is dropped silently. Transient failures (connection loss, leader
//! change, timeouts, too few replicas) are retried with backoff and jitter until the deadline,
//! reconnecting and re-reading metadata; each retry resends only the partitions not yet
//! acknowledged. A retry after a lost acknowledgement can write a message twice (the producer is
//! not idempotent): delivery to the error topic is at least once, like the trigger itself.
//!
//! [rskafka]: https://docs.rs/rskafka
//!
//! # Layout
//!
//! `mod.rs` holds the public API ([`ErrorTopicWriter`]) and the send loop; `security.rs` the
//! connection settings, `msk_iam.rs` the `AWS_MSK_IAM` token, `tls.rs` the TLS set-up, `connection.rs` opening a broker connection,
//! `metadata.rs` the topic's layout, `produce.rs` routing, batching and the produce request,
//! `error.rs` the error type and its one transient/permanent classification. Only `mod.rs`
//! retries, and only through `maxcompute_client::run_with_retries`.
//!
//! It does not build the messages (`maxcompute_core::error_record` does), read configuration
//! (`crate::config`), create topics, consume, or compress.

mod connection;
mod error;
mod metadata;
mod msk_iam;
mod produce;
mod security;
mod tls;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;

use maxcompute_client::{Jitter, RandomJitter, RetryPolicy, run_with_retries};
use maxcompute_core::error_record::ErrorMessage;
use rskafka::protocol::error::Error as ProtocolError;
use tokio::sync::Mutex;
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;
use tracing::{debug, info, warn};

use connection::{Connection, connect_any, open};
pub use error::ErrorTopicError;
use metadata::{Layout, read_layout};
pub use msk_iam::{AwsCredentials, MskIam, TOKEN_EXPIRY_SECONDS, USER_AGENT};
use produce::{produce_request, route};
pub use security::{KafkaSecurity, SaslMechanism};
pub use tls::TlsOptions;
use tls::tls_connector;

struct State {
    layout: Layout,
    /// The connection metadata is asked on (to a bootstrap server or any broker).
    metadata_conn: Option<(String, Arc<Connection>)>,
    /// Broker id → connection.
    leaders: HashMap<i32, Arc<Connection>>,
}

/// Writes error messages to one topic. Build it once per cold start and share it.
pub struct ErrorTopicWriter {
    topic: String,
    bootstrap: Vec<String>,
    security: KafkaSecurity,
    tls: Option<TlsConnector>,
    retry: RetryPolicy,
    jitter: Arc<dyn Jitter>,
    state: Mutex<State>,
}

impl fmt::Debug for ErrorTopicWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorTopicWriter")
            .field("topic", &self.topic)
            .field("bootstrap", &self.bootstrap)
            .field("security", &self.security)
            .finish_non_exhaustive()
    }
}

impl ErrorTopicWriter {
    /// Connects to the cluster and reads the error topic's partitions, retrying transient
    /// failures until `deadline`. A topic that does not exist is a permanent error: the sink never
    /// creates it.
    pub async fn connect(
        bootstrap_servers: &[String],
        topic: &str,
        security: KafkaSecurity,
        deadline: Instant,
    ) -> Result<Self, ErrorTopicError> {
        Self::connect_with_retry(
            bootstrap_servers,
            topic,
            security,
            RetryPolicy::default(),
            Arc::new(RandomJitter),
            deadline,
        )
        .await
    }

    /// [`connect`](Self::connect) with an explicit retry policy and jitter source (for tests).
    pub async fn connect_with_retry(
        bootstrap_servers: &[String],
        topic: &str,
        security: KafkaSecurity,
        retry: RetryPolicy,
        jitter: Arc<dyn Jitter>,
        deadline: Instant,
    ) -> Result<Self, ErrorTopicError> {
        let bootstrap: Vec<String> = bootstrap_servers
            .iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        if bootstrap.is_empty() {
            return Err(ErrorTopicError::NoBootstrapServers);
        }
        let security = security.resolve().await?;
        let tls = security.tls().map(tls_connector).transpose()?;
        let mut writer = Self {
            topic: topic.to_owned(),
            bootstrap,
            security,
            tls,
            retry,
            jitter,
            state: Mutex::new(State {
                layout: Layout {
                    partitions: Vec::new(),
                    leaders: HashMap::new(),
                    brokers: HashMap::new(),
                },
                metadata_conn: None,
                leaders: HashMap::new(),
            }),
        };
        let attempts = run_with_retries(
            &writer.retry,
            &*writer.jitter,
            deadline,
            "error topic connect",
            |err| warn!(stage = "connect", error = %err, "error topic: retrying"),
            |attempt| {
                let writer = &writer;
                async move {
                    let mut state = writer.state.lock().await;
                    writer.refresh(&mut state, deadline).await?;
                    Ok(attempt + 1)
                }
            },
        )
        .await?;
        info!(
            topic = %writer.topic,
            partitions = writer.state.get_mut().layout.partitions.len(),
            attempts,
            "error topic connected"
        );
        Ok(writer)
    }

    /// The error topic's name.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The error topic's partition count, as last read.
    pub async fn partition_count(&self) -> usize {
        self.state.lock().await.layout.partitions.len()
    }

    /// Sends the messages and returns once all of them are acknowledged by all in-sync
    /// replicas, or with the error that stopped it; transient failures are retried until
    /// `deadline`. Messages keep their order within each error-topic partition. Concurrent
    /// calls on one writer take turns, so that retries never interleave batches of one partition.
    pub async fn send(
        &self,
        messages: Vec<ErrorMessage>,
        deadline: Instant,
    ) -> Result<(), ErrorTopicError> {
        if messages.is_empty() {
            return Ok(());
        }
        let n_messages = messages.len();
        let mut state = self.state.lock().await;
        let pending = route(messages, &state.layout.partitions);
        let n_partitions = pending.len();
        // The state stays locked across all attempts (concurrent sends take turns); the local
        // lock only lends it, with the pending batches, to one attempt at a time.
        let work = Mutex::new((&mut *state, pending));
        let attempts = run_with_retries(
            &self.retry,
            &*self.jitter,
            deadline,
            "error topic send",
            |err| warn!(stage = "send", error = %err, "error topic: retrying"),
            |attempt| {
                let work = &work;
                async move {
                    let mut guard = work.lock().await;
                    let (state, pending) = &mut *guard;
                    if attempt > 0 {
                        // The previous attempt failed: this one starts from fresh metadata.
                        match self.refresh(state, deadline).await {
                            Ok(()) => {}
                            Err(err) if !err.is_transient() => return Err(err),
                            // The produce attempt below will fail the same way and be counted.
                            Err(err) => {
                                debug!(topic = %self.topic, error = %err, "metadata refresh failed");
                            }
                        }
                    }
                    match self.produce_pending(state, pending, deadline).await {
                        Ok(()) => Ok(attempt + 1),
                        Err(err) => {
                            if err.is_transient() {
                                // Whatever failed, the next attempt starts from fresh connections.
                                state.leaders.clear();
                                state.metadata_conn = None;
                            }
                            Err(err)
                        }
                    }
                }
            },
        )
        .await?;
        info!(
            topic = %self.topic,
            n_messages,
            n_partitions,
            attempts,
            "error messages written"
        );
        Ok(())
    }

    /// Sends every pending batch, removing each one once acknowledged.
    async fn produce_pending(
        &self,
        state: &mut State,
        pending: &mut BTreeMap<i32, VecDeque<Vec<ErrorMessage>>>,
        deadline: Instant,
    ) -> Result<(), ErrorTopicError> {
        while let Some(mut entry) = pending.first_entry() {
            let partition = *entry.key();
            let conn = self.leader_connection(state, partition, deadline).await?;
            let (broker, conn) = conn;
            let batches = entry.get_mut();
            while let Some(batch) = batches.front() {
                let request = produce_request(&self.topic, partition, batch, deadline)?;
                let response = timeout_at(deadline, conn.request(request))
                    .await
                    .map_err(|_| ErrorTopicError::Timeout {
                        broker: broker.clone(),
                        stage: "a produce request",
                    })?
                    .map_err(|source| ErrorTopicError::Request {
                        broker: broker.clone(),
                        source,
                    })?;
                let answer = response
                    .responses
                    .iter()
                    .filter(|t| t.name.0 == self.topic)
                    .flat_map(|t| t.partition_responses.iter())
                    .find(|p| p.index.0 == partition)
                    .ok_or_else(|| ErrorTopicError::Metadata {
                        topic: self.topic.clone(),
                        reason: format!(
                            "the produce answer has no entry for partition {partition}"
                        ),
                    })?;
                if let Some(error) = answer.error {
                    return Err(ErrorTopicError::Broker {
                        operation: "a produce request",
                        topic: self.topic.clone(),
                        partition: Some(partition),
                        error,
                    });
                }
                debug!(
                    topic = %self.topic,
                    partition,
                    base_offset = answer.base_offset.0,
                    n_messages = batch.len(),
                    "error batch acknowledged"
                );
                batches.pop_front();
            }
            entry.remove();
        }
        Ok(())
    }

    /// Re-reads the topic's layout, on the current metadata connection or a new one.
    async fn refresh(&self, state: &mut State, deadline: Instant) -> Result<(), ErrorTopicError> {
        let (address, conn) = match state.metadata_conn.take() {
            Some(current) => current,
            None => {
                connect_any(&self.bootstrap, &self.security, self.tls.as_ref(), deadline).await?
            }
        };
        let layout = read_layout(&self.topic, &address, &conn, deadline).await?;
        state.layout = layout;
        state.metadata_conn = Some((address, conn));
        Ok(())
    }

    /// The connection to the partition's leader, opened on first use.
    async fn leader_connection(
        &self,
        state: &mut State,
        partition: i32,
        deadline: Instant,
    ) -> Result<(String, Arc<Connection>), ErrorTopicError> {
        let leader =
            *state
                .layout
                .leaders
                .get(&partition)
                .ok_or_else(|| ErrorTopicError::Broker {
                    operation: "leader lookup",
                    topic: self.topic.clone(),
                    partition: Some(partition),
                    error: ProtocolError::LeaderNotAvailable,
                })?;
        let address = state.layout.brokers.get(&leader).cloned().ok_or_else(|| {
            ErrorTopicError::Metadata {
                topic: self.topic.clone(),
                reason: format!(
                    "leader {leader} of partition {partition} is not among the brokers"
                ),
            }
        })?;
        if let Some(conn) = state.leaders.get(&leader) {
            return Ok((address, Arc::clone(conn)));
        }
        // The metadata connection often is the leader already (always, on one broker).
        let conn = match &state.metadata_conn {
            Some((addr, conn)) if *addr == address => Arc::clone(conn),
            _ => Arc::new(open(&address, &self.security, self.tls.as_ref(), deadline).await?),
        };
        state.leaders.insert(leader, Arc::clone(&conn));
        Ok((address, conn))
    }
}
