//! The encoder: rows in, a complete block body (records + trailer) out.
//!
//! It validates each cell against its column type while writing it, so a bad row costs one
//! pass and leaves the buffer as it was. It does not compress (see [`super::deflate`]) and does
//! not know about blocks, sessions or size limits of requests; the caller decides when a body is
//! full by watching [`RecordWriter::buffered_bytes`].

use bytes::Bytes;

use super::crc::RecordCrc;
use super::pool;
use super::varint::{put_varint, zigzag32, zigzag64};
use super::{
    CellError, EncodeError, MAX_CELL_BYTES, TAG_END_RECORD, TAG_META_CHECKSUM, TAG_META_COUNT,
    wire_type,
};
use crate::decimal::{Decimal, Overflow};
use crate::types::{OdpsType, Value};

/// Streams records into one block body.
///
/// `finish` appends the trailer (record count and stream CRC), so one writer makes one body;
/// start a new writer for the next block or stream pack.
#[derive(Debug, Clone)]
pub struct RecordWriter {
    types: Vec<OdpsType>,
    buf: Vec<u8>,
    crc: RecordCrc,
    /// CRC over `LE32(record_crc)` of every record written so far.
    stream_crc: u32,
    records: u64,
}

impl RecordWriter {
    /// A writer for rows of the given data column types (partition keys excluded).
    pub fn new(types: Vec<OdpsType>) -> Self {
        Self::with_capacity(types, 0)
    }

    /// Like [`RecordWriter::new`], reserving `bytes` of output up front so a body of the
    /// expected size is built without reallocating. A reservation of a MiB or more reuses the
    /// buffer of a body that [`RecordWriter::finish_bytes`] made and that has been dropped
    /// since, so its memory is warm (see `pool.rs`).
    pub fn with_capacity(types: Vec<OdpsType>, bytes: usize) -> Self {
        Self {
            types,
            buf: pool::take(bytes),
            crc: RecordCrc::new(),
            stream_crc: 0,
            records: 0,
        }
    }

    /// Appends one record. On error nothing is written: the row is rolled back and the writer
    /// can take the next row.
    pub fn write(&mut self, row: &[Value]) -> Result<(), EncodeError> {
        self.write_record(row).map(|_| ())
    }

    /// Like [`RecordWriter::write`], returning the record's CRC (what
    /// [`RecordWriter::append_encoded`] needs to copy the record into another body).
    pub(crate) fn write_record(&mut self, row: &[Value]) -> Result<u32, EncodeError> {
        if row.len() != self.types.len() {
            return Err(EncodeError::RowWidth {
                expected: self.types.len(),
                actual: row.len(),
            });
        }
        let start = self.buf.len();
        match write_record(&mut self.buf, &mut self.crc, &self.types, row) {
            Ok(record_crc) => {
                self.count_record(record_crc);
                Ok(record_crc)
            }
            Err(e) => {
                self.buf.truncate(start);
                self.crc.reset();
                Err(e)
            }
        }
    }

    /// Appends a record another writer of the same column types encoded: its bytes (fields,
    /// END_RECORD tag and CRC varint) and its CRC. Copying is not encoding: the record is not
    /// validated again.
    pub(crate) fn append_encoded(&mut self, record: &[u8], record_crc: u32) {
        self.buf.extend_from_slice(record);
        self.count_record(record_crc);
    }

    fn count_record(&mut self, record_crc: u32) {
        self.stream_crc = crc32c::crc32c_append(self.stream_crc, &record_crc.to_le_bytes());
        self.records += 1;
    }

    /// Records written so far.
    pub fn record_count(&self) -> u64 {
        self.records
    }

    /// Bytes of records written so far (the trailer adds at most 20 more).
    pub fn buffered_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Like [`RecordWriter::finish`], as [`Bytes`] whose buffer is kept for the next writer
    /// once the body (every clone of it) is dropped: a large body then costs no fresh memory.
    pub fn finish_bytes(self) -> Bytes {
        pool::into_bytes(self.finish())
    }

    /// Appends the META_COUNT and META_CHECKSUM trailer and returns the body.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(&TAG_META_COUNT);
        // The count is zigzag-encoded like any sint64; a block never holds 2^63 records.
        put_varint(&mut self.buf, zigzag64(self.records as i64));
        self.buf.extend_from_slice(&TAG_META_CHECKSUM);
        put_varint(&mut self.buf, u64::from(self.stream_crc));
        self.buf
    }
}

