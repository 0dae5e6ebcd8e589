//! Room events: every change to a room that its members must see, and the
//! one path by which any of them leaves this process ([`Publisher`]).
//!
//! A new kind of change is a variant here (and, if it is kept in the room's
//! log, an [`EventKind`] code): the writer, server functions, the bus, the
//! ledger and catch-up all carry `RoomEvent`s without knowing their kinds.

use crate::protocol::{Change, ChatMessage, RoomId, Seq, ServerFrame, Update, UserId};
use std::future::Future;
use std::pin::Pin;

/// What a row of the room log (`room_events.kind`) records. Stored as its
/// code: never renumber one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A message was posted; the row holds it, in its current state.
    Posted = 0,
    /// The message `target_id` was edited (its row holds the new text).
    Edited = 1,
    /// The message `target_id` was deleted.
    Deleted = 2,
    /// Someone reacted to `target_id` with the emoji in `body`.
    Reacted = 3,
    /// Someone took back their reaction `body` to `target_id`.
    Unreacted = 4,
}

impl EventKind {
    pub fn code(self) -> i64 {
        self as i64
    }

    /// The kind that logs `change`.
    pub fn of(change: &Change) -> EventKind {
        match change {
            Change::Edited { .. } => EventKind::Edited,
            Change::Deleted => EventKind::Deleted,
            Change::Reacted { .. } => EventKind::Reacted,
            Change::Unreacted { .. } => EventKind::Unreacted,
        }
    }

    pub fn from_code(code: i64) -> Option<EventKind> {
        match code {
            0 => Some(EventKind::Posted),
            1 => Some(EventKind::Edited),
            2 => Some(EventKind::Deleted),
            3 => Some(EventKind::Reacted),
            4 => Some(EventKind::Unreacted),
            _ => None,
        }
    }
}

/// A change to a room.
#[derive(Clone, Debug, PartialEq)]
pub enum RoomEvent {
    /// Logged under `message.seq`: a message was posted.
    Posted(ChatMessage),
    /// Logged under `update.seq`: a message was edited, deleted or reacted to.
    Updated(Update),
    /// Not logged: `user` lost access to `room`; their open sockets on every
    /// node stop receiving it at once.
    MemberRemoved { room: RoomId, user: UserId },
    /// Not logged: who may do what in `room` may have changed (made private,
    /// archived, deleted): every node forgets what it remembered about it
    /// (see [`super::access::AccessControl::forget`]).
    AccessChanged { room: RoomId },
}

impl RoomEvent {
    pub fn room(&self) -> RoomId {
        match self {
            RoomEvent::Posted(message) => message.room,
            RoomEvent::Updated(update) => update.room,
            RoomEvent::MemberRemoved { room, .. } | RoomEvent::AccessChanged { room } => *room,
        }
    }

    /// Its sequence in the room's log; `None` for changes that are not
    /// logged (they are not replayed by catch-up).
    pub fn seq(&self) -> Option<Seq> {
        match self {
            RoomEvent::Posted(message) => Some(message.seq),
            RoomEvent::Updated(update) => Some(update.seq),
            RoomEvent::MemberRemoved { .. } | RoomEvent::AccessChanged { .. } => None,
        }
    }

    /// The frame a member's socket receives for it; `None` for changes that
    /// act on the connections instead of informing them.
    pub fn frame(self) -> Option<ServerFrame> {
        match self {
            RoomEvent::Posted(message) => Some(ServerFrame::Message { message }),
            RoomEvent::Updated(update) => Some(ServerFrame::Update { update }),
            RoomEvent::MemberRemoved { .. } | RoomEvent::AccessChanged { .. } => None,
        }
    }

    /// Roughly the bytes it holds, for the bounds on queued events.
    pub fn size(&self) -> usize {
        match self {
            RoomEvent::Posted(m) => {
                let quote = m.reply_to.as_ref().map_or(0, |q| q.excerpt.len() + q.author.len() + 64);
                let file = m.attachment.as_ref().map_or(0, |f| f.name.len() + f.mime.len() + 128);
                m.body.len() + m.author.len() + m.client_id.len() + quote + file + 160
            }
            RoomEvent::Updated(u) => {
                let text = match &u.change {
                    Change::Edited { body } => body.len(),
                    Change::Reacted { emoji } | Change::Unreacted { emoji } => emoji.len(),
                    Change::Deleted => 0,
                };
                text + u.by.len() + u.client_id.len() + 160
            }
            RoomEvent::MemberRemoved { .. } | RoomEvent::AccessChanged { .. } => 64,
        }
    }
}

/// A future that resolves once published events reached every node.
pub type Published<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Where every room event goes out: the message writer and the server
/// functions use this one path. Implemented by the server crate, which owns
/// the sockets and the bus.
pub trait Publisher: Send + Sync {
    /// Queues `events`, in the order given (the writer gives each batch in
    /// commit order, so each room's in sequence order), before it returns;
    /// it never waits. The returned future resolves once every node has them
    /// (or this node gave up on the bus and acted alone); awaiting it is
    /// optional — the writer does not, so the next commit never waits on Redis.
    fn publish(&self, events: Vec<RoomEvent>) -> Published<'_>;

    /// Some sessions ended before their time (an account disabled, or its
    /// sessions ended by an administrator): every node re-checks its
    /// sockets' sessions now, instead of at its next round, so theirs close
    /// at once. Never waits.
    fn sessions_ended(&self);
}
