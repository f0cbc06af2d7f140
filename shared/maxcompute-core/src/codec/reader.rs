//! The schema-driven decoder: a block body (records + trailer) in, rows out.
//!
//! The stream is not self-describing (wire type 2 is sometimes length-prefixed and sometimes
//! not), so decoding needs the column types. Every record CRC, the record count and the stream
//! CRC are verified; any inconsistency is an error with the byte offset where it was found.
//! It accepts both widths of CRC varints (5-byte plain and pyodps' 10-byte sign-extended form)
//! and the optional download metrics section between META_COUNT and META_CHECKSUM. It does not
//! inflate (see [`super::inflate`]) and never panics on any input.

use super::crc::RecordCrc;
use super::varint::{unzigzag32, unzigzag64};
use super::{
    DecodeError, END_METRICS, END_RECORD, META_CHECKSUM, META_COUNT, WIRE_LENGTH_DELIMITED,
    WIRE_VARINT, wire_type,
};
use crate::decimal::Decimal;
use crate::types::{OdpsType, Value};

/// Decodes a whole block body into rows of `types.len()` cells (NULL where a field is absent).
pub fn decode_block(types: &[OdpsType], bytes: &[u8]) -> Result<Vec<Vec<Value>>, DecodeError> {
    let mut cur = Cursor { buf: bytes, pos: 0 };
    let mut crc = RecordCrc::new();
    let mut stream_crc = 0u32;
    let mut rows = Vec::new();
    // The fields of the record being read; `None` until its first tag is seen.
    let mut row: Option<Vec<Value>> = None;
    let mut previous_field = 0u64;

    loop {
        if cur.remaining() == 0 {
            return Err(match row {
                // Inside a record, the END_RECORD tag is what is missing.
                Some(_) => DecodeError::UnexpectedEnd {
                    offset: cur.pos,
                    needed: 1,
                },
                None => DecodeError::MissingTrailer { offset: cur.pos },
            });
        }
        let tag_offset = cur.pos;
        let tag = cur.varint()?;
        let field = tag >> 3;
        let wire = (tag & 7) as u8;

        if field == END_RECORD {
            expect_wire(tag_offset, field, wire, WIRE_VARINT)?;
            let crc_offset = cur.pos;
            let actual = cur.crc_varint()?;
            let expected = crc.finish();
            if actual != expected {
                return Err(DecodeError::BadRecordCrc {
                    record: rows.len() as u64,
                    offset: crc_offset,
                    expected,
                    actual,
                });
            }
            stream_crc = crc32c::crc32c_append(stream_crc, &expected.to_le_bytes());
            rows.push(row.take().unwrap_or_else(|| vec![Value::Null; types.len()]));
            previous_field = 0;
            continue;
        }
        if field == META_COUNT {
            if row.is_some() {
                // A record was cut off before its END_RECORD tag.
                return Err(DecodeError::UnexpectedTag {
                    offset: tag_offset,
                    field,
                    wire_type: wire,
                });
            }
            expect_wire(tag_offset, field, wire, WIRE_VARINT)?;
            read_trailer(&mut cur, &mut crc, stream_crc, rows.len() as u64)?;
            return Ok(rows);
        }

        let (column, ty) = data_column(types, tag_offset, tag, previous_field)?;
        previous_field = field;
        crc.update(&(field as u32).to_le_bytes());
        let value = read_value(&mut cur, &mut crc, ty, column)?;
        let cells = row.get_or_insert_with(|| vec![Value::Null; types.len()]);
        if let Some(cell) = cells.get_mut(column) {
            *cell = value;
        }
    }
}

/// The column (0-based) and type of a data field's tag, checked: a known 1-based position, after
/// the record's previous field, with its type's wire type.
fn data_column(
    types: &[OdpsType],
    tag_offset: usize,
    tag: u64,
    previous_field: u64,
) -> Result<(usize, &OdpsType), DecodeError> {
    let (field, wire) = (tag >> 3, (tag & 7) as u8);
    let unexpected = || DecodeError::UnexpectedTag {
        offset: tag_offset,
        field,
        wire_type: wire,
    };
    let column = usize::try_from(field)
        .ok()
        .and_then(|f| f.checked_sub(1))
        .ok_or_else(unexpected)?;
    let ty = types.get(column).ok_or_else(unexpected)?;
    if field <= previous_field {
        return Err(DecodeError::FieldOutOfOrder {
            offset: tag_offset,
            field,
            previous: previous_field,
        });
    }
    let expected = wire_type(ty);
    if wire != expected {
        return Err(DecodeError::WrongWireType {
            offset: tag_offset,
            column,
            ty: ty.clone(),
            expected,
            actual: wire,
        });
    }
    Ok((column, ty))
}

