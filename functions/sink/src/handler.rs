//! One invocation of the sink, as plan, write, answer: the event decoded once, the plan
//! (rows per partition, encoded once, in write order, plus rejects) made by the pure
//! [`Planner`], rejects delivered before any row is written (if they cannot go anywhere the
//! batch fails, and a retry writes nothing twice), the partitions written by the
//! [`TableWriter`], the records refused for good delivered, and the pure answer
//! ([`answer::tally`]). A record that can never be written is a reject, never a failed batch; a
//! failure to write rows is reported with the offsets that were not written (partial batch
//! response) or as an error that makes the trigger retry the whole batch. Nothing is dropped
//! silently.

use std::sync::Arc;

use maxcompute_client::{Client, CredentialsProvider, Error as ClientError, TableInfo};
use maxcompute_core::event::{DecodedBatch, Reject, decode_event_str};
use maxcompute_core::partition::PartitionRouter;
use maxcompute_core::rows::debezium::ChangeBuilder;
use maxcompute_core::rows::{Format, RowBuilder};
use maxcompute_core::types::TableSchema;
use tokio::time::Instant;
use tracing::info;

use crate::answer::{self, Response, Summary};
use crate::config::{Config, PermanentWriteErrors, WriteMode};
use crate::error::SinkError;
use crate::metrics;
use crate::plan::{Plan, Planner};
use crate::rejects::RejectSink;
use crate::writer::{KeyColumn, TableWriter, WritePath};

/// The sink, built once per cold start.
#[derive(Debug)]
pub struct Sink {
    planner: Planner,
    writer: TableWriter,
    schema: TableSchema,
    partial_batch: bool,
    /// Records of a partition MaxCompute refuses for good go to the error topic.
    divert_refused: bool,
    rejects: Box<dyn RejectSink>,
    function_name: String,
    table: String,
    metrics: MetricsOutput,
}

/// Where an invocation's metrics line goes: standard output, which Lambda sends to CloudWatch
/// Logs, where the EMF line becomes metrics.
#[derive(Clone)]
pub struct MetricsOutput(Arc<dyn Fn(String) + Send + Sync>);

impl MetricsOutput {
    pub fn stdout() -> Self {
        Self(Arc::new(|line| println!("{line}")))
    }

    /// Hands every metrics line to `f` instead (tests read them).
    pub fn to(f: impl Fn(String) + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }
}

impl std::fmt::Debug for MetricsOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsOutput")
    }
}

impl lambda_support::function::Handler for Sink {
    type Response = Response;
    type Error = SinkError;

    fn handle(
        &self,
        event: &str,
        now_ms: i64,
        deadline: Instant,
    ) -> impl Future<Output = Result<Response, SinkError>> + Send {
        Sink::handle(self, event, now_ms, deadline)
    }
}

/// Why the sink could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("cannot build the MaxCompute client: {0}")]
    Client(#[source] ClientError),
    #[error("cannot read the schema of table {table}: {source}")]
    Schema {
        table: String,
        #[source]
        source: ClientError,
    },
    #[error("table {table} does not fit the configuration: {reason}")]
    Table { table: String, reason: String },
}

/// A failed cold start is reported with the classes of an invocation error: a missing table or
/// one that does not fit stays so until someone changes it; a service that did not answer may
/// answer the next cold start.
impl lambda_support::function::InvocationError for StartError {
    fn is_transient(&self) -> bool {
        match self {
            Self::Config(_) | Self::Table { .. } => false,
            Self::Client(source) | Self::Schema { source, .. } => source.is_transient(),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::Config(_) => "Configuration",
            Self::Client(_) => "MaxComputeClient",
            // Reading the schema is the first signed call: a missing or refused AccessKey shows
            // there first.
            Self::Schema { source, .. } if source.kind().starts_with("credentials") => {
                "Credentials"
            }
            Self::Schema { .. } => "TableSchema",
            Self::Table { .. } => "TableMismatch",
        }
    }
}

