//! Helpers shared by the sink's integration tests. Each test module uses a part of them.

pub mod flow;
pub mod kafka;
pub mod tls;
