//! One invocation: an error-topic trigger event in, rows in the errors table out.
//!
//! The order is fixed: decode the event, map every record to rows ([`crate::row`]), route each
//! row by its time of failure, encode, write partition by partition through stream sessions,
//! answer. No record content fails an invocation (what cannot be understood is stored raw); what
//! does fail it is a malformed event as a whole (permanent) or MaxCompute refusing or failing the
//! writes (`Transient.*` when a retry may help, so the trigger retries the batch). Delivery is at
//! least once: a retried batch writes its rows again, and the error-topic coordinates in every
//! row tell the copies apart.
//!
//! Cold start ([`ErrorHandler::start`]) creates the errors table when it is missing, reads its
//! schema and checks it against the partition settings and the known columns.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use shared::client::{Client, CredentialsProvider, Error as ClientError};
use shared::event::{EventError, decode_event_str};
use shared::function::InvocationError;
use shared::partition::{PartitionRouter, PartitionSpec, PartitionValueError};
use tokio::time::Instant;
use tracing::{error, info};

use crate::config::Config;
use crate::row::{ErrorRow, rows_from_batch};
use crate::table::{ColumnMap, create_table_sql};
use crate::writer::{StreamWriter, encode};

/// The error handler, built once per cold start.
#[derive(Debug)]
pub struct ErrorHandler {
    writer: StreamWriter,
    columns: ColumnMap,
    router: PartitionRouter,
}

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("malformed Kafka trigger event: {0}")]
    MalformedEvent(#[from] EventError),
    #[error("no partition value can be made for the processing time: {0}")]
    PartitionValue(#[source] PartitionValueError),
    #[error("writing partition {partition} of the errors table failed: {source}")]
    Write {
        partition: String,
        #[source]
        source: ClientError,
    },
}

impl InvocationError for HandlerError {
    fn is_transient(&self) -> bool {
        match self {
            Self::MalformedEvent(_) | Self::PartitionValue(_) => false,
            Self::Write { source, .. } => source.is_transient(),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::MalformedEvent(_) => "MalformedEvent",
            Self::PartitionValue(_) => "PartitionValue",
            Self::Write { .. } => "MaxComputeWrite",
        }
    }
}

impl shared::function::Handler for ErrorHandler {
    type Response = Response;
    type Error = HandlerError;

    fn handle(
        &self,
        event: &str,
        now_ms: i64,
        deadline: Instant,
    ) -> impl Future<Output = Result<Response, HandlerError>> + Send {
        ErrorHandler::handle(self, event, now_ms, deadline)
    }
}

/// Why the error handler could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot build the MaxCompute client: {0}")]
    Client(#[source] ClientError),
    #[error("invalid partition settings: {0}")]
    Partition(String),
    #[error("cannot create the errors table {table}: {source}")]
    CreateTable {
        table: String,
        #[source]
        source: ClientError,
    },
    #[error("cannot read the schema of the errors table {table}: {source}")]
    Schema {
        table: String,
        #[source]
        source: ClientError,
    },
    #[error("the errors table {table} does not fit: {reason}")]
    Table { table: String, reason: String },
}

/// A failed cold start is reported with the classes of an invocation error: settings and a
/// table that does not fit stay wrong until someone changes them; a service that did not answer
/// may answer the next cold start.
impl shared::function::InvocationError for StartError {
    fn is_transient(&self) -> bool {
        match self {
            Self::Partition(_) | Self::Table { .. } => false,
            Self::Client(source)
            | Self::CreateTable { source, .. }
            | Self::Schema { source, .. } => source.is_transient(),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::Client(_) => "MaxComputeClient",
            Self::Partition(_) => "Configuration",
            Self::CreateTable { .. } => "CreateTable",
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

/// The answer to the trigger.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    pub summary: Summary,
}

/// Counts for the invocation's log line and answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Records in the event, decoded or not.
    pub records: usize,
    pub rows_written: u64,
    pub bytes_written: u64,
    /// Rows written per partition, as `SHOW PARTITIONS` spells it.
    pub partitions: BTreeMap<String, u64>,
    /// Rows per `error_class`.
    pub classes: BTreeMap<String, usize>,
    /// Rows per `payload_kind`.
    pub payload_kinds: BTreeMap<&'static str, usize>,
    /// Rows written without key, value and headers because the encoder refused them.
    pub degraded: u64,
}

impl ErrorHandler {
    /// Builds the handler: the client, the errors table (created if missing), its schema (read
    /// once) and the router, checked against each other so a misfit stops the cold start.
    pub async fn start(
        config: &Config,
        credentials: Arc<dyn CredentialsProvider>,
        deadline: Instant,
    ) -> Result<Self, StartError> {
        let client_config = config.connection.client_config();
        let client = Client::new(client_config, credentials).map_err(StartError::Client)?;
        let router = PartitionRouter::new(&config.partition)
            .map_err(|e| StartError::Partition(e.to_string()))?;
        let ddl = create_table_sql(&config.connection.project, &config.table, &router);
        let instance_id =
            client
                .run_sql(&ddl, deadline)
                .await
                .map_err(|source| StartError::CreateTable {
                    table: config.table.clone(),
                    source,
                })?;
        let schema = client
            .table_schema(&config.table, deadline)
            .await
            .map_err(|source| StartError::Schema {
                table: config.table.clone(),
                source,
            })?;
        let table_error = |reason: String| StartError::Table {
            table: config.table.clone(),
            reason,
        };
        router
            .check_table(&schema)
            .map_err(|e| table_error(e.to_string()))?;
        let columns = ColumnMap::new(&schema).map_err(|e| table_error(e.to_string()))?;
        info!(
            table = %config.table,
            columns = schema.columns.len(),
            instance_id = %instance_id,
            "errors table ready"
        );
        Ok(Self {
            writer: StreamWriter::new(client, config.table.clone()),
            columns,
            router,
        })
    }

    /// A handler with the configured credentials: the AccessKey (or STS token), or, with a role
    /// ARN, temporary credentials that role gets from STS.
    pub async fn start_from_config(config: &Config, deadline: Instant) -> Result<Self, StartError> {
        let credentials = config
            .connection
            .credentials_provider()
            .map_err(StartError::Client)?;
        Self::start(config, credentials, deadline).await
    }

    pub fn client(&self) -> &Client {
        self.writer.client()
    }

    /// Handles one trigger event. `now_ms` is the processing time (the failure time of rows
    /// that carry none); `deadline` bounds every retry and wait.
    pub async fn handle(
        &self,
        event: &str,
        now_ms: i64,
        deadline: Instant,
    ) -> Result<Response, HandlerError> {
        let started = std::time::Instant::now();
        let retries_before = self.client().stats().retries;
        let batch = decode_event_str(event)?;
        let mut summary = Summary {
            records: batch.records.len() + batch.rejects.len(),
            ..Summary::default()
        };
        let mut partitions: BTreeMap<PartitionSpec, Vec<ErrorRow>> = BTreeMap::new();
        for row in rows_from_batch(&batch, now_ms) {
            *summary.classes.entry(row.error_class.clone()).or_default() += 1;
            *summary
                .payload_kinds
                .entry(row.payload_kind.as_str())
                .or_default() += 1;
            let (spec, row) = self.route(row, now_ms)?;
            partitions.entry(spec).or_default().push(row);
        }

        let mut failure = None;
        for part in encode(&self.columns, &partitions) {
            summary.degraded += part.degraded;
            match self.writer.write(&part, deadline).await {
                Ok(()) => {
                    summary.rows_written += part.rows;
                    summary.bytes_written +=
                        part.packs.iter().map(|(b, _)| b.len() as u64).sum::<u64>();
                    summary.partitions.insert(part.spec.to_string(), part.rows);
                }
                Err(source) => {
                    error!(partition = %part.spec, error = %source, transient = source.is_transient(), "partition write failed");
                    // The trigger retries the whole batch; later partitions would only be
                    // written twice.
                    failure = Some(HandlerError::Write {
                        partition: part.spec.to_string(),
                        source,
                    });
                    break;
                }
            }
        }

        info!(
            records = summary.records,
            rows = summary.rows_written,
            bytes = summary.bytes_written,
            partitions = ?summary.partitions,
            classes = ?summary.classes,
            payload_kinds = ?summary.payload_kinds,
            degraded = summary.degraded,
            failed = failure.is_some(),
            retries = self.client().stats().retries - retries_before,
            latency_ms = started.elapsed().as_millis() as u64,
            "invocation done"
        );
        match failure {
            Some(e) => Err(e),
            None => Ok(Response { summary }),
        }
    }

    /// The row's partition, from its failure time; a time outside the calendar (a corrupt
    /// `mc.failed.at`) falls back to the processing time, noted in the row's message.
    fn route(
        &self,
        mut row: ErrorRow,
        now_ms: i64,
    ) -> Result<(PartitionSpec, ErrorRow), HandlerError> {
        match self.router.route(row.failed_at_ms) {
            Ok(spec) => Ok((spec, row)),
            Err(e) => {
                row.error_message = format!(
                    "{}; failure time replaced by the processing time: {e}",
                    row.error_message
                );
                row.failed_at_ms = now_ms;
                let spec = self
                    .router
                    .route(now_ms)
                    .map_err(HandlerError::PartitionValue)?;
                Ok((spec, row))
            }
        }
    }
}
