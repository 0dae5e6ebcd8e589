//! The browser's WebSocket to `/ws`: one for all the rooms a page visits.
//! It connects, follows the sidebar's rooms, joins the open room asking for
//! what it missed, and reconnects with exponential backoff and jitter when
//! the connection drops. The room pages own the chat state; this module only
//! moves frames and reports the connection's state.
//!
//! Only the browser build opens sockets; the server build renders the page
//! with the initial state and never calls the rest.
#![cfg_attr(not(feature = "hydrate"), allow(dead_code))]

use crate::protocol::{ClientFrame, RoomId, Seq, ServerFrame};
use leptos::prelude::*;

/// What the connection indicator shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnState {
    Connecting,
    Connected,
    /// Waiting `in_secs` before the next attempt.
    Reconnecting {
        in_secs: u32,
    },
    /// Reconnected after having been disconnected ("Back online").
    BackOnline,
}

impl ConnState {
    pub fn label(&self) -> String {
        match self {
            ConnState::Connecting => "Connecting…".into(),
            ConnState::Connected => "Connected".into(),
            ConnState::Reconnecting { in_secs: 0 } => "Reconnecting…".into(),
            ConnState::Reconnecting { in_secs } => format!("Reconnecting in {in_secs} s…"),
            ConnState::BackOnline => "Back online".into(),
        }
    }
    pub fn is_live(&self) -> bool {
        matches!(self, ConnState::Connected | ConnState::BackOnline)
    }
}

/// Delay before reconnect attempt `attempt` (1-based): 0.5 s doubling to a
/// 30 s cap, then scaled by `jitter` in [0.5, 1) so that clients cut off
/// together do not all come back in the same instant.
pub fn backoff_ms(attempt: u32, jitter: f64) -> u32 {
    let base = 500u64
        .saturating_mul(1u64 << attempt.saturating_sub(1).min(16))
        .min(30_000);
    (base as f64 * jitter.clamp(0.5, 1.0)) as u32
}

/// Longest a connection attempt may take to open before it counts as failed.
#[cfg(feature = "hydrate")]
const CONNECT_TIMEOUT_MS: u32 = 15_000;

/// Callbacks the pages give the connection.
pub struct Handlers {
    /// The room open now, if any, and the sequence to resume it from (the
    /// last one the page has): joined on every new connection.
    pub open_room: Box<dyn Fn() -> Option<(RoomId, Seq)>>,
    /// Every frame from the server.
    pub on_frame: Box<dyn Fn(ServerFrame)>,
}

/// A handle for sending frames. Sends while disconnected are dropped: the room
/// page keeps unsent messages as pending and resends them after reconnecting.
#[derive(Clone, Copy)]
pub struct Live {
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    outbox: StoredValue<Option<futures::channel::mpsc::UnboundedSender<ClientFrame>>>,
    pub state: RwSignal<ConnState>,
}

impl Live {
    pub fn send(&self, frame: ClientFrame) {
        self.outbox.with_value(|tx| {
            if let Some(tx) = tx {
                let _ = tx.unbounded_send(frame);
            }
        });
    }
}

#[cfg(not(feature = "hydrate"))]
pub fn connect(_handlers: Handlers) -> Live {
    // The server renders the page; only the browser opens sockets.
    Live {
        outbox: StoredValue::new(None),
        state: RwSignal::new(ConnState::Connecting),
    }
}

#[cfg(feature = "hydrate")]
pub fn connect(handlers: Handlers) -> Live {
    use futures::channel::{mpsc, oneshot};
    let state = RwSignal::new(ConnState::Connecting);
    let (tx, rx) = mpsc::unbounded();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    // Leaving the page ends the connection instead of reconnecting forever.
    on_cleanup(move || {
        let _ = stop_tx.send(());
    });
    leptos::task::spawn_local(run(handlers, state, rx, stop_rx));
    Live {
        outbox: StoredValue::new(Some(tx)),
        state,
    }
}

#[cfg(feature = "hydrate")]
fn socket_url() -> Option<String> {
    let location = web_sys::window()?.location();
    let scheme = if location.protocol().ok()? == "https:" {
        "wss"
    } else {
        "ws"
    };
    Some(format!("{scheme}://{}/ws", location.host().ok()?))
}

