//! The reader task: frames in, one at a time (each handed to its handler in
//! [`super::frames`]), the connection's sends in flight, its clocks and its
//! alerts; and, once it stops, the connection's orderly end.

use super::clocks::{Clocks, millis};
use super::frames::{Committed, Connection};
use crate::hub::{CONNECTION_QUEUE, CONNECTION_QUEUE_BYTES, ConnHandle};
use crate::mailbox::Mailbox;
use crate::state::AppState;
use app::protocol::{CLOSE_SESSION_ENDED, ErrorCode, Me, ServerFrame};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, close_code};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesOrdered;
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::task::Poll;

/// Sends one connection may have waiting for their commit at once; beyond
/// this it reads no more frames until the oldest is acknowledged.
pub(super) const SENDS_IN_FLIGHT: usize = 16;
/// A connection's sends that are queued for commit: each resolves to its
/// client id and outcome. Acks and publishes happen as they are taken out,
/// which is in send order (the set may finish them in any order).
type Sending = FuturesOrdered<BoxFuture<'static, Committed>>;

type CloseSender = tokio::sync::oneshot::Sender<CloseFrame>;

/// What the upgrade hands over to the connection.
pub(super) struct Opened {
    pub(super) state: AppState,
    pub(super) me: Me,
    /// Where the socket was opened from.
    address: Option<IpAddr>,
    id: u64,
    presence_id: String,
    /// This node's count of the user's sockets; released on drop.
    slot: crate::node::SocketSlot,
    pub(super) mailbox: Arc<Mailbox>,
    /// The socket's session, watched until the connection ends.
    session: crate::sessions::Watching,
}

impl Opened {
    /// Takes one of the user's socket slots (on this node, then across the
    /// cluster) and starts watching the session; the response to send
    /// instead when the user has every slot taken.
    pub(super) async fn claim(
        state: AppState,
        me: Me,
        token: String,
        address: Option<IpAddr>,
    ) -> Result<Box<Self>, Response> {
        let cap = state.services.limits.sockets_per_user;
        let too_many = || {
            let message = format!("You already have {cap} connections open; close a tab and try again.");
            (StatusCode::TOO_MANY_REQUESTS, message).into_response()
        };
        let Some(slot) = state.node.open_socket(me.id, cap) else {
            return Err(too_many());
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
            Ok(false) => return Err(too_many()),
            // Redis down: the node's own cap still holds; an outage must not lock everyone out.
            Err(e) => tracing::warn!(error = %e, "cluster-wide socket cap unavailable; node cap only"),
        }
        let mailbox = Arc::new(Mailbox::new(CONNECTION_QUEUE, CONNECTION_QUEUE_BYTES));
        // Watched from here: if the upgrade never completes, dropping `opened` ends the watch.
        let session = state.node.sessions.watch(token, id, mailbox.clone());
        Ok(Box::new(Opened {
            state,
            me,
            address,
            id,
            presence_id,
            slot,
            mailbox,
            session,
        }))
    }
}

// The reader and the writer are plain functions returning `async move`
// blocks, not `async fn`s: an `async fn` keeps a second copy of each of its
// arguments for its whole life, and these futures live as long as the socket.
// (Hence `clippy::manual_async_fn` allowed on them.)

/// The reader: frames in, one at a time, and the connection's clocks.
#[allow(clippy::manual_async_fn)]
pub(super) fn serve<S>(
    mut stream: S,
    opened: Box<Opened>,
    mut writer: tokio::task::JoinHandle<()>,
    close_tx: CloseSender,
) -> impl Future<Output = ()> + Send + 'static
where
    S: futures::Stream<Item = Result<Message, axum::Error>> + Unpin + Send + 'static,
{
    async move {
        let Opened {
            state,
            me,
            address,
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
            address,
            id,
            handle: ConnHandle { mailbox, user },
            rooms: HashSet::new(),
            awaiting_reply: None,
            watched: HashSet::new(),
            typing_budget: super::budget::Budget::new(tokio::time::Instant::now(), super::budget::TYPING_NOTICES),
            read_budget: super::budget::Budget::new(tokio::time::Instant::now(), super::budget::READ_MARKERS),
            watch_budget: super::budget::Budget::new(tokio::time::Instant::now(), super::budget::WATCHES),
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
