//! The integration tests of the error-handler function, as one test binary (one link of the tree
//! instead of one per file). `support` holds what several modules share: the emulator-backed `Flow`
//! and the error-topic sample events.

// Test code: a panic is a test failure, and helpers outside `#[test]` functions are test code too,
// which clippy.toml's allow-*-in-tests does not reach.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod emulator_flow;
mod rows;
mod runtime_api;
mod sample_events;
mod support;
