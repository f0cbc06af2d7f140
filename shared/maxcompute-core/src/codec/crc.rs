//! The running CRC-32C of one record (§7.2), fed the same bytes by the encoder and the decoder.
//!
//! A record's CRC covers many tiny pieces (4-byte field numbers, 8-byte integers). Calling the
//! hardware CRC once per piece costs more in call overhead than in hashing, so small pieces are
//! gathered in a fixed stack buffer and hashed together; large slices (string payloads) are hashed
//! in place, never copied. CRC-32C is a streaming CRC, so the grouping does not change the result.

/// Pieces at most this long are gathered; longer ones are hashed directly.
const SMALL: usize = 32;
/// Size of the gathering buffer.
const PENDING: usize = 128;

#[derive(Debug, Clone)]
pub(crate) struct RecordCrc {
    crc: u32,
    pending: [u8; PENDING],
    len: usize,
}

impl RecordCrc {
    pub(crate) fn new() -> Self {
        Self {
            crc: 0,
            pending: [0; PENDING],
            len: 0,
        }
    }

    /// Feeds bytes to the CRC.
    #[inline]
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        if bytes.len() > SMALL {
            self.flush();
            self.crc = crc32c::crc32c_append(self.crc, bytes);
            return;
        }
        if self.len + bytes.len() > PENDING {
            self.flush();
        }
        let end = self.len + bytes.len();
        if let Some(dst) = self.pending.get_mut(self.len..end) {
            dst.copy_from_slice(bytes);
            self.len = end;
        }
    }

    fn flush(&mut self) {
        if let Some(p) = self.pending.get(..self.len) {
            self.crc = crc32c::crc32c_append(self.crc, p);
        }
        self.len = 0;
    }

    /// The CRC of everything fed since the last reset, and resets for the next record.
    pub(crate) fn finish(&mut self) -> u32 {
        self.flush();
        std::mem::replace(&mut self.crc, 0)
    }

    /// Forgets everything fed so far (used when a row is rolled back).
    pub(crate) fn reset(&mut self) {
        self.crc = 0;
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value_and_grouping() {
        let mut c = RecordCrc::new();
        c.update(b"123456789");
        assert_eq!(c.finish(), 0xE306_9283);
        // Mixed small and large pieces, crossing the buffer boundary, give the one-shot CRC.
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let mut c = RecordCrc::new();
        let mut rest = &data[..];
        for n in [4, 8, 31, 33, 1, 120, 2, 300, 7, 0, 16] {
            let (a, b) = rest.split_at(n);
            c.update(a);
            rest = b;
        }
        c.update(rest);
        assert_eq!(c.finish(), crc32c::crc32c(&data));
        assert_eq!(c.finish(), 0);
    }
}
