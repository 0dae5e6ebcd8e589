//! Natter's protocol as a client sees it (see `app/src/protocol.rs` and `app/src/api.rs`):
//! server functions are `POST /api/<endpoint>` with form arguments and answer JSON; the
//! session is the `natter_session` cookie; the socket at `/ws` speaks JSON frames tagged by
//! `"type"`.
//!
//! Received frames are classified by prefix and byte search, never parsed in full: serde
//! writes the tag first (`{"type":"message",…`), and a busy run receives well over 100,000
//! frames a second on a core it shares with the server.

use crate::http::{Auth, HttpClient, form_reply};
use crate::stamp::{self, Stamp};
use crate::target::{Incoming, JoinReply};
use anyhow::{Context, Result, bail};
use std::fmt::Write as _;

/// Names of the session cookie (plain http, and https with `SECURE_COOKIES`).
const COOKIE_NAMES: [&str; 2] = ["natter_session=", "__Host-natter_session="];

/// Logs `username` in, or signs it up when the login is refused as wrong (it does not
/// exist yet). Login comes first because repeated runs reuse their users, and a refused
/// sign-up would still have paid for a password hash.
pub async fn credential(http: &HttpClient, username: &str, password: &str) -> Result<String> {
    match log_in(http, username, password).await? {
        Auth::Ok(cookie) => Ok(cookie),
        Auth::Refused(_) => match sign_up(http, username, password).await? {
            Auth::Ok(cookie) => Ok(cookie),
            Auth::Refused(why) => bail!("sign-up of {username} refused: {why}"),
        },
    }
}

pub async fn log_in(http: &HttpClient, username: &str, password: &str) -> Result<Auth> {
    auth_call(http, "login", username, password).await
}

async fn sign_up(http: &HttpClient, username: &str, password: &str) -> Result<Auth> {
    auth_call(http, "signup", username, password).await
}

async fn auth_call(http: &HttpClient, endpoint: &str, username: &str, password: &str) -> Result<Auth> {
    let path = format!("/api/{endpoint}");
    let form = [("username", username), ("password", password)];
    let reply = http.retry_limited(|| http.post_form(&path, None, &form)).await?;
    if reply.status == 200 || reply.status == 302 || reply.status == 303 {
        let cookie = reply
            .set_cookies
            .iter()
            .filter_map(|c| c.split(';').next())
            .find(|c| COOKIE_NAMES.iter().any(|name| c.starts_with(name)))
            .with_context(|| format!("{endpoint} of {username} answered without a session cookie"))?;
        return Ok(Auth::Ok(cookie.to_owned()));
    }
    // 400 "Wrong username or password." (login) or 409 "taken" (sign-up).
    if reply.status == 400 || reply.status == 401 || reply.status == 409 {
        return Ok(Auth::Refused(reply.body));
    }
    bail!("{endpoint} of {username}: HTTP {} {}", reply.status, reply.body)
}

/// Whether a stored session cookie still logs in (`/api/me` answers a user, not null).
pub async fn session_alive(http: &HttpClient, cookie: &str) -> Result<bool> {
    let reply = http.post_form("/api/me", Some(cookie), &[]).await?;
    Ok(reply.status == 200 && reply.body.trim() != "null")
}

#[derive(serde::Deserialize)]
struct RoomRow {
    id: i64,
    name: String,
}

async fn list_rooms(http: &HttpClient, cookie: &str) -> Result<Vec<RoomRow>> {
    let reply = form_reply(http.post_form("/api/rooms", Some(cookie), &[]).await?, "rooms")?;
    serde_json::from_str(&reply).context("reading the room list")
}

/// The ids of the rooms named `names`, creating the missing ones (as `cookie`'s user).
pub async fn ensure_rooms(http: &HttpClient, cookie: &str, names: &[String]) -> Result<Vec<i64>> {
    let mut known: std::collections::HashMap<String, i64> = list_rooms(http, cookie)
        .await?
        .into_iter()
        .map(|r| (r.name.to_ascii_lowercase(), r.id))
        .collect();
    let mut ids = Vec::with_capacity(names.len());
    for name in names {
        if let Some(id) = known.get(&name.to_ascii_lowercase()) {
            ids.push(*id);
            continue;
        }
        let reply = http
            .post_form(
                "/api/create_room",
                Some(cookie),
                &[("name", name), ("topic", "loadgen")],
            )
            .await?;
        let id = if reply.status == 200 {
            serde_json::from_str(&reply.body).with_context(|| format!("create_room answered {}", reply.body))?
        } else if reply.status == 409 {
            // Created by a concurrent run between the listing and now.
            known = list_rooms(http, cookie)
                .await?
                .into_iter()
                .map(|r| (r.name.to_ascii_lowercase(), r.id))
                .collect();
            *known
                .get(&name.to_ascii_lowercase())
                .with_context(|| format!("room {name} exists but is not visible"))?
        } else {
            bail!("create_room {name}: HTTP {} {}", reply.status, reply.body);
        };
        ids.push(id);
    }
    Ok(ids)
}

