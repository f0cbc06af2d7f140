//! Upsert sessions (Delta Tables): create a session for a table or partition, PUT one record
//! stream per bucket, then commit.
//!
//! A Delta Table is a transactional table with a primary key; its rows are written by upsert:
//! a row replaces the row of the same key. A session names its buckets (`slots`), the columns
//! to hash (`hash_key`) and the hash function (`hasher`); every record of a PUT must hash to the
//! PUT's bucket (`maxcompute_core::bucket_hash`). The record stream carries the table's data
//! columns and five more ([`UPSERT_COLUMNS`]). Data is visible at commit.
//!
//! Replays are harmless by construction: a PUT sent again stages the same upserts again, and
//! a commit is sent again routinely (both SDKs poll by re-posting it), so a lost answer needs
//! no special care beyond asking again. A repeated commit answered `UpsertSessionNotFound`
//! means the service already committed and forgot the session.

use bytes::Bytes;
use reqwest::Method;
use serde::Deserialize;
use tokio::time::Instant;
use tracing::{debug, info};

use super::error::Error;
use super::handle::{Client, validate_name};
use super::poll::{COMMIT_POLL, Poll};
use super::request::{Api, Call};
use super::service::schema_from_json;
use maxcompute_core::protocol::{ErrorCode, SessionState};
use maxcompute_core::spec::PartitionSpec;
use maxcompute_core::types::{OdpsType, TableSchema};

const ROUTED_SERVER_HEADER: &str = "odps-tunnel-routed-server";

/// The columns every upsert record carries after the table's own; their types are
/// [`upsert_column_types`].
pub const UPSERT_COLUMNS: [&str; 5] = [
    "__version",
    "__app_version",
    "__operation",
    "__key_cols",
    "__value_cols",
];

/// `__operation` of an upsert (`'U'`).
pub const OPERATION_UPSERT: i64 = 85;
/// `__operation` of a delete (`'D'`).
pub const OPERATION_DELETE: i64 = 68;

/// The types of [`UPSERT_COLUMNS`]: BIGINT, BIGINT, TINYINT, ARRAY<BIGINT>, ARRAY<BIGINT>.
pub fn upsert_column_types() -> Vec<OdpsType> {
    vec![
        OdpsType::BigInt,
        OdpsType::BigInt,
        OdpsType::TinyInt,
        OdpsType::Array(Box::new(OdpsType::BigInt)),
        OdpsType::Array(Box::new(OdpsType::BigInt)),
    ]
}

/// A slot of an upsert session: the buckets it takes and the server that serves them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpsertSlot {
    pub id: String,
    pub server: String,
    pub buckets: Vec<u32>,
}

/// What the service says about an upsert session.
#[derive(Debug, Clone, PartialEq)]
pub struct UpsertSessionInfo {
    pub id: String,
    /// `normal`, `committing`, `committed`, `expired`, `critical` or `aborted`.
    pub status: SessionState,
    pub slots: Vec<UpsertSlot>,
    /// The table's data columns (the upsert columns are not in it).
    pub schema: TableSchema,
    /// The columns whose values choose a record's bucket, in hashing order.
    pub hash_key: Vec<String>,
    /// `default` or `legacy`.
    pub hasher: String,
}

impl UpsertSessionInfo {
    /// The number of buckets: the modulus of the bucket hash.
    pub fn bucket_count(&self) -> u32 {
        self.slots
            .iter()
            .map(|s| u32::try_from(s.buckets.len()).unwrap_or(u32::MAX))
            .fold(0, u32::saturating_add)
    }

    /// The slot that takes `bucket`.
    pub fn slot_of(&self, bucket: u32) -> Option<&UpsertSlot> {
        self.slots.iter().find(|s| s.buckets.contains(&bucket))
    }
}

/// An open upsert session.
#[derive(Debug)]
pub struct UpsertSession {
    client: Client,
    table: String,
    partition: Option<PartitionSpec>,
    info: UpsertSessionInfo,
}

