//! Debezium change events into keyed changes: events shaped as Debezium's MySQL and Postgres
//! connectors write them through Kafka Connect's JSON converter (with and without the
//! `schema`/`payload` wrapper), their values decoded by their Connect schemas, keys from the
//! row image or the record key, tombstones, rejects, and the last change per key of a batch.

use bytes::Bytes;
use maxcompute_core::event::Headers;
use maxcompute_core::event::{KafkaRecord, RejectClass, TimestampType};
use maxcompute_core::partition::{PartitionConfig, PartitionRouter};
use maxcompute_core::rows::RowConfigError;
use maxcompute_core::rows::debezium::{ChangeBuilder, ChangeOp, build_changes};
use maxcompute_core::types::{Column, OdpsType, TableSchema, Value};

/// A mirror of the source's `orders` table, with the four envelope columns.
fn orders(partitioned: bool, created: &str) -> TableSchema {
    let columns = [
        ("id", "int"),
        ("customer", "string"),
        ("amount", "decimal(10,2)"),
        ("paid", "boolean"),
        ("created", created),
        ("order_date", "date"),
        ("cdc_op", "string"),
        ("cdc_source_ts_ms", "bigint"),
        ("cdc_source_db", "string"),
        ("cdc_source_table", "string"),
    ];
    TableSchema {
        columns: columns
            .iter()
            .map(|(n, t)| {
                let mut c = Column::new(*n, t.parse().unwrap());
                c.nullable = *n != "id";
                c
            })
            .collect(),
        partition_keys: if partitioned {
            vec![Column::new("pt", OdpsType::String)]
        } else {
            vec![]
        },
    }
}

fn builder() -> ChangeBuilder {
    ChangeBuilder::new(&orders(false, "timestamp"), &[0], "UTC".parse().unwrap()).unwrap()
}

fn record(offset: i64, key: Option<&str>, value: Option<&str>) -> KafkaRecord {
    KafkaRecord {
        topic: "dbserver1.inventory.orders".into(),
        partition: 0,
        offset,
        timestamp_ms: 1_700_000_000_500,
        timestamp_type: TimestampType::CreateTime,
        key: key.map(|k| Bytes::copy_from_slice(k.as_bytes())),
        value: value.map(|v| Bytes::copy_from_slice(v.as_bytes())),
        headers: Headers::default(),
    }
}

/// The Connect schema of the `orders` row, as the MySQL connector names it.
const ROW_FIELDS: &str = r#"[{"type":"int32","optional":false,"field":"id"},{"type":"string","optional":true,"field":"customer"},{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2","connect.decimal.precision":"10"},"field":"amount"},{"type":"boolean","optional":true,"field":"paid"},{"type":"int64","optional":true,"name":"io.debezium.time.MicroTimestamp","version":1,"field":"created"},{"type":"int32","optional":true,"name":"io.debezium.time.Date","version":1,"field":"order_date"}]"#;

fn envelope_schema() -> String {
    format!(
        r#"{{"type":"struct","fields":[{{"type":"struct","fields":{ROW_FIELDS},"optional":true,"name":"dbserver1.inventory.orders.Value","field":"before"}},{{"type":"struct","fields":{ROW_FIELDS},"optional":true,"name":"dbserver1.inventory.orders.Value","field":"after"}},{{"type":"struct","fields":[{{"type":"string","optional":false,"field":"version"}},{{"type":"string","optional":false,"field":"connector"}},{{"type":"string","optional":false,"field":"name"}},{{"type":"int64","optional":false,"field":"ts_ms"}},{{"type":"string","optional":true,"field":"db"}},{{"type":"string","optional":true,"field":"table"}}],"optional":false,"name":"io.debezium.connector.mysql.Source","field":"source"}},{{"type":"string","optional":false,"field":"op"}},{{"type":"int64","optional":true,"field":"ts_ms"}}],"optional":false,"name":"dbserver1.inventory.orders.Envelope","version":1}}"#
    )
}

const SOURCE: &str = r#"{"version":"2.5.0.Final","connector":"mysql","name":"dbserver1","ts_ms":1700000000000,"snapshot":"false","db":"inventory","sequence":null,"table":"orders","server_id":223344,"gtid":null,"file":"mysql-bin.000003","pos":154,"row":0,"thread":7,"query":null}"#;

