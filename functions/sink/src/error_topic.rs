//! The error-topic producer: sends [`ErrorMessage`]s (built by `shared::error_record`) to the
//! error topic with `acks=all`, keeping every original header in order, duplicates included,
//! byte for byte. It does not build the messages, read configuration or consume anything.
//!
//! # Why rskafka's protocol layer, not its producer
//!
//! The client is [rskafka] 0.6 (pure Rust, tokio, rustls, SASL PLAIN/SCRAM; no librdkafka, so it
//! cross-compiles for x86_64 and arm64 Lambda). Its high-level `rskafka::record::Record` keeps
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
//! the system's roots plus an optional CA, then SASL through the messenger), reading the topic's
//! partitions and leaders from a metadata request, routing, and one retry loop. The TLS set-up is
//! ours rather than rskafka's `transport-tls` feature because that code sits behind rskafka's
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

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rskafka::SaslError;
use rskafka::client::{Credentials, SaslConfig};
use rskafka::messenger::{Messenger, RequestError, SyncVersionsError};
use rskafka::protocol::error::Error as ProtocolError;
use rskafka::protocol::messages::{
    MetadataRequest, MetadataRequestTopic, ProduceRequest, ProduceRequestPartitionData,
    ProduceRequestTopicData, WriteVersionedError,
};
use rskafka::protocol::primitives::{Boolean, Int16, Int32, NullableString, Records, String_};
use rskafka::protocol::record::{
    ControlBatchOrRecords, Record as ProtocolRecord, RecordBatch, RecordBatchCompression,
    RecordBatchTimestampType, RecordHeader,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use shared::client::{Backoff, GiveUp, Jitter, RandomJitter, RetryPolicy};
use shared::error_record::ErrorMessage;
use tokio::io::{AsyncRead, AsyncWrite, BufStream};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;
use tracing::{debug, info, warn};

/// The `client.id` the broker sees.
pub const CLIENT_ID: &str = "maxcompute-sink-error-topic";

/// The largest response frame read from a broker. Produce and metadata answers are small; the
/// bound only stops a confused peer from making us allocate without limit.
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// Messages of one partition are sent in record batches of about this many bytes at most, under
/// Kafka's default `max.message.bytes` (1 MiB) with room for batch and record overhead. A single
/// larger message is sent alone, and the broker's answer (MESSAGE_TOO_LARGE) is reported.
pub const MAX_BATCH_BYTES: usize = 768 * 1024;

/// The broker-side wait for replica acknowledgements, when the deadline leaves more.
const MAX_PRODUCE_TIMEOUT: Duration = Duration::from_secs(30);

/// How to talk to the brokers. `Debug` never prints a password.
#[derive(Clone)]
pub enum KafkaSecurity {
    /// No TLS, no authentication (the local broker).
    Plaintext,
    /// TLS, no SASL.
    Tls(TlsOptions),
    /// SASL over TLS.
    SaslTls {
        mechanism: SaslMechanism,
        username: String,
        password: String,
        tls: TlsOptions,
    },
}

impl fmt::Debug for KafkaSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Plaintext => f.write_str("Plaintext"),
            Self::Tls(tls) => f.debug_tuple("Tls").field(tls).finish(),
            Self::SaslTls {
                mechanism,
                username,
                tls,
                ..
            } => f
                .debug_struct("SaslTls")
                .field("mechanism", mechanism)
                .field("username", username)
                .field("password", &"<redacted>")
                .field("tls", tls)
                .finish(),
        }
    }
}

impl KafkaSecurity {
    fn tls(&self) -> Option<&TlsOptions> {
        match self {
            Self::Plaintext => None,
            Self::Tls(tls) | Self::SaslTls { tls, .. } => Some(tls),
        }
    }

