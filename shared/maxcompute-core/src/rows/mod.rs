//! Row building: decoded Kafka records → MaxCompute rows, grouped by partition.
//!
//! A [`RowBuilder`] is made once at cold start from the mode, the format and the table schema; it
//! validates the combination there (DEFAULT with CSV, a key column that is not text, ...) so a
//! configuration error surfaces before any record is read. [`build_rows`] then turns records into
//! rows per partition, and records it can never write into [`Reject`]s.
//!
//! # Columns
//!
//! Columns are matched **by name**, ignoring ASCII case. In TEXT and BINARY formats:
//!
//! | column | filled with | accepted types |
//! |---|---|---|
//! | `key` | the record key (KEY and DEFAULT modes; NULL in VALUE mode) | TEXT: STRING, VARCHAR, CHAR, JSON, BINARY; BINARY: BINARY, STRING |
//! | `value` | the record value (VALUE and DEFAULT modes; NULL in KEY mode) | as `key` |
//! | `topic` | the topic | STRING, VARCHAR, CHAR |
//! | `partition` | the Kafka partition | INT, BIGINT |
//! | `offset` | the offset | BIGINT |
//! | `timestamp` | the record timestamp (NULL when it has none) | DATETIME, TIMESTAMP, TIMESTAMP_NTZ (as UTC), BIGINT (epoch ms) |
//! | `timestamp_type` | `CREATE_TIME`, `LOG_APPEND_TIME`, ... | STRING, VARCHAR, CHAR |
//! | `headers` | the headers, in order, repeats kept | STRING/JSON: `[{"key":"k","value":"text"}]`, with `"base64"` instead of `"value"` for bytes that are not UTF-8; MAP<STRING,BINARY> or MAP<STRING,STRING> |
//!
//! Any other column is NULL (a NOT NULL column nothing fills is a configuration error).
//!
//! CSV (KEY or VALUE mode only) follows the seed: the cells fill **all** the table's data columns
//! by index (metadata columns get no special treatment), converted to each column's type; the
//! cell count must equal the column count. An empty cell is NULL for non-text columns.
//!
//! JSON (KEY or VALUE mode only) reads the payload as a JSON object whose fields fill columns by
//! name (ignoring case); a column with no field takes the record's metadata when it is one of
//! `topic`, `partition`, `offset`, `timestamp`, `timestamp_type`, `headers` (with a type the table
//! above accepts), else NULL. Fields with no column are ignored.
//!
//! A tombstone (no value) writes NULL to the value column in TEXT/BINARY; likewise a missing key.
//! Any NULL bound for a NOT NULL column makes the record a `type_conversion` reject.
//! CSV and JSON cannot make a row from nothing, so there a missing payload is a reject
//! (`missing_payload`) and the record goes to the error topic.
//!
//! DEBEZIUM reads the value as a Debezium change event and makes keyed upserts and deletes of a
//! Delta Table's rows instead of one row per record: see [`debezium`] ([`RowBuilder`] refuses it).
//!
//! This module does no I/O and reads no clock: processing time is passed in.

mod convert;
pub mod csv;
pub mod debezium;
pub mod infer;
mod json;
pub mod naming;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use crate::codec::MAX_CELL_BYTES;
use crate::event::{Headers, KafkaRecord, Reject, RejectClass, excerpt};
use crate::partition::{PartitionRouter, Specs, Zone};
use crate::spec::PartitionSpec;
use crate::types::{OdpsType, TableSchema, Value};

use convert::CellError;

/// Which of key and value are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    Key,
    Value,
    #[default]
    Default,
}

/// How the key/value bytes are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    Binary,
    Csv,
    Json,
    /// Debezium change events, upserted and deleted by the table's primary key
    /// ([`debezium::ChangeBuilder`]).
    Debezium,
}

impl FromStr for Mode {
    type Err = RowConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().as_str() {
            "KEY" => Ok(Self::Key),
            "VALUE" => Ok(Self::Value),
            "DEFAULT" => Ok(Self::Default),
            _ => Err(RowConfigError::Mode(s.to_owned())),
        }
    }
}

