//! One handler per client frame (`join`, `leave`, `catch_up`, `send`,
//! `edit`, `delete`, `react`), and the state they share: the connection as
//! its reader task owns it.

use super::clocks::millis;
use crate::hub::ConnHandle;
use crate::mailbox::Pushed;
use crate::node::serialize;
use crate::state::AppState;
use app::backend::store::{Actor, Applied, Moderation, NewMessage, NewUpdate, Posted, UpdateChange};
use app::backend::{Access, BackendError, RoomEvent, Services};
use app::protocol::{ClientFrame, ErrorCode, LogEntry, Me, RoomId, Seq, ServerFrame};
use app::validate::{ClientMessageId, Emoji, Invalid, MessageBody};
use futures::future::BoxFuture;
use std::collections::HashSet;

/// Most messages one catch-up frame carries; the client asks again for the rest.
pub const CATCH_UP_LIMIT: u32 = 500;
/// A catch-up frame stops short of this many bytes (with `more`), however
/// many messages that is: 500 long messages would make an 8 MiB frame, and
/// the socket's write buffer keeps the size of the largest frame it sent.
const CATCH_UP_BYTES: usize = 64 * 1024;
/// A send (or edit, deletion, reaction) once committed or refused: its
/// client id and its acknowledgement.
pub(super) type Committed = (String, Result<ServerFrame, BackendError>);

/// One connection's state, owned by its reader task.
pub(super) struct Connection {
    pub(super) state: AppState,
    pub(super) me: Me,
    /// Where the socket was opened from, for the audit log.
    pub(super) address: Option<std::net::IpAddr>,
    pub(super) id: u64,
    /// Cluster-unique name used for presence entries.
    pub(super) presence_id: String,
    pub(super) handle: ConnHandle,
    pub(super) rooms: HashSet<RoomId>,
    /// The mailbox position of the last catch-up (or join) reply: no further
    /// frame is read until the writer has taken it. A client that asks and
    /// asks without reading is then no longer read, and its socket's buffers
    /// fill, instead of the server holding every answer for it.
    pub(super) awaiting_reply: Option<u64>,
    /// Rooms followed for the sidebar only (`watch`): their frames arrive,
    /// with no presence here. The hub delivers a room to this connection
    /// while it is in `rooms` or here.
    pub(super) watched: HashSet<RoomId>,
    pub(super) typing_budget: super::budget::Budget,
    pub(super) read_budget: super::budget::Budget,
    pub(super) watch_budget: super::budget::Budget,
}

impl Connection {
    fn services(&self) -> &Services {
        &self.state.services
    }

    /// Queues a frame for this connection only.
    pub(super) fn reply(&self, frame: ServerFrame) {
        // A full mailbox signals `overflowed` itself.
        let _: Pushed = self.handle.mailbox.push(serialize(&frame));
    }

    /// Queues a large reply (a catch-up) and reads no further frame until
    /// the writer has taken it (see [`Connection::awaiting_reply`]).
    fn reply_and_wait(&mut self, frame: ServerFrame) {
        // None: not queued (full or closing); the connection is on its way out.
        self.awaiting_reply = self.handle.mailbox.push_reply(serialize(&frame));
    }

    /// Whether the last awaited reply has been taken by the writer.
    pub(super) fn reply_taken(&mut self) -> bool {
        match self.awaiting_reply {
            Some(position) if !self.handle.mailbox.reply_taken(position) => false,
            _ => {
                self.awaiting_reply = None;
                true
            }
        }
    }

