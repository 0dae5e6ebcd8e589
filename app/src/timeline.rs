//! A room's chat state as plain data: what the room page shows, and how each
//! frame from the server changes it.
//!
//! Committed messages are keyed by their sequence, so order and
//! de-duplication come from the server's numbering (a message that arrives
//! both live and in a catch-up is shown once). Every event of the room's log
//! (a message, an edit, a deletion, a reaction) is applied once and in
//! sequence order: the page starts as of a sequence, events up to it are
//! already in it, and an event beyond a hole waits for the hole to fill (a
//! message beyond it is shown at once). The sender's own messages stay
//! [`Pending`] until the server acknowledges them after the commit; join and
//! leave notices sit after the message that was last when they happened.
//!
//! Nothing here touches the browser or the socket: [`Timeline::apply`] says
//! what the page must do next as a [`FollowUp`], and the page does it. That
//! keeps every transition unit-testable on the server's target.

use crate::outbox::Pending;
use crate::protocol::{
    Attachment, Change, ChatMessage, ErrorCode, LogEntry, Quote, Reaction, RoomId, Seq, ServerFrame, Update,
    apply_presence,
};
use std::collections::{BTreeMap, VecDeque};

/// One room's messages, pending sends, notices and online list.
#[derive(Clone, Debug, PartialEq)]
pub struct Timeline {
    /// Frames about other rooms are ignored.
    room: RoomId,
    /// The reader's username: acknowledged messages are theirs, and only
    /// their own committed messages settle a pending one.
    me: String,
    /// Committed messages by sequence.
    messages: BTreeMap<Seq, ChatMessage>,
    /// Every event of the room's log up to here is reflected in `messages`.
    applied: Seq,
    /// Events received beyond a hole after `applied`, applied once it fills.
    ahead: BTreeMap<Seq, LogEntry>,
    /// The last updates applied, newest last: an older page read before
    /// some of them gets them applied too (see [`Timeline::older_page_loaded`]).
    recent: VecDeque<Update>,
    /// The newest update dropped from `recent` (0: none).
    forgotten: Seq,
    /// Client ids of the reader's edits, deletions and reactions not yet
    /// acknowledged: an error for one is shown.
    changing: Vec<String>,
    /// The reader's messages not acknowledged yet, oldest first.
    pending: Vec<Pending>,
    /// Join/leave notices, in the order they came.
    notices: Vec<Notice>,
    /// Who is online, sorted (as [`apply_presence`] keeps it).
    online: Vec<String>,
    /// Whether the server has messages before the first one here.
    has_older: bool,
    /// Messages with sequences strictly between these two are not here (a
    /// room opened at an old message: the messages around it, then the
    /// newest, and this between them until it is loaded).
    gap: Option<(Seq, Seq)>,
}

/// "alice joined" / "alice left", shown in the stream.
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    /// Unique within the page: its key in the rendered list.
    pub id: u64,
    /// Shown after this message (0: before every message).
    pub after: Seq,
    pub text: String,
}

/// One entry of the rendered stream.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Message(ChatMessage),
    Notice(Notice),
    Pending(Pending),
    /// Messages not loaded here (see [`Timeline::gap`]).
    Gap,
}

impl Item {
    /// A key that stays the same while the entry is on screen as it is.
    pub fn key(&self) -> String {
        match self {
            Item::Message(m) => format!("m{}", m.seq),
            Item::Notice(n) => format!("n{}", n.id),
            // A refusal changes the entry (it says why and offers "Dismiss"),
            // and a keyed list re-renders only entries whose key changed.
            Item::Pending(p) if p.failed.is_some() => format!("f{}", p.client_id),
            Item::Pending(p) => format!("p{}", p.client_id),
            Item::Gap => "gap".into(),
        }
    }
}

/// What the page must do after a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub enum FollowUp {
    /// Ask the server for the messages after `since`.
    CatchUp { since: Seq },
    /// The server could not take this send now: offer it again shortly, if it
    /// is still pending then (see [`Timeline::resendable`]).
    ResendLater { client_id: String },
    /// Show this under the compose box.
    ShowError(String),
    /// An older page was read before events this page has applied since,
    /// and too many came to apply them to it here: fetch it again.
    ReloadOlder,
}

/// Most updates kept in [`Timeline::recent`].
const RECENT_UPDATES: usize = 1000;

impl Timeline {
    /// The state of a freshly rendered page: its first page of history,
    /// current as of sequence `as_of`.
    pub fn new(room: RoomId, me: String, messages: Vec<ChatMessage>, has_older: bool, as_of: Seq) -> Self {
        Timeline {
            room,
            me,
            messages: messages.into_iter().map(|m| (m.seq, m)).collect(),
            applied: as_of,
            ahead: BTreeMap::new(),
            recent: VecDeque::new(),
            forgotten: 0,
            changing: Vec::new(),
            pending: Vec::new(),
            notices: Vec::new(),
            online: Vec::new(),
            has_older,
            gap: None,
        }
    }

    /// A page whose messages around an old one and newest ones have a gap
    /// between them: sequences strictly between `gap.0` and `gap.1`.
    pub fn with_gap(mut self, gap: Option<(Seq, Seq)>) -> Self {
        self.gap = gap.filter(|(lo, hi)| lo + 1 < *hi);
        self
    }

