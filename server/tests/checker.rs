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
//! Meanwhile the second node loses Redis (through a TCP proxy the test
//! controls) for a while, so its subscriber misses publishes and its own
//! publishes fail: what crosses nodes then must come from the database.
//!
//! CI runs a short version. A soak, for example:
//! `CHECKER_USERS=24 CHECKER_MESSAGES=400 CHECKER_DROP_EVERY=5 cargo test -p server --test checker -- --nocapture`
//! (`CHECKER_SEED` replays a run; the seed is printed.)
#![allow(clippy::unwrap_used)]

mod common;

use app::protocol::{ClientFrame, RoomId, Seq, ServerFrame};
use common::{Backend, Environment, WAIT, Ws};
use std::collections::{BTreeMap, HashMap, HashSet};
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
    /// Per room: sequence → client id of every message this user holds.
    have: HashMap<RoomId, BTreeMap<Seq, String>>,
    /// Live messages seen on the current connection.
    live_seen: HashSet<(RoomId, Seq)>,
    /// This user's acknowledgements: client id → (room, seq).
    acks: HashMap<String, (RoomId, Seq)>,
    reconnects: u32,
}

fn contiguous_end(messages: &BTreeMap<Seq, String>) -> Seq {
    let mut end = 0;
    for &seq in messages.keys() {
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

    /// Files one frame; returns the ack it carries, if any.
    async fn record(&mut self, frame: ServerFrame) -> Option<(String, RoomId, Seq)> {
        match frame {
            ServerFrame::Message { message } => {
                let key = (message.room, message.seq);
                assert!(
                    self.live_seen.insert(key),
                    "{} got live message {key:?} twice on one connection",
                    self.name
                );
                self.have
                    .entry(message.room)
                    .or_default()
                    .insert(message.seq, message.client_id);
            }
            ServerFrame::CatchUp { room, messages, more } => {
                let have = self.have.entry(room).or_default();
                for m in messages {
                    have.insert(m.seq, m.client_id);
                }
                if more {
                    let since = contiguous_end(have);
                    if let Some(ws) = self.ws.as_mut() {
                        ws.send(&ClientFrame::CatchUp { room, since }).await;
                    }
                }
            }
            ServerFrame::Ack {
                client_id, room, seq, ..
            } => return Some((client_id, room, seq)),
            ServerFrame::Error { code, message, .. } => {
                assert!(
                    code.is_retryable(),
                    "{}: unexpected error {code:?}: {message}",
                    self.name
                );
            }
            _ => {}
        }
        None
    }

    /// Sends until acknowledged, dropping the connection now and then.
    async fn send(&mut self, room: RoomId, client_id: String) {
        let frame = ClientFrame::Send {
            room,
            client_id: client_id.clone(),
            body: format!("{} says {client_id}", self.name),
        };
        loop {
            if self.ws.is_none() {
                self.reconnects += 1;
                self.connect().await;
            }
            self.ws.as_mut().unwrap().send(&frame).await;
            if self.drop_every > 0 && self.rng.below(self.drop_every) == 0 {
                // Gone before the ack: the send may or may not have committed.
                self.ws = None;
                continue;
            }
            loop {
                let next = self.ws.as_mut().unwrap().try_recv(WAIT).await;
                let Some(next) = next else {
                    self.ws = None;
                    break;
                };
                if let Some((acked, room, seq)) = self.record(next).await
                    && acked == client_id
                {
                    if let Some(previous) = self.acks.insert(acked, (room, seq)) {
                        assert_eq!(previous, (room, seq), "a retry got a different ack");
                    }
                    return;
                }
            }
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

    // Everyone sends at once.
    let tasks: Vec<_> = sims
        .into_iter()
        .map(|mut sim| {
            let rooms = rooms.clone();
            tokio::spawn(async move {
                for i in 0..messages {
                    let room = rooms[(i as usize) % rooms.len()];
                    sim.send(room, format!("{}-{i}", sim.name)).await;
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
    for sim in &sims {
        assert_eq!(sim.acks.len() as u64, messages, "{} lost an acknowledgement", sim.name);
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
                    for (seq, client_id) in have {
                        assert_eq!(
                            acked.get(client_id),
                            Some(&(*room, *seq)),
                            "{} holds a misnumbered message",
                            sim.name
                        );
                    }
                }
                sim.reconnects
            })
        })
        .collect();
    let mut reconnects = 0;
    for check in checks {
        reconnects += check.await.unwrap();
    }
    println!(
        "checker: {} messages, {reconnects} reconnects, all delivered once",
        acked.len()
    );
    if drop_every > 0 {
        assert!(reconnects > 0, "the run injected no reconnects; raise CHECKER_MESSAGES");
    }
    two.stop().await;
    one.stop().await;
}
