//! Batch upload sessions of `maxcompute_client` against a real loopback HTTP server that verifies
//! every signature and checks the bytes it receives: the create / blocks / status / commit flow,
//! partition creation on `NoSuchPartition`, compressed blocks (each codec), block-list verification and tunnel
//! JSON errors.

use super::support::{Recorded, Reply, TestServer, deadline, step, upload_session_json};
use bytes::Bytes;
use maxcompute_client::{Error, ErrorCode, MAX_BLOCKS};
use maxcompute_core::codec::{Codec, Compression};
use maxcompute_core::spec::PartitionSpec;
use test_support::hex::unhex;

const TABLE: &str = "/projects/my_proj/tables/test_kafka";
const UPLOAD_ID: &str = "20261125120000abcdef";

/// The 56-byte record stream of the reference's worked example (§7.3).
const BLOCK_A: &str = "0a156d6178636f6d707574652d746573742d696e707574100018002201312a013180c0ff7fe6cab6d00df0ffff7f02f8ffff7feab6c1ca0d";
/// An empty block: trailer only.
const BLOCK_B: &str = "f0ffff7f00f8ffff7f00";

fn pt() -> PartitionSpec {
    PartitionSpec::single("pt", "11-17-2020 15").unwrap()
}

#[tokio::test]
async fn create_two_blocks_and_commit_at_once() {
    let server = TestServer::start(vec![
        step(
            "POST",
            TABLE,
            Reply::ok(upload_session_json(UPLOAD_ID, "normal", &[])),
        ),
        step("PUT", TABLE, Reply::ok("")),
        step("PUT", TABLE, Reply::ok("")),
        step(
            "POST",
            TABLE,
            Reply::ok(upload_session_json(UPLOAD_ID, "closed", &[0, 1])),
        ),
    ])
    .await;
    let client = server.client();
    let spec = pt();
    let mut session = client
        .create_upload_session("test_kafka", Some(&spec), deadline(5.0))
        .await
        .unwrap();
    assert_eq!(session.id(), UPLOAD_ID);
    assert_eq!(session.info().status, "normal");
    assert_eq!(session.info().max_field_size, Some(8_388_608));
    assert_eq!(session.schema().columns.len(), 2);
    assert_eq!(session.schema().partition_keys[0].name, "pt");

    session
        .upload_block(0, Bytes::from(unhex(BLOCK_A)), deadline(5.0))
        .await
        .unwrap();
    session
        .upload_block(1, Bytes::from(unhex(BLOCK_B)), deadline(5.0))
        .await
        .unwrap();
    session.commit(&[1, 0], deadline(5.0)).await.unwrap();
    assert_eq!(session.info().status, "closed");
    server.assert_clean();

    let r = server.requests();
    // The service acknowledged both blocks, so the commit goes without reading the block list.
    assert_eq!(r.len(), 4);
    // Create: valueless `uploads`, tunnel partition form, empty body with Content-Length 0.
    assert_eq!(r[0].q("uploads"), Some(""));
    assert_eq!(r[0].q("partition"), Some("pt=11-17-2020 15"));
    assert!(
        r[0].raw_query.contains("partition=pt%3D11-17-2020%2015"),
        "{}",
        r[0].raw_query
    );
    assert_eq!(r[0].h("content-length"), Some("0"));
    // Blocks: ids, bytes exactly as given, not deflated.
    for (req, (id, block)) in r[1..3].iter().zip([("0", BLOCK_A), ("1", BLOCK_B)]) {
        assert_eq!(req.q("uploadid"), Some(UPLOAD_ID));
        assert_eq!(req.q("blockid"), Some(id));
        assert_eq!(req.q("partition"), Some("pt=11-17-2020 15"));
        assert_eq!(req.body, unhex(block));
        assert_eq!(req.encoding, None);
        assert_eq!(req.h("odps-tunnel-retry-index"), Some("0"));
    }
    // The commit names the session.
    assert_eq!(r[3].method, "POST");
    assert_eq!(r[3].q("uploadid"), Some(UPLOAD_ID));
    assert!(r[3].body.is_empty());
    assert_eq!(
        client.stats().bytes_sent,
        (unhex(BLOCK_A).len() + unhex(BLOCK_B).len()) as u64
    );
}

#[tokio::test]
async fn blocks_the_session_did_not_upload_are_checked_before_the_commit() {
    // Blocks written by another process (pyodps's forked writers): the commit reads the
    // session's block list first, as the SDKs do, and commits when it holds exactly them.
    let server = TestServer::start(vec![
        step(
            "POST",
            TABLE,
            Reply::ok(upload_session_json(UPLOAD_ID, "normal", &[])),
        ),
        step(
            "GET",
            TABLE,
            Reply::ok(upload_session_json(UPLOAD_ID, "normal", &[0, 1])),
        ),
        step(
            "POST",
            TABLE,
            Reply::ok(upload_session_json(UPLOAD_ID, "closed", &[0, 1])),
        ),
    ])
    .await;
    let mut session = server
        .client()
        .create_upload_session("test_kafka", Some(&pt()), deadline(5.0))
        .await
        .unwrap();
    session.commit(&[0, 1], deadline(5.0)).await.unwrap();
    assert_eq!(session.info().status, "closed");
    server.assert_clean();
    let requests = server.requests();
    let methods: Vec<&str> = requests.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, ["POST", "GET", "POST"]);
}

