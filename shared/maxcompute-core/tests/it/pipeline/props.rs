//! Property tests: routing is deterministic and follows time, CSV quoting round-trips, and event
//! decoding never panics (nor loses a record) whatever the mutation.

use bytes::Bytes;
use maxcompute_core::event::Headers;
use maxcompute_core::event::{
    KafkaRecord, RejectClass, TimestampType, decode_event, decode_event_str,
};
use maxcompute_core::partition::{PartitionConfig, PartitionRouter};
use maxcompute_core::rows::{Format, Mode, RowBuilder, csv};
use maxcompute_core::types::{Column, TableSchema};
use proptest::prelude::*;
use serde_json::Value as Json;
use test_support::events::{Record, trigger_event};

const CORPUS: &[&str] = &[
    "seed-test-message.json",
    "self-managed-several-partitions.json",
    "hour-boundary-gmt8.json",
    "csv-values.json",
    "json-values.json",
    "json-exact-numbers.json",
    "bad-records.json",
    "tombstone.json",
    "tolerance-only-loose-records.json",
    "headers-non-ascii.json",
    "empty-batch.json",
    "malformed-event.json",
];

fn corpus(i: usize) -> String {
    let name = CORPUS[i % CORPUS.len()];
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).unwrap()
}

/// Years 1000..=9999, where ISO values sort as text in time order.
const FROM_MS: i64 = -30_610_224_000_000;
const TO_MS: i64 = 253_402_300_799_999;

fn iso_router(granularity: &str, zone: &str) -> PartitionRouter {
    PartitionRouter::new(&PartitionConfig {
        granularity: granularity.parse().unwrap(),
        zone: zone.parse().unwrap(),
        format: "iso".parse().unwrap(),
        ..PartitionConfig::default()
    })
    .unwrap()
}

fn fixed_zone() -> impl Strategy<Value = String> {
    (-18i32..=18, prop::sample::select(vec![0, 30, 45])).prop_map(|(h, m)| {
        let m = if h.abs() == 18 { 0 } else { m };
        format!("GMT{}{:02}:{m:02}", if h < 0 { '-' } else { '+' }, h.abs())
    })
}

fn granularity() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["DAY", "HOUR", "MINUTE"])
}

proptest! {
    #[test]
    fn records_round_trip_exactly_through_the_trigger_json(records in prop::collection::vec(arb_record(), 0..12)) {
        let trigger: Vec<Record> = records.iter().map(to_trigger_record).collect();
        let event = trigger_event("SelfManagedKafka", None, &trigger);
        let batch = decode_event_str(&event.to_string()).unwrap();
        prop_assert!(batch.rejects.is_empty());
        let mut want = records;
        want.sort_by(|a, b| (&a.topic, a.partition, a.offset).cmp(&(&b.topic, b.partition, b.offset)));
        prop_assert_eq!(batch.records, want);
    }

    #[test]
    fn any_payload_becomes_a_row_or_a_classified_reject(
        value in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            "[0-9a-z,\"\\\\N .:-]{0,40}".prop_map(String::into_bytes),
            arb_json().prop_map(|j| j.to_string().into_bytes()),
        ],
        format in prop::sample::select(vec![Format::Text, Format::Binary, Format::Csv, Format::Json]),
    ) {
        let types = [
            "bigint", "tinyint", "double", "float", "boolean", "decimal(10,2)", "date",
            "datetime", "timestamp", "string", "varchar(4)",
        ];
        let mut columns: Vec<Column> = types
            .iter()
            .enumerate()
            .map(|(i, t)| Column::new(format!("c{i}"), t.parse().unwrap()))
            .collect();
        columns.push(Column::new("value", if format == Format::Binary { "binary" } else { "string" }.parse().unwrap()));
        let table = TableSchema { columns, partition_keys: vec![] };
        let b = RowBuilder::new(Mode::Value, format, "Asia/Shanghai".parse().unwrap(), &table).unwrap();
        let record = KafkaRecord {
            topic: "t".into(),
            partition: 0,
            offset: 0,
            timestamp_ms: 0,
            timestamp_type: TimestampType::CreateTime,
            key: None,
            value: Some(Bytes::from(value)),
            headers: Headers::default(),
        };
        match b.row(&record) {
            Ok(values) => prop_assert_eq!(values.len(), table.columns.len()),
            Err(e) => prop_assert!(RejectClass::ALL.contains(&e.class) && !e.message.is_empty()),
        }
    }

    #[test]
    fn routing_is_deterministic_and_monotone_in_fixed_zones(
        zone in fixed_zone(),
        g in granularity(),
        a in FROM_MS..TO_MS,
        b in FROM_MS..TO_MS,
    ) {
        let r = iso_router(g, &zone);
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let (p_lo, p_hi) = (r.route(lo).unwrap(), r.route(hi).unwrap());
        prop_assert_eq!(&p_lo, &r.route(lo).unwrap());
        let (v_lo, v_hi) = (&p_lo.levels()[0].1, &p_hi.levels()[0].1);
        prop_assert!(v_lo <= v_hi, "{} -> {}, {} -> {}", lo, v_lo, hi, v_hi);
        // Within one bucket the value does not change: the start of lo's minute routes alike.
        let minute_start = lo - lo.rem_euclid(60_000);
        prop_assert_eq!(r.route(minute_start).unwrap(), p_lo);
    }

    #[test]
    fn hour_routing_in_shanghai_is_monotone(a in 946_684_800_000i64..4_102_444_800_000, d in 0i64..10_000_000) {
        // Asia/Shanghai has had no DST since 1991, so local hours only go forward.
        let r = iso_router("HOUR", "Asia/Shanghai");
        let (p, q) = (r.route(a).unwrap(), r.route(a + d).unwrap());
        prop_assert!(p <= q);
        prop_assert_eq!(p, iso_router("HOUR", "GMT+08:00").route(a).unwrap());
    }

    #[test]
    fn csv_quoting_round_trips(
        cells in prop::collection::vec(
            prop::option::weighted(0.9, "[a-z,\"\\\\N \r\né\u{1F600}]{0,12}"),
            1..8,
        )
    ) {
        let refs: Vec<Option<&str>> = cells.iter().map(|c| c.as_deref()).collect();
        let line = csv::join(&refs);
        let back: Vec<Option<String>> = csv::split(&line)
            .unwrap()
            .into_iter()
            .map(|c| c.map(|s| s.into_owned()))
            .collect();
        prop_assert_eq!(back, cells);
    }

    #[test]
    fn decoding_never_panics_on_byte_mutations(
        file in 0..CORPUS.len(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
    ) {
        let mut bytes = corpus(file).into_bytes();
        for (at, byte, op) in edits {
            if bytes.is_empty() {
                break;
            }
            let i = at.index(bytes.len());
            match op {
                0 => bytes[i] = byte,
                1 => { bytes.remove(i); }
                _ => bytes.truncate(i),
            }
        }
        let _ = decode_event(&bytes);
    }

    #[test]
    fn decoding_never_panics_nor_loses_records_on_structural_mutations(
        file in 0..CORPUS.len() - 1,
        path in prop::collection::vec(any::<prop::sample::Index>(), 1..5),
        replacement in arb_json(),
    ) {
        let mut event: Json = serde_json::from_str(&corpus(file)).unwrap();
        replace_at(&mut event, &path, replacement);
        let text = event.to_string();
        if let Ok(batch) = decode_event_str(&text) {
            // Whatever decoded, every array element under `records` is a record or a reject.
            let elements: usize = event["records"]
                .as_object()
                .map(|o| o.values().map(|l| l.as_array().map_or(0, Vec::len)).sum())
                .unwrap_or(0);
            prop_assert_eq!(batch.records.len() + batch.rejects.len(), elements);
            let sorted = batch.records.windows(2).all(|w| {
                (&w[0].topic, w[0].partition, w[0].offset) <= (&w[1].topic, w[1].partition, w[1].offset)
            });
            prop_assert!(sorted);
        }
    }
}

