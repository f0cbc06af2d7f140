//! Helpers shared by the error handler's integration tests. Each test file uses a part of them.

#![allow(dead_code)]

pub mod events;
pub mod flow;
