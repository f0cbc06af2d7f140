//! Column types for JSON fields, inferred from their values by one rule, and the check that a
//! value still fits the column its field made.
//!
//! The rule (the first non-null value of a field decides its column's type):
//!
//! | JSON value | column |
//! |---|---|
//! | integer (no `.`, no exponent) within 64 bits | `BIGINT` |
//! | any other number | `DOUBLE`, or `DECIMAL(38,18)` with `SINK_JSON_NUMBER=decimal` |
//! | `true` / `false` | `BOOLEAN` |
//! | string | `STRING` |
//! | object or array | `JSON` (its text as written; pyodps and the emulator read it back) |
//! | `null` | no column yet: the type is unknown until a value arrives |
//!
//! Column names come from field names by [`super::naming`]'s rule. A value fits a column when
//! its own type by the rule is the column's (an integer also fits `DOUBLE` and `DECIMAL`, which
//! hold it exactly enough to be the same number); anything else is a `schema_mismatch`, never a
//! silent conversion (`"12"` into `BIGINT`, `12` into `STRING`). Columns of types the rule never
//! makes (a user's `DATETIME`, `MAP<...>`) keep the row builder's ordinary conversions.
//!
//! No I/O.

use std::collections::HashSet;

use super::json::{Json, Kind};
use super::naming::maxcompute_name;
use super::{Field, Mode};
use crate::event::KafkaRecord;
use crate::types::{Column, OdpsType};

/// What a JSON number that is not a 64-bit integer becomes (`SINK_JSON_NUMBER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JsonNumber {
    /// `DOUBLE`: fast and what most readers expect; a number's digits beyond double's precision
    /// are rounded.
    #[default]
    Double,
    /// `DECIMAL(38,18)`: every digit kept, within 20 integer and 18 fraction digits.
    Decimal,
}

/// The `DECIMAL` a created or added column of non-integer numbers gets.
pub const DECIMAL_COLUMN: OdpsType = OdpsType::Decimal {
    precision: 38,
    scale: 18,
};

/// The type of a JSON value by the rule; `None` for `null` (no type yet).
pub(crate) fn type_of(kind: &Kind<'_>, number: JsonNumber) -> Option<OdpsType> {
    Some(match kind {
        Kind::Null => return None,
        Kind::Bool(_) => OdpsType::Boolean,
        Kind::Number(n) if is_integer(n) => OdpsType::BigInt,
        Kind::Number(_) => match number {
            JsonNumber::Double => OdpsType::Double,
            JsonNumber::Decimal => DECIMAL_COLUMN,
        },
        Kind::String(_) => OdpsType::String,
        Kind::Array(_) | Kind::Object(_) => OdpsType::Json,
    })
}

/// Whether a JSON number's text is an integer MaxCompute's BIGINT holds.
fn is_integer(n: &str) -> bool {
    !n.contains(['.', 'e', 'E']) && n.parse::<i64>().is_ok()
}

/// Whether a value of `kind` fits column type `ty` without conversion: `None` when `ty` is not a
/// type the rule makes (the ordinary conversions decide).
pub(crate) fn fits(kind: &Kind<'_>, ty: &OdpsType) -> Option<bool> {
    let fits = match ty {
        OdpsType::BigInt => matches!(kind, Kind::Number(n) if is_integer(n)),
        OdpsType::Double | OdpsType::Decimal { .. } => matches!(kind, Kind::Number(_)),
        OdpsType::Boolean => matches!(kind, Kind::Bool(_)),
        OdpsType::String => matches!(kind, Kind::String(_)),
        OdpsType::Json => matches!(kind, Kind::Array(_) | Kind::Object(_)),
        _ => return None,
    };
    Some(kind == &Kind::Null || fits)
}

