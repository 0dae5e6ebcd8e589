//! One face over the two servers a run can drive: accounts, rooms, opening and joining a
//! socket, building send frames and classifying what comes back. The wire details live in
//! [`crate::natter`] and [`crate::peer`]; everything above this module is protocol-blind.

use crate::http::{Auth, HttpClient};
use crate::stamp::Stamp;
use crate::{natter, peer};
use anyhow::{Context, Result, bail};
use futures::{SinkExt, StreamExt};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Natter: `/api/…` server functions, session cookie, JSON frames on `/ws`.
    Natter,
    /// The Socket.IO v4 peer in `bench/peer/`.
    Peer,
}

/// What one received frame is.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A chat message carrying one of our stamps.
    Message(Stamp),
    /// A send was committed; the connection's counter it was sent with.
    Ack(u64),
    /// A request failed; `key` names the send it answers, if any.
    Error { key: Option<u64>, code: String },
    /// A protocol-level ping that must be answered in kind (Engine.IO).
    Ping,
    /// Anything else (presence, online lists, other people's messages).
    Other,
}

#[derive(Debug, PartialEq, Eq)]
pub enum JoinReply {
    Done,
    Pending,
    Failed(String),
}

/// How long opening, handshaking or joining one socket may take.
const SOCKET_SETUP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct Target {
    pub kind: Kind,
    pub http: HttpClient,
}

impl Target {
    pub fn new(kind: Kind, base: &str, rate_limit_patience: Duration) -> Result<Self> {
        Ok(Self {
            kind,
            http: HttpClient::new(base, rate_limit_patience)?,
        })
    }

    /// A credential for `username`, signing it up if it does not exist yet.
    pub async fn credential(&self, username: &str, password: &str) -> Result<String> {
        match self.kind {
            Kind::Natter => natter::credential(&self.http, username, password).await,
            Kind::Peer => peer::credential(&self.http, username, password).await,
        }
    }

    /// One login, as a user would do it (the login storm).
    pub async fn log_in(&self, username: &str, password: &str) -> Result<()> {
        let auth = match self.kind {
            Kind::Natter => natter::log_in(&self.http, username, password).await?,
            Kind::Peer => peer::log_in(&self.http, username, password).await?,
        };
        match auth {
            Auth::Ok(_) => Ok(()),
            Auth::Refused(why) => bail!("login refused: {why}"),
        }
    }

    /// Whether a remembered credential still works, when the target can say so cheaply.
    pub async fn still_valid(&self, credential: &str) -> Result<bool> {
        match self.kind {
            Kind::Natter => natter::session_alive(&self.http, credential).await,
            // No cheap check: peer tokens are not cached.
            Kind::Peer => Ok(false),
        }
    }

    /// Whether remembered credentials are worth keeping between runs.
    pub fn caches_credentials(&self) -> bool {
        self.kind == Kind::Natter
    }

    /// Room ids for `names`. Natter rooms are created by name as `credential`'s user; the
    /// peer's rooms are plain numbers, `peer_room_base + i`.
    pub async fn rooms(&self, credential: &str, names: &[String], peer_room_base: i64) -> Result<Vec<i64>> {
        match self.kind {
            Kind::Natter => natter::ensure_rooms(&self.http, credential, names).await,
            Kind::Peer => Ok((0..names.len())
                .map(|i| peer_room_base + i64::try_from(i).unwrap_or(i64::MAX))
                .collect()),
        }
    }

    pub async fn history(&self, credential: &str, room: i64, before: i64) -> Result<usize> {
        match self.kind {
            Kind::Natter => natter::history(&self.http, credential, room, before).await,
            Kind::Peer => peer::history(&self.http, credential, room, before).await,
        }
    }

    /// Natter's sidebar with its unread counts; how many rooms it listed.
    pub async fn sidebar(&self, credential: &str) -> Result<usize> {
        match self.kind {
            Kind::Natter => natter::sidebar(&self.http, credential).await,
            Kind::Peer => anyhow::bail!("the peer has no sidebar"),
        }
    }

