//! The browser's copy of messages not yet acknowledged, per room and user,
//! in `localStorage`: a reload (or a closed tab) while offline keeps them,
//! and the room page sends them again, with the same client ids, once it is
//! back online — the server's idempotency turns a resend of something that
//! did land into its original acknowledgement, never a second message.
//!
//! Logging out forgets every stored message: they are that person's words,
//! and the next person on the machine should not find (or send) them.

use crate::protocol::{Attachment, ClientFrame, Quote, RoomId};
use serde::{Deserialize, Serialize};

/// A message of ours the server has not acknowledged yet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub client_id: String,
    pub body: String,
    /// Why the server refused it for good; `None` while it is (re)sending.
    pub failed: Option<String>,
    /// The message it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<Quote>,
    /// The uploaded file it posts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment: Option<Attachment>,
}

impl Pending {
    /// The frame that sends it (again: the same client id, so once only).
    pub fn send_frame(self, room: RoomId) -> ClientFrame {
        ClientFrame::Send {
            room,
            client_id: self.client_id,
            body: self.body,
            reply_to: self.reply_to.map(|q| q.id),
            attachment: self.attachment.map(|a| a.id),
        }
    }
}

/// Every key this module writes starts with this.
const PREFIX: &str = "natter.outbox.";

fn key(room: RoomId, user: &str) -> String {
    format!("{PREFIX}{room}.{user}")
}

#[cfg(feature = "hydrate")]
fn storage() -> Option<web_sys::Storage> {
    // Storage can be unavailable (private modes, disabled): then nothing is kept.
    web_sys::window()?.local_storage().ok()?
}

/// What was pending in `room` for `user` when the page was last left.
pub fn load(room: RoomId, user: &str) -> Vec<Pending> {
    #[cfg(feature = "hydrate")]
    {
        let stored = storage().and_then(|s| s.get_item(&key(room, user)).ok().flatten());
        stored
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = key(room, user);
        Vec::new()
    }
}

/// Keeps `pending` as `room`'s outbox for `user` (an empty one is removed).
pub fn save(room: RoomId, user: &str, pending: &[Pending]) {
    #[cfg(feature = "hydrate")]
    if let Some(storage) = storage() {
        let key = key(room, user);
        let _ = if pending.is_empty() {
            storage.remove_item(&key)
        } else {
            match serde_json::to_string(pending) {
                Ok(json) => storage.set_item(&key, &json),
                Err(_) => Ok(()),
            }
        };
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (room, user, pending);
}

/// Forgets every stored outbox (at logout).
pub fn forget_all() {
    #[cfg(feature = "hydrate")]
    if let Some(storage) = storage() {
        let keys: Vec<String> = (0..storage.length().unwrap_or(0))
            .filter_map(|i| storage.key(i).ok().flatten())
            .filter(|k| k.starts_with(PREFIX))
            .collect();
        for key in keys {
            let _ = storage.remove_item(&key);
        }
    }
}
