//! Cross-node fan-out over Redis pub/sub: every node publishes each committed
//! message (and each presence change) to one channel, and one subscriber per
//! node hands what arrives to that node's hub.
//!
//! Publishes are coalesced: one task per node sends what was queued while its
//! last `PUBLISH` was in flight as one batch, so under load Redis parses one
//! command and writes one message per subscriber for many events, and each
//! node's subscriber wakes once for them. A lone event still goes at once.
//!
//! Redis pub/sub is at-most-once: what a node misses while its subscriber is
//! reconnecting is recovered by clients through catch-up from the database.

use app::protocol::{RoomId, Seq, UserId};
use fred::clients::SubscriberClient;
use fred::prelude::*;
use fred::types::Message;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Most publish requests (each of one or more events) in one `PUBLISH`.
const MAX_BATCH: usize = 128;
/// Requests waiting for the publisher; beyond this, publishing waits for room.
const QUEUE: usize = 8 * MAX_BATCH;

/// What travels between nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BusEvent<'a> {
    /// A serialised `ServerFrame` for every connection in the room; `seq` is
    /// the message's sequence for chat messages (0 for anything else), so a
    /// node can tell what it has already delivered without parsing the frame.
    Frame { room: RoomId, seq: Seq, frame: &'a str },
    /// The room's online list changed: recompute it.
    PresenceChanged { room: RoomId },
    /// `user` lost access to the room: cut their connections off it.
    Kick { room: RoomId, user: UserId },
    /// Who may do what in the room may have changed: forget what is remembered.
    AccessChanged { room: RoomId },
    /// Some sessions ended early: re-check every socket's session now.
    SessionsEnded,
    /// `user`'s read marker in `room` moved to `seq`: tell their sockets.
    Read { room: RoomId, user: UserId, seq: Seq },
}

impl BusEvent<'_> {
    /// `f{room} {seq} {frame json}` or `p{room}`: the frame travels as the
    /// bytes the sockets will get, so no node parses or re-serialises it.
    pub fn encode(&self) -> String {
        match self {
            BusEvent::Frame { room, seq, frame } => format!("f{room} {seq} {frame}"),
            BusEvent::PresenceChanged { room } => format!("p{room}"),
            BusEvent::Kick { room, user } => format!("k{room} {}", user.0),
            BusEvent::AccessChanged { room } => format!("a{room}"),
            BusEvent::SessionsEnded => "s".into(),
            BusEvent::Read { room, user, seq } => format!("r{room} {} {seq}", user.0),
        }
    }

    pub fn decode(payload: &str) -> Option<BusEvent<'_>> {
        let (kind, rest) = payload.split_at_checked(1)?;
        match kind {
            "f" => {
                let (room, rest) = rest.split_once(' ')?;
                let (seq, frame) = rest.split_once(' ')?;
                Some(BusEvent::Frame {
                    room: RoomId(room.parse().ok()?),
                    seq: seq.parse().ok()?,
                    frame,
                })
            }
            "k" => {
                let (room, user) = rest.split_once(' ')?;
                Some(BusEvent::Kick {
                    room: RoomId(room.parse().ok()?),
                    user: UserId(user.parse().ok()?),
                })
            }
            "p" => Some(BusEvent::PresenceChanged {
                room: RoomId(rest.parse().ok()?),
            }),
            "a" => Some(BusEvent::AccessChanged {
                room: RoomId(rest.parse().ok()?),
            }),
            "s" if rest.is_empty() => Some(BusEvent::SessionsEnded),
            "r" => {
                let mut parts = rest.splitn(3, ' ');
                Some(BusEvent::Read {
                    room: RoomId(parts.next()?.parse().ok()?),
                    user: UserId(parts.next()?.parse().ok()?),
                    seq: parts.next()?.parse().ok()?,
                })
            }
            _ => None,
        }
    }
}

