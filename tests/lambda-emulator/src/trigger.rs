//! A local stand-in for the AWS Lambda Kafka event source mapping: it reads one topic from a
//! Kafka broker, cuts per-partition batches (BatchSize, batching window, 6 MB event cap), hands
//! each to the function as the event JSON the cloud sends, run as its real binary through
//! [`crate::runtime::Function`], and commits the consumer group's offsets only after success.
//! An error, a timeout or a crash retries the whole batch with backoff (the process restarts
//! cold); `batchItemFailures` commits up to the lowest reported offset and resumes there.
//! In provisioned mode it honours the mapping's error handling ([`retry`]):
//! `MaximumRetryAttempts`, `BisectBatchOnFunctionError`, `MaximumRecordAgeInSeconds` and a
//! `kafka://` on-failure destination, to which a batch given up is written before the trigger
//! commits past it.
//!
//! With `LATEST`, a partition starts at its end as found by reading, not at the high watermark
//! the broker reports: the local broker can report it short after a produce request of several
//! records ([`end_offset`]).
//!
//! Kafka client: `rdkafka` (librdkafka). It has what the mapping needs and `rskafka` lacks:
//! committed offsets of a consumer group (OffsetCommit/OffsetFetch). Partitions are assigned
//! manually from the topic's metadata and the group (`connect-<connector name>`) is used only
//! for its committed offsets: no group membership, so no rebalances and none of the slow group
//! joins of the local broker. It is built without OpenSSL (the project uses rustls) and lives
//! only here, never in a function binary (librdkafka does not cross-compile to arm64 Lambda).
//!
//! It does not do: more than one concurrent invocation (batches of different partitions take
//! turns, order within a partition is kept), SQS, SNS or S3 on-failure destinations, filters,
//! `AT_TIMESTAMP`, authentication to the cluster, or partitions added while it runs. Records
//! of partitions not being retried keep flowing while another partition's batch waits for its
//! retry.
//!
//! With a schema registry ([`schema`]), each record's validated key and value are decoded as it
//! is read; a record that cannot be decoded never reaches the function: when its turn comes it
//! goes to the on-failure destination (condition [`schema::UNDELIVERABLE`]), and the batch's
//! other records are sent.
//!
//! Submodules: `batch` (event JSON, batching; pure), `answer` (what an outcome means; pure),
//! `retry` (error handling and on-failure records; pure), `schema` (the schema registry),
//! `template` (settings from `template.yaml`), `tools` (produce and read records).

pub mod answer;
pub mod batch;
pub mod retry;
pub mod schema;
pub mod template;
pub mod tools;

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, Timestamp, TopicPartitionList};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::runtime::{Function, FunctionSpec};
use answer::{Verdict, judge, outcome_label};
use batch::{
    Batch, EventMeta, Limits, PartitionBuffer, Pending, SourceRecord, record_json, record_json_with,
};
use retry::{AfterFailure, Destination, ErrorHandling, GiveUp};

/// Where reading starts when the consumer group has no committed offset for a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartingPosition {
    /// `TRIM_HORIZON` (the console's `earliest`): the oldest record.
    TrimHorizon,
    /// `LATEST` (`latest`): records produced after the trigger started.
    Latest,
}

impl std::str::FromStr for StartingPosition {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "TRIM_HORIZON" | "earliest" => Ok(Self::TrimHorizon),
            "LATEST" | "latest" => Ok(Self::Latest),
            other => Err(format!(
                "expected latest|earliest (LATEST|TRIM_HORIZON), got `{other}`"
            )),
        }
    }
}

/// Everything the trigger needs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `host:port[,host:port]`, also the event's `bootstrapServers`.
    pub bootstrap: String,
    pub topic: String,
    /// The consumer group whose committed offsets are the trigger's position.
    pub group: String,
    pub starting_position: StartingPosition,
    pub limits: Limits,
    /// `aws:kafka` (with an ARN) or `SelfManagedKafka`.
    pub event_source: String,
    pub event_source_arn: Option<String>,
    /// Whether `batchItemFailures` in a response is honoured (`ReportBatchItemFailures`).
    pub report_batch_item_failures: bool,
    pub function: FunctionSpec,
    /// The first wait before a retry; doubled each attempt up to `retry_backoff_max`.
    pub retry_backoff: Duration,
    pub retry_backoff_max: Duration,
    /// Provisioned mode's retries, bisection, record age and on-failure destination; the
    /// default is on-demand mode's (retry until success).
    pub error_handling: ErrorHandling,
    /// The mapping's schema registry (`SchemaRegistryConfig`, provisioned mode only).
    pub schema_registry: Option<schema::RegistryConfig>,
}

