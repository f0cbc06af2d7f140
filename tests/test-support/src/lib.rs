//! What the project's tests share, in one place: each helper is defined here once and used by
//! every test binary that needs it.
//!
//! - [`hex`]: bytes from the hex strings test vectors are written in.
//! - [`python`]: the workspace root, the project's Python, differential seeds, vector checks.
//! - [`time`]: the deadlines a test gives an operation (never a sleep: a test waits for a
//!   condition, bounded by one of these).
//! - [`events`] (feature `events`): the `events/` corpus and the builders of Kafka trigger
//!   events (the JSON the event source mapping sends a function).
//! - [`kafka`] (feature `kafka`): the local broker's address, unique topic names, topic creation.
//! - [`emulator`] (feature `emulator`): the MaxCompute emulator in-process, as the functions'
//!   flow tests start it.
//! - [`lambda`] (feature `lambda`): a deployed binary's answers behind the local Lambda runtime
//!   API, read as tests expect them.
//!
//! It is test code: helpers panic on what a test did not expect (a panic is the test's failure,
//! with the reason in the message), and no crate depends on it outside `[dev-dependencies]`.

// Test code: a panic is a test failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[cfg(feature = "emulator")]
pub mod emulator;
#[cfg(feature = "events")]
pub mod events;
pub mod hex;
#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod python;
pub mod time;
