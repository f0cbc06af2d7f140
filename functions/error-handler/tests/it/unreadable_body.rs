//! An invocation body that is not JSON at all (empty, text, cut short) reaching the deployed
//! binary through the emulator's Lambda runtime API: the error handler answers it with its own
//! `Permanent.MalformedEvent` and the parser's reason, never crashes on it, and the warm process
//! goes on to handle the next event.

use std::time::Duration;

use crate::support::events::read_event;
use crate::support::flow::Flow;
use lambda_emulator::runtime::{Function, FunctionSpec, Outcome};

fn spec(flow: &Flow) -> FunctionSpec {
    FunctionSpec {
        name: "kafka-maxcompute-error-handler".to_owned(),
        binary: env!("CARGO_BIN_EXE_error-handler").into(),
        env: flow.env(),
        timeout: Duration::from_secs(30),
        memory_mb: 128,
    }
}

/// Bodies the runtime's JSON reader refuses, with a word the parser's reason must contain.
const UNREADABLE: [(&str, &[u8], &str); 4] = [
    ("an empty body", b"", "EOF"),
    ("blanks only", b" \n", "EOF"),
    ("plain text", b"records, please", "expected"),
    ("JSON cut short", br#"{"records":{"orders-0":["#, "EOF"),
];

#[tokio::test]
async fn bodies_that_are_not_json_are_permanent_malformed_events_and_the_process_lives_on() {
    let flow = Flow::start().await;
    let mut function = Function::new(spec(&flow)).await.unwrap();

    for (what, body, reason) in UNREADABLE {
        match function
            .invoke(bytes::Bytes::from_static(body))
            .await
            .unwrap()
        {
            Outcome::Error {
                error_type,
                error_message,
            } => {
                assert_eq!(error_type, "Permanent.MalformedEvent", "{what}");
                assert!(
                    error_message.starts_with(
                        "malformed Kafka trigger event: the Kafka trigger event is not JSON: "
                    ),
                    "{what}: {error_message}"
                );
                assert!(error_message.contains(reason), "{what}: {error_message}");
            }
            other => panic!("{what}: {other:?}"),
        }
    }

    // The same process, still warm, stores a real event.
    let outcome = function
        .invoke(read_event("on-failure-envelopes.json").into())
        .await
        .unwrap();
    let Outcome::Response(body) = outcome else {
        panic!("{outcome:?}")
    };
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["summary"]["rowsWritten"], 3, "{answer}");
    function.stop().await;
}