/// Reads what follows the META_COUNT tag: the count, the optional metrics section, the
/// META_CHECKSUM tag and the stream CRC, and checks nothing follows.
fn read_trailer(
    cur: &mut Cursor<'_>,
    crc: &mut RecordCrc,
    stream_crc: u32,
    records: u64,
) -> Result<(), DecodeError> {
    let declared = unzigzag64(cur.varint()?);
    if u64::try_from(declared).ok() != Some(records) {
        return Err(DecodeError::CountMismatch {
            declared,
            actual: records,
        });
    }
    let (mut tag_offset, mut field, mut wire) = cur.tag()?;
    if field != META_CHECKSUM {
        // Download streams may carry a metrics string here under some field number; pyodps
        // hashes that field number and the string with a fresh record CRC and checks it after an
        // END_METRICS tag. The stream CRC does not cover it.
        expect_wire(tag_offset, field, wire, WIRE_LENGTH_DELIMITED)?;
        crc.reset();
        crc.update(&(field as u32).to_le_bytes());
        let metrics = cur.length_delimited()?;
        crc.update(metrics);
        let (end_offset, end_field, end_wire) = cur.tag()?;
        if end_field != END_METRICS {
            return Err(DecodeError::UnexpectedTag {
                offset: end_offset,
                field: end_field,
                wire_type: end_wire,
            });
        }
        expect_wire(end_offset, end_field, end_wire, WIRE_VARINT)?;
        let crc_offset = cur.pos;
        let actual = cur.crc_varint()?;
        let expected = crc.finish();
        if actual != expected {
            return Err(DecodeError::BadMetricsCrc {
                offset: crc_offset,
                expected,
                actual,
            });
        }
        (tag_offset, field, wire) = cur.tag()?;
    }
    if field != META_CHECKSUM {
        return Err(DecodeError::UnexpectedTag {
            offset: tag_offset,
            field,
            wire_type: wire,
        });
    }
    expect_wire(tag_offset, field, wire, WIRE_VARINT)?;
    let crc_offset = cur.pos;
    let actual = cur.crc_varint()?;
    if actual != stream_crc {
        return Err(DecodeError::BadStreamCrc {
            offset: crc_offset,
            expected: stream_crc,
            actual,
        });
    }
    if cur.remaining() > 0 {
        return Err(DecodeError::TrailingBytes {
            offset: cur.pos,
            len: cur.remaining(),
        });
    }
    Ok(())
}

fn expect_wire(offset: usize, field: u64, wire: u8, expected: u8) -> Result<(), DecodeError> {
    if wire == expected {
        Ok(())
    } else {
        Err(DecodeError::UnexpectedTag {
            offset,
            field,
            wire_type: wire,
        })
    }
}

/// Reads one payload (the same at top level and nested) and feeds its CRC bytes.
/// `column` is only for error messages.
fn read_value(
    cur: &mut Cursor<'_>,
    crc: &mut RecordCrc,
    ty: &OdpsType,
    column: usize,
) -> Result<Value, DecodeError> {
    let offset = cur.pos;
    let invalid = |reason| DecodeError::InvalidValue {
        offset,
        column,
        ty: ty.clone(),
        reason,
    };
    Ok(match ty {
        OdpsType::Boolean => {
            let b = match cur.varint()? {
                0 => false,
                1 => true,
                _ => return Err(invalid("a boolean must be 0 or 1")),
            };
            crc.update(&[u8::from(b)]);
            Value::Boolean(b)
        }
        OdpsType::TinyInt | OdpsType::SmallInt | OdpsType::Int | OdpsType::BigInt => {
            let v = read_long(cur, crc)?;
            if let Some((min, max)) = ty.integer_range()
                && !(min..=max).contains(&v)
            {
                return Err(invalid("integer out of range for the column type"));
            }
            Value::Integer(v)
        }
        OdpsType::Float => {
            let bytes: [u8; 4] = cur.fixed()?;
            crc.update(&bytes);
            Value::Float(f32::from_le_bytes(bytes))
        }
        OdpsType::Double => {
            let bytes: [u8; 8] = cur.fixed()?;
            crc.update(&bytes);
            Value::Double(f64::from_le_bytes(bytes))
        }
        OdpsType::String | OdpsType::Binary => {
            let bytes = cur.length_delimited()?;
            crc.update(bytes);
            Value::Bytes(bytes.to_vec())
        }
        OdpsType::Varchar(_) | OdpsType::Char(_) | OdpsType::Json => {
            let bytes = cur.length_delimited()?;
            if std::str::from_utf8(bytes).is_err() {
                return Err(DecodeError::InvalidUtf8 {
                    offset,
                    column,
                    ty: ty.clone(),
                });
            }
            crc.update(bytes);
            Value::Bytes(bytes.to_vec())
        }
        OdpsType::Decimal { precision, scale } => {
            let bytes = cur.length_delimited()?;
            let Ok(text) = std::str::from_utf8(bytes) else {
                return Err(DecodeError::InvalidUtf8 {
                    offset,
                    column,
                    ty: ty.clone(),
                });
            };
            // Clients send exponent forms (`str(Decimal)` gives `6.73261E-12`); the column holds
            // the plain value at its scale, as MaxCompute stores it.
            let plain = Decimal::parse(text)
                .ok_or_else(|| invalid("not a decimal number"))?
                .fit(*precision, *scale)
                .map_err(|_| invalid("more integer digits than the decimal type allows"))?;
            crc.update(bytes);
            Value::Decimal(plain)
        }
        OdpsType::Date => Value::Date(read_long(cur, crc)?),
        OdpsType::DateTime => Value::DateTime(read_long(cur, crc)?),
        OdpsType::Timestamp | OdpsType::TimestampNtz => {
            let seconds = unzigzag64(cur.varint()?);
            let raw = cur.varint()?;
            let nanos = u32::try_from(raw)
                .ok()
                .map(unzigzag32)
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n < 1_000_000_000)
                .ok_or_else(|| invalid("timestamp nanos must be in 0..1000000000"))?;
            crc.update(&seconds.to_le_bytes());
            crc.update(&(nanos as i32).to_le_bytes());
            Value::Timestamp { seconds, nanos }
        }
        OdpsType::Array(elem) => Value::Array(read_array(cur, crc, elem, column)?),
        OdpsType::Map(key, val) => {
            let keys = read_array(cur, crc, key, column)?;
            let count_offset = cur.pos;
            let values = read_array(cur, crc, val, column)?;
            if keys.len() != values.len() {
                return Err(DecodeError::InvalidValue {
                    offset: count_offset,
                    column,
                    ty: ty.clone(),
                    reason: "a map has different numbers of keys and values",
                });
            }
            Value::Map(keys.into_iter().zip(values).collect())
        }
        OdpsType::Struct(fields) => {
            let mut values = Vec::with_capacity(fields.len());
            for field in fields {
                values.push(read_nullable(cur, crc, &field.ty, column)?);
            }
            Value::Struct(values)
        }
    })
}

