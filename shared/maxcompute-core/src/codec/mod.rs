//! The Tunnel record stream (`maxcompute-protocol.md` §7): encoder, schema-driven decoder and
//! whole-body compression (deflate, zstd, lz4 frames, framed snappy).
//!
//! A block body is `record* trailer`, each record a run of protobuf-style tagged fields (field
//! number = 1-based data column position, NULL = field omitted) closed by an END_RECORD tag and
//! the record's CRC-32C, the trailer the record count and a CRC over the record CRCs.
//!
//! What it does: validate cells against their column types while encoding ([`EncodeError`]),
//! emit the plain 5-byte CRC varints the Java SDK writes, and on decoding verify every CRC and
//! the count, accepting pyodps' 10-byte CRC varints and download metrics ([`DecodeError`]).
//! What it does not do: I/O, HTTP framing, choosing block sizes, partition columns (never in
//! the body), or time zones (DATETIME is an instant in epoch milliseconds already).
//! Nothing here panics on any input.

mod compress;
mod crc;
mod encoding;
mod error;
mod packer;
mod pool;
mod reader;
mod varint;
mod writer;

pub use compress::{
    CompressError, Compression, LevelError, PIECE_BYTES, decompress, deflate, inflate,
};
pub use encoding::{Codec, UnknownCodec};
pub use error::{CellError, DecodeError, EncodeError};
pub use packer::{EncodedRecords, Pack, Packer};
pub use pool::BufferPool;
pub use reader::decode_block;
pub use writer::{RecordWriter, encode_block};

use crate::types::OdpsType;

/// MaxCompute's limit on one cell (STRING/BINARY value, or a whole nested value), in bytes.
pub const MAX_CELL_BYTES: usize = 8 * 1024 * 1024;

/// The encoded bytes at which the functions close a record pack (stream) or block (batch): well
/// under what one Tunnel request takes, and small enough that a 128 MB function holds a pack and
/// its compressed copy. A pack may pass it by the one record that filled it.
pub const PACK_BYTES: usize = 8 * 1024 * 1024;

/// Field number of the tag that closes a record.
pub const END_RECORD: u64 = 33_553_408;
/// Field number of the trailer's record count.
pub const META_COUNT: u64 = 33_554_430;
/// Field number of the trailer's stream CRC.
pub const META_CHECKSUM: u64 = 33_554_431;
/// Field number closing the metrics section of download streams.
pub const END_METRICS: u64 = 33_554_176;

/// Protobuf wire types used by the stream.
pub(crate) const WIRE_VARINT: u8 = 0;
pub(crate) const WIRE_FIXED64: u8 = 1;
pub(crate) const WIRE_LENGTH_DELIMITED: u8 = 2;
pub(crate) const WIRE_FIXED32: u8 = 5;

/// The control tags as bytes (`(field << 3) | varint`), written verbatim by the encoder.
const TAG_END_RECORD: [u8; 4] = [0x80, 0xc0, 0xff, 0x7f];
const TAG_META_COUNT: [u8; 4] = [0xf0, 0xff, 0xff, 0x7f];
const TAG_META_CHECKSUM: [u8; 4] = [0xf8, 0xff, 0xff, 0x7f];

/// The wire type a column's tag carries. Wire type 2 does not always mean length-prefixed
/// (TIMESTAMP and the nested types have no length), which is why decoding needs the schema.
pub(crate) fn wire_type(ty: &OdpsType) -> u8 {
    match ty {
        OdpsType::Boolean
        | OdpsType::TinyInt
        | OdpsType::SmallInt
        | OdpsType::Int
        | OdpsType::BigInt
        | OdpsType::Date
        | OdpsType::DateTime => WIRE_VARINT,
        OdpsType::Float => WIRE_FIXED32,
        OdpsType::Double => WIRE_FIXED64,
        OdpsType::String
        | OdpsType::Varchar(_)
        | OdpsType::Char(_)
        | OdpsType::Binary
        | OdpsType::Json
        | OdpsType::Decimal { .. }
        | OdpsType::Timestamp
        | OdpsType::TimestampNtz
        | OdpsType::Array(_)
        | OdpsType::Map(..)
        | OdpsType::Struct(_) => WIRE_LENGTH_DELIMITED,
    }
}

#[cfg(test)]
mod tests {
    use super::varint::put_varint;
    use super::*;

    #[test]
    fn control_tag_bytes_match_field_numbers() {
        for (field, bytes) in [
            (END_RECORD, TAG_END_RECORD),
            (META_COUNT, TAG_META_COUNT),
            (META_CHECKSUM, TAG_META_CHECKSUM),
        ] {
            let mut b = Vec::new();
            put_varint(&mut b, field << 3);
            assert_eq!(b, bytes);
        }
    }
}
