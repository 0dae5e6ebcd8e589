//! Which chat messages this node has handed to its sockets, per room, so that
//! each one is delivered once whichever way it arrives: over Redis, from the
//! local fallback when Redis is down, or from the database when the node's
//! subscriber missed it (Redis pub/sub is at-most-once).

use app::protocol::{RoomId, Seq};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

#[derive(Debug, Default)]
struct RoomLedger {
    /// Every message up to here has been delivered (or predates the room
    /// having sockets on this node — those come to clients through catch-up).
    contiguous: Seq,
    /// Delivered messages above `contiguous` (they arrived out of order).
    above: BTreeSet<Seq>,
    /// The database's last sequence when this node was last seen behind it.
    behind: Option<Seq>,
}

#[derive(Default)]
pub struct Ledger {
    /// std mutex: only map edits happen under it, never an `.await`.
    rooms: Mutex<HashMap<RoomId, RoomLedger>>,
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

    pub fn tracked(&self) -> Vec<RoomId> {
        self.rooms().keys().copied().collect()
    }

    /// Records `seq` as delivered; false if it already was (drop the copy).
    pub fn first_delivery(&self, room: RoomId, seq: Seq) -> bool {
        let mut rooms = self.rooms();
        // No socket here tracks the room: nothing to de-duplicate against.
        let Some(ledger) = rooms.get_mut(&room) else {
            return true;
        };
        if seq <= ledger.contiguous || !ledger.above.insert(seq) {
            return false;
        }
        while ledger.above.remove(&(ledger.contiguous + 1)) {
            ledger.contiguous += 1;
        }
        true
    }

    /// Compares with the database's last sequence. A node behind the
    /// database on two checks in a row missed messages (a live one arrives
    /// in milliseconds): returns the range `(after, up_to]` to deliver from
    /// the database.
    pub fn repair_range(&self, room: RoomId, db_last: Seq) -> Option<(Seq, Seq)> {
        let mut rooms = self.rooms();
        let ledger = rooms.get_mut(&room)?;
        if db_last <= ledger.contiguous {
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

#[cfg(test)]
mod tests {
    use super::*;

    const R: RoomId = RoomId(1);

    #[test]
    fn each_message_is_delivered_once_in_any_arrival_order() {
        let ledger = Ledger::default();
        ledger.track(R, 10);
        assert!(
            !ledger.first_delivery(R, 10),
            "already history when the room was tracked"
        );
        assert!(ledger.first_delivery(R, 12));
        assert!(ledger.first_delivery(R, 11));
        assert!(!ledger.first_delivery(R, 12));
        assert!(!ledger.first_delivery(R, 11));
        assert!(ledger.first_delivery(R, 13));
        assert!(ledger.first_delivery(RoomId(2), 1), "untracked rooms are not filtered");
    }

    #[test]
    fn repair_starts_only_after_being_behind_twice() {
        let ledger = Ledger::default();
        ledger.track(R, 5);
        assert_eq!(ledger.repair_range(R, 5), None);
        assert_eq!(ledger.repair_range(R, 7), None, "may still be in flight");
        assert_eq!(ledger.repair_range(R, 8), Some((5, 7)), "6 and 7 were missed");
        ledger.first_delivery(R, 6);
        ledger.first_delivery(R, 7);
        ledger.first_delivery(R, 8);
        assert_eq!(ledger.repair_range(R, 8), None);
        assert_eq!(ledger.repair_range(RoomId(9), 3), None, "untracked");
    }

    #[test]
    fn tracking_keeps_what_is_known() {
        let ledger = Ledger::default();
        ledger.track(R, 3);
        ledger.first_delivery(R, 4);
        ledger.track(R, 3);
        assert!(!ledger.first_delivery(R, 4));
        ledger.forget(R);
        assert!(!ledger.is_tracked(R));
    }
}
