//! Property tests: random schemas (every type, nested ones included) and rows round-trip
//! through the encoder and decoder bit for bit; the decoder and `inflate` never panic, on
//! arbitrary bytes or on damaged valid blocks.

use maxcompute_core::codec::{
    BufferPool, Packer, RecordWriter, decode_block, deflate, encode_block, inflate,
};
use maxcompute_core::types::{OdpsType, StructField, Value};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

use crate::common::same;

fn leaf_type() -> impl Strategy<Value = OdpsType> {
    prop_oneof![
        Just(OdpsType::Boolean),
        Just(OdpsType::TinyInt),
        Just(OdpsType::SmallInt),
        Just(OdpsType::Int),
        Just(OdpsType::BigInt),
        Just(OdpsType::Float),
        Just(OdpsType::Double),
        Just(OdpsType::String),
        (1u32..20).prop_map(OdpsType::Varchar),
        (1u32..10).prop_map(OdpsType::Char),
        Just(OdpsType::Binary),
        Just(OdpsType::Json),
        (1u8..=38)
            .prop_flat_map(|p| (Just(p), 0..=p.min(18)))
            .prop_map(|(precision, scale)| OdpsType::Decimal { precision, scale }),
        Just(OdpsType::Date),
        Just(OdpsType::DateTime),
        Just(OdpsType::Timestamp),
        Just(OdpsType::TimestampNtz),
    ]
}

fn column_type() -> impl Strategy<Value = OdpsType> {
    leaf_type().prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|t| OdpsType::Array(Box::new(t))),
            (inner.clone(), inner.clone())
                .prop_map(|(k, v)| OdpsType::Map(Box::new(k), Box::new(v))),
            prop::collection::vec(inner, 1..4).prop_map(|tys| {
                OdpsType::Struct(
                    tys.into_iter()
                        .enumerate()
                        .map(|(i, ty)| StructField {
                            name: format!("f{i}"),
                            ty,
                        })
                        .collect(),
                )
            }),
        ]
    })
}

fn text(max_chars: usize) -> BoxedStrategy<Value> {
    prop::collection::vec(any::<char>(), 0..=max_chars)
        .prop_map(|cs| Value::text(cs.into_iter().collect::<String>()))
        .boxed()
}

fn digits(n: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(0u8..10, n)
        .prop_map(|d| d.into_iter().map(|x| (b'0' + x) as char).collect())
}

/// A valid non-null value of the type.
fn value(ty: &OdpsType) -> BoxedStrategy<Value> {
    match ty {
        OdpsType::Boolean => any::<bool>().prop_map(Value::Boolean).boxed(),
        OdpsType::TinyInt | OdpsType::SmallInt | OdpsType::Int | OdpsType::BigInt => {
            let (min, max) = ty.integer_range().unwrap();
            prop_oneof![
                Just(min),
                Just(max),
                min.max(-300)..=max.min(300),
                min..=max
            ]
            .prop_map(Value::Integer)
            .boxed()
        }
        OdpsType::Float => any::<f32>().prop_map(Value::Float).boxed(),
        OdpsType::Double => any::<f64>().prop_map(Value::Double).boxed(),
        OdpsType::String | OdpsType::Binary => prop::collection::vec(any::<u8>(), 0..40)
            .prop_map(Value::Bytes)
            .boxed(),
        OdpsType::Varchar(n) | OdpsType::Char(n) => text(*n as usize),
        OdpsType::Json => text(30),
        OdpsType::Decimal { precision, scale } => {
            let int_max = usize::from(precision - scale);
            let frac_max = usize::from(*scale);
            // The plain form the decoder gives back (no `+`, no leading zeros, no `-0`), so
            // that the round trip compares equal; other spellings are pinned in codec::encode.
            (
                prop_oneof![Just(""), Just("-")],
                (1..=int_max.max(1)).prop_flat_map(digits),
                (0..=frac_max).prop_flat_map(digits),
            )
                .prop_map(move |(sign, int, frac)| {
                    let int = int.trim_start_matches('0');
                    let int = if int.is_empty() || int_max == 0 {
                        "0"
                    } else {
                        int
                    };
                    let zero = int == "0" && frac.bytes().all(|b| b == b'0');
                    let sign = if zero { "" } else { sign };
                    if frac.is_empty() {
                        Value::Decimal(format!("{sign}{int}"))
                    } else {
                        Value::Decimal(format!("{sign}{int}.{frac}"))
                    }
                })
                .boxed()
        }
        OdpsType::Date => any::<i64>().prop_map(Value::Date).boxed(),
        OdpsType::DateTime => any::<i64>().prop_map(Value::DateTime).boxed(),
        OdpsType::Timestamp | OdpsType::TimestampNtz => (any::<i64>(), 0u32..1_000_000_000)
            .prop_map(|(seconds, nanos)| Value::Timestamp { seconds, nanos })
            .boxed(),
        OdpsType::Array(elem) => prop::collection::vec(nullable(elem), 0..4)
            .prop_map(Value::Array)
            .boxed(),
        OdpsType::Map(k, v) => prop::collection::vec((nullable(k), nullable(v)), 0..4)
            .prop_map(Value::Map)
            .boxed(),
        OdpsType::Struct(fields) => fields
            .iter()
            .map(|f| nullable(&f.ty))
            .collect::<Vec<_>>()
            .prop_map(Value::Struct)
            .boxed(),
    }
}

fn nullable(ty: &OdpsType) -> BoxedStrategy<Value> {
    prop_oneof![1 => Just(Value::Null), 4 => value(ty)].boxed()
}

