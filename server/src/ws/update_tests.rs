//! Edits, deletions, reactions and replies over whole connections: each
//! acknowledged once, delivered live, replayed by catch-up, and every
//! refusal explained without changing anything.

use super::tests::{Client, TEST_ADDRESS, TestNode};
use app::protocol::{AuditAction, Change, ClientFrame, ErrorCode, LogEntry, RoomId, Seq, ServerFrame, Update};

fn edit(room: RoomId, client_id: &str, message: i64, body: &str) -> ClientFrame {
    ClientFrame::Edit {
        room,
        client_id: client_id.into(),
        message,
        body: body.into(),
    }
}

fn react(room: RoomId, client_id: &str, message: i64, emoji: &str, on: bool) -> ClientFrame {
    ClientFrame::React {
        room,
        client_id: client_id.into(),
        message,
        emoji: emoji.into(),
        on,
    }
}

fn delete(room: RoomId, client_id: &str, message: i64) -> ClientFrame {
    ClientFrame::Delete {
        room,
        client_id: client_id.into(),
        message,
    }
}

impl Client {
    /// The ack for `client_id`: (id, seq).
    async fn ack(&mut self, client_id: &str) -> (i64, Seq) {
        let wanted = client_id.to_owned();
        match self
            .recv_until(|f| {
                matches!(f, ServerFrame::Ack { client_id: c, .. } if *c == wanted)
                    || matches!(f, ServerFrame::Error { client_id: Some(c), .. } if *c == wanted)
            })
            .await
        {
            ServerFrame::Ack { id, seq, .. } => (id, seq),
            other => panic!("{client_id} refused: {other:?}"),
        }
    }

    async fn update(&mut self) -> Update {
        match self.recv_until(|f| matches!(f, ServerFrame::Update { .. })).await {
            ServerFrame::Update { update } => update,
            _ => unreachable!("recv_until returned an Update"),
        }
    }

    /// The error answering `frame`, which must name `client_id`.
    async fn refused(&mut self, frame: ClientFrame, client_id: &str) -> (ErrorCode, String) {
        self.send(&frame);
        let (code, message, named) = self.error().await;
        assert_eq!(named.as_deref(), Some(client_id), "{message}");
        (code, message)
    }
}

#[tokio::test]
async fn changes_are_acknowledged_delivered_live_and_replayed_in_order() {
    let node = TestNode::start().await;
    let (alice, alice_token) = node.user("alice").await;
    let (bob, bob_token) = node.user("bob").await;
    let room = node.room("Lobby", &alice, false).await;
    let mut a = node.connect(&alice, &alice_token).await;
    let mut b = node.connect(&bob, &bob_token).await;
    a.joined(room, 0).await;
    b.joined(room, 0).await;

    a.post(room, "p1", "helo");
    let (id, seq) = a.ack("p1").await;
    assert_eq!(seq, 1);
    b.send(&ClientFrame::Send {
        room,
        client_id: "p2".into(),
        body: "hi!".into(),
        reply_to: Some(id),
        attachment: None,
    });
    let reply = match a
        .recv_until(|f| matches!(f, ServerFrame::Message { message } if message.seq == 2))
        .await
    {
        ServerFrame::Message { message } => message,
        _ => unreachable!(),
    };
    assert_eq!(reply.reply_to.map(|q| (q.id, q.excerpt)), Some((id, "helo".to_owned())));

    a.send(&edit(room, "e1", id, "hello"));
    assert_eq!(a.ack("e1").await.1, 3);
    let seen = b.update().await;
    assert_eq!((seen.seq, seen.message, seen.by.as_str()), (3, id, "alice"));
    assert_eq!(seen.change, Change::Edited { body: "hello".into() });

    b.send(&react(room, "r1", id, "👍", true));
    assert_eq!(b.ack("r1").await.1, 4);
    assert_eq!(a.update().await.change, Change::Reacted { emoji: "👍".into() });
    // The same reaction again: acknowledged, nothing logged or sent.
    b.send(&react(room, "r2", id, "👍", true));
    assert_eq!(b.ack("r2").await, (0, 0));
    // A retried frame (same client id) gets the original ack, applied once.
    a.send(&edit(room, "e1", id, "hello"));
    assert_eq!(a.ack("e1").await.1, 3);

    b.send(&react(room, "r3", id, "👍", false));
    assert_eq!(b.ack("r3").await.1, 5);
    let taken_back = a.update().await;
    assert_eq!(
        (taken_back.seq, taken_back.change),
        (5, Change::Unreacted { emoji: "👍".into() })
    );
    a.send(&delete(room, "d1", id));
    assert_eq!(a.ack("d1").await.1, 6);
    // (Bob's stream also holds his own changes, live, before or after their acks.)
    let gone = b
        .recv_until(|f| matches!(f, ServerFrame::Update { update } if update.seq == 6))
        .await;
    assert!(matches!(gone, ServerFrame::Update { update } if update.change == Change::Deleted));

    // A later join replays every event, the message as it is now.
    let (carol, carol_token) = node.user("carol").await;
    let mut c = node.connect(&carol, &carol_token).await;
    c.send(&ClientFrame::Join { room, since: 0 });
    let events = match c.recv_until(|f| matches!(f, ServerFrame::CatchUp { .. })).await {
        ServerFrame::CatchUp { events, .. } => events,
        _ => unreachable!(),
    };
    let seqs: Vec<Seq> = events.iter().map(LogEntry::seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);
    let LogEntry::Posted(first) = &events[0] else {
        panic!("{:?}", events[0])
    };
    assert!(first.deleted && first.body.is_empty(), "{first:?}");
    let text = serde_json::to_string(&events).expect("serialises");
    assert!(
        !text.contains("helo"),
        "a deleted message's text is not replayed: {text}"
    );
}

