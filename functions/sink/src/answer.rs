//! The answer to the trigger, pure: what the writes came to, turned into the invocation's
//! counts, the rejects of records MaxCompute refused for good (when they go to the error topic),
//! and the partial batch response or the error that makes the trigger retry.
//!
//! No I/O: delivering the refused records and logging are the handler's.

use std::collections::BTreeMap;

use maxcompute_core::event::{Reject, RejectClass};
use serde::Serialize;
use tracing::error;

use crate::error::SinkError;
use crate::plan::Plan;
use crate::writer::{PartitionOutcome, WriteResult};

/// The answer to the trigger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    /// Present only with partial batch responses: the first unwritten offset of each failed
    /// topic-partition. Empty means every record is written or accounted for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_item_failures: Option<Vec<BatchItemFailure>>,
    pub summary: Summary,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: ItemIdentifier,
}

/// A record named in a partial batch response, in the shape AWS's own libraries write
/// (`{"partition": "<topic>-<n>", "offset": N}`, where `partition` is the event's `records` key).
/// The trigger counts an identifier with any other key as a failure of the whole batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemIdentifier {
    /// The event's `records` key: `<topic>-<partition number>`.
    pub partition: String,
    pub offset: i64,
}

/// Counts for the invocation's log line and answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub records: usize,
    pub rows_written: u64,
    pub bytes_written: u64,
    /// Rows written per partition, as `SHOW PARTITIONS` spells it (summed across tables).
    pub partitions: BTreeMap<String, u64>,
    /// Rows written per table.
    pub tables: BTreeMap<String, u64>,
    pub rejects: BTreeMap<&'static str, usize>,
    pub failed_partitions: usize,
    /// Records without a value that write nothing: Debezium's tombstones (DEBEZIUM format).
    #[serde(skip_serializing_if = "is_zero")]
    pub tombstones: usize,
    /// Changes a later change of the same key in the batch replaced (DEBEZIUM format).
    #[serde(skip_serializing_if = "is_zero")]
    pub superseded: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// What the writes of a plan came to.
#[derive(Debug)]
pub struct Written {
    pub summary: Summary,
    /// The records of partitions refused for good, as `write_refused` rejects, when they go to
    /// the error topic (`divert_refused`); empty otherwise.
    pub refused: Vec<Reject>,
    /// The first unwritten offset of each topic-partition.
    unwritten: BTreeMap<(String, i32), i64>,
    /// The first failure that leaves records unwritten.
    first_error: Option<SinkError>,
}

/// Tallies `outcomes` (one per partition of `plan`, in its order). With `divert_refused`, the
/// records of a partition refused for good become rejects instead of unwritten records.
pub fn tally(plan: &Plan<'_>, outcomes: Vec<PartitionOutcome>, divert_refused: bool) -> Written {
    let mut summary = Summary {
        records: plan.records,
        tombstones: plan.tombstones,
        superseded: plan.superseded,
        ..Summary::default()
    };
    for r in &plan.rejects {
        *summary.rejects.entry(r.class.as_str()).or_default() += 1;
    }
    let mut refused = Vec::new();
    let mut unwritten: BTreeMap<(String, i32), i64> = BTreeMap::new();
    let mut first_error = None;
    for (part, outcome) in plan.partitions.iter().zip(outcomes) {
        let spec = crate::plan::partition_name(outcome.spec.as_ref());
        let records = outcome
            .unwritten
            .iter()
            .filter_map(|&row| part.records.get(row).copied());
        match outcome.result {
            WriteResult::Written => {
                summary.rows_written += outcome.rows;
                summary.bytes_written += outcome.bytes;
                *summary.partitions.entry(spec).or_default() += outcome.rows;
                *summary.tables.entry(part.table.clone()).or_default() += outcome.rows;
                continue;
            }
            WriteResult::Failed(e) if divert_refused && !e.is_transient() => {
                error!(partition = %spec, error = %e, rows = outcome.unwritten.len(), "partition refused for good; its records go to the error topic");
                let reason = format!("writing partition {spec} failed for good: {e}");
                refused.extend(records.map(|record| {
                    Reject::from_record(record, RejectClass::WriteRefused, reason.as_str())
                }));
                continue;
            }
            WriteResult::Failed(e) => {
                error!(partition = %spec, error = %e, transient = e.is_transient(), "partition write failed");
                first_error.get_or_insert(SinkError::Write {
                    partition: spec,
                    source: e,
                });
            }
            WriteResult::Retried => {
                let rows = outcome.rows - outcome.unwritten.len() as u64;
                if rows > 0 {
                    summary.rows_written += rows;
                    *summary.partitions.entry(spec).or_default() += rows;
                    *summary.tables.entry(part.table.clone()).or_default() += rows;
                }
                continue;
            }
            WriteResult::Skipped => {}
        }
        summary.failed_partitions += 1;
        for record in records {
            let first = unwritten
                .entry((record.topic.to_string(), record.partition))
                .or_insert(record.offset);
            *first = (*first).min(record.offset);
        }
    }
    if !refused.is_empty() {
        *summary
            .rejects
            .entry(RejectClass::WriteRefused.as_str())
            .or_default() += refused.len();
    }
    Written {
        summary,
        refused,
        unwritten,
        first_error,
    }
}

impl Written {
    /// What a first pass and a second pass over some of its records (`later`) came to
    /// together: the records counted once (the first pass's), the rest summed, the first
    /// unwritten offset of each topic-partition the lower, the first failure the earlier.
    pub fn and_then(mut self, later: Written) -> Written {
        let s = &mut self.summary;
        s.rows_written += later.summary.rows_written;
        s.bytes_written += later.summary.bytes_written;
        s.failed_partitions += later.summary.failed_partitions;
        for (k, v) in later.summary.partitions {
            *s.partitions.entry(k).or_default() += v;
        }
        for (k, v) in later.summary.tables {
            *s.tables.entry(k).or_default() += v;
        }
        for (k, v) in later.summary.rejects {
            *s.rejects.entry(k).or_default() += v;
        }
        self.refused.extend(later.refused);
        for (k, offset) in later.unwritten {
            let first = self.unwritten.entry(k).or_insert(offset);
            *first = (*first).min(offset);
        }
        self.first_error = self.first_error.or(later.first_error);
        self
    }

    /// The answer: the summary, with the first unwritten offset of each topic-partition when
    /// the trigger takes partial batch responses; else the first failure, so that the trigger
    /// retries the whole batch.
    pub fn into_response(self, partial_batch: bool) -> Result<Response, SinkError> {
        match self.first_error {
            Some(e) if !partial_batch => Err(e),
            _ => Ok(Response {
                batch_item_failures: partial_batch.then(|| {
                    self.unwritten
                        .into_iter()
                        .map(|((topic, partition), offset)| BatchItemFailure {
                            item_identifier: ItemIdentifier {
                                partition: format!("{topic}-{partition}"),
                                offset,
                            },
                        })
                        .collect()
                }),
                summary: self.summary,
            }),
        }
    }
}
