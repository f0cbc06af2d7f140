//! Converting one cell (CSV text or a JSON value) to a MaxCompute [`Value`] of a column's type.
//!
//! Text conversions are strict about content and lenient about surrounding ASCII whitespace for
//! non-text types (`" 42"` is 42). A JSON number is converted from its text, never through
//! `f64`: a DECIMAL keeps its digits, a DOUBLE or FLOAT is the correctly rounded nearest value,
//! an integer column takes only integral values. Nothing is truncated: a value that does not fit
//! its type (an integer out of range, a decimal with too many integer digits, a DATETIME with
//! sub-millisecond digits) is an error, never a silent change. The one rounding is MaxCompute's
//! own: a decimal with more fraction digits than its column's scale is rounded half-up to it.

use chrono::{Datelike, NaiveDate, NaiveDateTime};

use super::json::{Json, Kind};
use crate::decimal::{Decimal, Overflow};
use crate::event::{RejectClass, excerpt};
use crate::partition::Zone;
use crate::types::{OdpsType, Value};

/// A cell that does not convert. The column is added by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CellError {
    pub class: RejectClass,
    pub detail: String,
}

impl CellError {
    fn conversion(detail: String) -> Self {
        Self {
            class: RejectClass::TypeConversion,
            detail,
        }
    }
}

fn not_a(text: &str, what: &str) -> CellError {
    CellError::conversion(format!("`{}` is not {what}", excerpt(text)))
}

const EPOCH_DAYS_CE: i32 = 719_163; // days from 0001-01-01 to 1970-01-01

/// Checks text bound for a STRING/VARCHAR/CHAR/JSON column and returns its bytes.
pub(crate) fn text_cell(text: &str, ty: &OdpsType) -> Result<Value, CellError> {
    match ty {
        OdpsType::Varchar(n) | OdpsType::Char(n) => {
            let chars = text.chars().count();
            if chars > *n as usize {
                return Err(CellError::conversion(format!(
                    "{chars} characters do not fit {ty}"
                )));
            }
        }
        OdpsType::Json if serde_json::from_str::<serde::de::IgnoredAny>(text).is_err() => {
            return Err(CellError {
                class: RejectClass::InvalidJson,
                detail: format!("`{}` is not JSON", excerpt(text)),
            });
        }
        _ => {}
    }
    Ok(Value::Bytes(text.as_bytes().to_vec()))
}

