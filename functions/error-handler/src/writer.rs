//! Writes the planned partitions of the errors table through Tunnel stream sessions.
//!
//! One stream session per partition, kept across invocations of a warm function; the server
//! creates missing partitions. Partitions are written in the plan's order and the first failure
//! stops the rest: the trigger retries the whole batch, and later partitions would only be
//! written twice. Retries of transient failures happen in the client, bounded by the deadline.

use maxcompute_client::{Client, Error as ClientError, StreamSessions};
use tokio::time::Instant;

use crate::plan::ErrorPartition;

/// The Tunnel side; one per warm function.
#[derive(Debug)]
pub struct StreamWriter {
    streams: StreamSessions,
}

impl StreamWriter {
    pub fn new(client: Client, table: String) -> Self {
        Self {
            streams: StreamSessions::new(client, table),
        }
    }

    pub fn client(&self) -> &Client {
        self.streams.client()
    }

    /// Writes the partitions in order, stopping at the first failure: how many were written,
    /// and the failure with the partition it stopped at.
    pub async fn write_all<'p>(
        &self,
        parts: &'p [ErrorPartition],
        deadline: Instant,
    ) -> (usize, Option<(&'p ErrorPartition, ClientError)>) {
        for (written, part) in parts.iter().enumerate() {
            if let Err(e) = self.write(part, deadline).await {
                return (written, Some((part, e)));
            }
        }
        (parts.len(), None)
    }

    /// Writes one partition's packs.
    async fn write(&self, part: &ErrorPartition, deadline: Instant) -> Result<(), ClientError> {
        for pack in part.encoded.in_order() {
            self.streams
                .write(&part.spec, pack.bytes.clone(), pack.count(), deadline)
                .await?;
        }
        Ok(())
    }
}
