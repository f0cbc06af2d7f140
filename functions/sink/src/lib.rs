//! The sink function: Kafka trigger batches into rows of a MaxCompute table.
//!
//! [`config`] reads and validates the environment once; [`handler::Sink`] handles invocations;
//! [`writer`] writes encoded rows through the Tunnel. `main.rs` only wires them to the Lambda
//! runtime. This crate holds no wire formats and no HTTP code of its own: those are in `shared`.

pub mod config;
pub mod handler;
pub mod writer;

/// Time kept back from the invocation deadline so the function can still answer (and log)
/// after the last retry gives up.
pub const DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_millis(1500);

/// How long the cold start may take to read the table schema.
pub const START_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);
