//! The batch tunnel: one upload session per partition and invocation, one block per pack, then
//! a commit; the client creates a missing partition through SQL. Nothing is visible before the
//! commit, and a commit whose answer was lost is confirmed by the session's state, never redone
//! (the client's business).

use maxcompute_client::{Client, Error as ClientError, UploadSession};
use tokio::time::Instant;
use tracing::info;

use super::drive::{PartitionWriter, StageError};
use crate::plan::PartitionBatch;

/// Writes packs as the blocks of upload sessions of one table.
#[derive(Debug)]
pub(super) struct BatchWriter<'a> {
    pub(super) client: &'a Client,
    pub(super) table: &'a str,
}

impl PartitionWriter for BatchWriter<'_> {
    /// The session and the blocks uploaded to it.
    type Staged = (UploadSession, Vec<u32>);
    fn visible_when_staged(&self, _part: &PartitionBatch<'_>) -> bool {
        false
    }

    async fn stage(
        &self,
        part: &PartitionBatch<'_>,
        deadline: Instant,
    ) -> Result<(Self::Staged, u64), StageError> {
        let session = self
            .client
            .create_upload_session(self.table, Some(&part.spec), deadline)
            .await
            .map_err(StageError::nothing_written)?;
        let packs = part.encoded.in_order();
        let mut blocks = Vec::with_capacity(packs.len());
        for (id, pack) in (0u32..).zip(packs) {
            session
                .upload_block(id, pack.bytes.clone(), deadline)
                .await
                .map_err(StageError::nothing_written)?;
            blocks.push(id);
        }
        Ok(((session, blocks), part.encoded.bytes()))
    }

    async fn commit(
        &self,
        part: &PartitionBatch<'_>,
        (mut session, blocks): Self::Staged,
        deadline: Instant,
    ) -> Result<(), ClientError> {
        session.commit(&blocks, deadline).await?;
        info!(partition = %part.spec, blocks = blocks.len(), "committed upload session");
        Ok(())
    }
}
