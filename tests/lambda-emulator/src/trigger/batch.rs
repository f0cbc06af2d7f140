//! Batching, pure: Kafka records become the event JSON a Lambda Kafka trigger sends, cut into
//! batches per topic-partition that respect BatchSize, the batching window and the 6 MB event
//! cap.
//!
//! Each record is serialized once, when it arrives, so that the size of an event is known
//! exactly before it is built: an event is the envelope plus the records' JSON joined by commas.
//! This module does no I/O and reads no clock (callers pass "now").

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use base64::Engine;
use serde::Serialize;
use serde::ser::SerializeMap;

/// The largest event a synchronous Lambda invocation accepts (6 MB request payload).
pub const MAX_EVENT_BYTES: usize = 6 * 1024 * 1024;
/// The trigger's BatchSize range.
pub const BATCH_SIZE_RANGE: std::ops::RangeInclusive<usize> = 1..=10_000;
/// The largest MaximumBatchingWindowInSeconds.
pub const MAX_WINDOW: Duration = Duration::from_secs(300);

/// A Kafka record as the trigger reads it from the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// Epoch milliseconds; -1 when the broker has none.
    pub timestamp_ms: i64,
    /// `CREATE_TIME`, `LOG_APPEND_TIME` or `NO_TIMESTAMP_TYPE`.
    pub timestamp_type: &'static str,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    /// In record order, duplicates kept; `None` is a header with a null value.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// What the envelope of every event says about the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventMeta {
    /// `aws:kafka` (MSK) or `SelfManagedKafka`.
    pub event_source: String,
    /// The MSK cluster ARN; only MSK events carry one.
    pub event_source_arn: Option<String>,
    /// One comma-separated string, as the trigger sends it.
    pub bootstrap_servers: String,
}

impl EventMeta {
    /// The event's text up to the opening `[` of the record list of `topic_partition`.
    fn prefix(&self, topic_partition: &str) -> String {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Head<'a> {
            event_source: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            event_source_arn: Option<&'a str>,
            bootstrap_servers: &'a str,
        }
        let head = Head {
            event_source: &self.event_source,
            event_source_arn: self.event_source_arn.as_deref(),
            bootstrap_servers: &self.bootstrap_servers,
        };
        // Serializing plain strings cannot fail; an empty head would still be valid JSON.
        let head = serde_json::to_string(&head).unwrap_or_else(|_| "{}".to_owned());
        let open = head.strip_suffix('}').unwrap_or("{");
        let key = serde_json::to_string(topic_partition).unwrap_or_else(|_| "\"\"".to_owned());
        format!("{open},\"records\":{{{key}:[")
    }

    /// The size of an event for `topic_partition` with no records.
    pub fn overhead(&self, topic_partition: &str) -> usize {
        self.prefix(topic_partition).len() + EVENT_SUFFIX.len()
    }
}

const EVENT_SUFFIX: &str = "]}}";

/// Header entries as the trigger writes them: one-entry objects, Java signed bytes.
struct Header<'a>(&'a str, Option<&'a [u8]>);

impl Serialize for Header<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let signed: Option<Vec<i8>> = self
            .1
            .map(|bytes| bytes.iter().map(|b| i8::from_ne_bytes([*b])).collect());
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry(self.0, &signed)?;
        map.end()
    }
}

/// The record's JSON in the event, as AWS writes it: base64 key and value (absent when null),
/// the timestamp as a number, headers as signed bytes.
pub fn record_json(record: &SourceRecord) -> String {
    record_json_with(record, None, None)
}

