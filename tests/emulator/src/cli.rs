//! Command-line interface.
//!
//! ```text
//! emulator maxcompute [--listen ADDR] [--data-dir DIR] [--access-key ID:SECRET]...
//!                     [--sts-key ID:SECRET:TOKEN]... [--session-ttl-secs N]
//! emulator sql [--endpoint URL] [--project NAME] [--access-key ID:SECRET] "STATEMENT"
//! emulator invoke --function PATH [--name NAME] [--timeout SECS] [--env K=V]... EVENT_FILE...
//! emulator trigger ...   (see `trigger::cli`)
//! ```
//!
//! Defaults: listen `127.0.0.1:8110`, data dir `.emulator/data`, project `connector_test` (the
//! project of `make demo`, `sink.env` and the README's examples), and the key
//! pair `emulator-access-id:emulator-access-secret`, which is accepted only when no
//! `--access-key`/`--sts-key` is given, and printed at start-up. Environment variables
//! `EMULATOR_LISTEN`, `EMULATOR_DATA_DIR`, `EMULATOR_ENDPOINT`, `EMULATOR_PROJECT` and
//! `EMULATOR_ACCESS_KEY` (ID:SECRET) give the same defaults. Projects are created on demand.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::auth::KeyStore;
use crate::server::{self, Config, DEFAULT_SESSION_TTL};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8110";
pub const DEFAULT_DATA_DIR: &str = ".emulator/data";
pub const DEFAULT_PROJECT: &str = "connector_test";
pub const DEFAULT_ACCESS_ID: &str = "emulator-access-id";
pub const DEFAULT_ACCESS_SECRET: &str = "emulator-access-secret";