/// Counts since the trigger started, published after every batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub invocations: u64,
    pub failed_invocations: u64,
    /// Records whose offsets were committed (given-up records included).
    pub committed_records: u64,
    /// Records given up (written to the on-failure destination, or dropped without one).
    pub given_up_records: u64,
    /// Failed batches split in two (`BisectBatchOnFunctionError`).
    pub bisections: u64,
    /// The committed offset (next to read) per partition, as this trigger committed it.
    pub committed: BTreeMap<i32, i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error("Kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error(
        "cannot read the metadata of {what}: {source} (for the local broker, run: bash scripts/broker.sh start)"
    )]
    Unreachable {
        /// `<topic> from <bootstrap>`, one string to keep the error small.
        what: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("topic {topic} has no partitions on {bootstrap} (create it first)")]
    NoTopic { topic: String, bootstrap: String },
    #[error(transparent)]
    Lambda(#[from] crate::runtime::LambdaError),
    #[error("{0}")]
    Settings(String),
}

/// How long a metadata or offset request to the broker may take.
const BROKER_TIMEOUT: Duration = Duration::from_secs(10);
/// How often reading the schema registry is tried again before a record is given up.
const REGISTRY_RETRIES: usize = 5;
/// How long the loop waits for a record when nothing else is due.
const IDLE_POLL: Duration = Duration::from_millis(200);

/// A running trigger: its counters, and a way to stop it.
#[derive(Debug)]
pub struct Running {
    stats: watch::Receiver<Stats>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<Stats, TriggerError>>,
}

impl Running {
    pub fn stats(&self) -> Stats {
        self.stats.borrow().clone()
    }

    /// Waits until at least `records` records were committed, or `timeout` passes; returns
    /// the counters either way (the caller checks them).
    pub async fn wait_committed(&mut self, records: u64, timeout: Duration) -> Stats {
        let _ = tokio::time::timeout(
            timeout,
            self.stats.wait_for(|s| s.committed_records >= records),
        )
        .await;
        self.stats()
    }

    /// Waits until the counters satisfy `done`, or `timeout` passes; returns the counters
    /// either way (the caller checks them).
    pub async fn wait_for(
        &mut self,
        mut done: impl FnMut(&Stats) -> bool,
        timeout: Duration,
    ) -> Stats {
        let _ = tokio::time::timeout(timeout, self.stats.wait_for(|s| done(s))).await;
        self.stats()
    }

    /// Stops after the batch in hand (if any) and returns the final counters.
    pub async fn stop(mut self) -> Result<Stats, TriggerError> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(TriggerError::Settings(format!(
                "the trigger task failed: {e}"
            ))),
        }
    }
}

/// A consumer for `settings`, for the trigger and for reading a group's committed offsets.
pub fn consumer(bootstrap: &str, group: &str) -> Result<StreamConsumer, TriggerError> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        // Positions are always explicit (committed or resolved at start); this only covers an
        // offset that went out of range while running.
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .create()?)
}

/// The partitions of `topic`, from the broker's metadata.
pub fn partitions(
    consumer: &StreamConsumer,
    topic: &str,
    bootstrap: &str,
) -> Result<Vec<i32>, TriggerError> {
    let metadata = consumer
        .fetch_metadata(Some(topic), BROKER_TIMEOUT)
        .map_err(|source| TriggerError::Unreachable {
            what: format!("{topic} from {bootstrap}"),
            source,
        })?;
    let mut ids: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    ids.sort_unstable();
    if ids.is_empty() {
        return Err(TriggerError::NoTopic {
            topic: topic.to_owned(),
            bootstrap: bootstrap.to_owned(),
        });
    }
    Ok(ids)
}

/// The committed offset (next to read) of each partition of `topic` for `group`; partitions
/// without one are absent.
pub fn committed_offsets(
    bootstrap: &str,
    group: &str,
    topic: &str,
) -> Result<BTreeMap<i32, i64>, TriggerError> {
    let consumer = consumer(bootstrap, group)?;
    let ids = partitions(&consumer, topic, bootstrap)?;
    committed_for(&consumer, topic, &ids)
}

fn committed_for(
    consumer: &StreamConsumer,
    topic: &str,
    ids: &[i32],
) -> Result<BTreeMap<i32, i64>, TriggerError> {
    let mut tpl = TopicPartitionList::new();
    for id in ids {
        tpl.add_partition(topic, *id);
    }
    let committed = consumer.committed_offsets(tpl, BROKER_TIMEOUT)?;
    Ok(committed
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some((e.partition(), o)),
            _ => None,
        })
        .collect())
}

