//! Which chat messages this node has handed to its sockets, per room, so that
//! each one is delivered once and in sequence order whichever way it
//! arrives: over Redis, from the local fallback when Redis is down, or from
//! the database when the bus lost it (Redis pub/sub is at-most-once).
//!
//! Messages of one room reach a node in commit order from each node that
//! publishes, but two nodes' publishes can cross: sequence 6 from one node
//! may arrive before 5 from another. A message that arrives ahead of a gap is
//! held back (bounded in bytes) until the gap fills — from the bus, usually
//! within milliseconds, or else from the database (the node's gap filler
//! reads what is still missing after a short hold). Only if neither can fill
//! it are the held messages let go, in order, across the hole; clients then
//! ask for the hole themselves, as they do after any gap.

use app::protocol::{RoomId, Seq};
use axum::extract::ws::Utf8Bytes;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use tokio::time::Instant;

/// Most bytes of messages one room may hold back waiting for a gap to fill;
/// past it they are let go at once, in order (the gap is given up).
const HELD_BYTES_PER_ROOM: usize = 1024 * 1024;

#[derive(Debug, Default)]
struct RoomLedger {
    /// Every message up to here has been delivered (or predates the room
    /// having sockets on this node — those come to clients through catch-up).
    contiguous: Seq,
    /// Messages that arrived ahead of a gap, waiting for it to fill.
    held: BTreeMap<Seq, Utf8Bytes>,
    held_bytes: usize,
    /// When the current gap was first seen (`None` while nothing is held).
    gap_since: Option<Instant>,
    /// The database's last sequence when this node was last seen behind it.
    behind: Option<Seq>,
}

/// What became of a message handed to [`Ledger::arrive`].
#[derive(Debug, PartialEq, Eq)]
pub enum Arrival {
    /// Delivered, with this many held messages it released after it.
    Delivered { released: usize },
    /// Ahead of a gap: held back until the gap fills.
    Held,
    /// Already delivered (or history when the room was tracked): dropped.
    Duplicate,
}

/// A gap that has waited long enough to be filled from the database.
#[derive(Debug, PartialEq, Eq)]
pub struct Gap {
    pub room: RoomId,
    /// Everything up to here was delivered…
    pub after: Seq,
    /// …and this one is held: the messages in between are missing.
    pub before: Seq,
    /// When the gap was first seen.
    pub since: Instant,
}

/// How often delivery had to wait for order (read by `/healthz`).
#[derive(Debug, Default)]
pub struct OrderStats {
    /// Messages that arrived ahead of a gap and were held back.
    pub held: AtomicU64,
    /// Missing messages the gap filler read from the database.
    pub filled_from_database: AtomicU64,
    /// Gaps given up on: held messages let go across a hole.
    pub gaps_given_up: AtomicU64,
}

#[derive(Default)]
pub struct Ledger {
    /// std mutex: held for map edits and for handing frames to the hub
    /// (which never waits), never across an `.await`. Delivery happens under
    /// it so that two tasks delivering one room cannot interleave out of order.
    rooms: Mutex<HashMap<RoomId, RoomLedger>>,
    /// Woken when a room starts holding messages behind a gap.
    pub gap_opened: tokio::sync::Notify,
    pub stats: OrderStats,
}

impl Ledger {
    fn rooms(&self) -> MutexGuard<'_, HashMap<RoomId, RoomLedger>> {
        // Each critical section leaves the map consistent, so poison is harmless.
        self.rooms.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts tracking `room` (its first socket on this node joined) from the
    /// database's current last sequence. Keeps an existing entry.
    pub fn track(&self, room: RoomId, last_seq: Seq) {
        self.rooms().entry(room).or_insert_with(|| RoomLedger {
            contiguous: last_seq,
            ..Default::default()
        });
    }

    pub fn forget(&self, room: RoomId) {
        self.rooms().remove(&room);
    }

    pub fn is_tracked(&self, room: RoomId) -> bool {
        self.rooms().contains_key(&room)
    }

