//! The tables a warm function writes, each read once per container and kept by name: its schema,
//! whether it is a Delta Table, and what that makes of the configuration (row builder, write
//! path, writer with its stream sessions).
//!
//! A table that does not exist is created when `SINK_CREATE_TABLE=true`, from the records that
//! first go to it (`CREATE TABLE IF NOT EXISTS`, then read back: "already exists" is the same as
//! created). With `SINK_EVOLVE=add-columns`, JSON fields the table lacks become nullable columns
//! (`ALTER TABLE ... ADD COLUMNS`), and the table is read again and its writer made anew, so the
//! records are written with the new schema. Both converge when several functions do the same at
//! once: each reads back what the service has.
//!
//! The only I/O here goes through the MaxCompute client.

use std::collections::BTreeMap;
use std::sync::Arc;

use maxcompute_client::{Client, Error as ClientError, ErrorCode, NewTable, TableInfo};
use maxcompute_core::event::KafkaRecord;
use maxcompute_core::partition::PartitionRouter;
use maxcompute_core::rows::debezium::ChangeBuilder;
use maxcompute_core::rows::infer::missing_columns;
use maxcompute_core::rows::{Format, RowBuilder};
use maxcompute_core::types::{Column, OdpsType, TableSchema};
use tokio::sync::Mutex;
use tokio::time::Instant;
use tracing::info;

use crate::config::{Config, CreateTable, Evolve, WriteMode};
use crate::plan::TableRows;
use crate::writer::{KeyColumn, TableWriter, WritePath};

/// One table as this container knows it.
#[derive(Debug)]
pub struct Table {
    pub name: String,
    pub schema: TableSchema,
    pub rows: TableRows,
    pub writer: TableWriter,
}

/// Why a table cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("cannot read table {table}: {source}")]
    Read {
        table: String,
        #[source]
        source: Box<ClientError>,
    },
    #[error("cannot create table {table}: {source}")]
    Create {
        table: String,
        #[source]
        source: Box<ClientError>,
    },
    #[error("cannot add columns ({columns}) to table {table}: {source}")]
    AddColumns {
        table: String,
        columns: String,
        #[source]
        source: Box<ClientError>,
    },
    #[error("table {table} does not fit the configuration: {reason}")]
    Misfit { table: String, reason: String },
}

/// The Kafka coordinates a created table starts with (and a created Delta Table is keyed by,
/// unless `SINK_PRIMARY_KEY` says otherwise).
const METADATA: [(&str, OdpsType); 3] = [
    ("topic", OdpsType::String),
    ("partition", OdpsType::BigInt),
    ("offset", OdpsType::BigInt),
];

impl TableError {
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Read { source, .. }
            | Self::Create { source, .. }
            | Self::AddColumns { source, .. } => source.is_transient(),
            Self::Misfit { .. } => false,
        }
    }

    pub fn table(&self) -> &str {
        match self {
            Self::Read { table, .. }
            | Self::Create { table, .. }
            | Self::AddColumns { table, .. }
            | Self::Misfit { table, .. } => table,
        }
    }
}

/// What the sink's configuration makes of every table.
#[derive(Debug, Clone)]
struct Settings {
    mode: maxcompute_core::rows::Mode,
    format: Format,
    write: WriteMode,
    tunnel: crate::config::TunnelKind,
    create: Option<CreateTable>,
    evolve: Evolve,
    json_number: maxcompute_core::rows::infer::JsonNumber,
    /// Records of a partition refused for good go to the error topic.
    past_permanent: bool,
}

/// The tables of a warm function, by (lower-case) name.
#[derive(Debug)]
pub struct Tables {
    client: Client,
    router: PartitionRouter,
    settings: Settings,
    known: Mutex<BTreeMap<String, Arc<Table>>>,
}

