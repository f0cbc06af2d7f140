//! One invocation: a Kafka trigger event in, rows in MaxCompute and rejects accounted for out.
//!
//! The order is fixed: decode the event, build rows per partition, encode them, make sure every
//! reject has somewhere to go, write the partitions, then answer. A record that can never be
//! written is a reject, never a failed batch; a failure to write rows is reported with the
//! offsets that were not written (partial batch response) or as an error that makes the trigger
//! retry the whole batch. Nothing is dropped silently.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;
use shared::client::{Client, CredentialsProvider, Error as ClientError, TableInfo};
use shared::event::{KafkaRecord, RecordId, Reject, RejectClass, decode_event_str};
use shared::partition::{PartitionRouter, PartitionSpec};
use shared::rows::{BuiltRows, RowBuilder, build_rows};
use shared::types::TableSchema;
use tokio::time::Instant;
use tracing::{error, info};

use crate::config::{Config, PermanentWriteErrors, WriteMode};
use crate::error::SinkError;
use crate::metrics;
use crate::rejects::RejectSink;
use crate::writer::{TableWriter, WritePath, WriteResult};

/// The sink, built once per cold start.
#[derive(Debug)]
pub struct Sink {
    writer: TableWriter,
    schema: TableSchema,
    builder: RowBuilder,
    router: PartitionRouter,
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

impl shared::function::Handler for Sink {
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
impl shared::function::InvocationError for StartError {
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
            Self::Schema { .. } => "TableSchema",
            Self::Table { .. } => "TableMismatch",
        }
    }
}

/// The answer to the trigger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    /// Present only with partial batch responses: the first unwritten offset of each failed
    /// topic-partition. Empty means every record is written or accounted for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_item_failures: Option<Vec<BatchItemFailure>>,
    pub summary: Summary,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: ItemIdentifier,
}

/// A record named in a partial batch response, in the shape AWS's own libraries write
/// (`{"partition": "<topic>-<n>", "offset": N}`, where `partition` is the event's `records` key).
/// The trigger counts an identifier with any other key as a failure of the whole batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemIdentifier {
    /// The event's `records` key: `<topic>-<partition number>`.
    pub partition: String,
    pub offset: i64,
}

