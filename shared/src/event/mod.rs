//! Decoding of the AWS Lambda Kafka trigger event (MSK `aws:kafka` and `SelfManagedKafka`).
//!
//! The event is decoded with our own tolerant types rather than `aws_lambda_events`, whose Kafka
//! types lose a millisecond on timestamps (they go through an `f64`), refuse records without a
//! `headers` field and refuse unsigned header bytes (see `reference/kafka-trigger.md` §2).
//!
//! Two levels of failure are kept apart:
//! - a malformed **event** (not JSON, no `records` object, a `records` entry that is not an
//!   array) is an [`EventError`]: nothing in it can be trusted, the invocation fails;
//! - a malformed **record** (bad base64, a missing or ill-typed coordinate, a header byte out of
//!   range) becomes a [`Reject`] that keeps the record's raw JSON and whatever coordinates can be
//!   recovered, and the rest of the batch goes on.
//!
//! Tolerated, because real emitters do it: `partition`, `offset` and `timestamp` as decimal
//! strings (what a re-serialized `aws_lambda_events` record carries) or integral floats; base64
//! without padding or with `\/` escapes; header bytes signed (-128..=127) or unsigned (0..=255);
//! no `headers` field, or a header object with several entries; null key, value or header value;
//! a repeated "topic-partition" key; unknown fields anywhere. A missing `timestamp` is Kafka's
//! [`NO_TIMESTAMP`]. Topic and partition come from the record, never from the list key (topics
//! may contain `-`), except to fill in a reject's coordinates.
//!
//! Decoding is pure and fast: each record is parsed straight from the event text, borrowing the
//! base64 strings, and decoded into its output buffer with no intermediate `serde_json::Value`.
//! This module does not interpret payloads (see `rows`) nor pick partitions (see `partition`).

mod reject;
mod wire;

pub(crate) use wire::Text;

pub use reject::{MAX_MESSAGE_BYTES, Reject, RejectClass};
pub(crate) use reject::{cap_message, excerpt};

/// Where the event came from, from its `eventSource` field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventSource {
    /// `aws:kafka`: Amazon MSK.
    Msk,
    /// `SelfManagedKafka`.
    SelfManagedKafka,
    /// Any other spelling, kept as given (the emulator or another adapter).
    Other(String),
}

impl EventSource {
    fn parse(s: &str) -> Self {
        match s {
            "aws:kafka" => Self::Msk,
            "SelfManagedKafka" => Self::SelfManagedKafka,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The spelling used in the event.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Msk => "aws:kafka",
            Self::SelfManagedKafka => "SelfManagedKafka",
            Self::Other(s) => s,
        }
    }
}

/// The record's `timestampType`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimestampType {
    /// `CREATE_TIME`: set by the producer.
    CreateTime,
    /// `LOG_APPEND_TIME`: set by the broker.
    LogAppendTime,
    /// `NO_TIMESTAMP_TYPE`: the record has no timestamp (old message formats).
    NoTimestampType,
    /// The field was absent or null.
    Unspecified,
    /// Any other spelling, kept as given.
    Other(String),
}

