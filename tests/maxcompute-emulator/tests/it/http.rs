//! The emulator driven over loopback HTTP, in-process on 127.0.0.1:0 with a temporary data
//! directory: authentication failures, refused corrupt blocks, commit semantics, restart
//! durability and fault injection. Time-dependent tests run the emulator on a manual clock and
//! advance it; none sleeps to let time pass. Request bodies are the pinned bytes from the protocol
//! reference (§7.3), not output of the codec under test; the compressed ones are those bytes
//! put through `maxcompute_core::codec`'s compressors, which the compression differential test
//! holds to pyodps's own streams.

use std::sync::Arc;
use std::time::{Duration, Instant};

use maxcompute_core::codec::{Codec, Compression, decompress};
use maxcompute_emulator::auth::KeyStore;
use maxcompute_emulator::clock::{Clock, ManualClock};
use maxcompute_emulator::server::{self, Config, RunningServer};
use maxcompute_emulator::sql_client::{self, Client};
use reqwest::Method;

pub(crate) const ID: &str = "test-id";
pub(crate) const SECRET: &str = "test-secret";
pub(crate) const PROJECT: &str = "p";
/// One row `('maxcompute-test-input', 0, 0, '1', '1')`, 5-byte CRC varints (reference §7.3).
const ROW_HEX: &str = "0a156d6178636f6d707574652d746573742d696e707574100018002201312a013180c0ff7fe6cab6d00df0ffff7f02f8ffff7feab6c1ca0d";
const TABLE_PATH: &str = "/projects/p/tables/test_kafka";

fn block() -> Vec<u8> {
    (0..ROW_HEX.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&ROW_HEX[i..i + 2], 16).unwrap())
        .collect()
}

async fn start(dir: &std::path::Path, ttl: Duration) -> RunningServer {
    start_on(dir, ttl, Clock::system()).await
}

/// A server whose time moves only when the returned clock is advanced.
pub(crate) async fn start_manual(
    dir: &std::path::Path,
    ttl: Duration,
) -> (RunningServer, Arc<ManualClock>) {
    let manual = ManualClock::starting_now();
    let srv = start_on(dir, ttl, Clock::manual(Arc::clone(&manual))).await;
    (srv, manual)
}

async fn start_on(dir: &std::path::Path, ttl: Duration, clock: Clock) -> RunningServer {
    let mut keys = KeyStore::default();
    keys.add_access_key(ID, SECRET);
    keys.add_sts_key("STS.tmp", "tmp-secret", "the-token");
    server::start_with_clock(
        Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.to_path_buf(),
            keys,
            session_ttl: ttl,
        },
        clock,
    )
    .await
    .unwrap()
}

/// Waits (bounded) until `condition` holds: the emulator reaches a state on its own tasks.
async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn uploaded_blocks(c: &Client, id: &str) -> serde_json::Value {
    let r = c
        .send(
            Method::GET,
            TABLE_PATH,
            &[PT, ("uploadid", id)],
            &[],
            vec![],
        )
        .await
        .unwrap();
    let (status, body) = json(r).await;
    assert_eq!(status, 200, "{body}");
    body["UploadedBlockList"].clone()
}

fn client(srv: &RunningServer) -> Client {
    Client::new(&format!("http://{}", srv.addr), ID, SECRET)
}

async fn setup(c: &Client) {
    c.run_sql(PROJECT, "CREATE TABLE test_kafka(topic STRING,partition BIGINT,offset BIGINT,key STRING,value STRING) PARTITIONED BY (pt STRING)")
        .await
        .unwrap();
    c.run_sql(
        PROJECT,
        "ALTER TABLE p.`test_kafka` ADD IF NOT EXISTS  PARTITION (pt='11-17-2020 15');",
    )
    .await
    .unwrap();
}

