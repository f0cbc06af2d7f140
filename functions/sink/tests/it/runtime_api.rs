//! The sink as its deployed binary: started behind the emulator's Lambda runtime API (what
//! `lambda_runtime` talks to in AWS), configured through its environment, invoked with the
//! sample events, writing into the MaxCompute emulator.

use std::time::Duration;

use lambda_emulator::runtime::{Function, FunctionSpec, Outcome};

use crate::support::flow::{Flow, SinkFlow, event};
use test_support::lambda::{answer, failure};

/// The sink binary configured against `flow`'s seed table, with `extra` variables on top.
pub(crate) fn spec(flow: &Flow, extra: &[(&str, &str)]) -> FunctionSpec {
    let env = flow.env_with(&[&[("MAXCOMPUTE_TABLE", "test_kafka")][..], extra].concat());
    FunctionSpec {
        name: "kafka-maxcompute-sink".to_owned(),
        binary: env!("CARGO_BIN_EXE_sink").into(),
        env,
        timeout: Duration::from_secs(30),
        memory_mb: 128,
    }
}

#[tokio::test]
async fn the_binary_writes_the_seed_message_and_reports_errors_by_type() {
    let flow = Flow::seeded().await;
    let mut function = Function::new(spec(&flow, &[])).await.unwrap();

    let outcome = function
        .invoke(event("seed-test-message.json").into())
        .await
        .unwrap();
    let answer = answer(outcome);
    assert_eq!(answer["summary"]["rowsWritten"], 1, "{answer}");
    assert_eq!(
        flow.query(r#"select * from test_kafka where pt = "11-17-2020 15""#)
            .await,
        vec![
            vec!["topic", "partition", "offset", "key", "value", "pt"],
            vec!["maxcompute-test-input", "0", "0", "1", "1", "11-17-2020 15"],
        ]
    );

    // The same warm process answers a malformed event with a typed error.
    let outcome = function
        .invoke(event("malformed-event.json").into())
        .await
        .unwrap();
    let (error_type, error_message) = failure(outcome);
    assert_eq!(error_type, "Permanent.MalformedEvent");
    assert!(
        error_message.starts_with("malformed Kafka trigger event"),
        "{error_message}"
    );
    function.stop().await;
}

#[tokio::test]
async fn a_bad_configuration_stops_the_cold_start_naming_the_variable() {
    let flow = Flow::seeded().await;
    let mut function = Function::new(spec(&flow, &[("SINK_PARTITION", "WEEK")]))
        .await
        .unwrap();
    // The failed cold start is reported to the runtime API (`/runtime/init/error`), so the
    // invocation ends with the function's own error type, not a bare exit.
    let (error_type, error_message) = failure(
        function
            .invoke(event("seed-test-message.json").into())
            .await
            .unwrap(),
    );
    assert_eq!(error_type, "Permanent.Configuration");
    assert!(
        error_message.contains("SINK_PARTITION=\"WEEK\""),
        "{error_message}"
    );
    assert!(
        error_message.contains("expected DAY, HOUR or MINUTE"),
        "{error_message}"
    );
}

#[tokio::test]
async fn a_failed_cold_start_exits_even_when_the_runtime_api_never_answers_its_report() {
    // A runtime API that takes connections and never answers: the report of the failed cold
    // start gets no answer, and the process must still exit rather than hang.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let flow = Flow::seeded().await;
    let spec = spec(&flow, &[("SINK_PARTITION", "WEEK")]);
    let mut child = tokio::process::Command::new(&spec.binary)
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the process did not exit after its init error report went unanswered")
        .unwrap();
    assert!(!status.success(), "{status}");
    held.abort();
}

#[tokio::test]
async fn a_missing_table_ends_each_invocation_with_a_permanent_init_error_until_it_exists() {
    let flow = Flow::seeded().await;
    let mut function = Function::new(spec(&flow, &[("MAXCOMPUTE_TABLE", "not_yet")]))
        .await
        .unwrap();
    // Each invocation starts a new process (the failed one is thrown away, as Lambda does), and
    // each ends with the reported error rather than waiting for the function's timeout.
    for _ in 0..2 {
        let (error_type, error_message) = failure(
            function
                .invoke(event("seed-test-message.json").into())
                .await
                .unwrap(),
        );
        assert_eq!(error_type, "Permanent.TableSchema", "{error_message}");
        assert!(error_message.contains("not_yet"), "{error_message}");
    }
    flow.query(
        "CREATE TABLE not_yet(topic STRING,partition BIGINT,offset BIGINT,key STRING,value STRING) \
         PARTITIONED by (pt STRING);",
    )
    .await;
    let outcome = function
        .invoke(event("seed-test-message.json").into())
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Response(_)), "{outcome:?}");
    function.stop().await;
}

#[tokio::test]
async fn in_json_logs_the_invocation_line_holds_json_values_and_the_metrics_line_its_partitions() {
    let flow = Flow::seeded().await;
    let mut function = Function::new(spec(&flow, &[("AWS_LAMBDA_LOG_FORMAT", "JSON")]))
        .await
        .unwrap();
    function.capture_logs();
    let outcome = function
        .invoke(event("seed-test-message.json").into())
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Response(_)), "{outcome:?}");
    function.stop().await;
    let lines: Vec<serde_json::Value> = function
        .logs()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let done: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "invocation done")
        .collect();
    assert_eq!(done.len(), 1, "{lines:?}");
    let fields = &done[0]["fields"];
    for (name, value) in [
        ("records", 1),
        ("rows", 1),
        ("partitions", 1),
        ("rejects", 0),
        ("failed_partitions", 0),
        ("retries", 0),
    ] {
        assert_eq!(fields[name], serde_json::json!(value), "{name} in {fields}");
    }
    assert!(fields["bytes"].as_u64().unwrap() > 0, "{fields}");
    assert!(fields["latency_ms"].is_u64(), "{fields}");
    let metrics: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l.get("_aws").is_some()).collect();
    assert_eq!(metrics.len(), 1, "{lines:?}");
    assert_eq!(
        metrics[0]["Partitions"],
        serde_json::json!({"pt=11-17-2020 15": 1})
    );
}