fn arb_record() -> impl Strategy<Value = KafkaRecord> {
    (
        "[a-z][a-z.-]{0,8}",
        0i32..1000,
        0i64..=i64::MAX,
        any::<i64>(),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..40)),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..40)),
        prop::collection::vec(
            ("[a-zé-]{0,6}", prop::collection::vec(any::<u8>(), 0..6)),
            0..4,
        ),
    )
        .prop_map(
            |(topic, partition, offset, timestamp_ms, key, value, headers)| KafkaRecord {
                topic: topic.into(),
                partition,
                offset,
                timestamp_ms,
                timestamp_type: TimestampType::CreateTime,
                key: key.map(Bytes::from),
                value: value.map(Bytes::from),
                headers: headers.into_iter().collect(),
            },
        )
}

/// The record as the trigger writes it: base64 payloads, headers as Java signed bytes.
/// `r` as the trigger sends it (a null key or value left out, as AWS's trigger does).
fn to_trigger_record(r: &KafkaRecord) -> Record {
    Record {
        key: r.key.as_deref().map(<[u8]>::to_vec),
        value: r.value.as_deref().map(<[u8]>::to_vec),
        headers: r.headers.to_vec(),
        ..Record::new(&r.topic, r.partition, r.offset, r.timestamp_ms)
    }
}

fn arb_json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(Json::from),
        any::<f64>().prop_map(Json::from),
        "[A-Za-z0-9+/=\\\\ é-]{0,10}".prop_map(Json::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
            prop::collection::vec(("[a-z]{1,9}", inner), 0..4)
                .prop_map(|kv| Json::Object(kv.into_iter().collect())),
        ]
    })
}

/// Walks down `path` (each step picks a child by index) and replaces the node reached.
fn replace_at(node: &mut Json, path: &[prop::sample::Index], replacement: Json) {
    let Some((step, rest)) = path.split_first() else {
        *node = replacement;
        return;
    };
    let child = match node {
        Json::Array(items) if !items.is_empty() => {
            let i = step.index(items.len());
            &mut items[i]
        }
        Json::Object(map) if !map.is_empty() => {
            let i = step.index(map.len());
            map.values_mut().nth(i).unwrap()
        }
        _ => {
            *node = replacement;
            return;
        }
    };
    if rest.is_empty() {
        *child = replacement;
    } else {
        replace_at(child, rest, replacement);
    }
}
