//! Batch upload sessions (the classic tunnel): create a session, PUT blocks, commit.
//!
//! A session targets one table partition. Creating it for a partition that does not exist
//! (`NoSuchPartition`) creates the partition through a SQL instance and tries once more. Blocks
//! are independent record streams; re-sending a block id replaces it, which is what makes block
//! retries safe. A commit of blocks the service acknowledged to the session goes at once; a
//! commit of blocks written elsewhere is first verified against the server's block list, as both
//! SDKs do. This module does not buffer or encode records.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use reqwest::Method;
use serde::Deserialize;
use tokio::time::Instant;
use tracing::{debug, info};

use super::error::Error;
use super::handle::{Client, validate_name};
use super::limits::MAX_BLOCKS;
use super::poll::{COMMIT_POLL, Poll};
use super::request::{Api, Call};
use super::service::schema_from_json;
use maxcompute_core::protocol::SessionState;
use maxcompute_core::spec::PartitionSpec;
use maxcompute_core::types::TableSchema;

/// What the server says about an upload session.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadSessionInfo {
    pub upload_id: String,
    /// `normal`, `closing`, `closed`, `canceled`, `expired`, `critical`.
    pub status: SessionState,
    /// Block ids received so far, sorted.
    pub uploaded_blocks: Vec<u32>,
    pub schema: TableSchema,
    /// The per-cell byte limit, when the server states one.
    pub max_field_size: Option<u64>,
}

/// An open upload session; cheap to clone.
#[derive(Debug, Clone)]
pub struct UploadSession {
    client: Client,
    table: String,
    partition: Option<PartitionSpec>,
    info: UploadSessionInfo,
    /// The blocks the service acknowledged to this session or a clone of it.
    acknowledged: Arc<Mutex<BTreeSet<u32>>>,
}

impl Client {
    /// Creates an upload session for `table` (and `partition` for partitioned tables), creating
    /// the partition first if the tunnel reports it missing.
    pub async fn create_upload_session(
        &self,
        table: &str,
        partition: Option<&PartitionSpec>,
        deadline: Instant,
    ) -> Result<UploadSession, Error> {
        validate_name("table", table)?;
        let info = self
            .in_partition(table, partition, deadline, || {
                self.create_upload_session_once(table, partition, deadline)
            })
            .await?;
        info!(
            table,
            partition = partition.map(|p| p.to_string()).unwrap_or_default(),
            upload_id = %info.upload_id,
            "created upload session"
        );
        Ok(UploadSession {
            client: self.clone(),
            table: table.to_owned(),
            partition: partition.cloned(),
            info,
            acknowledged: Arc::default(),
        })
    }

    async fn create_upload_session_once(
        &self,
        table: &str,
        partition: Option<&PartitionSpec>,
        deadline: Instant,
    ) -> Result<UploadSessionInfo, Error> {
        let mut call = Call::new(
            "create_upload_session",
            Method::POST,
            Api::Tunnel,
            self.table_path(table),
        )
        .query("uploads", "");
        if let Some(p) = partition {
            call = call.query("partition", p.tunnel_form());
        }
        let reply = self.send(&call, deadline).await?;
        parse_session("create_upload_session", &reply.body)
    }
}

impl UploadSession {
    pub fn id(&self) -> &str {
        &self.info.upload_id
    }

    /// The session as it was when created (or last refreshed by [`UploadSession::commit`]).
    pub fn info(&self) -> &UploadSessionInfo {
        &self.info
    }

