//! The sink's pure core: MaxCompute types, the Tunnel record codec, request signing (the client
//! side), partition specs, and the pipeline from a Kafka trigger event to rows (event decoding,
//! partition routing, row building) and the error-topic message format.
//!
//! It does no I/O, reads no environment and no clock (callers pass "now" in), and its
//! dependencies say so: no tokio, no HTTP client, no Lambda runtime, no logging subscriber. The
//! client that speaks HTTP is `maxcompute-client`; what knows Lambda is `lambda-support`.

pub mod bucket_hash;
pub mod codec;
pub mod decimal;
pub mod error_record;
pub mod event;
pub mod partition;
pub mod protocol;
pub mod rows;
pub mod signing;
pub mod spec;
pub mod types;