async fn json(resp: reqwest::Response) -> (u16, serde_json::Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

const PT: (&str, &str) = ("partition", "pt=11-17-2020 15");

async fn create_upload(c: &Client) -> String {
    let r = c
        .send(
            Method::POST,
            TABLE_PATH,
            &[PT, ("uploads", "1")],
            &[],
            vec![],
        )
        .await
        .unwrap();
    let (status, body) = json(r).await;
    assert_eq!(status, 200, "{body}");
    body["UploadID"].as_str().unwrap().to_owned()
}

async fn put_block(
    c: &Client,
    id: &str,
    block_id: &str,
    body: Vec<u8>,
) -> (u16, serde_json::Value) {
    let r = c
        .send(
            Method::PUT,
            TABLE_PATH,
            &[PT, ("uploadid", id), ("blockid", block_id)],
            &[("Content-Type", "application/octet-stream")],
            body,
        )
        .await
        .unwrap();
    json(r).await
}

async fn commit(c: &Client, id: &str) -> (u16, serde_json::Value) {
    json(
        c.send(
            Method::POST,
            TABLE_PATH,
            &[PT, ("uploadid", id)],
            &[],
            vec![],
        )
        .await
        .unwrap(),
    )
    .await
}

async fn record_count(c: &Client) -> i64 {
    let r = c
        .send(
            Method::POST,
            TABLE_PATH,
            &[PT, ("downloads", "")],
            &[],
            vec![],
        )
        .await
        .unwrap();
    let (status, body) = json(r).await;
    assert_eq!(status, 200, "{body}");
    body["RecordCount"].as_i64().unwrap()
}

#[tokio::test]
async fn unsigned_wrongly_signed_and_skewed_requests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path(), server::DEFAULT_SESSION_TTL).await;
    let base = format!("http://{}", srv.addr);

    let r = maxcompute_client::http_client_builder()
        .build()
        .unwrap()
        .get(format!("{base}/api/projects/p/tables/t"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.headers().get("x-odps-request-id").is_some());
    let body = r.text().await.unwrap();
    for element in [
        "<Code>Unauthorized</Code>",
        "<Message>",
        "<RequestId>",
        "<HostId>",
    ] {
        assert!(body.contains(element), "{element} missing from {body}");
    }

    let wrong = Client::new(&base, ID, "not-the-secret");
    let r = wrong
        .send(Method::GET, "/api/projects/p/tables/t", &[], &[], vec![])
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("<Code>SignatureNotMatch</Code>")
    );
    // The tunnel answers in JSON.
    let (status, body) = json(
        wrong
            .send(Method::POST, TABLE_PATH, &[("uploads", "1")], &[], vec![])
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (401, Some("SignatureNotMatch"))
    );

    let old =
        maxcompute_core::signing::http_date(chrono::Utc::now() - chrono::Duration::minutes(20));
    let r = client(&srv)
        .send(
            Method::GET,
            "/api/projects/p/tables/t",
            &[],
            &[("Date", &old)],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("<Code>RequestTimeTooSkewed</Code>")
    );

    // STS keys need their token.
    let sts = Client::new(&base, "STS.tmp", "tmp-secret");
    let r = sts
        .send(Method::GET, "/api/projects/p/tables/t", &[], &[], vec![])
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = sts
        .send(
            Method::GET,
            "/api/projects/p/tables/t",
            &[],
            &[("authorization-sts-token", "the-token")],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        404,
        "a signed STS request reaches the handler (no such table)"
    );
    assert!(r.text().await.unwrap().contains("<Code>NoSuchTable</Code>"));
    srv.stop().await;
}

#[tokio::test]
async fn corrupt_blocks_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path(), server::DEFAULT_SESSION_TTL).await;
    let c = client(&srv);
    setup(&c).await;
    let id = create_upload(&c).await;

    let mut bad_crc = block();
    let crc_at = bad_crc.len() - 3;
    bad_crc[crc_at] ^= 0x01;
    let (status, body) = put_block(&c, &id, "0", bad_crc).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("MalformedDataStream")),
        "{body}"
    );

    let truncated = block()[..20].to_vec();
    let (status, body) = put_block(&c, &id, "0", truncated).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("MalformedDataStream")),
        "{body}"
    );

    let (status, body) = put_block(&c, &id, "20000", block()).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("InvalidBlockID")),
        "{body}"
    );

    let r = c
        .send(
            Method::GET,
            TABLE_PATH,
            &[PT, ("uploadid", &id)],
            &[],
            vec![],
        )
        .await
        .unwrap();
    let (_, status_body) = json(r).await;
    assert_eq!(
        status_body["UploadedBlockList"],
        serde_json::json!([]),
        "refused blocks are not kept"
    );

    let (status, _) = put_block(&c, &id, "7", block()).await;
    assert_eq!(status, 200);
    assert_eq!(record_count(&c).await, 0, "uncommitted data is invisible");
    assert_eq!(commit(&c, &id).await.0, 200);
    assert_eq!(record_count(&c).await, 1);
    let (status, body) = commit(&c, &id).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (409, Some("StatusConflict")),
        "{body}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn expired_sessions_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let (srv, clock) = start_manual(dir.path(), Duration::from_millis(200)).await;
    let c = client(&srv);
    setup(&c).await;
    let id = create_upload(&c).await;
    clock.advance(Duration::from_millis(200));
    assert_eq!(
        put_block(&c, &id, "0", block()).await.0,
        200,
        "a session is usable for its whole lifetime"
    );
    clock.advance(Duration::from_millis(1));
    let (status, body) = put_block(&c, &id, "1", block()).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (409, Some("StatusConflict")),
        "{body}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn committed_rows_survive_a_restart_and_open_sessions_stay_invisible() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path(), server::DEFAULT_SESSION_TTL).await;
    let c = client(&srv);
    setup(&c).await;
    let committed = create_upload(&c).await;
    put_block(&c, &committed, "0", block()).await;
    put_block(&c, &committed, "1", block()).await;
    assert_eq!(commit(&c, &committed).await.0, 200);
    let pending = create_upload(&c).await;
    put_block(&c, &pending, "0", block()).await;
    srv.stop().await;

    let srv = start(dir.path(), server::DEFAULT_SESSION_TTL).await;
    let c = client(&srv);
    assert_eq!(record_count(&c).await, 2);
    let (fmt, text) = c
        .run_sql(
            PROJECT,
            "select * from test_kafka where pt = \"11-17-2020 15\"",
        )
        .await
        .unwrap();
    assert_eq!(fmt, "csv");
    assert_eq!(
        text,
        "topic,partition,offset,key,value,pt\nmaxcompute-test-input,0,0,1,1,11-17-2020 15\nmaxcompute-test-input,0,0,1,1,11-17-2020 15\n"
    );
    // The session left open before the restart can still be committed, and only then counts.
    assert_eq!(commit(&c, &pending).await.0, 200);
    assert_eq!(record_count(&c).await, 3);
    srv.stop().await;
}