    /// Handles one frame; a send comes back as the wait for its commit.
    pub(super) async fn handle_text(&mut self, text: &str) -> Option<BoxFuture<'static, Committed>> {
        let frame = match serde_json::from_str::<ClientFrame>(text) {
            Ok(frame) => frame,
            Err(e) => {
                self.reply(ServerFrame::error(
                    ErrorCode::BadFrame,
                    format!("Unrecognised frame: {e}"),
                    None,
                ));
                return None;
            }
        };
        match frame {
            ClientFrame::Send {
                room,
                client_id,
                body,
                reply_to,
                attachment,
            } => return self.send(room, client_id, body, reply_to, attachment).await,
            ClientFrame::Edit {
                room,
                client_id,
                message,
                body,
            } => {
                let change = MessageBody::parse(&body).map(UpdateChange::Edit);
                return self.update(room, client_id, message, change).await;
            }
            ClientFrame::Delete {
                room,
                client_id,
                message,
            } => return self.update(room, client_id, message, Ok(UpdateChange::Delete)).await,
            ClientFrame::React {
                room,
                client_id,
                message,
                emoji,
                on,
            } => {
                let change = Emoji::parse(&emoji).map(|e| match on {
                    true => UpdateChange::React(e),
                    false => UpdateChange::Unreact(e),
                });
                return self.update(room, client_id, message, change).await;
            }
            ClientFrame::Join { room, since } => self.join(room, since).await,
            ClientFrame::Leave { room } => self.leave(room).await,
            ClientFrame::CatchUp { room, since } => self.catch_up(room, since).await,
            ClientFrame::Typing { room, on } => self.typing(room, on).await,
            ClientFrame::Watch => self.watch().await,
            ClientFrame::Read { room, seq } => self.read(room, seq).await,
        }
        None
    }

    /// `join`: subscribes to the room (or, joined already, checks access
    /// again), then answers `Joined` with who is online and a `CatchUp` with
    /// what the client missed since `since`.
    ///
    /// After the access check and the subscription, the four things a join
    /// needs from storage and Redis — recording the opening, the room's last
    /// sequence, this socket's presence entry and the backlog — are asked at
    /// once, not one round trip after another on the reader task.
    pub(super) async fn join(&mut self, room: RoomId, since: Seq) {
        let newly = !self.rooms.contains(&room);
        if newly {
            if !self.subscribe(room).await {
                return;
            }
        } else if !self.still_allowed(room, Access::Read, None).await {
            // Joined already: this is a catch-up, checked as one.
            return;
        }
        let services = &self.state.services;
        let user = self.me.id;
        let record_opening = async {
            if newly && let Err(e) = services.access.opened(user, room).await {
                // Only the record of the opening is lost; it is made again next time.
                tracing::warn!(%room, error = %e, "could not record that the room was opened");
            }
        };
        // Read after subscribing: anything up to here reaches the client
        // through the catch-up, anything later live.
        let last_seq = async {
            match newly.then_some(services.store.last_seq(room)) {
                Some(read) => read.await,
                None => Ok(None),
            }
        };
        let touch = async {
            let ttl = self.presence_ttl_ms();
            if let Err(e) = services
                .presence
                .touch(room, &self.presence_id, &self.me.username, ttl)
                .await
            {
                tracing::warn!(%room, error = %e, "presence update failed");
            }
        };
        let ((), last_seq, (), backlog) =
            tokio::join!(record_opening, last_seq, touch, self.read_catch_up(room, since));
        match last_seq {
            Ok(Some(last_seq)) => self.state.node.ledger.track(room, last_seq),
            Ok(None) => {}
            // Untracked, the room is not de-duplicated until the repair loop tracks it.
            Err(e) => tracing::warn!(%room, error = %e, "could not read the room's last sequence"),
        }
        self.state
            .node
            .joined(room, &self.me.username, |mut online| {
                // Whoever just joined is online, even before the refresh that announces it.
                if let Err(at) = online.binary_search(&self.me.username) {
                    online.insert(at, self.me.username.clone());
                }
                self.reply(ServerFrame::Joined { room, online })
            })
            .await;
        self.reply_catch_up(backlog);
        self.state.node.presence_changed(room).await;
    }

    /// `catch_up`: the messages after `since` in a room this socket joined.
    pub(super) async fn catch_up(&mut self, room: RoomId, since: Seq) {
        if !self.rooms.contains(&room) {
            self.reply(not_joined(None));
        } else if self.still_allowed(room, Access::Read, None).await {
            let backlog = self.read_catch_up(room, since).await;
            self.reply_catch_up(backlog);
        }
    }

    /// Checks that the user may see `room` and subscribes this connection
    /// to it; false (and the client told why) if not.
    async fn subscribe(&mut self, room: RoomId) -> bool {
        // A removal landing between the check and the subscription makes the
        // hub refuse the subscription; the check is then made again.
        for _ in 0..3 {
            let kicks = self.state.node.hub.kicks();
            if let Err(e) = self.services().access.require(self.me.id, room, Access::Read).await {
                self.reply(api_error(e, None));
                return false;
            }
            // Subscribe before reading the backlog: a message committed in between
            // arrives twice (the client de-duplicates by sequence), never zero times.
            if self
                .state
                .node
                .hub
                .join_unless_kicked(room, self.id, self.handle.clone(), kicks)
            {
                self.rooms.insert(room);
                return true;
            }
        }
        self.reply(ServerFrame::error(
            ErrorCode::Unavailable,
            "Could not join the room just now; try again.",
            None,
        ));
        false
    }

    /// The catch-up frame for `room` after `since`: at most
    /// [`CATCH_UP_LIMIT`] messages and about [`CATCH_UP_BYTES`], with `more`
    /// set when the client should ask again.
    async fn read_catch_up(&self, room: RoomId, since: Seq) -> Result<ServerFrame, BackendError> {
        let events = self
            .services()
            .store
            .events_after(room, since.max(0), CATCH_UP_LIMIT)
            .await?;
        let mut more = events.len() == CATCH_UP_LIMIT as usize;
        let fits = fitting(&events, CATCH_UP_BYTES);
        if fits < events.len() {
            more = true;
        }
        let events = events
            .into_iter()
            .take(fits)
            .filter_map(|event| match event {
                RoomEvent::Posted(message) => Some(LogEntry::Posted(message)),
                RoomEvent::Updated(update) => Some(LogEntry::Updated(update)),
                // Not logged: never read from the log.
                RoomEvent::MemberRemoved { .. } | RoomEvent::AccessChanged { .. } => None,
            })
            .collect();
        Ok(ServerFrame::CatchUp { room, events, more })
    }

    fn reply_catch_up(&mut self, backlog: Result<ServerFrame, BackendError>) {
        match backlog {
            Ok(frame) => self.reply_and_wait(frame),
            Err(e) => self.reply(api_error(e, None)),
        }
    }

    /// `leave`: unsubscribes and drops this socket's presence in the room.
    pub(super) async fn leave(&mut self, room: RoomId) {
        if self.rooms.remove(&room) {
            // A room the sidebar follows stays subscribed.
            if !self.watched.contains(&room) {
                self.unsubscribe(room);
            }
            if let Err(e) = self
                .services()
                .presence
                .remove(room, &self.presence_id, &self.me.username)
                .await
            {
                tracing::warn!(%room, error = %e, "presence removal failed");
            }
            self.state.node.presence_changed(room).await;
        }
    }

    /// Checked on every frame that reads or writes a room: membership of a
    /// private room can end while the socket is open. If it did, the
    /// connection leaves the room and is told so.
    async fn still_allowed(&mut self, room: RoomId, need: Access, client_id: Option<&str>) -> bool {
        match self.services().access.require(self.me.id, room, need).await {
            Ok(_) => true,
            Err(BackendError::RoomNotFound) => {
                self.leave(room).await;
                self.reply(no_access(client_id.map(str::to_owned)));
                false
            }
            Err(e) => {
                self.reply(api_error(e, client_id.map(str::to_owned)));
                false
            }
        }
    }

    /// Stops the hub delivering `room` here.
    fn unsubscribe(&self, room: RoomId) {
        if !self.state.node.hub.leave(room, self.id) {
            self.state.node.ledger.forget(room);
        }
    }

    /// The user was removed from `room` (the hub already stopped delivering it).
    pub(super) async fn lose_access(&mut self, room: RoomId) {
        // A followed room just stops coming; the open one is told.
        self.watched.remove(&room);
        if self.rooms.contains(&room) {
            self.leave(room).await;
            self.reply(no_access(None));
        }
    }

    pub(super) async fn leave_all(&mut self) {
        for room in std::mem::take(&mut self.watched) {
            if !self.rooms.contains(&room) {
                self.unsubscribe(room);
            }
        }
        for room in self.rooms.clone() {
            self.leave(room).await;
        }
    }

    /// `watch`: follows the rooms of the user's sidebar (those they opened,
    /// and the private rooms and conversations they are in; the query checks
    /// their access to each): new messages and changes in them, and the
    /// user's own read markers, arrive as in a joined room, with no presence
    /// and no catch-up. Asked again (after a room joins the sidebar), it
    /// follows what is new there.
    pub(super) async fn watch(&mut self) {
        // Within the connection's [`super::budget::WATCHES`]: each is a query.
        if !self.watch_budget.take(tokio::time::Instant::now()) {
            return;
        }
        for _ in 0..3 {
            let kicks = self.state.node.hub.kicks();
            let rooms = match self.services().store.sidebar_rooms(self.me.id).await {
                Ok(rooms) => rooms,
                Err(e) => {
                    self.reply(api_error(e, None));
                    return;
                }
            };
            let new: Vec<RoomId> = rooms
                .into_iter()
                .filter(|room| !self.watched.contains(room) && !self.rooms.contains(room))
                .collect();
            // As in `subscribe`: a removal between the query and here makes
            // the hub refuse, and the query is made again.
            if self
                .state
                .node
                .hub
                .join_all_unless_kicked(&new, self.id, &self.handle, kicks)
            {
                self.watched.extend(new);
                return;
            }
        }
        self.reply(ServerFrame::error(
            ErrorCode::Unavailable,
            "Could not follow your rooms just now; reload to try again.",
            None,
        ));
    }

    /// `read`: moves the user's read marker in a joined or followed room
    /// forward to `seq` (never back, never past the room's end), and tells
    /// their sockets in that room, on every node. Checked like any frame
    /// that reads the room, within the connection's
    /// [`super::budget::READ_MARKERS`].
    pub(super) async fn read(&mut self, room: RoomId, seq: Seq) {
        if !self.rooms.contains(&room) && !self.watched.contains(&room) {
            self.reply(not_joined(None));
            return;
        }
        if !self.read_budget.take(tokio::time::Instant::now()) {
            return;
        }
        if !self.still_allowed(room, Access::Read, None).await {
            return;
        }
        match self.services().store.mark_read(self.me.id, room, seq).await {
            Ok(true) => self.state.node.read_moved(room, self.me.id, seq).await,
            Ok(false) => {}
            // Only this move is lost: the next one carries it.
            Err(e) => tracing::warn!(%room, error = %e, "could not move a read marker"),
        }
    }

    fn presence_ttl_ms(&self) -> i64 {
        millis(self.state.config.timings.presence_ttl)
    }

    pub(super) async fn refresh_presence(&self) {
        let presence = &self.services().presence;
        if let Err(e) = presence
            .refresh_socket(self.me.id, &self.presence_id, self.presence_ttl_ms())
            .await
        {
            tracing::warn!(error = %e, "socket slot refresh failed");
        }
        for &room in &self.rooms {
            if let Err(e) = self
                .services()
                .presence
                .touch(room, &self.presence_id, &self.me.username, self.presence_ttl_ms())
                .await
            {
                tracing::warn!(%room, error = %e, "presence refresh failed");
            }
        }
    }

    /// What every frame that writes to a room checks first: a valid client
    /// id, a room this socket joined, access to it now (at least `Post`),
    /// and the sender's share of the shared rate limit. Returns the client
    /// id and the access, or `None` (the client told why).
    async fn may_write(&mut self, room: RoomId, client_id: &str) -> Option<(ClientMessageId, Access)> {
        let client_id = match ClientMessageId::parse(client_id) {
            Ok(id) => id,
            Err(e) => {
                self.reply(ServerFrame::error(ErrorCode::Invalid, e.0, None));
                return None;
            }
        };
        // The author is this connection's user and the room one it joined:
        // nothing in the frame can write as someone else or elsewhere.
        if !self.rooms.contains(&room) {
            self.reply(not_joined(Some(client_id.into_inner())));
            return None;
        }
        let access = match self.services().access.require(self.me.id, room, Access::Post).await {
            Ok(access) => access,
            Err(e) => {
                if matches!(e, BackendError::RoomNotFound) {
                    self.leave(room).await;
                    self.reply(no_access(Some(client_id.into_inner())));
                } else {
                    self.reply(api_error(e, Some(client_id.into_inner())));
                }
                return None;
            }
        };
        let limited = self
            .services()
            .limiter
            .enforce(
                &format!("msg:{}", self.me.id.0),
                self.services().limits.messages,
                "You are sending messages too fast",
            )
            .await;
        if let Err(e) = limited {
            self.reply(api_error(e, Some(client_id.into_inner())));
            return None;
        }
        Some((client_id, access))
    }

    /// `send`: checks and queues a message; what comes back resolves once
    /// it is committed, for [`Connection::finish_send`]. The connection keeps
    /// reading meanwhile, so one sender can have several messages in flight
    /// (up to the reader's `SENDS_IN_FLIGHT`); they commit, and are
    /// acknowledged, in order.
    async fn send(
        &mut self,
        room: RoomId,
        client_id: String,
        body: String,
        reply_to: Option<i64>,
        attachment: Option<String>,
    ) -> Option<BoxFuture<'static, Committed>> {
        // The body is checked before the rate limit: a refused one costs
        // nothing. A file may go without words.
        let parsed = match attachment {
            Some(_) => MessageBody::parse_caption(&body),
            None => MessageBody::parse(&body),
        };
        let body = match parsed {
            Ok(body) => body,
            Err(e) => return self.refuse_input(&client_id, e),
        };
        let (client_id, _) = self.may_write(room, &client_id).await?;
        let new = NewMessage {
            room,
            author: self.me.clone(),
            client_id: client_id.clone(),
            body,
            reply_to,
            attachment,
        };
        let queued = self.services().writer.submit(new).await;
        self.await_commit(client_id, queued, |posted: Posted| {
            let m = posted.message;
            ServerFrame::Ack {
                room: m.room,
                client_id: m.client_id,
                id: m.id,
                seq: m.seq,
                created_at: m.created_at,
            }
        })
    }

    /// Answers a frame whose input was refused (naming its client id, if
    /// that at least is valid).
    fn refuse_input(&self, client_id: &str, e: Invalid) -> Option<BoxFuture<'static, Committed>> {
        let client_id = ClientMessageId::parse(client_id).ok().map(ClientMessageId::into_inner);
        self.reply(ServerFrame::error(ErrorCode::Invalid, e.0, client_id));
        None
    }

    /// The wait for a write the writer queued (`queued`), resolving to its
    /// acknowledgement (made by `ack`); `None`, and the client told, if it
    /// could not be queued.
    fn await_commit<T: 'static>(
        &self,
        client_id: ClientMessageId,
        queued: Result<impl Future<Output = Result<T, BackendError>> + Send + 'static, BackendError>,
        ack: impl FnOnce(T) -> ServerFrame + Send + 'static,
    ) -> Option<BoxFuture<'static, Committed>> {
        let client_id = client_id.into_inner();
        match queued {
            Ok(committed) => Some(Box::pin(async move { (client_id, committed.await.map(ack)) })),
            Err(e) => {
                self.reply(api_error(e, Some(client_id)));
                None
            }
        }
    }

    /// `edit`, `delete` and `react`: checks and queues a change to a message
    /// (`change` is the frame's input, validated); resolves, like a send,
    /// once it is committed. Whether the user may change that message is
    /// decided at commit, under the room's lock (see `Store::apply_update`).
    async fn update(
        &mut self,
        room: RoomId,
        client_id: String,
        message: i64,
        change: Result<UpdateChange, Invalid>,
    ) -> Option<BoxFuture<'static, Committed>> {
        let change = match change {
            Ok(change) => change,
            Err(e) => return self.refuse_input(&client_id, e),
        };
        let (client_id, access) = self.may_write(room, &client_id).await?;
        // Only a deletion acts on others' messages; whether this user may is
        // asked (site role included) only then.
        let moderation = match change {
            UpdateChange::Delete => match self.services().access.moderates(self.me.id, room, access).await {
                Ok(true) => {
                    let address = self.address.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
                    Moderation::Audited(Actor::person(&self.me, address))
                }
                Ok(false) => Moderation::No,
                Err(e) => {
                    self.reply(api_error(e, Some(client_id.into_inner())));
                    return None;
                }
            },
            _ => Moderation::No,
        };
        let new = NewUpdate {
            room,
            by: self.me.clone(),
            client_id: client_id.clone(),
            message,
            change,
            moderation,
        };
        let queued = self.services().writer.submit_update(new).await;
        let unchanged_id = client_id.as_str().to_owned();
        self.await_commit(client_id, queued, move |applied: Applied| match applied.update {
            Some(u) => ServerFrame::Ack {
                room: u.room,
                client_id: u.client_id,
                id: u.id,
                seq: u.seq,
                created_at: u.at,
            },
            // Nothing changed (see `Applied::update`): acknowledged, unlogged.
            None => ServerFrame::Ack {
                room,
                client_id: unchanged_id,
                id: 0,
                seq: 0,
                created_at: 0,
            },
        })
    }

    /// `typing`: tells the room's members, on every node, that this user is
    /// typing (or stopped). Never stored, never replayed, not a room event: a
    /// notice lost on the way costs an indicator that expires by itself.
    /// Checked as a send is, but quietly: a joined room (told otherwise),
    /// access to post now (the muted are not shown typing; who lost the
    /// room is told), and this connection's [`super::budget::Budget`].
    pub(super) async fn typing(&mut self, room: RoomId, on: bool) {
        if !self.rooms.contains(&room) {
            self.reply(not_joined(None));
            return;
        }
        if !self.typing_budget.take(tokio::time::Instant::now()) {
            return;
        }
        match self.state.services.access.require(self.me.id, room, Access::Post).await {
            Ok(_) => {}
            Err(BackendError::RoomNotFound) => {
                self.leave(room).await;
                self.reply(no_access(None));
                return;
            }
            Err(_) => return,
        }
        let frame = ServerFrame::Typing {
            room,
            username: self.me.username.clone(),
            on,
        };
        self.state.node.typing(room, serialize(&frame)).await;
    }

    /// Acknowledges a committed send (only now is the sender told "sent"),
    /// or tells the sender why it failed. (The writer published it already.)
    pub(super) fn finish_send(&self, client_id: String, outcome: Result<ServerFrame, BackendError>) {
        match outcome {
            Ok(ack) => self.reply(ack),
            Err(e) => self.reply(api_error(e, Some(client_id))),
        }
    }
}

