//! Error-topic records into errors-table rows: the mapping, and nothing else.
//!
//! Every record of the error topic becomes at least one row; no record content makes this fail:
//! - an error-topic message (it carries `mc.error.class`) that parses
//!   (`maxcompute_core::error_record::ErrorMessage::parse`) gives one row with the original key,
//!   value and headers byte for byte, the error block's class, message, function and failure time,
//!   and `payload_kind` `record` or `raw-event-json` as the message says;
//! - a Lambda on-failure envelope ([`crate::envelope`]) gives one row per record in its payload,
//!   class [`TRIGGER_GAVE_UP`], the inner record's own key, value, headers and coordinates;
//! - anything else (no error block, a block that does not parse, a record of the error-topic
//!   event that did not decode) is stored raw with class [`UNPARSEABLE`]: its own key, value (or
//!   raw event JSON) and headers.
//!
//! Each row also keeps the error-topic record's own coordinates (`error_topic`,
//! `error_partition`, `error_offset`): they identify a row uniquely, so duplicates from a retried
//! invocation (delivery is at least once) can be removed by them. This module is pure: the
//! processing time comes in as `now_ms`.

use base64::Engine;
use maxcompute_core::error_record::{ERROR_CLASS, ErrorMessage, OriginalPayload};
use maxcompute_core::event::{DecodedBatch, KafkaRecord, Reject};

use crate::envelope::{self, Envelope};

/// `error_class` of records unwrapped from a trigger on-failure envelope.
pub const TRIGGER_GAVE_UP: &str = "trigger_gave_up";
/// `error_class` of records that are neither an error-topic message nor an envelope.
pub const UNPARSEABLE: &str = "unparseable";

/// What `record_value` (and `record_key`) hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PayloadKind {
    /// The original record's key and value.
    Record,
    /// The value is a record's JSON exactly as it was in a trigger event (it did not decode).
    RawEventJson,
    /// The error-topic record's own key and value, as they were.
    Unparseable,
}

impl PayloadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Record => "record",
            Self::RawEventJson => "raw-event-json",
            Self::Unparseable => "unparseable",
        }
    }
}

/// One row of the errors table (partition aside: see [`ErrorRow::failed_at_ms`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorRow {
    pub error_class: String,
    pub error_message: String,
    pub origin_topic: Option<String>,
    pub origin_partition: Option<i64>,
    pub origin_offset: Option<i64>,
    /// Epoch milliseconds; `None` when unknown or Kafka's "no timestamp".
    pub origin_timestamp_ms: Option<i64>,
    pub record_key: Option<Vec<u8>>,
    pub record_value: Option<Vec<u8>>,
    /// In order, duplicates kept, bytes unchanged.
    pub record_headers: Vec<(String, Vec<u8>)>,
    pub payload_kind: PayloadKind,
    /// The function that gave up on the record; `None` when nothing says.
    pub function_name: Option<String>,
    /// When the record failed (epoch milliseconds): `mc.failed.at`, the envelope's timestamp, or
    /// the processing time. The row's partition is routed from it.
    pub failed_at_ms: i64,
    pub error_topic: Option<String>,
    pub error_partition: Option<i64>,
    pub error_offset: Option<i64>,
}

impl ErrorRow {
    /// `record_headers` as a JSON list of `{"key", "value"}` (UTF-8 values) or `{"key", "base64"}`
    /// (any other bytes), so the column stays readable and still keeps every byte.
    pub fn headers_json(&self) -> String {
        let list: Vec<serde_json::Value> = self
            .record_headers
            .iter()
            .map(|(key, value)| match std::str::from_utf8(value) {
                Ok(text) => serde_json::json!({ "key": key, "value": text }),
                Err(_) => serde_json::json!({
                    "key": key,
                    "base64": base64::engine::general_purpose::STANDARD.encode(value),
                }),
            })
            .collect();
        serde_json::Value::Array(list).to_string()
    }
}

/// The rows of one decoded error-topic event: records in (topic, partition, offset) order, then
/// the records that did not decode.
pub fn rows_from_batch(batch: &DecodedBatch, now_ms: i64) -> Vec<ErrorRow> {
    let mut rows = Vec::with_capacity(batch.records.len() + batch.rejects.len());
    for record in &batch.records {
        rows.extend(rows_from_record(record, now_ms));
    }
    for reject in &batch.rejects {
        rows.push(undecoded(reject, now_ms));
    }
    rows
}