/// One payload for several events: `b` then `<byte length> <event>` for each.
/// A single event goes as itself. Lengths, not a separator: a frame is JSON
/// and may hold any character.
fn encode_batch(events: &mut [String]) -> String {
    use std::fmt::Write as _;
    if let [one] = events {
        return std::mem::take(one);
    }
    let mut out = String::with_capacity(1 + events.iter().map(|e| e.len() + 6).sum::<usize>());
    out.push('b');
    for event in events {
        // Writing to a String cannot fail.
        let _ = write!(out, "{} {event}", event.len());
    }
    out
}

/// The events in a payload, in order; `None` for one that cannot be read
/// (after which a batch is not read further: its framing is lost).
pub fn events(payload: &str) -> Vec<Option<BusEvent<'_>>> {
    let Some(mut rest) = payload.strip_prefix('b') else {
        return vec![BusEvent::decode(payload)];
    };
    let mut out = Vec::new();
    while !rest.is_empty() {
        let event = rest.split_once(' ').and_then(|(len, tail)| {
            let len: usize = len.parse().ok()?;
            Some((tail.get(..len)?, tail.get(len..)?))
        });
        let Some((event, tail)) = event else {
            out.push(None);
            break;
        };
        out.push(BusEvent::decode(event));
        rest = tail;
    }
    out
}

struct Outgoing {
    /// Encoded events, published in this order.
    events: Vec<String>,
    published: oneshot::Sender<Result<(), fred::error::Error>>,
}

/// Publishes whatever queued up while the previous `PUBLISH` was in flight as
/// one, until every [`RedisBus`] handle is gone.
async fn run_publisher(client: Client, channel: String, mut queue: mpsc::Receiver<Outgoing>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut events = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        events.clear();
        events.extend(batch.iter_mut().flat_map(|o: &mut Outgoing| o.events.drain(..)));
        let sent: Result<i64, _> = client.publish(channel.as_str(), encode_batch(&mut events)).await;
        let sent = sent.map(drop);
        for outgoing in batch.drain(..) {
            // The publisher may have stopped waiting (its task ended): nothing to tell.
            let _ = outgoing.published.send(sent.clone());
        }
    }
}

/// The Redis side of the bus: a publishing client and a subscriber.
pub struct RedisBus {
    pub client: Client,
    pub subscriber: SubscriberClient,
    pub channel: String,
    outbox: mpsc::Sender<Outgoing>,
}

fn reconnect_policy() -> ReconnectPolicy {
    // Retry forever, 100 ms doubling to 2 s: Redis coming back must heal the node by itself.
    ReconnectPolicy::new_exponential(0, 100, 2_000, 2)
}

impl RedisBus {
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, fred::error::Error> {
        let mut builder = Builder::from_config(Config::from_url(url)?);
        builder
            .set_policy(reconnect_policy())
            .with_connection_config(|c| c.connection_timeout = Duration::from_secs(2))
            .with_performance_config(|p| {
                // While Redis is away, commands fail after this instead of
                // waiting: a send must never hang on the fast path.
                p.default_command_timeout = Duration::from_secs(2);
                // The subscriber's fan-in buffer: at 32 (the default) a burst
                // of messages would make it lag.
                p.broadcast_channel_capacity = 8192;
            });
        let client = builder.build()?;
        client.init().await?;
        let subscriber = builder.build_subscriber_client()?;
        subscriber.init().await?;
        // Re-subscribes after every reconnect.
        drop(subscriber.manage_subscriptions());
        let channel = format!("{prefix}:events");
        subscriber.subscribe(channel.as_str()).await?;
        let (outbox, queue) = mpsc::channel(QUEUE);
        tokio::spawn(run_publisher(client.clone(), channel.clone(), queue));
        Ok(Self {
            client,
            subscriber,
            channel,
            outbox,
        })
    }

    /// Publishes `event` (in a batch with whatever else is being published)
    /// and returns once Redis took it.
    pub async fn publish(&self, event: &BusEvent<'_>) -> Result<(), fred::error::Error> {
        self.publish_all(vec![event.encode()]).await
    }

