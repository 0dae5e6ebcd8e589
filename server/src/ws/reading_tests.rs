//! The sidebar's part of a connection: following one's rooms (`watch`) and
//! moving one's read markers (`read`), told to one's own sockets only.

use super::tests::TestNode;
use app::protocol::{ClientFrame, ErrorCode, ServerFrame};

#[tokio::test]
async fn followed_rooms_arrive_without_presence_and_read_markers_reach_only_their_owner() {
    let node = TestNode::start().await;
    let (alice, alice_token) = node.user("alice").await;
    let (bob, bob_token) = node.user("bob").await;
    let lobby = node.room("Lobby", &alice, false).await;
    let side = node.room("Side", &alice, false).await;
    let elsewhere = node.room("Elsewhere", &alice, false).await;
    let store = &node.state.services.store;
    // Bob opened both rooms before (his sidebar lists them).
    for room in [lobby, side] {
        store.ensure_member(room, bob.id).await.expect("opened");
    }

    // Bob's phone and laptop both follow his rooms, and have the lobby open.
    let mut phone = node.connect(&bob, &bob_token).await;
    let mut laptop = node.connect(&bob, &bob_token).await;
    for socket in [&mut phone, &mut laptop] {
        socket.send(&ClientFrame::Watch);
        socket.joined(lobby, 0).await;
    }

    // Alice, in the side room, does not see Bob there: following is not being online.
    let mut talker = node.connect(&alice, &alice_token).await;
    let (online, _, _) = talker.joined(side, 0).await;
    assert_eq!(online, ["alice"]);
    talker.post(side, "s-1", "psst @bob");
    for socket in [&mut phone, &mut laptop] {
        let frame = socket.recv_until(|f| matches!(f, ServerFrame::Message { .. })).await;
        let ServerFrame::Message { message } = frame else {
            unreachable!("recv_until returned a Message")
        };
        assert_eq!((message.room, message.body.as_str()), (side, "psst @bob"));
    }
    let sidebar = store.sidebar(bob.id).await.expect("sidebar");
    let entry = sidebar.iter().find(|r| r.id == side).expect("listed");
    assert_eq!((entry.unread, entry.mentions), (1, 1));

    // Read on the phone: both of Bob's sockets hear it, and it is stored.
    phone.send(&ClientFrame::Read { room: side, seq: 1 });
    for socket in [&mut phone, &mut laptop] {
        let frame = socket.recv_until(|f| matches!(f, ServerFrame::Read { .. })).await;
        assert_eq!(frame, ServerFrame::Read { room: side, seq: 1 });
    }
    assert_eq!(store.read_seq(bob.id, side).await.expect("read"), 1);

    // Backwards, in place or past the end, it does not move and no one is told;
    // Alice is never told of Bob's marker.
    phone.send(&ClientFrame::Read { room: side, seq: 0 });
    phone.send(&ClientFrame::Read { room: side, seq: 1 });
    phone.send(&ClientFrame::Read { room: side, seq: 50 });
    talker.post(side, "s-2", "still there?");
    talker.recv_until(|f| matches!(f, ServerFrame::Ack { .. })).await;
    let next = phone
        .recv_until(|f| !matches!(f, ServerFrame::Presence { .. } | ServerFrame::Online { .. }))
        .await;
    assert!(
        matches!(&next, ServerFrame::Message { message } if message.body == "still there?"),
        "{next:?}"
    );
    assert_eq!(store.read_seq(bob.id, side).await.expect("read"), 1);
    phone.send(&ClientFrame::Read { room: side, seq: 2 });
    phone
        .recv_until(|f| matches!(f, ServerFrame::Read { seq: 2, .. }))
        .await;
    talker.post(side, "s-3", "bye");
    let seen = talker
        .recv_until(|f| matches!(f, ServerFrame::Ack { .. } | ServerFrame::Read { .. }))
        .await;
    assert!(matches!(seen, ServerFrame::Ack { .. }), "{seen:?}");

    // Asking to follow again and again costs a few queries, then nothing.
    for _ in 0..1000 {
        laptop.send(&ClientFrame::Watch);
    }

    // A room neither open nor followed takes no marker.
    phone.send(&ClientFrame::Read {
        room: elsewhere,
        seq: 1,
    });
    let (code, _, _) = phone.error().await;
    assert_eq!(code, ErrorCode::Invalid);

    // Leaving the open room keeps following it (it is in the sidebar).
    phone.send(&ClientFrame::Leave { room: lobby });
    let mut greeter = node.connect(&alice, &alice_token).await;
    greeter.joined(lobby, 0).await;
    greeter.post(lobby, "l-1", "in the lobby");
    phone
        .recv_until(|f| matches!(f, ServerFrame::Message { message } if message.room == lobby))
        .await;
}