/// [`record_json`] with the schema registry's `keySchemaMetadata` and `valueSchemaMetadata`
/// (present only for a key or value the mapping validated).
pub fn record_json_with(
    record: &SourceRecord,
    key_schema: Option<&super::schema::SchemaMetadata>,
    value_schema: Option<&super::schema::SchemaMetadata>,
) -> String {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Wire<'a> {
        topic: &'a str,
        partition: i32,
        offset: i64,
        timestamp: i64,
        timestamp_type: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        key: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        value: Option<String>,
        headers: Vec<Header<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        key_schema_metadata: Option<&'a super::schema::SchemaMetadata>,
        #[serde(skip_serializing_if = "Option::is_none")]
        value_schema_metadata: Option<&'a super::schema::SchemaMetadata>,
    }
    let b64 = |b: &Vec<u8>| base64::engine::general_purpose::STANDARD.encode(b);
    let wire = Wire {
        topic: &record.topic,
        partition: record.partition,
        offset: record.offset,
        timestamp: record.timestamp_ms,
        timestamp_type: record.timestamp_type,
        key: record.key.as_ref().map(b64),
        value: record.value.as_ref().map(b64),
        headers: record
            .headers
            .iter()
            .map(|(k, v)| Header(k, v.as_deref()))
            .collect(),
        key_schema_metadata: key_schema,
        value_schema_metadata: value_schema,
    };
    serde_json::to_string(&wire).unwrap_or_default()
}

/// A record waiting in a batch: its offset and its JSON in the event, and what an on-failure
/// record needs besides (its timestamp, and its key, which keys the on-failure message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub offset: i64,
    pub json: String,
    /// Epoch milliseconds; -1 when the broker has none.
    pub timestamp_ms: i64,
    pub key: Option<Vec<u8>>,
    /// Why the record cannot reach the function (the schema registry could not decode it): it
    /// goes to the on-failure destination instead, its `json` the record as it was read.
    pub undeliverable: Option<String>,
}

impl Pending {
    /// `record` with its event JSON ([`record_json`]).
    pub fn of(record: &SourceRecord, json: String) -> Self {
        Self {
            offset: record.offset,
            json,
            timestamp_ms: record.timestamp_ms,
            key: record.key.clone(),
            undeliverable: None,
        }
    }
}

/// What bounds a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub batch_size: usize,
    pub window: Duration,
    pub max_event_bytes: usize,
}

impl Default for Limits {
    /// The trigger's defaults: 100 records, 0.5 s, 6 MB.
    fn default() -> Self {
        Self {
            batch_size: 100,
            window: Duration::from_millis(500),
            max_event_bytes: MAX_EVENT_BYTES,
        }
    }
}

/// One invocation's worth of records of one topic-partition, in offset order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub topic: String,
    pub partition: i32,
    pub records: Vec<Pending>,
    /// When the first of these records was buffered.
    pub first_seen: Instant,
}

impl Batch {
    /// The `<topic>-<partition>` key of the event's record list.
    pub fn topic_partition(&self) -> String {
        format!("{}-{}", self.topic, self.partition)
    }

    pub fn first_offset(&self) -> Option<i64> {
        self.records.first().map(|r| r.offset)
    }

    pub fn last_offset(&self) -> Option<i64> {
        self.records.last().map(|r| r.offset)
    }

    /// The event JSON for this batch.
    pub fn event(&self, meta: &EventMeta) -> String {
        let prefix = meta.prefix(&self.topic_partition());
        let body: usize = self.records.iter().map(|r| r.json.len() + 1).sum();
        let mut out = String::with_capacity(prefix.len() + body + EVENT_SUFFIX.len());
        out.push_str(&prefix);
        for (i, r) in self.records.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&r.json);
        }
        out.push_str(EVENT_SUFFIX);
        out
    }
}

/// The records of one topic-partition that were read but not yet handed to the function.
#[derive(Debug)]
pub struct PartitionBuffer {
    topic: String,
    partition: i32,
    /// The size of an event with no records for this topic-partition.
    overhead: usize,
    records: VecDeque<Pending>,
    first_seen: Option<Instant>,
}

