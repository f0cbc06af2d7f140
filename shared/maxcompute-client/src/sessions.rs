//! Stream sessions of one table, one per partition, kept across calls so that a warm function
//! reuses them from one invocation to the next.
//!
//! A session kept from an earlier call may have expired or been dropped by the server; when it
//! refuses a write permanently, a new session is opened once and the pack written through it.
//! Transient failures are the session's own retries' business (bounded by the deadline); the
//! session is kept after them. This module does not encode or split records.

use std::collections::HashMap;

use bytes::Bytes;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tracing::warn;

use super::error::Error;
use super::handle::Client;
use super::stream::StreamSession;
use maxcompute_core::spec::PartitionSpec;

/// The stream sessions of one table, by partition.
#[derive(Debug)]
pub struct StreamSessions {
    client: Client,
    table: String,
    sessions: Mutex<HashMap<PartitionSpec, StreamSession>>,
}

impl StreamSessions {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            sessions: Mutex::new(HashMap::new()),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Writes one record pack (a complete record stream of `record_count` records) into
    /// `partition`, opening its session first when there is none (the server creates a missing
    /// partition).
    pub async fn write(
        &self,
        partition: &PartitionSpec,
        records: Bytes,
        record_count: u64,
        deadline: Instant,
    ) -> Result<(), Error> {
        let mut sessions = self.sessions.lock().await;
        let (mut session, kept) = match sessions.remove(partition) {
            Some(s) => (s, true),
            None => (self.open(partition, deadline).await?, false),
        };
        match session.write(records.clone(), record_count, deadline).await {
            Ok(()) => {
                sessions.insert(partition.clone(), session);
                Ok(())
            }
            Err(e) if kept && !e.is_transient() => {
                warn!(partition = %partition, error = %e, "a kept stream session refused a write, opening a new one");
                let mut fresh = self.open(partition, deadline).await?;
                fresh.write(records, record_count, deadline).await?;
                sessions.insert(partition.clone(), fresh);
                Ok(())
            }
            Err(e) => {
                if e.is_transient() {
                    sessions.insert(partition.clone(), session);
                }
                Err(e)
            }
        }
    }

    async fn open(
        &self,
        partition: &PartitionSpec,
        deadline: Instant,
    ) -> Result<StreamSession, Error> {
        self.client
            .create_stream_session(&self.table, Some(partition), deadline)
            .await
    }
}
