//! `emulator sql`: the seed's console checks against the emulator. Signs its requests, submits
//! one statement as an SQL instance, waits, and prints a query as an aligned table.

use std::process::ExitCode;

use maxcompute_emulator::sql_client::{self, Client};

use crate::args::{Failure, KeyPair, key_pair};
use crate::maxcompute::DEFAULT_ACCESS_KEY;

/// The project of `make demo`, `sink.env` and the README's examples.
pub(crate) const DEFAULT_PROJECT: &str = "connector_test";

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The service endpoint.
    #[arg(
        long,
        value_name = "URL",
        env = "EMULATOR_ENDPOINT",
        default_value = "http://127.0.0.1:8110/api"
    )]
    endpoint: String,
    #[arg(long, value_name = "NAME", env = "EMULATOR_PROJECT", default_value = DEFAULT_PROJECT)]
    project: String,
    #[arg(
        long = "access-key",
        value_name = "ID:SECRET",
        env = "EMULATOR_ACCESS_KEY",
        default_value = DEFAULT_ACCESS_KEY,
        value_parser = key_pair
    )]
    access_key: KeyPair,
    /// One statement (quote it).
    statement: String,
}

pub(crate) async fn run(args: Args) -> Result<ExitCode, Failure> {
    let client = Client::for_endpoint(&args.endpoint, &args.access_key.id, &args.access_key.secret);
    let out = sql_client::console(&client, &args.project, &args.statement)
        .await
        .map_err(|e| Failure::Run(e.to_string()))?;
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;
    use crate::Command;
    use crate::tests::parse;

    #[test]
    fn sql_flags_parse() {
        let Command::Sql(a) = parse(&[
            "sql",
            "--endpoint",
            "http://h:1/api",
            "--project",
            "p",
            "show partitions t",
        ])
        .unwrap() else {
            panic!("not sql")
        };
        assert_eq!(a.statement, "show partitions t");
        assert_eq!(a.project, "p");
        assert!(parse(&["sql"]).is_err());
        assert!(parse(&["sql", "a", "b"]).is_err());
    }

    #[test]
    fn the_defaults_are_the_servers_and_the_demos() {
        use clap::CommandFactory;
        let cli = crate::Cli::command();
        let sql = cli.find_subcommand("sql").unwrap();
        let endpoint = sql
            .get_arguments()
            .find(|a| a.get_id() == "endpoint")
            .unwrap();
        assert_eq!(
            endpoint.get_default_values(),
            [format!("http://{}/api", crate::maxcompute::DEFAULT_LISTEN).as_str()]
        );
        // `make demo` and the README name the project; `emulator sql` without `--project` must
        // find the tables they create.
        let demo = include_str!("../../../scripts/demo.sh");
        assert!(
            demo.lines()
                .any(|l| l == format!("project=\"{DEFAULT_PROJECT}\"")),
            "scripts/demo.sh does not set project=\"{DEFAULT_PROJECT}\""
        );
    }

    #[test]
    fn sink_env_points_at_the_emulators_defaults() {
        use crate::maxcompute::{DEFAULT_ACCESS_KEY, DEFAULT_LISTEN};
        let sink_env = include_str!("../../../sink.env");
        let get = |name: &str| {
            sink_env
                .lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .find_map(|l| l.trim().strip_prefix(name)?.strip_prefix('='))
        };
        let endpoint = format!("http://{DEFAULT_LISTEN}/api");
        assert_eq!(get("MAXCOMPUTE_ENDPOINT"), Some(endpoint.as_str()));
        assert_eq!(get("MAXCOMPUTE_PROJECT"), Some(DEFAULT_PROJECT));
        assert_eq!(get("MAXCOMPUTE_TABLE"), Some("test_kafka"));
        let key = crate::args::key_pair(DEFAULT_ACCESS_KEY).unwrap();
        assert_eq!(get("ALIBABA_CLOUD_ACCESS_KEY_ID"), Some(key.id.as_str()));
        assert_eq!(
            get("ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
            Some(key.secret.as_str())
        );
    }
}
