//! The error-topic writer over TLS, end to end: a tansu broker of the test's own behind a
//! TLS-terminating proxy (`support::tls`; tansu 0.6.0 cannot serve TLS itself), advertising the
//! proxy's address so that every connection the writer opens, bootstrap and leaders, is TLS.
//! Messages are read back from the broker itself and compared byte for byte.

use std::sync::Arc;
use std::time::Duration;

use crate::support::kafka::{
    Stored, create_topic_on, fetch_from, in_secs, messenger, unique_topic,
};
use crate::support::tls::{Pki, TlsBroker, TlsProxy};

use maxcompute_client::{FixedJitter, RetryPolicy};
use maxcompute_core::error_record::{ErrorContext, ErrorMessage};
use maxcompute_core::event::{Reject, RejectClass};
use sink::error_topic::{ErrorTopicError, ErrorTopicWriter, KafkaSecurity, TlsOptions};
use tokio::net::TcpListener;

const CTX: ErrorContext<'static> = ErrorContext {
    function: "sink-tls-test",
    now_ms: 1_764_000_000_000,
};

fn h(name: &str, value: &[u8]) -> (String, Vec<u8>) {
    (name.to_owned(), value.to_vec())
}

pub(crate) fn reject(partition: i32, offset: i64) -> Reject {
    Reject {
        class: RejectClass::TypeConversion,
        message: format!("column `amount`: \"x{offset}\" is not a BIGINT"),
        topic: Some("orders".to_owned()),
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
        ],
        raw_json: None,
    }
}

pub(crate) fn tls_to(pki: &Pki) -> KafkaSecurity {
    KafkaSecurity::Tls(TlsOptions {
        ca_pem: Some(pki.ca_pem().into_bytes()),
    })
}

/// Many attempts, short waits: a permanent error that were retried would run into the
/// deadline and come back as `GaveUp` instead of as itself.
fn patient_retries() -> RetryPolicy {
    RetryPolicy {
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        max_attempts: 1_000,
    }
}

#[tokio::test]
async fn rejects_go_through_tls_to_the_broker_byte_for_byte() {
    let pki = Pki::new("error-topic test CA");
    let broker = TlsBroker::start(&pki, &["127.0.0.1"], false).await;
    let direct = messenger(&broker.tansu.address.to_string()).await;
    let topic = unique_topic("errors", "tls");
    create_topic_on(&direct, &topic, 2).await;

    let writer =
        ErrorTopicWriter::connect(&[broker.bootstrap()], &topic, tls_to(&pki), in_secs(20))
            .await
            .unwrap();
    assert_eq!(writer.partition_count().await, 2);
    let sent: Vec<ErrorMessage> = (0..4)
        .map(|i| ErrorMessage::from_reject(&reject(i32::try_from(i).unwrap(), i), CTX))
        .collect();
    writer.send(sent.clone(), in_secs(20)).await.unwrap();
    assert!(broker.proxy.handshakes() >= 1, "no TLS session was opened");

    for partition in 0..2 {
        let want: Vec<&ErrorMessage> = sent
            .iter()
            .filter(|m| m.origin_partition().unwrap_or(0) % 2 == partition)
            .collect();
        let stored = fetch_from(&direct, &topic, partition, want.len()).await;
        let got: Vec<ErrorMessage> = stored.iter().map(Stored::as_message).collect();
        let want: Vec<ErrorMessage> = want.into_iter().cloned().collect();
        assert_eq!(got, want, "partition {partition}");
    }
    // Spelled out once: the original headers, in order, duplicates kept, before the error's own.
    let first = fetch_from(&direct, &topic, 0, 2).await;
    assert_eq!(
        &first[0].headers[..4],
        &[
            h("trace", b"1"),
            h("zeta", &[0xc3, 0x28]),
            h("alpha", b""),
            h("trace", b"2"),
        ]
    );
    assert_eq!(
        first[0].value.as_deref(),
        Some(&[b'x', 0xff, 0x00, b'\n'][..])
    );
}

/// A proxy with `acceptor` whose upstream is a closed port: these tests end in the handshake.
async fn proxy_only(pki: &Pki, names: &[&str]) -> TlsProxy {
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = closed.local_addr().unwrap();
    drop(closed);
    TlsProxy::serve(TlsProxy::bind().await, pki.acceptor(names), upstream)
}

async fn connect_err(address: String, security: KafkaSecurity) -> ErrorTopicError {
    ErrorTopicWriter::connect_with_retry(
        &[address],
        "errors",
        security,
        patient_retries(),
        Arc::new(FixedJitter(0.0)),
        in_secs(60),
    )
    .await
    .unwrap_err()
}

