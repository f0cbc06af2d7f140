//! The sink as its deployed binary: started behind the emulator's Lambda runtime API (what
//! `lambda_runtime` talks to in AWS), configured through its environment, invoked with the
//! sample events, writing into the MaxCompute emulator.

use std::time::Duration;

use emulator::auth::KeyStore;
use emulator::lambda::{Function, FunctionSpec, Outcome};
use emulator::server::{self, RunningServer};
use emulator::sqlcmd;

pub(crate) const ID: &str = "sink-id";
pub(crate) const SECRET: &str = "sink-secret";
pub(crate) const PROJECT: &str = "connector_test";

pub(crate) async fn emulator(dir: &std::path::Path) -> RunningServer {
    let mut keys = KeyStore::default();
    keys.add_access_key(ID, SECRET);
    server::start(server::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        keys,
        session_ttl: server::DEFAULT_SESSION_TTL,
    })
    .await
    .unwrap()
}

pub(crate) fn spec(server: &RunningServer, extra: &[(&str, &str)]) -> FunctionSpec {
    let mut env: Vec<(String, String)> = [
        ("MAXCOMPUTE_ENDPOINT", format!("http://{}/api", server.addr)),
        ("MAXCOMPUTE_PROJECT", PROJECT.to_owned()),
        ("MAXCOMPUTE_TABLE", "test_kafka".to_owned()),
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", ID.to_owned()),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    FunctionSpec {
        name: "kafka-maxcompute-sink".to_owned(),
        binary: env!("CARGO_BIN_EXE_sink").into(),
        env,
        timeout: Duration::from_secs(30),
        memory_mb: 128,
    }
}

fn event(name: &str) -> bytes::Bytes {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .into()
}

#[tokio::test]
async fn the_binary_writes_the_seed_message_and_reports_errors_by_type() {
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

    let outcome = function
        .invoke(event("seed-test-message.json"))
        .await
        .unwrap();
    let Outcome::Response(body) = outcome else {
        panic!("{outcome:?}")
    };
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["summary"]["rowsWritten"], 1, "{answer}");
    let (_, rows) = sql
        .run_sql(
            PROJECT,
            r#"select * from test_kafka where pt = "11-17-2020 15""#,
        )
        .await
        .unwrap();
    assert_eq!(
        sqlcmd::parse_csv(&rows),
        vec![
            vec!["topic", "partition", "offset", "key", "value", "pt"],
            vec!["maxcompute-test-input", "0", "0", "1", "1", "11-17-2020 15"],
        ]
    );

    // The same warm process answers a malformed event with a typed error.
    let outcome = function
        .invoke(event("malformed-event.json"))
        .await
        .unwrap();
    match outcome {
        Outcome::Error {
            error_type,
            error_message,
        } => {
            assert_eq!(error_type, "Permanent.MalformedEvent");
            assert!(
                error_message.starts_with("malformed Kafka trigger event"),
                "{error_message}"
            );
        }
        other => panic!("{other:?}"),
    }
    function.stop().await;
}

#[tokio::test]
async fn a_bad_configuration_stops_the_cold_start_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let server = emulator(dir.path()).await;
    let mut function = Function::new(spec(&server, &[("SINK_PARTITION", "WEEK")]))
        .await
        .unwrap();
    match function
        .invoke(event("seed-test-message.json"))
        .await
        .unwrap()
    {
        Outcome::Exited(report) => {
            assert!(report.contains("SINK_PARTITION=\"WEEK\""), "{report}");
            assert!(report.contains("expected DAY, HOUR or MINUTE"), "{report}");
        }
        other => panic!("{other:?}"),
    }
}