/// The end of a partition (the offset the next record will get), found by reading from
/// `from` (the high watermark the broker reported) until the broker says the partition has no
/// more: the local broker can report a high watermark short of the records it holds after a
/// produce request of several records, and LATEST must not replay those. Each fetch is
/// answered by the broker with what it has, so the result does not depend on timing; the
/// reading stops at the first end-of-partition the consumer reports with no record past it.
pub fn end_offset(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    from: i64,
) -> Result<i64, TriggerError> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "emulator-trigger-end-offset")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("fetch.wait.max.ms", "50")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(from))?;
    consumer.assign(&tpl)?;
    let give_up = std::time::Instant::now() + BROKER_TIMEOUT;
    let mut end = from;
    loop {
        let left = give_up.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(TriggerError::Settings(format!(
                "cannot find the end of {topic}-{partition}: no end of partition reported within {} s",
                BROKER_TIMEOUT.as_secs()
            )));
        }
        match consumer.poll(left) {
            Some(Ok(m)) => end = end.max(m.offset() + 1),
            Some(Err(KafkaError::PartitionEOF(p))) if p == partition => return Ok(end),
            Some(Err(KafkaError::PartitionEOF(_))) | None => {}
            Some(Err(e)) => return Err(e.into()),
        }
    }
}

fn source_record(m: &impl Message) -> SourceRecord {
    let (timestamp_ms, timestamp_type) = match m.timestamp() {
        Timestamp::CreateTime(t) => (t, "CREATE_TIME"),
        Timestamp::LogAppendTime(t) => (t, "LOG_APPEND_TIME"),
        Timestamp::NotAvailable => (-1, "NO_TIMESTAMP_TYPE"),
    };
    SourceRecord {
        topic: m.topic().to_owned(),
        partition: m.partition(),
        offset: m.offset(),
        timestamp_ms,
        timestamp_type,
        key: m.key().map(<[u8]>::to_vec),
        value: m.payload().map(<[u8]>::to_vec),
        headers: m
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// A batch cut from a partition's buffer, on its way through attempts, splits and giving up.
#[derive(Debug)]
struct Held {
    batch: Batch,
    /// The partition's committed offset once this batch is settled: past its last record, or
    /// the first offset of the half that follows it after a split.
    upto: i64,
    /// Records of this batch already given up for their age, counted when `upto` is committed.
    settled: usize,
    /// Retries used ([`ErrorHandling::after_failure`]); splits keep it.
    retries: u32,
    /// Invocations that carried these records (`approximateInvokeCount`).
    invocations: u32,
    last_request_id: Option<String>,
    /// The last invocation's `functionError` (see [`GiveUp::function_error`]).
    last_error: Option<Option<String>>,
    /// Set when the batch is given up but writing it to the destination failed: the next
    /// turn writes again instead of invoking.
    giving_up: Option<&'static str>,
    /// Not before this.
    at: Instant,
}

impl Held {
    fn new(batch: Batch, at: Instant) -> Self {
        let upto = batch.last_offset().map_or(0, |o| o + 1);
        Self {
            batch,
            upto,
            settled: 0,
            retries: 0,
            invocations: 0,
            last_request_id: None,
            last_error: None,
            giving_up: None,
            at,
        }
    }
}

struct PartitionState {
    buffer: PartitionBuffer,
    /// The next offset expected from the broker; records below it were already handled.
    next: i64,
    /// Batches that go before anything else of the partition, front first: a failed batch
    /// waiting for its retry, or the halves of a split one.
    held: VecDeque<Held>,
}

/// Connects, resolves where each partition starts, and runs the trigger in a task until it is
/// stopped. Returns once the positions are fixed, so records produced afterwards are seen
/// even with `LATEST`.
pub async fn start(settings: Settings) -> Result<Running, TriggerError> {
    if !batch::BATCH_SIZE_RANGE.contains(&settings.limits.batch_size) {
        return Err(TriggerError::Settings(format!(
            "BatchSize must be 1..=10000, got {}",
            settings.limits.batch_size
        )));
    }
    if !settings.function.binary.is_file() {
        return Err(TriggerError::Settings(format!(
            "the function binary {} does not exist (build it first)",
            settings.function.binary.display()
        )));
    }
    let consumer = consumer(&settings.bootstrap, &settings.group)?;
    let ids = partitions(&consumer, &settings.topic, &settings.bootstrap)?;
    let on_failure = match &settings.error_handling.on_failure {
        None => None,
        Some(Destination::Kafka { topic }) => {
            if *topic == settings.topic {
                return Err(TriggerError::Settings(format!(
                    "the on-failure destination kafka://{topic} is the source topic; Lambda refuses that loop"
                )));
            }
            partitions(&consumer, topic, &settings.bootstrap)?;
            let producer: FutureProducer = ClientConfig::new()
                .set("bootstrap.servers", &settings.bootstrap)
                .set("message.timeout.ms", "10000")
                // Keyed records land where a Java client would put them; unkeyed ones spread.
                .set("partitioner", "murmur2_random")
                .create()?;
            Some((topic.clone(), producer))
        }
    };
    let committed = committed_for(&consumer, &settings.topic, &ids)?;
    let mut tpl = TopicPartitionList::new();
    let mut starts = BTreeMap::new();
    for id in &ids {
        let start = match committed.get(id) {
            Some(o) => *o,
            None => {
                let (low, high) =
                    consumer.fetch_watermarks(&settings.topic, *id, BROKER_TIMEOUT)?;
                match settings.starting_position {
                    StartingPosition::TrimHorizon => low.max(0),
                    StartingPosition::Latest => end_offset(
                        &settings.bootstrap,
                        &settings.topic,
                        *id,
                        high.max(low).max(0),
                    )?,
                }
            }
        };
        tpl.add_partition_offset(&settings.topic, *id, Offset::Offset(start))?;
        starts.insert(*id, start);
    }
    consumer.assign(&tpl)?;
    info!(
        topic = %settings.topic,
        group = %settings.group,
        partitions = ids.len(),
        starts = ?starts,
        batch_size = settings.limits.batch_size,
        window_ms = settings.limits.window.as_millis() as u64,
        "trigger ready"
    );
    let function = Function::new(settings.function.clone()).await?;
    let decoder = settings.schema_registry.clone().map(schema::Decoder::new);
    let (stats_tx, stats_rx) = watch::channel(Stats::default());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(run(
        settings, consumer, on_failure, starts, function, decoder, stats_tx, stop_rx,
    ));
    Ok(Running {
        stats: stats_rx,
        stop: Some(stop_tx),
        task,
    })
}

#[allow(clippy::too_many_arguments)]
async fn run(
    settings: Settings,
    consumer: StreamConsumer,
    on_failure: Option<(String, FutureProducer)>,
    starts: BTreeMap<i32, i64>,
    function: Function,
    mut decoder: Option<schema::Decoder>,
    stats_tx: watch::Sender<Stats>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> Result<Stats, TriggerError> {
    let meta = EventMeta {
        event_source: settings.event_source.clone(),
        event_source_arn: settings.event_source_arn.clone(),
        bootstrap_servers: settings.bootstrap.clone(),
    };
    let parts: BTreeMap<i32, PartitionState> = starts
        .iter()
        .map(|(id, start)| {
            (
                *id,
                PartitionState {
                    buffer: PartitionBuffer::new(&meta, &settings.topic, *id),
                    next: *start,
                    held: VecDeque::new(),
                },
            )
        })
        .collect();
    let mut state = Loop {
        settings,
        meta,
        consumer,
        on_failure,
        function,
        parts,
        stats: Stats::default(),
    };
    // Round-robin start, so that one busy partition does not starve the others.
    let mut turn: usize = 0;
    loop {
        let now = Instant::now();
        let due = pick_due(&mut state.parts, &state.settings.limits, now, &mut turn);
        if let Some((id, held)) = due {
            state.handle(id, held).await;
            stats_tx.send_replace(state.stats.clone());
            if stop.try_recv().is_ok() {
                break;
            }
            continue;
        }
        let wake = next_wake(&state.parts, &state.settings.limits).unwrap_or(now + IDLE_POLL);
        tokio::select! {
            _ = &mut stop => break,
            message = state.consumer.recv() => match message {
                Ok(m) => {
                    let record = source_record(&m);
                    let fresh = state
                        .parts
                        .get(&record.partition)
                        .is_some_and(|part| record.offset >= part.next);
                    if fresh {
                        let pending = pending(decoder.as_mut(), &record).await;
                        if let Some(part) = state.parts.get_mut(&record.partition) {
                            part.next = record.offset + 1;
                            part.buffer.push(pending, Instant::now().into_std());
                        }
                    }
                }
                Err(e) => {
                    warn!(error = %e, "Kafka consumer error");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            },
            () = tokio::time::sleep_until(wake.min(now + IDLE_POLL)) => {}
        }
    }
    state.function.stop().await;
    Ok(state.stats)
}

/// A record as it waits in a batch: as the function receives it, or, when the schema registry
/// cannot decode it, as it was read and marked undeliverable.
async fn pending(decoder: Option<&mut schema::Decoder>, record: &SourceRecord) -> Pending {
    let Some(decoder) = decoder else {
        return Pending::of(record, record_json(record));
    };
    let mut outcome = decoder.deliver(record).await;
    // A registry that cannot be read is tried again a few times (about 6 s) before the record
    // is given up: it says nothing about the record.
    let mut wait = Duration::from_millis(200);
    for _ in 0..REGISTRY_RETRIES {
        let Err(schema::DecodeError::Registry { reason, .. }) = &outcome else {
            break;
        };
        warn!(topic = %record.topic, offset = record.offset, %reason, retry_in_ms = wait.as_millis() as u64, "the schema registry cannot be read: trying again");
        tokio::time::sleep(wait).await;
        wait *= 2;
        outcome = decoder.deliver(record).await;
    }
    match outcome {
        Ok(d) => {
            let delivered = SourceRecord {
                key: d.key,
                value: d.value,
                ..record.clone()
            };
            let json = record_json_with(&delivered, d.key_schema.as_ref(), d.value_schema.as_ref());
            Pending::of(record, json)
        }
        Err(e) => {
            warn!(topic = %record.topic, partition = record.partition, offset = record.offset, reason = %e, "the schema registry cannot decode the record: it goes to the on-failure destination");
            Pending {
                undeliverable: Some(e.to_string()),
                ..Pending::of(record, record_json(record))
            }
        }
    }
}

/// The next batch to send: a held one whose wait is over, or a buffer that is ready;
/// partitions take turns.
fn pick_due(
    parts: &mut BTreeMap<i32, PartitionState>,
    limits: &Limits,
    now: Instant,
    turn: &mut usize,
) -> Option<(i32, Held)> {
    let ids: Vec<i32> = parts.keys().copied().collect();
    let n = ids.len();
    for i in 0..n {
        let id = *ids.get((*turn + i) % n)?;
        let part = parts.get_mut(&id)?;
        if let Some(front) = part.held.front() {
            if front.at <= now
                && let Some(held) = part.held.pop_front()
            {
                *turn = (*turn + i + 1) % n;
                return Some((id, held));
            }
            // A partition whose batch waits for a retry sends nothing else meanwhile.
            continue;
        }
        if part.buffer.ready(limits, now.into_std())
            && let Some(batch) = part.buffer.take(limits)
        {
            *turn = (*turn + i + 1) % n;
            return Some((id, Held::new(batch, now)));
        }
    }
    None
}

/// The earliest moment something may become due.
fn next_wake(parts: &BTreeMap<i32, PartitionState>, limits: &Limits) -> Option<Instant> {
    parts
        .values()
        .filter_map(|p| match p.held.front() {
            Some(h) => Some(h.at),
            None => p.buffer.window_closes(limits).map(Instant::from_std),
        })
        .min()
}

fn backoff(settings: &Settings, attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
    settings
        .retry_backoff
        .saturating_mul(factor)
        .min(settings.retry_backoff_max)
}

/// The loop's state: what it reads from, what it invokes, and the partitions' progress.
struct Loop {
    settings: Settings,
    meta: EventMeta,
    consumer: StreamConsumer,
    /// The on-failure destination's topic and its producer.
    on_failure: Option<(String, FutureProducer)>,
    function: Function,
    parts: BTreeMap<i32, PartitionState>,
    stats: Stats,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Loop {
    /// Sends one held batch on: writes it to the destination when it is being given up, gives
    /// up its records that are too old, invokes the function with the rest, and commits,
    /// resumes, retries, splits or gives up as the outcome and the error handling say.
    async fn handle(&mut self, id: i32, mut held: Held) {
        if let Some(condition) = held.giving_up {
            self.give_up(id, held, condition).await;
            return;
        }
        if held.batch.records.iter().any(|r| r.undeliverable.is_some()) {
            let (bad, keep): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut held.batch.records)
                .into_iter()
                .partition(|r| r.undeliverable.is_some());
            held.batch.records = keep;
            let give_up = self.give_up_context(&held, schema::UNDELIVERABLE);
            if let Err(e) = self.write_on_failure(&give_up, id, &bad).await {
                error!(topic_partition = %held.batch.topic_partition(), records = bad.len(), error = %e, "writing records the schema registry cannot decode to the on-failure destination failed: trying again");
                let mut all = bad;
                all.append(&mut held.batch.records);
                all.sort_by_key(|r| r.offset);
                held.batch.records = all;
                self.hold(id, held, true);
                return;
            }
            warn!(topic_partition = %held.batch.topic_partition(), first_offset = bad.first().map_or(-1, |r| r.offset), records = bad.len(), "records the schema registry cannot decode given up");
            self.stats.given_up_records += bad.len() as u64;
            held.settled += bad.len();
            if held.batch.records.is_empty() {
                self.settle(id, &held, held.upto);
                return;
            }
        }
        if self.settings.error_handling.maximum_record_age.is_some() {
            let now = now_ms();
            let (old, keep): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut held.batch.records)
                .into_iter()
                .partition(|r| self.settings.error_handling.too_old(r.timestamp_ms, now));
            held.batch.records = keep;
            if !old.is_empty() {
                let give_up = self.give_up_context(&held, retry::RECORD_AGE_EXCEEDED);
                if let Err(e) = self.write_on_failure(&give_up, id, &old).await {
                    error!(topic_partition = %held.batch.topic_partition(), records = old.len(), error = %e, "writing records older than MaximumRecordAgeInSeconds to the on-failure destination failed: trying again");
                    let mut all = old;
                    all.append(&mut held.batch.records);
                    all.sort_by_key(|r| r.offset);
                    held.batch.records = all;
                    self.hold(id, held, true);
                    return;
                }
                warn!(topic_partition = %held.batch.topic_partition(), first_offset = old.first().map_or(-1, |r| r.offset), records = old.len(), "records older than MaximumRecordAgeInSeconds given up");
                self.stats.given_up_records += old.len() as u64;
                held.settled += old.len();
            }
            if held.batch.records.is_empty() {
                self.settle(id, &held, held.upto);
                return;
            }
        }
        self.invoke(id, held).await;
    }

    /// One invocation of the function with `event`, counted, its request id and whether it
    /// failed kept on the batch for the on-failure record.
    async fn call(&mut self, held: &mut Held, event: String) -> crate::runtime::Outcome {
        self.stats.invocations += 1;
        let outcome = match self.function.invoke(event.into()).await {
            Ok(o) => o,
            Err(e) => crate::runtime::Outcome::Exited(e.to_string()),
        };
        held.invocations += 1;
        held.last_request_id = self.function.last_request_id();
        held.last_error = Some(match outcome {
            crate::runtime::Outcome::Response(_) => None,
            _ => Some("Unhandled".to_owned()),
        });
        outcome
    }

    /// Invokes the function with a batch and acts on the outcome.
    async fn invoke(&mut self, id: i32, mut held: Held) {
        let event = held.batch.event(&self.meta);
        let tp = held.batch.topic_partition();
        let first = held.batch.first_offset().unwrap_or(-1);
        let last = held.batch.last_offset().unwrap_or(-1);
        let records = held.batch.records.len();
        let attempt = held.retries + 1;
        if event.len() > self.settings.limits.max_event_bytes {
            warn!(topic_partition = %tp, offset = first, bytes = event.len(), "one record makes an event over the 6 MB Lambda payload limit: AWS could not deliver it; sent anyway");
        }
        let event_bytes = event.len();
        let started = std::time::Instant::now();
        let outcome = self.call(&mut held, event).await;
        let latency_ms = started.elapsed().as_millis() as u64;
        let label = outcome_label(&outcome);
        let (verdict, ignored) = judge(
            &held.batch,
            &outcome,
            self.settings.report_batch_item_failures,
        );
        if ignored {
            error!(topic_partition = %tp, first_offset = first, last_offset = last, "the function reported batchItemFailures but the mapping does not have FunctionResponseTypes: [ReportBatchItemFailures]; as in AWS, the whole batch counts as processed");
        }
        let reason = match verdict {
            Verdict::Success => {
                if self.settle(id, &held, held.upto) {
                    info!(topic_partition = %tp, first_offset = first, last_offset = last, records, bytes = event_bytes, attempt, outcome = %label, latency_ms, committed = held.upto, "batch done");
                } else {
                    // The function did its part: the batch is sent again, as AWS would after
                    // losing its position, but never split or given up for this.
                    warn!(topic_partition = %tp, first_offset = first, last_offset = last, records, attempt, "committing the offsets failed: sending the batch again");
                    self.stats.failed_invocations += 1;
                    self.hold(id, held, true);
                }
                return;
            }
            Verdict::Partial { resume_at } if resume_at > first => {
                if !self.resume(id, held, resume_at) {
                    return;
                }
                warn!(topic_partition = %tp, first_offset = first, last_offset = last, records, attempt, outcome = %label, latency_ms, resume_at, "batch partly done: resuming from the reported offset");
                self.stats.failed_invocations += 1;
                return;
            }
            Verdict::Partial { .. } => {
                "the first record of the batch was reported failed".to_owned()
            }
            Verdict::Retry { reason } => reason,
        };
        self.stats.failed_invocations += 1;
        match self
            .settings
            .error_handling
            .after_failure(held.retries, records)
        {
            AfterFailure::Retry => {
                held.retries += 1;
                let wait = backoff(&self.settings, held.retries);
                warn!(topic_partition = %tp, first_offset = first, last_offset = last, records, attempt, outcome = %label, latency_ms, retry_in_ms = wait.as_millis() as u64, reason = %shorten(&reason), "batch failed: retrying the whole batch");
                self.hold(id, held, false);
            }
            AfterFailure::Bisect => {
                if let Some(halves) = self.bisect(id, held) {
                    warn!(topic_partition = %tp, first_offset = first, last_offset = last, records, attempt, outcome = %label, latency_ms, ?halves, reason = %shorten(&reason), "batch failed: splitting it in two (BisectBatchOnFunctionError)");
                }
            }
            AfterFailure::GiveUp => {
                warn!(topic_partition = %tp, first_offset = first, last_offset = last, records, attempt, outcome = %label, latency_ms, retries = held.retries, reason = %shorten(&reason), "batch failed and its retries are used up: giving it up");
                self.give_up(id, held, retry::RETRIES_EXHAUSTED).await;
            }
        }
    }

    /// Splits a failed batch in two (BisectBatchOnFunctionError) and holds both halves, the first
    /// in front, for their next attempt after the backoff; the sizes of the halves, or `None`
    /// for a batch of one record, which cannot be split.
    fn bisect(&mut self, id: i32, held: Held) -> Option<(usize, usize)> {
        let Held {
            batch,
            upto,
            settled,
            retries,
            invocations,
            last_request_id,
            last_error,
            ..
        } = held;
        let (a, b) = retry::bisect(batch)?;
        let halves = (a.records.len(), b.records.len());
        self.stats.bisections += 1;
        let at = Instant::now() + backoff(&self.settings, retries.max(1));
        let half = |batch: Batch, upto: i64, settled: usize| Held {
            batch,
            upto,
            settled,
            retries,
            invocations,
            last_request_id: last_request_id.clone(),
            last_error: last_error.clone(),
            giving_up: None,
            at,
        };
        let a_upto = b.first_offset().unwrap_or(upto);
        let second = half(b, upto, 0);
        let first_half = half(a, a_upto, settled);
        if let Some(part) = self.parts.get_mut(&id) {
            part.held.push_front(second);
            part.held.push_front(first_half);
        }
        Some(halves)
    }

    /// Commits up to `resume_at` after a partial failure and holds the records from it for
    /// another first attempt; `false` when the commit failed (the batch is then held whole for
    /// a retry).
    fn resume(&mut self, id: i32, mut held: Held, resume_at: i64) -> bool {
        if commit(&self.consumer, &self.settings.topic, id, resume_at).is_err() {
            held.retries += 1;
            self.hold(id, held, false);
            return false;
        }
        let (done, again): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut held.batch.records)
            .into_iter()
            .partition(|r| r.offset < resume_at);
        self.stats.committed_records += (done.len() + held.settled) as u64;
        self.stats.committed.insert(id, resume_at);
        let wait = backoff(&self.settings, 1);
        let Some(part) = self.parts.get_mut(&id) else {
            return true;
        };
        let whole_tail = again.last().map(|r| r.offset + 1) == Some(held.upto);
        if part.held.is_empty() && whole_tail {
            // Nothing else waits: the rest goes back in front of the buffer and the next
            // batch may take more records with it.
            part.buffer.put_back(again, held.batch.first_seen);
            let no_window = Limits {
                window: Duration::ZERO,
                ..self.settings.limits
            };
            if let Some(b) = part.buffer.take(&no_window) {
                let mut next = Held::new(b, Instant::now() + wait);
                next.invocations = held.invocations;
                part.held.push_front(next);
            }
        } else {
            held.batch.records = again;
            held.settled = 0;
            held.retries = 0;
            held.at = Instant::now() + wait;
            part.held.push_front(held);
        }
        true
    }

    /// Puts a batch back in front of its partition, after a backoff for its retries.
    fn hold(&mut self, id: i32, mut held: Held, keep_retries: bool) {
        let n = if keep_retries {
            held.retries.max(1)
        } else {
            held.retries
        };
        held.at = Instant::now() + backoff(&self.settings, n.max(1));
        if let Some(part) = self.parts.get_mut(&id) {
            part.held.push_front(held);
        }
    }

    /// Commits past a settled batch and counts it; `false` when the commit failed.
    fn settle(&mut self, id: i32, held: &Held, upto: i64) -> bool {
        if commit(&self.consumer, &self.settings.topic, id, upto).is_err() {
            return false;
        }
        self.stats.committed_records += (held.batch.records.len() + held.settled) as u64;
        self.stats.committed.insert(id, upto);
        true
    }

    fn give_up_context(&self, held: &Held, condition: &'static str) -> GiveUp {
        GiveUp {
            condition,
            request_id: held.last_request_id.clone(),
            function_arn: format!(
                "arn:aws:lambda:local:000000000000:function:{}",
                self.settings.function.name
            ),
            invoke_count: held.invocations,
            function_error: held.last_error.clone(),
        }
    }

    /// Writes a batch's records to the destination and commits past them. When the write
    /// fails the batch is held, to be written again; the function is not invoked again.
    async fn give_up(&mut self, id: i32, mut held: Held, condition: &'static str) {
        let context = self.give_up_context(&held, condition);
        let tp = held.batch.topic_partition();
        if let Err(e) = self
            .write_on_failure(&context, id, &held.batch.records)
            .await
        {
            error!(topic_partition = %tp, records = held.batch.records.len(), error = %e, "writing a given-up batch to the on-failure destination failed: trying again");
            held.giving_up = Some(condition);
            self.hold(id, held, true);
            return;
        }
        let records = held.batch.records.len();
        self.stats.given_up_records += records as u64;
        let destination = self
            .on_failure
            .as_ref()
            .map_or("none (dropped)".to_owned(), |(t, _)| format!("kafka://{t}"));
        warn!(topic_partition = %tp, first_offset = held.batch.first_offset().unwrap_or(-1), last_offset = held.batch.last_offset().unwrap_or(-1), records, condition, invocations = held.invocations, %destination, "batch given up: moving past it");
        // A failed commit is logged by `commit`; the partition's next commit covers it.
        self.settle(id, &held, held.upto);
    }

    /// One on-failure message per record, keyed by the record's key; without a destination
    /// the records are only logged, as AWS drops them.
    async fn write_on_failure(
        &self,
        give_up: &GiveUp,
        partition: i32,
        records: &[Pending],
    ) -> Result<(), KafkaError> {
        let Some((topic, producer)) = &self.on_failure else {
            return Ok(());
        };
        let now = now_ms();
        let values: Vec<(String, Option<&[u8]>)> = records
            .iter()
            .map(|r| {
                (
                    retry::on_failure_value(
                        give_up,
                        &self.meta,
                        &self.settings.topic,
                        partition,
                        r,
                        now,
                    ),
                    r.key.as_deref(),
                )
            })
            .collect();
        // Queued all at once (in order), then each delivery is awaited.
        let mut deliveries = Vec::with_capacity(values.len());
        for (value, key) in &values {
            let mut record: FutureRecord<'_, [u8], str> = FutureRecord::to(topic).payload(value);
            if let Some(k) = key {
                record = record.key(*k);
            }
            deliveries.push(producer.send_result(record).map_err(|(e, _)| e)?);
        }
        for delivery in deliveries {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => return Err(e),
                Err(_) => return Err(KafkaError::Canceled),
            }
        }
        Ok(())
    }
}

fn commit(
    consumer: &StreamConsumer,
    topic: &str,
    partition: i32,
    next: i64,
) -> Result<(), rdkafka::error::KafkaError> {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(next))?;
    consumer.commit(&tpl, CommitMode::Sync).inspect_err(|e| {
        error!(topic, partition, offset = next, error = %e, "offset commit failed");
    })
}

/// The first line of a reason, bounded, for the batch log line.
fn shorten(reason: &str) -> String {
    let line = reason.lines().next().unwrap_or_default();
    let mut end = line.len().min(300);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    line.get(..end).unwrap_or_default().to_owned()
}
