//! Helpers shared by the error handler's integration tests. Each test module uses a part of them.

pub(crate) mod events;
pub(crate) mod flow;
