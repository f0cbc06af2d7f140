//! Row building over the `events/` corpus: modes, formats, metadata columns, rejects.

use bytes::Bytes;
use maxcompute_core::codec::MAX_CELL_BYTES;
use maxcompute_core::event::Headers;
use maxcompute_core::event::{DecodedBatch, KafkaRecord, RejectClass, TimestampType, decode_event};
use maxcompute_core::partition::{PartitionConfig, PartitionRouter, TimeSource};
use maxcompute_core::rows::{BuiltRows, Format, Mode, RowBuilder, RowConfigError, build_rows};
use maxcompute_core::types::{Column, OdpsType, TableSchema, Value};

fn decode_file(name: &str) -> DecodedBatch {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    decode_event(&std::fs::read(&path).unwrap()).unwrap()
}

fn schema(columns: &[(&str, &str)]) -> TableSchema {
    TableSchema {
        columns: columns
            .iter()
            .map(|(n, t)| Column::new(*n, t.parse().unwrap()))
            .collect(),
        partition_keys: vec![Column::new("pt", OdpsType::String)],
    }
}

const SEED: &[(&str, &str)] = &[
    ("topic", "string"),
    ("partition", "bigint"),
    ("offset", "bigint"),
    ("key", "string"),
    ("value", "string"),
];

fn builder(mode: Mode, format: Format, columns: &[(&str, &str)]) -> RowBuilder {
    RowBuilder::new(mode, format, "GMT+08:00".parse().unwrap(), &schema(columns)).unwrap()
}

fn seed_router() -> PartitionRouter {
    PartitionRouter::new(&PartitionConfig::default()).unwrap()
}

fn build<'a>(records: &'a [KafkaRecord], b: &RowBuilder) -> BuiltRows<'a> {
    build_rows(records, b, &seed_router(), 0)
}

fn t(s: &str) -> Value {
    Value::text(s)
}

/// (partition spec, offset, values) for every row, in order.
fn flat(built: &BuiltRows<'_>) -> Vec<(String, i64, Vec<Value>)> {
    built
        .partitions
        .iter()
        .flat_map(|(spec, rows)| {
            rows.iter()
                .map(move |r| (spec.to_string(), r.record.offset, r.values.clone()))
        })
        .collect()
}

fn reject_summary(built: &BuiltRows<'_>) -> Vec<(Option<i64>, &'static str, String)> {
    built
        .rejects
        .iter()
        .map(|r| (r.offset, r.class.as_str(), r.message.clone()))
        .collect()
}

#[test]
fn seed_verification_message_lands_in_its_hour() {
    let batch = decode_file("seed-test-message.json");
    let built = build(&batch.records, &builder(Mode::Default, Format::Text, SEED));
    assert!(built.rejects.is_empty());
    assert_eq!(
        flat(&built),
        vec![(
            "pt=11-17-2020 15".to_owned(),
            0,
            vec![
                t("maxcompute-test-input"),
                Value::Integer(0),
                Value::Integer(0),
                t("1"),
                t("1")
            ]
        )]
    );
    let row = &built.partitions.values().next().unwrap()[0];
    assert_eq!(
        (&*row.record.topic, row.record.partition, row.record.offset),
        ("maxcompute-test-input", 0, 0)
    );
}

#[test]
fn modes_write_key_value_or_both() {
    let batch = decode_file("seed-test-message.json");
    let cells = |mode| {
        let built = build(&batch.records, &builder(mode, Format::Text, SEED));
        let row = built.partitions.into_values().next().unwrap().remove(0);
        row.values[3..].to_vec()
    };
    assert_eq!(cells(Mode::Default), vec![t("1"), t("1")]);
    assert_eq!(cells(Mode::Key), vec![t("1"), Value::Null]);
    assert_eq!(cells(Mode::Value), vec![Value::Null, t("1")]);
}

