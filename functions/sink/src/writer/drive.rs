//! The one write loop every tunnel kind runs under, and what it reports per partition.
//!
//! A tunnel kind is a [`PartitionWriter`]: `stage` sends a partition's rows, `commit` makes them
//! visible. [`write_partitions`] stages the batches in the plan's order (across tables), then
//! commits them in that order, and stops at the first failure that stops the batch: the
//! partitions after it are not tried, and after a staging failure nothing staged is committed.
//! So what is written of each Kafka partition is a prefix of its records, and a partial batch
//! response names the first unwritten offset exactly; a stream's packs are visible once staged,
//! which the outcome says.

use std::future::Future;

use maxcompute_client::Error as ClientError;
use maxcompute_core::spec::PartitionSpec;
use tokio::time::Instant;

use crate::plan::PartitionBatch;

/// What happened to one partition's rows.
#[derive(Debug)]
pub struct PartitionOutcome {
    pub spec: PartitionSpec,
    pub rows: u64,
    /// Bytes sent for the rows, when they were written.
    pub bytes: u64,
    pub result: WriteResult,
    /// The index (into the partition batch's records) of every row not known to be written.
    pub unwritten: Vec<usize>,
}

/// Whether a partition's rows were written.
#[derive(Debug)]
pub enum WriteResult {
    Written,
    /// Not (all) written: `unwritten` says which rows.
    Failed(ClientError),
    /// Not tried, or not committed, because a partition before it failed.
    Skipped,
    /// Its `unwritten` rows are written by a second pass, with the table read anew (its schema
    /// changed under the first): the rest are written.
    Retried,
}

impl PartitionOutcome {
    fn written(part: &PartitionBatch<'_>, bytes: u64) -> Self {
        Self::new(part, bytes, WriteResult::Written, part.rows())
    }

    fn failed(part: &PartitionBatch<'_>, error: ClientError, written_rows: usize) -> Self {
        Self::new(part, 0, WriteResult::Failed(error), written_rows)
    }

    fn skipped(part: &PartitionBatch<'_>) -> Self {
        Self::new(part, 0, WriteResult::Skipped, 0)
    }

    /// The first `written_rows` rows (in row order) are written, the rest not.
    fn new(
        part: &PartitionBatch<'_>,
        bytes: u64,
        result: WriteResult,
        written_rows: usize,
    ) -> Self {
        Self {
            spec: part.spec.clone(),
            rows: part.rows() as u64,
            bytes,
            result,
            unwritten: (written_rows.min(part.rows())..part.rows()).collect(),
        }
    }
}

/// A staging that failed, and how many rows it had made visible (a prefix, in row order).
#[derive(Debug)]
pub(super) struct StageError {
    pub(super) error: ClientError,
    pub(super) written_rows: usize,
}

impl StageError {
    /// A failure before any row was visible.
    pub(super) fn nothing_written(error: ClientError) -> Self {
        Self {
            error,
            written_rows: 0,
        }
    }
}

/// How one tunnel kind writes a partition.
pub(super) trait PartitionWriter {
    /// What staging leaves for the commit (a session, its blocks).
    type Staged: Send;

    /// Whether staged rows are visible before the commit (a stream's are): then a commit that
    /// never comes still leaves them written.
    fn visible_when_staged(&self, part: &PartitionBatch<'_>) -> bool;

    /// Sends the partition's rows; answers what the commit needs and the bytes sent.
    fn stage(
        &self,
        part: &PartitionBatch<'_>,
        deadline: Instant,
    ) -> impl Future<Output = Result<(Self::Staged, u64), StageError>> + Send;

    /// Makes the staged rows visible.
    fn commit(
        &self,
        part: &PartitionBatch<'_>,
        staged: Self::Staged,
        deadline: Instant,
    ) -> impl Future<Output = Result<(), ClientError>> + Send;
}

/// Writes `parts` in order with `writer`: one outcome per partition, in the same order.
/// `stops` says whether a failure stops the partitions after it (a partition refused for good
/// does not when its records go to the error topic). Never panics.
pub(super) async fn write_partitions<W: PartitionWriter + Sync>(
    writer: &W,
    parts: &[PartitionBatch<'_>],
    stops: impl Fn(&PartitionBatch<'_>, &ClientError) -> bool,
    deadline: Instant,
) -> Vec<PartitionOutcome> {
    let mut outcomes: Vec<PartitionOutcome> = parts.iter().map(PartitionOutcome::skipped).collect();
    let mut staged = Vec::with_capacity(parts.len());
    let mut stopped = false;
    for (index, part) in parts.iter().enumerate() {
        match writer.stage(part, deadline).await {
            Ok((s, bytes)) => staged.push((index, part, s, bytes)),
            Err(StageError {
                error,
                written_rows,
            }) => {
                stopped = stops(part, &error);
                set(
                    &mut outcomes,
                    index,
                    PartitionOutcome::failed(part, error, written_rows),
                );
                if stopped {
                    break;
                }
            }
        }
    }
    for (index, part, s, bytes) in staged {
        let outcome = if stopped {
            // Nothing more is committed once the batch has stopped: a retry of the whole batch
            // then writes nothing twice, but what a stream made visible already.
            if !writer.visible_when_staged(part) {
                continue;
            }
            PartitionOutcome::written(part, bytes)
        } else {
            match writer.commit(part, s, deadline).await {
                Ok(()) => PartitionOutcome::written(part, bytes),
                Err(error) => {
                    stopped = stops(part, &error);
                    let visible = if writer.visible_when_staged(part) {
                        part.rows()
                    } else {
                        0
                    };
                    PartitionOutcome::failed(part, error, visible)
                }
            }
        };
        set(&mut outcomes, index, outcome);
    }
    outcomes
}

fn set(outcomes: &mut [PartitionOutcome], index: usize, outcome: PartitionOutcome) {
    if let Some(slot) = outcomes.get_mut(index) {
        *slot = outcome;
    }
}
