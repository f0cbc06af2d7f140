//! The Tunnel side of the sink: a planned invocation's partitions written in order, through the
//! writer of the table's tunnel kind, by one loop that stops at the first failure.
//!
//! - [`drive`]: the [`PartitionWriter`](drive::PartitionWriter) trait (`stage`, then `commit`)
//!   and the one loop every tunnel kind runs under, with what it reports per partition;
//! - [`stream`]: stream sessions kept across warm invocations (the default);
//! - [`batch`]: one upload session per partition, a block per pack, then a commit;
//! - [`upsert`]: one upsert session per partition of a Delta Table, a write per bucket, then a
//!   commit;
//! - [`ahead`]: batch and upsert sessions opened beside a commit for the next warm invocation;
//! - [`table`]: [`TableWriter`], the tunnel kind of one table, chosen when the table is read,
//!   and [`TableWriters`], the writers of every table of one invocation under the one loop.
//!
//! Retries of transient failures happen in the client, bounded by the deadline; this module only
//! reports what was not written.

mod ahead;
mod batch;
mod drive;
mod stream;
mod table;
mod upsert;

pub use drive::{PartitionOutcome, WriteResult};

use maxcompute_client::{Error as ClientError, ErrorCode};

/// What [`upsert`] calls a session whose table has other columns than the rows were encoded
/// for (another function changed the table): nothing was written.
const SCHEMA_CHANGED_WHAT: &str = "schema_changed";

/// Whether a write failed because the table's schema changed under it, before anything of it was
/// stored: its rows are planned again with the table read anew, and written again.
pub fn schema_changed(error: &ClientError) -> bool {
    error.has_code(&ErrorCode::SchemaModified)
        || matches!(error, ClientError::Protocol { what, .. } if *what == SCHEMA_CHANGED_WHAT)
}
pub use table::{TableWriter, TableWriters, WritePath};
pub use upsert::KeyColumn;
