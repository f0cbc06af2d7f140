//! The sink function: Kafka trigger batches into rows of a MaxCompute table.
//!
//! [`config`] reads and validates the environment once; [`handler::Sink`] handles invocations;
//! [`writer`] writes encoded rows through the Tunnel; [`rejects`] sends rejected records to the
//! error topic through [`error_topic`]. `main.rs` only wires them to the Lambda runtime. The pure pipeline (event
//! decoding, rows, partitions, wire codec, error-topic message format) and the MaxCompute client
//! live in `shared`. Nothing here reads the environment at import time or panics on input.

pub mod config;
pub mod error_topic;
pub mod handler;
pub mod rejects;
pub mod writer;

/// Time kept back from the invocation deadline so the function can still answer (and log)
/// after the last retry gives up.
pub const DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_millis(1500);

/// How long the cold start may take to read the table schema.
pub const START_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// The time budget used when the runtime's deadline is not in the future. AWS always sends a
/// deadline ahead of now; some local runtime emulators send the timeout itself (`600000`) instead.
pub const FALLBACK_BUDGET: std::time::Duration = std::time::Duration::from_secs(60);

/// The time an invocation may use for its work: until the runtime's deadline (epoch
/// milliseconds) minus [`DEADLINE_MARGIN`]. A deadline that is not ahead of `now_ms` cannot be
/// a real one, so [`FALLBACK_BUDGET`] is used instead of failing every write at once.
pub fn time_left(deadline_ms: u64, now_ms: i64) -> std::time::Duration {
    let now = u64::try_from(now_ms).unwrap_or(0);
    match deadline_ms.checked_sub(now) {
        Some(left) if left > 0 => {
            std::time::Duration::from_millis(left).saturating_sub(DEADLINE_MARGIN)
        }
        _ => {
            tracing::warn!(
                deadline_ms,
                now_ms,
                "the runtime's deadline is not in the future; using the fallback budget"
            );
            FALLBACK_BUDGET
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn time_left_keeps_a_margin_before_the_deadline() {
        let now = 1_795_645_197_663;
        assert_eq!(
            time_left(1_795_645_197_663 + 30_000, now),
            Duration::from_millis(30_000) - DEADLINE_MARGIN
        );
        // Less left than the margin: nothing to spend, the writes give up at once.
        assert_eq!(time_left(1_795_645_197_663 + 1_000, now), Duration::ZERO);
    }

    #[test]
    fn a_deadline_that_is_not_ahead_falls_back() {
        let now = 1_795_645_197_663;
        assert_eq!(time_left(600_000, now), FALLBACK_BUDGET);
        assert_eq!(time_left(u64::try_from(now).unwrap(), now), FALLBACK_BUDGET);
    }
}
