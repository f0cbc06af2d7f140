//! Sessions opened ahead: while a batch or upsert partition commits, the next session for the
//! same partition is opened beside the commit and kept for the next invocation of the warm
//! function, which then writes at once instead of first spending a round trip on creating a
//! session. A Kafka partition's next batch usually goes to the same hour's partition.
//!
//! A session opened ahead is a hint, never a promise: one that could not be opened is not kept
//! (the commit's result is the invocation's either way), one whose columns are not the rows'
//! is not used, and one the service refuses (expired, closed) is replaced by a fresh session
//! before anything of it is committed. Nothing staged in a batch or upsert session is visible
//! before its commit, so writing again through a fresh session loses nothing and writes nothing
//! twice.

use std::future::Future;
use std::sync::{Mutex, PoisonError};

use futures_util::future::join;
use maxcompute_client::Error as ClientError;
use maxcompute_core::spec::PartitionSpec;
use tracing::debug;

/// How many sessions are kept at most (an invocation may write several partitions); the oldest
/// goes first.
const KEPT: usize = 8;

/// The sessions opened ahead for one table, by partition (`None`: a table without partition
/// columns).
#[derive(Debug)]
pub(super) struct Ahead<S> {
    sessions: Mutex<Vec<(Option<PartitionSpec>, S)>>,
}

impl<S> Default for Ahead<S> {
    fn default() -> Self {
        Self {
            sessions: Mutex::new(Vec::new()),
        }
    }
}

impl<S> Ahead<S> {
    /// The session opened ahead for `spec`, if any; it is no longer kept.
    pub(super) fn take(&self, spec: Option<&PartitionSpec>) -> Option<S> {
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        let at = sessions.iter().position(|(s, _)| s.as_ref() == spec)?;
        Some(sessions.remove(at).1)
    }

    /// Keeps `session` for `spec`, in place of one kept for it before.
    fn keep(&self, spec: Option<PartitionSpec>, session: S) {
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        sessions.retain(|(s, _)| *s != spec);
        if sessions.len() >= KEPT {
            sessions.remove(0);
        }
        sessions.push((spec, session));
    }

    /// Runs `commit` and `open` (the next session for `spec`) at once and answers the commit's
    /// result, keeping the session if it opened. Both take one round trip, so the invocation
    /// waits for the longer of the two, which is usually the commit.
    pub(super) async fn commit_and_open_next<T>(
        &self,
        spec: Option<&PartitionSpec>,
        commit: impl Future<Output = T>,
        open: impl Future<Output = Result<S, ClientError>>,
    ) -> T {
        let (result, opened) = join(commit, open).await;
        match opened {
            Ok(session) => self.keep(spec.cloned(), session),
            Err(error) => debug!(%error, "the next session was not opened ahead"),
        }
        result
    }
}

/// Stages through a session opened ahead when there is one that `fits`, else through a fresh
/// one from `open`; when the service refuses a session opened ahead for good (it expired or
/// was closed since), stages again through a fresh one. `stage` stages through the session
/// given; nothing it staged is visible before a commit.
pub(super) async fn stage_through<S, T, E, O, F>(
    ahead: Option<S>,
    fits: impl Fn(&S) -> bool,
    open: impl Fn() -> O,
    stage: impl Fn(S) -> F,
    refused_for_good: impl Fn(&E) -> bool,
) -> Result<T, E>
where
    O: Future<Output = Result<S, E>>,
    F: Future<Output = Result<T, E>>,
{
    if let Some(session) = ahead.filter(&fits) {
        match stage(session).await {
            Err(error) if refused_for_good(&error) => {
                debug!("a session opened ahead was refused; staging through a fresh one");
            }
            done => return done,
        }
    }
    stage(open().await?).await
}