#[cfg(feature = "hydrate")]
async fn run(
    handlers: Handlers,
    state: RwSignal<ConnState>,
    mut outbox: futures::channel::mpsc::UnboundedReceiver<ClientFrame>,
    stop: futures::channel::oneshot::Receiver<()>,
) {
    use crate::protocol::CLOSE_SESSION_ENDED;
    use futures::{FutureExt, SinkExt, StreamExt};
    use gloo_net::websocket::{Message, WebSocketError, futures::WebSocket};

    let mut stop = stop.fuse();
    let mut attempt: u32 = 0;
    let mut was_connected = false;
    loop {
        let Some(url) = socket_url() else { return };
        if let Ok(socket) = WebSocket::open(&url) {
            let (mut sink, mut stream) = socket.split();
            // Frames queued while offline are stale: pending messages are resent after joining.
            while outbox.try_recv().is_ok() {}
            // The sidebar's rooms first, then the open one.
            let watch = serde_json::to_string(&ClientFrame::Watch).unwrap_or_default();
            // gloo's sink waits for the socket to open and is never woken if
            // it fails while still connecting (a drop mid-handshake left the
            // page "Connecting…" for good): the stream, which reports the
            // close, and a deadline are watched too.
            let opened = futures::select! {
                _ = stop => return,
                sent = sink.send(Message::Text(watch)).fuse() => sent.is_ok(),
                _ = stream.next().fuse() => false,
                _ = gloo_timers::future::TimeoutFuture::new(CONNECT_TIMEOUT_MS).fuse() => false,
            };
            let mut opened = opened;
            if opened {
                // Up: a room page that opens from now on joins by itself. The
                // one open now (asked in the same turn, so none can open in
                // between unjoined) is joined here, and says so when its
                // `Joined` comes.
                attempt = 0;
                state.try_set(if was_connected {
                    ConnState::BackOnline
                } else {
                    ConnState::Connected
                });
                was_connected = true;
                if let Some((room, since)) = (handlers.open_room)() {
                    let join = serde_json::to_string(&ClientFrame::Join { room, since }).unwrap_or_default();
                    opened = sink.send(Message::Text(join)).await.is_ok();
                }
            }
            loop {
                if !opened {
                    break;
                }
                futures::select! {
                    _ = stop => {
                        let _ = sink.close().await;
                        return;
                    }
                    incoming = stream.next().fuse() => match incoming {
                        Some(Ok(Message::Text(text))) => match serde_json::from_str::<ServerFrame>(&text) {
                            Ok(frame) => (handlers.on_frame)(frame),
                            Err(e) => leptos::logging::warn!("unreadable frame from server: {e}"),
                        },
                        Some(Ok(Message::Bytes(_))) => {}
                        Some(Err(WebSocketError::ConnectionClose(event))) if event.code == CLOSE_SESSION_ENDED => {
                            // Logged out (maybe in another tab): reconnecting cannot help.
                            if let Some(window) = web_sys::window() {
                                let _ = window.location().assign("/login");
                            }
                            return;
                        }
                        Some(Err(_)) | None => break,
                    },
                    frame = outbox.next() => if let Some(frame) = frame {
                        let Ok(text) = serde_json::to_string(&frame) else { continue };
                        if sink.send(Message::Text(text)).await.is_err() {
                            break;
                        }
                    },
                }
            }
        }
        attempt += 1;
        let delay = backoff_ms(attempt, 0.5 + js_sys::Math::random() / 2.0);
        // Count the wait down so the indicator says what is going on.
        let mut left = delay;
        while left > 0 {
            state.try_set(ConnState::Reconnecting {
                in_secs: left.div_ceil(1000),
            });
            let step = left.min(1000);
            futures::select! {
                _ = stop => return,
                _ = gloo_timers::future::TimeoutFuture::new(step).fuse() => {}
            }
            left -= step;
        }
        state.try_set(ConnState::Reconnecting { in_secs: 0 });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_cap_and_keeps_jitter_in_range() {
        assert_eq!(backoff_ms(1, 1.0), 500);
        assert_eq!(backoff_ms(2, 1.0), 1000);
        assert_eq!(backoff_ms(4, 1.0), 4000);
        assert_eq!(backoff_ms(30, 1.0), 30_000);
        assert_eq!(backoff_ms(3, 0.5), 1000);
        assert_eq!(backoff_ms(3, 0.0), 1000, "jitter never goes below half");
    }

    #[test]
    fn the_indicator_says_what_is_happening() {
        assert_eq!(ConnState::Reconnecting { in_secs: 4 }.label(), "Reconnecting in 4 s…");
        assert_eq!(ConnState::BackOnline.label(), "Back online");
        assert!(!ConnState::Connecting.is_live());
    }
}