impl Tables {
    pub fn new(
        client: Client,
        router: PartitionRouter,
        config: &Config,
        past_permanent: bool,
    ) -> Self {
        Self {
            client,
            router,
            settings: Settings {
                mode: config.mode,
                format: config.format,
                write: config.write,
                tunnel: config.tunnel,
                create: config.create_table.clone(),
                evolve: config.evolve,
                json_number: config.json_number,
                past_permanent,
            },
            known: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The table `name`, ready for `records` (the invocation's records bound for it, in order):
    /// read (or created) the first time, given the columns the records' fields need when the
    /// table evolves.
    pub async fn ready(
        &self,
        name: &str,
        records: &[&KafkaRecord],
        deadline: Instant,
    ) -> Result<Arc<Table>, TableError> {
        let known = self.known.lock().await.get(name).cloned();
        let table = match known {
            Some(table) => table,
            None => {
                let info = self.read_or_create(name, records, deadline).await?;
                self.keep(name, info).await?
            }
        };
        if self.settings.evolve != Evolve::AddColumns {
            return Ok(table);
        }
        let missing = self.missing(&table.schema, records);
        if missing.is_empty() {
            return Ok(table);
        }
        // The kept schema may be old: another function may have added the columns already.
        let fresh = self.read(name, deadline).await?;
        let missing = self.missing(&fresh.schema, records);
        let info = if missing.is_empty() {
            fresh
        } else {
            let columns: Vec<String> = missing
                .iter()
                .map(|c| format!("{} {}", c.name, c.ty))
                .collect();
            info!(table = name, columns = %columns.join(", "), "adding columns for new fields");
            self.client
                .add_columns(name, &missing, deadline)
                .await
                .map_err(|source| TableError::AddColumns {
                    table: name.to_owned(),
                    columns: columns.join(", "),
                    source: Box::new(source),
                })?
        };
        self.keep(name, info).await
    }

    /// Forgets what is kept of table `name`: it is read anew when next written.
    pub async fn forget(&self, name: &str) {
        self.known.lock().await.remove(name);
    }

    /// The columns `records`' fields need that `schema` lacks.
    fn missing(&self, schema: &TableSchema, records: &[&KafkaRecord]) -> Vec<Column> {
        missing_columns(
            records.iter().copied(),
            self.settings.mode,
            self.settings.json_number,
            |c| {
                schema.column_index(c).is_some()
                    || schema
                        .partition_keys
                        .iter()
                        .any(|k| k.name.eq_ignore_ascii_case(c))
            },
        )
    }

    async fn read(&self, name: &str, deadline: Instant) -> Result<TableInfo, TableError> {
        self.client
            .table_info(name, deadline)
            .await
            .map_err(|source| TableError::Read {
                table: name.to_owned(),
                source: Box::new(source),
            })
    }

    async fn read_or_create(
        &self,
        name: &str,
        records: &[&KafkaRecord],
        deadline: Instant,
    ) -> Result<TableInfo, TableError> {
        match self.client.table_info(name, deadline).await {
            Err(e) if e.has_code(&ErrorCode::NoSuchTable) && self.settings.create.is_some() => {
                let new = self.new_table(name, records)?;
                self.client
                    .create_table(&new, deadline)
                    .await
                    .map_err(|source| TableError::Create {
                        table: name.to_owned(),
                        source: Box::new(source),
                    })
            }
            other => other.map_err(|source| TableError::Read {
                table: name.to_owned(),
                source: Box::new(source),
            }),
        }
    }

    /// The table to create for `records`: the seed's layout for TEXT and BINARY (key and value
    /// BINARY for BINARY), the records' fields for JSON; a Delta Table with `SINK_WRITE=upsert`.
    fn new_table(&self, name: &str, records: &[&KafkaRecord]) -> Result<NewTable, TableError> {
        let misfit = |reason: String| TableError::Misfit {
            table: name.to_owned(),
            reason,
        };
        let create = self.settings.create.clone().unwrap_or_default();
        let delta = self.settings.write == WriteMode::Upsert;
        let mut columns =
            self.new_columns(name, records, delta && create.primary_key.is_empty())?;
        if columns.is_empty() {
            return Err(misfit(
                "its first records have no JSON object fields with values to make columns of"
                    .to_owned(),
            ));
        }
        let primary_key = if !delta {
            Vec::new()
        } else if create.primary_key.is_empty() {
            METADATA
                .iter()
                .map(|(name, _)| (*name).to_owned())
                .collect()
        } else {
            create.primary_key.clone()
        };
        for key in &primary_key {
            match columns
                .iter_mut()
                .find(|c| c.name.eq_ignore_ascii_case(key))
            {
                Some(c) => c.nullable = false,
                None => {
                    return Err(misfit(format!(
                        "SINK_PRIMARY_KEY names `{key}`, which its first records give no value"
                    )));
                }
            }
        }
        Ok(NewTable {
            name: name.to_owned(),
            columns,
            partition_keys: self
                .router
                .columns()
                .map(|c| Column::new(c, OdpsType::String))
                .collect(),
            primary_key,
            lifecycle_days: create.lifecycle_days,
        })
    }

    /// The data columns of a new table: for JSON the records' fields (after the Kafka
    /// coordinates when they are the key, `with_metadata`), else the seed's layout.
    fn new_columns(
        &self,
        name: &str,
        records: &[&KafkaRecord],
        with_metadata: bool,
    ) -> Result<Vec<Column>, TableError> {
        let misfit = |reason: &str| TableError::Misfit {
            table: name.to_owned(),
            reason: reason.to_owned(),
        };
        let metadata = METADATA
            .iter()
            .map(|(name, ty)| Column::new(*name, ty.clone()));
        let payload = match self.settings.format {
            Format::Text => OdpsType::String,
            Format::Binary => OdpsType::Binary,
            Format::Json => {
                let mut columns: Vec<Column> = if with_metadata {
                    metadata.collect()
                } else {
                    Vec::new()
                };
                let fields = missing_columns(
                    records.iter().copied(),
                    self.settings.mode,
                    self.settings.json_number,
                    |c| {
                        columns.iter().any(|k| k.name == c)
                            || self.router.columns().any(|k| k.eq_ignore_ascii_case(c))
                    },
                );
                columns.extend(fields);
                return Ok(columns);
            }
            Format::Csv => return Err(misfit("CSV tables are not created by the sink")),
            Format::Debezium => {
                return Err(misfit(
                    "mirror tables are not created by the sink: create the Delta Table with the source's key",
                ));
            }
        };
        Ok(metadata
            .chain([
                Column::new("key", payload.clone()),
                Column::new("value", payload),
            ])
            .collect())
    }

    /// Makes `info` the kept state of table `name`: checked against the configuration, its row
    /// builder and writer built (with new stream sessions: those of an older schema are gone).
    async fn keep(&self, name: &str, info: TableInfo) -> Result<Arc<Table>, TableError> {
        let table = Arc::new(self.build(name, info)?);
        self.known
            .lock()
            .await
            .insert(name.to_owned(), Arc::clone(&table));
        Ok(table)
    }

    fn build(&self, name: &str, info: TableInfo) -> Result<Table, TableError> {
        let misfit = |reason: String| TableError::Misfit {
            table: name.to_owned(),
            reason,
        };
        let path = write_path(self.settings.write, self.settings.tunnel, &info).map_err(misfit)?;
        let schema = info.schema;
        if let (Format::Debezium, WritePath::Upsert { key }) = (self.settings.format, &path) {
            return self.build_changes(name, schema, key, path.clone());
        }
        self.router
            .check_table(&schema)
            .map_err(|e| misfit(e.to_string()))?;
        let mut builder = RowBuilder::new(
            self.settings.mode,
            self.settings.format,
            self.router.zone(),
            &schema,
        )
        .map_err(|e| misfit(e.to_string()))?;
        if self.settings.evolve == Evolve::AddColumns {
            builder = builder.exact_json_fields();
        }
        let key_columns = match &path {
            WritePath::Upsert { key } => Some(key.iter().map(|k| k.index).collect()),
            WritePath::Append(_) => None,
        };
        let rows = TableRows::new(name, builder, &schema, key_columns);
        Ok(self.table(name, schema, rows, path))
    }

    /// The kept state of a Delta Table that Debezium changes are mirrored into, keyed by `key`.
    /// A mirror of a source table is usually not partitioned by time: a table without partition
    /// columns is written whole, and no time partition is made up.
    fn build_changes(
        &self,
        name: &str,
        schema: TableSchema,
        key: &[KeyColumn],
        path: WritePath,
    ) -> Result<Table, TableError> {
        let misfit = |reason: String| TableError::Misfit {
            table: name.to_owned(),
            reason,
        };
        let key: Vec<usize> = key.iter().map(|k| k.index).collect();
        let builder = ChangeBuilder::new(&schema, &key, self.router.zone())
            .map_err(|e| misfit(e.to_string()))?;
        if !schema.partition_keys.is_empty() {
            self.router
                .check_table(&schema)
                .map_err(|e| misfit(e.to_string()))?;
        }
        let rows = TableRows::changes(name, builder, &schema, key);
        Ok(self.table(name, schema, rows, path))
    }

    /// A table's kept state from its rows and write path.
    fn table(&self, name: &str, schema: TableSchema, rows: TableRows, path: WritePath) -> Table {
        let mut writer = TableWriter::new(self.client.clone(), name.to_owned(), path.clone());
        if self.settings.past_permanent {
            writer = writer.past_permanent_failures();
        }
        info!(
            table = name,
            columns = schema.columns.len(),
            write = ?path,
            "table ready"
        );
        Table {
            name: name.to_owned(),
            schema,
            rows,
            writer,
        }
    }
}

/// How the rows reach the table: `SINK_WRITE` resolved against what the table is.
fn write_path(
    write: WriteMode,
    tunnel: crate::config::TunnelKind,
    table: &TableInfo,
) -> Result<WritePath, String> {
    match (write, table.is_delta()) {
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
        (WriteMode::Auto | WriteMode::Append, false) => Ok(WritePath::Append(tunnel)),
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
