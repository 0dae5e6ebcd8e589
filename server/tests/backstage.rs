//! The backstage from outside: only administrators reach it (everyone else
//! gets the missing-page answer), a role taken away counts at once on every
//! node, a disabled account's sockets close at once, the last administrator
//! stays, and every change is in the audit log.
#![allow(clippy::unwrap_used)]

mod common;

use app::protocol::{AdminRoom, AuditPage, ErrorCode, Person, RoomId, RoomKind, SiteRole};
use common::{Backend, Environment, TestServer};
use std::time::Duration;

on_both_backends!(
    only_administrators_reach_the_backstage,
    an_administrator_disables_a_chatting_account_and_its_socket_closes_at_once,
    the_last_administrator_stays_and_every_change_is_audited,
    sign_ups_follow_the_policy_and_an_invitation_link_works_as_often_as_it_says,
    removing_someones_messages_leaves_tombstones_for_everyone,
    an_administrator_edits_archives_and_deletes_rooms,
    members_report_messages_and_an_administrator_closes_the_reports,
);

/// Every backstage endpoint, with arguments that would act on `target`
/// and on the room `room`, called "Owned".
fn every_admin_call(target: &str, room: RoomId) -> Vec<(&'static str, Vec<(&'static str, String)>)> {
    let t = || target.to_owned();
    let r = || room.to_string();
    vec![
        ("admin/rooms", vec![("search", String::new())]),
        (
            "admin/update_room",
            vec![
                ("room", r()),
                ("name", "Taken".into()),
                ("topic", String::new()),
                ("owner", t()),
            ],
        ),
        ("admin/archive_room", vec![("room", r()), ("archived", "true".into())]),
        (
            "admin/delete_room",
            vec![("room", r()), ("confirmation", "Owned".into())],
        ),
        ("admin/people", vec![("search", String::new())]),
        (
            "admin/set_disabled",
            vec![("username", t()), ("disabled", "true".into())],
        ),
        ("admin/end_sessions", vec![("username", t())]),
        ("admin/set_role", vec![("username", t()), ("role", "admin".into())]),
        ("admin/audit", vec![]),
        ("admin/settings", vec![]),
        (
            "admin/save_settings",
            vec![("site_name", "Taken".into()), ("signups", "open".into())],
        ),
        ("admin/invitations", vec![]),
        (
            "admin/create_invitation",
            vec![("hours", "1".into()), ("uses", "1".into())],
        ),
        ("admin/revoke_invitation", vec![("id", "1".into())]),
        ("admin/remove_messages", vec![("username", t())]),
        ("admin/overview", vec![]),
    ]
}

/// Calls every backstage endpoint as `cookie`; returns each answer's status and error code.
async fn try_every_admin_call(
    server: &TestServer,
    cookie: Option<&str>,
    target: &str,
    room: RoomId,
) -> Vec<(u16, ErrorCode)> {
    let mut answers = Vec::new();
    for (endpoint, args) in every_admin_call(target, room) {
        let form: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let reply = server.call(cookie, endpoint, &form).await;
        answers.push((reply.status, reply.error().code));
    }
    answers
}

/// Makes `name` (signed up already) an administrator from the command line.
async fn grant(env: &Environment, name: &str, role: &str) {
    let (ok, said) = env.admin(&["grant-role", name, role]).await;
    assert!(ok, "{said}");
}

