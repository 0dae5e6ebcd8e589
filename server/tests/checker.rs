//! The delivery checker. Simulated users on two nodes (MariaDB + Redis) send
//! concurrently into several rooms while dropping their connections at
//! random — sometimes right after a send, before its acknowledgement — and
//! coming back on either node, resuming from the last sequence they hold and
//! re-sending what was not acknowledged, as the browser client does. At the
//! end it asserts:
//! - every send was acknowledged, each room's acknowledged sequences are
//!   exactly 1..=n (no gap, no duplicate), and a retry got the original ack;
//! - the database holds exactly the acknowledged messages;
//! - every user (all stay in every room) holds every message of every room
//!   under the sequence it was acknowledged with — without asking for any
//!   catch-up beyond the one each (re)join makes;
//! - no connection received the same live message twice.
//!
//! Besides posting, users edit and delete their own messages and react to
//! and unreact from anyone's, at random, through the same drops: every change
//! is an event under the room's sequence like a message, so all of the above
//! holds for it too, and at the end every user's state of every room (the
//! events they hold, applied in order) equals the database's current state.
//!
//! Meanwhile the second node loses Redis (through a TCP proxy the test
//! controls) for a while, so its subscriber misses publishes and its own
//! publishes fail: what crosses nodes then must come from the database.
//!
//! CI runs a short version. A soak, for example:
//! `CHECKER_USERS=24 CHECKER_MESSAGES=400 CHECKER_DROP_EVERY=5 cargo test -p server --test checker -- --nocapture`
//! (`CHECKER_SEED` replays a run; the seed is printed.)
#![allow(clippy::unwrap_used)]

mod common;

use app::protocol::{Change, ClientFrame, LogEntry, RoomId, Seq, ServerFrame};
use common::{Backend, Environment, WAIT, Ws};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// xorshift64*: small, seedable, good enough to pick nodes and drop moments.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct SimUser {
    name: String,
    cookie: String,
    nodes: Vec<SocketAddr>,
    rooms: Vec<RoomId>,
    rng: Rng,
    drop_every: u64,
    ws: Option<Ws>,
    /// Per room: sequence → every event this user holds.
    have: HashMap<RoomId, BTreeMap<Seq, LogEntry>>,
    /// Live events seen on the current connection.
    live_seen: HashSet<(RoomId, Seq)>,
    /// This user's acknowledgements of logged events: client id → (room, seq).
    acks: HashMap<String, (RoomId, Seq)>,
    /// Changes acknowledged with nothing logged (a reaction already so).
    unchanged: u32,
    /// Changes refused because their message had been deleted meanwhile.
    refused: u32,
    /// Reactions of this user's it has asked to take back.
    took_back: u32,
    reconnects: u32,
}

/// The idempotency key an event was made with.
fn client_id(entry: &LogEntry) -> &str {
    match entry {
        LogEntry::Posted(m) => &m.client_id,
        LogEntry::Updated(u) => &u.client_id,
    }
}

/// A message as it is now: text, deleted, and who reacted with what.
#[derive(Debug, PartialEq, Eq)]
struct MessageState {
    body: String,
    deleted: bool,
    reactions: BTreeMap<String, BTreeSet<String>>,
}

/// A room's messages by id after applying `events` in sequence order, by the
/// rules every client follows: a deleted message changes no more.
fn replay(events: &BTreeMap<Seq, LogEntry>) -> BTreeMap<i64, MessageState> {
    let mut state: BTreeMap<i64, MessageState> = BTreeMap::new();
    for entry in events.values() {
        match entry {
            LogEntry::Posted(m) => {
                state.insert(
                    m.id,
                    MessageState {
                        body: m.body.clone(),
                        deleted: m.deleted,
                        reactions: BTreeMap::new(),
                    },
                );
            }
            LogEntry::Updated(u) => {
                let Some(m) = state.get_mut(&u.message).filter(|m| !m.deleted) else {
                    continue;
                };
                match &u.change {
                    Change::Edited { body } => m.body.clone_from(body),
                    Change::Deleted => {
                        m.deleted = true;
                        m.body.clear();
                        m.reactions.clear();
                    }
                    Change::Reacted { emoji } => {
                        m.reactions.entry(emoji.clone()).or_default().insert(u.by.clone());
                    }
                    Change::Unreacted { emoji } => {
                        if let Some(users) = m.reactions.get_mut(emoji) {
                            users.remove(&u.by);
                            if users.is_empty() {
                                m.reactions.remove(emoji);
                            }
                        }
                    }
                }
            }
        }
    }
    state
}

