//! Writes the rows of one invocation to their partitions through the Tunnel.
//!
//! Rows arrive grouped by partition ([`shared::rows::BuiltRows`]). Each group is encoded into
//! record packs of at most [`PACK_BYTES`] and written with the configured tunnel:
//! - **stream** (default): one stream session per partition, kept across invocations of a warm
//!   function ([`StreamSessions`]); the server creates missing partitions; each pack is visible
//!   once written.
//! - **batch**: one upload session per partition and invocation, one block per pack, then a
//!   commit; a missing partition is created through SQL by the client.
//!
//! A row the encoder refuses becomes a reject (the row builder should never produce one, but the
//! encoder is the last word on what MaxCompute accepts). Retries of transient failures happen in
//! the client, bounded by the deadline; this module only reports what was not written.

use std::collections::BTreeMap;

use bytes::Bytes;
use shared::client::{Client, Error as ClientError, StreamSessions};
use shared::codec::{CellError, EncodeError, PACK_BYTES, RecordWriter};
use shared::event::{KafkaRecord, Reject, RejectClass};
use shared::partition::PartitionSpec;
use shared::rows::Row;
use shared::types::OdpsType;
use tokio::time::Instant;
use tracing::info;

use crate::config::TunnelKind;

/// What happened to one partition's rows.
#[derive(Debug)]
pub struct PartitionOutcome {
    pub spec: PartitionSpec,
    pub rows: u64,
    pub bytes: u64,
    /// `Err` when the rows were not (all) written; which rows is in `unwritten`.
    pub result: Result<(), ClientError>,
    /// (topic, partition, offset) of every row that is not known to be written.
    pub unwritten: Vec<(String, i32, i64)>,
}

/// The Tunnel side of the sink; one per warm function.
#[derive(Debug)]
pub struct TableWriter {
    /// The client and table, and the stream sessions kept across warm invocations.
    streams: StreamSessions,
    types: Vec<OdpsType>,
    tunnel: TunnelKind,
}

impl TableWriter {
    pub fn new(client: Client, table: String, types: Vec<OdpsType>, tunnel: TunnelKind) -> Self {
        Self {
            streams: StreamSessions::new(client, table),
            types,
            tunnel,
        }
    }

    pub fn client(&self) -> &Client {
        self.streams.client()
    }

    /// Encodes every partition's rows, returning the packs per partition and the rows the
    /// encoder refused as rejects. `records` is sorted by (topic, partition, offset).
    pub fn encode(
        &self,
        partitions: &BTreeMap<PartitionSpec, Vec<Row>>,
        records: &[KafkaRecord],
    ) -> (Vec<EncodedPartition>, Vec<Reject>) {
        let mut out = Vec::with_capacity(partitions.len());
        let mut rejects = Vec::new();
        for (spec, rows) in partitions {
            let mut packs = Vec::new();
            let mut writer = self.new_pack(rows.len());
            let mut pack_rows = Vec::new();
            for row in rows {
                match writer.write(&row.values) {
                    Ok(()) => pack_rows.push((row.topic.clone(), row.partition, row.offset)),
                    Err(e) => {
                        if let Some(record) = find(records, row) {
                            rejects.push(Reject::from_record(
                                record,
                                reject_class(&e),
                                e.to_string(),
                            ));
                        }
                        continue;
                    }
                }
                if writer.buffered_bytes() >= PACK_BYTES {
                    let full = std::mem::replace(&mut writer, self.new_pack(rows.len()));
                    packs.push(Pack::finish(full, std::mem::take(&mut pack_rows)));
                }
            }
            if writer.record_count() > 0 {
                packs.push(Pack::finish(writer, pack_rows));
            }
            if !packs.is_empty() {
                out.push(EncodedPartition {
                    spec: spec.clone(),
                    packs,
                });
            }
        }
        (out, rejects)
    }

    fn new_pack(&self, rows: usize) -> RecordWriter {
        // A Kafka-shaped row is a few hundred bytes to a few KiB; start near the likely size.
        let guess = rows.saturating_mul(512).min(PACK_BYTES);
        RecordWriter::with_capacity(self.types.clone(), guess)
    }