/// Converts one text cell (CSV, or a JSON string) to `ty`. Empty text is NULL for every
/// non-text type (CSV writers commonly leave NULLs empty).
pub(crate) fn from_text(text: &str, ty: &OdpsType, zone: &Zone) -> Result<Value, CellError> {
    if ty.is_text() {
        return text_cell(text, ty);
    }
    if let OdpsType::Binary = ty {
        return Ok(Value::Bytes(text.as_bytes().to_vec()));
    }
    let t = text.trim_ascii();
    if t.is_empty() {
        return Ok(Value::Null);
    }
    match ty {
        OdpsType::Boolean => {
            if t.eq_ignore_ascii_case("true") {
                Ok(Value::Boolean(true))
            } else if t.eq_ignore_ascii_case("false") {
                Ok(Value::Boolean(false))
            } else {
                Err(not_a(t, "a boolean (true or false)"))
            }
        }
        OdpsType::TinyInt | OdpsType::SmallInt | OdpsType::Int | OdpsType::BigInt => {
            let n: i64 = t.parse().map_err(|_| not_a(t, "an integer"))?;
            integer(n, ty)
        }
        OdpsType::Float => {
            let f: f32 = t.parse().map_err(|_| not_a(t, "a number"))?;
            if f.is_infinite() && !mentions_infinity(t) {
                return Err(CellError::conversion(format!(
                    "`{}` overflows float",
                    excerpt(t)
                )));
            }
            Ok(Value::Float(f))
        }
        OdpsType::Double => {
            let f: f64 = t.parse().map_err(|_| not_a(t, "a number"))?;
            if f.is_infinite() && !mentions_infinity(t) {
                return Err(CellError::conversion(format!(
                    "`{}` overflows double",
                    excerpt(t)
                )));
            }
            Ok(Value::Double(f))
        }
        OdpsType::Decimal { precision, scale } => {
            decimal(t, *precision, *scale).map(Value::Decimal)
        }
        OdpsType::Date => {
            let d = NaiveDate::parse_from_str(t, "%Y-%m-%d")
                .map_err(|_| not_a(t, "a date (yyyy-mm-dd)"))?;
            Ok(Value::Date(i64::from(
                Datelike::num_days_from_ce(&d) - EPOCH_DAYS_CE,
            )))
        }
        OdpsType::DateTime => {
            let local = local_datetime(t)?;
            let instant = resolve(&local, zone, t)?;
            if instant.timestamp_subsec_nanos() % 1_000_000 != 0 {
                return Err(CellError::conversion(format!(
                    "`{}` has digits below the millisecond, which datetime cannot hold",
                    excerpt(t)
                )));
            }
            Ok(Value::DateTime(instant.timestamp_millis()))
        }
        OdpsType::Timestamp => {
            let local = local_datetime(t)?;
            let instant = resolve(&local, zone, t)?;
            Ok(Value::Timestamp {
                seconds: instant.timestamp(),
                nanos: instant.timestamp_subsec_nanos(),
            })
        }
        OdpsType::TimestampNtz => {
            // No zone: the wall-clock time is stored as is (as if UTC).
            let utc = local_datetime(t)?.and_utc();
            Ok(Value::Timestamp {
                seconds: utc.timestamp(),
                nanos: utc.timestamp_subsec_nanos(),
            })
        }
        OdpsType::Array(_) | OdpsType::Map(..) | OdpsType::Struct(_) => {
            let json = Json::parse(t).map_err(|_| CellError {
                class: RejectClass::InvalidJson,
                detail: format!("`{}` is not JSON for a {ty} column", excerpt(t)),
            })?;
            from_json(&json, ty, zone)
        }
        // Text and binary types returned above.
        _ => Ok(Value::Bytes(text.as_bytes().to_vec())),
    }
}

fn mentions_infinity(t: &str) -> bool {
    t.to_ascii_lowercase().contains("inf")
}

/// MaxCompute's BIGINT is -2^63+1 to 2^63-1: the service and its Java SDK refuse -2^63, so a
/// record giving it is a reject here rather than an upload the service refuses whole. (The wire
/// codec carries any i64, as pyodps writes it.)
const BIGINT_MIN: i64 = i64::MIN + 1;

fn integer(n: i64, ty: &OdpsType) -> Result<Value, CellError> {
    let range = match ty {
        OdpsType::BigInt => Some((BIGINT_MIN, i64::MAX)),
        _ => ty.integer_range(),
    };
    match range {
        Some((lo, hi)) if n < lo || n > hi => Err(CellError::conversion(format!(
            "{n} is out of range for {ty} ({lo}..={hi})"
        ))),
        _ => Ok(Value::Integer(n)),
    }
}

/// `yyyy-mm-dd hh:mm:ss[.fraction]`, also with `T` between date and time.
fn local_datetime(t: &str) -> Result<NaiveDateTime, CellError> {
    NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f"))
        .map_err(|_| not_a(t, "a date-time (yyyy-mm-dd hh:mm:ss[.fff])"))
}

fn resolve(
    local: &NaiveDateTime,
    zone: &Zone,
    t: &str,
) -> Result<chrono::DateTime<chrono::Utc>, CellError> {
    zone.instant(local).ok_or_else(|| {
        CellError::conversion(format!(
            "`{}` does not exist in {zone} (clocks skip it)",
            excerpt(t)
        ))
    })
}