impl TimestampType {
    fn parse(s: &str) -> Self {
        match s {
            "CREATE_TIME" => Self::CreateTime,
            "LOG_APPEND_TIME" => Self::LogAppendTime,
            "NO_TIMESTAMP_TYPE" => Self::NoTimestampType,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The spelling used in the event; empty for [`TimestampType::Unspecified`].
    pub fn as_str(&self) -> &str {
        match self {
            Self::CreateTime => "CREATE_TIME",
            Self::LogAppendTime => "LOG_APPEND_TIME",
            Self::NoTimestampType => "NO_TIMESTAMP_TYPE",
            Self::Unspecified => "",
            Self::Other(s) => s,
        }
    }
}

/// Kafka's "no timestamp" sentinel (`RecordBatch.NO_TIMESTAMP`), also used here when the event
/// has no `timestamp` for a record.
pub const NO_TIMESTAMP: i64 = -1;

/// The instants MaxCompute's DATETIME and TIMESTAMP can hold, in epoch milliseconds:
/// 0001-01-01 00:00:00.000 to 9999-12-31 23:59:59.999 UTC. A record time outside it can neither
/// name a partition nor fill a time column; decoding keeps it exactly, and the stage that would
/// use it rejects the record.
pub const MAXCOMPUTE_TIME_RANGE_MS: std::ops::RangeInclusive<i64> =
    -62_135_596_800_000..=253_402_300_799_999;

/// Where a record is in Kafka: its topic, partition and offset. Ordered that way, which is the
/// order a batch is processed in; a redelivered duplicate has the same id as the original.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordId {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// One decoded Kafka record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// Epoch milliseconds, exactly as in the event; [`NO_TIMESTAMP`] when it had none.
    pub timestamp_ms: i64,
    pub timestamp_type: TimestampType,
    /// `None` when the record has no key (absent or null in the event).
    pub key: Option<Vec<u8>>,
    /// `None` for a tombstone (absent or null in the event).
    pub value: Option<Vec<u8>>,
    /// In event order, duplicates kept. A null header value decodes as empty bytes.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl KafkaRecord {
    /// The record's place in Kafka.
    pub fn id(&self) -> RecordId {
        RecordId {
            topic: self.topic.clone(),
            partition: self.partition,
            offset: self.offset,
        }
    }

    /// The trigger's "topic-partition" identifier, as `batchItemFailures` must quote it.
    pub fn topic_partition(&self) -> String {
        format!("{}-{}", self.topic, self.partition)
    }

    /// The record's own time, or `None` when Kafka says it has none (so that event-time
    /// routing can fall back to processing time instead of filing it under 1969).
    pub fn event_time_ms(&self) -> Option<i64> {
        if self.timestamp_type == TimestampType::NoTimestampType
            || self.timestamp_ms == NO_TIMESTAMP
        {
            None
        } else {
            Some(self.timestamp_ms)
        }
    }
}

/// A decoded trigger event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedBatch {
    /// `None` when the event had no `eventSource`.
    pub event_source: Option<EventSource>,
    pub event_source_arn: Option<String>,
    /// `bootstrapServers` split on commas, blanks dropped.
    pub bootstrap_servers: Vec<String>,
    /// Sorted by (topic, partition, offset); equal coordinates keep event order.
    pub records: Vec<KafkaRecord>,
    /// Records that did not decode, sorted by their recoverable coordinates.
    pub rejects: Vec<Reject>,
}

/// The event as a whole cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("the Kafka trigger event is not UTF-8 text: {0}")]
    NotUtf8(#[source] std::str::Utf8Error),
    #[error("the Kafka trigger event is not valid JSON: {0}")]
    Syntax(#[source] serde_json::Error),
    #[error("the Kafka trigger event does not have the expected shape: {0}")]
    Shape(#[source] serde_json::Error),
    /// The invocation body was not JSON at all (empty, cut short, not text), as found by the
    /// runtime's deserializer before any of our code saw the bytes; it hands over only its
    /// message, hence a `String`.
    #[error("the Kafka trigger event is not JSON: {0}")]
    Unreadable(String),
}

/// Decodes a trigger event from its JSON bytes.
pub fn decode_event(input: &[u8]) -> Result<DecodedBatch, EventError> {
    let text = std::str::from_utf8(input).map_err(EventError::NotUtf8)?;
    decode_event_str(text)
}

/// Decodes a trigger event from its JSON text.
pub fn decode_event_str(input: &str) -> Result<DecodedBatch, EventError> {
    let wire::TopLevel(envelope) = serde_json::from_str(input).map_err(|e| {
        if e.is_data() {
            EventError::Shape(e)
        } else {
            EventError::Syntax(e)
        }
    })?;

    let total: usize = envelope.records.iter().map(|(_, list)| list.len()).sum();
    let mut records = Vec::with_capacity(total);
    let mut rejects = Vec::new();
    for (list_key, list) in envelope.records.iter() {
        for raw in list {
            match wire::decode_record(raw.get()) {
                Ok(record) => records.push(record),
                Err(message) => rejects.push(wire::salvage(raw.get(), list_key, message)),
            }
        }
    }
    // Stable sorts: records with equal coordinates (a redelivered duplicate) keep event order.
    records.sort_by(|a, b| {
        (a.topic.as_str(), a.partition, a.offset).cmp(&(b.topic.as_str(), b.partition, b.offset))
    });
    rejects.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));

    Ok(DecodedBatch {
        event_source: envelope.event_source.as_deref().map(EventSource::parse),
        event_source_arn: envelope.event_source_arn.map(|s| s.into_owned()),
        bootstrap_servers: envelope
            .bootstrap_servers
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        records,
        rejects,
    })
}
