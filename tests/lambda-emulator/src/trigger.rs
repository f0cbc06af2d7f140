//! A local stand-in for the AWS Lambda Kafka event source mapping: it reads one topic from a
//! Kafka broker, cuts per-partition batches (BatchSize, batching window, 6 MB event cap), hands
//! each to the function as the event JSON the cloud sends, run as its real binary through
//! [`crate::runtime::Function`], and commits the consumer group's offsets only after success.
//! An error, a timeout or a crash retries the whole batch with backoff (the process restarts
//! cold); `batchItemFailures` commits up to the lowest reported offset and resumes there.
//!
//! Kafka client: `rdkafka` (librdkafka). It has what the mapping needs and `rskafka` lacks:
//! committed offsets of a consumer group (OffsetCommit/OffsetFetch). Partitions are assigned
//! manually from the topic's metadata and the group (`connect-<connector name>`) is used only
//! for its committed offsets: no group membership, so no rebalances and none of the slow group
//! joins of the local broker. It is built without OpenSSL (the project uses rustls) and lives
//! only here, never in a function binary (librdkafka does not cross-compile to arm64 Lambda).
//!
//! It does not do: more than one concurrent invocation (batches of different partitions take
//! turns, order within a partition is kept), `MaximumRetryAttempts`, on-failure destinations,
//! bisection, filters, `AT_TIMESTAMP`, authentication to the cluster, or partitions added
//! while it runs. Records of partitions not being retried keep flowing while another
//! partition's batch waits for its retry.
//!
//! Submodules: `batch` (event JSON, batching; pure), `answer` (what an outcome means; pure),
//! `template` (settings from `template.yaml`), `tools` (produce and read records).

pub mod answer;
pub mod batch;
pub mod template;
pub mod tools;

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, Timestamp, TopicPartitionList};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::runtime::{Function, FunctionSpec};
use answer::{Verdict, judge, outcome_label};
use batch::{Batch, EventMeta, Limits, PartitionBuffer, Pending, SourceRecord, record_json};

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
}

/// Counts since the trigger started, published after every batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub invocations: u64,
    pub failed_invocations: u64,
    /// Records whose offsets were committed.
    pub committed_records: u64,
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

/// A batch that failed and waits for its next attempt.
#[derive(Debug)]
struct Retrying {
    batch: Batch,
    attempt: u32,
    at: Instant,
}