/// Fits a decimal (plain or exponent form) to `decimal(precision, scale)`: the plain text the
/// column holds, rounded half-up where the scale requires it (see [`crate::decimal`]).
pub(crate) fn decimal(t: &str, precision: u8, scale: u8) -> Result<String, CellError> {
    let parsed = Decimal::parse(t).ok_or_else(|| not_a(t, "a decimal number"))?;
    parsed
        .fit(precision, scale)
        .map_err(|Overflow { integer_digits }| {
            CellError::conversion(format!(
                "`{}` has {integer_digits} integer digits, more than decimal({precision},{scale}) holds",
                excerpt(t)
            ))
        })
}

/// A JSON number bound for an integer-like column: integral (`1.0` and `1e3` are) and an `i64`.
fn json_integer(n: &str) -> Option<i64> {
    n.parse().ok().or_else(|| Decimal::parse(n)?.to_i64())
}

fn json_kind(kind: &Kind<'_>) -> &'static str {
    match kind {
        Kind::Null => "null",
        Kind::Bool(_) => "a boolean",
        Kind::Number(_) => "a number",
        Kind::String(_) => "a string",
        Kind::Array(_) => "an array",
        Kind::Object(_) => "an object",
    }
}

fn mismatch(kind: &Kind<'_>, ty: &OdpsType) -> CellError {
    CellError::conversion(format!(
        "{} cannot be written to a {ty} column",
        json_kind(kind)
    ))
}

/// Converts a JSON value to `ty`. Strings go through [`from_text`]; numbers are converted from
/// their text (an integer column takes only integral numbers); objects and arrays become their
/// JSON text as written in a text column, or ARRAY/MAP/STRUCT values when the column is one.
pub(crate) fn from_json(v: &Json<'_>, ty: &OdpsType, zone: &Zone) -> Result<Value, CellError> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    if let OdpsType::Json = ty {
        // A JSON column holds the value itself, whatever its kind, as written (compacted).
        return Ok(Value::Bytes(v.compact().into_owned().into_bytes()));
    }
    let kind = v.kind().map_err(|e| CellError {
        class: RejectClass::InvalidJson,
        detail: format!("`{}` is not JSON: {e}", excerpt(v.raw)),
    })?;
    match (&kind, ty) {
        (Kind::String(s), _) => from_text(s, ty, zone),
        (Kind::Bool(b), OdpsType::Boolean) => Ok(Value::Boolean(*b)),
        (Kind::Bool(_), t) if t.is_text() => text_cell(v.raw, t),
        (Kind::Number(n), t) if t.integer_range().is_some() => {
            let i = json_integer(n).ok_or_else(|| {
                CellError::conversion(format!(
                    "`{}` is not an integer in range for {t}",
                    excerpt(n)
                ))
            })?;
            integer(i, t)
        }
        (Kind::Number(n), OdpsType::Double) => match n.parse::<f64>() {
            // Rust's float parsing is correctly rounded; JSON has no infinities, so an
            // infinite result means the number overflowed.
            Ok(f) if f.is_finite() => Ok(Value::Double(f)),
            _ => Err(CellError::conversion(format!(
                "`{}` overflows double",
                excerpt(n)
            ))),
        },
        (Kind::Number(n), OdpsType::Float) => match n.parse::<f32>() {
            // Parsed straight to f32: rounding through f64 first could round twice.
            Ok(f) if f.is_finite() => Ok(Value::Float(f)),
            _ => Err(CellError::conversion(format!(
                "`{}` overflows float",
                excerpt(n)
            ))),
        },
        (Kind::Number(n), OdpsType::Decimal { precision, scale }) => {
            decimal(n, *precision, *scale).map(Value::Decimal)
        }
        (Kind::Number(n), OdpsType::DateTime) => json_integer(n)
            .map(Value::DateTime)
            .ok_or_else(|| not_a(n, "epoch milliseconds")),
        (Kind::Number(n), OdpsType::Timestamp | OdpsType::TimestampNtz) => json_integer(n)
            .map(|ms| Value::Timestamp {
                seconds: ms.div_euclid(1000),
                nanos: (ms.rem_euclid(1000) * 1_000_000) as u32,
            })
            .ok_or_else(|| not_a(n, "epoch milliseconds")),
        // A number's text as written: `1.50` stays `1.50`, `1e3` stays `1e3`.
        (Kind::Number(n), t) if t.is_text() => text_cell(n, t),
        (Kind::Number(n), OdpsType::Binary) => Ok(Value::Bytes(n.as_bytes().to_vec())),
        (Kind::Array(items), OdpsType::Array(elem)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                from_json(item, elem, zone).map_err(|e| CellError {
                    class: e.class,
                    detail: format!("element {i}: {}", e.detail),
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        (Kind::Object(fields), OdpsType::Map(key_ty, value_ty)) => fields
            .iter()
            .map(|(k, item)| {
                let key = from_text(k, key_ty, zone)?;
                let value = from_json(item, value_ty, zone).map_err(|e| CellError {
                    class: e.class,
                    detail: format!("entry `{}`: {}", excerpt(k), e.detail),
                })?;
                Ok((key, value))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Map),
        (Kind::Object(fields), OdpsType::Struct(struct_fields)) => struct_fields
            .iter()
            .map(|field| {
                let item = Json::field(fields, &field.name);
                match item {
                    Some(item) => from_json(item, &field.ty, zone),
                    None => Ok(Value::Null),
                }
                .map_err(|e| CellError {
                    class: e.class,
                    detail: format!("field `{}`: {}", field.name, e.detail),
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Struct),
        (Kind::Array(_) | Kind::Object(_), t) if t.is_text() => text_cell(&v.compact(), t),
        _ => Err(mismatch(&kind, ty)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(s: &str) -> OdpsType {
        s.parse().unwrap()
    }

    fn conv(text: &str, t: &str) -> Result<Value, CellError> {
        from_text(text, &ty(t), &"GMT+08:00".parse().unwrap())
    }

    #[test]
    fn integers_are_range_checked() {
        assert_eq!(conv(" 127 ", "tinyint"), Ok(Value::Integer(127)));
        assert_eq!(
            conv("128", "tinyint").unwrap_err().detail,
            "128 is out of range for tinyint (-128..=127)"
        );
        assert_eq!(conv("-32768", "smallint"), Ok(Value::Integer(-32768)));
        assert!(conv("2147483648", "int").is_err());
        assert_eq!(
            conv("9223372036854775807", "bigint"),
            Ok(Value::Integer(i64::MAX))
        );
        assert_eq!(
            conv("-9223372036854775807", "bigint"),
            Ok(Value::Integer(i64::MIN + 1))
        );
        assert_eq!(
            conv("-9223372036854775808", "bigint").unwrap_err().detail,
            "-9223372036854775808 is out of range for bigint \
             (-9223372036854775807..=9223372036854775807)"
        );
        assert_eq!(
            conv("12x", "bigint").unwrap_err().detail,
            "`12x` is not an integer"
        );
        assert_eq!(conv("", "bigint"), Ok(Value::Null));
    }

    #[test]
    fn floats_booleans_and_text() {
        assert_eq!(conv("1.5", "double"), Ok(Value::Double(1.5)));
        assert_eq!(
            conv("1e39", "float").unwrap_err().detail,
            "`1e39` overflows float"
        );
        assert_eq!(conv("TRUE", "boolean"), Ok(Value::Boolean(true)));
        assert!(conv("yes", "boolean").is_err());
        assert_eq!(conv("", "string"), Ok(Value::text("")));
        assert_eq!(conv("héllo", "varchar(5)"), Ok(Value::text("héllo")));
        assert!(conv("héllo!", "varchar(5)").is_err());
        assert_eq!(
            conv("not json", "json").unwrap_err().class,
            RejectClass::InvalidJson
        );
    }

    #[test]
    fn decimals_are_validated_and_normalised() {
        let d = |t: &str| decimal(t, 10, 2);
        assert_eq!(d("-12.34"), Ok("-12.34".to_owned()));
        assert_eq!(d("+007.5"), Ok("7.5".to_owned()));
        assert_eq!(d(".5"), Ok("0.5".to_owned()));
        assert_eq!(d("1.2300"), Ok("1.23".to_owned()));
        assert_eq!(d("-0.00"), Ok("0.00".to_owned()));
        assert_eq!(d("12345678.9"), Ok("12345678.9".to_owned()));
        assert_eq!(
            d("123456789").unwrap_err().detail,
            "`123456789` has 9 integer digits, more than decimal(10,2) holds"
        );
        // Extra places are rounded half-up, as MaxCompute rounds to the scale.
        assert_eq!(d("1.234"), Ok("1.23".to_owned()));
        assert_eq!(d("1.235"), Ok("1.24".to_owned()));
        assert_eq!(d("-1.235"), Ok("-1.24".to_owned()));
        assert_eq!(d("1e5"), Ok("100000".to_owned()));
        assert_eq!(d("2.5E-1"), Ok("0.25".to_owned()));
        for bad in ["", ".", "-", "1e", "1.2.3", "abc", "1,5", "NaN", "Infinity"] {
            assert_eq!(
                d(bad).unwrap_err().detail,
                format!("`{bad}` is not a decimal number"),
                "{bad}"
            );
        }
    }

    /// The values that used to lose digits through `f64`, as JSON numbers.
    #[test]
    fn json_decimals_keep_every_digit() {
        let z: Zone = "UTC".parse().unwrap();
        let ty = ty("decimal(38,9)");
        let d = |s: &str| from_json(&Json::parse(s).unwrap(), &ty, &z);
        for exact in [
            "123456789012.123456789",
            "12345678.123456789",
            "12345678901234567890.123456789",
            "0.000000001",
            "-99999999999999999999999999999.999999999",
        ] {
            assert_eq!(d(exact), Ok(Value::Decimal(exact.to_owned())), "{exact}");
        }
        assert_eq!(d("1e-9"), Ok(Value::Decimal("0.000000001".to_owned())));
        // 6.73261E-12 has 17 places; decimal(38,9) holds 9, so it rounds to zero.
        assert_eq!(
            d("6.73261E-12"),
            Ok(Value::Decimal("0.000000000".to_owned()))
        );
        assert_eq!(d("5E-10"), Ok(Value::Decimal("0.000000001".to_owned())));
        assert_eq!(
            d("1e29").unwrap_err().detail,
            "`1e29` has 30 integer digits, more than decimal(38,9) holds"
        );
    }

    #[test]
    fn dates_and_times_use_the_zone() {
        assert_eq!(conv("1970-01-02", "date"), Ok(Value::Date(1)));
        assert_eq!(conv("1969-12-31", "date"), Ok(Value::Date(-1)));
        // 2020-11-17 15:00:00 at GMT+8 is 07:00:00Z.
        assert_eq!(
            conv("2020-11-17 15:00:00", "datetime"),
            Ok(Value::DateTime(1_605_596_400_000))
        );
        assert_eq!(
            conv("2020-11-17T15:00:00.250", "datetime"),
            Ok(Value::DateTime(1_605_596_400_250))
        );
        assert!(conv("2020-11-17 15:00:00.0001", "datetime").is_err());
        assert_eq!(
            conv("2020-11-17 15:00:00.123456789", "timestamp"),
            Ok(Value::Timestamp {
                seconds: 1_605_596_400,
                nanos: 123_456_789
            })
        );
        assert_eq!(
            conv("2020-11-17 15:00:00", "timestamp_ntz"),
            Ok(Value::Timestamp {
                seconds: 1_605_625_200,
                nanos: 0
            })
        );
        assert!(conv("2020-11-17", "datetime").is_err());
        let ny: Zone = "America/New_York".parse().unwrap();
        // 2021-03-14 02:30 does not exist in New York.
        let err = from_text("2021-03-14 02:30:00", &OdpsType::DateTime, &ny).unwrap_err();
        assert!(err.detail.contains("does not exist"), "{}", err.detail);
        // 01:30 on 2021-11-07 happens twice: the first (EDT, UTC-4) is taken.
        assert_eq!(
            from_text("2021-11-07 01:30:00", &OdpsType::DateTime, &ny),
            Ok(Value::DateTime(1_636_263_000_000))
        );
    }

    #[test]
    fn json_values_convert_by_type() {
        let z: Zone = "UTC".parse().unwrap();
        let j = |s: &str, t: &str| from_json(&Json::parse(s).unwrap(), &ty(t), &z);
        assert_eq!(j("42", "int"), Ok(Value::Integer(42)));
        assert_eq!(
            j("4.5", "int").unwrap_err().detail,
            "`4.5` is not an integer in range for int"
        );
        assert_eq!(j("4.0", "int"), Ok(Value::Integer(4)));
        assert_eq!(j("1e3", "smallint"), Ok(Value::Integer(1000)));
        assert_eq!(
            j("9223372036854775807", "bigint"),
            Ok(Value::Integer(i64::MAX))
        );
        assert!(j("9223372036854775808", "bigint").is_err());
        assert!(j("1e19", "bigint").is_err());
        assert_eq!(
            j("128", "tinyint").unwrap_err().detail,
            "128 is out of range for tinyint (-128..=127)"
        );
        // Correctly rounded: a parse through serde_json's default float path can be one unit
        // off in the last place for this value.
        assert_eq!(
            j("1077442837911.414", "double"),
            Ok(Value::Double(1077442837911.414))
        );
        assert_eq!(j("0.1", "float"), Ok(Value::Float(0.1_f32)));
        // Just above the midpoint of 1.0 and 1.0000001: rounding to f64 first lands on the
        // midpoint, and then to f32 gives 1.0 (double rounding).
        assert_eq!(
            j("1.00000005960464477550", "float"),
            Ok(Value::Float(1.000_000_1_f32))
        );
        assert_eq!(
            j("1e400", "double").unwrap_err().detail,
            "`1e400` overflows double"
        );
        assert_eq!(j("\"42\"", "bigint"), Ok(Value::Integer(42)));
        assert_eq!(j("true", "string"), Ok(Value::text("true")));
        // Objects, arrays and numbers reach a text column as written, whitespace left out.
        assert_eq!(
            j("{\"b\":1.50, \"a\":[2]}", "string"),
            Ok(Value::text("{\"b\":1.50,\"a\":[2]}"))
        );
        assert_eq!(j("1.50", "string"), Ok(Value::text("1.50")));
        assert_eq!(j("-1E+3", "string"), Ok(Value::text("-1E+3")));
        assert_eq!(j("12.0", "json"), Ok(Value::text("12.0")));
        assert_eq!(j("\"x\"", "json"), Ok(Value::text("\"x\"")));
        assert_eq!(
            j("[1,null,3]", "array<bigint>"),
            Ok(Value::Array(vec![
                Value::Integer(1),
                Value::Null,
                Value::Integer(3)
            ]))
        );
        assert_eq!(
            j("{\"k\":1.5}", "map<string,double>"),
            Ok(Value::Map(vec![(Value::text("k"), Value::Double(1.5))]))
        );
        assert_eq!(
            j("{\"A\":1}", "struct<a:bigint,b:string>"),
            Ok(Value::Struct(vec![Value::Integer(1), Value::Null]))
        );
        assert_eq!(
            j("[1,\"x\"]", "array<bigint>").unwrap_err().detail,
            "element 1: `x` is not an integer"
        );
        assert_eq!(
            j("1605596400000", "datetime"),
            Ok(Value::DateTime(1_605_596_400_000))
        );
        assert_eq!(
            j("-1", "timestamp"),
            Ok(Value::Timestamp {
                seconds: -1,
                nanos: 999_000_000
            })
        );
        assert_eq!(
            j("12.5", "decimal(5,1)"),
            Ok(Value::Decimal("12.5".to_owned()))
        );
        assert_eq!(j("0.5", "float"), Ok(Value::Float(0.5)));
        assert_eq!(
            j("1e39", "float").unwrap_err().detail,
            "`1e39` overflows float"
        );
        assert!(j("{}", "bigint").is_err());
    }
}
