//! Cross-node fan-out over Redis pub/sub: every node publishes each committed
//! message (and each presence change) to one channel, and one subscriber per
//! node hands what arrives to that node's hub.
//!
//! Redis pub/sub is at-most-once: what a node misses while its subscriber is
//! reconnecting is recovered by clients through catch-up from the database.

use app::protocol::{RoomId, Seq, UserId};
use fred::clients::SubscriberClient;
use fred::prelude::*;
use fred::types::Message;
use std::time::Duration;

/// What travels between nodes.
#[derive(Debug, PartialEq, Eq)]
pub enum BusEvent<'a> {
    /// A serialised `ServerFrame` for every connection in the room; `seq` is
    /// the message's sequence for chat messages (0 for anything else), so a
    /// node can tell what it has already delivered without parsing the frame.
    Frame { room: RoomId, seq: Seq, frame: &'a str },
    /// The room's online list changed: recompute it.
    PresenceChanged { room: RoomId },
    /// `user` lost access to the room: cut their connections off it.
    Kick { room: RoomId, user: UserId },
}

impl BusEvent<'_> {
    /// `f{room} {seq} {frame json}` or `p{room}`: the frame travels as the
    /// bytes the sockets will get, so no node parses or re-serialises it.
    pub fn encode(&self) -> String {
        match self {
            BusEvent::Frame { room, seq, frame } => format!("f{room} {seq} {frame}"),
            BusEvent::PresenceChanged { room } => format!("p{room}"),
            BusEvent::Kick { room, user } => format!("k{room} {}", user.0),
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
            _ => None,
        }
    }
}

/// The Redis side of the bus: a publishing client and a subscriber.
pub struct RedisBus {
    pub client: Client,
    pub subscriber: SubscriberClient,
    pub channel: String,
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
        Ok(Self {
            client,
            subscriber,
            channel,
        })
    }

    pub async fn publish(&self, event: &BusEvent<'_>) -> Result<(), fred::error::Error> {
        let _: i64 = self.client.publish(self.channel.as_str(), event.encode()).await?;
        Ok(())
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
