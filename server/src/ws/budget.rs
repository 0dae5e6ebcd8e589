//! How many of a kind of frame a connection may send: typing notices, read
//! markers and `watch`es, whose handlers are in [`super::frames`]. What goes over
//! the budget is dropped unannounced.

use tokio::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(10);
/// Typing notices per window, over all of a connection's rooms. A
/// well-behaved page sends one every 10 s per room while typing, plus one
/// when it stops.
pub(super) const TYPING_NOTICES: u8 = 6;
/// Read markers per window: a page sends at most one a second, when the
/// reader has seen something new. Each moves a row in the database.
pub(super) const READ_MARKERS: u8 = 20;
/// `watch`es per window: a page sends one when it connects, and again when
/// a room joins its sidebar. Each is a query.
pub(super) const WATCHES: u8 = 4;

/// A connection's share of one kind of frame: a fixed window, so a client
/// that sends a thousand costs what the budget's few cost.
#[derive(Debug)]
pub(super) struct Budget {
    window_start: Instant,
    used: u8,
    limit: u8,
}

impl Budget {
    pub(super) fn new(now: Instant, limit: u8) -> Self {
        Self {
            window_start: now,
            used: 0,
            limit,
        }
    }

    /// Whether one more frame may go through at `now`.
    pub(super) fn take(&mut self, now: Instant) -> bool {
        if now.duration_since(self.window_start) >= WINDOW {
            self.window_start = now;
            self.used = 0;
        }
        if self.used < self.limit {
            self.used += 1;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_gets_its_budget_per_ten_seconds() {
        let start = Instant::now();
        let mut budget = Budget::new(start, TYPING_NOTICES);
        let sent = (0..1000).filter(|_| budget.take(start)).count();
        assert_eq!(sent, usize::from(TYPING_NOTICES));
        assert!(!budget.take(start + WINDOW - Duration::from_millis(1)));
        assert!(budget.take(start + WINDOW));
        let mut reads = Budget::new(start, READ_MARKERS);
        assert_eq!(
            (0..1000).filter(|_| reads.take(start)).count(),
            usize::from(READ_MARKERS)
        );
    }
}
