//! Whole connections driven over in-memory channels: a node built as the
//! server builds one (on an embedded SQLite file, in-process fan-out), the
//! socket's halves replaced by channels. No listener, no HTTP, no browser.

use super::reader::Opened;
use super::start;
use crate::config::Config;
use crate::state::AppState;
use app::backend::accounts::SessionToken;
use app::protocol::{ClientFrame, ErrorCode, LogEntry, Me, RoomId, Seq, ServerFrame};
use app::validate::{Password, RoomName, Topic, Username};
use axum::extract::ws::Message;
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The address every test socket is opened from.
pub(super) const TEST_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9));

/// A node of its own on a fresh SQLite file, removed when dropped.
pub(super) struct TestNode {
    pub(super) state: AppState,
    path: std::path::PathBuf,
    // Held so the node never sees itself shutting down.
    _shutdown: tokio::sync::watch::Sender<bool>,
}

impl Drop for TestNode {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.path.display()));
        }
        let _ = std::fs::remove_dir_all(self.path.with_extension("files"));
    }
}

impl TestNode {
    pub(super) async fn start() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("natter-ws-{}-{n}.db", std::process::id()));
        let mut config = Config::new(format!("sqlite://{}?mode=rwc", path.display()), None);
        config.uploads.data_dir = path.with_extension("files");
        let options = leptos::prelude::LeptosOptions::builder().output_name("natter").build();
        let (shutdown, watching) = tokio::sync::watch::channel(false);
        let state = crate::assemble(config, options, watching).await.expect("node starts");
        Self {
            state,
            path,
            _shutdown: shutdown,
        }
    }

    pub(super) async fn user(&self, name: &str) -> (Me, SessionToken) {
        let username = Username::parse(name).expect("valid name");
        let password = Password::parse("correct horse battery").expect("valid password");
        self.state
            .services
            .accounts
            .sign_up(&username, &password, None)
            .await
            .expect("signed up")
    }

    pub(super) async fn room(&self, name: &str, creator: &Me, private: bool) -> RoomId {
        self.state
            .services
            .store
            .create_room(
                &RoomName::parse(name).expect("valid name"),
                &Topic::parse("").expect("no topic"),
                creator.id,
                private,
            )
            .await
            .expect("room created")
    }

    /// Opens a connection for `me` exactly as an upgrade would, with
    /// channels for its socket.
    pub(super) async fn connect(&self, me: &Me, token: &SessionToken) -> Client {
        let opened = Opened::claim(self.state.clone(), me.clone(), token.0.clone(), Some(TEST_ADDRESS))
            .await
            .unwrap_or_else(|_| panic!("a socket slot for {}", me.username));
        let (to_server, incoming) = mpsc::unbounded::<Result<Message, axum::Error>>();
        let (outgoing, from_server) = mpsc::unbounded::<Message>();
        let reader = start(opened, outgoing.sink_map_err(axum::Error::new), incoming);
        Client {
            to_server,
            from_server,
            reader,
        }
    }
}

/// The client's end of a connection.
pub(super) struct Client {
    to_server: mpsc::UnboundedSender<Result<Message, axum::Error>>,
    from_server: mpsc::UnboundedReceiver<Message>,
    reader: tokio::task::JoinHandle<()>,
}

impl Client {
    pub(super) fn send_raw(&self, message: Message) {
        self.to_server
            .unbounded_send(Ok(message))
            .expect("reader still reading");
    }

    pub(super) fn send(&self, frame: &ClientFrame) {
        let text = serde_json::to_string(frame).expect("frames serialise");
        self.send_raw(Message::Text(text.into()));
    }

    fn join(&self, room: RoomId, since: Seq) {
        self.send(&ClientFrame::Join { room, since });
    }

    pub(super) fn post(&self, room: RoomId, client_id: &str, body: &str) {
        self.send(&ClientFrame::Send {
            room,
            client_id: client_id.into(),
            body: body.into(),
            reply_to: None,
            attachment: None,
        });
    }

