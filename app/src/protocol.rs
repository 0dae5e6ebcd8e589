//! The wire types shared by the server and the WASM client: ids, the DTOs that
//! server functions return, and the WebSocket frames in both directions.
//!
//! Serde only, so the same definitions compile for the browser and the server;
//! a round-trip test at the bottom keeps the JSON shape honest.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A user's database id. Typed so that user and room ids cannot be swapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub i64);

/// A room's database id.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RoomId(pub i64);

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// WebSocket close code the server uses when the connection's session has
/// ended (logout, expiry): the client goes to the login page instead of
/// reconnecting.
pub const CLOSE_SESSION_ENDED: u16 = 4401;

/// Position of a message in its room: assigned by the server at commit, gap-free from 1.
pub type Seq = i64;

/// Milliseconds since the Unix epoch, server clock.
pub type Millis = i64;

/// The logged-in user, as the UI sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub id: UserId,
    pub username: String,
    /// Read from the database with the session, on every request: a role
    /// taken away counts at the next request, on every node.
    #[serde(default)]
    pub role: SiteRole,
}

/// What a person may do across the whole site.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SiteRole {
    #[default]
    Member,
    /// Moderates every public room; cannot change settings or roles.
    Moderator,
    /// Runs the backstage.
    Admin,
}

impl SiteRole {
    pub const ALL: [SiteRole; 3] = [SiteRole::Member, SiteRole::Moderator, SiteRole::Admin];

    /// As stored (`users.role`) and as typed on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            SiteRole::Member => "member",
            SiteRole::Moderator => "moderator",
            SiteRole::Admin => "admin",
        }
    }

    /// From [`SiteRole::as_str`]'s form (or "administrator").
    pub fn parse(text: &str) -> Option<SiteRole> {
        match text.trim().to_ascii_lowercase().as_str() {
            "member" => Some(SiteRole::Member),
            "moderator" => Some(SiteRole::Moderator),
            "admin" | "administrator" => Some(SiteRole::Admin),
            _ => None,
        }
    }

    /// For people to read.
    pub fn label(self) -> &'static str {
        match self {
            SiteRole::Member => "Member",
            SiteRole::Moderator => "Moderator",
            SiteRole::Admin => "Administrator",
        }
    }
}

/// One person as the backstage lists them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub id: UserId,
    pub username: String,
    pub role: SiteRole,
    pub created_at: Millis,
    /// Their most recent use of a session still stored; `None` when none is.
    pub last_seen_at: Option<Millis>,
    pub disabled: bool,
}

/// What kind of room a backstage row is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomKind {
    Public,
    Private,
    Direct,
}

impl RoomKind {
    pub fn label(self) -> &'static str {
        match self {
            RoomKind::Public => "Public",
            RoomKind::Private => "Private",
            RoomKind::Direct => "Direct conversation",
        }
    }
}

/// One room as the backstage lists it: its metadata and how busy it is,
/// never its messages (private rooms' and direct conversations' included).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminRoom {
    pub id: RoomId,
    pub name: String,
    pub topic: String,
    pub kind: RoomKind,
    /// Its owner's name (a direct conversation's starter).
    pub owner: String,
    /// People with a membership: a private room's members, or those who
    /// have opened a public one.
    pub members: u64,
    /// Messages posted and not deleted.
    pub messages: u64,
    pub created_at: Millis,
    /// Its newest message's time, if any.
    pub last_activity: Option<Millis>,
    pub archived: bool,
}

/// A message as a report shows it: who wrote what, when (its current text;
/// empty once deleted).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportedMessage {
    pub id: i64,
    pub author: String,
    pub body: String,
    pub sent_at: Millis,
    pub deleted: bool,
}

/// How an administrator closed a report. Stored as [`ReportOutcome::as_str`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportOutcome {
    /// The message was taken down.
    Deleted,
    /// Dealt with otherwise (a word with its author, say).
    Resolved,
    /// Nothing wrong with it.
    Dismissed,
}