impl PartitionBuffer {
    pub fn new(meta: &EventMeta, topic: &str, partition: i32) -> Self {
        Self {
            topic: topic.to_owned(),
            partition,
            overhead: meta.overhead(&format!("{topic}-{partition}")),
            records: VecDeque::new(),
            first_seen: None,
        }
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The offset after the last buffered record, if any.
    pub fn next_offset(&self) -> Option<i64> {
        self.records.back().map(|r| r.offset + 1)
    }

    pub fn push(&mut self, record: Pending, now: Instant) {
        if self.records.is_empty() {
            self.first_seen = Some(now);
        }
        self.records.push_back(record);
    }

    /// Puts records of a batch back in front, to be sent again first (after a partial
    /// failure), keeping their original arrival time so they do not wait another window.
    pub fn put_back(&mut self, records: Vec<Pending>, first_seen: Instant) {
        for r in records.into_iter().rev() {
            self.records.push_front(r);
        }
        self.first_seen = Some(self.first_seen.map_or(first_seen, |f| f.min(first_seen)));
    }

    /// When the window of the buffered records closes; `None` when the buffer is empty.
    pub fn window_closes(&self, limits: &Limits) -> Option<Instant> {
        self.first_seen
            .filter(|_| !self.records.is_empty())
            .map(|f| f + limits.window)
    }

    /// Whether a batch should be cut now: the batch is full (by count or size), or the
    /// window of its first record has closed.
    pub fn ready(&self, limits: &Limits, now: Instant) -> bool {
        if self.records.is_empty() {
            return false;
        }
        if self.records.len() >= limits.batch_size {
            return true;
        }
        let size = self.overhead + self.records.iter().map(|r| r.json.len() + 1).sum::<usize>();
        if size > limits.max_event_bytes {
            return true;
        }
        self.window_closes(limits).is_some_and(|t| t <= now)
    }

    /// Cuts the next batch: as many records from the front as BatchSize and the event cap
    /// allow, and always at least one (a record that alone is over the cap goes alone: the
    /// caller warns, since AWS could not deliver it).
    pub fn take(&mut self, limits: &Limits) -> Option<Batch> {
        let first_seen = self.first_seen?;
        let mut size = self.overhead;
        let mut records = Vec::new();
        while let Some(next) = self.records.front() {
            let added = next.json.len() + usize::from(!records.is_empty());
            if records.len() >= limits.batch_size
                || (!records.is_empty() && size + added > limits.max_event_bytes)
            {
                break;
            }
            size += added;
            if let Some(r) = self.records.pop_front() {
                records.push(r);
            }
        }
        if records.is_empty() {
            return None;
        }
        // The rest waited as long as the batch did: it may go at once.
        self.first_seen = (!self.records.is_empty()).then_some(first_seen);
        Some(Batch {
            topic: self.topic.clone(),
            partition: self.partition,
            records,
            first_seen,
        })
    }
}

/// A batch of `offsets` with empty records, for the trigger's unit tests of what follows a
/// batch (its answer, its retries).
#[cfg(test)]
impl Batch {
    pub(crate) fn of_offsets(
        topic: &str,
        partition: i32,
        offsets: impl IntoIterator<Item = i64>,
    ) -> Self {
        Batch {
            topic: topic.to_owned(),
            partition,
            records: offsets
                .into_iter()
                .map(|offset| Pending {
                    offset,
                    json: String::new(),
                    timestamp_ms: 0,
                    key: None,
                    undeliverable: None,
                })
                .collect(),
            first_seen: Instant::now(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn meta() -> EventMeta {
        EventMeta {
            event_source: "SelfManagedKafka".to_owned(),
            event_source_arn: None,
            bootstrap_servers: "127.0.0.1:19092".to_owned(),
        }
    }

    fn record(offset: i64, value: Option<&[u8]>) -> SourceRecord {
        SourceRecord {
            topic: "orders-eu".to_owned(),
            partition: 2,
            offset,
            timestamp_ms: 1_750_237_198_120,
            timestamp_type: "CREATE_TIME",
            key: Some(b"k".to_vec()),
            value: value.map(<[u8]>::to_vec),
            headers: vec![
                ("source".to_owned(), Some(vec![0x68, 0xff])),
                ("source".to_owned(), None),
            ],
        }
    }

    fn pending(r: &SourceRecord) -> Pending {
        Pending::of(r, record_json(r))
    }

    #[test]
    fn the_event_is_what_the_cloud_sends_and_the_sink_decodes_it() {
        let now = Instant::now();
        let mut buf = PartitionBuffer::new(&meta(), "orders-eu", 2);
        buf.push(pending(&record(7, Some(b"\x00\xfe"))), now);
        let mut tombstone = record(8, None);
        tombstone.key = None;
        buf.push(pending(&tombstone), now);
        let batch = buf.take(&Limits::default()).unwrap();
        let event = batch.event(&meta());
        let v: serde_json::Value = serde_json::from_str(&event).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "eventSource": "SelfManagedKafka",
                "bootstrapServers": "127.0.0.1:19092",
                "records": {"orders-eu-2": [
                    {"topic": "orders-eu", "partition": 2, "offset": 7,
                     "timestamp": 1_750_237_198_120_i64, "timestampType": "CREATE_TIME",
                     "key": "aw==", "value": "AP4=",
                     "headers": [{"source": [104, -1]}, {"source": null}]},
                    {"topic": "orders-eu", "partition": 2, "offset": 8,
                     "timestamp": 1_750_237_198_120_i64, "timestampType": "CREATE_TIME",
                     "headers": [{"source": [104, -1]}, {"source": null}]},
                ]}
            })
        );
        let decoded = maxcompute_core::event::decode_event_str(&event).unwrap();
        assert!(decoded.rejects.is_empty(), "{:?}", decoded.rejects);
        assert_eq!(decoded.records.len(), 2);
        let first = &decoded.records[0];
        assert_eq!(first.timestamp_ms, 1_750_237_198_120);
        assert_eq!(first.value.as_deref(), Some(&b"\x00\xfe"[..]));
        assert_eq!(
            first.headers.to_vec(),
            vec![
                ("source".to_owned(), vec![0x68, 0xff]),
                ("source".to_owned(), vec![])
            ]
        );
        assert_eq!(decoded.records[1].value, None);
        assert_eq!(decoded.records[1].key, None);
        assert_eq!(decoded.bootstrap_servers, vec!["127.0.0.1:19092"]);
    }