impl Sink {
    /// Builds the sink: the client, the table's schema (read once), the row builder and the
    /// router, all checked against each other so a misfit stops the cold start.
    pub async fn start(
        config: &Config,
        credentials: Arc<dyn CredentialsProvider>,
        rejects: Box<dyn RejectSink>,
        deadline: Instant,
    ) -> Result<Self, StartError> {
        let mut client_config = config.connection.client_config();
        client_config.compress = config.compress;
        let client = Client::new(client_config, credentials).map_err(StartError::Client)?;
        let table = client
            .table_info(&config.table, deadline)
            .await
            .map_err(|source| StartError::Schema {
                table: config.table.clone(),
                source,
            })?;
        let table_error = |reason: String| StartError::Table {
            table: config.table.clone(),
            reason,
        };
        let path = write_path(config, &table).map_err(table_error)?;
        let schema = table.schema;
        let router =
            PartitionRouter::new(&config.partition).map_err(|e| table_error(e.to_string()))?;
        let key_columns: Option<Vec<usize>> = match &path {
            WritePath::Upsert { key } => Some(key.iter().map(|k| k.index).collect()),
            WritePath::Append(_) => None,
        };
        let planner = match (config.format, key_columns) {
            (Format::Debezium, Some(key)) => {
                let builder = ChangeBuilder::new(&schema, &key, router.zone())
                    .map_err(|e| table_error(e.to_string()))?;
                // A mirror of a source table is usually not partitioned by time: a Delta Table
                // without partition columns is written whole, and no time partition is made up.
                let router = if schema.partition_keys.is_empty() {
                    None
                } else {
                    router
                        .check_table(&schema)
                        .map_err(|e| table_error(e.to_string()))?;
                    Some(router)
                };
                Planner::changes(builder, router, &schema, key)
            }
            (_, key_columns) => {
                router
                    .check_table(&schema)
                    .map_err(|e| table_error(e.to_string()))?;
                let builder = RowBuilder::new(config.mode, config.format, router.zone(), &schema)
                    .map_err(|e| table_error(e.to_string()))?;
                Planner::new(builder, router, &schema, key_columns)
            }
        };
        let divert_refused = config.permanent_write_errors == PermanentWriteErrors::ErrorTopic;
        let mut writer = TableWriter::new(client, config.table.clone(), path.clone());
        if divert_refused {
            writer = writer.past_permanent_failures();
        }
        info!(
            table = %config.table,
            columns = schema.columns.len(),
            mode = %config.mode,
            format = %config.format,
            write = ?path,
            "sink ready"
        );
        Ok(Self {
            planner,
            writer,
            schema,
            partial_batch: config.partial_batch,
            divert_refused,
            rejects,
            function_name: config.function_name.clone(),
            table: config.table.clone(),
            metrics: MetricsOutput::stdout(),
        })
    }

    /// Sends each invocation's metrics line to `output` instead of standard output.
    pub fn with_metrics_output(mut self, output: MetricsOutput) -> Self {
        self.metrics = output;
        self
    }

    /// A sink with the configured credentials: the AccessKey (or STS token) from the
    /// environment, or, with a role ARN, temporary credentials that role gets from STS.
    pub async fn start_from_config(
        config: &Config,
        rejects: Box<dyn RejectSink>,
        deadline: Instant,
    ) -> Result<Self, StartError> {
        let credentials = config
            .connection
            .credentials_provider()
            .map_err(StartError::Client)?;
        Self::start(config, credentials, rejects, deadline).await
    }

    pub fn schema(&self) -> &TableSchema {
        &self.schema
    }

    pub fn client(&self) -> &Client {
        self.writer.client()
    }