impl ReportOutcome {
    pub const ALL: [ReportOutcome; 3] = [
        ReportOutcome::Deleted,
        ReportOutcome::Resolved,
        ReportOutcome::Dismissed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReportOutcome::Deleted => "deleted",
            ReportOutcome::Resolved => "resolved",
            ReportOutcome::Dismissed => "dismissed",
        }
    }

    pub fn parse(text: &str) -> Option<ReportOutcome> {
        ReportOutcome::ALL.into_iter().find(|o| o.as_str() == text)
    }

    pub fn label(self) -> &'static str {
        match self {
            ReportOutcome::Deleted => "Message deleted",
            ReportOutcome::Resolved => "Resolved",
            ReportOutcome::Dismissed => "Dismissed",
        }
    }
}

/// A reported message in its context, for the backstage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub id: i64,
    pub reporter: String,
    pub reason: String,
    pub created_at: Millis,
    pub room: RoomId,
    pub room_name: String,
    pub message: ReportedMessage,
    /// Up to two messages before it and two after, oldest first.
    pub before: Vec<ReportedMessage>,
    pub after: Vec<ReportedMessage>,
    /// Set once closed: how, by whom, when.
    pub outcome: Option<ReportOutcome>,
    pub closed_by: Option<String>,
    pub closed_at: Option<Millis>,
}

/// Someone whose standing in a room is not a plain member's, as its
/// moderators see them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomStanding {
    pub username: String,
    pub moderator: bool,
    pub banned: bool,
    /// Muted until then.
    pub muted_until: Option<Millis>,
}

/// Who may create an account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignupPolicy {
    /// Anyone.
    #[default]
    Open,
    /// Only with an invitation link an administrator made.
    Invitation,
    /// Nobody (administrators still appoint from the command line).
    Closed,
}

impl SignupPolicy {
    pub const ALL: [SignupPolicy; 3] = [SignupPolicy::Open, SignupPolicy::Invitation, SignupPolicy::Closed];

    /// As stored and as forms send it.
    pub fn as_str(self) -> &'static str {
        match self {
            SignupPolicy::Open => "open",
            SignupPolicy::Invitation => "invitation",
            SignupPolicy::Closed => "closed",
        }
    }

    pub fn parse(text: &str) -> Option<SignupPolicy> {
        SignupPolicy::ALL.into_iter().find(|p| p.as_str() == text.trim())
    }

    /// For people to read (the names of the settings' radio buttons).
    pub fn label(self) -> &'static str {
        match self {
            SignupPolicy::Open => "Open",
            SignupPolicy::Invitation => "By invitation",
            SignupPolicy::Closed => "Closed",
        }
    }
}

/// What administrators set at run time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteSettings {
    pub site_name: String,
    pub signups: SignupPolicy,
}

impl Default for SiteSettings {
    fn default() -> Self {
        Self {
            site_name: "Natter".into(),
            signups: SignupPolicy::Open,
        }
    }
}

/// An invitation to sign up, as the backstage lists it (never its link,
/// which is shown once, when made).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    pub id: i64,
    pub created_by: String,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub uses_left: i64,
    pub used: i64,
    pub revoked: bool,
    /// Past its expiry when listed.
    pub expired: bool,
}

/// The sign-up page's settings, for everyone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignupInfo {
    pub site_name: String,
    pub signups: SignupPolicy,
}

/// A node serving now, as its last heartbeat told.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub id: String,
    pub started_at: Millis,
    pub seen_at: Millis,
    pub sockets: i64,
    pub people: i64,
}

/// Messages posted on one day (UTC), for the overview's chart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayCount {
    /// The day's first millisecond.
    pub day: Millis,
    pub messages: i64,
}

/// The backstage's overview: the site at a glance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overview {
    /// People with a socket open now, on any node.
    pub online: u64,
    pub accounts: i64,
    /// Rooms, not counting direct conversations.
    pub rooms: i64,
    pub direct_rooms: i64,
    pub messages_today: i64,
    pub messages_week: i64,
    /// The last 14 days, oldest first, today last.
    pub days: Vec<DayCount>,
    /// "ok" or "unreachable".
    pub database: String,
    /// "ok", "unreachable" or "not used".
    pub redis: String,
    pub nodes: Vec<NodeInfo>,
}

/// What an audit log entry records. Stored as [`AuditAction::as_str`]:
/// never rename one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    RoleChanged,
    AccountDisabled,
    AccountEnabled,
    SessionsEnded,
    SettingsChanged,
    InvitationCreated,
    InvitationRevoked,
    MessagesRemoved,
    RoomChanged,
    RoomArchived,
    RoomRestored,
    RoomDeleted,
    ReportClosed,
    ModeratorAppointed,
    ModeratorRemoved,
    MemberBanned,
    MemberUnbanned,
    MemberMuted,
    MemberUnmuted,
    MessageRemoved,
    MemberAdded,
    MemberRemoved,
}