#[tokio::test]
async fn no_such_partition_creates_it_through_sql_then_retries_once() {
    let server = TestServer::start(vec![
        step(
            "POST",
            TABLE,
            Reply::json_error(
                404,
                "NoSuchPartition",
                "The specified partition does not exist",
                "r1",
            ),
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
            Reply::ok(
                "<Instance><Tasks><Task><Name>SQLAddPartitionTask</Name><Status>Success</Status></Task></Tasks></Instance>",
            ),
        ),
        step(
            "POST",
            TABLE,
            Reply::ok(upload_session_json(UPLOAD_ID, "normal", &[])),
        ),
    ])
    .await;
    let session = server
        .client()
        .create_upload_session("test_kafka", Some(&pt()), deadline(5.0))
        .await
        .unwrap();
    assert_eq!(session.id(), UPLOAD_ID);
    server.assert_clean();
    let body = String::from_utf8(server.requests()[1].body.clone()).unwrap();
    assert!(body.contains("ADD IF NOT EXISTS PARTITION (pt='11-17-2020 15');"));
}

#[tokio::test]
async fn no_such_partition_twice_is_an_error_not_a_loop() {
    let missing = Reply::json_error(404, "NoSuchPartition", "still missing", "r2");
    let server = TestServer::start(vec![
        step("POST", TABLE, missing.clone()),
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
        step("POST", TABLE, missing),
    ])
    .await;
    let err = server
        .client()
        .create_upload_session("test_kafka", Some(&pt()), deadline(5.0))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&ErrorCode::NoSuchPartition));
    assert!(!err.is_transient());
    server.assert_clean();
}

#[tokio::test]
async fn blocks_are_compressed_with_each_codec() {
    // Repetitive data so every codec visibly shrinks it.
    let mut block = Vec::new();
    for _ in 0..50 {
        block.extend(unhex(BLOCK_A));
    }
    for (compression, encoding) in [
        (
            Compression::new(Codec::Deflate, Some(6)).unwrap(),
            "deflate",
        ),
        (Compression::default_for(Codec::Zstd), "zstd"),
        (Compression::default_for(Codec::Lz4), "x-lz4-frame"),
        (Compression::default_for(Codec::Snappy), "x-snappy-framed"),
    ] {
        let (client, requests) = upload_compressed(compression, &block, vec![Reply::ok("")]).await;
        assert_eq!(requests[0].encoding, None, "only data is compressed");
        let put = &requests[1];
        assert_eq!(put.h("content-encoding"), Some(encoding));
        assert_eq!(
            put.body, block,
            "the server decompresses exactly what was given ({encoding})"
        );
        assert!(
            put.wire_body_len < block.len() / 4,
            "{encoding}: {}",
            put.wire_body_len
        );
        assert_eq!(client.stats().bytes_sent, put.wire_body_len as u64);
    }
}

/// A client compressing with `compression` uploads `block` to a new upload session, the server
/// answering the session's creation and then each PUT with `puts` in turn: the client and the
/// requests the server saw.
async fn upload_compressed(
    compression: Compression,
    block: &[u8],
    puts: Vec<Reply>,
) -> (maxcompute_client::Client, Vec<Recorded>) {
    let mut steps = vec![step(
        "POST",
        TABLE,
        Reply::ok(upload_session_json(UPLOAD_ID, "normal", &[])),
    )];
    steps.extend(puts.into_iter().map(|reply| step("PUT", TABLE, reply)));
    let server = TestServer::start(steps).await;
    let client = server.client_with(|c| c.compress = Some(compression));
    let session = client
        .create_upload_session("test_kafka", Some(&pt()), deadline(5.0))
        .await
        .unwrap();
    session
        .upload_block(7, Bytes::from(block.to_vec()), deadline(5.0))
        .await
        .unwrap();
    server.assert_clean();
    (client, server.requests())
}

