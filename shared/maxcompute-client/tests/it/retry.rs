//! The retry policy of `maxcompute_client` against a real loopback HTTP server: transient answers
//! (503, 429, 500, connection refused) are retried with backoff, permanent ones (400) are not,
//! attempts are bounded, and a call never runs past its deadline.

use std::time::Duration;

use super::support::{self, Reply, TestServer, deadline, step, table_xml, upload_session_json};
use bytes::Bytes;
use maxcompute_client::{Error, ErrorCode, FixedJitter};
use maxcompute_core::signing::Credentials;
use maxcompute_core::spec::PartitionSpec;

const API_TABLE: &str = "/api/projects/my_proj/tables/test_kafka";
const TABLE: &str = "/projects/my_proj/tables/test_kafka";

fn unavailable() -> Reply {
    Reply::xml_error(503, "ServiceUnavailable", "try later", "r503")
}

#[tokio::test]
async fn two_503s_then_success_takes_three_attempts() {
    let server = TestServer::start(vec![
        step("GET", API_TABLE, unavailable()),
        step("GET", API_TABLE, unavailable()),
        step("GET", API_TABLE, Reply::ok(table_xml())),
    ])
    .await;
    let client = server.client();
    let schema = client
        .table_schema("test_kafka", deadline(5.0))
        .await
        .unwrap();
    assert_eq!(schema.columns.len(), 6);
    server.assert_clean();
    assert_eq!(server.requests().len(), 3);
    let stats = client.stats();
    assert_eq!((stats.requests, stats.retries), (3, 2));
}

#[tokio::test]
async fn tunnel_retries_carry_one_trace_id_and_counting_indexes() {
    let server = TestServer::start(vec![
        step(
            "POST",
            TABLE,
            Reply::json_error(503, "ServiceUnavailable", "x", "a"),
        ),
        step(
            "POST",
            TABLE,
            Reply::json_error(500, "InternalServerError", "y", "b"),
        ),
        step(
            "POST",
            TABLE,
            Reply::ok(upload_session_json("U1", "normal", &[])),
        ),
    ])
    .await;
    let spec = PartitionSpec::single("pt", "p1").unwrap();
    server
        .client()
        .create_upload_session("test_kafka", Some(&spec), deadline(5.0))
        .await
        .unwrap();
    server.assert_clean();
    let r = server.requests();
    let indexes: Vec<_> = r
        .iter()
        .map(|x| x.h("odps-tunnel-retry-index").unwrap())
        .collect();
    assert_eq!(indexes, ["0", "1", "2"]);
    let trace = r[0].h("odps-tunnel-retry-trace-id").unwrap();
    assert!(!trace.is_empty());
    assert!(
        r.iter()
            .all(|x| x.h("odps-tunnel-retry-trace-id") == Some(trace))
    );
}

#[tokio::test]
async fn throttling_429_is_retried_and_the_block_is_resent_unchanged() {
    let server = TestServer::start(vec![
        step(
            "POST",
            TABLE,
            Reply::ok(upload_session_json("U1", "normal", &[])),
        ),
        step(
            "PUT",
            TABLE,
            Reply::json_error(429, "FlowExceeded", "slots exhausted", "r429"),
        ),
        step("PUT", TABLE, Reply::ok("")),
    ])
    .await;
    let client = server.client();
    let spec = PartitionSpec::single("pt", "p1").unwrap();
    let session = client
        .create_upload_session("test_kafka", Some(&spec), deadline(5.0))
        .await
        .unwrap();
    session
        .upload_block(3, Bytes::from_static(b"block-bytes"), deadline(5.0))
        .await
        .unwrap();
    server.assert_clean();
    let r = server.requests();
    assert_eq!(r.len(), 3);
    assert_eq!(r[1].body, b"block-bytes");
    assert_eq!(r[2].body, b"block-bytes");
    assert_eq!(r[2].q("blockid"), Some("3"));
    assert_eq!(client.stats().retries, 1);
}

#[tokio::test]
async fn malformed_data_stream_400_is_not_retried() {
    let server = TestServer::start(vec![
        step(
            "POST",
            TABLE,
            Reply::ok(upload_session_json("U1", "normal", &[])),
        ),
        step(
            "PUT",
            TABLE,
            Reply::json_error(400, "MalformedDataStream", "record crc mismatch", "r400"),
        ),
    ])
    .await;
    server.set_fallback(Reply::ok(""));
    let client = server.client();
    let spec = PartitionSpec::single("pt", "p1").unwrap();
    let session = client
        .create_upload_session("test_kafka", Some(&spec), deadline(5.0))
        .await
        .unwrap();
    let err = session
        .upload_block(0, Bytes::from_static(b"bad"), deadline(5.0))
        .await
        .unwrap_err();
    assert!(!err.is_transient());
    assert!(matches!(err, Error::Service(_)), "not wrapped: {err:?}");
    let svc = err.service_error().unwrap();
    assert_eq!(svc.code, Some(ErrorCode::MalformedDataStream));
    assert_eq!(svc.message, "record crc mismatch");
    assert_eq!(svc.request_id.as_deref(), Some("r400"));
    assert_eq!(server.requests().len(), 2, "exactly one PUT");
    assert_eq!(client.stats().retries, 0);
    server.assert_clean();
}

/// How far past its deadline a call may return before a test calls it a bug. Generous on
/// purpose: it separates "stopped at the deadline, then waited for a busy CPU" from "ignored the
/// deadline" (each test below would then run for minutes), and nothing finer.
const SCHEDULING_SLACK: Duration = Duration::from_secs(10);

