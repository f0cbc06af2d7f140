//! The core the functions share: MaxCompute types, the Tunnel record codec, request signing,
//! the MaxCompute service/Tunnel client, and the sink's pure pipeline (Kafka event decoding,
//! partition routing, row building) and the error-topic message format.
//!
//! Everything but [`client`] and [`function`] (the runtime loop of the function binaries:
//! logging set-up, start, deadlines) is pure: no I/O, no environment, no clock (callers pass
//! "now" in). Only [`function`] knows Lambda; the function crates hand it their handler.

pub mod bucket_hash;
pub mod client;
pub mod codec;
pub mod decimal;
pub mod error_record;
pub mod event;
pub mod function;
pub mod partition;
pub mod rows;
pub mod settings;
pub mod signing;
pub mod spec;
pub mod types;
