//! Writes the rows of one invocation to their partitions through the Tunnel.
//!
//! Rows arrive grouped by partition ([`maxcompute_core::rows::BuiltRows`]). Each group is encoded
//! into record packs of at most [`PACK_BYTES`] and written with the configured tunnel:
//! - **stream** (default): one stream session per partition, kept across invocations of a warm
//!   function ([`StreamSessions`]); the server creates missing partitions; each pack is visible
//!   once written.
//! - **batch**: one upload session per partition and invocation, one block per pack, then a
//!   commit; a missing partition is created through SQL by the client.
//!
//! Partitions are written one after the other, in the order the handler gives (oldest first),
//! and the first failure stops the rest (see [`TableWriter::write_all`]); with
//! [`TableWriter::past_permanent_failures`] only a transient failure does, because the records of
//! a partition refused for good go to the error topic.
//!
//! A row the encoder refuses becomes a reject (the row builder should never produce one, but the
//! encoder is the last word on what MaxCompute accepts). Retries of transient failures happen in
//! the client, bounded by the deadline; this module only reports what was not written.

use std::collections::{BTreeMap, HashSet};

use bytes::Bytes;
use maxcompute_client::{
    Client, Error as ClientError, OPERATION_UPSERT, StreamSessions, UploadSession, UpsertSession,
    UpsertSessionInfo, upsert_column_types,
};
use maxcompute_core::bucket_hash::{HashError, Hasher, bucket, record_hash};
use maxcompute_core::codec::{BufferPool, CellError, EncodeError, PACK_BYTES, RecordWriter};
use maxcompute_core::event::{RecordId, Reject, RejectClass};
use maxcompute_core::rows::Row;
use maxcompute_core::spec::PartitionSpec;
use maxcompute_core::types::{OdpsType, TableSchema, Value};
use tokio::time::Instant;
use tracing::info;

use crate::config::TunnelKind;

/// What happened to one partition's rows.
#[derive(Debug)]
pub struct PartitionOutcome {
    pub spec: PartitionSpec,
    pub rows: u64,
    pub bytes: u64,
    pub result: WriteResult,
    /// The record of every row that is not known to be written.
    pub unwritten: Vec<RecordId>,
}

/// Whether a partition's rows were written.
#[derive(Debug)]
pub enum WriteResult {
    Written,
    /// Not (all) written: `unwritten` says which rows.
    Failed(ClientError),
    /// Not tried, because a partition before it failed.
    Skipped,
}

impl PartitionOutcome {
    /// `written` of the partition's packs are known to be written, the rest not.
    fn new(part: EncodedPartition, written: usize, result: WriteResult) -> Self {
        let rows = part.packs.iter().map(|p| p.count).sum();
        let bytes = part.packs.iter().map(|p| p.bytes.len() as u64).sum();
        let unwritten = part
            .packs
            .into_iter()
            .skip(written)
            .flat_map(|p| p.rows)
            .collect();
        Self {
            spec: part.spec,
            rows,
            bytes,
            result,
            unwritten,
        }
    }

    fn skipped(part: EncodedPartition) -> Self {
        Self::new(part, 0, WriteResult::Skipped)
    }
}

/// How the rows reach the table, decided at cold start from the configuration and the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WritePath {
    /// Appended through this tunnel.
    Append(TunnelKind),
    /// Upserted into a Delta Table by its primary key: a row written again replaces itself.
    Upsert,
}

/// The Tunnel side of the sink; one per warm function.
#[derive(Debug)]
pub struct TableWriter {
    /// The client and table, and the stream sessions kept across warm invocations.
    streams: StreamSessions,
    /// The table's column names, to find the columns an upsert session hashes.
    names: Vec<String>,
    types: Vec<OdpsType>,
    path: WritePath,
    /// Whether a partition MaxCompute refuses for good stops the partitions after it (the
    /// default), or only itself, because its records go to the error topic instead.
    past_permanent: bool,
    /// The output buffers of large packs, reused by the next packs of this warm function.
    buffers: BufferPool,
}

