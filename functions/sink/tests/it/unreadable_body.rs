//! An invocation body that is not JSON at all (empty, text, cut short) reaching the deployed
//! binary through the emulator's Lambda runtime API: the sink answers it with its own
//! `Permanent.MalformedEvent` and the parser's reason, not with lambda_runtime's
//! `DeserializeError`, and the warm process goes on to handle the next event.

use emulator::lambda::{Function, Outcome};
use emulator::sqlcmd;

use crate::runtime_api::{ID, PROJECT, SECRET, emulator, spec};

/// Bodies the runtime's JSON reader refuses, with a word the parser's reason must contain.
const UNREADABLE: [(&str, &[u8], &str); 4] = [
    ("an empty body", b"", "EOF"),
    ("blanks only", b" \n", "EOF"),
    ("plain text", b"records, please", "expected"),
    ("JSON cut short", br#"{"records":{"orders-0":["#, "EOF"),
];

#[tokio::test]
async fn bodies_that_are_not_json_are_permanent_malformed_events_and_the_process_lives_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = emulator(dir.path()).await;
    let sql = sqlcmd::Client::new(&format!("http://{}", server.addr), ID, SECRET);
    sql.run_sql(
        PROJECT,
        "CREATE TABLE IF NOT EXISTS test_kafka(topic STRING,partition BIGINT,offset BIGINT,key STRING,value STRING) PARTITIONED by (pt STRING);",
    )
    .await
    .unwrap();
    let mut function = Function::new(spec(&server, &[])).await.unwrap();

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

    // The same process, still warm, writes a real event.
    let seed = std::fs::read(format!(
        "{}/../../events/seed-test-message.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let outcome = function.invoke(seed.into()).await.unwrap();
    let Outcome::Response(body) = outcome else {
        panic!("{outcome:?}")
    };
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["summary"]["rowsWritten"], 1, "{answer}");
    function.stop().await;
}
