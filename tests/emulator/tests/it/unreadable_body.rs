//! An invocation body that is not JSON at all, reaching each function's deployed binary through
//! the local Lambda runtime API: both answer it with their own `Permanent.MalformedEvent` (not
//! lambda_runtime's `DeserializeError`), and the warm process goes on to handle the next event.
//!
//! Which bodies are unreadable, and the parser's reason for each, is `lambda_support`'s
//! `EventBody`, tested there; this checks only that both binaries answer through it.

use std::time::Duration;

use lambda_emulator::runtime::{Function, FunctionSpec};
use maxcompute_emulator::testing::TestEmulator;
use test_support::events::read_event;

use crate::support::function_binary;
use test_support::lambda::{answer, failure};

const SEED_DDL: &str = "CREATE TABLE IF NOT EXISTS test_kafka(topic STRING,partition BIGINT,offset BIGINT,key STRING,value STRING) PARTITIONED by (pt STRING);";

/// Bodies lambda_runtime's JSON reader refuses.
const UNREADABLE: [(&str, &[u8]); 3] = [
    ("an empty body", b""),
    ("plain text", b"records, please"),
    ("JSON cut short", br#"{"records":{"orders-0":["#),
];

/// `function` against `emulator` with `env`: unreadable bodies are malformed events, then
/// `event` (a sample) writes `rows` rows in the same process.
async fn unreadable_then_warm(
    emulator: &TestEmulator,
    function: &str,
    env: &[(&str, &str)],
    event: &str,
    rows: u64,
) {
    let spec = FunctionSpec {
        name: format!("kafka-maxcompute-{function}"),
        binary: function_binary(function),
        env: emulator.env_with(env),
        timeout: Duration::from_secs(30),
        memory_mb: 128,
    };
    let mut process = Function::new(spec).await.unwrap();
    for (what, body) in UNREADABLE {
        let (error_type, error_message) = failure(
            process
                .invoke(bytes::Bytes::from_static(body))
                .await
                .unwrap(),
        );
        assert_eq!(error_type, "Permanent.MalformedEvent", "{function}, {what}");
        assert!(
            error_message.starts_with(
                "malformed Kafka trigger event: the Kafka trigger event is not JSON: "
            ),
            "{function}, {what}: {error_message}"
        );
    }
    // The same process, still warm, writes a real event.
    let outcome = process.invoke(read_event(event).into()).await.unwrap();
    let answer = answer(outcome);
    assert_eq!(
        answer["summary"]["rowsWritten"], rows,
        "{function}: {answer}"
    );
    process.stop().await;
}

#[tokio::test]
async fn both_binaries_answer_bodies_that_are_not_json_as_malformed_events_and_live_on() {
    let emulator = TestEmulator::start().await;
    emulator.sql(SEED_DDL).await;
    unreadable_then_warm(
        &emulator,
        "sink",
        &[("MAXCOMPUTE_TABLE", "test_kafka")],
        "seed-test-message.json",
        1,
    )
    .await;
    unreadable_then_warm(
        &emulator,
        "error-handler",
        &[],
        "on-failure-envelopes.json",
        3,
    )
    .await;
}
