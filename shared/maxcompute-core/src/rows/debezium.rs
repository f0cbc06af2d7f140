//! Debezium change events → upserts and deletes of a Delta Table's rows, by its primary key.
//!
//! A record value is a Debezium change event in JSON, with or without the JSON converter's
//! `{"schema": …, "payload": …}` wrapper. Its `op` says what happened to one source row:
//!
//! | `op` | meaning | becomes |
//! |---|---|---|
//! | `c`, `r`, `u` | insert, snapshot read, update | an upsert of `after` |
//! | `d` | delete | a delete of `before`'s key |
//! | no value (tombstone) | log compaction marker after a delete | nothing (counted) |
//! | `t`, `m`, anything else | truncate, logical message | an `unsupported_change` reject |
//!
//! # Columns
//!
//! Each data column takes the field of its name in `after` (ignoring ASCII case); a field with no
//! column is ignored and a column with no field is NULL. A primary-key column that `after` (or,
//! for a delete, `before`) does not give is taken from the record key, which Debezium writes as
//! the source table's key columns (`{"id": 1}`, wrapped or not; a single-column key may also be a
//! bare JSON scalar). A change whose key still has a NULL is a `missing_key` reject. A delete
//! carries only its key (the other cells are NULL); an upsert must fill every NOT NULL column.
//!
//! Four optional columns take the envelope's metadata when the table has them (a field of the
//! same name in `after` is ignored for them):
//!
//! | column | from | types |
//! |---|---|---|
//! | `cdc_op` | `op` (`c`, `r`, `u`) | STRING, VARCHAR, CHAR |
//! | `cdc_source_ts_ms` | `source.ts_ms` | BIGINT (epoch ms), DATETIME, TIMESTAMP, TIMESTAMP_NTZ |
//! | `cdc_source_db` | `source.db` | STRING, VARCHAR, CHAR |
//! | `cdc_source_table` | `source.table` | STRING, VARCHAR, CHAR |
//!
//! # Values
//!
//! Without the wrapper a value follows the JSON format's rules (see the module above: numbers
//! from their text, strings converted to the column's type). With it, the field's Connect schema
//! says how Debezium encoded the value, and it is read that way when the column can hold it:
//!
//! - `io.debezium.time.Timestamp`, `org.apache.kafka.connect.data.Timestamp` (epoch ms),
//!   `io.debezium.time.MicroTimestamp` (µs), `io.debezium.time.NanoTimestamp` (ns) into
//!   DATETIME (whole milliseconds only: nothing is truncated), TIMESTAMP and TIMESTAMP_NTZ;
//! - `io.debezium.time.Date`, `org.apache.kafka.connect.data.Date` (days since the epoch) into
//!   DATE and DATETIME;
//! - `org.apache.kafka.connect.data.Decimal` (base64 of the big-endian two's-complement unscaled
//!   value, the scale in the schema's `parameters`; `decimal.handling.mode=precise`) and
//!   `io.debezium.data.VariableScaleDecimal` (`{"scale", "value"}`) into DECIMAL (rounded
//!   half-up to the column's scale, as MaxCompute does), DOUBLE, FLOAT and text columns;
//!   `decimal.handling.mode=string` or `double` arrive as a string or a number and follow the
//!   JSON rules;
//! - `bytes` without a logical name (base64, the JSON converter's encoding) into BINARY and
//!   STRING as the decoded bytes;
//! - `boolean` is a JSON boolean: BOOLEAN, or `true`/`false` in a text column.
//!
//! Into any other column type (a BIGINT for a timestamp, say) the value follows the JSON rules.
//!
//! # Several changes to one key
//!
//! [`build_changes`] keeps one change per key and partition, the last one in (topic, partition,
//! offset) order, so a key updated twice, or deleted and inserted again, in one batch ends as
//! its last change says. The upsert session of a partition then holds each key once, and the
//! result does not depend on how the service orders several operations on one key inside one
//! commit, which its documentation does not state (the emulator applies them in arrival order,
//! and a PUT repeated after a lost answer arrives again after other buckets' PUTs). Debezium
//! sends every change of a key to the same Kafka partition, so offset order is the source's order.
//!
//! This module does no I/O and reads no clock.

