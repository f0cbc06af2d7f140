//! The integration tests of `maxcompute-core`, as one test binary (one link of the tree instead of
//! one per file). Folders are modules: `codec` pins the Tunnel record codec, `pipeline` goes from
//! trigger events to rows and partitions, `vectors` checks the pyodps-made vectors in
//! `tests/vectors/`, and `differential` compares with pyodps and Python on random input (nextest
//! shows their output on success too, see `.config/nextest.toml`); `common` holds what several
//! of them compare with.

// Test code: a panic is a test failure, and helpers outside `#[test]` functions are test code too,
// which clippy.toml's allow-*-in-tests does not reach.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod codec;
mod common;
mod differential;
mod pipeline;
mod vectors;
