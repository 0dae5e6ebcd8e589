//! Moderation in rooms from outside: a room's owner appoints moderators;
//! its moderators (and the site's moderators in public rooms) remove
//! others' messages, mute and ban; and each of them fails outside what the
//! rules give them — a member, a moderator of another room, someone whose
//! site role was just taken away. Every change is in the audit log.
#![allow(clippy::unwrap_used)]

mod common;

use app::protocol::{AuditPage, ClientFrame, ErrorCode, RoomId, RoomStanding, ServerFrame};
use common::{Backend, Environment, TestServer, Ws};

on_both_backends!(moderators_mute_ban_and_remove_within_their_rooms_only);

async fn call(server: &TestServer, cookie: &str, endpoint: &str, args: &[(&str, &str)]) -> (u16, String) {
    let reply = server.call(Some(cookie), endpoint, args).await;
    (reply.status, reply.body)
}

async fn mute(server: &TestServer, cookie: &str, room: RoomId, who: &str, minutes: &str) -> u16 {
    let room = room.to_string();
    let args = [("room", room.as_str()), ("username", who), ("minutes", minutes)];
    call(server, cookie, "mute_in_room", &args).await.0
}

async fn ban(server: &TestServer, cookie: &str, room: RoomId, who: &str, banned: bool) -> u16 {
    let room = room.to_string();
    let banned = banned.to_string();
    let args = [("room", room.as_str()), ("username", who), ("banned", banned.as_str())];
    call(server, cookie, "ban_from_room", &args).await.0
}

async fn appoint(server: &TestServer, cookie: &str, room: RoomId, who: &str, on: bool) -> u16 {
    let room = room.to_string();
    let on = on.to_string();
    let args = [("room", room.as_str()), ("username", who), ("moderator", on.as_str())];
    call(server, cookie, "set_room_moderator", &args).await.0
}

/// Sends `frame` and returns the error that answers `client_id`, if any (`None`: acknowledged).
async fn outcome(ws: &mut Ws, frame: ClientFrame, client_id: &str) -> Option<(ErrorCode, String)> {
    ws.send(&frame).await;
    match ws
        .recv_until(|f| {
            matches!(f, ServerFrame::Ack { client_id: c, .. } if c == client_id)
                || matches!(f, ServerFrame::Error { client_id: Some(c), .. } if c == client_id)
        })
        .await
    {
        ServerFrame::Error { code, message, .. } => Some((code, message)),
        _ => None,
    }
}

fn say(room: RoomId, client_id: &str, body: &str) -> ClientFrame {
    ClientFrame::Send {
        room,
        client_id: client_id.into(),
        body: body.into(),
        reply_to: None,
        attachment: None,
    }
}

fn delete(room: RoomId, client_id: &str, message: i64) -> ClientFrame {
    ClientFrame::Delete {
        room,
        client_id: client_id.into(),
        message,
    }
}