/// A compressed body goes out as it is compressed on the first attempt (chunked, its length
/// unknown when it starts), and whole, with its length, on the attempt after a failure: both
/// decompress to the block, and every byte sent is counted.
#[tokio::test]
async fn a_compressed_block_streams_first_and_is_sent_whole_on_a_retry() {
    // Bytes zstd cannot shrink, so the body is several of the compressor's pieces.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let block: Vec<u8> = (0..400_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let (client, requests) = upload_compressed(
        Compression::default_for(Codec::Zstd),
        &block,
        vec![
            Reply::json_error(503, "ServiceUnavailable", "x", "a"),
            Reply::ok(""),
        ],
    )
    .await;
    let (first, retry) = (&requests[1], &requests[2]);
    assert!(
        first.wire_body_len > 2 * maxcompute_core::codec::PIECE_BYTES,
        "{}",
        first.wire_body_len
    );
    assert_eq!(first.h("transfer-encoding"), Some("chunked"));
    assert_eq!(first.h("content-length"), None);
    assert_eq!(retry.h("transfer-encoding"), None);
    assert_eq!(
        retry.h("content-length"),
        Some(retry.wire_body_len.to_string().as_str())
    );
    for put in [first, retry] {
        assert_eq!(put.h("content-encoding"), Some("zstd"));
        assert!(put.body == block, "the body decompresses to the block");
    }
    assert_eq!(first.wire_body_len, retry.wire_body_len);
    assert_eq!(
        client.stats().bytes_sent,
        (first.wire_body_len + retry.wire_body_len) as u64
    );
}

#[tokio::test]
async fn commit_refuses_when_the_server_block_list_differs() {
    let server = TestServer::start(vec![
        step(
            "POST",
            TABLE,
            Reply::ok(upload_session_json(UPLOAD_ID, "normal", &[])),
        ),
        step(
            "GET",
            TABLE,
            Reply::ok(upload_session_json(UPLOAD_ID, "normal", &[0])),
        ),
    ])
    .await;
    let mut session = server
        .client()
        .create_upload_session("test_kafka", Some(&pt()), deadline(5.0))
        .await
        .unwrap();
    let err = session.commit(&[0, 1], deadline(5.0)).await.unwrap_err();
    match err {
        Error::BlockListMismatch {
            upload_id,
            expected,
            server: on_server,
        } => {
            assert_eq!(upload_id, UPLOAD_ID);
            assert_eq!(expected, vec![0, 1]);
            assert_eq!(on_server, vec![0]);
        }
        other => panic!("unexpected {other:?}"),
    }
    // No commit POST was sent.
    server.assert_clean();
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn block_ids_are_bounded_before_sending() {
    let server = TestServer::start(vec![step(
        "POST",
        TABLE,
        Reply::ok(upload_session_json(UPLOAD_ID, "normal", &[])),
    )])
    .await;
    let session = server
        .client()
        .create_upload_session("test_kafka", Some(&pt()), deadline(5.0))
        .await
        .unwrap();
    let err = session
        .upload_block(MAX_BLOCKS, Bytes::from_static(b"x"), deadline(5.0))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidBlockId(20_000)), "{err:?}");
    server.assert_clean();
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn tunnel_json_errors_keep_code_message_and_request_id() {
    let server = TestServer::start(vec![step(
        "POST",
        TABLE,
        Reply::json_error(400, "InvalidPartitionSpec", "bad spec pt", "tid-7"),
    )])
    .await;
    let err = server
        .client()
        .create_upload_session("test_kafka", Some(&pt()), deadline(5.0))
        .await
        .unwrap_err();
    let svc = err.service_error().unwrap();
    assert_eq!(
        (svc.status, svc.code.clone(), svc.message.as_str()),
        (400, Some(ErrorCode::InvalidPartitionSpec), "bad spec pt")
    );
    assert_eq!(svc.request_id.as_deref(), Some("tid-7"));
    assert_eq!(
        err.to_string(),
        "MaxCompute answered HTTP 400 InvalidPartitionSpec: bad spec pt (request id tid-7)"
    );
    server.assert_clean();
}

#[tokio::test]
async fn json_errors_without_request_id_take_it_from_the_header() {
    let server = TestServer::start(vec![step(
        "POST",
        TABLE,
        Reply::new(
            409,
            r#"{"Code":"StatusConflict","Message":"session expired"}"#,
        )
        .header("x-odps-request-id", "hdr-9"),
    )])
    .await;
    let err = server
        .client()
        .create_upload_session("test_kafka", Some(&pt()), deadline(5.0))
        .await
        .unwrap_err();
    let svc = err.service_error().unwrap();
    assert_eq!(svc.code, Some(ErrorCode::StatusConflict));
    assert_eq!(svc.request_id.as_deref(), Some("hdr-9"));
    assert!(!err.is_transient());
}