    /// Publishes encoded events in their order (in one batch with whatever
    /// else is being published) and returns once Redis took them.
    pub async fn publish_all(&self, events: Vec<String>) -> Result<(), fred::error::Error> {
        let (published, outcome) = oneshot::channel();
        let outgoing = Outgoing { events, published };
        let stopped = || fred::error::Error::new(fred::error::ErrorKind::Canceled, "the bus publisher has stopped");
        self.outbox.send(outgoing).await.map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?
    }

    pub fn messages(&self) -> tokio::sync::broadcast::Receiver<Message> {
        self.subscriber.message_rx()
    }

    pub async fn ping(&self) -> Result<(), fred::error::Error> {
        let _: String = self.client.ping(None).await?;
        Ok(())
    }

    pub async fn quit(&self) {
        let _ = self.subscriber.quit().await;
        let _ = self.client.quit().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_survive_encoding() {
        let frame = r#"{"type":"message","x":"a b"}"#;
        let event = BusEvent::Frame {
            room: RoomId(12),
            seq: 7,
            frame,
        };
        assert_eq!(BusEvent::decode(&event.encode()), Some(event));
        let event = BusEvent::PresenceChanged { room: RoomId(3) };
        assert_eq!(BusEvent::decode(&event.encode()), Some(event));
        let event = BusEvent::Kick {
            room: RoomId(3),
            user: UserId(9),
        };
        assert_eq!(BusEvent::decode(&event.encode()), Some(event));
        let event = BusEvent::AccessChanged { room: RoomId(4) };
        assert_eq!(BusEvent::decode(&event.encode()), Some(event));
        assert_eq!(
            BusEvent::decode(&BusEvent::SessionsEnded.encode()),
            Some(BusEvent::SessionsEnded)
        );
        assert_eq!(BusEvent::decode("s1"), None);
        let event = BusEvent::Read {
            room: RoomId(5),
            user: UserId(6),
            seq: 77,
        };
        assert_eq!(BusEvent::decode(&event.encode()), Some(event));
        assert_eq!(BusEvent::decode("r5 6"), None);
        assert_eq!(BusEvent::decode("r5 6 x"), None);
    }

    #[test]
    fn a_batch_holds_its_events_in_order_whatever_their_text() {
        let frames = [r#"{"body":"12 b3 x"}"#, "", "p 9 é"];
        let events = [
            BusEvent::Frame {
                room: RoomId(1),
                seq: 5,
                frame: frames[0],
            },
            BusEvent::PresenceChanged { room: RoomId(2) },
            BusEvent::Frame {
                room: RoomId(3),
                seq: 0,
                frame: frames[1],
            },
            BusEvent::Kick {
                room: RoomId(4),
                user: UserId(8),
            },
            BusEvent::Frame {
                room: RoomId(5),
                seq: 6,
                frame: frames[2],
            },
        ];
        let encoded: Vec<String> = events.iter().map(BusEvent::encode).collect();
        let payload = encode_batch(&mut encoded.clone());
        let decoded: Vec<_> = super::events(&payload).into_iter().map(Option::unwrap).collect();
        assert_eq!(decoded, events);
        // A batch of one is the event itself, as a node without batching sends it.
        assert_eq!(encode_batch(&mut encoded[..1].to_vec()), encoded[0]);
        assert_eq!(super::events(&encoded[0]), vec![Some(events[0].clone())]);
    }

    #[test]
    fn a_damaged_batch_yields_what_precedes_the_damage() {
        let good = BusEvent::PresenceChanged { room: RoomId(2) }.encode();
        let payload = format!("b{} {good}99 f1 2 {{}}", good.len());
        let decoded = events(&payload);
        assert_eq!(decoded, vec![Some(BusEvent::PresenceChanged { room: RoomId(2) }), None]);
        assert_eq!(events("bx"), vec![None]);
        assert_eq!(events("b3 q12"), vec![None]);
    }

    #[test]
    fn garbage_is_ignored() {
        assert_eq!(BusEvent::decode(""), None);
        assert_eq!(BusEvent::decode("fx {}"), None);
        assert_eq!(BusEvent::decode("f1 {}"), None);
        assert_eq!(BusEvent::decode("q1"), None);
        assert_eq!(BusEvent::decode("é"), None);
    }
}
