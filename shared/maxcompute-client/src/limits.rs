//! The Tunnel's documented limits that the client checks before asking; a leaf module, so the
//! error messages that name a limit and the calls that enforce it read the same constant.

/// Block ids of a batch upload session are `0..MAX_BLOCKS`.
pub const MAX_BLOCKS: u32 = 20_000;
