//! Differential test of the record codec against pyodps 0.13.2 on random data, every run.
//!
//! `tests/differential/records.py gen` makes random schemas and rows over every column type
//! (seeded, so a failure replays) and encodes each batch with pyodps' compiled writer and its
//! pure-Python writer. For every batch this test then checks that
//! 1. the Rust encoder writes the pure-Python writer's bytes exactly, and the compiled writer's
//!    bytes once its 10-byte sign-extended CRC varints are rewritten to the 5-byte form;
//! 2. the Rust decoder reads both pyodps bodies back to the generated values;
//! 3. pyodps (`records.py check`, its compiled reader) reads the Rust encoder's bodies back to
//!    the generated values.
//!
//! One documented pyodps bug is allowed for, by a narrow rule and not by skipping types: the
//! pure-Python writer computes epoch milliseconds in floating point and truncates toward zero
//! ([`pure_python_writer_view`]), so its TIMESTAMP seconds before 1970 are one too high (the
//! `note` of the reference vector `timestamp_ntz_and_timestamp`), and the same computation
//! loses a millisecond of about one DATETIME in 150 to rounding. Its body must equal the Rust
//! encoding of exactly those wrong values, and decode to them; the compiled writer has no
//! exception.
//!
//! DECIMAL: the encoder writes a `Value::Decimal` text as given (so `str(Decimal)` bytes match);
//! the decoder returns a plain form, numerically the value as written when it has at most
//! `scale` fraction digits and otherwise rounded half-up to `scale` places. The expectation is
//! computed here, independently of `maxcompute_core::decimal`.
//!
//! Environment: `DIFFERENTIAL_SEED` replays a run (the seed is printed on every run and in every
//! failure); `DIFFERENTIAL_ROWS` raises the row count above the default 5,000 for longer runs;
//! `PYODPS_PYTHON` names the Python with pyodps (default `<workspace>/.venv/bin/python`).

use std::fmt::Write as _;
use std::process::Command;

use maxcompute_core::codec::{decode_block, encode_block};
use maxcompute_core::types::{OdpsType, Value};
use serde_json::Value as Json;
use test_support::hex::{hex, unhex};

use crate::common::shorten_crc_varints;
use test_support::python::{python, seed, workspace_root};

/// Rows per run, spread by the generator over 10 to 14 random schemas.
const DEFAULT_ROWS: u64 = 5_000;
/// Differences listed per check before the rest are only counted.
const SHOWN: usize = 8;

fn rows() -> u64 {
    match std::env::var("DIFFERENTIAL_ROWS") {
        Ok(s) => s
            .trim()
            .parse::<u64>()
            .unwrap_or_else(|_| panic!("DIFFERENTIAL_ROWS={s:?} is not an unsigned integer"))
            .max(DEFAULT_ROWS),
        Err(_) => DEFAULT_ROWS,
    }
}

