//! Core chat behaviour against the real server, on the embedded default and
//! on MariaDB + Redis.
#![allow(clippy::unwrap_used)]

mod common;

use app::protocol::{ClientFrame, ErrorCode, RoomId, ServerFrame};
use common::{Backend, Ended, Environment, Ws};

on_both_backends!(
    two_users_chat_live_in_a_room,
    a_non_member_receives_nothing_from_another_room,
    a_retried_send_makes_one_message,
    a_reconnect_receives_exactly_the_missed_messages_in_order,
    bad_input_gets_a_clear_error_and_the_socket_stays_open,
    concurrent_senders_get_gap_free_sequences,
    a_burst_from_one_socket_is_acknowledged_in_order,
    sends_in_flight_when_the_sender_hangs_up_still_reach_the_room,
    emoji_and_cjk_round_trip_byte_exact,
    history_pages_back_any_depth,
    the_online_list_counts_a_person_once_and_drops_them_on_close,
    a_frame_over_64_kib_is_refused_without_touching_others,
    markup_and_sql_in_user_text_are_kept_as_text,
    a_long_absence_is_caught_up_in_pages_without_a_hole,
    typing_reaches_the_room_on_every_node_but_not_from_the_muted,
);

async fn two_users_chat_live_in_a_room(backend: Backend) {
    let env = Environment::new(backend).await;
    let server = env.node().await;
    let alice = server.sign_up("alice").await;
    let bob = server.sign_up("bob").await;
    let room = server.create_room(&alice, "General").await;

    let mut a = server.ws(&alice).await;
    let mut b = server.ws(&bob).await;
    assert!(a.join(room, 0).await.is_empty());
    assert!(b.join(room, 0).await.is_empty());

    let seq = a.post(room, "a-1", "hello bob").await;
    assert_eq!(seq, 1);
    let got = b.next_message().await;
    assert_eq!(
        (got.author.as_str(), got.body.as_str(), got.seq, got.room),
        ("alice", "hello bob", 1, room)
    );

    let seq = b.post(room, "b-1", "hi alice\nhow are you?").await;
    assert_eq!(seq, 2);
    let got = a
        .recv_until(|f| matches!(f, ServerFrame::Message { message } if message.author == "bob"))
        .await;
    let ServerFrame::Message { message } = got else {
        unreachable!()
    };
    assert_eq!(message.body, "hi alice\nhow are you?", "line breaks are kept");

    // Both messages are history now, for anyone who opens the room.
    let page = server.call(Some(&bob), "room", &[("room", &room.0.to_string())]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let page: app::protocol::RoomPage = serde_json::from_str(&page.body).unwrap();
    let bodies: Vec<_> = page.messages.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["hello bob", "hi alice\nhow are you?"]);
    assert!(!page.has_older);
    server.stop().await;
}

async fn a_non_member_receives_nothing_from_another_room(backend: Backend) {
    let env = Environment::new(backend).await;
    let server = env.node().await;
    let alice = server.sign_up("alice").await;
    let carol = server.sign_up("carol").await;
    let secret = server.create_room(&alice, "Alice only").await;
    let other = server.create_room(&carol, "Carol's").await;

    let mut a = server.ws(&alice).await;
    let mut c = server.ws(&carol).await;
    a.join(secret, 0).await;
    c.join(other, 0).await;
    a.post(secret, "s-1", "not for carol").await;
    // A marker in carol's own room: everything before it has been delivered.
    let mut a2 = server.ws(&alice).await;
    a2.join(other, 0).await;
    a2.post(other, "o-1", "marker").await;
    loop {
        match c.recv().await {
            ServerFrame::Message { message } => {
                assert_eq!(message.body, "marker", "carol got a message from a room she is not in");
                break;
            }
            ServerFrame::CatchUp { room, .. } => assert_eq!(room, other),
            _ => {}
        }
    }
    // Sending into a room the connection has not joined is refused.
    c.send(&ClientFrame::Send {
        room: secret,
        client_id: "x".into(),
        body: "sneaky".into(),
        reply_to: None,
        attachment: None,
    })
    .await;
    let err = c.recv_until(|f| matches!(f, ServerFrame::Error { .. })).await;
    assert!(
        matches!(
            err,
            ServerFrame::Error {
                code: ErrorCode::Invalid,
                ..
            }
        ),
        "{err:?}"
    );
    let page = server
        .call(Some(&alice), "room", &[("room", &secret.0.to_string())])
        .await;
    let page: app::protocol::RoomPage = serde_json::from_str(&page.body).unwrap();
    assert_eq!(page.messages.len(), 1, "the refused send left nothing behind");
    server.stop().await;
}

