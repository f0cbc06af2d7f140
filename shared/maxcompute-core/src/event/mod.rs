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

use std::borrow::Cow;

mod record;
mod reject;
mod scan;
mod wire;

pub(crate) use wire::Text;

pub use record::{
    EventSource, HeaderIter, Headers, KafkaRecord, MAXCOMPUTE_TIME_RANGE_MS, NO_TIMESTAMP,
    RecordId, TimestampType,
};
pub(crate) use reject::excerpt;
pub use reject::{MAX_MESSAGE_BYTES, Reject, RejectClass};

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
    if let Some(batch) = decode_scanned(input) {
        return Ok(batch);
    }
    let text = std::str::from_utf8(input).map_err(EventError::NotUtf8)?;
    decode_serde(text)
}

/// Decodes a trigger event from its JSON text.
///
/// An event in the trigger's own spelling whose records all decode, the common case, is read
/// by the fast path (`scan`). Any other is read by serde: in one pass when its records all
/// decode, else again keeping each record's raw text, so that a record that does not decode
/// becomes a reject with its exact JSON, and a malformed event an error that says where.
pub fn decode_event_str(input: &str) -> Result<DecodedBatch, EventError> {
    match decode_scanned(input.as_bytes()) {
        Some(batch) => Ok(batch),
        None => decode_serde(input),
    }
}

/// The serde path: every event the trigger may send, in any spelling JSON allows.
fn decode_serde(input: &str) -> Result<DecodedBatch, EventError> {
    match decode_one_pass(input) {
        Some(batch) => Ok(batch),
        None => decode_two_pass(input),
    }
}

/// The fast path (see `scan`): an event in the trigger's own spelling whose records all
/// decode; `None` for any other, which the serde path then reads.
fn decode_scanned(input: &[u8]) -> Option<DecodedBatch> {
    let scanned = scan::scan(input)?;
    Some(batch(
        scanned.event_source.map(Cow::Borrowed),
        scanned.event_source_arn.map(Cow::Borrowed),
        scanned.bootstrap_servers.map(Cow::Borrowed),
        scanned.records,
        Vec::new(),
    ))
}

/// For the differential test: the fast path's batch, or `None` where it gives the event to
/// the serde path.
#[doc(hidden)]
pub fn decode_event_scanned(input: &[u8]) -> Option<DecodedBatch> {
    decode_scanned(input)
}

/// For the differential test: the serde path alone.
#[doc(hidden)]
pub fn decode_event_serde(input: &str) -> Result<DecodedBatch, EventError> {
    decode_serde(input)
}

/// Decodes each record as the event is read; `None` unless the event is well formed and every
/// record in it decodes.
fn decode_one_pass(input: &str) -> Option<DecodedBatch> {
    let wire::TopLevel(envelope) =
        serde_json::from_str::<wire::TopLevel<'_, wire::DecodedLists>>(input).ok()?;
    Some(batch(
        envelope.event_source,
        envelope.event_source_arn,
        envelope.bootstrap_servers,
        envelope.records.0,
        Vec::new(),
    ))
}

/// Reads the event keeping each record's raw text, then decodes the records one by one.
fn decode_two_pass(input: &str) -> Result<DecodedBatch, EventError> {
    let wire::TopLevel(envelope) =
        serde_json::from_str::<wire::TopLevel<'_, wire::RecordLists<'_>>>(input).map_err(|e| {
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
    Ok(batch(
        envelope.event_source,
        envelope.event_source_arn,
        envelope.bootstrap_servers,
        records,
        rejects,
    ))
}

/// Sorts the records and rejects and splits the bootstrap servers.
fn batch(
    event_source: Option<Cow<'_, str>>,
    event_source_arn: Option<Cow<'_, str>>,
    bootstrap_servers: Option<Cow<'_, str>>,
    mut records: Vec<KafkaRecord>,
    mut rejects: Vec<Reject>,
) -> DecodedBatch {
    // Stable sorts: records with equal coordinates (a redelivered duplicate) keep event order.
    records.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
    rejects.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));

    DecodedBatch {
        event_source: event_source.as_deref().map(EventSource::parse),
        event_source_arn: event_source_arn.map(Cow::into_owned),
        bootstrap_servers: bootstrap_servers
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        records,
        rejects,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use super::*;

    /// Every event the one pass accepts decodes as the two passes decode it.
    fn same_both_ways(input: &str) -> bool {
        match decode_one_pass(input) {
            Some(one) => {
                assert_eq!(Some(one), decode_two_pass(input).ok(), "{input}");
                true
            }
            None => false,
        }
    }

    #[test]
    fn one_pass_agrees_with_two_passes_on_the_event_corpus() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events");
        let mut one_pass = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                let text = std::fs::read_to_string(&path).unwrap();
                one_pass += usize::from(same_both_ways(&text));
            }
        }
        // The corpus has well-formed events: they do take the one pass.
        assert!(one_pass >= 3, "{one_pass}");
    }

    #[test]
    fn records_that_do_not_decode_leave_the_one_pass() {
        let ok = r#"{"topic":"t","partition":0,"offset":1,"key":"YQ=="}"#;
        let wrap = |r: &str| format!(r#"{{"records":{{"t-0":[{ok},{r}]}}}}"#);
        assert!(same_both_ways(&wrap(ok)));
        for bad in [
            r#""not a record""#,
            r#"{"topic":"t","partition":0}"#,
            r#"{"topic":"t","partition":-1,"offset":1}"#,
            r#"{"topic":"t","partition":0,"offset":1,"value":"Y"}"#,
            r#"{"topic":"t","partition":0,"offset":1,"topic":"u"}"#,
            r#"{"topic":"t","partition":0,"offset":1,"headers":[{"h":[256]}]}"#,
            r#"{"topic":"t","partition":0,"offset":1,"headers":[{"h":[1.0]}]}"#,
        ] {
            let input = wrap(bad);
            assert!(!same_both_ways(&input), "{input}");
            let batch = decode_event_str(&input).unwrap();
            assert_eq!(
                (batch.records.len(), batch.rejects.len()),
                (1, 1),
                "{input}"
            );
        }
    }

    #[test]
    fn tolerated_spellings_take_the_one_pass() {
        let records = [
            r#"{"topic":"t","partition":"3","offset":"9007199254740993","timestamp":1.6055966e12}"#,
            r#"{"topic":"t","partition":3,"offset":2,"key":"","value":"YQ","timestampType":null}"#,
            r#"{"topic":"t","partition":3,"offset":2,"value":"a2\/f","extra":{"x":[1]}}"#,
            r#"{"topic":"t\u002dx","partition":3,"offset":4,"key":null,"value":null}"#,
            r#"{"topic":"t","partition":3,"offset":5,"headers":{"a":[1,-128,255],"b":null}}"#,
            r#"{"topic":"t","partition":3,"offset":6,"headers":[{"a":[ 1 , 2 ]},{},{"c":[]}]}"#,
            r#"["t",3,7]"#,
            r#"{"topic":"t","partition":3,"offset":8,"headers":[{"s":[119,101]},{"t":[45,-3]}]}"#,
        ];
        let input = format!(
            r#"{{"eventSource":"x","bootstrapServers":" a, ,b","records":{{"t-3":[{}],"t-3":[]}}}}"#,
            records.join(",")
        );
        assert!(same_both_ways(&input), "{input}");
    }
}
