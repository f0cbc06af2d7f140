//! The sink function: decodes Kafka trigger batches, writes rows to MaxCompute and sends records
//! that can never be written to the error topic. This crate holds the I/O side; the pure pipeline
//! lives in `shared`.

pub mod error_topic;