fn row(types: &[OdpsType]) -> BoxedStrategy<Vec<Value>> {
    types
        .iter()
        .map(nullable)
        .collect::<Vec<_>>()
        .prop_map(|cells| cells)
        .boxed()
}

/// A schema and some rows of it.
fn block() -> impl Strategy<Value = (Vec<OdpsType>, Vec<Vec<Value>>)> {
    prop::collection::vec(column_type(), 1..6).prop_flat_map(|types| {
        let rows = prop::collection::vec(row(&types), 0..5);
        (Just(types), rows)
    })
}

fn same_rows(a: &[Vec<Value>], b: &[Vec<Value>]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)))
}

/// A damaged copy of a block: bytes flipped, inserted, removed or cut.
#[derive(Debug, Clone)]
enum Damage {
    Flip(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Truncate(usize),
}

fn apply(bytes: &mut Vec<u8>, damage: &[Damage]) {
    for d in damage {
        let n = bytes.len();
        match *d {
            Damage::Flip(i, x) if n > 0 => bytes[i % n] ^= x.max(1),
            Damage::Insert(i, x) => bytes.insert(i % (n + 1), x),
            Damage::Remove(i) if n > 0 => {
                bytes.remove(i % n);
            }
            Damage::Truncate(i) => bytes.truncate(i % (n + 1)),
            _ => {}
        }
    }
}

fn damage() -> impl Strategy<Value = Vec<Damage>> {
    prop::collection::vec(
        prop_oneof![
            4 => (any::<usize>(), any::<u8>()).prop_map(|(i, x)| Damage::Flip(i, x)),
            1 => (any::<usize>(), any::<u8>()).prop_map(|(i, x)| Damage::Insert(i, x)),
            1 => any::<usize>().prop_map(Damage::Remove),
            1 => any::<usize>().prop_map(Damage::Truncate),
        ],
        1..4,
    )
}

proptest! {
    // Integration tests have no lib.rs for the default persistence to find; keep failures
    // beside this file, in props.proptest-regressions.
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn blocks_round_trip((types, rows) in block()) {
        let body = encode_block(&types, &rows).unwrap();
        let back = decode_block(&types, &body).unwrap();
        prop_assert!(same_rows(&back, &rows), "decoded {:?}\nwritten {:?}", back, rows);

        // The streaming writer gives the same bytes, and its accounting matches them.
        let mut w = RecordWriter::new(types.clone());
        for r in &rows {
            w.write(r).unwrap();
        }
        prop_assert_eq!(w.record_count(), rows.len() as u64);
        let records_len = w.buffered_bytes();
        let streamed = w.finish();
        prop_assert!(streamed.len() > records_len && streamed.len() <= records_len + 20);
        prop_assert_eq!(&streamed, &body);

        // And through zlib.
        prop_assert_eq!(inflate(&deflate(&body), body.len()).unwrap(), body);
    }

    #[test]
    fn packs_hold_the_bytes_of_their_rows_in_order_and_regrouped(
        (types, rows) in block(),
        groups in prop::collection::vec(0u32..4, 0..64),
    ) {
        let mut packer = Packer::new(types.clone(), rows.len(), &BufferPool::new());
        for r in &rows {
            packer.push(r).unwrap();
        }
        prop_assert_eq!(packer.len(), rows.len());
        let encoded = packer.finish();
        // In order: the packs are the rows, consecutively, each pack the encoder's own block.
        let in_order: Vec<usize> = encoded.in_order().iter().flat_map(|p| p.rows.clone()).collect();
        prop_assert_eq!(in_order, (0..rows.len()).collect::<Vec<_>>());
        for pack in encoded.in_order() {
            let expected: Vec<Vec<Value>> = pack.rows.iter().map(|&i| rows[i].clone()).collect();
            prop_assert_eq!(&pack.bytes[..], &encode_block(&types, &expected).unwrap()[..]);
        }
        // Regrouped: each group's rows in push order, copied records making the same block the
        // encoder makes of those rows, every row in exactly one pack.
        let group_of = |i: usize| groups.get(i).copied().unwrap_or(0);
        let grouped = encoded.grouped(group_of);
        let mut seen: Vec<usize> = Vec::new();
        for (group, pack) in &grouped {
            prop_assert!(pack.rows.iter().all(|&i| group_of(i) == *group));
            prop_assert!(pack.rows.is_sorted());
            let expected: Vec<Vec<Value>> = pack.rows.iter().map(|&i| rows[i].clone()).collect();
            prop_assert_eq!(&pack.bytes[..], &encode_block(&types, &expected).unwrap()[..]);
            prop_assert_eq!(pack.count(), expected.len() as u64);
            seen.extend(&pack.rows);
        }
        seen.sort_unstable();
        prop_assert_eq!(seen, (0..rows.len()).collect::<Vec<_>>());
        // No pack fills with rows this small: one pack per group, groups ascending.
        prop_assert!(grouped.windows(2).all(|w| w[0].0 < w[1].0), "groups ascend");
    }

    #[test]
    fn decoder_never_panics_on_damaged_blocks((types, rows) in block(), damage in damage()) {
        let mut bytes = encode_block(&types, &rows).unwrap();
        apply(&mut bytes, &damage);
        let _ = decode_block(&types, &bytes);
        let _ = inflate(&bytes, 1 << 16);
        let mut z = deflate(&bytes);
        apply(&mut z, &damage);
        let _ = inflate(&z, 1 << 16);
    }

    #[test]
    fn decoder_never_panics_on_arbitrary_bytes(
        types in prop::collection::vec(column_type(), 1..6),
        bytes in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let _ = decode_block(&types, &bytes);
        let _ = inflate(&bytes, 1 << 16);
    }
}
