//! `/ws`: the upgrade (Origin and session checked before it happens) and the
//! per-connection loop.
//!
//! Each connection is a reader (its own task: frames in, one at a time, and
//! the connection's clocks) and a writer task that drains the connection's
//! bounded mailbox into the socket, coalescing whatever is queued into one
//! flush, and sends the heartbeat pings the reader's clock asks for.

use crate::config::Timings;
use crate::hub::{CONNECTION_QUEUE, CONNECTION_QUEUE_BYTES, ConnHandle};
use crate::mailbox::{Mailbox, Pushed};
use crate::node::serialize;
use crate::state::AppState;
use app::backend::store::NewMessage;
use app::backend::store::Posted;
use app::backend::{Access, BackendError, Services};
use app::protocol::{CLOSE_SESSION_ENDED, ClientFrame, ErrorCode, Me, RoomId, Seq, ServerFrame};
use app::validate::{ClientMessageId, MessageBody};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use futures::stream::FuturesOrdered;
use futures::{SinkExt, StreamExt};
use std::collections::HashSet;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

/// Largest frame or message accepted from a client.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Per-connection read buffer, allocated up front: the 128 KiB default would
/// dominate an idle socket's memory. Most chat frames are under 256 bytes;
/// for a larger one the codec reserves exactly its length once the header
/// says it, so this costs no extra reads.
const READ_BUFFER_BYTES: usize = 256;
/// Most messages one catch-up frame carries; the client asks again for the rest.
pub const CATCH_UP_LIMIT: u32 = 500;
/// A catch-up frame stops short of this many bytes (with `more`), however
/// many messages that is: 500 long messages would make an 8 MiB frame, and
/// the socket's write buffer keeps the size of the largest frame it sent.
const CATCH_UP_BYTES: usize = 64 * 1024;
/// Sends one connection may have waiting for their commit at once; beyond
/// this it reads no more frames until the oldest is acknowledged.
const SENDS_IN_FLIGHT: usize = 16;
/// A connection's sends that are queued for commit: each resolves to its
/// client id and outcome. Acks and publishes happen as they are taken out,
/// which is in send order (the set may finish them in any order).
type Sending = FuturesOrdered<BoxFuture<'static, Committed>>;
type Committed = (String, Result<Posted, BackendError>);

pub async fn upgrade(State(state): State<AppState>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    if !crate::origin::origin_allowed(&headers, &state.config.allowed_origins) {
        return (StatusCode::FORBIDDEN, "This origin may not open a Natter socket.").into_response();
    }
    if state.shutting_down() {
        return (StatusCode::SERVICE_UNAVAILABLE, "The server is shutting down.").into_response();
    }
    let Some(token) = state.services.accounts.token_from_headers(&headers) else {
        return (StatusCode::UNAUTHORIZED, "Log in to open a socket.").into_response();
    };
    let me = match state.services.accounts.authenticate(&headers).await {
        Ok(me) => me,
        Err(BackendError::Unauthorized) => {
            return (StatusCode::UNAUTHORIZED, "Log in to open a socket.").into_response();
        }
        Err(e) => {
            tracing::error!(error = %e, "session lookup failed at upgrade");
            return (StatusCode::SERVICE_UNAVAILABLE, "Try again in a moment.").into_response();
        }
    };
    let cap = state.services.limits.sockets_per_user;
    let too_many = || {
        let message = format!("You already have {cap} connections open; close a tab and try again.");
        (StatusCode::TOO_MANY_REQUESTS, message).into_response()
    };
    let Some(slot) = state.node.open_socket(me.id, cap) else {
        return too_many();
    };
    let id = state.node.next_conn_id();
    let presence_id = format!("{}:{id}", state.node.id);
    let ttl_ms = millis(state.config.timings.presence_ttl);
    // The node's count above is exact for this node; this one spans the
    // cluster. (If the upgrade never completes, the entry lapses with its TTL.)
    match state
        .services
        .presence
        .claim_socket(me.id, &presence_id, cap, ttl_ms)
        .await
    {
        Ok(true) => {}
        Ok(false) => return too_many(),
        // Redis down: the node's own cap still holds; an outage must not lock everyone out.
        Err(e) => tracing::warn!(error = %e, "cluster-wide socket cap unavailable; node cap only"),
    }
    let mailbox = Arc::new(Mailbox::new(CONNECTION_QUEUE, CONNECTION_QUEUE_BYTES));
    // Watched from here: if the upgrade never completes, dropping `opened` ends the watch.
    let session = state.node.sessions.watch(token, id, mailbox.clone());
    let opened = Box::new(Opened {
        state,
        me,
        id,
        presence_id,
        slot,
        mailbox,
        session,
    });
    ws.read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| {
            // Tasks of our own rather than axum's: its task would also keep
            // this closure and the upgrade's state for the socket's whole life.
            let (sink, stream) = socket.split();
            let (close_tx, close_rx) = tokio::sync::oneshot::channel::<CloseFrame>();
            let write_timeout = opened.state.config.timings.write_timeout;
            let writer = tokio::spawn(write_loop(sink, opened.mailbox.clone(), close_rx, write_timeout));
            tokio::spawn(serve(stream, opened, writer, close_tx));
            std::future::ready(())
        })
}