    fn sasl(&self) -> Option<SaslConfig> {
        match self {
            Self::SaslTls {
                mechanism,
                username,
                password,
                ..
            } => {
                let credentials = Credentials::new(username.clone(), password.clone());
                Some(match mechanism {
                    SaslMechanism::Plain => SaslConfig::Plain(credentials),
                    SaslMechanism::ScramSha256 => SaslConfig::ScramSha256(credentials),
                    SaslMechanism::ScramSha512 => SaslConfig::ScramSha512(credentials),
                })
            }
            _ => None,
        }
    }
}

/// TLS settings. The system's root certificates are always trusted.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Extra trusted CA certificates, PEM (a private CA, or the local broker's own certificate).
    pub ca_pem: Option<Vec<u8>>,
}

/// SASL mechanisms the trigger's `SourceAccessConfigurations` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    Plain,
    ScramSha256,
    ScramSha512,
}

/// Whether retrying can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// A later attempt may succeed (the broker, the network or the leader may recover).
    Transient,
    /// Retrying cannot help (configuration, authorisation, a message the broker refuses).
    Permanent,
}

/// A failure to reach or write the error topic. The caller fails the batch on any of them.
#[derive(Debug, thiserror::Error)]
pub enum ErrorTopicError {
    #[error("no bootstrap server given for the error topic")]
    NoBootstrapServers,
    #[error("the error topic's TLS settings are unusable: {0}")]
    TlsConfig(String),
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
    /// The one classification of error-topic failures.
    pub fn retry(&self) -> Retry {
        use Retry::{Permanent, Transient};
        match self {
            Self::NoBootstrapServers
            | Self::TlsConfig(_)
            | Self::UnknownTopic { .. }
            | Self::TimestampRange { .. } => Permanent,
            Self::Connect { .. }
            | Self::Timeout { .. }
            | Self::Request { .. }
            | Self::Metadata { .. }
            | Self::GaveUp { .. } => Transient,
            // A handshake that rustls refused (bad certificate, no common version) will be
            // refused again; anything else is the network.
            Self::TlsHandshake { source, .. } => {
                if source
                    .get_ref()
                    .is_some_and(|inner| inner.is::<rustls::Error>())
                {
                    Permanent
                } else {
                    Transient
                }
            }
            Self::Versions { source, .. } => match source {
                SyncVersionsError::RequestError(_) => Transient,
                _ => Permanent,
            },
            Self::Sasl { source, .. } => match source {
                SaslError::RequestError(_) => Transient,
                _ => Permanent,
            },
            Self::Broker { error, .. } => {
                if is_transient_protocol_error(*error) {
                    Transient
                } else {
                    Permanent
                }
            }
        }
    }

