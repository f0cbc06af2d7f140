//! The error handler's configuration: read once at cold start from the environment, typed and
//! validated.
//!
//! The MaxCompute, credential and partition variables have the sink's names and meanings, so one
//! set of settings serves both functions and the errors table is partitioned like the main
//! table. A wrong value stops the cold start with a [`ConfigError`] naming the variable, the value
//! and what is accepted. Reading goes through a lookup function so tests never touch the process
//! environment; secrets are kept in [`Secret`]s and never printed.

use std::fmt;

use shared::client::AssumeRoleConfig;
use shared::partition::{
    DEFAULT_PARTITION_COLUMN, Granularity, PartitionConfig, PartitionConfigError, PartitionRouter,
    TimeSource, ValueFormat, Zone,
};
use shared::signing::{Credentials, Secret};

/// The errors table's name when `ERRORS_TABLE` is not set.
pub const DEFAULT_ERRORS_TABLE: &str = "kafka_sink_errors";

/// Everything the error handler reads from its environment.
#[derive(Clone)]
pub struct Config {
    pub endpoint: String,
    pub tunnel_endpoint: Option<String>,
    pub project: String,
    /// The errors table; created at cold start when missing.
    pub table: String,
    pub credentials: Credentials,
    /// The seed's account + RAM role path: the credentials above assume this role.
    pub assume_role: Option<AssumeRoleConfig>,
    /// Routes each row by its time of failure; the time source is always that time.
    pub partition: PartitionConfig,
    /// This function's own name (for logs; rows name the function that gave up on a record).
    pub function_name: String,
}

impl fmt::Debug for Config {
    // Written out so that the credentials' redaction is visible here too.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("endpoint", &self.endpoint)
            .field("tunnel_endpoint", &self.tunnel_endpoint)
            .field("project", &self.project)
            .field("table", &self.table)
            .field("access_key_id", &self.credentials.access_key_id)
            .field("assume_role", &self.assume_role)
            .field("partition", &self.partition)
            .field("function_name", &self.function_name)
            .finish()
    }
}

/// A configuration variable that is missing or holds a value the handler cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{variable} is required: {accepted}")]
    Missing {
        variable: &'static str,
        accepted: &'static str,
    },
    #[error("{variable}={value:?} is not accepted: {reason}")]
    Invalid {
        variable: &'static str,
        value: String,
        reason: String,
    },
}

