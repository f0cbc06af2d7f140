//! Whole-body compression of Tunnel data, with the `Content-Encoding` names pyodps uses
//! (`odps/tunnel/io/stream.py`, `CompressOption`):
//!
//! | [`Codec`] | `Content-Encoding` | format | levels | pyodps's level |
//! |---|---|---|---|---|
//! | `deflate` | `deflate` | zlib stream (RFC 1950), as Java's `DeflaterOutputStream` and Python's `zlib` | 0 to 9 | 1 |
//! | `zstd` | `zstd` | zstd frames | 1 to 22 | 3 (it ignores the level it is given) |
//! | `lz4` | `x-lz4-frame` | LZ4 frame format, independent 64 KiB blocks | 1 (the fast mode) | 1 |
//! | `snappy` | `x-snappy-framed` | Snappy framing format (masked CRC-32C per chunk) | none | none |
//!
//! Compression takes a whole body and returns it whole, or in pieces as they are made (so a
//! client can send the start of a body while the rest is compressed); decompression refuses to
//! produce more than a caller's limit, so a small forged body cannot exhaust memory. No I/O.

use std::io::{Read, Write};
use std::ops::RangeInclusive;

use flate2::write::ZlibEncoder;
use flate2::{Compression as Level, Decompress, FlushDecompress, Status};

use super::encoding::Codec;
use super::error::DecodeError;

/// A level the codec does not take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LevelError {
    #[error("{codec} takes levels {} to {}, not {level}", .accepted.start(), .accepted.end())]
    OutOfRange {
        codec: Codec,
        level: i32,
        accepted: RangeInclusive<i32>,
    },
    #[error("{codec} has no levels")]
    NoLevels { codec: Codec },
}

/// A codec and its level, validated: what a client compresses its uploads with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compression {
    codec: Codec,
    level: Option<i32>,
}

impl Compression {
    /// `codec` at `level`, or at pyodps's default level when `None`.
    pub fn new(codec: Codec, level: Option<i32>) -> Result<Self, LevelError> {
        let level = match (codec.levels(), level) {
            (None, None) => None,
            (None, Some(_)) => return Err(LevelError::NoLevels { codec }),
            (Some(_), None) => codec.default_level(),
            (Some(accepted), Some(level)) if accepted.contains(&level) => Some(level),
            (Some(accepted), Some(level)) => {
                return Err(LevelError::OutOfRange {
                    codec,
                    level,
                    accepted,
                });
            }
        };
        Ok(Self { codec, level })
    }

    /// `codec` at pyodps's default level.
    pub fn default_for(codec: Codec) -> Self {
        Self {
            codec,
            level: codec.default_level(),
        }
    }

    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// The level, `None` for snappy.
    pub fn level(&self) -> Option<i32> {
        self.level
    }

    /// Compresses a whole body. Only a failing allocator makes this fail.
    pub fn compress(&self, bytes: &[u8]) -> Result<Vec<u8>, CompressError> {
        let mut out = Vec::with_capacity(bytes.len() / 2 + 64);
        self.compress_in_pieces(bytes, |piece| out.extend_from_slice(piece))?;
        Ok(out)
    }

    /// Compresses a whole body, handing the output to `piece` as it is made, about
    /// [`PIECE_BYTES`] at a time, so that a caller can send the start of a body while the rest
    /// is compressed. The pieces joined are what [`Compression::compress`] returns.
    pub fn compress_in_pieces(
        &self,
        bytes: &[u8],
        piece: impl FnMut(&[u8]),
    ) -> Result<(), CompressError> {
        let codec = self.codec;
        let failed = |source: std::io::Error| CompressError { codec, source };
        let out = Pieces {
            buf: Vec::with_capacity(PIECE_BYTES * 2),
            piece,
        };
        let mut out = match codec {
            Codec::Deflate => {
                // flate2's `ZlibEncoder`: measured against a hand-driven `Compress` loop on 4 MiB
                // of record-like JSON (zlib-rs backend), as fast at level 1 and within a few per
                // cent at level 6, so the loop bought nothing.
                let level = u32::try_from(self.level.unwrap_or(1).clamp(0, 9)).unwrap_or(1);
                let mut encoder = ZlibEncoder::new(out, Level::new(level));
                feed(&mut encoder, bytes).map_err(failed)?;
                encoder.finish().map_err(failed)?
            }
            Codec::Zstd => {
                let mut encoder = zstd::stream::write::Encoder::new(out, self.level.unwrap_or(3))
                    .map_err(failed)?;
                // The frame says its size, as a one-shot compression's does.
                encoder
                    .set_pledged_src_size(Some(bytes.len() as u64))
                    .map_err(failed)?;
                encoder.include_contentsize(true).map_err(failed)?;
                feed(&mut encoder, bytes).map_err(failed)?;
                encoder.finish().map_err(failed)?
            }
            Codec::Lz4 => {
                // Independent blocks: a third faster than linked ones (pyodps's choice) and, with
                // 64 KiB blocks of record data, the same ratio. No checksums, like pyodps.
                let info = lz4_flex::frame::FrameInfo::new()
                    .block_mode(lz4_flex::frame::BlockMode::Independent)
                    .content_size(Some(bytes.len() as u64));
                let mut encoder = lz4_flex::frame::FrameEncoder::with_frame_info(info, out);
                feed(&mut encoder, bytes).map_err(failed)?;
                encoder.finish().map_err(|e| failed(e.into()))?
            }
            Codec::Snappy => {
                let mut encoder = snap::write::FrameEncoder::new(out);
                feed(&mut encoder, bytes).map_err(failed)?;
                encoder.into_inner().map_err(|e| failed(e.into_error()))?
            }
        };
        out.hand_on();
        Ok(())
    }
}

