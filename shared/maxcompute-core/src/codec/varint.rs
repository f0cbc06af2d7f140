//! Base-128 varints and zigzag mapping, as in protobuf.
//!
//! Only the writing half lives here; reading is part of the decoder's cursor, because a read
//! needs the input position for its errors. Nothing here allocates beyond the caller's buffer.

/// The longest varint a `u64` needs.
pub(crate) const MAX_VARINT_LEN: usize = 10;

/// Appends `value` as an unsigned varint.
#[inline]
pub(crate) fn put_varint(buf: &mut Vec<u8>, value: u64) {
    // Most values in a record (tags, small integers, lengths) fit in one byte.
    if value < 0x80 {
        buf.push(value as u8);
        return;
    }
    // Build the bytes on the stack so the vector grows (and checks capacity) once.
    let mut tmp = [0u8; MAX_VARINT_LEN];
    let mut n = 0;
    let mut v = value;
    for slot in tmp.iter_mut() {
        n += 1;
        if v < 0x80 {
            *slot = v as u8;
            break;
        }
        *slot = (v as u8) | 0x80;
        v >>= 7;
    }
    buf.extend_from_slice(tmp.get(..n).unwrap_or(&tmp));
}

/// Zigzag-maps a signed 64-bit integer so small magnitudes make short varints.
#[inline]
pub(crate) fn zigzag64(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag64`].
#[inline]
pub(crate) fn unzigzag64(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Zigzag-maps a signed 32-bit integer (used for TIMESTAMP nanos).
#[inline]
pub(crate) fn zigzag32(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

/// Inverse of [`zigzag32`].
#[inline]
pub(crate) fn unzigzag32(v: u32) -> i32 {
    ((v >> 1) as i32) ^ -((v & 1) as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(v: u64) -> Vec<u8> {
        let mut b = Vec::new();
        put_varint(&mut b, v);
        b
    }

    #[test]
    fn varints_match_protobuf() {
        assert_eq!(varint(0), [0x00]);
        assert_eq!(varint(1), [0x01]);
        assert_eq!(varint(127), [0x7f]);
        assert_eq!(varint(128), [0x80, 0x01]);
        assert_eq!(varint(300), [0xac, 0x02]);
        assert_eq!(varint(0x0FFF_E000), [0x80, 0xc0, 0xff, 0x7f]);
        assert_eq!(varint(0xDA0D_A566), [0xe6, 0xca, 0xb6, 0xd0, 0x0d]);
        assert_eq!(
            varint(u64::MAX),
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
    }

    #[test]
    fn zigzag_matches_protobuf() {
        assert_eq!(zigzag64(0), 0);
        assert_eq!(zigzag64(-1), 1);
        assert_eq!(zigzag64(1), 2);
        assert_eq!(zigzag64(i64::MAX), u64::MAX - 1);
        assert_eq!(zigzag64(i64::MIN), u64::MAX);
        for v in [0, 1, -1, 42, -300, i64::MIN, i64::MAX] {
            assert_eq!(unzigzag64(zigzag64(v)), v);
        }
        assert_eq!(zigzag32(500_000_000), 1_000_000_000);
        for v in [0, 1, -1, i32::MIN, i32::MAX] {
            assert_eq!(unzigzag32(zigzag32(v)), v);
        }
    }
}
