//! The row mapping and the table's shape, without I/O: error-topic messages, on-failure
//! envelopes with each condition spelling, unparseable records, non-UTF-8 keys and headers,
//! the DDL and the column matching.

use bytes::Bytes;
use maxcompute_core::event::Headers;

use crate::support::events::read_event;
use error_handler::row::{
    ErrorRow, PayloadKind, TRIGGER_GAVE_UP, UNPARSEABLE, rows_from_batch, rows_from_record,
};
use error_handler::table::{COLUMNS, ColumnMap, TableError, create_table_sql};
use maxcompute_core::error_record::{ErrorContext, ErrorMessage};
use maxcompute_core::event::{KafkaRecord, Reject, RejectClass, TimestampType, decode_event_str};
use maxcompute_core::partition::{PartitionConfig, PartitionRouter};
use maxcompute_core::types::{Column, OdpsType, TableSchema, Value};
use test_support::events::{Record, trigger_event};

const NOW: i64 = 1_605_600_000_000;

fn h(name: &str, value: &[u8]) -> (String, Vec<u8>) {
    (name.to_owned(), value.to_vec())
}

fn error_topic_record(offset: i64, m: &ErrorMessage) -> KafkaRecord {
    KafkaRecord {
        topic: "errors".into(),
        partition: 3,
        offset,
        timestamp_ms: m.timestamp_ms,
        timestamp_type: TimestampType::CreateTime,
        key: m.key.clone().map(Bytes::from),
        value: m.value.clone().map(Bytes::from),
        headers: m.headers.iter().cloned().collect(),
    }
}

fn reject() -> Reject {
    Reject {
        class: RejectClass::InvalidUtf8,
        message: "column `value`: the value is not UTF-8".to_owned(),
        topic: Some("orders".to_owned()),
        partition: Some(7),
        offset: Some(48_213),
        timestamp_ms: Some(1_750_237_198_120),
        key: Some(vec![0xff, 0x00, b'k']),
        value: Some(vec![0xc3, 0x28, 0x00]),
        headers: vec![h("trace", b"a"), h("bin", &[0xff, 0x80]), h("trace", b"b")],
        raw_json: None,
    }
}

#[test]
fn an_error_topic_message_keeps_the_original_bytes_and_the_error_block() {
    let m = ErrorMessage::from_reject(
        &reject(),
        ErrorContext {
            function: "sink-fn",
            now_ms: 1_750_237_200_000,
        },
    );
    let rows = rows_from_record(&error_topic_record(9, &m), NOW);
    assert_eq!(
        rows,
        vec![ErrorRow {
            error_class: "invalid_utf8".to_owned(),
            error_message: "column `value`: the value is not UTF-8".to_owned(),
            origin_topic: Some("orders".to_owned()),
            origin_partition: Some(7),
            origin_offset: Some(48_213),
            origin_timestamp_ms: Some(1_750_237_198_120),
            record_key: Some(vec![0xff, 0x00, b'k']),
            record_value: Some(vec![0xc3, 0x28, 0x00]),
            record_headers: reject().headers,
            payload_kind: PayloadKind::Record,
            function_name: Some("sink-fn".to_owned()),
            failed_at_ms: 1_750_237_200_000,
            error_topic: Some("errors".to_owned()),
            error_partition: Some(3),
            error_offset: Some(9),
        }]
    );
    assert_eq!(
        rows[0].headers_json(),
        r#"[{"key":"trace","value":"a"},{"base64":"/4A=","key":"bin"},{"key":"trace","value":"b"}]"#
    );
}