#[tokio::test]
async fn faults_fail_hang_or_drop_the_next_matching_calls() {
    let dir = tempfile::tempdir().unwrap();
    let (srv, clock) = start_manual(dir.path(), server::DEFAULT_SESSION_TTL).await;
    let base = format!("http://{}", srv.addr);
    let c = client(&srv);
    setup(&c).await;
    let admin = maxcompute_client::http_client_builder()
        .build()
        .expect("an HTTP client");
    let health = admin
        .get(format!("{base}/_emulator/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        health.status().as_u16(),
        200,
        "admin endpoints need no signature"
    );

    let add = |rule: serde_json::Value| {
        let admin = admin.clone();
        let url = format!("{base}/_emulator/faults");
        async move {
            let r = admin.post(url).body(rule.to_string()).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 200);
        }
    };

    add(serde_json::json!({"kind": "commit", "count": 2, "action": "error", "status": 503, "code": "ServiceUnavailable"})).await;
    let id = create_upload(&c).await;
    assert_eq!(
        put_block(&c, &id, "0", block()).await.0,
        200,
        "block uploads are not affected by a commit rule"
    );
    for _ in 0..2 {
        let (status, body) = commit(&c, &id).await;
        assert_eq!(
            (status, body["Code"].as_str()),
            (503, Some("ServiceUnavailable"))
        );
    }
    assert_eq!(commit(&c, &id).await.0, 200, "the rule is used up");
    assert_eq!(record_count(&c).await, 1);

    add(serde_json::json!({"kind": "block_upload", "action": "hang", "millis": 300})).await;
    let id = create_upload(&c).await;
    let put = put_block(&c, &id, "0", block());
    let release = async {
        eventually("the upload hangs", || clock.sleepers() == 1).await;
        assert_eq!(
            uploaded_blocks(&c, &id).await,
            serde_json::json!([]),
            "a request held before it is applied has no effect yet"
        );
        clock.advance(Duration::from_millis(299));
        assert_eq!(clock.sleepers(), 1, "299 ms is not the whole hang");
        clock.advance(Duration::from_millis(1));
    };
    let ((status, _), ()) = tokio::join!(put, release);
    assert_eq!(status, 200);
    assert_eq!(clock.sleepers(), 0);
    assert_eq!(
        uploaded_blocks(&c, &id).await,
        serde_json::json!([{"BlockID": 0}])
    );

    add(serde_json::json!({"kind": "session_create", "action": "drop"})).await;
    let r = c
        .send(
            Method::POST,
            TABLE_PATH,
            &[PT, ("uploads", "1")],
            &[],
            vec![],
        )
        .await;
    let dropped = match r {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(dropped, "the connection should have been dropped");

    add(serde_json::json!({"kind": "partition_create", "action": "error", "status": 500, "code": "InternalServerError"})).await;
    let r = c
        .run_sql(
            PROJECT,
            "ALTER TABLE test_kafka ADD IF NOT EXISTS PARTITION (pt='x');",
        )
        .await
        .unwrap_err();
    assert!(r.to_string().contains("InternalServerError"), "{r}");

    let listed = admin
        .get(format!("{base}/_emulator/faults"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(listed, r#"{"faults":[]}"#);
    srv.stop().await;
}

/// Adds a fault rule through the admin API.
async fn add_fault(srv: &RunningServer, rule: serde_json::Value) {
    let r = maxcompute_client::http_client_builder()
        .build()
        .expect("an HTTP client")
        .post(format!("http://{}/_emulator/faults", srv.addr))
        .body(rule.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test]
async fn an_after_fault_applies_the_request_and_loses_its_answer() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path(), server::DEFAULT_SESSION_TTL).await;
    let c = client(&srv);
    setup(&c).await;

    // A block whose answer is lost is stored all the same.
    add_fault(&srv, serde_json::json!({"kind": "block_upload", "phase": "after", "action": "error", "status": 503, "code": "ServiceUnavailable"})).await;
    let id = create_upload(&c).await;
    let (status, body) = put_block(&c, &id, "0", block()).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (503, Some("ServiceUnavailable"))
    );
    let r = c
        .send(
            Method::GET,
            TABLE_PATH,
            &[PT, ("uploadid", &id)],
            &[],
            vec![],
        )
        .await
        .unwrap();
    let (_, session) = json(r).await;
    assert_eq!(
        session["UploadedBlockList"].as_array().map(Vec::len),
        Some(1),
        "{session}"
    );

    // A commit whose answer is lost is committed: the rows are visible, the session closed, and
    // a second commit conflicts.
    add_fault(
        &srv,
        serde_json::json!({"kind": "commit", "phase": "after", "action": "drop"}),
    )
    .await;
    let dropped = match c
        .send(
            Method::POST,
            TABLE_PATH,
            &[PT, ("uploadid", &id)],
            &[],
            vec![],
        )
        .await
    {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(dropped, "the commit's answer should have been lost");
    assert_eq!(record_count(&c).await, 1);
    let r = c
        .send(
            Method::GET,
            TABLE_PATH,
            &[PT, ("uploadid", &id)],
            &[],
            vec![],
        )
        .await
        .unwrap();
    let (_, session) = json(r).await;
    assert_eq!(session["Status"].as_str(), Some("closed"), "{session}");
    let (status, body) = commit(&c, &id).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (409, Some("StatusConflict"))
    );

    // An after rule waits for a request that succeeds: the refused commit above left it alone.
    add_fault(&srv, serde_json::json!({"kind": "commit", "phase": "after", "action": "error", "status": 500, "code": "InternalServerError"})).await;
    assert_eq!(commit(&c, &id).await.0, 409);
    let id = create_upload(&c).await;
    assert_eq!(put_block(&c, &id, "0", block()).await.0, 200);
    assert_eq!(commit(&c, &id).await.0, 500);
    assert_eq!(
        record_count(&c).await,
        2,
        "the second commit was applied too"
    );
    srv.stop().await;
}

#[tokio::test]
async fn an_unsigned_upload_is_refused_before_its_body_is_read() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path(), server::DEFAULT_SESSION_TTL).await;
    // The head of a 400 MiB block upload without a signature, and not one byte of its body: a
    // server that read the body before checking the headers would wait for it for ever.
    let mut socket = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    let head = format!(
        "PUT {TABLE_PATH}?partition=pt%3Dx&uploadid=u&blockid=0 HTTP/1.1\r\nHost: {}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        srv.addr,
        400u64 << 20
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(30), socket.read(&mut buf))
            .await
            .expect("no answer: the server is waiting for the body")
            .unwrap();
        assert!(
            n > 0,
            "closed without an answer: {:?}",
            String::from_utf8_lossy(&answer)
        );
        answer.extend_from_slice(&buf[..n]);
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    srv.stop().await;
}