impl AuditAction {
    pub const ALL: [AuditAction; 22] = [
        AuditAction::RoleChanged,
        AuditAction::AccountDisabled,
        AuditAction::AccountEnabled,
        AuditAction::SessionsEnded,
        AuditAction::SettingsChanged,
        AuditAction::InvitationCreated,
        AuditAction::InvitationRevoked,
        AuditAction::MessagesRemoved,
        AuditAction::RoomChanged,
        AuditAction::RoomArchived,
        AuditAction::RoomRestored,
        AuditAction::RoomDeleted,
        AuditAction::ReportClosed,
        AuditAction::ModeratorAppointed,
        AuditAction::ModeratorRemoved,
        AuditAction::MemberBanned,
        AuditAction::MemberUnbanned,
        AuditAction::MemberMuted,
        AuditAction::MemberUnmuted,
        AuditAction::MessageRemoved,
        AuditAction::MemberAdded,
        AuditAction::MemberRemoved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::RoleChanged => "role_changed",
            AuditAction::AccountDisabled => "account_disabled",
            AuditAction::AccountEnabled => "account_enabled",
            AuditAction::SessionsEnded => "sessions_ended",
            AuditAction::SettingsChanged => "settings_changed",
            AuditAction::InvitationCreated => "invitation_created",
            AuditAction::InvitationRevoked => "invitation_revoked",
            AuditAction::MessagesRemoved => "messages_removed",
            AuditAction::RoomChanged => "room_changed",
            AuditAction::RoomArchived => "room_archived",
            AuditAction::RoomRestored => "room_restored",
            AuditAction::RoomDeleted => "room_deleted",
            AuditAction::ReportClosed => "report_closed",
            AuditAction::ModeratorAppointed => "moderator_appointed",
            AuditAction::ModeratorRemoved => "moderator_removed",
            AuditAction::MemberBanned => "member_banned",
            AuditAction::MemberUnbanned => "member_unbanned",
            AuditAction::MemberMuted => "member_muted",
            AuditAction::MemberUnmuted => "member_unmuted",
            AuditAction::MessageRemoved => "message_removed",
            AuditAction::MemberAdded => "member_added",
            AuditAction::MemberRemoved => "member_removed",
        }
    }

    pub fn parse(text: &str) -> Option<AuditAction> {
        AuditAction::ALL.into_iter().find(|a| a.as_str() == text)
    }

    /// For people to read.
    pub fn label(self) -> &'static str {
        match self {
            AuditAction::RoleChanged => "Role changed",
            AuditAction::AccountDisabled => "Account disabled",
            AuditAction::AccountEnabled => "Account enabled",
            AuditAction::SessionsEnded => "Sessions ended",
            AuditAction::SettingsChanged => "Settings changed",
            AuditAction::InvitationCreated => "Invitation created",
            AuditAction::InvitationRevoked => "Invitation withdrawn",
            AuditAction::MessagesRemoved => "Messages removed",
            AuditAction::RoomChanged => "Room changed",
            AuditAction::RoomArchived => "Room archived",
            AuditAction::RoomRestored => "Room restored",
            AuditAction::RoomDeleted => "Room deleted",
            AuditAction::ReportClosed => "Report closed",
            AuditAction::ModeratorAppointed => "Room moderator appointed",
            AuditAction::ModeratorRemoved => "Room moderator removed",
            AuditAction::MemberBanned => "Banned from a room",
            AuditAction::MemberUnbanned => "Ban lifted",
            AuditAction::MemberMuted => "Muted in a room",
            AuditAction::MemberUnmuted => "Mute lifted",
            AuditAction::MessageRemoved => "Message removed",
            AuditAction::MemberAdded => "Added to a private room",
            AuditAction::MemberRemoved => "Removed from a private room",
        }
    }
}

/// One entry of the audit log: who did what to whom, when, from where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: Millis,
    /// Their name when they acted; "command line" for the server binary.
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub address: String,
}

/// A page of the audit log, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next (older) page; `None` at the start.
    pub older: Option<i64>,
}