use std::collections::{BTreeMap, HashMap};

use base64::Engine;

use super::convert::{self, CellError};
use super::json::{Json, Kind};
use super::{RowConfigError, RowError, cell_bytes};
use crate::codec::MAX_CELL_BYTES;
use crate::event::{KafkaRecord, Reject, RejectClass, excerpt};
use crate::partition::{PartitionRouter, Specs, Zone};
use crate::spec::PartitionSpec;
use crate::types::{OdpsType, TableSchema, Value};

/// The column names the envelope's metadata fills.
pub const OP_COLUMN: &str = "cdc_op";
pub const SOURCE_TS_COLUMN: &str = "cdc_source_ts_ms";
pub const SOURCE_DB_COLUMN: &str = "cdc_source_db";
pub const SOURCE_TABLE_COLUMN: &str = "cdc_source_table";

/// What a change does to its key's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOp {
    /// Insert or replace the whole row.
    Upsert,
    /// Remove the key's row (if any).
    Delete,
}

/// One change ready to write: the operation and one value per data column, in the table's
/// order (a delete's non-key cells are NULL).
#[derive(Debug, Clone, PartialEq)]
pub struct Change<'a> {
    pub record: &'a KafkaRecord,
    pub op: ChangeOp,
    pub values: Vec<Value>,
}

/// The changes of a batch, the last per key in each partition, and what became of the rest.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BuiltChanges<'a> {
    /// Per partition (`None`: the table has no partition columns), one change per key.
    pub partitions: BTreeMap<Option<PartitionSpec>, Vec<Change<'a>>>,
    pub rejects: Vec<Reject>,
    /// Records without a value: Debezium's tombstones, which write nothing.
    pub tombstones: usize,
    /// Changes replaced by a later change of the same key in the same batch and partition.
    pub superseded: usize,
}

fn reject(class: RejectClass, message: String) -> RowError {
    RowError { class, message }
}

/// What an `op` does, and the row image it reads (`after` for an upsert, `before` for a
/// delete); the operations that cannot be applied row by row are `unsupported_change` rejects.
fn operation(op: &str) -> Result<(ChangeOp, &'static str), RowError> {
    match op {
        "c" | "r" | "u" => Ok((ChangeOp::Upsert, "after")),
        "d" => Ok((ChangeOp::Delete, "before")),
        other => {
            let what = match other {
                "t" => "a truncate".to_owned(),
                "m" => "a logical decoding message".to_owned(),
                _ => format!("operation `{}`", excerpt(other)),
            };
            Err(reject(
                RejectClass::UnsupportedChange,
                format!("{what} cannot be applied row by row"),
            ))
        }
    }
}

/// Where one column's cell comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The row image's field of the column's name.
    Field,
    Op,
    /// `source.ts_ms`, `source.db`, `source.table`.
    Ts,
    Db,
    Table,
}

#[derive(Debug, Clone)]
struct ColumnPlan {
    name: String,
    ty: OdpsType,
    nullable: bool,
    source: Source,
}

/// Turns Debezium change events into keyed changes for one Delta Table; built once at cold start.
#[derive(Debug, Clone)]
pub struct ChangeBuilder {
    columns: Vec<ColumnPlan>,
    /// Positions of the primary-key columns among the data columns, in key order.
    key: Vec<usize>,
    zone: Zone,
}

const ACCEPT_TEXT: &str = "envelope text: expected STRING, VARCHAR or CHAR";

