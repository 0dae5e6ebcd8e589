//! The Socket.IO v4 peer's protocol (`bench/peer/`), spoken by hand over a plain WebSocket
//! so that both targets pay for the same client.
//!
//! Engine.IO packets are one per WebSocket frame, a type digit then a payload: `0` open,
//! `2` ping (answered `3`). Socket.IO packets ride in Engine.IO "message" packets (`4`):
//! `40{auth}` connect, `44{…}` connect error, `42[event,data]` event, `42<id>[…]` event
//! that wants an ack, `43<id>[…]` that ack. Accounts and history are plain JSON over HTTP.

use crate::http::{Auth, HttpClient};
use crate::stamp::{self, Stamp};
use crate::target::{Incoming, JoinReply};
use anyhow::{Context, Result, bail};
use std::fmt::Write as _;

/// The ack id a join uses; sends count from 1.
pub const JOIN_KEY: u64 = 0;

/// Signs `username` up, or logs it in when the name is taken (409).
pub async fn credential(http: &HttpClient, username: &str, password: &str) -> Result<String> {
    match auth_call(http, "/signup", username, password).await? {
        Auth::Ok(token) => Ok(token),
        Auth::Refused(_) => match log_in(http, username, password).await? {
            Auth::Ok(token) => Ok(token),
            Auth::Refused(why) => bail!("login of {username} refused: {why}"),
        },
    }
}

pub async fn log_in(http: &HttpClient, username: &str, password: &str) -> Result<Auth> {
    auth_call(http, "/login", username, password).await
}

async fn auth_call(http: &HttpClient, path: &str, username: &str, password: &str) -> Result<Auth> {
    let body = serde_json::json!({ "username": username, "password": password });
    let reply = http.retry_limited(|| http.post_json(path, &body)).await?;
    match reply.status {
        200 | 201 => {
            let v: serde_json::Value =
                serde_json::from_str(&reply.body).with_context(|| format!("{path} answered {}", reply.body))?;
            let token = v["token"]
                .as_str()
                .with_context(|| format!("{path} answered no token: {}", reply.body))?;
            Ok(Auth::Ok(token.to_owned()))
        }
        400 | 401 | 403 | 404 | 409 => Ok(Auth::Refused(reply.body)),
        other => bail!("{path} of {username}: HTTP {other} {}", reply.body),
    }
}

/// One page of history before message `before`; returns how many messages it held.
pub async fn history(http: &HttpClient, token: &str, room: i64, before: i64) -> Result<usize> {
    let reply = http
        .get(&format!("/history?room={room}&before={before}"), Some(token))
        .await?;
    if reply.status != 200 {
        bail!("history: HTTP {} {}", reply.status, reply.body);
    }
    Ok(memchr::memmem::find_iter(reply.body.as_bytes(), b"\"body\":").count())
}

/// The id of the room's newest message, if it has any.
pub async fn newest_id(http: &HttpClient, token: &str, room: i64) -> Result<Option<i64>> {
    let reply = http.get(&format!("/history?room={room}"), Some(token)).await?;
    if reply.status != 200 {
        bail!("history: HTTP {} {}", reply.status, reply.body);
    }
    let page: serde_json::Value = serde_json::from_str(&reply.body).context("reading a history page")?;
    Ok(page["messages"]
        .as_array()
        .and_then(|m| m.iter().filter_map(|m| m["id"].as_i64()).max()))
}

/// The WebSocket URL of the Engine.IO endpoint under `base` (`http://host:port`).
pub fn ws_url(base: &str) -> String {
    let host = base.split_once("://").map_or(base, |(_, rest)| rest);
    format!("ws://{host}/socket.io/?EIO=4&transport=websocket")
}

/// The Socket.IO connect packet carrying the token.
pub fn connect_packet(token: &str) -> String {
    format!("40{}", serde_json::json!({ "token": token }))
}

/// What a frame means during the handshake.
#[derive(Debug, PartialEq, Eq)]
pub enum Handshake {
    /// Engine.IO open: send the connect packet now.
    Open,
    /// Socket.IO connected to the default namespace.
    Connected,
    Refused(String),
    Other,
}

pub fn handshake(frame: &str) -> Handshake {
    if frame.starts_with("40") {
        Handshake::Connected
    } else if let Some(why) = frame.strip_prefix("44") {
        Handshake::Refused(why.to_owned())
    } else if frame.starts_with('0') {
        Handshake::Open
    } else {
        Handshake::Other
    }
}