/// Runs `records.py` with the given arguments; returns stdout, or its exit status and stderr.
fn records_py(args: &[&str]) -> Result<Vec<u8>, String> {
    let script = workspace_root().join("tests/differential/records.py");
    let out = Command::new(python())
        .arg(&script)
        .args(args)
        .env("TZ", "UTC")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}); run `bash scripts/venv.sh`",
                script.display()
            )
        });
    if out.status.success() {
        Ok(out.stdout)
    } else {
        // An ImportError here means the venv lacks pyodps: `bash scripts/venv.sh` installs it.
        Err(format!(
            "records.py {} exited with {} (without pyodps 0.13.2, run `bash scripts/venv.sh`):\n{}",
            args.first().copied().unwrap_or_default(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A value in the generator's notation (see `records.py`), typed by its column.
fn cell(ty: &OdpsType, j: &Json) -> Value {
    if j.is_null() {
        return Value::Null;
    }
    let hex_u64 = |j: &Json| u64::from_str_radix(j.as_str().expect("hex bits"), 16).unwrap();
    match ty {
        OdpsType::Boolean => Value::Boolean(j.as_bool().expect("bool")),
        OdpsType::TinyInt | OdpsType::SmallInt | OdpsType::Int | OdpsType::BigInt => {
            Value::Integer(j.as_i64().expect("i64"))
        }
        OdpsType::Float => Value::Float(f32::from_bits(hex_u64(j) as u32)),
        OdpsType::Double => Value::Double(f64::from_bits(hex_u64(j))),
        OdpsType::String
        | OdpsType::Varchar(_)
        | OdpsType::Char(_)
        | OdpsType::Binary
        | OdpsType::Json => Value::Bytes(unhex(j.as_str().expect("hex bytes"))),
        OdpsType::Decimal { .. } => Value::Decimal(j.as_str().expect("decimal text").to_owned()),
        OdpsType::Date => Value::Date(j.as_i64().expect("days")),
        OdpsType::DateTime => Value::DateTime(j.as_i64().expect("ms")),
        OdpsType::Timestamp | OdpsType::TimestampNtz => Value::Timestamp {
            seconds: j[0].as_i64().expect("seconds"),
            nanos: u32::try_from(j[1].as_u64().expect("nanos")).unwrap(),
        },
        OdpsType::Array(elem) => Value::Array(
            j.as_array()
                .unwrap()
                .iter()
                .map(|x| cell(elem, x))
                .collect(),
        ),
        OdpsType::Map(k, v) => Value::Map(
            j.as_array()
                .unwrap()
                .iter()
                .map(|pair| (cell(k, &pair[0]), cell(v, &pair[1])))
                .collect(),
        ),
        OdpsType::Struct(fields) => Value::Struct(
            fields
                .iter()
                .zip(j.as_array().unwrap())
                .map(|(f, x)| cell(&f.ty, x))
                .collect(),
        ),
    }
}

/// The values pyodps' pure-Python writer actually puts on the wire for `value`: its
/// `MillisecondsConverter.to_milliseconds` computes `int((seconds + microsecond / 1e6) * 1000)`
/// in floating point, and `_write_timestamp` then takes `int(ms / 1000)`, both truncating toward
/// zero. So a TIMESTAMP before 1970 with a fraction gets seconds one too high, and a DATETIME
/// may lose a millisecond to rounding. The compiled writer uses integer arithmetic and floors.
fn pure_python_writer_view(ty: &OdpsType, value: &Value) -> Value {
    let float_ms = |seconds: i64, micros: i64| -> i64 {
        ((seconds as f64 + micros as f64 / 1_000_000.0) * 1000.0).trunc() as i64
    };
    match (ty, value) {
        (OdpsType::Timestamp | OdpsType::TimestampNtz, Value::Timestamp { seconds, nanos }) => {
            let ms = float_ms(*seconds, i64::from(*nanos / 1000));
            Value::Timestamp {
                seconds: (ms as f64 / 1000.0).trunc() as i64,
                nanos: *nanos,
            }
        }
        (OdpsType::DateTime, Value::DateTime(ms)) => {
            Value::DateTime(float_ms(ms.div_euclid(1000), ms.rem_euclid(1000) * 1000))
        }
        (OdpsType::Array(elem), Value::Array(items)) => Value::Array(
            items
                .iter()
                .map(|v| pure_python_writer_view(elem, v))
                .collect(),
        ),
        (OdpsType::Map(k, v), Value::Map(pairs)) => Value::Map(
            pairs
                .iter()
                .map(|(a, b)| (pure_python_writer_view(k, a), pure_python_writer_view(v, b)))
                .collect(),
        ),
        (OdpsType::Struct(fields), Value::Struct(values)) => Value::Struct(
            fields
                .iter()
                .zip(values)
                .map(|(f, v)| pure_python_writer_view(&f.ty, v))
                .collect(),
        ),
        _ => value.clone(),
    }
}

/// How many values of each kind [`pure_python_writer_view`] changed.
#[derive(Default)]
struct Truncated {
    datetime: usize,
    timestamp: usize,
}

fn count_changed(ty: &OdpsType, view: &Value, value: &Value, n: &mut Truncated) {
    match (ty, view, value) {
        (OdpsType::DateTime, a, b) if a != b => n.datetime += 1,
        (OdpsType::Timestamp | OdpsType::TimestampNtz, a, b) if a != b => n.timestamp += 1,
        (OdpsType::Array(elem), Value::Array(a), Value::Array(b)) => {
            a.iter()
                .zip(b)
                .for_each(|(x, y)| count_changed(elem, x, y, n));
        }
        (OdpsType::Map(k, v), Value::Map(a), Value::Map(b)) => {
            for (x, y) in a.iter().zip(b) {
                count_changed(k, &x.0, &y.0, n);
                count_changed(v, &x.1, &y.1, n);
            }
        }
        (OdpsType::Struct(fields), Value::Struct(a), Value::Struct(b)) => {
            for (f, (x, y)) in fields.iter().zip(a.iter().zip(b)) {
                count_changed(&f.ty, x, y, n);
            }
        }
        _ => {}
    }
}

/// A decimal as sign, significant digits (no leading zeros) and the power of ten of the last
/// digit; zero is `(false, "", 0)` whatever its sign or exponent. Accepts plain and exponent
/// forms; `None` for anything else.
fn parse_decimal(text: &str) -> Option<(bool, String, i64)> {
    let (mantissa, exp) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], text[i + 1..].parse::<i64>().ok()?),
        None => (text, 0),
    };
    let (negative, unsigned) = match mantissa.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, mantissa.strip_prefix('+').unwrap_or(mantissa)),
    };
    let (int_part, frac_part) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    if int_part.is_empty() && frac_part.is_empty()
        || !int_part
            .bytes()
            .chain(frac_part.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let digits = format!("{int_part}{frac_part}");
    let exp = exp - frac_part.len() as i64;
    Some(normalise(negative, digits, exp))
}