/// A room's messages as the database holds them now.
async fn database_state(db: &mut sqlx::AnyConnection, room: RoomId) -> BTreeMap<i64, MessageState> {
    let rows: Vec<(i64, String, Option<i64>)> =
        sqlx::query_as("SELECT id, body, deleted_at FROM room_events WHERE room_id = ? AND kind = 0")
            .bind(room.0)
            .fetch_all(&mut *db)
            .await
            .unwrap();
    let mut state: BTreeMap<i64, MessageState> = rows
        .into_iter()
        .map(|(id, body, deleted_at)| {
            let m = MessageState {
                body,
                deleted: deleted_at.is_some(),
                reactions: BTreeMap::new(),
            };
            (id, m)
        })
        .collect();
    let reactions: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT r.message_id, r.emoji, u.username FROM message_reactions r \
         JOIN users u ON u.id = r.user_id JOIN room_events m ON m.id = r.message_id WHERE m.room_id = ?",
    )
    .bind(room.0)
    .fetch_all(&mut *db)
    .await
    .unwrap();
    for (id, emoji, user) in reactions {
        if let Some(m) = state.get_mut(&id) {
            m.reactions.entry(emoji).or_default().insert(user);
        }
    }
    state
}

/// What a frame came to.
enum Outcome {
    /// Logged under this sequence (0: acknowledged, nothing logged).
    Acked(Seq),
    /// Refused for good, with this reason.
    Refused(String),
}

const EMOJI: [&str; 3] = ["👍", "🎉", "❤️"];

fn contiguous_end(events: &BTreeMap<Seq, LogEntry>) -> Seq {
    let mut end = 0;
    for &seq in events.keys() {
        if seq != end + 1 {
            break;
        }
        end = seq;
    }
    end
}

impl SimUser {
    async fn connect(&mut self) {
        let node = self.nodes[self.rng.below(self.nodes.len() as u64) as usize];
        let mut ws = Ws::connect_to(node, Some(&self.cookie), None).await.expect("upgrade");
        self.live_seen.clear();
        for &room in &self.rooms {
            let since = contiguous_end(self.have.entry(room).or_default());
            ws.send(&ClientFrame::Join { room, since }).await;
        }
        self.ws = Some(ws);
    }

    /// Files one frame; returns the ack or refusal it carries, if any.
    async fn record(&mut self, frame: ServerFrame) -> Option<(String, Outcome)> {
        let live = match frame {
            ServerFrame::Message { message } => Some(LogEntry::Posted(message)),
            ServerFrame::Update { update } => Some(LogEntry::Updated(update)),
            ServerFrame::CatchUp { room, events, more } => {
                let have = self.have.entry(room).or_default();
                for event in events {
                    have.insert(event.seq(), event);
                }
                if more {
                    let since = contiguous_end(have);
                    if let Some(ws) = self.ws.as_mut() {
                        ws.send(&ClientFrame::CatchUp { room, since }).await;
                    }
                }
                None
            }
            ServerFrame::Ack { client_id, seq, .. } => return Some((client_id, Outcome::Acked(seq))),
            ServerFrame::Error {
                code,
                message,
                client_id,
            } => {
                if code.is_retryable() {
                    return None;
                }
                // The one refusal a correct client meets: a reaction or edit
                // to a message its author deleted meanwhile.
                assert!(
                    message.contains("was deleted") && client_id.is_some(),
                    "{}: unexpected error {code:?}: {message}",
                    self.name
                );
                return client_id.map(|c| (c, Outcome::Refused(message)));
            }
            _ => None,
        };
        if let Some(entry) = live {
            let room = match &entry {
                LogEntry::Posted(m) => m.room,
                LogEntry::Updated(u) => u.room,
            };
            let key = (room, entry.seq());
            assert!(
                self.live_seen.insert(key),
                "{} got live event {key:?} twice on one connection",
                self.name
            );
            self.have.entry(room).or_default().insert(entry.seq(), entry);
        }
        None
    }