#[tokio::test]
async fn sql_errors_are_failed_tasks_that_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path(), server::DEFAULT_SESSION_TTL).await;
    let c = client(&srv);
    setup(&c).await;
    let e = c
        .run_sql(PROJECT, "UPDATE test_kafka SET key = 1")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("unsupported statement"), "{e}");
    let e = c
        .run_sql(PROJECT, "select * from missing_table")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("NoSuchTable"), "{e}");
    let (_, text) = c
        .run_sql(PROJECT, "show partitions test_kafka")
        .await
        .unwrap();
    assert_eq!(text, "pt=11-17-2020 15\n");
    let r = c
        .send(
            Method::GET,
            "/api/projects/p/tables/test_kafka",
            &[("partition", "pt='nope'")],
            &[],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("<Code>NoSuchPartition</Code>")
    );
    srv.stop().await;
}

#[tokio::test]
async fn partition_listing_pages_with_markers() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path(), server::DEFAULT_SESSION_TTL).await;
    let c = client(&srv);
    setup(&c).await;
    c.run_sql(
        PROJECT,
        "alter table test_kafka add partition (pt='a') partition (pt='b')",
    )
    .await
    .unwrap();
    let list = |marker: String| {
        let c = c.clone();
        async move {
            let mut q = vec![
                ("partitions", ""),
                ("expectmarker", "true"),
                ("maxitems", "2"),
            ];
            if !marker.is_empty() {
                q.push(("marker", marker.as_str()));
            }
            let r = c
                .send(
                    Method::GET,
                    "/api/projects/p/tables/test_kafka",
                    &q,
                    &[],
                    vec![],
                )
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
            r.text().await.unwrap()
        }
    };
    let first = list(String::new()).await;
    assert_eq!(first.matches("<Partition>").count(), 2, "{first}");
    assert!(
        first.contains(r#"<Column Name="pt" Value="11-17-2020 15"/>"#),
        "{first}"
    );
    let marker = first
        .split("<Marker>")
        .nth(1)
        .unwrap()
        .split("</Marker>")
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(marker, "pt=a");
    let second = list(marker).await;
    assert_eq!(second.matches("<Partition>").count(), 1, "{second}");
    assert!(
        second.contains(r#"Value="b""#) && second.contains("<Marker></Marker>"),
        "{second}"
    );
    // Adding an existing partition without IF NOT EXISTS fails the task.
    let e = c
        .run_sql(PROJECT, "alter table test_kafka add partition (pt='a')")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("already exists"), "{e}");
    srv.stop().await;
}

