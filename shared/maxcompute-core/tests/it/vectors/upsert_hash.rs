//! `maxcompute_core::bucket_hash` against pyodps' own hasher (`tests/vectors/upsert-hash.json`):
//! every column hash, the wrapped sum, the record hash and the bucket for 1, 16 and 100 buckets,
//! for both the `default` and the `legacy` hasher.

use std::path::PathBuf;

use maxcompute_core::bucket_hash::{self, Hasher};
use maxcompute_core::types::{OdpsType, Value};
use serde_json::Value as Json;

/// How many cases the file holds; a case dropped from the file (or skipped here) fails.
const VECTOR_COUNT: usize = 96;

fn load_cases() -> Vec<Json> {
    let path = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/vectors/upsert-hash.json"
    ));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the upsert hash vectors at {} ({e}); they are part of the repository, \
             regenerate them with `.venv/bin/python tests/vectors/generate.py`",
            path.display()
        )
    });
    let doc: Json = serde_json::from_str(&text).expect("upsert-hash.json is JSON");
    doc["cases"].as_array().expect("a `cases` array").clone()
}

fn cell(ty: &OdpsType, v: &Json) -> Value {
    match v {
        Json::Null => Value::Null,
        Json::String(s) => Value::text(s.as_str()),
        Json::Number(n) => {
            Value::Integer(n.as_i64().unwrap_or_else(|| panic!("{n} is not an i64")))
        }
        other => panic!("unexpected {other} for a {ty} cell"),
    }
}

#[test]
fn every_vector_is_reproduced() {
    let cases = load_cases();
    assert_eq!(cases.len(), VECTOR_COUNT, "the number of vectors changed");
    let mut checked = 0;
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let hasher: Hasher = case["hasher"].as_str().unwrap().parse().unwrap();
        let columns: Vec<(String, OdpsType)> = case["table_columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c[0].as_str().unwrap().to_owned(),
                    c[1].as_str().unwrap().parse().unwrap(),
                )
            })
            .collect();
        let row: Vec<Value> = case["row"]
            .as_array()
            .unwrap()
            .iter()
            .zip(&columns)
            .map(|(v, (_, ty))| cell(ty, v))
            .collect();
        // The key cells, found by name in the row, in `hash_key` order.
        let key: Vec<(&OdpsType, &Value)> = case["hash_key"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                let k = k.as_str().unwrap();
                let i = columns.iter().position(|(n, _)| n == k).unwrap();
                (&columns[i].1, &row[i])
            })
            .collect();

        let column_hashes: Vec<i64> = key
            .iter()
            .map(|(ty, v)| i64::from(bucket_hash::column_hash(hasher, ty, v).unwrap()))
            .collect();
        let expected: Vec<i64> = case["column_hashes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_i64().unwrap())
            .collect();
        assert_eq!(column_hashes, expected, "{name}: column hashes");
        let sum = column_hashes
            .iter()
            .fold(0i32, |s, h| s.wrapping_add(*h as i32));
        assert_eq!(
            i64::from(sum),
            case["sum_int32"].as_i64().unwrap(),
            "{name}: sum"
        );

        let record_hash = bucket_hash::record_hash(hasher, key.iter().copied()).unwrap();
        assert_eq!(
            i64::from(record_hash),
            case["record_hash"].as_i64().unwrap(),
            "{name}: record hash"
        );
        for (n, bucket) in case["buckets"].as_object().unwrap() {
            let n: u32 = n.parse().unwrap();
            assert_eq!(
                i64::from(bucket_hash::bucket(record_hash, n)),
                bucket.as_i64().unwrap(),
                "{name}: bucket of {n}"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, VECTOR_COUNT);
}

#[test]
fn both_hashers_are_covered() {
    let cases = load_cases();
    for hasher in ["default", "legacy"] {
        let n = cases.iter().filter(|c| c["hasher"] == hasher).count();
        assert_eq!(n, VECTOR_COUNT / 2, "{hasher} cases");
    }
}