fn read_long(cur: &mut Cursor<'_>, crc: &mut RecordCrc) -> Result<i64, DecodeError> {
    let v = unzigzag64(cur.varint()?);
    crc.update(&v.to_le_bytes());
    Ok(v)
}

fn read_array(
    cur: &mut Cursor<'_>,
    crc: &mut RecordCrc,
    elem: &OdpsType,
    column: usize,
) -> Result<Vec<Value>, DecodeError> {
    let count_offset = cur.pos;
    let count = cur.varint()?;
    // Every element takes at least its one-byte null flag, so a count beyond the remaining
    // input is corrupt; checking first keeps a forged count from reserving huge memory.
    if count > cur.remaining() as u64 {
        return Err(DecodeError::LengthOverflow {
            offset: count_offset,
            len: count,
            remaining: cur.remaining(),
        });
    }
    let mut items = Vec::with_capacity(count as usize);
    for _ in 0..count {
        items.push(read_nullable(cur, crc, elem, column)?);
    }
    Ok(items)
}

fn read_nullable(
    cur: &mut Cursor<'_>,
    crc: &mut RecordCrc,
    ty: &OdpsType,
    column: usize,
) -> Result<Value, DecodeError> {
    let offset = cur.pos;
    match cur.varint()? {
        0 => read_value(cur, crc, ty, column),
        1 => Ok(Value::Null),
        _ => Err(DecodeError::InvalidValue {
            offset,
            column,
            ty: ty.clone(),
            reason: "a null flag must be 0 or 1",
        }),
    }
}

/// A read position over the body; every read is bounds-checked and reports its offset.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let start = self.pos;
        let mut value = 0u64;
        for i in 0..10u32 {
            let Some(&byte) = self.buf.get(self.pos) else {
                return Err(DecodeError::TruncatedVarint { offset: start });
            };
            self.pos += 1;
            // The tenth byte holds only the top bit of a u64.
            if i == 9 && byte > 1 {
                return Err(DecodeError::VarintTooLong { offset: start });
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::VarintTooLong { offset: start })
    }

    /// A CRC: taken modulo 2^32, so the 10-byte sign-extended form reads like the 5-byte one.
    fn crc_varint(&mut self) -> Result<u32, DecodeError> {
        Ok(self.varint()? as u32)
    }

    /// A tag split into (offset, field number, wire type).
    fn tag(&mut self) -> Result<(usize, u64, u8), DecodeError> {
        let offset = self.pos;
        if self.remaining() == 0 {
            return Err(DecodeError::UnexpectedEnd { offset, needed: 1 });
        }
        let tag = self.varint()?;
        Ok((offset, tag >> 3, (tag & 7) as u8))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n);
        match end.and_then(|end| self.buf.get(self.pos..end)) {
            Some(bytes) => {
                self.pos += n;
                Ok(bytes)
            }
            None => Err(DecodeError::UnexpectedEnd {
                offset: self.pos,
                needed: n.saturating_sub(self.remaining()),
            }),
        }
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn length_delimited(&mut self) -> Result<&'a [u8], DecodeError> {
        let offset = self.pos;
        let len = self.varint()?;
        let remaining = self.remaining();
        match usize::try_from(len) {
            Ok(n) if n <= remaining => self.take(n),
            _ => Err(DecodeError::LengthOverflow {
                offset,
                len,
                remaining,
            }),
        }
    }
}