#[test]
fn metadata_columns_and_partitions_across_an_hour() {
    let batch = decode_file("self-managed-several-partitions.json");
    let columns = [
        ("TOPIC", "string"),
        ("Partition", "int"),
        ("offset", "bigint"),
        ("key", "string"),
        ("value", "json"),
        ("timestamp", "datetime"),
        ("timestamp_type", "string"),
        ("headers", "string"),
        ("note", "string"),
    ];
    let built = build(
        &batch.records,
        &builder(Mode::Default, Format::Text, &columns),
    );
    assert!(built.rejects.is_empty(), "{:?}", built.rejects);
    let specs: Vec<(String, usize)> = built
        .partitions
        .iter()
        .map(|(s, rows)| (s.to_string(), rows.len()))
        .collect();
    assert_eq!(
        specs,
        vec![
            ("pt=06-18-2025 16".to_owned(), 5),
            ("pt=06-18-2025 17".to_owned(), 1)
        ]
    );
    let rows = flat(&built);
    let offsets: Vec<i64> = rows.iter().map(|r| r.1).collect();
    assert_eq!(offsets, vec![100, 101, 7, 42, 43, 44]);
    assert_eq!(
        rows[3].2,
        vec![
            t("orders-eu"),
            Value::Integer(2),
            Value::Integer(42),
            t("order-42"),
            t(r#"{"id":42,"total":"19.90"}"#),
            Value::DateTime(1_750_237_198_120),
            t("CREATE_TIME"),
            t(r#"[{"key":"source","value":"web"}]"#),
            Value::Null,
        ]
    );
    assert_eq!(rows[1].2[6], t("LOG_APPEND_TIME"));
    assert_eq!(rows[1].2[7], t("[]"));
}

#[test]
fn timestamp_columns_of_every_accepted_type() {
    let batch = decode_file("self-managed-several-partitions.json");
    let rec = &batch.records[3];
    let value_of = |ty: &str| {
        let b = builder(
            Mode::Value,
            Format::Text,
            &[("value", "string"), ("timestamp", ty)],
        );
        b.row(rec).unwrap()[1].clone()
    };
    assert_eq!(value_of("datetime"), Value::DateTime(1_750_237_198_120));
    assert_eq!(value_of("bigint"), Value::Integer(1_750_237_198_120));
    assert_eq!(
        value_of("timestamp"),
        Value::Timestamp {
            seconds: 1_750_237_198,
            nanos: 120_000_000
        }
    );
    // A record without a timestamp gets NULL, not 1969.
    let mut none = rec.clone();
    none.timestamp_ms = -1;
    none.timestamp_type = TimestampType::NoTimestampType;
    let b = builder(
        Mode::Value,
        Format::Text,
        &[("value", "string"), ("timestamp", "datetime")],
    );
    assert_eq!(b.row(&none).unwrap()[1], Value::Null);
}

#[test]
fn hour_boundary_splits_the_batch_in_two_partitions() {
    let batch = decode_file("hour-boundary-gmt8.json");
    let built = build(&batch.records, &builder(Mode::Value, Format::Text, SEED));
    let got: Vec<(String, Vec<i64>)> = built
        .partitions
        .iter()
        .map(|(s, rows)| {
            (
                s.to_string(),
                rows.iter().map(|r| r.record.offset).collect(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("pt=11-17-2020 14".to_owned(), vec![10, 11]),
            ("pt=11-17-2020 15".to_owned(), vec![12, 13])
        ]
    );
}

#[test]
fn processing_time_puts_everything_in_now() {
    let batch = decode_file("hour-boundary-gmt8.json");
    let router = PartitionRouter::new(&PartitionConfig {
        time_source: TimeSource::ProcessingTime,
        ..PartitionConfig::default()
    })
    .unwrap();
    let now = 1_750_237_198_120; // 2025-06-18 16:59:58.120 at GMT+8
    let built = build_rows(
        &batch.records,
        &builder(Mode::Value, Format::Text, SEED),
        &router,
        now,
    );
    let specs: Vec<String> = built.partitions.keys().map(|s| s.to_string()).collect();
    assert_eq!(specs, vec!["pt=06-18-2025 16"]);
    assert_eq!(built.row_count(), 4);
}

#[test]
fn tombstones_write_null() {
    let batch = decode_file("tombstone.json");
    let built = build(&batch.records, &builder(Mode::Value, Format::Text, SEED));
    assert!(built.rejects.is_empty());
    let values: Vec<(i64, Value, Value)> = flat(&built)
        .into_iter()
        .map(|(_, o, v)| (o, v[3].clone(), v[4].clone()))
        .collect();
    assert_eq!(
        values,
        vec![
            (5, Value::Null, t("alice")),
            (6, Value::Null, Value::Null),
            (7, Value::Null, Value::Null),
            (8, Value::Null, t("keyless")),
        ]
    );
    let built = build(
        &batch.records,
        &builder(Mode::Default, Format::Binary, SEED),
    );
    let keys: Vec<Value> = flat(&built)
        .into_iter()
        .map(|(_, _, v)| v[3].clone())
        .collect();
    assert_eq!(
        keys,
        vec![t("user-1"), t("user-1"), t("user-2"), Value::Null]
    );
    // CSV cannot make a row out of nothing: the tombstones go to the error topic.
    let built = build(
        &batch.records,
        &builder(Mode::Value, Format::Csv, &[("name", "string")]),
    );
    assert_eq!(built.row_count(), 2);
    assert_eq!(
        reject_summary(&built),
        vec![
            (
                Some(6),
                "missing_payload",
                "the record has no value to read".to_owned()
            ),
            (
                Some(7),
                "missing_payload",
                "the record has no value to read".to_owned()
            ),
        ]
    );
}

#[test]
fn headers_as_json_text_or_maps() {
    let batch = decode_file("headers-non-ascii.json");
    let rec = &batch.records[0];
    let b = builder(
        Mode::Value,
        Format::Text,
        &[("value", "string"), ("headers", "string")],
    );
    assert_eq!(
        b.row(rec).unwrap()[1],
        t(concat!(
            r#"[{"key":"trace-id","value":"abc"},{"key":"ünïcode-key","value":"é"},"#,
            r#"{"key":"trace-id","value":"def"},{"key":"bin","base64":"/wB/gA=="},"#,
            r#"{"key":"empty","value":""}]"#
        ))
    );
    let b = builder(
        Mode::Value,
        Format::Text,
        &[("value", "string"), ("headers", "map<string,binary>")],
    );
    let Value::Map(entries) = &b.row(rec).unwrap()[1] else {
        panic!("not a map")
    };
    let entries: Vec<(Value, Value)> = entries.clone();
    assert_eq!(
        entries,
        vec![
            (t("trace-id"), Value::Bytes(b"abc".to_vec())),
            (t("ünïcode-key"), Value::Bytes("é".as_bytes().to_vec())),
            (t("trace-id"), Value::Bytes(b"def".to_vec())),
            (t("bin"), Value::Bytes(vec![0xff, 0x00, 0x7f, 0x80])),
            (t("empty"), Value::Bytes(vec![])),
        ]
    );
    // MAP<STRING,STRING> needs UTF-8 values: the `bin` header makes the record a reject.
    let b = builder(
        Mode::Value,
        Format::Text,
        &[("value", "string"), ("headers", "map<string,string>")],
    );
    let err = b.row(rec).unwrap_err();
    assert_eq!(err.class, RejectClass::InvalidUtf8);
    assert_eq!(err.message, "column `headers`: header `bin` is not UTF-8");
}

#[test]
fn text_rejects_invalid_utf8_and_binary_keeps_the_bytes() {
    let batch = decode_file("bad-records.json");
    let text = build(&batch.records, &builder(Mode::Value, Format::Text, SEED));
    assert_eq!(
        reject_summary(&text),
        vec![(
            Some(2),
            "invalid_utf8",
            "column `value`: the value is not UTF-8: invalid utf-8 sequence of 1 bytes from index 0"
                .to_owned()
        )]
    );
    // The reject keeps the original bytes for the error topic.
    assert_eq!(text.rejects[0].value.as_deref(), Some(&b"\xff\xfe,bad"[..]));
    assert_eq!(text.rejects[0].key.as_deref(), Some(&b"utf8"[..]));
    assert_eq!(text.rejects[0].timestamp_ms, Some(1_605_596_645_002));
    assert_eq!(text.row_count(), 5);

    let binary = build(
        &batch.records,
        &builder(
            Mode::Value,
            Format::Binary,
            &[("value", "binary"), ("offset", "bigint")],
        ),
    );
    assert!(binary.rejects.is_empty());
    let rows = flat(&binary);
    assert_eq!(
        rows[1].2,
        vec![Value::Bytes(b"\xff\xfe,bad".to_vec()), Value::Integer(2)]
    );
    assert_eq!(rows[5].2, vec![Value::Null, Value::Integer(6)]);
}

#[test]
fn csv_values_convert_by_column_index() {
    let batch = decode_file("csv-values.json");
    let columns = [
        ("id", "bigint"),
        ("name", "string"),
        ("score", "double"),
        ("active", "boolean"),
        ("amount", "decimal(10,2)"),
        ("day", "date"),
        ("seen", "datetime"),
    ];
    let built = build(&batch.records, &builder(Mode::Value, Format::Csv, &columns));
    assert!(built.rejects.is_empty(), "{:?}", built.rejects);
    let rows: Vec<Vec<Value>> = flat(&built).into_iter().map(|(_, _, v)| v).collect();
    assert_eq!(
        rows,
        vec![
            vec![
                Value::Integer(1),
                t("alice"),
                Value::Double(9.5),
                Value::Boolean(true),
                Value::Decimal("12.34".to_owned()),
                Value::Date(18_583),
                Value::DateTime(1_605_596_645_000),
            ],
            vec![
                Value::Integer(2),
                t("Smith, Bob"),
                Value::Double(7.0),
                Value::Boolean(false),
                Value::Null,
                Value::Date(18_584),
                Value::DateTime(1_605_628_800_000),
            ],
            vec![
                Value::Integer(3),
                t("say \"hi\""),
                Value::Null,
                Value::Boolean(true),
                Value::Decimal("-0.5".to_owned()),
                Value::Date(-1),
                Value::DateTime(0),
            ],
        ]
    );
}

#[test]
fn csv_rejects_one_class_each() {
    let batch = decode_file("bad-records.json");
    let b = builder(
        Mode::Value,
        Format::Csv,
        &[("id", "bigint"), ("name", "string")],
    );
    let built = build(&batch.records, &b);
    assert_eq!(
        flat(&built),
        vec![(
            "pt=11-17-2020 15".to_owned(),
            1,
            vec![Value::Integer(1), t("good")]
        )]
    );
    assert_eq!(
        reject_summary(&built),
        vec![
            (
                Some(2),
                "invalid_utf8",
                "value is not UTF-8: invalid utf-8 sequence of 1 bytes from index 0".to_owned()
            ),
            (
                Some(3),
                "csv_field_count",
                "value has 3 CSV cells, the table has 2 columns".to_owned()
            ),
            (
                Some(4),
                "type_conversion",
                "column `id` (bigint): `x` is not an integer".to_owned()
            ),
            (
                Some(5),
                "csv_syntax",
                "value: cell 1 opens a quote that is never closed".to_owned()
            ),
            (
                Some(6),
                "missing_payload",
                "the record has no value to read".to_owned()
            ),
        ]
    );
    // KEY mode reads the keys instead: "ok" is one cell for a two-column table.
    let key_built = build(
        &batch.records,
        &RowBuilder::new(
            Mode::Key,
            Format::Csv,
            "UTC".parse().unwrap(),
            &schema(&[("k", "string")]),
        )
        .unwrap(),
    );
    assert_eq!(key_built.row_count(), 6);
}

#[test]
fn json_values_fill_columns_by_name() {
    let batch = decode_file("json-values.json");
    let columns = [
        ("id", "bigint"),
        ("name", "string"),
        ("tags", "array<string>"),
        ("attrs", "map<string,bigint>"),
        ("payload", "string"),
        ("topic", "string"),
        ("offset", "bigint"),
        ("timestamp", "datetime"),
    ];
    let built = build(
        &batch.records,
        &builder(Mode::Value, Format::Json, &columns),
    );
    let rows: Vec<(i64, Vec<Value>)> = flat(&built).into_iter().map(|(_, o, v)| (o, v)).collect();
    assert_eq!(
        rows,
        vec![
            (
                200,
                vec![
                    Value::Integer(1),
                    t("alice"),
                    Value::Array(vec![t("a"), t("b")]),
                    Value::Map(vec![
                        (t("x"), Value::Integer(1)),
                        (t("y"), Value::Integer(-2))
                    ]),
                    t(r#"{"nested":true}"#),
                    t("json-input"),
                    Value::Integer(200),
                    Value::DateTime(1_605_596_645_000),
                ]
            ),
            (
                201,
                vec![
                    Value::Integer(2),
                    Value::Null,
                    Value::Array(vec![]),
                    Value::Map(vec![]),
                    t("[1,2]"),
                    t("json-input"),
                    Value::Integer(201),
                    // The object's own `timestamp` field wins over the record's.
                    Value::DateTime(1_605_596_400_000),
                ]
            ),
        ]
    );
    assert_eq!(
        reject_summary(&built),
        vec![
            (
                Some(202),
                "invalid_json",
                "value is JSON but not an object".to_owned()
            ),
            (
                Some(203),
                "invalid_json",
                "value is not JSON: EOF while parsing an object at line 1 column 26".to_owned()
            ),
            (
                Some(204),
                "type_conversion",
                "column `id` (bigint): `5.5` is not an integer in range for bigint".to_owned()
            ),
        ]
    );
}

fn record(value: Vec<u8>) -> KafkaRecord {
    KafkaRecord {
        topic: "t".into(),
        partition: 0,
        offset: 1,
        timestamp_ms: 0,
        timestamp_type: TimestampType::CreateTime,
        key: None,
        value: Some(Bytes::from(value)),
        headers: Headers::default(),
    }
}

#[test]
fn cells_over_8_mib_are_rejected() {
    let b = builder(Mode::Value, Format::Binary, &[("value", "binary")]);
    assert!(b.row(&record(vec![b'a'; MAX_CELL_BYTES])).is_ok());
    let err = b.row(&record(vec![b'a'; MAX_CELL_BYTES + 1])).unwrap_err();
    assert_eq!(err.class, RejectClass::CellTooLarge);
    assert_eq!(
        err.message,
        "column `value` would hold 8388609 bytes, over MaxCompute's 8388608-byte cell limit"
    );
    let records = [record(vec![b'a'; MAX_CELL_BYTES + 1])];
    let built = build(&records, &b);
    assert_eq!(built.rejects[0].class.as_str(), "cell_too_large");
    assert_eq!(
        built.rejects[0].value.as_ref().map(Vec::len),
        Some(MAX_CELL_BYTES + 1)
    );
}

#[test]
fn text_length_and_json_column_checks() {
    let b = builder(Mode::Value, Format::Text, &[("value", "varchar(3)")]);
    assert_eq!(b.row(&record(b"abc".to_vec())).unwrap(), vec![t("abc")]);
    let err = b.row(&record(b"abcd".to_vec())).unwrap_err();
    assert_eq!(
        (err.class, err.message.as_str()),
        (
            RejectClass::TypeConversion,
            "column `value`: 4 characters do not fit varchar(3)"
        )
    );
    let b = builder(Mode::Value, Format::Text, &[("value", "json")]);
    assert_eq!(
        b.row(&record(b"{\"a\":1}".to_vec())).unwrap(),
        vec![t("{\"a\":1}")]
    );
    assert_eq!(
        b.row(&record(b"{oops".to_vec())).unwrap_err().class,
        RejectClass::InvalidJson
    );
}

#[test]
fn out_of_calendar_timestamps_are_partition_rejects() {
    let mut r = record(b"x".to_vec());
    r.timestamp_ms = i64::MAX;
    let records = [r];
    let built = build(&records, &builder(Mode::Value, Format::Text, SEED));
    assert_eq!(built.row_count(), 0);
    assert_eq!(built.rejects[0].class, RejectClass::PartitionValue);
}

#[test]
fn unsorted_input_comes_out_sorted() {
    let mut records: Vec<KafkaRecord> = (0..5)
        .map(|i| {
            let mut r = record(format!("{i}").into_bytes());
            r.offset = 10 - i;
            r.partition = (i % 2) as i32;
            r
        })
        .collect();
    records.swap(0, 3);
    let built = build(&records, &builder(Mode::Value, Format::Text, SEED));
    let order: Vec<(i32, i64)> = built
        .partitions
        .values()
        .flatten()
        .map(|r| (r.record.partition, r.record.offset))
        .collect();
    assert_eq!(order, vec![(0, 6), (0, 8), (0, 10), (1, 7), (1, 9)]);
}

#[test]
fn configuration_errors_are_caught_at_cold_start() {
    let err = |mode: Mode, format: Format, columns: &[(&str, &str)]| {
        RowBuilder::new(mode, format, "UTC".parse().unwrap(), &schema(columns))
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err(Mode::Default, Format::Csv, SEED),
        "format CSV needs mode KEY or VALUE, not DEFAULT (it fills the table's columns from one field)"
    );
    assert_eq!(
        err(Mode::Default, Format::Json, SEED),
        "format JSON needs mode KEY or VALUE, not DEFAULT (it fills the table's columns from one field)"
    );
    assert_eq!(
        err(Mode::Value, Format::Text, &[("key", "string")]),
        "mode VALUE writes the record value to a column named `value`, and the table has none"
    );
    assert_eq!(
        err(
            Mode::Default,
            Format::Text,
            &[("key", "bigint"), ("value", "string")]
        ),
        "column `key` has type bigint: format TEXT writes text: expected STRING, VARCHAR, CHAR, JSON or BINARY"
    );
    assert_eq!(
        err(Mode::Value, Format::Binary, &[("value", "varchar(10)")]),
        "column `value` has type varchar(10): format BINARY writes bytes unchanged: expected BINARY or STRING"
    );
    assert_eq!(
        err(
            Mode::Value,
            Format::Text,
            &[("value", "string"), ("offset", "string")]
        ),
        "column `offset` has type string: the offset is a 64-bit number: expected BIGINT"
    );
    assert_eq!(
        err(Mode::Value, Format::Csv, &[("a", "array<bigint>")]),
        "column `a` has type array<bigint>: CSV cells are scalars: use format JSON for ARRAY, MAP and STRUCT columns"
    );
    assert_eq!(
        err(Mode::Value, Format::Text, &[]),
        "the table has no data columns"
    );
    let mut not_null = schema(&[("value", "string"), ("extra", "string")]);
    not_null.columns[1].nullable = false;
    assert_eq!(
        RowBuilder::new(Mode::Value, Format::Text, "UTC".parse().unwrap(), &not_null).unwrap_err(),
        RowConfigError::NotNull {
            column: "extra".to_owned(),
            mode: Mode::Value,
            format: Format::Text
        }
    );
    assert_eq!(
        "both".parse::<Mode>().unwrap_err().to_string(),
        "unknown mode `both`: expected KEY, VALUE or DEFAULT"
    );
    assert_eq!(
        "avro".parse::<Format>().unwrap_err().to_string(),
        "unknown format `avro`: expected TEXT, BINARY, CSV, JSON or DEBEZIUM"
    );
    assert_eq!("value".parse::<Mode>(), Ok(Mode::Value));
    assert_eq!(" csv ".parse::<Format>(), Ok(Format::Csv));
    assert_eq!(Mode::default(), Mode::Default);
    assert_eq!(Format::default(), Format::Text);
}

#[test]
fn every_file_in_events_is_used_by_a_pipeline_test() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events");
    let sources = [
        include_str!("events.rs"),
        include_str!("partition.rs"),
        include_str!("rows.rs"),
        include_str!("props.rs"),
        // The error topic's sample events are the error handler's pipeline input.
        include_str!("../../../../../functions/error-handler/tests/it/sample_events.rs"),
        include_str!("../../../../../functions/error-handler/tests/it/emulator_flow.rs"),
    ]
    .concat();
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(names.len() >= 10, "{names:?}");
    for name in names {
        assert!(
            sources.contains(&format!("\"{name}\"")) || sources.contains(&format!("/{name}\"")),
            "events/{name} is not used by any pipeline test"
        );
    }
}

#[test]
fn a_pattern_coarser_than_the_granularity_groups_into_one_partition() {
    let batch = decode_file("hour-boundary-gmt8.json");
    let router = PartitionRouter::new(&PartitionConfig {
        format: "%Y%m%d".parse().unwrap(),
        ..PartitionConfig::default()
    })
    .unwrap();
    let built = build_rows(
        &batch.records,
        &builder(Mode::Value, Format::Text, SEED),
        &router,
        0,
    );
    let got: Vec<(String, usize)> = built
        .partitions
        .iter()
        .map(|(s, rows)| (s.to_string(), rows.len()))
        .collect();
    assert_eq!(got, vec![("pt=20201117".to_owned(), 4)]);
}

#[test]
fn nested_text_counts_toward_the_cell_limit() {
    let half = "a".repeat(MAX_CELL_BYTES / 2);
    let value = format!(r#"{{"tags":["{half}","{half}","x"]}}"#).into_bytes();
    let b = builder(Mode::Value, Format::Json, &[("tags", "array<string>")]);
    let err = b.row(&record(value)).unwrap_err();
    assert_eq!(err.class, RejectClass::CellTooLarge);
    assert_eq!(
        err.message,
        "column `tags` would hold 8388609 bytes, over MaxCompute's 8388608-byte cell limit"
    );
}

#[test]
fn json_in_key_mode_reads_the_key() {
    let mut r = record(b"not json at all".to_vec());
    r.key = Some(Bytes::from_static(br#"{"user":"u-1","n":3}"#));
    let b = builder(
        Mode::Key,
        Format::Json,
        &[("user", "string"), ("n", "int"), ("partition", "int")],
    );
    assert_eq!(
        b.row(&r).unwrap(),
        vec![t("u-1"), Value::Integer(3), Value::Integer(0)]
    );
    assert_eq!(r.topic_partition(), "t-0");
}

#[test]
fn null_for_a_not_null_column_is_a_reject() {
    let mut table = schema(&[("id", "bigint"), ("name", "string")]);
    table.columns[0].nullable = false;
    let b = RowBuilder::new(Mode::Value, Format::Csv, "UTC".parse().unwrap(), &table).unwrap();
    assert_eq!(
        b.row(&record(b"7,x".to_vec())).unwrap(),
        vec![Value::Integer(7), t("x")]
    );
    let err = b.row(&record(b"\\N,x".to_vec())).unwrap_err();
    assert_eq!(
        (err.class, err.message.as_str()),
        (
            RejectClass::TypeConversion,
            "column `id` is NOT NULL and the record gives it no value"
        )
    );
}

/// JSON numbers reach their columns from their text, never through `f64`
/// (`events/json-exact-numbers.json`).
#[test]
fn json_numbers_keep_their_digits() {
    let batch = decode_file("json-exact-numbers.json");
    let columns = [
        ("id", "bigint"),
        ("amount", "decimal(38,9)"),
        ("ratio", "double"),
        ("small", "float"),
        ("text", "string"),
    ];
    let built = build(
        &batch.records,
        &builder(Mode::Value, Format::Json, &columns),
    );
    let rows: Vec<(i64, Vec<Value>)> = flat(&built).into_iter().map(|(_, o, v)| (o, v)).collect();
    let dec = |s: &str| Value::Decimal(s.to_owned());
    assert_eq!(
        rows,
        vec![
            (
                0,
                vec![
                    Value::Integer(1),
                    dec("123456789012.123456789"),
                    Value::Double(1_077_442_837_911.414),
                    Value::Float(0.1),
                    t("12345678.123456789"),
                ]
            ),
            (
                1,
                vec![
                    Value::Integer(2),
                    dec("12345678901234567890.123456789"),
                    Value::Double(-0.0),
                    Value::Float(f32::MAX),
                    t("1E+3"),
                ]
            ),
            (
                2,
                vec![
                    Value::Integer(3),
                    dec("0.000000001"),
                    Value::Double(5e-324),
                    // Correctly rounded straight to f32 (through f64 it would be 1.0).
                    Value::Float(1.000_000_1),
                    t("0.000000001"),
                ]
            ),
            (
                3,
                vec![
                    Value::Integer(4),
                    // 17 places rounded half-up to the column's 9, as MaxCompute stores it.
                    dec("0.000000000"),
                    Value::Double(1e308),
                    Value::Float(-1e-45),
                    t("-7"),
                ]
            ),
        ]
    );
    // -0.0 must stay negative zero: `==` alone cannot tell.
    let Value::Double(z) = rows[1].1[2] else {
        panic!()
    };
    assert!(z.is_sign_negative());
    assert_eq!(
        reject_summary(&built),
        vec![
            (
                Some(4),
                "type_conversion",
                "column `amount` (decimal(38,9)): `1e29` has 30 integer digits, more than \
                 decimal(38,9) holds"
                    .to_owned()
            ),
            (
                Some(5),
                "type_conversion",
                "column `id` (bigint): `6.5` is not an integer in range for bigint".to_owned()
            ),
            (
                Some(6),
                "type_conversion",
                "column `ratio` (double): `1e400` overflows double".to_owned()
            ),
        ]
    );
}

/// With processing-time partitions the record's own time does not name the partition, but a
/// DATETIME or TIMESTAMP column still cannot hold a time outside the years 0001 to 9999.
#[test]
fn a_record_time_out_of_range_is_a_reject_for_time_columns() {
    let router = PartitionRouter::new(&PartitionConfig {
        time_source: TimeSource::ProcessingTime,
        ..PartitionConfig::default()
    })
    .unwrap();
    let record = |offset: i64, timestamp_ms: i64| KafkaRecord {
        topic: "t".into(),
        partition: 0,
        offset,
        timestamp_ms,
        timestamp_type: TimestampType::CreateTime,
        key: None,
        value: Some(Bytes::from(b"v".to_vec())),
        headers: Headers::default(),
    };
    let records = [
        record(0, 253_402_300_799_999),
        record(1, 253_402_300_800_000),
        record(2, -62_135_596_800_000),
        record(3, -62_135_596_800_001),
    ];
    for ty in ["datetime", "timestamp"] {
        let b = builder(
            Mode::Value,
            Format::Text,
            &[("value", "string"), ("timestamp", ty)],
        );
        let built = build_rows(&records, &b, &router, 1_750_237_198_120);
        let offsets: Vec<i64> = flat(&built).into_iter().map(|(_, o, _)| o).collect();
        assert_eq!(offsets, vec![0, 2], "{ty}");
        assert_eq!(
            reject_summary(&built),
            [1, 3]
                .into_iter()
                .zip([253_402_300_800_000_i64, -62_135_596_800_001])
                .map(|(o, ms)| (
                    Some(o),
                    "type_conversion",
                    format!(
                        "column `timestamp`: the record timestamp {ms} is outside the years 0001 \
                         to 9999 that DATETIME and TIMESTAMP hold"
                    )
                ))
                .collect::<Vec<_>>(),
            "{ty}"
        );
    }
    // A BIGINT column holds the milliseconds whatever they are.
    let b = builder(
        Mode::Value,
        Format::Text,
        &[("value", "string"), ("timestamp", "bigint")],
    );
    assert_eq!(
        build_rows(&records, &b, &router, 1_750_237_198_120).row_count(),
        4
    );
}

fn json_record(offset: i64, value: &str) -> KafkaRecord {
    KafkaRecord {
        topic: "t".into(),
        partition: 0,
        offset,
        timestamp_ms: 1_605_596_645_000,
        timestamp_type: TimestampType::CreateTime,
        key: None,
        value: Some(Bytes::from(value.as_bytes().to_vec())),
        headers: Headers::default(),
    }
}

#[test]
fn exact_json_fields_meet_columns_by_mapped_name_and_convert_nothing() {
    let b = builder(
        Mode::Value,
        Format::Json,
        &[
            ("user_name", "string"),
            ("n", "bigint"),
            ("x", "double"),
            ("j", "json"),
        ],
    )
    .exact_json_fields();
    let records = [
        json_record(0, r#"{"User Name": "ann", "n": 1, "x": 2, "j": [1]}"#),
        json_record(1, r#"{"n": "1"}"#),
        json_record(2, r#"{"n": 1.5}"#),
        json_record(3, r#"{"user_name": 5}"#),
        json_record(4, r#"{"j": "text"}"#),
        json_record(5, r#"{"a-b": 1, "A_b": 2}"#),
        json_record(6, r#"{"_id": 1}"#),
        json_record(7, r#"{"n": null, "unknown": true}"#),
    ];
    let built = build(&records, &b);
    let rows: Vec<(i64, Vec<Value>)> = flat(&built).into_iter().map(|(_, o, v)| (o, v)).collect();
    assert_eq!(
        rows,
        vec![
            (
                0,
                vec![t("ann"), Value::Integer(1), Value::Double(2.0), t("[1]")]
            ),
            (7, vec![Value::Null, Value::Null, Value::Null, Value::Null]),
        ]
    );
    let classes: Vec<(Option<i64>, &str)> = built
        .rejects
        .iter()
        .map(|r| (r.offset, r.class.as_str()))
        .collect();
    assert_eq!(
        classes,
        vec![
            (Some(1), "schema_mismatch"),
            (Some(2), "schema_mismatch"),
            (Some(3), "schema_mismatch"),
            (Some(4), "schema_mismatch"),
            (Some(5), "column_name"),
            (Some(6), "column_name"),
        ]
    );
    // Without exact fields, the same builder converts and ignores as it always has.
    let lenient = builder(Mode::Value, Format::Json, &[("n", "string")]);
    let built = build(&records[1..3], &lenient);
    assert!(built.rejects.is_empty());
}