    /// Writes one partition's packs; never panics, reports what was not written.
    pub async fn write(&self, part: EncodedPartition, deadline: Instant) -> PartitionOutcome {
        let rows: u64 = part.packs.iter().map(|p| p.count).sum();
        let bytes: u64 = part.packs.iter().map(|p| p.bytes.len() as u64).sum();
        let result = match self.tunnel {
            TunnelKind::Stream => self.write_stream(&part, deadline).await,
            TunnelKind::Batch => self.write_batch(&part, deadline).await,
        };
        let unwritten = match &result {
            Ok(written) => part
                .packs
                .iter()
                .skip(*written)
                .flat_map(|p| p.rows.iter().cloned())
                .collect(),
            Err((written, _)) => part
                .packs
                .iter()
                .skip(*written)
                .flat_map(|p| p.rows.iter().cloned())
                .collect(),
        };
        PartitionOutcome {
            spec: part.spec,
            rows,
            bytes,
            result: result.map(|_| ()).map_err(|(_, e)| e),
            unwritten,
        }
    }

    /// Returns how many packs were written, with the error that stopped the rest.
    async fn write_stream(
        &self,
        part: &EncodedPartition,
        deadline: Instant,
    ) -> Result<usize, (usize, ClientError)> {
        for (written, pack) in part.packs.iter().enumerate() {
            self.streams
                .write(&part.spec, pack.bytes.clone(), pack.count, deadline)
                .await
                .map_err(|e| (written, e))?;
        }
        Ok(part.packs.len())
    }

    /// A batch session is all or nothing: until the commit succeeds no pack counts as written.
    async fn write_batch(
        &self,
        part: &EncodedPartition,
        deadline: Instant,
    ) -> Result<usize, (usize, ClientError)> {
        let mut session = self
            .client()
            .create_upload_session(self.streams.table(), Some(&part.spec), deadline)
            .await
            .map_err(|e| (0, e))?;
        let mut blocks = Vec::with_capacity(part.packs.len());
        for (id, pack) in (0u32..).zip(&part.packs) {
            session
                .upload_block(id, pack.bytes.clone(), deadline)
                .await
                .map_err(|e| (0, e))?;
            blocks.push(id);
        }
        session
            .commit(&blocks, deadline)
            .await
            .map_err(|e| (0, e))?;
        info!(partition = %part.spec, blocks = blocks.len(), "committed upload session");
        Ok(part.packs.len())
    }
}

/// One partition's encoded packs.
#[derive(Debug)]
pub struct EncodedPartition {
    pub spec: PartitionSpec,
    pub packs: Vec<Pack>,
}

/// A complete record stream and the coordinates of the rows in it.
#[derive(Debug)]
pub struct Pack {
    pub bytes: Bytes,
    pub count: u64,
    pub rows: Vec<(String, i32, i64)>,
}

impl Pack {
    fn finish(writer: RecordWriter, rows: Vec<(String, i32, i64)>) -> Self {
        let count = writer.record_count();
        Self {
            bytes: Bytes::from(writer.finish()),
            count,
            rows,
        }
    }
}

fn find<'a>(records: &'a [KafkaRecord], row: &Row) -> Option<&'a KafkaRecord> {
    let key = (row.topic.as_str(), row.partition, row.offset);
    records
        .binary_search_by(|r| (r.topic.as_str(), r.partition, r.offset).cmp(&key))
        .ok()
        .and_then(|i| records.get(i))
}

fn reject_class(error: &EncodeError) -> RejectClass {
    match error {
        EncodeError::Cell {
            error: CellError::TooLarge { .. },
            ..
        } => RejectClass::CellTooLarge,
        EncodeError::Cell {
            error: CellError::InvalidUtf8 { .. },
            ..
        } => RejectClass::InvalidUtf8,
        _ => RejectClass::TypeConversion,
    }
}
