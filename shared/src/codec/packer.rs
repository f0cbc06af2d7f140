//! Record packs: rows encoded once, into complete record streams (packs) of about
//! [`PACK_BYTES`](super::PACK_BYTES) each.
//!
//! [`Packer`] encodes rows in the order they come and cuts a pack whenever one is full.
//! [`EncodedRecords::in_order`] hands those packs out as they are (a stream session or an upload
//! block takes them so); [`EncodedRecords::grouped`] copies each encoded record into packs of its
//! group instead, for writes whose grouping is known only after encoding (the buckets of an
//! upsert session). Every pack says which rows it holds, by their index in the order pushed, so
//! the caller can tell which records a failed request leaves unwritten.
//!
//! What it does not do: choose columns, know records or partitions, or send anything.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::{EncodeError, PACK_BYTES, RecordWriter};
use crate::types::{OdpsType, Value};

/// A complete record stream and the rows in it.
#[derive(Debug, Clone)]
pub struct Pack {
    pub bytes: Bytes,
    /// The index (in the order pushed) of each row in the pack, in pack order.
    pub rows: Vec<usize>,
}

impl Pack {
    /// Records in the pack.
    pub fn count(&self) -> u64 {
        self.rows.len() as u64
    }
}

/// Where one encoded record lies: in which pack, at which bytes, with which CRC.
#[derive(Debug, Clone, Copy)]
struct Span {
    pack: usize,
    start: usize,
    end: usize,
    crc: u32,
}

/// Encodes rows of one table's column types into packs, in order.
#[derive(Debug)]
pub struct Packer {
    types: Vec<OdpsType>,
    writer: RecordWriter,
    /// Reserved for each new pack, so a pack of the expected size never reallocates.
    reserve: usize,
    packs: Vec<Pack>,
    open_rows: Vec<usize>,
    spans: Vec<Span>,
}

impl Packer {
    /// A packer for about `expected_rows` rows of the data column `types` (partition keys
    /// excluded).
    pub fn new(types: Vec<OdpsType>, expected_rows: usize) -> Self {
        // A Kafka-shaped row is a few hundred bytes to a few KiB; start near the likely size.
        let reserve = expected_rows.saturating_mul(512).min(PACK_BYTES);
        Self {
            writer: RecordWriter::with_capacity(types.clone(), reserve),
            types,
            reserve,
            packs: Vec::new(),
            open_rows: Vec::new(),
            spans: Vec::new(),
        }
    }

    /// Encodes one row; on error nothing is written and the row takes no index, so the next
    /// row pushed gets the index this one would have had.
    pub fn push(&mut self, row: &[Value]) -> Result<(), EncodeError> {
        let start = self.writer.buffered_bytes();
        let crc = self.writer.write_record(row)?;
        self.open_rows.push(self.spans.len());
        self.spans.push(Span {
            pack: self.packs.len(),
            start,
            end: self.writer.buffered_bytes(),
            crc,
        });
        if self.writer.buffered_bytes() >= PACK_BYTES {
            self.cut();
        }
        Ok(())
    }

    /// Rows encoded so far.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether no row is encoded.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Closes the open pack, if it holds a row.
    fn cut(&mut self) {
        if self.open_rows.is_empty() {
            return;
        }
        let next = RecordWriter::with_capacity(self.types.clone(), self.reserve);
        let full = std::mem::replace(&mut self.writer, next);
        self.packs.push(Pack {
            bytes: full.finish_bytes(),
            rows: std::mem::take(&mut self.open_rows),
        });
    }

    /// Every row pushed, in packs.
    pub fn finish(mut self) -> EncodedRecords {
        self.cut();
        EncodedRecords {
            types: self.types,
            packs: self.packs,
            spans: self.spans,
        }
    }
}

/// Rows encoded by a [`Packer`], ready to be sent in order or regrouped.
#[derive(Debug, Clone)]
pub struct EncodedRecords {
    types: Vec<OdpsType>,
    packs: Vec<Pack>,
    spans: Vec<Span>,
}

impl EncodedRecords {
    /// Rows encoded.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether no row is encoded.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Bytes of the packs as they are, trailers included.
    pub fn bytes(&self) -> u64 {
        self.packs.iter().map(|p| p.bytes.len() as u64).sum()
    }

    /// The packs in the order the rows were pushed; their rows are consecutive.
    pub fn in_order(&self) -> &[Pack] {
        &self.packs
    }

    /// The records regrouped: the rows of each group (`group_of(row index)`) in the order they
    /// were pushed, in packs of that group alone: each pack that fills as it comes, then the
    /// last of each group in ascending group order. Each record's bytes are copied, not encoded
    /// again.
    pub fn grouped(&self, mut group_of: impl FnMut(usize) -> u32) -> Vec<(u32, Pack)> {
        let mut open: BTreeMap<u32, (RecordWriter, Vec<usize>)> = BTreeMap::new();
        let mut out = Vec::new();
        for (row, span) in self.spans.iter().enumerate() {
            let Some(record) = self
                .packs
                .get(span.pack)
                .and_then(|p| p.bytes.get(span.start..span.end))
            else {
                // A span always lies in its pack; nothing to copy if it somehow did not.
                continue;
            };
            let group = group_of(row);
            let (writer, rows) = open
                .entry(group)
                .or_insert_with(|| (RecordWriter::new(self.types.clone()), Vec::new()));
            writer.append_encoded(record, span.crc);
            rows.push(row);
            if writer.buffered_bytes() >= PACK_BYTES
                && let Some((full, rows)) = open.remove(&group)
            {
                out.push((
                    group,
                    Pack {
                        bytes: full.finish_bytes(),
                        rows,
                    },
                ));
            }
        }
        out.extend(open.into_iter().map(|(group, (writer, rows))| {
            (
                group,
                Pack {
                    bytes: writer.finish_bytes(),
                    rows,
                },
            )
        }));
        out
    }
}
