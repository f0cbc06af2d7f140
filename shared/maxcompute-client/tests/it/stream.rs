//! Stream upload sessions of `maxcompute_client` against a real loopback HTTP server that verifies
//! every signature: slot round-robin with the routing headers, a slot moved by the
//! routed-server response header, session reloads on 308, on 502 and on a changed slot count.

use super::support::{Recorded, Reply, TestServer, deadline, step, stream_session_json};
use bytes::Bytes;
use maxcompute_client::{ErrorCode, Slot};
use maxcompute_core::spec::PartitionSpec;

const STREAMS: &str = "/projects/my_proj/tables/test_kafka/streams";
const SESSION: &str = "stream-session-1";
const A: &str = "127.0.0.1:1001";
const B: &str = "127.0.0.1:1002";
const B_MOVED: &str = "127.0.0.1:2002";
const C: &str = "127.0.0.1:1003";
const D: &str = "127.0.0.1:1004";

fn written(server: &str, slots: usize) -> Reply {
    Reply::ok("")
        .header("odps-tunnel-routed-server", server)
        .header("odps-tunnel-slot-num", &slots.to_string())
}

fn slots(list: &[(&str, &str)]) -> Vec<Slot> {
    list.iter()
        .map(|(id, server)| Slot {
            id: (*id).to_owned(),
            server: (*server).to_owned(),
        })
        .collect()
}

/// (slot id, routed server, slot count) a PUT announced.
fn routing(r: &Recorded) -> (String, String, String) {
    (
        r.q("slotid").unwrap_or("").to_owned(),
        r.h("odps-tunnel-routed-server").unwrap_or("").to_owned(),
        r.h("odps-tunnel-slot-num").unwrap_or("").to_owned(),
    )
}

fn expect(slot: &str, server: &str, n: usize) -> (String, String, String) {
    (slot.to_owned(), server.to_owned(), n.to_string())
}