async fn a_retried_send_makes_one_message(backend: Backend) {
    let env = Environment::new(backend).await;
    let server = env.node().await;
    let alice = server.sign_up("alice").await;
    let bob = server.sign_up("bob").await;
    let room = server.create_room(&alice, "Retry").await;
    let mut a = server.ws(&alice).await;
    let mut b = server.ws(&bob).await;
    a.join(room, 0).await;
    b.join(room, 0).await;

    let first = a.post(room, "same-id", "once").await;
    // The retry comes on a new connection, as after a reconnect.
    let mut a_again = server.ws(&alice).await;
    a_again.join(room, 0).await;
    let second = a_again.post(room, "same-id", "once").await;
    assert_eq!(first, second, "the retry is acknowledged with the original sequence");
    let next = a.post(room, "other-id", "twice").await;
    assert_eq!(next, first + 1, "no sequence was burnt by the retry");

    // Bob sees each message exactly once.
    assert_eq!(b.next_message().await.body, "once");
    assert_eq!(b.next_message().await.body, "twice");
    let page = server.call(Some(&bob), "room", &[("room", &room.0.to_string())]).await;
    let page: app::protocol::RoomPage = serde_json::from_str(&page.body).unwrap();
    assert_eq!(page.messages.len(), 2);
    server.stop().await;
}

async fn a_reconnect_receives_exactly_the_missed_messages_in_order(backend: Backend) {
    let env = Environment::new(backend).await;
    let server = env.node().await;
    let alice = server.sign_up("alice").await;
    let bob = server.sign_up("bob").await;
    let room = server.create_room(&alice, "Catch up").await;
    let mut a = server.ws(&alice).await;
    let mut b = server.ws(&bob).await;
    a.join(room, 0).await;
    b.join(room, 0).await;
    a.post(room, "m1", "one").await;
    assert_eq!(b.next_message().await.seq, 1);
    b.close().await;

    for (i, body) in ["two", "three", "four"].iter().enumerate() {
        a.post(room, &format!("m{}", i + 2), body).await;
    }
    let mut b = server.ws(&bob).await;
    let missed = b.join(room, 1).await;
    let got: Vec<_> = missed.iter().map(|m| (m.seq, m.body.as_str())).collect();
    assert_eq!(got, [(2, "two"), (3, "three"), (4, "four")]);
    server.stop().await;
}

