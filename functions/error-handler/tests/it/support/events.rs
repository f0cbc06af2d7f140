//! The error-topic sample events, built from real rejects: the sink's pipeline runs on an
//! `events/` file, its rejects become error-topic messages through
//! `ErrorMessage::from_reject` (what the sink produces), and the messages are encoded as the
//! trigger would deliver them from the error topic (base64 key and value, headers as Java signed
//! bytes). `tests/it/sample_events.rs` regenerates the files and compares, so they cannot drift.

use base64::Engine;
use serde_json::{Value as Json, json};
use shared::error_record::{ErrorContext, ErrorMessage};
use shared::event::{Reject, decode_event_str};
use shared::partition::{PartitionConfig, PartitionRouter};
use shared::rows::{Format, Mode, RowBuilder, build_rows};
use shared::types::{Column, OdpsType, TableSchema};

/// The error topic of the samples.
pub const ERROR_TOPIC: &str = "maxcompute-test-errors";
/// The sink's function name in the samples.
pub const SINK_FUNCTION: &str = "kafka-maxcompute-sink";
/// When the sink rejected the records: 2020-11-17 07:05:00.500 UTC, 15:05 in GMT+08:00.
pub const FAILED_AT_MS: i64 = 1_605_596_700_500;

pub fn events_dir() -> String {
    format!("{}/../../events", env!("CARGO_MANIFEST_DIR"))
}

pub fn read_event(name: &str) -> String {
    let path = format!("{}/{name}", events_dir());
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The generated files: name and content.
pub fn generated() -> Vec<(&'static str, String)> {
    vec![
        (
            "error-topic-bad-records.json",
            error_topic_event(&rejects_of("bad-records.json", Format::Csv), 0),
        ),
        (
            "error-topic-headers-non-ascii.json",
            error_topic_event(&rejects_of("headers-non-ascii.json", Format::Json), 100),
        ),
    ]
}

/// What the sink rejects of an `events/` file in VALUE mode with `format`, decode rejects
/// included, in the order the sink sends them.
pub fn rejects_of(name: &str, format: Format) -> Vec<Reject> {
    let batch = decode_event_str(&read_event(name)).unwrap();
    let schema = TableSchema {
        columns: vec![
            Column::new("id", OdpsType::BigInt),
            Column::new("name", OdpsType::String),
        ],
        partition_keys: vec![Column::new("pt", OdpsType::String)],
    };
    let router = PartitionRouter::new(&PartitionConfig::default()).unwrap();
    let builder = RowBuilder::new(Mode::Value, format, router.zone(), &schema).unwrap();
    let built = build_rows(&batch.records, &builder, &router, FAILED_AT_MS);
    let mut rejects = batch.rejects;
    rejects.extend(built.rejects);
    rejects
}

/// The error-topic messages of `rejects` as a trigger event on [`ERROR_TOPIC`] partition 0,
/// offsets from `first_offset`.
pub fn error_topic_event(rejects: &[Reject], first_offset: i64) -> String {
    let ctx = ErrorContext {
        function: SINK_FUNCTION,
        now_ms: FAILED_AT_MS,
    };
    let records: Vec<Json> = (first_offset..)
        .zip(rejects)
        .map(|(offset, r)| record_json(offset, &ErrorMessage::from_reject(r, ctx)))
        .collect();
    let event = json!({
        "eventSource": "SelfManagedKafka",
        "bootstrapServers": "127.0.0.1:19092",
        "records": { format!("{ERROR_TOPIC}-0"): records },
    });
    let mut text = serde_json::to_string_pretty(&event).unwrap();
    text.push('\n');
    text
}

/// One error-topic message as the trigger writes a record: a null key or value (a tombstone) is
/// left out of the record, as AWS's trigger does (see `tests/aws/event-shapes.json`).
pub fn record_json(offset: i64, m: &ErrorMessage) -> Json {
    let b64 = |b: &Vec<u8>| base64::engine::general_purpose::STANDARD.encode(b);
    let headers: Vec<Json> = m
        .headers
        .iter()
        .map(|(k, v)| {
            let signed: Vec<Json> = v.iter().map(|b| Json::from(*b as i8)).collect();
            json!({ k.clone(): signed })
        })
        .collect();
    let mut record = json!({
        "topic": ERROR_TOPIC, "partition": 0, "offset": offset,
        "timestamp": m.timestamp_ms, "timestampType": "CREATE_TIME",
        "headers": headers,
    });
    if let Some(object) = record.as_object_mut() {
        if let Some(key) = &m.key {
            object.insert("key".to_owned(), Json::from(b64(key)));
        }
        if let Some(value) = &m.value {
            object.insert("value".to_owned(), Json::from(b64(value)));
        }
    }
    record
}
