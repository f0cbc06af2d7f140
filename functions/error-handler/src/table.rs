//! The errors table: its columns, the DDL that creates it, and rows as cells in the order of
//! whatever table is actually there.
//!
//! Columns are matched by name (case-insensitively, as MaxCompute does), so an existing table
//! may order them differently, leave some out, or add nullable columns of its own (written as
//! NULL). A known column must have the type the DDL gives it, except that `record_key` and
//! `record_value` may also be STRING (MaxCompute's STRING carries any bytes through the Tunnel).
//! A table that does not fit stops the cold start. This module is pure: creating the table and
//! reading its schema are the handler's.

use maxcompute_core::partition::PartitionRouter;
use maxcompute_core::types::{OdpsType, TableSchema, Value};

use crate::row::ErrorRow;

/// One column the handler knows how to fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    ErrorClass,
    ErrorMessage,
    OriginTopic,
    OriginPartition,
    OriginOffset,
    OriginTimestamp,
    RecordKey,
    RecordValue,
    RecordHeaders,
    PayloadKind,
    FunctionName,
    FailedAt,
    ErrorTopic,
    ErrorPartition,
    ErrorOffset,
}

/// The columns of the DDL, in its order: name, type, field, comment (comments hold no quote, so
/// they go into the DDL as they are).
pub const COLUMNS: [(&str, &str, Field, &str); 15] = [
    (
        "error_class",
        "STRING",
        Field::ErrorClass,
        "why: a reject class, trigger_gave_up or unparseable",
    ),
    (
        "error_message",
        "STRING",
        Field::ErrorMessage,
        "what went wrong, for people",
    ),
    (
        "origin_topic",
        "STRING",
        Field::OriginTopic,
        "topic of the original record",
    ),
    (
        "origin_partition",
        "BIGINT",
        Field::OriginPartition,
        "partition of the original record",
    ),
    (
        "origin_offset",
        "BIGINT",
        Field::OriginOffset,
        "offset of the original record",
    ),
    (
        "origin_timestamp",
        "DATETIME",
        Field::OriginTimestamp,
        "timestamp of the original record",
    ),
    (
        "record_key",
        "BINARY",
        Field::RecordKey,
        "the original key, byte for byte",
    ),
    (
        "record_value",
        "BINARY",
        Field::RecordValue,
        "the original value, byte for byte (see payload_kind)",
    ),
    (
        "record_headers",
        "STRING",
        Field::RecordHeaders,
        "JSON list of {key, value} or {key, base64}",
    ),
    (
        "payload_kind",
        "STRING",
        Field::PayloadKind,
        "record, raw-event-json or unparseable",
    ),
    (
        "function_name",
        "STRING",
        Field::FunctionName,
        "the function that gave up on the record",
    ),
    (
        "failed_at",
        "DATETIME",
        Field::FailedAt,
        "when it failed; decides the partition",
    ),
    (
        "error_topic",
        "STRING",
        Field::ErrorTopic,
        "topic of the error-topic record",
    ),
    (
        "error_partition",
        "BIGINT",
        Field::ErrorPartition,
        "partition of the error-topic record",
    ),
    (
        "error_offset",
        "BIGINT",
        Field::ErrorOffset,
        "offset of the error-topic record",
    ),
];

/// `CREATE TABLE IF NOT EXISTS` for the errors table, partitioned by the router's columns (all
/// STRING), in the same project-qualified spelling the client uses for partitions.
pub fn create_table_sql(project: &str, table: &str, router: &PartitionRouter) -> String {
    let columns: Vec<String> = COLUMNS
        .iter()
        .map(|(name, ty, _, comment)| format!("`{name}` {ty} COMMENT '{comment}'"))
        .collect();
    let keys: Vec<String> = router.columns().map(|c| format!("`{c}` STRING")).collect();
    format!(
        "CREATE TABLE IF NOT EXISTS {project}.`{table}` ({}) COMMENT 'Kafka records the sink could not write' PARTITIONED BY ({});",
        columns.join(", "),
        keys.join(", ")
    )
}

/// The table does not fit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("column `{column}` has type {actual}: expected {expected}")]
    ColumnType {
        column: String,
        actual: String,
        expected: &'static str,
    },
    #[error("column `{column}` is not one the error handler fills and is NOT NULL")]
    UnknownNotNull { column: String },
    #[error("the table has none of the errors table's columns")]
    NoKnownColumn,
}

/// Where each of the table's data columns gets its cell.
#[derive(Debug, Clone)]
pub struct ColumnMap {
    /// One per data column, in wire order; `None` is always NULL.
    fields: Vec<Option<Field>>,
    types: Vec<OdpsType>,
}

impl ColumnMap {
    pub fn new(schema: &TableSchema) -> Result<Self, TableError> {
        let mut fields = Vec::with_capacity(schema.columns.len());
        for column in &schema.columns {
            let known = COLUMNS
                .iter()
                .find(|(name, ..)| column.name.eq_ignore_ascii_case(name));
            match known {
                Some((_, expected, field, _)) => {
                    let ok = match field {
                        Field::RecordKey | Field::RecordValue => {
                            matches!(column.ty, OdpsType::Binary | OdpsType::String)
                        }
                        _ => column.ty.to_string().eq_ignore_ascii_case(expected),
                    };
                    if !ok {
                        return Err(TableError::ColumnType {
                            column: column.name.clone(),
                            actual: column.ty.to_string(),
                            expected,
                        });
                    }
                    fields.push(Some(*field));
                }
                None if column.nullable => fields.push(None),
                None => {
                    return Err(TableError::UnknownNotNull {
                        column: column.name.clone(),
                    });
                }
            }
        }
        if fields.iter().all(Option::is_none) {
            return Err(TableError::NoKnownColumn);
        }
        Ok(Self {
            fields,
            types: schema.column_types(),
        })
    }

    /// The data column types in wire order, for the encoder.
    pub fn types(&self) -> &[OdpsType] {
        &self.types
    }

    /// The row's cells in the table's column order.
    pub fn cells(&self, row: &ErrorRow) -> Vec<Value> {
        self.fields
            .iter()
            .map(|f| f.map_or(Value::Null, |f| cell(row, f)))
            .collect()
    }
}

fn cell(row: &ErrorRow, field: Field) -> Value {
    let text = |s: &Option<String>| s.clone().map_or(Value::Null, Value::text);
    let int = |i: Option<i64>| i.map_or(Value::Null, Value::Integer);
    let bytes = |b: &Option<Vec<u8>>| b.clone().map_or(Value::Null, Value::Bytes);
    match field {
        Field::ErrorClass => Value::text(row.error_class.clone()),
        Field::ErrorMessage => Value::text(row.error_message.clone()),
        Field::OriginTopic => text(&row.origin_topic),
        Field::OriginPartition => int(row.origin_partition),
        Field::OriginOffset => int(row.origin_offset),
        Field::OriginTimestamp => row.origin_timestamp_ms.map_or(Value::Null, Value::DateTime),
        Field::RecordKey => bytes(&row.record_key),
        Field::RecordValue => bytes(&row.record_value),
        Field::RecordHeaders => Value::text(row.headers_json()),
        Field::PayloadKind => Value::text(row.payload_kind.as_str()),
        Field::FunctionName => text(&row.function_name),
        Field::FailedAt => Value::DateTime(row.failed_at_ms),
        Field::ErrorTopic => text(&row.error_topic),
        Field::ErrorPartition => int(row.error_partition),
        Field::ErrorOffset => int(row.error_offset),
    }
}
