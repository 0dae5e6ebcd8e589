//! The writer task: drains a connection's mailbox into the socket,
//! coalescing whatever is queued into one flush, sends the pings the
//! reader's clock asks for, and sends the close frame the reader hands it.

use crate::hub::CONNECTION_QUEUE;
use crate::mailbox::Mailbox;
use crate::node::serialize;
use app::protocol::{ErrorCode, ServerFrame};
use axum::extract::ws::{CloseFrame, Message, close_code};
use futures::SinkExt;
use std::sync::Arc;
use std::time::Duration;

/// Bytes of frames fed to the socket before one flush. tungstenite keeps its
/// write buffer at the largest size it ever reached, for the socket's life,
/// so a batch of 64 frames (the limit before) left up to 64 frames' worth
/// (16 KiB of 250-byte messages) in every socket that once fell behind. A
/// batch stops once it passes this; a bigger frame still goes out whole.
const WRITE_BATCH_BYTES: usize = 1024;

/// The writer: drains the mailbox into the socket until the reader closes
/// it or a write fails.
#[allow(clippy::manual_async_fn)]
pub(super) fn write_loop<S>(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::CONNECTION_QUEUE_BYTES;
    use crate::mailbox::Pushed;
    use axum::extract::ws::Utf8Bytes;
    use futures::StreamExt;

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
}
