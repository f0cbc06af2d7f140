//! The batch tunnel: one upload session per partition and invocation (opened ahead, during the
//! commit of the invocation before, when it wrote the same partition: see [`super::ahead`]),
//! one block per pack (the blocks at once), then a commit; the client creates a missing
//! partition through SQL. Nothing is visible before the commit, and a commit whose answer was
//! lost is confirmed by the session's state, never redone (the client's business).

use futures_util::stream::{self, StreamExt, TryStreamExt};
use maxcompute_client::{Client, Error as ClientError, UploadSession};
use tokio::time::Instant;
use tracing::info;

use super::ahead::{self, Ahead};
use super::drive::{PartitionWriter, StageError};
use crate::plan::PartitionBatch;

/// How many blocks of one session are uploaded at once.
const UPLOADS_AHEAD: usize = 8;

/// Writes packs as the blocks of upload sessions of one table.
#[derive(Debug)]
pub(super) struct BatchWriter<'a> {
    pub(super) client: &'a Client,
    pub(super) table: &'a str,
    pub(super) ahead: &'a Ahead<UploadSession>,
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
        let spec = part.spec.as_ref();
        let staged = ahead::stage_through(
            self.ahead.take(spec),
            |session: &UploadSession| session.schema().columns.len() == part.data_columns,
            move || async move {
                self.client
                    .create_upload_session(self.table, spec, deadline)
                    .await
                    .map_err(StageError::nothing_written)
            },
            move |session| self.upload(session, part, deadline),
            |refused: &StageError| !refused.error.is_transient(),
        )
        .await?;
        Ok((staged, part.encoded.bytes()))
    }

    async fn commit(
        &self,
        part: &PartitionBatch<'_>,
        (mut session, blocks): Self::Staged,
        deadline: Instant,
    ) -> Result<(), ClientError> {
        let spec = part.spec.as_ref();
        let next = self
            .client
            .create_upload_session(self.table, spec, deadline);
        self.ahead
            .commit_and_open_next(spec, session.commit(&blocks, deadline), next)
            .await?;
        info!(partition = %part.name(), blocks = blocks.len(), "committed upload session");
        Ok(())
    }
}

impl BatchWriter<'_> {
    /// Uploads the partition's packs as the blocks of `session`.
    async fn upload(
        &self,
        session: UploadSession,
        part: &PartitionBatch<'_>,
        deadline: Instant,
    ) -> Result<(UploadSession, Vec<u32>), StageError> {
        // The blocks are uploaded at once (nothing is visible before the commit); the futures
        // are made first so that the stream holds no closure, which would keep the handler's
        // future from being `Send`.
        let packs = part.encoded.in_order();
        let blocks: Vec<u32> = (0u32..).zip(packs).map(|(id, _)| id).collect();
        let uploads: Vec<_> = (0u32..)
            .zip(packs)
            .map(|(id, pack)| session.upload_block(id, pack.bytes.clone(), deadline))
            .collect();
        stream::iter(uploads)
            .buffer_unordered(UPLOADS_AHEAD)
            .try_collect::<()>()
            .await
            .map_err(StageError::nothing_written)?;
        Ok((session, blocks))
    }
}