    #[test]
    fn an_msk_event_carries_its_cluster_arn() {
        let m = EventMeta {
            event_source: "aws:kafka".to_owned(),
            event_source_arn: Some("arn:aws:kafka:us-east-1:0:cluster/c/u".to_owned()),
            bootstrap_servers: "a:1,b:2".to_owned(),
        };
        let mut buf = PartitionBuffer::new(&m, "t-x", 0);
        buf.push(pending(&record(0, Some(b"1"))), Instant::now());
        let event = buf.take(&Limits::default()).unwrap().event(&m);
        let v: serde_json::Value = serde_json::from_str(&event).unwrap();
        assert_eq!(v["eventSource"], "aws:kafka");
        assert_eq!(v["eventSourceArn"], "arn:aws:kafka:us-east-1:0:cluster/c/u");
        assert!(v["records"]["t-x-0"].is_array());
    }

    #[test]
    fn batches_hold_at_most_batch_size_records_in_offset_order() {
        let now = Instant::now();
        let limits = Limits {
            batch_size: 3,
            window: Duration::from_secs(60),
            max_event_bytes: MAX_EVENT_BYTES,
        };
        let mut buf = PartitionBuffer::new(&meta(), "orders-eu", 2);
        for o in 0..7 {
            buf.push(pending(&record(o, Some(b"v"))), now);
            assert_eq!(buf.ready(&limits, now), o >= 2, "offset {o}");
        }
        let sizes: Vec<Vec<i64>> = std::iter::from_fn(|| buf.take(&limits))
            .map(|b| b.records.iter().map(|r| r.offset).collect())
            .collect();
        assert_eq!(sizes, vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]]);
    }

    #[test]
    fn the_window_makes_a_partial_batch_ready() {
        let t0 = Instant::now();
        let limits = Limits {
            batch_size: 100,
            window: Duration::from_millis(500),
            max_event_bytes: MAX_EVENT_BYTES,
        };
        let mut buf = PartitionBuffer::new(&meta(), "orders-eu", 2);
        assert!(!buf.ready(&limits, t0));
        buf.push(pending(&record(0, Some(b"v"))), t0);
        buf.push(
            pending(&record(1, Some(b"v"))),
            t0 + Duration::from_millis(400),
        );
        assert!(!buf.ready(&limits, t0 + Duration::from_millis(499)));
        assert_eq!(
            buf.window_closes(&limits),
            Some(t0 + Duration::from_millis(500))
        );
        assert!(buf.ready(&limits, t0 + Duration::from_millis(500)));
        assert_eq!(buf.take(&limits).unwrap().records.len(), 2);
        assert!(buf.is_empty());
        assert_eq!(buf.window_closes(&limits), None);
    }

    #[test]
    fn events_stay_under_the_size_cap() {
        let now = Instant::now();
        let limits = Limits::default();
        let mut buf = PartitionBuffer::new(&meta(), "orders-eu", 2);
        // 1 MB values are about 1.33 MB in base64: four fit in 6 MB, five do not.
        let value = vec![b'x'; 1 << 20];
        for o in 0..10 {
            buf.push(pending(&record(o, Some(&value))), now);
        }
        assert!(buf.ready(&limits, now));
        let mut total = 0;
        while let Some(batch) = buf.take(&limits) {
            let event = batch.event(&meta());
            assert!(event.len() <= MAX_EVENT_BYTES, "{}", event.len());
            assert_eq!(batch.records.len(), if total < 8 { 4 } else { 2 });
            total += batch.records.len();
        }
        assert_eq!(total, 10);
    }

    #[test]
    fn a_batch_exactly_at_the_cap_is_allowed_and_one_byte_more_is_split() {
        let now = Instant::now();
        let r = pending(&record(0, Some(b"v")));
        let overhead = meta().overhead("orders-eu-2");
        let two = overhead + 2 * r.json.len() + 1;
        for (cap, expected) in [(two, 2), (two - 1, 1)] {
            let limits = Limits {
                batch_size: 10,
                window: Duration::ZERO,
                max_event_bytes: cap,
            };
            let mut buf = PartitionBuffer::new(&meta(), "orders-eu", 2);
            buf.push(r.clone(), now);
            buf.push(r.clone(), now);
            let batch = buf.take(&limits).unwrap();
            assert_eq!(batch.records.len(), expected, "cap {cap}");
            if expected == 2 {
                assert_eq!(batch.event(&meta()).len(), cap);
            }
        }
    }

    #[test]
    fn a_record_over_the_cap_goes_alone() {
        let now = Instant::now();
        let limits = Limits {
            batch_size: 10,
            window: Duration::ZERO,
            max_event_bytes: 100,
        };
        let mut buf = PartitionBuffer::new(&meta(), "orders-eu", 2);
        buf.push(pending(&record(0, Some(&[b'x'; 200]))), now);
        buf.push(pending(&record(1, Some(b"v"))), now);
        assert_eq!(buf.take(&limits).unwrap().records.len(), 1);
        assert_eq!(buf.take(&limits).unwrap().records.len(), 1);
        assert!(buf.take(&limits).is_none());
    }

    #[test]
    fn records_put_back_go_first_and_at_once() {
        let t0 = Instant::now();
        let limits = Limits {
            batch_size: 2,
            window: Duration::from_secs(10),
            max_event_bytes: MAX_EVENT_BYTES,
        };
        let mut buf = PartitionBuffer::new(&meta(), "orders-eu", 2);
        for o in 0..3 {
            buf.push(pending(&record(o, Some(b"v"))), t0);
        }
        let batch = buf.take(&limits).unwrap();
        let later = t0 + Duration::from_secs(20);
        buf.put_back(batch.records[1..].to_vec(), batch.first_seen);
        assert!(buf.ready(&limits, later));
        let again = buf.take(&limits).unwrap();
        assert_eq!(
            again.records.iter().map(|r| r.offset).collect::<Vec<_>>(),
            vec![1, 2]
        );
    }
}