    /// The next frame the server sends, pings aside.
    async fn recv(&mut self) -> ServerFrame {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(5), self.from_server.next())
                .await
                .expect("a frame within 5 s")
                .expect("the socket still open");
            match message {
                Message::Text(text) => return serde_json::from_str(text.as_str()).expect("a server frame"),
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    /// Skips frames until one matches, returning it.
    pub(super) async fn recv_until(&mut self, wanted: impl Fn(&ServerFrame) -> bool) -> ServerFrame {
        loop {
            let frame = self.recv().await;
            if wanted(&frame) {
                return frame;
            }
        }
    }

    /// Joins and returns the (Joined, CatchUp) replies.
    pub(super) async fn joined(&mut self, room: RoomId, since: Seq) -> (Vec<String>, Vec<String>, bool) {
        self.join(room, since);
        // Presence and online lists of rooms joined before may come first.
        let online = match self
            .recv_until(|f| !matches!(f, ServerFrame::Presence { .. } | ServerFrame::Online { .. }))
            .await
        {
            ServerFrame::Joined { room: r, online } if r == room => online,
            other => panic!("expected Joined, got {other:?}"),
        };
        match self.recv_until(|f| matches!(f, ServerFrame::CatchUp { .. })).await {
            ServerFrame::CatchUp { events, more, .. } => {
                let bodies = events
                    .into_iter()
                    .filter_map(|e| match e {
                        LogEntry::Posted(m) => Some(m.body),
                        LogEntry::Updated(_) => None,
                    })
                    .collect();
                (online, bodies, more)
            }
            _ => unreachable!("recv_until returned a CatchUp"),
        }
    }

    pub(super) async fn error(&mut self) -> (ErrorCode, String, Option<String>) {
        match self.recv_until(|f| matches!(f, ServerFrame::Error { .. })).await {
            ServerFrame::Error {
                code,
                message,
                client_id,
            } => (code, message, client_id),
            _ => unreachable!("recv_until returned an Error"),
        }
    }
}

#[tokio::test]
async fn joining_answers_who_is_online_then_the_backlog() {
    let node = TestNode::start().await;
    let (alice, token) = node.user("alice").await;
    let room = node.room("Lobby", &alice, false).await;
    let mut client = node.connect(&alice, &token).await;

    let (online, backlog, more) = client.joined(room, 0).await;
    assert_eq!(online, vec!["alice".to_owned()]);
    assert!(backlog.is_empty());
    assert!(!more);
    // The join recorded the opening: a public room gets its membership row too.
    let members = node.state.services.store.members(room).await.expect("members");
    assert_eq!(members, vec!["alice".to_owned()]);
}

#[tokio::test]
async fn a_send_is_acknowledged_and_delivered_then_caught_up_by_a_later_join() {
    let node = TestNode::start().await;
    let (alice, alice_token) = node.user("alice").await;
    let (bob, bob_token) = node.user("bob").await;
    let room = node.room("Lobby", &alice, false).await;
    let mut alice_socket = node.connect(&alice, &alice_token).await;
    alice_socket.joined(room, 0).await;

    alice_socket.post(room, "c-1", "hello");
    let ack = alice_socket.recv_until(|f| matches!(f, ServerFrame::Ack { .. })).await;
    let ServerFrame::Ack { client_id, seq, .. } = ack else {
        unreachable!("recv_until returned an Ack")
    };
    assert_eq!((client_id.as_str(), seq), ("c-1", 1));
    alice_socket.post(room, "c-2", "again");
    alice_socket
        .recv_until(|f| matches!(f, ServerFrame::Ack { seq: 2, .. }))
        .await;

    // Bob joins after both: the catch-up carries them, from his `since` on.
    let mut bob_socket = node.connect(&bob, &bob_token).await;
    let (online, backlog, _) = bob_socket.joined(room, 1).await;
    assert_eq!(online, vec!["alice".to_owned(), "bob".to_owned()]);
    assert_eq!(backlog, vec!["again".to_owned()]);

    // Live from here: Bob sees Alice's next message, and Alice hears Bob arrive.
    alice_socket.post(room, "c-3", "welcome");
    let live = bob_socket
        .recv_until(|f| matches!(f, ServerFrame::Message { .. }))
        .await;
    let ServerFrame::Message { message } = live else {
        unreachable!("recv_until returned a Message")
    };
    assert_eq!(
        (message.body.as_str(), message.seq, message.author.as_str()),
        ("welcome", 3, "alice")
    );
    alice_socket
        .recv_until(|f| matches!(f, ServerFrame::Presence { username, joined: true, .. } if username == "bob"))
        .await;

    // And an explicit catch-up from the start returns all three, in order.
    bob_socket.send(&ClientFrame::CatchUp { room, since: 0 });
    let frame = bob_socket
        .recv_until(|f| matches!(f, ServerFrame::CatchUp { .. }))
        .await;
    let ServerFrame::CatchUp { events, more, .. } = frame else {
        unreachable!("recv_until returned a CatchUp")
    };
    let seqs: Vec<Seq> = events.iter().map(LogEntry::seq).collect();
    assert_eq!((seqs, more), (vec![1, 2, 3], false));
}

#[tokio::test]
async fn sending_or_catching_up_before_joining_is_refused_and_nothing_is_posted() {
    let node = TestNode::start().await;
    let (alice, token) = node.user("alice").await;
    let room = node.room("Lobby", &alice, false).await;
    let mut client = node.connect(&alice, &token).await;

    client.post(room, "c-1", "too early");
    let (code, message, client_id) = client.error().await;
    assert_eq!(code, ErrorCode::Invalid);
    assert_eq!(message, "Join the room before sending to it.");
    assert_eq!(client_id.as_deref(), Some("c-1"));
    client.send(&ClientFrame::CatchUp { room, since: 0 });
    assert_eq!(client.error().await.0, ErrorCode::Invalid);

    let (_, backlog, _) = client.joined(room, 0).await;
    assert!(backlog.is_empty(), "the refused send was not stored: {backlog:?}");
}

#[tokio::test]
async fn a_private_room_is_not_found_for_someone_outside_it() {
    let node = TestNode::start().await;
    let (alice, _) = node.user("alice").await;
    let (mallory, token) = node.user("mallory").await;
    let room = node.room("Secret", &alice, true).await;
    let mut client = node.connect(&mallory, &token).await;

    client.join(room, 0);
    let (code, _, _) = client.error().await;
    assert_eq!(code, ErrorCode::NotFound);
    // Not joined, so a send is refused as one.
    client.post(room, "c-1", "let me in");
    assert_eq!(client.error().await.0, ErrorCode::Invalid);
    assert!(!node.state.node.hub.has_room(room), "nobody subscribed to the room");
}

#[tokio::test]
async fn frames_that_are_not_json_text_get_a_bad_frame_error_and_the_socket_stays_open() {
    let node = TestNode::start().await;
    let (alice, token) = node.user("alice").await;
    let room = node.room("Lobby", &alice, false).await;
    let mut client = node.connect(&alice, &token).await;

    client.send_raw(Message::Text("{\"type\":\"shout\"}".into()));
    let (code, message, _) = client.error().await;
    assert_eq!(code, ErrorCode::BadFrame);
    assert!(message.starts_with("Unrecognised frame"), "{message}");
    client.send_raw(Message::Binary(vec![1, 2, 3].into()));
    let (code, message, _) = client.error().await;
    assert_eq!(
        (code, message.as_str()),
        (ErrorCode::BadFrame, "Frames must be JSON text.")
    );

    // Still serving.
    let (online, _, _) = client.joined(room, 0).await;
    assert_eq!(online, vec!["alice".to_owned()]);
}

#[tokio::test]
async fn an_invalid_message_is_refused_with_its_client_id() {
    let node = TestNode::start().await;
    let (alice, token) = node.user("alice").await;
    let room = node.room("Lobby", &alice, false).await;
    let mut client = node.connect(&alice, &token).await;
    client.joined(room, 0).await;

    client.post(room, "c-1", "   ");
    let (code, _, client_id) = client.error().await;
    assert_eq!((code, client_id.as_deref()), (ErrorCode::Invalid, Some("c-1")));
    client.post(room, "", "hello");
    assert_eq!(client.error().await.0, ErrorCode::Invalid);
    assert_eq!(
        node.state.services.store.last_seq(room).await.expect("read"),
        Some(0),
        "nothing was posted"
    );
}

#[tokio::test]
async fn leaving_stops_delivery_and_closing_the_stream_ends_the_connection() {
    let node = TestNode::start().await;
    let (alice, alice_token) = node.user("alice").await;
    let (bob, bob_token) = node.user("bob").await;
    let room = node.room("Lobby", &alice, false).await;
    let mut alice_socket = node.connect(&alice, &alice_token).await;
    let mut bob_socket = node.connect(&bob, &bob_token).await;
    alice_socket.joined(room, 0).await;
    bob_socket.joined(room, 0).await;

    bob_socket.send(&ClientFrame::Leave { room });
    alice_socket
        .recv_until(|f| matches!(f, ServerFrame::Presence { username, joined: false, .. } if username == "bob"))
        .await;
    alice_socket.post(room, "c-1", "anyone?");
    alice_socket.recv_until(|f| matches!(f, ServerFrame::Ack { .. })).await;
    // Bob left: the next thing he hears is his own join's reply, not the message.
    let (_, backlog, _) = bob_socket.joined(room, 0).await;
    assert_eq!(backlog, vec!["anyone?".to_owned()]);

    // The client hangs up: the reader ends and the room no longer has Bob.
    let Client { to_server, reader, .. } = bob_socket;
    drop(to_server);
    tokio::time::timeout(Duration::from_secs(5), reader)
        .await
        .expect("the reader ends when its stream does")
        .expect("the reader did not panic");
    alice_socket
        .recv_until(|f| matches!(f, ServerFrame::Presence { username, joined: false, .. } if username == "bob"))
        .await;
}

#[tokio::test]
async fn typing_reaches_the_room_but_never_its_log_and_a_flood_costs_six_notices() {
    let node = TestNode::start().await;
    let (alice, alice_token) = node.user("alice").await;
    let (bob, bob_token) = node.user("bob").await;
    let room = node.room("Lobby", &alice, false).await;
    let mut a = node.connect(&alice, &alice_token).await;
    let mut b = node.connect(&bob, &bob_token).await;

    // A room not joined is not typed in.
    a.send(&ClientFrame::Typing { room, on: true });
    let (code, message, _) = a.error().await;
    assert_eq!(code, ErrorCode::Invalid);
    assert!(message.contains("Join the room"), "{message}");

    a.joined(room, 0).await;
    b.joined(room, 0).await;
    for _ in 0..50 {
        a.send(&ClientFrame::Typing { room, on: true });
    }
    a.post(room, "c-1", "done typing");
    let mut notices = 0;
    loop {
        match b.recv().await {
            ServerFrame::Typing { room: r, username, on } => {
                assert_eq!((r, username.as_str(), on), (room, "alice", true));
                notices += 1;
            }
            ServerFrame::Message { .. } => break,
            _ => {}
        }
    }
    assert_eq!(notices, 6, "one connection's share per ten seconds");

    // Never logged: the room's log holds the message alone.
    b.send(&ClientFrame::CatchUp { room, since: 0 });
    let ServerFrame::CatchUp { events, .. } = b.recv_until(|f| matches!(f, ServerFrame::CatchUp { .. })).await else {
        unreachable!("recv_until returned a CatchUp")
    };
    assert_eq!(events.len(), 1);
}