#[tokio::test]
async fn a_certificate_from_an_untrusted_ca_is_refused_at_once() {
    let trusted = Pki::new("trusted CA");
    let other = Pki::new("someone else's CA");
    let proxy = proxy_only(&other, &["127.0.0.1"]).await;
    let address = proxy.address.to_string();
    let err = connect_err(address.clone(), tls_to(&trusted)).await;
    // Returned as itself (not `GaveUp` after a minute of retries): permanent.
    let ErrorTopicError::TlsHandshake { broker, .. } = &err else {
        panic!("expected a refused TLS handshake, got {err:?}");
    };
    assert_eq!(*broker, address);
    assert!(!err.is_transient(), "{err:?}");
    let shown = err.to_string();
    assert!(
        shown.contains(&address) && shown.contains("invalid peer certificate"),
        "{shown}"
    );
    assert!(shown.contains("UnknownIssuer"), "{shown}");
    assert_eq!(proxy.handshakes(), 0);
}

#[tokio::test]
async fn a_certificate_for_another_host_name_is_refused_at_once() {
    let pki = Pki::new("error-topic test CA");
    let proxy = proxy_only(&pki, &["broker-1.example.invalid"]).await;
    let address = proxy.address.to_string();
    let err = connect_err(address.clone(), tls_to(&pki)).await;
    assert!(
        matches!(&err, ErrorTopicError::TlsHandshake { broker, .. } if *broker == address),
        "{err:?}"
    );
    assert!(!err.is_transient(), "{err:?}");
    let shown = err.to_string();
    assert!(shown.contains("not valid for name"), "{shown}");
    assert_eq!(proxy.handshakes(), 0);
}

#[tokio::test]
async fn the_same_broker_is_reached_when_the_certificate_names_it() {
    // The control for the two refusals above: same CA, same proxy, the right name.
    let pki = Pki::new("error-topic test CA");
    let broker = TlsBroker::start(&pki, &["localhost", "127.0.0.1"], false).await;
    let direct = messenger(&broker.tansu.address.to_string()).await;
    let topic = unique_topic("errors", "tls-ok");
    create_topic_on(&direct, &topic, 1).await;
    ErrorTopicWriter::connect(&[broker.bootstrap()], &topic, tls_to(&pki), in_secs(20))
        .await
        .unwrap();
    assert!(broker.proxy.handshakes() >= 1);
}

#[tokio::test]
async fn the_sink_handler_sends_its_rejects_through_tls_as_configured() {
    use crate::support::flow::{Flow, NOW_MS, SinkFlow, deadline, event};
    use sink::rejects::ErrorTopicSink;

    let pki = Pki::new("error-topic test CA");
    let broker = TlsBroker::start(&pki, &["127.0.0.1"], false).await;
    let direct = messenger(&broker.tansu.address.to_string()).await;
    let topic = unique_topic("errors", "tls-sink");
    create_topic_on(&direct, &topic, 1).await;
    let ca = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca.path(), pki.ca_pem()).unwrap();

    // The configuration as the function reads it, and the reject sink built as main.rs builds it.
    let flow = Flow::seeded().await;
    let bootstrap = broker.bootstrap();
    let ca_path = ca.path().to_str().unwrap();
    let vars = [
        ("SINK_ERROR_TOPIC", topic.as_str()),
        ("SINK_ERROR_BOOTSTRAP_SERVERS", bootstrap.as_str()),
        ("SINK_ERROR_SECURITY_PROTOCOL", "SSL"),
        ("SINK_ERROR_TLS_CA_FILE", ca_path),
    ];
    let config = flow.config(&vars);
    assert!(
        matches!(config.error_security, KafkaSecurity::Tls(_)),
        "{:?}",
        config.error_security
    );
    let sink = flow
        .sink_with(
            &vars,
            Box::new(ErrorTopicSink::new(
                config.error_topic.clone().unwrap(),
                config.error_bootstrap_servers.clone(),
                config.error_security.clone(),
                "sink-over-tls".to_owned(),
            )),
        )
        .await;
    let response = sink
        .handle(&event("bad-records.json"), NOW_MS, deadline())
        .await
        .unwrap();
    assert_eq!(response.summary.rows_written, 5);
    let n_rejects: usize = response.summary.rejects.values().sum();
    assert_eq!(n_rejects, 6);
    assert!(broker.proxy.handshakes() >= 1, "no TLS session was opened");

    let stored = fetch_from(&direct, &topic, 0, 6).await;
    for s in &stored {
        let parsed = s.as_message().parse().unwrap();
        assert_eq!(parsed.error.function, "sink-over-tls");
        assert_eq!(parsed.error.failed_at_ms, NOW_MS);
    }
    let utf8 = stored
        .iter()
        .map(|s| s.as_message().parse().unwrap())
        .find(|p| p.error.class == "invalid_utf8")
        .unwrap();
    assert_eq!(
        utf8.original.payload,
        maxcompute_core::error_record::OriginalPayload::Value(Some(b"\xff\xfe,bad".to_vec()))
    );
}