impl Client {
    /// Creates an upsert session for `table` (and `partition` for partitioned tables), creating
    /// the partition first if the tunnel reports it missing.
    pub async fn create_upsert_session(
        &self,
        table: &str,
        partition: Option<&PartitionSpec>,
        deadline: Instant,
    ) -> Result<UpsertSession, Error> {
        validate_name("table", table)?;
        let info = self
            .in_partition(table, partition, deadline, || {
                self.create_upsert_session_once(table, partition, deadline)
            })
            .await?;
        info!(
            table,
            partition = partition.map(|p| p.to_string()).unwrap_or_default(),
            session = %info.id,
            buckets = info.bucket_count(),
            "created upsert session"
        );
        Ok(UpsertSession {
            client: self.clone(),
            table: table.to_owned(),
            partition: partition.cloned(),
            info,
        })
    }

    async fn create_upsert_session_once(
        &self,
        table: &str,
        partition: Option<&PartitionSpec>,
        deadline: Instant,
    ) -> Result<UpsertSessionInfo, Error> {
        let mut call = Call::new(
            "create_upsert_session",
            Method::POST,
            Api::Tunnel,
            upserts_path(self, table),
        );
        if let Some(p) = partition {
            call = call.query("partition", p.tunnel_form());
        }
        call = call.query("slotnum", "1");
        let reply = self.send(&call, deadline).await?;
        parse_upsert_session("create_upsert_session", &reply.body)
    }
}

impl UpsertSession {
    pub fn info(&self) -> &UpsertSessionInfo {
        &self.info
    }

    pub fn id(&self) -> &str {
        &self.info.id
    }

    /// Writes one bucket's records: a complete record stream of the data columns followed by
    /// [`UPSERT_COLUMNS`], every record hashing to `bucket`.
    /// An upsert record's extra cells are NULL, NULL, [`OPERATION_UPSERT`], NULL and an empty
    /// array, as pyodps writes them; a delete's are the same with [`OPERATION_DELETE`]. A delete
    /// is found by its key cells; the sink sends its other cells NULL (pyodps sends whatever its
    /// record holds). Whether the service checks NOT NULL on a delete's other cells is not
    /// documented; the emulator does not.
    pub async fn write_bucket(
        &self,
        bucket: u32,
        records: Bytes,
        record_count: u64,
        deadline: Instant,
    ) -> Result<(), Error> {
        let slot = self.info.slot_of(bucket).ok_or_else(|| {
            Error::protocol(
                "write_upsert",
                format!(
                    "session {} has no slot for bucket {bucket} (it has {} buckets)",
                    self.info.id,
                    self.info.bucket_count()
                ),
            )
        })?;
        let body = self.client.data_body(records);
        let call = self
            .call("write_upsert", Method::PUT)
            .query("bucketid", bucket.to_string())
            .query("slotid", slot.id.clone())
            .query("record_count", record_count.to_string())
            .header(ROUTED_SERVER_HEADER, slot.server.clone())
            .body(body);
        self.client.send(&call, deadline).await?;
        debug!(session = %self.info.id, bucket, records = record_count, "wrote upsert bucket");
        Ok(())
    }

    /// Commits the session and waits until the service says `committed`. The commit is posted
    /// again while the session is `normal` or `committing`, as the SDKs do; a repeat that finds
    /// the session gone (`UpsertSessionNotFound`) means it was committed. A commit answered with
    /// the session `committed` needs no second look.
    pub async fn commit(&mut self, deadline: Instant) -> Result<(), Error> {
        let mut poll = Poll::new(COMMIT_POLL, deadline);
        let mut first = true;
        loop {
            match self.post_commit(deadline).await {
                Ok(Some(answered)) if answered.status == SessionState::Committed => {
                    self.info = answered;
                    break;
                }
                Ok(_) => {}
                Err(e) if !first && e.has_code(&ErrorCode::UpsertSessionNotFound) => {
                    self.info.status = SessionState::Committed;
                    break;
                }
                Err(e) => return Err(e),
            }
            first = false;
            match self.reload(deadline).await {
                Ok(()) => {}
                Err(e) if e.has_code(&ErrorCode::UpsertSessionNotFound) => {
                    self.info.status = SessionState::Committed;
                    break;
                }
                Err(e) => return Err(e),
            }
            match &self.info.status {
                SessionState::Committed => break,
                SessionState::Normal | SessionState::Committing => {}
                other => {
                    return Err(Error::SessionNotOpen {
                        session: self.info.id.clone(),
                        status: other.clone(),
                    });
                }
            }
            poll.wait().await?;
        }
        info!(table = %self.table, session = %self.info.id, "committed upsert session");
        Ok(())
    }

