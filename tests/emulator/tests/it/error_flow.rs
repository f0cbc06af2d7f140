//! The whole error path over a real broker (tansu, `bash scripts/broker.sh start`; address from
//! `KAFKA_BOOTSTRAP`, default `127.0.0.1:19092`): a record the sink cannot write is produced to
//! the source topic; the emulator's trigger runs the sink binary, which sends it to the error
//! topic; a second trigger runs the error-handler binary on the error topic, which writes it into
//! the errors table with its original bytes. Both functions run as their deployed binaries.

use std::time::Duration;

use crate::support::{create_topic, require_broker, settings, unique_topic};
use error_handler::table::COLUMNS;
use lambda_emulator::trigger;
use lambda_emulator::trigger::tools::{NewRecord, produce};
use maxcompute_core::types::{OdpsType, Value};
use maxcompute_emulator::testing::TestEmulator;

/// 2020-11-17T07:04:05.123Z: 15:04 in GMT+08:00.
const T15: i64 = 1_605_596_645_123;

#[tokio::test]
async fn a_bad_record_ends_in_the_errors_table_with_its_original_bytes() {
    let bootstrap = require_broker().await;
    let source = unique_topic("flow", "source");
    let errors = unique_topic("flow", "errors");
    let flow = TestEmulator::start().await;
    flow.query("CREATE TABLE IF NOT EXISTS test_kafka(topic STRING,partition BIGINT,offset BIGINT,key STRING,value STRING) PARTITIONED by (pt STRING)")
        .await;
    for topic in [&source, &errors] {
        create_topic(&bootstrap, topic, 1).await;
    }
    let bad_value = vec![0xff, 0xfe, b'!'];
    let headers = vec![
        ("h".to_owned(), vec![0x00, 0xff, 0x80]),
        ("h".to_owned(), b"again".to_vec()),
    ];
    produce(
        &bootstrap,
        &source,
        &[
            NewRecord {
                partition: 0,
                key: Some(b"good".to_vec()),
                value: Some(b"fine".to_vec()),
                headers: vec![],
                timestamp_ms: Some(T15),
            },
            NewRecord {
                partition: 0,
                key: Some(b"bad".to_vec()),
                value: Some(bad_value.clone()),
                headers: headers.clone(),
                timestamp_ms: Some(T15 + 1),
            },
        ],
    )
    .await
    .unwrap();

    let mut sink = trigger::start(settings(
        &flow,
        &bootstrap,
        &source,
        "sink",
        &[
            ("MAXCOMPUTE_TABLE", "test_kafka"),
            ("SINK_ERROR_TOPIC", &errors),
        ],
    ))
    .await
    .unwrap();
    let stats = sink.wait_committed(2, Duration::from_secs(60)).await;
    sink.stop().await.unwrap();
    assert_eq!(stats.committed_records, 2, "{stats:?}");

    let mut handler = trigger::start(settings(
        &flow,
        &bootstrap,
        &errors,
        "error-handler",
        &[("ERRORS_TABLE", "kafka_sink_errors")],
    ))
    .await
    .unwrap();
    let stats = handler.wait_committed(1, Duration::from_secs(60)).await;
    handler.stop().await.unwrap();
    assert_eq!(stats.committed_records, 1, "{stats:?}");
    assert_eq!(stats.failed_invocations, 0, "{stats:?}");

    let partitions = flow.query("show partitions kafka_sink_errors").await;
    assert_eq!(partitions.len(), 1, "{partitions:?}");
    let spec = partitions[0][0].clone();
    let types: Vec<OdpsType> = COLUMNS
        .iter()
        .map(|(_, ty, ..)| ty.parse().unwrap())
        .collect();
    let rows = flow.download("kafka_sink_errors", &spec, &types).await;
    assert_eq!(rows.len(), 1);
    let col = |name: &str| &rows[0][COLUMNS.iter().position(|(n, ..)| *n == name).unwrap()];
    assert_eq!(col("error_class"), &Value::text("invalid_utf8"));
    assert_eq!(col("origin_topic"), &Value::text(source.clone()));
    assert_eq!(col("origin_offset"), &Value::Integer(1));
    assert_eq!(col("record_key"), &Value::Bytes(b"bad".to_vec()));
    assert_eq!(col("record_value"), &Value::Bytes(bad_value));
    assert_eq!(col("payload_kind"), &Value::text("record"));
    assert_eq!(col("error_topic"), &Value::text(errors.clone()));
    let Value::Bytes(json) = col("record_headers") else {
        panic!("{:?}", col("record_headers"))
    };
    let json: serde_json::Value = serde_json::from_slice(json).unwrap();
    assert_eq!(json.as_array().map(Vec::len), Some(headers.len()), "{json}");
}