    /// Where the gap's next page ends (fetch the messages before this), if there is one.
    pub fn gap_end(&self) -> Option<Seq> {
        self.gap.map(|(_, hi)| hi)
    }

    /// Adds a page of the messages before [`Timeline::gap_end`] (as
    /// [`Timeline::older_page_loaded`] adds one before the first): the gap
    /// shrinks, or closes once the page reaches what is below it.
    #[must_use]
    pub fn gap_page_loaded(&mut self, messages: Vec<ChatMessage>, has_older: bool, as_of: Seq) -> Option<FollowUp> {
        let (lo, _) = self.gap?;
        let first = messages.first().map(|m| m.seq);
        let older = self.has_older;
        if let Some(again) = self.older_page_loaded(messages, has_older, as_of) {
            return Some(again);
        }
        self.has_older = older;
        self.gap = match first {
            Some(first) if has_older && first > lo + 1 => Some((lo, first)),
            _ => None,
        };
        None
    }

    /// Applies one frame from the server; returns what the page must do next.
    pub fn apply(&mut self, frame: ServerFrame) -> Option<FollowUp> {
        let room = self.room;
        match frame {
            ServerFrame::Joined { room: r, online } | ServerFrame::Online { room: r, online } if r == room => {
                self.online = online;
                None
            }
            ServerFrame::CatchUp { room: r, events, more } if r == room => {
                for entry in events {
                    self.receive(entry);
                }
                // The server stopped at its replay limit: ask for the rest.
                (more || !self.ahead.is_empty()).then_some(FollowUp::CatchUp { since: self.applied })
            }
            ServerFrame::Message { message } if message.room == room => self.receive_live(LogEntry::Posted(message)),
            ServerFrame::Update { update } if update.room == room => self.receive_live(LogEntry::Updated(update)),
            ServerFrame::Ack {
                room: r,
                client_id,
                id,
                seq,
                created_at,
            } if r == room => {
                self.changing.retain(|c| *c != client_id);
                // Only a pending message settles: a repeated ack finds none.
                let pending = self.pending.iter().find(|p| p.client_id == client_id).cloned();
                if let Some(p) = pending
                    && seq > 0
                {
                    let message = ChatMessage {
                        id,
                        room,
                        seq,
                        author: self.me.clone(),
                        body: p.body,
                        created_at,
                        client_id,
                        reply_to: p.reply_to,
                        attachment: p.attachment.map(Box::new),
                        ..ChatMessage::default()
                    };
                    return self.receive_live(LogEntry::Posted(message));
                }
                None
            }
            ServerFrame::Presence {
                room: r,
                username,
                joined,
            } if r == room => {
                // The server sends the list once, on joining, then only who came and went.
                apply_presence(&mut self.online, &username, joined);
                let after = self.messages.keys().next_back().copied().unwrap_or(0);
                let text = if joined {
                    format!("{username} joined")
                } else {
                    format!("{username} left")
                };
                let id = self.notices.len() as u64;
                self.notices.push(Notice { id, after, text });
                None
            }
            ServerFrame::Error {
                message,
                client_id: Some(client_id),
                ..
            } if self.changing.contains(&client_id) => {
                self.changing.retain(|c| *c != client_id);
                Some(FollowUp::ShowError(message))
            }
            ServerFrame::Error {
                code,
                message,
                client_id: Some(client_id),
            } if !code.is_retryable() => {
                if let Some(p) = self.pending.iter_mut().find(|p| p.client_id == client_id) {
                    p.failed = Some(message);
                }
                None
            }
            // Retryable (e.g. the server's database is down): it stays
            // pending and is offered again shortly.
            ServerFrame::Error {
                client_id: Some(client_id),
                ..
            } => Some(FollowUp::ResendLater { client_id }),
            ServerFrame::Error {
                code: ErrorCode::Resync,
                ..
            } => None,
            ServerFrame::Error {
                message,
                client_id: None,
                ..
            } => Some(FollowUp::ShowError(message)),
            _ => None,
        }
    }

    /// A live event: applied, or, beyond a hole, held and the hole asked for.
    fn receive_live(&mut self, entry: LogEntry) -> Option<FollowUp> {
        let seq = entry.seq();
        self.receive(entry);
        self.ahead
            .contains_key(&seq)
            .then_some(FollowUp::CatchUp { since: self.applied })
    }

    /// An event of the log, live or replayed: applied now if it is the next
    /// one, held if a hole comes before it, dropped if already reflected.
    fn receive(&mut self, entry: LogEntry) {
        let seq = entry.seq();
        if seq <= self.applied {
            return;
        }
        if let LogEntry::Posted(message) = &entry {
            // Shown at once, even beyond a hole.
            self.insert(message.clone());
        }
        self.ahead.insert(seq, entry);
        while let Some(entry) = self.ahead.remove(&(self.applied + 1)) {
            self.applied += 1;
            match entry {
                LogEntry::Posted(message) => self.insert(message),
                LogEntry::Updated(update) => {
                    apply_update(self.messages.values_mut(), &update);
                    if self.recent.len() == RECENT_UPDATES
                        && let Some(dropped) = self.recent.pop_front()
                    {
                        self.forgotten = dropped.seq;
                    }
                    self.recent.push_back(update);
                }
            }
        }
    }