    /// Reads the session's state again.
    pub async fn reload(&mut self, deadline: Instant) -> Result<(), Error> {
        let call = self.call("reload_upsert_session", Method::GET);
        let reply = self.client.send(&call, deadline).await?;
        self.info = parse_upsert_session("reload_upsert_session", &reply.body)?;
        Ok(())
    }

    /// Posts the commit; answers the session as the answer's body gives it, when it does.
    async fn post_commit(&self, deadline: Instant) -> Result<Option<UpsertSessionInfo>, Error> {
        let mut call = self.call("commit_upsert", Method::POST);
        if let Some(slot) = self.info.slot_of(0) {
            call = call.header(ROUTED_SERVER_HEADER, slot.server.clone());
        }
        let reply = self.client.send(&call, deadline).await?;
        Ok(parse_upsert_session("commit_upsert", &reply.body).ok())
    }

    fn call(&self, what: &'static str, method: Method) -> Call {
        let mut call = Call::new(
            what,
            method,
            Api::Tunnel,
            upserts_path(&self.client, &self.table),
        )
        .query("upsertid", self.info.id.clone());
        if let Some(p) = &self.partition {
            call = call.query("partition", p.tunnel_form());
        }
        call
    }
}

fn upserts_path(client: &Client, table: &str) -> String {
    format!("{}/upserts", client.table_path(table))
}

#[derive(Deserialize)]
struct SessionJson {
    id: String,
    status: String,
    #[serde(default)]
    slots: Vec<SlotJson>,
    #[serde(default)]
    schema: serde_json::Value,
    #[serde(default)]
    hash_key: Vec<String>,
    #[serde(default)]
    hasher: Option<String>,
}

#[derive(Deserialize)]
struct SlotJson {
    slot_id: serde_json::Value,
    worker_addr: String,
    #[serde(default)]
    buckets: Vec<u32>,
}

fn parse_upsert_session(what: &'static str, body: &[u8]) -> Result<UpsertSessionInfo, Error> {
    let parsed: SessionJson = serde_json::from_slice(body)
        .map_err(|e| Error::protocol(what, format!("bad upsert session JSON: {e}")))?;
    let schema = if parsed.schema.is_null() {
        TableSchema::default()
    } else {
        schema_from_json(what, &parsed.schema)?
    };
    let slots: Vec<UpsertSlot> = parsed
        .slots
        .into_iter()
        .map(|s| UpsertSlot {
            id: match s.slot_id {
                serde_json::Value::String(id) => id,
                other => other.to_string(),
            },
            server: s.worker_addr,
            buckets: s.buckets,
        })
        .collect();
    let info = UpsertSessionInfo {
        id: parsed.id,
        status: SessionState::parse(&parsed.status),
        slots,
        schema,
        hash_key: parsed.hash_key,
        hasher: parsed.hasher.unwrap_or_else(|| "default".to_owned()),
    };
    // The bucket ids must be exactly 0..n: the hash is taken modulo n.
    let mut buckets: Vec<u32> = info
        .slots
        .iter()
        .flat_map(|s| s.buckets.iter().copied())
        .collect();
    buckets.sort_unstable();
    if !buckets.iter().copied().eq(0..info.bucket_count()) || buckets.is_empty() {
        return Err(Error::protocol(
            what,
            format!("the session's buckets are not 0..n: {buckets:?}"),
        ));
    }
    Ok(info)
}