impl FromStr for Format {
    type Err = RowConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().as_str() {
            "TEXT" => Ok(Self::Text),
            "BINARY" => Ok(Self::Binary),
            "CSV" => Ok(Self::Csv),
            "JSON" => Ok(Self::Json),
            "DEBEZIUM" => Ok(Self::Debezium),
            _ => Err(RowConfigError::Format(s.to_owned())),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Key => "KEY",
            Self::Value => "VALUE",
            Self::Default => "DEFAULT",
        })
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Text => "TEXT",
            Self::Binary => "BINARY",
            Self::Csv => "CSV",
            Self::Json => "JSON",
            Self::Debezium => "DEBEZIUM",
        })
    }
}

/// The mode, format and table do not fit together. Messages say what was found and what is
/// accepted; the caller adds the setting's name where one was parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowConfigError {
    #[error("unknown mode `{0}`: expected KEY, VALUE or DEFAULT")]
    Mode(String),
    #[error("unknown format `{0}`: expected TEXT, BINARY, CSV, JSON or DEBEZIUM")]
    Format(String),
    #[error(
        "format {format} needs mode KEY or VALUE, not DEFAULT (it fills the table's columns from one field)"
    )]
    ModeFormat { format: Format },
    #[error(
        "mode {mode} writes the record {field} to a column named `{field}`, and the table has none"
    )]
    MissingColumn { mode: Mode, field: &'static str },
    #[error("column `{column}` has type {ty}: {expected}")]
    ColumnType {
        column: String,
        ty: String,
        expected: &'static str,
    },
    #[error(
        "column `{column}` is NOT NULL, but nothing fills it with mode {mode} and format {format}"
    )]
    NotNull {
        column: String,
        mode: Mode,
        format: Format,
    },
    #[error("the table has no data columns")]
    NoColumns,
    #[error(
        "format DEBEZIUM applies changes by the table's primary key: it needs a Delta Table (transactional, with a primary key)"
    )]
    NoPrimaryKey,
}

/// Why one record cannot become a row; [`build_rows`] turns it into a [`Reject`] with the record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{class}: {message}")]
pub struct RowError {
    pub class: RejectClass,
    pub message: String,
}

/// A row with the record it came from, so that a later stage can tell which offsets were
/// written ([`KafkaRecord::id`]) or reject the record ([`Reject::from_record`]) without looking
/// it up again.
#[derive(Debug, Clone, PartialEq)]
pub struct Row<'a> {
    pub record: &'a KafkaRecord,
    /// One value per data column, in the table's order.
    pub values: Vec<Value>,
}

/// Rows per partition (in record order within each) and the records that became rejects.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BuiltRows<'a> {
    pub partitions: BTreeMap<PartitionSpec, Vec<Row<'a>>>,
    pub rejects: Vec<Reject>,
}

impl BuiltRows<'_> {
    /// The number of rows across partitions.
    pub fn row_count(&self) -> usize {
        self.partitions.values().map(Vec::len).sum()
    }
}

/// Which payload a column or a CSV/JSON format reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Key,
    Value,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Self::Key => "key",
            Self::Value => "value",
        }
    }

    fn of(self, record: &KafkaRecord) -> Option<&[u8]> {
        match self {
            Self::Key => record.key.as_deref(),
            Self::Value => record.value.as_deref(),
        }
    }
}

/// Where one column's cell comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Null,
    Topic,
    Partition,
    Offset,
    TimestampDateTime,
    TimestampTimestamp,
    TimestampMillis,
    TimestampType,
    HeadersJson,
    /// MAP<STRING, BINARY> (`false`) or MAP<STRING, STRING> (`true`: values must be UTF-8).
    HeadersMap {
        text_values: bool,
    },
    /// TEXT: UTF-8 checked (and length/JSON checked for VARCHAR/CHAR/JSON).
    PayloadText(Field, OdpsType),
    /// BINARY: bytes unchanged.
    PayloadBinary(Field),
}

const ACCEPT_TEXT_COLUMN: &str =
    "format TEXT writes text: expected STRING, VARCHAR, CHAR, JSON or BINARY";
const ACCEPT_BINARY_COLUMN: &str =
    "format BINARY writes bytes unchanged: expected BINARY or STRING";

