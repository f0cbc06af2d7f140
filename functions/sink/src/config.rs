//! The sink's configuration: read once at cold start from the environment, typed and validated.
//!
//! A wrong value stops the cold start with a [`ConfigError`] that names the variable, the value
//! and what is accepted. Reading goes through a lookup function so tests never touch the
//! process environment. Secrets are kept in [`maxcompute_core::signing::Secret`]s and never
//! printed.

use lambda_support::settings::{self, Connection, Env, SettingError, check_name, invalid};

use crate::error_topic::{AwsCredentials, KafkaSecurity, MskIam, SaslMechanism, TlsOptions};
use std::collections::BTreeMap;

use maxcompute_core::codec::{Codec, Compression};
use maxcompute_core::partition::{PartitionConfig, TimeSource};
use maxcompute_core::rows::infer::JsonNumber;
use maxcompute_core::rows::naming::TableTemplate;
use maxcompute_core::rows::{Format, Mode};

use crate::route::{AllowList, TableRouting};

/// Which Tunnel API writes the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TunnelKind {
    /// Stream upload: each write is visible at once, partitions are created by the server.
    #[default]
    Stream,
    /// Batch upload sessions: one session, block and commit per partition and invocation.
    Batch,
}

/// How rows are written: appended, or upserted into a Delta Table by their primary key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteMode {
    /// Upsert when the table is a Delta Table (transactional with a primary key), else append.
    #[default]
    Auto,
    /// Append through the tunnel of `SINK_TUNNEL`; a Delta Table stops the cold start.
    Append,
    /// Upsert sessions; a table that is not a Delta Table stops the cold start.
    Upsert,
}

/// What a partition write that MaxCompute refuses for good (a `Permanent.*` failure: a table
/// gone, a permission taken away, a schema changed under the sink) does to the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PermanentWriteErrors {
    /// The batch fails and the trigger retries it: bounded in provisioned mode, where the
    /// trigger's on-failure destination takes what it gives up on.
    #[default]
    Fail,
    /// The partition's records go to the error topic (class `write_refused`, with the error)
    /// and the batch goes on: for on-demand mode, where nothing bounds the trigger's retries and
    /// a failing batch would stall its Kafka partition until its records expire.
    ErrorTopic,
}

/// What happens to the columns of a table when records bring JSON fields it lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Evolve {
    /// Fields without a column are ignored (the table is the user's to change).
    #[default]
    None,
    /// A field without a column adds it (nullable, typed by the inference rule), and every
    /// value must fit its column's type (else the record is a `schema_mismatch` reject).
    AddColumns,
}

/// How a missing table is created (`SINK_CREATE_TABLE=true`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreateTable {
    /// `SINK_TABLE_LIFECYCLE`: days MaxCompute keeps a partition unchanged before dropping it.
    pub lifecycle_days: Option<u32>,
    /// `SINK_PRIMARY_KEY`: the key of a created Delta Table (`SINK_WRITE=upsert`); empty means
    /// (`topic`, `partition`, `offset`).
    pub primary_key: Vec<String>,
}

/// Everything the sink reads from its environment.
/// `Debug` shows no secret: [`Connection`] prints only the access key id.
#[derive(Clone, Debug)]
pub struct Config {
    /// Endpoints, project and credentials (with the role to assume, if any).
    pub connection: Connection,
    /// `MAXCOMPUTE_TABLE` as written (empty when only `SINK_TABLE_FIELD` names tables).
    pub table: String,
    /// Which table each record goes to.
    pub routing: TableRouting,
    /// `Some` when a missing table is created.
    pub create_table: Option<CreateTable>,
    pub evolve: Evolve,
    /// The column type of JSON numbers that are not 64-bit integers, for created and added
    /// columns.
    pub json_number: JsonNumber,
    pub mode: Mode,
    pub format: Format,
    pub partition: PartitionConfig,
    pub tunnel: TunnelKind,
    pub write: WriteMode,
    /// How uploads are compressed (`SINK_COMPRESS`, `SINK_COMPRESS_LEVEL`; zstd at level 3
    /// when unset); `None`: not at all (`SINK_COMPRESS=none`).
    pub compress: Option<Compression>,
    pub error_topic: Option<String>,
    /// Bootstrap servers of the error topic's cluster; `None` means the event's own.
    pub error_bootstrap_servers: Option<Vec<String>>,
    /// How to reach the error topic's cluster.
    pub error_security: KafkaSecurity,
    pub partial_batch: bool,
    pub permanent_write_errors: PermanentWriteErrors,
    /// The function's name, written into error-topic headers.
    pub function_name: String,
}

