//! The error handler end to end against the MaxCompute emulator over loopback: the errors table
//! is created at cold start, the sample error-topic events become exactly the expected rows
//! (original bytes compared in hex after a Tunnel download), partitions follow the settings, and
//! MaxCompute failures fail the invocation with a typed error.

use lambda_support::function::InvocationError;
use std::time::Duration;

use crate::support::events::{FAILED_AT_MS, SINK_FUNCTION, read_event, rejects_of};
use crate::support::flow::{Flow, HandlerFlow, NOW_MS, deadline};
use error_handler::table::COLUMNS;
use maxcompute_core::error_record::{ErrorContext, ErrorMessage};
use maxcompute_core::rows::Format;
use maxcompute_core::types::{OdpsType, Value};
use maxcompute_emulator::testing::PROJECT;

const TABLE: &str = "kafka_sink_errors";

fn types() -> Vec<OdpsType> {
    COLUMNS
        .iter()
        .map(|(_, ty, ..)| ty.parse().unwrap())
        .collect()
}

fn hex(v: &Value) -> String {
    match v {
        Value::Null => "NULL".to_owned(),
        Value::Bytes(b) => b.iter().map(|x| format!("{x:02x}")).collect(),
        other => panic!("not bytes: {other:?}"),
    }
}

fn hex_of(b: Option<&[u8]>) -> String {
    b.map_or("NULL".to_owned(), |b| {
        b.iter().map(|x| format!("{x:02x}")).collect()
    })
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "NULL".to_owned(),
        Value::Bytes(b) => String::from_utf8(b.clone()).unwrap(),
        Value::Integer(i) => i.to_string(),
        Value::DateTime(ms) => format!("{ms}ms"),
        other => format!("{other:?}"),
    }
}

fn col(name: &str) -> usize {
    COLUMNS.iter().position(|(n, ..)| *n == name).unwrap()
}

#[tokio::test]
async fn the_table_is_created_at_cold_start_and_a_second_start_keeps_it() {
    let flow = Flow::start().await;
    assert!(
        flow.client
            .run_sql(PROJECT, "show partitions kafka_sink_errors")
            .await
            .is_err()
    );
    let handler = flow.handler(&[]).await;
    let schema = handler
        .client()
        .table_schema(TABLE, deadline())
        .await
        .unwrap();
    let names: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
    let expected: Vec<&str> = COLUMNS.iter().map(|(n, ..)| *n).collect();
    assert_eq!(names, expected);
    assert_eq!(schema.column_types(), types());
    assert_eq!(schema.partition_keys.len(), 1);
    assert_eq!(schema.partition_keys[0].name, "pt");
    assert!(
        flow.query("show partitions kafka_sink_errors")
            .await
            .is_empty()
    );
    // A warm restart finds the table and does not mind.
    flow.handler(&[]).await;
}

#[tokio::test]
async fn sink_rejects_become_rows_with_their_original_bytes() {
    let flow = Flow::start().await;
    let handler = flow.handler(&[]).await;
    let response = handler
        .handle(
            &read_event("error-topic-bad-records.json"),
            NOW_MS,
            deadline(),
        )
        .await
        .unwrap();
    // 1605596700500 ms is 07:05 UTC, 15:05 in GMT+08:00: the time of failure decides.
    assert_eq!(response.summary.rows_written, 10);
    assert_eq!(
        response.summary.partitions.keys().collect::<Vec<_>>(),
        ["pt=11-17-2020 15"]
    );
    assert_eq!(
        flow.query("show partitions kafka_sink_errors").await,
        vec![vec!["pt=11-17-2020 15".to_owned()]]
    );
    assert_eq!(
        flow.query("select count(*) from kafka_sink_errors where pt = '11-17-2020 15'")
            .await,
        vec![vec!["_c0".to_owned()], vec!["10".to_owned()]]
    );

    let rows = flow.download(TABLE, "pt=11-17-2020 15", &types()).await;
    let rejects = rejects_of("bad-records.json", Format::Csv);
    assert_eq!(rows.len(), rejects.len());
    for (offset, (row, reject)) in rows.iter().zip(&rejects).enumerate() {
        let m = ErrorMessage::from_reject(
            reject,
            ErrorContext {
                function: SINK_FUNCTION,
                now_ms: FAILED_AT_MS,
            },
        );
        let kind = if reject.raw_json.is_some() {
            "raw-event-json"
        } else {
            "record"
        };
        assert_eq!(text(&row[col("error_class")]), reject.class.as_str());
        assert_eq!(text(&row[col("error_message")]), reject.message);
        assert_eq!(
            text(&row[col("origin_topic")]),
            reject.topic.clone().unwrap_or("NULL".into())
        );
        assert_eq!(
            text(&row[col("origin_offset")]),
            reject.offset.map_or("NULL".to_owned(), |o| o.to_string())
        );
        assert_eq!(
            hex(&row[col("record_key")]),
            hex_of(reject.key.as_deref()),
            "key of error offset {offset}"
        );
        assert_eq!(
            hex(&row[col("record_value")]),
            hex_of(m.value.as_deref()),
            "value of error offset {offset}"
        );
        assert_eq!(text(&row[col("payload_kind")]), kind);
        assert_eq!(text(&row[col("function_name")]), SINK_FUNCTION);
        assert_eq!(row[col("failed_at")], Value::DateTime(FAILED_AT_MS));
        assert_eq!(text(&row[col("error_topic")]), "maxcompute-test-errors");
        assert_eq!(row[col("error_partition")], Value::Integer(0));
        assert_eq!(row[col("error_offset")], Value::Integer(offset as i64));
    }
    // The non-UTF-8 value of the TEXT reject, byte for byte.
    let utf8 = rows
        .iter()
        .find(|r| text(&r[col("error_class")]) == "invalid_utf8")
        .unwrap();
    assert_eq!(hex(&utf8[col("record_value")]), "fffe2c626164");
    assert_eq!(
        utf8[col("origin_timestamp")],
        Value::DateTime(1_605_596_645_002)
    );
}