/// The same row as written by pyodps' C writer: both CRCs as 10-byte sign-extended varints.
fn block_c_writer() -> Vec<u8> {
    let hex = ROW_HEX
        .replace("e6cab6d00d", "e6cab6d0fdffffffff01")
        .replace("eab6c1ca0d", "eab6c1cafdffffffff01");
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

#[tokio::test]
async fn downloads_re_encode_pinned_bytes_and_accept_both_crc_widths() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path(), server::DEFAULT_SESSION_TTL).await;
    let c = client(&srv);
    setup(&c).await;
    let id = create_upload(&c).await;
    assert_eq!(put_block(&c, &id, "0", block_c_writer()).await.0, 200);
    assert_eq!(commit(&c, &id).await.0, 200);

    let r = c
        .send(
            Method::POST,
            TABLE_PATH,
            &[PT, ("downloads", "")],
            &[],
            vec![],
        )
        .await
        .unwrap();
    let (_, session) = json(r).await;
    let dl = session["DownloadID"].as_str().unwrap().to_owned();
    let r = c
        .send(
            Method::GET,
            TABLE_PATH,
            &[PT, ("data", ""), ("downloadid", &dl), ("rowrange", "(0,1)")],
            &[],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.bytes().await.unwrap().to_vec(),
        block(),
        "downloads use 5-byte CRC varints"
    );

    // A column subset renumbers fields from 1: `value` alone is field 1 = "1".
    let r = c
        .send(
            Method::GET,
            TABLE_PATH,
            &[
                PT,
                ("data", ""),
                ("downloadid", &dl),
                ("rowrange", "(0,1)"),
                ("columns", "value"),
            ],
            &[],
            vec![],
        )
        .await
        .unwrap();
    let body = r.bytes().await.unwrap().to_vec();
    assert_eq!(&body[..3], &[0x0a, 0x01, b'1'], "{body:02x?}");

    let r = c
        .send(
            Method::GET,
            TABLE_PATH,
            &[PT, ("data", ""), ("downloadid", &dl), ("rowrange", "(0,1)")],
            &[("Accept-Encoding", "deflate")],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(r.headers().get("content-encoding").unwrap(), "deflate");
    let compressed = r.bytes().await.unwrap().to_vec();
    let mut inflated = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::ZlibDecoder::new(&compressed[..]),
        &mut inflated,
    )
    .unwrap();
    assert_eq!(inflated, block());
    for (accept, encoding) in [
        ("zstd", Some(Codec::Zstd)),
        ("x-lz4-frame", Some(Codec::Lz4)),
        ("X-Snappy-Framed", Some(Codec::Snappy)),
        ("gzip, zstd;q=0.5", Some(Codec::Zstd)),
        ("gzip, br", None),
    ] {
        let r = c
            .send(
                Method::GET,
                TABLE_PATH,
                &[PT, ("data", ""), ("downloadid", &dl), ("rowrange", "(0,1)")],
                &[("Accept-Encoding", accept)],
                vec![],
            )
            .await
            .unwrap();
        let got = r
            .headers()
            .get("content-encoding")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(
            got.as_deref(),
            encoding.map(Codec::content_encoding),
            "{accept}"
        );
        let body = r.bytes().await.unwrap().to_vec();
        let plain = match encoding {
            Some(codec) => decompress(codec, &body, 1 << 20).unwrap(),
            None => body,
        };
        assert_eq!(plain, block(), "{accept}");
    }

    let r = c
        .send(
            Method::GET,
            TABLE_PATH,
            &[PT, ("data", ""), ("downloadid", &dl), ("rowrange", "(0,2)")],
            &[],
            vec![],
        )
        .await
        .unwrap();
    let (status, body) = json(r).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("InvalidRowRange"))
    );
    srv.stop().await;
}

