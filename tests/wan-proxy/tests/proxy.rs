//! The proxy over loopback: delays that are at least the RTT, bytes intact and in order,
//! throughput held to the limit, requests counted by kind. Only lower bounds on time are
//! asserted, so a busy machine cannot make these fail.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use wan_proxy::{WanConfig, WanProxy};

const RTT: Duration = Duration::from_millis(40);

/// A server that echoes each connection's bytes and closes when the client half-closes.
async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            });
        }
    });
    addr
}

async fn proxy(config: WanConfig) -> WanProxy {
    let upstream = echo_server().await;
    WanProxy::start("127.0.0.1:0".parse().unwrap(), upstream, config)
        .await
        .unwrap()
}

/// Pseudo-random bytes from `seed` (xorshift64).
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn seed() -> u64 {
    let seed = std::env::var("WAN_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_0021);
    println!("seed {seed} (WAN_TEST_SEED)");
    seed
}

/// Sends `data` through the proxy to the echo server, half-closes, reads the echo to its end.
async fn round_trip(proxy: &WanProxy, data: &[u8]) -> (Vec<u8>, Duration) {
    let start = Instant::now();
    let stream = TcpStream::connect(proxy.local_addr()).await.unwrap();
    let (mut r, mut w) = stream.into_split();
    let send = async {
        w.write_all(data).await.unwrap();
        w.shutdown().await.unwrap();
    };
    let receive = async {
        let mut back = Vec::with_capacity(data.len());
        r.read_to_end(&mut back).await.unwrap();
        back
    };
    let ((), back) = tokio::join!(send, receive);
    (back, start.elapsed())
}

#[tokio::test]
async fn a_round_trip_takes_at_least_the_rtt_and_a_new_connection_one_more() {
    let without = proxy(WanConfig {
        handshake: false,
        ..WanConfig::symmetric(RTT, None)
    })
    .await;
    let (back, took) = round_trip(&without, b"ping").await;
    assert_eq!(back, b"ping");
    assert!(took >= RTT, "{took:?} < {RTT:?}");

    let with = proxy(WanConfig::symmetric(RTT, None)).await;
    let (back, took) = round_trip(&with, b"ping").await;
    assert_eq!(back, b"ping");
    assert!(took >= 2 * RTT, "{took:?} < {:?}", 2 * RTT);
}

#[tokio::test]
async fn bytes_arrive_intact_and_in_order_and_no_faster_than_the_limit() {
    let seed = seed();
    let data = bytes(seed, 1_000_000);
    let rate = 4_000_000;
    let p = proxy(WanConfig::symmetric(RTT, Some(rate))).await;
    let (back, took) = round_trip(&p, &data).await;
    assert!(back == data, "the echo differs from what was sent");
    // Each direction carries all the bytes at most at `rate`, after the handshake; the two
    // directions overlap, so one of them bounds the time from below (1 % for rounding).
    let floor = RTT + Duration::from_secs_f64(data.len() as f64 / rate as f64 * 0.99);
    assert!(took >= floor, "{took:?} < {floor:?}");
    let stats = p.stats();
    assert_eq!(stats.connections, 1);
    assert_eq!(stats.bytes_up, data.len() as u64);
    assert_eq!(stats.bytes_down, data.len() as u64);
    // Not HTTP: no requests counted.
    assert_eq!(stats.requests_total(), 0);
}

#[tokio::test]
async fn http_requests_are_counted_by_kind_across_connections() {
    let p = proxy(WanConfig::symmetric(Duration::from_millis(2), None)).await;
    let first = b"PUT /api/projects/p/tables/t/upload?uploadid=20251&blockid=0 HTTP/1.1\r\n\
Content-Length: 6\r\n\r\nGET /xPOST /api/projects/p/tables/t/upload?uploadid=20251 HTTP/1.1\r\n\r\n";
    let second = b"PUT /api/projects/q/tables/u/upload?blockid=1&uploadid=9 HTTP/1.1\r\n\
Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    let before = p.stats();
    for request in [&first[..], &second[..]] {
        let (back, _) = round_trip(&p, request).await;
        assert_eq!(back, request);
    }
    let stats = p.stats().since(&before);
    assert_eq!(stats.connections, 2);
    assert_eq!(stats.bytes_up, (first.len() + second.len()) as u64);
    let kinds: Vec<(&str, u64)> = stats
        .requests
        .iter()
        .map(|(k, n)| (k.as_str(), *n))
        .collect();
    assert_eq!(
        kinds,
        [
            ("POST /api/projects/{}/tables/{}/upload?uploadid", 1),
            ("PUT /api/projects/{}/tables/{}/upload?blockid&uploadid", 2),
        ]
    );
}
