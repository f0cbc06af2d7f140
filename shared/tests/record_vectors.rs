//! The record codec against the byte vectors captured from pyodps 0.13.2
//! (`reference/vectors/records.json`): the encoder must reproduce them byte for byte and the
//! decoder must read both of pyodps' varint styles back to the listed rows.

// Test code: a panic is a test failure, and helpers outside `#[test]` fns are test code too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::PathBuf;

use chrono::{NaiveDate, NaiveDateTime};
use serde_json::Value as Json;
use shared::codec::{decode_block, encode_block};
use shared::types::{OdpsType, Value};

/// How many vectors the file holds; a vector dropped from the file (or skipped here) fails.
const VECTOR_COUNT: usize = 8;

/// The vector whose pure-Python (`hex_java_style`) bytes are known wrong: that writer truncates
/// negative epoch seconds toward zero instead of flooring (see the vector's `note`).
const TRUNCATING_VECTOR: &str = "timestamp_ntz_and_timestamp";

fn vectors_path() -> PathBuf {
    match std::env::var_os("MAXCOMPUTE_VECTORS_DIR") {
        Some(dir) => PathBuf::from(dir).join("records.json"),
        None => PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/reference/vectors/records.json"
        )),
    }
}

fn load_vectors() -> Vec<Json> {
    let path = vectors_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the record vectors at {} ({e}); set MAXCOMPUTE_VECTORS_DIR to the folder \
             holding records.json",
            path.display()
        )
    });
    let doc: Json = serde_json::from_str(&text).expect("records.json is JSON");
    doc["vectors"]
        .as_array()
        .expect("a `vectors` array")
        .clone()
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// Rewrites pyodps' 10-byte sign-extended CRC varints to the plain 5-byte form. The CRCs are
/// the varints right after the END_RECORD tag (`80 c0 ff 7f`) and the META_CHECKSUM tag
/// (`f8 ff ff 7f`). This scan is independent of the codec under test, and is checked against
/// `hex_java_style` on every vector it applies to.
fn shorten_crc_varints(hex: &str) -> String {
    const TAGS: [[u8; 4]; 2] = [[0x80, 0xc0, 0xff, 0x7f], [0xf8, 0xff, 0xff, 0x7f]];
    let bytes = unhex(hex);
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if i + 4 <= bytes.len() && TAGS.iter().any(|t| bytes[i..i + 4] == t[..]) {
            out.extend_from_slice(&bytes[i..i + 4]);
            i += 4;
            let mut value = 0u64;
            let mut shift = 0;
            loop {
                let b = bytes[i];
                i += 1;
                value |= u64::from(b & 0x7f) << shift;
                shift += 7;
                if b & 0x80 == 0 {
                    break;
                }
            }
            let mut v = value & 0xffff_ffff;
            while v >= 0x80 {
                out.push((v as u8) | 0x80);
                v >>= 7;
            }
            out.push(v as u8);
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    hex_of(&out)
}

fn schema_types(v: &Json) -> Vec<OdpsType> {
    v["schema"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap().parse().unwrap())
        .collect()
}

fn epoch_days(d: NaiveDate) -> i64 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days()
}

/// Converts the JSON row notation of records.json to a cell of the given type.
fn cell(ty: &OdpsType, j: &Json) -> Value {
    if j.is_null() {
        return Value::Null;
    }
    match ty {
        OdpsType::Boolean => Value::Boolean(j.as_bool().unwrap()),
        OdpsType::TinyInt | OdpsType::SmallInt | OdpsType::Int | OdpsType::BigInt => {
            Value::Integer(j.as_i64().unwrap())
        }
        OdpsType::Float => Value::Float(j.as_f64().unwrap() as f32),
        OdpsType::Double => Value::Double(j.as_f64().unwrap()),
        OdpsType::Binary => Value::Bytes(unhex(j["binary_hex"].as_str().unwrap())),
        OdpsType::String | OdpsType::Varchar(_) | OdpsType::Char(_) | OdpsType::Json => {
            Value::text(j.as_str().unwrap())
        }
        OdpsType::Decimal { .. } => Value::Decimal(j["decimal"].as_str().unwrap().to_owned()),
        OdpsType::Date => {
            let d = NaiveDate::parse_from_str(j["iso"].as_str().unwrap(), "%Y-%m-%d").unwrap();
            Value::Date(epoch_days(d))
        }
        OdpsType::DateTime => {
            let t = NaiveDateTime::parse_from_str(j["iso"].as_str().unwrap(), "%Y-%m-%dT%H:%M:%S")
                .unwrap();
            Value::DateTime(t.and_utc().timestamp_millis())
        }
        OdpsType::Timestamp | OdpsType::TimestampNtz => {
            let s = j["timestamp"].as_str().unwrap();
            let t = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap();
            let t = t.and_utc();
            // chrono floors: 1969-12-31 23:59:59.5 is (-1 s, 500000000 ns), as MaxCompute wants.
            Value::Timestamp {
                seconds: t.timestamp(),
                nanos: t.timestamp_subsec_nanos(),
            }
        }
        OdpsType::Array(elem) => Value::Array(
            j.as_array()
                .unwrap()
                .iter()
                .map(|e| cell(elem, e))
                .collect(),
        ),
        OdpsType::Map(k, v) => Value::Map(
            j["map"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(key, val)| (cell(k, &Json::String(key.clone())), cell(v, val)))
                .collect(),
        ),
        OdpsType::Struct(fields) => Value::Struct(
            j["struct"]
                .as_array()
                .unwrap()
                .iter()
                .zip(fields)
                .map(|(v, f)| cell(&f.ty, v))
                .collect(),
        ),
    }
}