#[tokio::test]
async fn stream_packs_are_visible_at_once_and_carry_routing_headers() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path(), server::DEFAULT_SESSION_TTL).await;
    let c = client(&srv);
    setup(&c).await;
    let streams = format!("{TABLE_PATH}/streams");
    let spec = ("partition", "pt=new-partition");
    let r = c
        .send(
            Method::POST,
            &streams,
            &[spec, ("check_latest_schema", "false")],
            &[],
            vec![],
        )
        .await
        .unwrap();
    let (status, body) = json(r).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (404, Some("NoSuchPartition"))
    );
    let r = c
        .send(
            Method::POST,
            &streams,
            &[
                spec,
                ("create_partition", ""),
                ("check_latest_schema", "false"),
            ],
            &[],
            vec![],
        )
        .await
        .unwrap();
    let (status, session) = json(r).await;
    assert_eq!(status, 200, "{session}");
    let sid = session["session_name"].as_str().unwrap().to_owned();
    assert_eq!(session["slots"].as_array().unwrap().len(), 2);

    let r = c
        .send(
            Method::PUT,
            &streams,
            &[("uploadid", &sid), ("slotid", "1"), spec],
            &[("Content-Encoding", "deflate")],
            {
                let mut e =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                std::io::Write::write_all(&mut e, &block()).unwrap();
                e.finish().unwrap()
            },
        )
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()
            .get("odps-tunnel-routed-server")
            .unwrap()
            .to_str()
            .unwrap(),
        srv.addr.to_string()
    );
    assert_eq!(r.headers().get("odps-tunnel-slot-num").unwrap(), "2");
    let r = c
        .send(
            Method::PUT,
            &streams,
            &[
                ("uploadid", &sid),
                ("slotid", "2"),
                spec,
                ("record_count", "2"),
            ],
            &[],
            block(),
        )
        .await
        .unwrap();
    let (status, body) = json(r).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("MalformedDataStream")),
        "{body}"
    );
    let (_, text) = c
        .run_sql(
            PROJECT,
            "select count(*) from test_kafka where pt='new-partition'",
        )
        .await
        .unwrap();
    assert_eq!(text, "_c0\n1\n");
    srv.stop().await;
}

#[tokio::test]
async fn blocks_arrive_in_every_content_encoding_and_unknown_ones_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path(), server::DEFAULT_SESSION_TTL).await;
    let c = client(&srv);
    setup(&c).await;
    let id = create_upload(&c).await;
    let put = |block_id: &'static str, encoding: &'static str, body: Vec<u8>| {
        let c = &c;
        let id = id.clone();
        async move {
            let r = c
                .send(
                    Method::PUT,
                    TABLE_PATH,
                    &[PT, ("uploadid", &id), ("blockid", block_id)],
                    &[
                        ("Content-Type", "application/octet-stream"),
                        ("Content-Encoding", encoding),
                    ],
                    body,
                )
                .await
                .unwrap();
            json(r).await
        }
    };
    for (block_id, codec) in ["0", "1", "2", "3"].into_iter().zip(Codec::ALL) {
        let body = Compression::default_for(codec).compress(&block()).unwrap();
        let (status, answer) = put(block_id, codec.content_encoding(), body).await;
        assert_eq!(status, 200, "{codec}: {answer}");
    }
    let (status, body) = put("4", "gzip", block()).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("InvalidArgument")),
        "{body}"
    );
    let (status, body) = put("4", "zstd", block()).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("MalformedDataStream")),
        "a plain body sent as zstd: {body}"
    );
    assert_eq!(commit(&c, &id).await.0, 200);
    assert_eq!(record_count(&c).await, 4);
    srv.stop().await;
}