async fn admin_rooms(server: &TestServer, cookie: &str) -> Vec<AdminRoom> {
    let reply = server.call(Some(cookie), "admin/rooms", &[("search", "")]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    serde_json::from_str(&reply.body).unwrap()
}

async fn people(server: &TestServer, cookie: &str) -> Vec<Person> {
    let reply = server.call(Some(cookie), "admin/people", &[("search", "")]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    serde_json::from_str(&reply.body).unwrap()
}

async fn only_administrators_reach_the_backstage(backend: Backend) {
    let env = Environment::new(backend).await;
    let server = env.node().await;
    let boss = server.sign_up("boss").await;
    let member = server.sign_up("member").await;
    let moderator = server.sign_up("moderator").await;
    let owner = server.sign_up("owner").await;
    let disabled = server.sign_up("gone").await;
    grant(&env, "boss", "admin").await;
    grant(&env, "moderator", "moderator").await;
    let owned = server.create_room(&owner, "Owned").await;
    grant(&env, "gone", "admin").await;
    let (ok, said) = env.admin(&["disable-user", "gone"]).await;
    assert!(ok, "{said}");

    // Members, site moderators and room owners get what a missing page gets;
    // a disabled administrator's old cookie is no session at all. Nothing
    // they asked for happened.
    for cookie in [&member, &moderator, &owner] {
        for answer in try_every_admin_call(&server, Some(cookie), "boss", owned).await {
            assert_eq!(answer, (404, ErrorCode::NotFound));
        }
    }
    for cookie in [None, Some(disabled.as_str())] {
        for answer in try_every_admin_call(&server, cookie, "boss", owned).await {
            assert_eq!(answer, (401, ErrorCode::Unauthorized));
        }
    }
    let missing = server.call(Some(&member), "room", &[("room", "999")]).await;
    assert_eq!(missing.status, 404);
    let everyone = people(&server, &boss).await;
    let boss_row = everyone.iter().find(|p| p.username == "boss").unwrap();
    assert!(boss_row.role == SiteRole::Admin && !boss_row.disabled);
    let gone_row = everyone.iter().find(|p| p.username == "gone").unwrap();
    assert!(gone_row.disabled, "the disabled administrator is still disabled");
    let rooms = admin_rooms(&server, &boss).await;
    assert!(
        matches!(&rooms[..], [r] if r.id == owned && r.name == "Owned" && !r.archived),
        "the owner's room is untouched: {rooms:?}"
    );

    // The page: for an administrator, the backstage; for anyone else, the
    // page-not-found page.
    let page = |cookie: String| {
        let server = &server;
        async move {
            let reply = common::http()
                .build()
                .unwrap()
                .get(server.url("/admin"))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            (reply.status().as_u16(), reply.text().await.unwrap())
        }
    };
    let (status, html) = page(boss.clone()).await;
    assert_eq!(status, 200);
    assert!(html.contains("<h2 id=\"people-heading\">People</h2>"), "{html}");
    assert!(html.contains("<h2 id=\"audit-heading\">Audit log</h2>"));
    for cookie in [member.clone(), moderator.clone()] {
        let (status, html) = page(cookie).await;
        assert_eq!(status, 404);
        assert!(
            html.contains("Page not found") && !html.contains("people-heading"),
            "{html}"
        );
    }
    // The "Admin" link is shown to administrators only.
    let home = |cookie: String| {
        let server = &server;
        async move {
            common::http()
                .build()
                .unwrap()
                .get(server.url("/"))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    assert!(home(boss.clone()).await.contains(r#"href="/admin""#));
    assert!(!home(member.clone()).await.contains(r#"href="/admin""#));

    // A cross-site request with an administrator's cookie is refused.
    let forged = common::http()
        .build()
        .unwrap()
        .post(server.url("/api/admin/set_role"))
        .header("cookie", &boss)
        .header("origin", "http://evil.example")
        .form(&[("username", "member"), ("role", "admin")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 403);
    let member_row = people(&server, &boss)
        .await
        .into_iter()
        .find(|p| p.username == "member")
        .unwrap();
    assert_eq!(member_row.role, SiteRole::Member);
    server.stop().await;
}

async fn an_administrator_disables_a_chatting_account_and_its_socket_closes_at_once(backend: Backend) {
    let env = Environment::new(backend).await;
    // A re-check round far away: only the immediate notice can close it in time.
    let mut config = env.config();
    config.timings.session_recheck = Duration::from_secs(120);
    let one = TestServer::start(config.clone()).await;
    // With Redis, the account chats on another node than the administrator's.
    let two = match backend {
        Backend::MariaDbRedis => Some(TestServer::start(config).await),
        Backend::Embedded => None,
    };
    let chat_node = two.as_ref().unwrap_or(&one);
    let boss = one.sign_up("boss").await;
    grant(&env, "boss", "admin").await;
    let spammer = chat_node.sign_up("spammer").await;
    let room = chat_node.create_room(&spammer, "Spam").await;
    let mut socket = chat_node.ws(&spammer).await;
    socket.join(room, 0).await;
    socket.post(room, "s1", "buy now").await;

    // The overview sees them online, and every node serving.
    let overview = one.call(Some(&boss), "admin/overview", &[]).await;
    let overview: app::protocol::Overview = serde_json::from_str(&overview.body).unwrap();
    assert_eq!(overview.online, 1, "{overview:?}");
    assert_eq!(overview.nodes.len(), if two.is_some() { 2 } else { 1 }, "{overview:?}");
    assert_eq!((overview.accounts, overview.rooms, overview.messages_today), (2, 1, 1));
    assert_eq!(overview.database, "ok");
    let redis = if two.is_some() { "ok" } else { "not used" };
    assert_eq!(overview.redis, redis);

    let started = std::time::Instant::now();
    let reply = one
        .call(
            Some(&boss),
            "admin/set_disabled",
            &[("username", "spammer"), ("disabled", "true")],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(socket.closed_with().await, Some(app::protocol::CLOSE_SESSION_ENDED));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(chat_node.call(Some(&spammer), "me", &[]).await.body, "null");
    // The messages stay.
    let history = chat_node
        .call(
            Some(&boss),
            "history",
            &[("room", &room.to_string()), ("before", "100")],
        )
        .await;
    assert!(history.body.contains("buy now"), "{}", history.body);

    // Enabled again, they log in; ending their sessions logs them out everywhere.
    let reply = one
        .call(
            Some(&boss),
            "admin/set_disabled",
            &[("username", "spammer"), ("disabled", "false")],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let again = chat_node
        .call(None, "login", &[("username", "spammer"), ("password", "correct horse")])
        .await;
    let again = again.set_cookie.expect("they can log in again");
    let mut socket = chat_node.ws(&again).await;
    socket.join(room, 0).await;
    let reply = one
        .call(Some(&boss), "admin/end_sessions", &[("username", "spammer")])
        .await;
    assert_eq!(reply.body, "1");
    assert_eq!(socket.closed_with().await, Some(app::protocol::CLOSE_SESSION_ENDED));
    assert_eq!(chat_node.call(Some(&again), "me", &[]).await.body, "null");

    // A role taken away (here on the other node, from the command line)
    // counts at the administrator's next request.
    let boss_two = chat_node
        .call(None, "login", &[("username", "boss"), ("password", "correct horse")])
        .await
        .set_cookie
        .unwrap();
    let reply = chat_node.call(Some(&boss_two), "admin/people", &[("search", "")]).await;
    assert_eq!(reply.status, 200);
    chat_node.sign_up("heir").await;
    grant(&env, "heir", "admin").await;
    let (ok, said) = env.admin(&["revoke-role", "boss"]).await;
    assert!(ok && said.contains("boss is now member"), "{said}");
    for (node, cookie) in [(&one, &boss), (chat_node, &boss_two)] {
        let reply = node.call(Some(cookie), "admin/people", &[("search", "")]).await;
        assert_eq!((reply.status, reply.error().code), (404, ErrorCode::NotFound));
    }

    // With Redis, disabling from the command line closes sockets at once too.
    if backend == Backend::MariaDbRedis {
        let cookie = chat_node
            .call(None, "login", &[("username", "heir"), ("password", "correct horse")])
            .await
            .set_cookie
            .unwrap();
        let mut socket = chat_node.ws(&cookie).await;
        socket.join(room, 0).await;
        grant(&env, "boss", "admin").await;
        let (ok, said) = env.admin(&["disable-user", "heir"]).await;
        assert!(ok && said.contains("close now"), "{said}");
        assert_eq!(socket.closed_with().await, Some(app::protocol::CLOSE_SESSION_ENDED));
    }
    if let Some(two) = two {
        two.stop().await;
    }
    one.stop().await;
}

async fn the_last_administrator_stays_and_every_change_is_audited(backend: Backend) {
    let env = Environment::new(backend).await;
    let server = env.node().await;
    let boss = server.sign_up("boss").await;
    server.sign_up("helper").await;
    grant(&env, "boss", "admin").await;

    // The only administrator cannot demote or disable themself, here or on
    // the command line.
    for (endpoint, args) in [
        ("admin/set_role", vec![("username", "boss"), ("role", "member")]),
        ("admin/set_disabled", vec![("username", "boss"), ("disabled", "true")]),
    ] {
        let reply = server.call(Some(&boss), endpoint, &args).await;
        assert_eq!(reply.status, 403, "{endpoint}: {}", reply.body);
        assert!(
            reply.error().message.contains("appoint another one first"),
            "{}",
            reply.body
        );
    }
    let (ok, said) = env.admin(&["revoke-role", "boss"]).await;
    assert!(!ok && said.contains("appoint another one first"), "{said}");
    let (ok, said) = env.admin(&["grant-role", "boss", "emperor"]).await;
    assert!(!ok && said.contains("not a role"), "{said}");

    // Bad input gets a reason.
    let reply = server
        .call(
            Some(&boss),
            "admin/set_role",
            &[("username", "helper"), ("role", "emperor")],
        )
        .await;
    assert_eq!(
        (reply.status, reply.error().message.as_str()),
        (400, "There is no such role.")
    );
    let reply = server
        .call(
            Some(&boss),
            "admin/set_role",
            &[("username", "nobody"), ("role", "admin")],
        )
        .await;
    assert_eq!(reply.status, 404);
    let reply = server
        .call(Some(&boss), "admin/audit", &[("action", "drop_tables")])
        .await;
    assert_eq!(reply.status, 400);

    // Appointing a second lets the first step down.
    let reply = server
        .call(
            Some(&boss),
            "admin/set_role",
            &[("username", "helper"), ("role", "admin")],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = server
        .call(
            Some(&boss),
            "admin/set_role",
            &[("username", "boss"), ("role", "moderator")],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(server.call(Some(&boss), "admin/audit", &[]).await.status, 404);

    // The log, read by the new administrator: who, what, on whom, from where.
    let helper = server
        .call(None, "login", &[("username", "helper"), ("password", "correct horse")])
        .await
        .set_cookie
        .unwrap();
    let reply = server.call(Some(&helper), "admin/audit", &[]).await;
    let log: AuditPage = serde_json::from_str(&reply.body).unwrap();
    let seen: Vec<(&str, &str, &str, &str)> = log
        .entries
        .iter()
        .map(|e| {
            (
                e.actor.as_str(),
                e.action.as_str(),
                e.target.as_str(),
                e.address.as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("boss", "role_changed", "boss", "127.0.0.1"),
            ("boss", "role_changed", "helper", "127.0.0.1"),
            ("command line", "role_changed", "boss", "command line"),
        ]
    );
    assert_eq!(log.entries[0].detail, "Administrator → Moderator");
    let filtered = server
        .call(Some(&helper), "admin/audit", &[("action", "account_disabled")])
        .await;
    let filtered: AuditPage = serde_json::from_str(&filtered.body).unwrap();
    assert!(filtered.entries.is_empty());
    server.stop().await;
}

async fn sign_ups_follow_the_policy_and_an_invitation_link_works_as_often_as_it_says(backend: Backend) {
    let env = Environment::new(backend).await;
    let server = env.node().await;
    let boss = server.sign_up("boss").await;
    grant(&env, "boss", "admin").await;
    let info = || async { server.call(None, "signup_info", &[]).await.body };
    assert_eq!(info().await, r#"{"site_name":"Natter","signups":"open"}"#);
    let save = |name: &'static str, signups: &'static str| {
        let (server, boss) = (&server, &boss);
        async move {
            server
                .call(
                    Some(boss),
                    "admin/save_settings",
                    &[("site_name", name), ("signups", signups)],
                )
                .await
        }
    };
    let sign_up = |username: &'static str, invitation: Option<&str>| {
        let server = &server;
        let mut form = vec![("username", username), ("password", "correct horse")];
        if let Some(invitation) = invitation {
            form.push(("invitation", invitation));
        }
        let form: Vec<(&str, String)> = form.into_iter().map(|(k, v)| (k, v.to_owned())).collect();
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            server.call(None, "signup", &form).await
        }
    };

    // Closed: nobody signs up, and the page says so.
    assert_eq!(save("Tea House", "closed").await.status, 200);
    assert_eq!(info().await, r#"{"site_name":"Tea House","signups":"closed"}"#);
    let refused = sign_up("walker", None).await;
    assert_eq!(refused.status, 403);
    assert!(
        refused.error().message.starts_with("Sign-ups are closed"),
        "{}",
        refused.body
    );
    assert!(refused.set_cookie.is_none());
    let html = common::get(&server.url("/signup")).await.unwrap().text().await.unwrap();
    assert!(
        html.contains("Sign-ups are closed.") && html.contains("Tea House"),
        "{html}"
    );
    assert!(!html.contains(r#"name="password""#));

    // By invitation: only with a live link, as often as it says.
    assert_eq!(save("Tea House", "invitation").await.status, 200);
    assert_eq!(sign_up("walker", None).await.status, 403);
    let made = server
        .call(
            Some(&boss),
            "admin/create_invitation",
            &[("hours", "24"), ("uses", "2")],
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.body);
    let path: String = serde_json::from_str(&made.body).unwrap();
    let token = path.strip_prefix("/signup?invitation=").unwrap().to_owned();
    assert_eq!(token.len(), 64, "256 random bits");
    let html = common::get(&server.url(&path)).await.unwrap().text().await.unwrap();
    assert!(
        html.contains(&format!(r#"name="invitation" value="{token}""#)),
        "{html}"
    );
    assert_eq!(sign_up("guest_one", Some(&token)).await.status, 200);
    assert_eq!(sign_up("guest_two", Some(&token)).await.status, 200);
    let used_up = sign_up("guest_three", Some(&token)).await;
    assert_eq!(used_up.status, 403);
    assert!(used_up.error().message.contains("not valid"), "{}", used_up.body);
    let guessed = sign_up("guesser", Some(&"0".repeat(64))).await;
    assert_eq!(guessed.body, used_up.body, "a made-up link gets the same answer");

    // Withdrawn links stop working; bad input gets a reason.
    let made = server
        .call(Some(&boss), "admin/create_invitation", &[("hours", "1"), ("uses", "5")])
        .await;
    let path: String = serde_json::from_str(&made.body).unwrap();
    let token = path.strip_prefix("/signup?invitation=").unwrap().to_owned();
    let list = server.call(Some(&boss), "admin/invitations", &[]).await;
    let list: Vec<app::protocol::Invitation> = serde_json::from_str(&list.body).unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!((list[1].used, list[1].uses_left), (2, 0));
    let id = list[0].id.to_string();
    let revoked = server
        .call(Some(&boss), "admin/revoke_invitation", &[("id", &id)])
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert_eq!(sign_up("late_guest", Some(&token)).await.status, 403);
    let again = server
        .call(Some(&boss), "admin/revoke_invitation", &[("id", &id)])
        .await;
    assert_eq!(again.status, 404);
    for (hours, uses) in [("0", "1"), ("1", "0"), ("721", "1"), ("1", "1001")] {
        let bad = server
            .call(
                Some(&boss),
                "admin/create_invitation",
                &[("hours", hours), ("uses", uses)],
            )
            .await;
        assert_eq!(bad.status, 400, "{hours} h, {uses} uses: {}", bad.body);
    }
    for (name, signups) in [("", "open"), ("Tea House", "sometimes"), ("two\nlines", "open")] {
        let bad = save(name, signups).await;
        assert_eq!(bad.status, 400, "{name:?} {signups}: {}", bad.body);
    }

    // Open again: anyone; and every change is in the log.
    assert_eq!(save("Tea House", "open").await.status, 200);
    assert_eq!(sign_up("walker", None).await.status, 200);
    let log = server.call(Some(&boss), "admin/audit", &[]).await;
    let log: AuditPage = serde_json::from_str(&log.body).unwrap();
    let actions: Vec<&str> = log.entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "settings_changed",
            "invitation_revoked",
            "invitation_created",
            "invitation_created",
            "settings_changed",
            "settings_changed",
            "role_changed",
        ]
    );
    server.stop().await;
}

async fn removing_someones_messages_leaves_tombstones_for_everyone(backend: Backend) {
    use app::protocol::{Change, ClientFrame, ServerFrame};
    let env = Environment::new(backend).await;
    let server = env.node().await;
    let boss = server.sign_up("boss").await;
    grant(&env, "boss", "admin").await;
    let spammer = server.sign_up("spammer").await;
    let reader = server.sign_up("reader").await;
    let lobby = server.create_room(&reader, "Lobby").await;
    let corner = server.create_room(&spammer, "Corner").await;
    let mut spam = server.ws(&spammer).await;
    let mut watch = server.ws(&reader).await;
    spam.join(lobby, 0).await;
    spam.join(corner, 0).await;
    watch.join(lobby, 0).await;
    spam.post(lobby, "s1", "cheap watches").await;
    spam.post(lobby, "s2", "cheaper watches").await;
    spam.post(corner, "s3", "cheapest watches").await;
    watch.post(lobby, "r1", "please stop").await;
    // One the author took back already is not counted again.
    let seq = spam.post(corner, "s4", "oops").await;
    let own = server
        .call(
            Some(&spammer),
            "history",
            &[("room", &corner.to_string()), ("before", "100")],
        )
        .await;
    let own: app::protocol::HistoryPage = serde_json::from_str(&own.body).unwrap();
    let oops = own.messages.iter().find(|m| m.seq == seq).unwrap().id;
    spam.send(&ClientFrame::Delete {
        room: corner,
        client_id: "d1".into(),
        message: oops,
    })
    .await;
    spam.recv_until(|f| matches!(f, ServerFrame::Ack { client_id, .. } if client_id == "d1"))
        .await;

    let reply = server
        .call(Some(&boss), "admin/remove_messages", &[("username", "spammer")])
        .await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "3"), "{}", reply.body);

    // Live: the reader sees both of theirs in the lobby go, by the administrator.
    let mut gone = Vec::new();
    while gone.len() < 2 {
        if let ServerFrame::Update { update } = watch.recv().await {
            assert_eq!((update.change, update.by.as_str()), (Change::Deleted, "boss"));
            gone.push(update.message);
        }
    }
    // In history, for everyone: tombstones, and the others' messages stay.
    for (room, cookie) in [(lobby, &reader), (corner, &spammer)] {
        let page = server
            .call(
                Some(cookie),
                "history",
                &[("room", &room.to_string()), ("before", "100")],
            )
            .await;
        let page: app::protocol::HistoryPage = serde_json::from_str(&page.body).unwrap();
        for message in &page.messages {
            let theirs = message.author == "spammer";
            assert_eq!(message.deleted, theirs, "{message:?}");
            assert!(!message.body.contains("watches"), "{message:?}");
        }
        assert!(page.messages.iter().any(|m| m.author == "spammer"));
    }
    let again = server
        .call(Some(&boss), "admin/remove_messages", &[("username", "spammer")])
        .await;
    assert_eq!(again.body, "0");
    let missing = server
        .call(Some(&boss), "admin/remove_messages", &[("username", "nobody")])
        .await;
    assert_eq!(missing.status, 404);
    let log = server
        .call(Some(&boss), "admin/audit", &[("action", "messages_removed")])
        .await;
    let log: AuditPage = serde_json::from_str(&log.body).unwrap();
    let seen: Vec<(&str, &str)> = log
        .entries
        .iter()
        .map(|e| (e.target.as_str(), e.detail.as_str()))
        .collect();
    assert_eq!(seen, [("spammer", "0 message(s)"), ("spammer", "3 message(s)")]);
    server.stop().await;
}

async fn an_administrator_edits_archives_and_deletes_rooms(backend: Backend) {
    use app::protocol::{ClientFrame, ServerFrame};
    let env = Environment::new(backend).await;
    let server = env.node().await;
    let boss = server.sign_up("boss").await;
    grant(&env, "boss", "admin").await;
    let ann = server.sign_up("ann").await;
    let bob = server.sign_up("bob").await;
    let lobby = server.create_room(&ann, "Lobby").await;
    let secret = server
        .call(
            Some(&ann),
            "create_room",
            &[("name", "Secret"), ("topic", "plans"), ("private", "on")],
        )
        .await;
    let secret: RoomId = serde_json::from_str(&secret.body).unwrap();
    let direct = server.call(Some(&ann), "direct", &[("username", "bob")]).await;
    let direct: RoomId = serde_json::from_str(&direct.body).unwrap();
    let mut ann_ws = server.ws(&ann).await;
    let mut bob_ws = server.ws(&bob).await;
    ann_ws.join(lobby, 0).await;
    bob_ws.join(lobby, 0).await;
    ann_ws.join(secret, 0).await;
    ann_ws.post(lobby, "a1", "hello").await;
    bob_ws.post(lobby, "b1", "hi ann").await;
    ann_ws.post(secret, "a2", "the secret plan").await;

    // Every room, its kind, owner, members and messages; never a message's text.
    let listed = server.call(Some(&boss), "admin/rooms", &[("search", "")]).await;
    assert!(!listed.body.contains("secret plan") && !listed.body.contains("hi ann"));
    let rooms = admin_rooms(&server, &boss).await;
    let row = |id: RoomId| rooms.iter().find(|r| r.id == id).unwrap().clone();
    let lobby_row = row(lobby);
    assert_eq!(
        (
            lobby_row.kind,
            lobby_row.owner.as_str(),
            lobby_row.members,
            lobby_row.messages
        ),
        (RoomKind::Public, "ann", 2, 2)
    );
    assert!(lobby_row.last_activity.is_some());
    let secret_row = row(secret);
    assert_eq!(
        (
            secret_row.kind,
            secret_row.topic.as_str(),
            secret_row.members,
            secret_row.messages
        ),
        (RoomKind::Private, "plans", 1, 1)
    );
    assert_eq!((row(direct).kind, row(direct).members), (RoomKind::Direct, 2));
    let searched = server.call(Some(&boss), "admin/rooms", &[("search", "LOB")]).await;
    let searched: Vec<AdminRoom> = serde_json::from_str(&searched.body).unwrap();
    assert_eq!(searched.iter().map(|r| r.id).collect::<Vec<_>>(), [lobby]);

    // Rename, topic and a new owner, who becomes a member of the private room.
    let update = |room: RoomId, name: &'static str, owner: &'static str| {
        let server = &server;
        let boss = &boss;
        async move {
            server
                .call(
                    Some(boss),
                    "admin/update_room",
                    &[
                        ("room", &room.to_string()),
                        ("name", name),
                        ("topic", "new topic"),
                        ("owner", owner),
                    ],
                )
                .await
        }
    };
    let saved = update(secret, "Hideout", "bob").await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    let page = server.call(Some(&bob), "room", &[("room", &secret.to_string())]).await;
    let page: app::protocol::RoomPage = serde_json::from_str(&page.body).unwrap();
    assert_eq!(
        (page.name.as_str(), page.topic.as_str(), page.owner),
        ("Hideout", "new topic", true)
    );
    assert!(page.members.contains(&"bob".to_string()) && page.members.contains(&"ann".to_string()));
    // Refusals: a name in use, nobody by that name, a direct conversation, bad input, no such room.
    let taken = update(lobby, "hideout", "ann").await;
    assert_eq!(
        taken.status, 200,
        "private names do not clash with public ones: {}",
        taken.body
    );
    let clash = server.create_room(&bob, "Other").await;
    let taken = update(clash, "HIDEOUT", "bob").await;
    assert_eq!(
        (taken.status, taken.error().code),
        (409, ErrorCode::Conflict),
        "{}",
        taken.body
    );
    for (room, name, owner, status) in [
        (lobby, "Lobby", "nobody", 404),
        (direct, "Renamed", "ann", 403),
        (lobby, "", "ann", 400),
        (RoomId(999_999), "X", "ann", 404),
    ] {
        let refused = update(room, name, owner).await;
        assert_eq!(refused.status, status, "{name}/{owner}: {}", refused.body);
    }
    let lobby_now = admin_rooms(&server, &boss).await;
    assert!(lobby_now.iter().any(|r| r.id == lobby && r.name == "hideout"));

    // Archived: read-only for everyone, gone from the room list, still readable.
    let archive = |archived: &'static str| {
        let server = &server;
        let boss = &boss;
        async move {
            let reply = server
                .call(
                    Some(boss),
                    "admin/archive_room",
                    &[("room", &lobby.to_string()), ("archived", archived)],
                )
                .await;
            assert_eq!(reply.status, 200, "{}", reply.body);
        }
    };
    archive("true").await;
    bob_ws
        .send(&ClientFrame::Send {
            room: lobby,
            client_id: "b2".into(),
            body: "anyone?".into(),
            reply_to: None,
            attachment: None,
        })
        .await;
    match bob_ws
        .recv_until(|f| matches!(f, ServerFrame::Error { client_id: Some(c), .. } if c == "b2"))
        .await
    {
        ServerFrame::Error { code, message, .. } => {
            assert_eq!(code, ErrorCode::Forbidden);
            assert!(message.contains("archived"), "{message}");
        }
        _ => unreachable!(),
    }
    let listed = server.call(Some(&bob), "rooms", &[]).await;
    let listed: Vec<app::protocol::RoomSummary> = serde_json::from_str(&listed.body).unwrap();
    assert!(listed.iter().all(|r| r.id != lobby) && listed.iter().any(|r| r.id == clash));
    let page = server.call(Some(&bob), "room", &[("room", &lobby.to_string())]).await;
    assert_eq!(page.status, 200);
    let page: app::protocol::RoomPage = serde_json::from_str(&page.body).unwrap();
    assert!(page.archived && page.messages.len() == 2);
    archive("false").await;
    assert_eq!(bob_ws.post(lobby, "b3", "back again").await, 3);

    // Deleting needs the room's name, as written; then it is gone for everyone.
    let delete = |confirmation: &'static str| {
        let server = &server;
        let boss = &boss;
        async move {
            server
                .call(
                    Some(boss),
                    "admin/delete_room",
                    &[("room", &lobby.to_string()), ("confirmation", confirmation)],
                )
                .await
        }
    };
    let slip = delete("Lobby").await;
    assert_eq!((slip.status, slip.error().code), (400, ErrorCode::Invalid));
    assert!(admin_rooms(&server, &boss).await.iter().any(|r| r.id == lobby));
    let gone = delete("hideout").await;
    assert_eq!(gone.status, 200, "{}", gone.body);
    for cookie in [&ann, &bob] {
        let page = server.call(Some(cookie), "room", &[("room", &lobby.to_string())]).await;
        assert_eq!(page.status, 404);
    }
    bob_ws
        .send(&ClientFrame::Send {
            room: lobby,
            client_id: "b4".into(),
            body: "hello?".into(),
            reply_to: None,
            attachment: None,
        })
        .await;
    match bob_ws
        .recv_until(|f| matches!(f, ServerFrame::Error { client_id: Some(c), .. } if c == "b4"))
        .await
    {
        ServerFrame::Error { code, .. } => assert_eq!(code, ErrorCode::NotFound),
        _ => unreachable!(),
    }
    assert!(!admin_rooms(&server, &boss).await.iter().any(|r| r.id == lobby));
    let again = delete("hideout").await;
    assert_eq!(again.status, 404);

    // All of it in the audit log.
    let log = server.call(Some(&boss), "admin/audit", &[]).await;
    let log: AuditPage = serde_json::from_str(&log.body).unwrap();
    let seen: Vec<(&str, &str, &str)> = log
        .entries
        .iter()
        .map(|e| (e.action.as_str(), e.target.as_str(), e.detail.as_str()))
        .collect();
    assert_eq!(
        &seen[..5],
        [
            ("room_deleted", "hideout", "with 3 messages"),
            ("room_restored", "hideout", ""),
            ("room_archived", "hideout", ""),
            ("room_changed", "Lobby", "renamed to hideout; topic: new topic"),
            (
                "room_changed",
                "Secret",
                "renamed to Hideout; topic: new topic; owner: ann → bob"
            ),
        ]
    );
    server.stop().await;
}

async fn members_report_messages_and_an_administrator_closes_the_reports(backend: Backend) {
    use app::protocol::{Change, Report, ReportOutcome, ServerFrame};
    let env = Environment::new(backend).await;
    let server = env.node().await;
    let boss = server.sign_up("boss").await;
    grant(&env, "boss", "admin").await;
    let ann = server.sign_up("ann").await;
    let bob = server.sign_up("bob").await;
    let carol = server.sign_up("carol").await;
    let lobby = server.create_room(&ann, "Lobby").await;
    let mut ann_ws = server.ws(&ann).await;
    let mut bob_ws = server.ws(&bob).await;
    ann_ws.join(lobby, 0).await;
    bob_ws.join(lobby, 0).await;
    for n in 1..=5 {
        ann_ws.post(lobby, &format!("a{n}"), &format!("line {n}")).await;
    }
    let history = server
        .call(
            Some(&bob),
            "history",
            &[("room", &lobby.to_string()), ("before", "100")],
        )
        .await;
    let history: app::protocol::HistoryPage = serde_json::from_str(&history.body).unwrap();
    let id_of = |n: usize| history.messages[n - 1].id;
    let report = |cookie: &str, message: i64, reason: &str| {
        let server = &server;
        let (cookie, reason) = (cookie.to_owned(), reason.to_owned());
        async move {
            server
                .call(
                    Some(&cookie),
                    "report",
                    &[
                        ("room", &lobby.to_string()),
                        ("message", &message.to_string()),
                        ("reason", &reason),
                    ],
                )
                .await
        }
    };
    let open = |closed: bool| {
        let server = &server;
        let boss = &boss;
        async move {
            let reply = server
                .call(
                    Some(boss),
                    "admin/reports",
                    &[("closed", if closed { "true" } else { "false" })],
                )
                .await;
            assert_eq!(reply.status, 200, "{}", reply.body);
            serde_json::from_str::<Vec<Report>>(&reply.body).unwrap()
        }
    };

    assert_eq!(report(&bob, id_of(3), "  rude  ").await.status, 200);
    // Again: nothing new, the first reason stands.
    assert_eq!(report(&bob, id_of(3), "very rude").await.status, 200);
    // Refusals: one's own message, one that does not exist, bad input, a
    // room the reporter cannot see.
    let long = "x".repeat(501);
    for (cookie, message, reason, status) in [
        (&ann, id_of(3), "", 400),
        (&bob, 999_999, "", 404),
        (&bob, id_of(2), long.as_str(), 400),
        (&bob, id_of(2), "bell\u{7}", 400),
    ] {
        let refused = report(cookie, message, reason).await;
        assert_eq!(refused.status, status, "{}", refused.body);
    }
    let secret = server
        .call(
            Some(&ann),
            "create_room",
            &[("name", "Secret"), ("topic", ""), ("private", "on")],
        )
        .await;
    let secret: RoomId = serde_json::from_str(&secret.body).unwrap();
    let hidden = server
        .call(
            Some(&bob),
            "report",
            &[
                ("room", &secret.to_string()),
                ("message", &id_of(3).to_string()),
                ("reason", ""),
            ],
        )
        .await;
    assert_eq!(hidden.status, 404, "{}", hidden.body);
    assert_eq!(report(&carol, id_of(3), "").await.status, 200);

    // The queue: each report with the messages around its message.
    let queue = open(false).await;
    assert_eq!(queue.len(), 2, "{queue:?}");
    let first = &queue[0];
    assert_eq!(
        (first.reporter.as_str(), first.reason.as_str(), first.room_name.as_str()),
        ("bob", "rude", "Lobby")
    );
    assert_eq!(
        (first.message.body.as_str(), first.message.author.as_str()),
        ("line 3", "ann")
    );
    let around: Vec<&str> = first
        .before
        .iter()
        .chain(&first.after)
        .map(|m| m.body.as_str())
        .collect();
    assert_eq!(around, ["line 1", "line 2", "line 4", "line 5"]);
    assert_eq!((queue[1].reporter.as_str(), queue[1].reason.as_str()), ("carol", ""));

    // Taken down: gone for everyone at once, and both reports of it closed.
    let close = |id: i64, outcome: &'static str| {
        let server = &server;
        let boss = &boss;
        async move {
            server
                .call(
                    Some(boss),
                    "admin/close_report",
                    &[("id", &id.to_string()), ("outcome", outcome)],
                )
                .await
        }
    };
    let bad = close(first.id, "ignored").await;
    assert_eq!(bad.status, 400);
    let done = close(first.id, "deleted").await;
    assert_eq!(done.status, 200, "{}", done.body);
    loop {
        if let ServerFrame::Update { update } = bob_ws.recv().await {
            assert_eq!(
                (update.message, update.change, update.by.as_str()),
                (id_of(3), Change::Deleted, "boss")
            );
            break;
        }
    }
    assert!(open(false).await.is_empty());
    let closed = open(true).await;
    assert_eq!(closed.len(), 2);
    for report in &closed {
        assert_eq!(report.outcome, Some(ReportOutcome::Deleted));
        assert_eq!(report.closed_by.as_deref(), Some("boss"));
        assert!(report.message.deleted && report.message.body.is_empty());
    }
    assert_eq!(close(queue[1].id, "dismissed").await.status, 404, "closed already");
    // A deleted message cannot be reported any more.
    assert_eq!(report(&carol, id_of(3), "").await.status, 404);

    // Dismissed: the message stays.
    assert_eq!(report(&bob, id_of(4), "").await.status, 200);
    let queue = open(false).await;
    assert_eq!(close(queue[0].id, "dismissed").await.status, 200);
    let page = server.call(Some(&bob), "room", &[("room", &lobby.to_string())]).await;
    let page: app::protocol::RoomPage = serde_json::from_str(&page.body).unwrap();
    assert!(page.messages.iter().any(|m| m.body == "line 4" && !m.deleted));

    // A person's waiting reports are bounded.
    let limit = app::backend::store::OPEN_REPORTS_PER_PERSON as usize;
    for n in 0..limit {
        ann_ws.post(lobby, &format!("m{n}"), &format!("more {n}")).await;
    }
    let history = server
        .call(
            Some(&bob),
            "history",
            &[("room", &lobby.to_string()), ("before", "1000")],
        )
        .await;
    let history: app::protocol::HistoryPage = serde_json::from_str(&history.body).unwrap();
    let fresh: Vec<i64> = history
        .messages
        .iter()
        .filter(|m| m.body.starts_with("more"))
        .map(|m| m.id)
        .collect();
    assert!(fresh.len() >= limit, "{}", fresh.len());
    for id in &fresh[..limit] {
        assert_eq!(report(&bob, *id, "").await.status, 200);
    }
    let over = report(&bob, fresh[limit - 1] + 1_000_000, "").await;
    assert_eq!(over.status, 404, "a missing message is refused before the count");
    let over = report(&carol, fresh[0], "").await;
    assert_eq!(over.status, 200, "the bound is per person");
    let over = report(&bob, id_of(5), "").await;
    assert_eq!(
        (over.status, over.error().code),
        (429, ErrorCode::RateLimited),
        "{}",
        over.body
    );

    let log = server
        .call(Some(&boss), "admin/audit", &[("action", "report_closed")])
        .await;
    let log: AuditPage = serde_json::from_str(&log.body).unwrap();
    let seen: Vec<(&str, &str)> = log
        .entries
        .iter()
        .map(|e| (e.target.as_str(), e.detail.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("message by ann in Lobby", "Dismissed"),
            ("message by ann in Lobby", "Message deleted (2 reports)"),
        ]
    );
    server.stop().await;
}
