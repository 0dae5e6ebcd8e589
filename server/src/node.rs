//! This server process as a member of the cluster: it owns the hub of local
//! connections, publishes room events (over Redis when configured, otherwise
//! straight to the hub), keeps its sockets' online lists current, and — since
//! Redis pub/sub may drop messages — fills any hole from the database.

use crate::bus::{self, BusEvent, RedisBus};
use crate::hub::{ConnId, Hub};
use crate::ledger::{Gap, Ledger};
use app::backend::events::Published;
use app::backend::{AccessControl, Presence, RoomEvent, Store};
use app::protocol::{RoomId, Seq, ServerFrame, UserId};
use axum::extract::ws::Utf8Bytes;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

/// Bytes of room events waiting for Redis to take them; past this (Redis
/// stalled) a batch is delivered on this node only, and the other nodes fill
/// it in from the database.
const UNPUBLISHED_BYTES: usize = 32 * 1024 * 1024;
/// Most writer batches in one publish to Redis.
const BATCHES_PER_PUBLISH: usize = 8;
/// A gap no later arrival and no database read has filled after this many
/// holds is given up: the held messages go out, and clients ask for the hole.
const GIVE_UP_AFTER_HOLDS: u32 = 10;
/// Most missing messages one gap fill reads from the database.
const FILL_LIMIT: u32 = 1000;

/// Room events on their way to Redis, with their approximate size, and who
/// to tell once they are out.
struct Unpublished {
    events: Vec<RoomEvent>,
    size: usize,
    done: tokio::sync::oneshot::Sender<()>,
}

pub struct Node {
    /// Random per process: connection ids are `node:n`, unique across the cluster.
    pub id: String,
    pub(crate) hub: Hub,
    pub presence: Presence,
    pub redis: Option<RedisBus>,
    /// What this node delivered, to deliver every message once.
    pub(crate) ledger: Ledger,
    /// What each user may do in each room (forgotten on `AccessChanged`).
    pub access: AccessControl,
    store: Store,
    next_conn: AtomicU64,
    /// The online list each local room last showed, to announce who joined
    /// or left; one lock per room, so a slow lookup in one room (held across
    /// a Redis call) never holds up another room's joins.
    last_online: std::sync::Mutex<HashMap<RoomId, RoomOnline>>,
    /// Rooms whose online list must be recomputed, filled by the bus
    /// subscriber and drained by [`Node::run_presence_refresher`], so that a
    /// burst of joins costs one lookup per room and never delays messages.
    presence_dirty: std::sync::Mutex<std::collections::HashSet<RoomId>>,
    presence_wake: tokio::sync::Notify,
    /// The sessions of this node's sockets, re-checked together.
    pub(crate) sessions: Arc<crate::sessions::SessionWatch>,
    /// Open sockets per user on this node, for the per-user cap.
    sockets: std::sync::Mutex<HashMap<UserId, u32>>,
    /// Room events for [`Node::run_publisher`], in the order published.
    to_publish: mpsc::UnboundedSender<Unpublished>,
    publish_queue: std::sync::Mutex<Option<mpsc::UnboundedReceiver<Unpublished>>>,
    /// Bytes in `to_publish` (bounded by [`UNPUBLISHED_BYTES`]).
    unpublished_bytes: AtomicUsize,
}

/// How often each of the node's background tasks works.
pub struct BackgroundTimings {
    pub repair_every: Duration,
    pub reorder_hold: Duration,
    pub sweep_every: Duration,
    pub session_recheck: Duration,
    /// For the session re-check.
    pub session_accounts: app::backend::Accounts,
}

/// A room's last shown online list (`None`: none to diff against yet).
type RoomOnline = Arc<tokio::sync::Mutex<Option<Vec<String>>>>;

/// One open socket counted against its user's cap; freed on drop.
pub struct SocketSlot {
    node: Arc<Node>,
    user: UserId,
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut sockets = self.node.sockets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(open) = sockets.get_mut(&self.user) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                sockets.remove(&self.user);
            }
        }
    }
}

pub fn serialize(frame: &ServerFrame) -> Utf8Bytes {
    // Serialising these plain data enums cannot fail (no maps with non-string
    // keys, no custom Serialize impls); fall back to an empty frame regardless.
    Utf8Bytes::from(serde_json::to_string(frame).unwrap_or_default())
}

