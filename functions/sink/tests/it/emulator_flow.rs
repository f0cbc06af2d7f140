//! The sink handler end to end against the MaxCompute emulator over loopback: sample events in,
//! rows out in the right partitions, through both tunnels, with faults injected by the emulator.

use crate::support::flow::{
    Flow, NOW_MS, SinkFlow, deadline, event, kafka_event, sessions_opened_ahead,
};
use lambda_support::function::InvocationError;
use sink::error::SinkError;

#[tokio::test]
async fn the_seed_message_lands_in_its_hour_partition() {
    let flow = Flow::seeded().await;
    let sink = flow.sink(&[]).await;
    let response = sink
        .handle(&event("seed-test-message.json"), NOW_MS, deadline())
        .await
        .unwrap();
    assert_eq!(response.summary.records, 1);
    assert_eq!(response.summary.rows_written, 1);
    assert!(response.batch_item_failures.is_none());
    // 1605596645123 ms is 2020-11-17T07:04:05.123Z, 15:04 in GMT+08:00.
    assert_eq!(
        response.summary.partitions.keys().collect::<Vec<_>>(),
        ["pt=11-17-2020 15"]
    );
    assert_eq!(
        flow.query("show partitions test_kafka").await,
        vec![vec!["pt=11-17-2020 15".to_owned()]]
    );
    let rows = flow
        .query(r#"select * from test_kafka where pt = "11-17-2020 15""#)
        .await;
    assert_eq!(
        rows,
        vec![
            vec!["topic", "partition", "offset", "key", "value", "pt"],
            vec!["maxcompute-test-input", "0", "0", "1", "1", "11-17-2020 15"],
        ]
    );
}

#[tokio::test]
async fn an_hour_boundary_fans_out_to_two_partitions_in_both_tunnels() {
    for tunnel in ["stream", "batch"] {
        let flow = Flow::seeded().await;
        let sink = flow.sink(&[("SINK_TUNNEL", tunnel)]).await;
        let response = sink
            .handle(&event("hour-boundary-gmt8.json"), NOW_MS, deadline())
            .await
            .unwrap();
        let partitions = response.summary.partitions.clone();
        assert_eq!(partitions.len(), 2, "{tunnel}: {partitions:?}");
        let mut total = 0;
        for (spec, rows) in &partitions {
            let value = spec.strip_prefix("pt=").unwrap();
            let counted = flow
                .query(&format!(
                    "select count(*) from test_kafka where pt = '{value}'"
                ))
                .await;
            assert_eq!(
                counted.get(1),
                Some(&vec![rows.to_string()]),
                "{tunnel} {spec}"
            );
            total += rows;
        }
        assert_eq!(total, response.summary.rows_written, "{tunnel}");
    }
}

#[tokio::test]
async fn rejects_without_an_error_topic_fail_the_batch_before_any_write() {
    let flow = Flow::seeded().await;
    let sink = flow.sink(&[]).await;
    let err = sink
        .handle(&event("bad-records.json"), NOW_MS, deadline())
        .await
        .unwrap_err();
    assert!(matches!(err, SinkError::NoErrorTopic { .. }), "{err}");
    assert!(!err.is_transient());
    assert_eq!(err.error_type(), "Permanent.NoErrorTopic");
    assert!(flow.query("show partitions test_kafka").await.is_empty());
}

#[tokio::test]
async fn a_malformed_event_is_rejected_with_the_reason() {
    let flow = Flow::seeded().await;
    let sink = flow.sink(&[]).await;
    let err = sink
        .handle(&event("malformed-event.json"), NOW_MS, deadline())
        .await
        .unwrap_err();
    assert!(matches!(err, SinkError::MalformedEvent(_)), "{err}");
    assert_eq!(err.error_type(), "Permanent.MalformedEvent");
}

#[tokio::test]
async fn transient_tunnel_failures_are_retried_inside_the_invocation() {
    let flow = Flow::seeded().await;
    let sink = flow.sink(&[]).await;
    flow.fault(serde_json::json!({
        "kind": "stream_write", "count": 2, "action": "error",
        "status": 503, "code": "ServiceUnavailable"
    }))
    .await;
    let response = sink
        .handle(&event("seed-test-message.json"), NOW_MS, deadline())
        .await
        .unwrap();
    assert_eq!(response.summary.rows_written, 1);
    assert!(sink.client().stats().retries >= 2);
}

#[tokio::test]
async fn a_permanent_write_failure_reports_the_first_unwritten_offsets() {
    let flow = Flow::seeded().await;
    let sink = flow.sink(&[("SINK_PARTIAL_BATCH", "true")]).await;
    // Every stream write fails permanently; session creation still works.
    flow.fault(serde_json::json!({
        "kind": "stream_write", "count": 100, "action": "error",
        "status": 400, "code": "MalformedDataStream"
    }))
    .await;
    let response = sink
        .handle(
            &event("self-managed-several-partitions.json"),
            NOW_MS,
            deadline(),
        )
        .await
        .unwrap();
    let failures = serde_json::to_value(response.batch_item_failures.unwrap()).unwrap();
    assert_eq!(
        failures,
        serde_json::json!([
            {"itemIdentifier": {"partition": "orders-eu-0", "offset": 100}},
            {"itemIdentifier": {"partition": "orders-eu-1", "offset": 7}},
            {"itemIdentifier": {"partition": "orders-eu-2", "offset": 42}},
        ])
    );
    assert_eq!(response.summary.rows_written, 0);

    // Without partial batch responses the same failure fails the invocation, permanently.
    let sink = flow.sink(&[]).await;
    let err = sink
        .handle(&event("seed-test-message.json"), NOW_MS, deadline())
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Permanent.MaxComputeWrite", "{err}");
}

/// 2020-11-17T07:04:05.123Z: 15:04 in GMT+08:00, so partition `11-17-2020 15`.
const T15: i64 = 1_605_596_645_123;
const T16: i64 = T15 + 3_600_000;

/// `(offset, key)` of every row of the seed's table, sorted.
async fn stored(flow: &Flow) -> Vec<(i64, String)> {
    let mut rows: Vec<(i64, String)> = flow
        .query("select offset, key from test_kafka")
        .await
        .into_iter()
        .skip(1)
        .map(|r| (r[0].parse().unwrap(), r[1].clone()))
        .collect();
    rows.sort();
    rows
}

#[tokio::test]
async fn a_commit_whose_answer_is_lost_is_not_written_twice() {
    let records: Vec<(i32, i64, i64)> = (0..50).map(|o| (0, o, T15 + o)).collect();
    let event = kafka_event("lost", &records);
    for lose in [
        serde_json::json!({"kind": "commit", "phase": "after", "action": "drop"}),
        serde_json::json!({"kind": "commit", "phase": "after", "action": "error", "status": 503, "code": "ServiceUnavailable"}),
        // Even a permanent error for a commit that landed: the session's state decides.
        serde_json::json!({"kind": "commit", "phase": "after", "action": "error", "status": 400, "code": "InvalidArgument"}),
        // The retried commit's answer is lost too, and then the status check's.
        serde_json::json!({"kind": "any", "count": 3, "phase": "after", "action": "drop"}),
    ] {
        let flow = Flow::seeded().await;
        let sink = flow.sink(&[("SINK_TUNNEL", "batch")]).await;
        let kind = lose["kind"].as_str().unwrap_or_default().to_owned();
        if kind == "any" {
            // Let the session creation and the block upload through: lose what follows.
            flow.fault(serde_json::json!({"kind": "commit", "phase": "after", "action": "drop"}))
                .await;
            flow.fault(serde_json::json!({"kind": "commit", "phase": "before", "action": "drop"}))
                .await;
            flow.fault(serde_json::json!({"kind": "session_status", "skip": 1, "phase": "after", "action": "drop"}))
                .await;
        } else {
            flow.fault(lose.clone()).await;
        }
        let response = sink.handle(&event, NOW_MS, deadline()).await.unwrap();
        assert_eq!(response.summary.rows_written, 50, "{lose}");
        let rows = stored(&flow).await;
        assert_eq!(rows.len(), 50, "{lose}: {rows:?}");
        assert_eq!(
            rows,
            (0..50).map(|o| (o, format!("k{o}"))).collect::<Vec<_>>()
        );
    }
}

#[tokio::test]
async fn a_batch_whose_second_hour_fails_reports_it_and_its_retry_rewrites_nothing() {
    // Offsets 0..100 at 23:30 on 2020-12-31, 100..200 at 00:30 on 2021-01-01 (GMT+08:00), whose
    // partition `01-01-2021 00` sorts before `12-31-2020 23`: the hours are written in time
    // order, not in the order of their names. The second hour's write fails permanently.
    const NEW_YEARS_EVE: i64 = 1_609_428_600_000;
    let records: Vec<(i32, i64, i64)> = (0..200)
        .map(|o| {
            (
                0,
                o,
                NEW_YEARS_EVE + if o < 100 { o } else { 3_600_000 + o },
            )
        })
        .collect();
    let retry: Vec<(i32, i64, i64)> = records[100..].to_vec();
    for (tunnel, fault) in [
        (
            "stream",
            serde_json::json!({"kind": "stream_write", "skip": 1, "count": 100, "action": "error", "status": 400, "code": "InvalidArgument"}),
        ),
        (
            "batch",
            serde_json::json!({"kind": "commit", "skip": 1, "action": "error", "status": 400, "code": "InvalidArgument"}),
        ),
    ] {
        let flow = Flow::seeded().await;
        let sink = flow
            .sink(&[("SINK_TUNNEL", tunnel), ("SINK_PARTIAL_BATCH", "true")])
            .await;
        flow.fault(fault).await;
        let response = sink
            .handle(&kafka_event("hours", &records), NOW_MS, deadline())
            .await
            .unwrap();
        let failures = serde_json::to_value(response.batch_item_failures.unwrap()).unwrap();
        assert_eq!(
            failures,
            serde_json::json!([{"itemIdentifier": {"partition": "hours-0", "offset": 100}}]),
            "{tunnel}"
        );
        assert_eq!(stored(&flow).await.len(), 100, "{tunnel}");
        // The trigger resends from the reported offset; nothing is written twice.
        flow.clear_faults().await;
        let response = sink
            .handle(&kafka_event("hours", &retry), NOW_MS, deadline())
            .await
            .unwrap();
        assert_eq!(response.summary.rows_written, 100, "{tunnel}");
        let rows = stored(&flow).await;
        assert_eq!(
            rows,
            (0..200).map(|o| (o, format!("k{o}"))).collect::<Vec<_>>(),
            "{tunnel}"
        );
    }
}

#[tokio::test]
async fn a_failed_block_upload_in_one_hour_commits_no_hour() {
    let records: Vec<(i32, i64, i64)> = (0..20)
        .map(|o| (0, o, if o < 10 { T15 + o } else { T16 + o }))
        .collect();
    let flow = Flow::seeded().await;
    let sink = flow
        .sink(&[("SINK_TUNNEL", "batch"), ("SINK_PARTIAL_BATCH", "true")])
        .await;
    // The first hour's block is uploaded, the second hour's is refused.
    flow.fault(serde_json::json!({"kind": "block_upload", "skip": 1, "action": "error", "status": 400, "code": "InvalidArgument"}))
        .await;
    let response = sink
        .handle(&kafka_event("staged", &records), NOW_MS, deadline())
        .await
        .unwrap();
    let failures = serde_json::to_value(response.batch_item_failures.unwrap()).unwrap();
    assert_eq!(
        failures,
        serde_json::json!([{"itemIdentifier": {"partition": "staged-0", "offset": 0}}])
    );
    assert_eq!(response.summary.rows_written, 0);
    assert_eq!(stored(&flow).await, vec![]);
}

#[tokio::test]
async fn rejects_go_to_the_error_topic_with_their_bytes_and_good_rows_are_written() {
    use crate::support::kafka::{create_topic, fetch, require_broker, unique_topic};
    use maxcompute_core::error_record::{OriginalPayload, PAYLOAD, PAYLOAD_RAW_EVENT_JSON};
    use sink::error_topic::KafkaSecurity;
    use sink::rejects::ErrorTopicSink;

    let address = require_broker().await;
    let topic = unique_topic("errors", "sink-flow");
    create_topic(&address, &topic, 1).await;
    let flow = Flow::seeded().await;
    let sink = flow
        .sink_with(
            &[],
            Box::new(ErrorTopicSink::new(
                topic.clone(),
                Some(vec![address.clone()]),
                KafkaSecurity::Plaintext,
                "sink-under-test".to_owned(),
            )),
        )
        .await;
    let response = sink
        .handle(&event("bad-records.json"), NOW_MS, deadline())
        .await
        .unwrap();
    assert_eq!(response.summary.rows_written, 5);
    assert_eq!(
        response.summary.rejects,
        [("invalid_utf8", 1), ("malformed_record", 5)].into()
    );
    let value = flow.query("select count(*) from test_kafka").await;
    assert_eq!(value.get(1), Some(&vec!["5".to_owned()]));

    let stored = fetch(&address, &topic, 0, 6).await;
    let parsed: Vec<_> = stored
        .iter()
        .map(|s| s.as_message().parse().unwrap())
        .collect();
    let utf8: Vec<_> = parsed
        .iter()
        .filter(|p| p.error.class == "invalid_utf8")
        .collect();
    assert_eq!(utf8.len(), 1);
    let original = &utf8[0].original;
    assert_eq!(original.key.as_deref(), Some(&b"utf8"[..]));
    assert_eq!(
        original.payload,
        OriginalPayload::Value(Some(b"\xff\xfe,bad".to_vec()))
    );
    assert_eq!(original.offset, Some(2));
    assert_eq!(original.timestamp_ms, Some(1_605_596_645_002));
    assert_eq!(utf8[0].error.function, "sink-under-test");
    assert_eq!(utf8[0].error.failed_at_ms, NOW_MS);
    let raw = stored
        .iter()
        .filter(|s| {
            s.headers
                .iter()
                .any(|(k, v)| k == PAYLOAD && v == PAYLOAD_RAW_EVENT_JSON.as_bytes())
        })
        .count();
    assert_eq!(raw, 5);
}

#[tokio::test]
async fn the_ram_role_path_assumes_the_role_through_sts_and_writes_with_temporary_keys() {
    let flow = Flow::seeded().await;
    // The emulator answers STS AssumeRole on its root, verifying the RPC signature made with
    // the base AccessKey, and issues temporary STS keys that its MaxCompute side accepts.
    let sts = format!("http://{}", flow.server.addr);
    let sink = flow
        .sink(&[
            (
                "ALIBABA_CLOUD_ROLE_ARN",
                "acs:ram::1234567890123456:role/aliyunkafkamaxcomputeuser1",
            ),
            ("ALIBABA_CLOUD_STS_ENDPOINT", &sts),
        ])
        .await;
    let response = sink
        .handle(&event("seed-test-message.json"), NOW_MS, deadline())
        .await
        .unwrap();
    assert_eq!(response.summary.rows_written, 1);
    assert_eq!(
        flow.query("select count(*) from test_kafka").await.get(1),
        Some(&vec!["1".to_owned()])
    );

    // With a base secret STS refuses, the cold start fails and says why.
    let mut config = flow.config(&[
        (
            "ALIBABA_CLOUD_ROLE_ARN",
            "acs:ram::1234567890123456:role/aliyunkafkamaxcomputeuser1",
        ),
        ("ALIBABA_CLOUD_STS_ENDPOINT", &sts),
    ]);
    config.connection.credentials = lambda_support::settings::CredentialSource::Environment(
        maxcompute_core::signing::Credentials::access_key(
            maxcompute_emulator::testing::ACCESS_ID,
            maxcompute_core::signing::Secret::new("not-the-secret"),
        ),
    );
    let err = sink::handler::Sink::start_from_config(
        &config,
        Box::new(sink::rejects::NoErrorTopic),
        deadline(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("SignatureDoesNotMatch"), "{err}");
}

#[tokio::test]
async fn a_kept_stream_session_the_server_refuses_is_reopened_once() {
    let flow = Flow::seeded().await;
    let sink = flow.sink(&[]).await;
    sink.handle(&event("seed-test-message.json"), NOW_MS, deadline())
        .await
        .unwrap();
    // The session kept from the first invocation is refused once, permanently, as an expired
    // session would be: the sink opens a new one and the write goes through.
    flow.fault(serde_json::json!({
        "kind": "stream_write", "count": 1, "action": "error",
        "status": 404, "code": "NoSuchUploadID"
    }))
    .await;
    let response = sink
        .handle(&event("seed-test-message.json"), NOW_MS, deadline())
        .await
        .unwrap();
    assert_eq!(response.summary.rows_written, 1);
    assert_eq!(
        flow.query("select count(*) from test_kafka").await.get(1),
        Some(&vec!["2".to_owned()])
    );
}

/// The EMF lines a sink printed, parsed.
fn collect_metrics() -> (
    sink::handler::MetricsOutput,
    std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
) {
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let into = std::sync::Arc::clone(&lines);
    let output = sink::handler::MetricsOutput::to(move |line: String| {
        into.lock()
            .unwrap()
            .push(serde_json::from_str(&line).expect("an EMF line is JSON"))
    });
    (output, lines)
}

/// Checks an EMF document's declarations and returns its metric values by name.
fn emf_metrics(doc: &serde_json::Value) -> std::collections::BTreeMap<String, i64> {
    let aws = &doc["_aws"];
    assert_eq!(aws["Timestamp"], NOW_MS, "{doc}");
    let directives = aws["CloudWatchMetrics"].as_array().unwrap();
    assert_eq!(directives.len(), 1);
    assert_eq!(directives[0]["Namespace"], sink::metrics::NAMESPACE);
    assert_eq!(
        directives[0]["Dimensions"],
        serde_json::json!([["Function", "Topic", "Table"]])
    );
    for dimension in ["Function", "Topic", "Table"] {
        assert!(doc[dimension].is_string(), "{dimension} in {doc}");
    }
    directives[0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let name = m["Name"].as_str().unwrap().to_owned();
            assert!(m["Unit"].is_string(), "{m}");
            let value = doc[&name]
                .as_i64()
                .unwrap_or_else(|| panic!("{name} is declared but has no value in {doc}"));
            (name, value)
        })
        .collect()
}

#[tokio::test]
async fn each_invocation_emits_metrics_that_say_what_it_did() {
    use crate::support::kafka::{create_topic, require_broker, unique_topic};
    use sink::error_topic::KafkaSecurity;
    use sink::rejects::ErrorTopicSink;

    let address = require_broker().await;
    let errors = unique_topic("errors", "sink-metrics");
    create_topic(&address, &errors, 1).await;
    let flow = Flow::seeded().await;
    let (output, lines) = collect_metrics();
    let sink = flow
        .sink_with(
            &[],
            Box::new(ErrorTopicSink::new(
                errors,
                Some(vec![address]),
                KafkaSecurity::Plaintext,
                "sink-under-test".to_owned(),
            )),
        )
        .await
        .with_metrics_output(output);
    // Two stream writes fail once each and are retried.
    flow.fault(serde_json::json!({
        "kind": "stream_write", "count": 2, "action": "error",
        "status": 503, "code": "ServiceUnavailable"
    }))
    .await;
    let text = event("bad-records.json");
    let response = sink.handle(&text, NOW_MS, deadline()).await.unwrap();

    let docs = lines.lock().unwrap().clone();
    assert_eq!(docs.len(), 1, "one line per invocation: {docs:?}");
    let doc = &docs[0];
    assert_eq!(doc["Table"], "test_kafka");
    let oldest = maxcompute_core::event::decode_event_str(&text)
        .unwrap()
        .records
        .iter()
        .filter_map(|r| r.event_time_ms())
        .min()
        .unwrap();
    let summary = &response.summary;
    let metrics = emf_metrics(doc);
    let expected: std::collections::BTreeMap<String, i64> = [
        ("Records", summary.records as i64),
        ("RowsWritten", summary.rows_written as i64),
        ("BytesWritten", summary.bytes_written as i64),
        ("Rejects", 6),
        ("Rejects.invalid_utf8", 1),
        ("Rejects.malformed_record", 5),
        ("Retries", 2),
        ("FailedPartitions", 0),
        ("RecordAge", NOW_MS - oldest),
        ("Latency", metrics["Latency"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(metrics, expected);
    // The rows per partition, as a JSON object beside the metrics.
    assert_eq!(
        doc["Partitions"],
        serde_json::to_value(&summary.partitions).unwrap()
    );
    assert_eq!(
        doc["Partitions"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum::<u64>(),
        5
    );
    assert_eq!(summary.rows_written, 5);
    assert!(summary.bytes_written > 0);
    assert!(metrics["Latency"] >= 0);
}

#[tokio::test]
async fn a_failed_invocation_emits_its_metrics_too() {
    let flow = Flow::seeded().await;
    let (output, lines) = collect_metrics();
    let sink = flow.sink(&[]).await.with_metrics_output(output);
    flow.fault(serde_json::json!({
        "kind": "stream_write", "count": 100, "action": "error",
        "status": 400, "code": "InvalidArgument"
    }))
    .await;
    sink.handle(&event("seed-test-message.json"), NOW_MS, deadline())
        .await
        .unwrap_err();
    let docs = lines.lock().unwrap().clone();
    assert_eq!(docs.len(), 1);
    let metrics = emf_metrics(&docs[0]);
    assert_eq!(metrics["Records"], 1);
    assert_eq!(metrics["RowsWritten"], 0);
    assert_eq!(metrics["FailedPartitions"], 1);
    assert_eq!(docs[0]["Topic"], "maxcompute-test-input");
}

#[tokio::test]
async fn with_permanent_write_errors_to_the_error_topic_a_refused_hour_goes_there_and_the_rest_is_written()
 {
    use crate::support::kafka::{create_topic, fetch, require_broker, unique_topic};
    use maxcompute_core::error_record::OriginalPayload;
    use sink::error_topic::KafkaSecurity;
    use sink::rejects::ErrorTopicSink;

    // Three hours of one Kafka partition, 100 records each; the second hour's write is refused
    // for good (after the first hour's went through).
    let records: Vec<(i32, i64, i64)> = (0..300)
        .map(|o| (0, o, T15 + (o / 100) * 3_600_000 + o))
        .collect();
    let address = require_broker().await;
    for (tunnel, fault) in [
        (
            "stream",
            serde_json::json!({"kind": "stream_write", "skip": 1, "count": 1, "action": "error", "status": 400, "code": "InvalidArgument"}),
        ),
        (
            "batch",
            serde_json::json!({"kind": "commit", "skip": 1, "count": 1, "action": "error", "status": 403, "code": "NoPermission"}),
        ),
    ] {
        let topic = unique_topic("errors", "refused");
        create_topic(&address, &topic, 1).await;
        let flow = Flow::seeded().await;
        let sink = flow
            .sink_with(
                &[
                    ("SINK_TUNNEL", tunnel),
                    ("SINK_ERROR_TOPIC", &topic),
                    ("SINK_PERMANENT_WRITE_ERRORS", "error-topic"),
                ],
                Box::new(ErrorTopicSink::new(
                    topic.clone(),
                    Some(vec![address.clone()]),
                    KafkaSecurity::Plaintext,
                    "sink-under-test".to_owned(),
                )),
            )
            .await;
        flow.fault(fault).await;
        let response = sink
            .handle(&kafka_event("hours", &records), NOW_MS, deadline())
            .await
            .unwrap();
        // The batch succeeds: hours one and three are written, hour two is in the error topic.
        assert_eq!(response.summary.rows_written, 200, "{tunnel}");
        assert_eq!(
            response.summary.rejects,
            [("write_refused", 100)].into(),
            "{tunnel}"
        );
        assert_eq!(response.summary.failed_partitions, 0, "{tunnel}");
        let rows = stored(&flow).await;
        assert_eq!(
            rows,
            (0..100)
                .chain(200..300)
                .map(|o| (o, format!("k{o}")))
                .collect::<Vec<_>>(),
            "{tunnel}"
        );
        let sent: Vec<_> = fetch(&address, &topic, 0, 100)
            .await
            .iter()
            .map(|s| s.as_message().parse().unwrap())
            .collect();
        assert_eq!(sent.len(), 100, "{tunnel}");
        for (message, offset) in sent.iter().zip(100..) {
            assert_eq!(message.error.class, "write_refused");
            assert!(
                message.error.message.contains("failed for good")
                    && message.error.message.contains(if tunnel == "stream" {
                        "InvalidArgument"
                    } else {
                        "NoPermission"
                    }),
                "{}",
                message.error.message
            );
            assert_eq!(message.original.offset, Some(offset));
            assert_eq!(
                message.original.key,
                Some(format!("k{offset}").into_bytes())
            );
            assert_eq!(
                message.original.payload,
                OriginalPayload::Value(Some(format!("v{offset}").into_bytes()))
            );
        }
    }
}

/// After a commit the next upload session for the partition is opened beside it and kept: the
/// next invocation writes through it without creating one, and one the service refuses when it
/// is used is replaced by a fresh session (`sessions_opened_ahead`). Every record is stored once.
#[tokio::test]
async fn a_batch_session_opened_ahead_serves_the_next_invocation_and_is_replaced_when_refused() {
    let flow = Flow::seeded().await;
    let sink = flow.sink(&[("SINK_TUNNEL", "batch")]).await;
    let refused_use = serde_json::json!({
        "kind": "block_upload", "count": 1, "action": "error",
        "status": 404, "code": "NoSuchUploadID"
    });
    sessions_opened_ahead(&flow, &sink, refused_use, T15).await;
    assert_eq!(
        stored(&flow).await,
        (0..40).map(|o| (o, format!("k{o}"))).collect::<Vec<_>>()
    );
}