impl TableWriter {
    pub fn new(client: Client, table: String, schema: &TableSchema, path: WritePath) -> Self {
        Self {
            streams: StreamSessions::new(client, table),
            names: schema.columns.iter().map(|c| c.name.clone()).collect(),
            types: schema.column_types(),
            path,
            past_permanent: false,
            buffers: BufferPool::new(),
        }
    }

    /// Writes on past a partition that failed permanently (its records go to the error topic),
    /// stopping only at a transient failure.
    pub fn past_permanent_failures(mut self) -> Self {
        self.past_permanent = true;
        self
    }

    /// Whether `error` stops the partitions after the one it failed.
    fn stops(&self, error: &ClientError) -> bool {
        error.is_transient() || !self.past_permanent
    }

    pub fn path(&self) -> WritePath {
        self.path
    }

    pub fn client(&self) -> &Client {
        self.streams.client()
    }

    /// Encodes every partition's rows, returning the packs per partition and the rows the
    /// encoder refused as rejects (each row carries its record, so every refusal is one).
    pub fn encode(
        &self,
        partitions: &BTreeMap<PartitionSpec, Vec<Row<'_>>>,
    ) -> (Vec<EncodedPartition>, Vec<Reject>) {
        encode(&self.types, &self.buffers, partitions)
    }

    /// Writes the partitions in the order given and stops at the first failure: the partitions
    /// after it are not tried. Given oldest first, each Kafka partition's records are then
    /// written in offset order (as long as its timestamps do not go back across a partition
    /// boundary), so what is written of a Kafka partition is always a prefix of its records and
    /// what is not is the rest: a partial batch response names the first unwritten offset and
    /// a retry rewrites nothing that landed. Never panics; reports what was not written.
    ///
    /// The batch tunnel uploads every partition's blocks before any session commits, so a
    /// failed upload commits nothing at all.
    pub async fn write_all(
        &self,
        parts: Vec<EncodedPartition>,
        deadline: Instant,
    ) -> Vec<PartitionOutcome> {
        match self.path {
            WritePath::Append(TunnelKind::Stream) => self.write_streams(parts, deadline).await,
            WritePath::Append(TunnelKind::Batch) => self.write_batches(parts, deadline).await,
            // The handler upserts rows, not packs; a misrouted call writes nothing.
            WritePath::Upsert => parts
                .into_iter()
                .map(|p| {
                    let e = ClientError::Protocol {
                        what: "write_all",
                        detail: "an upsert writer takes rows, not packs".to_owned(),
                    };
                    PartitionOutcome::new(p, 0, WriteResult::Failed(e))
                })
                .collect(),
        }
    }

    /// Upserts the partitions in `order` (oldest first), one upsert session each: the rows of
    /// `partitions` except the `refused` ones (rejects), grouped by bucket, then a commit. Stops
    /// at the first failure like [`TableWriter::write_all`]. A replay of the same records
    /// replaces them, so a retry after any failure writes nothing twice.
    pub async fn write_upserts(
        &self,
        partitions: &BTreeMap<PartitionSpec, Vec<Row<'_>>>,
        order: &[PartitionSpec],
        refused: &HashSet<RecordId>,
        deadline: Instant,
    ) -> Vec<PartitionOutcome> {
        let mut outcomes = Vec::with_capacity(order.len());
        let mut failed = false;
        for spec in order {
            let Some(rows) = partitions.get(spec) else {
                continue;
            };
            let rows: Vec<&Row<'_>> = rows
                .iter()
                .filter(|r| !refused.contains(&r.record.id()))
                .collect();
            if rows.is_empty() {
                continue;
            }
            let result = if failed {
                Err(None)
            } else {
                self.upsert_partition(spec, &rows, deadline)
                    .await
                    .map_err(Some)
            };
            let (bytes, result) = match result {
                Ok(bytes) => (bytes, WriteResult::Written),
                Err(Some(e)) => {
                    failed = self.stops(&e);
                    (0, WriteResult::Failed(e))
                }
                Err(None) => (0, WriteResult::Skipped),
            };
            let unwritten = match result {
                WriteResult::Written => Vec::new(),
                _ => rows.iter().map(|r| r.record.id()).collect(),
            };
            outcomes.push(PartitionOutcome {
                spec: spec.clone(),
                rows: rows.len() as u64,
                bytes,
                result,
                unwritten,
            });
        }
        outcomes
    }