    /// Searches messages for `words`; how many results the first page has.
    pub async fn search(&self, credential: &str, words: &str) -> Result<usize> {
        match self.kind {
            Kind::Natter => natter::search(&self.http, credential, words).await,
            Kind::Peer => anyhow::bail!("the peer has no search"),
        }
    }

    /// Opens an authenticated socket and joins `room`; returns it ready for traffic.
    pub async fn open(&self, credential: &str, room: i64) -> Result<Ws> {
        tokio::time::timeout(SOCKET_SETUP_TIMEOUT, async {
            let mut ws = self.connect(credential).await?;
            ws.send(Message::text(self.join_frame(room)))
                .await
                .context("sending join")?;
            loop {
                let text = next_text(&mut ws).await?;
                if self.kind == Kind::Peer && text == "2" {
                    ws.send(Message::text(peer::PONG)).await?;
                    continue;
                }
                match self.join_reply(&text) {
                    JoinReply::Done => return Ok(ws),
                    JoinReply::Pending => continue,
                    JoinReply::Failed(why) => bail!("join of room {room} refused: {why}"),
                }
            }
        })
        .await
        .context("socket setup timed out")?
    }

    async fn connect(&self, credential: &str) -> Result<Ws> {
        let base = &self.http.base;
        let url = match self.kind {
            Kind::Natter => format!("ws://{}/ws", base.split_once("://").map_or(base.as_str(), |(_, h)| h)),
            Kind::Peer => peer::ws_url(base),
        };
        let mut request = url
            .as_str()
            .into_client_request()
            .context("building the upgrade request")?;
        let headers = request.headers_mut();
        headers.insert("origin", base.parse().context("origin header")?);
        if self.kind == Kind::Natter {
            headers.insert("cookie", credential.parse().context("cookie header")?);
        }
        // Small buffers: ten thousand idle sockets must not cost a gigabyte here
        // (tungstenite reads into 128 KiB by default).
        let config = WebSocketConfig::default()
            .read_buffer_size(4 * 1024)
            .write_buffer_size(0);
        let (mut ws, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true)
            .await
            .with_context(|| format!("opening {url}"))?;
        if self.kind == Kind::Peer {
            loop {
                let text = next_text(&mut ws).await?;
                match peer::handshake(&text) {
                    peer::Handshake::Open => ws.send(Message::text(peer::connect_packet(credential))).await?,
                    peer::Handshake::Connected => break,
                    peer::Handshake::Refused(why) => bail!("Socket.IO connect refused: {why}"),
                    peer::Handshake::Other => {}
                }
            }
        }
        Ok(ws)
    }

    fn join_frame(&self, room: i64) -> String {
        match self.kind {
            Kind::Natter => natter::join_frame(room),
            Kind::Peer => peer::join_frame(room),
        }
    }

    fn join_reply(&self, frame: &str) -> JoinReply {
        match self.kind {
            Kind::Natter => natter::join_reply(frame),
            Kind::Peer => peer::join_reply(frame),
        }
    }

    /// The first counter a connection may use for its sends (the peer's join took 0).
    pub fn first_send_key(&self) -> u64 {
        match self.kind {
            Kind::Natter => 0,
            Kind::Peer => peer::JOIN_KEY + 1,
        }
    }

    pub fn send_frame(&self, out: &mut String, room: i64, tag: &str, key: u64, stamp: Stamp, body_bytes: usize) {
        match self.kind {
            Kind::Natter => natter::send_frame(out, room, tag, key, stamp, body_bytes),
            Kind::Peer => peer::send_frame(out, room, tag, key, stamp, body_bytes),
        }
    }

    pub fn classify(&self, frame: &[u8]) -> Incoming {
        match self.kind {
            Kind::Natter => natter::classify(frame),
            Kind::Peer => peer::classify(frame),
        }
    }
}

/// The next text frame (control frames are skipped; tungstenite answers pings itself).
async fn next_text(ws: &mut Ws) -> Result<String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => return Ok(text.as_str().to_owned()),
            Some(Ok(Message::Close(frame))) => bail!("closed by the server: {frame:?}"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e).context("reading the socket"),
            None => bail!("the socket ended"),
        }
    }
}