/// What the upgrade hands over to the connection.
struct Opened {
    state: AppState,
    me: Me,
    id: u64,
    presence_id: String,
    /// This node's count of the user's sockets; released on drop.
    slot: crate::node::SocketSlot,
    mailbox: Arc<Mailbox>,
    /// The socket's session, watched until the connection ends.
    session: crate::sessions::Watching,
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// One connection's state, owned by its reader task.
struct Connection {
    state: AppState,
    me: Me,
    id: u64,
    /// Cluster-unique name used for presence entries.
    presence_id: String,
    handle: ConnHandle,
    rooms: HashSet<RoomId>,
    /// The mailbox position of the last catch-up (or join) reply: no further
    /// frame is read until the writer has taken it. A client that asks and
    /// asks without reading is then no longer read, and its socket's buffers
    /// fill, instead of the server holding every answer for it.
    awaiting_reply: Option<u64>,
}

type Stream = futures::stream::SplitStream<WebSocket>;
type CloseSender = tokio::sync::oneshot::Sender<CloseFrame>;

// The reader and the writer are plain functions returning `async move`
// blocks, not `async fn`s: an `async fn` keeps a second copy of each of its
// arguments for its whole life, and these futures live as long as the socket.
// (Hence `clippy::manual_async_fn` allowed on them.)

/// The reader: frames in, one at a time, and the connection's clocks.
#[allow(clippy::manual_async_fn)]
fn serve(
    mut stream: Stream,
    opened: Box<Opened>,
    mut writer: tokio::task::JoinHandle<()>,
    close_tx: CloseSender,
) -> impl Future<Output = ()> + Send + 'static {
    async move {
        let Opened {
            state,
            me,
            id,
            presence_id,
            slot,
            mailbox,
            session,
        } = *opened;
        let user = me.id;
        let mut conn = Connection {
            presence_id,
            state,
            me,
            id,
            handle: ConnHandle { mailbox, user },
            rooms: HashSet::new(),
            awaiting_reply: None,
        };
        // The node alerts every watched socket when it starts shutting down;
        // one that registered just after that sees the flag here instead.
        if conn.state.shutting_down() {
            conn.handle.mailbox.shut_down();
        }
        // One timer for the socket's three clocks (pings, presence refresh,
        // the idle deadline), re-armed only when it fires: no timer work per
        // frame, and one timer entry per idle socket instead of three.
        let mut clocks = Clocks::new(tokio::time::Instant::now(), &conn.state.config.timings);
        let timer = tokio::time::sleep_until(clocks.next(&conn.state.config.timings));
        tokio::pin!(timer);
        let mut writer_done = false;
        // Made on the first send, and boxed: an idle socket pays 8 bytes for it.
        let mut sending: Option<Box<Sending>> = None;

        let close = loop {
            let may_read = sending.as_ref().is_none_or(|s| s.len() < SENDS_IN_FLIGHT) && conn.reply_taken();
            tokio::select! {
                incoming = stream.next(), if may_read => {
                    clocks.heard(tokio::time::Instant::now());
                    match incoming {
                        Some(Err(e)) => break read_error_close(&e),
                        None | Some(Ok(Message::Close(_))) => break None,
                        // Boxed, here and below: the connection's task is as large as
                        // its largest await point, and 10,000 idle sockets should not
                        // each hold room for a database round trip they are not making.
                        Some(Ok(Message::Text(text))) => {
                            if let Some(send) = Box::pin(conn.handle_text(text.as_str())).await {
                                sending.get_or_insert_with(Box::default).push_back(send);
                            }
                        }
                        Some(Ok(Message::Binary(_))) => conn.reply(ServerFrame::error(
                            ErrorCode::BadFrame, "Frames must be JSON text.", None)),
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    }
                },
                (client_id, outcome) = next_sent(&mut sending) => {
                    // Waiting on its own sends is not idleness.
                    clocks.heard(tokio::time::Instant::now());
                    conn.finish_send(client_id, outcome)
                }
                () = &mut timer => {
                    let timings = &conn.state.config.timings;
                    let due = clocks.due(tokio::time::Instant::now(), timings);
                    if due.idle {
                        break Some(close(close_code::AWAY, "No answer to pings."));
                    }
                    timer.as_mut().reset(clocks.next(timings));
                    if due.ping {
                        conn.handle.mailbox.ping();
                    }
                    if due.refresh {
                        Box::pin(conn.refresh_presence()).await;
                    }
                }
                // Also woken when the reply the reader waits for was taken.
                _ = conn.handle.mailbox.alert.notified() => {
                    let alerts = conn.handle.mailbox.take_alerts();
                    if alerts.shutting_down {
                        break Some(close(close_code::AWAY, "Server is restarting."));
                    }
                    if alerts.session_ended {
                        break Some(close(CLOSE_SESSION_ENDED, "Your session has ended; log in again."));
                    }
                    if alerts.overflowed {
                        // Too slow to keep up: tell it to resync (it reconnects and catches up).
                        break Some(close(close_code::AGAIN, "Too far behind; reconnect and catch up."));
                    }
                    for room in alerts.kicked {
                        Box::pin(conn.lose_access(room)).await;
                    }
                }
                _ = &mut writer => {
                    writer_done = true;
                    break None;
                }
            }
        };
        // Boxed: closing happens once, and inline its state would be part of
        // every idle socket's task for its whole life.
        Box::pin(wind_up(Ending {
            conn,
            sending,
            close,
            close_tx,
            writer: (!writer_done).then_some(writer),
            session,
            slot,
        }))
        .await;
    }
}