#[test]
fn a_raw_event_json_message_stores_the_raw_json_as_the_value() {
    let samples = decode_event_str(&read_event("error-topic-bad-records.json")).unwrap();
    let rows = rows_from_batch(&samples, NOW);
    assert_eq!(rows.len(), 10);
    let raw = &rows[0];
    assert_eq!(raw.error_class, "malformed_record");
    assert_eq!(raw.payload_kind, PayloadKind::RawEventJson);
    assert!(rows.iter().any(|r| {
        r.record_value.as_deref() == Some(&br#""not an object""#[..])
            && r.payload_kind == PayloadKind::RawEventJson
    }));
    let utf8 = rows
        .iter()
        .find(|r| r.error_class == "invalid_utf8")
        .unwrap();
    assert_eq!(utf8.payload_kind, PayloadKind::Record);
    assert_eq!(utf8.record_value.as_deref(), Some(&b"\xff\xfe,bad"[..]));
    assert_eq!(utf8.origin_offset, Some(2));
    let tombstone = rows
        .iter()
        .find(|r| r.error_class == "missing_payload")
        .unwrap();
    assert_eq!(tombstone.record_value, None);
}

fn envelope_record(offset: i64, condition: &str, payload_as_string: bool) -> KafkaRecord {
    let record = Record {
        key: Some(vec![0xff, 0x00]),
        value: Some(vec![0x80, b'v']),
        headers: vec![
            ("h".to_owned(), vec![0xff, 0x01]),
            ("h".to_owned(), vec![b'h']),
        ],
        ..Record::new("orders", 7, 48213, 1750237198120)
    };
    let inner = trigger_event("aws:kafka", None, &[record]);
    let payload = if payload_as_string {
        serde_json::Value::String(inner.to_string())
    } else {
        inner
    };
    let value = serde_json::json!({
        "requestContext": {"requestId": "req-1", "functionArn": "arn:aws:lambda:us-east-1:1:function:sink", "condition": condition, "approximateInvokeCount": 3},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0", "timestamp": "2025-06-18T09:00:00.000Z",
        "KafkaBatchInfo": {"batchSize": 1},
        "payload": payload,
    });
    KafkaRecord {
        topic: "errors".into(),
        partition: 0,
        offset,
        timestamp_ms: 1,
        timestamp_type: TimestampType::CreateTime,
        key: Some(Bytes::from(vec![0xff, 0x00])),
        value: Some(Bytes::from(value.to_string().into_bytes())),
        headers: Headers::default(),
    }
}

#[test]
fn envelopes_unwrap_with_either_condition_spelling() {
    for (condition, as_string) in [
        ("RetryAttemptsExhausted", false),
        ("RetriesExhausted", true),
    ] {
        let rows = rows_from_record(&envelope_record(4, condition, as_string), NOW);
        let [row] = rows.as_slice() else {
            panic!("{rows:?}")
        };
        assert_eq!(row.error_class, TRIGGER_GAVE_UP);
        assert!(
            row.error_message.contains(condition),
            "{}",
            row.error_message
        );
        assert_eq!(row.payload_kind, PayloadKind::Record);
        assert_eq!(row.record_key.as_deref(), Some(&[0xff, 0x00][..]));
        assert_eq!(row.record_value.as_deref(), Some(&[0x80, b'v'][..]));
        assert_eq!(
            row.record_headers,
            vec![h("h", &[0xff, 0x01]), h("h", b"h")]
        );
        assert_eq!(
            (
                row.origin_topic.as_deref(),
                row.origin_partition,
                row.origin_offset,
                row.origin_timestamp_ms
            ),
            (
                Some("orders"),
                Some(7),
                Some(48_213),
                Some(1_750_237_198_120)
            )
        );
        assert_eq!(row.function_name.as_deref(), Some("sink"));
        assert_eq!(row.failed_at_ms, 1_750_237_200_000);
        assert_eq!((row.error_partition, row.error_offset), (Some(0), Some(4)));
    }
}

#[test]
fn anything_else_is_stored_raw_and_never_rejected() {
    let plain = KafkaRecord {
        topic: "errors".into(),
        partition: 1,
        offset: 2,
        timestamp_ms: 5,
        timestamp_type: TimestampType::CreateTime,
        key: Some(Bytes::from(vec![0xfe])),
        value: Some(Bytes::from(vec![0xff, 0x00, b'{'])),
        headers: [h("k", &[0xc3])].into_iter().collect(),
    };
    let broken_block = KafkaRecord {
        // An error block without its required headers.
        headers: [h("orig", b"x"), h("mc.error.class", b"invalid_utf8")]
            .into_iter()
            .collect(),
        offset: 3,
        ..plain.clone()
    };
    let rows: Vec<ErrorRow> = [plain.clone(), broken_block]
        .iter()
        .flat_map(|r| rows_from_record(r, NOW))
        .collect();
    for row in &rows {
        assert_eq!(row.error_class, UNPARSEABLE);
        assert_eq!(row.payload_kind, PayloadKind::Unparseable);
        assert_eq!(row.record_key.as_deref(), Some(&[0xfe][..]));
        assert_eq!(row.record_value.as_deref(), Some(&[0xff, 0x00, b'{'][..]));
        assert_eq!(row.failed_at_ms, NOW);
        assert_eq!(row.origin_topic, None);
        assert_eq!(row.function_name, None);
    }
    assert_eq!(rows[0].headers_json(), r#"[{"base64":"ww==","key":"k"}]"#);
    assert!(
        rows[1]
            .error_message
            .contains("error-topic message lacks the `mc."),
        "{}",
        rows[1].error_message
    );
    assert_eq!(
        rows[1].record_headers.len(),
        2,
        "all headers kept as they were"
    );
}

#[test]
fn records_of_the_error_topic_event_that_do_not_decode_are_stored_as_their_json() {
    let event = r#"{"records":{"errors-0":[{"topic":"errors","partition":0,"offset":8,"key":"a2V5","value":"%%%"}]}}"#;
    let batch = decode_event_str(event).unwrap();
    let rows = rows_from_batch(&batch, NOW);
    let [row] = rows.as_slice() else {
        panic!("{rows:?}")
    };
    assert_eq!(row.error_class, UNPARSEABLE);
    assert_eq!(row.payload_kind, PayloadKind::RawEventJson);
    assert_eq!(
        row.record_value.as_deref(),
        Some(&br#"{"topic":"errors","partition":0,"offset":8,"key":"a2V5","value":"%%%"}"#[..])
    );
    assert_eq!(
        (row.error_topic.as_deref(), row.error_offset),
        (Some("errors"), Some(8))
    );
}

fn schema(columns: &[(&str, OdpsType, bool)]) -> TableSchema {
    TableSchema {
        columns: columns
            .iter()
            .map(|(n, t, nullable)| Column {
                nullable: *nullable,
                ..Column::new(*n, t.clone())
            })
            .collect(),
        partition_keys: vec![Column::new("pt", OdpsType::String)],
    }
}

#[test]
fn the_ddl_names_every_column_and_the_partition_levels() {
    let router = PartitionRouter::new(&PartitionConfig::default()).unwrap();
    let ddl = create_table_sql("proj", "kafka_sink_errors", &router);
    assert!(
        ddl.starts_with(
            "CREATE TABLE IF NOT EXISTS proj.`kafka_sink_errors` (`error_class` STRING COMMENT"
        ),
        "{ddl}"
    );
    assert!(ddl.ends_with("PARTITIONED BY (`pt` STRING);"), "{ddl}");
    for (name, ty, _, comment) in COLUMNS {
        assert!(
            ddl.contains(&format!("`{name}` {ty} COMMENT '{comment}'")),
            "{name}"
        );
        assert!(!comment.contains(['\'', '\\']), "{name}: {comment}");
    }
    let multi = PartitionRouter::new(&PartitionConfig {
        format: "ds=%Y%m%d/hh=%H".parse().unwrap(),
        ..PartitionConfig::default()
    })
    .unwrap();
    assert!(
        create_table_sql("p", "t", &multi).ends_with("PARTITIONED BY (`ds` STRING, `hh` STRING);")
    );
}

#[test]
fn columns_are_matched_by_name_and_checked() {
    let map = ColumnMap::new(&schema(&[
        ("note", OdpsType::String, true),
        ("RECORD_VALUE", OdpsType::String, true),
        ("failed_at", OdpsType::DateTime, true),
        ("error_class", OdpsType::String, true),
    ]))
    .unwrap();
    let m = ErrorMessage::from_reject(
        &reject(),
        ErrorContext {
            function: "f",
            now_ms: 7,
        },
    );
    let row = &rows_from_record(&error_topic_record(0, &m), NOW)[0];
    assert_eq!(
        map.cells(row),
        vec![
            Value::Null,
            Value::Bytes(vec![0xc3, 0x28, 0x00]),
            Value::DateTime(7),
            Value::text("invalid_utf8"),
        ]
    );
    assert_eq!(
        ColumnMap::new(&schema(&[("origin_offset", OdpsType::String, true)])).unwrap_err(),
        TableError::ColumnType {
            column: "origin_offset".to_owned(),
            actual: "string".to_owned(),
            expected: "BIGINT"
        }
    );
    assert_eq!(
        ColumnMap::new(&schema(&[
            ("error_class", OdpsType::String, true),
            ("extra", OdpsType::BigInt, false)
        ]))
        .unwrap_err(),
        TableError::UnknownNotNull {
            column: "extra".to_owned()
        }
    );
    assert_eq!(
        ColumnMap::new(&schema(&[("extra", OdpsType::BigInt, true)])).unwrap_err(),
        TableError::NoKnownColumn
    );
}

#[test]
fn a_row_the_encoder_refuses_is_written_without_its_payload_not_dropped() {
    let all: Vec<(&str, OdpsType, bool)> = COLUMNS
        .iter()
        .map(|(n, t, ..)| (*n, t.parse().unwrap(), true))
        .collect();
    let map = ColumnMap::new(&schema(&all)).unwrap();
    let mut big = reject();
    big.value = Some(vec![b'x'; maxcompute_core::codec::MAX_CELL_BYTES + 1]);
    let m = ErrorMessage::from_reject(
        &big,
        ErrorContext {
            function: "f",
            now_ms: 7,
        },
    );
    let rows = rows_from_record(&error_topic_record(0, &m), NOW);
    let spec = maxcompute_core::spec::PartitionSpec::single("pt", "x").unwrap();
    let part = error_handler::plan::encode(&map, spec, &rows, &Default::default());
    assert_eq!((part.encoded.len(), part.degraded), (1, 1));
    let decoded =
        maxcompute_core::codec::decode_block(map.types(), &part.encoded.in_order()[0].bytes)
            .unwrap();
    let message = &decoded[0][1];
    let Value::Bytes(text) = message else {
        panic!("{message:?}")
    };
    assert!(
        String::from_utf8_lossy(text).contains("key, value and headers not stored"),
        "{message:?}"
    );
    assert_eq!(decoded[0][7], Value::Null);
}
