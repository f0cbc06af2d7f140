//! Writes errors-table rows to their partitions through Tunnel stream sessions.
//!
//! One stream session per partition, kept across invocations of a warm function; the server
//! creates missing partitions. Rows are encoded into packs of at most [`PACK_BYTES`]. A row the
//! encoder refuses (a cell over MaxCompute's 8 MiB limit is the only realistic case) is not
//! dropped: it is written again without its key, value and headers, with the refusal appended to
//! its message, so the failure itself stays on record. Retries of transient failures happen in the
//! client, bounded by the deadline; this module stops at the first partition that fails.

use std::collections::BTreeMap;

use bytes::Bytes;
use maxcompute_client::{Client, Error as ClientError, StreamSessions};
use maxcompute_core::codec::{PACK_BYTES, RecordWriter};
use maxcompute_core::spec::PartitionSpec;
use tokio::time::Instant;
use tracing::warn;

use crate::row::ErrorRow;
use crate::table::ColumnMap;

/// One partition's encoded packs: (bytes, record count).
#[derive(Debug)]
pub struct EncodedPartition {
    pub spec: PartitionSpec,
    pub packs: Vec<(Bytes, u64)>,
    pub rows: u64,
    /// Rows written without their payload because the encoder refused them.
    pub degraded: u64,
}

/// Encodes each partition's rows.
pub fn encode(
    columns: &ColumnMap,
    partitions: &BTreeMap<PartitionSpec, Vec<ErrorRow>>,
) -> Vec<EncodedPartition> {
    let mut out = Vec::with_capacity(partitions.len());
    for (spec, rows) in partitions {
        let mut packs = Vec::new();
        let mut writer = RecordWriter::new(columns.types().to_vec());
        let mut degraded = 0;
        for row in rows {
            if let Err(e) = writer.write(&columns.cells(row)) {
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
                if let Err(e) = writer.write(&columns.cells(&slim)) {
                    // Only our own short cells are left, which the table's types accept; kept
                    // as a log line rather than a panic in case a future column breaks that.
                    warn!(partition = %spec, error = %e, "row refused even without its payload");
                }
            }
            if writer.buffered_bytes() >= PACK_BYTES {
                let full =
                    std::mem::replace(&mut writer, RecordWriter::new(columns.types().to_vec()));
                let count = full.record_count();
                packs.push((Bytes::from(full.finish()), count));
            }
        }
        if writer.record_count() > 0 {
            let count = writer.record_count();
            packs.push((Bytes::from(writer.finish()), count));
        }
        out.push(EncodedPartition {
            spec: spec.clone(),
            rows: packs.iter().map(|(_, n)| n).sum(),
            packs,
            degraded,
        });
    }
    out
}

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

    /// Writes one partition's packs.
    pub async fn write(
        &self,
        part: &EncodedPartition,
        deadline: Instant,
    ) -> Result<(), ClientError> {
        for (bytes, count) in &part.packs {
            self.streams
                .write(&part.spec, bytes.clone(), *count, deadline)
                .await?;
        }
        Ok(())
    }
}
