//! "NAME is typing…": who is typing in a room, as a receiver sees it, and
//! when a typist's page tells the room. Ephemeral: never stored, never
//! replayed, never a room event. Zulip's timings: a typist's page says so
//! every [`NOTICE_EVERY_MS`] while typing and that it stopped after
//! [`IDLE_AFTER_MS`] without a key; a receiver forgets a typist whose
//! notices stop for [`EXPIRE_AFTER_MS`], and at once when their message
//! arrives.

use crate::protocol::Millis;

/// How often a typist's page repeats "typing".
pub const NOTICE_EVERY_MS: Millis = 10_000;
/// Without a keystroke for this long, the typist's page says it stopped.
pub const IDLE_AFTER_MS: Millis = 5_000;
/// A receiver forgets a typist not heard from for this long.
pub const EXPIRE_AFTER_MS: Millis = 15_000;
/// More typists than this are "Several people".
const NAMED_AT_MOST: usize = 2;

/// Who is typing in the room, as this page was told.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Typists {
    /// Name and when the notice expires, in the order they started.
    typing: Vec<(String, Millis)>,
}

impl Typists {
    /// `name` is typing (`on`) or stopped, as of `now`. Returns whether the
    /// list changed.
    pub fn notice(&mut self, name: &str, on: bool, now: Millis) -> bool {
        let at = self.typing.iter().position(|(n, _)| n == name);
        match (at, on) {
            (Some(i), true) => {
                self.typing[i].1 = now + EXPIRE_AFTER_MS;
                false
            }
            (None, true) => {
                self.typing.push((name.to_owned(), now + EXPIRE_AFTER_MS));
                true
            }
            (Some(i), false) => {
                self.typing.remove(i);
                true
            }
            (None, false) => false,
        }
    }

    /// `name`'s message arrived: they are done typing it.
    pub fn posted(&mut self, name: &str) -> bool {
        self.notice(name, false, 0)
    }

    /// Forgets notices expired by `now`; whether any was.
    pub fn expire(&mut self, now: Millis) -> bool {
        let before = self.typing.len();
        self.typing.retain(|(_, until)| *until > now);
        self.typing.len() < before
    }

    pub fn is_empty(&self) -> bool {
        self.typing.is_empty()
    }

    /// What the room shows under the conversation; empty when nobody types.
    pub fn label(&self) -> String {
        match self.typing.as_slice() {
            [] => String::new(),
            [(one, _)] => format!("{one} is typing…"),
            [(one, _), (two, _)] => format!("{one} and {two} are typing…"),
            more => {
                debug_assert!(more.len() > NAMED_AT_MOST);
                "Several people are typing…".to_owned()
            }
        }
    }
}

/// When the typist's page sends "typing" and "stopped".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Notifier {
    /// When "typing" was last sent; `None` while the room thinks we are not.
    announced: Option<Millis>,
    last_key: Millis,
}

/// A notice for the room, if one is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    Typing,
    Stopped,
}

impl Notifier {
    /// The draft changed at `now`; `empty` if it now holds nothing.
    pub fn edited(&mut self, empty: bool, now: Millis) -> Option<Notice> {
        if empty {
            return self.announced.take().map(|_| Notice::Stopped);
        }
        self.last_key = now;
        match self.announced {
            Some(at) if now - at < NOTICE_EVERY_MS => None,
            _ => {
                self.announced = Some(now);
                Some(Notice::Typing)
            }
        }
    }

    /// Checked every second or so: "stopped" once the keys have been idle
    /// for [`IDLE_AFTER_MS`].
    pub fn tick(&mut self, now: Millis) -> Option<Notice> {
        match self.announced {
            Some(_) if now - self.last_key >= IDLE_AFTER_MS => {
                self.announced = None;
                Some(Notice::Stopped)
            }
            _ => None,
        }
    }

    /// The message was sent: the room learns that from the message itself.
    pub fn sent(&mut self) {
        self.announced = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_label_names_one_or_two_and_counts_more_as_several() {
        let mut t = Typists::default();
        assert_eq!(t.label(), "");
        assert!(t.notice("ann", true, 0));
        assert_eq!(t.label(), "ann is typing…");
        assert!(t.notice("bob", true, 0));
        assert_eq!(t.label(), "ann and bob are typing…");
        assert!(t.notice("cy", true, 0));
        assert_eq!(t.label(), "Several people are typing…");
        assert!(!t.notice("ann", true, 1), "a repeat changes nothing shown");
        assert!(t.notice("bob", false, 1));
        assert!(t.posted("cy"));
        assert!(!t.posted("cy"));
        assert_eq!(t.label(), "ann is typing…");
    }

    #[test]
    fn a_typist_not_heard_from_expires_and_a_repeat_keeps_them() {
        let mut t = Typists::default();
        t.notice("ann", true, 0);
        t.notice("bob", true, 5_000);
        assert!(!t.expire(EXPIRE_AFTER_MS - 1));
        t.notice("bob", true, 12_000);
        assert!(t.expire(EXPIRE_AFTER_MS));
        assert_eq!(t.label(), "bob is typing…");
        assert!(t.expire(12_000 + EXPIRE_AFTER_MS));
        assert!(t.is_empty());
    }

    #[test]
    fn the_typist_announces_once_per_interval_and_stops_when_idle_or_empty() {
        let mut n = Notifier::default();
        assert_eq!(n.edited(false, 1_000), Some(Notice::Typing));
        assert_eq!(n.edited(false, 2_000), None);
        assert_eq!(n.tick(6_999), None, "keys 5 s ago at most");
        assert_eq!(n.edited(false, 1_000 + NOTICE_EVERY_MS), Some(Notice::Typing));
        assert_eq!(n.tick(1_000 + NOTICE_EVERY_MS + IDLE_AFTER_MS), Some(Notice::Stopped));
        assert_eq!(n.tick(60_000), None, "stopped once");

        assert_eq!(n.edited(false, 70_000), Some(Notice::Typing));
        assert_eq!(n.edited(true, 70_500), Some(Notice::Stopped), "the draft emptied");
        assert_eq!(n.edited(true, 71_000), None);

        assert_eq!(n.edited(false, 80_000), Some(Notice::Typing));
        n.sent();
        assert_eq!(n.tick(90_000), None, "the message said it");
        assert_eq!(n.edited(false, 90_001), Some(Notice::Typing), "a new draft");
    }
}