#[tokio::test]
async fn blocks_for_another_schema_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path(), server::DEFAULT_SESSION_TTL).await;
    let c = client(&srv);
    c.run_sql(
        PROJECT,
        "create table narrow(topic string, partition bigint, offset bigint)",
    )
    .await
    .unwrap();
    let path = "/projects/p/tables/narrow";
    let r = c
        .send(Method::POST, path, &[("uploads", "1")], &[], vec![])
        .await
        .unwrap();
    let (_, session) = json(r).await;
    let id = session["UploadID"].as_str().unwrap().to_owned();
    // The pinned row has five fields; field 4 does not exist in a three-column table.
    let r = c
        .send(
            Method::PUT,
            path,
            &[("uploadid", &id), ("blockid", "0")],
            &[],
            block(),
        )
        .await
        .unwrap();
    let (status, body) = json(r).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("MalformedDataStream")),
        "{body}"
    );
    // A partition spec on a non-partitioned table is refused too.
    let r = c
        .send(
            Method::POST,
            path,
            &[("uploads", "1"), ("partition", "pt=x")],
            &[],
            vec![],
        )
        .await
        .unwrap();
    let (status, body) = json(r).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("InvalidPartitionSpec")),
        "{body}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn the_sql_command_prints_the_seed_checks() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path(), server::DEFAULT_SESSION_TTL).await;
    let c = client(&srv);
    setup(&c).await;
    let id = create_upload(&c).await;
    put_block(&c, &id, "0", block()).await;
    assert_eq!(commit(&c, &id).await.0, 200);
    let console = sql_client::Client::for_endpoint(&format!("http://{}/api", srv.addr), ID, SECRET);
    assert_eq!(
        sql_client::console(&console, PROJECT, "show partitions test_kafka;")
            .await
            .unwrap(),
        "pt=11-17-2020 15\n"
    );
    let table = sql_client::console(
        &console,
        PROJECT,
        "select * from test_kafka where pt =\"11-17-2020 15\";",
    )
    .await
    .unwrap();
    assert_eq!(
        table,
        "\
+-----------------------+-----------+--------+-----+-------+---------------+
| topic                 | partition | offset | key | value | pt            |
+-----------------------+-----------+--------+-----+-------+---------------+
| maxcompute-test-input | 0         | 0      | 1   | 1     | 11-17-2020 15 |
+-----------------------+-----------+--------+-----+-------+---------------+
"
    );
    let e = sql_client::console(&console, PROJECT, "select * from nope")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("NoSuchTable"), "{e}");
    srv.stop().await;
}

