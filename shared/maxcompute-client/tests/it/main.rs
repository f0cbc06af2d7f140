//! The integration tests of `maxcompute-client`, as one test binary: the client against
//! `support`, a scripted MaxCompute stand-in on loopback that verifies every signature (with the
//! emulator's verifier): batch upload sessions, retries, the service API, streaming upload, upsert
//! sessions and STS credentials.

// Test code: a panic is a test failure, and helpers outside `#[test]` functions are test code too,
// which clippy.toml's allow-*-in-tests does not reach.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod batch;
mod retry;
mod service;
mod stream;
mod sts;
mod support;
mod upsert;
