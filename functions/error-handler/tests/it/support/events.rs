//! The error-topic sample events, built from real rejects: the sink's pipeline runs on an
//! `events/` file, its rejects become error-topic messages through
//! `ErrorMessage::from_reject` (what the sink produces), and the messages are encoded as the
//! trigger would deliver them from the error topic (base64 key and value, headers as Java signed
//! bytes). `tests/it/sample_events.rs` regenerates the files and compares, so they cannot drift.

use maxcompute_core::error_record::{ErrorContext, ErrorMessage};
use maxcompute_core::event::{Reject, decode_event_str};
use maxcompute_core::partition::{PartitionConfig, PartitionRouter};
use maxcompute_core::rows::{Format, Mode, RowBuilder, build_rows};
use maxcompute_core::types::{Column, OdpsType, TableSchema};
use test_support::events::{Record, trigger_event};

/// The error topic of the samples.
pub(crate) const ERROR_TOPIC: &str = "maxcompute-test-errors";
/// The sink's function name in the samples.
pub(crate) const SINK_FUNCTION: &str = "kafka-maxcompute-sink";
/// When the sink rejected the records: 2020-11-17 07:05:00.500 UTC, 15:05 in GMT+08:00.
pub(crate) const FAILED_AT_MS: i64 = 1_605_596_700_500;

pub(crate) use test_support::events::{events_dir, read_event};

/// The generated files: name and content.
pub(crate) fn generated() -> Vec<(&'static str, String)> {
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
pub(crate) fn rejects_of(name: &str, format: Format) -> Vec<Reject> {
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
pub(crate) fn error_topic_event(rejects: &[Reject], first_offset: i64) -> String {
    let ctx = ErrorContext {
        function: SINK_FUNCTION,
        now_ms: FAILED_AT_MS,
    };
    let records: Vec<Record> = (first_offset..)
        .zip(rejects)
        .map(|(offset, r)| record(offset, ErrorMessage::from_reject(r, ctx)))
        .collect();
    let event = trigger_event("SelfManagedKafka", Some("127.0.0.1:19092"), &records);
    let mut text = serde_json::to_string_pretty(&event).unwrap();
    text.push('\n');
    text
}

/// One error-topic message as the trigger delivers it from [`ERROR_TOPIC`] partition 0.
fn record(offset: i64, m: ErrorMessage) -> Record {
    Record {
        key: m.key,
        value: m.value,
        headers: m.headers,
        ..Record::new(ERROR_TOPIC, 0, offset, m.timestamp_ms)
    }
}