/// What a connection still holds once it stops reading.
struct Ending {
    conn: Connection,
    sending: Option<Box<Sending>>,
    close: Option<CloseFrame>,
    close_tx: CloseSender,
    /// The writer, unless it has already finished.
    writer: Option<tokio::task::JoinHandle<()>>,
    session: crate::sessions::Watching,
    slot: crate::node::SocketSlot,
}

async fn wind_up(ending: Ending) {
    let Ending {
        mut conn,
        sending,
        close,
        close_tx,
        writer,
        session,
        slot,
    } = ending;
    // Sends already queued commit whatever happens to the socket; see them
    // through, so each is acknowledged if it still can be and published.
    let write_timeout = conn.state.config.timings.write_timeout;
    if let Some(mut sending) = sending {
        let _ = tokio::time::timeout(write_timeout, async {
            while let Some((client_id, outcome)) = sending.next().await {
                conn.finish_send(client_id, outcome);
            }
        })
        .await;
    }
    Box::pin(conn.leave_all()).await;
    drop(session);
    // Either ends the writer: a close frame to send, or the sender dropped
    // (then the client already closed, or the socket failed).
    match close {
        Some(frame) => {
            let _ = close_tx.send(frame);
        }
        None => drop(close_tx),
    }
    let Connection {
        state, presence_id, me, ..
    } = conn;
    if let Some(writer) = writer {
        let _ = tokio::time::timeout(write_timeout * 2, writer).await;
    }
    // Boxed: a Redis command's future is ~5 KiB.
    if let Err(e) = Box::pin(state.services.presence.release_socket(me.id, &presence_id)).await {
        tracing::warn!(error = %e, "could not release the socket's cluster-wide slot");
    }
    drop(slot);
}

/// A connection's clocks: when to ping, when to refresh its presence, and
/// when silence means the other end is gone. (The periods are read from the
/// config each time rather than copied into every connection.)
struct Clocks {
    next_ping: tokio::time::Instant,
    next_refresh: tokio::time::Instant,
    last_heard: tokio::time::Instant,
}

/// Which clocks [`Clocks::due`] found due.
#[derive(Debug, Default, PartialEq, Eq)]
struct Due {
    ping: bool,
    refresh: bool,
    idle: bool,
}

impl Clocks {
    fn new(now: tokio::time::Instant, timings: &Timings) -> Self {
        Self {
            next_ping: now + timings.ping_every,
            next_refresh: now + timings.presence_refresh,
            last_heard: now,
        }
    }

    /// The other end showed it is alive.
    fn heard(&mut self, now: tokio::time::Instant) {
        self.last_heard = now;
    }