/// About how much compressed output [`Compression::compress_in_pieces`] hands on at a time.
pub const PIECE_BYTES: usize = 64 * 1024;

/// Writes `bytes` to `encoder` in slices, so that each codec makes output as it goes rather
/// than after one call that takes the whole body.
fn feed(encoder: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
    for slice in bytes.chunks(128 * 1024) {
        encoder.write_all(slice)?;
    }
    Ok(())
}

/// A compressor's output, handed on in pieces of at least [`PIECE_BYTES`] (the last may be
/// shorter).
struct Pieces<F: FnMut(&[u8])> {
    buf: Vec<u8>,
    piece: F,
}

impl<F: FnMut(&[u8])> Pieces<F> {
    fn hand_on(&mut self) {
        if !self.buf.is_empty() {
            (self.piece)(&self.buf);
            self.buf.clear();
        }
    }
}

impl<F: FnMut(&[u8])> Write for Pieces<F> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= PIECE_BYTES {
            self.hand_on();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A compressor that failed (out of memory: the codecs have no other failure on valid levels).
#[derive(Debug, thiserror::Error)]
#[error("{codec} compression failed")]
pub struct CompressError {
    pub codec: Codec,
    #[source]
    pub source: std::io::Error,
}

/// Decompresses a whole `codec` body, refusing to produce more than `max_len` bytes and
/// refusing bytes after the end of the data.
pub fn decompress(codec: Codec, bytes: &[u8], max_len: usize) -> Result<Vec<u8>, DecodeError> {
    // The decoders read from `rest`, which then holds what they left: bytes after the data.
    let mut rest = bytes;
    let out = match codec {
        Codec::Deflate => return inflate(bytes, max_len),
        Codec::Zstd if let Some(size) = one_sized_zstd_frame(bytes, max_len) => {
            // One call into a buffer of the size the frame states (zstd checks that the frame
            // holds exactly that much): about three times faster than the streaming decoder.
            return zstd::bulk::decompress(bytes, size)
                .map_err(|source| DecodeError::Decompress { codec, source });
        }
        Codec::Zstd => zstd::stream::read::Decoder::with_buffer(&mut rest)
            .map_err(ReadError::Io)
            .and_then(|d| read_limited(d, bytes.len(), max_len)),
        Codec::Lz4 => read_limited(
            lz4_flex::frame::FrameDecoder::new(&mut rest),
            bytes.len(),
            max_len,
        ),
        Codec::Snappy => read_limited(
            snap::read::FrameDecoder::new(&mut rest),
            bytes.len(),
            max_len,
        ),
    }
    .map_err(|e| e.into_decode_error(codec))?;
    if !rest.is_empty() {
        return Err(DecodeError::TrailingBytes {
            offset: bytes.len() - rest.len(),
            len: rest.len(),
        });
    }
    Ok(out)
}

/// The size a zstd body states, when it is one frame that states its size (as the
/// compressor here writes it) and that size is within `max_len`.
fn one_sized_zstd_frame(bytes: &[u8], max_len: usize) -> Option<usize> {
    let size = zstd::zstd_safe::get_frame_content_size(bytes).ok()??;
    let frame_len = zstd::zstd_safe::find_frame_compressed_size(bytes).ok()?;
    let size = usize::try_from(size).ok()?;
    (frame_len == bytes.len() && size <= max_len).then_some(size)
}

enum ReadError {
    TooLarge { max_len: usize },
    Io(std::io::Error),
}

impl ReadError {
    fn into_decode_error(self, codec: Codec) -> DecodeError {
        match self {
            ReadError::TooLarge { max_len } => DecodeError::InflateTooLarge { max_len },
            ReadError::Io(source) => DecodeError::Decompress { codec, source },
        }
    }
}

/// Reads `decoder` to its end, but never more than `max_len` bytes.
fn read_limited(
    decoder: impl Read,
    input_len: usize,
    max_len: usize,
) -> Result<Vec<u8>, ReadError> {
    let limit = max_len.saturating_add(1);
    let guess = input_len.saturating_mul(4).clamp(64, 1 << 20).min(limit);
    let mut out = Vec::with_capacity(guess);
    decoder
        .take(u64::try_from(limit).unwrap_or(u64::MAX))
        .read_to_end(&mut out)
        .map_err(ReadError::Io)?;
    if out.len() > max_len {
        return Err(ReadError::TooLarge { max_len });
    }
    Ok(out)
}

/// Compresses a body as a zlib stream at level 6 (zlib's default).
pub fn deflate(bytes: &[u8]) -> Vec<u8> {
    // Only a failing allocator fails; an empty body is refused by any reader, never taken as
    // data.
    Compression {
        codec: Codec::Deflate,
        level: Some(6),
    }
    .compress(bytes)
    .unwrap_or_default()
}

/// Decompresses a zlib stream, refusing to produce more than `max_len` bytes (so a small
/// forged body cannot exhaust memory) and refusing bytes after the end of the stream.
///
/// A hand-driven `Decompress` loop rather than flate2's `bufread::ZlibDecoder` under
/// [`read_limited`]: measured on the same bodies as [`deflate`], the decoder was 5 to 10 per
/// cent slower at level 6 and from a few per cent to more than twice as slow at level 1 (runs
/// on a busy machine), and it reports a corrupt or cut-short stream as an untyped `io::Error`,
/// where this loop tells [`DecodeError::InflateTruncated`] from [`DecodeError::Inflate`] with
/// zlib's own reason.
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
    use crate::codec::UnknownCodec;

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