/// A configuration variable that is missing or holds a value the sink cannot use.
pub type ConfigError = SettingError;

/// The sink's own variables; the MaxCompute connection, credential and partition variables are
/// `lambda_support::settings::vars`, read by both functions.
pub mod vars {
    pub use lambda_support::settings::vars::*;

    pub const TABLE: &str = "MAXCOMPUTE_TABLE";
    pub const MODE: &str = "SINK_MODE";
    pub const FORMAT: &str = "SINK_FORMAT";
    pub const PARTITION_TIME: &str = "SINK_PARTITION_TIME";
    pub const TUNNEL: &str = "SINK_TUNNEL";
    pub const WRITE: &str = "SINK_WRITE";
    pub const COMPRESS: &str = "SINK_COMPRESS";
    pub const COMPRESS_LEVEL: &str = "SINK_COMPRESS_LEVEL";
    pub const ERROR_TOPIC: &str = "SINK_ERROR_TOPIC";
    pub const ERROR_BOOTSTRAP_SERVERS: &str = "SINK_ERROR_BOOTSTRAP_SERVERS";
    pub const ERROR_SECURITY_PROTOCOL: &str = "SINK_ERROR_SECURITY_PROTOCOL";
    pub const ERROR_SASL_MECHANISM: &str = "SINK_ERROR_SASL_MECHANISM";
    pub const ERROR_SASL_USERNAME: &str = "SINK_ERROR_SASL_USERNAME";
    pub const ERROR_SASL_PASSWORD: &str = "SINK_ERROR_SASL_PASSWORD";
    /// A Secrets Manager secret holding `{"username", "password"}`, instead of the two above.
    pub const ERROR_SASL_SECRET: &str = "SINK_ERROR_SASL_SECRET";
    pub const ERROR_TLS_CA_FILE: &str = "SINK_ERROR_TLS_CA_FILE";
    /// Lambda's own variables, read for SINK_ERROR_SASL_MECHANISM=AWS_MSK_IAM (with
    /// `AWS_SESSION_TOKEN`, which the shared variables hold for the secrets extension).
    pub const AWS_ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
    pub const AWS_SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
    pub const AWS_REGION: &str = "AWS_REGION";
    pub const PARTIAL_BATCH: &str = "SINK_PARTIAL_BATCH";
    pub const PERMANENT_WRITE_ERRORS: &str = "SINK_PERMANENT_WRITE_ERRORS";
    pub const TABLE_FIELD: &str = "SINK_TABLE_FIELD";
    pub const TABLE_ALLOW: &str = "SINK_TABLE_ALLOW";
    pub const CREATE_TABLE: &str = "SINK_CREATE_TABLE";
    pub const TABLE_LIFECYCLE: &str = "SINK_TABLE_LIFECYCLE";
    pub const PRIMARY_KEY: &str = "SINK_PRIMARY_KEY";
    pub const JSON_NUMBER: &str = "SINK_JSON_NUMBER";
    pub const EVOLVE: &str = "SINK_EVOLVE";
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
        let table = get(vars::TABLE).unwrap_or_default();
        let routing = routing(&table, get(vars::TABLE_FIELD), get(vars::TABLE_ALLOW))?;

        let (mode, format) = mode_and_format(&env)?;
        let time_source = match get(vars::PARTITION_TIME) {
            None => TimeSource::default(),
            Some(v) => parse_time_source(&v)?,
        };
        let partition = settings::partition(&env, time_source)?;

        let tunnel = choose(
            vars::TUNNEL,
            get(vars::TUNNEL),
            &[("stream", TunnelKind::Stream), ("batch", TunnelKind::Batch)],
        )?;
        let write = choose(
            vars::WRITE,
            get(vars::WRITE),
            &[
                ("auto", WriteMode::Auto),
                ("append", WriteMode::Append),
                ("upsert", WriteMode::Upsert),
            ],
        )?;
        let write = changes_write_mode(format, mode, write)?;
        let compress = compression(get(vars::COMPRESS), get(vars::COMPRESS_LEVEL))?;
        let ErrorTopic {
            topic: error_topic,
            bootstrap_servers: error_bootstrap_servers,
            security: error_security,
            permanent_write_errors,
        } = ErrorTopic::read(&get)?;
        let partial_batch = env.bool_or(vars::PARTIAL_BATCH, false)?;
        let function_name =
            get(vars::FUNCTION_NAME).unwrap_or_else(|| "kafka-maxcompute-sink".to_owned());
        let json_number = choose(
            vars::JSON_NUMBER,
            get(vars::JSON_NUMBER),
            &[
                ("double", JsonNumber::Double),
                ("decimal", JsonNumber::Decimal),
            ],
        )?;
        let evolve = evolve(get(vars::EVOLVE), format)?;
        let create_table = create_table(&env, format, write)?;
        if format == Format::Debezium {
            check_mirror(&table, &routing, create_table.as_ref())?;
        }

