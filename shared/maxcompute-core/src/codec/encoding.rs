//! The Tunnel body codecs and their names: the name configuration uses and the
//! `Content-Encoding` token pyodps sends (see `compress.rs` for the table). A leaf: it imports
//! nothing of the codec, so the compressor and the decoding errors can both name a codec.

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

/// A codec for Tunnel request and response bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    Deflate,
    Zstd,
    Lz4,
    Snappy,
}

impl Codec {
    pub const ALL: [Codec; 4] = [Codec::Deflate, Codec::Zstd, Codec::Lz4, Codec::Snappy];

    /// The name configuration uses: `deflate`, `zstd`, `lz4`, `snappy`.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Deflate => "deflate",
            Codec::Zstd => "zstd",
            Codec::Lz4 => "lz4",
            Codec::Snappy => "snappy",
        }
    }

    /// The `Content-Encoding` (and `Accept-Encoding`) token on the Tunnel.
    pub fn content_encoding(self) -> &'static str {
        match self {
            Codec::Deflate => "deflate",
            Codec::Zstd => "zstd",
            Codec::Lz4 => "x-lz4-frame",
            Codec::Snappy => "x-snappy-framed",
        }
    }

    /// The codec of a `Content-Encoding` token (any case, surrounding blanks ignored).
    pub fn from_content_encoding(token: &str) -> Option<Self> {
        let token = token.trim();
        Self::ALL
            .into_iter()
            .find(|c| c.content_encoding().eq_ignore_ascii_case(token))
    }

    /// The levels the codec takes; `None` for one without levels (snappy).
    pub fn levels(self) -> Option<RangeInclusive<i32>> {
        match self {
            Codec::Deflate => Some(0..=9),
            Codec::Zstd => Some(1..=22),
            // lz4_flex implements LZ4's fast mode only (what lz4 levels 0 to 2 all select).
            Codec::Lz4 => Some(1..=1),
            Codec::Snappy => None,
        }
    }

    /// The level pyodps 0.13.2 compresses with by default.
    pub fn default_level(self) -> Option<i32> {
        match self {
            Codec::Deflate | Codec::Lz4 => Some(1),
            Codec::Zstd => Some(3),
            Codec::Snappy => None,
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A codec name that is not one of [`Codec::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown codec {0:?}: expected deflate, zstd, lz4 or snappy")]
pub struct UnknownCodec(pub String);

impl FromStr for Codec {
    type Err = UnknownCodec;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim();
        Self::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| UnknownCodec(name.to_owned()))
    }
}
