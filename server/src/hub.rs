//! This node's room → connection table, and delivery of already-serialised
//! frames to the connections in a room.
//!
//! Each connection has a bounded queue. Delivery never waits: a connection
//! whose queue is full is a slow consumer and is told to go (it will
//! reconnect and catch up), so one slow client never slows a room.

use crate::mailbox::{Mailbox, Pushed};
use app::protocol::{RoomId, UserId};
use axum::extract::ws::Utf8Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Frames queued per connection before it counts as too slow…
pub const CONNECTION_QUEUE: usize = 256;
/// …or bytes: a few catch-up frames' worth, or ~3,000 ordinary messages.
pub const CONNECTION_QUEUE_BYTES: usize = 1024 * 1024;

pub type ConnId = u64;

/// The hub's way to reach one connection.
#[derive(Clone)]
pub struct ConnHandle {
    pub mailbox: Arc<Mailbox>,
    /// Whose connection this is, to cut a removed member off.
    pub user: UserId,
}

#[derive(Default)]
struct Rooms {
    conns: HashMap<RoomId, HashMap<ConnId, ConnHandle>>,
    /// Kicks this node has carried out, ever: a join compares it before and
    /// after its access check (see [`Hub::join_unless_kicked`]).
    kicks: u64,
}

#[derive(Default)]
pub struct Hub {
    /// std mutex: held only for map edits and non-blocking mailbox pushes, never across `.await`.
    rooms: Mutex<Rooms>,
}

impl Hub {
    fn rooms(&self) -> MutexGuard<'_, Rooms> {
        // Every critical section is a single map edit, so a poisoned lock holds consistent data.
        self.rooms.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many kicks this node has carried out so far.
    pub fn kicks(&self) -> u64 {
        self.rooms().kicks
    }

    /// Subscribes `conn` to `room`, unless a kick happened here since the
    /// count `kicks_seen` was read (before checking the connection's access).
    ///
    /// A member's removal commits and then kicks their connections on every
    /// node. A join whose access check read the membership just before the
    /// removal committed, and which subscribes just after the kick went by,
    /// would otherwise keep receiving the room: this refuses it instead, and
    /// the caller checks access again (it now reads the removal). A kick that
    /// comes after the subscription finds the connection, as any kick does.
    pub fn join_unless_kicked(&self, room: RoomId, conn: ConnId, handle: ConnHandle, kicks_seen: u64) -> bool {
        let mut rooms = self.rooms();
        if rooms.kicks != kicks_seen {
            return false;
        }
        rooms.conns.entry(room).or_default().insert(conn, handle);
        true
    }

    /// Subscribes `conn` to each of `rooms` at once, unless a kick happened
    /// here since `kicks_seen` (as [`Hub::join_unless_kicked`]).
    pub fn join_all_unless_kicked(&self, rooms: &[RoomId], conn: ConnId, handle: &ConnHandle, kicks_seen: u64) -> bool {
        let mut table = self.rooms();
        if table.kicks != kicks_seen {
            return false;
        }
        for room in rooms {
            table.conns.entry(*room).or_default().insert(conn, handle.clone());
        }
        true
    }

    /// Returns whether the room still has connections on this node.
    pub fn leave(&self, room: RoomId, conn: ConnId) -> bool {
        let mut rooms = self.rooms();
        let Some(conns) = rooms.conns.get_mut(&room) else {
            return false;
        };
        conns.remove(&conn);
        if conns.is_empty() {
            rooms.conns.remove(&room);
            return false;
        }
        true
    }

    /// Stops delivering `room` to `user`'s connections here and tells each
    /// to leave it. Returns how many there were.
    pub fn kick(&self, room: RoomId, user: UserId) -> usize {
        let mut rooms = self.rooms();
        rooms.kicks += 1;
        let Some(conns) = rooms.conns.get_mut(&room) else {
            return 0;
        };
        let mut kicked = 0;
        conns.retain(|_, handle| {
            if handle.user != user {
                return true;
            }
            handle.mailbox.kick(room);
            kicked += 1;
            false
        });
        if conns.is_empty() {
            rooms.conns.remove(&room);
        }
        kicked
    }

    pub fn has_room(&self, room: RoomId) -> bool {
        self.rooms().conns.contains_key(&room)
    }

    /// Rooms with at least one connection on this node.
    pub fn rooms_here(&self) -> Vec<RoomId> {
        self.rooms().conns.keys().copied().collect()
    }

    /// Hands `frame` to `user`'s connections in `room` only (their own read
    /// marker, which no one else is told).
    pub fn deliver_to(&self, room: RoomId, user: UserId, frame: &Utf8Bytes) -> usize {
        let rooms = self.rooms();
        let Some(conns) = rooms.conns.get(&room) else { return 0 };
        conns
            .values()
            .filter(|handle| handle.user == user && handle.mailbox.push(frame.clone()) == Pushed::Queued)
            .count()
    }

