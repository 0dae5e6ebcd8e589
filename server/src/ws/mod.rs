//! `/ws`: the upgrade (Origin and session checked before it happens) and
//! the start of each connection.
//!
//! A connection is two tasks. The [`reader`] reads frames, one at a time,
//! and keeps the connection's [`clocks`]; each client frame has its own
//! handler in [`frames`]. The [`writer`] drains the connection's bounded
//! mailbox into the socket. Both are generic over the socket's halves, so
//! the [`tests`] drive whole connections over in-memory channels.

mod budget;
mod clocks;
mod frames;
mod reader;
#[cfg(test)]
mod reading_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod update_tests;
mod writer;

pub use frames::CATCH_UP_LIMIT;

use crate::state::AppState;
use app::backend::BackendError;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use reader::Opened;

/// Largest frame or message accepted from a client.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Per-connection read buffer, allocated up front: the 128 KiB default would
/// dominate an idle socket's memory. Most chat frames are under 256 bytes;
/// for a larger one the codec reserves exactly its length once the header
/// says it, so this costs no extra reads.
const READ_BUFFER_BYTES: usize = 256;

pub(crate) async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    ws: WebSocketUpgrade,
) -> Response {
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
    // For the audit log (a moderator's deletions). Served without connect
    // info (as in some tests), there is none.
    let address = extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    let opened = match Opened::claim(state, me, token, address).await {
        Ok(opened) => opened,
        Err(refused) => return refused,
    };
    ws.read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| {
            let (sink, stream) = socket.split();
            start(opened, sink, stream);
            std::future::ready(())
        })
}

/// Starts a connection's reader and writer, each its own task: tasks of our
/// own rather than axum's, whose task would also keep the upgrade's closure
/// and state for the socket's whole life. Generic over the two halves so
/// tests can drive a connection over in-memory channels.
fn start<Si, St>(opened: Box<Opened>, sink: Si, stream: St) -> tokio::task::JoinHandle<()>
where
    Si: futures::Sink<Message, Error = axum::Error> + Unpin + Send + 'static,
    St: futures::Stream<Item = Result<Message, axum::Error>> + Unpin + Send + 'static,
{
    let (close_tx, close_rx) = tokio::sync::oneshot::channel::<CloseFrame>();
    let write_timeout = opened.state.config.timings.write_timeout;
    let writer = tokio::spawn(writer::write_loop(
        sink,
        opened.mailbox.clone(),
        close_rx,
        write_timeout,
    ));
    tokio::spawn(reader::serve(stream, opened, writer, close_tx))
}