    /// Hands message `seq` of `room` to `deliver` in sequence order: at once
    /// if it is the next one (followed by any held messages it unblocks),
    /// held if it arrived ahead of a gap, dropped if it was delivered before.
    /// An untracked room (no socket here) is not ordered: it goes straight through.
    pub fn arrive(&self, room: RoomId, seq: Seq, frame: Utf8Bytes, mut deliver: impl FnMut(&Utf8Bytes)) -> Arrival {
        let mut rooms = self.rooms();
        let Some(ledger) = rooms.get_mut(&room) else {
            deliver(&frame);
            return Arrival::Delivered { released: 0 };
        };
        if seq <= ledger.contiguous || ledger.held.contains_key(&seq) {
            return Arrival::Duplicate;
        }
        if seq > ledger.contiguous + 1 {
            self.stats.held.fetch_add(1, Ordering::Relaxed);
            ledger.held_bytes += frame.len();
            ledger.held.insert(seq, frame);
            if ledger.held_bytes > HELD_BYTES_PER_ROOM {
                // Too much waiting on one hole: let it all go, in order.
                tracing::warn!(%room, after = ledger.contiguous, "gap not filled in time; delivering past it");
                let released = self.give_up(ledger, &mut deliver);
                return Arrival::Delivered { released };
            }
            if ledger.gap_since.is_none() {
                ledger.gap_since = Some(Instant::now());
                self.gap_opened.notify_one();
            }
            return Arrival::Held;
        }
        deliver(&frame);
        ledger.contiguous = seq;
        let released = release_next(ledger, &mut deliver);
        Arrival::Delivered { released }
    }

    /// Gaps first seen at or before `seen_by`, oldest room first.
    pub fn gaps_seen_by(&self, seen_by: Instant) -> Vec<Gap> {
        let rooms = self.rooms();
        let mut gaps: Vec<Gap> = rooms
            .iter()
            .filter_map(|(room, ledger)| {
                let since = ledger.gap_since.filter(|since| *since <= seen_by)?;
                let (&before, _) = ledger.held.first_key_value()?;
                Some(Gap {
                    room: *room,
                    after: ledger.contiguous,
                    before,
                    since,
                })
            })
            .collect();
        gaps.sort_by_key(|g| g.since);
        gaps
    }

    /// Whether any room holds messages behind a gap.
    pub fn has_gaps(&self) -> bool {
        self.rooms().values().any(|l| !l.held.is_empty())
    }

    /// Stops waiting for `room`'s gap if it was first seen at or before
    /// `seen_by`: delivers what the room holds, in order. Returns how many.
    pub fn skip_gap(&self, room: RoomId, seen_by: Instant, mut deliver: impl FnMut(&Utf8Bytes)) -> usize {
        let mut rooms = self.rooms();
        match rooms.get_mut(&room) {
            Some(ledger) if ledger.gap_since.is_some_and(|since| since <= seen_by) => {
                self.give_up(ledger, &mut deliver)
            }
            _ => 0,
        }
    }

    fn give_up(&self, ledger: &mut RoomLedger, deliver: &mut impl FnMut(&Utf8Bytes)) -> usize {
        self.stats.gaps_given_up.fetch_add(1, Ordering::Relaxed);
        let held = std::mem::take(&mut ledger.held);
        let released = held.len();
        for (seq, frame) in held {
            deliver(&frame);
            ledger.contiguous = seq;
        }
        ledger.held_bytes = 0;
        ledger.gap_since = None;
        released
    }

    /// Compares with the database's last sequence. A node behind the
    /// database on two checks in a row missed messages (a live one arrives
    /// in milliseconds): returns the range `(after, up_to]` to deliver from
    /// the database.
    pub fn repair_range(&self, room: RoomId, db_last: Seq) -> Option<(Seq, Seq)> {
        let mut rooms = self.rooms();
        let ledger = rooms.get_mut(&room)?;
        let have = ledger.held.last_key_value().map_or(ledger.contiguous, |(seq, _)| *seq);
        if db_last <= have {
            ledger.behind = None;
            return None;
        }
        let previous = ledger.behind.replace(db_last);
        match previous {
            Some(up_to) if up_to > ledger.contiguous => Some((ledger.contiguous, up_to)),
            _ => None,
        }
    }
}