impl Node {
    pub fn new(id: String, store: Store, access: AccessControl, presence: Presence, redis: Option<RedisBus>) -> Self {
        let (to_publish, publish_queue) = mpsc::unbounded_channel();
        Self {
            to_publish,
            publish_queue: std::sync::Mutex::new(Some(publish_queue)),
            unpublished_bytes: AtomicUsize::new(0),
            id,
            hub: Hub::default(),
            presence,
            redis,
            ledger: Ledger::default(),
            access,
            store,
            next_conn: AtomicU64::new(1),
            last_online: Default::default(),
            presence_dirty: Default::default(),
            presence_wake: tokio::sync::Notify::new(),
            sockets: Default::default(),
            sessions: Default::default(),
        }
    }

    /// Starts the node's background work: the bus subscriber and publisher,
    /// gap filling and repair, presence refreshes and sweeps, and the
    /// session re-check. The tasks belong to the returned set: dropping it
    /// (or `shutdown().await`) stops every one of them.
    pub fn start_background(self: &Arc<Self>, timings: BackgroundTimings) -> tokio::task::JoinSet<()> {
        let BackgroundTimings {
            repair_every,
            reorder_hold,
            sweep_every,
            session_recheck,
            session_accounts,
        } = timings;
        let mut tasks = tokio::task::JoinSet::new();
        let node = self.clone();
        tasks.spawn(async move { node.run_subscriber().await });
        let node = self.clone();
        tasks.spawn(async move { node.run_presence_sweeper(sweep_every).await });
        let node = self.clone();
        tasks.spawn(async move { node.run_repair(repair_every).await });
        let node = self.clone();
        tasks.spawn(async move { node.run_presence_refresher().await });
        let node = self.clone();
        tasks.spawn(async move { node.run_publisher().await });
        let node = self.clone();
        tasks.spawn(async move { node.run_gap_filler(reorder_hold).await });
        let sessions = self.sessions.clone();
        tasks.spawn(async move { sessions.run(session_accounts, session_recheck).await });
        let node = self.clone();
        tasks.spawn(async move { node.run_heartbeat().await });
        tasks
    }