fn normalise(negative: bool, digits: String, mut exp: i64) -> (bool, String, i64) {
    let digits = digits.trim_start_matches('0');
    let trimmed = digits.trim_end_matches('0');
    exp += (digits.len() - trimmed.len()) as i64;
    if trimmed.is_empty() {
        (false, String::new(), 0)
    } else {
        (negative, trimmed.to_owned(), exp)
    }
}

/// What the decoder must return for a DECIMAL written as `text` into a column of `scale`: the
/// value as written when it has at most `scale` fraction digits, else rounded half-up (away
/// from zero on a tie) to `scale` places.
fn expected_decimal(text: &str, scale: u8) -> Option<(bool, String, i64)> {
    let (negative, digits, exp) = parse_decimal(text)?;
    let min_exp = -i64::from(scale);
    if exp >= min_exp {
        return Some((negative, digits, exp));
    }
    // Drop the digits below 10^-scale; round up when the first dropped one is 5 or more.
    let drop = usize::try_from(min_exp - exp).unwrap();
    if drop > digits.len() {
        return Some((false, String::new(), 0));
    }
    let keep = &digits[..digits.len() - drop];
    let round_up = digits.as_bytes()[digits.len() - drop] >= b'5';
    let mut kept: Vec<u8> = format!("0{keep}").into_bytes();
    if round_up {
        for d in kept.iter_mut().rev() {
            if *d == b'9' {
                *d = b'0';
            } else {
                *d += 1;
                break;
            }
        }
    }
    Some(normalise(
        negative,
        String::from_utf8(kept).unwrap(),
        min_exp,
    ))
}

