//! A connection's three clocks — when to ping, when to refresh its presence,
//! and when silence means the other end is gone — kept on one timer.

use crate::config::Timings;
use std::time::Duration;

/// A connection's clocks: when to ping, when to refresh its presence, and
/// when silence means the other end is gone. (The periods are read from the
/// config each time rather than copied into every connection.)
pub(super) struct Clocks {
    next_ping: tokio::time::Instant,
    next_refresh: tokio::time::Instant,
    last_heard: tokio::time::Instant,
}

/// Which clocks [`Clocks::due`] found due.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Due {
    pub(super) ping: bool,
    pub(super) refresh: bool,
    pub(super) idle: bool,
}

impl Clocks {
    pub(super) fn new(now: tokio::time::Instant, timings: &Timings) -> Self {
        Self {
            next_ping: now + timings.ping_every,
            next_refresh: now + timings.presence_refresh,
            last_heard: now,
        }
    }

    /// The other end showed it is alive.
    pub(super) fn heard(&mut self, now: tokio::time::Instant) {
        self.last_heard = now;
    }

    /// The earliest instant something is due.
    pub(super) fn next(&self, timings: &Timings) -> tokio::time::Instant {
        self.next_ping
            .min(self.next_refresh)
            .min(self.last_heard + timings.idle_timeout)
    }

    /// What is due at `now`; those that are move on to their next time.
    pub(super) fn due(&mut self, now: tokio::time::Instant, timings: &Timings) -> Due {
        let mut due = Due {
            idle: now >= self.last_heard + timings.idle_timeout,
            ..Due::default()
        };
        if now >= self.next_ping {
            due.ping = true;
            self.next_ping = now + timings.ping_every;
        }
        if now >= self.next_refresh {
            due.refresh = true;
            self.next_refresh = now + timings.presence_refresh;
        }
        due
    }
}

/// A duration in whole milliseconds, as Redis expiries take them.
pub(super) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timings() -> Timings {
        Timings {
            ping_every: Duration::from_secs(15),
            presence_refresh: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(45),
            ..Timings::default()
        }
    }

    #[test]
    fn the_clocks_fire_in_turn_and_hearing_from_the_client_puts_off_idleness() {
        let t = timings();
        let start = tokio::time::Instant::now();
        let mut clocks = Clocks::new(start, &t);
        let at = |s| start + Duration::from_secs(s);
        let only = |ping, refresh, idle| Due { ping, refresh, idle };
        assert_eq!(clocks.next(&t), at(15));
        assert_eq!(clocks.due(at(15), &t), only(true, false, false));
        assert_eq!(clocks.next(&t), at(20));
        assert_eq!(clocks.due(at(20), &t), only(false, true, false));
        assert_eq!(clocks.due(at(30), &t), only(true, false, false));
        assert_eq!(clocks.due(at(40), &t), only(false, true, false));

        // A frame at 40 s: at 45 s the socket is not idle, only a ping is due.
        clocks.heard(at(40));
        assert_eq!(clocks.next(&t), at(45));
        assert_eq!(clocks.due(at(45), &t), only(true, false, false));
        assert_eq!(clocks.due(at(60), &t), only(true, true, false));
        assert_eq!(clocks.due(at(75), &t), only(true, false, false));
        assert_eq!(clocks.next(&t), at(80));
        assert_eq!(clocks.due(at(80), &t), only(false, true, false));
        // Nothing heard for 45 s since: gone.
        assert_eq!(clocks.next(&t), at(85));
        assert!(clocks.due(at(85), &t).idle);
    }

    #[test]
    fn a_socket_never_heard_from_is_idle_after_the_timeout() {
        let t = timings();
        let start = tokio::time::Instant::now();
        let mut clocks = Clocks::new(start, &t);
        assert!(!clocks.due(start + Duration::from_secs(44), &t).idle);
        assert!(clocks.due(start + Duration::from_secs(45), &t).idle);
    }
}