/// How many of `events`, from the first, fit in a frame of `budget` bytes
/// (at least one, so a catch-up always moves on). Estimated from the text's
/// lengths: JSON at most doubles a text (quotes and backslashes are the only
/// characters it escapes that a message may hold), plus the fixed fields.
fn fitting(events: &[RoomEvent], budget: usize) -> usize {
    let mut used = 0;
    let fit = events
        .iter()
        .take_while(|event| {
            // `size` counts the text once; JSON may double it.
            let text = match event {
                RoomEvent::Posted(m) => m.body.len(),
                RoomEvent::Updated(u) => match &u.change {
                    app::protocol::Change::Edited { body } => body.len(),
                    _ => 0,
                },
                _ => 0,
            };
            used += event.size() + text;
            used <= budget
        })
        .count();
    fit.max(1).min(events.len())
}

fn no_access(client_id: Option<String>) -> ServerFrame {
    ServerFrame::error(
        ErrorCode::NotFound,
        "You no longer have access to this room.",
        client_id,
    )
}

fn not_joined(client_id: Option<String>) -> ServerFrame {
    ServerFrame::error(ErrorCode::Invalid, "Join the room before sending to it.", client_id)
}

fn api_error(e: BackendError, client_id: Option<String>) -> ServerFrame {
    let api = e.to_api();
    ServerFrame::error(api.code, api.message, client_id)
}
