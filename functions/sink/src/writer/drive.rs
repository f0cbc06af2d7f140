//! The one write loop every tunnel kind runs under, and what it reports per partition.
//!
//! A tunnel kind is a [`PartitionWriter`]: `stage` sends a partition's rows, `commit` makes them
//! visible. [`write_partitions`] stages the batches (at once where staged rows are invisible,
//! else one by one, in the plan's order across tables), then commits them in the plan's order,
//! and stops at the first failure that stops the batch: the partitions after it are not
//! committed (a stream's are not tried), and after a staging failure nothing staged is committed.
//! So what is written of each Kafka partition is a prefix of its records, and a partial batch
//! response names the first unwritten offset exactly; a stream's packs are visible once staged,
//! which the outcome says.

use std::future::Future;

use futures_util::stream::{self, StreamExt};
use maxcompute_client::Error as ClientError;
use maxcompute_core::spec::PartitionSpec;
use tokio::time::Instant;

use crate::plan::PartitionBatch;

/// What happened to one partition's rows.
#[derive(Debug)]
pub struct PartitionOutcome {
    /// `None`: a table without partition columns.
    pub spec: Option<PartitionSpec>,
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

/// How many partitions are staged at once when staged rows are invisible (batch, upsert): their
/// requests overlap, while the commits stay in order, one after another.
const STAGE_AHEAD: usize = 8;

/// Writes `parts` in order with `writer`: one outcome per partition, in the same order.
/// `stops` says whether a failure stops the partitions after it (a partition refused for good
/// does not when its records go to the error topic). Never panics.
///
/// Consecutive partitions whose staged rows are invisible until committed are staged at once
/// (at most [`STAGE_AHEAD`]): what is staged after a failure that stops the batch is simply
/// never committed, so the outcome is the same as staging them one by one. A stream's staged
/// rows are visible, so its partitions are staged one by one and none after such a failure.
pub(super) async fn write_partitions<W: PartitionWriter + Sync>(
    writer: &W,
    parts: &[PartitionBatch<'_>],
    stops: impl Fn(&PartitionBatch<'_>, &ClientError) -> bool,
    deadline: Instant,
) -> Vec<PartitionOutcome> {
    let stagings = stage_all(writer, parts, &stops, deadline).await;
    let mut outcomes: Vec<PartitionOutcome> = parts.iter().map(PartitionOutcome::skipped).collect();
    let mut staged = Vec::with_capacity(parts.len());
    let mut stopped = false;
    for (index, (part, staging)) in parts.iter().zip(stagings).enumerate() {
        match staging {
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

/// Stages `parts` in order, invisible runs at once, up to and including the first failure that
/// stops the batch: one staging per partition tried, in the same order.
async fn stage_all<W: PartitionWriter + Sync>(
    writer: &W,
    parts: &[PartitionBatch<'_>],
    stops: &impl Fn(&PartitionBatch<'_>, &ClientError) -> bool,
    deadline: Instant,
) -> Vec<Result<(W::Staged, u64), StageError>> {
    let mut stagings = Vec::with_capacity(parts.len());
    let mut rest = parts;
    while !rest.is_empty() {
        let invisible = rest
            .iter()
            .take_while(|p| !writer.visible_when_staged(p))
            .count();
        let (now, later) = rest.split_at(invisible.max(1));
        let results: Vec<_> = if invisible == 0 {
            let mut one = Vec::with_capacity(1);
            for part in now {
                one.push(writer.stage(part, deadline).await);
            }
            one
        } else {
            // The futures are made first so that the stream holds no closure (whose lifetimes
            // would keep the handler's future from being `Send`).
            let futures: Vec<_> = now.iter().map(|p| writer.stage(p, deadline)).collect();
            stream::iter(futures).buffered(STAGE_AHEAD).collect().await
        };
        let stop = now
            .iter()
            .zip(&results)
            .any(|(part, r)| matches!(r, Err(e) if stops(part, &e.error)));
        stagings.extend(results);
        if stop {
            break;
        }
        rest = later;
    }
    stagings
}

fn set(outcomes: &mut [PartitionOutcome], index: usize, outcome: PartitionOutcome) {
    if let Some(slot) = outcomes.get_mut(index) {
        *slot = outcome;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use std::collections::BTreeSet;
    use std::sync::Mutex;
    use std::time::Duration;

    use maxcompute_core::codec::{BufferPool, Packer};
    use tokio::sync::Barrier;

    use super::*;

    /// A tunnel kind that logs its calls, fails the stagings and commits it is told to, and
    /// (when given a barrier) lets no staging finish before every partition's has begun.
    struct Fake<const VISIBLE: bool> {
        log: Mutex<Vec<String>>,
        fail_stage: BTreeSet<&'static str>,
        fail_commit: BTreeSet<&'static str>,
        barrier: Option<Barrier>,
    }

    impl<const VISIBLE: bool> Fake<VISIBLE> {
        fn new(fail_stage: &[&'static str], fail_commit: &[&'static str]) -> Self {
            Self {
                log: Mutex::new(Vec::new()),
                fail_stage: fail_stage.iter().copied().collect(),
                fail_commit: fail_commit.iter().copied().collect(),
                barrier: None,
            }
        }

        fn log(&self) -> Vec<String> {
            self.log.lock().unwrap().clone()
        }
    }

    fn refused(part: &PartitionBatch<'_>) -> ClientError {
        ClientError::Protocol {
            what: "test",
            detail: format!("{} refused", part.name()),
        }
    }

    impl<const VISIBLE: bool> PartitionWriter for Fake<VISIBLE> {
        type Staged = String;

        fn visible_when_staged(&self, _part: &PartitionBatch<'_>) -> bool {
            VISIBLE
        }

        async fn stage(
            &self,
            part: &PartitionBatch<'_>,
            _deadline: Instant,
        ) -> Result<(String, u64), StageError> {
            let name = part.name();
            self.log.lock().unwrap().push(format!("stage {name}"));
            if let Some(barrier) = &self.barrier {
                barrier.wait().await;
            }
            if self.fail_stage.contains(name.as_str()) {
                return Err(StageError::nothing_written(refused(part)));
            }
            Ok((name, 1))
        }

        async fn commit(
            &self,
            part: &PartitionBatch<'_>,
            staged: String,
            _deadline: Instant,
        ) -> Result<(), ClientError> {
            assert_eq!(staged, part.name(), "a partition commits its own staging");
            self.log.lock().unwrap().push(format!("commit {staged}"));
            if self.fail_commit.contains(staged.as_str()) {
                return Err(refused(part));
            }
            Ok(())
        }
    }

    const SPECS: [&str; 3] = ["pt=a", "pt=b", "pt=c"];

    fn parts() -> Vec<PartitionBatch<'static>> {
        SPECS
            .iter()
            .map(|spec| PartitionBatch {
                table: "t".to_owned(),
                spec: Some(spec.parse().unwrap()),
                records: Vec::new(),
                keys: Vec::new(),
                data_columns: 0,
                encoded: Packer::new(Vec::new(), 0, &BufferPool::new()).finish(),
            })
            .collect()
    }

    fn results(outcomes: &[PartitionOutcome]) -> Vec<&'static str> {
        outcomes
            .iter()
            .map(|o| match o.result {
                WriteResult::Written => "written",
                WriteResult::Failed(_) => "failed",
                WriteResult::Skipped => "skipped",
                WriteResult::Retried => "retried",
            })
            .collect()
    }

    fn deadline() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    #[tokio::test]
    async fn invisible_stagings_overlap_and_commits_follow_in_order() {
        let mut fake = Fake::<false>::new(&[], &[]);
        // Every staging waits until all three have begun: staged one by one, the first would
        // wait for ever.
        fake.barrier = Some(Barrier::new(SPECS.len()));
        let parts = parts();
        let outcomes = tokio::time::timeout(
            Duration::from_secs(30),
            write_partitions(&fake, &parts, |_, _| true, deadline()),
        )
        .await
        .expect("the stagings overlap");
        assert_eq!(results(&outcomes), ["written"; 3]);
        let log = fake.log();
        let commits: Vec<&str> = log[3..].iter().map(String::as_str).collect();
        assert_eq!(commits, ["commit pt=a", "commit pt=b", "commit pt=c"]);
    }

    #[tokio::test]
    async fn after_an_invisible_staging_fails_nothing_is_committed() {
        let fake = Fake::<false>::new(&["pt=b"], &[]);
        let outcomes = write_partitions(&fake, &parts(), |_, _| true, deadline()).await;
        assert_eq!(results(&outcomes), ["skipped", "failed", "skipped"]);
        assert!(
            fake.log().iter().all(|l| l.starts_with("stage")),
            "{:?}",
            fake.log()
        );
    }

    #[tokio::test]
    async fn after_a_visible_staging_fails_no_later_partition_is_tried() {
        let fake = Fake::<true>::new(&["pt=b"], &[]);
        let outcomes = write_partitions(&fake, &parts(), |_, _| true, deadline()).await;
        // pt=a's rows are visible once staged, so they count as written.
        assert_eq!(results(&outcomes), ["written", "failed", "skipped"]);
        assert_eq!(fake.log(), ["stage pt=a", "stage pt=b"]);
    }

    #[tokio::test]
    async fn a_failed_commit_stops_the_commits_after_it() {
        let fake = Fake::<false>::new(&[], &["pt=b"]);
        let outcomes = write_partitions(&fake, &parts(), |_, _| true, deadline()).await;
        assert_eq!(results(&outcomes), ["written", "failed", "skipped"]);
        let log = fake.log();
        assert_eq!(log[3..], ["commit pt=a", "commit pt=b"]);
        assert_eq!(outcomes[1].unwritten.len(), outcomes[1].rows as usize);
    }

    #[tokio::test]
    async fn a_failure_that_does_not_stop_lets_the_others_be_written() {
        for visible in [false, true] {
            let outcomes = if visible {
                let fake = Fake::<true>::new(&["pt=a"], &[]);
                write_partitions(&fake, &parts(), |_, _| false, deadline()).await
            } else {
                let fake = Fake::<false>::new(&["pt=a"], &["pt=b"]);
                write_partitions(&fake, &parts(), |_, _| false, deadline()).await
            };
            let want = if visible {
                ["failed", "written", "written"]
            } else {
                ["failed", "failed", "written"]
            };
            assert_eq!(results(&outcomes), want, "visible {visible}");
        }
    }
}