/// One message found by a search, as of now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchHit {
    pub id: i64,
    pub room: RoomId,
    pub room_name: String,
    pub seq: Seq,
    pub author: String,
    pub body: String,
    pub created_at: Millis,
    /// Where the query's words are in `body`: byte ranges, sorted, apart.
    pub marks: Vec<(u32, u32)>,
}

/// A page of search results, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchPage {
    pub hits: Vec<SearchHit>,
    /// Where older results may be: ask again with this as `before`. A page
    /// may end early (the server reads a bounded number of candidates per
    /// ask), even with no hits, and still go on.
    pub next: Option<i64>,
}

/// A room in someone's sidebar (a room they opened, or a private room or
/// direct conversation they are in) and what they have not read in it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SidebarRoom {
    pub id: RoomId,
    pub name: String,
    pub private: bool,
    pub direct: bool,
    /// Live messages after the read marker (their own never are: posting
    /// reads the room).
    pub unread: u32,
    /// Messages after the read marker that mention them.
    pub mentions: u32,
    /// Where they have read to.
    pub read_seq: Seq,
    /// The room's newest event (as the list was read; the page moves it on
    /// as frames come).
    pub last_seq: Seq,
    /// Notifications muted ("Mute room").
    pub quiet: bool,
}

impl SidebarRoom {
    /// What the badge says: `None` when all is read.
    pub fn unread_label(&self) -> Option<String> {
        match self.unread {
            0 => None,
            100.. => Some("99+".into()),
            n => Some(n.to_string()),
        }
    }

    /// The count the tab title adds up (99 for "99+").
    pub fn unread_count(&self) -> u32 {
        self.unread.min(99)
    }
}

/// One row of the home page's room list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSummary {
    pub id: RoomId,
    pub name: String,
    pub topic: String,
    /// Distinct users with at least one live connection in the room.
    pub online: u32,
    pub last_message_at: Option<Millis>,
    /// Only its members can see it.
    pub private: bool,
    /// A direct conversation between two people.
    pub direct: bool,
}

/// A committed chat message, in its current state (as of the page or
/// frame that carries it; later [`Update`]s change it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub id: i64,
    pub room: RoomId,
    pub seq: Seq,
    pub author: String,
    /// Empty once deleted.
    pub body: String,
    pub created_at: Millis,
    /// The sender's idempotency key; lets the sender match the message to its pending copy.
    pub client_id: String,
    /// The message this one answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<Quote>,
    /// When it was last edited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<Millis>,
    /// Deleted: shown as a tombstone; its text is gone from the server.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// Reactions, each emoji once, in the order they first came.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reaction>,
    /// A file posted with it (gone once the message is deleted). Boxed:
    /// most messages have none, and every event holds a message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment: Option<Box<Attachment>>,
}

/// How a reply shows the message it answers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    /// The original's id.
    pub id: i64,
    /// The original's sequence: where to scroll to (or load history back to).
    pub seq: Seq,
    pub author: String,
    /// The start of the original's text (empty once it is deleted).
    pub excerpt: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

/// Most characters of the original a quote carries.
pub const QUOTE_CHARS: usize = 120;

impl Quote {
    /// The excerpt of `body` a quote shows: its first [`QUOTE_CHARS`]
    /// characters, on one line.
    pub fn excerpt(body: &str) -> String {
        let mut out: String = body
            .chars()
            .take(QUOTE_CHARS)
            .map(|c| if c == '\n' { ' ' } else { c })
            .collect();
        if body.chars().nth(QUOTE_CHARS).is_some() {
            out.push('…');
        }
        out
    }
}

/// A file attached to a message (or uploaded and not yet attached). Its
/// bytes are at [`Attachment::url`], a smaller or still picture of an image
/// at [`Attachment::preview_url`]; both answer only to people who may see
/// the room it was posted in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// Random, and no key: knowing it grants nothing.
    pub id: String,
    /// The name it was uploaded under (shown, and offered when saved).
    pub name: String,
    /// Sniffed from its bytes; one of the four inline image types, or
    /// anything else (then always downloaded, never shown).
    pub mime: String,
    pub size: u64,
    /// An image's size, upright, so the page reserves its room before it loads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub animated: bool,
    /// A preview exists (else an image is its own preview).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub has_preview: bool,
}

