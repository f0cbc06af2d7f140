//! Upsert sessions of `maxcompute_client` (Delta Tables) against the scripted loopback server: the
//! create / write per bucket / commit flow as pyodps speaks it, commits that are posted again
//! while the service commits, a repeated commit that finds the session gone, and Delta Tables
//! told apart from append tables by their metadata.

use super::support::{Reply, TestServer, deadline, step};
use maxcompute_client::{Error, ErrorCode};
use maxcompute_core::spec::PartitionSpec;

const UPSERTS: &str = "/projects/my_proj/tables/kafka_delta/upserts";
const SESSION: &str = "20261130upsert0001";

fn session_json(status: &str) -> String {
    serde_json::json!({
        "id": SESSION,
        "status": status,
        "slots": [
            {"slot_id": "1", "worker_addr": "127.0.0.1:1", "buckets": [0, 2]},
            {"slot_id": "2", "worker_addr": "127.0.0.1:2", "buckets": [1, 3]}
        ],
        "schema": {
            "columns": [
                {"name": "topic", "type": "string", "nullable": false, "isNullable": false},
                {"name": "offset", "type": "bigint", "nullable": false, "isNullable": false},
                {"name": "value", "type": "string", "nullable": true, "isNullable": true}
            ],
            "partitionKeys": [{"name": "pt", "type": "string"}]
        },
        "hash_key": ["topic", "offset"],
        "hasher": "default"
    })
    .to_string()
}

fn pt() -> PartitionSpec {
    PartitionSpec::single("pt", "11-17-2020 15").unwrap()
}

#[tokio::test]
async fn create_write_buckets_and_commit_as_pyodps_does() {
    let server = TestServer::start(vec![
        step("POST", UPSERTS, Reply::ok(session_json("normal"))),
        step("PUT", UPSERTS, Reply::ok("")),
        step("PUT", UPSERTS, Reply::ok("")),
        step("POST", UPSERTS, Reply::ok(session_json("committing"))),
        // Still committing: the commit is posted again, as the SDKs do.
        step("GET", UPSERTS, Reply::ok(session_json("committing"))),
        // Answered committed: nothing more to ask.
        step("POST", UPSERTS, Reply::ok(session_json("committed"))),
    ])
    .await;
    let client = server.client();
    let mut session = client
        .create_upsert_session("kafka_delta", Some(&pt()), deadline(5.0))
        .await
        .unwrap();
    let info = session.info().clone();
    assert_eq!(info.bucket_count(), 4);
    assert_eq!(info.hash_key, ["topic", "offset"]);
    assert_eq!(info.hasher, "default");
    assert_eq!(info.schema.columns.len(), 3);
    session
        .write_bucket(
            2,
            bytes::Bytes::from_static(b"\xf0\xff\xff\x7f\x00\xf8\xff\xff\x7f\x00"),
            0,
            deadline(5.0),
        )
        .await
        .unwrap();
    session
        .write_bucket(
            3,
            bytes::Bytes::from_static(b"\xf0\xff\xff\x7f\x00\xf8\xff\xff\x7f\x00"),
            0,
            deadline(5.0),
        )
        .await
        .unwrap();
    session.commit(deadline(5.0)).await.unwrap();
    assert_eq!(session.info().status, "committed");
    server.assert_clean();

    let requests = server.requests();
    assert_eq!(requests.len(), 6);
    let create = &requests[0];
    assert_eq!(create.q("partition"), Some("pt=11-17-2020 15"));
    assert_eq!(create.q("slotnum"), Some("1"));
    let put = &requests[1];
    assert_eq!(put.q("upsertid"), Some(SESSION));
    assert_eq!(put.q("bucketid"), Some("2"));
    assert_eq!(put.q("slotid"), Some("1"), "bucket 2 is slot 1's");
    assert_eq!(put.q("record_count"), Some("0"));
    assert_eq!(put.h("odps-tunnel-routed-server"), Some("127.0.0.1:1"));
    assert_eq!(requests[2].q("slotid"), Some("2"));
    assert_eq!(
        requests[2].h("odps-tunnel-routed-server"),
        Some("127.0.0.1:2")
    );
    let commit = &requests[3];
    assert_eq!(commit.q("upsertid"), Some(SESSION));
    assert_eq!(commit.q("partition"), Some("pt=11-17-2020 15"));
    assert_eq!(
        commit.h("odps-tunnel-routed-server"),
        Some("127.0.0.1:1"),
        "a commit goes to bucket 0's server"
    );
}

#[tokio::test]
async fn a_repeated_commit_that_finds_the_session_gone_was_committed() {
    let server = TestServer::start(vec![
        step("POST", UPSERTS, Reply::ok(session_json("normal"))),
        // The first commit's answer is lost; its retry finds the session committed and
        // forgotten.
        step(
            "POST",
            UPSERTS,
            Reply::json_error(503, "ServiceUnavailable", "x", "a"),
        ),
        step("POST", UPSERTS, Reply::ok(session_json("committing"))),
        step(
            "GET",
            UPSERTS,
            Reply::json_error(404, "UpsertSessionNotFound", "no such session", "b"),
        ),
    ])
    .await;
    let mut session = server
        .client()
        .create_upsert_session("kafka_delta", Some(&pt()), deadline(5.0))
        .await
        .unwrap();
    session.commit(deadline(5.0)).await.unwrap();
    assert_eq!(session.info().status, "committed");
    server.assert_clean();
}

