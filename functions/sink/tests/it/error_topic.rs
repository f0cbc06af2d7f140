//! The error-topic writer against a real Kafka-protocol broker (tansu, started by
//! `bash scripts/broker.sh start`; address from `KAFKA_BOOTSTRAP`, default `127.0.0.1:19092`).
//!
//! Messages are read back at the protocol level, record by record, with their headers as the
//! list Kafka carries; rskafka's high-level fetch would merge duplicate header keys (a test
//! below shows it does), which would hide exactly the bug these tests look for. Each test uses
//! its own topic, so tests can run in parallel and against a long-lived broker.

use std::sync::Arc;
use std::time::Duration;

use crate::support::kafka::{
    Stored, bootstrap, create_topic, fetch, in_secs, require_broker, unique_topic,
};

use maxcompute_client::{FixedJitter, GiveUp, RetryPolicy};
use maxcompute_core::error_record::{ErrorContext, ErrorMessage, OriginalPayload};
use maxcompute_core::event::{Reject, RejectClass, decode_event_str};
use rskafka::client::ClientBuilder;
use rskafka::client::partition::UnknownTopicHandling;
use sink::error_topic::{ErrorTopicError, ErrorTopicWriter, KafkaSecurity};
use tokio::net::TcpListener;
use tokio::time::Instant;

async fn writer(address: &str, topic: &str) -> ErrorTopicWriter {
    ErrorTopicWriter::connect(
        &[address.to_owned()],
        topic,
        KafkaSecurity::Plaintext,
        in_secs(10),
    )
    .await
    .unwrap()
}

fn h(name: &str, value: &[u8]) -> (String, Vec<u8>) {
    (name.to_owned(), value.to_vec())
}

const CTX: ErrorContext<'static> = ErrorContext {
    function: "sink-test",
    now_ms: 1_764_000_000_000,
};

fn reject(topic: &str, partition: i32, offset: i64) -> Reject {
    Reject {
        class: RejectClass::TypeConversion,
        message: format!("column `amount`: \"x{offset}\" is not a BIGINT"),
        topic: Some(topic.to_owned()),
        partition: Some(partition),
        offset: Some(offset),
        timestamp_ms: Some(1_750_237_198_120 + offset),
        key: Some(format!("k{offset}").into_bytes()),
        value: Some(vec![b'x', 0xff, 0x00, b'\n']),
        headers: vec![
            h("trace", b"1"),
            h("zeta", &[0xc3, 0x28]),
            h("alpha", b""),
            h("trace", b"2"),
            h("zeta", &[0xc3, 0x28]),
            h("mc.error.class", b"an original header that looks like ours"),
        ],
        raw_json: None,
    }
}