/// Counts for the invocation's log line and answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub records: usize,
    pub rows_written: u64,
    pub bytes_written: u64,
    /// Rows written per partition, as `SHOW PARTITIONS` spells it.
    pub partitions: BTreeMap<String, u64>,
    pub rejects: BTreeMap<&'static str, usize>,
    pub failed_partitions: usize,
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
        router
            .check_table(&schema)
            .map_err(|e| table_error(e.to_string()))?;
        let builder = RowBuilder::new(config.mode, config.format, router.zone(), &schema)
            .map_err(|e| table_error(e.to_string()))?;
        let divert_refused = config.permanent_write_errors == PermanentWriteErrors::ErrorTopic;
        let mut writer = TableWriter::new(client, config.table.clone(), &schema, path);
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
            writer,
            schema,
            builder,
            router,
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
        let batch = decode_event_str(event)?;
        let BuiltRows {
            partitions,
            rejects: row_rejects,
        } = build_rows(&batch.records, &self.builder, &self.router, now_ms);
        // Oldest partition first, so that each Kafka partition is written in offset order (see
        // `TableWriter::write_all`).
        let mut by_age: Vec<(i64, &PartitionSpec)> = partitions
            .iter()
            .map(|(spec, rows)| {
                let times = rows
                    .iter()
                    .map(|r| self.router.time_of(r.record.event_time_ms(), now_ms));
                (times.min().unwrap_or(now_ms), spec)
            })
            .collect();
        by_age.sort();
        let order: Vec<PartitionSpec> = by_age.into_iter().map(|(_, s)| s.clone()).collect();
        // Encoding finds the rows MaxCompute would refuse, which become rejects.
        let (mut encoded, encode_rejects) = self.writer.encode(&partitions);
        let decoded = batch.records.len();
        let oldest_record_ms = batch
            .records
            .iter()
            .filter_map(KafkaRecord::event_time_ms)
            .min();
        let topics: BTreeSet<&str> = batch.records.iter().map(|r| r.topic.as_str()).collect();
        let topic = topics.into_iter().collect::<Vec<_>>().join(",");
        let upserts = self.writer.path() == WritePath::Upsert;
        let refused: HashSet<RecordId> = if upserts {
            encode_rejects.iter().filter_map(reject_id).collect()
        } else {
            HashSet::new()
        };
        let mut rejects = batch.rejects;
        rejects.extend(row_rejects);
        rejects.extend(encode_rejects);
        let mut summary = Summary {
            records: decoded + count_undecoded(&rejects),
            ..Summary::default()
        };
        for r in &rejects {
            *summary.rejects.entry(r.class.as_str()).or_default() += 1;
        }

        // Rejects first: if they cannot go anywhere, fail before writing rows that a retry
        // would write again.
        if !rejects.is_empty() {
            self.rejects
                .deliver(&rejects, &batch.bootstrap_servers, now_ms, deadline)
                .await?;
        }

        let outcomes = if upserts {
            // An upsert session learns its buckets only when it is created: the rows are
            // encoded again, per bucket, once it is.
            drop(encoded);
            self.writer
                .write_upserts(&partitions, &order, &refused, deadline)
                .await
        } else {
            // The packs hold every row now: free the decoded records and the row values
            // before the writes, so that a full 6 MB event never has three copies alive.
            drop(partitions);
            drop(batch.records);
            encoded.sort_by_key(|p| order.iter().position(|s| *s == p.spec));
            self.writer.write_all(encoded, deadline).await
        };
        let mut first_error = None;
        let mut unwritten: BTreeMap<(String, i32), i64> = BTreeMap::new();
        // Records of partitions refused for good, with why, when they go to the error topic.
        let mut refused_writes: HashMap<RecordId, String> = HashMap::new();
        for outcome in outcomes {
            let spec = outcome.spec.to_string();
            match outcome.result {
                WriteResult::Written => {
                    summary.rows_written += outcome.rows;
                    summary.bytes_written += outcome.bytes;
                    summary.partitions.insert(spec, outcome.rows);
                    continue;
                }
                WriteResult::Failed(e) if self.divert_refused && !e.is_transient() => {
                    error!(partition = %spec, error = %e, rows = outcome.unwritten.len(), "partition refused for good; its records go to the error topic");
                    let reason = format!("writing partition {spec} failed for good: {e}");
                    refused_writes
                        .extend(outcome.unwritten.into_iter().map(|id| (id, reason.clone())));
                    continue;
                }
                WriteResult::Failed(e) => {
                    error!(partition = %spec, error = %e, transient = e.is_transient(), "partition write failed");
                    first_error.get_or_insert(SinkError::Write {
                        partition: spec,
                        source: e,
                    });
                }
                WriteResult::Skipped => {}
            }
            summary.failed_partitions += 1;
            for RecordId {
                topic,
                partition,
                offset,
            } in outcome.unwritten
            {
                let first = unwritten.entry((topic, partition)).or_insert(offset);
                *first = (*first).min(offset);
            }
        }

        if !refused_writes.is_empty() {
            let refused = refused_rejects(event, &refused_writes)?;
            *summary
                .rejects
                .entry(RejectClass::WriteRefused.as_str())
                .or_default() += refused.len();
            self.rejects
                .deliver(&refused, &batch.bootstrap_servers, now_ms, deadline)
                .await?;
        }

        let stats = self.client().stats();
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let retries = stats.retries - retries_before;
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
            topic,
            table: self.table.clone(),
            records: summary.records,
            rows_written: summary.rows_written,
            bytes_written: summary.bytes_written,
            rejects: summary.rejects.clone(),
            partitions: summary.partitions.clone(),
            retries,
            failed_partitions: summary.failed_partitions,
            latency_ms,
            oldest_record_ms,
            now_ms,
        };
        (self.metrics.0)(metrics::emf(&invocation).to_string());

        match first_error {
            Some(e) if !self.partial_batch => Err(e),
            _ => Ok(Response {
                batch_item_failures: self.partial_batch.then(|| {
                    unwritten
                        .into_iter()
                        .map(|((topic, partition), offset)| BatchItemFailure {
                            item_identifier: ItemIdentifier {
                                partition: format!("{topic}-{partition}"),
                                offset,
                            },
                        })
                        .collect()
                }),
                summary,
            }),
        }
    }
}

/// How the rows reach the table: `SINK_WRITE` resolved against what the table is.
fn write_path(config: &Config, table: &TableInfo) -> Result<WritePath, String> {
    match (config.write, table.is_delta()) {
        (WriteMode::Auto | WriteMode::Upsert, true) => {
            for key in &table.primary_key {
                let column = table
                    .schema
                    .columns
                    .iter()
                    .find(|c| c.name.eq_ignore_ascii_case(key))
                    .ok_or_else(|| format!("its primary key names `{key}`, which is not a column"))?;
                if !shared::bucket_hash::is_hashable(&column.ty) {
                    return Err(format!(
                        "its primary key column `{key}` is {}; the sink upserts tables keyed by integer and string columns",
                        column.ty
                    ));
                }
            }
            Ok(WritePath::Upsert)
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

/// Rejects for the records of partitions MaxCompute refused for good, read again from the event
/// (the decoded records are freed before the writes, and this is the rare path).
fn refused_rejects(
    event: &str,
    refused: &HashMap<RecordId, String>,
) -> Result<Vec<Reject>, SinkError> {
    let batch = decode_event_str(event)?;
    Ok(batch
        .records
        .iter()
        .filter_map(|record| {
            let reason = refused.get(&record.id())?;
            Some(Reject::from_record(
                record,
                RejectClass::WriteRefused,
                reason.as_str(),
            ))
        })
        .collect())
}

/// The record a reject of a decoded record stands for.
fn reject_id(reject: &Reject) -> Option<RecordId> {
    Some(RecordId {
        topic: reject.topic.clone()?,
        partition: reject.partition?,
        offset: reject.offset?,
    })
}

/// Records that did not decode are not in the batch's record list but were in the event.
fn count_undecoded(rejects: &[Reject]) -> usize {
    rejects.iter().filter(|r| r.raw_json.is_some()).count()
}
