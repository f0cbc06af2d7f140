//! The whole local flow, as its parts run it: records produced to a real Kafka-protocol broker
//! (tansu, `bash scripts/broker.sh start`; address from `KAFKA_BOOTSTRAP`, default
//! `127.0.0.1:19092`), the Kafka trigger, the functions as their deployed binaries behind the
//! local Lambda runtime API, and the MaxCompute emulator. `sink_flow` follows the sink,
//! `error_flow` a bad record through the sink, the error topic and the error handler,
//! `retry_flow` the trigger's bounded retries and on-failure records, `latest` where a trigger
//! started at LATEST begins, `routing_flow` two topics into the tables the sink creates and
//! evolves, `soak`
//! many records through the sink under injected faults and killed processes, `unreadable_body`
//! both binaries answering a body that is not JSON.
//! One test binary (one link of the tree).

// Test code: a panic is a test failure, and helpers outside `#[test]` functions are test code too,
// which clippy.toml's allow-*-in-tests does not reach.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod error_flow;
mod latest;
mod retry_flow;
mod routing_flow;
mod sink_flow;
mod soak;
mod support;
mod topics;
mod unreadable_body;