/// Encodes a whole block at once. The error does not say which row failed; callers that need
/// to skip bad rows use [`RecordWriter`] directly.
pub fn encode_block(types: &[OdpsType], rows: &[Vec<Value>]) -> Result<Vec<u8>, EncodeError> {
    let mut writer = RecordWriter::new(types.to_vec());
    for row in rows {
        writer.write(row)?;
    }
    Ok(writer.finish())
}

/// Writes one record (fields, END_RECORD tag, record CRC) and returns its CRC.
fn write_record(
    buf: &mut Vec<u8>,
    crc: &mut RecordCrc,
    types: &[OdpsType],
    row: &[Value],
) -> Result<u32, EncodeError> {
    for (column, (ty, value)) in types.iter().zip(row).enumerate() {
        if value.is_null() {
            // NULL is an absent field: no tag, nothing hashed.
            continue;
        }
        // Field numbers are 1-based; a table has at most 1200 columns, far below the control tags.
        let field = u32::try_from(column + 1).unwrap_or(u32::MAX);
        put_varint(buf, (u64::from(field) << 3) | u64::from(wire_type(ty)));
        crc.update(&field.to_le_bytes());
        let cell_start = buf.len();
        let cell = write_value(buf, crc, ty, value).and_then(|()| {
            // Byte strings are checked before copying; nested values only once written.
            let len = buf.len() - cell_start;
            if is_nested(ty) && len > MAX_CELL_BYTES {
                return Err(CellError::TooLarge {
                    len,
                    max: MAX_CELL_BYTES,
                });
            }
            Ok(())
        });
        cell.map_err(|error| EncodeError::Cell { column, error })?;
    }
    buf.extend_from_slice(&TAG_END_RECORD);
    let record_crc = crc.finish();
    // Always the plain (at most 5-byte) unsigned form, as the Java SDK writes it.
    put_varint(buf, u64::from(record_crc));
    Ok(record_crc)
}

fn is_nested(ty: &OdpsType) -> bool {
    matches!(
        ty,
        OdpsType::Array(_) | OdpsType::Map(..) | OdpsType::Struct(_)
    )
}

