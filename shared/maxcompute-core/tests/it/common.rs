//! What several of the test modules compare with: values that tell -0.0 from 0.0, and pyodps's
//! record bytes with their CRC varints in the plain form.

use maxcompute_core::types::Value;

/// Equality that tells -0.0 from 0.0 and compares NaNs by their bits.
pub(crate) fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Double(x), Value::Double(y)) => x.to_bits() == y.to_bits(),
        (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
        (Value::Array(x), Value::Array(y)) | (Value::Struct(x), Value::Struct(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| same(ka, kb) && same(va, vb))
        }
        _ => a == b,
    }
}

/// Rewrites the compiled writer's 10-byte sign-extended CRC varints to the plain 5-byte form.
/// A CRC with bit 31 set is written as the int64 it sign-extends to: four bytes with the
/// continuation bit, a fifth whose top three value bits are ones, `ff ff ff ff 01`. Only that
/// exact shape right after an END_RECORD (`80 c0 ff 7f`) or META_CHECKSUM (`f8 ff ff 7f`) tag is
/// rewritten, so cell bytes that happen to contain a tag are left alone. Independent of the
/// codec under test.
pub(crate) fn shorten_crc_varints(bytes: &[u8]) -> Vec<u8> {
    const TAGS: [[u8; 4]; 2] = [[0x80, 0xc0, 0xff, 0x7f], [0xf8, 0xff, 0xff, 0x7f]];
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let long_crc = bytes.get(i..i + 14).filter(|w| {
            TAGS.iter().any(|t| w[..4] == t[..])
                && w[4..8].iter().all(|b| b & 0x80 != 0)
                && w[8] & 0xf0 == 0xf0
                && w[9..13] == [0xff; 4]
                && w[13] == 0x01
        });
        match long_crc {
            Some(w) => {
                out.extend_from_slice(&w[..4]);
                let mut crc = 0u64;
                for (k, b) in w[4..9].iter().enumerate() {
                    crc |= u64::from(b & 0x7f) << (7 * k);
                }
                let mut crc = crc & 0xffff_ffff;
                while crc >= 0x80 {
                    out.push((crc as u8) | 0x80);
                    crc >>= 7;
                }
                out.push(crc as u8);
                i += 14;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}
