//! The sidebar's rooms and what is unread in each, as plain data: the list
//! the server counted, kept current by the frames that follow (new
//! messages, read markers moved on any of the person's devices).

use crate::mentions;
use crate::protocol::{ChatMessage, RoomId, Seq, SidebarRoom};

/// What the page must do after a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recount {
    /// Nothing: the counts are right.
    No,
    /// Ask the server for the counts again: a marker moved to a point this
    /// page cannot count from (part of a room read on another device), or a
    /// room it does not list was opened.
    Yes,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Unread {
    rooms: Vec<SidebarRoom>,
}

impl Unread {
    pub fn new(rooms: Vec<SidebarRoom>) -> Self {
        Self { rooms }
    }

    pub fn rooms(&self) -> &[SidebarRoom] {
        &self.rooms
    }

    pub fn contains(&self, room: RoomId) -> bool {
        self.rooms.iter().any(|r| r.id == room)
    }

    pub fn room(&self, room: RoomId) -> Option<&SidebarRoom> {
        self.rooms.iter().find(|r| r.id == room)
    }

    /// What the tab title counts: unread messages in rooms not muted, and
    /// mentions everywhere.
    pub fn total(&self) -> u32 {
        self.rooms
            .iter()
            .map(|r| if r.quiet { r.mentions } else { r.unread_count() })
            .sum()
    }

    /// Whether `message` should raise a notification for `me`: new (not
    /// one already counted), someone else's, in a room not muted, naming
    /// them or in a direct conversation, and not where they are looking
    /// (`here`: that room open in a visible tab).
    pub fn notifies(&self, message: &ChatMessage, me: &str, here: bool) -> bool {
        let Some(room) = self.room(message.room) else {
            return false;
        };
        !here
            && !room.quiet
            && message.author != me
            && message.seq > room.last_seq.max(room.read_seq)
            && (room.direct || mentions::mentions(&message.body, me))
    }

    /// Mutes (or unmutes) a room here, as the server was told.
    pub fn set_quiet(&mut self, room: RoomId, quiet: bool) {
        if let Some(r) = self.rooms.iter_mut().find(|r| r.id == room) {
            r.quiet = quiet;
        }
    }

    /// A new message in one of the rooms. `seen`: the reader is looking at
    /// that room's end right now, so it is not unread. Counted as the server
    /// counts: others' messages after the marker, within the window.
    pub fn message(&mut self, message: &ChatMessage, me: &str, seen: bool) {
        let Some(at) = self.rooms.iter().position(|r| r.id == message.room) else {
            return;
        };
        // The most recently active room goes first, as the server lists them.
        let mut room = self.rooms.remove(at);
        // Up to its last sequence, the server counted it already (a message
        // sent again, or replayed).
        let known = message.seq <= room.last_seq;
        room.last_seq = room.last_seq.max(message.seq);
        if message.author == me && message.seq > room.read_seq {
            // Posting reads the room, here as on the server (from any of
            // their devices: each one's sidebar follows the room).
            room.read_seq = message.seq;
            room.unread = 0;
            room.mentions = 0;
        } else if !(known || seen || message.seq <= room.read_seq) {
            room.unread += 1;
            if mentions::mentions(&message.body, me) {
                room.mentions += 1;
            }
        }
        self.rooms.insert(0, room);
    }

    /// Another event in one of the rooms (an edit, a reaction…): it moves
    /// the room's end, never the counts.
    pub fn event(&mut self, room: RoomId, seq: Seq) {
        if let Some(r) = self.rooms.iter_mut().find(|r| r.id == room) {
            r.last_seq = r.last_seq.max(seq);
        }
    }

