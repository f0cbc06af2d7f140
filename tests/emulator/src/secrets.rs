//! `emulator secrets`: the local stand-in for the Parameters and Secrets Lambda Extension, serving
//! the given secrets until Ctrl-C or SIGTERM. A function reaches it with
//! `PARAMETERS_SECRETS_EXTENSION_HTTP_PORT` set to its port and `AWS_SESSION_TOKEN` set to
//! `--session-token` (`make demo` passes both with `--env`).

use std::net::SocketAddr;
use std::process::ExitCode;

use lambda_emulator::secrets::LocalSecrets;

use crate::args::{Failure, env_pair};

pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:2773";

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Where the extension's endpoint is served (the extension's own default port is 2773).
    #[arg(long, value_name = "HOST:PORT", default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// The token functions must present, as their AWS_SESSION_TOKEN.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "AWS_SESSION_TOKEN",
        hide_env_values = true
    )]
    session_token: String,
    /// A secret and its SecretString (`ID=VALUE`, the value usually JSON); repeatable.
    #[arg(long = "secret", value_name = "ID=VALUE", value_parser = env_pair)]
    secrets: Vec<(String, String)>,
}

pub(crate) async fn run(
    args: Args,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<ExitCode, Failure> {
    if args.session_token.is_empty() {
        return Err(Failure::Usage(
            "--session-token must not be empty".to_owned(),
        ));
    }
    let server = LocalSecrets::start(args.listen, &args.session_token)
        .await
        .map_err(|e| Failure::Run(format!("cannot listen on {}: {e}", args.listen)))?;
    for (id, value) in &args.secrets {
        server.put(id, value);
    }
    let ids: Vec<&str> = args.secrets.iter().map(|(id, _)| id.as_str()).collect();
    tracing::info!(addr = %server.addr(), secrets = ?ids, "secrets extension stand-in ready");
    shutdown.await;
    Ok(ExitCode::SUCCESS)
}
