//! The emulator's integration tests, as one test binary (one link of the tree instead of one per
//! file): `http` drives it over loopback HTTP, `sink_client` with the sink's own client, `upsert`
//! drives Delta Tables and their upsert sessions over loopback HTTP, `evolution` a table's
//! columns added by `ALTER TABLE .. ADD COLUMNS` and the sessions and readers around it, `service` what the service
//! answers that pyodps's own suite pins (metadata, head, truncate, refusals, STS bounds);
//! `vectors` and `differential` pin request signing and its verification to pyodps (the
//! interpreter found by `test-support`).

// Test code: a panic is a test failure, and helpers outside `#[test]` functions are test code too,
// which clippy.toml's allow-*-in-tests does not reach.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod differential;
mod evolution;
mod http;
mod service;
mod sink_client;
mod upsert;
mod vectors;
