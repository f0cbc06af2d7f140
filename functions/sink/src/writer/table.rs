//! The table's writer, one per warm function: the tunnel kind chosen at cold start from the
//! configuration and the table, run under the one write loop.

use maxcompute_client::{Client, Error as ClientError, StreamSessions};
use maxcompute_core::types::OdpsType;
use tokio::time::Instant;

use super::batch::BatchWriter;
use super::drive::{PartitionOutcome, write_partitions};
use super::stream::StreamWriter;
use super::upsert::UpsertWriter;
use crate::config::TunnelKind;
use crate::plan::PartitionBatch;

/// How the rows reach the table, decided at cold start from the configuration and the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WritePath {
    /// Appended through this tunnel.
    Append(TunnelKind),
    /// Upserted into a Delta Table by its primary key (these columns, in this order): a row
    /// written again replaces itself.
    Upsert { key: Vec<KeyColumn> },
}

/// A primary-key column of a Delta Table, found in its schema once at cold start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyColumn {
    pub name: String,
    /// Its position among the table's data columns.
    pub index: usize,
    pub ty: OdpsType,
}

/// The Tunnel side of the sink; one per warm function.
#[derive(Debug)]
pub struct TableWriter {
    /// The client and table, and the stream sessions kept across warm invocations.
    streams: StreamSessions,
    path: WritePath,
    /// Whether a partition MaxCompute refuses for good stops the partitions after it (the
    /// default), or only itself, because its records go to the error topic instead.
    past_permanent: bool,
}

impl TableWriter {
    pub fn new(client: Client, table: String, path: WritePath) -> Self {
        Self {
            streams: StreamSessions::new(client, table),
            path,
            past_permanent: false,
        }
    }

    /// Writes on past a partition that failed permanently (its records go to the error topic),
    /// stopping only at a transient failure.
    pub fn past_permanent_failures(mut self) -> Self {
        self.past_permanent = true;
        self
    }

    pub fn path(&self) -> &WritePath {
        &self.path
    }

    pub fn client(&self) -> &Client {
        self.streams.client()
    }

    /// Writes the planned partitions in order and stops at the first failure (see
    /// [`super::drive`]); one outcome per partition, in the same order.
    pub async fn write(
        &self,
        parts: &[PartitionBatch<'_>],
        deadline: Instant,
    ) -> Vec<PartitionOutcome> {
        let stops = |error: &ClientError| error.is_transient() || !self.past_permanent;
        let client = self.client();
        let table = self.streams.table();
        match &self.path {
            WritePath::Append(TunnelKind::Stream) => {
                let writer = StreamWriter {
                    sessions: &self.streams,
                };
                write_partitions(&writer, parts, stops, deadline).await
            }
            WritePath::Append(TunnelKind::Batch) => {
                let writer = BatchWriter { client, table };
                write_partitions(&writer, parts, stops, deadline).await
            }
            WritePath::Upsert { key } => {
                let writer = UpsertWriter { client, table, key };
                write_partitions(&writer, parts, stops, deadline).await
            }
        }
    }
}
