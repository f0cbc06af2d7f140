//! The sink handler end to end against the MaxCompute emulator over loopback: sample events in,
//! rows out in the right partitions, through both tunnels, with faults injected by the emulator.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::Duration;

use emulator::auth::KeyStore;
use emulator::server::{self, RunningServer};
use emulator::sqlcmd;
use sink::config::Config;
use sink::handler::{NoErrorTopic, Sink, SinkError};
use tokio::time::Instant;

const ID: &str = "sink-id";
const SECRET: &str = "sink-secret";
const PROJECT: &str = "connector_test";
const SEED_DDL: &str = "CREATE TABLE IF NOT EXISTS test_kafka(topic STRING,partition BIGINT,offset BIGINT,key STRING,value STRING) PARTITIONED by (pt STRING);";
/// Processing time for the handler: only used for records without a timestamp.
const NOW_MS: i64 = 1_605_596_645_123;

struct Flow {
    _dir: tempfile::TempDir,
    server: RunningServer,
    sql: sqlcmd::Client,
}

impl Flow {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut keys = KeyStore::default();
        keys.add_access_key(ID, SECRET);
        let server = server::start(server::Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_path_buf(),
            keys,
            session_ttl: server::DEFAULT_SESSION_TTL,
        })
        .await
        .unwrap();
        let sql = sqlcmd::Client::new(&format!("http://{}", server.addr), ID, SECRET);
        sql.run_sql(PROJECT, SEED_DDL).await.unwrap();
        Self {
            _dir: dir,
            server,
            sql,
        }
    }

    fn config(&self, extra: &[(&str, &str)]) -> Config {
        let endpoint = format!("http://{}/api", self.server.addr);
        let mut vars: Vec<(String, String)> = vec![
            ("MAXCOMPUTE_ENDPOINT".into(), endpoint),
            ("MAXCOMPUTE_PROJECT".into(), PROJECT.into()),
            ("MAXCOMPUTE_TABLE".into(), "test_kafka".into()),
            ("ALIBABA_CLOUD_ACCESS_KEY_ID".into(), ID.into()),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET".into(), SECRET.into()),
        ];
        vars.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        Config::from_lookup(|name| {
            vars.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
        .unwrap()
    }

    async fn sink(&self, extra: &[(&str, &str)]) -> Sink {
        Sink::start_from_config(&self.config(extra), Box::new(NoErrorTopic), deadline())
            .await
            .unwrap()
    }

    async fn query(&self, statement: &str) -> Vec<Vec<String>> {
        let (_, text) = self.sql.run_sql(PROJECT, statement).await.unwrap();
        sqlcmd::parse_csv(&text)
    }

    /// Makes the next `count` calls of `kind` fail as the emulator's admin API is told to.
    async fn fault(&self, rule: serde_json::Value) {
        let resp = reqwest::Client::new()
            .post(format!("http://{}/_emulator/faults", self.server.addr))
            .json(&rule)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{:?}", resp.text().await);
    }
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

fn event(name: &str) -> String {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[tokio::test]
async fn the_seed_message_lands_in_its_hour_partition() {
    let flow = Flow::start().await;
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
        let flow = Flow::start().await;
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
    let flow = Flow::start().await;
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
    let flow = Flow::start().await;
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
    let flow = Flow::start().await;
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
    let flow = Flow::start().await;
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
            {"itemIdentifier": {"topic-partition": "orders-eu-0", "offset": 100}},
            {"itemIdentifier": {"topic-partition": "orders-eu-1", "offset": 7}},
            {"itemIdentifier": {"topic-partition": "orders-eu-2", "offset": 42}},
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
