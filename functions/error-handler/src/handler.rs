//! One invocation: an error-topic trigger event in, rows in the errors table out.
//!
//! Plan, write, answer: decode the event, map every record to rows, route each row by its time
//! of failure and encode it ([`crate::plan`], pure), write partition by partition through stream
//! sessions ([`crate::writer`]), answer with the counts. No record content fails an invocation (what cannot be understood is stored raw); what
//! does fail it is a malformed event as a whole (permanent) or MaxCompute refusing or failing the
//! writes (`Transient.*` when a retry may help, so the trigger retries the batch). Delivery is at
//! least once: a retried batch writes its rows again, and the error-topic coordinates in every
//! row tell the copies apart.
//!
//! Cold start ([`ErrorHandler::start`]) creates the errors table when it is missing, reads its
//! schema and checks it against the partition settings and the known columns.

use std::collections::BTreeMap;
use std::sync::Arc;

use lambda_support::function::InvocationError;
use maxcompute_client::{Client, CredentialsProvider, Error as ClientError};
use maxcompute_core::codec::BufferPool;
use maxcompute_core::event::{EventError, decode_event_str};
use maxcompute_core::partition::{PartitionRouter, PartitionValueError};
use serde::Serialize;
use tokio::time::Instant;
use tracing::{error, info};

use crate::config::Config;
use crate::plan::{Plan, plan};
use crate::table::{ColumnMap, create_table_sql};
use crate::writer::StreamWriter;

/// The error handler, built once per cold start.
#[derive(Debug)]
pub struct ErrorHandler {
    writer: StreamWriter,
    columns: ColumnMap,
    router: PartitionRouter,
    /// The buffers of packs sent by earlier invocations of the warm function, kept for the next.
    pool: BufferPool,
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

impl lambda_support::function::Handler for ErrorHandler {
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
impl lambda_support::function::InvocationError for StartError {
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
            pool: BufferPool::new(),
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

    /// Handles one trigger event, as plan, write, answer. `now_ms` is the processing time (the
    /// failure time of rows that carry none); `deadline` bounds every retry and wait.
    pub async fn handle(
        &self,
        event: &str,
        now_ms: i64,
        deadline: Instant,
    ) -> Result<Response, HandlerError> {
        let started = std::time::Instant::now();
        let retries_before = self.client().stats().retries;
        let batch = decode_event_str(event)?;
        let plan = plan(&batch, &self.columns, &self.router, &self.pool, now_ms)
            .map_err(HandlerError::PartitionValue)?;
        let (written, failure) = self.writer.write_all(&plan.partitions, deadline).await;
        let summary = answer(&plan, written);
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
            Some((part, source)) => {
                error!(partition = %part.spec, error = %source, transient = source.is_transient(), "partition write failed");
                Err(HandlerError::Write {
                    partition: part.spec.to_string(),
                    source,
                })
            }
            None => Ok(Response { summary }),
        }
    }
}

/// The counts of a plan whose first `written` partitions were written.
fn answer(plan: &Plan, written: usize) -> Summary {
    let mut summary = Summary {
        records: plan.records,
        classes: plan.classes.clone(),
        payload_kinds: plan.payload_kinds.clone(),
        ..Summary::default()
    };
    for part in plan.partitions.iter().take(written) {
        let rows = part.encoded.len() as u64;
        summary.rows_written += rows;
        summary.bytes_written += part.encoded.bytes();
        summary.degraded += part.degraded;
        summary.partitions.insert(part.spec.to_string(), rows);
    }
    summary
}
