//! A WAN between two loopback endpoints: a TCP proxy that delays each direction's bytes by half
//! a round-trip time and paces them to a bandwidth, so the sink can be measured against the
//! emulator as if MaxCompute were a region away.
//!
//! The model: each accepted connection costs one round trip before the client's first byte
//! leaves (the TCP handshake the client would have made with a distant server); then each
//! direction is a queue drained at its bandwidth, followed by half the RTT of propagation
//! (see `link.rs`). Bytes are delivered intact and in order; a half-close is passed on once the
//! bytes before it are delivered.
//!
//! It counts connections, bytes each way, and HTTP/1.1 requests by kind (method and path
//! shape, see [`WanStats::requests`]).
//!
//! It does not model loss, jitter, TCP's congestion window or receive window (beyond a bounded
//! queue per direction), or TLS.

mod http;
mod link;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::http::RequestParser;
use crate::link::Link;

/// The largest piece read and scheduled at once: small enough that pacing is smooth.
const CHUNK: usize = 16 * 1024;
/// Pieces queued per direction before the reader waits (a stand-in for TCP's window: 4 MiB).
const QUEUE: usize = 256;

/// The WAN's shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WanConfig {
    /// Round-trip time; each direction is delayed by half of it.
    pub rtt: Duration,
    /// Bytes per second from the client to the server; `None`: unlimited.
    pub up_bytes_per_sec: Option<u64>,
    /// Bytes per second from the server to the client; `None`: unlimited.
    pub down_bytes_per_sec: Option<u64>,
    /// Whether a new connection costs one RTT before its first byte leaves.
    pub handshake: bool,
}

impl WanConfig {
    /// A WAN with `rtt` and the same bandwidth both ways, handshakes included.
    pub fn symmetric(rtt: Duration, bytes_per_sec: Option<u64>) -> Self {
        Self {
            rtt,
            up_bytes_per_sec: bytes_per_sec,
            down_bytes_per_sec: bytes_per_sec,
            handshake: true,
        }
    }
}

/// The proxy's counters since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WanStats {
    /// Connections accepted.
    pub connections: u64,
    /// Bytes delivered from clients to the server.
    pub bytes_up: u64,
    /// Bytes delivered from the server to clients.
    pub bytes_down: u64,
    /// HTTP requests seen, by kind: the method and the path with the segment after `projects`,
    /// `tables` and `schemas` as `{}`, segments holding digits as `*`, then the query's
    /// parameter names (`PUT /api/projects/{}/tables/{}/upload?blockid&uploadid`).
    pub requests: BTreeMap<String, u64>,
}

impl WanStats {
    /// All HTTP requests seen.
    pub fn requests_total(&self) -> u64 {
        self.requests.values().sum()
    }

    /// What happened between `earlier` (a snapshot of the same proxy) and this snapshot.
    pub fn since(&self, earlier: &WanStats) -> WanStats {
        let requests = self
            .requests
            .iter()
            .filter_map(|(kind, n)| {
                let n = n - earlier.requests.get(kind).copied().unwrap_or(0);
                (n > 0).then(|| (kind.clone(), n))
            })
            .collect();
        WanStats {
            connections: self.connections - earlier.connections,
            bytes_up: self.bytes_up - earlier.bytes_up,
            bytes_down: self.bytes_down - earlier.bytes_down,
            requests,
        }
    }
}

/// A running proxy; dropping it stops accepting (open connections run to their end).
#[derive(Debug)]
pub struct WanProxy {
    local: SocketAddr,
    stats: Arc<Mutex<WanStats>>,
    accept: JoinHandle<()>,
}

impl WanProxy {
    /// Listens on `listen` (port 0 for any) and forwards each connection to `upstream`
    /// through the WAN `config` describes.
    pub async fn start(
        listen: SocketAddr,
        upstream: SocketAddr,
        config: WanConfig,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let local = listener.local_addr()?;
        let stats = Arc::new(Mutex::new(WanStats::default()));
        let counters = Arc::clone(&stats);
        let accept = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let accepted = Instant::now();
                update(&counters, |s| s.connections += 1);
                let counters = Arc::clone(&counters);
                tokio::spawn(async move {
                    // A server that cannot be reached closes the client's connection, as a
                    // refused connect would.
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        connect(client, server, config, accepted, counters).await;
                    }
                });
            }
        });
        Ok(Self {
            local,
            stats,
            accept,
        })
    }

    /// The address clients connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> WanStats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for WanProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

fn update(stats: &Mutex<WanStats>, f: impl FnOnce(&mut WanStats)) {
    if let Ok(mut s) = stats.lock() {
        f(&mut s);
    }
}

#[derive(Clone, Copy)]
enum Direction {
    Up,
    Down,
}

async fn connect(
    client: TcpStream,
    server: TcpStream,
    config: WanConfig,
    accepted: Instant,
    stats: Arc<Mutex<WanStats>>,
) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let one_way = config.rtt / 2;
    let opens = if config.handshake {
        accepted + config.rtt
    } else {
        accepted
    };
    let up = Link::new(one_way, config.up_bytes_per_sec, opens);
    let down = Link::new(one_way, config.down_bytes_per_sec, accepted);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = pipe(
        client_read,
        server_write,
        up,
        Direction::Up,
        Arc::clone(&stats),
    );
    let down = pipe(server_read, client_write, down, Direction::Down, stats);
    tokio::join!(up, down);
}

/// Carries one direction until its reader ends or either side fails: a reader that schedules
/// each piece on the link and a writer that delivers it on time.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut link: Link,
    direction: Direction,
    stats: Arc<Mutex<WanStats>>,
) {
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(QUEUE);
    let counters = Arc::clone(&stats);
    let reader = async move {
        let mut parser = RequestParser::default();
        loop {
            let mut buf = vec![0; CHUNK];
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            buf.truncate(n);
            let at = link.schedule(n, Instant::now());
            if let Direction::Up = direction {
                parser.feed(&buf, |method, target| {
                    let kind = http::kind(method, target);
                    update(&counters, |s| *s.requests.entry(kind).or_default() += 1);
                });
            }
            if tx.send((at, buf)).await.is_err() {
                break;
            }
        }
    };
    let writer = async move {
        while let Some((at, buf)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&buf).await.is_err() {
                return;
            }
            let n = buf.len() as u64;
            update(&stats, |s| match direction {
                Direction::Up => s.bytes_up += n,
                Direction::Down => s.bytes_down += n,
            });
        }
        // The reader saw the end: pass the half-close on after everything before it.
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}
