//! Helpers shared by the sink's integration tests. Each test file uses a part of them.

#![allow(dead_code)]

pub mod flow;
pub mod kafka;
