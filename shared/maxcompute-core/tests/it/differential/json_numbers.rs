//! JSON numbers against Python's exact arithmetic, on random input every run: each number goes
//! through the sink's JSON row building into a DECIMAL, DOUBLE, FLOAT, integer or STRING column,
//! and must come out as `tests/differential/json_numbers.py` computes it with `decimal`,
//! `fractions` and Python's correctly rounded `float()`. The seed is printed; set
//! `DIFFERENTIAL_SEED` to replay a failure.

use bytes::Bytes;
use maxcompute_core::event::Headers;
use std::process::Command;

use maxcompute_core::event::{KafkaRecord, TimestampType};
use maxcompute_core::partition::{PartitionConfig, PartitionRouter};
use maxcompute_core::rows::{Format, Mode, RowBuilder, build_rows};
use maxcompute_core::types::{Column, OdpsType, TableSchema, Value};
use serde_json::Value as Json;
use test_support::python::{python, seed, workspace_root};

const CASES: usize = 5_000;

/// What the one column holds after row building, or `None` for a reject.
fn convert(text: &str, ty: &OdpsType) -> Option<Value> {
    let schema = TableSchema {
        columns: vec![Column::new("v", ty.clone())],
        partition_keys: vec![Column::new("pt", OdpsType::String)],
    };
    let builder =
        RowBuilder::new(Mode::Value, Format::Json, "UTC".parse().unwrap(), &schema).unwrap();
    let router = PartitionRouter::new(&PartitionConfig::default()).unwrap();
    let record = KafkaRecord {
        topic: "t".into(),
        partition: 0,
        offset: 0,
        timestamp_ms: 1_605_596_645_000,
        timestamp_type: TimestampType::CreateTime,
        key: None,
        value: Some(Bytes::from(format!(r#"{{"v": {text}}}"#).into_bytes())),
        headers: Headers::default(),
    };
    let records = [record];
    let built = build_rows(&records, &builder, &router, 0);
    let row = built
        .partitions
        .values()
        .next()
        .and_then(|rows| rows.first());
    match (row, built.rejects.first()) {
        (Some(row), None) => Some(row.values[0].clone()),
        (None, Some(_)) => None,
        other => panic!("one row or one reject expected for {text}, got {other:?}"),
    }
}

fn bits(expect: &Json) -> u64 {
    let hex = expect["bits"].as_str().unwrap().trim_start_matches("0x");
    u64::from_str_radix(hex, 16).unwrap()
}

/// Why the Rust result differs from Python's, or `None` when they agree.
fn disagreement(text: &str, ty: &OdpsType, expect: &Json) -> Option<String> {
    let got = convert(text, ty);
    let ok = match (&got, expect) {
        (None, e) => e.get("reject").is_some(),
        (Some(_), e) if e.get("reject").is_some() => false,
        (Some(Value::Decimal(d)), e) => Some(d.as_str()) == e["plain"].as_str(),
        (Some(Value::Double(f)), e) => f.to_bits() == bits(e),
        (Some(Value::Float(f)), e) => u64::from(f.to_bits()) == bits(e),
        (Some(Value::Integer(i)), e) => Some(i.to_string().as_str()) == e["integer"].as_str(),
        (Some(Value::Bytes(b)), e) => Some(b.as_slice()) == e["text"].as_str().map(str::as_bytes),
        _ => false,
    };
    (!ok).then(|| format!("{text} into {ty}: got {got:?}, Python says {expect}"))
}

#[test]
fn json_numbers_match_python_exact_arithmetic() {
    let seed = seed();
    eprintln!("differential::json_numbers: seed {seed} (replay with DIFFERENTIAL_SEED={seed})");
    let script = workspace_root().join("tests/differential/json_numbers.py");
    let out = Command::new(python())
        .arg(&script)
        .args(["--seed", &seed.to_string(), "--count", &CASES.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let cases: Vec<Json> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(cases.len(), CASES);
    let mut rejects = 0;
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| {
            let ty: OdpsType = c["type"].as_str().unwrap().parse().unwrap();
            rejects += usize::from(c["expect"].get("reject").is_some());
            disagreement(c["text"].as_str().unwrap(), &ty, &c["expect"])
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {CASES} numbers differ from Python (replay with DIFFERENTIAL_SEED={seed}):\n{}",
        failures.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // Both outcomes must be exercised, or the comparison proves little.
    assert!(
        rejects > CASES / 20 && rejects < CASES / 2,
        "{rejects} rejects"
    );
}
