//! The client's one retry policy: which failures are retried, how long to wait, and when to
//! stop.
//!
//! Transient errors (as classified by [`Error::is_transient`]: 429, 5xx, 308, 408, network and
//! timeout errors) are retried with exponential backoff and full jitter; everything else fails at
//! once. Retrying stops at the caller's deadline: a wait that would end at or past the deadline
//! is never started, and the call returns [`Error::DeadlineExceeded`] carrying the last error.
//! The jitter source is injectable so tests are deterministic. This module sends nothing itself.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tracing::debug;

use super::error::Error;

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

/// What the stream writer must do before retrying an error, beyond waiting.
pub fn needs_session_reload(error: &Error) -> bool {
    // 308 means the slot moved; 502/504 mean the routed server is gone. Both SDKs reload the
    // stream session's slot table before trying again.
    error
        .service_error()
        .is_some_and(|e| matches!(e.status, 308 | 502 | 504))
}

/// Runs `op` (given the 0-based attempt index) until it succeeds, fails permanently, or the
/// policy or the deadline says stop. Each retry is reported through `on_retry`.
pub(crate) async fn run<T, F, Fut>(
    policy: &RetryPolicy,
    jitter: &dyn Jitter,
    deadline: Instant,
    what: &'static str,
    mut on_retry: impl FnMut(),
    mut op: F,
) -> Result<T, Error>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let mut backoff = Backoff::new(policy, jitter);
    // The error of the previous attempt, so that a wait the timer ends a little late (after
    // the deadline) still reports why the call was retrying.
    let mut last: Option<Error> = None;
    loop {
        if Instant::now() >= deadline {
            return Err(Error::DeadlineExceeded {
                attempts: backoff.attempts(),
                last: last.map(Box::new),
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
                on_retry();
                last = Some(error);
                tokio::time::sleep(delay).await;
            }
            Err(reason) => return Err(give_up(reason, backoff.attempts(), error)),
        }
    }
}

pub(crate) fn give_up(reason: GiveUp, attempts: u32, last: Error) -> Error {
    match reason {
        GiveUp::Deadline => Error::DeadlineExceeded {
            attempts,
            last: Some(Box::new(last)),
        },
        GiveUp::Attempts => Error::RetriesExhausted {
            attempts,
            last: Box::new(last),
        },
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
}
