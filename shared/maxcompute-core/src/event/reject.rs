//! Rejected records: what every pipeline stage hands back for a record it can never write.
//!
//! A reject carries whatever the stage could recover of the original record (coordinates, key,
//! value, headers, timestamp, and for records that did not even decode, the record's raw JSON) so
//! the error-topic writer can forward it byte for byte. This module builds no Kafka message and
//! decides nothing about retries: a reject is by definition permanent.

use std::fmt;

use super::record::KafkaRecord;

/// Why a record was rejected. The short string ([`RejectClass::as_str`]) is stable: it goes into
/// error-topic headers, logs and the errors table, so it must never change once released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RejectClass {
    /// The record inside the trigger event could not be decoded (bad base64, a missing or
    /// ill-typed coordinate, a header byte out of range, not a JSON object, ...).
    MalformedRecord,
    /// TEXT (or CSV/JSON) data that is not UTF-8.
    InvalidUtf8,
    /// A CSV field whose number of cells differs from the table's column count.
    CsvFieldCount,
    /// CSV text that cannot be split (a quote that is never closed, text after a closing quote).
    CsvSyntax,
    /// A cell that does not convert to its column's type.
    TypeConversion,
    /// A cell over MaxCompute's 8 MiB limit.
    CellTooLarge,
    /// JSON format: the payload is not JSON, or not a JSON object; or a JSON column gets text
    /// that is not JSON.
    InvalidJson,
    /// CSV or JSON format and the record has no key (KEY mode) or no value (VALUE mode).
    MissingPayload,
    /// No valid partition value can be made for the record's time (outside MaxCompute's years
    /// 0001 to 9999, as an instant or in the partition zone; or a value MaxCompute refuses).
    PartitionValue,
    /// MaxCompute refused the write of the record's partition for good (the message names the
    /// error), and the sink was told to send such records to the error topic rather than fail
    /// the batch (`SINK_PERMANENT_WRITE_ERRORS=error-topic`).
    WriteRefused,
    /// DEBEZIUM format: a change whose primary key cannot be formed from its row image
    /// (`after`, or `before` for a delete) nor from the record key.
    MissingKey,
    /// DEBEZIUM format: a change that cannot be applied row by row (a truncate, a logical
    /// decoding message, an operation Debezium does not define).
    UnsupportedChange,
    /// No table for the record: its topic or routing field makes no MaxCompute name, or the
    /// routing field is missing or not a string.
    TableName,
    /// The record's routing field names a table outside the allow-list (`SINK_TABLE_ALLOW`).
    TableNotAllowed,
    /// A JSON field whose value does not fit its column's type (schema evolution: never
    /// converted).
    SchemaMismatch,
    /// A JSON field name with no column name under the naming rule, or two fields with one.
    ColumnName,
}

impl RejectClass {
    /// Every class, in declaration order (for exhaustive tests and metrics).
    pub const ALL: [RejectClass; 16] = [
        Self::MalformedRecord,
        Self::InvalidUtf8,
        Self::CsvFieldCount,
        Self::CsvSyntax,
        Self::TypeConversion,
        Self::CellTooLarge,
        Self::InvalidJson,
        Self::MissingPayload,
        Self::PartitionValue,
        Self::WriteRefused,
        Self::MissingKey,
        Self::UnsupportedChange,
        Self::TableName,
        Self::TableNotAllowed,
        Self::SchemaMismatch,
        Self::ColumnName,
    ];

    /// The stable short name, e.g. `csv_field_count`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MalformedRecord => "malformed_record",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::CsvFieldCount => "csv_field_count",
            Self::CsvSyntax => "csv_syntax",
            Self::TypeConversion => "type_conversion",
            Self::CellTooLarge => "cell_too_large",
            Self::InvalidJson => "invalid_json",
            Self::MissingPayload => "missing_payload",
            Self::PartitionValue => "partition_value",
            Self::WriteRefused => "write_refused",
            Self::MissingKey => "missing_key",
            Self::UnsupportedChange => "unsupported_change",
            Self::TableName => "table_name",
            Self::TableNotAllowed => "table_not_allowed",
            Self::SchemaMismatch => "schema_mismatch",
            Self::ColumnName => "column_name",
        }
    }
}

impl fmt::Display for RejectClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A record that can never be written, with everything recoverable of the original.
///
/// Fields are `None` when the stage could not recover them (only possible for
/// [`RejectClass::MalformedRecord`]); rejects from later stages always have the full record.
/// For `key` and `value`, `None` means "absent or unknown": when it matters, `raw_json` (set for
/// every malformed record) tells which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub class: RejectClass,
    /// What is wrong, for people: names the field, column or cell and the offending value
    /// (truncated), never a whole payload.
    pub message: String,
    pub topic: Option<String>,
    pub partition: Option<i32>,
    pub offset: Option<i64>,
    pub timestamp_ms: Option<i64>,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
    /// The record's JSON exactly as it was in the trigger event, for records that did not decode.
    pub raw_json: Option<String>,
}

impl Reject {
    /// A reject for a record that decoded, keeping all of it.
    pub fn from_record(
        record: &KafkaRecord,
        class: RejectClass,
        message: impl Into<String>,
    ) -> Self {
        Self {
            class,
            message: cap_message(message.into()),
            topic: Some(record.topic.to_string()),
            partition: Some(record.partition),
            offset: Some(record.offset),
            timestamp_ms: Some(record.timestamp_ms),
            key: record.key.as_deref().map(<[u8]>::to_vec),
            value: record.value.as_deref().map(<[u8]>::to_vec),
            headers: record.headers.to_vec(),
            raw_json: None,
        }
    }

    /// The sort key used to keep reject lists deterministic; unknown coordinates sort first.
    pub fn sort_key(&self) -> (Option<&str>, Option<i32>, Option<i64>) {
        (self.topic.as_deref(), self.partition, self.offset)
    }
}

/// The longest message a reject carries, in bytes: it travels in an error-topic header.
pub const MAX_MESSAGE_BYTES: usize = 1024;

/// Cuts a message to [`MAX_MESSAGE_BYTES`] on a character boundary. Messages quote excerpts, but
/// serde's own (an unexpected string in a record) may quote a whole field.
pub(crate) fn cap_message(mut message: String) -> String {
    if message.len() > MAX_MESSAGE_BYTES {
        let mut end = MAX_MESSAGE_BYTES - '…'.len_utf8();
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push('…');
    }
    message
}

/// Shortens text quoted in a message so a huge cell never lands in a log line or a header.
pub(crate) fn excerpt(s: &str) -> String {
    const MAX_CHARS: usize = 64;
    let mut out: String = s.chars().take(MAX_CHARS).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}