/// Whether `got` (decoded) matches `want` (generated): floats bit for bit, decimals by the
/// decoder's rule, everything else exactly. `Err` says where they part.
fn same(ty: &OdpsType, got: &Value, want: &Value) -> Result<(), String> {
    let differ = || Err(format!("decoded {got:?}, expected {want:?}"));
    match (ty, got, want) {
        (_, Value::Float(a), Value::Float(b)) if a.to_bits() == b.to_bits() => Ok(()),
        (_, Value::Double(a), Value::Double(b)) if a.to_bits() == b.to_bits() => Ok(()),
        (_, Value::Float(_) | Value::Double(_), _) => differ(),
        (OdpsType::Decimal { scale, .. }, Value::Decimal(g), Value::Decimal(w)) => {
            if g.contains(['e', 'E']) {
                return Err(format!("decoded {g:?} is not in plain form (from {w:?})"));
            }
            match (parse_decimal(g), expected_decimal(w, *scale)) {
                (Some(a), Some(b)) if a == b => Ok(()),
                _ => Err(format!(
                    "decoded {g:?}, expected the value of {w:?} at scale {scale} (half-up)"
                )),
            }
        }
        (OdpsType::Array(elem), Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .try_for_each(|(i, (x, y))| same(elem, x, y).map_err(|e| format!("[{i}]: {e}"))),
        (OdpsType::Map(k, v), Value::Map(a), Value::Map(b)) if a.len() == b.len() => {
            a.iter().zip(b).enumerate().try_for_each(|(i, (x, y))| {
                same(k, &x.0, &y.0)
                    .and_then(|()| same(v, &x.1, &y.1))
                    .map_err(|e| format!("entry {i}: {e}"))
            })
        }
        (OdpsType::Struct(fields), Value::Struct(a), Value::Struct(b)) if a.len() == b.len() => {
            fields
                .iter()
                .zip(a.iter().zip(b))
                .try_for_each(|(f, (x, y))| {
                    same(&f.ty, x, y).map_err(|e| format!(".{}: {e}", f.name))
                })
        }
        _ if got == want => Ok(()),
        _ => differ(),
    }
}

/// One generated batch.
struct Batch {
    types: Vec<OdpsType>,
    rows: Vec<Vec<Value>>,
    compiled: Vec<u8>,
    pure_python: Vec<u8>,
}

fn batches(doc: &Json) -> Vec<Batch> {
    doc["batches"]
        .as_array()
        .expect("a `batches` array")
        .iter()
        .map(|b| {
            let types: Vec<OdpsType> = b["schema"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().parse().expect("a MaxCompute type"))
                .collect();
            let rows = b["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    types
                        .iter()
                        .zip(r.as_array().unwrap())
                        .map(|(t, j)| cell(t, j))
                        .collect()
                })
                .collect();
            Batch {
                types,
                rows,
                compiled: unhex(b["hex_c"].as_str().unwrap()),
                pure_python: unhex(b["hex_py"].as_str().unwrap()),
            }
        })
        .collect()
}

/// Differences found by one check, the first few in full.
#[derive(Default)]
struct Findings {
    count: usize,
    shown: Vec<String>,
}

impl Findings {
    fn add(&mut self, what: impl FnOnce() -> String) {
        self.count += 1;
        if self.shown.len() < SHOWN {
            self.shown.push(what());
        }
    }
}

/// Where two byte strings first differ, with a little context.
fn first_difference(got: &[u8], want: &[u8]) -> String {
    let at = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    let window = |b: &[u8]| hex(&b[at.saturating_sub(8).min(b.len())..(at + 24).min(b.len())]);
    format!(
        "lengths {} and {}, first difference at byte {at}: ...{}... vs ...{}...",
        got.len(),
        want.len(),
        window(got),
        window(want)
    )
}

/// Compares decoded rows with the expected ones, cell by cell.
fn compare_rows(
    findings: &mut Findings,
    label: &str,
    types: &[OdpsType],
    got: &[Vec<Value>],
    want: &[Vec<Value>],
) {
    if got.len() != want.len() {
        findings.add(|| {
            format!(
                "{label}: {} rows decoded, {} written",
                got.len(),
                want.len()
            )
        });
        return;
    }
    for (r, (g, w)) in got.iter().zip(want).enumerate() {
        for (c, ty) in types.iter().enumerate() {
            if let Err(e) = same(ty, &g[c], &w[c]) {
                findings.add(|| format!("{label} row {r} column {c} ({ty}): {e}"));
            }
        }
    }
}

#[test]
fn codec_matches_pyodps_on_random_batches() {
    let seed = seed();
    let rows = rows();
    let replay = format!("replay with DIFFERENTIAL_SEED={seed}");
    eprintln!("differential::codec: seed {seed}, {rows} rows; {replay}");
    // Any panic on the way (a malformed generator answer included) carries the seed too.
    let report = std::panic::catch_unwind(|| differential_run(seed, rows)).unwrap_or_else(|p| {
        let message = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        panic!("{message}\n{replay}")
    });
    assert!(report.is_empty(), "{report}{replay}");
}

