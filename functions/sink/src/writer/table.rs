//! A table's writer, one per table and warm function: the tunnel kind chosen when the table is
//! read, from the configuration and the table; and the writers of every table an invocation
//! writes, run together under the one write loop so that its order and its stop at the first
//! failure hold across tables.

use std::collections::BTreeMap;

use maxcompute_client::{
    Client, Error as ClientError, StreamSessions, UploadSession, UpsertSession,
};

use tokio::time::Instant;

use super::ahead::Ahead;
use super::batch::BatchWriter;
use super::drive::{PartitionOutcome, PartitionWriter, StageError, write_partitions};
use super::stream::StreamWriter;
use super::upsert::{KeyColumn, UpsertWriter};
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

/// The Tunnel side of the sink; one per warm function.
#[derive(Debug)]
pub struct TableWriter {
    /// The client and table, and the stream sessions kept across warm invocations.
    streams: StreamSessions,
    /// Batch and upsert sessions opened ahead for the next invocation.
    uploads_ahead: Ahead<UploadSession>,
    upserts_ahead: Ahead<UpsertSession>,
    path: WritePath,
    /// Whether a partition MaxCompute refuses for good stops the partitions after it (the
    /// default), or only itself, because its records go to the error topic instead.
    past_permanent: bool,
}

impl TableWriter {
    pub fn new(client: Client, table: String, path: WritePath) -> Self {
        Self {
            streams: StreamSessions::new(client, table),
            uploads_ahead: Ahead::default(),
            upserts_ahead: Ahead::default(),
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

    /// Writes the planned batches (all of this table) in order and stops at the first failure
    /// (see [`super::drive`]); one outcome per batch, in the same order.
    pub async fn write(
        &self,
        parts: &[PartitionBatch<'_>],
        deadline: Instant,
    ) -> Vec<PartitionOutcome> {
        TableWriters::new([self]).write(parts, deadline).await
    }

    fn table(&self) -> &str {
        self.streams.table()
    }

    fn stream(&self) -> StreamWriter<'_> {
        StreamWriter {
            sessions: &self.streams,
        }
    }

    fn batch(&self) -> BatchWriter<'_> {
        BatchWriter {
            client: self.client(),
            table: self.table(),
            ahead: &self.uploads_ahead,
        }
    }

    fn upsert<'a>(&'a self, key: &'a [KeyColumn]) -> UpsertWriter<'a> {
        UpsertWriter {
            client: self.client(),
            table: self.table(),
            key,
            ahead: &self.upserts_ahead,
        }
    }
}

/// The writers of the tables one invocation writes, by table name.
#[derive(Debug)]
pub struct TableWriters<'a> {
    by_table: BTreeMap<&'a str, &'a TableWriter>,
}

/// What staging left for the commit, by tunnel kind.
#[derive(Debug)]
pub(super) enum Staged {
    Stream,
    Batch((UploadSession, Vec<u32>)),
    Upsert(UpsertSession),
}

impl<'a> TableWriters<'a> {
    pub fn new(writers: impl IntoIterator<Item = &'a TableWriter>) -> Self {
        Self {
            by_table: writers.into_iter().map(|w| (w.table(), w)).collect(),
        }
    }

    /// Writes the planned batches in order, each through its table's writer, and stops at the
    /// first failure that stops the batch (see [`super::drive`]): across tables, as within one.
    /// One outcome per batch, in the same order.
    pub async fn write(
        &self,
        parts: &[PartitionBatch<'_>],
        deadline: Instant,
    ) -> Vec<PartitionOutcome> {
        let stops = |part: &PartitionBatch<'_>, error: &ClientError| {
            error.is_transient() || !self.writer(part).is_some_and(|w| w.past_permanent)
        };
        write_partitions(self, parts, stops, deadline).await
    }

    fn writer(&self, part: &PartitionBatch<'_>) -> Option<&'a TableWriter> {
        self.by_table.get(part.table.as_str()).copied()
    }

    fn writer_or_error(&self, part: &PartitionBatch<'_>) -> Result<&'a TableWriter, ClientError> {
        self.writer(part).ok_or_else(|| ClientError::Protocol {
            what: "write",
            detail: format!("no writer for table `{}`", part.table),
        })
    }
}

impl PartitionWriter for TableWriters<'_> {
    type Staged = Staged;

    fn visible_when_staged(&self, part: &PartitionBatch<'_>) -> bool {
        self.writer(part)
            .is_some_and(|w| w.path == WritePath::Append(TunnelKind::Stream))
    }

    async fn stage(
        &self,
        part: &PartitionBatch<'_>,
        deadline: Instant,
    ) -> Result<(Staged, u64), StageError> {
        let w = self
            .writer_or_error(part)
            .map_err(StageError::nothing_written)?;
        match &w.path {
            WritePath::Append(TunnelKind::Stream) => {
                let ((), bytes) = w.stream().stage(part, deadline).await?;
                Ok((Staged::Stream, bytes))
            }
            WritePath::Append(TunnelKind::Batch) => {
                let (staged, bytes) = w.batch().stage(part, deadline).await?;
                Ok((Staged::Batch(staged), bytes))
            }
            WritePath::Upsert { key } => {
                let (staged, bytes) = w.upsert(key).stage(part, deadline).await?;
                Ok((Staged::Upsert(staged), bytes))
            }
        }
    }

    async fn commit(
        &self,
        part: &PartitionBatch<'_>,
        staged: Staged,
        deadline: Instant,
    ) -> Result<(), ClientError> {
        let w = self.writer_or_error(part)?;
        match (staged, &w.path) {
            (Staged::Stream, _) => Ok(()),
            (Staged::Batch(staged), _) => w.batch().commit(part, staged, deadline).await,
            (Staged::Upsert(session), WritePath::Upsert { key }) => {
                w.upsert(key).commit(part, session, deadline).await
            }
            (Staged::Upsert(_), _) => Err(ClientError::Protocol {
                what: "write",
                detail: format!(
                    "table `{}` staged an upsert but is not upserted",
                    part.table
                ),
            }),
        }
    }
}