/// The rows of one error-topic record: one, or one per record of an envelope's payload.
pub fn rows_from_record(record: &KafkaRecord, now_ms: i64) -> Vec<ErrorRow> {
    let coordinates = |mut row: ErrorRow| {
        row.error_topic = Some(record.topic.to_string());
        row.error_partition = Some(i64::from(record.partition));
        row.error_offset = Some(record.offset);
        row
    };
    if record.headers.iter().any(|(name, _)| name == ERROR_CLASS) {
        let message = ErrorMessage {
            key: record.key.as_deref().map(<[u8]>::to_vec),
            value: record.value.as_deref().map(<[u8]>::to_vec),
            headers: record.headers.to_vec(),
            timestamp_ms: record.timestamp_ms,
        };
        return vec![coordinates(match message.parse() {
            Ok(parsed) => {
                let (value, kind) = match parsed.original.payload {
                    OriginalPayload::Value(v) => (v, PayloadKind::Record),
                    OriginalPayload::RawEventJson(json) => {
                        (Some(json.into_bytes()), PayloadKind::RawEventJson)
                    }
                };
                ErrorRow {
                    error_class: parsed.error.class,
                    error_message: parsed.error.message,
                    origin_topic: parsed.original.topic,
                    origin_partition: parsed.original.partition.map(i64::from),
                    origin_offset: parsed.original.offset,
                    origin_timestamp_ms: parsed.original.timestamp_ms.filter(|t| *t >= 0),
                    record_key: parsed.original.key,
                    record_value: value,
                    record_headers: parsed.original.headers,
                    payload_kind: kind,
                    function_name: Some(parsed.error.function),
                    failed_at_ms: parsed.error.failed_at_ms,
                    error_topic: None,
                    error_partition: None,
                    error_offset: None,
                }
            }
            Err(e) => unparseable(
                record,
                format!("error-topic headers do not parse: {e}"),
                now_ms,
            ),
        })];
    }
    if let Some(envelope) = record.value.as_deref().and_then(envelope::parse) {
        let rows = unwrap_envelope(&envelope, now_ms);
        if !rows.is_empty() {
            return rows.into_iter().map(coordinates).collect();
        }
        let mut row = unparseable(
            record,
            format!(
                "{} (the envelope's payload holds no record)",
                envelope.message()
            ),
            envelope.timestamp_ms.unwrap_or(now_ms),
        );
        row.error_class = TRIGGER_GAVE_UP.to_owned();
        row.function_name = envelope.function_name();
        return vec![coordinates(row)];
    }
    vec![coordinates(unparseable(
        record,
        "neither an error-topic message (no mc.error.class header) nor a trigger on-failure envelope"
            .to_owned(),
        now_ms,
    ))]
}

fn unwrap_envelope(envelope: &Envelope, now_ms: i64) -> Vec<ErrorRow> {
    let failed_at_ms = envelope.timestamp_ms.unwrap_or(now_ms);
    let message = envelope.message();
    let function_name = envelope.function_name();
    let base = |kind: PayloadKind| ErrorRow {
        error_class: TRIGGER_GAVE_UP.to_owned(),
        error_message: message.clone(),
        origin_topic: None,
        origin_partition: None,
        origin_offset: None,
        origin_timestamp_ms: None,
        record_key: None,
        record_value: None,
        record_headers: Vec::new(),
        payload_kind: kind,
        function_name: function_name.clone(),
        failed_at_ms,
        error_topic: None,
        error_partition: None,
        error_offset: None,
    };
    let mut rows = Vec::new();
    for inner in &envelope.payload.records {
        rows.push(ErrorRow {
            origin_topic: Some(inner.topic.to_string()),
            origin_partition: Some(i64::from(inner.partition)),
            origin_offset: Some(inner.offset),
            origin_timestamp_ms: inner.event_time_ms(),
            record_key: inner.key.as_deref().map(<[u8]>::to_vec),
            record_value: inner.value.as_deref().map(<[u8]>::to_vec),
            record_headers: inner.headers.to_vec(),
            ..base(PayloadKind::Record)
        });
    }
    for reject in &envelope.payload.rejects {
        rows.push(ErrorRow {
            error_message: format!(
                "{message}; the record in it does not decode: {}",
                reject.message
            ),
            origin_topic: reject.topic.clone(),
            origin_partition: reject.partition.map(i64::from),
            origin_offset: reject.offset,
            origin_timestamp_ms: reject.timestamp_ms.filter(|t| *t >= 0),
            record_key: reject.key.clone(),
            record_value: reject.raw_json.clone().map(String::into_bytes),
            record_headers: reject.headers.clone(),
            ..base(PayloadKind::RawEventJson)
        });
    }
    rows
}

/// A record of the error topic stored as it is.
fn unparseable(record: &KafkaRecord, message: String, failed_at_ms: i64) -> ErrorRow {
    ErrorRow {
        error_class: UNPARSEABLE.to_owned(),
        error_message: message,
        origin_topic: None,
        origin_partition: None,
        origin_offset: None,
        origin_timestamp_ms: None,
        record_key: record.key.as_deref().map(<[u8]>::to_vec),
        record_value: record.value.as_deref().map(<[u8]>::to_vec),
        record_headers: record.headers.to_vec(),
        payload_kind: PayloadKind::Unparseable,
        function_name: None,
        failed_at_ms,
        error_topic: None,
        error_partition: None,
        error_offset: None,
    }
}

/// A record of the error-topic event that did not decode: its raw JSON is all there is.
fn undecoded(reject: &Reject, now_ms: i64) -> ErrorRow {
    ErrorRow {
        error_class: UNPARSEABLE.to_owned(),
        error_message: format!("the error-topic record does not decode: {}", reject.message),
        origin_topic: None,
        origin_partition: None,
        origin_offset: None,
        origin_timestamp_ms: None,
        record_key: reject.key.clone(),
        record_value: reject.raw_json.clone().map(String::into_bytes),
        record_headers: reject.headers.clone(),
        payload_kind: PayloadKind::RawEventJson,
        function_name: None,
        failed_at_ms: now_ms,
        error_topic: reject.topic.clone(),
        error_partition: reject.partition.map(i64::from),
        error_offset: reject.offset,
    }
}
