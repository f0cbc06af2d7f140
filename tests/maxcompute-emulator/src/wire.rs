//! The emulator's view of the record-stream wire format: thin wrappers over
//! `maxcompute_core::codec` that turn codec errors into the Tunnel's error codes. There is
//! deliberately no encoder or decoder here: the sink and the emulator share one tested codec.

use maxcompute_core::codec::{self, Codec, Compression};
use maxcompute_core::types::{OdpsType, Value};

use crate::service_error::{EmuError, EmuResult};

/// The largest request body the emulator decompresses (a guard against zip bombs, not a
/// service limit).
pub const MAX_INFLATED_BYTES: usize = 512 * 1024 * 1024;

/// Undoes the request's `Content-Encoding`, if any: `deflate`, `zstd`, `x-lz4-frame` or
/// `x-snappy-framed`, the tokens pyodps sends.
pub fn decode_body(content_encoding: Option<&str>, body: &[u8]) -> EmuResult<Vec<u8>> {
    let token = content_encoding.map(str::trim).unwrap_or_default();
    if token.is_empty() || token.eq_ignore_ascii_case("identity") {
        return Ok(body.to_vec());
    }
    let codec = Codec::from_content_encoding(token).ok_or_else(|| {
        EmuError::InvalidArgument(format!(
            "Content-Encoding `{token}` is not supported (deflate, zstd, x-lz4-frame or x-snappy-framed)"
        ))
    })?;
    codec::decompress(codec, body, MAX_INFLATED_BYTES).map_err(|source| EmuError::Decompress {
        encoding: codec.content_encoding(),
        source,
    })
}

/// The first codec of an `Accept-Encoding` list that the emulator speaks (quality values are
/// ignored: pyodps sends one token).
pub fn accepted_codec(accept_encoding: Option<&str>) -> Option<Codec> {
    accept_encoding?
        .split(',')
        .filter_map(|item| item.split(';').next())
        .find_map(Codec::from_content_encoding)
}

/// Decodes and fully validates one block (CRCs, count, types).
pub fn decode_rows(types: &[OdpsType], bytes: &[u8]) -> EmuResult<Vec<Vec<Value>>> {
    Ok(codec::decode_block(types, bytes)?)
}

/// Decodes a stored block for a reader (a download, a query, `Table.head`): validated like an
/// upload, and with CHAR(n) cells padded with trailing spaces to n characters, as the service
/// stores them. Uploads keep the bytes the client sent; the padding is what a reader sees.
pub fn read_stored_rows(types: &[OdpsType], bytes: &[u8]) -> EmuResult<Vec<Vec<Value>>> {
    let mut rows = decode_rows(types, bytes)?;
    let char_columns: Vec<(usize, usize)> = types
        .iter()
        .enumerate()
        .filter_map(|(i, t)| match t {
            OdpsType::Char(n) => Some((i, *n as usize)),
            _ => None,
        })
        .collect();
    if char_columns.is_empty() {
        return Ok(rows);
    }
    for row in &mut rows {
        for &(i, n) in &char_columns {
            if let Some(Value::Bytes(b)) = row.get_mut(i) {
                pad_char(b, n);
            }
        }
    }
    Ok(rows)
}

/// Pads a CHAR(n) cell with spaces to n characters (a cell that is not UTF-8 counts bytes).
fn pad_char(cell: &mut Vec<u8>, n: usize) {
    let chars = std::str::from_utf8(cell)
        .map(|s| s.chars().count())
        .unwrap_or(cell.len());
    cell.resize(cell.len() + n.saturating_sub(chars), b' ');
}

/// Encodes rows for a download or an instance result.
pub fn encode_rows(types: &[OdpsType], rows: &[Vec<Value>]) -> EmuResult<Vec<u8>> {
    Ok(codec::encode_block(types, rows)?)
}

/// Compresses a response body with `codec` at pyodps's default level.
pub fn compress(codec: Codec, bytes: &[u8]) -> EmuResult<Vec<u8>> {
    Ok(Compression::default_for(codec).compress(bytes)?)
}

/// The cells at `picked` of each row, in that order (a missing cell reads as NULL): the column
/// subset of a download and of a `SELECT`.
pub fn project(rows: Vec<Vec<Value>>, picked: &[usize]) -> Vec<Vec<Value>> {
    rows.into_iter()
        .map(|r| {
            picked
                .iter()
                .map(|i| r.get(*i).cloned().unwrap_or(Value::Null))
                .collect()
        })
        .collect()
}
