//! The error handler's configuration: read once at cold start from the environment, typed and
//! validated.
//!
//! The MaxCompute, credential and partition variables have the sink's names and meanings, so one
//! set of settings serves both functions and the errors table is partitioned like the main
//! table. A wrong value stops the cold start with a [`ConfigError`] naming the variable, the value
//! and what is accepted. Reading goes through a lookup function so tests never touch the process
//! environment; secrets are kept in [`maxcompute_core::signing::Secret`]s and never printed.

use lambda_support::settings::{self, Connection, Env, SettingError, check_name};
use maxcompute_core::partition::{PartitionConfig, TimeSource};

/// The errors table's name when `ERRORS_TABLE` is not set.
pub const DEFAULT_ERRORS_TABLE: &str = "kafka_sink_errors";

/// Everything the error handler reads from its environment.
/// `Debug` shows no secret: [`Connection`] prints only the access key id.
#[derive(Clone, Debug)]
pub struct Config {
    /// Endpoints, project and credentials (with the role to assume, if any).
    pub connection: Connection,
    /// The errors table; created at cold start when missing.
    pub table: String,
    /// Routes each row by its time of failure; the time source is always that time.
    pub partition: PartitionConfig,
    /// This function's own name (for logs; rows name the function that gave up on a record).
    pub function_name: String,
}

/// A configuration variable that is missing or holds a value the handler cannot use.
pub type ConfigError = SettingError;

/// The error handler's own variable; the connection, credential and partition variables are the
/// sink's (`lambda_support::settings::vars`).
pub mod vars {
    pub use lambda_support::settings::vars::*;

    pub const ERRORS_TABLE: &str = "ERRORS_TABLE";
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`; empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(lookup);
        let get = |name: &str| env.get(name);
        let connection = Connection::read(&env)?;
        let table = get(vars::ERRORS_TABLE).unwrap_or_else(|| DEFAULT_ERRORS_TABLE.to_owned());
        check_name(vars::ERRORS_TABLE, &table)?;
        // The failure time is passed in as the only time: see `row::ErrorRow::failed_at_ms`.
        let partition = settings::partition(&env, TimeSource::EventTime)?;
        let function_name =
            get(vars::FUNCTION_NAME).unwrap_or_else(|| "kafka-maxcompute-error-handler".to_owned());

        Ok(Self {
            connection,
            table,
            partition,
            function_name,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use maxcompute_core::partition::{Granularity, ValueFormat};

    use super::*;

    fn config(extra: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut vars = vec![
            (vars::ENDPOINT, "http://127.0.0.1:8110/api"),
            (vars::PROJECT, "connector_test"),
            (vars::ACCESS_KEY_ID, "id"),
            (vars::ACCESS_KEY_SECRET, "very-secret"),
        ];
        vars.extend_from_slice(extra);
        Config::from_lookup(|name| {
            vars.iter()
                .rev()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn defaults_match_the_sink() {
        let c = config(&[]).unwrap();
        assert_eq!(c.table, "kafka_sink_errors");
        assert_eq!(c.partition.granularity, Granularity::Hour);
        assert_eq!(c.partition.zone.to_string(), "GMT+08:00");
        assert_eq!(c.partition.format, ValueFormat::Legacy);
        assert_eq!(c.partition.column, "pt");
        assert!(c.connection.assume_role.is_none());
        assert!(!format!("{c:?}").contains("very-secret"));
    }

    #[test]
    fn bad_values_name_their_variable() {
        let cases: [(&str, &str, &str); 5] = [
            (
                vars::ERRORS_TABLE,
                "errors-table",
                "ERRORS_TABLE=\"errors-table\"",
            ),
            (vars::PARTITION, "WEEK", "expected DAY, HOUR or MINUTE"),
            (vars::TIME_ZONE, "Mars/Base", "SINK_TIME_ZONE=\"Mars/Base\""),
            (
                vars::PARTITION_FORMAT,
                "yyyy",
                "SINK_PARTITION_FORMAT=\"yyyy\"",
            ),
            (
                vars::PARTITION_COLUMN,
                "1pt",
                "SINK_PARTITION_COLUMN=\"1pt\"",
            ),
        ];
        for (variable, value, expected) in cases {
            let err = config(&[(variable, value)]).unwrap_err().to_string();
            assert!(err.contains(expected), "{variable}: {err}");
        }
        let err = config(&[(vars::PROJECT, "")]).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Missing {
                variable: vars::PROJECT,
                ..
            }
        ));
        let err = config(&[(vars::ENDPOINT, "service.example.com")]).unwrap_err();
        assert!(err.to_string().starts_with("MAXCOMPUTE_ENDPOINT="), "{err}");
    }

    #[test]
    fn tokens_and_roles_are_read_like_the_sink_reads_them() {
        let c = config(&[
            (vars::SECURITY_TOKEN, "sts-token-value"),
            (vars::ROLE_ARN, "acs:ram::123:role/sink"),
            (vars::STS_ENDPOINT, "http://127.0.0.1:8110"),
            (vars::ERRORS_TABLE, "my_errors"),
            (vars::PARTITION_FORMAT, "ds=%Y%m%d/hh=%H"),
        ])
        .unwrap();
        assert_eq!(c.table, "my_errors");
        let role = c.connection.assume_role.unwrap();
        assert_eq!(role.endpoint, "http://127.0.0.1:8110");
        assert!(!format!("{:?}", c.connection.credentials).contains("sts-token-value"));
        let err = config(&[
            (vars::ROLE_ARN, "acs:ram::123:role/sink"),
            (vars::STS_ENDPOINT, "sts"),
        ])
        .unwrap_err();
        assert!(
            err.to_string().starts_with("ALIBABA_CLOUD_STS_ENDPOINT="),
            "{err}"
        );
    }
}
