//! The sink function: Kafka trigger batches into rows of MaxCompute tables.
//!
//! [`config`] reads and validates the environment once; [`handler::Sink`] handles invocations
//! as route ([`route`], pure: each record's table), tables ([`tables`]: each read once, created
//! or given new columns), plan ([`plan`], pure), write ([`writer`], through the Tunnel) and
//! answer ([`answer`], pure); [`rejects`] sends rejected records to the error topic through [`error_topic`];
//! [`error`] is why an invocation failed; [`metrics`] is each invocation's CloudWatch metrics
//! line. `main.rs` only wires them to the Lambda runtime.
//! The pure pipeline (event
//! decoding, rows, partitions, wire codec, error-topic message format) lives in `maxcompute-core`,
//! the MaxCompute client in `maxcompute-client`, the runtime loop in `lambda-support`. Nothing here
//! reads the environment at import time or panics on input.

pub mod answer;
pub mod config;
pub mod error;
pub mod error_topic;
pub mod handler;
pub mod metrics;
pub mod plan;
pub mod rejects;
pub mod route;
pub mod tables;
pub mod writer;

/// How long the cold start may take to read the table schema.
pub const START_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);