/// The metadata source for a column name and type, `Ok(None)` when the name is not a metadata
/// column, and an error when the name is but the type cannot hold it.
fn metadata_source(name: &str, ty: &OdpsType) -> Result<Option<Source>, &'static str> {
    let lower = name.to_ascii_lowercase();
    let text = matches!(
        ty,
        OdpsType::String | OdpsType::Varchar(_) | OdpsType::Char(_)
    );
    let source = match lower.as_str() {
        "topic" if text => Source::Topic,
        "topic" => return Err("the topic is text: expected STRING, VARCHAR or CHAR"),
        "partition" if matches!(ty, OdpsType::Int | OdpsType::BigInt) => Source::Partition,
        "partition" => {
            return Err("the Kafka partition is a 32-bit number: expected INT or BIGINT");
        }
        "offset" if *ty == OdpsType::BigInt => Source::Offset,
        "offset" => return Err("the offset is a 64-bit number: expected BIGINT"),
        "timestamp" => match ty {
            OdpsType::DateTime => Source::TimestampDateTime,
            OdpsType::Timestamp | OdpsType::TimestampNtz => Source::TimestampTimestamp,
            OdpsType::BigInt => Source::TimestampMillis,
            _ => {
                return Err(
                    "the record timestamp: expected DATETIME, TIMESTAMP, TIMESTAMP_NTZ or BIGINT (epoch ms)",
                );
            }
        },
        "timestamp_type" if text => Source::TimestampType,
        "timestamp_type" => {
            return Err("the timestamp type is text: expected STRING, VARCHAR or CHAR");
        }
        "headers" => match ty {
            OdpsType::String | OdpsType::Json => Source::HeadersJson,
            OdpsType::Map(k, v) if **k == OdpsType::String && **v == OdpsType::Binary => {
                Source::HeadersMap { text_values: false }
            }
            OdpsType::Map(k, v) if **k == OdpsType::String && **v == OdpsType::String => {
                Source::HeadersMap { text_values: true }
            }
            _ => {
                return Err(
                    "headers: expected STRING or JSON (as a JSON array), MAP<STRING,BINARY> or MAP<STRING,STRING>",
                );
            }
        },
        _ => return Ok(None),
    };
    Ok(Some(source))
}

#[derive(Debug, Clone)]
enum Plan {
    /// TEXT and BINARY: one source per column.
    Columns(Vec<Source>),
    /// CSV: cells by index, converted to each column's type.
    Csv { field: Field, types: Vec<OdpsType> },
    /// JSON: fields by name; the fallback fills a column the object does not mention.
    Json {
        field: Field,
        columns: Vec<(String, OdpsType, Source)>,
    },
}

/// Turns records into rows for one table; built once at cold start.
#[derive(Debug, Clone)]
pub struct RowBuilder {
    mode: Mode,
    format: Format,
    zone: Zone,
    names: Vec<String>,
    nullable: Vec<bool>,
    plan: Plan,
    /// JSON with schema evolution: fields meet columns by their mapped names and only a value
    /// of the column's own inferred type fits ([`RowBuilder::exact_json_fields`]).
    exact: bool,
}

impl RowBuilder {
    /// Validates the mode and format against the table. `zone` reads CSV/JSON date-times that
    /// carry no offset.
    pub fn new(
        mode: Mode,
        format: Format,
        zone: Zone,
        schema: &TableSchema,
    ) -> Result<Self, RowConfigError> {
        if schema.columns.is_empty() {
            return Err(RowConfigError::NoColumns);
        }
        // The one payload KEY and VALUE modes write; DEFAULT writes both and never reads this
        // (CSV and JSON refuse DEFAULT below).
        let field = match mode {
            Mode::Key => Field::Key,
            Mode::Value | Mode::Default => Field::Value,
        };
        let plan = match format {
            Format::Text | Format::Binary => columns_plan(mode, format, field, schema)?,
            Format::Csv | Format::Json if mode == Mode::Default => {
                return Err(RowConfigError::ModeFormat { format });
            }
            Format::Csv => csv_plan(field, schema)?,
            Format::Json => json_plan(field, schema),
            // Changes are keyed rows, built by `debezium::ChangeBuilder` with the key columns.
            Format::Debezium => return Err(RowConfigError::NoPrimaryKey),
        };
        Ok(Self {
            mode,
            format,
            zone,
            names: schema.columns.iter().map(|c| c.name.clone()).collect(),
            nullable: schema.columns.iter().map(|c| c.nullable).collect(),
            plan,
            exact: false,
        })
    }