#[tokio::test]
async fn headers_keep_order_duplicates_and_bytes_through_the_broker() {
    let address = require_broker().await;
    let topic = unique_topic("errors", "bytes");
    create_topic(&address, &topic, 1).await;

    let plain = reject("orders", 0, 41);
    let mut tombstone = reject("orders", 0, 42);
    tombstone.key = None;
    tombstone.value = None;
    tombstone.headers.clear();
    let raw = r#"{"topic":"orders","partition":0,"offset":43,"timestamp":1750237198163,"key":"azQz","value":"%%%","headers":[{"h":[-1,0]},{"h":[1]}]}"#;
    let event = format!(r#"{{"records":{{"orders-0":[{raw}]}}}}"#);
    let malformed = decode_event_str(&event).unwrap().rejects.remove(0);
    assert_eq!(malformed.class, RejectClass::MalformedRecord);

    let rejects = [plain, tombstone, malformed];
    let sent: Vec<ErrorMessage> = rejects
        .iter()
        .map(|r| ErrorMessage::from_reject(r, CTX))
        .collect();
    writer(&address, &topic)
        .await
        .send(sent.clone(), in_secs(10))
        .await
        .unwrap();

    let stored = fetch(&address, &topic, 0, sent.len()).await;
    for (i, (got, want)) in stored.iter().zip(&sent).enumerate() {
        assert_eq!(got.offset, i as i64);
        assert_eq!(
            &got.as_message(),
            want,
            "record {i} changed on its way through the broker"
        );
    }
    // Spelled out once, so that a bug shared by builder and check cannot hide.
    assert_eq!(
        &stored[0].headers[..6],
        &[
            h("trace", b"1"),
            h("zeta", &[0xc3, 0x28]),
            h("alpha", b""),
            h("trace", b"2"),
            h("zeta", &[0xc3, 0x28]),
            h("mc.error.class", b"an original header that looks like ours"),
        ]
    );
    assert_eq!(stored[0].timestamp_ms, 1_750_237_198_161);
    assert_eq!(
        stored[0].value.as_deref(),
        Some(&[b'x', 0xff, 0x00, b'\n'][..])
    );
    assert_eq!(
        (stored[1].key.clone(), stored[1].value.clone()),
        (None, None)
    );
    assert_eq!(stored[2].value.as_deref(), Some(raw.as_bytes()));
    assert_eq!(&stored[2].headers[..2], &[h("h", &[0xff, 0]), h("h", &[1])]);

    for (got, original) in stored.iter().zip(&rejects) {
        let parsed = got.as_message().parse().unwrap();
        assert_eq!(parsed.error.function, "sink-test");
        assert_eq!(parsed.error.failed_at_ms, CTX.now_ms);
        let mut expected = original.clone();
        if expected.raw_json.is_some() {
            expected.value = None;
        }
        assert_eq!(parsed.to_reject().as_ref(), Some(&expected));
    }
    let raw_back = stored[2].as_message().parse().unwrap();
    assert_eq!(
        raw_back.original.payload,
        OriginalPayload::RawEventJson(raw.to_owned())
    );
    assert_eq!(raw_back.error.class, "malformed_record");
}

#[tokio::test]
async fn rskafka_high_level_fetch_would_merge_duplicate_headers() {
    // Why the tests read at the protocol level: the high-level API keeps headers in a map.
    let address = require_broker().await;
    let topic = unique_topic("errors", "merge");
    create_topic(&address, &topic, 1).await;
    let message = ErrorMessage::from_reject(&reject("orders", 0, 1), CTX);
    writer(&address, &topic)
        .await
        .send(vec![message.clone()], in_secs(10))
        .await
        .unwrap();

    let stored = fetch(&address, &topic, 0, 1).await;
    assert_eq!(stored[0].headers, message.headers);
    let client = ClientBuilder::new(vec![address.clone()])
        .build()
        .await
        .unwrap();
    let partition = client
        .partition_client(topic.as_str(), 0, UnknownTopicHandling::Retry)
        .await
        .unwrap();
    let (records, _) = partition
        .fetch_records(0, 1..1_000_000, 1_000)
        .await
        .unwrap();
    let merged = &records[0].record.headers;
    assert!(merged.len() < message.headers.len(), "{merged:?}");
    assert_eq!(merged.keys().filter(|k| *k == "trace").count(), 1);
}

#[tokio::test]
async fn messages_go_to_origin_partition_modulo_partition_count_in_order() {
    let address = require_broker().await;
    let topic = unique_topic("errors", "route");
    create_topic(&address, &topic, 3).await;
    let w = writer(&address, &topic).await;
    assert_eq!(w.partition_count().await, 3);

    // Origin partitions 0..=6 with two records each, and one record whose partition is unknown.
    let mut rejects = Vec::new();
    for offset in 0..2 {
        for partition in 0..7 {
            rejects.push(reject(
                "orders",
                partition,
                offset * 100 + i64::from(partition),
            ));
        }
    }
    let mut unknown = reject("orders", 0, 999);
    unknown.partition = None;
    rejects.push(unknown);
    let sent: Vec<ErrorMessage> = rejects
        .iter()
        .map(|r| ErrorMessage::from_reject(r, CTX))
        .collect();
    w.send(sent.clone(), in_secs(10)).await.unwrap();

    for target in 0..3 {
        let expected: Vec<&ErrorMessage> = sent
            .iter()
            .filter(|m| m.origin_partition().unwrap_or(0) % 3 == target)
            .collect();
        let stored = fetch(&address, &topic, target, expected.len()).await;
        let got: Vec<ErrorMessage> = stored.iter().map(Stored::as_message).collect();
        let want: Vec<ErrorMessage> = expected.into_iter().cloned().collect();
        assert_eq!(got, want, "partition {target}");
    }
}

#[tokio::test]
async fn large_sends_are_split_into_several_batches_in_order() {
    let address = require_broker().await;
    let topic = unique_topic("errors", "split");
    create_topic(&address, &topic, 1).await;
    let sent: Vec<ErrorMessage> = (0..5)
        .map(|i| {
            let mut r = reject("orders", 0, i);
            r.value = Some(vec![u8::try_from(i).unwrap(); 300 * 1024]);
            ErrorMessage::from_reject(&r, CTX)
        })
        .collect();
    writer(&address, &topic)
        .await
        .send(sent.clone(), in_secs(20))
        .await
        .unwrap();
    let got: Vec<ErrorMessage> = fetch(&address, &topic, 0, sent.len())
        .await
        .iter()
        .map(Stored::as_message)
        .collect();
    assert_eq!(got, sent);
}

#[tokio::test]
async fn an_empty_send_writes_nothing_and_succeeds() {
    let address = require_broker().await;
    let topic = unique_topic("errors", "empty");
    create_topic(&address, &topic, 1).await;
    writer(&address, &topic)
        .await
        .send(Vec::new(), in_secs(1))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_unknown_topic_is_a_clear_permanent_error() {
    let address = require_broker().await;
    let topic = unique_topic("errors", "missing");
    let err = ErrorTopicWriter::connect(&[address], &topic, KafkaSecurity::Plaintext, in_secs(10))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ErrorTopicError::UnknownTopic { topic: t } if *t == topic),
        "{err:?}"
    );
    // Returned as itself, not wrapped in `GaveUp`: the permanent error was not retried. (A
    // wall-clock bound would say the same thing less surely on a loaded machine.)
    assert!(!err.is_transient(), "{err:?}");
    assert!(err.to_string().contains(&topic), "{err}");
    // Asking about the topic must not have created it (brokers auto-create on metadata requests
    // unless told not to).
    let client = ClientBuilder::new(vec![bootstrap()]).build().await.unwrap();
    let topics = client.list_topics().await.unwrap();
    assert!(
        !topics.iter().any(|t| t.name == topic),
        "the writer created {topic}"
    );
}

fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        max_attempts: 1_000,
    }
}

/// How far past its deadline a call may return before a test calls it a bug. Generous on
/// purpose: it separates "stopped at the deadline, then waited for a busy CPU" from "ignored the
/// deadline" (1,000 attempts with 200 ms waits, over three minutes), and nothing finer.
const SCHEDULING_SLACK: Duration = Duration::from_secs(10);

#[tokio::test]
async fn an_unreachable_broker_is_transient_and_stops_at_the_deadline() {
    // A port that nothing listens on: connections are refused at once, over and over.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = closed.local_addr().unwrap().to_string();
    drop(closed);

    let started = Instant::now();
    let deadline = started + Duration::from_millis(1_500);
    let err = ErrorTopicWriter::connect_with_retry(
        std::slice::from_ref(&address),
        "errors",
        KafkaSecurity::Plaintext,
        quick_retries(),
        Arc::new(FixedJitter(0.5)),
        deadline,
    )
    .await
    .unwrap_err();
    let ended = Instant::now();
    assert!(err.is_transient(), "{err:?}");
    let ErrorTopicError::GaveUp {
        reason: GiveUp::Deadline,
        attempts,
        last,
    } = &err
    else {
        panic!("expected GaveUp at the deadline, got {err:?}");
    };
    assert!(*attempts > 1, "{attempts}");
    // The last attempt is refused like the others, unless the scheduler started it so close to
    // the deadline that the deadline cut its TCP connect first; then, and only then, it is a
    // timeout. Which one happens is up to the scheduler, so both are right, each with its own
    // evidence. (That a refusal is a `Connect` error is pinned without a deadline race by
    // `the_attempt_limit_stops_retries_before_a_distant_deadline`.)
    match &**last {
        ErrorTopicError::Connect { broker, .. } => assert_eq!(*broker, address),
        ErrorTopicError::Timeout {
            broker,
            stage: "the TCP connection",
        } => {
            assert_eq!(*broker, address);
            assert!(ended >= deadline, "a timeout before the deadline");
        }
        other => panic!("expected a refused or deadline-cut connection, got {other:?}"),
    }
    assert!(err.to_string().contains(&address), "{err}");
    assert!(ended < deadline + SCHEDULING_SLACK, "{:?}", ended - started);
}

