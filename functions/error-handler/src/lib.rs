//! The error-handler function: every record of the error topic into a MaxCompute errors table.
//!
//! [`config`] reads and validates the environment once; [`handler::ErrorHandler`] creates the
//! errors table at cold start and handles invocations; [`row`] maps error-topic records (the
//! sink's error-topic messages, the trigger's on-failure [`envelope`]s, anything else raw) to
//! rows; [`plan`] routes and encodes them (pure); [`table`] holds the table's columns and DDL;
//! [`writer`] writes the planned partitions through Tunnel stream sessions. `main.rs` only wires them to the Lambda runtime. Nothing here rejects a
//! record, reads the environment at import time or panics on input.

pub mod config;
pub mod envelope;
pub mod handler;
pub mod plan;
pub mod row;
pub mod table;
pub mod writer;

/// How long the cold start may take to create the table and read its schema.
pub const START_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
