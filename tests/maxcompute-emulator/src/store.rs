//! Durable storage in one SQLite file (`<data-dir>/maxcompute.db`, WAL, `synchronous=FULL`).
//!
//! Tables keep their schema as JSON; committed data is kept as validated record-stream blocks
//! (one row per committed block or stream pack, with its row count), so a commit is one
//! transaction and a reader never sees half of it. Delta Tables (transactional, with a primary
//! key) keep one row per key instead, replaced or removed by upsert commits. Upload and upsert
//! sessions and their uncommitted data live here too, so sessions survive a restart, but they
//! never join the data until commit. This module knows nothing about HTTP or the wire format:
//! it stores bytes it is given (keys and rows arrive encoded).

use std::path::Path;

use maxcompute_core::protocol::SessionState;
use maxcompute_core::types::{Column, OdpsType, TableSchema};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::json;

use crate::clock::Clock;
use crate::partition::PartSpec;
use crate::service_error::{EmuError, EmuResult};

/// A table as stored.
#[derive(Debug, Clone)]
pub struct TableInfo {
    pub id: i64,
    pub project: String,
    pub name: String,
    pub schema: TableSchema,
    pub comment: String,
    pub created_ms: i64,
    pub modified_ms: i64,
    /// When the table's definition last changed (`lastDDLTime`): its creation, or its last
    /// `ADD COLUMNS`.
    pub ddl_ms: i64,
    /// The version of its schema: 0 at creation, one more for each change of its columns.
    /// Sessions opened on an older version are refused (`SchemaModified`).
    pub schema_version: i64,
    /// Days the table is kept after its last change (`LIFECYCLE n`); -1 when it has none.
    /// The emulator records it and reports it, but never expires data.
    pub lifecycle: i64,
    /// `INTO n SHARDS [HUBLIFECYCLE h]`: recorded and reported, nothing more.
    pub shards: Option<Shards>,
    /// Set for tables created with `TBLPROPERTIES ("transactional"="true")`.
    pub transactional: Option<Transactional>,
}

/// The shards of a hub table, as `INTO n SHARDS [HUBLIFECYCLE h]` declared them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shards {
    pub shard_num: i64,
    pub hub_lifecycle: Option<i64>,
}

/// The lifecycle a table reports when it was created without one.
pub const NO_LIFECYCLE: i64 = -1;

impl TableInfo {
    /// The table's key and buckets when it is a Delta Table: transactional with a primary key.
    pub fn delta(&self) -> Option<&Transactional> {
        self.transactional
            .as_ref()
            .filter(|t| !t.primary_key.is_empty())
    }
}

/// What a transactional table adds to its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transactional {
    /// Key column names in key order; empty for an append-only transactional table.
    pub primary_key: Vec<String>,
    /// `write.bucket.num`: the buckets of every upsert session, per partition.
    pub bucket_num: u32,
}

/// An upsert session of a Delta Table.
#[derive(Debug, Clone)]
pub struct UpsertInfo {
    pub id: String,
    pub table_id: i64,
    pub spec: String,
    pub bucket_num: u32,
    pub slot_num: u32,
    /// `normal`, `committed`, `aborted` or `expired`.
    pub status: SessionState,
    pub created_ms: i64,
    /// The table's schema version when the session was created.
    pub schema_version: i64,
}

/// One staged operation of an upsert session, as the commit applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeltaOp {
    /// Insert or replace the row stored under `key`.
    Upsert { key: Vec<u8>, row: Vec<u8> },
    /// Remove the row stored under `key`, if any.
    Delete { key: Vec<u8> },
}

/// What an `ADD COLUMNS` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnsAdded {
    /// The columns appended, as declared; empty when `IF NOT EXISTS` found them all.
    pub added: Vec<String>,
    /// The table's schema version afterwards.
    pub schema_version: i64,
}

/// A partition with its data statistics.
#[derive(Debug, Clone)]
pub struct PartitionInfo {
    pub spec: PartSpec,
    pub created_ms: i64,
    pub modified_ms: i64,
    pub record_count: i64,
    pub size: i64,
}

/// A batch upload session.
#[derive(Debug, Clone)]
pub struct UploadInfo {
    pub id: String,
    pub table_id: i64,
    pub spec: String,
    pub overwrite: bool,
    /// `normal`, `closed` or `expired`.
    pub status: SessionState,
    pub created_ms: i64,
    /// The table's schema version when the session was created.
    pub schema_version: i64,
}

/// A download session: a snapshot of the blocks that existed when it was created.
#[derive(Debug, Clone)]
pub struct DownloadInfo {
    pub id: String,
    pub table_id: i64,
    pub spec: String,
    pub max_block: i64,
    pub record_count: i64,
}

/// A stream upload session.
#[derive(Debug, Clone)]
pub struct StreamInfo {
    pub id: String,
    pub table_id: i64,
    pub spec: String,
    /// The table's schema version when the session was created or last reloaded.
    pub schema_version: i64,
}

#[derive(Debug)]
pub struct Store {
    conn: Connection,
    /// The time stored rows are stamped with.
    clock: Clock,
}

/// A `tables` row joined with its transactional properties, before its JSON is read.
struct StoredTable {
    id: i64,
    project: String,
    name: String,
    schema: String,
    comment: String,
    created_ms: i64,
    modified_ms: i64,
    ddl_ms: Option<i64>,
    schema_version: i64,
    lifecycle: i64,
    shard_num: Option<i64>,
    hub_lifecycle: Option<i64>,
    primary_key: Option<String>,
    bucket_num: Option<u32>,
}