    /// The earliest instant something is due.
    fn next(&self, timings: &Timings) -> tokio::time::Instant {
        self.next_ping
            .min(self.next_refresh)
            .min(self.last_heard + timings.idle_timeout)
    }

    /// What is due at `now`; those that are move on to their next time.
    fn due(&mut self, now: tokio::time::Instant, timings: &Timings) -> Due {
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

/// The oldest in-flight send, once it has finished; never, while there is
/// none (a send pushed later is seen on the loop's next turn). A `poll_fn`
/// rather than an `async fn`, which would hold room for its output.
fn next_sent(sending: &mut Option<Box<Sending>>) -> impl Future<Output = Committed> + '_ {
    std::future::poll_fn(move |cx| match sending.as_mut().map(|s| s.poll_next_unpin(cx)) {
        Some(Poll::Ready(Some(committed))) => Poll::Ready(committed),
        _ => Poll::Pending,
    })
}

/// How to answer a frame that could not be read: an oversize frame gets
/// "message too big" (1009) so the client knows why; anything else (a reset
/// connection, garbage on the wire) just ends the connection.
fn read_error_close(error: &axum::Error) -> Option<CloseFrame> {
    // axum does not expose tungstenite's error kinds; its messages for the
    // size limits are "Space limit exceeded…" and "Message too long…".
    let text = error.to_string();
    (text.contains("Space limit exceeded") || text.contains("too long"))
        .then(|| close(close_code::SIZE, "Frames are limited to 64 KiB."))
}

fn close(code: u16, reason: &str) -> CloseFrame {
    CloseFrame {
        code,
        reason: Utf8Bytes::from(reason.to_owned()),
    }
}

/// Bytes of frames fed to the socket before one flush. tungstenite keeps its
/// write buffer at the largest size it ever reached, for the socket's life,
/// so a batch of 64 frames (the limit before) left up to 64 frames' worth
/// (16 KiB of 250-byte messages) in every socket that once fell behind. A
/// batch stops once it passes this; a bigger frame still goes out whole.
const WRITE_BATCH_BYTES: usize = 1024;

/// The writer: drains the mailbox into the socket until the reader closes
/// it or a write fails.
#[allow(clippy::manual_async_fn)]
fn write_loop<S>(
    mut sink: S,
    mailbox: Arc<Mailbox>,
    mut close_rx: tokio::sync::oneshot::Receiver<CloseFrame>,
    write_timeout: Duration,
) -> impl Future<Output = ()> + Send + 'static
where
    // Generic so that a test can watch what the writer sends.
    S: futures::Sink<Message, Error = axum::Error> + Unpin + Send + 'static,
{
    async move {
        loop {
            // First: when the reader ends it sends the close frame (or drops
            // the sender); frames may be queued too, and the close must win.
            let closing = tokio::select! {
                biased;
                frame = &mut close_rx => Some(frame),
                _ = mailbox.ready.notified() => None,
            };
            if let Some(frame) = closing {
                if let Ok(frame) = frame {
                    // Boxed: closing happens once, and inline its state would
                    // be part of every idle writer.
                    let _ = Box::pin(tokio::time::timeout(
                        write_timeout,
                        send_close(&mut sink, &mailbox, frame),
                    ))
                    .await;
                }
                break;
            }
            // Coalesce: feed what is queued (up to a batch), then flush once.
            // (The timeout arms a timer only if the write has to wait.)
            let sent = tokio::time::timeout(write_timeout, async {
                if mailbox.take_ping() {
                    sink.feed(Message::Ping(Default::default())).await?;
                }
                let mut fed = 0;
                while fed < WRITE_BATCH_BYTES {
                    let Some(frame) = mailbox.pop() else { break };
                    fed += frame.len();
                    sink.feed(Message::Text(frame)).await?;
                }
                if fed >= WRITE_BATCH_BYTES {
                    mailbox.wake_if_pending();
                }
                sink.flush().await
            })
            .await;
            if !matches!(sent, Ok(Ok(()))) {
                if sent.is_err() {
                    tracing::info!("closing a socket that took no writes for {write_timeout:?}");
                }
                break;
            }
        }
        // Whatever ended the writer, nothing queued from now on would be sent.
        mailbox.close();
    }
}

async fn send_close<S>(sink: &mut S, mailbox: &Mailbox, frame: CloseFrame) -> Result<(), axum::Error>
where
    S: futures::Sink<Message, Error = axum::Error> + Unpin,
{
    if frame.code == close_code::AGAIN {
        // A slow consumer: drop its backlog (it catches up after
        // reconnecting) and say why, ahead of the close.
        let notice = ServerFrame::error(ErrorCode::Resync, frame.reason.as_str(), None);
        let _ = sink.feed(Message::Text(serialize(&notice))).await;
    } else {
        // Whatever is still queued goes out before the close.
        for _ in 0..CONNECTION_QUEUE {
            let Some(last) = mailbox.pop() else { break };
            let _ = sink.feed(Message::Text(last)).await;
        }
    }
    sink.send(Message::Close(Some(frame))).await
}

impl Connection {
    fn services(&self) -> &Services {
        &self.state.services
    }

