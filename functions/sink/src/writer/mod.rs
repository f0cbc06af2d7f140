//! The Tunnel side of the sink: a planned invocation's partitions written in order, through the
//! writer of the table's tunnel kind, by one loop that stops at the first failure.
//!
//! - [`drive`]: the [`PartitionWriter`](drive::PartitionWriter) trait (`stage`, then `commit`)
//!   and the one loop every tunnel kind runs under, with what it reports per partition;
//! - [`stream`]: stream sessions kept across warm invocations (the default);
//! - [`batch`]: one upload session per partition, a block per pack, then a commit;
//! - [`upsert`]: one upsert session per partition of a Delta Table, a write per bucket, then a
//!   commit;
//! - [`table`]: [`TableWriter`], the tunnel kind chosen at cold start.
//!
//! Retries of transient failures happen in the client, bounded by the deadline; this module only
//! reports what was not written.

mod batch;
mod drive;
mod stream;
mod table;
mod upsert;

pub use drive::{PartitionOutcome, WriteResult};
pub use table::{KeyColumn, TableWriter, TableWriters, WritePath};