/// One whole run; returns the differences found, empty when there are none.
fn differential_run(seed: u64, rows: u64) -> String {
    let (seed_arg, rows_arg) = (seed.to_string(), rows.to_string());
    let generated = records_py(&["gen", "--seed", &seed_arg, "--rows", &rows_arg])
        .unwrap_or_else(|e| panic!("{e}"));
    let doc: Json = serde_json::from_slice(&generated).expect("records.py gen prints JSON");
    let batches = batches(&doc);
    let total_rows: usize = batches.iter().map(|b| b.rows.len()).sum();
    assert_eq!(total_rows as u64, rows, "the generator made every row");

    let mut encoder = Findings::default();
    let mut decoder = Findings::default();
    let mut rust_bodies = Vec::new();
    // Values (DATETIME, TIMESTAMP) that the pure-Python writer's known float truncation changes
    // on the wire.
    let mut truncated = Truncated::default();

    for (b, batch) in batches.iter().enumerate() {
        let label = |what: &str| format!("batch {b} [{}]{what}", schema_text(&batch.types));

        // (1) The encoder against both writers.
        let py_rows: Vec<Vec<Value>> = batch
            .rows
            .iter()
            .map(|row| {
                batch
                    .types
                    .iter()
                    .zip(row)
                    .map(|(t, v)| pure_python_writer_view(t, v))
                    .collect()
            })
            .collect();
        for (py_row, row) in py_rows.iter().zip(&batch.rows) {
            for ((ty, a), b) in batch.types.iter().zip(py_row).zip(row) {
                count_changed(ty, a, b, &mut truncated);
            }
        }
        match encode_block(&batch.types, &batch.rows) {
            Ok(rust) => {
                let compiled = shorten_crc_varints(&batch.compiled);
                if rust != compiled {
                    encoder.add(|| {
                        format!(
                            "{}: {}",
                            label(" Rust vs compiled writer"),
                            first_difference(&rust, &compiled)
                        )
                    });
                }
                rust_bodies.push(hex(&rust));
            }
            Err(e) => {
                encoder.add(|| format!("{}: the Rust encoder refuses a row: {e}", label("")));
                // pyodps then checks an empty body against the generated rows, and says so.
                rust_bodies.push(String::new());
            }
        }
        match encode_block(&batch.types, &py_rows) {
            Ok(py_expected) if py_expected == batch.pure_python => {}
            Ok(py_expected) => encoder.add(|| {
                format!(
                    "{}: {}",
                    label(" Rust vs pure-Python writer"),
                    first_difference(&py_expected, &batch.pure_python)
                )
            }),
            Err(e) => encoder.add(|| format!("{}: {e}", label(" pure-Python view"))),
        }

        // (2) The decoder on both pyodps bodies.
        for (which, body, want) in [
            ("compiled", &batch.compiled, &batch.rows),
            ("pure-Python", &batch.pure_python, &py_rows),
        ] {
            match decode_block(&batch.types, body) {
                Ok(got) => compare_rows(
                    &mut decoder,
                    &label(&format!(" decoding the {which} writer's body")),
                    &batch.types,
                    &got,
                    want,
                ),
                Err(e) => decoder.add(|| {
                    format!(
                        "{}: {e}",
                        label(&format!(" decoding the {which} writer's body"))
                    )
                }),
            }
        }
    }

    // (3) pyodps reads the Rust bodies back.
    let file = std::env::temp_dir().join(format!(
        "codec_differential-{}-{seed}.json",
        std::process::id()
    ));
    std::fs::write(&file, serde_json::to_vec(&rust_bodies).unwrap()).unwrap();
    let file_arg = file.to_string_lossy().into_owned();
    let readback = records_py(&[
        "check", "--seed", &seed_arg, "--rows", &rows_arg, "--file", &file_arg,
    ]);
    let _ = std::fs::remove_file(&file);

    eprintln!(
        "differential::codec: {} batches, {total_rows} rows; the pure-Python writer's float \
         truncation changes {} DATETIME and {} TIMESTAMP values",
        batches.len(),
        truncated.datetime,
        truncated.timestamp
    );
    let mut report = String::new();
    for (name, f) in [
        ("(1) Rust encoder vs pyodps writers", &encoder),
        ("(2) Rust decoder on pyodps bodies", &decoder),
    ] {
        if f.count > 0 {
            writeln!(report, "{name}: {} differences", f.count).unwrap();
            for s in &f.shown {
                writeln!(report, "  {s}").unwrap();
            }
        }
    }
    match readback {
        Ok(out) => eprint!("differential::codec: {}", String::from_utf8_lossy(&out)),
        Err(e) => writeln!(report, "(3) pyodps reading the Rust bodies: {e}").unwrap(),
    }
    report
}