impl ChangeBuilder {
    /// A builder for `schema`, whose primary-key columns are at positions `key`. `zone` reads
    /// date-times without an offset (the JSON rules).
    pub fn new(schema: &TableSchema, key: &[usize], zone: Zone) -> Result<Self, RowConfigError> {
        if schema.columns.is_empty() {
            return Err(RowConfigError::NoColumns);
        }
        if key.is_empty() || key.iter().any(|&i| i >= schema.columns.len()) {
            return Err(RowConfigError::NoPrimaryKey);
        }
        let mut columns = Vec::with_capacity(schema.columns.len());
        for col in &schema.columns {
            let text = matches!(
                col.ty,
                OdpsType::String | OdpsType::Varchar(_) | OdpsType::Char(_)
            );
            let lower = col.name.to_ascii_lowercase();
            let source = match lower.as_str() {
                OP_COLUMN => Source::Op,
                SOURCE_TS_COLUMN => Source::Ts,
                SOURCE_DB_COLUMN => Source::Db,
                SOURCE_TABLE_COLUMN => Source::Table,
                _ => Source::Field,
            };
            let fits = match source {
                Source::Field => true,
                Source::Op | Source::Db | Source::Table => text,
                Source::Ts => matches!(
                    col.ty,
                    OdpsType::BigInt
                        | OdpsType::DateTime
                        | OdpsType::Timestamp
                        | OdpsType::TimestampNtz
                ),
            };
            if !fits {
                return Err(RowConfigError::ColumnType {
                    column: col.name.clone(),
                    ty: col.ty.to_string(),
                    expected: if source == Source::Ts {
                        "source.ts_ms: expected BIGINT (epoch ms), DATETIME, TIMESTAMP or TIMESTAMP_NTZ"
                    } else {
                        ACCEPT_TEXT
                    },
                });
            }
            columns.push(ColumnPlan {
                name: col.name.clone(),
                ty: col.ty.clone(),
                nullable: col.nullable,
                source,
            });
        }
        Ok(Self {
            columns,
            key: key.to_vec(),
            zone,
        })
    }

    /// The change a record makes: `Ok(None)` for a tombstone, else the operation and the row's
    /// values, or why the record must be rejected.
    pub fn change(&self, record: &KafkaRecord) -> Result<Option<(ChangeOp, Vec<Value>)>, RowError> {
        let Some(bytes) = record.value.as_deref() else {
            return Ok(None);
        };
        let text = std::str::from_utf8(bytes)
            .map_err(|e| reject(RejectClass::InvalidUtf8, format!("value is not UTF-8: {e}")))?;
        let json = Json::parse(text)
            .map_err(|e| reject(RejectClass::InvalidJson, format!("value is not JSON: {e}")))?;
        let Some(envelope) =
            Envelope::read(json).map_err(|m| reject(RejectClass::InvalidJson, m))?
        else {
            // `{"schema": …, "payload": null}`: the JSON converter's spelling of no value.
            return Ok(None);
        };
        let (op, image_name) = operation(&envelope.op)?;
        let image = envelope
            .image(image_name)
            .map_err(|m| reject(RejectClass::InvalidJson, m))?;
        if op == ChangeOp::Upsert && image.is_none() {
            return Err(reject(
                RejectClass::InvalidJson,
                format!("a change with op `{}` has no `after` row", envelope.op),
            ));
        }
        let mut values = self.cells(op, &envelope, image.as_ref())?;
        self.fill_key(record, image_name, &mut values)?;
        self.check(op, &values)?;
        Ok(Some((op, values)))
    }

    /// One cell converted to its column's type, or the reject that names the column.
    fn convert(
        &self,
        col: &ColumnPlan,
        item: &Json<'_>,
        schema: Option<&FieldSchema>,
    ) -> Result<Value, RowError> {
        typed(item, schema, &col.ty, &self.zone).map_err(|e| {
            reject(
                e.class,
                format!("column `{}` ({}): {}", col.name, col.ty, e.detail),
            )
        })
    }

    /// The cells the row image and the envelope give, one per column (NULL where they give
    /// none); a delete takes only its key cells.
    fn cells(
        &self,
        op: ChangeOp,
        envelope: &Envelope<'_>,
        image: Option<&Image<'_>>,
    ) -> Result<Vec<Value>, RowError> {
        let mut values = Vec::with_capacity(self.columns.len());
        for (i, col) in self.columns.iter().enumerate() {
            if op == ChangeOp::Delete && !self.key.contains(&i) {
                values.push(Value::Null);
                continue;
            }
            let item = match col.source {
                Source::Field => image.and_then(|img| img.field(&col.name)),
                Source::Op => {
                    values.push(Value::text(envelope.op.as_ref()));
                    continue;
                }
                Source::Ts => envelope.source_field("ts_ms").map(|item| (item, None)),
                Source::Db => envelope.source_field("db").map(|item| (item, None)),
                Source::Table => envelope.source_field("table").map(|item| (item, None)),
            };
            values.push(match item {
                Some((item, schema)) => self.convert(col, &item, schema)?,
                None => Value::Null,
            });
        }
        Ok(values)
    }