    pub fn schema(&self) -> &TableSchema {
        &self.info.schema
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn partition(&self) -> Option<&PartitionSpec> {
        self.partition.as_ref()
    }

    /// Uploads one block: a complete record stream. Sending the same id again replaces it.
    pub async fn upload_block(
        &self,
        block_id: u32,
        records: Bytes,
        deadline: Instant,
    ) -> Result<(), Error> {
        if block_id >= MAX_BLOCKS {
            return Err(Error::InvalidBlockId(block_id));
        }
        let raw_len = records.len();
        let body = self.client.data_body(records);
        let call = self
            .call("upload_block", Method::PUT)
            .query("blockid", block_id.to_string())
            .body(body);
        self.client.send(&call, deadline).await?;
        self.acknowledged
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(block_id);
        debug!(upload_id = %self.info.upload_id, block_id, bytes = raw_len, "uploaded block");
        Ok(())
    }

    /// The session's current state, including the blocks the server holds.
    pub async fn status(&self, deadline: Instant) -> Result<UploadSessionInfo, Error> {
        let call = self.call("upload_status", Method::GET);
        let reply = self.client.send(&call, deadline).await?;
        parse_session("upload_status", &reply.body)
    }

    /// Commits the session holding exactly `blocks`. When they are the blocks the service
    /// acknowledged to this session (or its clones), that is known and the commit goes at once;
    /// otherwise the session's state is read first and compared, as the SDKs do (blocks written
    /// by another process), and a difference is refused before anything is committed.
    ///
    /// A commit whose answer was lost is recognised by asking the service: a session that is
    /// `closed` was committed (only a commit closes a session, and an upload id is never
    /// reused), whatever block list it still shows; a session that is `closing` is being
    /// committed and is waited for. So a commit retried after a lost answer, or a whole
    /// `commit` called again, reports success instead of a conflict that would make the caller
    /// write the rows a second time.
    pub async fn commit(&mut self, blocks: &[u32], deadline: Instant) -> Result<(), Error> {
        let expected: BTreeSet<u32> = blocks.iter().copied().collect();
        let known = *self
            .acknowledged
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            == expected;
        let checked = if known {
            None
        } else {
            let status = self.status(deadline).await?;
            if !status.status.is_open() {
                // Committed (or being committed) by an earlier call whose answer was lost; any
                // other state is an error the wait reports.
                let refused = Error::SessionNotOpen {
                    session: self.info.upload_id.clone(),
                    status: status.status.clone(),
                };
                return self.await_closed(status, refused, deadline).await;
            }
            let server: BTreeSet<u32> = status.uploaded_blocks.iter().copied().collect();
            if server != expected {
                return Err(Error::BlockListMismatch {
                    upload_id: self.info.upload_id.clone(),
                    expected: expected.into_iter().collect(),
                    server: server.into_iter().collect(),
                });
            }
            Some(status)
        };
        let call = self.call("commit_upload", Method::POST);
        let reply = match self.client.send(&call, deadline).await {
            Ok(reply) => reply,
            // A commit retried after a lost answer finds the session already committed (a
            // conflict), and a commit that landed may still be answered with an error: the
            // session's state decides.
            Err(e) => match self.status(deadline).await {
                Ok(now) => return self.await_closed(now, e, deadline).await,
                Err(_) => return Err(e),
            },
        };
        // The answer normally repeats the session; an empty body is accepted too.
        self.info = if reply.body.iter().all(u8::is_ascii_whitespace) {
            let mut info = checked.unwrap_or_else(|| self.info.clone());
            info.status = SessionState::Closed;
            info
        } else {
            parse_session("commit_upload", &reply.body)?
        };
        info!(
            table = %self.table,
            upload_id = %self.info.upload_id,
            blocks = expected.len(),
            "committed upload session"
        );
        Ok(())
    }

    /// Waits, from the state `now`, until the session is `closed` (its commit is done) and
    /// returns `Ok`; returns `otherwise` when it is in any state but `closed` or `closing`
    /// (`normal` after a failed commit: the commit did not land).
    async fn await_closed(
        &mut self,
        mut now: UploadSessionInfo,
        otherwise: Error,
        deadline: Instant,
    ) -> Result<(), Error> {
        let mut poll = Poll::new(COMMIT_POLL, deadline);
        loop {
            match now.status {
                SessionState::Closed => break,
                SessionState::Closing => {}
                _ => return Err(otherwise),
            }
            poll.wait().await?;
            now = self.status(deadline).await?;
        }
        info!(upload_id = %self.info.upload_id, "the session was already committed");
        self.info = now;
        Ok(())
    }

    fn call(&self, what: &'static str, method: Method) -> Call {
        let mut call = Call::new(
            what,
            method,
            Api::Tunnel,
            self.client.table_path(&self.table),
        )
        .query("uploadid", self.info.upload_id.clone());
        if let Some(p) = &self.partition {
            call = call.query("partition", p.tunnel_form());
        }
        call
    }
}

#[derive(Deserialize)]
struct SessionJson {
    #[serde(rename = "UploadID")]
    upload_id: String,
    #[serde(rename = "Status", default)]
    status: String,
    #[serde(rename = "UploadedBlockList", default)]
    uploaded_blocks: Vec<BlockJson>,
    #[serde(rename = "Schema", default)]
    schema: serde_json::Value,
    #[serde(rename = "MaxFieldSize", default)]
    max_field_size: Option<u64>,
}

#[derive(Deserialize)]
struct BlockJson {
    #[serde(rename = "BlockID")]
    block_id: u32,
}

fn parse_session(what: &'static str, body: &[u8]) -> Result<UploadSessionInfo, Error> {
    let parsed: SessionJson = serde_json::from_slice(body)
        .map_err(|e| Error::protocol(what, format!("bad session JSON: {e}")))?;
    let schema = if parsed.schema.is_null() {
        TableSchema::default()
    } else {
        schema_from_json(what, &parsed.schema)?
    };
    let mut uploaded_blocks: Vec<u32> = parsed.uploaded_blocks.iter().map(|b| b.block_id).collect();
    uploaded_blocks.sort_unstable();
    uploaded_blocks.dedup();
    Ok(UploadSessionInfo {
        upload_id: parsed.upload_id,
        status: SessionState::parse(&parsed.status),
        uploaded_blocks,
        schema,
        max_field_size: parsed.max_field_size,
    })
}