    /// JSON fields meet columns by their names under [`naming`]'s rule, and, where the column
    /// has a type [`infer`]'s rule makes, only a value of that type fits it: anything else is a
    /// `schema_mismatch`, never converted. A field with no name under the rule, and two fields
    /// with one name, are `column_name` rejects. For tables whose columns the sink adds
    /// (`SINK_EVOLVE=add-columns`); no effect on other formats.
    pub fn exact_json_fields(mut self) -> Self {
        self.exact = true;
        self
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// One record's row values (in the table's column order), or why it must be rejected.
    pub fn row(&self, record: &KafkaRecord) -> Result<Vec<Value>, RowError> {
        let values = match &self.plan {
            Plan::Columns(sources) => {
                let mut values = Vec::with_capacity(sources.len());
                for (source, name) in sources.iter().zip(&self.names) {
                    let v = cell(source, record)
                        .map_err(|e| reject(e.class, format!("column `{name}`: {}", e.detail)))?;
                    values.push(v);
                }
                values
            }
            Plan::Csv { field, types } => self.csv_row(record, *field, types)?,
            Plan::Json { field, columns } => self.json_row(record, *field, columns)?,
        };
        for ((v, name), nullable) in values.iter().zip(&self.names).zip(&self.nullable) {
            if v.is_null() && !nullable {
                return Err(reject(
                    RejectClass::TypeConversion,
                    format!("column `{name}` is NOT NULL and the record gives it no value"),
                ));
            }
            let size = cell_bytes(v);
            if size > MAX_CELL_BYTES {
                return Err(reject(
                    RejectClass::CellTooLarge,
                    format!(
                        "column `{name}` would hold {size} bytes, over MaxCompute's {MAX_CELL_BYTES}-byte cell limit"
                    ),
                ));
            }
        }
        Ok(values)
    }
}

fn reject(class: RejectClass, message: String) -> RowError {
    RowError { class, message }
}

impl RowBuilder {
    /// A CSV field's cells, by position, converted to the columns' `types`.
    fn csv_row(
        &self,
        record: &KafkaRecord,
        field: Field,
        types: &[OdpsType],
    ) -> Result<Vec<Value>, RowError> {
        let text = payload_text(field, record).map_err(|(c, m)| reject(c, m))?;
        let cells = csv::split(text)
            .map_err(|e| reject(RejectClass::CsvSyntax, format!("{}: {e}", field.name())))?;
        if cells.len() != types.len() {
            return Err(reject(
                RejectClass::CsvFieldCount,
                format!(
                    "{} has {} CSV cells, the table has {} columns",
                    field.name(),
                    cells.len(),
                    types.len()
                ),
            ));
        }
        let mut values = Vec::with_capacity(types.len());
        for ((cell, ty), name) in cells.iter().zip(types).zip(&self.names) {
            let v = match cell {
                None => Value::Null,
                Some(text) => convert::from_text(text, ty, &self.zone).map_err(|e| {
                    reject(e.class, format!("column `{name}` ({ty}): {}", e.detail))
                })?,
            };
            values.push(v);
        }
        Ok(values)
    }

    /// A JSON object's fields by column name; a column the object does not mention takes its
    /// fallback.
    fn json_row(
        &self,
        record: &KafkaRecord,
        field: Field,
        columns: &[(String, OdpsType, Source)],
    ) -> Result<Vec<Value>, RowError> {
        let text = payload_text(field, record).map_err(|(c, m)| reject(c, m))?;
        let json = json::Json::parse(text).map_err(|e| {
            reject(
                RejectClass::InvalidJson,
                format!("{} is not JSON: {e}", field.name()),
            )
        })?;
        let Ok(json::Kind::Object(obj)) = json.kind() else {
            return Err(reject(
                RejectClass::InvalidJson,
                format!("{} is JSON but not an object", field.name()),
            ));
        };
        if self.exact {
            return self.exact_json_row(record, &obj, columns);
        }
        let mut values = Vec::with_capacity(columns.len());
        for (name, ty, fallback) in columns {
            let v = match json::Json::field(&obj, name) {
                Some(item) => convert::from_json(item, ty, &self.zone),
                None => cell(fallback, record),
            }
            .map_err(|e| reject(e.class, format!("column `{name}` ({ty}): {}", e.detail)))?;
            values.push(v);
        }
        Ok(values)
    }