#[tokio::test]
async fn every_bad_change_is_refused_with_a_reason_and_changes_nothing() {
    let node = TestNode::start().await;
    let (alice, alice_token) = node.user("alice").await;
    let (bob, bob_token) = node.user("bob").await;
    let room = node.room("Lobby", &alice, false).await;
    let other = node.room("Other", &alice, false).await;
    let secret = node.room("Secret", &alice, true).await;
    let mut a = node.connect(&alice, &alice_token).await;
    let mut b = node.connect(&bob, &bob_token).await;
    a.joined(room, 0).await;
    a.joined(other, 0).await;
    a.joined(secret, 0).await;
    b.joined(room, 0).await;
    a.post(room, "p1", "alice's");
    let (mine, _) = a.ack("p1").await;
    a.post(other, "p2", "elsewhere");
    let (elsewhere, _) = a.ack("p2").await;
    a.post(secret, "p3", "secret");
    let (hidden, _) = a.ack("p3").await;

    let cases = [
        (edit(room, "x1", mine, "bob's now"), ErrorCode::Forbidden, "your own"),
        (delete(room, "x2", mine), ErrorCode::Forbidden, "your own"),
        (
            react(room, "x3", elsewhere, "👍", true),
            ErrorCode::NotFound,
            "does not exist",
        ),
        (
            react(room, "x4", 987_654, "👍", true),
            ErrorCode::NotFound,
            "does not exist",
        ),
        (
            react(room, "x5", mine, "thumbsup", true),
            ErrorCode::Invalid,
            "not an emoji",
        ),
        (
            react(room, "x6", mine, &"👍".repeat(2_500), true),
            ErrorCode::Invalid,
            "not an emoji",
        ),
        (edit(room, "x7", mine, "   "), ErrorCode::Invalid, "empty"),
        (
            edit(room, "x8", mine, &"a".repeat(4_001)),
            ErrorCode::Invalid,
            "too long",
        ),
        (
            react(other, "x9", elsewhere, "👍", true),
            ErrorCode::Invalid,
            "Join the room",
        ),
        (
            react(secret, "x10", hidden, "👍", true),
            ErrorCode::Invalid,
            "Join the room",
        ),
    ];
    for (frame, code, says) in cases {
        let client_id = match &frame {
            ClientFrame::Edit { client_id, .. }
            | ClientFrame::Delete { client_id, .. }
            | ClientFrame::React { client_id, .. } => client_id.clone(),
            _ => unreachable!(),
        };
        let (got, message) = b.refused(frame, &client_id).await;
        assert_eq!(got, code, "{client_id}: {message}");
        assert!(message.contains(says), "{client_id}: {message}");
    }
    // Bob cannot join the private room to try from inside either.
    b.send(&ClientFrame::Join { room: secret, since: 0 });
    assert_eq!(b.error().await.0, ErrorCode::NotFound);

    // Deleted: no more edits, reactions or replies.
    a.send(&delete(room, "d1", mine));
    a.ack("d1").await;
    let (_, message) = a.refused(edit(room, "y1", mine, "back"), "y1").await;
    assert!(message.contains("was deleted"), "{message}");
    let (_, message) = b.refused(react(room, "y2", mine, "👍", true), "y2").await;
    assert!(message.contains("was deleted"), "{message}");
    let reply = ClientFrame::Send {
        room,
        client_id: "y3".into(),
        body: "late".into(),
        reply_to: Some(mine),
        attachment: None,
    };
    let (_, message) = b.refused(reply, "y3").await;
    assert!(message.contains("was deleted"), "{message}");

    // Nothing of that was logged: the room holds the post and the deletion.
    let store = &node.state.services.store;
    assert_eq!(store.last_seq(room).await.expect("last seq"), Some(2));
}

#[tokio::test]
async fn a_room_owner_may_delete_anyones_message_in_it() {
    let node = TestNode::start().await;
    let (alice, alice_token) = node.user("alice").await;
    let (bob, bob_token) = node.user("bob").await;
    let room = node.room("Alice's", &alice, false).await;
    let mut a = node.connect(&alice, &alice_token).await;
    let mut b = node.connect(&bob, &bob_token).await;
    a.joined(room, 0).await;
    b.joined(room, 0).await;
    b.post(room, "p1", "spam");
    let (spam, _) = b.ack("p1").await;
    a.send(&delete(room, "d1", spam));
    assert_eq!(a.ack("d1").await.1, 2);
    let update = b.update().await;
    assert_eq!(
        (update.message, update.by.as_str(), update.change),
        (spam, "alice", Change::Deleted)
    );
    // But the owner may not edit it.
    let (code, _) = a.refused(edit(room, "e1", spam, "ham"), "e1").await;
    assert_eq!(code, ErrorCode::Invalid, "deleted first");

    // The removal is in the audit log, with who, whose and where from; a
    // person deleting their own message is not a moderation action.
    b.post(room, "p2", "mine");
    let (mine, _) = b.ack("p2").await;
    b.send(&delete(room, "d2", mine));
    b.ack("d2").await;
    let store = &node.state.services.store;
    let audit = store.audit_page(None, None, 10).await.expect("the audit log");
    let entries: Vec<_> = audit
        .entries
        .iter()
        .map(|e| {
            (
                e.actor.as_str(),
                e.action.as_str(),
                e.target.as_str(),
                e.address.clone(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [(
            "alice",
            AuditAction::MessageRemoved.as_str(),
            "message by bob in Alice's",
            TEST_ADDRESS.to_string()
        )]
    );
    assert_eq!(audit.entries[0].detail, format!("message {spam}"));
}
