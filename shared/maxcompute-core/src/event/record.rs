//! A Kafka record as the trigger event carries it, its identity, and the event's source.

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
    pub(super) fn parse(s: &str) -> Self {
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
    pub(super) fn parse(s: &str) -> Self {
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

    /// The order a batch is processed in: (topic, partition, offset).
    pub fn order_key(&self) -> (&str, i32, i64) {
        (self.topic.as_str(), self.partition, self.offset)
    }

    /// `records` in [`KafkaRecord::order_key`] order (a stable sort, skipped when they already
    /// are, as the trigger sends them).
    pub fn in_order(records: &[KafkaRecord]) -> Vec<&KafkaRecord> {
        let mut ordered: Vec<&KafkaRecord> = records.iter().collect();
        if !ordered.is_sorted_by(|a, b| a.order_key() <= b.order_key()) {
            ordered.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
        }
        ordered
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