/// The variables, in one place.
pub mod vars {
    pub const ENDPOINT: &str = "MAXCOMPUTE_ENDPOINT";
    pub const TUNNEL_ENDPOINT: &str = "MAXCOMPUTE_TUNNEL_ENDPOINT";
    pub const PROJECT: &str = "MAXCOMPUTE_PROJECT";
    pub const ERRORS_TABLE: &str = "ERRORS_TABLE";
    pub const ACCESS_KEY_ID: &str = "ALIBABA_CLOUD_ACCESS_KEY_ID";
    pub const ACCESS_KEY_SECRET: &str = "ALIBABA_CLOUD_ACCESS_KEY_SECRET";
    pub const SECURITY_TOKEN: &str = "ALIBABA_CLOUD_SECURITY_TOKEN";
    pub const ROLE_ARN: &str = "ALIBABA_CLOUD_ROLE_ARN";
    pub const STS_ENDPOINT: &str = "ALIBABA_CLOUD_STS_ENDPOINT";
    pub const ROLE_SESSION_NAME: &str = "ALIBABA_CLOUD_ROLE_SESSION_NAME";
    pub const PARTITION: &str = "SINK_PARTITION";
    pub const TIME_ZONE: &str = "SINK_TIME_ZONE";
    pub const PARTITION_FORMAT: &str = "SINK_PARTITION_FORMAT";
    pub const PARTITION_COLUMN: &str = "SINK_PARTITION_COLUMN";
    /// Set by Lambda.
    pub const FUNCTION_NAME: &str = "AWS_LAMBDA_FUNCTION_NAME";
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`; empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let required = |variable: &'static str, accepted: &'static str| {
            get(variable).ok_or(ConfigError::Missing { variable, accepted })
        };

        let endpoint = required(
            vars::ENDPOINT,
            "the MaxCompute service endpoint, e.g. http://service.cn-hangzhou.maxcompute.aliyun.com/api",
        )?;
        check_url(vars::ENDPOINT, &endpoint)?;
        let tunnel_endpoint = get(vars::TUNNEL_ENDPOINT);
        if let Some(t) = &tunnel_endpoint {
            check_url(vars::TUNNEL_ENDPOINT, t)?;
        }
        let project = required(vars::PROJECT, "the MaxCompute project name")?;
        check_name(vars::PROJECT, &project)?;
        let table = get(vars::ERRORS_TABLE).unwrap_or_else(|| DEFAULT_ERRORS_TABLE.to_owned());
        check_name(vars::ERRORS_TABLE, &table)?;

        let access_key_id = required(vars::ACCESS_KEY_ID, "an AccessKey ID")?;
        let secret = required(vars::ACCESS_KEY_SECRET, "the AccessKey secret")?;
        let credentials = match get(vars::SECURITY_TOKEN) {
            Some(token) => Credentials::sts(access_key_id, Secret::new(secret), Secret::new(token)),
            None => Credentials::access_key(access_key_id, Secret::new(secret)),
        };
        let assume_role = assume_role(&get)?;

        let granularity: Granularity = match get(vars::PARTITION) {
            None => Granularity::default(),
            Some(v) => v.parse().map_err(|e| invalid(vars::PARTITION, &v, e))?,
        };
        let zone: Zone = match get(vars::TIME_ZONE) {
            Some(v) => v
                .parse()
                .map_err(|e: PartitionConfigError| invalid(vars::TIME_ZONE, &v, e))?,
            None => Zone::default(),
        };
        let format: ValueFormat = match get(vars::PARTITION_FORMAT) {
            None => ValueFormat::default(),
            Some(v) => v
                .parse()
                .map_err(|e| invalid(vars::PARTITION_FORMAT, &v, e))?,
        };
        let column =
            get(vars::PARTITION_COLUMN).unwrap_or_else(|| DEFAULT_PARTITION_COLUMN.to_owned());
        let partition = PartitionConfig {
            granularity,
            zone,
            format,
            column: column.clone(),
            // The failure time is passed in as the only time: see `row::ErrorRow::failed_at_ms`.
            time_source: TimeSource::EventTime,
        };
        // Building the router validates the column and the pattern together; name the variable
        // the error is about.
        PartitionRouter::new(&partition).map_err(|e| match &e {
            PartitionConfigError::Column(_) => invalid(vars::PARTITION_COLUMN, &column, e),
            _ => invalid(
                vars::PARTITION_FORMAT,
                &get(vars::PARTITION_FORMAT).unwrap_or_default(),
                e,
            ),
        })?;
        let function_name =
            get(vars::FUNCTION_NAME).unwrap_or_else(|| "kafka-maxcompute-error-handler".to_owned());

        Ok(Self {
            endpoint,
            tunnel_endpoint,
            project,
            table,
            credentials,
            assume_role,
            partition,
            function_name,
        })
    }
}

/// The role to assume, as the sink reads it.
fn assume_role(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Option<AssumeRoleConfig>, ConfigError> {
    let Some(role_arn) = get(vars::ROLE_ARN) else {
        return Ok(None);
    };
    let session_name =
        get(vars::ROLE_SESSION_NAME).unwrap_or_else(|| "kafka-maxcompute-sink".to_owned());
    let mut role = AssumeRoleConfig::new(role_arn.clone(), session_name.clone());
    if let Some(endpoint) = get(vars::STS_ENDPOINT) {
        check_url(vars::STS_ENDPOINT, &endpoint)?;
        role.endpoint = endpoint;
    }
    if let Err(e) = role.validate() {
        let (variable, value) = match &e {
            shared::client::Error::Config {
                what: "role_session_name",
                ..
            } => (vars::ROLE_SESSION_NAME, session_name),
            shared::client::Error::Config {
                what: "sts endpoint",
                ..
            } => (vars::STS_ENDPOINT, role.endpoint.clone()),
            _ => (vars::ROLE_ARN, role_arn),
        };
        return Err(invalid(variable, &value, e));
    }
    Ok(Some(role))
}

fn invalid(variable: &'static str, value: &str, reason: impl fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        variable,
        value: value.to_owned(),
        reason: reason.to_string(),
    }
}

fn check_url(variable: &'static str, value: &str) -> Result<(), ConfigError> {
    if value.starts_with("http://") || value.starts_with("https://") {
        Ok(())
    } else {
        Err(invalid(
            variable,
            value,
            "expected an http:// or https:// URL",
        ))
    }
}

fn check_name(variable: &'static str, value: &str) -> Result<(), ConfigError> {
    let ok = value.len() <= 128
        && value.starts_with(|c: char| c.is_ascii_alphabetic())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            variable,
            value,
            "expected a letter followed by letters, digits or underscores, at most 128 bytes",
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

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
        assert!(c.assume_role.is_none());
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
        let role = c.assume_role.unwrap();
        assert_eq!(role.endpoint, "http://127.0.0.1:8110");
        assert!(!format!("{:?}", c.credentials).contains("sts-token-value"));
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