async fn bad_input_gets_a_clear_error_and_the_socket_stays_open(backend: Backend) {
    let env = Environment::new(backend).await;
    let server = env.node().await;
    let alice = server.sign_up("alice").await;
    let room = server.create_room(&alice, "Errors").await;
    let mut a = server.ws(&alice).await;
    a.join(room, 0).await;

    async fn error_for(ws: &mut Ws, raw: &str) -> (ErrorCode, String) {
        ws.send_raw(raw).await;
        match ws.recv_until(|f| matches!(f, ServerFrame::Error { .. })).await {
            ServerFrame::Error { code, message, .. } => (code, message),
            _ => unreachable!(),
        }
    }
    let send = |body: &str| {
        serde_json::to_string(&ClientFrame::Send {
            room,
            client_id: "c1".into(),
            body: body.into(),
            reply_to: None,
            attachment: None,
        })
        .unwrap()
    };
    let (code, message) = error_for(&mut a, &send("   \n ")).await;
    assert_eq!(
        (code, message.as_str()),
        (ErrorCode::Invalid, "Message cannot be empty.")
    );
    let (code, message) = error_for(&mut a, &send(&"x".repeat(4001))).await;
    assert_eq!(code, ErrorCode::Invalid);
    assert!(message.contains("too long"), "{message}");
    let (code, message) = error_for(&mut a, "{not json").await;
    assert_eq!(code, ErrorCode::BadFrame);
    assert!(message.starts_with("Unrecognised frame"), "{message}");
    let (code, _) = error_for(&mut a, r#"{"type":"shout","room":1}"#).await;
    assert_eq!(code, ErrorCode::BadFrame);
    // JSON nested far too deep is refused by the parser's depth limit, not a stack overflow.
    let deep = format!(
        r#"{{"type":"send","room":1,"client_id":"d","body":{}{}}}"#,
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let (code, message) = error_for(&mut a, &deep).await;
    assert_eq!(code, ErrorCode::BadFrame);
    assert!(message.contains("recursion limit"), "{message}");
    let join_missing = serde_json::to_string(&ClientFrame::Join {
        room: RoomId(999_999),
        since: 0,
    })
    .unwrap();
    let (code, message) = error_for(&mut a, &join_missing).await;
    assert_eq!(
        (code, message.as_str()),
        (ErrorCode::NotFound, "That room does not exist.")
    );
    let (code, _) = error_for(
        &mut a,
        &serde_json::to_string(&ClientFrame::Send {
            room,
            client_id: "bad id!".into(),
            body: "hi".into(),
            reply_to: None,
            attachment: None,
        })
        .unwrap(),
    )
    .await;
    assert_eq!(code, ErrorCode::Invalid);

    // The socket is still open and nothing half-written exists: the next real
    // message gets sequence 1.
    assert_eq!(a.post(room, "ok-1", "still here").await, 1);

    // Server functions validate too.
    let reply = server
        .call(Some(&alice), "create_room", &[("name", "  "), ("topic", "")])
        .await;
    assert_eq!(reply.error().message, "Room name cannot be empty.");
    let reply = server
        .call(Some(&alice), "create_room", &[("name", "errors"), ("topic", "")])
        .await;
    assert_eq!(
        reply.error().code,
        ErrorCode::Conflict,
        "room names are unique case-insensitively"
    );
    let reply = server.call(Some(&alice), "room", &[("room", "424242")]).await;
    assert_eq!((reply.error().code, reply.status), (ErrorCode::NotFound, 404));
    let reply = server.call(Some(&alice), "room", &[("room", "abc")]).await;
    assert_eq!(reply.error().code, ErrorCode::Invalid);
    server.stop().await;
}

async fn concurrent_senders_get_gap_free_sequences(backend: Backend) {
    let env = Environment::new(backend).await;
    let server = env.node().await;
    let owner = server.sign_up("owner").await;
    let room = server.create_room(&owner, "Busy").await;
    let mut tasks = Vec::new();
    for user in 0..4 {
        let cookie = server.sign_up(&format!("sender{user}")).await;
        let mut ws = server.ws(&cookie).await;
        ws.join(room, 0).await;
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..10 {
                seqs.push(ws.post(room, &format!("u{user}-{i}"), &format!("message {i}")).await);
            }
            seqs
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        let seqs = task.await.unwrap();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "one sender's messages stay in order: {seqs:?}"
        );
        all.extend(seqs);
    }
    all.sort();
    assert_eq!(all, (1..=40).collect::<Vec<i64>>(), "sequences are gap-free and unique");
    server.stop().await;
}

/// A socket keeps reading while its sends wait for their commit (several in
/// flight): a burst sent without waiting for acks, longer than what one
/// connection may have in flight, is still acknowledged in send order with
/// consecutive sequences, and delivered in that order.
async fn a_burst_from_one_socket_is_acknowledged_in_order(backend: Backend) {
    let env = Environment::new(backend).await;
    let server = env.node().await;
    let alice = server.sign_up("alice").await;
    let bob = server.sign_up("bob").await;
    let room = server.create_room(&alice, "Burst").await;
    let mut a = server.ws(&alice).await;
    let mut b = server.ws(&bob).await;
    a.join(room, 0).await;
    b.join(room, 0).await;
    for i in 0..40 {
        a.send(&ClientFrame::Send {
            room,
            client_id: format!("burst-{i}"),
            body: format!("burst {i}"),
            reply_to: None,
            attachment: None,
        })
        .await;
    }
    let mut acks = Vec::new();
    while acks.len() < 40 {
        match a.recv().await {
            ServerFrame::Ack { client_id, seq, .. } => acks.push((client_id, seq)),
            ServerFrame::Error { message, .. } => panic!("a send failed: {message}"),
            _ => {}
        }
    }
    let expected: Vec<(String, i64)> = (0..40).map(|i| (format!("burst-{i}"), i as i64 + 1)).collect();
    assert_eq!(acks, expected, "acks in send order, sequences consecutive");
    for i in 0..40 {
        assert_eq!(b.next_message().await.body, format!("burst {i}"));
    }
    server.stop().await;
}

/// Sends read before the close frame are seen through: a burst longer than
/// what one connection may have in flight, followed at once by the sender's
/// close, still reaches everyone in the room, in order and without a gap,
/// and is history afterwards. (The server publishes a send only once it has
/// committed; a connection that dropped its in-flight sends on close would
/// lose some, or commit some that nobody hears of until they reload.) On
/// the embedded store commits are slow enough that several sends are always
/// in flight at the close; on MariaDB often none are.
async fn sends_in_flight_when_the_sender_hangs_up_still_reach_the_room(backend: Backend) {
    let env = Environment::new(backend).await;
    let server = env.node().await;
    let alice = server.sign_up("alice").await;
    let bob = server.sign_up("bob").await;
    let room = server.create_room(&alice, "Hang up").await;
    let mut a = server.ws(&alice).await;
    let mut b = server.ws(&bob).await;
    a.join(room, 0).await;
    b.join(room, 0).await;
    const BURST: usize = 40;
    for i in 0..BURST {
        a.send(&ClientFrame::Send {
            room,
            client_id: format!("bye-{i}"),
            body: format!("last words {i}"),
            reply_to: None,
            attachment: None,
        })
        .await;
    }
    // No ack awaited: the close frame follows the burst on the wire, and
    // the server stops reading there while many sends are still in flight.
    a.say_goodbye().await;
    for i in 0..BURST {
        let m = b.next_message().await;
        assert_eq!((m.body, m.seq), (format!("last words {i}"), i as i64 + 1));
    }
    let page = server.call(Some(&bob), "room", &[("room", &room.0.to_string())]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let page: app::protocol::RoomPage = serde_json::from_str(&page.body).unwrap();
    assert_eq!(page.messages.len(), BURST);
    server.stop().await;
}

async fn emoji_and_cjk_round_trip_byte_exact(backend: Backend) {
    let env = Environment::new(backend).await;
    let server = env.node().await;
    let alice = server.sign_up("alice").await;
    let room = server.create_room(&alice, "Café 世界 🎉").await;
    let text = "Grüße 👩🏽‍💻 你好，世界 — 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u{1F1EF}\u{1F1F5}";
    let mut a = server.ws(&alice).await;
    a.join(room, 0).await;
    a.post(room, "u1", text).await;
    let live = a.next_message().await;
    assert_eq!(live.body.as_bytes(), text.as_bytes());
    let page = server
        .call(Some(&alice), "room", &[("room", &room.0.to_string())])
        .await;
    let page: app::protocol::RoomPage = serde_json::from_str(&page.body).unwrap();
    assert_eq!(page.name, "Café 世界 🎉");
    assert_eq!(page.messages[0].body.as_bytes(), text.as_bytes());
    server.stop().await;
}

async fn history_pages_back_any_depth(backend: Backend) {
    let env = Environment::new(backend).await;
    let server = env.node().await;
    let alice = server.sign_up("alice").await;
    let room = server.create_room(&alice, "Long").await;
    let mut a = server.ws(&alice).await;
    a.join(room, 0).await;
    for i in 1..=120 {
        a.post(room, &format!("h{i}"), &format!("#{i}")).await;
    }
    let page = server
        .call(Some(&alice), "room", &[("room", &room.0.to_string())])
        .await;
    let page: app::protocol::RoomPage = serde_json::from_str(&page.body).unwrap();
    let seqs: Vec<i64> = page.messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (71..=120).collect::<Vec<_>>(), "the newest 50, oldest first");
    assert!(page.has_older);

    let mut before = 71;
    let mut seen = seqs.len();
    loop {
        let reply = server
            .call(
                Some(&alice),
                "history",
                &[("room", &room.0.to_string()), ("before", &before.to_string())],
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let older: app::protocol::HistoryPage = serde_json::from_str(&reply.body).unwrap();
        let seqs: Vec<i64> = older.messages.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, ((before - 50).max(1)..before).collect::<Vec<_>>());
        seen += seqs.len();
        if !older.has_older {
            break;
        }
        before = seqs[0];
    }
    assert_eq!(seen, 120);

    // Catch-up replays at most its limit and says there is more.
    let mut late = server.ws(&alice).await;
    late.send(&ClientFrame::Join { room, since: 0 }).await;
    match late.recv_until(|f| matches!(f, ServerFrame::CatchUp { .. })).await {
        ServerFrame::CatchUp { events, more, .. } => {
            assert_eq!(events.len(), 120);
            assert!(!more);
        }
        _ => unreachable!(),
    }
    server.stop().await;
}

async fn the_online_list_counts_a_person_once_and_drops_them_on_close(backend: Backend) {
    let env = Environment::new(backend).await;
    let server = env.node().await;
    let alice = server.sign_up("alice").await;
    let bob = server.sign_up("bob").await;
    let room = server.create_room(&alice, "Presence").await;
    let mut a = server.ws(&alice).await;
    a.join(room, 0).await;
    a.online_becomes(room, &["alice"]).await;
    // The room's first socket on this node gets the whole list once more:
    // the node had no list of its own to announce changes against.
    a.wait_for(|f| matches!(f, ServerFrame::Online { online, .. } if online == &["alice"]))
        .await;
    let mut b1 = server.ws(&bob).await;
    let mut b2 = server.ws(&bob).await;
    b1.join(room, 0).await;
    b2.join(room, 0).await;

    let joined = a.recv_until(|f| matches!(f, ServerFrame::Presence { .. })).await;
    assert!(
        matches!(&joined, ServerFrame::Presence { username, joined: true, .. } if username == "bob"),
        "{joined:?}"
    );
    a.online_becomes(room, &["alice", "bob"]).await;

    let rooms = server.call(Some(&alice), "rooms", &[]).await;
    let rooms: Vec<app::protocol::RoomSummary> = serde_json::from_str(&rooms.body).unwrap();
    assert_eq!(
        rooms.iter().find(|r| r.id == room).unwrap().online,
        2,
        "two tabs count once"
    );

    b1.close().await;
    b2.close().await;
    let left = a
        .recv_until(|f| matches!(f, ServerFrame::Presence { joined: false, .. }))
        .await;
    assert!(matches!(left, ServerFrame::Presence { username, .. } if username == "bob"));
    a.online_becomes(room, &["alice"]).await;
    // Since then only who came and went, never the whole list (in a big
    // room, n names to each of n sockets on every join).
    assert!(!a.skipped_any(|f| matches!(f, ServerFrame::Online { .. })));
    server.stop().await;
}

async fn a_frame_over_64_kib_is_refused_without_touching_others(backend: Backend) {
    let env = Environment::new(backend).await;
    let server = env.node().await;
    let alice = server.sign_up("alice").await;
    let bob = server.sign_up("bob").await;
    let room = server.create_room(&alice, "Limits").await;
    let mut a = server.ws(&alice).await;
    let mut b = server.ws(&bob).await;
    a.join(room, 0).await;
    b.join(room, 0).await;
    let huge = serde_json::to_string(&ClientFrame::Send {
        room,
        client_id: "big".into(),
        body: "x".repeat(70 * 1024),
        reply_to: None,
        attachment: None,
    })
    .unwrap();
    a.send_raw(&huge).await;
    // The server ends the oversize connection at once: with close code 1009
    // ("too big"), or — when the unread rest of the frame makes the kernel
    // reset the socket before the close frame is read — with a reset.
    let ended = a.ended().await;
    assert!(matches!(ended, Ended::Closed(Some(1009)) | Ended::Reset), "{ended:?}");
    // Bob's connection is unaffected and the room still works.
    assert_eq!(b.post(room, "b1", "still fine").await, 1);
    server.stop().await;
}

async fn markup_and_sql_in_user_text_are_kept_as_text(backend: Backend) {
    let env = Environment::new(backend).await;
    let server = env.node().await;
    let alice = server.sign_up("alice").await;
    let name = "</title><img src=x onerror=alert(1)>'; DROP TABLE messages; --";
    let topic = "<script>alert(2)</script>\" OR \"1\"=\"1";
    let reply = server
        .call(Some(&alice), "create_room", &[("name", name), ("topic", topic)])
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let room: RoomId = serde_json::from_str(&reply.body).unwrap();
    let mut a = server.ws(&alice).await;
    a.join(room, 0).await;
    let body = "<b onmouseover=alert(3)>hi</b>' OR '1'='1";
    a.post(room, "x1", body).await;

    // Logging in with SQL in the name is just a wrong name.
    let login = server
        .call(
            None,
            "login",
            &[("username", "' OR '1'='1' -- "), ("password", "whatever1")],
        )
        .await;
    assert_eq!(login.error().message, "Wrong username or password.");
    let signup = server
        .call(None, "signup", &[("username", "<script>"), ("password", "whatever1")])
        .await;
    assert_eq!(signup.error().code, ErrorCode::Invalid);

    // The server-rendered pages show all of it as text.
    let client = common::http().build().unwrap();
    for path in [format!("/rooms/{room}"), "/".to_string()] {
        let html = client
            .get(server.url(&path))
            .header("cookie", &alice)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!html.contains("<img src=x"), "{path}: markup leaked: {html}");
        assert!(!html.contains("<script>alert"), "{path}: markup leaked");
        assert!(
            html.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{path}: the name is shown as text"
        );
    }
    let html = client
        .get(server.url(&format!("/rooms/{room}")))
        .header("cookie", &alice)
        .send()
        .await
        .unwrap();
    let html = html.text().await.unwrap();
    assert!(
        html.contains("&lt;b onmouseover=alert(3)&gt;hi&lt;/b&gt;"),
        "the message is text"
    );
    assert!(
        html.contains("&lt;script&gt;alert(2)&lt;/script&gt;"),
        "the topic is text"
    );
    // Every table is intact and the text round-trips exactly.
    let page = server
        .call(Some(&alice), "room", &[("room", &room.0.to_string())])
        .await;
    let page: app::protocol::RoomPage = serde_json::from_str(&page.body).unwrap();
    assert_eq!((page.name.as_str(), page.topic.as_str()), (name, topic));
    assert_eq!(page.messages[0].body, body);
    assert_eq!(a.post(room, "x2", "still works").await, 2);
    server.stop().await;
}