    /// Fills the key cells the row image did not give from the record key; a key cell that is
    /// still NULL is a `missing_key` reject.
    fn fill_key(
        &self,
        record: &KafkaRecord,
        image_name: &str,
        values: &mut [Value],
    ) -> Result<(), RowError> {
        let key_image = record_key(record).map_err(|m| reject(RejectClass::InvalidJson, m))?;
        for &i in &self.key {
            let (Some(col), Some(slot)) = (self.columns.get(i), values.get_mut(i)) else {
                continue;
            };
            if !slot.is_null() {
                continue;
            }
            if let Some((item, schema)) = key_image.as_ref().and_then(|k| k.field(&col.name)) {
                *slot = self.convert(col, &item, schema)?;
            } else if let Some(KeyImage::Scalar(item)) = &key_image
                && self.key.len() == 1
            {
                *slot = self.convert(col, item, None)?;
            }
            if slot.is_null() {
                return Err(reject(
                    RejectClass::MissingKey,
                    format!(
                        "primary key column `{}` has no value in `{image_name}` nor in the record key",
                        col.name
                    ),
                ));
            }
        }
        Ok(())
    }

    /// An upsert fills every NOT NULL column, and no cell is over MaxCompute's size limit.
    fn check(&self, op: ChangeOp, values: &[Value]) -> Result<(), RowError> {
        for (v, col) in values.iter().zip(&self.columns) {
            if op == ChangeOp::Upsert && v.is_null() && !col.nullable {
                return Err(reject(
                    RejectClass::TypeConversion,
                    format!(
                        "column `{}` is NOT NULL and the change gives it no value",
                        col.name
                    ),
                ));
            }
        }
        for (v, col) in values.iter().zip(&self.columns) {
            let size = cell_bytes(v);
            if size > MAX_CELL_BYTES {
                return Err(reject(
                    RejectClass::CellTooLarge,
                    format!(
                        "column `{}` would hold {size} bytes, over MaxCompute's {MAX_CELL_BYTES}-byte cell limit",
                        col.name
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The primary-key cells of a row, in key order.
    pub fn key_cells(&self, values: &[Value]) -> Vec<Value> {
        self.key
            .iter()
            .map(|&i| values.get(i).cloned().unwrap_or(Value::Null))
            .collect()
    }
}

/// A Connect schema of one field, as the JSON converter's wrapper gives it.
#[derive(Debug, Clone, Default, PartialEq)]
struct FieldSchema {
    /// `int32`, `int64`, `bytes`, `string`, `boolean`, `struct`, …
    ty: String,
    /// The logical type's name, e.g. `io.debezium.time.MicroTimestamp`.
    name: Option<String>,
    /// `parameters.scale` of a fixed-scale decimal.
    scale: Option<u32>,
}

/// A row image (`before`, `after`, or the record key): its fields and, with the wrapper, their
/// schemas by field name.
#[derive(Debug)]
struct Image<'a> {
    fields: Vec<(std::borrow::Cow<'a, str>, Json<'a>)>,
    schemas: HashMap<String, FieldSchema>,
}

impl<'a> Image<'a> {
    fn field(&self, name: &str) -> Option<(Json<'a>, Option<&FieldSchema>)> {
        let item = *Json::field(&self.fields, name)?;
        if item.is_null() {
            return None;
        }
        let schema = self.schemas.get(name).or_else(|| {
            self.schemas
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        });
        Some((item, schema))
    }
}

/// The record key: an object of key columns, or a bare scalar for a one-column key.
enum KeyImage<'a> {
    Object(Image<'a>),
    Scalar(Json<'a>),
}

impl<'a> KeyImage<'a> {
    fn field(&self, name: &str) -> Option<(Json<'a>, Option<&FieldSchema>)> {
        match self {
            Self::Object(image) => image.field(name),
            Self::Scalar(_) => None,
        }
    }
}

/// The record key read as Debezium writes it; `Ok(None)` when there is none. A key that is not
/// JSON is read as text (a one-column key written by a string serializer).
fn record_key(record: &KafkaRecord) -> Result<Option<KeyImage<'_>>, String> {
    let Some(bytes) = record.key.as_deref() else {
        return Ok(None);
    };
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(None);
    };
    let Ok(json) = Json::parse(text) else {
        return Ok(None);
    };
    let (payload, schema) = unwrap(json).map_err(|e| format!("key: {e}"))?;
    let Some(payload) = payload else {
        return Ok(None);
    };
    match payload.kind() {
        Ok(Kind::Object(fields)) => Ok(Some(KeyImage::Object(Image {
            fields,
            schemas: schema.map(struct_fields).unwrap_or_default(),
        }))),
        Ok(Kind::Array(_)) | Err(_) => Ok(None),
        Ok(_) => Ok(Some(KeyImage::Scalar(payload))),
    }
}

/// `{"schema": …, "payload": …}` → the payload (`None` when null) and the schema; anything
/// else is its own payload, without a schema.
fn unwrap(json: Json<'_>) -> Result<(Option<Json<'_>>, Option<Json<'_>>), String> {
    if let Ok(Kind::Object(fields)) = json.kind()
        && fields.len() == 2
        && let (Some(schema), Some(payload)) = (
            Json::field(&fields, "schema").copied(),
            Json::field(&fields, "payload").copied(),
        )
    {
        let payload = (!payload.is_null()).then_some(payload);
        let schema = (!schema.is_null()).then_some(schema);
        return Ok((payload, schema));
    }
    Ok((Some(json), None))
}

/// The schemas of a struct schema's fields, by field name.
fn struct_fields(schema: Json<'_>) -> HashMap<String, FieldSchema> {
    let mut out = HashMap::new();
    let Ok(Kind::Object(fields)) = schema.kind() else {
        return out;
    };
    let Some(Ok(Kind::Array(items))) = Json::field(&fields, "fields").map(Json::kind) else {
        return out;
    };
    for item in items {
        let Ok(Kind::Object(f)) = item.kind() else {
            continue;
        };
        let text = |name: &str| match Json::field(&f, name).map(Json::kind) {
            Some(Ok(Kind::String(s))) => Some(s.into_owned()),
            _ => None,
        };
        let Some(field) = text("field") else {
            continue;
        };
        let scale = match Json::field(&f, "parameters").map(Json::kind) {
            Some(Ok(Kind::Object(params))) => match Json::field(&params, "scale").map(Json::kind) {
                Some(Ok(Kind::String(s))) => s.parse().ok(),
                Some(Ok(Kind::Number(n))) => n.parse().ok(),
                _ => None,
            },
            _ => None,
        };
        out.insert(
            field,
            FieldSchema {
                ty: text("type").unwrap_or_default(),
                name: text("name"),
                scale,
            },
        );
    }
    out
}

/// The schema of the envelope field `name` (`before`, `after`), a struct schema.
fn envelope_field_schema<'a>(schema: Json<'a>, name: &str) -> Option<Json<'a>> {
    let Ok(Kind::Object(fields)) = schema.kind() else {
        return None;
    };
    let Ok(Kind::Array(items)) = Json::field(&fields, "fields")?.kind() else {
        return None;
    };
    items.into_iter().find(|item| match item.kind() {
        Ok(Kind::Object(f)) => {
            matches!(Json::field(&f, "field").map(Json::kind), Some(Ok(Kind::String(s))) if s == name)
        }
        _ => false,
    })
}

/// A change event's envelope.
struct Envelope<'a> {
    op: std::borrow::Cow<'a, str>,
    fields: Vec<(std::borrow::Cow<'a, str>, Json<'a>)>,
    schema: Option<Json<'a>>,
}

impl<'a> Envelope<'a> {
    /// The envelope of a value; `Ok(None)` for a wrapper whose payload is null.
    fn read(json: Json<'a>) -> Result<Option<Self>, String> {
        let (payload, schema) = unwrap(json)?;
        let Some(payload) = payload else {
            return Ok(None);
        };
        let Ok(Kind::Object(fields)) = payload.kind() else {
            return Err("value is JSON but not a Debezium change event (an object)".to_owned());
        };
        let op = match Json::field(&fields, "op").map(Json::kind) {
            Some(Ok(Kind::String(op))) => op,
            Some(_) => return Err("the change event's `op` is not a string".to_owned()),
            None => return Err("value is not a Debezium change event: it has no `op`".to_owned()),
        };
        Ok(Some(Self { op, fields, schema }))
    }