#[tokio::test]
async fn stream_writes_follow_slots_routing_and_reloads() {
    let two = [("1", A), ("2", B)];
    let three = [("1", A), ("2", C), ("3", D)];
    let server = TestServer::start(vec![
        step(
            "POST",
            STREAMS,
            Reply::ok(stream_session_json(SESSION, &two)),
        ),
        // w1 slot 1; w2 slot 2, answered from a moved server; w3 slot 1.
        step("PUT", STREAMS, written(A, 2)),
        step("PUT", STREAMS, written(B_MOVED, 2)),
        step("PUT", STREAMS, written(A, 2)),
        // w4 slot 2 (moved) -> 308 -> reload to three slots -> retried on slot 1.
        step(
            "PUT",
            STREAMS,
            Reply::json_error(308, "SlotReassigned", "slot moved", "r308"),
        ),
        step(
            "GET",
            STREAMS,
            Reply::ok(stream_session_json(SESSION, &three)),
        ),
        step("PUT", STREAMS, written(A, 3)),
        // w5 slot 2 -> 502 -> reload (same slots) -> retried on slot 1.
        step("PUT", STREAMS, Reply::new(502, "<html>bad gateway</html>")),
        step(
            "GET",
            STREAMS,
            Reply::ok(stream_session_json(SESSION, &three)),
        ),
        step("PUT", STREAMS, written(A, 3)),
        // w6 slot 2 succeeds but announces one slot -> reload after the write.
        step("PUT", STREAMS, written(C, 1)),
        step(
            "GET",
            STREAMS,
            Reply::ok(stream_session_json(SESSION, &[("1", A)])),
        ),
        // w7 on the only slot left.
        step("PUT", STREAMS, written(A, 1)),
    ])
    .await;
    let client = server.client();
    let spec = PartitionSpec::single("pt", "11-17-2020 15").unwrap();
    let mut session = client
        .create_stream_session("test_kafka", Some(&spec), deadline(5.0))
        .await
        .unwrap();
    assert_eq!(session.id(), SESSION);
    assert_eq!(session.slots(), slots(&two).as_slice());
    assert_eq!(session.schema().columns[0].name, "value");

    let pack = |i: u8| Bytes::from(vec![i; 10 + usize::from(i)]);
    for i in 1..=3u8 {
        session.write(pack(i), 1, deadline(5.0)).await.unwrap();
    }
    assert_eq!(
        session.slots(),
        slots(&[("1", A), ("2", B_MOVED)]).as_slice()
    );
    session.write(pack(4), 4, deadline(5.0)).await.unwrap();
    assert_eq!(session.slots(), slots(&three).as_slice());
    session.write(pack(5), 5, deadline(5.0)).await.unwrap();
    session.write(pack(6), 6, deadline(5.0)).await.unwrap();
    assert_eq!(session.slots(), slots(&[("1", A)]).as_slice());
    session.write(pack(7), 7, deadline(5.0)).await.unwrap();
    server.assert_clean();

    let r = server.requests();
    let create = &r[0];
    assert_eq!(create.q("partition"), Some("pt=11-17-2020 15"));
    assert_eq!(create.q("create_partition"), Some(""));
    assert!(
        create.raw_query.contains("&create_partition&"),
        "valueless on the wire: {}",
        create.raw_query
    );
    assert_eq!(create.q("check_latest_schema"), Some("false"));

    let puts: Vec<&Recorded> = r.iter().filter(|x| x.method == "PUT").collect();
    let got: Vec<_> = puts.iter().map(|p| routing(p)).collect();
    assert_eq!(
        got,
        vec![
            expect("1", A, 2),
            expect("2", B, 2),
            expect("1", A, 2),
            expect("2", B_MOVED, 2), // the moved server is used
            expect("1", A, 3),       // after the 308 reload
            expect("2", C, 3),
            expect("1", A, 3), // after the 502 reload
            expect("2", C, 3),
            expect("1", A, 1), // after the slot-count reload
        ]
    );
    // Every PUT names the session, partition, count and carries the pack unchanged.
    let counts = ["1", "1", "1", "4", "4", "5", "5", "6", "7"];
    let bodies = [1u8, 2, 3, 4, 4, 5, 5, 6, 7];
    for ((p, count), body) in puts.iter().zip(counts).zip(bodies) {
        assert_eq!(p.q("uploadid"), Some(SESSION));
        assert_eq!(p.q("partition"), Some("pt=11-17-2020 15"));
        assert_eq!(p.q("record_count"), Some(count));
        assert_eq!(p.q("check_latest_schema"), Some("false"));
        assert_eq!(p.q("schema_version"), Some("0"));
        assert_eq!(p.body, vec![body; 10 + usize::from(body)]);
    }
    // A retry keeps its trace id and counts up its index.
    assert_eq!(puts[3].h("odps-tunnel-retry-index"), Some("0"));
    assert_eq!(puts[4].h("odps-tunnel-retry-index"), Some("1"));
    assert_eq!(
        puts[3].h("odps-tunnel-retry-trace-id"),
        puts[4].h("odps-tunnel-retry-trace-id")
    );
    // Reloads name the session.
    for g in r.iter().filter(|x| x.method == "GET") {
        assert_eq!(g.q("uploadid"), Some(SESSION));
    }
    let stats = client.stats();
    assert_eq!(stats.session_reloads, 3);
    assert_eq!(stats.retries, 2);
    assert_eq!(stats.requests, r.len() as u64);
}

#[tokio::test]
async fn a_permanent_stream_error_is_not_retried() {
    let server = TestServer::start(vec![
        step(
            "POST",
            STREAMS,
            Reply::ok(stream_session_json(SESSION, &[("1", A)])),
        ),
        step(
            "PUT",
            STREAMS,
            Reply::json_error(400, "MalformedDataStream", "crc mismatch", "bad"),
        ),
    ])
    .await;
    let mut session = server
        .client()
        .create_stream_session("test_kafka", None, deadline(5.0))
        .await
        .unwrap();
    let err = session
        .write(Bytes::from_static(b"garbage"), 1, deadline(5.0))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&ErrorCode::MalformedDataStream));
    assert!(!err.is_transient());
    server.assert_clean();
    // Unpartitioned: no partition parameters at all.
    let r = server.requests();
    assert_eq!(r[0].q("partition"), None);
    assert_eq!(r[0].q("create_partition"), None);
    assert_eq!(r.len(), 2);
}

#[tokio::test]
async fn a_session_without_slots_is_a_protocol_error() {
    let server = TestServer::start(vec![step(
        "POST",
        STREAMS,
        Reply::ok(stream_session_json(SESSION, &[])),
    )])
    .await;
    let err = server
        .client()
        .create_stream_session("test_kafka", None, deadline(5.0))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "protocol");
    assert!(err.to_string().contains("no slots"), "{err}");
}