async fn a_long_absence_is_caught_up_in_pages_without_a_hole(backend: Backend) {
    let env = Environment::new(backend).await;
    let server = env.node().await;
    let alice = server.sign_up("alice").await;
    let bob = server.sign_up("bob").await;
    let room = server.create_room(&alice, "Busy while away").await;
    let mut a = server.ws(&alice).await;
    a.join(room, 0).await;
    let total = server::ws::CATCH_UP_LIMIT as i64 + 120;
    for i in 1..=total {
        a.post(room, &format!("m{i}"), &format!("#{i}")).await;
    }
    // Bob was away for all of it: the first catch-up stops at the limit and says so.
    let mut b = server.ws(&bob).await;
    b.send(&ClientFrame::Join { room, since: 0 }).await;
    let mut seqs = Vec::new();
    loop {
        match b.recv_until(|f| matches!(f, ServerFrame::CatchUp { .. })).await {
            ServerFrame::CatchUp { events, more, .. } => {
                assert!(events.len() <= server::ws::CATCH_UP_LIMIT as usize);
                seqs.extend(events.iter().map(app::protocol::LogEntry::seq));
                if !more {
                    break;
                }
                // The client asks for the rest from the last one it has.
                let since = *seqs.last().unwrap();
                b.send(&ClientFrame::CatchUp { room, since }).await;
            }
            _ => unreachable!(),
        }
    }
    assert_eq!(seqs, (1..=total).collect::<Vec<_>>());
    server.stop().await;
}