    /// Sends `frame` (whose idempotency key is `client_id`) until it is
    /// acknowledged or refused, dropping the connection now and then.
    async fn submit(&mut self, frame: ClientFrame, client_id: &str) -> Outcome {
        loop {
            if self.ws.is_none() {
                self.reconnects += 1;
                self.connect().await;
            }
            self.ws.as_mut().unwrap().send(&frame).await;
            if self.drop_every > 0 && self.rng.below(self.drop_every) == 0 {
                // Gone before the ack: the frame may or may not have committed.
                self.ws = None;
                continue;
            }
            loop {
                let next = self.ws.as_mut().unwrap().try_recv(WAIT).await;
                let Some(next) = next else {
                    self.ws = None;
                    break;
                };
                if let Some((answered, outcome)) = self.record(next).await
                    && answered == client_id
                {
                    return outcome;
                }
            }
        }
    }

    /// Posts until acknowledged.
    async fn send(&mut self, room: RoomId, client_id: String) {
        let frame = ClientFrame::Send {
            room,
            client_id: client_id.clone(),
            body: format!("{} says {client_id}", self.name),
            reply_to: None,
            attachment: None,
        };
        match self.submit(frame, &client_id).await {
            Outcome::Acked(seq) => self.acked(client_id, room, seq),
            Outcome::Refused(why) => panic!("{}: a message was refused: {why}", self.name),
        }
    }

    fn acked(&mut self, client_id: String, room: RoomId, seq: Seq) {
        if seq == 0 {
            self.unchanged += 1;
        } else if let Some(previous) = self.acks.insert(client_id, (room, seq)) {
            assert_eq!(previous, (room, seq), "a retry got a different ack");
        }
    }

    /// Messages in `room` this user holds that are not deleted, by whom.
    fn live_messages(&self, room: RoomId) -> Vec<(i64, String)> {
        let Some(have) = self.have.get(&room) else {
            return Vec::new();
        };
        let state = replay(have);
        have.values()
            .filter_map(|e| match e {
                LogEntry::Posted(m) if state.get(&m.id).is_some_and(|s| !s.deleted) => Some((m.id, m.author.clone())),
                _ => None,
            })
            .collect()
    }

    /// This user's reactions in `room`, as far as they know: (message, emoji).
    fn my_reactions(&self, room: RoomId) -> Vec<(i64, String)> {
        let Some(have) = self.have.get(&room) else {
            return Vec::new();
        };
        replay(have)
            .into_iter()
            .flat_map(|(id, m)| {
                m.reactions
                    .into_iter()
                    .filter(|(_, users)| users.contains(&self.name))
                    .map(move |(emoji, _)| (id, emoji))
            })
            .collect()
    }

    /// Step `i`: mostly a message; otherwise an edit or deletion of one of
    /// this user's messages, or a reaction to (or back from) anyone's.
    async fn act(&mut self, room: RoomId, i: u64) {
        let client_id = format!("{}-{i}", self.name);
        let roll = self.rng.below(100);
        let messages = self.live_messages(room);
        let mine: Vec<i64> = messages
            .iter()
            .filter(|(_, a)| *a == self.name)
            .map(|(id, _)| *id)
            .collect();
        let frame = if roll < 60 || messages.is_empty() {
            return self.send(room, client_id).await;
        } else if roll < 80 {
            // A third of the time, take back a reaction of this user's (or
            // try one that is not there: acknowledged, nothing changes). Each
            // user's first chance to take one back is always taken: with
            // only a third, a short run could end with none to check.
            let reacted = self.my_reactions(room);
            let first_chance = self.took_back == 0 && !reacted.is_empty();
            let (message, emoji, on) = if first_chance || self.rng.below(3) == 0 {
                match reacted.get(self.rng.below(reacted.len().max(1) as u64) as usize) {
                    Some((message, emoji)) => {
                        self.took_back += 1;
                        (*message, emoji.clone(), false)
                    }
                    None => (messages[0].0, EMOJI[0].to_owned(), false),
                }
            } else {
                let (message, _) = messages[self.rng.below(messages.len() as u64) as usize];
                (
                    message,
                    EMOJI[self.rng.below(EMOJI.len() as u64) as usize].to_owned(),
                    true,
                )
            };
            ClientFrame::React {
                room,
                client_id: client_id.clone(),
                message,
                emoji,
                on,
            }
        } else if mine.is_empty() {
            return self.send(room, client_id).await;
        } else if roll < 90 {
            ClientFrame::Edit {
                room,
                client_id: client_id.clone(),
                message: mine[self.rng.below(mine.len() as u64) as usize],
                body: format!("{} edited at {i}", self.name),
            }
        } else {
            ClientFrame::Delete {
                room,
                client_id: client_id.clone(),
                message: mine[self.rng.below(mine.len() as u64) as usize],
            }
        };
        match self.submit(frame, &client_id).await {
            Outcome::Acked(seq) => self.acked(client_id, room, seq),
            Outcome::Refused(_) => self.refused += 1,
        }
    }

