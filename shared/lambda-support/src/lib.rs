//! What both function binaries share around their handlers: the Lambda runtime loop
//! ([`function`]: logging set-up, cold start, init error reporting, deadlines) and the settings
//! both functions read ([`settings`]).
//!
//! It is the only crate besides the function crates that knows `lambda_runtime` and
//! `tracing-subscriber`; neither `maxcompute-core` nor `maxcompute-client` depends on it.

pub mod function;
pub mod settings;