async fn typing_reaches_the_room_on_every_node_but_not_from_the_muted(backend: Backend) {
    let env = Environment::new(backend).await;
    let one = env.node().await;
    // With Redis, the reader is on a second node.
    let two = match backend {
        Backend::MariaDbRedis => Some(env.node().await),
        Backend::Embedded => None,
    };
    let other = two.as_ref().unwrap_or(&one);
    let alice = one.sign_up("alice").await;
    let bob = one.sign_up("bob").await;
    let carol = one.sign_up("carol").await;
    let room = one.create_room(&alice, "General").await;
    let mut a = one.ws(&alice).await;
    let mut b = other.ws(&bob).await;
    let mut c = one.ws(&carol).await;
    for ws in [&mut a, &mut b, &mut c] {
        ws.join(room, 0).await;
    }
    typing(&mut a, room, true).await;
    assert_eq!(next_typing(&mut b).await, ("alice".to_owned(), true));
    typing(&mut a, room, false).await;
    assert_eq!(next_typing(&mut b).await, ("alice".to_owned(), false));

    // Muted, carol's notices go nowhere. Her refused send, answered after
    // the notice was handled, orders it before alice's next one.
    let room_arg = room.0.to_string();
    let muted = one
        .call(
            Some(&alice),
            "mute_in_room",
            &[("room", &room_arg), ("username", "carol"), ("minutes", "10")],
        )
        .await;
    assert_eq!(muted.status, 200, "{}", muted.body);
    typing(&mut c, room, true).await;
    c.send(&ClientFrame::Send {
        room,
        client_id: "c-1".into(),
        body: "let me speak".into(),
        reply_to: None,
        attachment: None,
    })
    .await;
    c.recv_until(|f| matches!(f, ServerFrame::Error { client_id: Some(id), .. } if id == "c-1"))
        .await;
    typing(&mut a, room, true).await;
    assert_eq!(next_typing(&mut b).await, ("alice".to_owned(), true));
    one.stop().await;
    if let Some(two) = two {
        two.stop().await;
    }
}

async fn typing(ws: &mut Ws, room: RoomId, on: bool) {
    ws.send(&ClientFrame::Typing { room, on }).await;
}

/// The next typing notice: who, and whether typing.
async fn next_typing(ws: &mut Ws) -> (String, bool) {
    match ws.recv_until(|f| matches!(f, ServerFrame::Typing { .. })).await {
        ServerFrame::Typing { username, on, .. } => (username, on),
        _ => unreachable!("recv_until returned a Typing"),
    }
}
