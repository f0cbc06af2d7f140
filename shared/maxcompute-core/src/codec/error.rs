//! The codec's typed errors.
//!
//! Every encode error is a property of one row (the caller rejects that record and goes on);
//! every decode error is a property of the input bytes and says where in them it was found.
//! None of these is transient: retrying the same input gives the same error.

use super::encoding::Codec;
use crate::types::OdpsType;

/// Why a row could not be encoded. The writer's buffer is unchanged when this is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The row does not have one cell per data column.
    #[error("row has {actual} cells but the table has {expected} data columns")]
    RowWidth { expected: usize, actual: usize },
    /// One cell is not valid for its column.
    #[error("column {column}: {error}")]
    Cell {
        /// 0-based index of the data column (the row's cell index).
        column: usize,
        #[source]
        error: CellError,
    },
}

impl EncodeError {
    /// The 0-based data column the error is about, if it is about one.
    pub fn column(&self) -> Option<usize> {
        match self {
            Self::RowWidth { .. } => None,
            Self::Cell { column, .. } => Some(*column),
        }
    }
}

/// Why one cell (or a value nested in it) cannot be written to its column type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CellError {
    /// The value's variant does not belong to the column type.
    #[error("a {actual} value cannot be written to a {expected} column")]
    TypeMismatch {
        expected: OdpsType,
        actual: &'static str,
    },
    /// An integer outside the range of TINYINT, SMALLINT or INT.
    #[error("{value} is out of range for {ty} ({min}..={max})")]
    IntegerOutOfRange {
        ty: OdpsType,
        value: i64,
        min: i64,
        max: i64,
    },
    /// The encoded cell is larger than [`super::MAX_CELL_BYTES`].
    #[error("cell is {len} bytes, over the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    /// A VARCHAR/CHAR value with more characters than the type allows.
    #[error("{chars} characters do not fit in {ty}")]
    TooLong { ty: OdpsType, chars: usize },
    /// Text for a VARCHAR, CHAR or JSON column that is not UTF-8.
    #[error("{ty} value is not valid UTF-8 (valid up to byte {valid_up_to})")]
    InvalidUtf8 { ty: OdpsType, valid_up_to: usize },
    /// A DECIMAL string that is not a decimal number.
    #[error("{value:?} is not a decimal number such as -12.34 or 6.7E-12")]
    InvalidDecimal { value: String },
    /// A DECIMAL with more integer digits than the type allows once rounded to its scale.
    /// Extra fraction digits are not an error: the service rounds them half-up to the scale.
    #[error("{value} does not fit in {ty} ({integer_digits} integer digits)")]
    DecimalOverflow {
        ty: OdpsType,
        value: String,
        integer_digits: u64,
    },
    /// A TIMESTAMP whose nanosecond part is not below one second.
    #[error("timestamp nanos {nanos} must be below 1000000000")]
    TimestampNanos { nanos: u32 },
    /// A STRUCT value whose field count differs from the type's.
    #[error("struct has {actual} fields but {ty} has {expected}")]
    StructWidth {
        ty: OdpsType,
        expected: usize,
        actual: usize,
    },
}

/// Why a block body could not be decoded. Offsets are byte positions in the (inflated) body.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("truncated varint at byte {offset}")]
    TruncatedVarint { offset: usize },
    #[error("varint longer than 10 bytes or over 64 bits at byte {offset}")]
    VarintTooLong { offset: usize },
    #[error("unexpected end of data at byte {offset}: {needed} more bytes needed")]
    UnexpectedEnd { offset: usize, needed: usize },
    #[error("length {len} at byte {offset} is more than the {remaining} bytes left")]
    LengthOverflow {
        offset: usize,
        len: u64,
        remaining: usize,
    },
    /// A tag whose field number is neither a data column nor a known control tag, or a control
    /// tag where it does not belong.
    #[error("unexpected tag (field {field}, wire type {wire_type}) at byte {offset}")]
    UnexpectedTag {
        offset: usize,
        field: u64,
        wire_type: u8,
    },
    /// A field number not above the previous one in the same record (also a repeated field).
    #[error("field {field} at byte {offset} follows field {previous}; fields must ascend")]
    FieldOutOfOrder {
        offset: usize,
        field: u64,
        previous: u64,
    },
    #[error("column {column} ({ty}) at byte {offset} has wire type {actual}, expected {expected}")]
    WrongWireType {
        offset: usize,
        column: usize,
        ty: OdpsType,
        expected: u8,
        actual: u8,
    },
    #[error(
        "record {record} at byte {offset}: CRC {actual:#010x} does not match the data's {expected:#010x}"
    )]
    BadRecordCrc {
        record: u64,
        offset: usize,
        /// The CRC computed over the record's data.
        expected: u32,
        /// The CRC the stream carries.
        actual: u32,
    },
    #[error(
        "stream CRC {actual:#010x} at byte {offset} does not match the records' {expected:#010x}"
    )]
    BadStreamCrc {
        offset: usize,
        expected: u32,
        actual: u32,
    },
    #[error("metrics CRC {actual:#010x} at byte {offset} does not match {expected:#010x}")]
    BadMetricsCrc {
        offset: usize,
        expected: u32,
        actual: u32,
    },
    #[error("trailer says {declared} records but the block holds {actual}")]
    CountMismatch { declared: i64, actual: u64 },
    #[error("no META_COUNT/META_CHECKSUM trailer: data ends at byte {offset}")]
    MissingTrailer { offset: usize },
    #[error("{len} bytes after the trailer, from byte {offset}")]
    TrailingBytes { offset: usize, len: usize },
    #[error("column {column} ({ty}) at byte {offset} is not valid UTF-8")]
    InvalidUtf8 {
        offset: usize,
        column: usize,
        ty: OdpsType,
    },
    /// A value that is well formed on the wire but not valid for its type (a boolean other than
    /// 0/1, an out-of-range integer, nanos of a second or more, a bad decimal, a null flag other
    /// than 0/1).
    #[error("column {column} ({ty}) at byte {offset}: {reason}")]
    InvalidValue {
        offset: usize,
        column: usize,
        ty: OdpsType,
        reason: &'static str,
    },
    /// Decompressing (any codec) would produce more than the caller's limit.
    #[error("decompressed data would exceed {max_len} bytes")]
    InflateTooLarge { max_len: usize },
    #[error("compressed data ends before the end of the zlib stream")]
    InflateTruncated,
    #[error("invalid zlib data")]
    Inflate(#[source] flate2::DecompressError),
    /// A zstd, lz4 frame or framed snappy body that does not decompress (deflate bodies give
    /// the `Inflate*` errors).
    #[error("invalid {codec} data: {source}")]
    Decompress {
        codec: Codec,
        #[source]
        source: std::io::Error,
    },
}