#[tokio::test]
async fn non_utf8_headers_are_kept_in_the_headers_column() {
    let flow = Flow::start().await;
    let handler = flow.handler(&[]).await;
    handler
        .handle(
            &read_event("error-topic-headers-non-ascii.json"),
            NOW_MS,
            deadline(),
        )
        .await
        .unwrap();
    let rows = flow.download(TABLE, "pt=11-17-2020 15", &types()).await;
    let [row] = rows.as_slice() else {
        panic!("{rows:?}")
    };
    assert_eq!(text(&row[col("error_class")]), "invalid_json");
    let headers: serde_json::Value =
        serde_json::from_str(&text(&row[col("record_headers")])).unwrap();
    let list = headers.as_array().unwrap();
    assert_eq!(
        list[0],
        serde_json::json!({"key": "trace-id", "value": "abc"})
    );
    assert_eq!(
        list[1],
        serde_json::json!({"key": "ünïcode-key", "value": "é"})
    );
    assert_eq!(
        list[3],
        serde_json::json!({"key": "bin", "base64": "/wB/gA=="})
    );
    assert!(
        list.iter()
            .all(|h| !h["key"].as_str().unwrap().starts_with("mc.")),
        "the error block is not an original header"
    );
}

#[tokio::test]
async fn envelopes_unwrap_and_unparseable_records_are_stored_raw() {
    let flow = Flow::start().await;
    let handler = flow.handler(&[]).await;
    let response = handler
        .handle(&read_event("on-failure-envelopes.json"), NOW_MS, deadline())
        .await
        .unwrap();
    // Envelope timestamps 07:30 and 09:00:00.250 UTC; the unparseable record at processing
    // time, 08:00 UTC.
    assert_eq!(
        response.summary.partitions.keys().collect::<Vec<_>>(),
        ["pt=11-17-2020 15", "pt=11-17-2020 16", "pt=11-17-2020 17"]
    );
    assert_eq!(response.summary.classes.get("trigger_gave_up"), Some(&2));
    assert_eq!(response.summary.classes.get("unparseable"), Some(&1));

    let first = flow.download(TABLE, "pt=11-17-2020 15", &types()).await;
    let [row] = first.as_slice() else {
        panic!("{first:?}")
    };
    assert_eq!(text(&row[col("error_class")]), "trigger_gave_up");
    assert!(text(&row[col("error_message")]).contains("RetryAttemptsExhausted"));
    assert_eq!(hex(&row[col("record_key")]), "ff006b");
    assert_eq!(hex(&row[col("record_value")]), hex_of(Some(b"1,slow")));
    assert_eq!(text(&row[col("origin_topic")]), "maxcompute-test-input");
    assert_eq!(row[col("origin_offset")], Value::Integer(12));
    assert_eq!(
        row[col("origin_timestamp")],
        Value::DateTime(1_605_596_645_123)
    );
    assert_eq!(text(&row[col("function_name")]), "kafka-maxcompute-sink");
    assert_eq!(text(&row[col("payload_kind")]), "record");
    assert_eq!(
        text(&row[col("record_headers")]),
        r#"[{"key":"trace","value":"abc"},{"key":"trace","value":"def"}]"#
    );

    let second = flow.download(TABLE, "pt=11-17-2020 17", &types()).await;
    let [row] = second.as_slice() else {
        panic!("{second:?}")
    };
    assert!(text(&row[col("error_message")]).contains("RetriesExhausted"));
    assert_eq!(row[col("record_key")], Value::Null);
    assert_eq!(hex(&row[col("record_value")]), "c328");
    assert_eq!(row[col("failed_at")], Value::DateTime(1_605_603_600_250));
    assert_eq!(
        text(&row[col("record_headers")]),
        r#"[{"base64":"/wA=","key":"bin"}]"#
    );

    let raw = flow.download(TABLE, "pt=11-17-2020 16", &types()).await;
    let [row] = raw.as_slice() else {
        panic!("{raw:?}")
    };
    assert_eq!(text(&row[col("error_class")]), "unparseable");
    assert_eq!(text(&row[col("payload_kind")]), "unparseable");
    assert_eq!(
        text(&row[col("record_value")]),
        r#"{"requestContext":{},"note":"looks like an envelope but is not one"}"#
    );
    assert_eq!(row[col("failed_at")], Value::DateTime(NOW_MS));
    assert_eq!(row[col("error_offset")], Value::Integer(2));
}

