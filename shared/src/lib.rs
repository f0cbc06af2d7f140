//! The core the functions share: MaxCompute types, the Tunnel record codec, request signing and
//! the MaxCompute service/Tunnel client.
//!
//! Everything but [`client`] is pure: no I/O, no environment, no clock (callers pass "now" in).
//! This crate knows nothing about Lambda; the function crates wire it to the runtime.

pub mod client;
pub mod codec;
pub mod signing;
pub mod types;
