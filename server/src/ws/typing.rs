//! How many typing notices a connection may send (the `typing` frame's
//! handler is in [`super::frames`]).

use tokio::time::{Duration, Instant};

/// Notices one connection may send per [`WINDOW`], over all its rooms; the
/// rest are dropped unannounced. A well-behaved page sends one every 10 s
/// per room while typing, plus one when it stops.
const NOTICES_PER_WINDOW: u8 = 6;
const WINDOW: Duration = Duration::from_secs(10);

/// A connection's share of typing notices: a fixed window, so a client that
/// sends a thousand costs what six cost.
#[derive(Debug)]
pub(super) struct TypingBudget {
    window_start: Instant,
    used: u8,
}

impl TypingBudget {
    pub(super) fn new(now: Instant) -> Self {
        Self {
            window_start: now,
            used: 0,
        }
    }

    /// Whether one more notice may go out at `now`.
    pub(super) fn take(&mut self, now: Instant) -> bool {
        if now.duration_since(self.window_start) >= WINDOW {
            self.window_start = now;
            self.used = 0;
        }
        if self.used < NOTICES_PER_WINDOW {
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
    fn a_connection_gets_six_notices_per_ten_seconds() {
        let start = Instant::now();
        let mut budget = TypingBudget::new(start);
        let sent = (0..1000).filter(|_| budget.take(start)).count();
        assert_eq!(sent, usize::from(NOTICES_PER_WINDOW));
        assert!(!budget.take(start + WINDOW - Duration::from_millis(1)));
        assert!(budget.take(start + WINDOW));
    }
}