    /// A committed message: it replaces any copy with its sequence, and
    /// settles the reader's pending message with its client id.
    fn insert(&mut self, message: ChatMessage) {
        let me = &self.me;
        self.pending
            .retain(|p| p.client_id != message.client_id || message.author != *me);
        self.messages.insert(message.seq, message);
    }

    /// The sequence up to which this page reflects the room's log: where a
    /// catch-up resumes. A hole (an event skipped by a reordering) stops it.
    pub fn contiguous_end(&self) -> Seq {
        self.applied
    }

    /// Notes an edit, deletion or reaction the reader sent, so that an
    /// error for it is shown.
    pub fn changing(&mut self, client_id: String) {
        self.changing.push(client_id);
    }

    /// The committed message with this sequence, if it is on the page.
    pub fn message_at(&self, seq: Seq) -> Option<&ChatMessage> {
        self.messages.get(&seq)
    }

    /// The committed message with this id, if it is on the page.
    pub fn message(&self, id: i64) -> Option<&ChatMessage> {
        self.messages.values().find(|m| m.id == id)
    }

    /// The reader's newest message that can still be edited.
    /// The first message someone else posted after `seq` (where "New
    /// messages" begins for a reader who had read up to `seq`).
    pub fn first_from_others_after(&self, seq: Seq) -> Option<Seq> {
        self.messages
            .range(seq + 1..)
            .find(|(_, m)| m.author != self.me && !m.deleted)
            .map(|(seq, _)| *seq)
    }

    pub fn my_last_message(&self) -> Option<&ChatMessage> {
        self.messages.values().rev().find(|m| m.author == self.me && !m.deleted)
    }

    /// The pictures posted here, oldest first (for the image viewer).
    pub fn images(&self) -> Vec<Attachment> {
        self.messages
            .values()
            .filter_map(|m| m.attachment.as_deref())
            .filter(|a| a.is_image())
            .cloned()
            .collect()
    }

    /// A message the reader has just sent (with an uploaded file, maybe),
    /// shown until it is acknowledged.
    pub fn queue_pending(
        &mut self,
        client_id: String,
        body: String,
        reply_to: Option<Quote>,
        attachment: Option<Attachment>,
    ) {
        self.pending.push(Pending {
            attachment,
            client_id,
            body,
            failed: None,
            reply_to,
        });
    }

    /// Takes back what was pending when the page was last left (the stored
    /// outbox), except what has landed in the history since or is pending
    /// already. Returns those of them to send again (not refused for good).
    pub fn restore_outbox(&mut self, stored: Vec<Pending>) -> Vec<Pending> {
        let mut resend = Vec::new();
        for s in stored {
            let landed = self
                .messages
                .values()
                .any(|m| m.client_id == s.client_id && m.author == self.me);
            if !landed && !self.pending.iter().any(|p| p.client_id == s.client_id) {
                if s.failed.is_none() {
                    resend.push(s.clone());
                }
                self.pending.push(s);
            }
        }
        resend
    }

    /// Forgets a message the server refused (the reader dismissed it).
    pub fn dismiss(&mut self, client_id: &str) {
        self.pending.retain(|p| p.client_id != client_id);
    }

    /// The pending message with this client id, if it is still waiting to be
    /// sent (neither acknowledged nor refused for good).
    pub fn resendable(&self, client_id: &str) -> Option<Pending> {
        self.pending
            .iter()
            .find(|p| p.client_id == client_id && p.failed.is_none())
            .cloned()
    }

    /// Every pending message still to send, for a new connection.
    pub fn unsent(&self) -> Vec<Pending> {
        self.pending.iter().filter(|p| p.failed.is_none()).cloned().collect()
    }

    /// Adds a page of older history (it goes before what is here), current
    /// as of `as_of`. Updates this page applied after that are applied to
    /// it too, from [`Timeline::recent`]; if some are no longer there, the
    /// page is not taken and must be fetched again.
    #[must_use]
    pub fn older_page_loaded(&mut self, messages: Vec<ChatMessage>, has_older: bool, as_of: Seq) -> Option<FollowUp> {
        let mut page: Vec<ChatMessage> = messages
            .into_iter()
            .filter(|m| !self.messages.contains_key(&m.seq))
            .collect();
        if as_of < self.applied {
            if self.forgotten > as_of {
                return Some(FollowUp::ReloadOlder);
            }
            for update in self.recent.iter().filter(|u| u.seq > as_of) {
                apply_update(page.iter_mut(), update);
            }
        }
        self.messages.extend(page.into_iter().map(|m| (m.seq, m)));
        self.has_older = has_older;
        None
    }

    /// The sequence of the first message here: older pages end before it.
    pub fn first_seq(&self) -> Option<Seq> {
        self.messages.keys().next().copied()
    }

    pub fn has_older(&self) -> bool {
        self.has_older
    }

    /// Whether no committed message is here (pending ones aside).
    pub fn has_no_messages(&self) -> bool {
        self.messages.is_empty()
    }

    pub fn pending(&self) -> &[Pending] {
        &self.pending
    }

    pub fn online(&self) -> &[String] {
        &self.online
    }