        Ok(Self {
            connection,
            table,
            routing,
            create_table,
            evolve,
            json_number,
            mode,
            format,
            partition,
            tunnel,
            write,
            compress,
            error_topic,
            error_bootstrap_servers,
            error_security,
            partial_batch,
            permanent_write_errors,
            function_name,
        })
    }
}

/// `SINK_MODE` and `SINK_FORMAT`, which CSV takes only in the modes that read one field.
fn mode_and_format(
    env: &Env<impl Fn(&str) -> Option<String>>,
) -> Result<(Mode, Format), ConfigError> {
    let mode: Mode = env.parse_or_default(vars::MODE)?;
    let format: Format = env.parse_or_default(vars::FORMAT)?;
    if format == Format::Csv && mode == Mode::Default {
        return Err(invalid(
            vars::FORMAT,
            "CSV",
            "CSV needs SINK_MODE=KEY or SINK_MODE=VALUE (it fills the table's columns from one field), not DEFAULT",
        ));
    }
    Ok((mode, format))
}

/// `SINK_EVOLVE`: columns come from JSON fields, so only SINK_FORMAT=JSON adds them.
fn evolve(value: Option<String>, format: Format) -> Result<Evolve, ConfigError> {
    let evolve = choose(
        vars::EVOLVE,
        value,
        &[("none", Evolve::None), ("add-columns", Evolve::AddColumns)],
    )?;
    if evolve == Evolve::AddColumns && format != Format::Json {
        return Err(invalid(
            vars::EVOLVE,
            "add-columns",
            "add-columns needs SINK_FORMAT=JSON (columns come from JSON fields)",
        ));
    }
    Ok(evolve)
}

/// A mirror has the source's key and columns, and one source table's changes go to one table:
/// SINK_FORMAT=DEBEZIUM takes no routing, and no table made up from records.
fn check_mirror(
    table: &str,
    routing: &TableRouting,
    create_table: Option<&CreateTable>,
) -> Result<(), ConfigError> {
    if routing.fixed().is_none() {
        return Err(invalid(
            vars::TABLE,
            table,
            "SINK_FORMAT=DEBEZIUM mirrors into one table: give MAXCOMPUTE_TABLE a table name, without SINK_TABLE_FIELD",
        ));
    }
    if create_table.is_some() {
        return Err(invalid(
            vars::CREATE_TABLE,
            "true",
            "SINK_FORMAT=DEBEZIUM writes a Delta Table with the source's key, which the sink does not create: leave SINK_CREATE_TABLE unset",
        ));
    }
    Ok(())
}

/// The error topic's variables.
struct ErrorTopic {
    topic: Option<String>,
    bootstrap_servers: Option<Vec<String>>,
    security: KafkaSecurity,
    permanent_write_errors: PermanentWriteErrors,
}

impl ErrorTopic {
    fn read(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let topic = get(vars::ERROR_TOPIC);
        if let Some(topic) = &topic {
            check_topic(vars::ERROR_TOPIC, topic)?;
        }
        let bootstrap_servers = get(vars::ERROR_BOOTSTRAP_SERVERS).map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        });
        let permanent_write_errors = choose(
            vars::PERMANENT_WRITE_ERRORS,
            get(vars::PERMANENT_WRITE_ERRORS),
            &[
                ("fail", PermanentWriteErrors::Fail),
                ("error-topic", PermanentWriteErrors::ErrorTopic),
            ],
        )?;
        if permanent_write_errors == PermanentWriteErrors::ErrorTopic && topic.is_none() {
            return Err(invalid(
                vars::PERMANENT_WRITE_ERRORS,
                "error-topic",
                "error-topic needs SINK_ERROR_TOPIC",
            ));
        }
        Ok(Self {
            topic,
            bootstrap_servers,
            security: error_security(get)?,
            permanent_write_errors,
        })
    }
}