#[tokio::test]
async fn overwrite_sessions_replace_the_partition_and_block_ids_replace_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path(), server::DEFAULT_SESSION_TTL).await;
    let c = client(&srv);
    setup(&c).await;
    let id = create_upload(&c).await;
    for b in ["0", "1", "2"] {
        put_block(&c, &id, b, block()).await;
    }
    // Re-uploading block 1 replaces it rather than adding a block.
    put_block(&c, &id, "1", block_c_writer()).await;
    let r = c
        .send(
            Method::GET,
            TABLE_PATH,
            &[PT, ("uploadid", &id)],
            &[],
            vec![],
        )
        .await
        .unwrap();
    let (_, status) = json(r).await;
    assert_eq!(
        status["UploadedBlockList"],
        serde_json::json!([{"BlockID": 0}, {"BlockID": 1}, {"BlockID": 2}])
    );
    assert_eq!(commit(&c, &id).await.0, 200);
    assert_eq!(record_count(&c).await, 3);

    let r = c
        .send(
            Method::POST,
            TABLE_PATH,
            &[PT, ("uploads", "1"), ("overwrite", "true")],
            &[],
            vec![],
        )
        .await
        .unwrap();
    let (_, session) = json(r).await;
    let id = session["UploadID"].as_str().unwrap().to_owned();
    put_block(&c, &id, "0", block()).await;
    assert_eq!(
        record_count(&c).await,
        3,
        "the old data stays until the overwrite commits"
    );
    assert_eq!(commit(&c, &id).await.0, 200);
    assert_eq!(record_count(&c).await, 1);
    srv.stop().await;
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A one-record block with one STRING cell, built by hand (the shared encoder refuses cells over
/// 8 MiB, which is exactly what this block is for).
fn single_string_block(cell: &[u8]) -> Vec<u8> {
    let mut out = vec![0x0a];
    varint(cell.len() as u64, &mut out);
    out.extend_from_slice(cell);
    let mut crc_input = 1u32.to_le_bytes().to_vec();
    crc_input.extend_from_slice(cell);
    let record_crc = crc32c::crc32c(&crc_input);
    out.extend_from_slice(&[0x80, 0xc0, 0xff, 0x7f]);
    varint(u64::from(record_crc), &mut out);
    out.extend_from_slice(&[0xf0, 0xff, 0xff, 0x7f, 0x02, 0xf8, 0xff, 0xff, 0x7f]);
    varint(
        u64::from(crc32c::crc32c(&record_crc.to_le_bytes())),
        &mut out,
    );
    out
}

#[tokio::test]
async fn cells_over_max_field_size_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path(), server::DEFAULT_SESSION_TTL).await;
    let c = client(&srv);
    c.run_sql(PROJECT, "create table big(s string)")
        .await
        .unwrap();
    let path = "/projects/p/tables/big";
    let r = c
        .send(Method::POST, path, &[("uploads", "1")], &[], vec![])
        .await
        .unwrap();
    let (_, session) = json(r).await;
    assert_eq!(session["MaxFieldSize"], 8 * 1024 * 1024);
    let id = session["UploadID"].as_str().unwrap().to_owned();
    let at_limit = vec![b'x'; 8 * 1024 * 1024];
    let r = c
        .send(
            Method::PUT,
            path,
            &[("uploadid", &id), ("blockid", "0")],
            &[],
            single_string_block(&at_limit),
        )
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        200,
        "a cell of exactly MaxFieldSize is fine"
    );
    let over = vec![b'x'; 8 * 1024 * 1024 + 1];
    let r = c
        .send(
            Method::PUT,
            path,
            &[("uploadid", &id), ("blockid", "1")],
            &[],
            single_string_block(&over),
        )
        .await
        .unwrap();
    let (status, body) = json(r).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("MalformedDataStream")),
        "{body}"
    );
    assert!(
        body["Message"].as_str().unwrap().contains("MaxFieldSize"),
        "{body}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn values_outside_their_column_type_are_refused() {
    use maxcompute_core::types::{OdpsType, Value};
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path(), server::DEFAULT_SESSION_TTL).await;
    let c = client(&srv);
    c.run_sql(PROJECT, "create table narrow_types(v varchar(3), i int)")
        .await
        .unwrap();
    let path = "/projects/p/tables/narrow_types";
    let r = c
        .send(Method::POST, path, &[("uploads", "1")], &[], vec![])
        .await
        .unwrap();
    let id = json(r).await.1["UploadID"].as_str().unwrap().to_owned();
    // Encoded as a wider schema, so the shared encoder's own checks do not stop these rows.
    let wide = [OdpsType::String, OdpsType::BigInt];
    let cases = [
        (
            vec![Value::text("abcd"), Value::Integer(1)],
            "longer than 3",
        ),
        (
            vec![Value::text("abc"), Value::Integer(i64::from(i32::MAX) + 1)],
            "out of range",
        ),
    ];
    for (row, why) in cases {
        let body = maxcompute_core::codec::encode_block(&wide, &[row]).unwrap();
        let r = c
            .send(
                Method::PUT,
                path,
                &[("uploadid", &id), ("blockid", "0")],
                &[],
                body,
            )
            .await
            .unwrap();
        let (status, body) = json(r).await;
        assert_eq!(
            (status, body["Code"].as_str()),
            (400, Some("MalformedDataStream")),
            "{body}"
        );
        assert!(body["Message"].as_str().unwrap().contains(why), "{body}");
    }
    let ok = maxcompute_core::codec::encode_block(
        &wide,
        &[vec![Value::text("héé"), Value::Integer(-5)]],
    )
    .unwrap();
    let r = c
        .send(
            Method::PUT,
            path,
            &[("uploadid", &id), ("blockid", "0")],
            &[],
            ok,
        )
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        200,
        "three characters fit varchar(3) whatever their bytes"
    );
    srv.stop().await;
}

#[tokio::test]
async fn dropping_a_partition_removes_its_data_and_fails_its_open_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path(), server::DEFAULT_SESSION_TTL).await;
    let c = client(&srv);
    setup(&c).await;
    let first = create_upload(&c).await;
    put_block(&c, &first, "0", block()).await;
    assert_eq!(commit(&c, &first).await.0, 200);
    let open = create_upload(&c).await;
    put_block(&c, &open, "0", block()).await;

    c.run_sql(
        PROJECT,
        "ALTER TABLE test_kafka DROP IF EXISTS PARTITION (pt='11-17-2020 15')",
    )
    .await
    .unwrap();
    let (status, body) = commit(&c, &open).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (404, Some("NoSuchPartition")),
        "{body}"
    );
    let e = c
        .run_sql(
            PROJECT,
            "ALTER TABLE test_kafka DROP PARTITION (pt='11-17-2020 15')",
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("NoSuchPartition"), "{e}");
    c.run_sql(
        PROJECT,
        "ALTER TABLE test_kafka ADD PARTITION (pt='11-17-2020 15')",
    )
    .await
    .unwrap();
    assert_eq!(
        record_count(&c).await,
        0,
        "a re-created partition starts empty"
    );
    srv.stop().await;
}
