//! Whole-body compression for `Content-Encoding: deflate`, which on the Tunnel means a zlib
//! stream (RFC 1950 header, deflate data, Adler-32), as Java's `DeflaterOutputStream` and
//! Python's `zlib` produce. Other encodings (snappy, lz4, zstd) are not supported here.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::error::DecodeError;

/// Compresses a body as a zlib stream at the default level.
pub fn deflate(bytes: &[u8]) -> Vec<u8> {
    let mut z = Compress::new(Compression::default(), true);
    let mut out = Vec::with_capacity(bytes.len() / 2 + 64);
    loop {
        // The compressor needs free output space to make progress.
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(1024));
        }
        let consumed = usize::try_from(z.total_in()).unwrap_or(usize::MAX);
        let input = bytes.get(consumed..).unwrap_or_default();
        match z.compress_vec(input, &mut out, FlushCompress::Finish) {
            Ok(Status::StreamEnd) => return out,
            Ok(Status::Ok | Status::BufError) => {}
            // A fresh stream finishing into a buffer with free space has no failure mode; should
            // the backend still fail, an empty body is refused by any reader, never taken as data.
            Err(_) => return Vec::new(),
        }
    }
}

/// Decompresses a zlib stream, refusing to produce more than `max_len` bytes (so a small
/// forged body cannot exhaust memory) and refusing bytes after the end of the stream.
pub fn inflate(bytes: &[u8], max_len: usize) -> Result<Vec<u8>, DecodeError> {
    let limit = max_len.saturating_add(1);
    let mut z = Decompress::new(true);
    let mut out = Vec::with_capacity(bytes.len().saturating_mul(4).clamp(64, 1 << 20).min(limit));
    loop {
        if out.len() == out.capacity() {
            // out.len() <= max_len here, so there is room for at least one more byte, which is
            // enough to notice a stream that exceeds the limit.
            let room = limit - out.len();
            out.reserve_exact(room.min(out.capacity().max(4096)));
        }
        let consumed = usize::try_from(z.total_in()).unwrap_or(usize::MAX);
        let input = bytes.get(consumed..).unwrap_or_default();
        let before = (z.total_in(), z.total_out());
        let status = z
            .decompress_vec(input, &mut out, FlushDecompress::None)
            .map_err(DecodeError::Inflate)?;
        if out.len() > max_len {
            return Err(DecodeError::InflateTooLarge { max_len });
        }
        match status {
            Status::StreamEnd => {
                let end = usize::try_from(z.total_in()).unwrap_or(usize::MAX);
                if end < bytes.len() {
                    return Err(DecodeError::TrailingBytes {
                        offset: end,
                        len: bytes.len() - end,
                    });
                }
                return Ok(out);
            }
            Status::Ok | Status::BufError => {
                let stalled = (z.total_in(), z.total_out()) == before;
                if stalled && out.len() < out.capacity() {
                    // Output space was available and nothing moved: the input ran out.
                    return Err(DecodeError::InflateTruncated);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_header() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let z = deflate(&data);
        assert_eq!(z.first(), Some(&0x78), "zlib header");
        assert!(z.len() < data.len() / 10);
        assert_eq!(inflate(&z, data.len()).unwrap(), data);
        assert_eq!(inflate(&deflate(b""), 0).unwrap(), b"");
    }

    #[test]
    fn limits_and_corruption() {
        let data = vec![0u8; 1 << 20];
        let z = deflate(&data);
        assert!(matches!(
            inflate(&z, data.len() - 1),
            Err(DecodeError::InflateTooLarge { max_len }) if max_len == data.len() - 1
        ));
        assert!(matches!(
            inflate(&z[..z.len() / 2], usize::MAX),
            Err(DecodeError::InflateTruncated)
        ));
        let mut trailing = z.clone();
        trailing.extend_from_slice(b"xx");
        assert!(matches!(
            inflate(&trailing, usize::MAX),
            Err(DecodeError::TrailingBytes { offset, len: 2 }) if offset == z.len()
        ));
        assert!(matches!(
            inflate(b"not zlib", usize::MAX),
            Err(DecodeError::Inflate(_))
        ));
        // Raw deflate without the zlib header is not what the Tunnel sends.
        assert!(inflate(&z[2..], usize::MAX).is_err());
    }
}