/// Writes a value without tag (the same payload at top level and inside ARRAY/MAP/STRUCT) and
/// feeds its CRC bytes.
fn write_value(
    buf: &mut Vec<u8>,
    crc: &mut RecordCrc,
    ty: &OdpsType,
    value: &Value,
) -> Result<(), CellError> {
    match (ty, value) {
        (OdpsType::Boolean, Value::Boolean(b)) => {
            let byte = u8::from(*b);
            buf.push(byte);
            crc.update(&[byte]);
        }
        (
            OdpsType::TinyInt | OdpsType::SmallInt | OdpsType::Int | OdpsType::BigInt,
            Value::Integer(v),
        ) => {
            if let Some((min, max)) = ty.integer_range()
                && !(min..=max).contains(v)
            {
                return Err(CellError::IntegerOutOfRange {
                    ty: ty.clone(),
                    value: *v,
                    min,
                    max,
                });
            }
            write_long(buf, crc, *v);
        }
        (OdpsType::Float, Value::Float(f)) => {
            let bytes = f.to_le_bytes();
            buf.extend_from_slice(&bytes);
            crc.update(&bytes);
        }
        (OdpsType::Double, Value::Double(d)) => {
            let bytes = d.to_le_bytes();
            buf.extend_from_slice(&bytes);
            crc.update(&bytes);
        }
        (OdpsType::String | OdpsType::Binary, Value::Bytes(b)) => write_bytes(buf, crc, b)?,
        (OdpsType::Varchar(max) | OdpsType::Char(max), Value::Bytes(b)) => {
            let text = utf8(ty, b)?;
            // A character is at least one byte, so short byte strings need no counting.
            if b.len() > *max as usize {
                let chars = text.chars().count();
                if chars > *max as usize {
                    return Err(CellError::TooLong {
                        ty: ty.clone(),
                        chars,
                    });
                }
            }
            write_bytes(buf, crc, b)?;
        }
        (OdpsType::Json, Value::Bytes(b)) => {
            utf8(ty, b)?;
            write_bytes(buf, crc, b)?;
        }
        (OdpsType::Decimal { precision, scale }, Value::Decimal(s)) => {
            // The text goes out as given (exponent forms included, as pyodps sends them); the
            // service rounds extra fraction digits to the scale, so only an integer part that
            // does not fit even after that rounding is refused here.
            let parsed =
                Decimal::parse(s).ok_or_else(|| CellError::InvalidDecimal { value: s.clone() })?;
            if let Err(Overflow { integer_digits }) = parsed.fit(*precision, *scale) {
                return Err(CellError::DecimalOverflow {
                    ty: ty.clone(),
                    value: s.clone(),
                    integer_digits,
                });
            }
            write_bytes(buf, crc, s.as_bytes())?;
        }
        (OdpsType::Date, Value::Date(v)) | (OdpsType::DateTime, Value::DateTime(v)) => {
            write_long(buf, crc, *v);
        }
        (OdpsType::Timestamp | OdpsType::TimestampNtz, Value::Timestamp { seconds, nanos }) => {
            if *nanos >= 1_000_000_000 {
                return Err(CellError::TimestampNanos { nanos: *nanos });
            }
            // No length prefix: seconds then nanos, each zigzag varint.
            put_varint(buf, zigzag64(*seconds));
            let nanos = *nanos as i32;
            put_varint(buf, u64::from(zigzag32(nanos)));
            crc.update(&seconds.to_le_bytes());
            crc.update(&nanos.to_le_bytes());
        }
        (OdpsType::Array(elem), Value::Array(items)) => {
            write_array(buf, crc, elem, items.iter())?;
        }
        (OdpsType::Map(key, val), Value::Map(pairs)) => {
            // Keys as one array, then values as another.
            write_array(buf, crc, key, pairs.iter().map(|(k, _)| k))?;
            write_array(buf, crc, val, pairs.iter().map(|(_, v)| v))?;
        }
        (OdpsType::Struct(fields), Value::Struct(values)) => {
            if fields.len() != values.len() {
                return Err(CellError::StructWidth {
                    ty: ty.clone(),
                    expected: fields.len(),
                    actual: values.len(),
                });
            }
            for (field, v) in fields.iter().zip(values) {
                write_nullable(buf, crc, &field.ty, v)?;
            }
        }
        _ => {
            return Err(CellError::TypeMismatch {
                expected: ty.clone(),
                actual: value.kind(),
            });
        }
    }
    Ok(())
}

fn write_long(buf: &mut Vec<u8>, crc: &mut RecordCrc, v: i64) {
    put_varint(buf, zigzag64(v));
    crc.update(&v.to_le_bytes());
}

fn write_bytes(buf: &mut Vec<u8>, crc: &mut RecordCrc, bytes: &[u8]) -> Result<(), CellError> {
    if bytes.len() > MAX_CELL_BYTES {
        return Err(CellError::TooLarge {
            len: bytes.len(),
            max: MAX_CELL_BYTES,
        });
    }
    put_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
    crc.update(bytes);
    Ok(())
}

fn utf8<'a>(ty: &OdpsType, bytes: &'a [u8]) -> Result<&'a str, CellError> {
    std::str::from_utf8(bytes).map_err(|e| CellError::InvalidUtf8 {
        ty: ty.clone(),
        valid_up_to: e.valid_up_to(),
    })
}

fn write_array<'v>(
    buf: &mut Vec<u8>,
    crc: &mut RecordCrc,
    elem: &OdpsType,
    items: impl ExactSizeIterator<Item = &'v Value>,
) -> Result<(), CellError> {
    // The count and the null flags are framing only: they are not hashed.
    put_varint(buf, items.len() as u64);
    for item in items {
        write_nullable(buf, crc, elem, item)?;
    }
    Ok(())
}

/// A nested value: a varint is-null flag, then the payload when not null.
fn write_nullable(
    buf: &mut Vec<u8>,
    crc: &mut RecordCrc,
    ty: &OdpsType,
    value: &Value,
) -> Result<(), CellError> {
    if value.is_null() {
        buf.push(1);
        Ok(())
    } else {
        buf.push(0);
        write_value(buf, crc, ty, value)
    }
}
