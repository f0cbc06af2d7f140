//! The `emulator` command: the local flow's parts, one subcommand each. `maxcompute` serves the
//! MaxCompute emulator (crate `maxcompute-emulator`), `sql` is its console, `invoke` runs a
//! function binary behind the local Lambda runtime API and `trigger` feeds it from a Kafka
//! topic, and `secrets` stands in for the Lambda secrets extension (crate `lambda-emulator`). This crate only parses arguments and prints; `--help` on
//! any subcommand lists its flags.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod args;
mod invoke;
mod maxcompute;
mod secrets;
mod sql;
mod trigger;

#[derive(Debug, Parser)]
#[command(
    name = "emulator",
    about = "The local flow: a MaxCompute emulator, its SQL console, a local Lambda runtime and Kafka trigger"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per run: the size of the trigger's arguments does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Serves the MaxCompute service API under http://ADDR/api and the Tunnel at http://ADDR.
    Maxcompute(maxcompute::Args),
    /// Runs one statement through the service API and prints the result as a table.
    Sql(sql::Args),
    /// Runs a function binary behind a local Lambda runtime API and invokes it once per event
    /// file, in order, in one warm process; prints each answer.
    Invoke(invoke::Args),
    /// Runs a function binary on the records of a Kafka topic like the Lambda Kafka trigger;
    /// `produce`, `read` and `committed` work with the topic.
    Trigger(trigger::Args),
    /// Serves secrets like the Parameters and Secrets Lambda Extension, for functions that read
    /// their AccessKey or SASL password from Secrets Manager.
    Secrets(secrets::Args),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Sql(_)) {
        init_tracing();
    }
    let result = match cli.command {
        Command::Maxcompute(a) => maxcompute::run(a, shutdown_signal()).await,
        Command::Sql(a) => sql::run(a).await,
        Command::Invoke(a) => invoke::run(a).await,
        Command::Trigger(a) => trigger::run(a, shutdown_signal()).await,
        Command::Secrets(a) => secrets::run(a, shutdown_signal()).await,
    };
    match result {
        Ok(code) => code,
        Err(args::Failure::Usage(message)) => {
            eprintln!("error: {message}\n\nFor more information, try '--help'.");
            ExitCode::from(2)
        }
        Err(args::Failure::Run(message)) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Parses a command line the way `main` does.
    pub(crate) fn parse(line: &[&str]) -> Result<Command, clap::Error> {
        Cli::try_parse_from(std::iter::once("emulator").chain(line.iter().copied()))
            .map(|c| c.command)
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn unknown_commands_and_flags_are_refused() {
        assert!(parse(&["serve"]).is_err());
        assert!(parse(&["maxcompute", "--bogus"]).is_err());
        assert!(parse(&[]).is_err());
    }
}