    /// The stream to render, in order: messages by sequence with each notice
    /// after the message that was last when it came, then pending messages.
    pub fn items(&self) -> Vec<Item> {
        let mut out = Vec::new();
        let mut notices = self.notices.iter().peekable();
        let mut gap = self.gap;
        for message in self.messages.values() {
            if let Some((lo, _)) = gap
                && message.seq > lo
            {
                out.push(Item::Gap);
                gap = None;
            }
            while let Some(n) = notices.next_if(|n| n.after < message.seq) {
                out.push(Item::Notice(n.clone()));
            }
            out.push(Item::Message(message.clone()));
        }
        out.extend(notices.cloned().map(Item::Notice));
        out.extend(self.pending.iter().cloned().map(Item::Pending));
        out
    }
}

/// Applies `update` to whichever of `messages` it concerns: the message it
/// changes, and replies quoting it. A deleted message changes no more.
pub fn apply_update<'a>(messages: impl Iterator<Item = &'a mut ChatMessage>, update: &Update) {
    for m in messages {
        if m.id == update.message && !m.deleted {
            match &update.change {
                Change::Edited { body } => {
                    m.body.clone_from(body);
                    m.edited_at = Some(update.at);
                }
                Change::Deleted => {
                    m.deleted = true;
                    m.body.clear();
                    m.reactions.clear();
                    m.attachment = None;
                }
                Change::Reacted { emoji } => match m.reactions.iter_mut().find(|r| r.emoji == *emoji) {
                    Some(r) if r.users.contains(&update.by) => {}
                    Some(r) => r.users.push(update.by.clone()),
                    None => m.reactions.push(Reaction {
                        emoji: emoji.clone(),
                        users: vec![update.by.clone()],
                    }),
                },
                Change::Unreacted { emoji } => {
                    if let Some(r) = m.reactions.iter_mut().find(|r| r.emoji == *emoji) {
                        r.users.retain(|u| *u != update.by);
                    }
                    m.reactions.retain(|r| !r.users.is_empty());
                }
            }
        }
        if let Some(q) = m.reply_to.as_mut().filter(|q| q.id == update.message && !q.deleted) {
            match &update.change {
                Change::Edited { body } => q.excerpt = Quote::excerpt(body),
                Change::Deleted => {
                    q.deleted = true;
                    q.excerpt.clear();
                }
                Change::Reacted { .. } | Change::Unreacted { .. } => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOM: RoomId = RoomId(1);
    const ME: &str = "me";

    fn msg(seq: Seq) -> ChatMessage {
        ChatMessage {
            id: seq,
            room: ROOM,
            seq,
            author: "a".into(),
            body: format!("body {seq}"),
            created_at: 0,
            client_id: format!("c{seq}"),
            ..ChatMessage::default()
        }
    }

    fn timeline(seqs: impl IntoIterator<Item = Seq>) -> Timeline {
        let messages: Vec<ChatMessage> = seqs.into_iter().map(msg).collect();
        let as_of = messages.last().map_or(0, |m| m.seq);
        Timeline::new(ROOM, ME.into(), messages, false, as_of)
    }

    fn live(message: ChatMessage) -> ServerFrame {
        ServerFrame::Message { message }
    }

    fn ack(client_id: &str, seq: Seq) -> ServerFrame {
        ServerFrame::Ack {
            room: ROOM,
            client_id: client_id.into(),
            id: 100 + seq,
            seq,
            created_at: 7,
        }
    }

    fn presence(username: &str, joined: bool) -> ServerFrame {
        ServerFrame::Presence {
            room: ROOM,
            username: username.into(),
            joined,
        }
    }

    fn error(code: ErrorCode, client_id: Option<&str>) -> ServerFrame {
        ServerFrame::Error {
            code,
            message: "no".into(),
            client_id: client_id.map(Into::into),
        }
    }

    /// The rendered stream as keys: `m<seq>`, `n<id>`, `p<client id>`.
    fn keys(t: &Timeline) -> Vec<String> {
        t.items().iter().map(Item::key).collect()
    }

    fn seqs(t: &Timeline) -> Vec<Seq> {
        t.messages.keys().copied().collect()
    }

    #[test]
    fn catch_up_resumes_from_the_end_of_the_unbroken_run() {
        assert_eq!(timeline([]).contiguous_end(), 0);
        let mut t = timeline([51, 52, 53]);
        assert_eq!(t.contiguous_end(), 53);
        assert_eq!(t.apply(live(msg(55))), Some(FollowUp::CatchUp { since: 53 }));
        assert_eq!(t.contiguous_end(), 53);
        assert_eq!(t.apply(live(msg(54))), None);
        assert_eq!(t.contiguous_end(), 55);
    }

    #[test]
    fn an_ack_turns_the_pending_message_into_a_committed_one_exactly_once() {
        let mut t = timeline([1]);
        t.queue_pending("x".into(), "hello".into(), None, None);
        assert_eq!(keys(&t), ["m1", "px"]);

        assert_eq!(t.apply(ack("x", 2)), None);
        assert!(t.pending().is_empty());
        assert_eq!(keys(&t), ["m1", "m2"]);
        let Some(Item::Message(mine)) = t.items().pop() else {
            panic!("the acknowledged message is not committed");
        };
        assert_eq!((mine.author.as_str(), mine.body.as_str(), mine.id), (ME, "hello", 102));

        // The same message again, live and acknowledged twice: still once.
        let echo = ChatMessage {
            author: ME.into(),
            ..mine
        };
        assert_eq!(t.apply(live(echo)), None);
        assert_eq!(t.apply(ack("x", 2)), None);
        assert_eq!(keys(&t), ["m1", "m2"]);
    }

    fn update(seq: Seq, message: Seq, by: &str, change: Change) -> Update {
        Update {
            room: ROOM,
            seq,
            id: 1000 + seq,
            message,
            by: by.into(),
            at: 50 + seq,
            client_id: format!("u{seq}"),
            change,
        }
    }

    fn live_update(u: Update) -> ServerFrame {
        ServerFrame::Update { update: u }
    }

    fn react(emoji: &str) -> Change {
        Change::Reacted { emoji: emoji.into() }
    }

    fn unreact(emoji: &str) -> Change {
        Change::Unreacted { emoji: emoji.into() }
    }

    fn edit(body: &str) -> Change {
        Change::Edited { body: body.into() }
    }

    /// Message `seq` as the page shows it.
    fn shown(t: &Timeline, seq: Seq) -> ChatMessage {
        t.messages[&seq].clone()
    }

    fn chips(m: &ChatMessage) -> Vec<(String, Vec<String>)> {
        m.reactions.iter().map(|r| (r.emoji.clone(), r.users.clone())).collect()
    }

    #[test]
    fn edits_deletions_and_reactions_change_the_message_they_name() {
        // Message ids equal their sequences in these tests.
        let mut t = timeline([1, 2]);
        assert_eq!(t.apply(live_update(update(3, 1, "bob", edit("fixed")))), None);
        assert_eq!(shown(&t, 1).body, "fixed");
        assert_eq!(shown(&t, 1).edited_at, Some(53));
        assert_eq!(shown(&t, 2).body, "body 2", "only the named message changes");

        assert_eq!(t.apply(live_update(update(4, 2, "bob", react("👍")))), None);
        assert_eq!(t.apply(live_update(update(5, 2, "amy", react("👍")))), None);
        assert_eq!(t.apply(live_update(update(6, 2, "amy", react("🎉")))), None);
        // Twice from the same person counts once.
        assert_eq!(t.apply(live_update(update(7, 2, "bob", react("👍")))), None);
        assert_eq!(
            chips(&shown(&t, 2)),
            [
                ("👍".to_owned(), vec!["bob".to_owned(), "amy".to_owned()]),
                ("🎉".to_owned(), vec!["amy".to_owned()])
            ]
        );
        assert_eq!(t.apply(live_update(update(8, 2, "amy", unreact("🎉")))), None);
        assert_eq!(t.apply(live_update(update(9, 2, "bob", unreact("👍")))), None);
        assert_eq!(chips(&shown(&t, 2)), [("👍".to_owned(), vec!["amy".to_owned()])]);

        assert_eq!(t.apply(live_update(update(10, 2, "bob", Change::Deleted))), None);
        let gone = shown(&t, 2);
        assert!(gone.deleted && gone.body.is_empty() && gone.reactions.is_empty());
        // A deleted message changes no more (a replayed older edit, a late reaction).
        assert_eq!(t.apply(live_update(update(11, 2, "bob", edit("back")))), None);
        assert_eq!(t.apply(live_update(update(12, 2, "amy", react("👍")))), None);
        assert_eq!(shown(&t, 2), gone);
        assert_eq!(t.contiguous_end(), 12);
    }

    #[test]
    fn a_page_opened_at_an_old_message_fills_its_gap_page_by_page() {
        let page = [1, 2, 3, 50, 51].map(msg).to_vec();
        let mut t = Timeline::new(ROOM, ME.into(), page, true, 51).with_gap(Some((3, 50)));
        let order: Vec<String> = t.items().iter().map(Item::key).collect();
        assert_eq!(order, vec!["m1", "m2", "m3", "gap", "m50", "m51"]);
        assert_eq!(t.gap_end(), Some(50));
        // An edit of a message in the gap comes before its page does.
        assert_eq!(t.apply(live_update(update(52, 45, "a", edit("changed")))), None);
        let page: Vec<ChatMessage> = (40..50).map(msg).collect();
        assert_eq!(t.gap_page_loaded(page, true, 51), None);
        assert_eq!(t.gap_end(), Some(40));
        assert_eq!(shown(&t, 45).body, "changed");
        assert!(t.has_older(), "the gap's pages say nothing about the room's start");
        // The next page reaches the messages below the gap: it closes.
        let page: Vec<ChatMessage> = (2..40).map(msg).collect();
        assert_eq!(t.gap_page_loaded(page, true, 52), None);
        assert_eq!(t.gap_end(), None);
        assert!(!t.items().contains(&Item::Gap));
        assert_eq!(t.first_seq(), Some(1));
        // Adjacent pages have no gap at all.
        let t = Timeline::new(ROOM, ME.into(), vec![msg(3), msg(4)], true, 4).with_gap(Some((3, 4)));
        assert_eq!(t.gap_end(), None);
    }

    #[test]
    fn a_reply_quote_follows_the_original_edited_and_deleted() {
        let mut t = timeline([1]);
        let reply = ChatMessage {
            reply_to: Some(Quote {
                id: 1,
                seq: 1,
                author: "a".into(),
                excerpt: "body 1".into(),
                deleted: false,
            }),
            ..msg(2)
        };
        assert_eq!(t.apply(live(reply)), None);
        assert_eq!(t.apply(live_update(update(3, 1, "a", edit("new words")))), None);
        let quote = shown(&t, 2).reply_to.unwrap();
        assert_eq!(quote.excerpt, "new words");
        assert_eq!(t.apply(live_update(update(4, 1, "a", Change::Deleted))), None);
        let quote = shown(&t, 2).reply_to.unwrap();
        assert!(quote.deleted && quote.excerpt.is_empty());
    }

    #[test]
    fn an_update_beyond_a_hole_waits_for_it_and_one_already_reflected_is_skipped() {
        let mut t = timeline([1, 2]);
        // Seq 3 (an unreaction) has not come yet: the reaction at 4 waits.
        assert_eq!(
            t.apply(live_update(update(4, 1, "bob", react("👍")))),
            Some(FollowUp::CatchUp { since: 2 })
        );
        assert!(shown(&t, 1).reactions.is_empty());
        let catch_up = ServerFrame::CatchUp {
            room: ROOM,
            events: vec![
                LogEntry::Updated(update(3, 1, "bob", unreact("👍"))),
                LogEntry::Updated(update(4, 1, "bob", react("👍"))),
            ],
            more: false,
        };
        assert_eq!(t.apply(catch_up), None);
        assert_eq!(chips(&shown(&t, 1)), [("👍".to_owned(), vec!["bob".to_owned()])]);
        // Seq 3 again (a repeated catch-up): already reflected, not re-applied.
        assert_eq!(t.apply(live_update(update(3, 1, "bob", unreact("👍")))), None);
        assert_eq!(chips(&shown(&t, 1)).len(), 1);
        assert_eq!(t.contiguous_end(), 4);
    }

    #[test]
    fn an_older_page_read_before_recent_updates_gets_them_too() {
        let mut t = Timeline::new(ROOM, ME.into(), vec![msg(5)], true, 5);
        assert_eq!(t.apply(live_update(update(6, 3, "bob", edit("later")))), None);
        assert_eq!(t.apply(live_update(update(7, 5, "bob", react("👍")))), None);
        // The page with message 3 was read as of 5, before the edit at 6.
        assert_eq!(t.older_page_loaded(vec![msg(3), msg(4)], false, 5), None);
        assert_eq!(shown(&t, 3).body, "later");
        assert_eq!(shown(&t, 4).body, "body 4");
        assert_eq!(chips(&shown(&t, 5)).len(), 1, "what was here is untouched");
    }

    #[test]
    fn an_older_page_too_old_for_the_remembered_updates_is_fetched_again() {
        let mut t = Timeline::new(ROOM, ME.into(), vec![msg(1)], true, 1);
        for seq in 2..(2 + RECENT_UPDATES as Seq + 1) {
            assert_eq!(t.apply(live_update(update(seq, 1, "bob", react("👍")))), None);
        }
        assert_eq!(t.older_page_loaded(vec![msg(0)], false, 1), Some(FollowUp::ReloadOlder));
        assert!(t.has_older(), "the page was not taken");
        assert_eq!(t.older_page_loaded(vec![msg(0)], false, t.contiguous_end()), None);
    }

    #[test]
    fn an_error_for_the_readers_edit_or_reaction_is_shown() {
        let mut t = timeline([1]);
        t.changing("e1".into());
        assert_eq!(
            t.apply(error(ErrorCode::Forbidden, Some("e1"))),
            Some(FollowUp::ShowError("no".into()))
        );
        t.changing("e2".into());
        // Acknowledged (seq 0: nothing changed): then no error is expected.
        assert_eq!(t.apply(ack("e2", 0)), None);
        assert_eq!(keys(&t), ["m1"]);
        assert_eq!(t.apply(error(ErrorCode::Invalid, Some("e2"))), None);
    }

    #[test]
    fn an_ack_for_no_pending_message_adds_nothing() {
        let mut t = timeline([1]);
        assert_eq!(t.apply(ack("unknown", 2)), None);
        assert_eq!(keys(&t), ["m1"]);
    }

    #[test]
    fn another_authors_message_with_the_same_client_id_leaves_the_pending_one() {
        let mut t = timeline([1]);
        t.queue_pending("c2".into(), "mine".into(), None, None);
        assert_eq!(t.apply(live(msg(2))), None);
        assert_eq!(keys(&t), ["m1", "m2", "pc2"]);
    }

    #[test]
    fn a_live_message_after_a_hole_asks_for_a_catch_up_from_before_the_hole() {
        let mut t = timeline([1, 2]);
        assert_eq!(t.apply(live(msg(5))), Some(FollowUp::CatchUp { since: 2 }));
        assert_eq!(t.contiguous_end(), 2);
        assert_eq!(keys(&t), ["m1", "m2", "m5"]);

        // In order again: nothing to ask.
        assert_eq!(t.apply(live(msg(3))), None);
        assert_eq!(t.contiguous_end(), 3);
    }

    #[test]
    fn a_page_current_as_of_a_sequence_expects_the_next_one() {
        // Eight events, none of them a message on this page.
        let mut t = Timeline::new(ROOM, ME.into(), vec![], false, 8);
        assert_eq!(t.apply(live(msg(9))), None);
        assert_eq!(t.contiguous_end(), 9);
    }

    #[test]
    fn a_catch_up_with_more_asks_again_from_its_last_message() {
        let mut t = timeline([1]);
        let batch = ServerFrame::CatchUp {
            room: ROOM,
            events: vec![LogEntry::Posted(msg(2)), LogEntry::Posted(msg(3))],
            more: true,
        };
        assert_eq!(t.apply(batch), Some(FollowUp::CatchUp { since: 3 }));
        let last = ServerFrame::CatchUp {
            room: ROOM,
            events: vec![LogEntry::Posted(msg(4))],
            more: false,
        };
        assert_eq!(t.apply(last), None);
        assert_eq!(seqs(&t), [1, 2, 3, 4]);
    }

    #[test]
    fn a_message_received_live_and_in_a_catch_up_is_shown_once() {
        let mut t = timeline([1]);
        assert_eq!(t.apply(live(msg(3))), Some(FollowUp::CatchUp { since: 1 }));
        let batch = ServerFrame::CatchUp {
            room: ROOM,
            events: vec![LogEntry::Posted(msg(2)), LogEntry::Posted(msg(3))],
            more: false,
        };
        assert_eq!(t.apply(batch), None);
        assert_eq!(keys(&t), ["m1", "m2", "m3"]);
    }

    #[test]
    fn presence_updates_the_online_list_and_adds_a_notice_after_the_last_message() {
        let mut t = timeline([1, 2]);
        assert_eq!(t.apply(presence("bob", true)), None);
        assert_eq!(t.apply(presence("amy", true)), None);
        assert_eq!(t.online(), ["amy", "bob"]);
        assert_eq!(t.apply(live(msg(3))), None);
        assert_eq!(t.apply(presence("bob", false)), None);
        assert_eq!(t.online(), ["amy"]);

        assert_eq!(keys(&t), ["m1", "m2", "n0", "n1", "m3", "n2"]);
        let texts: Vec<String> = t
            .items()
            .into_iter()
            .filter_map(|i| match i {
                Item::Notice(n) => Some(n.text),
                _ => None,
            })
            .collect();
        assert_eq!(texts, ["bob joined", "amy joined", "bob left"]);
    }

    #[test]
    fn a_notice_in_an_empty_room_comes_before_later_messages() {
        let mut t = timeline([]);
        assert_eq!(t.apply(presence("bob", true)), None);
        assert_eq!(t.apply(live(msg(1))), None);
        t.queue_pending("x".into(), "hi".into(), None, None);
        assert_eq!(keys(&t), ["n0", "m1", "px"]);
    }

    #[test]
    fn joined_and_online_replace_the_online_list() {
        let mut t = timeline([]);
        let joined = ServerFrame::Joined {
            room: ROOM,
            online: vec!["a".into(), "b".into()],
        };
        assert_eq!(t.apply(joined), None);
        assert_eq!(t.online(), ["a", "b"]);
        let online = ServerFrame::Online {
            room: ROOM,
            online: vec!["c".into()],
        };
        assert_eq!(t.apply(online), None);
        assert_eq!(t.online(), ["c"]);
        // Joining and leaving add notices; a whole list does not.
        assert!(t.items().is_empty());
    }

    #[test]
    fn frames_about_another_room_change_nothing() {
        let mut t = timeline([1]);
        t.queue_pending("x".into(), "hi".into(), None, None);
        let before = t.clone();
        let other = RoomId(2);
        let frames = [
            ServerFrame::Joined {
                room: other,
                online: vec!["z".into()],
            },
            ServerFrame::Online {
                room: other,
                online: vec!["z".into()],
            },
            ServerFrame::CatchUp {
                room: other,
                events: vec![LogEntry::Posted(msg(2))],
                more: true,
            },
            live(ChatMessage { room: other, ..msg(9) }),
            ServerFrame::Ack {
                room: other,
                client_id: "x".into(),
                id: 3,
                seq: 3,
                created_at: 0,
            },
            ServerFrame::Presence {
                room: other,
                username: "z".into(),
                joined: true,
            },
        ];
        for frame in frames {
            assert_eq!(t.apply(frame), None);
        }
        assert_eq!(t, before);
    }

    #[test]
    fn a_refused_send_is_marked_failed_and_not_resent() {
        let mut t = timeline([]);
        t.queue_pending("x".into(), "hi".into(), None, None);
        t.queue_pending("y".into(), "there".into(), None, None);
        assert_eq!(t.apply(error(ErrorCode::Invalid, Some("x"))), None);
        assert_eq!(t.pending()[0].failed.as_deref(), Some("no"));
        assert_eq!(t.pending()[1].failed, None);
        assert_eq!(t.resendable("x"), None);
        let unsent: Vec<String> = t.unsent().into_iter().map(|p| p.client_id).collect();
        assert_eq!(unsent, ["y"]);
        // Its key changes with it, so the page draws it again, refused.
        assert_eq!(keys(&t), ["fx", "py"]);

        t.dismiss("x");
        assert_eq!(keys(&t), ["py"]);
    }

    #[test]
    fn a_resync_error_for_a_send_marks_it_failed_too() {
        // Resync is not retryable, so with a client id it is a refusal.
        let mut t = timeline([]);
        t.queue_pending("x".into(), "hi".into(), None, None);
        assert_eq!(t.apply(error(ErrorCode::Resync, Some("x"))), None);
        assert_eq!(t.pending()[0].failed.as_deref(), Some("no"));
    }

    #[test]
    fn a_retryable_error_for_a_send_keeps_it_pending_and_asks_to_resend_later() {
        let mut t = timeline([]);
        t.queue_pending("x".into(), "hi".into(), None, None);
        for code in [ErrorCode::Unavailable, ErrorCode::RateLimited] {
            assert_eq!(
                t.apply(error(code, Some("x"))),
                Some(FollowUp::ResendLater { client_id: "x".into() })
            );
        }
        assert_eq!(t.resendable("x").map(|p| p.body), Some("hi".into()));
        // Acknowledged meanwhile: nothing left to resend.
        assert_eq!(t.apply(ack("x", 1)), None);
        assert_eq!(t.resendable("x"), None);
    }

    #[test]
    fn an_error_for_no_send_is_shown_unless_it_is_a_resync() {
        let mut t = timeline([]);
        assert_eq!(
            t.apply(error(ErrorCode::Forbidden, None)),
            Some(FollowUp::ShowError("no".into()))
        );
        assert_eq!(t.apply(error(ErrorCode::Resync, None)), None);
    }

    #[test]
    fn an_older_page_goes_first_and_updates_has_older() {
        let mut t = Timeline::new(ROOM, ME.into(), vec![msg(5), msg(6)], true, 6);
        assert!(t.has_older());
        assert_eq!(t.first_seq(), Some(5));
        assert_eq!(t.older_page_loaded(vec![msg(3), msg(4)], false, 6), None);
        assert!(!t.has_older());
        assert_eq!(t.first_seq(), Some(3));
        assert_eq!(keys(&t), ["m3", "m4", "m5", "m6"]);
        assert_eq!(t.contiguous_end(), 6);
    }

    #[test]
    fn a_restored_outbox_skips_what_landed_or_is_already_pending() {
        let mut t = timeline([1]);
        // Ours, committed before the page was left.
        assert_eq!(
            t.apply(live(ChatMessage {
                author: ME.into(),
                client_id: "landed".into(),
                ..msg(2)
            })),
            None
        );
        t.queue_pending("here".into(), "already".into(), None, None);
        let stored = |id: &str, failed: Option<&str>| Pending {
            client_id: id.into(),
            body: id.into(),
            failed: failed.map(Into::into),
            reply_to: None,
            attachment: None,
        };
        let resend = t.restore_outbox(vec![
            stored("landed", None),
            stored("here", None),
            stored("refused", Some("too long")),
            stored("new", None),
        ]);
        let resend: Vec<String> = resend.into_iter().map(|p| p.client_id).collect();
        assert_eq!(resend, ["new"]);
        assert_eq!(keys(&t), ["m1", "m2", "phere", "frefused", "pnew"]);
    }

    #[test]
    fn another_authors_message_with_a_stored_client_id_does_not_count_as_landed() {
        let mut t = timeline([1]);
        let restored = t.restore_outbox(vec![Pending {
            client_id: "c1".into(),
            body: "mine".into(),
            failed: None,
            reply_to: None,
            attachment: None,
        }]);
        assert_eq!(restored.len(), 1);
        assert_eq!(keys(&t), ["m1", "pc1"]);
    }

    fn file(id: &str, mime: &str) -> Option<Box<Attachment>> {
        Some(Box::new(Attachment {
            id: id.into(),
            name: format!("{id}.bin"),
            mime: mime.into(),
            size: 10,
            width: None,
            height: None,
            animated: false,
            has_preview: false,
        }))
    }

    #[test]
    fn the_viewer_goes_through_the_pictures_and_a_deleted_message_takes_its_file() {
        let mut t = timeline([1]);
        for (seq, attachment) in [
            (2, file("p1", "image/png")),
            (3, file("doc", "application/pdf")),
            (4, file("p2", "image/gif")),
        ] {
            assert_eq!(t.apply(live(ChatMessage { attachment, ..msg(seq) })), None);
        }
        let ids = |t: &Timeline| t.images().into_iter().map(|a| a.id).collect::<Vec<_>>();
        assert_eq!(ids(&t), ["p1", "p2"], "pictures only, oldest first");
        assert_eq!(t.apply(live_update(update(5, 2, "a", Change::Deleted))), None);
        assert_eq!(ids(&t), ["p2"]);
        assert_eq!(t.message(2).and_then(|m| m.attachment.clone()), None);
    }

    #[test]
    fn a_pending_file_is_sent_again_with_its_upload() {
        let mut t = timeline([1]);
        t.queue_pending("f1".into(), String::new(), None, file("up", "image/png").map(|b| *b));
        let frame = t.pending()[0].clone().send_frame(ROOM);
        // Acknowledged before its own message comes back: the file stays.
        assert_eq!(t.apply(ack("f1", 2)), None);
        assert_eq!(
            t.message_at(2)
                .and_then(|m| m.attachment.as_ref().map(|a| a.id.clone())),
            Some("up".into())
        );
        assert!(
            matches!(frame, crate::protocol::ClientFrame::Send { attachment: Some(ref id), ref body, .. } if id == "up" && body.is_empty())
        );
    }
}