    /// A JSON object's row under [`RowBuilder::exact_json_fields`].
    fn exact_json_row(
        &self,
        record: &KafkaRecord,
        obj: &[(std::borrow::Cow<'_, str>, json::Json<'_>)],
        columns: &[(String, OdpsType, Source)],
    ) -> Result<Vec<Value>, RowError> {
        let reject = |class, message: String| RowError { class, message };
        let mut by_name: HashMap<String, (&str, &json::Json<'_>)> =
            HashMap::with_capacity(obj.len());
        for (field, value) in obj {
            let name = naming::maxcompute_name(field).map_err(|e| {
                reject(
                    RejectClass::ColumnName,
                    format!("field `{}` has no column name: {e}", excerpt(field)),
                )
            })?;
            if let Some((other, _)) = by_name.insert(name.clone(), (field.as_ref(), value)) {
                return Err(reject(
                    RejectClass::ColumnName,
                    format!(
                        "fields `{}` and `{}` both map to column `{name}`",
                        excerpt(other),
                        excerpt(field)
                    ),
                ));
            }
        }
        let mut values = Vec::with_capacity(columns.len());
        for (name, ty, fallback) in columns {
            let Some((field, item)) = by_name.get(&name.to_ascii_lowercase()) else {
                let v = cell(fallback, record).map_err(|e| {
                    reject(e.class, format!("column `{name}` ({ty}): {}", e.detail))
                })?;
                values.push(v);
                continue;
            };
            let kind = item.kind().map_err(|e| {
                reject(
                    RejectClass::InvalidJson,
                    format!("field `{}` is not JSON: {e}", excerpt(field)),
                )
            })?;
            if infer::fits(&kind, ty) == Some(false) {
                return Err(reject(
                    RejectClass::SchemaMismatch,
                    format!(
                        "field `{}` is {}, and its column `{name}` is {ty}",
                        excerpt(field),
                        infer::kind_name(&kind)
                    ),
                ));
            }
            let v = convert::from_json(item, ty, &self.zone).map_err(|e| {
                reject(
                    RejectClass::SchemaMismatch,
                    format!("column `{name}` ({ty}): {}", e.detail),
                )
            })?;
            values.push(v);
        }
        Ok(values)
    }
}

/// The text of the top-level string field `name` of a record's JSON payload (the key in KEY
/// mode, else the value): `Ok(None)` when the payload is an object without it (or with `null`),
/// an error saying why when the payload is not a JSON object or the field is not a string.
pub fn json_text_field(
    record: &KafkaRecord,
    mode: Mode,
    name: &str,
) -> Result<Option<String>, String> {
    let field = match mode {
        Mode::Key => Field::Key,
        Mode::Value | Mode::Default => Field::Value,
    };
    let text = payload_text(field, record).map_err(|(_, m)| m)?;
    let json = json::Json::parse(text).map_err(|e| format!("{} is not JSON: {e}", field.name()))?;
    let Ok(json::Kind::Object(obj)) = json.kind() else {
        return Err(format!("{} is JSON but not an object", field.name()));
    };
    let Some(item) = obj.iter().find(|(k, _)| k == name).map(|(_, v)| v) else {
        return Ok(None);
    };
    match item.kind() {
        Ok(json::Kind::Null) => Ok(None),
        Ok(json::Kind::String(s)) => Ok(Some(s.into_owned())),
        _ => Err(format!(
            "field `{}` is `{}`, not a string",
            excerpt(name),
            excerpt(item.raw)
        )),
    }
}

/// The bytes of text and binary data in a cell, nested values included (an ARRAY of strings
/// counts them all), which is what the 8 MiB limit is checked against.
fn cell_bytes(v: &Value) -> usize {
    match v {
        Value::Bytes(b) => b.len(),
        Value::Array(items) | Value::Struct(items) => items.iter().map(cell_bytes).sum(),
        Value::Map(entries) => entries
            .iter()
            .map(|(k, v)| cell_bytes(k) + cell_bytes(v))
            .sum(),
        _ => 0,
    }
}

/// The payload a CSV/JSON format reads, as UTF-8 text.
fn payload_text(field: Field, record: &KafkaRecord) -> Result<&str, (RejectClass, String)> {
    let bytes = field.of(record).ok_or_else(|| {
        (
            RejectClass::MissingPayload,
            format!("the record has no {} to read", field.name()),
        )
    })?;
    std::str::from_utf8(bytes).map_err(|e| {
        (
            RejectClass::InvalidUtf8,
            format!("{} is not UTF-8: {e}", field.name()),
        )
    })
}

/// The record's time for a DATETIME or TIMESTAMP column: a time outside the years those types
/// hold is a reject (it can arrive with processing-time partitions, which do not look at it).
fn time_cell(record: &KafkaRecord) -> Result<Option<i64>, CellError> {
    match record.event_time_ms() {
        Some(ms) if !crate::event::MAXCOMPUTE_TIME_RANGE_MS.contains(&ms) => Err(CellError {
            class: RejectClass::TypeConversion,
            detail: format!(
                "the record timestamp {ms} is outside the years 0001 to 9999 that DATETIME and \
                 TIMESTAMP hold"
            ),
        }),
        other => Ok(other),
    }
}

fn cell(source: &Source, record: &KafkaRecord) -> Result<Value, CellError> {
    Ok(match source {
        Source::Null => Value::Null,
        Source::Topic => Value::Bytes(record.topic.as_bytes().to_vec()),
        Source::Partition => Value::Integer(i64::from(record.partition)),
        Source::Offset => Value::Integer(record.offset),
        Source::TimestampDateTime => time_cell(record)?.map_or(Value::Null, Value::DateTime),
        Source::TimestampTimestamp => {
            time_cell(record)?.map_or(Value::Null, |ms| Value::Timestamp {
                seconds: ms.div_euclid(1000),
                // In 0..1e9 by construction (rem_euclid of 1000, times 1e6).
                nanos: (ms.rem_euclid(1000) * 1_000_000) as u32,
            })
        }
        Source::TimestampMillis => record.event_time_ms().map_or(Value::Null, Value::Integer),
        Source::TimestampType => match record.timestamp_type.as_str() {
            "" => Value::Null,
            s => Value::Bytes(s.as_bytes().to_vec()),
        },
        Source::HeadersJson => Value::Bytes(headers_json(&record.headers).into_bytes()),
        Source::HeadersMap { text_values } => {
            let mut entries = Vec::with_capacity(record.headers.len());
            for (k, v) in &record.headers {
                if *text_values && std::str::from_utf8(v).is_err() {
                    return Err(CellError {
                        class: RejectClass::InvalidUtf8,
                        detail: format!("header `{}` is not UTF-8", excerpt(k)),
                    });
                }
                entries.push((
                    Value::Bytes(k.as_bytes().to_vec()),
                    Value::Bytes(v.to_vec()),
                ));
            }
            Value::Map(entries)
        }
        Source::PayloadText(field, ty) => match field.of(record) {
            None => Value::Null,
            Some(bytes) => {
                let text = std::str::from_utf8(bytes).map_err(|e| CellError {
                    class: RejectClass::InvalidUtf8,
                    detail: format!("the {} is not UTF-8: {e}", field.name()),
                })?;
                if *ty == OdpsType::Binary || *ty == OdpsType::String {
                    Value::Bytes(bytes.to_vec())
                } else {
                    convert::text_cell(text, ty)?
                }
            }
        },
        Source::PayloadBinary(field) => field
            .of(record)
            .map_or(Value::Null, |b| Value::Bytes(b.to_vec())),
    })
}

/// Headers as a JSON array that keeps order and repeats: `[{"key":"k","value":"text"}]`, or
/// `{"key":"k","base64":"..."}` for a value that is not UTF-8.
fn headers_json(headers: &Headers) -> String {
    use base64::Engine;
    #[derive(serde::Serialize)]
    struct Header<'a> {
        key: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        value: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        base64: Option<String>,
    }
    let items: Vec<Header<'_>> = headers
        .iter()
        .map(|(k, v)| match std::str::from_utf8(v) {
            Ok(text) => Header {
                key: k,
                value: Some(text),
                base64: None,
            },
            Err(_) => Header {
                key: k,
                value: None,
                base64: Some(base64::engine::general_purpose::STANDARD.encode(v)),
            },
        })
        .collect();
    // Serializing strings into a String cannot fail.
    serde_json::to_string(&items).unwrap_or_default()
}

fn column_error(column: &str, ty: &OdpsType, expected: &'static str) -> RowConfigError {
    RowConfigError::ColumnType {
        column: column.to_owned(),
        ty: ty.to_string(),
        expected,
    }
}

/// TEXT and BINARY: each column from the payload field of its name (`key`, `value`) or from the
/// record's metadata; a payload the mode does not write, and any other column, is NULL.
fn columns_plan(
    mode: Mode,
    format: Format,
    field: Field,
    schema: &TableSchema,
) -> Result<Plan, RowConfigError> {
    let mut sources = Vec::with_capacity(schema.columns.len());
    for col in &schema.columns {
        let payload = match col.name.to_ascii_lowercase().as_str() {
            "key" => Some(Field::Key),
            "value" => Some(Field::Value),
            _ => None,
        };
        let source = match payload {
            Some(f) => {
                let written = mode == Mode::Default || f == field;
                if !written {
                    Source::Null
                } else if format == Format::Text {
                    if col.ty.is_text() || col.ty == OdpsType::Binary {
                        Source::PayloadText(f, col.ty.clone())
                    } else {
                        return Err(column_error(&col.name, &col.ty, ACCEPT_TEXT_COLUMN));
                    }
                } else if matches!(col.ty, OdpsType::Binary | OdpsType::String) {
                    Source::PayloadBinary(f)
                } else {
                    return Err(column_error(&col.name, &col.ty, ACCEPT_BINARY_COLUMN));
                }
            }
            None => metadata_source(&col.name, &col.ty)
                .map_err(|e| column_error(&col.name, &col.ty, e))?
                .unwrap_or(Source::Null),
        };
        if source == Source::Null && !col.nullable {
            return Err(RowConfigError::NotNull {
                column: col.name.clone(),
                mode,
                format,
            });
        }
        sources.push(source);
    }
    let needed: &[Field] = match mode {
        Mode::Key => &[Field::Key],
        Mode::Value => &[Field::Value],
        Mode::Default => &[Field::Key, Field::Value],
    };
    for f in needed {
        if schema.column_index(f.name()).is_none() {
            return Err(RowConfigError::MissingColumn {
                mode,
                field: f.name(),
            });
        }
    }
    Ok(Plan::Columns(sources))
}

/// CSV: the field's cells by column index; every column a scalar.
fn csv_plan(field: Field, schema: &TableSchema) -> Result<Plan, RowConfigError> {
    for col in &schema.columns {
        if matches!(
            col.ty,
            OdpsType::Array(_) | OdpsType::Map(..) | OdpsType::Struct(_)
        ) {
            return Err(column_error(
                &col.name,
                &col.ty,
                "CSV cells are scalars: use format JSON for ARRAY, MAP and STRUCT columns",
            ));
        }
    }
    Ok(Plan::Csv {
        field,
        types: schema.column_types(),
    })
}

/// JSON: each column from the object's field of its name, else from the record's metadata.
fn json_plan(field: Field, schema: &TableSchema) -> Plan {
    Plan::Json {
        field,
        columns: schema
            .columns
            .iter()
            .map(|c| {
                // A metadata name with an unfit type simply has no fallback here: the JSON field
                // of that name may well be meant for it.
                let fallback = metadata_source(&c.name, &c.ty)
                    .ok()
                    .flatten()
                    .unwrap_or(Source::Null);
                (c.name.clone(), c.ty.clone(), fallback)
            })
            .collect(),
    }
}

/// Builds the rows of a batch and routes each to its partition.
///
/// `now_ms` is the processing time, used under processing-time routing and for records without a
/// timestamp. Records are processed in (topic, partition, offset) order whatever order they come
/// in, so rows within a partition and rejects are in that order too.
pub fn build_rows<'a>(
    records: &'a [KafkaRecord],
    builder: &RowBuilder,
    router: &PartitionRouter,
    now_ms: i64,
) -> BuiltRows<'a> {
    let mut specs = Specs::new(router);
    let mut out = BuiltRows::default();
    for record in KafkaRecord::in_order(records) {
        let spec = match specs.of(record.event_time_ms(), now_ms) {
            Ok(spec) => spec,
            Err(e) => {
                out.rejects.push(Reject::from_record(
                    record,
                    RejectClass::PartitionValue,
                    e.to_string(),
                ));
                continue;
            }
        };
        let row = match builder.row(record) {
            Ok(values) => Row { record, values },
            Err(e) => {
                out.rejects
                    .push(Reject::from_record(record, e.class, e.message));
                continue;
            }
        };
        match out.partitions.get_mut(spec) {
            Some(rows) => rows.push(row),
            None => {
                out.partitions.insert(spec.clone(), vec![row]);
            }
        }
    }
    out
}