async fn moderators_mute_ban_and_remove_within_their_rooms_only(backend: Backend) {
    let env = Environment::new(backend).await;
    let server = env.node().await;
    let ann = server.sign_up("ann").await;
    let bob = server.sign_up("bob").await;
    let carol = server.sign_up("carol").await;
    let dave = server.sign_up("dave").await;
    let sam = server.sign_up("sam").await;
    let (ok, said) = env.admin(&["grant-role", "sam", "moderator"]).await;
    assert!(ok, "{said}");
    let lobby = server.create_room(&ann, "Lobby").await;
    let other = server.create_room(&dave, "Other").await;
    let den = server
        .call(
            Some(&ann),
            "create_room",
            &[("name", "Den"), ("topic", ""), ("private", "on")],
        )
        .await;
    let den: RoomId = serde_json::from_str(&den.body).unwrap();
    for who in ["bob", "carol"] {
        let added = server
            .call(
                Some(&ann),
                "add_member",
                &[("room", &den.to_string()), ("username", who)],
            )
            .await;
        assert_eq!(added.status, 200, "{}", added.body);
    }

    // Only the owner appoints; a moderator of the lobby is nobody elsewhere.
    assert_eq!(appoint(&server, &carol, lobby, "bob", true).await, 403);
    assert_eq!(appoint(&server, &ann, lobby, "bob", true).await, 200);
    assert_eq!(
        appoint(&server, &bob, lobby, "carol", true).await,
        403,
        "a moderator appoints nobody"
    );
    assert_eq!(
        mute(&server, &bob, other, "dave", "10").await,
        403,
        "moderator of another room"
    );
    assert_eq!(mute(&server, &bob, other, "carol", "10").await, 403);
    assert_eq!(mute(&server, &carol, lobby, "dave", "10").await, 403, "a member");
    let (status, _) = call(&server, &carol, "room_standings", &[("room", &lobby.to_string())]).await;
    assert_eq!(status, 403);

    // Muted: reads, but cannot post or react, and is told until when.
    let mut carol_ws = server.ws(&carol).await;
    carol_ws.join(lobby, 0).await;
    assert!(outcome(&mut carol_ws, say(lobby, "c1", "hello"), "c1").await.is_none());
    assert_eq!(mute(&server, &bob, lobby, "carol", "10").await, 200);
    let (code, message) = outcome(&mut carol_ws, say(lobby, "c2", "hello?"), "c2").await.unwrap();
    assert_eq!(code, ErrorCode::Forbidden);
    assert!(message.starts_with("You are muted in this room until "), "{message}");
    assert_eq!(
        mute(&server, &bob, lobby, "carol", "10081").await,
        400,
        "a week at most"
    );
    let (status, body) = call(&server, &bob, "room_standings", &[("room", &lobby.to_string())]).await;
    assert_eq!(status, 200);
    let standings: Vec<RoomStanding> = serde_json::from_str(&body).unwrap();
    let names: Vec<(&str, bool, bool)> = standings
        .iter()
        .map(|s| (s.username.as_str(), s.moderator, s.muted_until.is_some()))
        .collect();
    assert_eq!(names, [("bob", true, false), ("carol", false, true)]);
    assert_eq!(mute(&server, &bob, lobby, "carol", "0").await, 200);
    assert!(outcome(&mut carol_ws, say(lobby, "c3", "thanks"), "c3").await.is_none());

    // Nobody acts on themself or the owner; only the owner on a moderator.
    assert_eq!(mute(&server, &bob, lobby, "ann", "10").await, 403);
    assert_eq!(ban(&server, &bob, lobby, "bob", true).await, 403);
    assert_eq!(appoint(&server, &ann, lobby, "carol", true).await, 200);
    assert_eq!(
        mute(&server, &bob, lobby, "carol", "10").await,
        403,
        "a moderator by a moderator"
    );
    assert_eq!(appoint(&server, &ann, lobby, "carol", false).await, 200);
    assert_eq!(
        ban(&server, &ann, den, "carol", true).await,
        403,
        "private rooms remove, not ban"
    );
    assert_eq!(mute(&server, &bob, lobby, "nobody", "10").await, 404);

    // Banned: the socket leaves the room, and the room is gone for them until the ban is lifted.
    let mut dave_ws = server.ws(&dave).await;
    dave_ws.join(lobby, 0).await;
    assert_eq!(ban(&server, &bob, lobby, "dave", true).await, 200);
    dave_ws
        .recv_until(|f| {
            matches!(
                f,
                ServerFrame::Error {
                    code: ErrorCode::NotFound,
                    client_id: None,
                    ..
                }
            )
        })
        .await;
    dave_ws.send(&ClientFrame::Join { room: lobby, since: 0 }).await;
    match dave_ws
        .recv_until(|f| matches!(f, ServerFrame::Error { .. } | ServerFrame::Joined { .. }))
        .await
    {
        ServerFrame::Error { code, .. } => assert_eq!(code, ErrorCode::NotFound),
        other => panic!("a banned person joined: {other:?}"),
    }
    let page = server.call(Some(&dave), "room", &[("room", &lobby.to_string())]).await;
    assert_eq!(page.status, 404);
    let rooms = server.call(Some(&dave), "rooms", &[]).await;
    let rooms: Vec<app::protocol::RoomSummary> = serde_json::from_str(&rooms.body).unwrap();
    assert!(rooms.iter().all(|r| r.id != lobby) && rooms.iter().any(|r| r.id == other));
    assert_eq!(ban(&server, &bob, lobby, "dave", false).await, 200);
    let page = server.call(Some(&dave), "room", &[("room", &lobby.to_string())]).await;
    assert_eq!(page.status, 200);

    // Removing others' messages: the lobby's moderator and the site's
    // moderator may in the lobby; the site's moderator not in a private room.
    let mut ann_ws = server.ws(&ann).await;
    ann_ws.join(lobby, 0).await;
    ann_ws.join(den, 0).await;
    ann_ws.post(lobby, "a1", "one").await;
    ann_ws.post(lobby, "a2", "two").await;
    ann_ws.post(den, "a3", "private words").await;
    let ids = |room: RoomId| {
        let server = &server;
        let ann = &ann;
        async move {
            let page = server
                .call(Some(ann), "history", &[("room", &room.to_string()), ("before", "1000")])
                .await;
            let page: app::protocol::HistoryPage = serde_json::from_str(&page.body).unwrap();
            page.messages
                .iter()
                .filter(|m| m.author == "ann")
                .map(|m| m.id)
                .collect::<Vec<_>>()
        }
    };
    let lobby_ids = ids(lobby).await;
    let den_ids = ids(den).await;
    let mut bob_ws = server.ws(&bob).await;
    bob_ws.join(lobby, 0).await;
    assert!(
        outcome(&mut bob_ws, delete(lobby, "b1", lobby_ids[0]), "b1")
            .await
            .is_none()
    );
    let mut sam_ws = server.ws(&sam).await;
    sam_ws.join(lobby, 0).await;
    assert!(
        outcome(&mut sam_ws, delete(lobby, "s1", lobby_ids[1]), "s1")
            .await
            .is_none()
    );
    let (status, _) = call(&server, &sam, "room", &[("room", &den.to_string())]).await;
    assert_eq!(status, 404, "the site's moderator is no member of the private room");
    // A member deletes only their own: carol, and dave, in the lobby.
    ann_ws.post(lobby, "a4", "three").await;
    let three = *ids(lobby).await.last().unwrap();
    let (code, _) = outcome(&mut carol_ws, delete(lobby, "c4", three), "c4").await.unwrap();
    assert_eq!(code, ErrorCode::Forbidden);
    assert_eq!(den_ids.len(), 1);

    // The site role taken away counts at the next frame, on an open socket.
    let (ok, said) = env.admin(&["revoke-role", "sam"]).await;
    assert!(ok, "{said}");
    let (code, _) = outcome(&mut sam_ws, delete(lobby, "s2", three), "s2").await.unwrap();
    assert_eq!(code, ErrorCode::Forbidden);
    assert_eq!(mute(&server, &sam, lobby, "carol", "5").await, 403);

    // The owner of a private room removes a member.
    let removed = server
        .call(
            Some(&ann),
            "remove_member",
            &[("room", &den.to_string()), ("username", "carol")],
        )
        .await;
    assert_eq!(removed.status, 200, "{}", removed.body);

    let log = server.call(Some(&ann), "admin/audit", &[]).await;
    assert_eq!(log.status, 404, "the audit log is the administrators'");
    let (ok, said) = env.admin(&["grant-role", "ann", "admin"]).await;
    assert!(ok, "{said}");
    let log = server.call(Some(&ann), "admin/audit", &[]).await;
    let log: AuditPage = serde_json::from_str(&log.body).unwrap();
    let seen = |room: &str| -> Vec<(&str, &str, &str)> {
        log.entries
            .iter()
            .filter(|e| e.target.ends_with(room))
            .map(|e| (e.actor.as_str(), e.action.as_str(), e.target.as_str()))
            .collect()
    };
    assert_eq!(
        seen(" Den"),
        [
            ("ann", "member_removed", "carol from Den"),
            ("ann", "member_added", "carol to Den"),
            ("ann", "member_added", "bob to Den"),
        ]
    );
    assert_eq!(
        seen(" in Lobby"),
        [
            // Removals of others' messages; the members' own deletions are not moderation.
            ("sam", "message_removed", "message by ann in Lobby"),
            ("bob", "message_removed", "message by ann in Lobby"),
            ("bob", "member_unbanned", "dave in Lobby"),
            ("bob", "member_banned", "dave in Lobby"),
            ("ann", "moderator_removed", "carol in Lobby"),
            ("ann", "moderator_appointed", "carol in Lobby"),
            ("bob", "member_unmuted", "carol in Lobby"),
            ("bob", "member_muted", "carol in Lobby"),
            ("ann", "moderator_appointed", "bob in Lobby"),
        ]
    );
    server.stop().await;
}