    /// Queues a frame for this connection only.
    fn reply(&self, frame: ServerFrame) {
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
    fn reply_taken(&mut self) -> bool {
        match self.awaiting_reply {
            Some(position) if !self.handle.mailbox.reply_taken(position) => false,
            _ => {
                self.awaiting_reply = None;
                true
            }
        }
    }

    /// Handles one frame; a send comes back as the wait for its commit.
    async fn handle_text(&mut self, text: &str) -> Option<BoxFuture<'static, Committed>> {
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
            ClientFrame::Send { room, client_id, body } => return self.send(room, client_id, body).await,
            ClientFrame::Join { room, since } => self.join(room, since).await,
            ClientFrame::Leave { room } => self.leave(room).await,
            ClientFrame::CatchUp { room, since } => {
                if !self.rooms.contains(&room) {
                    self.reply(not_joined(None));
                } else if self.still_allowed(room, Access::Read, None).await {
                    self.catch_up(room, since).await;
                }
            }
        }
        None
    }

    async fn join(&mut self, room: RoomId, since: Seq) {
        if self.rooms.contains(&room) {
            // Joined already: this is a catch-up, checked as one.
            if !self.still_allowed(room, Access::Read, None).await {
                return;
            }
        } else if !self.subscribe(room).await {
            return;
        }
        if let Err(e) = self
            .services()
            .presence
            .touch(room, &self.presence_id, &self.me.username, self.presence_ttl_ms())
            .await
        {
            tracing::warn!(%room, error = %e, "presence update failed");
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
        self.state.node.presence_changed(room).await;
        self.catch_up(room, since).await;
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
            if !self
                .state
                .node
                .hub
                .join_unless_kicked(room, self.id, self.handle.clone(), kicks)
            {
                continue;
            }
            self.rooms.insert(room);
            if let Err(e) = self.services().access.opened(self.me.id, room).await {
                // Only the record of the opening is lost; it is made again next time.
                tracing::warn!(%room, error = %e, "could not record that the room was opened");
            }
            // Read after subscribing: anything up to here reaches the client
            // through the catch-up, anything later live.
            match self.services().store.last_seq(room).await {
                Ok(Some(last_seq)) => self.state.node.ledger.track(room, last_seq),
                Ok(None) => {}
                // Untracked, the room is not de-duplicated until the repair loop tracks it.
                Err(e) => tracing::warn!(%room, error = %e, "could not read the room's last sequence"),
            }
            return true;
        }
        self.reply(ServerFrame::error(
            ErrorCode::Unavailable,
            "Could not join the room just now; try again.",
            None,
        ));
        false
    }

    async fn catch_up(&mut self, room: RoomId, since: Seq) {
        match self
            .services()
            .store
            .events_after(room, since.max(0), CATCH_UP_LIMIT)
            .await
        {
            Ok(events) => {
                let mut more = events.len() == CATCH_UP_LIMIT as usize;
                // Posted messages are the only logged kind the wire carries yet.
                let mut messages: Vec<_> = events
                    .into_iter()
                    .filter_map(|event| match event {
                        app::backend::RoomEvent::Posted(message) => Some(message),
                        _ => None,
                    })
                    .collect();
                let fits = fitting(&messages, CATCH_UP_BYTES);
                if fits < messages.len() {
                    messages.truncate(fits);
                    more = true;
                }
                self.reply_and_wait(ServerFrame::CatchUp { room, messages, more });
            }
            Err(e) => self.reply(api_error(e, None)),
        }
    }