#[tokio::test]
async fn endless_503s_give_up_at_the_deadline_with_a_transient_error() {
    let server = TestServer::start(vec![]).await;
    server.set_fallback(unavailable());
    // Jitter near 1 makes every wait close to its ceiling: 1.98 s, then 3.96 s. With a 4 s
    // deadline the first wait fits and the second cannot, so exactly two attempts are made
    // whenever the first answer takes less than 2 s (a loopback answer on the busiest machine):
    // the count is the schedule's, not the machine's.
    let client = server.client_full(
        Credentials::access_key(support::ACCESS_ID, support::SECRET),
        FixedJitter(0.99),
        |c| {
            c.retry.initial_backoff = Duration::from_secs(2);
            c.retry.max_backoff = Duration::from_secs(20);
            c.retry.max_attempts = 1000;
        },
    );
    let started = tokio::time::Instant::now();
    let deadline = started + Duration::from_secs(4);
    let err = client
        .table_schema("test_kafka", deadline)
        .await
        .unwrap_err();
    let ended = tokio::time::Instant::now();
    assert!(err.is_transient(), "{err:?}");
    assert!(err.to_string().contains("gave up at the deadline"), "{err}");
    let Error::DeadlineExceeded {
        attempts,
        last: Some(last),
    } = &err
    else {
        panic!("unexpected {err:?}");
    };
    assert_eq!(*attempts, 2, "{err:?}");
    assert_eq!(server.requests().len(), 2);
    assert_eq!(
        last.code(),
        Some(&ErrorCode::parse("ServiceUnavailable")),
        "{last:?}"
    );
    // It gave up without starting the wait that could not fit.
    assert!(ended < deadline, "{:?} after the start", ended - started);
}

#[tokio::test]
async fn a_wait_that_would_end_past_the_deadline_is_not_started() {
    let server = TestServer::start(vec![]).await;
    server.set_fallback(unavailable());
    // The first wait (about a minute) cannot fit in the 30 s left: the call gives up after the
    // first 503 instead of sleeping until the deadline. The margin is the whole budget, so no
    // scheduling delay short of 30 s can change the outcome.
    let client = server.client_full(
        Credentials::access_key(support::ACCESS_ID, support::SECRET),
        FixedJitter(0.99),
        |c| {
            c.retry.initial_backoff = Duration::from_secs(60);
            c.retry.max_backoff = Duration::from_secs(60);
            c.retry.max_attempts = 1000;
        },
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let err = client
        .table_schema("test_kafka", deadline)
        .await
        .unwrap_err();
    assert!(
        tokio::time::Instant::now() < deadline,
        "slept into the deadline"
    );
    match &err {
        Error::DeadlineExceeded {
            attempts: 1,
            last: Some(last),
        } => assert_eq!(last.code(), Some(&ErrorCode::parse("ServiceUnavailable"))),
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.is_transient());
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn attempts_are_bounded_by_the_policy() {
    let server = TestServer::start(vec![]).await;
    server.set_fallback(unavailable());
    let client = server.client_with(|c| c.retry.max_attempts = 3);
    let err = client
        .table_schema("test_kafka", deadline(5.0))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::RetriesExhausted { attempts: 3, .. }),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn connection_refused_is_transient_and_bounded_by_the_deadline() {
    // A port that was just free: nothing listens there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut config =
        maxcompute_client::ClientConfig::new(format!("http://127.0.0.1:{port}/api"), "my_proj");
    config.retry.initial_backoff = Duration::from_millis(10);
    config.retry.max_backoff = Duration::from_millis(40);
    config.retry.max_attempts = 1000;
    let client = maxcompute_client::Client::with_jitter(
        config,
        std::sync::Arc::new(maxcompute_client::StaticCredentials::new(
            Credentials::access_key("id", "secret"),
        )),
        std::sync::Arc::new(FixedJitter(0.5)),
    )
    .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
    let err = client.table_schema("t", deadline).await.unwrap_err();
    // An attempt started just before the deadline may end just after it; no wait does. Without
    // the deadline, 1000 attempts with 40 ms waits would take 40 s.
    assert!(tokio::time::Instant::now() < deadline + SCHEDULING_SLACK);
    assert!(err.is_transient());
    match &err {
        Error::DeadlineExceeded {
            attempts,
            last: Some(last),
        } => {
            assert!(*attempts > 1);
            // Refused, or (an attempt started just before the deadline) cut by it: both are
            // the transport's.
            assert_eq!(last.kind(), "transport");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn an_expired_deadline_sends_nothing() {
    let server = TestServer::start(vec![]).await;
    let client = server.client();
    let err = client
        .table_schema("test_kafka", tokio::time::Instant::now())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::DeadlineExceeded {
                attempts: 0,
                last: None
            }
        ),
        "{err:?}"
    );
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn a_request_in_flight_is_cut_at_the_deadline() {
    let server = TestServer::start(vec![]).await;
    server.set_fallback(Reply::ok(table_xml()).delayed(Duration::from_secs(60)));
    let client = server.client();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
    let err = client
        .table_schema("test_kafka", deadline)
        .await
        .unwrap_err();
    // The attempt's timeout is the time left, so the call ends at the deadline (timers never
    // fire early), not when the answer would come a minute later.
    let ended = tokio::time::Instant::now();
    assert!(ended >= deadline);
    assert!(ended < deadline + SCHEDULING_SLACK);
    assert!(err.is_transient(), "{err:?}");
    match &err {
        Error::DeadlineExceeded {
            attempts: 1,
            last: Some(last),
        } => assert_eq!(last.kind(), "transport"),
        other => panic!("unexpected {other:?}"),
    }
}