#[tokio::test]
async fn an_expired_session_fails_its_commit_and_a_bucket_without_slot_is_refused() {
    let server = TestServer::start(vec![
        step("POST", UPSERTS, Reply::ok(session_json("normal"))),
        step("POST", UPSERTS, Reply::ok(session_json("expired"))),
        step("GET", UPSERTS, Reply::ok(session_json("expired"))),
    ])
    .await;
    let mut session = server
        .client()
        .create_upsert_session("kafka_delta", Some(&pt()), deadline(5.0))
        .await
        .unwrap();
    let err = session
        .write_bucket(4, bytes::Bytes::new(), 0, deadline(5.0))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no slot for bucket 4"), "{err}");
    let err = session.commit(deadline(5.0)).await.unwrap_err();
    assert!(
        matches!(&err, Error::SessionNotOpen { status, .. } if status == "expired"),
        "{err:?}"
    );
    assert!(!err.is_transient());
    server.assert_clean();
}

#[tokio::test]
async fn sessions_whose_buckets_are_not_0_to_n_are_refused() {
    let mut bad: serde_json::Value = serde_json::from_str(&session_json("normal")).unwrap();
    bad["slots"][1]["buckets"] = serde_json::json!([1, 5]);
    let server = TestServer::start(vec![step("POST", UPSERTS, Reply::ok(bad.to_string()))]).await;
    let err = server
        .client()
        .create_upsert_session("kafka_delta", None, deadline(5.0))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not 0..n"), "{err}");
}

/// Table metadata whose schema JSON carries `reserved` as its `Reserved` string.
fn table_xml(reserved: Option<serde_json::Value>) -> String {
    let mut schema = serde_json::json!({
        "columns": [
            {"name": "topic", "type": "string", "isNullable": false},
            {"name": "offset", "type": "bigint", "isNullable": false},
            {"name": "value", "type": "string", "isNullable": true}
        ],
        "partitionKeys": [{"name": "pt", "type": "string"}]
    });
    if let Some(r) = reserved {
        schema["Reserved"] = serde_json::Value::String(r.to_string());
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Table><Name>kafka_delta</Name><Schema><![CDATA[{schema}]]></Schema></Table>"
    )
}

#[tokio::test]
async fn a_delta_table_is_told_from_its_metadata() {
    let table = "/api/projects/my_proj/tables/kafka_delta";
    let cases = [
        (
            Some(serde_json::json!({"Transactional": "true", "PrimaryKey": ["topic", "offset"]})),
            true,
            vec!["topic", "offset"],
        ),
        // Transactional without a key is an append Delta table: not written by upsert.
        (
            Some(serde_json::json!({"Transactional": "true"})),
            false,
            vec![],
        ),
        (
            Some(serde_json::json!({"Transactional": "false", "PrimaryKey": ["topic"]})),
            false,
            vec!["topic"],
        ),
        (None, false, vec![]),
    ];
    for (reserved, delta, key) in cases {
        let server = TestServer::start(vec![step(
            "GET",
            table,
            Reply::ok(table_xml(reserved.clone())),
        )])
        .await;
        let info = server
            .client()
            .table_info("kafka_delta", deadline(5.0))
            .await
            .unwrap();
        assert_eq!(info.is_delta(), delta, "{reserved:?}");
        assert_eq!(info.primary_key, key, "{reserved:?}");
        assert_eq!(info.schema.columns.len(), 3);
        assert!(!info.schema.columns[0].nullable);
    }
}

#[tokio::test]
async fn no_such_partition_creates_it_through_sql_then_creates_the_session_once_more() {
    let server = TestServer::start(vec![
        step(
            "POST",
            UPSERTS,
            Reply::json_error(404, "NoSuchPartition", "partition missing", "r1"),
        ),
        step(
            "POST",
            "/api/projects/my_proj/instances",
            Reply::new(201, "").header("Location", "/api/projects/my_proj/instances/inst1"),
        ),
        step(
            "GET",
            "/api/projects/my_proj/instances/inst1",
            Reply::ok("<Instance><Status>Terminated</Status></Instance>"),
        ),
        step(
            "GET",
            "/api/projects/my_proj/instances/inst1",
            Reply::ok("<Instance><Tasks><Task><Status>Success</Status></Task></Tasks></Instance>"),
        ),
        step("POST", UPSERTS, Reply::ok(session_json("normal"))),
    ])
    .await;
    let session = server
        .client()
        .create_upsert_session("kafka_delta", Some(&pt()), deadline(5.0))
        .await
        .unwrap();
    assert_eq!(session.id(), SESSION);
    server.assert_clean();
    let body = String::from_utf8(server.requests()[1].body.clone()).unwrap();
    assert!(
        body.contains("ADD IF NOT EXISTS PARTITION (pt='11-17-2020 15');"),
        "{body}"
    );
}

#[tokio::test]
async fn an_unpartitioned_session_is_not_retried_on_no_such_partition() {
    let server = TestServer::start(vec![step(
        "POST",
        UPSERTS,
        Reply::json_error(404, "NoSuchPartition", "partition missing", "r1"),
    )])
    .await;
    let err = server
        .client()
        .create_upsert_session("kafka_delta", None, deadline(5.0))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&ErrorCode::NoSuchPartition));
    server.assert_clean();
}
