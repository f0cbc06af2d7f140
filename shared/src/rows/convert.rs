//! Converting one cell (CSV text or a JSON value) to a MaxCompute [`Value`] of a column's type.
//!
//! Text conversions are strict about content and lenient about surrounding ASCII whitespace for
//! non-text types (`" 42"` is 42). Nothing is rounded or truncated: a value that does not fit its
//! type exactly (an integer out of range, a decimal with too many places, a DATETIME with
//! sub-millisecond digits) is an error, never a silent change.

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use serde_json::Value as Json;

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
            let json: Json = serde_json::from_str(t).map_err(|_| CellError {
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

fn integer(n: i64, ty: &OdpsType) -> Result<Value, CellError> {
    match ty.integer_range() {
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

/// Validates a plain decimal against `decimal(precision, scale)` and normalises it (no `+`, no
/// superfluous leading zeros, `.5` → `0.5`). More places than the scale are accepted only when
/// the extra digits are zeros, so nothing is rounded.
pub(crate) fn decimal(t: &str, precision: u8, scale: u8) -> Result<String, CellError> {
    let bad = || not_a(t, "a decimal number");
    let (negative, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, t.get(1..).ok_or_else(bad)?),
        Some(b'+') => (false, t.get(1..).ok_or_else(bad)?),
        _ => (false, t),
    };
    let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int_part.is_empty() && frac_part.is_empty())
        || !all_digits(int_part)
        || !all_digits(frac_part)
    {
        return Err(bad());
    }
    let int_part = int_part.trim_start_matches('0');
    let frac_part = if frac_part.len() > usize::from(scale) {
        let (kept, extra) = frac_part.split_at(usize::from(scale));
        if extra.bytes().any(|b| b != b'0') {
            return Err(CellError::conversion(format!(
                "`{}` has more than {scale} decimal places for decimal({precision},{scale})",
                excerpt(t)
            )));
        }
        kept
    } else {
        frac_part
    };
    if int_part.len() > usize::from(precision - scale.min(precision)) {
        return Err(CellError::conversion(format!(
            "`{}` has too many integer digits for decimal({precision},{scale})",
            excerpt(t)
        )));
    }
    let mut out = String::with_capacity(t.len() + 1);
    let is_zero = int_part.is_empty() && frac_part.bytes().all(|b| b == b'0');
    if negative && !is_zero {
        out.push('-');
    }
    out.push_str(if int_part.is_empty() { "0" } else { int_part });
    if !frac_part.is_empty() {
        out.push('.');
        out.push_str(frac_part);
    }
    Ok(out)
}

fn json_kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

fn mismatch(v: &Json, ty: &OdpsType) -> CellError {
    CellError::conversion(format!(
        "{} cannot be written to a {ty} column",
        json_kind(v)
    ))
}

/// Converts a JSON value to `ty`. Strings go through [`from_text`]; numbers are exact (an
/// integer column takes only integral numbers); objects and arrays become JSON text in a text
/// column, or ARRAY/MAP/STRUCT values when the column is one.
pub(crate) fn from_json(v: &Json, ty: &OdpsType, zone: &Zone) -> Result<Value, CellError> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    if let OdpsType::Json = ty {
        // A JSON column holds the value itself, whatever its kind.
        return Ok(Value::Bytes(serde_json::to_vec(v).unwrap_or_default()));
    }
    match (v, ty) {
        (Json::String(s), _) => from_text(s, ty, zone),
        (Json::Bool(b), OdpsType::Boolean) => Ok(Value::Boolean(*b)),
        (Json::Bool(b), t) if t.is_text() => text_cell(if *b { "true" } else { "false" }, t),
        (Json::Number(n), t) if t.integer_range().is_some() => {
            let i = n.as_i64().ok_or_else(|| {
                CellError::conversion(format!("{n} is not an integer in range for {t}"))
            })?;
            integer(i, t)
        }
        (Json::Number(n), OdpsType::Double) => {
            n.as_f64().map(Value::Double).ok_or_else(|| mismatch(v, ty))
        }
        (Json::Number(n), OdpsType::Float) => {
            // The nearest f32 is what a float column holds; serde_json gives no exact form.
            // JSON numbers are finite, so an infinite f32 means the number overflowed.
            match n.as_f64().map(|f| f as f32) {
                Some(f) if f.is_finite() => Ok(Value::Float(f)),
                _ => Err(CellError::conversion(format!("{n} overflows float"))),
            }
        }
        (Json::Number(n), OdpsType::Decimal { precision, scale }) => {
            decimal(&n.to_string(), *precision, *scale).map(Value::Decimal)
        }
        (Json::Number(n), OdpsType::DateTime) => n
            .as_i64()
            .map(Value::DateTime)
            .ok_or_else(|| CellError::conversion(format!("{n} is not epoch milliseconds"))),
        (Json::Number(n), OdpsType::Timestamp | OdpsType::TimestampNtz) => n
            .as_i64()
            .map(|ms| Value::Timestamp {
                seconds: ms.div_euclid(1000),
                nanos: (ms.rem_euclid(1000) * 1_000_000) as u32,
            })
            .ok_or_else(|| CellError::conversion(format!("{n} is not epoch milliseconds"))),
        (Json::Number(n), t) if t.is_text() => text_cell(&n.to_string(), t),
        (Json::Number(n), OdpsType::Binary) => Ok(Value::Bytes(n.to_string().into_bytes())),
        (Json::Array(items), OdpsType::Array(elem)) => items
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
        (Json::Object(obj), OdpsType::Map(key_ty, value_ty)) => obj
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
        (Json::Object(obj), OdpsType::Struct(fields)) => fields
            .iter()
            .map(|field| {
                let item = lookup(obj, &field.name).unwrap_or(&Json::Null);
                from_json(item, &field.ty, zone).map_err(|e| CellError {
                    class: e.class,
                    detail: format!("field `{}`: {}", field.name, e.detail),
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Struct),
        (Json::Array(_) | Json::Object(_), t) if t.is_text() => {
            text_cell(&serde_json::to_string(v).unwrap_or_default(), t)
        }
        _ => Err(mismatch(v, ty)),
    }
}

/// A field looked up by name, exactly first, then ignoring ASCII case (as MaxCompute matches
/// column names).
pub(crate) fn lookup<'j>(obj: &'j serde_json::Map<String, Json>, name: &str) -> Option<&'j Json> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
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
        assert!(d("123456789").is_err());
        assert!(d("1.234").is_err());
        for bad in ["", ".", "-", "1e5", "1.2.3", "abc", "1,5"] {
            assert!(d(bad).is_err(), "{bad}");
        }
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
        let j = |s: &str, t: &str| from_json(&serde_json::from_str(s).unwrap(), &ty(t), &z);
        assert_eq!(j("42", "int"), Ok(Value::Integer(42)));
        assert!(j("4.5", "int").is_err());
        assert_eq!(j("\"42\"", "bigint"), Ok(Value::Integer(42)));
        assert_eq!(j("true", "string"), Ok(Value::text("true")));
        assert_eq!(
            j("{\"b\":1,\"a\":[2]}", "string"),
            Ok(Value::text("{\"a\":[2],\"b\":1}"))
        );
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
            "1e+39 overflows float"
        );
        assert!(j("{}", "bigint").is_err());
    }
}