/// Delivers the held messages that now follow on from `contiguous`.
fn release_next(ledger: &mut RoomLedger, deliver: &mut impl FnMut(&Utf8Bytes)) -> usize {
    let mut released = 0;
    while let Some(frame) = ledger.held.remove(&(ledger.contiguous + 1)) {
        ledger.held_bytes -= frame.len();
        deliver(&frame);
        ledger.contiguous += 1;
        released += 1;
    }
    if ledger.held.is_empty() {
        ledger.gap_since = None;
    } else if released > 0 {
        // A later hole: it waits its own hold from now.
        ledger.gap_since = Some(Instant::now());
    }
    released
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: RoomId = RoomId(1);

    /// Hands `seq` to the ledger; returns what it delivered, in order.
    fn arrive(ledger: &Ledger, seq: Seq) -> Vec<String> {
        let mut out = Vec::new();
        ledger.arrive(R, seq, Utf8Bytes::from(seq.to_string()), |f| out.push(f.to_string()));
        out
    }

    #[test]
    fn each_message_is_delivered_once_and_in_order_whatever_the_arrival_order() {
        let ledger = Ledger::default();
        ledger.track(R, 10);
        assert!(
            arrive(&ledger, 10).is_empty(),
            "already history when the room was tracked"
        );
        assert_eq!(arrive(&ledger, 11), ["11"]);
        assert!(arrive(&ledger, 13).is_empty(), "held: 12 is missing");
        assert!(arrive(&ledger, 14).is_empty());
        assert!(arrive(&ledger, 13).is_empty(), "a copy of a held one is dropped");
        assert_eq!(arrive(&ledger, 12), ["12", "13", "14"], "the gap fills: all in order");
        assert!(arrive(&ledger, 12).is_empty());
        assert_eq!(arrive(&ledger, 15), ["15"]);
        assert_eq!(ledger.stats.held.load(Ordering::Relaxed), 2);
        let mut other = Vec::new();
        ledger.arrive(RoomId(2), 7, Utf8Bytes::from("x"), |f| other.push(f.to_string()));
        assert_eq!(other, ["x"], "untracked rooms are not ordered");
    }

    #[test]
    fn a_gap_is_reported_once_old_enough_and_can_be_given_up_in_order() {
        let ledger = Ledger::default();
        ledger.track(R, 0);
        let before = Instant::now();
        assert!(arrive(&ledger, 3).is_empty());
        assert!(arrive(&ledger, 5).is_empty());
        assert!(ledger.has_gaps());
        assert!(ledger.gaps_seen_by(before).is_empty(), "not yet seen then");
        let gaps = ledger.gaps_seen_by(Instant::now());
        assert_eq!((gaps[0].room, gaps[0].after, gaps[0].before), (R, 0, 3));
        // Filling part of it moves the gap on.
        assert!(arrive(&ledger, 2).is_empty());
        assert_eq!(arrive(&ledger, 1), ["1", "2", "3"]);
        assert_eq!(ledger.gaps_seen_by(Instant::now())[0].after, 3);
        let mut out = Vec::new();
        assert_eq!(
            ledger.skip_gap(R, before, |f| out.push(f.to_string())),
            0,
            "not stuck that long"
        );
        assert_eq!(ledger.skip_gap(R, Instant::now(), |f| out.push(f.to_string())), 1);
        assert_eq!(out, ["5"]);
        assert!(!ledger.has_gaps());
        assert!(arrive(&ledger, 4).is_empty(), "what was skipped is behind now");
        assert_eq!(arrive(&ledger, 6), ["6"]);
        assert_eq!(ledger.stats.gaps_given_up.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn holding_is_bounded_in_bytes() {
        let ledger = Ledger::default();
        ledger.track(R, 0);
        let big = "x".repeat(HELD_BYTES_PER_ROOM / 4);
        let mut out = Vec::new();
        for seq in 2..=5 {
            let arrival = ledger.arrive(R, seq, Utf8Bytes::from(format!("{seq}{big}")), |f| {
                out.push(f.as_str()[..1].to_owned())
            });
            assert_eq!(
                arrival,
                if seq < 5 {
                    Arrival::Held
                } else {
                    Arrival::Delivered { released: 4 }
                }
            );
        }
        assert_eq!(out, ["2", "3", "4", "5"], "past the bound, all of it goes, in order");
        assert!(!ledger.has_gaps());
    }

    #[test]
    fn repair_starts_only_after_being_behind_twice() {
        let ledger = Ledger::default();
        ledger.track(R, 5);
        assert_eq!(ledger.repair_range(R, 5), None);
        assert_eq!(ledger.repair_range(R, 7), None, "may still be in flight");
        assert_eq!(ledger.repair_range(R, 8), Some((5, 7)), "6 and 7 were missed");
        arrive(&ledger, 6);
        arrive(&ledger, 7);
        arrive(&ledger, 8);
        assert_eq!(ledger.repair_range(R, 8), None);
        assert_eq!(ledger.repair_range(RoomId(9), 3), None, "untracked");
    }

    #[test]
    fn tracking_keeps_what_is_known() {
        let ledger = Ledger::default();
        ledger.track(R, 3);
        arrive(&ledger, 4);
        ledger.track(R, 3);
        assert!(arrive(&ledger, 4).is_empty());
        ledger.forget(R);
        assert!(!ledger.is_tracked(R));
    }
}