struct PartitionState {
    buffer: PartitionBuffer,
    /// The next offset expected from the broker; records below it were already handled.
    next: i64,
    retrying: Option<Retrying>,
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
    let committed = committed_for(&consumer, &settings.topic, &ids)?;
    let mut tpl = TopicPartitionList::new();
    let mut starts = BTreeMap::new();
    for id in &ids {
        let start = match committed.get(id) {
            Some(o) => *o,
            None => {
                let (low, high) =
                    consumer.fetch_watermarks(&settings.topic, *id, BROKER_TIMEOUT)?;
                // The high watermark may lag on the local broker: with LATEST that can only
                // deliver a record produced just before the start, never skip one after it.
                match settings.starting_position {
                    StartingPosition::TrimHorizon => low.max(0),
                    StartingPosition::Latest => high.max(0),
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
    let (stats_tx, stats_rx) = watch::channel(Stats::default());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(run(settings, consumer, starts, function, stats_tx, stop_rx));
    Ok(Running {
        stats: stats_rx,
        stop: Some(stop_tx),
        task,
    })
}

async fn run(
    settings: Settings,
    consumer: StreamConsumer,
    starts: BTreeMap<i32, i64>,
    function: Function,
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
                    retrying: None,
                },
            )
        })
        .collect();
    let mut state = Loop {
        settings,
        meta,
        consumer,
        function,
        parts,
        stats: Stats::default(),
    };
    // Round-robin start, so that one busy partition does not starve the others.
    let mut turn: usize = 0;
    loop {
        let now = Instant::now();
        let due = pick_due(&mut state.parts, &state.settings.limits, now, &mut turn);
        if let Some((id, batch, attempt)) = due {
            state.handle(id, batch, attempt).await;
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
                    if let Some(part) = state.parts.get_mut(&record.partition)
                        && record.offset >= part.next
                    {
                        part.next = record.offset + 1;
                        part.buffer.push(
                            Pending { offset: record.offset, json: record_json(&record) },
                            Instant::now().into_std(),
                        );
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

/// The next batch to send: a retry whose wait is over, or a buffer that is ready; partitions
/// take turns.
fn pick_due(
    parts: &mut BTreeMap<i32, PartitionState>,
    limits: &Limits,
    now: Instant,
    turn: &mut usize,
) -> Option<(i32, Batch, u32)> {
    let ids: Vec<i32> = parts.keys().copied().collect();
    let n = ids.len();
    for i in 0..n {
        let id = *ids.get((*turn + i) % n)?;
        let part = parts.get_mut(&id)?;
        if let Some(r) = &part.retrying {
            if r.at <= now
                && let Some(r) = part.retrying.take()
            {
                *turn = (*turn + i + 1) % n;
                return Some((id, r.batch, r.attempt));
            }
            // A partition whose batch waits for a retry sends nothing else meanwhile.
            continue;
        }
        if part.buffer.ready(limits, now.into_std())
            && let Some(batch) = part.buffer.take(limits)
        {
            *turn = (*turn + i + 1) % n;
            return Some((id, batch, 1));
        }
    }
    None
}

/// The earliest moment something may become due.
fn next_wake(parts: &BTreeMap<i32, PartitionState>, limits: &Limits) -> Option<Instant> {
    parts
        .values()
        .filter_map(|p| match &p.retrying {
            Some(r) => Some(r.at),
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
    function: Function,
    parts: BTreeMap<i32, PartitionState>,
    stats: Stats,
}

impl Loop {
    /// Invokes the function with one batch and commits, retries or resumes as its outcome says.
    async fn handle(&mut self, id: i32, batch: Batch, attempt: u32) {
        let Loop {
            settings,
            meta,
            consumer,
            function,
            parts,
            stats,
        } = self;
        let event = batch.event(meta);
        let tp = batch.topic_partition();
        let first = batch.first_offset().unwrap_or(-1);
        let last = batch.last_offset().unwrap_or(-1);
        let records = batch.records.len();
        if event.len() > settings.limits.max_event_bytes {
            warn!(topic_partition = %tp, offset = first, bytes = event.len(), "one record makes an event over the 6 MB Lambda payload limit: AWS could not deliver it; sent anyway");
        }
        let started = std::time::Instant::now();
        stats.invocations += 1;
        let event_bytes = event.len();
        let outcome = match function.invoke(event.into()).await {
            Ok(o) => o,
            Err(e) => crate::runtime::Outcome::Exited(e.to_string()),
        };
        let latency_ms = started.elapsed().as_millis() as u64;
        let label = outcome_label(&outcome);
        let (verdict, ignored) = judge(&batch, &outcome, settings.report_batch_item_failures);
        if ignored {
            error!(topic_partition = %tp, first_offset = first, last_offset = last, "the function reported batchItemFailures but the mapping does not have FunctionResponseTypes: [ReportBatchItemFailures]; as in AWS, the whole batch counts as processed");
        }
        let commit_to = match &verdict {
            Verdict::Success => Some(last + 1),
            Verdict::Partial { resume_at } => Some(*resume_at),
            Verdict::Retry { .. } => None,
        };
        let mut committed_ok = true;
        if let Some(to) = commit_to
            && to > first
        {
            committed_ok = commit(consumer, &settings.topic, id, to).is_ok();
        }
        let Some(part) = parts.get_mut(&id) else {
            return;
        };
        match (&verdict, committed_ok) {
            (Verdict::Success, true) => {
                info!(topic_partition = %tp, first_offset = first, last_offset = last, records, bytes = event_bytes, attempt, outcome = %label, latency_ms, committed = last + 1, "batch done");
                stats.committed_records += records as u64;
                stats.committed.insert(id, last + 1);
            }
            (Verdict::Partial { resume_at }, true) => {
                let done = batch
                    .records
                    .iter()
                    .filter(|r| r.offset < *resume_at)
                    .count();
                warn!(topic_partition = %tp, first_offset = first, last_offset = last, records, attempt, outcome = %label, latency_ms, resume_at, "batch partly done: resuming from the reported offset");
                stats.failed_invocations += 1;
                stats.committed_records += done as u64;
                if *resume_at > first {
                    stats.committed.insert(id, *resume_at);
                }
                let again: Vec<Pending> = batch
                    .records
                    .into_iter()
                    .filter(|r| r.offset >= *resume_at)
                    .collect();
                // A partial failure at the batch's first record is a failed attempt at the same
                // records; further in, the next batch is a first attempt at new ones.
                let next_attempt = if *resume_at == first { attempt + 1 } else { 1 };
                let wait = backoff(settings, next_attempt.saturating_sub(1).max(1));
                part.buffer.put_back(again, batch.first_seen);
                let no_window = Limits {
                    window: Duration::ZERO,
                    ..settings.limits
                };
                if let Some(b) = part.buffer.take(&no_window) {
                    part.retrying = Some(Retrying {
                        batch: b,
                        attempt: next_attempt,
                        at: Instant::now() + wait,
                    });
                }
            }
            (verdict, _) => {
                let reason = match verdict {
                    Verdict::Retry { reason } => reason.clone(),
                    _ => "committing the offsets failed".to_owned(),
                };
                let wait = backoff(settings, attempt);
                warn!(topic_partition = %tp, first_offset = first, last_offset = last, records, attempt, outcome = %label, latency_ms, retry_in_ms = wait.as_millis() as u64, reason = %shorten(&reason), "batch failed: retrying the whole batch");
                stats.failed_invocations += 1;
                part.retrying = Some(Retrying {
                    batch,
                    attempt: attempt + 1,
                    at: Instant::now() + wait,
                });
            }
        }
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