#[tokio::test]
async fn a_commit_whose_answer_was_lost_is_recognised_as_done() {
    // Whether a closed session still lists its blocks is not documented: both answers mean the
    // commit landed.
    for blocks_after_commit in [&[0][..], &[]] {
        let server = TestServer::start(vec![
            step(
                "POST",
                TABLE,
                Reply::ok(upload_session_json(UPLOAD_ID, "normal", &[])),
            ),
            step(
                "GET",
                TABLE,
                Reply::ok(upload_session_json(UPLOAD_ID, "normal", &[0])),
            ),
            // The first commit lands but its answer is a 503; the retry then conflicts.
            step(
                "POST",
                TABLE,
                Reply::json_error(503, "ServiceUnavailable", "x", "a"),
            ),
            step(
                "POST",
                TABLE,
                Reply::json_error(409, "StatusConflict", "session is closed", "b"),
            ),
            step(
                "GET",
                TABLE,
                Reply::ok(upload_session_json(
                    UPLOAD_ID,
                    "closed",
                    blocks_after_commit,
                )),
            ),
        ])
        .await;
        let mut session = server
            .client()
            .create_upload_session("test_kafka", Some(&pt()), deadline(5.0))
            .await
            .unwrap();
        session.commit(&[0], deadline(5.0)).await.unwrap();
        assert_eq!(session.info().status, "closed");
        server.assert_clean();
    }
}

#[tokio::test]
async fn a_commit_called_again_after_a_lost_answer_succeeds_without_committing_again() {
    let server = TestServer::start(vec![
        step(
            "POST",
            TABLE,
            Reply::ok(upload_session_json(UPLOAD_ID, "normal", &[])),
        ),
        // The session is already closed: no second commit is sent.
        step(
            "GET",
            TABLE,
            Reply::ok(upload_session_json(UPLOAD_ID, "closed", &[])),
        ),
    ])
    .await;
    let mut session = server
        .client()
        .create_upload_session("test_kafka", Some(&pt()), deadline(5.0))
        .await
        .unwrap();
    session.commit(&[0, 1], deadline(5.0)).await.unwrap();
    assert_eq!(session.info().status, "closed");
    server.assert_clean();
}

#[tokio::test]
async fn a_commit_in_progress_is_waited_for() {
    let server = TestServer::start(vec![
        step(
            "POST",
            TABLE,
            Reply::ok(upload_session_json(UPLOAD_ID, "normal", &[])),
        ),
        step(
            "GET",
            TABLE,
            Reply::ok(upload_session_json(UPLOAD_ID, "normal", &[0])),
        ),
        step(
            "POST",
            TABLE,
            Reply::json_error(409, "StatusConflict", "session is closing", "b"),
        ),
        step(
            "GET",
            TABLE,
            Reply::ok(upload_session_json(UPLOAD_ID, "closing", &[0])),
        ),
        step(
            "GET",
            TABLE,
            Reply::ok(upload_session_json(UPLOAD_ID, "closed", &[0])),
        ),
    ])
    .await;
    let mut session = server
        .client()
        .create_upload_session("test_kafka", Some(&pt()), deadline(5.0))
        .await
        .unwrap();
    session.commit(&[0], deadline(5.0)).await.unwrap();
    assert_eq!(session.info().status, "closed");
    server.assert_clean();
}

#[tokio::test]
async fn an_expired_session_is_a_permanent_error_before_any_commit() {
    let server = TestServer::start(vec![
        step(
            "POST",
            TABLE,
            Reply::ok(upload_session_json(UPLOAD_ID, "normal", &[])),
        ),
        step(
            "GET",
            TABLE,
            Reply::ok(upload_session_json(UPLOAD_ID, "expired", &[0])),
        ),
    ])
    .await;
    let mut session = server
        .client()
        .create_upload_session("test_kafka", Some(&pt()), deadline(5.0))
        .await
        .unwrap();
    let err = session.commit(&[0], deadline(5.0)).await.unwrap_err();
    assert!(
        matches!(&err, Error::SessionNotOpen { status, .. } if status == "expired"),
        "{err:?}"
    );
    assert!(!err.is_transient());
    server.assert_clean();
}

#[tokio::test]
async fn a_conflict_on_a_session_that_is_not_closed_stays_an_error() {
    let server = TestServer::start(vec![
        step(
            "POST",
            TABLE,
            Reply::ok(upload_session_json(UPLOAD_ID, "normal", &[])),
        ),
        step(
            "GET",
            TABLE,
            Reply::ok(upload_session_json(UPLOAD_ID, "normal", &[0])),
        ),
        step(
            "POST",
            TABLE,
            Reply::json_error(409, "StatusConflict", "session expired", "b"),
        ),
        step(
            "GET",
            TABLE,
            Reply::ok(upload_session_json(UPLOAD_ID, "expired", &[0])),
        ),
    ])
    .await;
    let mut session = server
        .client()
        .create_upload_session("test_kafka", Some(&pt()), deadline(5.0))
        .await
        .unwrap();
    let err = session.commit(&[0], deadline(5.0)).await.unwrap_err();
    assert_eq!(err.code(), Some(&ErrorCode::StatusConflict));
    assert!(!err.is_transient());
    server.assert_clean();
}