    /// Reads (without asking for anything) until every room holds 1..=n.
    async fn settle(&mut self, expected: &HashMap<RoomId, Seq>) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let complete = expected.iter().all(|(room, &n)| {
                self.have
                    .get(room)
                    .map(|h| contiguous_end(h) >= n && h.len() as i64 == n)
                    .unwrap_or(n == 0)
            });
            if complete {
                return;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let frame = self.ws.as_mut().unwrap().try_recv(left).await;
            match frame {
                Some(frame) => {
                    self.record(frame).await;
                }
                None => {
                    let holes: Vec<_> = expected
                        .iter()
                        .map(|(room, n)| {
                            (
                                room,
                                (1..=*n)
                                    .filter(|s| !self.have[room].contains_key(s))
                                    .collect::<Vec<_>>(),
                            )
                        })
                        .filter(|(_, missing)| !missing.is_empty())
                        .collect();
                    panic!("{} is missing messages: {holes:?}", self.name);
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB and Redis: cargo test -- --include-ignored"]
async fn no_message_is_lost_duplicated_or_misnumbered_through_random_reconnects() {
    let users = env_number("CHECKER_USERS", 6);
    let messages = env_number("CHECKER_MESSAGES", 25);
    let drop_every = env_number("CHECKER_DROP_EVERY", 6);
    let seed = env_number("CHECKER_SEED", std::process::id() as u64 * 7919 + 1);
    println!("checker: {users} users × {messages} messages, drop 1 in {drop_every}, seed {seed}");

    let env = Environment::new(Backend::MariaDbRedis).await;
    let one = env.node().await;
    let (two, redis) = env.node_behind_redis_proxy().await;
    let redis = std::sync::Arc::new(redis);
    let owner = one.sign_up("owner").await;
    let mut rooms = Vec::new();
    for name in ["alpha", "beta", "gamma"] {
        rooms.push(one.create_room(&owner, name).await);
    }

    let mut sims = Vec::new();
    for u in 0..users {
        let name = format!("user{u}");
        let cookie = if u % 2 == 0 {
            one.sign_up(&name).await
        } else {
            two.sign_up(&name).await
        };
        let mut sim = SimUser {
            name,
            cookie,
            nodes: vec![one.addr, two.addr],
            rooms: rooms.clone(),
            rng: Rng(seed.wrapping_add(u * 0x9E37_79B9) | 1),
            drop_every,
            ws: None,
            have: HashMap::new(),
            live_seen: HashSet::new(),
            acks: HashMap::new(),
            unchanged: 0,
            refused: 0,
            took_back: 0,
            reconnects: 0,
        };
        sim.connect().await;
        sims.push(sim);
    }

    // Node two loses Redis for a while as the run gets going.
    let outage = tokio::spawn({
        let redis = redis.clone();
        async move {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            redis.cut();
            tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
            redis.restore();
        }
    });

    // Everyone sends (and edits, deletes, reacts) at once.
    let tasks: Vec<_> = sims
        .into_iter()
        .map(|mut sim| {
            let rooms = rooms.clone();
            tokio::spawn(async move {
                for i in 0..messages {
                    let room = rooms[(i as usize) % rooms.len()];
                    sim.act(room, i).await;
                }
                sim
            })
        })
        .collect();
    let mut sims = Vec::new();
    for task in tasks {
        sims.push(task.await.unwrap());
    }
    outage.await.unwrap();

    // Every send was acknowledged once, and each room's sequences are 1..=n.
    let mut by_room: HashMap<RoomId, Vec<Seq>> = HashMap::new();
    let mut acked: HashMap<String, (RoomId, Seq)> = HashMap::new();
    let (mut unchanged, mut refused) = (0, 0);
    for sim in &sims {
        let answered = sim.acks.len() as u64 + u64::from(sim.unchanged + sim.refused);
        assert_eq!(answered, messages, "{} lost an acknowledgement", sim.name);
        unchanged += sim.unchanged;
        refused += sim.refused;
        for (client_id, &(room, seq)) in &sim.acks {
            by_room.entry(room).or_default().push(seq);
            acked.insert(client_id.clone(), (room, seq));
        }
    }
    let mut expected = HashMap::new();
    for (room, seqs) in &mut by_room {
        seqs.sort();
        let n = seqs.len() as Seq;
        assert_eq!(
            *seqs,
            (1..=n).collect::<Vec<_>>(),
            "room {room}: sequences are not exactly 1..={n}"
        );
        expected.insert(*room, n);
    }

    // The database holds exactly the acknowledged messages.
    sqlx::any::install_default_drivers();
    let mut db = <sqlx::AnyConnection as sqlx::Connection>::connect(&env.database_url)
        .await
        .unwrap();
    let rows: Vec<(i64, i64, String)> = sqlx::query_as("SELECT room_id, seq, client_id FROM room_events")
        .fetch_all(&mut db)
        .await
        .unwrap();
    assert_eq!(
        rows.len(),
        acked.len(),
        "the database holds messages nobody was told about, or lost some"
    );
    for (room, seq, client_id) in rows {
        assert_eq!(
            acked.get(&client_id),
            Some(&(RoomId(room), seq)),
            "row {client_id} differs from its ack"
        );
    }

    // Every member ends up holding every message, under its acknowledged sequence.
    let expected = std::sync::Arc::new(expected);
    let acked = std::sync::Arc::new(acked);
    let checks: Vec<_> = sims
        .into_iter()
        .map(|mut sim| {
            let (expected, acked) = (expected.clone(), acked.clone());
            tokio::spawn(async move {
                sim.settle(&expected).await;
                for (room, have) in &sim.have {
                    for (seq, event) in have {
                        assert_eq!(
                            acked.get(client_id(event)),
                            Some(&(*room, *seq)),
                            "{} holds a misnumbered event",
                            sim.name
                        );
                    }
                }
                sim
            })
        })
        .collect();
    let mut reconnects = 0;
    let mut sims = Vec::new();
    for check in checks {
        let sim = check.await.unwrap();
        reconnects += sim.reconnects;
        sims.push(sim);
    }

    // Every user's state of every room is the database's.
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for room in &rooms {
        let stored = database_state(&mut db, *room).await;
        for sim in &sims {
            let held = sim.have.get(room).map(replay).unwrap_or_default();
            assert_eq!(held, stored, "{}'s room {room} differs from the database", sim.name);
        }
        for event in sims[0].have.get(room).into_iter().flat_map(BTreeMap::values) {
            let kind = match event {
                LogEntry::Posted(_) => "posted",
                LogEntry::Updated(u) => match u.change {
                    Change::Edited { .. } => "edited",
                    Change::Deleted => "deleted",
                    Change::Reacted { .. } => "reacted",
                    Change::Unreacted { .. } => "unreacted",
                },
            };
            *kinds.entry(kind).or_default() += 1;
        }
    }
    println!(
        "checker: {} events {kinds:?}, {unchanged} changes that changed nothing, {refused} refused \
         (message deleted meanwhile), {reconnects} reconnects; all delivered once",
        acked.len()
    );
    for kind in ["posted", "edited", "deleted", "reacted", "unreacted"] {
        assert!(
            kinds.contains_key(kind),
            "the run made no {kind} event; raise CHECKER_MESSAGES"
        );
    }
    if drop_every > 0 {
        assert!(reconnects > 0, "the run injected no reconnects; raise CHECKER_MESSAGES");
    }
    two.stop().await;
    one.stop().await;
}
