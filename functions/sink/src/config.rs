//! The sink's configuration: read once at cold start from the environment, typed and validated.
//!
//! A wrong value stops the cold start with a [`ConfigError`] that names the variable, the value
//! and what is accepted. Reading goes through a lookup function so tests never touch the
//! process environment. Secrets are kept in [`Secret`]s and never printed.

use std::fmt;

use shared::client::AssumeRoleConfig;

use crate::error_topic::{KafkaSecurity, SaslMechanism, TlsOptions};
use shared::partition::{Granularity, PartitionConfig, TimeSource, ValueFormat, Zone};
use shared::rows::{Format, Mode};
use shared::signing::{Credentials, Secret};

/// Which Tunnel API writes the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TunnelKind {
    /// Stream upload: each write is visible at once, partitions are created by the server.
    #[default]
    Stream,
    /// Batch upload sessions: one session, block and commit per partition and invocation.
    Batch,
}

/// Everything the sink reads from its environment.
#[derive(Clone)]
pub struct Config {
    pub endpoint: String,
    pub tunnel_endpoint: Option<String>,
    pub project: String,
    pub table: String,
    pub credentials: Credentials,
    /// The seed's account + RAM role path: the credentials above assume this role.
    pub assume_role: Option<AssumeRoleConfig>,
    pub mode: Mode,
    pub format: Format,
    pub partition: PartitionConfig,
    pub tunnel: TunnelKind,
    pub compress: bool,
    pub error_topic: Option<String>,
    /// Bootstrap servers of the error topic's cluster; `None` means the event's own.
    pub error_bootstrap_servers: Option<Vec<String>>,
    /// How to reach the error topic's cluster.
    pub error_security: KafkaSecurity,
    pub partial_batch: bool,
    /// The function's name, written into error-topic headers.
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
            .field("mode", &self.mode)
            .field("format", &self.format)
            .field("partition", &self.partition)
            .field("tunnel", &self.tunnel)
            .field("compress", &self.compress)
            .field("error_topic", &self.error_topic)
            .field("error_bootstrap_servers", &self.error_bootstrap_servers)
            .field("error_security", &self.error_security)
            .field("partial_batch", &self.partial_batch)
            .field("function_name", &self.function_name)
            .finish()
    }
}

/// A configuration variable that is missing or holds a value the sink cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{variable} is required: {accepted}")]
    Missing {
        variable: &'static str,
        accepted: &'static str,
    },
    /// `value` is empty for secrets, which are never echoed.
    #[error("{variable}={value:?} is not accepted: {reason}")]
    Invalid {
        variable: &'static str,
        value: String,
        reason: String,
    },
}

/// The variables, in one place so the README's table and the code can be checked side by side.
pub mod vars {
    pub const ENDPOINT: &str = "MAXCOMPUTE_ENDPOINT";
    pub const TUNNEL_ENDPOINT: &str = "MAXCOMPUTE_TUNNEL_ENDPOINT";
    pub const PROJECT: &str = "MAXCOMPUTE_PROJECT";
    pub const TABLE: &str = "MAXCOMPUTE_TABLE";
    pub const ACCESS_KEY_ID: &str = "ALIBABA_CLOUD_ACCESS_KEY_ID";
    pub const ACCESS_KEY_SECRET: &str = "ALIBABA_CLOUD_ACCESS_KEY_SECRET";
    pub const SECURITY_TOKEN: &str = "ALIBABA_CLOUD_SECURITY_TOKEN";
    pub const ROLE_ARN: &str = "ALIBABA_CLOUD_ROLE_ARN";
    pub const STS_ENDPOINT: &str = "ALIBABA_CLOUD_STS_ENDPOINT";
    pub const ROLE_SESSION_NAME: &str = "ALIBABA_CLOUD_ROLE_SESSION_NAME";
    pub const MODE: &str = "SINK_MODE";
    pub const FORMAT: &str = "SINK_FORMAT";
    pub const PARTITION: &str = "SINK_PARTITION";
    pub const TIME_ZONE: &str = "SINK_TIME_ZONE";
    pub const PARTITION_TIME: &str = "SINK_PARTITION_TIME";
    pub const PARTITION_FORMAT: &str = "SINK_PARTITION_FORMAT";
    pub const PARTITION_COLUMN: &str = "SINK_PARTITION_COLUMN";
    pub const TUNNEL: &str = "SINK_TUNNEL";
    pub const COMPRESS: &str = "SINK_COMPRESS";
    pub const ERROR_TOPIC: &str = "SINK_ERROR_TOPIC";
    pub const ERROR_BOOTSTRAP_SERVERS: &str = "SINK_ERROR_BOOTSTRAP_SERVERS";
    pub const ERROR_SECURITY_PROTOCOL: &str = "SINK_ERROR_SECURITY_PROTOCOL";
    pub const ERROR_SASL_MECHANISM: &str = "SINK_ERROR_SASL_MECHANISM";
    pub const ERROR_SASL_USERNAME: &str = "SINK_ERROR_SASL_USERNAME";
    pub const ERROR_SASL_PASSWORD: &str = "SINK_ERROR_SASL_PASSWORD";
    pub const ERROR_TLS_CA_FILE: &str = "SINK_ERROR_TLS_CA_FILE";
    pub const PARTIAL_BATCH: &str = "SINK_PARTIAL_BATCH";
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
        let table = required(vars::TABLE, "the destination table name")?;
        check_name(vars::TABLE, &table)?;