    /// Handles one trigger event. `now_ms` is the processing time; `deadline` bounds every
    /// retry and wait.
    pub async fn handle(
        &self,
        event: &str,
        now_ms: i64,
        deadline: Instant,
    ) -> Result<Response, SinkError> {
        let started = std::time::Instant::now();
        let retries_before = self.client().stats().retries;
        let DecodedBatch {
            records,
            rejects,
            bootstrap_servers,
            ..
        } = decode_event_str(event)?;
        let plan = self.planner.plan(&records, rejects, now_ms);
        // Rejects first: if they cannot go anywhere, fail before writing rows that a retry
        // would write again.
        self.deliver(&plan.rejects, &bootstrap_servers, now_ms, deadline)
            .await?;
        let outcomes = self.writer.write(&plan.partitions, deadline).await;
        let written = answer::tally(&plan, outcomes, self.divert_refused);
        self.deliver(&written.refused, &bootstrap_servers, now_ms, deadline)
            .await?;
        self.report(&plan, &written.summary, started, retries_before, now_ms);
        written.into_response(self.partial_batch)
    }

    /// Sends rejects to the error topic (or fails, when they cannot go anywhere).
    async fn deliver(
        &self,
        rejects: &[Reject],
        bootstrap_servers: &[String],
        now_ms: i64,
        deadline: Instant,
    ) -> Result<(), SinkError> {
        if rejects.is_empty() {
            return Ok(());
        }
        self.rejects
            .deliver(rejects, bootstrap_servers, now_ms, deadline)
            .await?;
        Ok(())
    }

    /// The invocation's log line and metrics line.
    fn report(
        &self,
        plan: &Plan<'_>,
        summary: &Summary,
        started: std::time::Instant,
        retries_before: u64,
        now_ms: i64,
    ) {
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let retries = self.client().stats().retries - retries_before;
        // Numbers only, so that each is a JSON value in Lambda's JSON logs; the rows per
        // partition and the rejects per class are in the metrics line, as JSON.
        info!(
            records = summary.records,
            rows = summary.rows_written,
            bytes = summary.bytes_written,
            partitions = summary.partitions.len(),
            rejects = summary.rejects.values().sum::<usize>(),
            failed_partitions = summary.failed_partitions,
            retries,
            latency_ms,
            "invocation done"
        );
        let invocation = metrics::Invocation {
            function: self.function_name.clone(),
            topic: plan.topics.clone(),
            table: self.table.clone(),
            records: summary.records,
            rows_written: summary.rows_written,
            bytes_written: summary.bytes_written,
            rejects: summary.rejects.clone(),
            partitions: summary.partitions.clone(),
            retries,
            failed_partitions: summary.failed_partitions,
            latency_ms,
            oldest_record_ms: plan.oldest_record_ms,
            now_ms,
        };
        (self.metrics.0)(metrics::emf(&invocation).to_string());
    }
}

/// How the rows reach the table: `SINK_WRITE` resolved against what the table is.
fn write_path(config: &Config, table: &TableInfo) -> Result<WritePath, String> {
    match (config.write, table.is_delta()) {
        (WriteMode::Auto | WriteMode::Upsert, true) => {
            let mut key = Vec::with_capacity(table.primary_key.len());
            for name in &table.primary_key {
                let (index, ty) = table
                    .schema
                    .columns
                    .iter()
                    .enumerate()
                    .find(|(_, c)| c.name.eq_ignore_ascii_case(name))
                    .map(|(index, c)| (index, c.ty.clone()))
                    .ok_or_else(|| format!("its primary key names `{name}`, which is not a column"))?;
                if !maxcompute_core::bucket_hash::is_hashable(&ty) {
                    return Err(format!(
                        "its primary key column `{name}` is {ty}; the sink upserts tables keyed by integer and string columns"
                    ));
                }
                key.push(KeyColumn {
                    name: name.clone(),
                    index,
                    ty,
                });
            }
            Ok(WritePath::Upsert { key })
        }
        (WriteMode::Auto | WriteMode::Append, false) => Ok(WritePath::Append(config.tunnel)),
        (WriteMode::Upsert, false) => Err(
            "SINK_WRITE=upsert needs a Delta Table (TBLPROPERTIES (\"transactional\"=\"true\") with a PRIMARY KEY), and this table is not one"
                .to_owned(),
        ),
        (WriteMode::Append, true) => Err(
            "it is a Delta Table (transactional, with a primary key), written by upsert: set SINK_WRITE=auto or upsert"
                .to_owned(),
        ),
    }
}