/// A create of order 10001 with the wrapper: amount 12.34 as the decimal's bytes (`BNI=` is
/// 0x04d2 = 1234 at scale 2), `created` in microseconds, `order_date` in days.
fn create_wrapped() -> String {
    format!(
        r#"{{"schema":{},"payload":{{"before":null,"after":{{"id":10001,"customer":"Sally","amount":"BNI=","paid":false,"created":1700000000123456,"order_date":19675}},"source":{SOURCE},"op":"c","ts_ms":1700000000456,"transaction":null}}}}"#,
        envelope_schema()
    )
}

const KEY_WRAPPED: &str = r#"{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}],"optional":false,"name":"dbserver1.inventory.orders.Key"},"payload":{"id":10001}}"#;

fn change(b: &ChangeBuilder, key: Option<&str>, value: &str) -> (ChangeOp, Vec<Value>) {
    b.change(&record(0, key, Some(value))).unwrap().unwrap()
}

#[test]
fn a_wrapped_create_is_an_upsert_of_after_read_by_its_connect_schema() {
    let (op, values) = change(&builder(), Some(KEY_WRAPPED), &create_wrapped());
    assert_eq!(op, ChangeOp::Upsert);
    assert_eq!(
        values,
        vec![
            Value::Integer(10001),
            Value::text("Sally"),
            Value::Decimal("12.34".into()),
            Value::Boolean(false),
            Value::Timestamp {
                seconds: 1_700_000_000,
                nanos: 123_456_000
            },
            Value::Date(19675),
            Value::text("c"),
            Value::Integer(1_700_000_000_000),
            Value::text("inventory"),
            Value::text("orders"),
        ]
    );
}

