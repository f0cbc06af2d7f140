//! The sink function's library: the code that talks to the outside world on the sink's behalf,
//! today the error-topic producer ([`error_topic`]). The pure pipeline it drives (event decoding,
//! rows, partitions, error-topic message format) lives in `shared`; `main.rs` only wires the
//! Lambda runtime. Nothing here reads the environment at import time or panics on input.

pub mod error_topic;