    /// Shorthand for `retry() == Retry::Transient`.
    pub fn is_transient(&self) -> bool {
        self.retry() == Retry::Transient
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

/// Any byte stream a messenger can run over (plain TCP or TLS).
trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

type Connection = Messenger<BufStream<Box<dyn Io>>>;

/// The error topic as the last metadata answer described it.
#[derive(Debug, Clone)]
struct Layout {
    /// Partition ids, ascending.
    partitions: Vec<i32>,
    /// Partition id → leader broker id, for partitions that have a leader.
    leaders: HashMap<i32, i32>,
    /// Broker id → `host:port`.
    brokers: HashMap<i32, String>,
}

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
        let state = writer.state.get_mut();
        let mut backoff = Backoff::new(&writer.retry, &*writer.jitter);
        loop {
            backoff.start_attempt();
            let err = match refresh(
                &writer.topic,
                &writer.bootstrap,
                &writer.security,
                writer.tls.as_ref(),
                state,
                deadline,
            )
            .await
            {
                Ok(()) => break,
                Err(err) if !err.is_transient() => return Err(err),
                Err(err) => err,
            };
            wait_or_give_up(&backoff, err, "connect", deadline).await?;
        }
        info!(
            topic = %writer.topic,
            partitions = state.layout.partitions.len(),
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
        let mut pending = route(messages, &state.layout.partitions);
        let n_partitions = pending.len();
        let mut backoff = Backoff::new(&self.retry, &*self.jitter);
        loop {
            backoff.start_attempt();
            let err = match self
                .produce_pending(&mut state, &mut pending, deadline)
                .await
            {
                Ok(()) => break,
                Err(err) if !err.is_transient() => return Err(err),
                Err(err) => err,
            };
            // Whatever failed, the next attempt starts from fresh connections and metadata.
            state.leaders.clear();
            state.metadata_conn = None;
            wait_or_give_up(&backoff, err, "send", deadline).await?;
            let refreshed = refresh(
                &self.topic,
                &self.bootstrap,
                &self.security,
                self.tls.as_ref(),
                &mut state,
                deadline,
            )
            .await;
            match refreshed {
                Ok(()) => {}
                Err(err) if !err.is_transient() => return Err(err),
                // The produce attempt below will fail the same way and be counted.
                Err(err) => debug!(topic = %self.topic, error = %err, "metadata refresh failed"),
            }
        }
        info!(
            topic = %self.topic,
            n_messages,
            n_partitions,
            attempts = backoff.attempts(),
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

/// Waits before the next attempt, or turns `err` into the final error when no attempt is left.
async fn wait_or_give_up(
    backoff: &Backoff<'_>,
    err: ErrorTopicError,
    stage: &'static str,
    deadline: Instant,
) -> Result<(), ErrorTopicError> {
    match backoff.next_delay(Instant::now(), deadline) {
        Ok(delay) => {
            warn!(stage, attempt = backoff.attempts(), error = %err, ?delay, "error topic: retrying");
            tokio::time::sleep(delay).await;
            Ok(())
        }
        Err(reason) => Err(ErrorTopicError::GaveUp {
            reason,
            attempts: backoff.attempts(),
            last: Box::new(err),
        }),
    }
}

/// Re-reads the topic's layout, on the current metadata connection or a new one.
async fn refresh(
    topic: &str,
    bootstrap: &[String],
    security: &KafkaSecurity,
    tls: Option<&TlsConnector>,
    state: &mut State,
    deadline: Instant,
) -> Result<(), ErrorTopicError> {
    let (address, conn) = match state.metadata_conn.take() {
        Some(current) => current,
        None => connect_any(bootstrap, security, tls, deadline).await?,
    };
    let layout = read_layout(topic, &address, &conn, deadline).await?;
    state.layout = layout;
    state.metadata_conn = Some((address, conn));
    Ok(())
}

/// Opens a connection to the first bootstrap server that answers.
async fn connect_any(
    bootstrap: &[String],
    security: &KafkaSecurity,
    tls: Option<&TlsConnector>,
    deadline: Instant,
) -> Result<(String, Arc<Connection>), ErrorTopicError> {
    let mut last = ErrorTopicError::NoBootstrapServers;
    for address in bootstrap {
        match open(address, security, tls, deadline).await {
            Ok(conn) => return Ok((address.clone(), Arc::new(conn))),
            Err(err) if !err.is_transient() => return Err(err),
            Err(err) => {
                debug!(broker = %address, error = %err, "bootstrap server unavailable");
                last = err;
            }
        }
    }
    Err(last)
}

/// One broker connection: TCP, then TLS, then API version negotiation, then SASL.
async fn open(
    address: &str,
    security: &KafkaSecurity,
    tls: Option<&TlsConnector>,
    deadline: Instant,
) -> Result<Connection, ErrorTopicError> {
    let timeout = |stage| ErrorTopicError::Timeout {
        broker: address.to_owned(),
        stage,
    };
    let tcp = timeout_at(deadline, TcpStream::connect(address))
        .await
        .map_err(|_| timeout("the TCP connection"))?
        .map_err(|source| ErrorTopicError::Connect {
            broker: address.to_owned(),
            source,
        })?;
    // Small request/answer exchanges: waiting to coalesce writes only adds latency.
    if let Err(e) = tcp.set_nodelay(true) {
        debug!(broker = %address, error = %e, "cannot set TCP_NODELAY");
    }
    let io: Box<dyn Io> = match tls {
        None => Box::new(tcp),
        Some(connector) => {
            let name = ServerName::try_from(host_of(address).to_owned()).map_err(|e| {
                ErrorTopicError::TlsConfig(format!("broker address {address}: {e}"))
            })?;
            let stream = timeout_at(deadline, connector.connect(name, tcp))
                .await
                .map_err(|_| timeout("the TLS handshake"))?
                .map_err(|source| ErrorTopicError::TlsHandshake {
                    broker: address.to_owned(),
                    source,
                })?;
            Box::new(stream)
        }
    };
    let mut messenger =
        Messenger::new(BufStream::new(io), MAX_RESPONSE_BYTES, Arc::from(CLIENT_ID));
    timeout_at(deadline, messenger.sync_versions())
        .await
        .map_err(|_| timeout("the API versions request"))?
        .map_err(|source| ErrorTopicError::Versions {
            broker: address.to_owned(),
            source,
        })?;
    if let Some(sasl) = security.sasl() {
        timeout_at(deadline, messenger.do_sasl(sasl))
            .await
            .map_err(|_| timeout("SASL authentication"))?
            .map_err(|source| ErrorTopicError::Sasl {
                broker: address.to_owned(),
                source,
            })?;
    }
    debug!(broker = %address, "connected");
    Ok(messenger)
}

/// Reads the topic's partitions, their leaders and the brokers' addresses.
async fn read_layout(
    topic: &str,
    address: &str,
    conn: &Connection,
    deadline: Instant,
) -> Result<Layout, ErrorTopicError> {
    // Ask the broker not to create the topic: a metadata request is otherwise an implicit
    // "create it" on clusters with `auto.create.topics.enable`, and a misspelt error topic would
    // quietly appear with default settings. The flag exists from metadata v4 on; an older broker
    // creates according to its own configuration whatever we send.
    let request = |allow: Option<Boolean>| MetadataRequest {
        topics: Some(vec![MetadataRequestTopic {
            name: String_(topic.to_owned()),
        }]),
        allow_auto_topic_creation: allow,
    };
    let timeout = || ErrorTopicError::Timeout {
        broker: address.to_owned(),
        stage: "a metadata request",
    };
    let failed = |source| ErrorTopicError::Request {
        broker: address.to_owned(),
        source,
    };
    let response = match timeout_at(deadline, conn.request(request(Some(Boolean(false))))).await {
        Err(_) => return Err(timeout()),
        Ok(Err(RequestError::WriteError(WriteVersionedError::FieldNotAvailable { .. }))) => {
            timeout_at(deadline, conn.request(request(None)))
                .await
                .map_err(|_| timeout())?
                .map_err(failed)?
        }
        Ok(result) => result.map_err(failed)?,
    };
    let unusable = |reason: String| ErrorTopicError::Metadata {
        topic: topic.to_owned(),
        reason,
    };
    let entry = response
        .topics
        .into_iter()
        .find(|t| t.name.0 == topic)
        .ok_or_else(|| unusable("the answer does not mention the topic".to_owned()))?;
    match entry.error {
        None => {}
        Some(ProtocolError::UnknownTopicOrPartition) => {
            return Err(ErrorTopicError::UnknownTopic {
                topic: topic.to_owned(),
            });
        }
        Some(error) => {
            return Err(ErrorTopicError::Broker {
                operation: "a metadata request",
                topic: topic.to_owned(),
                partition: None,
                error,
            });
        }
    }
    if entry.partitions.is_empty() {
        return Err(ErrorTopicError::UnknownTopic {
            topic: topic.to_owned(),
        });
    }
    let mut partitions: Vec<i32> = entry
        .partitions
        .iter()
        .map(|p| p.partition_index.0)
        .collect();
    partitions.sort_unstable();
    partitions.dedup();
    let leaders = entry
        .partitions
        .iter()
        .filter(|p| p.leader_id.0 >= 0)
        .map(|p| (p.partition_index.0, p.leader_id.0))
        .collect();
    let brokers = response
        .brokers
        .iter()
        .map(|b| {
            let host = &b.host.0;
            // An IPv6 literal needs brackets before the port.
            let address = if host.contains(':') {
                format!("[{host}]:{}", b.port.0)
            } else {
                format!("{host}:{}", b.port.0)
            };
            (b.node_id.0, address)
        })
        .collect();
    Ok(Layout {
        partitions,
        leaders,
        brokers,
    })
}

/// The host part of `host:port` (brackets of an IPv6 literal removed), for TLS server names.
fn host_of(address: &str) -> &str {
    let host = match address.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => address,
    };
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// TLS with the system's roots plus the configured CA, through ring (the crypto provider is
/// named explicitly because the workspace also links aws-lc-rs through reqwest, and rustls
/// refuses to guess between two).
fn tls_connector(options: &TlsOptions) -> Result<TlsConnector, ErrorTopicError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let (_added, ignored) = roots.add_parsable_certificates(native.certs);
    if ignored > 0 || !native.errors.is_empty() {
        debug!(
            ignored,
            errors = native.errors.len(),
            "some system certificates are unusable"
        );
    }
    if let Some(pem) = &options.ca_pem {
        let mut n = 0usize;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| {
                ErrorTopicError::TlsConfig(format!("the CA PEM does not parse: {e}"))
            })?;
            roots.add(cert).map_err(|e| {
                ErrorTopicError::TlsConfig(format!("a CA certificate is unusable: {e}"))
            })?;
            n += 1;
        }
        if n == 0 {
            return Err(ErrorTopicError::TlsConfig(
                "the CA PEM holds no certificate".to_owned(),
            ));
        }
    }
    if roots.is_empty() {
        return Err(ErrorTopicError::TlsConfig(
            "no trusted root certificate: the system has none and no CA was given".to_owned(),
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ErrorTopicError::TlsConfig(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// The most messages in one record batch, far below the `i32` offset deltas can count.
const MAX_BATCH_MESSAGES: usize = 10_000;

/// The error-topic partition for a message: origin partition modulo the partition count, over
/// the sorted partition ids; 0 when the origin is unknown. `None` only for a topic without
/// partitions, which metadata never lets through.
pub fn pick_partition(origin_partition: Option<i32>, partitions: &[i32]) -> Option<i32> {
    let n = i64::try_from(partitions.len()).ok().filter(|n| *n > 0)?;
    let index = i64::from(origin_partition.unwrap_or(0)).rem_euclid(n);
    partitions.get(usize::try_from(index).ok()?).copied()
}

/// Groups messages by error-topic partition, in arrival order, cut into record batches.
fn route(
    messages: Vec<ErrorMessage>,
    partitions: &[i32],
) -> BTreeMap<i32, VecDeque<Vec<ErrorMessage>>> {
    let mut by_partition: BTreeMap<i32, Vec<ErrorMessage>> = BTreeMap::new();
    for message in messages {
        let partition = pick_partition(message.origin_partition(), partitions).unwrap_or(0);
        by_partition.entry(partition).or_default().push(message);
    }
    by_partition
        .into_iter()
        .map(|(partition, messages)| (partition, split_batches(messages).into()))
        .collect()
}

/// Cuts one partition's messages into batches of at most [`MAX_BATCH_BYTES`] (estimated) and
/// [`MAX_BATCH_MESSAGES`], keeping order; a message larger than the bound goes alone.
fn split_batches(messages: Vec<ErrorMessage>) -> Vec<Vec<ErrorMessage>> {
    let mut batches = Vec::new();
    let mut current: Vec<ErrorMessage> = Vec::new();
    let mut current_bytes = 0usize;
    for message in messages {
        let size = estimated_size(&message);
        if !current.is_empty()
            && (current_bytes.saturating_add(size) > MAX_BATCH_BYTES
                || current.len() >= MAX_BATCH_MESSAGES)
        {
            batches.push(std::mem::take(&mut current));
            current_bytes = 0;
        }
        current_bytes = current_bytes.saturating_add(size);
        current.push(message);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

/// A record's encoded size, rounded up for varints and lengths.
fn estimated_size(message: &ErrorMessage) -> usize {
    const RECORD_OVERHEAD: usize = 32;
    const HEADER_OVERHEAD: usize = 10;
    message
        .headers
        .iter()
        .map(|(k, v)| k.len() + v.len() + HEADER_OVERHEAD)
        .sum::<usize>()
        + message.key.as_ref().map_or(0, Vec::len)
        + message.value.as_ref().map_or(0, Vec::len)
        + RECORD_OVERHEAD
}

/// One produce request holding one record batch for one partition, `acks=all`.
fn produce_request(
    topic: &str,
    partition: i32,
    batch: &[ErrorMessage],
    deadline: Instant,
) -> Result<ProduceRequest, ErrorTopicError> {
    let first = batch.first().map_or(0, |m| m.timestamp_ms);
    let mut max_timestamp = first;
    let mut records = Vec::with_capacity(batch.len());
    for (i, message) in batch.iter().enumerate() {
        let timestamp_delta =
            message
                .timestamp_ms
                .checked_sub(first)
                .ok_or(ErrorTopicError::TimestampRange {
                    first,
                    other: message.timestamp_ms,
                })?;
        max_timestamp = max_timestamp.max(message.timestamp_ms);
        records.push(ProtocolRecord {
            timestamp_delta,
            offset_delta: i32::try_from(i).unwrap_or(i32::MAX),
            key: message.key.clone(),
            value: message.value.clone(),
            // The reason for this module: a list, in order, duplicates kept.
            headers: message
                .headers
                .iter()
                .map(|(key, value)| RecordHeader {
                    key: key.clone(),
                    value: value.clone(),
                })
                .collect(),
        });
    }
    let remaining = deadline
        .saturating_duration_since(Instant::now())
        .min(MAX_PRODUCE_TIMEOUT);
    let timeout_ms = i32::try_from(remaining.as_millis())
        .unwrap_or(i32::MAX)
        .max(1);
    Ok(ProduceRequest {
        transactional_id: NullableString(None),
        acks: Int16(-1),
        timeout_ms: Int32(timeout_ms),
        topic_data: vec![ProduceRequestTopicData {
            name: String_(topic.to_owned()),
            partition_data: vec![ProduceRequestPartitionData {
                index: Int32(partition),
                records: Records(vec![RecordBatch {
                    base_offset: 0,
                    // -1: "no leader epoch known", as producers send it.
                    partition_leader_epoch: -1,
                    last_offset_delta: i32::try_from(batch.len().saturating_sub(1))
                        .unwrap_or(i32::MAX),
                    first_timestamp: first,
                    max_timestamp,
                    producer_id: -1,
                    producer_epoch: -1,
                    base_sequence: -1,
                    records: ControlBatchOrRecords::Records(records),
                    compression: RecordBatchCompression::NoCompression,
                    is_transactional: false,
                    timestamp_type: RecordBatchTimestampType::CreateTime,
                }]),
            }],
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_is_origin_modulo_count_over_sorted_ids() {
        assert_eq!(pick_partition(Some(7), &[0, 1, 2]), Some(1));
        assert_eq!(pick_partition(Some(2), &[0, 1, 2]), Some(2));
        assert_eq!(pick_partition(None, &[0, 1, 2]), Some(0));
        assert_eq!(pick_partition(Some(-1), &[0, 1, 2]), Some(2));
        assert_eq!(pick_partition(Some(i32::MIN), &[0, 1, 2]), Some(1));
        assert_eq!(pick_partition(Some(5), &[3, 9]), Some(9));
        assert_eq!(pick_partition(Some(5), &[]), None);
    }

    fn message(size: usize) -> ErrorMessage {
        ErrorMessage {
            key: None,
            value: Some(vec![0; size]),
            headers: vec![],
            timestamp_ms: 0,
        }
    }

    #[test]
    fn batches_are_cut_by_size_in_order_and_big_messages_go_alone() {
        let big = MAX_BATCH_BYTES;
        let batches = split_batches(vec![message(10), message(big), message(20), message(30)]);
        let sizes: Vec<Vec<usize>> = batches
            .iter()
            .map(|b| b.iter().map(|m| m.value.as_ref().unwrap().len()).collect())
            .collect();
        assert_eq!(sizes, vec![vec![10], vec![big], vec![20, 30]]);
        assert!(split_batches(vec![]).is_empty());
    }

    #[test]
    fn host_names_for_tls() {
        assert_eq!(
            host_of("b-1.kafka.example.com:9094"),
            "b-1.kafka.example.com"
        );
        assert_eq!(host_of("[::1]:9093"), "::1");
        assert_eq!(host_of("localhost"), "localhost");
    }

    #[test]
    fn debug_never_prints_the_password() {
        let security = KafkaSecurity::SaslTls {
            mechanism: SaslMechanism::ScramSha512,
            username: "sink".to_owned(),
            password: "hunter2".to_owned(),
            tls: TlsOptions::default(),
        };
        let shown = format!("{security:?}");
        assert!(
            shown.contains("sink") && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    /// A self-signed CA certificate, made once with `openssl req -x509` for these tests.
    const TEST_CA_PEM: &str = "-----BEGIN CERTIFICATE-----\n\
MIIBlDCCATmgAwIBAgIUHZ94FcsCDH+wx2VuC2ss0xCoDXowCgYIKoZIzj0EAwIw\n\
HjEcMBoGA1UEAwwTZXJyb3ItdG9waWMtdGVzdC1jYTAgFw0yNjExMjUyMTQ3MDBa\n\
GA8yMTI2MTEwMTIxNDcwMFowHjEcMBoGA1UEAwwTZXJyb3ItdG9waWMtdGVzdC1j\n\
YTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABEy+Nil74y01hddS4Oe8EERl+dO0\n\
gSc8aJB1DHloy8+XhvMmprE8IuPlwUJfvd2La5/sv2I30J76gcKPeadLNi2jUzBR\n\
MB0GA1UdDgQWBBSqR9MzQd1MN03rnIGA9oVRr1JEpDAfBgNVHSMEGDAWgBSqR9Mz\n\
Qd1MN03rnIGA9oVRr1JEpDAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0kA\n\
MEYCIQCR7IxRo/OCsEhFLQWv1XM894uQqEV+sw62qp7wwcj4fAIhANNhMptauoPO\n\
5lJJ03xAEVPU4hjVFruAdqP5+Z8WmW83\n\
-----END CERTIFICATE-----";

    #[test]
    fn tls_ca_options_are_checked_up_front() {
        let with_ca = |pem: &str| {
            tls_connector(&TlsOptions {
                ca_pem: Some(pem.as_bytes().to_vec()),
            })
        };
        assert!(with_ca(TEST_CA_PEM).is_ok());
        let err = with_ca("not a certificate").err().unwrap();
        assert!(matches!(&err, ErrorTopicError::TlsConfig(m) if m.contains("no certificate")));
        assert_eq!(err.retry(), Retry::Permanent);
        let broken = TEST_CA_PEM.replace("M", "!");
        assert_eq!(with_ca(&broken).err().unwrap().retry(), Retry::Permanent);
    }

    #[tokio::test]
    async fn a_tls_handshake_that_never_completes_is_cut_at_the_deadline() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let holder = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let security = KafkaSecurity::Tls(TlsOptions {
            ca_pem: Some(TEST_CA_PEM.as_bytes().to_vec()),
        });
        let tls = tls_connector(security.tls().unwrap()).unwrap();
        let deadline = Instant::now() + Duration::from_millis(300);
        let err = open(&address, &security, Some(&tls), deadline)
            .await
            .err()
            .unwrap();
        holder.abort();
        assert!(
            matches!(
                err,
                ErrorTopicError::Timeout {
                    stage: "the TLS handshake",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.is_transient());
    }

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
