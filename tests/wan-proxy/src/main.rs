//! `wan-proxy`: a WAN between a client and a server on this machine, until interrupted; then
//! prints its counters.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use wan_proxy::{WanConfig, WanProxy};

/// Forwards TCP connections to UPSTREAM through a WAN: a round-trip time and a bandwidth limit
/// in each direction.
#[derive(Debug, Parser)]
#[command(name = "wan-proxy")]
struct Args {
    /// Where clients connect (port 0: any free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The server's address.
    #[arg(long)]
    upstream: SocketAddr,
    /// Round-trip time in milliseconds.
    #[arg(long, env = "WAN_RTT_MS", default_value_t = 60)]
    rtt_ms: u64,
    /// Bandwidth each way in MB/s (10^6 bytes); 0: unlimited.
    #[arg(long, env = "WAN_MB_S", default_value_t = 20.0)]
    mb_s: f64,
    /// Client-to-server bandwidth in MB/s, if not --mb-s.
    #[arg(long)]
    up_mb_s: Option<f64>,
    /// Server-to-client bandwidth in MB/s, if not --mb-s.
    #[arg(long)]
    down_mb_s: Option<f64>,
    /// New connections cost no round trip before their first byte.
    #[arg(long)]
    no_handshake: bool,
}

fn rate(mb_s: f64) -> Option<u64> {
    (mb_s > 0.0).then_some((mb_s * 1e6) as u64)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let config = WanConfig {
        rtt: Duration::from_millis(args.rtt_ms),
        up_bytes_per_sec: rate(args.up_mb_s.unwrap_or(args.mb_s)),
        down_bytes_per_sec: rate(args.down_mb_s.unwrap_or(args.mb_s)),
        handshake: !args.no_handshake,
    };
    let proxy = WanProxy::start(args.listen, args.upstream, config).await?;
    println!("listening on {}", proxy.local_addr());
    tokio::signal::ctrl_c().await?;
    let stats = proxy.stats();
    println!(
        "connections {}, bytes up {}, bytes down {}, requests {}",
        stats.connections,
        stats.bytes_up,
        stats.bytes_down,
        stats.requests_total()
    );
    for (kind, n) in &stats.requests {
        println!("{n:>8}  {kind}");
    }
    Ok(())
}
