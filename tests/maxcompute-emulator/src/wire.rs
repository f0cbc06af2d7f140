//! The emulator's view of the record-stream wire format: thin wrappers over `shared::codec` that
//! turn codec errors into the Tunnel's error codes. There is deliberately no encoder or decoder
//! here: the sink and the emulator share one tested codec.

use shared::codec;
use shared::types::{OdpsType, Value};

use crate::service_error::{EmuError, EmuResult};

/// The largest request body the emulator inflates (a guard against zip bombs, not a service limit).
pub const MAX_INFLATED_BYTES: usize = 512 * 1024 * 1024;

/// Undoes the request's `Content-Encoding`, if any.
pub fn decode_body(content_encoding: Option<&str>, body: &[u8]) -> EmuResult<Vec<u8>> {
    match content_encoding.map(|e| e.trim().to_ascii_lowercase()) {
        None => Ok(body.to_vec()),
        Some(e) if e.is_empty() || e == "identity" => Ok(body.to_vec()),
        Some(e) if e == "deflate" => codec::inflate(body, MAX_INFLATED_BYTES).map_err(|err| {
            EmuError::MalformedDataStream(format!("the deflate body does not inflate: {err}"))
        }),
        Some(other) => Err(EmuError::InvalidArgument(format!(
            "Content-Encoding `{other}` is not supported by the emulator (only deflate)"
        ))),
    }
}

/// Decodes and fully validates one block (CRCs, count, types).
pub fn decode_rows(types: &[OdpsType], bytes: &[u8]) -> EmuResult<Vec<Vec<Value>>> {
    codec::decode_block(types, bytes)
        .map_err(|e| EmuError::MalformedDataStream(format!("malformed data stream: {e}")))
}

/// Encodes rows for a download or an instance result.
pub fn encode_rows(types: &[OdpsType], rows: &[Vec<Value>]) -> EmuResult<Vec<u8>> {
    codec::encode_block(types, rows)
        .map_err(|e| EmuError::Internal(format!("cannot re-encode stored rows: {e}")))
}

pub fn deflate(bytes: &[u8]) -> Vec<u8> {
    codec::deflate(bytes)
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