/// `MAXCOMPUTE_TABLE` (a name, a `${topic}` template, or `topic=table` pairs) with
/// `SINK_TABLE_FIELD` and its required `SINK_TABLE_ALLOW`.
fn routing(
    table: &str,
    field: Option<String>,
    allow: Option<String>,
) -> Result<TableRouting, ConfigError> {
    if let Some(field) = field {
        let Some(pattern) = allow else {
            return Err(ConfigError::Missing {
                variable: vars::TABLE_ALLOW,
                accepted: "a regular expression every routed table name must match whole (required with SINK_TABLE_FIELD)",
            });
        };
        let allow = AllowList::new(&pattern).map_err(|e| {
            invalid(
                vars::TABLE_ALLOW,
                &pattern,
                format!("not a regular expression: {e}"),
            )
        })?;
        let default = if table.is_empty() {
            None
        } else {
            check_name(vars::TABLE, table)?;
            Some(table.to_ascii_lowercase())
        };
        return Ok(TableRouting::Field {
            field,
            allow,
            default,
        });
    }
    if allow.is_some() {
        return Err(invalid(
            vars::TABLE_ALLOW,
            "(set)",
            "SINK_TABLE_ALLOW checks the tables SINK_TABLE_FIELD names; set SINK_TABLE_FIELD too",
        ));
    }
    if table.is_empty() {
        return Err(ConfigError::Missing {
            variable: vars::TABLE,
            accepted: "the destination table: a name, a template such as ods_${topic}, or topicA=table_a,topicB=table_b",
        });
    }
    if table.contains('=') {
        let mut tables = BTreeMap::new();
        for pair in table.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((topic, name)) = pair.split_once('=') else {
                return Err(invalid(
                    vars::TABLE,
                    pair,
                    "expected topic=table pairs, separated by commas",
                ));
            };
            let (topic, name) = (topic.trim(), name.trim());
            check_topic(vars::TABLE, topic)?;
            check_name(vars::TABLE, name)?;
            if tables
                .insert(topic.to_owned(), name.to_ascii_lowercase())
                .is_some()
            {
                return Err(invalid(vars::TABLE, topic, "this topic is listed twice"));
            }
        }
        return Ok(TableRouting::Topics(tables));
    }
    match TableTemplate::parse(table) {
        Ok(Some(template)) => Ok(TableRouting::Template(template)),
        Ok(None) => {
            check_name(vars::TABLE, table)?;
            Ok(TableRouting::Fixed(table.to_ascii_lowercase()))
        }
        Err(e) => Err(invalid(vars::TABLE, table, e)),
    }
}

/// `SINK_CREATE_TABLE` with `SINK_TABLE_LIFECYCLE` and `SINK_PRIMARY_KEY`.
fn create_table(
    env: &Env<impl Fn(&str) -> Option<String>>,
    format: Format,
    write: WriteMode,
) -> Result<Option<CreateTable>, ConfigError> {
    let lifecycle = env.get(vars::TABLE_LIFECYCLE);
    let key = env.get(vars::PRIMARY_KEY);
    if !env.bool_or(vars::CREATE_TABLE, false)? {
        for (variable, value) in [
            (vars::TABLE_LIFECYCLE, &lifecycle),
            (vars::PRIMARY_KEY, &key),
        ] {
            if let Some(v) = value {
                return Err(invalid(
                    variable,
                    v,
                    "applies to created tables: set SINK_CREATE_TABLE=true too",
                ));
            }
        }
        return Ok(None);
    }
    if format == Format::Csv {
        return Err(invalid(
            vars::CREATE_TABLE,
            "true",
            "CSV fills a table's columns by position, which the sink cannot guess: create the table yourself",
        ));
    }
    let lifecycle_days = match lifecycle {
        None => None,
        Some(text) => Some(
            text.trim()
                .parse::<u32>()
                .ok()
                .filter(|d| *d > 0)
                .ok_or_else(|| {
                    invalid(
                        vars::TABLE_LIFECYCLE,
                        &text,
                        "expected a number of days, at least 1",
                    )
                })?,
        ),
    };
    let mut primary_key = Vec::new();
    if let Some(text) = key {
        if write != WriteMode::Upsert {
            return Err(invalid(
                vars::PRIMARY_KEY,
                &text,
                "a primary key makes a Delta Table: set SINK_WRITE=upsert too",
            ));
        }
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            check_name(vars::PRIMARY_KEY, name)?;
            primary_key.push(name.to_ascii_lowercase());
        }
    }
    Ok(Some(CreateTable {
        lifecycle_days,
        primary_key,
    }))
}

