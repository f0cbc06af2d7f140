//! The emulator's one source of time: session ages, stored timestamps, request-time checks,
//! instance times and the waits of `hang` faults all read it.
//!
//! The server runs on [`Clock::system`]; a test hands it a [`ManualClock`] (through
//! `server::start_with_clock`) and moves time forward itself, so no test sleeps to let a session
//! expire or a hang pass. This module does no other I/O.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

/// A handle on the emulator's time; cheap to clone.
#[derive(Debug, Clone)]
pub struct Clock(Source);

#[derive(Clone)]
enum Source {
    System,
    Manual(Arc<ManualClock>),
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::System => f.write_str("System"),
            Self::Manual(m) => write!(f, "Manual({})", m.now()),
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl Clock {
    /// The wall clock, with tokio's timers for waits.
    pub fn system() -> Self {
        Self(Source::System)
    }

    /// Time that moves only when `clock` is advanced.
    pub fn manual(clock: Arc<ManualClock>) -> Self {
        Self(Source::Manual(clock))
    }

    pub fn now(&self) -> DateTime<Utc> {
        match &self.0 {
            Source::System => Utc::now(),
            Source::Manual(m) => m.now(),
        }
    }

    pub fn now_ms(&self) -> i64 {
        self.now().timestamp_millis()
    }

    /// Waits until `duration` has passed on this clock.
    pub async fn sleep(&self, duration: Duration) {
        match &self.0 {
            Source::System => tokio::time::sleep(duration).await,
            Source::Manual(m) => m.sleep(duration).await,
        }
    }
}

/// Time for tests: it starts where it is told and moves only by [`ManualClock::advance`].
#[derive(Debug)]
pub struct ManualClock {
    now: watch::Sender<DateTime<Utc>>,
    sleepers: AtomicUsize,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Arc<Self> {
        Arc::new(Self {
            now: watch::Sender::new(start),
            sleepers: AtomicUsize::new(0),
        })
    }

    /// Starting at the wall clock's time (so signed requests are not refused as skewed).
    pub fn starting_now() -> Arc<Self> {
        Self::new(Utc::now())
    }

    pub fn now(&self) -> DateTime<Utc> {
        *self.now.borrow()
    }

    /// Moves time forward by `by`, waking every wait that has ended.
    pub fn advance(&self, by: Duration) {
        let by = chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX);
        self.now.send_modify(|now| {
            *now = now
                .checked_add_signed(by)
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
        });
    }

    /// How many waits are under way: a test sees a request reach a `hang` this way.
    pub fn sleepers(&self) -> usize {
        self.sleepers.load(Ordering::SeqCst)
    }

    async fn sleep(&self, duration: Duration) {
        let by = chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX);
        let until = self
            .now()
            .checked_add_signed(by)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let mut rx = self.now.subscribe();
        let _counted = Sleeper::enter(&self.sleepers);
        // The sender lives as long as `self`, so the wait can only end by time passing.
        let _ = rx.wait_for(|now| *now >= until).await;
    }
}

/// Counts one wait while it lasts, however it ends.
struct Sleeper<'a>(&'a AtomicUsize);

impl<'a> Sleeper<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for Sleeper<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `fut` is ready when polled once.
    async fn ready_now(fut: &mut std::pin::Pin<&mut impl Future<Output = ()>>) -> bool {
        tokio::select! {
            biased;
            () = fut.as_mut() => true,
            () = std::future::ready(()) => false,
        }
    }

    #[tokio::test]
    async fn a_manual_wait_ends_exactly_when_time_has_advanced_far_enough() {
        let start = DateTime::from_timestamp_millis(1_700_000_000_000).unwrap();
        let manual = ManualClock::new(start);
        let clock = Clock::manual(Arc::clone(&manual));
        let sleep = clock.sleep(Duration::from_millis(300));
        tokio::pin!(sleep);
        assert!(!ready_now(&mut sleep).await);
        assert_eq!(manual.sleepers(), 1);
        manual.advance(Duration::from_millis(299));
        assert!(!ready_now(&mut sleep).await);
        manual.advance(Duration::from_millis(1));
        assert!(ready_now(&mut sleep).await);
        assert_eq!(manual.sleepers(), 0);
        assert_eq!(clock.now_ms(), 1_700_000_000_300);
    }
}