    /// Writes this node's heartbeat (for the backstage's list of nodes)
    /// every [`HEARTBEAT_EVERY`], until the process stops.
    async fn run_heartbeat(&self) {
        let started_at = app::backend::clock::now_ms();
        let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let (sockets, people) = {
                let open = self.sockets.lock().unwrap_or_else(|p| p.into_inner());
                (open.values().map(|n| i64::from(*n)).sum::<i64>(), open.len() as i64)
            };
            if let Err(e) = self.store.heartbeat(&self.id, started_at, sockets, people).await {
                tracing::warn!(error = %e, "could not write this node's heartbeat");
            }
        }
    }

    /// Reserves one of `user`'s socket slots; `None` when all `cap` are taken.
    /// The slot is freed when the returned guard is dropped.
    pub fn open_socket(self: &Arc<Self>, user: UserId, cap: u32) -> Option<SocketSlot> {
        let mut sockets = self.sockets.lock().unwrap_or_else(|p| p.into_inner());
        let open = sockets.entry(user).or_default();
        if *open >= cap {
            return None;
        }
        *open += 1;
        Some(SocketSlot {
            node: self.clone(),
            user,
        })
    }

    /// Whether any socket on this node still holds its slot (a slot is
    /// given back last, after the socket's cluster-wide entry is released).
    pub fn has_open_sockets(&self) -> bool {
        !self.sockets.lock().unwrap_or_else(|p| p.into_inner()).is_empty()
    }

    pub fn next_conn_id(&self) -> ConnId {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Sends room events (the writer's batch in commit order, or a server
    /// function's change) to every connection in their rooms on every node:
    /// through Redis, by [`Node::run_publisher`], or straight to this node's
    /// sockets without it. Queues them before returning and never waits; the
    /// future resolves once Redis took them (or this node gave up on it).
    /// Each event is serialised once; the same bytes go to Redis and to each
    /// socket.
    pub fn publish(&self, events: Vec<RoomEvent>) -> Published<'static> {
        let ready = || -> Published<'static> { Box::pin(std::future::ready(())) };
        // Access changes act here at once, whatever the bus does; the copy
        // that comes back from it finds nothing left to remove.
        for event in &events {
            match event {
                RoomEvent::MemberRemoved { room, user } => {
                    self.hub.kick(*room, *user);
                }
                RoomEvent::AccessChanged { room } => self.access.forget(*room),
                RoomEvent::Posted(_) | RoomEvent::Updated(_) => {}
            }
        }
        if self.redis.is_none() {
            self.deliver_here(events);
            return ready();
        }
        let size = events.iter().map(RoomEvent::size).sum();
        if self.unpublished_bytes.fetch_add(size, Ordering::Relaxed) + size > UNPUBLISHED_BYTES {
            self.unpublished_bytes.fetch_sub(size, Ordering::Relaxed);
            tracing::warn!("redis is not keeping up; delivering on this node only");
            self.deliver_here(events);
            return ready();
        }
        let (done, published) = tokio::sync::oneshot::channel();
        if let Err(refused) = self.to_publish.send(Unpublished { events, size, done }) {
            // The publisher has stopped (shutting down): this node still delivers.
            self.unpublished_bytes.fetch_sub(size, Ordering::Relaxed);
            self.deliver_here(refused.0.events);
            return ready();
        }
        Box::pin(async move {
            // Err: the publisher stopped; nothing more will happen to them.
            let _ = published.await;
        })
    }

    /// Delivers `events` to this node's sockets only.
    fn deliver_here(&self, events: Vec<RoomEvent>) {
        for event in events {
            self.deliver_logged(event);
        }
    }

    /// Hands a logged event's frame to this node's sockets, once and in
    /// sequence order; other events have nothing to deliver.
    fn deliver_logged(&self, event: RoomEvent) {
        let (room, seq) = (event.room(), event.seq());
        if let (Some(seq), Some(frame)) = (seq, event.frame()) {
            self.deliver_message(room, seq, serialize(&frame));
        }
    }

    /// Publishes what [`Node::publish`] queued, in order, each publish
    /// taking whatever queued while the previous one was in flight; what
    /// Redis refuses is delivered on this node only (the other nodes fill it
    /// in from the database).
    pub async fn run_publisher(&self) {
        let Some(redis) = &self.redis else { return };
        let queue = self.publish_queue.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some(mut queue) = queue else { return };
        let mut batches = Vec::with_capacity(BATCHES_PER_PUBLISH);
        while queue.recv_many(&mut batches, BATCHES_PER_PUBLISH).await > 0 {
            let mut encoded = Vec::new();
            // Logged events' frames, to deliver here should Redis refuse them.
            let mut frames = Vec::new();
            let mut waiting = Vec::with_capacity(batches.len());
            let mut size = 0;
            for batch in batches.drain(..) {
                size += batch.size;
                waiting.push(batch.done);
                for event in batch.events {
                    let (room, seq) = (event.room(), event.seq());
                    if let RoomEvent::MemberRemoved { room, user } = event {
                        encoded.push(BusEvent::Kick { room, user }.encode());
                    } else if let RoomEvent::AccessChanged { room } = event {
                        encoded.push(BusEvent::AccessChanged { room }.encode());
                    } else if let (Some(seq), Some(frame)) = (seq, event.frame()) {
                        let frame = serialize(&frame);
                        encoded.push(
                            BusEvent::Frame {
                                room,
                                seq,
                                frame: frame.as_str(),
                            }
                            .encode(),
                        );
                        frames.push((room, seq, frame));
                    }
                }
            }
            let published = redis.publish_all(encoded).await;
            self.unpublished_bytes.fetch_sub(size, Ordering::Relaxed);
            if let Err(e) = published {
                // Keep the rooms going on this node; other nodes repair
                // messages from the database. (A removal acted here already;
                // other nodes' sockets of the removed member keep the room
                // until they join it again, when access is checked.)
                tracing::warn!(events = frames.len(), error = %e, "redis publish failed; delivering on this node only");
                for (room, seq, frame) in frames {
                    self.deliver_message(room, seq, frame);
                }
            }
            for done in waiting {
                // The publisher may have stopped waiting (the writer never waits).
                let _ = done.send(());
            }
        }
    }

    /// Hands a chat message to this node's sockets once, in sequence order
    /// (see [`Ledger::arrive`]).
    fn deliver_message(&self, room: RoomId, seq: Seq, frame: Utf8Bytes) {
        self.ledger.arrive(room, seq, frame, |frame| {
            self.hub.deliver(room, frame);
        });
    }

    /// Fills the gaps that held messages wait behind: once a gap is `hold`
    /// old (the bus had its chance), what is missing is read from the
    /// database; one still open after [`GIVE_UP_AFTER_HOLDS`] holds (the
    /// database unreachable) is given up.
    pub async fn run_gap_filler(&self, hold: Duration) {
        loop {
            if !self.ledger.has_gaps() {
                // A permit is stored if a gap opened since the check.
                self.ledger.gap_opened.notified().await;
                continue;
            }
            tokio::time::sleep(hold / 2).await;
            let now = tokio::time::Instant::now();
            let Some(seen_by) = now.checked_sub(hold) else { continue };
            for gap in self.ledger.gaps_seen_by(seen_by) {
                self.fill_gap(&gap).await;
                if let Some(stuck) = now.checked_sub(hold * GIVE_UP_AFTER_HOLDS) {
                    self.ledger.skip_gap(gap.room, stuck, |frame| {
                        self.hub.deliver(gap.room, frame);
                    });
                }
            }
        }
    }

    async fn fill_gap(&self, gap: &Gap) {
        let missing = u32::try_from(gap.before - gap.after - 1)
            .unwrap_or(u32::MAX)
            .min(FILL_LIMIT);
        match self.store.events_after(gap.room, gap.after, missing).await {
            Ok(events) => {
                let filled = events
                    .iter()
                    .filter(|e| e.seq().is_some_and(|seq| seq < gap.before))
                    .count();
                self.ledger
                    .stats
                    .filled_from_database
                    .fetch_add(filled as u64, Ordering::Relaxed);
                tracing::debug!(room = %gap.room, after = gap.after, filled, "gap filled from the database");
                for event in events {
                    self.deliver_logged(event);
                }
            }
            Err(e) => tracing::warn!(room = %gap.room, error = %e, "could not read a gap's messages"),
        }
    }

    /// Hands an ephemeral frame (someone typing) to `room`'s sockets on
    /// every node: through Redis as a frame with no sequence, which the
    /// ledger does not hold back; on this node only if Redis refuses it.
    pub async fn typing(&self, room: RoomId, frame: Utf8Bytes) {
        if let Some(redis) = &self.redis {
            let event = BusEvent::Frame {
                room,
                seq: 0,
                frame: frame.as_str(),
            };
            match redis.publish(&event).await {
                Ok(()) => return,
                Err(e) => tracing::debug!(%room, error = %e, "redis publish failed; typing shown on this node only"),
            }
        }
        self.hub.deliver(room, &frame);
    }

    /// Tells `user`'s sockets in `room`, on every node, that their read
    /// marker moved to `seq` (through Redis; on this node only if Redis
    /// refuses it: the other devices then see it at their next load).
    pub async fn read_moved(&self, room: RoomId, user: UserId, seq: Seq) {
        if let Some(redis) = &self.redis {
            match redis.publish(&BusEvent::Read { room, user, seq }).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::debug!(%room, error = %e, "redis publish failed; read marker shown on this node only")
                }
            }
        }
        self.deliver_read(room, user, seq);
    }

    fn deliver_read(&self, room: RoomId, user: UserId, seq: Seq) {
        self.hub
            .deliver_to(room, user, &serialize(&ServerFrame::Read { room, seq }));
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

    /// Recomputes `room`'s online list and, if it changed, tells this node's
    /// connections in the room who joined or left.
    ///
    /// Only the changes go out, not the whole list: in a room of n people a
    /// join would otherwise send n names to each of n sockets, and every
    /// socket's write buffer would keep room for the biggest list it was
    /// ever sent. A joiner gets the list this node last showed, from
    /// [`Node::joined`], so the list plus the changes is the room's list.
    /// The whole list goes out only when this node had none to diff against.
    pub async fn refresh_presence(&self, room: RoomId) {
        // Held across the lookup so two refreshes cannot announce the same change twice.
        let lock = self.room_online(room);
        let mut last_online = lock.lock().await;
        if !self.hub.has_room(room) {
            *last_online = None;
            self.forget_online(room, &lock);
            return;
        }
        let online = match self.presence.online(room).await {
            Ok(online) => online,
            Err(e) => {
                tracing::warn!(%room, error = %e, "presence lookup failed");
                return;
            }
        };
        let previous = last_online.replace(online.clone());
        let Some(previous) = previous else {
            self.hub
                .deliver(room, &serialize(&ServerFrame::Online { room, online }));
            return;
        };
        // Both lists are sorted (see `Presence::online`): a lookup is a binary search.
        let absent = |list: &[String], name: &String| list.binary_search(name).is_err();
        let came = online.iter().filter(|n| absent(&previous, n)).map(|n| (n, true));
        let went = previous.iter().filter(|n| absent(&online, n)).map(|n| (n, false));
        for (name, joined) in came.chain(went) {
            let frame = ServerFrame::Presence {
                room,
                username: name.clone(),
                joined,
            };
            self.hub.deliver(room, &serialize(&frame));
        }
    }

    /// Answers a join with the online list this node last showed the room,
    /// queued by `reply` under the same lock as [`Node::refresh_presence`]:
    /// the joiner is already subscribed, so every change after this list
    /// reaches it, and none before it is missing from the list.
    ///
    /// With no list yet (the room's first socket on this node, or a lookup
    /// failed), the list is looked up for this reply only (`fallback` if that
    /// fails too) and not kept: the refresh that follows every join then has
    /// nothing to diff against and sends the whole list to everyone here.
    /// Keeping it would let a later joiner's lookup, which already holds the
    /// later joiner, stand in for the change nobody was told about.
    pub async fn joined(&self, room: RoomId, fallback: &str, reply: impl FnOnce(Vec<String>)) {
        let lock = self.room_online(room);
        let last_online = lock.lock().await;
        let online = match &*last_online {
            Some(online) => online.clone(),
            None => self.presence.online(room).await.unwrap_or_else(|e| {
                tracing::warn!(%room, error = %e, "presence lookup failed");
                vec![fallback.to_owned()]
            }),
        };
        reply(online);
    }

    /// `room`'s online-list lock, made on first use.
    fn room_online(&self, room: RoomId) -> RoomOnline {
        // Every critical section is one map lookup or edit: a poisoned lock holds consistent data.
        let mut rooms = self.last_online.lock().unwrap_or_else(|p| p.into_inner());
        rooms.entry(room).or_default().clone()
    }

    /// Drops `room`'s entry (it has no sockets here) unless it has been
    /// replaced meanwhile. Whoever still holds the old lock keeps a list
    /// nobody reads; the next refresh starts afresh and shows the whole list.
    fn forget_online(&self, room: RoomId, lock: &RoomOnline) {
        let mut rooms = self.last_online.lock().unwrap_or_else(|p| p.into_inner());
        if rooms.get(&room).is_some_and(|held| Arc::ptr_eq(held, lock)) {
            rooms.remove(&room);
        }
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
                    for event in bus::events(&payload) {
                        match event {
                            Some(BusEvent::Frame { room, seq, frame }) => {
                                let bytes = Utf8Bytes::from(frame.to_owned());
                                if seq > 0 {
                                    self.deliver_message(room, seq, bytes);
                                } else {
                                    self.hub.deliver(room, &bytes);
                                }
                            }
                            Some(BusEvent::PresenceChanged { room }) => self.mark_presence_dirty(room),
                            Some(BusEvent::Kick { room, user }) => {
                                self.hub.kick(room, user);
                            }
                            Some(BusEvent::AccessChanged { room }) => self.access.forget(room),
                            Some(BusEvent::SessionsEnded) => self.sessions.recheck_now(),
                            Some(BusEvent::Read { room, user, seq }) => self.deliver_read(room, user, seq),
                            None => tracing::warn!("ignoring an unreadable bus event"),
                        }
                    }
                }
                // Messages were dropped; clients recover them through catch-up on their next gap.
                Err(RecvError::Lagged(n)) => tracing::warn!(skipped = n, "bus subscriber lagged"),
                Err(RecvError::Closed) => return,
            }
        }
    }

    /// With Redis, compares what this node delivered with the database every
    /// `every` and delivers what the bus lost (e.g. while this node's
    /// subscriber was reconnecting, or another node could not publish).
    pub async fn run_repair(&self, every: Duration) {
        if self.redis.is_none() {
            return;
        }
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            for room in self.hub.rooms_here() {
                if let Err(e) = self.repair_room(room).await {
                    tracing::warn!(%room, error = %e, "delivery repair failed; retrying next round");
                }
            }
        }
    }

    async fn repair_room(&self, room: RoomId) -> Result<(), app::backend::BackendError> {
        let Some(db_last) = self.store.last_seq(room).await? else {
            return Ok(());
        };
        if !self.ledger.is_tracked(room) {
            // Lost its entry to a leave/join race: start again from now.
            self.ledger.track(room, db_last);
            return Ok(());
        }
        let Some((after, up_to)) = self.ledger.repair_range(room, db_last) else {
            return Ok(());
        };
        tracing::warn!(%room, after, up_to, "bus missed messages; delivering them from the database");
        let limit = u32::try_from(up_to - after).unwrap_or(u32::MAX).min(1000);
        for event in self.store.events_after(room, after, limit).await? {
            self.deliver_logged(event);
        }
        Ok(())
    }

    fn mark_presence_dirty(&self, room: RoomId) {
        self.presence_dirty
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(room);
        self.presence_wake.notify_one();
    }

    /// Recomputes the online lists of rooms the bus said changed.
    pub async fn run_presence_refresher(&self) {
        loop {
            self.presence_wake.notified().await;
            let rooms: Vec<RoomId> = self
                .presence_dirty
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .drain()
                .collect();
            for room in rooms {
                self.refresh_presence(room).await;
            }
        }
    }

    /// Every `every`, refreshes each local room's online list: picks up the
    /// lapsed entries of a node that died.
    pub async fn run_presence_sweeper(&self, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            for room in self.hub.rooms_here() {
                self.refresh_presence(room).await;
            }
        }
    }
}

