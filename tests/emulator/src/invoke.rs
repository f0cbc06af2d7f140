//! `emulator invoke`: a function binary behind the local Lambda runtime API, invoked once per
//! event file in one warm process. The function inherits this environment plus `--env`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use lambda_emulator::runtime::{Function, FunctionSpec, Outcome};

use crate::args::{Failure, env_pair};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The function's executable, e.g. target/debug/sink.
    #[arg(long, value_name = "PATH")]
    function: PathBuf,
    /// The function's name (default: the binary's file name).
    #[arg(long)]
    name: Option<String>,
    /// Seconds an invocation may run.
    #[arg(long, value_name = "SECS", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=900))]
    timeout: u64,
    /// An environment variable for the function; repeatable.
    #[arg(long = "env", value_name = "NAME=VALUE", value_parser = env_pair)]
    env: Vec<(String, String)>,
    /// Event files, invoked in order.
    #[arg(required = true, value_name = "EVENT_FILE")]
    events: Vec<PathBuf>,
}

/// Invokes the function once per event; fails unless every invocation answered normally.
pub(crate) async fn run(args: Args) -> Result<ExitCode, Failure> {
    let name = args.name.unwrap_or_else(|| {
        args.function
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "function".to_owned())
    });
    let spec = FunctionSpec {
        name,
        binary: args.function,
        env: args.env,
        timeout: Duration::from_secs(args.timeout),
        memory_mb: 128,
    };
    let mut function = Function::new(spec)
        .await
        .map_err(|e| Failure::Run(e.to_string()))?;
    let mut ok = true;
    for path in &args.events {
        let event = std::fs::read(path)
            .map_err(|e| Failure::Run(format!("cannot read {}: {e}", path.display())))?;
        match function.invoke(event.into()).await {
            Ok(Outcome::Response(body)) => println!("{}: {body}", path.display()),
            Ok(other) => {
                ok = false;
                println!("{}: {other:?}", path.display());
            }
            Err(e) => return Err(Failure::Run(e.to_string())),
        }
    }
    function.stop().await;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
