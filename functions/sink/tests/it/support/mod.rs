//! Helpers shared by the sink's integration tests. Each test module uses a part of them.

pub(crate) mod flow;
pub(crate) mod kafka;
pub(crate) mod tls;
