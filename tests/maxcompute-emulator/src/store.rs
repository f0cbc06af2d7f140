//! Durable storage in one SQLite file (`<data-dir>/maxcompute.db`, WAL, `synchronous=FULL`).
//!
//! Tables keep their schema as JSON; committed data is kept as validated record-stream blocks
//! (one row per committed block or stream pack, with its row count), so a commit is one
//! transaction and a reader never sees half of it. Upload sessions and their uncommitted blocks
//! live here too, so sessions survive a restart, but they never join the data until commit.
//! This module knows nothing about HTTP or the wire format: it stores bytes it is given.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::json;
use shared::types::{Column, OdpsType, TableSchema};

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
    pub status: String,
    pub created_ms: i64,
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
}

#[derive(Debug)]
pub struct Store {
    conn: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tables(
  id INTEGER PRIMARY KEY AUTOINCREMENT, project TEXT NOT NULL, name TEXT NOT NULL,
  schema_json TEXT NOT NULL, comment TEXT NOT NULL, created_ms INTEGER NOT NULL,
  modified_ms INTEGER NOT NULL, UNIQUE(project, name));
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
";

/// The tunnel/metadata JSON shape of a schema (`columns`, `partitionKeys`).
pub fn schema_json(schema: &TableSchema) -> serde_json::Value {
    let col = |c: &Column| json!({"name": c.name, "type": c.ty.to_string(), "comment": c.comment, "nullable": c.nullable});
    json!({
        "columns": schema.columns.iter().map(col).collect::<Vec<_>>(),
        "partitionKeys": schema.partition_keys.iter().map(col).collect::<Vec<_>>(),
    })
}

fn schema_from_json(text: &str) -> EmuResult<TableSchema> {
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| EmuError::Internal(format!("stored schema is not JSON: {e}")))?;
    let cols = |key: &str| -> EmuResult<Vec<Column>> {
        let mut out = Vec::new();
        for c in v.get(key).and_then(|c| c.as_array()).into_iter().flatten() {
            let name = c.get("name").and_then(|n| n.as_str()).unwrap_or_default();
            let ty: OdpsType = c
                .get("type")
                .and_then(|t| t.as_str())
                .unwrap_or_default()
                .parse()
                .map_err(|e| EmuError::Internal(format!("stored schema: {e}")))?;
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

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Store {
    /// Opens (creating if needed) the database under `dir`.
    pub fn open(dir: &Path) -> EmuResult<Self> {
        std::fs::create_dir_all(dir).map_err(|e| {
            EmuError::Internal(format!("cannot create data dir {}: {e}", dir.display()))
        })?;
        let conn = Connection::open(dir.join("maxcompute.db"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self { conn })
    }

    fn table_from_row(
        row: &rusqlite::Row<'_>,
    ) -> rusqlite::Result<(i64, String, String, String, String, i64, i64)> {
        Ok((
            row.get(0)?,
            row.get(1)?,
            row.get(2)?,
            row.get(3)?,
            row.get(4)?,
            row.get(5)?,
            row.get(6)?,
        ))
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

    /// Looks a table up by name (case-insensitive, as MaxCompute names are).
    pub fn table(&self, project: &str, name: &str) -> EmuResult<TableInfo> {
        let row = self
            .conn
            .query_row(
                "SELECT id, project, name, schema_json, comment, created_ms, modified_ms FROM tables WHERE project = ?1 AND name = ?2",
                params![project.to_ascii_lowercase(), name.to_ascii_lowercase()],
                Self::table_from_row,
            )
            .optional()?;
        let (id, project, name, schema, comment, created_ms, modified_ms) =
            row.ok_or_else(|| {
                EmuError::NoSuchTable(format!("Table '{project}.{name}' does not exist"))
            })?;
        Ok(TableInfo {
            id,
            project,
            name,
            schema: schema_from_json(&schema)?,
            comment,
            created_ms,
            modified_ms,
        })
    }

    pub fn list_tables(&self, project: &str) -> EmuResult<Vec<TableInfo>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, project, name, schema_json, comment, created_ms, modified_ms FROM tables WHERE project = ?1 ORDER BY name",
        )?;
        let rows = stmt
            .query_map(params![project.to_ascii_lowercase()], Self::table_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(
                |(id, project, name, schema, comment, created_ms, modified_ms)| {
                    Ok(TableInfo {
                        id,
                        project,
                        name,
                        schema: schema_from_json(&schema)?,
                        comment,
                        created_ms,
                        modified_ms,
                    })
                },
            )
            .collect()
    }

    /// Creates a table; returns false when it existed and `if_not_exists` was given.
    pub fn create_table(
        &self,
        project: &str,
        name: &str,
        schema: &TableSchema,
        comment: &str,
        if_not_exists: bool,
    ) -> EmuResult<bool> {
        if self.table(project, name).is_ok() {
            if if_not_exists {
                return Ok(false);
            }
            return Err(EmuError::InvalidArgument(format!(
                "Table '{project}.{name}' already exists"
            )));
        }
        let now = now_ms();
        self.conn.execute(
            "INSERT INTO tables(project, name, schema_json, comment, created_ms, modified_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            params![
                project.to_ascii_lowercase(),
                name.to_ascii_lowercase(),
                schema_json(schema).to_string(),
                comment,
                now
            ],
        )?;
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
                    COALESCE((SELECT SUM(row_count) FROM blocks b WHERE b.table_id = p.table_id AND b.spec = p.spec), 0),
                    COALESCE((SELECT SUM(LENGTH(data)) FROM blocks b WHERE b.table_id = p.table_id AND b.spec = p.spec), 0)
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
        let now = now_ms();
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
            "INSERT INTO uploads(id, table_id, spec, overwrite, status, created_ms) VALUES (?1, ?2, ?3, ?4, 'normal', ?5)",
            params![id, table_id, spec.canonical(), overwrite, now_ms()],
        )?;
        Ok(())
    }

    pub fn upload(&self, id: &str) -> EmuResult<UploadInfo> {
        self.conn
            .query_row(
                "SELECT id, table_id, spec, overwrite, status, created_ms FROM uploads WHERE id = ?1",
                params![id],
                |r| {
                    Ok(UploadInfo {
                        id: r.get(0)?,
                        table_id: r.get(1)?,
                        spec: r.get(2)?,
                        overwrite: r.get(3)?,
                        status: r.get(4)?,
                        created_ms: r.get(5)?,
                    })
                },
            )
            .optional()?
            .ok_or_else(|| EmuError::NoSuchUpload(format!("upload session `{id}` does not exist")))
    }

    pub fn set_upload_status(&self, id: &str, status: &str) -> EmuResult<()> {
        self.conn.execute(
            "UPDATE uploads SET status = ?2 WHERE id = ?1",
            params![id, status],
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
        let (table_id, spec, overwrite, status): (i64, String, bool, String) = tx
            .query_row(
                "SELECT table_id, spec, overwrite, status FROM uploads WHERE id = ?1",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?
            .ok_or_else(|| {
                EmuError::NoSuchUpload(format!("upload session `{id}` does not exist"))
            })?;
        if status != "normal" {
            return Err(EmuError::StatusConflict(format!(
                "upload session `{id}` is {status}; it can be committed only once"
            )));
        }
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
        let now = now_ms();
        tx.execute(
            "UPDATE partitions SET modified_ms = ?3 WHERE table_id = ?1 AND spec = ?2",
            params![table_id, spec, now],
        )?;
        tx.execute(
            "UPDATE tables SET modified_ms = ?2 WHERE id = ?1",
            params![table_id, now],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Appends one stream pack: visible as soon as this returns.
    pub fn append_block(
        &mut self,
        table_id: i64,
        spec: &str,
        row_count: i64,
        data: &[u8],
    ) -> EmuResult<()> {
        let tx = self.conn.transaction()?;
        if !Self::partition_present(&tx, table_id, spec)? {
            return Err(EmuError::NoSuchPartition(format!(
                "the stream's partition `{spec}` no longer exists"
            )));
        }
        tx.execute(
            "INSERT INTO blocks(table_id, spec, row_count, data) VALUES (?1, ?2, ?3, ?4)",
            params![table_id, spec, row_count, data],
        )?;
        let now = now_ms();
        tx.execute(
            "UPDATE partitions SET modified_ms = ?3 WHERE table_id = ?1 AND spec = ?2",
            params![table_id, spec, now],
        )?;
        tx.execute(
            "UPDATE tables SET modified_ms = ?2 WHERE id = ?1",
            params![table_id, now],
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn create_stream(&self, id: &str, table_id: i64, spec: &PartSpec) -> EmuResult<()> {
        self.conn.execute(
            "INSERT INTO streams(id, table_id, spec, created_ms) VALUES (?1, ?2, ?3, ?4)",
            params![id, table_id, spec.canonical(), now_ms()],
        )?;
        Ok(())
    }

    pub fn stream(&self, id: &str) -> EmuResult<StreamInfo> {
        self.conn
            .query_row(
                "SELECT id, table_id, spec FROM streams WHERE id = ?1",
                params![id],
                |r| {
                    Ok(StreamInfo {
                        id: r.get(0)?,
                        table_id: r.get(1)?,
                        spec: r.get(2)?,
                    })
                },
            )
            .optional()?
            .ok_or_else(|| EmuError::NoSuchUpload(format!("stream session `{id}` does not exist")))
    }

    /// Creates a download session over the blocks committed so far.
    pub fn create_download(
        &self,
        id: &str,
        table_id: i64,
        spec: &PartSpec,
    ) -> EmuResult<DownloadInfo> {
        let spec = spec.canonical();
        let (max_block, record_count): (i64, i64) = self.conn.query_row(
            "SELECT COALESCE(MAX(id), 0), COALESCE(SUM(row_count), 0) FROM blocks WHERE table_id = ?1 AND spec = ?2",
            params![table_id, spec],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        self.conn.execute(
            "INSERT INTO downloads(id, table_id, spec, max_block, record_count, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![id, table_id, spec, max_block, record_count, now_ms()],
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

    /// The committed blocks of one partition up to `max_block` (inclusive), in commit order, as
    /// `(row_count, bytes)`.
    pub fn blocks(
        &self,
        table_id: i64,
        spec: &str,
        max_block: Option<i64>,
    ) -> EmuResult<Vec<(i64, Vec<u8>)>> {
        let mut stmt = self.conn.prepare(
            "SELECT row_count, data FROM blocks WHERE table_id = ?1 AND spec = ?2 AND (?3 IS NULL OR id <= ?3) ORDER BY id",
        )?;
        let rows = stmt
            .query_map(params![table_id, spec, max_block], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The canonical specs that hold data for a table (including `""` for a non-partitioned one).
    pub fn data_specs(&self, table_id: i64) -> EmuResult<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT DISTINCT spec FROM blocks WHERE table_id = ?1 ORDER BY spec")?;
        let rows = stmt
            .query_map(params![table_id], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(rows)
    }
}
