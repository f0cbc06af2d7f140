//! The integration tests of the sink function, as one test binary (one link of the tree instead of
//! one per file). `support` holds what several modules share: the emulator-backed `Flow` and the
//! Kafka helpers for the local broker.

// Test code: a panic is a test failure, and helpers outside `#[test]` functions are test code too,
// which clippy.toml's allow-*-in-tests does not reach.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod cdc_flow;
mod config;
mod emulator_flow;
mod error_topic;
mod error_topic_config;
mod error_topic_secrets;
mod error_topic_tls;
mod https;
mod msk_iam_token;
mod routing_flow;
mod runtime_api;
mod secrets;
mod sink_env;
mod support;
mod upsert_flow;
