//! The deadlines a test gives an operation. Tests never sleep to let time pass: they poll a
//! condition until one of these deadlines, so a busy machine makes them slower, not flaky.

use std::time::Duration;

use tokio::time::Instant;

/// How long a test gives one operation against a local service (an invocation, a session, a
/// fetch): generous, because CI machines are busy; reached only when something is wrong.
pub const OPERATION: Duration = Duration::from_secs(30);

/// [`OPERATION`] from now: the deadline the functions' handlers are given in tests.
pub fn deadline() -> Instant {
    in_secs(OPERATION.as_secs())
}

/// `secs` seconds from now.
pub fn in_secs(secs: u64) -> Instant {
    Instant::now() + Duration::from_secs(secs)
}