/// The kind of a JSON value, for messages.
pub(crate) fn kind_name(kind: &Kind<'_>) -> &'static str {
    match kind {
        Kind::Null => "null",
        Kind::Bool(_) => "a boolean",
        Kind::Number(n) if is_integer(n) => "an integer",
        Kind::Number(_) => "a number",
        Kind::String(_) => "a string",
        Kind::Array(_) => "an array",
        Kind::Object(_) => "an object",
    }
}

/// The columns the top-level fields of `records`' JSON payloads (the key in KEY mode, else the
/// value) need and `has_column` says the table lacks, in the order the fields first appear,
/// typed by the first non-null value. Records that are not JSON objects, fields whose names have
/// no MaxCompute name and null values are passed over: the row builder rejects or ignores them.
pub fn missing_columns<'r>(
    records: impl IntoIterator<Item = &'r KafkaRecord>,
    mode: Mode,
    number: JsonNumber,
    has_column: impl Fn(&str) -> bool,
) -> Vec<Column> {
    let field = match mode {
        Mode::Key => Field::Key,
        Mode::Value | Mode::Default => Field::Value,
    };
    let mut seen = HashSet::new();
    let mut columns = Vec::new();
    for record in records {
        let Some(text) = field.of(record).and_then(|b| std::str::from_utf8(b).ok()) else {
            continue;
        };
        let Ok(Kind::Object(fields)) = Json::parse(text).and_then(|j| j.kind()) else {
            continue;
        };
        for (name, value) in &fields {
            let Ok(column) = maxcompute_name(name) else {
                continue;
            };
            if seen.contains(&column) || has_column(&column) {
                continue;
            }
            let Some(ty) = value.kind().ok().and_then(|k| type_of(&k, number)) else {
                continue;
            };
            seen.insert(column.clone());
            columns.push(Column::new(column, ty));
        }
    }
    columns
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use crate::event::{Headers, TimestampType};
    use bytes::Bytes;

    fn record(value: &str) -> KafkaRecord {
        KafkaRecord {
            topic: "t".into(),
            partition: 0,
            offset: 0,
            timestamp_ms: 0,
            timestamp_type: TimestampType::CreateTime,
            key: None,
            value: Some(Bytes::from(value.as_bytes().to_vec())),
            headers: Headers::default(),
        }
    }

    fn kind(text: &str) -> Kind<'_> {
        Json::parse(text).unwrap().kind().unwrap()
    }

    #[test]
    fn each_json_kind_has_one_column_type() {
        let d = JsonNumber::Double;
        assert_eq!(type_of(&kind("12"), d), Some(OdpsType::BigInt));
        assert_eq!(
            type_of(&kind("-9223372036854775808"), d),
            Some(OdpsType::BigInt)
        );
        // Past 64 bits, or with a fraction or exponent, a number is not an integer.
        assert_eq!(
            type_of(&kind("9223372036854775808"), d),
            Some(OdpsType::Double)
        );
        assert_eq!(type_of(&kind("1.0"), d), Some(OdpsType::Double));
        assert_eq!(type_of(&kind("1e3"), d), Some(OdpsType::Double));
        assert_eq!(
            type_of(&kind("1.5"), JsonNumber::Decimal),
            Some(DECIMAL_COLUMN)
        );
        assert_eq!(type_of(&kind("true"), d), Some(OdpsType::Boolean));
        assert_eq!(type_of(&kind(r#""x""#), d), Some(OdpsType::String));
        assert_eq!(type_of(&kind("[1]"), d), Some(OdpsType::Json));
        assert_eq!(type_of(&kind(r#"{"a":1}"#), d), Some(OdpsType::Json));
        assert_eq!(type_of(&kind("null"), d), None);
    }

    #[test]
    fn a_value_fits_only_the_column_its_own_type_would_make() {
        assert_eq!(fits(&kind("12"), &OdpsType::BigInt), Some(true));
        assert_eq!(fits(&kind("12"), &OdpsType::Double), Some(true));
        assert_eq!(fits(&kind("12.5"), &OdpsType::BigInt), Some(false));
        assert_eq!(fits(&kind(r#""12""#), &OdpsType::BigInt), Some(false));
        assert_eq!(fits(&kind("12"), &OdpsType::String), Some(false));
        assert_eq!(fits(&kind("true"), &OdpsType::String), Some(false));
        assert_eq!(fits(&kind(r#""x""#), &OdpsType::Json), Some(false));
        assert_eq!(fits(&kind("null"), &OdpsType::BigInt), Some(true));
        assert_eq!(fits(&kind("12"), &OdpsType::DateTime), None);
    }

    #[test]
    fn missing_columns_follow_first_appearance_and_first_non_null_value() {
        let records = [
            record(r#"{"id": 1, "Name": "a", "note": null}"#),
            record("not json"),
            record(r#"{"id": 2.5, "note": "n", "tags": [1], "_x": 1, "price": 1.25}"#),
        ];
        let columns = missing_columns(&records, Mode::Value, JsonNumber::Double, |c| c == "name");
        let got: Vec<(String, OdpsType)> = columns.into_iter().map(|c| (c.name, c.ty)).collect();
        assert_eq!(
            got,
            vec![
                ("id".to_owned(), OdpsType::BigInt),
                ("note".to_owned(), OdpsType::String),
                ("tags".to_owned(), OdpsType::Json),
                ("price".to_owned(), OdpsType::Double),
            ]
        );
    }
}