/// The image types shown inline; every other file is a download.
pub const INLINE_IMAGE_TYPES: [&str; 4] = ["image/jpeg", "image/png", "image/gif", "image/webp"];

impl Attachment {
    pub fn is_image(&self) -> bool {
        INLINE_IMAGE_TYPES.contains(&self.mime.as_str())
    }

    /// Where its bytes are served (the name is for the browser's save dialog only).
    pub fn url(&self) -> String {
        format!("/files/{}/{}", self.id, crate::validate::path_segment(&self.name))
    }

    /// Where the picture shown in the conversation is served.
    pub fn preview_url(&self) -> String {
        if self.has_preview {
            format!("/previews/{}", self.id)
        } else {
            self.url()
        }
    }
}

/// One emoji on a message and who reacted with it, in the order they did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    pub emoji: String,
    pub users: Vec<String>,
}

/// Most distinct emoji on one message.
pub const REACTIONS_PER_MESSAGE: usize = 20;

/// A change to a message already posted, logged under the room's next sequence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Update {
    pub room: RoomId,
    pub seq: Seq,
    /// The event's own id.
    pub id: i64,
    /// The message it changes.
    pub message: i64,
    /// Who made the change.
    pub by: String,
    pub at: Millis,
    /// The idempotency key of the frame that made it.
    pub client_id: String,
    pub change: Change,
}

/// What an [`Update`] did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// The message's text is now `body`.
    Edited { body: String },
    /// The message is gone: a tombstone from now on, without reactions.
    Deleted,
    /// `by` added `emoji`.
    Reacted { emoji: String },
    /// `by` took `emoji` back.
    Unreacted { emoji: String },
}

/// One event of a room's log, as catch-up replays it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogEntry {
    Posted(ChatMessage),
    Updated(Update),
}

impl LogEntry {
    pub fn seq(&self) -> Seq {
        match self {
            LogEntry::Posted(m) => m.seq,
            LogEntry::Updated(u) => u.seq,
        }
    }
}

/// What the room page needs for its first (server-rendered) paint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomPage {
    pub id: RoomId,
    pub name: String,
    pub topic: String,
    /// The newest messages, oldest first.
    pub messages: Vec<ChatMessage>,
    /// Whether messages older than the first one exist.
    pub has_older: bool,
    /// The room's last sequence when `messages` were read: they include
    /// every change up to it, and the client catches up from it.
    pub as_of: Seq,
    /// Where the viewer had read to when the page was made: a "New
    /// messages" divider goes above the first message after it.
    pub read_seq: Seq,
    pub me: Me,
    pub private: bool,
    /// A direct conversation: its two members are fixed.
    pub direct: bool,
    /// The viewer created the room (and manages a private room's members).
    pub owner: bool,
    /// The viewer may delete others' messages here.
    pub moderator: bool,
    /// Archived: it is read, nothing is posted or changed in it.
    pub archived: bool,
    /// A private room's members; empty for a public room.
    pub members: Vec<String>,
    /// The largest file the server takes, in bytes.
    pub upload_bytes: u64,
    /// Opened at this message (a search result): the page shows it, with the
    /// messages around it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub focus: Option<i64>,
    /// Messages with sequences strictly between these are not in `messages`
    /// (those around `focus`, then the newest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gap: Option<(Seq, Seq)>,
}

/// A page of older history, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryPage {
    pub messages: Vec<ChatMessage>,
    pub has_older: bool,
    /// As [`RoomPage::as_of`].
    pub as_of: Seq,
}