/// The choice `value` names among `choices` (any case), the type's default when unset, or an
/// error naming `variable` and every accepted name.
fn choose<T: Copy + Default>(
    variable: &'static str,
    value: Option<String>,
    choices: &[(&str, T)],
) -> Result<T, ConfigError> {
    let Some(value) = value else {
        return Ok(T::default());
    };
    if let Some((_, choice)) = choices
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(&value))
    {
        return Ok(*choice);
    }
    let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
    let expected = match names.split_last() {
        Some((last, [])) => format!("expected {last}"),
        Some((last, rest)) => format!("expected {} or {last}", rest.join(", ")),
        None => "expected nothing".to_owned(),
    };
    Err(invalid(variable, &value.to_ascii_lowercase(), &expected))
}

/// The error topic's security settings, named as Kafka clients name them.
fn error_security(get: &impl Fn(&str) -> Option<String>) -> Result<KafkaSecurity, ConfigError> {
    let protocol = get(vars::ERROR_SECURITY_PROTOCOL)
        .unwrap_or_else(|| "PLAINTEXT".to_owned())
        .to_ascii_uppercase();
    match protocol.as_str() {
        "PLAINTEXT" => Ok(KafkaSecurity::Plaintext),
        "SSL" => Ok(KafkaSecurity::Tls(tls_options(get)?)),
        "SASL_SSL" => sasl_security(get),
        other => Err(invalid(
            vars::ERROR_SECURITY_PROTOCOL,
            other,
            "expected PLAINTEXT, SSL or SASL_SSL",
        )),
    }
}

/// `SINK_ERROR_TLS_CA_FILE`, read now so that a path that cannot be read stops the cold start.
fn tls_options(get: &impl Fn(&str) -> Option<String>) -> Result<TlsOptions, ConfigError> {
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
}

/// SASL over TLS: the mechanism, then its credentials (a user and password, a Secrets Manager
/// secret, or for AWS_MSK_IAM the function role's).
fn sasl_security(get: &impl Fn(&str) -> Option<String>) -> Result<KafkaSecurity, ConfigError> {
    let mechanism = get(vars::ERROR_SASL_MECHANISM)
        .unwrap_or_else(|| "SCRAM-SHA-512".to_owned())
        .to_ascii_uppercase();
    let mechanism = match mechanism.as_str() {
        "PLAIN" => SaslMechanism::Plain,
        "SCRAM-SHA-256" => SaslMechanism::ScramSha256,
        "SCRAM-SHA-512" => SaslMechanism::ScramSha512,
        "AWS_MSK_IAM" => {
            return Ok(KafkaSecurity::MskIam {
                iam: msk_iam(get)?,
                tls: tls_options(get)?,
            });
        }
        other => {
            return Err(invalid(
                vars::ERROR_SASL_MECHANISM,
                other,
                "expected PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or AWS_MSK_IAM",
            ));
        }
    };
    if let Some(secret_id) = get(vars::ERROR_SASL_SECRET) {
        for variable in [vars::ERROR_SASL_USERNAME, vars::ERROR_SASL_PASSWORD] {
            if get(variable).is_some() {
                return Err(invalid(
                    variable,
                    "(set)",
                    "set either SINK_ERROR_SASL_SECRET or the SASL user and password, not both",
                ));
            }
        }
        return Ok(KafkaSecurity::SaslTlsSecret {
            mechanism,
            extension: settings::secrets_extension(
                &Env(|name: &str| get(name)),
                vars::ERROR_SASL_SECRET,
            )?,
            secret_id,
            tls: tls_options(get)?,
        });
    }
    let username = get(vars::ERROR_SASL_USERNAME).ok_or(ConfigError::Missing {
        variable: vars::ERROR_SASL_USERNAME,
        accepted: "the SASL user name (or SINK_ERROR_SASL_SECRET), with SINK_ERROR_SECURITY_PROTOCOL=SASL_SSL and a PLAIN or SCRAM mechanism",
    })?;
    let password = get(vars::ERROR_SASL_PASSWORD).ok_or(ConfigError::Missing {
        variable: vars::ERROR_SASL_PASSWORD,
        accepted: "the SASL password (or SINK_ERROR_SASL_SECRET), with SINK_ERROR_SECURITY_PROTOCOL=SASL_SSL and a PLAIN or SCRAM mechanism",
    })?;
    Ok(KafkaSecurity::SaslTls {
        mechanism,
        username,
        password,
        tls: tls_options(get)?,
    })
}

