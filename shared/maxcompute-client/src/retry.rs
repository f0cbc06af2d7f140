//! The one retry policy of every remote call: which failures are retried, how long to wait, and
//! when to stop.
//!
//! [`run_with_retries`] works with any error type that implements [`Retryable`]: the MaxCompute
//! client's `Error` (429, 5xx, 308, 408, network and timeout errors are transient; STS failures
//! reach it as credential errors that say whether they are transient) and the sink's error-topic
//! producer. Transient errors are retried with exponential backoff and full jitter; everything
//! else fails at once. Retrying stops at the caller's deadline: a wait that would end at or past
//! the deadline is never started, and the call ends with the error type's own "gave up" error
//! carrying the last error. The jitter source is injectable so tests are deterministic. This
//! module sends nothing itself, and it does not classify errors: each error type does that once,
//! in its own module.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tracing::debug;

/// What the retry runner needs from an error type. Each implementation is the one place where
/// that type's failures are classified and where its "gave up" errors are built.
pub trait Retryable: Sized + fmt::Display {
    /// Whether the same call may succeed later.
    fn is_transient(&self) -> bool;

    /// The error a call ends with when retrying stops (`reason`) after `attempts` attempts,
    /// the last of which failed with the transient error `last`.
    fn give_up(reason: GiveUp, attempts: u32, last: Self) -> Self;

    /// The error a call ends with when its deadline has passed before the first attempt.
    fn deadline_passed() -> Self;
}

/// How retries are spaced and bounded. The deadline is given per call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The backoff ceiling for the first retry; it doubles on each further retry.
    pub initial_backoff: Duration,
    /// The largest backoff ceiling.
    pub max_backoff: Duration,
    /// The most attempts (first try included) for one call, whatever the deadline.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            max_attempts: 10,
        }
    }
}

/// A source of uniformly distributed fractions in `[0, 1)`, used to jitter backoffs and pick
/// the first stream slot.
pub trait Jitter: Send + Sync + fmt::Debug {
    fn fraction(&self) -> f64;
}

/// Jitter from the thread-local RNG.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomJitter;

impl Jitter for RandomJitter {
    fn fraction(&self) -> f64 {
        rand::random::<f64>()
    }
}

/// A constant fraction, for tests (`FixedJitter(0.0)` never waits, `FixedJitter(0.999)` waits
/// nearly the full ceiling).
#[derive(Debug, Clone, Copy)]
pub struct FixedJitter(pub f64);

impl Jitter for FixedJitter {
    fn fraction(&self) -> f64 {
        self.0.clamp(0.0, 1.0)
    }
}

/// Why a retry loop stops on a transient error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUp {
    Deadline,
    Attempts,
}

/// The backoff state of one call.
#[derive(Debug)]
pub struct Backoff<'a> {
    policy: &'a RetryPolicy,
    jitter: &'a dyn Jitter,
    attempts: u32,
}

impl<'a> Backoff<'a> {
    pub fn new(policy: &'a RetryPolicy, jitter: &'a dyn Jitter) -> Self {
        Self {
            policy,
            jitter,
            attempts: 0,
        }
    }

    /// Attempts started so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Counts an attempt and returns its 0-based index.
    pub fn start_attempt(&mut self) -> u32 {
        let index = self.attempts;
        self.attempts = self.attempts.saturating_add(1);
        index
    }

    /// The wait before the next attempt, or why there will be none.
    pub fn next_delay(&self, now: Instant, deadline: Instant) -> Result<Duration, GiveUp> {
        if self.attempts >= self.policy.max_attempts {
            return Err(GiveUp::Attempts);
        }
        let delay = self
            .ceiling()
            .mul_f64(self.jitter.fraction().clamp(0.0, 1.0));
        // Waiting until (or past) the deadline would leave no time for the attempt itself.
        if now.checked_add(delay).is_none_or(|end| end >= deadline) {
            return Err(GiveUp::Deadline);
        }
        Ok(delay)
    }

    /// `min(max_backoff, initial_backoff * 2^(retries so far))`.
    fn ceiling(&self) -> Duration {
        let doublings = self.attempts.saturating_sub(1).min(30);
        self.policy
            .initial_backoff
            .saturating_mul(1u32 << doublings)
            .min(self.policy.max_backoff)
    }
}

