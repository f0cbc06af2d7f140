//! Small Kafka tools around the trigger, for the local flow and its tests: create a topic,
//! produce records to a chosen partition, and read records back with their headers. They are conveniences, not a
//! Kafka client API: one request at a time, plaintext only.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use super::batch::SourceRecord;
use super::{TriggerError, source_record};

/// A record to produce.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewRecord {
    pub partition: i32,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
    /// Epoch milliseconds; `None` lets the client stamp the current time.
    pub timestamp_ms: Option<i64>,
}

/// Creates a topic (the local broker does not create topics on first use).
pub async fn create_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
) -> Result<(), TriggerError> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let results = admin
        .create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await?;
    for result in results {
        result.map_err(|(_, code)| rdkafka::error::KafkaError::AdminOp(code))?;
    }
    Ok(())
}

/// `r` as the producer sends it to `topic`: its partition, key, value, headers in order, and
/// timestamp.
fn future_record<'a>(topic: &'a str, r: &'a NewRecord) -> FutureRecord<'a, [u8], [u8]> {
    let mut headers = OwnedHeaders::new();
    for (k, v) in &r.headers {
        headers = headers.insert(Header {
            key: k,
            value: Some(v),
        });
    }
    let mut record = FutureRecord::to(topic)
        .partition(r.partition)
        .headers(headers);
    if let Some(k) = &r.key {
        record = record.key(k.as_slice());
    }
    if let Some(v) = &r.value {
        record = record.payload(v.as_slice());
    }
    if let Some(t) = r.timestamp_ms {
        record = record.timestamp(t);
    }
    record
}

/// Produces `records` in order and returns the offset each got.
pub async fn produce(
    bootstrap: &str,
    topic: &str,
    records: &[NewRecord],
) -> Result<Vec<i64>, TriggerError> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("message.timeout.ms", "10000")
        // One in flight, so offsets follow the order of `records`.
        .set("max.in.flight.requests.per.connection", "1")
        .set("linger.ms", "0")
        .create()?;
    let mut offsets = Vec::with_capacity(records.len());
    for r in records {
        let delivery = producer
            .send(future_record(topic, r), Duration::from_secs(10))
            .await
            .map_err(|(e, _)| e)?;
        offsets.push(delivery.offset);
    }
    Ok(offsets)
}

/// Produces `records` together: all queued first, then sent at once, so that the records of
/// one partition travel in one produce request (librdkafka batches per partition up to
/// `batch.size`, 1 MB). Returns the offset each got. This is how a busy producer writes, and
/// what makes the local broker report a short high watermark (see [`super::end_offset`]).
pub async fn produce_together(
    bootstrap: &str,
    topic: &str,
    records: &[NewRecord],
) -> Result<Vec<i64>, TriggerError> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("message.timeout.ms", "10000")
        // Nothing leaves before the flush below.
        .set("linger.ms", "5000")
        .set("batch.num.messages", "10000")
        .create()?;
    let mut deliveries = Vec::with_capacity(records.len());
    for r in records {
        deliveries.push(
            producer
                .send_result(future_record(topic, r))
                .map_err(|(e, _)| e)?,
        );
    }
    producer.flush(Duration::from_secs(10))?;
    let mut offsets = Vec::with_capacity(deliveries.len());
    for d in deliveries {
        match d.await {
            Ok(Ok(delivery)) => offsets.push(delivery.offset),
            Ok(Err((e, _))) => return Err(e.into()),
            Err(_) => return Err(rdkafka::error::KafkaError::Canceled.into()),
        }
    }
    Ok(offsets)
}

/// The (low, high) watermarks the broker reports for one partition. The local broker's high
/// watermark can be short: see [`super::end_offset`] for the end of a partition.
pub fn watermarks(
    bootstrap: &str,
    topic: &str,
    partition: i32,
) -> Result<(i64, i64), TriggerError> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "emulator-trigger-reader")
        .create()?;
    Ok(consumer.fetch_watermarks(topic, partition, Duration::from_secs(10))?)
}

/// Reads `count` records of one partition from `from`, waiting at most `timeout` in all; returns
/// what arrived (fewer when the time ran out). Does not use the high watermark, which the local
/// broker may report late.
pub fn read(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    from: i64,
    count: usize,
    timeout: Duration,
) -> Result<Vec<SourceRecord>, TriggerError> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "emulator-trigger-reader")
        .set("enable.auto.commit", "false")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(from))?;
    consumer.assign(&tpl)?;
    let give_up = std::time::Instant::now() + timeout;
    let mut out = Vec::new();
    while out.len() < count {
        let left = give_up.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            break;
        }
        match consumer.poll(left.min(Duration::from_millis(200))) {
            Some(Ok(m)) if m.offset() >= from => out.push(source_record(&m)),
            Some(Ok(_)) | None => {}
            Some(Err(e)) => return Err(e.into()),
        }
    }
    Ok(out)
}

/// Reads every record of one partition from `from` until none arrives for `idle`.
pub fn read_all(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    from: i64,
    idle: Duration,
) -> Result<Vec<SourceRecord>, TriggerError> {
    let mut out: Vec<SourceRecord> = Vec::new();
    loop {
        let next = out.last().map_or(from, |r| r.offset + 1);
        let more = read(bootstrap, topic, partition, next, 1000, idle)?;
        if more.is_empty() {
            return Ok(out);
        }
        out.extend(more);
    }
}
