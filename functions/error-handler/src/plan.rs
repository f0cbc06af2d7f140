//! The plan of one invocation, pure: an error-topic event's records mapped to errors-table rows
//! ([`crate::row`]), each routed by its time of failure and encoded once by the codec's
//! [`Packer`], partitions in name order.
//!
//! Nothing is rejected here: a row the encoder refuses (a cell over MaxCompute's 8 MiB limit is
//! the only realistic case) is encoded again without its key, value and headers, with the refusal
//! appended to its message, so the failure itself stays on record. No I/O, no clock, no
//! environment.

use std::collections::BTreeMap;

use maxcompute_core::codec::{BufferPool, EncodedRecords, Packer};
use maxcompute_core::event::DecodedBatch;
use maxcompute_core::partition::{PartitionRouter, PartitionValueError};
use maxcompute_core::spec::PartitionSpec;
use tracing::warn;

use crate::row::{ErrorRow, rows_from_batch};
use crate::table::ColumnMap;

/// What one invocation writes.
#[derive(Debug)]
pub struct Plan {
    /// The partitions to write, in name order.
    pub partitions: Vec<ErrorPartition>,
    /// Records in the event, decoded or not.
    pub records: usize,
    /// Rows per `error_class`.
    pub classes: BTreeMap<String, usize>,
    /// Rows per `payload_kind`.
    pub payload_kinds: BTreeMap<&'static str, usize>,
}

/// One partition's rows, encoded.
#[derive(Debug)]
pub struct ErrorPartition {
    pub spec: PartitionSpec,
    pub encoded: EncodedRecords,
    /// Rows encoded without their payload because the encoder refused them.
    pub degraded: u64,
}

/// The plan for `batch`, with `now_ms` as the processing time (the failure time of rows that
/// carry none, and of rows whose failure time is outside the calendar). Fails only when no
/// partition value can be made of the processing time itself.
pub fn plan(
    batch: &DecodedBatch,
    columns: &ColumnMap,
    router: &PartitionRouter,
    pool: &BufferPool,
    now_ms: i64,
) -> Result<Plan, PartitionValueError> {
    let mut classes: BTreeMap<String, usize> = BTreeMap::new();
    let mut payload_kinds: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut by_partition: BTreeMap<PartitionSpec, Vec<ErrorRow>> = BTreeMap::new();
    for row in rows_from_batch(batch, now_ms) {
        *classes.entry(row.error_class.clone()).or_default() += 1;
        *payload_kinds.entry(row.payload_kind.as_str()).or_default() += 1;
        let (spec, row) = route(router, row, now_ms)?;
        by_partition.entry(spec).or_default().push(row);
    }
    Ok(Plan {
        partitions: by_partition
            .into_iter()
            .map(|(spec, rows)| encode(columns, spec, &rows, pool))
            .collect(),
        records: batch.records.len() + batch.rejects.len(),
        classes,
        payload_kinds,
    })
}

/// The row's partition, from its failure time; a time outside the calendar (a corrupt
/// `mc.failed.at`) falls back to the processing time, noted in the row's message.
fn route(
    router: &PartitionRouter,
    mut row: ErrorRow,
    now_ms: i64,
) -> Result<(PartitionSpec, ErrorRow), PartitionValueError> {
    match router.route(row.failed_at_ms) {
        Ok(spec) => Ok((spec, row)),
        Err(e) => {
            row.error_message = format!(
                "{}; failure time replaced by the processing time: {e}",
                row.error_message
            );
            row.failed_at_ms = now_ms;
            Ok((router.route(now_ms)?, row))
        }
    }
}

/// Encodes one partition's rows; a row the encoder refuses is encoded again without its
/// payload.
pub fn encode(
    columns: &ColumnMap,
    spec: PartitionSpec,
    rows: &[ErrorRow],
    pool: &BufferPool,
) -> ErrorPartition {
    let mut packer = Packer::new(columns.types().to_vec(), rows.len(), pool);
    let mut degraded = 0;
    for row in rows {
        let Err(e) = packer.push(&columns.cells(row)) else {
            continue;
        };
        degraded += 1;
        warn!(partition = %spec, error = %e, "row refused by the encoder, writing it without its payload");
        let mut slim = row.clone();
        slim.record_key = None;
        slim.record_value = None;
        slim.record_headers.clear();
        slim.error_message = format!(
            "{}; key, value and headers not stored: {e}",
            slim.error_message
        );
        if let Err(e) = packer.push(&columns.cells(&slim)) {
            // Only our own short cells are left, which the table's types accept; kept as a log
            // line rather than a panic in case a future column breaks that.
            warn!(partition = %spec, error = %e, "row refused even without its payload");
        }
    }
    ErrorPartition {
        spec,
        encoded: packer.finish(),
        degraded,
    }
}