/// Runs `op` (given the 0-based attempt index) until it succeeds, fails permanently, or the
/// policy or the deadline says stop. Each retry is reported to `on_retry` with the error that
/// caused it, before the wait.
pub async fn run_with_retries<T, E, F, Fut>(
    policy: &RetryPolicy,
    jitter: &dyn Jitter,
    deadline: Instant,
    what: &'static str,
    mut on_retry: impl FnMut(&E),
    mut op: F,
) -> Result<T, E>
where
    E: Retryable,
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut backoff = Backoff::new(policy, jitter);
    // The error of the previous attempt, so that a wait the timer ends a little late (after
    // the deadline) still reports why the call was retrying.
    let mut last: Option<E> = None;
    loop {
        if Instant::now() >= deadline {
            return Err(match last {
                Some(last) => E::give_up(GiveUp::Deadline, backoff.attempts(), last),
                None => E::deadline_passed(),
            });
        }
        let attempt = backoff.start_attempt();
        let error = match op(attempt).await {
            Ok(value) => return Ok(value),
            Err(e) if !e.is_transient() => return Err(e),
            Err(e) => e,
        };
        match backoff.next_delay(Instant::now(), deadline) {
            Ok(delay) => {
                debug!(
                    what,
                    attempt,
                    delay_ms = delay.as_millis() as u64,
                    error = %error,
                    "retrying after a transient error"
                );
                on_retry(&error);
                last = Some(error);
                tokio::time::sleep(delay).await;
            }
            Err(reason) => return Err(E::give_up(reason, backoff.attempts(), error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
            max_attempts: 5,
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_scaled_by_jitter() {
        let p = policy();
        let j = FixedJitter(0.5);
        let mut b = Backoff::new(&p, &j);
        let now = Instant::now();
        let far = now + Duration::from_secs(60);
        let mut delays = Vec::new();
        for _ in 0..4 {
            b.start_attempt();
            delays.push(b.next_delay(now, far).unwrap().as_millis());
        }
        assert_eq!(delays, vec![50, 100, 175, 175]);
        b.start_attempt();
        assert_eq!(b.next_delay(now, far), Err(GiveUp::Attempts));
    }

    #[test]
    fn never_waits_past_the_deadline() {
        let p = policy();
        let j = FixedJitter(1.0);
        let mut b = Backoff::new(&p, &j);
        b.start_attempt();
        let now = Instant::now();
        assert_eq!(
            b.next_delay(now, now + Duration::from_millis(100)),
            Err(GiveUp::Deadline)
        );
        assert!(b.next_delay(now, now + Duration::from_millis(101)).is_ok());
    }

    /// An error type of its own, to show the runner needs nothing but [`Retryable`].
    #[derive(Debug, PartialEq)]
    enum TestError {
        Busy(u32),
        Refused,
        GaveUp(GiveUp, u32, Box<TestError>),
        TooLate,
    }

    impl fmt::Display for TestError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{self:?}")
        }
    }

    impl Retryable for TestError {
        fn is_transient(&self) -> bool {
            matches!(self, Self::Busy(_))
        }

        fn give_up(reason: GiveUp, attempts: u32, last: Self) -> Self {
            Self::GaveUp(reason, attempts, Box::new(last))
        }

        fn deadline_passed() -> Self {
            Self::TooLate
        }
    }

    #[tokio::test]
    async fn any_retryable_error_goes_through_the_same_runner() {
        let p = policy();
        let j = FixedJitter(0.0);
        let far = Instant::now() + Duration::from_secs(60);
        let mut retries = Vec::new();
        let exhausted = run_with_retries(
            &p,
            &j,
            far,
            "test",
            |e: &TestError| retries.push(format!("{e}")),
            |attempt| async move { Err::<(), _>(TestError::Busy(attempt)) },
        )
        .await;
        assert_eq!(
            exhausted,
            Err(TestError::GaveUp(
                GiveUp::Attempts,
                5,
                Box::new(TestError::Busy(4))
            ))
        );
        assert_eq!(retries, ["Busy(0)", "Busy(1)", "Busy(2)", "Busy(3)"]);

        let permanent = run_with_retries(
            &p,
            &j,
            far,
            "test",
            |_| {},
            |attempt| async move {
                if attempt == 0 {
                    Err(TestError::Busy(0))
                } else {
                    Err::<(), _>(TestError::Refused)
                }
            },
        )
        .await;
        assert_eq!(permanent, Err(TestError::Refused));

        let succeeded = run_with_retries(
            &p,
            &j,
            far,
            "test",
            |_| {},
            |attempt| async move {
                if attempt < 2 {
                    Err(TestError::Busy(attempt))
                } else {
                    Ok(attempt)
                }
            },
        )
        .await;
        assert_eq!(succeeded, Ok(2));

        let past = Instant::now();
        let late = run_with_retries(
            &p,
            &j,
            past,
            "test",
            |_| {},
            |_| async { Ok::<(), TestError>(()) },
        )
        .await;
        assert_eq!(late, Err(TestError::TooLate));
    }
}