    /// The row image `before` or `after`; `Ok(None)` when absent or null.
    fn image(&self, name: &str) -> Result<Option<Image<'a>>, String> {
        let Some(item) = Json::field(&self.fields, name).copied() else {
            return Ok(None);
        };
        if item.is_null() {
            return Ok(None);
        }
        let Ok(Kind::Object(fields)) = item.kind() else {
            return Err(format!("the change event's `{name}` is not an object"));
        };
        let schemas = self
            .schema
            .and_then(|s| envelope_field_schema(s, name))
            .map(struct_fields)
            .unwrap_or_default();
        Ok(Some(Image { fields, schemas }))
    }

    /// A field of `source`, when present and not null.
    fn source_field(&self, name: &str) -> Option<Json<'a>> {
        let source = Json::field(&self.fields, "source")?;
        let Ok(Kind::Object(fields)) = source.kind() else {
            return None;
        };
        Json::field(&fields, name).copied().filter(|j| !j.is_null())
    }
}

/// An epoch count in `per_second` units per second.
fn epoch_cell(item: &Json<'_>, per_second: i64, ty: &OdpsType) -> Option<Result<Value, CellError>> {
    let Ok(Kind::Number(n)) = item.kind() else {
        return None;
    };
    let Ok(count) = n.parse::<i64>() else {
        return Some(Err(conversion(format!(
            "`{}` is not an epoch count",
            excerpt(n)
        ))));
    };
    let seconds = count.div_euclid(per_second);
    let fraction = count.rem_euclid(per_second);
    // In 0..1e9 by construction: a fraction of a second, in nanoseconds.
    let nanos = (i128::from(fraction) * 1_000_000_000 / i128::from(per_second)) as u32;
    Some(match ty {
        OdpsType::Timestamp | OdpsType::TimestampNtz => Ok(Value::Timestamp { seconds, nanos }),
        OdpsType::DateTime if nanos.is_multiple_of(1_000_000) => Ok(Value::DateTime(
            seconds.saturating_mul(1000) + i64::from(nanos / 1_000_000),
        )),
        OdpsType::DateTime => Err(conversion(format!(
            "`{n}` has digits below the millisecond, which DATETIME does not hold: use a TIMESTAMP column"
        ))),
        _ => return None,
    })
}

