//! The error handler as its deployed binary: started behind the emulator's Lambda runtime API,
//! configured through its environment, invoked with a sample event, writing into the MaxCompute
//! emulator; and a bad setting stopping its cold start.

use std::time::Duration;

use crate::support::events::read_event;
use crate::support::flow::Flow;
use lambda_emulator::runtime::{Function, FunctionSpec};
use test_support::lambda::{answer, failure};

fn spec(flow: &Flow, extra: &[(&str, &str)]) -> FunctionSpec {
    let env = flow.env_with(extra);
    FunctionSpec {
        name: "kafka-maxcompute-error-handler".to_owned(),
        binary: env!("CARGO_BIN_EXE_error-handler").into(),
        env,
        timeout: Duration::from_secs(30),
        memory_mb: 128,
    }
}

#[tokio::test]
async fn the_binary_creates_the_table_and_writes_the_sample_rows() {
    let flow = Flow::start().await;
    let mut function = Function::new(spec(&flow, &[])).await.unwrap();
    let outcome = function
        .invoke(read_event("on-failure-envelopes.json").into())
        .await
        .unwrap();
    let answer = answer(outcome);
    assert_eq!(answer["summary"]["rowsWritten"], 3, "{answer}");
    assert_eq!(
        answer["summary"]["classes"]["trigger_gave_up"], 2,
        "{answer}"
    );
    let rows = flow
        .query("select error_class, origin_offset, payload_kind from kafka_sink_errors where pt = '11-17-2020 15'")
        .await;
    assert_eq!(
        rows,
        vec![
            vec!["error_class", "origin_offset", "payload_kind"],
            vec!["trigger_gave_up", "12", "record"],
        ]
    );

    // The same warm process answers a malformed event with a typed error.
    let outcome = function
        .invoke(read_event("malformed-event.json").into())
        .await
        .unwrap();
    let (error_type, _) = failure(outcome);
    assert_eq!(error_type, "Permanent.MalformedEvent");
    function.stop().await;
}

#[tokio::test]
async fn a_bad_setting_stops_the_cold_start_naming_the_variable() {
    let flow = Flow::start().await;
    let mut function = Function::new(spec(&flow, &[("ERRORS_TABLE", "errors-table")]))
        .await
        .unwrap();
    let (error_type, error_message) = failure(
        function
            .invoke(read_event("error-topic-bad-records.json").into())
            .await
            .unwrap(),
    );
    assert_eq!(error_type, "Permanent.Configuration");
    assert!(
        error_message.contains("ERRORS_TABLE=\"errors-table\""),
        "{error_message}"
    );
}