/// How often each node writes its heartbeat; the backstage counts a node
/// as serving when it was heard from within three of these.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(10);

/// Server functions and the message writer reach the sockets through this.
pub struct NodePublisher(pub Arc<Node>);

impl app::backend::Publisher for NodePublisher {
    fn publish(&self, events: Vec<RoomEvent>) -> Published<'_> {
        self.0.publish(events)
    }

    fn sessions_ended(&self) {
        self.0.sessions.recheck_now();
        let node = self.0.clone();
        tokio::spawn(async move {
            let Some(redis) = &node.redis else { return };
            if let Err(e) = redis.publish(&BusEvent::SessionsEnded).await {
                // The other nodes still notice at their next round.
                tracing::warn!(error = %e, "could not tell the other nodes that sessions ended");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_room_whose_online_list_is_busy_does_not_hold_up_a_join_elsewhere() {
        let path = std::env::temp_dir().join(format!("natter-node-{}.db", std::process::id()));
        let store = Store::connect(&format!("sqlite://{}?mode=rwc", path.display()), 1)
            .await
            .expect("store opens");
        let node = Node::new(
            "test".into(),
            store.clone(),
            AccessControl::new(store),
            Presence::local(),
            None,
        );
        let (busy, free) = (RoomId(1), RoomId(2));
        // As a refresh of room 1 holds its lock while it waits on Redis.
        let busy_lock = node.room_online(busy);
        let held = busy_lock.lock().await;

        let mut answered = None;
        let join = node.joined(free, "alice", |online| answered = Some(online));
        tokio::time::timeout(Duration::from_secs(5), join)
            .await
            .expect("a join in room 2 does not wait for room 1's lock");
        assert_eq!(answered, Some(Vec::new()), "nobody is online in room 2 yet");

        // Room 1's own join does wait, and goes on once the lock is let go.
        let mut busy_join = Box::pin(node.joined(busy, "bob", |_| {}));
        assert!(
            tokio::time::timeout(Duration::from_millis(100), &mut busy_join)
                .await
                .is_err(),
            "a join in the busy room waits for its lock"
        );
        drop(held);
        tokio::time::timeout(Duration::from_secs(5), busy_join)
            .await
            .expect("and proceeds once it is free");
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