const USAGE: &str = "usage:
  emulator maxcompute [--listen ADDR] [--data-dir DIR] [--access-key ID:SECRET]...
                      [--sts-key ID:SECRET:TOKEN]... [--session-ttl-secs N]
      Serves the MaxCompute service API under http://ADDR/api and the Tunnel at http://ADDR
      (defaults: 127.0.0.1:8110, .emulator/data, key emulator-access-id:emulator-access-secret).
  emulator sql [--endpoint URL] [--project NAME] [--access-key ID:SECRET] \"STATEMENT\"
      Runs one statement through the service API and prints the result as a table
      (defaults: http://127.0.0.1:8110/api, project connector_test, the default key).
  emulator invoke --function PATH [--name NAME] [--timeout SECS] [--env K=V]... EVENT_FILE...
      Runs the function binary behind a local Lambda runtime API and invokes it once per event
      file, in order, in one warm process; prints each answer. The function inherits this
      environment plus --env (defaults: name = the binary's file name, timeout 120 s).
";

fn usage() -> String {
    format!("{USAGE}{}", crate::trigger::cli::USAGE)
}

/// A command-line mistake.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CliError(String);

impl CliError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// Parsed `maxcompute` arguments.
#[derive(Debug)]
pub struct ServeArgs {
    pub config: Config,
    pub default_key_used: bool,
}

/// Parsed `invoke` arguments.
#[derive(Debug)]
pub struct InvokeArgs {
    pub function: crate::lambda::FunctionSpec,
    pub events: Vec<PathBuf>,
}

/// Parsed `sql` arguments.
#[derive(Debug)]
pub struct SqlArgs {
    pub endpoint: String,
    pub project: String,
    pub access_id: String,
    pub access_secret: String,
    pub statement: String,
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

fn split_key(v: &str) -> Result<(String, String), CliError> {
    match v.split_once(':') {
        Some((id, secret)) if !id.is_empty() && !secret.is_empty() => {
            Ok((id.to_owned(), secret.to_owned()))
        }
        _ => Err(CliError(format!(
            "--access-key expects ID:SECRET, got `{v}`"
        ))),
    }
}

fn value(args: &mut impl Iterator<Item = String>, flag: &str) -> Result<String, CliError> {
    args.next()
        .ok_or_else(|| CliError(format!("{flag} needs a value")))
}

pub fn parse_serve(args: &[String]) -> Result<ServeArgs, CliError> {
    let mut listen = env_or("EMULATOR_LISTEN", DEFAULT_LISTEN);
    let mut data_dir = env_or("EMULATOR_DATA_DIR", DEFAULT_DATA_DIR);
    let mut keys = KeyStore::default();
    let mut session_ttl = DEFAULT_SESSION_TTL;
    let mut it = args.iter().cloned();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--listen" => listen = value(&mut it, "--listen")?,
            "--data-dir" => data_dir = value(&mut it, "--data-dir")?,
            "--access-key" => {
                let (id, secret) = split_key(&value(&mut it, "--access-key")?)?;
                keys.add_access_key(&id, &secret);
            }
            "--sts-key" => {
                let v = value(&mut it, "--sts-key")?;
                let mut parts = v.splitn(3, ':');
                match (parts.next(), parts.next(), parts.next()) {
                    (Some(id), Some(secret), Some(token))
                        if !id.is_empty() && !secret.is_empty() && !token.is_empty() =>
                    {
                        keys.add_sts_key(id, secret, token)
                    }
                    _ => {
                        return Err(CliError(format!(
                            "--sts-key expects ID:SECRET:TOKEN, got `{v}`"
                        )));
                    }
                }
            }
            "--session-ttl-secs" => {
                let v = value(&mut it, "--session-ttl-secs")?;
                let secs: u64 = v.parse().map_err(|_| {
                    CliError(format!("--session-ttl-secs expects seconds, got `{v}`"))
                })?;
                session_ttl = std::time::Duration::from_secs(secs);
            }
            other => return Err(CliError(format!("unknown argument `{other}`"))),
        }
    }
    let listen: SocketAddr = listen.parse().map_err(|_| {
        CliError(format!(
            "--listen expects HOST:PORT (an IP address), got `{listen}`"
        ))
    })?;
    let default_key_used = keys.is_empty();
    if default_key_used {
        match std::env::var("EMULATOR_ACCESS_KEY")
            .ok()
            .filter(|v| !v.is_empty())
        {
            Some(v) => {
                let (id, secret) = split_key(&v)?;
                keys.add_access_key(&id, &secret);
            }
            None => keys.add_access_key(DEFAULT_ACCESS_ID, DEFAULT_ACCESS_SECRET),
        }
    }
    Ok(ServeArgs {
        config: Config {
            listen,
            data_dir: PathBuf::from(data_dir),
            keys,
            session_ttl,
        },
        default_key_used,
    })
}

pub fn parse_sql(args: &[String]) -> Result<SqlArgs, CliError> {
    let mut endpoint = env_or("EMULATOR_ENDPOINT", &format!("http://{DEFAULT_LISTEN}/api"));
    let mut project = env_or("EMULATOR_PROJECT", DEFAULT_PROJECT);
    let (mut access_id, mut access_secret) = split_key(&env_or(
        "EMULATOR_ACCESS_KEY",
        &format!("{DEFAULT_ACCESS_ID}:{DEFAULT_ACCESS_SECRET}"),
    ))?;
    let mut statement: Option<String> = None;
    let mut it = args.iter().cloned();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--endpoint" => endpoint = value(&mut it, "--endpoint")?,
            "--project" => project = value(&mut it, "--project")?,
            "--access-key" => {
                (access_id, access_secret) = split_key(&value(&mut it, "--access-key")?)?
            }
            s if s.starts_with("--") => return Err(CliError(format!("unknown argument `{s}`"))),
            s => {
                if statement.is_some() {
                    return Err(CliError("give exactly one statement (quote it)".to_owned()));
                }
                statement = Some(s.to_owned());
            }
        }
    }
    let statement = statement.ok_or_else(|| CliError("missing the SQL statement".to_owned()))?;
    Ok(SqlArgs {
        endpoint,
        project,
        access_id,
        access_secret,
        statement,
    })
}

pub fn parse_invoke(args: &[String]) -> Result<InvokeArgs, CliError> {
    let mut binary: Option<PathBuf> = None;
    let mut name: Option<String> = None;
    let mut timeout = std::time::Duration::from_secs(120);
    let mut env = Vec::new();
    let mut events = Vec::new();
    let mut it = args.iter().cloned();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--function" => binary = Some(PathBuf::from(value(&mut it, "--function")?)),
            "--name" => name = Some(value(&mut it, "--name")?),
            "--timeout" => {
                let v = value(&mut it, "--timeout")?;
                let secs: u64 = v
                    .parse()
                    .ok()
                    .filter(|s| (1..=900).contains(s))
                    .ok_or_else(|| {
                        CliError(format!("--timeout expects 1..=900 seconds, got `{v}`"))
                    })?;
                timeout = std::time::Duration::from_secs(secs);
            }
            "--env" => {
                let v = value(&mut it, "--env")?;
                let (k, val) = v
                    .split_once('=')
                    .filter(|(k, _)| !k.is_empty())
                    .ok_or_else(|| CliError(format!("--env expects NAME=VALUE, got `{v}`")))?;
                env.push((k.to_owned(), val.to_owned()));
            }
            s if s.starts_with("--") => return Err(CliError(format!("unknown argument `{s}`"))),
            s => events.push(PathBuf::from(s)),
        }
    }
    let binary = binary.ok_or_else(|| CliError("--function PATH is required".to_owned()))?;
    if events.is_empty() {
        return Err(CliError("give at least one event file".to_owned()));
    }
    let name = name.unwrap_or_else(|| {
        binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "function".to_owned())
    });
    Ok(InvokeArgs {
        function: crate::lambda::FunctionSpec {
            name,
            binary,
            env,
            timeout,
            memory_mb: 128,
        },
        events,
    })
}