/// AWS_MSK_IAM signs with the function role's credentials, which Lambda puts in the
/// environment; there is no user name or password.
fn msk_iam(get: &impl Fn(&str) -> Option<String>) -> Result<MskIam, ConfigError> {
    const FROM_LAMBDA: &str =
        "set by Lambda from the function's role, with SINK_ERROR_SASL_MECHANISM=AWS_MSK_IAM";
    let required = |variable: &'static str| {
        get(variable).ok_or(ConfigError::Missing {
            variable,
            accepted: FROM_LAMBDA,
        })
    };
    Ok(MskIam {
        credentials: AwsCredentials {
            access_key_id: required(vars::AWS_ACCESS_KEY_ID)?,
            secret_access_key: required(vars::AWS_SECRET_ACCESS_KEY)?,
            session_token: get(vars::AWS_SESSION_TOKEN),
        },
        region: required(vars::AWS_REGION)?,
    })
}

/// SINK_FORMAT=DEBEZIUM upserts and deletes rows by the table's primary key, so it implies
/// SINK_WRITE=upsert (unset and `auto` mean upsert; a table that is not a Delta Table then stops
/// the cold start), and it reads the record's value and key, so it takes the default mode.
fn changes_write_mode(
    format: Format,
    mode: Mode,
    write: WriteMode,
) -> Result<WriteMode, ConfigError> {
    if format != Format::Debezium {
        return Ok(write);
    }
    if mode != Mode::Default {
        return Err(invalid(
            vars::MODE,
            &mode.to_string(),
            "SINK_FORMAT=DEBEZIUM reads the change from the value and the key from the key: leave SINK_MODE unset or DEFAULT",
        ));
    }
    match write {
        WriteMode::Append => Err(invalid(
            vars::WRITE,
            "append",
            "SINK_FORMAT=DEBEZIUM upserts and deletes rows by primary key: leave SINK_WRITE unset, or set auto or upsert",
        )),
        WriteMode::Auto | WriteMode::Upsert => Ok(WriteMode::Upsert),
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

/// The codec when `SINK_COMPRESS` is unset. Measured through a WAN of 60 ms RTT and 20 MB/s
/// (`scripts/bench-wan.sh`), zstd at pyodps's level 3 sent the fewest bytes and gave the
/// shortest stream-tunnel invocations (README, "Compression").
const DEFAULT_CODEC: Codec = Codec::Zstd;

/// `SINK_COMPRESS` (a codec, `none`, or the older `true` for deflate and `false` for none;
/// [`DEFAULT_CODEC`] when unset) and `SINK_COMPRESS_LEVEL` (the codec's level; pyodps's default
/// when unset).
fn compression(
    codec: Option<String>,
    level: Option<String>,
) -> Result<Option<Compression>, ConfigError> {
    let Some(name) = codec.as_deref().map(str::trim) else {
        return compression_level(Some(DEFAULT_CODEC), level);
    };
    let codec = match name.to_ascii_lowercase().as_str() {
        "none" | "false" | "0" => None,
        "true" | "1" => Some(Codec::Deflate),
        _ => Some(name.parse::<Codec>().map_err(|_| {
            invalid(
                vars::COMPRESS,
                name,
                "expected none, deflate, zstd, lz4 or snappy (true means deflate, false none)",
            )
        })?),
    };
    compression_level(codec, level)
}

/// The codec with `SINK_COMPRESS_LEVEL` applied.
fn compression_level(
    codec: Option<Codec>,
    level: Option<String>,
) -> Result<Option<Compression>, ConfigError> {
    let level = match level.as_deref().map(str::trim) {
        None => None,
        Some(text) => Some(
            text.parse::<i32>()
                .map_err(|_| invalid(vars::COMPRESS_LEVEL, text, "expected an integer level"))?,
        ),
    };
    match (codec, level) {
        (None, None) => Ok(None),
        (None, Some(l)) => Err(invalid(
            vars::COMPRESS_LEVEL,
            &l.to_string(),
            "a level needs SINK_COMPRESS set to deflate, zstd or lz4",
        )),
        (Some(codec), level) => Compression::new(codec, level).map(Some).map_err(|e| {
            let value = level.map_or_else(String::new, |l| l.to_string());
            let accepted = match codec.levels() {
                Some(_) => e.to_string(),
                None => format!("{e}: leave SINK_COMPRESS_LEVEL unset"),
            };
            invalid(vars::COMPRESS_LEVEL, &value, accepted)
        }),
    }
}