impl StoredTable {
    fn into_info(self) -> EmuResult<TableInfo> {
        let transactional = match (self.primary_key, self.bucket_num) {
            (Some(key), Some(bucket_num)) => Some(Transactional {
                primary_key: serde_json::from_str(&key).map_err(|source| EmuError::StoredJson {
                    what: "primary key",
                    source,
                })?,
                bucket_num,
            }),
            _ => None,
        };
        Ok(TableInfo {
            id: self.id,
            project: self.project,
            name: self.name,
            schema: schema_from_json(&self.schema)?,
            comment: self.comment,
            created_ms: self.created_ms,
            modified_ms: self.modified_ms,
            ddl_ms: self.ddl_ms.unwrap_or(self.created_ms),
            schema_version: self.schema_version,
            lifecycle: self.lifecycle,
            shards: self.shard_num.map(|shard_num| Shards {
                shard_num,
                hub_lifecycle: self.hub_lifecycle,
            }),
            transactional,
        })
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tables(
  id INTEGER PRIMARY KEY AUTOINCREMENT, project TEXT NOT NULL, name TEXT NOT NULL,
  schema_json TEXT NOT NULL, comment TEXT NOT NULL, created_ms INTEGER NOT NULL,
  modified_ms INTEGER NOT NULL, UNIQUE(project, name));
-- `lifecycle` (days, -1 for none), `shard_num`, `hub_lifecycle`, `ddl_ms` and `schema_version`
-- (also on `uploads`, `streams` and `upserts`: the version a session was opened on) are added
-- by `Store::migrate`, so older databases gain them too.
CREATE TABLE IF NOT EXISTS partitions(
  table_id INTEGER NOT NULL REFERENCES tables(id) ON DELETE CASCADE, spec TEXT NOT NULL,
  created_ms INTEGER NOT NULL, modified_ms INTEGER NOT NULL, PRIMARY KEY(table_id, spec));
CREATE TABLE IF NOT EXISTS blocks(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  table_id INTEGER NOT NULL REFERENCES tables(id) ON DELETE CASCADE, spec TEXT NOT NULL,
  row_count INTEGER NOT NULL, data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS blocks_by_partition ON blocks(table_id, spec, id);
CREATE TABLE IF NOT EXISTS uploads(
  id TEXT PRIMARY KEY, table_id INTEGER NOT NULL REFERENCES tables(id) ON DELETE CASCADE,
  spec TEXT NOT NULL, overwrite INTEGER NOT NULL, status TEXT NOT NULL, created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS upload_blocks(
  upload_id TEXT NOT NULL REFERENCES uploads(id) ON DELETE CASCADE, block_id INTEGER NOT NULL,
  row_count INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY(upload_id, block_id));
CREATE TABLE IF NOT EXISTS streams(
  id TEXT PRIMARY KEY, table_id INTEGER NOT NULL REFERENCES tables(id) ON DELETE CASCADE,
  spec TEXT NOT NULL, created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS issued_keys(
  id TEXT PRIMARY KEY, secret TEXT NOT NULL, token TEXT NOT NULL, expires_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS downloads(
  id TEXT PRIMARY KEY, table_id INTEGER NOT NULL REFERENCES tables(id) ON DELETE CASCADE,
  spec TEXT NOT NULL, max_block INTEGER NOT NULL, record_count INTEGER NOT NULL,
  created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS transactional_tables(
  table_id INTEGER PRIMARY KEY REFERENCES tables(id) ON DELETE CASCADE,
  primary_key_json TEXT NOT NULL, bucket_num INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS delta_rows(
  table_id INTEGER NOT NULL REFERENCES tables(id) ON DELETE CASCADE, spec TEXT NOT NULL,
  key BLOB NOT NULL, data BLOB NOT NULL, PRIMARY KEY(table_id, spec, key));
CREATE TABLE IF NOT EXISTS upserts(
  id TEXT PRIMARY KEY, table_id INTEGER NOT NULL REFERENCES tables(id) ON DELETE CASCADE,
  spec TEXT NOT NULL, bucket_num INTEGER NOT NULL, slot_num INTEGER NOT NULL,
  status TEXT NOT NULL, created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS upsert_packs(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  upsert_id TEXT NOT NULL REFERENCES upserts(id) ON DELETE CASCADE, bucket INTEGER NOT NULL,
  row_count INTEGER NOT NULL, data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS upsert_packs_by_session ON upsert_packs(upsert_id, id);
";

/// The longest table name MaxCompute accepts, in bytes.
pub const MAX_TABLE_NAME_BYTES: usize = 128;

/// Checks a table name against MaxCompute's rule: ASCII letters, digits and underscores,
/// starting with a letter, at most 128 bytes. Every name that reaches storage passes here, from
/// SQL or from a URL, so no other spelling is ever stored or looked up.
pub fn check_table_name(name: &str) -> EmuResult<()> {
    let starts_with_letter = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    let allowed = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if starts_with_letter && allowed && name.len() <= MAX_TABLE_NAME_BYTES {
        return Ok(());
    }
    Err(EmuError::InvalidArgument(format!(
        "invalid table name `{name}`: a table name has letters, digits and underscores only, starts with a letter and has at most {MAX_TABLE_NAME_BYTES} bytes"
    )))
}

/// The tunnel/metadata JSON shape of a schema (`columns`, `partitionKeys`).
pub fn schema_json(schema: &TableSchema) -> serde_json::Value {
    let col = |c: &Column| json!({"name": c.name, "type": c.ty.to_string(), "comment": c.comment, "nullable": c.nullable});
    json!({
        "columns": schema.columns.iter().map(col).collect::<Vec<_>>(),
        "partitionKeys": schema.partition_keys.iter().map(col).collect::<Vec<_>>(),
    })
}

fn schema_from_json(text: &str) -> EmuResult<TableSchema> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|source| EmuError::StoredJson {
            what: "schema",
            source,
        })?;
    let cols = |key: &str| -> EmuResult<Vec<Column>> {
        let mut out = Vec::new();
        for c in v.get(key).and_then(|c| c.as_array()).into_iter().flatten() {
            let name = c.get("name").and_then(|n| n.as_str()).unwrap_or_default();
            let ty: OdpsType = c
                .get("type")
                .and_then(|t| t.as_str())
                .unwrap_or_default()
                .parse()
                .map_err(EmuError::StoredType)?;
            let mut col = Column::new(name, ty);
            col.comment = c
                .get("comment")
                .and_then(|n| n.as_str())
                .unwrap_or_default()
                .to_owned();
            col.nullable = c.get("nullable").and_then(|n| n.as_bool()).unwrap_or(true);
            out.push(col);
        }
        Ok(out)
    };
    Ok(TableSchema {
        columns: cols("columns")?,
        partition_keys: cols("partitionKeys")?,
    })
}

impl Store {
    /// The store stamping rows with `clock`'s time.
    pub fn with_clock(self, clock: Clock) -> Self {
        Self { clock, ..self }
    }

    /// Opens (creating if needed) the database under `dir`.
    pub fn open(dir: &Path) -> EmuResult<Self> {
        std::fs::create_dir_all(dir).map_err(|source| EmuError::DataDir {
            dir: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join("maxcompute.db");
        let mut conn = Connection::open(&path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Self::migrate(&conn)?;
        checkpoint_in_the_background(&mut conn, Connection::open(&path)?)?;
        Ok(Self {
            conn,
            clock: Clock::system(),
        })
    }

    /// Brings a database written by an older emulator up to date: columns added since are
    /// added with the value their absence meant.
    fn migrate(conn: &Connection) -> EmuResult<()> {
        let has_lifecycle: i64 = conn.query_row(
            "SELECT COUNT(*) FROM pragma_table_info('tables') WHERE name = 'lifecycle'",
            [],
            |r| r.get(0),
        )?;
        if has_lifecycle == 0 {
            conn.execute_batch(&format!(
                "ALTER TABLE tables ADD COLUMN lifecycle INTEGER NOT NULL DEFAULT {NO_LIFECYCLE};
                 ALTER TABLE tables ADD COLUMN shard_num INTEGER;
                 ALTER TABLE tables ADD COLUMN hub_lifecycle INTEGER;"
            ))?;
        }
        let has_schema_version: i64 = conn.query_row(
            "SELECT COUNT(*) FROM pragma_table_info('tables') WHERE name = 'schema_version'",
            [],
            |r| r.get(0),
        )?;
        if has_schema_version == 0 {
            // A table of an older database has never changed its columns: version 0, and its
            // last DDL is its creation (`ddl_ms` NULL).
            conn.execute_batch(
                "ALTER TABLE tables ADD COLUMN ddl_ms INTEGER;
                 ALTER TABLE tables ADD COLUMN schema_version INTEGER NOT NULL DEFAULT 0;
                 ALTER TABLE uploads ADD COLUMN schema_version INTEGER NOT NULL DEFAULT 0;
                 ALTER TABLE streams ADD COLUMN schema_version INTEGER NOT NULL DEFAULT 0;
                 ALTER TABLE upserts ADD COLUMN schema_version INTEGER NOT NULL DEFAULT 0;",
            )?;
        }
        Ok(())
    }

    /// The columns [`Self::table_from_row`] reads, over `tables t` joined with its
    /// transactional properties `x`.
    const TABLE_COLUMNS: &'static str = "t.id, t.project, t.name, t.schema_json, t.comment, t.created_ms, t.modified_ms, t.ddl_ms, t.schema_version, t.lifecycle, t.shard_num, t.hub_lifecycle, x.primary_key_json, x.bucket_num FROM tables t LEFT JOIN transactional_tables x ON x.table_id = t.id";

    fn table_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredTable> {
        Ok(StoredTable {
            id: row.get(0)?,
            project: row.get(1)?,
            name: row.get(2)?,
            schema: row.get(3)?,
            comment: row.get(4)?,
            created_ms: row.get(5)?,
            modified_ms: row.get(6)?,
            ddl_ms: row.get(7)?,
            schema_version: row.get(8)?,
            lifecycle: row.get(9)?,
            shard_num: row.get(10)?,
            hub_lifecycle: row.get(11)?,
            primary_key: row.get(12)?,
            bucket_num: row.get(13)?,
        })
    }

    /// Keeps a temporary key issued by the STS stand-in, so it outlives a restart.
    pub fn save_issued_key(
        &self,
        id: &str,
        secret: &str,
        token: &str,
        expires_ms: i64,
    ) -> EmuResult<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO issued_keys(id, secret, token, expires_ms) VALUES (?1, ?2, ?3, ?4)",
            params![id, secret, token, expires_ms],
        )?;
        Ok(())
    }

    /// The issued keys that have not expired at `now_ms`, as `(id, secret, token, expires_ms)`;
    /// expired ones are deleted.
    pub fn live_issued_keys(&self, now_ms: i64) -> EmuResult<Vec<(String, String, String, i64)>> {
        self.conn.execute(
            "DELETE FROM issued_keys WHERE expires_ms <= ?1",
            params![now_ms],
        )?;
        let mut stmt = self
            .conn
            .prepare("SELECT id, secret, token, expires_ms FROM issued_keys")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Looks a table up by name (case-insensitive, as MaxCompute names are); a name MaxCompute
    /// would refuse is an error, not a missing table.
    pub fn table(&self, project: &str, name: &str) -> EmuResult<TableInfo> {
        check_table_name(name)?;
        let row = self
            .conn
            .query_row(
                &format!(
                    "SELECT {} WHERE t.project = ?1 AND t.name = ?2",
                    Self::TABLE_COLUMNS
                ),
                params![project.to_ascii_lowercase(), name.to_ascii_lowercase()],
                Self::table_from_row,
            )
            .optional()?;
        row.ok_or_else(|| {
            EmuError::NoSuchTable(format!("Table '{project}.{name}' does not exist"))
        })?
        .into_info()
    }

    pub fn list_tables(&self, project: &str) -> EmuResult<Vec<TableInfo>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {} WHERE t.project = ?1 ORDER BY t.name",
            Self::TABLE_COLUMNS
        ))?;
        let rows = stmt
            .query_map(params![project.to_ascii_lowercase()], Self::table_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(StoredTable::into_info).collect()
    }

    /// Creates a table (with its transactional properties, in the same transaction); returns
    /// false when it existed and `if_not_exists` was given.
    #[allow(clippy::too_many_arguments)]
    pub fn create_table(
        &mut self,
        project: &str,
        name: &str,
        schema: &TableSchema,
        comment: &str,
        lifecycle: i64,
        shards: Option<Shards>,
        transactional: Option<&Transactional>,
        if_not_exists: bool,
    ) -> EmuResult<bool> {
        check_table_name(name)?;
        if self.table(project, name).is_ok() {
            if if_not_exists {
                return Ok(false);
            }
            return Err(EmuError::InvalidArgument(format!(
                "Table '{project}.{name}' already exists"
            )));
        }
        let now = self.clock.now_ms();
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO tables(project, name, schema_json, comment, created_ms, modified_ms, lifecycle, shard_num, hub_lifecycle) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7, ?8)",
            params![
                project.to_ascii_lowercase(),
                name.to_ascii_lowercase(),
                schema_json(schema).to_string(),
                comment,
                now,
                lifecycle,
                shards.map(|s| s.shard_num),
                shards.and_then(|s| s.hub_lifecycle)
            ],
        )?;
        if let Some(t) = transactional {
            tx.execute(
                "INSERT INTO transactional_tables(table_id, primary_key_json, bucket_num) VALUES (?1, ?2, ?3)",
                params![
                    tx.last_insert_rowid(),
                    serde_json::Value::from(t.primary_key.clone()).to_string(),
                    t.bucket_num
                ],
            )?;
        }
        tx.commit()?;
        Ok(true)
    }

    /// Drops a table and everything under it; returns false when it was absent and `if_exists`.
    pub fn drop_table(&self, project: &str, name: &str, if_exists: bool) -> EmuResult<bool> {
        match self.table(project, name) {
            Ok(t) => {
                self.conn
                    .execute("DELETE FROM tables WHERE id = ?1", params![t.id])?;
                Ok(true)
            }
            Err(EmuError::NoSuchTable(_)) if if_exists => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// How many files the service would report for a table or one partition (canonical spec):
    /// each committed block or stream pack is one, and a Delta Table partition's rows one more.
    pub fn file_count(&self, table_id: i64, spec: Option<&str>) -> EmuResult<i64> {
        Ok(self.conn.query_row(
            "SELECT (SELECT COUNT(*) FROM blocks WHERE table_id = ?1 AND (?2 IS NULL OR spec = ?2))
                  + (SELECT COUNT(DISTINCT spec) FROM delta_rows WHERE table_id = ?1 AND (?2 IS NULL OR spec = ?2))",
            params![table_id, spec],
            |r| r.get(0),
        )?)
    }

    /// Sets a table's lifecycle in days (`ALTER TABLE .. SET LIFECYCLE n`).
    pub fn set_lifecycle(&self, table_id: i64, days: i64) -> EmuResult<()> {
        self.conn.execute(
            "UPDATE tables SET lifecycle = ?2 WHERE id = ?1",
            params![table_id, days],
        )?;
        Ok(())
    }

    /// Appends `columns` to a table's data columns (`ALTER TABLE .. ADD COLUMNS`): one more
    /// schema version and a new DDL time, in one transaction that takes the write lock before
    /// it reads the schema. So two concurrent `ADD COLUMNS IF NOT EXISTS` of one column
    /// converge: the first adds it, the second finds it and changes nothing.
    ///
    /// A name is compared case-insensitively with the data and partition columns. With
    /// `if_not_exists` a column that exists is skipped, whatever its type; without it, it is an
    /// error and nothing is added. When nothing is added the version stays as it was.
    pub fn add_columns(
        &mut self,
        project: &str,
        name: &str,
        columns: &[Column],
        if_not_exists: bool,
    ) -> EmuResult<ColumnsAdded> {
        check_table_name(name)?;
        let now = self.clock.now_ms();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let info = tx
            .query_row(
                &format!(
                    "SELECT {} WHERE t.project = ?1 AND t.name = ?2",
                    Self::TABLE_COLUMNS
                ),
                params![project.to_ascii_lowercase(), name.to_ascii_lowercase()],
                Self::table_from_row,
            )
            .optional()?
            .ok_or_else(|| {
                EmuError::NoSuchTable(format!("Table '{project}.{name}' does not exist"))
            })?
            .into_info()?;
        let mut schema = info.schema;
        let mut added = Vec::new();
        for col in columns {
            let exists = schema
                .columns
                .iter()
                .chain(&schema.partition_keys)
                .any(|c| c.name.eq_ignore_ascii_case(&col.name));
            if exists && if_not_exists {
                continue;
            }
            if exists {
                return Err(EmuError::InvalidArgument(format!(
                    "column `{}` already exists in table {}",
                    col.name, info.name
                )));
            }
            schema.columns.push(col.clone());
            added.push(col.name.clone());
        }
        if added.is_empty() {
            return Ok(ColumnsAdded {
                added,
                schema_version: info.schema_version,
            });
        }
        let schema_version = info.schema_version + 1;
        tx.execute(
            "UPDATE tables SET schema_json = ?2, schema_version = ?3, ddl_ms = ?4 WHERE id = ?1",
            params![
                info.id,
                schema_json(&schema).to_string(),
                schema_version,
                now
            ],
        )?;
        tx.commit()?;
        Ok(ColumnsAdded {
            added,
            schema_version,
        })
    }

    /// Removes the committed data of the given partitions (`""` for a table without
    /// partitions) in one transaction, keeping the partitions themselves. Uncommitted sessions
    /// are left alone: what they commit later lands in the emptied partition.
    pub fn truncate(&mut self, table_id: i64, specs: &[PartSpec]) -> EmuResult<()> {
        let tx = self.conn.transaction()?;
        let now = self.clock.now_ms();
        for spec in specs {
            let canonical = spec.canonical();
            tx.execute(
                "DELETE FROM blocks WHERE table_id = ?1 AND spec = ?2",
                params![table_id, canonical],
            )?;
            tx.execute(
                "DELETE FROM delta_rows WHERE table_id = ?1 AND spec = ?2",
                params![table_id, canonical],
            )?;
            touch_partition(&tx, table_id, &canonical, now)?;
        }
        touch_table(&tx, table_id, now)?;
        tx.commit()?;
        Ok(())
    }

    pub fn partition(&self, table_id: i64, spec: &PartSpec) -> EmuResult<Option<PartitionInfo>> {
        Ok(self
            .list_partitions_where(table_id, Some(&spec.canonical()))?
            .into_iter()
            .next())
    }

    pub fn list_partitions(&self, table_id: i64) -> EmuResult<Vec<PartitionInfo>> {
        self.list_partitions_where(table_id, None)
    }

    fn list_partitions_where(
        &self,
        table_id: i64,
        spec: Option<&str>,
    ) -> EmuResult<Vec<PartitionInfo>> {
        let mut stmt = self.conn.prepare(
            "SELECT p.spec, p.created_ms, p.modified_ms,
                    COALESCE((SELECT SUM(row_count) FROM blocks b WHERE b.table_id = p.table_id AND b.spec = p.spec), 0)
                      + (SELECT COUNT(*) FROM delta_rows d WHERE d.table_id = p.table_id AND d.spec = p.spec),
                    COALESCE((SELECT SUM(LENGTH(data)) FROM blocks b WHERE b.table_id = p.table_id AND b.spec = p.spec), 0)
                      + COALESCE((SELECT SUM(LENGTH(data)) FROM delta_rows d WHERE d.table_id = p.table_id AND d.spec = p.spec), 0)
             FROM partitions p WHERE p.table_id = ?1 AND (?2 IS NULL OR p.spec = ?2) ORDER BY p.spec",
        )?;
        let rows = stmt
            .query_map(params![table_id, spec], |r| {
                Ok(PartitionInfo {
                    spec: PartSpec::from_canonical(&r.get::<_, String>(0)?),
                    created_ms: r.get(1)?,
                    modified_ms: r.get(2)?,
                    record_count: r.get(3)?,
                    size: r.get(4)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Adds a partition; returns false when it existed (callers decide whether that is an error).
    pub fn add_partition(&self, table_id: i64, spec: &PartSpec) -> EmuResult<bool> {
        let now = self.clock.now_ms();
        let n = self.conn.execute(
            "INSERT OR IGNORE INTO partitions(table_id, spec, created_ms, modified_ms) VALUES (?1, ?2, ?3, ?3)",
            params![table_id, spec.canonical(), now],
        )?;
        Ok(n > 0)
    }

    /// Drops a partition and its data in one transaction; returns whether it existed.
    pub fn drop_partition(&mut self, table_id: i64, spec: &PartSpec) -> EmuResult<bool> {
        let canonical = spec.canonical();
        let tx = self.conn.transaction()?;
        tx.execute(
            "DELETE FROM blocks WHERE table_id = ?1 AND spec = ?2",
            params![table_id, canonical],
        )?;
        tx.execute(
            "DELETE FROM delta_rows WHERE table_id = ?1 AND spec = ?2",
            params![table_id, canonical],
        )?;
        let n = tx.execute(
            "DELETE FROM partitions WHERE table_id = ?1 AND spec = ?2",
            params![table_id, canonical],
        )?;
        tx.commit()?;
        Ok(n > 0)
    }

    /// Whether data may land in `spec` (stored canonical form): the table is not partitioned
    /// (`""`) or the partition exists.
    fn partition_present(conn: &Connection, table_id: i64, spec: &str) -> EmuResult<bool> {
        if spec.is_empty() {
            return Ok(true);
        }
        let n: i64 = conn.query_row(
            "SELECT COUNT(*) FROM partitions WHERE table_id = ?1 AND spec = ?2",
            params![table_id, spec],
            |r| r.get(0),
        )?;
        Ok(n > 0)
    }

    /// Checks that data may be written to `spec` of `table`: the partition exists, or the table is
    /// not partitioned.
    pub fn require_partition(&self, table: &TableInfo, spec: &PartSpec) -> EmuResult<()> {
        if table.schema.partition_keys.is_empty() {
            return Ok(());
        }
        match self.partition(table.id, spec)? {
            Some(_) => Ok(()),
            None => Err(EmuError::NoSuchPartition(format!(
                "The specified partition does not exist: {}",
                spec.quoted()
            ))),
        }
    }

    pub fn create_upload(
        &self,
        id: &str,
        table_id: i64,
        spec: &PartSpec,
        overwrite: bool,
    ) -> EmuResult<()> {
        self.conn.execute(
            "INSERT INTO uploads(id, table_id, spec, overwrite, status, created_ms, schema_version)
             VALUES (?1, ?2, ?3, ?4, 'normal', ?5, (SELECT schema_version FROM tables WHERE id = ?2))",
            params![id, table_id, spec.canonical(), overwrite, self.clock.now_ms()],
        )?;
        Ok(())
    }

    pub fn upload(&self, id: &str) -> EmuResult<UploadInfo> {
        self.conn
            .query_row(
                "SELECT id, table_id, spec, overwrite, status, created_ms, schema_version FROM uploads WHERE id = ?1",
                params![id],
                |r| {
                    Ok(UploadInfo {
                        id: r.get(0)?,
                        table_id: r.get(1)?,
                        spec: r.get(2)?,
                        overwrite: r.get(3)?,
                        status: SessionState::parse(&r.get::<_, String>(4)?),
                        created_ms: r.get(5)?,
                        schema_version: r.get(6)?,
                    })
                },
            )
            .optional()?
            .ok_or_else(|| EmuError::NoSuchUpload(format!("upload session `{id}` does not exist")))
    }

    pub fn set_upload_status(&self, id: &str, status: &SessionState) -> EmuResult<()> {
        self.conn.execute(
            "UPDATE uploads SET status = ?2 WHERE id = ?1",
            params![id, status.as_str()],
        )?;
        Ok(())
    }

    /// Stores (or replaces) one uncommitted block of a session.
    pub fn put_upload_block(
        &self,
        id: &str,
        block_id: i64,
        row_count: i64,
        data: &[u8],
    ) -> EmuResult<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO upload_blocks(upload_id, block_id, row_count, data) VALUES (?1, ?2, ?3, ?4)",
            params![id, block_id, row_count, data],
        )?;
        Ok(())
    }

    pub fn uploaded_blocks(&self, id: &str) -> EmuResult<Vec<i64>> {
        let mut stmt = self
            .conn
            .prepare("SELECT block_id FROM upload_blocks WHERE upload_id = ?1 ORDER BY block_id")?;
        let ids = stmt
            .query_map(params![id], |r| r.get(0))?
            .collect::<Result<Vec<i64>, _>>()?;
        Ok(ids)
    }

    /// Publishes a session's blocks in block-id order, atomically; a second commit is a conflict.
    pub fn commit_upload(&mut self, id: &str) -> EmuResult<()> {
        let tx = self.conn.transaction()?;
        let (table_id, spec, overwrite, status, version): (i64, String, bool, String, i64) = tx
            .query_row(
                "SELECT table_id, spec, overwrite, status, schema_version FROM uploads WHERE id = ?1",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?
            .ok_or_else(|| {
                EmuError::NoSuchUpload(format!("upload session `{id}` does not exist"))
            })?;
        if !SessionState::parse(&status).is_open() {
            return Err(EmuError::StatusConflict(format!(
                "upload session `{id}` is {status}; it can be committed only once"
            )));
        }
        require_schema_version(&tx, table_id, version, &format!("upload session `{id}`"))?;
        if !Self::partition_present(&tx, table_id, &spec)? {
            return Err(EmuError::NoSuchPartition(format!(
                "the session's partition `{spec}` no longer exists"
            )));
        }
        if overwrite {
            tx.execute(
                "DELETE FROM blocks WHERE table_id = ?1 AND spec = ?2",
                params![table_id, spec],
            )?;
        }
        tx.execute(
            "INSERT INTO blocks(table_id, spec, row_count, data)
             SELECT ?2, ?3, row_count, data FROM upload_blocks WHERE upload_id = ?1 ORDER BY block_id",
            params![id, table_id, spec],
        )?;
        tx.execute(
            "DELETE FROM upload_blocks WHERE upload_id = ?1",
            params![id],
        )?;
        tx.execute(
            "UPDATE uploads SET status = 'closed' WHERE id = ?1",
            params![id],
        )?;
        let now = self.clock.now_ms();
        touch_partition(&tx, table_id, &spec, now)?;
        touch_table(&tx, table_id, now)?;
        tx.commit()?;
        Ok(())
    }

    /// Appends one stream pack encoded with the table's schema at `schema_version`: visible
    /// as soon as this returns, and refused (`SchemaModified`) when the table's columns have
    /// changed since that version.
    pub fn append_block(
        &mut self,
        table_id: i64,
        spec: &str,
        schema_version: i64,
        row_count: i64,
        data: &[u8],
    ) -> EmuResult<()> {
        let tx = self.conn.transaction()?;
        require_schema_version(&tx, table_id, schema_version, "the stream's record pack")?;
        if !Self::partition_present(&tx, table_id, spec)? {
            return Err(EmuError::NoSuchPartition(format!(
                "the stream's partition `{spec}` no longer exists"
            )));
        }
        tx.execute(
            "INSERT INTO blocks(table_id, spec, row_count, data) VALUES (?1, ?2, ?3, ?4)",
            params![table_id, spec, row_count, data],
        )?;
        let now = self.clock.now_ms();
        touch_partition(&tx, table_id, spec, now)?;
        touch_table(&tx, table_id, now)?;
        tx.commit()?;
        Ok(())
    }

    pub fn create_stream(&self, id: &str, table_id: i64, spec: &PartSpec) -> EmuResult<()> {
        self.conn.execute(
            "INSERT INTO streams(id, table_id, spec, created_ms, schema_version)
             VALUES (?1, ?2, ?3, ?4, (SELECT schema_version FROM tables WHERE id = ?2))",
            params![id, table_id, spec.canonical(), self.clock.now_ms()],
        )?;
        Ok(())
    }

    pub fn stream(&self, id: &str) -> EmuResult<StreamInfo> {
        self.conn
            .query_row(
                "SELECT id, table_id, spec, schema_version FROM streams WHERE id = ?1",
                params![id],
                |r| {
                    Ok(StreamInfo {
                        id: r.get(0)?,
                        table_id: r.get(1)?,
                        spec: r.get(2)?,
                        schema_version: r.get(3)?,
                    })
                },
            )
            .optional()?
            .ok_or_else(|| EmuError::NoSuchUpload(format!("stream session `{id}` does not exist")))
    }

    /// Moves a stream session to its table's current schema (a reload): its later packs are
    /// read with the current columns.
    pub fn reload_stream(&self, id: &str) -> EmuResult<()> {
        self.conn.execute(
            "UPDATE streams SET schema_version = (SELECT schema_version FROM tables WHERE id = streams.table_id) WHERE id = ?1",
            params![id],
        )?;
        Ok(())
    }

    /// Creates a download session over the data committed so far: for a table of blocks, the
    /// highest block id; for a Delta Table, the number of committed upsert sessions of the
    /// partition (its version), which readers compare against.
    pub fn create_download(
        &self,
        id: &str,
        table: &TableInfo,
        spec: &PartSpec,
    ) -> EmuResult<DownloadInfo> {
        let table_id = table.id;
        let spec = spec.canonical();
        let (max_block, record_count): (i64, i64) = if table.delta().is_some() {
            (
                self.delta_version(table_id, &spec)?,
                self.conn.query_row(
                    "SELECT COUNT(*) FROM delta_rows WHERE table_id = ?1 AND spec = ?2",
                    params![table_id, spec],
                    |r| r.get(0),
                )?,
            )
        } else {
            self.conn.query_row(
                "SELECT COALESCE(MAX(id), 0), COALESCE(SUM(row_count), 0) FROM blocks WHERE table_id = ?1 AND spec = ?2",
                params![table_id, spec],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?
        };
        self.conn.execute(
            "INSERT INTO downloads(id, table_id, spec, max_block, record_count, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![id, table_id, spec, max_block, record_count, self.clock.now_ms()],
        )?;
        Ok(DownloadInfo {
            id: id.to_owned(),
            table_id,
            spec,
            max_block,
            record_count,
        })
    }

    pub fn download(&self, id: &str) -> EmuResult<DownloadInfo> {
        self.conn
            .query_row(
                "SELECT id, table_id, spec, max_block, record_count FROM downloads WHERE id = ?1",
                params![id],
                |r| {
                    Ok(DownloadInfo {
                        id: r.get(0)?,
                        table_id: r.get(1)?,
                        spec: r.get(2)?,
                        max_block: r.get(3)?,
                        record_count: r.get(4)?,
                    })
                },
            )
            .optional()?
            .ok_or_else(|| {
                EmuError::NoSuchDownload(format!("download session `{id}` does not exist"))
            })
    }

    /// The committed data of one partition as `(row_count, bytes)`: its blocks up to
    /// `max_block` (inclusive) in commit order, and with no `max_block` also a Delta Table's
    /// rows, one single-record block per key, in the order the keys first arrived.
    pub fn blocks(
        &self,
        table_id: i64,
        spec: &str,
        max_block: Option<i64>,
    ) -> EmuResult<Vec<(i64, Vec<u8>)>> {
        let mut stmt = self.conn.prepare(
            "SELECT row_count, data FROM blocks WHERE table_id = ?1 AND spec = ?2 AND (?3 IS NULL OR id <= ?3) ORDER BY id",
        )?;
        let mut rows = stmt
            .query_map(params![table_id, spec, max_block], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        if max_block.is_none() {
            let mut stmt = self.conn.prepare(
                "SELECT 1, data FROM delta_rows WHERE table_id = ?1 AND spec = ?2 ORDER BY rowid",
            )?;
            let delta = stmt
                .query_map(params![table_id, spec], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            rows.extend(delta);
        }
        Ok(rows)
    }

    /// The canonical specs that hold data for a table (including `""` for a non-partitioned one).
    pub fn data_specs(&self, table_id: i64) -> EmuResult<Vec<String>> {
        let mut stmt = self.conn.prepare(
            "SELECT spec FROM blocks WHERE table_id = ?1 UNION SELECT spec FROM delta_rows WHERE table_id = ?1 ORDER BY spec",
        )?;
        let rows = stmt
            .query_map(params![table_id], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(rows)
    }
    /// The version of a Delta Table partition: how many upsert sessions were committed to it.
    pub fn delta_version(&self, table_id: i64, spec: &str) -> EmuResult<i64> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM upserts WHERE table_id = ?1 AND spec = ?2 AND status = 'committed'",
            params![table_id, spec],
            |r| r.get(0),
        )?)
    }

    pub fn create_upsert(
        &self,
        id: &str,
        table_id: i64,
        spec: &PartSpec,
        bucket_num: u32,
        slot_num: u32,
    ) -> EmuResult<()> {
        self.conn.execute(
            "INSERT INTO upserts(id, table_id, spec, bucket_num, slot_num, status, created_ms, schema_version)
             VALUES (?1, ?2, ?3, ?4, ?5, 'normal', ?6, (SELECT schema_version FROM tables WHERE id = ?2))",
            params![id, table_id, spec.canonical(), bucket_num, slot_num, self.clock.now_ms()],
        )?;
        Ok(())
    }

    pub fn upsert(&self, id: &str) -> EmuResult<UpsertInfo> {
        self.conn
            .query_row(
                "SELECT id, table_id, spec, bucket_num, slot_num, status, created_ms, schema_version FROM upserts WHERE id = ?1",
                params![id],
                |r| {
                    Ok(UpsertInfo {
                        id: r.get(0)?,
                        table_id: r.get(1)?,
                        spec: r.get(2)?,
                        bucket_num: r.get(3)?,
                        slot_num: r.get(4)?,
                        status: SessionState::parse(&r.get::<_, String>(5)?),
                        created_ms: r.get(6)?,
                        schema_version: r.get(7)?,
                    })
                },
            )
            .optional()?
            .ok_or_else(|| {
                EmuError::UpsertSessionNotFound(format!("upsert session `{id}` does not exist"))
            })
    }

    /// Ends a `normal` session without committing it (`aborted`, `expired`): its staged data is
    /// dropped. A session in any other status is left as it is.
    pub fn end_upsert(&mut self, id: &str, status: &SessionState) -> EmuResult<()> {
        let tx = self.conn.transaction()?;
        let ended = tx.execute(
            "UPDATE upserts SET status = ?2 WHERE id = ?1 AND status = 'normal'",
            params![id, status.as_str()],
        )?;
        if ended > 0 {
            tx.execute("DELETE FROM upsert_packs WHERE upsert_id = ?1", params![id])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Stages one validated pack of a session (a whole PUT body for one bucket).
    pub fn put_upsert_pack(
        &self,
        id: &str,
        bucket: u32,
        row_count: i64,
        data: &[u8],
    ) -> EmuResult<()> {
        self.conn.execute(
            "INSERT INTO upsert_packs(upsert_id, bucket, row_count, data) VALUES (?1, ?2, ?3, ?4)",
            params![id, bucket, row_count, data],
        )?;
        Ok(())
    }

    /// A session's staged packs in arrival order, as `(bucket, bytes)`.
    pub fn upsert_packs(&self, id: &str) -> EmuResult<Vec<(u32, Vec<u8>)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT bucket, data FROM upsert_packs WHERE upsert_id = ?1 ORDER BY id")?;
        let packs = stmt
            .query_map(params![id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(packs)
    }

    /// Applies a session's operations in order and marks it committed, in one transaction: all
    /// of it becomes visible at once, or none of it.
    pub fn commit_upsert(&mut self, id: &str, ops: &[DeltaOp]) -> EmuResult<()> {
        let tx = self.conn.transaction()?;
        let (table_id, spec, status, version): (i64, String, String, i64) = tx
            .query_row(
                "SELECT table_id, spec, status, schema_version FROM upserts WHERE id = ?1",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?
            .ok_or_else(|| {
                EmuError::UpsertSessionNotFound(format!("upsert session `{id}` does not exist"))
            })?;
        if !SessionState::parse(&status).is_open() {
            return Err(EmuError::StatusConflict(format!(
                "upsert session `{id}` is {status}; only a normal session can be committed"
            )));
        }
        require_schema_version(&tx, table_id, version, &format!("upsert session `{id}`"))?;
        if !Self::partition_present(&tx, table_id, &spec)? {
            return Err(EmuError::NoSuchPartition(format!(
                "the session's partition `{spec}` no longer exists"
            )));
        }
        {
            // Prepared once for the session's operations, not once per row.
            let mut upsert = tx.prepare(
                "INSERT INTO delta_rows(table_id, spec, key, data) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(table_id, spec, key) DO UPDATE SET data = excluded.data",
            )?;
            let mut delete = tx
                .prepare("DELETE FROM delta_rows WHERE table_id = ?1 AND spec = ?2 AND key = ?3")?;
            for op in ops {
                match op {
                    DeltaOp::Upsert { key, row } => {
                        upsert.execute(params![table_id, spec, key, row])?
                    }
                    DeltaOp::Delete { key } => delete.execute(params![table_id, spec, key])?,
                };
            }
        }
        tx.execute("DELETE FROM upsert_packs WHERE upsert_id = ?1", params![id])?;
        tx.execute(
            "UPDATE upserts SET status = 'committed' WHERE id = ?1",
            params![id],
        )?;
        let now = self.clock.now_ms();
        touch_partition(&tx, table_id, &spec, now)?;
        touch_table(&tx, table_id, now)?;
        tx.commit()?;
        Ok(())
    }
}

/// The write-ahead log's size, in pages, past which it is copied into the database.
const CHECKPOINT_PAGES: i32 = 1000;

/// Moves checkpoints off the request path: SQLite's automatic checkpoint runs inside the commit
/// that grows the log past [`CHECKPOINT_PAGES`], so one request in a few paid for copying the
/// log into the database and syncing it (a 10,000-row stream pack took 40 ms instead of 20).
/// Instead, such a commit asks a thread of its own, with its own connection (`checkpointer`),
/// for a passive checkpoint, which never blocks the writer. Durability is unchanged: every
/// commit still syncs the log. The thread ends when `conn` is dropped.
fn checkpoint_in_the_background(conn: &mut Connection, checkpointer: Connection) -> EmuResult<()> {
    checkpointer.busy_timeout(std::time::Duration::from_secs(5))?;
    let (ask, asked) = std::sync::mpsc::sync_channel::<()>(1);
    std::thread::spawn(move || {
        while asked.recv().is_ok() {
            let done = checkpointer.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
            if let Err(error) = done {
                tracing::warn!(%error, "checkpoint failed; the next commit asks again");
            }
        }
    });
    // Replaces the automatic checkpoint, which is itself such a hook.
    conn.wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, pages: i32| {
        if pages >= CHECKPOINT_PAGES {
            // Full: a checkpoint is already asked for.
            let _ = ask.try_send(());
        }
        Ok(())
    }))?;
    Ok(())
}

/// Refuses data encoded with the table's schema at `version` once the table's columns have
/// changed since: read with the current columns it could be misread (an upsert record's
/// operation columns follow the data columns), so it is never stored.
fn require_schema_version(
    conn: &Connection,
    table_id: i64,
    version: i64,
    what: &str,
) -> EmuResult<()> {
    let latest: i64 = conn.query_row(
        "SELECT schema_version FROM tables WHERE id = ?1",
        params![table_id],
        |r| r.get(0),
    )?;
    if latest == version {
        return Ok(());
    }
    Err(schema_modified(what, version, latest))
}

/// The refusal of data or a session on schema version `version` of a table now at `latest`.
pub fn schema_modified(what: &str, version: i64, latest: i64) -> EmuError {
    EmuError::SchemaModified {
        latest,
        message: format!(
            "{what} was opened on schema version {version}, but the table's schema changed since (now version {latest}): reload the session or create a new one"
        ),
    }
}

/// Records that a partition's data changed at `now` (the partition's `LastDataModifiedTime`).
fn touch_partition(
    tx: &rusqlite::Transaction<'_>,
    table_id: i64,
    spec: &str,
    now: i64,
) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE partitions SET modified_ms = ?3 WHERE table_id = ?1 AND spec = ?2",
        params![table_id, spec, now],
    )?;
    Ok(())
}

/// Records that a table's data changed at `now`.
fn touch_table(tx: &rusqlite::Transaction<'_>, table_id: i64, now: i64) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE tables SET modified_ms = ?2 WHERE id = ?1",
        params![table_id, now],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database written before schema versions existed gains them when opened: its tables
    /// are at version 0 with their creation as last DDL, and its open sessions at version 0.
    #[test]
    fn an_older_database_gains_schema_versions_when_opened() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join("maxcompute.db")).unwrap();
            // The tables as an older emulator created them: SCHEMA without the migrated columns.
            conn.execute_batch(SCHEMA).unwrap();
            conn.execute(
                "INSERT INTO tables(project, name, schema_json, comment, created_ms, modified_ms) VALUES ('p', 't', ?1, '', 1000, 2000)",
                params![r#"{"columns":[{"name":"a","type":"bigint"}],"partitionKeys":[]}"#],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO streams(id, table_id, spec, created_ms) VALUES ('s', 1, '', 1000)",
                [],
            )
            .unwrap();
        }
        let mut store = Store::open(dir.path()).unwrap();
        let t = store.table("p", "t").unwrap();
        assert_eq!(
            (t.schema_version, t.ddl_ms, t.lifecycle),
            (0, 1000, NO_LIFECYCLE)
        );
        assert_eq!(store.stream("s").unwrap().schema_version, 0);
        let added = store
            .add_columns("p", "t", &[Column::new("b", OdpsType::String)], false)
            .unwrap();
        assert_eq!(added.schema_version, 1);
        // The session from before the change no longer stores packs.
        assert!(matches!(
            store.append_block(t.id, "", 0, 1, b"x"),
            Err(EmuError::SchemaModified { latest: 1, .. })
        ));
    }
}