/// Days since the epoch into DATE or DATETIME.
fn days_cell(item: &Json<'_>, ty: &OdpsType) -> Option<Result<Value, CellError>> {
    let Ok(Kind::Number(n)) = item.kind() else {
        return None;
    };
    let Ok(days) = n.parse::<i64>() else {
        return Some(Err(conversion(format!(
            "`{}` is not a day count",
            excerpt(n)
        ))));
    };
    Some(match ty {
        OdpsType::Date => Ok(Value::Date(days)),
        OdpsType::DateTime => Ok(Value::DateTime(days.saturating_mul(86_400_000))),
        _ => return None,
    })
}

/// The decimal text of a big-endian two's-complement unscaled value at `scale`.
fn decimal_text(bytes: &[u8], scale: u32) -> Result<String, CellError> {
    if bytes.len() > 16 {
        return Err(conversion(format!(
            "a decimal of {} bytes is beyond 38 digits",
            bytes.len()
        )));
    }
    let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
    let mut unscaled: i128 = if negative { -1 } else { 0 };
    for b in bytes {
        unscaled = (unscaled << 8) | i128::from(*b);
    }
    let digits = unscaled.unsigned_abs().to_string();
    let scale = scale as usize;
    let (int, frac) = if digits.len() > scale {
        digits.split_at(digits.len() - scale)
    } else {
        ("0", "")
    };
    let frac = if digits.len() > scale {
        frac.to_owned()
    } else {
        format!("{}{digits}", "0".repeat(scale - digits.len()))
    };
    let sign = if negative { "-" } else { "" };
    Ok(if scale == 0 {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    })
}