/// One page of history before `before`; returns how many messages it held.
pub async fn history(http: &HttpClient, cookie: &str, room: i64, before: i64) -> Result<usize> {
    let body = form_reply(
        http.post_form(
            "/api/history",
            Some(cookie),
            &[("room", &room.to_string()), ("before", &before.to_string())],
        )
        .await?,
        "history",
    )?;
    // Every message carries exactly one "client_id" field; counting them is enough to
    // check the page size without parsing 50 messages per request.
    Ok(memchr::memmem::find_iter(body.as_bytes(), b"\"client_id\":").count())
}

/// The sidebar's rooms with their unread counts; returns how many rooms it listed.
pub async fn sidebar(http: &HttpClient, cookie: &str) -> Result<usize> {
    let body = form_reply(http.post_form("/api/sidebar", Some(cookie), &[]).await?, "sidebar")?;
    // One "read_seq" field per room listed.
    Ok(memchr::memmem::find_iter(body.as_bytes(), b"\"read_seq\":").count())
}

/// One search, as the search page asks it; the number of results on the first page.
pub async fn search(http: &HttpClient, cookie: &str, words: &str) -> Result<usize> {
    let body = form_reply(
        http.post_form("/api/search", Some(cookie), &[("query", words)]).await?,
        "search",
    )?;
    // One "marks" field per result.
    Ok(memchr::memmem::find_iter(body.as_bytes(), b"\"marks\":").count())
}

