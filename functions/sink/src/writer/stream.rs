//! The stream tunnel (the default): one stream session per partition, kept across invocations
//! of a warm function; the server creates missing partitions; each pack is visible once
//! written, so staging is writing and the commit has nothing to do.

use maxcompute_client::{Error as ClientError, StreamSessions};
use tokio::time::Instant;

use super::drive::{PartitionWriter, StageError};
use crate::plan::PartitionBatch;

/// Writes packs through the stream sessions of one table.
#[derive(Debug)]
pub(super) struct StreamWriter<'a> {
    pub(super) sessions: &'a StreamSessions,
}

impl PartitionWriter for StreamWriter<'_> {
    type Staged = ();
    fn visible_when_staged(&self, _part: &PartitionBatch<'_>) -> bool {
        true
    }

    async fn stage(
        &self,
        part: &PartitionBatch<'_>,
        deadline: Instant,
    ) -> Result<((), u64), StageError> {
        // Only a Delta Table is written without partitions, and never through this writer.
        let Some(spec) = &part.spec else {
            return Err(StageError::nothing_written(ClientError::Protocol {
                what: "stream",
                detail: "a stream write needs a partition".to_owned(),
            }));
        };
        let mut written_rows = 0;
        let mut bytes = 0;
        for pack in part.encoded.in_order() {
            self.sessions
                .write(spec, pack.bytes.clone(), pack.count(), deadline)
                .await
                .map_err(|error| StageError {
                    error,
                    written_rows,
                })?;
            written_rows += pack.rows.len();
            bytes += pack.bytes.len() as u64;
        }
        Ok(((), bytes))
    }

    async fn commit(
        &self,
        _part: &PartitionBatch<'_>,
        (): (),
        _deadline: Instant,
    ) -> Result<(), ClientError> {
        Ok(())
    }
}
