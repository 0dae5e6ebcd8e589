//! This server process as a member of the cluster: it owns the hub of local
//! connections, publishes room events (over Redis when configured, otherwise
//! straight to the hub) and keeps its sockets' online lists current.

use crate::bus::{BusEvent, RedisBus};
use crate::hub::{ConnId, Hub};
use app::backend::Presence;
use app::protocol::{RoomId, ServerFrame};
use axum::extract::ws::Utf8Bytes;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// How often online lists are recomputed even without a change event: picks
/// up the expired entries of a node that died.
const PRESENCE_SWEEP: Duration = Duration::from_secs(10);

pub struct Node {
    /// Random per process: connection ids are `node:n`, unique across the cluster.
    pub id: String,
    pub hub: Hub,
    pub presence: Presence,
    pub redis: Option<RedisBus>,
    next_conn: AtomicU64,
    /// The online list each local room last showed, to announce who joined or left.
    last_online: tokio::sync::Mutex<HashMap<RoomId, Vec<String>>>,
}

pub fn serialize(frame: &ServerFrame) -> Utf8Bytes {
    // Serialising these plain data enums cannot fail (no maps with non-string
    // keys, no custom Serialize impls); fall back to an empty frame regardless.
    Utf8Bytes::from(serde_json::to_string(frame).unwrap_or_default())
}

impl Node {
    pub fn new(id: String, presence: Presence, redis: Option<RedisBus>) -> Self {
        Self {
            id,
            hub: Hub::default(),
            presence,
            redis,
            next_conn: AtomicU64::new(1),
            last_online: Default::default(),
        }
    }

    pub fn next_conn_id(&self) -> ConnId {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Sends `frame` to every connection in `room` on every node. Serialised
    /// once here; the same bytes go to Redis and to each socket.
    pub async fn broadcast(&self, room: RoomId, frame: &ServerFrame) {
        let bytes = serialize(frame);
        if let Some(redis) = &self.redis {
            match redis
                .publish(&BusEvent::Frame {
                    room,
                    frame: bytes.as_str(),
                })
                .await
            {
                Ok(()) => return,
                // Keep the room going on this node; others catch up from the database.
                Err(e) => tracing::warn!(%room, error = %e, "redis publish failed; delivering on this node only"),
            }
        }
        self.hub.deliver(room, &bytes);
    }

    /// Tells every node that `room`'s online list may have changed.
    pub async fn presence_changed(&self, room: RoomId) {
        if let Some(redis) = &self.redis {
            match redis.publish(&BusEvent::PresenceChanged { room }).await {
                Ok(()) => return,
                Err(e) => tracing::warn!(%room, error = %e, "redis publish failed; refreshing presence locally"),
            }
        }
        self.refresh_presence(room).await;
    }

    /// Recomputes `room`'s online list and, if it changed, shows the new list
    /// and who joined or left to this node's connections in the room.
    pub async fn refresh_presence(&self, room: RoomId) {
        // Held across the lookup so two refreshes cannot announce the same change twice.
        let mut last_online = self.last_online.lock().await;
        if !self.hub.has_room(room) {
            last_online.remove(&room);
            return;
        }
        let online = match self.presence.online(room).await {
            Ok(online) => online,
            Err(e) => {
                tracing::warn!(%room, error = %e, "presence lookup failed");
                return;
            }
        };
        let previous = last_online.insert(room, online.clone());
        if previous.as_ref() == Some(&online) {
            return;
        }
        if let Some(previous) = previous {
            for name in online.iter().filter(|n| !previous.contains(n)) {
                let frame = ServerFrame::Presence {
                    room,
                    username: name.clone(),
                    joined: true,
                };
                self.hub.deliver(room, &serialize(&frame));
            }
            for name in previous.iter().filter(|n| !online.contains(n)) {
                let frame = ServerFrame::Presence {
                    room,
                    username: name.clone(),
                    joined: false,
                };
                self.hub.deliver(room, &serialize(&frame));
            }
        }
        self.hub
            .deliver(room, &serialize(&ServerFrame::Online { room, online }));
    }

    /// Delivers what other nodes (and this one) publish, until the process stops.
    pub async fn run_subscriber(&self) {
        let Some(redis) = &self.redis else { return };
        let mut messages = redis.messages();
        loop {
            match messages.recv().await {
                Ok(message) => {
                    let Some(payload) = message.value.as_str() else {
                        continue;
                    };
                    match BusEvent::decode(&payload) {
                        Some(BusEvent::Frame { room, frame }) => {
                            self.hub.deliver(room, &Utf8Bytes::from(frame.to_owned()));
                        }
                        Some(BusEvent::PresenceChanged { room }) => self.refresh_presence(room).await,
                        None => tracing::warn!("ignoring an unreadable bus event"),
                    }
                }
                // Messages were dropped; clients recover them through catch-up on their next gap.
                Err(RecvError::Lagged(n)) => tracing::warn!(skipped = n, "bus subscriber lagged"),
                Err(RecvError::Closed) => return,
            }
        }
    }

    /// Periodically refreshes every local room's online list.
    pub async fn run_presence_sweeper(&self) {
        let mut tick = tokio::time::interval(PRESENCE_SWEEP);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            for room in self.hub.rooms_here() {
                self.refresh_presence(room).await;
            }
        }
    }
}