/// Frames the browser sends over the WebSocket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Start receiving a room's live events, first replaying every message after `since`.
    Join { room: RoomId, since: Seq },
    /// Stop receiving a room.
    Leave { room: RoomId },
    /// Post a message. `client_id` is the sender's idempotency key: a retry with the same
    /// key returns the original acknowledgement instead of making a second message.
    Send {
        room: RoomId,
        client_id: String,
        body: String,
        /// The id of the message this one answers.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<i64>,
        /// An upload of the sender's (its [`Attachment::id`]) to post with
        /// it, once; `body` may then be empty.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attachment: Option<String>,
    },
    /// Replace the text of one's own message. `client_id` as for `send`,
    /// here and in `delete` and `react`: a retry is applied once.
    Edit {
        room: RoomId,
        client_id: String,
        message: i64,
        body: String,
    },
    /// Delete a message: one's own, or any in a room one owns.
    Delete {
        room: RoomId,
        client_id: String,
        message: i64,
    },
    /// Add (`on`) or take back one's reaction `emoji` to a message.
    React {
        room: RoomId,
        client_id: String,
        message: i64,
        emoji: String,
        on: bool,
    },
    /// Ask for messages after `since` again (the client saw a gap or a `more` catch-up).
    CatchUp { room: RoomId, since: Seq },
    /// The sender is typing in `room` (`on`), or stopped: shown to the room's
    /// other members for a while, never stored (see [`crate::typing`]).
    Typing { room: RoomId, on: bool },
    /// Follow the rooms of one's sidebar: their new messages and changes,
    /// and one's own read markers in them, arrive as in a joined room, with
    /// no presence and no catch-up.
    Watch,
    /// One has read `room` up to `seq`: moves one's read marker there (it
    /// only moves forward) on every device.
    Read { room: RoomId, seq: Seq },
}

/// Frames the server sends over the WebSocket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// The connection is in the room; who is online now.
    Joined { room: RoomId, online: Vec<String> },
    /// The room's events after the requested sequence, in order. `more` means
    /// the server stopped at its replay limit and the client must ask again
    /// from the last one. A replayed message comes in its current state
    /// (deleted ones as tombstones); the updates after it bring it there.
    CatchUp {
        room: RoomId,
        events: Vec<LogEntry>,
        more: bool,
    },
    /// A new message in a room the connection has joined.
    Message { message: ChatMessage },
    /// A change to a message in a room the connection has joined.
    Update { update: Update },
    /// The sender's message (or edit, deletion, reaction) is committed: sent
    /// only after the database commit. `seq` 0: a reaction that was already
    /// so; nothing was logged.
    Ack {
        room: RoomId,
        client_id: String,
        id: i64,
        seq: Seq,
        created_at: Millis,
    },
    /// A room's whole online list, replacing what the client had. Rare: the
    /// list comes with `Joined`, and changes to it as `Presence`; this is sent
    /// only when the server had no list of its own to announce changes against.
    Online { room: RoomId, online: Vec<String> },
    /// Someone came online in (or left) the room: the client adds the name to
    /// (or removes it from) the online list, and shows a notice in the stream.
    Presence {
        room: RoomId,
        username: String,
        joined: bool,
    },
    /// `username` is typing in the room (`on`), or stopped. Ephemeral: not
    /// in the room's log, never replayed by catch-up.
    Typing { room: RoomId, username: String, on: bool },
    /// One's own read marker in the room moved (on this device or another).
    Read { room: RoomId, seq: Seq },
    /// A request failed. `client_id` names the send it answers, if any.
    Error {
        code: ErrorCode,
        message: String,
        client_id: Option<String>,
    },
}

/// Machine-readable error kinds, so the client can decide whether to retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The input was wrong; retrying the same input will fail again.
    Invalid,
    /// Not logged in, or the session ended.
    Unauthorized,
    /// Logged in, but not allowed to do this.
    Forbidden,
    /// The room does not exist (or is not visible to this user).
    NotFound,
    /// The name is already taken.
    Conflict,
    /// A frame the server could not parse.
    BadFrame,
    /// The server could not do it now (database unreachable…); retry later.
    Unavailable,
    /// The connection fell too far behind and must catch up from its last sequence.
    Resync,
    /// Too many requests; the message says when to try again.
    RateLimited,
    /// Larger than allowed (a file, or a person's quota).
    TooLarge,
}

impl ErrorCode {
    /// Whether the same request may succeed if sent again later.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorCode::Unavailable | ErrorCode::RateLimited)
    }
}

/// The error every server function returns: a code for the program and a
/// sentence for the person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Invalid, message)
    }
    pub fn unauthorized() -> Self {
        Self::new(ErrorCode::Unauthorized, "Please log in first.")
    }
    pub fn page_not_found() -> Self {
        Self::new(ErrorCode::NotFound, "That page does not exist.")
    }
    pub fn room_not_found() -> Self {
        Self::new(ErrorCode::NotFound, "That room does not exist.")
    }
    pub fn unavailable() -> Self {
        Self::new(
            ErrorCode::Unavailable,
            "The server cannot do that right now. Please try again in a moment.",
        )
    }
}

