//! One invocation of the sink, as plan, write, answer: the event decoded once, each record's
//! table decided ([`TableRouting`]) and every such table made ready ([`Tables`]: read once per
//! container, created, or given new columns), the plan (rows per table and partition, encoded
//! once, in write order, plus rejects) made by the pure [`Planner`], rejects delivered before
//! any row is written (if they cannot go anywhere the batch fails, and a retry writes nothing
//! twice), the batches written by the tables' writers ([`TableWriters`]; a write refused because
//! its table's schema changed is planned and written once more), the records refused for good
//! delivered, and the pure answer
//! ([`answer::tally`]). A record that can never be written is a reject, never a failed batch; a
//! failure to write rows is reported with the offsets that were not written (partial batch
//! response) or as an error that makes the trigger retry the whole batch. Nothing is dropped
//! silently.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use maxcompute_client::{Client, CredentialsProvider, Error as ClientError};
use maxcompute_core::event::{DecodedBatch, KafkaRecord, Reject, decode_event_str};
use maxcompute_core::partition::PartitionRouter;
use maxcompute_core::rows::Mode;
use tokio::time::Instant;
use tracing::info;

use crate::answer::{self, Response, Summary};
use crate::config::{Config, PermanentWriteErrors};
use crate::error::SinkError;
use crate::metrics;
use crate::plan::{Plan, Planner, TableRows};
use crate::rejects::RejectSink;
use crate::route::{NoTable, TableRouting};
use crate::tables::{Table, TableError, Tables};
use crate::writer::{PartitionOutcome, TableWriters, WriteResult, schema_changed};

/// What every pass of one invocation shares.
struct Pass<'a> {
    bootstrap_servers: &'a [String],
    now_ms: i64,
    deadline: Instant,
}

