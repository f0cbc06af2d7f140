//! One direction of a WAN link as a pure schedule: when each chunk of bytes arrives at the
//! far end. No I/O and no clock: the caller passes the instants in.

use std::time::Duration;

use tokio::time::Instant;

/// One direction of the link: a queue drained at `rate` bytes per second (none: at once),
/// then `one_way` of propagation delay.
///
/// A chunk starts leaving when it arrives and the link is free (the previous chunk has left),
/// takes `len / rate` to leave and reaches the far end `one_way` later. That is a token
/// bucket without burst: the link never carries more than `rate` bytes in any period longer
/// than one chunk's transmission time.
#[derive(Debug, Clone)]
pub(crate) struct Link {
    one_way: Duration,
    rate: Option<u64>,
    free_at: Instant,
}

impl Link {
    /// A link that carries nothing before `opens_at` (the TCP handshake, for the client's
    /// direction).
    pub(crate) fn new(one_way: Duration, rate: Option<u64>, opens_at: Instant) -> Self {
        Self {
            one_way,
            rate,
            free_at: opens_at,
        }
    }

    /// When `len` bytes that arrived at `arrival` reach the far end. Never earlier than the
    /// previous chunk's delivery, so bytes stay in order.
    pub(crate) fn schedule(&mut self, len: usize, arrival: Instant) -> Instant {
        let start = arrival.max(self.free_at);
        let transmission = match self.rate {
            Some(rate) if rate > 0 => Duration::from_secs_f64(len as f64 / rate as f64),
            _ => Duration::ZERO,
        };
        self.free_at = start + transmission;
        self.free_at + self.one_way
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn an_idle_link_delivers_after_the_delay_plus_the_transmission_time() {
        let t0 = Instant::now();
        let mut link = Link::new(30 * MS, Some(1_000_000), t0);
        // 1,000 bytes at 1 MB/s take 1 ms to leave.
        assert_eq!(link.schedule(1_000, t0), t0 + 31 * MS);
    }

    #[test]
    fn chunks_queue_behind_each_other_at_the_rate() {
        let t0 = Instant::now();
        let mut link = Link::new(10 * MS, Some(1_000_000), t0);
        let first = link.schedule(5_000, t0);
        let second = link.schedule(5_000, t0);
        assert_eq!(first, t0 + 15 * MS);
        assert_eq!(second, t0 + 20 * MS);
        // A chunk arriving after the queue drained starts at once.
        assert_eq!(link.schedule(1_000, t0 + 100 * MS), t0 + 111 * MS);
    }

    #[test]
    fn nothing_leaves_before_the_link_opens() {
        let t0 = Instant::now();
        let mut link = Link::new(30 * MS, None, t0 + 60 * MS);
        assert_eq!(link.schedule(10, t0), t0 + 90 * MS);
        assert_eq!(link.schedule(10, t0 + 200 * MS), t0 + 230 * MS);
    }

    #[test]
    fn without_a_rate_only_the_delay_counts() {
        let t0 = Instant::now();
        let mut link = Link::new(5 * MS, None, t0);
        assert_eq!(link.schedule(usize::MAX / 2, t0), t0 + 5 * MS);
    }
}