#[tokio::test]
async fn partitions_follow_the_sink_settings() {
    let flow = Flow::start().await;
    let handler = flow
        .handler(&[
            ("ERRORS_TABLE", "errors_by_hour"),
            ("SINK_TIME_ZONE", "UTC"),
            ("SINK_PARTITION_FORMAT", "ds=%Y%m%d/hh=%H"),
        ])
        .await;
    let response = handler
        .handle(
            &read_event("error-topic-bad-records.json"),
            NOW_MS,
            deadline(),
        )
        .await
        .unwrap();
    assert_eq!(
        response.summary.partitions.keys().collect::<Vec<_>>(),
        ["ds=20201117/hh=07"]
    );
    assert_eq!(
        flow.query("show partitions errors_by_hour").await,
        vec![vec!["ds=20201117/hh=07".to_owned()]]
    );

    let daily = flow
        .handler(&[
            ("ERRORS_TABLE", "errors_by_day"),
            ("SINK_PARTITION", "DAY"),
            ("SINK_PARTITION_FORMAT", "iso"),
            ("SINK_PARTITION_COLUMN", "dt"),
        ])
        .await;
    daily
        .handle(&read_event("on-failure-envelopes.json"), NOW_MS, deadline())
        .await
        .unwrap();
    assert_eq!(
        flow.query("select count(*) from errors_by_day where dt = '2020-11-17'")
            .await,
        vec![vec!["_c0".to_owned()], vec!["3".to_owned()]]
    );
}

#[tokio::test]
async fn maxcompute_failures_are_retried_then_fail_the_invocation_as_transient() {
    let flow = Flow::start().await;
    let handler = flow.handler(&[]).await;
    flow.fault(serde_json::json!({
        "kind": "stream_write", "count": 2, "action": "error",
        "status": 503, "code": "ServiceUnavailable"
    }))
    .await;
    let response = handler
        .handle(
            &read_event("error-topic-headers-non-ascii.json"),
            NOW_MS,
            deadline(),
        )
        .await
        .unwrap();
    assert_eq!(response.summary.rows_written, 1);
    assert!(handler.client().stats().retries >= 2);

    flow.fault(serde_json::json!({
        "kind": "any", "count": 1000, "action": "error",
        "status": 503, "code": "ServiceUnavailable"
    }))
    .await;
    let err = handler
        .handle(
            &read_event("on-failure-envelopes.json"),
            NOW_MS,
            tokio::time::Instant::now() + Duration::from_secs(2),
        )
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert_eq!(err.error_type(), "Transient.MaxComputeWrite");
}

#[tokio::test]
async fn a_table_of_another_shape_stops_the_cold_start() {
    let flow = Flow::start().await;
    flow.query("CREATE TABLE kafka_sink_errors(error_class BIGINT) PARTITIONED BY (pt STRING);")
        .await;
    let err =
        error_handler::handler::ErrorHandler::start_from_config(&flow.config(&[]), deadline())
            .await
            .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the errors table kafka_sink_errors does not fit: column `error_class` has type bigint: expected STRING"
    );
    let err = error_handler::handler::ErrorHandler::start_from_config(
        &flow.config(&[("SINK_PARTITION_COLUMN", "dt")]),
        deadline(),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("do not match the configured partition columns (dt)"),
        "{err}"
    );
}
