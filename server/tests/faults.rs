//! Faults injected for real: Redis and MariaDB cut off through a TCP proxy,
//! slow and dead clients. Delivery must stay exactly-once and in order.
#![allow(clippy::unwrap_used)]

mod common;

use app::protocol::{ClientFrame, ErrorCode, ServerFrame};
use common::{Backend, Environment, TestServer, WAIT};
use std::time::Duration;

/// Collects chat messages until none arrives for `quiet`.
async fn drain_messages(ws: &mut common::Ws, quiet: Duration) -> Vec<i64> {
    let mut seqs = Vec::new();
    while let Some(frame) = ws.try_recv(quiet).await {
        if let ServerFrame::Message { message } = frame {
            seqs.push(message.seq);
        }
    }
    seqs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB and Redis: cargo test -- --include-ignored"]
async fn a_message_the_bus_lost_reaches_the_other_node_from_the_database_once() {
    let env = Environment::new(Backend::MariaDbRedis).await;
    let one = env.node().await;
    let (two, redis) = env.node_behind_redis_proxy().await;

    let alice = one.sign_up("alice").await;
    let bob = two.sign_up("bob").await;
    let room = one.create_room(&alice, "Lossy").await;
    let mut a = one.ws(&alice).await;
    let mut b = two.ws(&bob).await;
    a.join(room, 0).await;
    b.join(room, 0).await;
    a.post(room, "m1", "before the cut").await;
    assert_eq!(b.next_message().await.seq, 1);

    // Node two's subscriber loses Redis; node one publishes into the void.
    redis.cut();
    a.post(room, "m2", "while node two is cut off").await;
    a.post(room, "m3", "still cut off").await;
    let got = b.next_message().await;
    assert_eq!((got.seq, got.body.as_str()), (2, "while node two is cut off"));
    assert_eq!(b.next_message().await.seq, 3);

    redis.restore();
    a.post(room, "m4", "after the repair").await;
    assert_eq!(b.next_message().await.seq, 4);
    // Nothing was delivered twice.
    assert_eq!(drain_messages(&mut b, Duration::from_secs(2)).await, Vec::<i64>::new());
    two.stop().await;
    one.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB and Redis: cargo test -- --include-ignored"]
async fn a_message_another_node_could_not_publish_is_filled_in_ahead_of_later_ones() {
    let env = Environment::new(Backend::MariaDbRedis).await;
    let mut config = env.config();
    // The periodic repair is out of the way: the gap filler alone must do it.
    config.timings.repair_every = Duration::from_secs(60);
    let (one, redis) = env.node_behind_redis_proxy().await;
    let two = TestServer::start(config).await;
    let alice = one.sign_up("alice").await;
    let bob = two.sign_up("bob").await;
    let carol = two.sign_up("carol").await;
    let room = two.create_room(&bob, "Crossed").await;
    let mut a = one.ws(&alice).await;
    let mut b = two.ws(&bob).await;
    let mut c = two.ws(&carol).await;
    for ws in [&mut a, &mut b, &mut c] {
        ws.join(room, 0).await;
    }

    // Node one cannot publish: its message reaches node two only from the
    // database, after node two's own later message has arrived.
    redis.cut();
    assert_eq!(a.post(room, "m1", "from the cut-off node").await, 1);
    assert_eq!(b.post(room, "m2", "from the connected node").await, 2);
    let first = c.next_message().await;
    let second = c.next_message().await;
    assert_eq!((first.seq, first.body.as_str()), (1, "from the cut-off node"));
    assert_eq!(second.seq, 2, "the later message waited for the missing one");
    assert_eq!(drain_messages(&mut c, Duration::from_secs(1)).await, Vec::<i64>::new());
    let ordering = two.health().await["ordering"].clone();
    assert_eq!(ordering["held"], 1, "{ordering}");
    assert_eq!(ordering["filled_from_database"], 1, "{ordering}");
    assert_eq!(ordering["gaps_given_up"], 0, "{ordering}");
    redis.restore();
    two.stop().await;
    one.stop().await;
}

/// Waits until `/healthz` says "ok" again; panics after [`WAIT`].
async fn until_healthy(server: &TestServer) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let health: serde_json::Value = server.health().await;
        if health["status"] == "ok" {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "redis never came back: {health}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Someone who joined while Redis was down saw only themself online; once
/// it is back, the next person to join shows up in their list. (The node
/// had no list of the room to announce changes against; the joiner's own
/// lookup must not become one, or it would already hold the joiner and the
/// join would never be announced.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB and Redis: cargo test -- --include-ignored"]
async fn who_joined_during_a_redis_outage_hears_of_the_next_joiner() {
    let env = Environment::new(Backend::MariaDbRedis).await;
    let url = env.redis_url.clone().unwrap();
    let redis = common::Proxy::start(common::host_port(&url)).await;
    let mut config = env.config();
    config.redis_url = Some(common::via(&url, redis.addr));
    // Sockets refresh their entries quickly; the node's own sweep of its
    // rooms' lists (which would paper over a missed announcement) is slow.
    config.timings.presence_ttl = Duration::from_secs(3);
    config.timings.presence_refresh = Duration::from_millis(300);
    config.timings.presence_sweep = Duration::from_secs(120);
    let server = TestServer::start(config).await;
    let alice = server.sign_up("alice").await;
    let bob = server.sign_up("bob").await;
    let room = server.create_room(&alice, "Outage").await;

    redis.cut();
    let mut a = server.ws(&alice).await;
    a.join(room, 0).await;
    a.online_becomes(room, &["alice"]).await;
    redis.restore();
    until_healthy(&server).await;
    // Announcements travel through the node's Redis subscriber, which
    // re-subscribes on its own after the outage: wait until it has.
    {
        use fred::prelude::*;
        let direct = Client::new(Config::from_url(&url).unwrap(), None, None, None);
        direct.init().await.unwrap();
        let channel = format!("{}:events", env.redis_prefix);
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let subscribers: std::collections::HashMap<String, i64> =
                direct.pubsub_numsub(channel.clone()).await.unwrap();
            if subscribers.get(&channel).copied().unwrap_or(0) > 0 {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "the node never re-subscribed");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        direct.quit().await.unwrap();
    }
    // Alice's own refresh puts her back in Redis.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let rooms = server.call(Some(&alice), "rooms", &[]).await;
        let rooms: Vec<app::protocol::RoomSummary> = serde_json::from_str(&rooms.body).unwrap();
        if rooms[0].online == 1 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "alice never came back online");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut b = server.ws(&bob).await;
    b.join(room, 0).await;
    b.online_becomes(room, &["alice", "bob"]).await;
    a.online_becomes(room, &["alice", "bob"]).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB and Redis: cargo test -- --include-ignored"]
async fn with_redis_down_a_node_keeps_its_rooms_going_and_says_degraded() {
    let env = Environment::new(Backend::MariaDbRedis).await;
    let (server, redis) = env.node_behind_redis_proxy().await;
    let alice = server.sign_up("alice").await;
    let bob = server.sign_up("bob").await;
    let room = server.create_room(&alice, "Local").await;
    let mut a = server.ws(&alice).await;
    let mut b = server.ws(&bob).await;
    a.join(room, 0).await;
    b.join(room, 0).await;

    redis.cut();
    a.post(room, "m1", "redis is down").await;
    let got = b.next_message().await;
    assert_eq!((got.seq, got.body.as_str()), (1, "redis is down"));
    let health: serde_json::Value = server.health().await;
    assert_eq!(health["status"], "degraded", "{health}");
    // Public: no cause, no host names.
    assert_eq!(health["redis"], "unreachable", "{health}");

    redis.restore();
    until_healthy(&server).await;
    a.post(room, "m2", "redis is back").await;
    assert_eq!(b.next_message().await.seq, 2);
    assert_eq!(drain_messages(&mut b, Duration::from_secs(1)).await, Vec::<i64>::new());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB and Redis: cargo test -- --include-ignored"]
async fn with_the_database_unreachable_a_send_fails_retryably_and_its_retry_lands_once() {
    let env = Environment::new(Backend::MariaDbRedis).await;
    let (server, db) = env.node_behind_database_proxy().await;
    let alice = server.sign_up("alice").await;
    let room = server.create_room(&alice, "Durable").await;
    let mut a = server.ws(&alice).await;
    a.join(room, 0).await;

    db.cut();
    let send = ClientFrame::Send {
        room,
        client_id: "r1".into(),
        body: "must land once".into(),
        reply_to: None,
        attachment: None,
    };
    a.send(&send).await;
    match a
        .recv_until(|f| matches!(f, ServerFrame::Error { .. } | ServerFrame::Ack { .. }))
        .await
    {
        ServerFrame::Error { code, client_id, .. } => {
            assert_eq!(code, ErrorCode::Unavailable);
            assert!(code.is_retryable());
            assert_eq!(client_id.as_deref(), Some("r1"));
        }
        other => panic!("no ack may come while the database is down: {other:?}"),
    }

    db.restore();
    // The client retries with the same id until it is acknowledged.
    let deadline = tokio::time::Instant::now() + WAIT;
    let seq = loop {
        a.send(&send).await;
        match a
            .recv_until(|f| matches!(f, ServerFrame::Error { .. } | ServerFrame::Ack { .. }))
            .await
        {
            ServerFrame::Ack { seq, .. } => break seq,
            _ => assert!(tokio::time::Instant::now() < deadline, "the pool never recovered"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(seq, 1);
    a.send(&send).await;
    let again = a.recv_until(|f| matches!(f, ServerFrame::Ack { .. })).await;
    assert!(
        matches!(again, ServerFrame::Ack { seq: 1, .. }),
        "a late retry gets the same ack"
    );
    let page = server
        .call(Some(&alice), "room", &[("room", &room.0.to_string())])
        .await;
    let page: app::protocol::RoomPage = serde_json::from_str(&page.body).unwrap();
    assert_eq!(page.messages.len(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB and Redis: cargo test -- --include-ignored"]
async fn a_client_that_stops_reading_is_cut_off_and_the_room_goes_on() {
    let env = Environment::new(Backend::Embedded).await;
    let server = env.node().await;
    let alice = server.sign_up("alice").await;
    let bob = server.sign_up("bob").await;
    let slow = server.sign_up("slowpoke").await;
    let room = server.create_room(&alice, "Busy").await;
    let mut a = server.ws(&alice).await;
    let mut b = server.ws(&bob).await;
    let mut s = server.ws(&slow).await;
    a.join(room, 0).await;
    b.join(room, 0).await;
    s.join(room, 0).await;

    // The slow client reads nothing from here on while ~6 MB flow: more than
    // the socket buffers plus its bounded queue hold.
    let body = "y".repeat(3900);
    let sender = tokio::spawn(async move {
        for i in 0..1500 {
            a.post(room, &format!("f{i}"), &body).await;
        }
        a
    });
    let mut seqs = Vec::new();
    while seqs.len() < 1500 {
        seqs.push(b.next_message().await.seq);
    }
    sender.await.unwrap();
    assert_eq!(
        seqs,
        (1..=1500).collect::<Vec<_>>(),
        "the reader kept up got everything in order"
    );

    // Reading at last, the slow client finds it was told to resync and closed.
    let (frames, ended) = s.read_to_end().await;
    let told_to_resync = frames.iter().any(|f| {
        matches!(
            f,
            ServerFrame::Error {
                code: ErrorCode::Resync,
                ..
            }
        )
    });
    assert!(told_to_resync, "the slow client is told to resync");
    assert_eq!(ended, common::Ended::Closed(Some(1013)));
    server.stop().await;
}

/// A socket that asks for catch-ups (and joins) of a room of long messages
/// without ever reading the answers: the server stops reading it while an
/// answer waits to be written, so it holds a bounded amount for it, closes it
/// when its writes stall, and the room goes on for everyone else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB and Redis: cargo test -- --include-ignored"]
async fn a_client_that_asks_and_never_reads_costs_the_server_a_bounded_amount() {
    const REQUESTS: usize = 256;
    let env = Environment::new(Backend::MariaDbRedis).await;
    let server = TestServer::binary(&env).await;
    let alice = server.sign_up("alice").await;
    let bob = server.sign_up("bob").await;
    let mallory = server.sign_up("mallory").await;
    let room = server.create_room(&alice, "Long reads").await;
    let mut a = server.ws(&alice).await;
    let mut b = server.ws(&bob).await;
    a.join(room, 0).await;
    b.join(room, 0).await;
    // ~150 messages of 16 KB each (4,000 four-byte characters).
    let long = "😀".repeat(4000);
    for i in 0..150 {
        a.post(room, &format!("long{i}"), &long).await;
    }
    while b.next_message().await.seq < 150 {}
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = server.rss_kib();

    // Two sockets of mallory's ask again and again and never read.
    let mut asker = server.ws(&mallory).await;
    let mut joiner = server.ws(&mallory).await;
    asker.send(&ClientFrame::Join { room, since: 150 }).await;
    for _ in 0..REQUESTS {
        asker.send(&ClientFrame::CatchUp { room, since: 0 }).await;
        joiner.send(&ClientFrame::Join { room, since: 0 }).await;
    }

    // Meanwhile the room goes on: every message reaches bob, promptly.
    let mut peak = before;
    let mut slowest = Duration::ZERO;
    for i in 0..60 {
        let sent = tokio::time::Instant::now();
        a.post(room, &format!("live{i}"), "still here").await;
        let got = b.next_message().await;
        assert_eq!((got.seq, got.body.as_str()), (151 + i, "still here"));
        slowest = slowest.max(sent.elapsed());
        peak = peak.max(server.rss_kib());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let growth_kib = peak.saturating_sub(before);
    eprintln!("RSS {before} KiB before, peak {peak} KiB during: +{growth_kib} KiB; slowest delivery {slowest:?}");
    assert!(
        growth_kib < 24 * 1024,
        "the server grew by {growth_kib} KiB for two sockets that never read"
    );
    assert!(slowest < Duration::from_secs(1), "a message took {slowest:?}");

    // Their writes stalled: after the write timeout (10 s) both are closed,
    // without an answer to most of what they asked.
    tokio::time::sleep(Duration::from_secs(12)).await;
    for (ws, what) in [(&mut asker, "catch-ups"), (&mut joiner, "joins")] {
        let (frames, ended) = ws.read_to_end().await;
        let answered = frames
            .iter()
            .filter(|f| matches!(f, ServerFrame::CatchUp { .. }))
            .count();
        assert_ne!(ended, common::Ended::StillOpen, "{what}: still open");
        assert!(answered < REQUESTS, "{what}: all {answered} answered");
    }
    // And bob's connection is as good as ever.
    a.post(room, "after", "after the storm").await;
    assert_eq!(b.next_message().await.body, "after the storm");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB and Redis: cargo test -- --include-ignored"]
async fn a_connection_that_never_answers_pings_is_closed_and_goes_offline() {
    let env = Environment::new(Backend::Embedded).await;
    let mut config = env.config();
    config.timings.ping_every = Duration::from_millis(200);
    config.timings.idle_timeout = Duration::from_secs(1);
    let server = TestServer::start(config).await;
    let alice = server.sign_up("alice").await;
    let ghost = server.sign_up("ghost").await;
    let room = server.create_room(&alice, "Heartbeat").await;
    let mut a = server.ws(&alice).await;
    a.join(room, 0).await;
    let mut g = server.ws(&ghost).await;
    g.join(room, 0).await;
    a.online_becomes(room, &["alice", "ghost"]).await;

    // Alice keeps answering pings (her client reads); the ghost never reads
    // again, so it never answers one.
    let started = tokio::time::Instant::now();
    a.online_becomes(room, &["alice"]).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    a.post(room, "m1", "alice is still here").await;
    drop(g);
    server.stop().await;
}

/// A real server process, for faults only a process can have (SIGKILL).
struct Process {
    child: tokio::process::Child,
    addr: std::net::SocketAddr,
}

impl Process {
    async fn start(env: &Environment) -> Process {
        use tokio::io::AsyncBufReadExt;
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_server"))
            .env("LISTEN_ADDR", "127.0.0.1:0")
            .env("DATABASE_URL", &env.database_url)
            .env("REDIS_URL", env.redis_url.as_deref().unwrap())
            .env("REDIS_PREFIX", &env.redis_prefix)
            .env("LEPTOS_OUTPUT_NAME", "natter")
            .env("RUST_LOG", "warn")
            .env("PRESENCE_TTL_SECS", "2")
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let url = line
            .strip_prefix("Natter is running at http://")
            .expect("the server prints its URL");
        Process {
            child,
            addr: url.parse().unwrap(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB and Redis: cargo test -- --include-ignored"]
async fn when_a_node_is_killed_its_clients_resume_on_another_without_loss_or_duplicates() {
    let env = Environment::new(Backend::MariaDbRedis).await;
    let mut config = env.config();
    config.timings = config.timings.with_presence_ttl(Duration::from_secs(2));
    let survivor = TestServer::start(config).await;
    let mut doomed = Process::start(&env).await;
    let alice = survivor.sign_up("alice").await;
    let bob = survivor.sign_up("bob").await;
    let carol = survivor.sign_up("carol").await;
    let room = survivor.create_room(&alice, "Resilient").await;

    let mut a = survivor.ws(&alice).await;
    a.join(room, 0).await;
    let mut b = common::Ws::connect_to(doomed.addr, Some(&bob), None).await.unwrap();
    b.join(room, 0).await;
    // Carol is only on the doomed node and does not come back.
    let mut c = common::Ws::connect_to(doomed.addr, Some(&carol), None).await.unwrap();
    c.join(room, 0).await;
    a.online_becomes(room, &["alice", "bob", "carol"]).await;
    a.post(room, "a1", "one").await;
    assert_eq!(b.next_message().await.seq, 1);

    // Bob sends, and his node dies before he hears back.
    let pending = ClientFrame::Send {
        room,
        client_id: "b-pending".into(),
        body: "in flight".into(),
        reply_to: None,
        attachment: None,
    };
    b.send(&pending).await;
    doomed.child.kill().await.unwrap();
    a.post(room, "a2", "two").await;
    a.post(room, "a3", "three").await;

    // Bob comes back on the surviving node, catches up, and re-sends.
    let mut b = survivor.ws(&bob).await;
    let missed = b.join(room, 1).await;
    b.send(&pending).await;
    let mut have: Vec<i64> = missed.iter().map(|m| m.seq).collect();
    have.push(1);
    // Bob's own message is published when it commits, so it may reach him
    // before its Ack: what arrives while he waits for the Ack counts too.
    let acked = loop {
        match b.recv().await {
            ServerFrame::Ack { seq, .. } => break seq,
            ServerFrame::Message { message } => have.push(message.seq),
            _ => {}
        }
    };
    have.extend(drain_messages(&mut b, Duration::from_millis(800)).await);
    have.sort();
    have.dedup();
    assert_eq!(have, vec![1, 2, 3, 4], "bob holds everything after resuming");
    assert!((2..=4).contains(&acked));

    // Exactly one row for the in-flight message, whether or not it committed before the kill.
    sqlx::any::install_default_drivers();
    let mut db = <sqlx::AnyConnection as sqlx::Connection>::connect(&env.database_url)
        .await
        .unwrap();
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM room_events WHERE client_id = 'b-pending'")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(count, 1);
    let (total,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM room_events")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(total, 4);

    // The dead node's presence entries lapse: carol drops off the list.
    a.online_becomes(room, &["alice", "bob"]).await;
    drop(c);
    survivor.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB and Redis: cargo test -- --include-ignored"]
async fn presence_lost_with_a_redis_restart_is_rebuilt_within_its_ttl() {
    use fred::prelude::*;
    let env = Environment::new(Backend::MariaDbRedis).await;
    let mut config = env.config();
    config.timings = config.timings.with_presence_ttl(Duration::from_secs(3));
    let server = TestServer::start(config).await;
    let alice = server.sign_up("alice").await;
    let bob = server.sign_up("bob").await;
    let room = server.create_room(&alice, "Amnesia").await;
    let mut a = server.ws(&alice).await;
    let mut b = server.ws(&bob).await;
    a.join(room, 0).await;
    b.join(room, 0).await;
    let online_count = || async {
        let rooms = server.call(Some(&alice), "rooms", &[]).await;
        let rooms: Vec<app::protocol::RoomSummary> = serde_json::from_str(&rooms.body).unwrap();
        rooms[0].online
    };
    assert_eq!(online_count().await, 2);

    // Redis keeps nothing on disk here: a restart loses every presence set.
    let redis = Client::new(
        Config::from_url(env.redis_url.as_deref().unwrap()).unwrap(),
        None,
        None,
        None,
    );
    redis.init().await.unwrap();
    let deleted: i64 = redis
        .del(format!("{}:presence:{room}", env.redis_prefix))
        .await
        .unwrap();
    assert_eq!(deleted, 1, "the room's presence set existed and is gone");

    // The connections' refreshes (every TTL / 3) put everyone back.
    let deadline = tokio::time::Instant::now() + WAIT;
    while online_count().await != 2 {
        assert!(tokio::time::Instant::now() < deadline, "presence was not rebuilt");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    redis.quit().await.unwrap();
    drop((a, b));
    server.stop().await;
}