fn base64_bytes(item: &Json<'_>) -> Result<Vec<u8>, CellError> {
    let Ok(Kind::String(s)) = item.kind() else {
        return Err(conversion("expected base64 text for bytes".to_owned()));
    };
    base64::engine::general_purpose::STANDARD
        .decode(s.as_bytes())
        .map_err(|e| conversion(format!("`{}` is not base64: {e}", excerpt(&s))))
}

/// A decimal's text into a column: DECIMAL fitted to its scale, DOUBLE and FLOAT parsed, text
/// columns as written.
fn decimal_into(text: &str, ty: &OdpsType) -> Option<Result<Value, CellError>> {
    Some(match ty {
        OdpsType::Decimal { precision, scale } => {
            convert::decimal(text, *precision, *scale).map(Value::Decimal)
        }
        OdpsType::Double => text
            .parse::<f64>()
            .map(Value::Double)
            .map_err(|_| conversion(format!("`{text}` is not a double"))),
        OdpsType::Float => text
            .parse::<f32>()
            .map(Value::Float)
            .map_err(|_| conversion(format!("`{text}` is not a float"))),
        t if t.is_text() => convert::text_cell(text, t),
        _ => return None,
    })
}

/// One value with its field's Connect schema (when the wrapper gives one) into `ty`.
fn typed(
    item: &Json<'_>,
    schema: Option<&FieldSchema>,
    ty: &OdpsType,
    zone: &Zone,
) -> Result<Value, CellError> {
    if item.is_null() {
        return Ok(Value::Null);
    }
    let Some(schema) = schema else {
        return convert::from_json(item, ty, zone);
    };
    let special = match schema.name.as_deref() {
        Some("io.debezium.time.Timestamp" | "org.apache.kafka.connect.data.Timestamp") => {
            epoch_cell(item, 1_000, ty)
        }
        Some("io.debezium.time.MicroTimestamp") => epoch_cell(item, 1_000_000, ty),
        Some("io.debezium.time.NanoTimestamp") => epoch_cell(item, 1_000_000_000, ty),
        Some("io.debezium.time.Date" | "org.apache.kafka.connect.data.Date") => days_cell(item, ty),
        Some("org.apache.kafka.connect.data.Decimal") => {
            let scale = schema.scale.unwrap_or(0);
            Some(base64_bytes(item).and_then(|b| decimal_text(&b, scale))).and_then(|text| {
                match text {
                    Ok(text) => decimal_into(&text, ty),
                    Err(e) => Some(Err(e)),
                }
            })
        }
        Some("io.debezium.data.VariableScaleDecimal") => {
            variable_decimal(item).map_or_else(|e| Some(Err(e)), |text| decimal_into(&text, ty))
        }
        _ if schema.ty == "bytes" && matches!(ty, OdpsType::Binary | OdpsType::String) => {
            Some(base64_bytes(item).map(Value::Bytes))
        }
        _ => None,
    };
    special.unwrap_or_else(|| convert::from_json(item, ty, zone))
}

/// `io.debezium.data.VariableScaleDecimal`: `{"scale": s, "value": "<base64>"}`.
fn variable_decimal(item: &Json<'_>) -> Result<String, CellError> {
    let Ok(Kind::Object(fields)) = item.kind() else {
        return Err(conversion(
            "a variable-scale decimal is an object with `scale` and `value`".to_owned(),
        ));
    };
    let scale = match Json::field(&fields, "scale").map(Json::kind) {
        Some(Ok(Kind::Number(n))) => n.parse::<u32>().ok(),
        _ => None,
    }
    .ok_or_else(|| conversion("a variable-scale decimal without a `scale`".to_owned()))?;
    let value = Json::field(&fields, "value")
        .ok_or_else(|| conversion("a variable-scale decimal without a `value`".to_owned()))?;
    decimal_text(&base64_bytes(value)?, scale)
}

