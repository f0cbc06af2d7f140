//! The one deadline-bounded wait for a remote state: check, and while the state is not reached,
//! wait and check again, giving up before a wait that would end at or past the deadline.
//! (The waits are fixed or doubling, without jitter: they space checks of one caller's state,
//! so there is no herd to spread.)
//!
//! Used for SQL instances (until `Terminated`) and for sessions being committed (batch upload
//! sessions until `closed`, upsert sessions until `committed`). The check decides what counts as
//! done and what is an error; this module only spaces the checks and enforces the deadline. It
//! does not retry failed requests: each check's requests go through the retry runner already.

use std::time::Duration;

use tokio::time::Instant;

use super::error::Error;

/// How checks are spaced: the first wait, then doubling up to `max` (equal to `first` for a
/// fixed interval).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PollSchedule {
    first: Duration,
    max: Duration,
}

impl PollSchedule {
    /// Waits that double from `first` to `max`.
    pub(crate) const fn doubling(first: Duration, max: Duration) -> Self {
        Self { first, max }
    }

    /// The same wait every time.
    pub(crate) const fn every(interval: Duration) -> Self {
        Self {
            first: interval,
            max: interval,
        }
    }
}

/// The waits of one poll: where the next one ends, or `None` when it would end at or past the
/// deadline.
#[derive(Debug)]
struct Waits {
    next: Duration,
    max: Duration,
}

impl Waits {
    fn new(schedule: PollSchedule) -> Self {
        Self {
            next: schedule.first,
            max: schedule.max,
        }
    }

    fn next_wake(&mut self, now: Instant, deadline: Instant) -> Option<Instant> {
        let wake = now + self.next;
        if wake >= deadline {
            return None;
        }
        self.next = (self.next * 2).min(self.max);
        Some(wake)
    }
}

/// The checks of a session being committed (batch and upsert sessions alike): doubling from
/// 200 ms to 2 s.
pub(crate) const COMMIT_POLL: PollSchedule =
    PollSchedule::doubling(Duration::from_millis(200), Duration::from_secs(2));

/// One deadline-bounded wait for a state: the caller checks, and while the state is not
/// reached, calls [`Poll::wait`] before checking again. `wait` is the only place a poll sleeps.
///
/// A struct rather than a function taking the check as a closure: a check borrows its session
/// mutably across awaits, which async closures cannot yet do in futures that must be `Send`.
#[derive(Debug)]
pub(crate) struct Poll {
    waits: Waits,
    deadline: Instant,
    checks: u32,
}

impl Poll {
    pub(crate) fn new(schedule: PollSchedule, deadline: Instant) -> Self {
        Self {
            waits: Waits::new(schedule),
            deadline,
            checks: 0,
        }
    }

    /// Waits before the next check, counting the check just made; gives up with
    /// [`Error::DeadlineExceeded`] (attempts: the checks made) when the wait would end at or past
    /// the deadline.
    pub(crate) async fn wait(&mut self) -> Result<(), Error> {
        self.checks = self.checks.saturating_add(1);
        let Some(wake) = self.waits.next_wake(Instant::now(), self.deadline) else {
            return Err(Error::DeadlineExceeded {
                attempts: self.checks,
                last: None,
            });
        };
        tokio::time::sleep_until(wake).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// The offsets (in ms from `start`) of the checks a poll makes when each check takes no
    /// time, until the deadline stops it.
    fn check_times(schedule: PollSchedule, deadline_ms: u32) -> Vec<u128> {
        let start = Instant::now();
        let deadline = start + MS * deadline_ms;
        let mut waits = Waits::new(schedule);
        let mut now = start;
        let mut times = vec![0];
        while let Some(wake) = waits.next_wake(now, deadline) {
            now = wake;
            times.push((now - start).as_millis());
        }
        times
    }

    #[test]
    fn waits_double_up_to_the_ceiling() {
        let schedule = PollSchedule::doubling(MS * 100, MS * 300);
        assert_eq!(check_times(schedule, 1300), [0, 100, 300, 600, 900, 1200]);
    }

    #[test]
    fn no_wait_is_started_that_would_end_at_or_past_the_deadline() {
        let schedule = PollSchedule::every(MS * 400);
        assert_eq!(check_times(schedule, 1200), [0, 400, 800]);
        assert_eq!(check_times(schedule, 1201), [0, 400, 800, 1200]);
        assert_eq!(check_times(schedule, 400), [0]);
    }

    #[tokio::test]
    async fn a_deadline_too_close_for_a_wait_gives_up_counting_the_checks() {
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut poll = Poll::new(PollSchedule::every(Duration::from_secs(30)), deadline);
        let err = poll.wait().await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::DeadlineExceeded {
                    attempts: 1,
                    last: None
                }
            ),
            "{err:?}"
        );
        let err = poll.wait().await.unwrap_err();
        assert!(
            matches!(err, Error::DeadlineExceeded { attempts: 2, .. }),
            "{err:?}"
        );
    }
}
