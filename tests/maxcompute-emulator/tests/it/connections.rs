//! Connections are kept alive as the service keeps them, so a client pays one connect for many
//! requests; `close_connections` closes each after its answer, for clients that fork.

use std::time::Duration;

use maxcompute_emulator::auth::KeyStore;
use maxcompute_emulator::server::{self, Config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HEALTH: &[u8] = b"GET /_emulator/health HTTP/1.1\r\nHost: emulator\r\n\r\n";

async fn start(dir: &std::path::Path, close_connections: bool) -> server::RunningServer {
    server::start(Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        keys: KeyStore::default(),
        session_ttl: server::DEFAULT_SESSION_TTL,
        close_connections,
    })
    .await
    .unwrap()
}

/// Sends `HEALTH` on `stream` and reads until a whole answer (headers and the body its
/// `Content-Length` gives) has come, or the peer closes. Answers the head, lower-cased, and
/// whether the peer closed.
async fn exchange(stream: &mut TcpStream) -> (String, bool) {
    stream.write_all(HEALTH).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if got.len() >= end + 4 + length {
                return (head, false);
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("an answer within 10 s")
            .unwrap();
        if n == 0 {
            return (String::from_utf8_lossy(&got).to_ascii_lowercase(), true);
        }
        got.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test]
async fn one_connection_carries_many_requests() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path(), false).await;
    let mut stream = TcpStream::connect(srv.addr).await.unwrap();
    for i in 0..3 {
        let (head, closed) = exchange(&mut stream).await;
        assert!(head.starts_with("http/1.1 200"), "answer {i}: {head}");
        assert!(!head.contains("connection: close"), "answer {i}: {head}");
        assert!(!closed, "answer {i} closed the connection");
    }
}

#[tokio::test]
async fn close_connections_ends_each_connection_after_its_answer() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path(), true).await;
    let mut stream = TcpStream::connect(srv.addr).await.unwrap();
    let (head, _) = exchange(&mut stream).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    // The server closes its side: the next read sees the end of the stream.
    let mut rest = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest))
        .await
        .expect("the server closes within 10 s")
        .unwrap();
    assert_eq!(n, 0, "nothing after the answer: {rest:?}");
}
