//! Upserts into a Delta Table: one upsert session per partition (opened ahead, during the commit
//! of the invocation before, when it wrote the same partition: see [`super::ahead`]), the rows
//! regrouped by the session's buckets (each record's encoded bytes copied, not encoded again),
//! one write per bucket (the buckets at once), then a commit. Upsert sessions do not create
//! partitions, so a missing one is created first. A replay of the same records replaces them,
//! so a retry after any failure writes nothing twice.

use futures_util::stream::{self, StreamExt, TryStreamExt};
use maxcompute_client::{Client, Error as ClientError, UpsertSession, UpsertSessionInfo};
use maxcompute_core::bucket_hash::{HashError, Hasher, bucket, record_hash};
use maxcompute_core::codec::Pack;
use maxcompute_core::spec::PartitionSpec;
use maxcompute_core::types::OdpsType;
use tokio::time::Instant;
use tracing::info;

use super::ahead::{self, Ahead};
use super::drive::{PartitionWriter, StageError};
use crate::plan::PartitionBatch;

/// A primary-key column of a Delta Table, found in its schema once at cold start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyColumn {
    pub name: String,
    /// Its position among the table's data columns.
    pub index: usize,
    pub ty: OdpsType,
}

/// How many bucket writes of one session are in flight at once.
const WRITES_AHEAD: usize = 16;

/// Writes rows through upsert sessions of one Delta Table.
#[derive(Debug)]
pub(super) struct UpsertWriter<'a> {
    pub(super) client: &'a Client,
    pub(super) table: &'a str,
    /// The primary-key columns whose cells the plan kept for each row, in that order.
    pub(super) key: &'a [KeyColumn],
    pub(super) ahead: &'a Ahead<UpsertSession>,
}

impl PartitionWriter for UpsertWriter<'_> {
    type Staged = UpsertSession;
    fn visible_when_staged(&self, _part: &PartitionBatch<'_>) -> bool {
        false
    }

    async fn stage(
        &self,
        part: &PartitionBatch<'_>,
        deadline: Instant,
    ) -> Result<(UpsertSession, u64), StageError> {
        let spec = part.spec.as_ref();
        ahead::stage_through(
            self.ahead.take(spec),
            |session: &UpsertSession| session.info().schema.columns.len() == part.data_columns,
            move || async move {
                self.open(spec, deadline)
                    .await
                    .map_err(StageError::nothing_written)
            },
            move |session| self.write(session, part, deadline),
            |refused: &StageError| !refused.error.is_transient(),
        )
        .await
    }

    async fn commit(
        &self,
        part: &PartitionBatch<'_>,
        mut session: UpsertSession,
        deadline: Instant,
    ) -> Result<(), ClientError> {
        let spec = part.spec.as_ref();
        self.ahead
            .commit_and_open_next(spec, session.commit(deadline), self.open(spec, deadline))
            .await?;
        info!(partition = %part.name(), rows = part.rows(), "committed upsert session");
        Ok(())
    }
}

impl UpsertWriter<'_> {
    /// Writes the partition's rows to the buckets of `session`.
    async fn write(
        &self,
        session: UpsertSession,
        part: &PartitionBatch<'_>,
        deadline: Instant,
    ) -> Result<(UpsertSession, u64), StageError> {
        // The upsert columns follow the table's own: rows encoded for other data columns would
        // put their cells in the wrong columns.
        if session.info().schema.columns.len() != part.data_columns {
            return Err(StageError::nothing_written(ClientError::Protocol {
                what: super::SCHEMA_CHANGED_WHAT,
                detail: format!(
                    "the upsert session has {} data columns, the rows were encoded for {}",
                    session.info().schema.columns.len(),
                    part.data_columns
                ),
            }));
        }
        let packs = self
            .bucket_packs(session.info(), part)
            .map_err(StageError::nothing_written)?;
        let bytes = packs.iter().map(|(_, pack)| pack.bytes.len() as u64).sum();
        // The buckets are written at once (nothing is visible before the commit); made first so
        // that the stream holds no closure, which would keep the handler's future from being
        // `Send`.
        let writes: Vec<_> = packs
            .into_iter()
            .map(|(bucket, pack)| {
                let count = pack.count();
                session.write_bucket(bucket, pack.bytes, count, deadline)
            })
            .collect();
        stream::iter(writes)
            .buffer_unordered(WRITES_AHEAD)
            .try_collect::<()>()
            .await
            .map_err(StageError::nothing_written)?;
        Ok((session, bytes))
    }

    /// An upsert session for a partition (`None`: a table without partition columns); the
    /// client creates the partition first if it is missing.
    async fn open(
        &self,
        spec: Option<&PartitionSpec>,
        deadline: Instant,
    ) -> Result<UpsertSession, ClientError> {
        self.client
            .create_upsert_session(self.table, spec, deadline)
            .await
    }

    /// The partition's rows in packs per bucket of `session` (its hash of its `hash_key`
    /// columns).
    fn bucket_packs(
        &self,
        session: &UpsertSessionInfo,
        part: &PartitionBatch<'_>,
    ) -> Result<Vec<(u32, Pack)>, ClientError> {
        let misfit = |detail: String| ClientError::Protocol {
            what: "upsert",
            detail,
        };
        let hasher: Hasher = session
            .hasher
            .parse()
            .map_err(|e: HashError| misfit(e.to_string()))?;
        // The session's hash columns, as positions among the key cells the plan kept.
        let order: Vec<usize> = session
            .hash_key
            .iter()
            .map(|k| {
                self.key
                    .iter()
                    .position(|c| c.name.eq_ignore_ascii_case(k))
                    .ok_or_else(|| {
                        misfit(format!(
                            "the session hashes column `{k}`, which is not in the table's primary key"
                        ))
                    })
            })
            .collect::<Result<_, _>>()?;
        let buckets = session.bucket_count();
        let mut of_row = Vec::with_capacity(part.rows());
        for (row, keys) in part.keys.iter().enumerate() {
            let cells = order
                .iter()
                .filter_map(|&i| Some((&self.key.get(i)?.ty, keys.get(i)?)));
            let hash = record_hash(hasher, cells).map_err(|e| {
                let id = part.records.get(row).map(|r| r.id());
                misfit(format!("record {id:?}: {e}"))
            })?;
            of_row.push(bucket(hash, buckets));
        }
        Ok(part
            .encoded
            .grouped(|row| of_row.get(row).copied().unwrap_or(0)))
    }
}