/// `{"type":"join",…}` with a `since` past any sequence, so the catch-up is empty: a run
/// measures live delivery, not history replay.
pub fn join_frame(room: i64) -> String {
    format!(r#"{{"type":"join","room":{room},"since":{}}}"#, i64::MAX)
}

/// Joining is done at the `catch_up` that follows `joined`.
pub fn join_reply(frame: &str) -> JoinReply {
    if frame.starts_with(r#"{"type":"catch_up""#) {
        JoinReply::Done
    } else if frame.starts_with(r#"{"type":"error""#) {
        JoinReply::Failed(frame.to_owned())
    } else {
        JoinReply::Pending
    }
}

/// Appends a send frame. The client id is `<tag><key>`: `tag` names the run and the
/// connection (ids must be unique per author, and one user has several connections), and
/// `key` is the connection's counter that the ack or error echoes back.
pub fn send_frame(out: &mut String, room: i64, tag: &str, key: u64, stamp: Stamp, body_bytes: usize) {
    let _ = write!(
        out,
        r#"{{"type":"send","room":{room},"client_id":"{tag}{key}","body":""#
    );
    stamp::encode_body(out, stamp, body_bytes);
    out.push_str("\"}");
}

/// Appends change number `n` to `message` (the sender's own): a reaction added, the
/// same taken back, an edit, in turn — each logged and fanned out like a message.
pub fn change_frame(out: &mut String, room: i64, tag: &str, key: u64, message: i64, n: u64) {
    let _ = match n % 3 {
        0 | 1 => write!(
            out,
            r#"{{"type":"react","room":{room},"client_id":"{tag}{key}","message":{message},"emoji":"👍","on":{}}}"#,
            n.is_multiple_of(3)
        ),
        _ => write!(
            out,
            r#"{{"type":"edit","room":{room},"client_id":"{tag}{key}","message":{message},"body":"edited {key}"}}"#
        ),
    };
}

/// The message id an ack carries.
pub fn ack_id(frame: &[u8]) -> Option<i64> {
    let key = b"\"id\":";
    let at = memchr::memmem::find(frame, key)? + key.len();
    let digits = frame[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&frame[at..at + digits]).ok()?.parse().ok()
}

pub fn classify(frame: &[u8]) -> Incoming {
    if frame.starts_with(br#"{"type":"message""#) {
        return match stamp::find_in_frame(frame) {
            Some(s) => Incoming::Message(s),
            None => Incoming::Other,
        };
    }
    if frame.starts_with(br#"{"type":"ack""#) {
        return match client_key(frame) {
            Some(key) => Incoming::Ack(key),
            None => Incoming::Other,
        };
    }
    if frame.starts_with(br#"{"type":"error""#) {
        let code = string_field(frame, b"\"code\":\"").unwrap_or("unknown").to_owned();
        return Incoming::Error {
            key: client_key(frame),
            code,
        };
    }
    Incoming::Other
}

/// The counter at the end of the frame's client id (`…-<key>`).
fn client_key(frame: &[u8]) -> Option<u64> {
    let id = string_field(frame, b"\"client_id\":\"")?;
    id.rsplit('-').next()?.parse().ok()
}

/// The value of the first `"name":"value"` string field (no escapes expected in it).
fn string_field<'a>(frame: &'a [u8], key: &[u8]) -> Option<&'a str> {
    let at = memchr::memmem::find(frame, key)? + key.len();
    let len = memchr::memchr(b'"', &frame[at..])?;
    std::str::from_utf8(&frame[at..at + len]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_send_frame_is_the_json_the_server_expects() {
        let mut out = String::new();
        let stamp = Stamp {
            step: 1,
            idx: 2,
            sent_ns: 3,
        };
        send_frame(&mut out, 7, "abc-4-", 9, stamp, 20);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["type"], "send");
        assert_eq!(v["room"], 7);
        assert_eq!(v["client_id"], "abc-4-9");
        assert_eq!(v["body"].as_str().unwrap().len(), 20);
    }

    #[test]
    fn change_frames_are_the_json_the_server_expects() {
        for (n, kind) in [(0, "react"), (1, "react"), (2, "edit"), (3, "react")] {
            let mut out = String::new();
            change_frame(&mut out, 7, "abc-4-", 9, 42, n);
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(
                (v["type"].as_str(), v["message"].as_i64()),
                (Some(kind), Some(42)),
                "{out}"
            );
            assert_eq!(v["client_id"], "abc-4-9");
            if kind == "react" {
                assert_eq!(v["on"], n % 3 == 0);
            }
        }
        let ack = br#"{"type":"ack","room":1,"client_id":"x-3","id":1234,"seq":9,"created_at":5}"#;
        assert_eq!(ack_id(ack), Some(1234));
        assert_eq!(ack_id(br#"{"type":"ack"}"#), None);
    }

    #[test]
    fn frames_are_classified_without_parsing() {
        let ack = br#"{"type":"ack","room":1,"client_id":"abc-4-17","id":5,"seq":6,"created_at":7}"#;
        assert_eq!(classify(ack), Incoming::Ack(17));
        let err = br#"{"type":"error","code":"rate_limited","message":"slow down","client_id":"abc-4-18"}"#;
        assert_eq!(
            classify(err),
            Incoming::Error {
                key: Some(18),
                code: "rate_limited".into()
            }
        );
        let err = br#"{"type":"error","code":"bad_frame","message":"no","client_id":null}"#;
        assert_eq!(
            classify(err),
            Incoming::Error {
                key: None,
                code: "bad_frame".into()
            }
        );
        assert_eq!(classify(br#"{"type":"online","room":1,"online":[]}"#), Incoming::Other);
        let msg = br#"{"type":"message","message":{"id":1,"room":2,"seq":3,"author":"a","body":"lg1 1 2 3 x","created_at":1,"client_id":"c"}}"#;
        assert!(matches!(classify(msg), Incoming::Message(Stamp { idx: 2, .. })));
    }

    #[test]
    fn joining_waits_for_the_catch_up() {
        assert_eq!(
            join_reply(r#"{"type":"joined","room":1,"online":["a"]}"#),
            JoinReply::Pending
        );
        assert_eq!(
            join_reply(r#"{"type":"catch_up","room":1,"messages":[],"more":false}"#),
            JoinReply::Done
        );
        assert!(matches!(
            join_reply(r#"{"type":"error","code":"not_found"}"#),
            JoinReply::Failed(_)
        ));
        assert!(join_frame(3).contains(r#""since":9223372036854775807"#));
    }
}