    fn sample() -> Vec<u8> {
        (0..300_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 28) as u8 ^ (i % 7) as u8)
            .collect()
    }

    #[test]
    fn every_codec_round_trips_at_every_level() {
        let data = sample();
        for codec in Codec::ALL {
            let levels: Vec<Option<i32>> = match codec.levels() {
                Some(r) => r.map(Some).collect(),
                None => vec![None],
            };
            for level in levels {
                let c = Compression::new(codec, level).unwrap();
                let z = c.compress(&data).unwrap();
                if level != Some(0) {
                    assert!(z.len() < data.len(), "{codec} {level:?} compresses");
                }
                assert_eq!(
                    decompress(codec, &z, data.len()).unwrap(),
                    data,
                    "{codec} {level:?}"
                );
                let empty = c.compress(b"").unwrap();
                assert_eq!(decompress(codec, &empty, 0).unwrap(), b"", "{codec} empty");
            }
        }
    }

    #[test]
    fn names_levels_and_encodings() {
        for (name, encoding) in [
            ("deflate", "deflate"),
            ("zstd", "zstd"),
            ("lz4", "x-lz4-frame"),
            ("snappy", "x-snappy-framed"),
        ] {
            let codec: Codec = name.to_uppercase().parse().unwrap();
            assert_eq!(codec.name(), name);
            assert_eq!(codec.content_encoding(), encoding);
            assert_eq!(
                Codec::from_content_encoding(&format!(" {} ", encoding.to_uppercase())),
                Some(codec)
            );
        }
        assert_eq!(Codec::from_content_encoding("gzip"), None);
        assert_eq!(Codec::from_content_encoding("x-odps-lz4-frame"), None);
        assert_eq!(
            "brotli".parse::<Codec>(),
            Err(UnknownCodec("brotli".into()))
        );
        assert_eq!(
            Compression::new(Codec::Deflate, None).unwrap().level(),
            Some(1)
        );
        assert_eq!(
            Compression::new(Codec::Zstd, None).unwrap().level(),
            Some(3)
        );
        assert_eq!(Compression::new(Codec::Snappy, None).unwrap().level(), None);
        assert_eq!(
            Compression::new(Codec::Deflate, Some(10))
                .unwrap_err()
                .to_string(),
            "deflate takes levels 0 to 9, not 10"
        );
        assert_eq!(
            Compression::new(Codec::Lz4, Some(9))
                .unwrap_err()
                .to_string(),
            "lz4 takes levels 1 to 1, not 9"
        );
        assert_eq!(
            Compression::new(Codec::Snappy, Some(1)).unwrap_err(),
            LevelError::NoLevels {
                codec: Codec::Snappy
            }
        );
    }

    #[test]
    fn decompression_is_bounded_and_strict() {
        let data = vec![7u8; 1 << 20];
        for codec in Codec::ALL {
            let z = Compression::default_for(codec).compress(&data).unwrap();
            assert!(
                matches!(
                    decompress(codec, &z, data.len() - 1),
                    Err(DecodeError::InflateTooLarge { max_len }) if max_len == data.len() - 1
                ),
                "{codec}: limit"
            );
            assert!(
                decompress(codec, b"not compressed at all", 1 << 20).is_err(),
                "{codec}: garbage"
            );
            let mut trailing = z.clone();
            trailing.extend_from_slice(b"xyz");
            assert!(
                decompress(codec, &trailing, 1 << 21).is_err(),
                "{codec}: trailing bytes"
            );
            if codec != Codec::Snappy {
                // A snappy stream cut between chunks is a shorter valid stream; the record
                // stream's trailer catches that.
                assert!(
                    decompress(codec, &z[..z.len() / 2], 1 << 21).is_err(),
                    "{codec}: truncated"
                );
            }
        }
    }
}