        let access_key_id = required(vars::ACCESS_KEY_ID, "an AccessKey ID")?;
        let secret = required(vars::ACCESS_KEY_SECRET, "the AccessKey secret")?;
        let credentials = match get(vars::SECURITY_TOKEN) {
            Some(token) => Credentials::sts(access_key_id, Secret::new(secret), Secret::new(token)),
            None => Credentials::access_key(access_key_id, Secret::new(secret)),
        };
        let assume_role = match get(vars::ROLE_ARN) {
            None => None,
            Some(role_arn) => {
                let session_name = get(vars::ROLE_SESSION_NAME)
                    .unwrap_or_else(|| "kafka-maxcompute-sink".to_owned());
                let mut role = AssumeRoleConfig::new(role_arn.clone(), session_name.clone());
                if let Some(endpoint) = get(vars::STS_ENDPOINT) {
                    check_url(vars::STS_ENDPOINT, &endpoint)?;
                    role.endpoint = endpoint;
                }
                if let Err(e) = role.validate() {
                    // Name the variable that holds the field the error is about.
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
                Some(role)
            }
        };

        let mode: Mode = parse_or_default(&get, vars::MODE)?;
        let format: Format = parse_or_default(&get, vars::FORMAT)?;
        if format == Format::Csv && mode == Mode::Default {
            return Err(invalid(
                vars::FORMAT,
                "CSV",
                "CSV needs SINK_MODE=KEY or SINK_MODE=VALUE (it fills the table's columns from one field), not DEFAULT",
            ));
        }
        let granularity: Granularity = parse_or_default(&get, vars::PARTITION)?;
        let zone: Zone = match get(vars::TIME_ZONE) {
            Some(v) => v
                .parse()
                .map_err(|e: shared::partition::PartitionConfigError| {
                    invalid(vars::TIME_ZONE, &v, e)
                })?,
            None => "GMT+08:00"
                .parse()
                .map_err(|e| invalid(vars::TIME_ZONE, "GMT+08:00", e))?,
        };
        let time_source = match get(vars::PARTITION_TIME) {
            None => TimeSource::default(),
            Some(v) => parse_time_source(&v)?,
        };
        let format_pattern: ValueFormat = parse_or_default(&get, vars::PARTITION_FORMAT)?;
        let column = get(vars::PARTITION_COLUMN)
            .unwrap_or_else(|| shared::partition::DEFAULT_PARTITION_COLUMN.to_owned());
        let partition = PartitionConfig {
            granularity,
            zone,
            format: format_pattern,
            column,
            time_source,
        };
        // Building the router validates the column and the pattern together.
        shared::partition::PartitionRouter::new(&partition).map_err(|e| {
            invalid(
                vars::PARTITION_FORMAT,
                &get(vars::PARTITION_FORMAT).unwrap_or_default(),
                e,
            )
        })?;

        let tunnel = match get(vars::TUNNEL).as_deref().map(str::to_ascii_lowercase) {
            None => TunnelKind::default(),
            Some(v) if v == "stream" => TunnelKind::Stream,
            Some(v) if v == "batch" => TunnelKind::Batch,
            Some(v) => return Err(invalid(vars::TUNNEL, &v, "expected stream or batch")),
        };
        let compress = parse_bool(&get, vars::COMPRESS, false)?;
        let error_topic = get(vars::ERROR_TOPIC);
        if let Some(topic) = &error_topic {
            check_topic(vars::ERROR_TOPIC, topic)?;
        }
        let error_bootstrap_servers = get(vars::ERROR_BOOTSTRAP_SERVERS).map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        });
        let error_security = error_security(&get)?;
        let partial_batch = parse_bool(&get, vars::PARTIAL_BATCH, false)?;
        let function_name =
            get(vars::FUNCTION_NAME).unwrap_or_else(|| "kafka-maxcompute-sink".to_owned());

        Ok(Self {
            endpoint,
            tunnel_endpoint,
            project,
            table,
            credentials,
            assume_role,
            mode,
            format,
            partition,
            tunnel,
            compress,
            error_topic,
            error_bootstrap_servers,
            error_security,
            partial_batch,
            function_name,
        })
    }
}