impl ServerFrame {
    /// The room the frame is about; `None` for an error, which names none.
    pub fn room(&self) -> Option<RoomId> {
        match self {
            ServerFrame::Joined { room, .. }
            | ServerFrame::CatchUp { room, .. }
            | ServerFrame::Ack { room, .. }
            | ServerFrame::Online { room, .. }
            | ServerFrame::Presence { room, .. }
            | ServerFrame::Typing { room, .. }
            | ServerFrame::Read { room, .. } => Some(*room),
            ServerFrame::Message { message } => Some(message.room),
            ServerFrame::Update { update } => Some(update.room),
            ServerFrame::Error { .. } => None,
        }
    }

    pub fn error(code: ErrorCode, message: impl Into<String>, client_id: Option<String>) -> Self {
        ServerFrame::Error {
            code,
            message: message.into(),
            client_id,
        }
    }
}

/// Applies a `Presence` change to a sorted online list: adds `username` when
/// it joined and is missing, removes it when it left. A repeated or stale
/// change leaves the list as it is, so the list stays sorted and unique.
pub fn apply_presence(online: &mut Vec<String>, username: &str, joined: bool) {
    match (online.binary_search_by(|n| n.as_str().cmp(username)), joined) {
        (Err(at), true) => online.insert(at, username.to_owned()),
        (Ok(at), false) => {
            online.remove(at);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_changes_keep_the_online_list_sorted_and_unique() {
        let mut online = vec!["ann".to_owned(), "cid".to_owned()];
        apply_presence(&mut online, "bob", true);
        assert_eq!(online, ["ann", "bob", "cid"]);
        apply_presence(&mut online, "bob", true);
        assert_eq!(online, ["ann", "bob", "cid"], "a repeated join adds nobody");
        apply_presence(&mut online, "ann", false);
        apply_presence(&mut online, "zed", false);
        assert_eq!(online, ["bob", "cid"], "a leave of someone absent changes nothing");
    }

    fn message() -> ChatMessage {
        ChatMessage {
            id: 7,
            room: RoomId(3),
            seq: 42,
            author: "añа_😀".into(),
            body: "line one\nline two <b>不</b>".into(),
            created_at: 1_764_000_000_000,
            client_id: "c-1".into(),
            reply_to: Some(Quote {
                id: 5,
                seq: 40,
                author: "bob".into(),
                excerpt: "earlier".into(),
                deleted: false,
            }),
            edited_at: Some(1_764_000_000_500),
            deleted: false,
            reactions: vec![Reaction {
                emoji: "👍".into(),
                users: vec!["bob".into()],
            }],
            attachment: Some(Box::new(Attachment {
                id: "0123456789abcdef0123456789abcdef".into(),
                name: "照片 #1?.jpg".into(),
                mime: "image/jpeg".into(),
                size: 3_500_000,
                width: Some(3024),
                height: Some(4032),
                animated: false,
                has_preview: true,
            })),
        }
    }

    #[test]
    fn an_attachment_is_fetched_by_its_id_with_its_name_escaped() {
        let file = message().attachment.unwrap();
        assert_eq!(
            file.url(),
            "/files/0123456789abcdef0123456789abcdef/%E7%85%A7%E7%89%87%20%231%3F.jpg"
        );
        assert_eq!(file.preview_url(), "/previews/0123456789abcdef0123456789abcdef");
        assert!(file.is_image());
        let pdf = Attachment {
            mime: "application/pdf".into(),
            has_preview: false,
            ..*file
        };
        assert!(!pdf.is_image());
        assert_eq!(pdf.preview_url(), pdf.url());
    }

    fn update(change: Change) -> Update {
        Update {
            room: RoomId(3),
            seq: 43,
            id: 9,
            message: 7,
            by: "bob".into(),
            at: 1_764_000_000_900,
            client_id: "u-1".into(),
            change,
        }
    }

    #[test]
    fn every_client_frame_survives_a_json_round_trip() {
        let frames = vec![
            ClientFrame::Join {
                room: RoomId(1),
                since: 0,
            },
            ClientFrame::Leave { room: RoomId(1) },
            ClientFrame::Send {
                room: RoomId(2),
                client_id: "abc".into(),
                body: "hi 👋".into(),
                reply_to: None,
                attachment: None,
            },
            ClientFrame::Send {
                room: RoomId(2),
                client_id: "abd".into(),
                body: "yes".into(),
                reply_to: Some(7),
                attachment: None,
            },
            ClientFrame::Edit {
                room: RoomId(2),
                client_id: "e".into(),
                message: 7,
                body: "fixed".into(),
            },
            ClientFrame::Delete {
                room: RoomId(2),
                client_id: "d".into(),
                message: 7,
            },
            ClientFrame::React {
                room: RoomId(2),
                client_id: "r".into(),
                message: 7,
                emoji: "👍".into(),
                on: true,
            },
            ClientFrame::CatchUp {
                room: RoomId(2),
                since: 99,
            },
            ClientFrame::Typing {
                room: RoomId(2),
                on: false,
            },
        ];
        for frame in frames {
            let json = serde_json::to_string(&frame).unwrap();
            assert_eq!(serde_json::from_str::<ClientFrame>(&json).unwrap(), frame);
        }
    }

    #[test]
    fn every_server_frame_survives_a_json_round_trip() {
        let frames = vec![
            ServerFrame::Joined {
                room: RoomId(1),
                online: vec!["a".into()],
            },
            ServerFrame::CatchUp {
                room: RoomId(1),
                events: vec![
                    LogEntry::Posted(message()),
                    LogEntry::Updated(update(Change::Edited { body: "new".into() })),
                    LogEntry::Updated(update(Change::Deleted)),
                ],
                more: true,
            },
            ServerFrame::Message { message: message() },
            ServerFrame::Message {
                message: ChatMessage {
                    deleted: true,
                    body: String::new(),
                    ..message()
                },
            },
            ServerFrame::Update {
                update: update(Change::Reacted { emoji: "👍".into() }),
            },
            ServerFrame::Update {
                update: update(Change::Unreacted { emoji: "👍".into() }),
            },
            ServerFrame::Ack {
                room: RoomId(1),
                client_id: "x".into(),
                id: 1,
                seq: 2,
                created_at: 3,
            },
            ServerFrame::Online {
                room: RoomId(1),
                online: vec![],
            },
            ServerFrame::Presence {
                room: RoomId(1),
                username: "bob".into(),
                joined: false,
            },
            ServerFrame::Typing {
                room: RoomId(1),
                username: "bob".into(),
                on: true,
            },
            ServerFrame::error(ErrorCode::Invalid, "no", Some("x".into())),
        ];
        for frame in frames {
            let json = serde_json::to_string(&frame).unwrap();
            assert_eq!(serde_json::from_str::<ServerFrame>(&json).unwrap(), frame);
        }
    }

    #[test]
    fn frames_are_tagged_by_type_in_snake_case() {
        let json = serde_json::to_value(ClientFrame::CatchUp {
            room: RoomId(5),
            since: 1,
        })
        .unwrap();
        assert_eq!(json["type"], "catch_up");
        assert_eq!(json["room"], 5);
    }

    #[test]
    fn a_send_without_reply_to_still_parses_and_plain_messages_stay_small() {
        let frame: ClientFrame =
            serde_json::from_str(r#"{"type":"send","room":1,"client_id":"a","body":"hi"}"#).unwrap();
        assert!(matches!(frame, ClientFrame::Send { reply_to: None, .. }));
        let plain = ChatMessage {
            body: "hi".into(),
            ..ChatMessage::default()
        };
        let json = serde_json::to_string(&plain).unwrap();
        for absent in ["reply_to", "edited_at", "deleted", "reactions"] {
            assert!(!json.contains(absent), "{absent} in {json}");
        }
    }

    #[test]
    fn a_quote_is_the_first_line_of_the_original_cut_short() {
        assert_eq!(Quote::excerpt("one\ntwo"), "one two");
        let long = "字".repeat(QUOTE_CHARS + 1);
        let quote = Quote::excerpt(&long);
        assert_eq!(quote.chars().count(), QUOTE_CHARS + 1);
        assert!(quote.ends_with('…'));
        assert_eq!(Quote::excerpt(&"a".repeat(QUOTE_CHARS)), "a".repeat(QUOTE_CHARS));
    }

    #[test]
    fn an_unknown_frame_type_is_rejected() {
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"shout","room":1}"#).is_err());
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"send","room":1}"#).is_err());
    }
}
