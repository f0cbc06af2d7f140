//! The Tunnel record codec: exact encodings, exact errors on malformed input, and property
//! round-trips.

mod encode;
mod malformed;
mod props;