fn conversion(detail: String) -> CellError {
    CellError {
        class: RejectClass::TypeConversion,
        detail,
    }
}

/// The identity of a key for collapsing changes: the cells' kinds and bytes.
fn identity(cells: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for cell in cells {
        match cell {
            Value::Integer(i) => {
                out.push(b'i');
                out.extend(i.to_be_bytes());
            }
            Value::Bytes(b) => {
                out.push(b's');
                out.extend((b.len() as u64).to_be_bytes());
                out.extend(b);
            }
            other => {
                let text = format!("{other:?}");
                out.push(b'o');
                out.extend((text.len() as u64).to_be_bytes());
                out.extend(text.bytes());
            }
        }
    }
    out
}

/// Builds the changes of a batch: each record's change routed to its partition by `router`
/// (`None`: a table without partition columns, written whole), and of several changes to one
/// key in one partition only the last in (topic, partition, offset) order kept. Records are read
/// in that order whatever order they come in.
pub fn build_changes<'a>(
    records: &'a [KafkaRecord],
    builder: &ChangeBuilder,
    router: Option<&PartitionRouter>,
    now_ms: i64,
) -> BuiltChanges<'a> {
    let mut specs = router.map(Specs::new);
    let mut out = BuiltChanges::default();
    // Per partition, where each key's change is in its list.
    let mut seen: HashMap<Option<PartitionSpec>, HashMap<Vec<u8>, usize>> = HashMap::new();
    for record in KafkaRecord::in_order(records) {
        let (op, values) = match builder.change(record) {
            Ok(Some(change)) => change,
            Ok(None) => {
                out.tombstones += 1;
                continue;
            }
            Err(e) => {
                out.rejects
                    .push(Reject::from_record(record, e.class, e.message));
                continue;
            }
        };
        let spec = match &mut specs {
            None => None,
            Some(specs) => match specs.of(record.event_time_ms(), now_ms) {
                Ok(spec) => Some(spec.clone()),
                Err(e) => {
                    out.rejects.push(Reject::from_record(
                        record,
                        RejectClass::PartitionValue,
                        e.to_string(),
                    ));
                    continue;
                }
            },
        };
        let id = identity(&builder.key_cells(&values));
        let change = Change { record, op, values };
        let changes = out.partitions.entry(spec.clone()).or_default();
        let positions = seen.entry(spec).or_default();
        match positions.get(&id).and_then(|&at| changes.get_mut(at)) {
            Some(earlier) => {
                *earlier = change;
                out.superseded += 1;
            }
            None => {
                positions.insert(id, changes.len());
                changes.push(change);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn decimals_from_two_s_complement_bytes() {
        assert_eq!(decimal_text(&[0x04, 0xd2], 2).unwrap(), "12.34");
        assert_eq!(decimal_text(&[0xfb, 0x2e], 2).unwrap(), "-12.34");
        assert_eq!(decimal_text(&[0x05], 3).unwrap(), "0.005");
        assert_eq!(decimal_text(&[0xff], 0).unwrap(), "-1");
        assert_eq!(decimal_text(&[], 0).unwrap(), "0");
        assert_eq!(decimal_text(&[0x00, 0x80], 1).unwrap(), "12.8");
        assert!(decimal_text(&[1; 17], 0).is_err());
    }

    #[test]
    fn key_identity_tells_kinds_apart() {
        assert_ne!(
            identity(&[Value::Integer(1)]),
            identity(&[Value::text("1")])
        );
        assert_ne!(
            identity(&[Value::text("a"), Value::text("bc")]),
            identity(&[Value::text("ab"), Value::text("c")])
        );
        assert_eq!(
            identity(&[Value::Integer(7)]),
            identity(&[Value::Integer(7)])
        );
    }
}