fn rows(types: &[OdpsType], j: &Json) -> Vec<Vec<Value>> {
    j.as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let row = row.as_array().unwrap();
            // read_back_by_pyodps may carry one extra trailing None for the partition column.
            assert!(row.len() == types.len() || row.len() == types.len() + 1);
            types.iter().zip(row).map(|(t, c)| cell(t, c)).collect()
        })
        .collect()
}

/// Equality that also tells -0.0 from 0.0 (and compares NaN by bits).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Double(x), Value::Double(y)) => x.to_bits() == y.to_bits(),
        (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
        (Value::Array(x), Value::Array(y)) | (Value::Struct(x), Value::Struct(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| same(ka, kb) && same(va, vb))
        }
        _ => a == b,
    }
}

fn assert_rows(name: &str, which: &str, got: &[Vec<Value>], want: &[Vec<Value>]) {
    assert_eq!(got.len(), want.len(), "{name}/{which}: row count");
    for (g, w) in got.iter().zip(want) {
        assert!(
            g.len() == w.len() && g.iter().zip(w).all(|(a, b)| same(a, b)),
            "{name}/{which}: decoded {g:?}, expected {w:?}"
        );
    }
}

#[test]
fn vector_file_has_every_vector() {
    let vectors = load_vectors();
    let names: Vec<&str> = vectors
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(vectors.len(), VECTOR_COUNT, "vectors: {names:?}");
    assert!(names.contains(&TRUNCATING_VECTOR));
}

#[test]
fn encoder_reproduces_every_vector() {
    for v in load_vectors() {
        let name = v["name"].as_str().unwrap();
        let types = schema_types(&v);
        let want_rows = rows(&types, &v["rows"]);
        let hex = v["hex"].as_str().unwrap();
        let java = v["hex_java_style"].as_str().unwrap();
        // The C writer's bytes with 5-byte CRC varints: what a correct Java-style writer emits.
        let expected = shorten_crc_varints(hex);
        if name == TRUNCATING_VECTOR {
            assert_ne!(
                expected, java,
                "{name}: the pure-Python bytes should differ"
            );
        } else {
            assert_eq!(expected, java, "{name}: C and pure-Python writers disagree");
        }
        let got = encode_block(&types, &want_rows).unwrap();
        assert_eq!(hex_of(&got), expected, "{name}: encoder output");
    }
}

#[test]
fn decoder_reads_both_varint_styles() {
    for v in load_vectors() {
        let name = v["name"].as_str().unwrap();
        let types = schema_types(&v);
        let want = rows(&types, &v["rows"]);
        let read_back = rows(&types, &v["read_back_by_pyodps"]);
        assert_rows(name, "read_back_by_pyodps", &read_back, &want);

        let from_c = decode_block(&types, &unhex(v["hex"].as_str().unwrap())).unwrap();
        assert_rows(name, "hex", &from_c, &want);

        let from_py = decode_block(&types, &unhex(v["hex_java_style"].as_str().unwrap())).unwrap();
        if name == TRUNCATING_VECTOR {
            // The pure-Python writer stored 1969-12-31 23:59:59.5 as 0 s + 0.5 s; the decoder
            // must read exactly what is on the wire (its CRC is consistent with that).
            let mut truncated = want.clone();
            truncated[0][1] = Value::Timestamp {
                seconds: 0,
                nanos: 500_000_000,
            };
            assert_rows(name, "hex_java_style", &from_py, &truncated);
        } else {
            assert_rows(name, "hex_java_style", &from_py, &want);
        }
    }
}

#[test]
fn negative_zero_survives_bitwise() {
    let v = load_vectors()
        .into_iter()
        .find(|v| v["name"] == "binary_double_bool")
        .unwrap();
    let types = schema_types(&v);
    let decoded = decode_block(&types, &unhex(v["hex"].as_str().unwrap())).unwrap();
    let Value::Double(d) = decoded[1][1] else {
        panic!("expected a double, got {:?}", decoded[1][1]);
    };
    assert_eq!(d.to_bits(), (-0.0f64).to_bits());
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