/// Invokes the function once per event; fails unless every invocation answered normally.
async fn run_invoke(args: InvokeArgs) -> ExitCode {
    let mut function = match crate::lambda::Function::new(args.function).await {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut ok = true;
    for path in &args.events {
        let event = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        };
        match function.invoke(event.into()).await {
            Ok(crate::lambda::Outcome::Response(body)) => println!("{}: {body}", path.display()),
            Ok(other) => {
                ok = false;
                println!("{}: {other:?}", path.display());
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    function.stop().await;
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C still works");
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs the command line; returns the process exit code.
pub async fn main(args: Vec<String>) -> ExitCode {
    let Some((command, rest)) = args.split_first() else {
        eprintln!("{}", usage());
        return ExitCode::from(2);
    };
    match command.as_str() {
        "maxcompute" => {
            init_tracing();
            let parsed = match parse_serve(rest) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("error: {e}\n{USAGE}");
                    return ExitCode::from(2);
                }
            };
            let data_dir = parsed.config.data_dir.clone();
            let running = match server::start(parsed.config).await {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            };
            println!("MaxCompute emulator ready");
            println!("  service endpoint: http://{}/api", running.addr);
            println!("  tunnel endpoint:  http://{}", running.addr);
            println!("  data directory:   {}", data_dir.display());
            if parsed.default_key_used {
                println!(
                    "  access key:       {DEFAULT_ACCESS_ID} / {DEFAULT_ACCESS_SECRET} (default; pass --access-key ID:SECRET to change)"
                );
            }
            match running.run_until(shutdown_signal()).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: server stopped: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        "invoke" => {
            init_tracing();
            match parse_invoke(rest) {
                Ok(parsed) => run_invoke(parsed).await,
                Err(e) => {
                    eprintln!("error: {e}\n{USAGE}");
                    ExitCode::from(2)
                }
            }
        }
        "trigger" => {
            init_tracing();
            match rest.first().map(String::as_str) {
                Some(tool @ ("produce" | "read" | "committed")) => {
                    crate::trigger::cli::run_tool(tool, rest.get(1..).unwrap_or_default()).await
                }
                _ => match crate::trigger::cli::parse_trigger(rest) {
                    Ok(parsed) => crate::trigger::cli::run_trigger(parsed, shutdown_signal()).await,
                    Err(e) => {
                        eprintln!("error: {e}\n{}", usage());
                        ExitCode::from(2)
                    }
                },
            }
        }
        "sql" => {
            let parsed = match parse_sql(rest) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("error: {e}\n{USAGE}");
                    return ExitCode::from(2);
                }
            };
            match crate::sqlcmd::run(&parsed).await {
                Ok(out) => {
                    print!("{out}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        "-h" | "--help" | "help" => {
            println!("{}", usage());
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("error: unknown command `{other}`\n{}", usage());
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn serve_flags_parse() {
        let a = parse_serve(&s(&[
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            "/tmp/x",
            "--access-key",
            "a:b",
            "--sts-key",
            "STS.x:y:z",
        ]))
        .unwrap();
        assert_eq!(a.config.listen.port(), 0);
        assert!(!a.default_key_used);
        assert!(parse_serve(&s(&["--access-key", "nocolon"])).is_err());
        assert!(parse_serve(&s(&["--listen", "localhost"])).is_err());
        assert!(parse_serve(&s(&["--bogus"])).is_err());
    }

    #[test]
    fn the_default_project_is_the_demos() {
        // `make demo` and the README name the project; `emulator sql` without `--project` must
        // find the tables they create.
        let demo = include_str!("../../../scripts/demo.sh");
        assert!(
            demo.lines()
                .any(|l| l == format!("project=\"{DEFAULT_PROJECT}\"")),
            "scripts/demo.sh does not set project=\"{DEFAULT_PROJECT}\""
        );
        assert!(USAGE.contains(&format!("project {DEFAULT_PROJECT},")));
    }

    #[test]
    fn sql_flags_parse() {
        let a = parse_sql(&s(&[
            "--endpoint",
            "http://h:1/api",
            "--project",
            "p",
            "show partitions t",
        ]))
        .unwrap();
        assert_eq!(a.statement, "show partitions t");
        assert_eq!(a.project, "p");
        assert!(parse_sql(&s(&[])).is_err());
        assert!(parse_sql(&s(&["a", "b"])).is_err());
    }
}