#[test]
fn an_update_without_the_wrapper_follows_the_json_rules() {
    let value = format!(
        r#"{{"before":{{"id":10001,"customer":"Sally","amount":"12.34","paid":false}},"after":{{"id":10001,"customer":"Sally Thomas","amount":"45.6","paid":true,"created":1700000000123,"order_date":"2023-11-14"}},"source":{SOURCE},"op":"u","ts_ms":1700000000789}}"#
    );
    let (op, values) = change(&builder(), Some(r#"{"id":10001}"#), &value);
    assert_eq!(op, ChangeOp::Upsert);
    assert_eq!(values[1], Value::text("Sally Thomas"));
    // decimal.handling.mode=string: the digits as written (the JSON rules pad nothing).
    assert_eq!(values[2], Value::Decimal("45.6".into()));
    assert_eq!(values[3], Value::Boolean(true));
    // A number into a TIMESTAMP column without a schema: epoch milliseconds, as in JSON format.
    assert_eq!(
        values[4],
        Value::Timestamp {
            seconds: 1_700_000_000,
            nanos: 123_000_000
        }
    );
    assert_eq!(values[5], Value::Date(19675));
    assert_eq!(values[6], Value::text("u"));
}

#[test]
fn a_delete_carries_only_the_key_of_before_or_of_the_record_key() {
    let wrapped = format!(
        r#"{{"schema":{},"payload":{{"before":{{"id":10001,"customer":"Sally","amount":"BNI=","paid":false,"created":null,"order_date":null}},"after":null,"source":{SOURCE},"op":"d","ts_ms":1700000000999}}}}"#,
        envelope_schema()
    );
    let (op, values) = change(&builder(), Some(KEY_WRAPPED), &wrapped);
    assert_eq!(op, ChangeOp::Delete);
    let mut expected = vec![Value::Null; 10];
    expected[0] = Value::Integer(10001);
    assert_eq!(values, expected);

    // Postgres with REPLICA IDENTITY DEFAULT can leave `before` null: the key says which row.
    let bare = format!(r#"{{"before":null,"after":null,"source":{SOURCE},"op":"d","ts_ms":1}}"#);
    let (op, values) = change(&builder(), Some(r#"{"id":10002}"#), &bare);
    assert_eq!(op, ChangeOp::Delete);
    assert_eq!(values[0], Value::Integer(10002));
    // A one-column key written as a bare scalar.
    let (_, values) = change(&builder(), Some("10003"), &bare);
    assert_eq!(values[0], Value::Integer(10003));
}

#[test]
fn a_key_column_missing_from_after_comes_from_the_record_key() {
    let value = r#"{"before":null,"after":{"customer":"Edward"},"op":"r","source":{"ts_ms":5}}"#;
    let (op, values) = change(&builder(), Some(KEY_WRAPPED), value);
    assert_eq!(op, ChangeOp::Upsert);
    assert_eq!(values[0], Value::Integer(10001));
    assert_eq!(values[1], Value::text("Edward"));
    assert_eq!(values[7], Value::Integer(5));
    assert_eq!(values[8], Value::Null, "no source.db");
}

#[test]
fn a_tombstone_is_no_change() {
    let b = builder();
    assert_eq!(b.change(&record(0, Some(KEY_WRAPPED), None)).unwrap(), None);
    // The JSON converter's wrapper around nothing.
    let wrapped_null = r#"{"schema":null,"payload":null}"#;
    assert_eq!(
        b.change(&record(0, Some(KEY_WRAPPED), Some(wrapped_null)))
            .unwrap(),
        None
    );
}

#[test]
fn changes_that_cannot_be_applied_are_rejects_naming_why() {
    let b = builder();
    let reject =
        |key: Option<&str>, value: &str| b.change(&record(0, key, Some(value))).unwrap_err();
    let no_key = reject(None, r#"{"after":{"customer":"x"},"op":"c"}"#);
    assert_eq!(no_key.class, RejectClass::MissingKey);
    assert_eq!(
        no_key.message,
        "primary key column `id` has no value in `after` nor in the record key"
    );
    let truncate = reject(
        None,
        &format!(r#"{{"source":{SOURCE},"op":"t","ts_ms":1}}"#),
    );
    assert_eq!(truncate.class, RejectClass::UnsupportedChange);
    assert_eq!(truncate.message, "a truncate cannot be applied row by row");
    assert_eq!(
        reject(None, r#"{"op":"x","after":{"id":1}}"#).class,
        RejectClass::UnsupportedChange
    );
    assert_eq!(reject(None, "not json").class, RejectClass::InvalidJson);
    assert_eq!(
        reject(None, r#"{"after":{"id":1}}"#).message,
        "value is not a Debezium change event: it has no `op`"
    );
    assert_eq!(
        reject(None, r#"{"op":"c","after":null}"#).class,
        RejectClass::InvalidJson
    );
    let too_big = reject(None, r#"{"op":"c","after":{"id":1,"amount":123456789.5}}"#);
    assert_eq!(too_big.class, RejectClass::TypeConversion);
    assert_eq!(
        too_big.message,
        "column `amount` (decimal(10,2)): `123456789.5` has 9 integer digits, more than decimal(10,2) holds"
    );
    let bad_base64 = reject(
        None,
        &create_wrapped().replace(r#""amount":"BNI=""#, r#""amount":"**""#),
    );
    assert_eq!(bad_base64.class, RejectClass::TypeConversion);
    assert!(
        bad_base64.message.starts_with("column `amount`"),
        "{}",
        bad_base64.message
    );
    // A string that is no integer for the INT key.
    assert_eq!(
        reject(None, r#"{"op":"c","after":{"id":"ten"}}"#).class,
        RejectClass::TypeConversion
    );
}

#[test]
fn microseconds_into_a_datetime_are_refused_rather_than_truncated() {
    let b = ChangeBuilder::new(&orders(false, "datetime"), &[0], "UTC".parse().unwrap()).unwrap();
    let e = b
        .change(&record(0, None, Some(&create_wrapped())))
        .unwrap_err();
    assert_eq!(e.class, RejectClass::TypeConversion);
    assert!(
        e.message.contains("use a TIMESTAMP column"),
        "{}",
        e.message
    );
    let whole_ms = create_wrapped().replace("1700000000123456", "1700000000123000");
    let (_, values) = change(&b, None, &whole_ms);
    assert_eq!(values[4], Value::DateTime(1_700_000_000_123));
}

#[test]
fn variable_scale_decimals_and_timestamps_in_milliseconds() {
    let schema = r#"{"type":"struct","fields":[{"type":"struct","fields":[{"type":"int32","field":"id"},{"type":"struct","name":"io.debezium.data.VariableScaleDecimal","fields":[{"type":"int32","field":"scale"},{"type":"bytes","field":"value"}],"field":"amount"},{"type":"int64","name":"org.apache.kafka.connect.data.Timestamp","field":"created"}],"field":"after"},{"type":"string","field":"op"}]}"#;
    let value = format!(
        r#"{{"schema":{schema},"payload":{{"after":{{"id":7,"amount":{{"scale":3,"value":"+w=="}},"created":1700000000123}},"op":"r"}}}}"#
    );
    let (_, values) = change(&builder(), None, &value);
    // 0xfb = -5 at scale 3 is -0.005, rounded half-up (away from zero) to scale 2.
    assert_eq!(values[2], Value::Decimal("-0.01".into()));
    assert_eq!(
        values[4],
        Value::Timestamp {
            seconds: 1_700_000_000,
            nanos: 123_000_000
        }
    );
}

#[test]
fn envelope_columns_of_an_unfit_type_and_tables_without_a_key_stop_the_start() {
    let mut schema = orders(false, "timestamp");
    schema.columns[6].ty = OdpsType::BigInt;
    let e = ChangeBuilder::new(&schema, &[0], "UTC".parse().unwrap()).unwrap_err();
    assert!(
        e.to_string().contains("column `cdc_op` has type bigint"),
        "{e}"
    );
    assert_eq!(
        ChangeBuilder::new(&orders(false, "timestamp"), &[], "UTC".parse().unwrap()).unwrap_err(),
        RowConfigError::NoPrimaryKey
    );
}

fn upsert(id: i64, customer: &str, op: &str) -> String {
    format!(r#"{{"before":null,"after":{{"id":{id},"customer":"{customer}"}},"op":"{op}"}}"#)
}

fn delete(id: i64) -> String {
    format!(r#"{{"before":{{"id":{id}}},"after":null,"op":"d"}}"#)
}

#[test]
fn the_last_change_of_a_key_in_a_batch_wins_whatever_the_order_records_come_in() {
    let values = [
        upsert(1, "a", "c"),
        upsert(2, "b", "c"),
        upsert(1, "a2", "u"),
        delete(2),
        upsert(1, "a3", "u"),
        upsert(2, "b2", "c"),
        delete(3),
        upsert(3, "c", "c"),
        upsert(4, "d", "c"),
        delete(4),
    ];
    let mut records: Vec<KafkaRecord> = values
        .iter()
        .enumerate()
        .map(|(i, v)| record(i as i64, None, Some(v)))
        .collect();
    records.push(record(10, Some(r#"{"id":4}"#), None));
    records.reverse();
    let built = build_changes(&records, &builder(), None, 0);
    assert!(built.rejects.is_empty(), "{:?}", built.rejects);
    assert_eq!(built.tombstones, 1);
    assert_eq!(built.superseded, 6);
    assert_eq!(built.partitions.len(), 1);
    let changes = &built.partitions[&None];
    let got: Vec<(i64, ChangeOp, Value, i64)> = changes
        .iter()
        .map(|c| {
            let Value::Integer(id) = c.values[0] else {
                panic!("{c:?}")
            };
            (id, c.op, c.values[1].clone(), c.record.offset)
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (1, ChangeOp::Upsert, Value::text("a3"), 4),
            (2, ChangeOp::Upsert, Value::text("b2"), 5),
            (3, ChangeOp::Upsert, Value::text("c"), 7),
            (4, ChangeOp::Delete, Value::Null, 9),
        ]
    );
}

#[test]
fn a_partitioned_table_keeps_its_time_partitions() {
    let b = ChangeBuilder::new(&orders(true, "timestamp"), &[0], "UTC".parse().unwrap()).unwrap();
    let router = PartitionRouter::new(&PartitionConfig::default()).unwrap();
    let records = [record(0, None, Some(&upsert(1, "a", "c")))];
    let built = build_changes(&records, &b, Some(&router), 0);
    let specs: Vec<String> = built
        .partitions
        .keys()
        .map(|s| s.as_ref().unwrap().to_string())
        .collect();
    // 2023-11-15 06:13:20.500 at GMT+08:00.
    assert_eq!(specs, vec!["pt=11-15-2023 06"]);
}