fn schema_text(types: &[OdpsType]) -> String {
    let text = types
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if text.len() > 160 {
        format!("{}...", &text[..text.floor_char_boundary(160)])
    } else {
        text
    }
}

#[test]
fn crc_shortening_rewrites_only_sign_extended_crcs() {
    // From the reference vector kafka_row_basic: its record CRC 0xda0da566 has bit 31 set.
    let long = unhex("2a013180c0ff7fe6cab6d0fdffffffff01f0ffff7f02f8ffff7feab6c1cafdffffffff01");
    let short = unhex("2a013180c0ff7fe6cab6d00df0ffff7f02f8ffff7feab6c1ca0d");
    assert_eq!(shorten_crc_varints(&long), short);
    // A tag followed by anything else (cell bytes that look like a tag) is left alone.
    let cell = unhex("0a0880c0ff7f0102030480c0ff7f");
    assert_eq!(shorten_crc_varints(&cell), cell);
}

#[test]
fn expected_decimals_follow_the_rule() {
    let value = |s: &str| parse_decimal(s).unwrap();
    for (text, scale, want) in [
        ("12.34", 2, "12.34"),
        ("12.345", 2, "12.35"),
        ("-12.345", 2, "-12.35"),
        ("12.344", 2, "12.34"),
        ("6.73261E-12", 18, "0.00000000000673261"),
        ("6.73261E-12", 10, "0"),
        ("5E-3", 2, "0.01"),
        ("0E-9", 2, "0"),
        ("1E+5", 0, "100000"),
        ("9.995", 2, "10.00"),
        ("-0", 0, "0"),
    ] {
        assert_eq!(
            expected_decimal(text, scale),
            Some(value(want)),
            "{text} at scale {scale}"
        );
    }
    assert_eq!(parse_decimal("1.2.3"), None);
    assert_eq!(parse_decimal("abc"), None);
}

#[test]
fn pure_python_view_truncates_only_where_pyodps_does() {
    let ts = OdpsType::Timestamp;
    // The reference vector's 1969-12-31 23:59:59.5: pyodps' pure-Python writer sends second 0.
    assert_eq!(
        pure_python_writer_view(
            &ts,
            &Value::Timestamp {
                seconds: -1,
                nanos: 500_000_000
            }
        ),
        Value::Timestamp {
            seconds: 0,
            nanos: 500_000_000
        }
    );
    // 1901-12-13T08:06:04.919 (checked against pyodps): float rounding costs a millisecond.
    let dt = OdpsType::DateTime;
    assert_eq!(
        pure_python_writer_view(&dt, &Value::DateTime(-2_147_529_235_081)),
        Value::DateTime(-2_147_529_235_080)
    );
    assert_eq!(
        pure_python_writer_view(&dt, &Value::DateTime(-1500)),
        Value::DateTime(-1500)
    );
    // Whole seconds, and anything after 1970, go through unchanged.
    for (seconds, nanos) in [(-1, 0), (0, 999_999_999), (1_605_625_200, 123_456_789)] {
        let v = Value::Timestamp { seconds, nanos };
        assert_eq!(pure_python_writer_view(&ts, &v), v);
    }
}