/// The sink, built once per cold start.
#[derive(Debug)]
pub struct Sink {
    planner: Planner,
    /// Which table each record goes to.
    routing: TableRouting,
    /// The payload a routing field is read from.
    mode: Mode,
    /// The tables written so far, each read once per container.
    tables: Tables,
    partial_batch: bool,
    /// Records of a partition MaxCompute refuses for good go to the error topic.
    divert_refused: bool,
    rejects: Box<dyn RejectSink>,
    function_name: String,
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

impl From<TableError> for StartError {
    fn from(e: TableError) -> Self {
        match e {
            TableError::Read { table, source }
            | TableError::Create { table, source }
            | TableError::AddColumns { table, source, .. } => Self::Schema {
                table,
                source: *source,
            },
            TableError::Misfit { table, reason } => Self::Table { table, reason },
        }
    }
}

impl Sink {
    /// Builds the sink: the client and the router, checked against the configuration; with a
    /// fixed table (and no table creation), the table's schema read once and checked against
    /// the configuration, so that a misfit stops the cold start. Routed tables are read when
    /// their first records arrive.
    pub async fn start(
        config: &Config,
        credentials: Arc<dyn CredentialsProvider>,
        rejects: Box<dyn RejectSink>,
        deadline: Instant,
    ) -> Result<Self, StartError> {
        let mut client_config = config.connection.client_config();
        client_config.compress = config.compress;
        let client = Client::new(client_config, credentials).map_err(StartError::Client)?;
        let router = PartitionRouter::new(&config.partition).map_err(|e| StartError::Table {
            table: config.table.clone(),
            reason: e.to_string(),
        })?;
        let divert_refused = config.permanent_write_errors == PermanentWriteErrors::ErrorTopic;
        let tables = Tables::new(client, router.clone(), config, divert_refused);
        if let (Some(table), None) = (config.routing.fixed(), &config.create_table) {
            tables.ready(table, &[], deadline).await?;
        }
        info!(
            table = %config.table,
            mode = %config.mode,
            format = %config.format,
            "sink ready"
        );
        Ok(Self {
            planner: Planner::new(router),
            routing: config.routing.clone(),
            mode: config.mode,
            tables,
            partial_batch: config.partial_batch,
            divert_refused,
            rejects,
            function_name: config.function_name.clone(),
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

    pub fn client(&self) -> &Client {
        self.tables.client()
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
        let pass = Pass {
            bootstrap_servers: &bootstrap_servers,
            now_ms,
            deadline,
        };
        let (plan, mut outcomes, tables) = self.write_pass(&records, rejects, &pass).await?;
        let again = self.schema_changes(&plan, &mut outcomes).await;
        let mut written = answer::tally(&plan, outcomes, self.divert_refused);
        if !again.is_empty() {
            info!(
                records = again.len(),
                "a table's schema changed under the write; writing its records again"
            );
            let (plan, outcomes, _) = self.write_pass(&again, Vec::new(), &pass).await?;
            written = written.and_then(answer::tally(&plan, outcomes, self.divert_refused));
        }
        self.deliver(&written.refused, &bootstrap_servers, now_ms, deadline)
            .await?;
        self.report(
            &plan,
            &written.summary,
            &tables,
            started,
            retries_before,
            now_ms,
        );
        written.into_response(self.partial_batch)
    }

    /// Plans `records` (with the `undecoded` ones as rejects), delivers the rejects, and writes
    /// the batches: the plan, one outcome per batch, and the tables' names.
    async fn write_pass<'r>(
        &self,
        records: &'r [KafkaRecord],
        undecoded: Vec<Reject>,
        pass: &Pass<'_>,
    ) -> Result<(Plan<'r>, Vec<PartitionOutcome>, String), SinkError> {
        let routes: Vec<Result<String, NoTable>> = records
            .iter()
            .map(|r| self.routing.table_for(r, self.mode))
            .collect();
        let tables = self.ready_tables(records, &routes, pass.deadline).await?;
        let destinations: Vec<Result<&TableRows, NoTable>> = routes
            .iter()
            .map(|route| match route {
                Ok(name) => tables.get(name).map(|t| &t.rows).ok_or_else(|| NoTable {
                    class: maxcompute_core::event::RejectClass::TableName,
                    message: format!("table `{name}` was not read"),
                }),
                Err(no) => Err(no.clone()),
            })
            .collect();
        let plan = self
            .planner
            .plan_routed(records, undecoded, pass.now_ms, &destinations);
        // Rejects first: if they cannot go anywhere, fail before writing rows that a retry
        // would write again.
        self.deliver(
            &plan.rejects,
            pass.bootstrap_servers,
            pass.now_ms,
            pass.deadline,
        )
        .await?;
        let writers = TableWriters::new(tables.values().map(|t| &t.writer));
        let outcomes = writers.write(&plan.partitions, pass.deadline).await;
        // The tables written, or the one table of a fixed configuration even when no record
        // reached it (the metrics' `Table` dimension).
        let names: Vec<&str> = tables.keys().map(String::as_str).collect();
        let names = match (names.is_empty(), self.routing.fixed()) {
            (true, Some(table)) => table.to_owned(),
            _ => names.join(","),
        };
        Ok((plan, outcomes, names))
    }

    /// When a write failed because its table's schema changed under it (nothing of it stored),
    /// the tables that changed are forgotten (read anew next), and the records of that write and
    /// of every write skipped after it are answered, to be written again; their outcomes become
    /// `Retried`. Nothing is answered when no schema changed.
    async fn schema_changes(
        &self,
        plan: &Plan<'_>,
        outcomes: &mut [PartitionOutcome],
    ) -> Vec<KafkaRecord> {
        let changed: BTreeSet<&str> = plan
            .partitions
            .iter()
            .zip(outcomes.iter())
            .filter(|(_, o)| matches!(&o.result, WriteResult::Failed(e) if schema_changed(e)))
            .map(|(p, _)| p.table.as_str())
            .collect();
        if changed.is_empty() {
            return Vec::new();
        }
        for table in &changed {
            self.tables.forget(table).await;
        }
        let mut again = Vec::new();
        for (part, outcome) in plan.partitions.iter().zip(outcomes.iter_mut()) {
            let retried = match &outcome.result {
                WriteResult::Failed(e) => schema_changed(e),
                WriteResult::Skipped => true,
                WriteResult::Written | WriteResult::Retried => false,
            };
            if retried {
                again.extend(
                    outcome
                        .unwritten
                        .iter()
                        .filter_map(|&row| part.records.get(row).map(|r| (*r).clone())),
                );
                outcome.result = WriteResult::Retried;
            }
        }
        again
    }

    /// Every table the records are routed to, read, created or given new columns as the
    /// configuration says, in name order. A table that cannot be made ready fails the
    /// invocation before anything is written (transient or permanent, as its cause).
    async fn ready_tables(
        &self,
        records: &[KafkaRecord],
        routes: &[Result<String, NoTable>],
        deadline: Instant,
    ) -> Result<BTreeMap<String, Arc<Table>>, SinkError> {
        let mut by_table: BTreeMap<&str, Vec<&KafkaRecord>> = BTreeMap::new();
        for (record, route) in records.iter().zip(routes) {
            if let Ok(name) = route {
                by_table.entry(name.as_str()).or_default().push(record);
            }
        }
        let mut tables = BTreeMap::new();
        for (name, mut of_table) in by_table {
            of_table.sort_by_key(|r| (&*r.topic, r.partition, r.offset));
            let table = self.tables.ready(name, &of_table, deadline).await?;
            tables.insert(name.to_owned(), table);
        }
        Ok(tables)
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
        tables: &str,
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
            table: tables.to_owned(),
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