    async fn leave(&mut self, room: RoomId) {
        if self.rooms.remove(&room) {
            if !self.state.node.hub.leave(room, self.id) {
                self.state.node.ledger.forget(room);
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

    /// The user was removed from `room` (the hub already stopped delivering it).
    async fn lose_access(&mut self, room: RoomId) {
        if self.rooms.contains(&room) {
            self.leave(room).await;
            self.reply(no_access(None));
        }
    }

    async fn leave_all(&mut self) {
        for room in self.rooms.clone() {
            self.leave(room).await;
        }
    }

    fn presence_ttl_ms(&self) -> i64 {
        millis(self.state.config.timings.presence_ttl)
    }

    async fn refresh_presence(&self) {
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

    /// Checks and queues a message; what comes back resolves once it is
    /// committed, for [`Connection::finish_send`]. The connection keeps
    /// reading meanwhile, so one sender can have several messages in flight
    /// (up to [`SENDS_IN_FLIGHT`]); they commit, and are acknowledged, in order.
    async fn send(&mut self, room: RoomId, client_id: String, body: String) -> Option<BoxFuture<'static, Committed>> {
        let client_id = match ClientMessageId::parse(&client_id) {
            Ok(id) => id,
            Err(e) => {
                self.reply(ServerFrame::error(ErrorCode::Invalid, e.0, None));
                return None;
            }
        };
        // The author is this connection's user and the room one it joined:
        // nothing in the frame can post as someone else or elsewhere.
        if !self.rooms.contains(&room) {
            self.reply(not_joined(Some(client_id.into_inner())));
            return None;
        }
        if !self.still_allowed(room, Access::Post, Some(client_id.as_str())).await {
            return None;
        }
        let body = match MessageBody::parse(&body) {
            Ok(body) => body,
            Err(e) => {
                self.reply(ServerFrame::error(
                    ErrorCode::Invalid,
                    e.0,
                    Some(client_id.into_inner()),
                ));
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
        let queued = self
            .services()
            .writer
            .submit(NewMessage {
                room,
                author: self.me.clone(),
                client_id: client_id.as_str().to_owned(),
                body: body.into_inner(),
            })
            .await;
        let committed = match queued {
            Ok(committed) => committed,
            Err(e) => {
                self.reply(api_error(e, Some(client_id.into_inner())));
                return None;
            }
        };
        let client_id = client_id.into_inner();
        Some(Box::pin(async move { (client_id, committed.await) }))
    }

    /// Acknowledges a committed send (only now is the sender told "sent"),
    /// or tells the sender why it failed. (The writer published it already.)
    fn finish_send(&self, client_id: String, outcome: Result<Posted, BackendError>) {
        match outcome {
            Ok(posted) => {
                let m = posted.message;
                self.reply(ServerFrame::Ack {
                    room: m.room,
                    client_id: m.client_id,
                    id: m.id,
                    seq: m.seq,
                    created_at: m.created_at,
                });
            }
            Err(e) => self.reply(api_error(e, Some(client_id))),
        }
    }
}

/// How many of `messages`, from the first, fit in a frame of `budget` bytes
/// (at least one, so a catch-up always moves on). Estimated from the text's
/// lengths: JSON at most doubles a body (quotes and backslashes are the only
/// characters it escapes that a body may hold), plus the fixed fields.
fn fitting(messages: &[app::protocol::ChatMessage], budget: usize) -> usize {
    let mut used = 0;
    let fit = messages
        .iter()
        .take_while(|m| {
            used += 2 * m.body.len() + m.author.len() + m.client_id.len() + 128;
            used <= budget
        })
        .count();
    fit.max(1).min(messages.len())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_backlog_of_several_batches_is_all_sent_on_one_wake_up() {
        let mailbox = Arc::new(Mailbox::new(CONNECTION_QUEUE, CONNECTION_QUEUE_BYTES));
        // Each frame fills a batch on its own; all are queued before the
        // writer first runs, so only one wake-up is stored for them.
        let big = "x".repeat(WRITE_BATCH_BYTES);
        for n in 0..5 {
            assert_eq!(mailbox.push(Utf8Bytes::from(format!("{n}{big}"))), Pushed::Queued);
        }
        let (tx, mut rx) = futures::channel::mpsc::unbounded::<Message>();
        let (_close_tx, close_rx) = tokio::sync::oneshot::channel();
        let writer = tokio::spawn(write_loop(
            tx.sink_map_err(axum::Error::new),
            mailbox,
            close_rx,
            Duration::from_secs(10),
        ));
        for n in 0..5 {
            let frame = tokio::time::timeout(Duration::from_secs(2), rx.next())
                .await
                .unwrap_or_else(|_| panic!("frame {n} was left in the mailbox"));
            match frame {
                Some(Message::Text(text)) => assert!(text.as_str().starts_with(&n.to_string())),
                other => panic!("expected frame {n}, got {other:?}"),
            }
        }
        writer.abort();
    }

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