    /// Hands `frame` (serialised once by the caller) to every connection in
    /// `room`; returns how many got it.
    pub fn deliver(&self, room: RoomId, frame: &Utf8Bytes) -> usize {
        let rooms = self.rooms();
        let Some(conns) = rooms.conns.get(&room) else { return 0 };
        let mut delivered = 0;
        for handle in conns.values() {
            // A full queue signals the connection itself; a closed one is on its way out.
            if handle.mailbox.push(frame.clone()) == Pushed::Queued {
                delivered += 1;
            }
        }
        delivered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handle(capacity: usize) -> ConnHandle {
        ConnHandle {
            mailbox: Arc::new(Mailbox::new(capacity, CONNECTION_QUEUE_BYTES)),
            user: UserId(1),
        }
    }

    fn join(hub: &Hub, room: RoomId, conn: ConnId, handle: &ConnHandle) {
        assert!(hub.join_unless_kicked(room, conn, handle.clone(), hub.kicks()));
    }

    #[test]
    fn a_join_that_a_kick_overtook_is_refused_and_one_after_it_is_kicked() {
        let hub = Hub::default();
        let mine = handle(4);
        // The access check read the membership; then the removal's kick went by.
        let seen = hub.kicks();
        assert_eq!(hub.kick(RoomId(1), UserId(1)), 0, "nobody to kick yet");
        assert!(!hub.join_unless_kicked(RoomId(1), 1, mine.clone(), seen));
        assert_eq!(hub.deliver(RoomId(1), &Utf8Bytes::from("secret")), 0);
        // Checked again after it: a kick that comes later finds the connection.
        assert!(hub.join_unless_kicked(RoomId(1), 1, mine.clone(), hub.kicks()));
        assert_eq!(hub.kick(RoomId(1), UserId(1)), 1);
        assert_eq!(mine.mailbox.take_alerts().kicked, [RoomId(1)]);
    }

    fn taken(handle: &ConnHandle) -> Vec<String> {
        std::iter::from_fn(|| handle.mailbox.pop())
            .map(|f| f.as_str().to_owned())
            .collect()
    }

    #[test]
    fn a_frame_reaches_only_the_connections_in_its_room() {
        let hub = Hub::default();
        let (a, b) = (handle(4), handle(4));
        join(&hub, RoomId(1), 1, &a);
        join(&hub, RoomId(2), 2, &b);
        assert_eq!(hub.deliver(RoomId(1), &Utf8Bytes::from("hi")), 1);
        assert_eq!(taken(&a), ["hi"]);
        assert!(taken(&b).is_empty());
    }

    #[tokio::test]
    async fn a_full_queue_flags_only_that_connection() {
        let hub = Hub::default();
        let (slow, fast) = (handle(1), handle(4));
        join(&hub, RoomId(1), 1, &slow);
        join(&hub, RoomId(1), 2, &fast);
        hub.deliver(RoomId(1), &Utf8Bytes::from("1"));
        assert_eq!(hub.deliver(RoomId(1), &Utf8Bytes::from("2")), 1);
        // The permit stored by notify_one makes this return at once.
        tokio::time::timeout(std::time::Duration::from_secs(1), slow.mailbox.alert.notified())
            .await
            .unwrap();
        assert!(slow.mailbox.take_alerts().overflowed);
        assert!(!fast.mailbox.take_alerts().overflowed);
        assert_eq!(taken(&fast), ["1", "2"]);
        assert_eq!(taken(&slow), ["1"]);
    }

    #[test]
    fn a_kick_reaches_only_that_users_connections_and_stops_delivery() {
        let hub = Hub::default();
        let (mine, theirs) = (
            handle(4),
            ConnHandle {
                user: UserId(2),
                ..handle(4)
            },
        );
        join(&hub, RoomId(1), 1, &mine);
        join(&hub, RoomId(1), 2, &theirs);
        assert_eq!(hub.kick(RoomId(1), UserId(1)), 1);
        assert_eq!(mine.mailbox.take_alerts().kicked, [RoomId(1)]);
        assert!(theirs.mailbox.take_alerts().kicked.is_empty());
        assert_eq!(hub.deliver(RoomId(1), &Utf8Bytes::from("after")), 1);
        assert!(taken(&mine).is_empty());
    }

    #[test]
    fn the_last_connection_leaving_empties_the_room() {
        let hub = Hub::default();
        let a = handle(1);
        join(&hub, RoomId(1), 1, &a);
        join(&hub, RoomId(1), 2, &a);
        assert!(hub.leave(RoomId(1), 1));
        assert!(!hub.leave(RoomId(1), 2));
        assert!(!hub.has_room(RoomId(1)));
    }
}