pub fn join_frame(room: i64) -> String {
    format!(r#"42{JOIN_KEY}["join",{{"room":{room}}}]"#)
}

pub fn join_reply(frame: &str) -> JoinReply {
    let Some(rest) = frame.strip_prefix("43") else {
        return if frame.starts_with("44") || frame.starts_with("41") {
            JoinReply::Failed(frame.to_owned())
        } else {
            JoinReply::Pending
        };
    };
    match split_key(rest.as_bytes()) {
        Some((JOIN_KEY, payload)) if payload.starts_with(br#"[{"ok":true"#) => JoinReply::Done,
        Some((JOIN_KEY, _)) => JoinReply::Failed(frame.to_owned()),
        _ => JoinReply::Pending,
    }
}

/// Appends `42<key>["send",{…}]`; the client id is `<tag><key>` as for Natter.
pub fn send_frame(out: &mut String, room: i64, tag: &str, key: u64, stamp: Stamp, body_bytes: usize) {
    let _ = write!(
        out,
        r#"42{key}["send",{{"room":{room},"client_id":"{tag}{key}","body":""#
    );
    stamp::encode_body(out, stamp, body_bytes);
    out.push_str("\"}]");
}

/// The Engine.IO pong.
pub const PONG: &str = "3";

pub fn classify(frame: &[u8]) -> Incoming {
    if frame.starts_with(br#"42["message","#) {
        return match stamp::find_in_frame(frame) {
            Some(s) => Incoming::Message(s),
            None => Incoming::Other,
        };
    }
    if let Some(rest) = frame.strip_prefix(b"43") {
        let Some((key, payload)) = split_key(rest) else {
            return Incoming::Other;
        };
        if memchr::memmem::find(payload, b"\"error\"").is_some() {
            return Incoming::Error {
                key: Some(key),
                code: error_code(payload),
            };
        }
        return Incoming::Ack(key);
    }
    if frame == b"2" {
        return Incoming::Ping;
    }
    if frame.starts_with(b"41") || frame == b"1" {
        return Incoming::Error {
            key: None,
            code: "disconnected".into(),
        };
    }
    if frame.starts_with(br#"42["error""#) {
        return Incoming::Error {
            key: None,
            code: error_code(frame),
        };
    }
    Incoming::Other
}

/// `"error":"<code>"` if the error is a string, else a generic code.
fn error_code(payload: &[u8]) -> String {
    let key = b"\"error\":\"";
    memchr::memmem::find(payload, key)
        .and_then(|at| {
            let rest = &payload[at + key.len()..];
            let end = memchr::memchr(b'"', rest)?;
            std::str::from_utf8(&rest[..end]).ok().map(str::to_owned)
        })
        .unwrap_or_else(|| "error".into())
}

/// Splits `<digits><payload>` into the ack id and the payload.
fn split_key(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let end = bytes.iter().position(|b| !b.is_ascii_digit()).unwrap_or(bytes.len());
    let key = std::str::from_utf8(&bytes[..end]).ok()?.parse().ok()?;
    Some((key, &bytes[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handshake_is_open_then_connect() {
        assert_eq!(
            handshake(r#"0{"sid":"x","pingInterval":25000,"pingTimeout":20000}"#),
            Handshake::Open
        );
        assert_eq!(handshake(r#"40{"sid":"y"}"#), Handshake::Connected);
        assert_eq!(
            handshake(r#"44{"message":"bad token"}"#),
            Handshake::Refused(r#"{"message":"bad token"}"#.into())
        );
        assert_eq!(connect_packet("t\"k"), r#"40{"token":"t\"k"}"#);
        assert_eq!(
            ws_url("http://127.0.0.1:3100"),
            "ws://127.0.0.1:3100/socket.io/?EIO=4&transport=websocket"
        );
    }

    #[test]
    fn a_join_is_done_at_its_ok_ack() {
        assert_eq!(join_frame(5), r#"420["join",{"room":5}]"#);
        assert_eq!(join_reply(r#"430[{"ok":true}]"#), JoinReply::Done);
        assert!(matches!(join_reply(r#"430[{"ok":false}]"#), JoinReply::Failed(_)));
        assert_eq!(join_reply(r#"431[{"ok":true}]"#), JoinReply::Pending);
        assert_eq!(join_reply("2"), JoinReply::Pending);
        assert!(matches!(join_reply("41"), JoinReply::Failed(_)));
    }

    #[test]
    fn a_send_frame_is_an_event_with_an_ack_id() {
        let mut out = String::new();
        let stamp = Stamp {
            step: 0,
            idx: 4,
            sent_ns: 5,
        };
        send_frame(&mut out, 3, "n-1-", 12, stamp, 16);
        assert!(out.starts_with(r#"4212["send",{"room":3,"client_id":"n-1-12","body":"lg1 0 4 5 "#));
        let v: serde_json::Value = serde_json::from_str(&out[4..]).unwrap();
        assert_eq!(v[0], "send");
        assert_eq!(v[1]["body"].as_str().unwrap().len(), 16);
    }

    #[test]
    fn packets_are_classified_by_prefix() {
        assert_eq!(classify(b"2"), Incoming::Ping);
        assert_eq!(classify(br#"4317[{"id":9,"created_at":1}]"#), Incoming::Ack(17));
        assert_eq!(
            classify(br#"4318[{"error":"rate_limited"}]"#),
            Incoming::Error {
                key: Some(18),
                code: "rate_limited".into()
            }
        );
        let msg =
            br#"42["message",{"id":1,"room":2,"author":"a","body":"lg1 3 4 5 x","created_at":1,"client_id":"c"}]"#;
        assert_eq!(
            classify(msg),
            Incoming::Message(Stamp {
                step: 3,
                idx: 4,
                sent_ns: 5
            })
        );
        assert_eq!(classify(br#"42["presence",{}]"#), Incoming::Other);
        assert!(matches!(classify(b"41"), Incoming::Error { key: None, .. }));
    }
}