#[tokio::test]
async fn a_broker_that_never_answers_is_cut_at_the_deadline() {
    // Accepts connections and reads nothing: the version request waits until the deadline.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });

    let started = Instant::now();
    let deadline = started + Duration::from_millis(800);
    let err = ErrorTopicWriter::connect_with_retry(
        &[address],
        "errors",
        KafkaSecurity::Plaintext,
        quick_retries(),
        Arc::new(FixedJitter(0.5)),
        deadline,
    )
    .await
    .unwrap_err();
    let ended = Instant::now();
    holder.abort();
    assert!(err.is_transient(), "{err:?}");
    let ErrorTopicError::GaveUp {
        reason: GiveUp::Deadline,
        last,
        ..
    } = &err
    else {
        panic!("expected GaveUp at the deadline, got {err:?}");
    };
    assert!(
        matches!(**last, ErrorTopicError::Timeout { .. }),
        "{last:?}"
    );
    // Timers never fire early, so the cut cannot come before the deadline; how late after it
    // is the scheduler's business, bounded only against "never".
    assert!(ended >= deadline, "{:?}", ended - started);
    assert!(ended < deadline + SCHEDULING_SLACK, "{:?}", ended - started);
}

#[tokio::test]
async fn no_bootstrap_server_is_a_permanent_error() {
    let err = ErrorTopicWriter::connect(
        &[" ".to_owned()],
        "errors",
        KafkaSecurity::Plaintext,
        in_secs(1),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, ErrorTopicError::NoBootstrapServers),
        "{err:?}"
    );
    assert!(!err.is_transient(), "{err:?}");
}

#[tokio::test]
async fn the_attempt_limit_stops_retries_before_a_distant_deadline() {
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = closed.local_addr().unwrap().to_string();
    drop(closed);
    let policy = RetryPolicy {
        max_attempts: 3,
        ..quick_retries()
    };
    let err = ErrorTopicWriter::connect_with_retry(
        &[address],
        "errors",
        KafkaSecurity::Plaintext,
        policy,
        Arc::new(FixedJitter(0.0)),
        in_secs(60),
    )
    .await
    .unwrap_err();
    // The deadline is a minute away, so every attempt ends on its own: a refused connection is
    // a `Connect` error, and a transient one (it was retried up to the limit).
    let ErrorTopicError::GaveUp {
        reason: GiveUp::Attempts,
        attempts: 3,
        last,
    } = &err
    else {
        panic!("expected GaveUp after 3 attempts, got {err:?}");
    };
    assert!(
        matches!(**last, ErrorTopicError::Connect { .. }),
        "{last:?}"
    );
    assert!(last.is_transient());
    assert!(err.is_transient());
}