/// The error topic's security settings, named as Kafka clients name them.
fn error_security(get: &impl Fn(&str) -> Option<String>) -> Result<KafkaSecurity, ConfigError> {
    let tls = || -> Result<TlsOptions, ConfigError> {
        let ca_pem = match get(vars::ERROR_TLS_CA_FILE) {
            None => None,
            Some(path) => Some(std::fs::read(&path).map_err(|e| {
                invalid(
                    vars::ERROR_TLS_CA_FILE,
                    &path,
                    format!("cannot read it: {e}"),
                )
            })?),
        };
        Ok(TlsOptions { ca_pem })
    };
    let protocol = get(vars::ERROR_SECURITY_PROTOCOL)
        .unwrap_or_else(|| "PLAINTEXT".to_owned())
        .to_ascii_uppercase();
    match protocol.as_str() {
        "PLAINTEXT" => Ok(KafkaSecurity::Plaintext),
        "SSL" => Ok(KafkaSecurity::Tls(tls()?)),
        "SASL_SSL" => {
            let mechanism = match get(vars::ERROR_SASL_MECHANISM)
                .unwrap_or_else(|| "SCRAM-SHA-512".to_owned())
                .to_ascii_uppercase()
                .as_str()
            {
                "PLAIN" => SaslMechanism::Plain,
                "SCRAM-SHA-256" => SaslMechanism::ScramSha256,
                "SCRAM-SHA-512" => SaslMechanism::ScramSha512,
                other => {
                    return Err(invalid(
                        vars::ERROR_SASL_MECHANISM,
                        other,
                        "expected PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
                    ));
                }
            };
            let username = get(vars::ERROR_SASL_USERNAME).ok_or(ConfigError::Missing {
                variable: vars::ERROR_SASL_USERNAME,
                accepted: "the SASL user name, with SINK_ERROR_SECURITY_PROTOCOL=SASL_SSL",
            })?;
            let password = get(vars::ERROR_SASL_PASSWORD).ok_or(ConfigError::Missing {
                variable: vars::ERROR_SASL_PASSWORD,
                accepted: "the SASL password, with SINK_ERROR_SECURITY_PROTOCOL=SASL_SSL",
            })?;
            Ok(KafkaSecurity::SaslTls {
                mechanism,
                username,
                password,
                tls: tls()?,
            })
        }
        other => Err(invalid(
            vars::ERROR_SECURITY_PROTOCOL,
            other,
            "expected PLAINTEXT, SSL or SASL_SSL",
        )),
    }
}

fn invalid(variable: &'static str, value: &str, reason: impl fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        variable,
        value: value.to_owned(),
        reason: reason.to_string(),
    }
}

fn parse_or_default<T>(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + Default,
    T::Err: fmt::Display,
{
    match get(variable) {
        None => Ok(T::default()),
        Some(v) => v.parse().map_err(|e| invalid(variable, &v, e)),
    }
}

fn parse_bool(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match get(variable).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if v == "true" || v == "1" => Ok(true),
        Some(v) if v == "false" || v == "0" => Ok(false),
        Some(v) => Err(invalid(variable, &v, "expected true or false")),
    }
}

/// The spelling (`record`, `processing`) and the router's own names are all accepted.
fn parse_time_source(value: &str) -> Result<TimeSource, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "record" | "event" | "event_time" => Ok(TimeSource::EventTime),
        "processing" | "processing_time" => Ok(TimeSource::ProcessingTime),
        _ => Err(invalid(
            vars::PARTITION_TIME,
            value,
            "expected record (the record's timestamp) or processing (the time of the write)",
        )),
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

fn check_topic(variable: &'static str, value: &str) -> Result<(), ConfigError> {
    let ok = value.len() <= 249
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            variable,
            value,
            "expected a Kafka topic name: letters, digits, `.`, `_` and `-`, at most 249 characters",
        ))
    }
}
