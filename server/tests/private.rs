//! Private rooms: only members see, read and write them — through server
//! functions and the socket, checked again on every frame and at removal.
#![allow(clippy::unwrap_used)]

mod common;

use app::protocol::{ClientFrame, ErrorCode, RoomId, RoomSummary, ServerFrame};
use common::{Backend, Environment, TestServer};

on_both_backends!(
    outsiders_cannot_see_read_or_write_a_private_room_and_cannot_tell_it_exists,
    a_removed_member_is_cut_off_at_once_even_on_an_open_socket_on_another_node,
    a_direct_message_is_a_private_room_of_exactly_the_two,
    creating_a_room_reveals_nothing_about_private_rooms_the_creator_cannot_see,
    mentions_offer_a_private_rooms_members_to_its_members_only,
);

async fn private_room(server: &TestServer, owner: &str, name: &str) -> RoomId {
    let reply = server
        .call(
            Some(owner),
            "create_room",
            &[("name", name), ("topic", ""), ("private", "on")],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    serde_json::from_str(&reply.body).unwrap()
}

async fn rooms(server: &TestServer, cookie: &str) -> Vec<RoomSummary> {
    serde_json::from_str(&server.call(Some(cookie), "rooms", &[]).await.body).unwrap()
}

async fn outsiders_cannot_see_read_or_write_a_private_room_and_cannot_tell_it_exists(backend: Backend) {
    let env = Environment::new(backend).await;
    let server = env.node().await;
    let owner = server.sign_up("owner").await;
    let outsider = server.sign_up("outsider").await;
    let friend = server.sign_up("friend").await;
    let secret = private_room(&server, &owner, "Secret").await;
    let mut o = server.ws(&owner).await;
    o.join(secret, 0).await;
    o.post(secret, "s1", "for members only").await;

    // Not listed, and indistinguishable from a room that does not exist.
    assert!(rooms(&server, &outsider).await.is_empty());
    let hidden = server
        .call(Some(&outsider), "room", &[("room", &secret.0.to_string())])
        .await;
    let missing = server.call(Some(&outsider), "room", &[("room", "987654")]).await;
    assert_eq!((hidden.status, &hidden.body), (missing.status, &missing.body));
    assert_eq!(hidden.status, 404);
    let history = server
        .call(
            Some(&outsider),
            "history",
            &[("room", &secret.0.to_string()), ("before", "99")],
        )
        .await;
    assert_eq!(history.status, 404);
    let mut x = server.ws(&outsider).await;
    x.send(&ClientFrame::Join { room: secret, since: 0 }).await;
    let join_hidden = x.recv_until(|f| matches!(f, ServerFrame::Error { .. })).await;
    x.send(&ClientFrame::Join {
        room: RoomId(987_654),
        since: 0,
    })
    .await;
    let join_missing = x.recv_until(|f| matches!(f, ServerFrame::Error { .. })).await;
    assert_eq!(join_hidden, join_missing);
    x.send(&ClientFrame::Send {
        room: secret,
        client_id: "x1".into(),
        body: "let me in".into(),
        reply_to: None,
        attachment: None,
    })
    .await;
    let refused = x.recv_until(|f| matches!(f, ServerFrame::Error { .. })).await;
    assert!(
        matches!(
            refused,
            ServerFrame::Error {
                code: ErrorCode::Invalid,
                ..
            }
        ),
        "{refused:?}"
    );
    // Only the owner manages members.
    let grab = server
        .call(
            Some(&outsider),
            "add_member",
            &[("room", &secret.0.to_string()), ("username", "outsider")],
        )
        .await;
    assert_eq!(grab.status, 404);

    // A member the owner adds can see, read and write it.
    let added = server
        .call(
            Some(&owner),
            "add_member",
            &[("room", &secret.0.to_string()), ("username", "Friend")],
        )
        .await;
    assert_eq!(added.body, r#"["friend","owner"]"#);
    let listed = rooms(&server, &friend).await;
    assert_eq!((listed.len(), listed[0].private), (1, true));
    let mut f = server.ws(&friend).await;
    let backlog = f.join(secret, 0).await;
    assert_eq!(backlog[0].body, "for members only");
    f.post(secret, "f1", "thanks for having me").await;
    let by_member = server
        .call(
            Some(&friend),
            "remove_member",
            &[("room", &secret.0.to_string()), ("username", "owner")],
        )
        .await;
    assert_eq!(
        (by_member.status, by_member.error().code),
        (403, ErrorCode::Forbidden),
        "members cannot manage the room: {}",
        by_member.body
    );
    let page = server
        .call(Some(&outsider), "room", &[("room", &secret.0.to_string())])
        .await;
    assert_eq!(page.status, 404, "still nothing for the outsider");
    server.stop().await;
}

async fn a_removed_member_is_cut_off_at_once_even_on_an_open_socket_on_another_node(backend: Backend) {
    let env = Environment::new(backend).await;
    let one = env.node().await;
    let two = if backend == Backend::MariaDbRedis {
        Some(env.node().await)
    } else {
        None
    };
    let member_node = two.as_ref().unwrap_or(&one);
    let owner = one.sign_up("owner").await;
    let member = one.sign_up("member").await;
    let secret = private_room(&one, &owner, "Secret").await;
    let lobby = one.create_room(&owner, "Lobby").await;
    one.call(
        Some(&owner),
        "add_member",
        &[("room", &secret.0.to_string()), ("username", "member")],
    )
    .await;

    let mut o = one.ws(&owner).await;
    o.join(secret, 0).await;
    o.join(lobby, 0).await;
    let mut m = member_node.ws(&member).await;
    m.join(secret, 0).await;
    m.join(lobby, 0).await;
    o.post(secret, "o1", "before").await;
    assert_eq!(m.next_message().await.body, "before");

    let removed = one
        .call(
            Some(&owner),
            "remove_member",
            &[("room", &secret.0.to_string()), ("username", "member")],
        )
        .await;
    assert_eq!(removed.body, r#"["owner"]"#);
    // The open socket is told at once…
    let told = m.recv_until(|f| matches!(f, ServerFrame::Error { .. })).await;
    assert!(
        matches!(&told, ServerFrame::Error { code: ErrorCode::NotFound, message, .. } if message == "You no longer have access to this room."),
        "{told:?}"
    );
    // …and gets nothing more from the room: the next thing it sees is the lobby marker.
    o.post(secret, "o2", "after the removal").await;
    o.post(lobby, "o3", "marker").await;
    assert_eq!(m.next_message().await.body, "marker");
    // Writing or catching up is refused too.
    m.send(&ClientFrame::Send {
        room: secret,
        client_id: "m1".into(),
        body: "still here?".into(),
        reply_to: None,
        attachment: None,
    })
    .await;
    let refused = m.recv_until(|f| matches!(f, ServerFrame::Error { .. })).await;
    assert!(
        matches!(refused, ServerFrame::Error { client_id: Some(ref c), .. } if c == "m1"),
        "{refused:?}"
    );
    assert!(rooms(member_node, &member).await.iter().all(|r| r.id != secret));
    if let Some(two) = two {
        two.stop().await;
    }
    one.stop().await;
}

async fn a_direct_message_is_a_private_room_of_exactly_the_two(backend: Backend) {
    let env = Environment::new(backend).await;
    let server = env.node().await;
    let ann = server.sign_up("ann").await;
    let bob = server.sign_up("Bob").await;
    let eve = server.sign_up("eve").await;
    let direct = |cookie: &str, to: &'static str| {
        let cookie = cookie.to_owned();
        let server = &server;
        async move { server.call(Some(&cookie), "direct", &[("username", to)]).await }
    };
    let opened = direct(&ann, "bob").await;
    assert_eq!(opened.status, 200, "{}", opened.body);
    let room: RoomId = serde_json::from_str(&opened.body).unwrap();
    // Either side, any letter case, and a second time: the same room.
    for (cookie, to) in [(&bob, "ANN"), (&ann, "Bob")] {
        let again = direct(cookie, to).await;
        assert_eq!(
            serde_json::from_str::<RoomId>(&again.body).unwrap(),
            room,
            "{}",
            again.body
        );
    }
    for cookie in [&ann, &bob] {
        let listed = rooms(&server, cookie).await;
        assert_eq!(listed.len(), 1);
        assert!(listed[0].private && listed[0].direct, "{listed:?}");
        assert_eq!(listed[0].name, "ann & Bob");
    }
    let page = server.call(Some(&bob), "room", &[("room", &room.0.to_string())]).await;
    let page: app::protocol::RoomPage = serde_json::from_str(&page.body).unwrap();
    assert_eq!(page.members, ["ann", "Bob"]);
    assert!(page.direct && !page.owner);

    // The two talk; a third person can neither see, read, join nor be added.
    let mut a = server.ws(&ann).await;
    let mut b = server.ws(&bob).await;
    a.join(room, 0).await;
    b.join(room, 0).await;
    a.post(room, "d1", "just us").await;
    assert_eq!(b.next_message().await.body, "just us");
    assert!(rooms(&server, &eve).await.is_empty());
    let peek = server.call(Some(&eve), "room", &[("room", &room.0.to_string())]).await;
    assert_eq!(peek.status, 404);
    let mut e = server.ws(&eve).await;
    e.send(&ClientFrame::Join { room, since: 0 }).await;
    let refused = e.recv_until(|f| matches!(f, ServerFrame::Error { .. })).await;
    assert!(matches!(
        refused,
        ServerFrame::Error {
            code: ErrorCode::NotFound,
            ..
        }
    ));
    for (endpoint, who) in [("add_member", "eve"), ("remove_member", "bob")] {
        let changed = server
            .call(
                Some(&ann),
                endpoint,
                &[("room", &room.0.to_string()), ("username", who)],
            )
            .await;
        assert_eq!(changed.status, 403, "{}", changed.body);
        assert!(
            changed.error().message.contains("direct conversation"),
            "{}",
            changed.body
        );
    }
    // Nobody messages themselves or someone who does not exist.
    for (to, why, status) in [("ann", "yourself", 400), ("nobody", "no user", 404)] {
        let bad = direct(&ann, to).await;
        assert_eq!(bad.status, status, "{}", bad.body);
        assert!(bad.error().message.contains(why), "{}", bad.body);
    }
    // Without a session there is nothing to open.
    assert_eq!(server.call(None, "direct", &[("username", "bob")]).await.status, 401);
    server.stop().await;
}

async fn creating_a_room_reveals_nothing_about_private_rooms_the_creator_cannot_see(backend: Backend) {
    let env = Environment::new(backend).await;
    let server = env.node().await;
    let alice = server.sign_up("alice").await;
    let bob = server.sign_up("bob").await;
    let mallory = server.sign_up("mallory").await;
    let plans = private_room(&server, &alice, "Launch plans").await;
    let added = server
        .call(
            Some(&alice),
            "add_member",
            &[("room", &plans.0.to_string()), ("username", "bob")],
        )
        .await;
    assert_eq!(added.status, 200, "{}", added.body);
    let create = |cookie: String, name: &'static str, private: bool| {
        let server = &server;
        async move {
            let mut form = vec![("name", name), ("topic", "")];
            if private {
                form.push(("private", "on"));
            }
            server.call(Some(&cookie), "create_room", &form).await
        }
    };

    // Those who can see it are told the name is taken, as for any room they see.
    for who in [alice.clone(), bob.clone()] {
        for (name, private) in [("launch plans", true), ("Launch Plans", false)] {
            let reply = create(who.clone(), name, private).await;
            assert_eq!(reply.status, 409, "{name}: {}", reply.body);
            assert_eq!(reply.error().code, ErrorCode::Conflict);
        }
    }
    // Mallory and eve cannot see alice's room: its exact or upper-cased name
    // answers like any unused name, for a private or a public room.
    let eve = server.sign_up("eve").await;
    for (who, name, private) in [(&mallory, "Launch plans", true), (&eve, "LAUNCH PLANS", false)] {
        let reply = create(who.clone(), name, private).await;
        assert_eq!(reply.status, 200, "{name}: {}", reply.body);
        let id: RoomId = serde_json::from_str(&reply.body).unwrap();
        assert_ne!(id, plans);
    }
    // Eve's public "LAUNCH PLANS" is everyone's to see: it blocks the name
    // for everyone, private rooms included.
    let reply = create(bob.clone(), "Launch PLANS", true).await;
    assert_eq!(reply.status, 409, "{}", reply.body);
    let reply = create(mallory.clone(), "launch plans", true).await;
    assert_eq!(
        reply.status, 409,
        "a second private room of hers under one name: {}",
        reply.body
    );

    // Each sees the rooms they may, under the names they were given.
    let names = |list: Vec<RoomSummary>| {
        let mut names: Vec<String> = list.into_iter().map(|r| r.name).collect();
        names.sort();
        names
    };
    assert_eq!(names(rooms(&server, &alice).await), ["LAUNCH PLANS", "Launch plans"]);
    assert_eq!(names(rooms(&server, &mallory).await), ["LAUNCH PLANS", "Launch plans"]);
    let alices = rooms(&server, &alice).await;
    assert!(alices.iter().any(|r| r.id == plans && r.private));
    server.stop().await;
}

/// A join whose access check reads the membership just before the member's
/// removal commits, and which would subscribe just after the removal's kick
/// went by, must not be left receiving the room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB and Redis: cargo test -- --include-ignored"]
async fn a_join_racing_the_members_removal_does_not_leave_them_subscribed() {
    use std::time::Duration;
    let env = Environment::new(Backend::MariaDbRedis).await;
    let one = env.node().await;
    // The member's node reads the database through a proxy that holds its
    // answers back, with one connection and no background queries, so that
    // the race is played in a fixed order.
    let mut config = env.config();
    config.database_max_connections = 1;
    config.timings.session_recheck = Duration::from_secs(600);
    config.timings.repair_every = Duration::from_secs(600);
    let (two, db) = env.node_behind_database_proxy_with(config).await;
    let owner = one.sign_up("owner").await;
    one.sign_up("member").await;
    let secret = private_room(&one, &owner, "Secret").await;
    let lobby = one.create_room(&owner, "Lobby").await;
    let add = one
        .call(
            Some(&owner),
            "add_member",
            &[("room", &secret.0.to_string()), ("username", "member")],
        )
        .await;
    assert_eq!(add.status, 200, "{}", add.body);
    let member = two
        .call(None, "login", &[("username", "member"), ("password", "correct horse")])
        .await;
    let member = member.set_cookie.unwrap();
    let mut m = two.ws(&member).await;
    m.join(lobby, 0).await;
    let mut o = one.ws(&owner).await;
    o.join(secret, 0).await;
    o.join(lobby, 0).await;

    // The member joins: node two's access check reads "member" at once, but
    // the answer reaches node two only a second later…
    db.delay_replies(Duration::from_secs(1));
    m.send(&ClientFrame::Join { room: secret, since: 0 }).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // …by which time the owner has removed them (their kick went by first).
    let removed = one
        .call(
            Some(&owner),
            "remove_member",
            &[("room", &secret.0.to_string()), ("username", "member")],
        )
        .await;
    assert_eq!(removed.body, r#"["owner"]"#);
    let answer = m
        .recv_until(|f| matches!(f, ServerFrame::Error { .. } | ServerFrame::Joined { .. }))
        .await;
    assert!(
        matches!(
            &answer,
            ServerFrame::Error {
                code: ErrorCode::NotFound,
                ..
            }
        ),
        "the join is refused: {answer:?}"
    );
    db.delay_replies(Duration::ZERO);
    // Nothing from the room reaches the member afterwards.
    o.post(secret, "o1", "members only").await;
    o.post(lobby, "o2", "marker").await;
    assert_eq!(m.next_message().await.body, "marker");
    two.stop().await;
    one.stop().await;
}

async fn mentions_offer_a_private_rooms_members_to_its_members_only(backend: Backend) {
    let env = Environment::new(backend).await;
    let server = env.node().await;
    let owner = server.sign_up("owner").await;
    server.sign_up("olive").await;
    let outsider = server.sign_up("oscar").await;
    let secret = private_room(&server, &owner, "Secret").await;
    let added = server
        .call(
            Some(&owner),
            "add_member",
            &[("room", &secret.0.to_string()), ("username", "olive")],
        )
        .await;
    assert_eq!(added.status, 200, "{}", added.body);
    let ask = |cookie: String, typed: String| {
        let server = &server;
        async move {
            server
                .call(
                    Some(&cookie),
                    "mention_candidates",
                    &[("room", &secret.0.to_string()), ("typed", &typed)],
                )
                .await
        }
    };
    // Members, whatever case is typed; never someone outside the room.
    let offered = ask(owner.clone(), "O".into()).await;
    assert_eq!((offered.status, offered.body.as_str()), (200, r#"["olive","owner"]"#));
    let offered = ask(owner.clone(), "ol".into()).await;
    assert_eq!(offered.body, r#"["olive"]"#);
    // An outsider learns nothing, not even that the room exists.
    let refused = ask(outsider, "o".into()).await;
    assert_eq!((refused.status, refused.error().code), (404, ErrorCode::NotFound));
    // Bad input gets a clear answer.
    let long = ask(owner.clone(), "o".repeat(10_000)).await;
    assert_eq!(long.status, 400, "{}", long.body);
    assert!(long.error().message.contains("at most 32"), "{}", long.body);
    let odd = ask(owner, "%' OR 1=1 --".into()).await;
    assert_eq!((odd.status, odd.body.as_str()), (200, "[]"));
    server.stop().await;
}
