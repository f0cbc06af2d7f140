//! `emulator maxcompute`: serves the MaxCompute emulator until Ctrl-C or SIGTERM.
//!
//! Projects are created on demand. The key pair `emulator-access-id:emulator-access-secret`
//! is accepted only when no `--access-key`/`--sts-key` is given (or `EMULATOR_ACCESS_KEY`
//! names another), and printed at start-up.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use maxcompute_emulator::auth::KeyStore;
use maxcompute_emulator::server;

use crate::args::{Failure, KeyPair, key_pair};

pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:8110";
/// The key pair accepted when none is given, `ID:SECRET`.
pub(crate) const DEFAULT_ACCESS_KEY: &str = "emulator-access-id:emulator-access-secret";

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Where the service API (/api), the Tunnel (/) and the admin endpoints (/_emulator) are
    /// served.
    #[arg(long, value_name = "HOST:PORT", env = "EMULATOR_LISTEN", default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// The directory of the SQLite database `maxcompute.db`.
    #[arg(
        long,
        value_name = "DIR",
        env = "EMULATOR_DATA_DIR",
        default_value = ".emulator/data"
    )]
    data_dir: PathBuf,
    /// An accepted AccessKey pair; repeatable. Without any key, `EMULATOR_ACCESS_KEY` or the
    /// default pair emulator-access-id:emulator-access-secret is accepted.
    #[arg(long = "access-key", value_name = "ID:SECRET", value_parser = key_pair)]
    access_keys: Vec<KeyPair>,
    /// A temporary (STS) key: its requests must also carry `authorization-sts-token: TOKEN`.
    #[arg(long = "sts-key", value_name = "ID:SECRET:TOKEN", value_parser = sts_key)]
    sts_keys: Vec<(KeyPair, String)>,
    /// How long a batch upload session stays usable.
    #[arg(long, value_name = "N", default_value_t = 24 * 3600)]
    session_ttl_secs: u64,
    /// Close every connection after its answer instead of keeping it alive as the service
    /// does: for clients that fork with idle pooled connections (pyodps's multi-process writers).
    #[arg(long)]
    close_connections: bool,
}

fn sts_key(v: &str) -> Result<(KeyPair, String), String> {
    let (pair, token) = v
        .rsplit_once(':')
        .filter(|(_, token)| !token.is_empty())
        .ok_or_else(|| format!("expected ID:SECRET:TOKEN, got `{v}`"))?;
    let pair = key_pair(pair).map_err(|_| format!("expected ID:SECRET:TOKEN, got `{v}`"))?;
    Ok((pair, token.to_owned()))
}

/// The server's configuration, and the key pair accepted because none was given.
fn config(args: Args) -> Result<(server::Config, Option<KeyPair>), Failure> {
    let mut keys = KeyStore::default();
    for k in &args.access_keys {
        keys.add_access_key(&k.id, &k.secret);
    }
    for (k, token) in &args.sts_keys {
        keys.add_sts_key(&k.id, &k.secret, token);
    }
    let mut default_key = None;
    if keys.is_empty() {
        let env = std::env::var("EMULATOR_ACCESS_KEY")
            .ok()
            .filter(|v| !v.is_empty());
        let pair = key_pair(env.as_deref().unwrap_or(DEFAULT_ACCESS_KEY))
            .map_err(|e| Failure::Usage(format!("EMULATOR_ACCESS_KEY: {e}")))?;
        keys.add_access_key(&pair.id, &pair.secret);
        default_key = Some(pair);
    }
    let config = server::Config {
        listen: args.listen,
        data_dir: args.data_dir,
        keys,
        session_ttl: Duration::from_secs(args.session_ttl_secs),
        close_connections: args.close_connections,
    };
    Ok((config, default_key))
}

pub(crate) async fn run(
    args: Args,
    shutdown: impl Future<Output = ()>,
) -> Result<ExitCode, Failure> {
    let (config, default_key) = config(args)?;
    let data_dir = config.data_dir.clone();
    let running = server::start(config)
        .await
        .map_err(|e| Failure::Run(e.to_string()))?;
    println!("MaxCompute emulator ready");
    println!("  service endpoint: http://{}/api", running.addr);
    println!("  tunnel endpoint:  http://{}", running.addr);
    println!("  data directory:   {}", data_dir.display());
    if let Some(KeyPair { id, secret }) = default_key {
        println!(
            "  access key:       {id} / {secret} (default; pass --access-key ID:SECRET to change)"
        );
    }
    running
        .run_until(shutdown)
        .await
        .map_err(|e| Failure::Run(format!("server stopped: {e}")))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;
    use crate::Command;
    use crate::tests::parse;

    fn serve(line: &[&str]) -> Result<Args, clap::Error> {
        parse(&[&["maxcompute"], line].concat()).map(|c| match c {
            Command::Maxcompute(a) => a,
            other => panic!("{other:?}"),
        })
    }

    #[test]
    fn serve_flags_parse() {
        let a = serve(&[
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            "/tmp/x",
            "--access-key",
            "a:b",
            "--sts-key",
            "STS.x:y:z",
        ])
        .unwrap();
        let (config, default_key) = config(a).unwrap();
        assert_eq!(config.listen.port(), 0);
        assert_eq!(default_key, None);
        assert!(serve(&["--access-key", "nocolon"]).is_err());
        assert!(serve(&["--sts-key", "a:b"]).is_err());
        assert!(serve(&["--listen", "localhost"]).is_err());
        assert!(serve(&["--bogus"]).is_err());
    }
}