    /// The person's marker in `room` moved to `seq` (here or on another
    /// device). Read to the end: nothing is unread. Read to a point short
    /// of it: only the server can count what is left.
    pub fn read(&mut self, room: RoomId, seq: Seq) -> Recount {
        let Some(r) = self.rooms.iter_mut().find(|r| r.id == room) else {
            return Recount::Yes;
        };
        if seq <= r.read_seq {
            return Recount::No;
        }
        r.read_seq = seq;
        if seq >= r.last_seq {
            r.unread = 0;
            r.mentions = 0;
            Recount::No
        } else {
            Recount::Yes
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(id: i64, read_seq: Seq, last_seq: Seq, unread: u32) -> SidebarRoom {
        SidebarRoom {
            id: RoomId(id),
            name: format!("Room {id}"),
            private: false,
            direct: false,
            unread,
            mentions: 0,
            read_seq,
            last_seq,
            quiet: false,
        }
    }

    fn message(room: i64, seq: Seq, author: &str, body: &str) -> ChatMessage {
        ChatMessage {
            room: RoomId(room),
            seq,
            author: author.into(),
            body: body.into(),
            ..ChatMessage::default()
        }
    }

    #[test]
    fn others_messages_after_the_marker_count_and_mentions_count_apart() {
        let mut unread = Unread::new(vec![room(1, 5, 5, 0), room(2, 3, 4, 1)]);
        unread.message(&message(2, 5, "ann", "hi @bob"), "bob", false);
        unread.message(&message(2, 4, "ann", "counted by the server already"), "bob", false);
        unread.message(&message(9, 1, "ann", "not a sidebar room"), "bob", false);
        let two = unread.room(RoomId(2)).unwrap();
        assert_eq!((two.unread, two.mentions, two.last_seq), (2, 1, 5));
        assert_eq!(unread.rooms()[0].id, RoomId(2), "the busiest room goes first");
        unread.message(&message(1, 6, "ann", "seen as it came"), "bob", true);
        assert_eq!(unread.room(RoomId(1)).unwrap().unread, 0);
        assert_eq!(unread.total(), 2);
        // Posting (here or on another device) reads the room, as on the server.
        unread.message(&message(2, 6, "bob", "mine"), "bob", false);
        let two = unread.room(RoomId(2)).unwrap();
        assert_eq!((two.unread, two.mentions, two.read_seq), (0, 0, 6));
        unread.message(&message(2, 7, "ann", "after mine"), "bob", false);
        assert_eq!(unread.room(RoomId(2)).unwrap().unread, 1);
    }

    #[test]
    fn a_marker_read_to_the_end_clears_the_room_and_short_of_it_asks_again() {
        let mut unread = Unread::new(vec![room(1, 2, 9, 5)]);
        assert_eq!(unread.read(RoomId(1), 1), Recount::No, "a marker never goes back");
        assert_eq!(unread.read(RoomId(1), 6), Recount::Yes);
        assert_eq!(unread.room(RoomId(1)).unwrap().read_seq, 6);
        assert_eq!(unread.read(RoomId(1), 9), Recount::No);
        assert_eq!(unread.room(RoomId(1)).unwrap().unread, 0);
        assert_eq!(unread.read(RoomId(7), 1), Recount::Yes, "a room the list lacks");
    }

    #[test]
    fn mentions_and_direct_messages_notify_unless_muted_seen_or_mine() {
        let mut direct = room(2, 0, 0, 0);
        direct.direct = true;
        let mut unread = Unread::new(vec![room(1, 0, 3, 0), direct]);
        let naming = message(1, 4, "ann", "hey @Bob");
        assert!(unread.notifies(&naming, "bob", false));
        assert!(!unread.notifies(&naming, "bob", true), "looking at it");
        assert!(!unread.notifies(&message(1, 4, "ann", "hey all"), "bob", false));
        assert!(
            !unread.notifies(&message(1, 3, "ann", "hey @bob"), "bob", false),
            "counted already"
        );
        assert!(!unread.notifies(&message(1, 4, "bob", "me @bob"), "bob", false));
        assert!(
            unread.notifies(&message(2, 1, "ann", "psst"), "bob", false),
            "a direct message"
        );
        assert!(
            !unread.notifies(&message(9, 1, "ann", "@bob"), "bob", false),
            "not listed"
        );
        unread.set_quiet(RoomId(1), true);
        assert!(!unread.notifies(&naming, "bob", false), "muted");
        assert!(unread.room(RoomId(1)).unwrap().quiet);
    }

    #[test]
    fn far_behind_is_ninety_nine_plus_and_muted_rooms_count_mentions_only() {
        let mut far = room(1, 0, 150, 99);
        far.mentions = 1;
        let mut unread = Unread::new(vec![far]);
        unread.message(&message(1, 151, "ann", "more"), "bob", false);
        let far = unread.room(RoomId(1)).unwrap();
        assert_eq!(far.unread, 100);
        assert_eq!(far.unread_label().as_deref(), Some("99+"));
        assert_eq!(unread.total(), 99);
        let mut quiet = room(2, 0, 3, 3);
        quiet.quiet = true;
        quiet.mentions = 1;
        let unread = Unread::new(vec![quiet]);
        assert_eq!(unread.total(), 1);
    }
}