    /// One partition's upsert session: rows by bucket, every bucket written, then the commit.
    /// Returns the bytes written.
    async fn upsert_partition(
        &self,
        spec: &PartitionSpec,
        rows: &[&Row<'_>],
        deadline: Instant,
    ) -> Result<u64, ClientError> {
        let mut session = self.open_upsert_session(spec, deadline).await?;
        let packs = encode_upserts(
            &self.names,
            &self.types,
            &self.buffers,
            session.info(),
            rows,
        )?;
        let mut bytes = 0;
        for (bucket, pack) in packs {
            bytes += pack.bytes.len() as u64;
            session
                .write_bucket(bucket, pack.bytes, pack.count, deadline)
                .await?;
        }
        session.commit(deadline).await?;
        info!(partition = %spec, rows = rows.len(), "committed upsert session");
        Ok(bytes)
    }

    /// An upsert session for a partition, created first if it is missing (upsert sessions do not
    /// create partitions).
    async fn open_upsert_session(
        &self,
        spec: &PartitionSpec,
        deadline: Instant,
    ) -> Result<UpsertSession, ClientError> {
        let client = self.client();
        let table = self.streams.table();
        match client
            .create_upsert_session(table, Some(spec), deadline)
            .await
        {
            Err(e) if e.code() == Some("NoSuchPartition") => {
                info!(table, partition = %spec, "partition missing, creating it");
                client.create_partition(table, spec, deadline).await?;
                client
                    .create_upsert_session(table, Some(spec), deadline)
                    .await
            }
            other => other,
        }
    }

    async fn write_streams(
        &self,
        parts: Vec<EncodedPartition>,
        deadline: Instant,
    ) -> Vec<PartitionOutcome> {
        let mut outcomes = Vec::with_capacity(parts.len());
        let mut failed = false;
        for part in parts {
            if failed {
                outcomes.push(PartitionOutcome::skipped(part));
                continue;
            }
            let outcome = match self.write_stream(&part, deadline).await {
                Ok(()) => PartitionOutcome::new(part, usize::MAX, WriteResult::Written),
                Err((written, e)) => {
                    failed = self.stops(&e);
                    PartitionOutcome::new(part, written, WriteResult::Failed(e))
                }
            };
            outcomes.push(outcome);
        }
        outcomes
    }

    /// Writes one partition's packs in order; on failure, how many were written.
    async fn write_stream(
        &self,
        part: &EncodedPartition,
        deadline: Instant,
    ) -> Result<(), (usize, ClientError)> {
        for (written, pack) in part.packs.iter().enumerate() {
            self.streams
                .write(&part.spec, pack.bytes.clone(), pack.count, deadline)
                .await
                .map_err(|e| (written, e))?;
        }
        Ok(())
    }

    /// A batch session is all or nothing: until its commit succeeds no pack counts as written.
    async fn write_batches(
        &self,
        parts: Vec<EncodedPartition>,
        deadline: Instant,
    ) -> Vec<PartitionOutcome> {
        let mut staged = Vec::with_capacity(parts.len());
        for (index, part) in parts.iter().enumerate() {
            match self.stage(part, deadline).await {
                Ok(session) => staged.push(Ok(session)),
                // Refused for good, and its records go to the error topic: the others go on.
                Err(e) if !self.stops(&e) => staged.push(Err(e)),
                Err(e) => {
                    // Nothing is committed: every partition stays unwritten.
                    let mut error = Some(e);
                    return parts
                        .into_iter()
                        .enumerate()
                        .map(|(i, p)| match error.take_if(|_| i == index) {
                            Some(e) => PartitionOutcome::new(p, 0, WriteResult::Failed(e)),
                            None => PartitionOutcome::skipped(p),
                        })
                        .collect();
                }
            }
        }
        let mut outcomes = Vec::with_capacity(parts.len());
        let mut failed = false;
        for (part, staged) in parts.into_iter().zip(staged) {
            if failed {
                outcomes.push(PartitionOutcome::skipped(part));
                continue;
            }
            let (mut session, blocks) = match staged {
                Ok(staged) => staged,
                Err(e) => {
                    outcomes.push(PartitionOutcome::new(part, 0, WriteResult::Failed(e)));
                    continue;
                }
            };
            let outcome = match session.commit(&blocks, deadline).await {
                Ok(()) => {
                    info!(partition = %part.spec, blocks = blocks.len(), "committed upload session");
                    PartitionOutcome::new(part, usize::MAX, WriteResult::Written)
                }
                Err(e) => {
                    failed = self.stops(&e);
                    PartitionOutcome::new(part, 0, WriteResult::Failed(e))
                }
            };
            outcomes.push(outcome);
        }
        outcomes
    }

    /// Creates a partition's upload session and uploads its blocks, one per pack.
    async fn stage(
        &self,
        part: &EncodedPartition,
        deadline: Instant,
    ) -> Result<(UploadSession, Vec<u32>), ClientError> {
        let session = self
            .client()
            .create_upload_session(self.streams.table(), Some(&part.spec), deadline)
            .await?;
        let mut blocks = Vec::with_capacity(part.packs.len());
        for (id, pack) in (0u32..).zip(&part.packs) {
            session
                .upload_block(id, pack.bytes.clone(), deadline)
                .await?;
            blocks.push(id);
        }
        Ok((session, blocks))
    }
}

/// One partition's encoded packs.
#[derive(Debug)]
pub struct EncodedPartition {
    pub spec: PartitionSpec,
    pub packs: Vec<Pack>,
}

/// A complete record stream and the records of the rows in it.
#[derive(Debug)]
pub struct Pack {
    pub bytes: Bytes,
    pub count: u64,
    pub rows: Vec<RecordId>,
}

impl Pack {
    fn finish(writer: RecordWriter, rows: Vec<RecordId>) -> Self {
        let count = writer.record_count();
        Self {
            bytes: writer.finish_bytes(),
            count,
            rows,
        }
    }
}

/// Encodes rows for an upsert session: per bucket (the session's hash of its `hash_key`
/// columns), packs of the table's columns followed by the upsert columns of an upsert.
fn encode_upserts(
    names: &[String],
    types: &[OdpsType],
    buffers: &BufferPool,
    session: &UpsertSessionInfo,
    rows: &[&Row<'_>],
) -> Result<Vec<(u32, Pack)>, ClientError> {
    let misfit = |detail: String| ClientError::Protocol {
        what: "upsert",
        detail,
    };
    let hasher: Hasher = session
        .hasher
        .parse()
        .map_err(|e: HashError| misfit(e.to_string()))?;
    let key: Vec<usize> = session
        .hash_key
        .iter()
        .map(|k| {
            names
                .iter()
                .position(|n| n.eq_ignore_ascii_case(k))
                .ok_or_else(|| {
                    misfit(format!(
                        "the session hashes column `{k}`, which the table does not have"
                    ))
                })
        })
        .collect::<Result<_, _>>()?;
    let buckets = session.bucket_count();
    let mut all_types = types.to_vec();
    all_types.extend(upsert_column_types());
    let extra = [
        Value::Null,
        Value::Null,
        Value::Integer(OPERATION_UPSERT),
        Value::Null,
        Value::Array(Vec::new()),
    ];
    let mut open: BTreeMap<u32, (RecordWriter, Vec<RecordId>)> = BTreeMap::new();
    let mut packs = Vec::new();
    let mut values: Vec<Value> = Vec::with_capacity(all_types.len());
    for row in rows {
        let key_cells = key
            .iter()
            .filter_map(|&i| Some((types.get(i)?, row.values.get(i)?)));
        let hash = record_hash(hasher, key_cells).map_err(|e| misfit(e.to_string()))?;
        let b = bucket(hash, buckets);
        let (writer, ids) = open.entry(b).or_insert_with(|| {
            (
                RecordWriter::pooled(all_types.clone(), 0, buffers),
                Vec::new(),
            )
        });
        values.clear();
        values.extend(row.values.iter().cloned());
        values.extend(extra.iter().cloned());
        writer
            .write(&values)
            .map_err(|e| misfit(format!("record {:?}: {e}", row.record.id())))?;
        ids.push(row.record.id());
        if writer.buffered_bytes() >= PACK_BYTES
            && let Some((full, ids)) = open.remove(&b)
        {
            packs.push((b, Pack::finish(full, ids)));
        }
    }
    packs.extend(
        open.into_iter()
            .map(|(b, (writer, ids))| (b, Pack::finish(writer, ids))),
    );
    Ok(packs)
}

/// Encodes every partition's rows for a table of column `types`: the packs per partition, and
/// a reject for each row the encoder refuses (each row carries its record, so every refusal is
/// one).
fn encode(
    types: &[OdpsType],
    buffers: &BufferPool,
    partitions: &BTreeMap<PartitionSpec, Vec<Row<'_>>>,
) -> (Vec<EncodedPartition>, Vec<Reject>) {
    let mut out = Vec::with_capacity(partitions.len());
    let mut rejects = Vec::new();
    for (spec, rows) in partitions {
        let mut packs = Vec::new();
        let mut writer = new_pack(types, rows.len(), buffers);
        let mut pack_rows = Vec::new();
        for row in rows {
            match writer.write(&row.values) {
                Ok(()) => pack_rows.push(row.record.id()),
                Err(e) => {
                    rejects.push(Reject::from_record(
                        row.record,
                        reject_class(&e),
                        e.to_string(),
                    ));
                    continue;
                }
            }
            if writer.buffered_bytes() >= PACK_BYTES {
                let full = std::mem::replace(&mut writer, new_pack(types, rows.len(), buffers));
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

fn new_pack(types: &[OdpsType], rows: usize, buffers: &BufferPool) -> RecordWriter {
    // A Kafka-shaped row is a few hundred bytes to a few KiB; start near the likely size.
    let guess = rows.saturating_mul(512).min(PACK_BYTES);
    RecordWriter::pooled(types.to_vec(), guess, buffers)
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

#[cfg(test)]
mod tests {
    use maxcompute_core::event::{KafkaRecord, TimestampType};
    use maxcompute_core::types::Value;

    use super::*;

    fn record(offset: i64, value: &[u8]) -> KafkaRecord {
        KafkaRecord {
            topic: "t".into(),
            partition: 0,
            offset,
            timestamp_ms: 1_605_596_645_000,
            timestamp_type: TimestampType::CreateTime,
            key: None,
            value: Some(value.to_vec()),
            headers: vec![],
        }
    }

    #[test]
    fn a_refused_row_is_a_reject_of_its_own_record_even_among_duplicates() {
        // A redelivered duplicate has the same coordinates as the original: the reject must
        // carry the bytes of the record whose row was refused, not of another with its id.
        let records = [record(5, b"good"), record(5, b"bad"), record(6, b"next")];
        let spec = PartitionSpec::single("pt", "1").unwrap();
        let rows = vec![
            Row {
                record: &records[0],
                values: vec![Value::Integer(1)],
            },
            Row {
                record: &records[1],
                values: vec![],
            },
            Row {
                record: &records[2],
                values: vec![Value::Integer(2)],
            },
        ];
        let partitions = BTreeMap::from([(spec.clone(), rows)]);
        let (encoded, rejects) = encode(&[OdpsType::BigInt], &BufferPool::new(), &partitions);

        assert_eq!(rejects.len(), 1);
        assert_eq!(rejects[0].offset, Some(5));
        assert_eq!(rejects[0].value.as_deref(), Some(&b"bad"[..]));
        assert_eq!(rejects[0].class, RejectClass::TypeConversion);
        assert_eq!(encoded.len(), 1);
        assert_eq!(encoded[0].spec, spec);
        let ids: Vec<RecordId> = encoded[0]
            .packs
            .iter()
            .flat_map(|p| p.rows.iter().cloned())
            .collect();
        assert_eq!(ids, vec![records[0].id(), records[2].id()]);
        assert_eq!(encoded[0].packs.iter().map(|p| p.count).sum::<u64>(), 2);
    }
}
