//! A room's log (`room_events`): every event under the room's next
//! sequence, read forwards as events (catch-up, gap repair) and backwards as
//! the room's messages (history pages), both by keyset on (room_id, seq).
//! A posted message is its event's row (see
//! `migrations/mysql/0008_room_event_log.sql`).

use super::{Actor, Result, Store};
use crate::backend::clock::now_ms;
use crate::backend::error::BackendError;
use crate::backend::events::{EventKind, RoomEvent};
use crate::protocol::{Attachment, Change, ChatMessage, Me, Millis, Quote, Reaction, RoomId, Seq, Update, UserId};
use crate::validate::{ClientMessageId, Emoji, Invalid, MessageBody};
use sqlx::any::AnyArguments;
use sqlx::query::Query;

/// One message to commit.
pub struct NewMessage {
    pub room: RoomId,
    pub author: Me,
    pub client_id: ClientMessageId,
    pub body: MessageBody,
    /// The id of the message it answers (checked at commit: in the same
    /// room, not deleted).
    pub reply_to: Option<i64>,
    /// An upload to post with it (checked at commit: the author's, not
    /// posted before).
    pub attachment: Option<String>,
}

impl NewMessage {
    /// The message as committed with `id` and `seq` at `now`.
    pub(super) fn committed(
        &self,
        id: i64,
        seq: Seq,
        now: Millis,
        reply_to: Option<Quote>,
        attachment: Option<Attachment>,
    ) -> ChatMessage {
        ChatMessage {
            id,
            room: self.room,
            seq,
            author: self.author.username.clone(),
            body: self.body.as_str().to_owned(),
            created_at: now,
            client_id: self.client_id.as_str().to_owned(),
            reply_to,
            attachment: attachment.map(Box::new),
            ..ChatMessage::default()
        }
    }

    /// Binds this message's row, in the column order of [`insert_events`].
    /// Binds the row of this message, the room's `ordinal`th, at `seq`.
    pub(super) fn bind_row<'q>(
        &'q self,
        query: Query<'q, sqlx::Any, AnyArguments>,
        (seq, ordinal): (Seq, i64),
        now: Millis,
    ) -> Query<'q, sqlx::Any, AnyArguments> {
        query
            .bind(self.room.0)
            .bind(seq)
            .bind(EventKind::Posted.code())
            .bind(self.author.id.0)
            .bind(self.client_id.as_str())
            .bind(self.body.as_str())
            .bind(now)
            .bind(self.reply_to)
            .bind(ordinal)
    }
}

/// One change to a message to commit.
pub struct NewUpdate {
    pub room: RoomId,
    pub by: Me,
    pub client_id: ClientMessageId,
    /// The message to change.
    pub message: i64,
    pub change: UpdateChange,
    /// Whether `by` may delete others' messages in the room.
    pub moderation: Moderation,
}

/// Whether a change may act on others' messages (only a deletion does), and
/// who writes the audit entry for it: every moderation action has one.
pub enum Moderation {
    /// No: the author's own messages only.
    No,
    /// Yes, and each deletion of someone else's message is audited, as this
    /// person, in the transaction that deletes it (a room moderator's).
    Audited(Actor),
    /// Yes; the caller audits the action as a whole (an administrator's
    /// removal of all of a person's messages, or a report closed).
    AuditedByCaller,
}

impl Moderation {
    pub fn allowed(&self) -> bool {
        !matches!(self, Moderation::No)
    }
}

/// What a [`NewUpdate`] does, its input validated.
pub enum UpdateChange {
    Edit(MessageBody),
    Delete,
    React(Emoji),
    Unreact(Emoji),
}

impl UpdateChange {
    pub(super) fn kind(&self) -> EventKind {
        match self {
            UpdateChange::Edit(_) => EventKind::Edited,
            UpdateChange::Delete => EventKind::Deleted,
            UpdateChange::React(_) => EventKind::Reacted,
            UpdateChange::Unreact(_) => EventKind::Unreacted,
        }
    }

    /// What the event row's `body` holds: the emoji of a reaction. (An
    /// edit's text lives in the message's own row, so a deletion has one
    /// place to erase it from.)
    pub(super) fn logged_text(&self) -> &str {
        match self {
            UpdateChange::React(emoji) | UpdateChange::Unreact(emoji) => emoji.as_str(),
            UpdateChange::Edit(_) | UpdateChange::Delete => "",
        }
    }

    pub(super) fn change(&self) -> Change {
        match self {
            UpdateChange::Edit(body) => Change::Edited {
                body: body.as_str().to_owned(),
            },
            UpdateChange::Delete => Change::Deleted,
            UpdateChange::React(emoji) => Change::Reacted {
                emoji: emoji.as_str().to_owned(),
            },
            UpdateChange::Unreact(emoji) => Change::Unreacted {
                emoji: emoji.as_str().to_owned(),
            },
        }
    }
}

/// The outcome of an update.
#[derive(Clone, Debug)]
pub struct Applied {
    /// What was logged; `None` when nothing changed (a reaction that was
    /// already there, or already gone; an edit to the same text).
    pub update: Option<Update>,
    /// False when the client id had been used before: `update` is the original.
    pub fresh: bool,
}

/// The start of every insert into the log; each row is [`EVENT_ROW`],
/// bound by [`NewMessage::bind_row`].
macro_rules! insert_events {
    () => {
        "INSERT INTO room_events (room_id, seq, kind, author_id, client_id, body, created_at, target_id, ordinal) VALUES "
    };
}
/// One row's placeholders in [`insert_events`].
macro_rules! event_row {
    () => {
        "(?, ?, ?, ?, ?, ?, ?, ?, ?)"
    };
}
const EVENT_ROW: &str = event_row!();

/// An event row just inserted, to learn its id.
#[derive(sqlx::FromRow)]
pub(super) struct InsertedRow {
    pub(super) id: i64,
    pub(super) room_id: i64,
    pub(super) seq: i64,
}

/// Inserts event rows, `bind` binding each in [`insert_events`]' column
/// order, in chunks of power-of-two sizes (few statement texts, see
/// [`super::padded`]). With `returning` (SQLite, MariaDB) the new ids come
/// back from the inserts, by (room, seq); without (MySQL) the caller reads
/// them back.
pub(super) async fn insert_event_rows<'q, T>(
    tx: &mut sqlx::AnyConnection,
    returning: bool,
    rows: &'q [T],
    bind: impl Fn(Query<'q, sqlx::Any, AnyArguments>, &'q T) -> Query<'q, sqlx::Any, AnyArguments>,
) -> Result<std::collections::HashMap<(i64, Seq), i64>> {
    use sqlx::FromRow;
    let mut ids = std::collections::HashMap::with_capacity(if returning { rows.len() } else { 0 });
    let tail = if returning { " RETURNING id, room_id, seq" } else { "" };
    for chunk in super::power_of_two_chunks(rows) {
        let sql = format!("{}{}{tail}", insert_events!(), vec![EVENT_ROW; chunk.len()].join(", "));
        let query = chunk.iter().fold(sqlx::query(sqlx::AssertSqlSafe(sql)), &bind);
        if returning {
            for row in query.fetch_all(&mut *tx).await? {
                let row = InsertedRow::from_row(&row)?;
                ids.insert((row.room_id, row.seq), row.id);
            }
        } else {
            query.execute(&mut *tx).await?;
        }
    }
    Ok(ids)
}

/// The outcome of posting a message.
#[derive(Clone, Debug)]
pub struct Posted {
    pub message: ChatMessage,
    /// False when the client id had been used before: `message` is the original.
    pub fresh: bool,
}

/// `SELECT` of an event's columns (and of the message it points at, `t`)
/// followed by a fixed `WHERE …` clause. A macro so every query stays a
/// static string (sqlx refuses dynamic SQL).
macro_rules! select_messages {
    ($tail:literal) => {
        select_messages!("", "FROM room_events m JOIN users u ", "LEFT JOIN room_events t ", $tail)
    };
    ($extra:expr, $from:literal, $target:literal, $tail:literal) => {
        concat!(
            "SELECT m.id, m.room_id, m.seq, m.kind, u.username, m.body, m.created_at, m.client_id, ",
            "m.target_id, m.edited_at, m.deleted_at, ",
            "t.seq AS target_seq, tu.username AS target_author, t.body AS target_body, t.deleted_at AS target_deleted_at, ",
            "f.id AS file_id, f.name AS file_name, f.mime AS file_mime, f.size AS file_size, f.width AS file_width, ",
            "f.height AS file_height, f.animated AS file_animated, f.preview_key AS file_preview ",
            $extra,
            $from,
            "ON u.id = m.author_id ",
            $target,
            "ON t.id = m.target_id LEFT JOIN users tu ON tu.id = t.author_id ",
            "LEFT JOIN uploads f ON f.message_id = m.id ",
            $tail
        )
    };
}

/// MariaDB picks two bad plans for a keyset page if left to itself: it
/// prefers "all of the room, newest first" over the range `seq < ?` and walks
/// a million rows to reach a deep page (1.3 s instead of 16 ms at depth
/// 500,000), and when `users` is small it reads `users` first, or scans it
/// through a join buffer, and either way sorts the whole room (2.5 s per page
/// with one author). So: the range of the primary key (room_id, seq),
/// `room_events` first, and one primary key lookup per row for its author
/// (and, for the few rows that point at another message, one by id for it).
/// (SQLite has no such hints and needs none.) `$extra` adds columns.
macro_rules! keyset_query {
    ($sqlite:expr, $tail:literal) => {
        keyset_query!($sqlite, "", "", $tail)
    };
    ($sqlite:expr, $sqlite_extra:expr, $mysql_extra:expr, $tail:literal) => {
        if $sqlite {
            select_messages!(
                $sqlite_extra,
                "FROM room_events m JOIN users u ",
                "LEFT JOIN room_events t ",
                $tail
            )
        } else {
            select_messages!(
                $mysql_extra,
                "FROM room_events m FORCE INDEX (PRIMARY) STRAIGHT_JOIN users u FORCE INDEX (PRIMARY) ",
                "LEFT JOIN room_events t FORCE INDEX (messages_id) ",
                $tail
            )
        }
    };
}

/// A history page's extra columns: each message's reactions as one text
/// (`emoji user,emoji user,…` in the order they came: neither an emoji nor
/// a username holds a space or a comma), and the room's last sequence, read
/// in the same statement, so the rows are exactly current as of it. One
/// round trip for the whole page.
macro_rules! page_columns {
    (sqlite) => {
        concat!(
            ", (SELECT group_concat(r.emoji || ' ' || ru.username, ',' ORDER BY r.seq) ",
            "FROM message_reactions r JOIN users ru ON ru.id = r.user_id WHERE r.message_id = m.id) AS reactions, ",
            "(SELECT last_seq FROM rooms WHERE id = m.room_id) AS as_of "
        )
    };
    (mysql) => {
        concat!(
            ", (SELECT GROUP_CONCAT(CONCAT(r.emoji, ' ', ru.username) ORDER BY r.seq SEPARATOR ',') ",
            "FROM message_reactions r JOIN users ru ON ru.id = r.user_id WHERE r.message_id = m.id) AS reactions, ",
            "(SELECT last_seq FROM rooms WHERE id = m.room_id) AS as_of "
        )
    };
}
#[cfg(test)]
pub(super) use keyset_query;
pub(super) use select_messages;

#[derive(sqlx::FromRow)]
pub(super) struct MessageRow {
    id: i64,
    room_id: i64,
    seq: i64,
    kind: i64,
    pub(super) username: String,
    body: String,
    created_at: i64,
    pub(super) client_id: String,
    target_id: Option<i64>,
    edited_at: Option<i64>,
    deleted_at: Option<i64>,
    target_seq: Option<i64>,
    target_author: Option<String>,
    target_body: Option<String>,
    target_deleted_at: Option<i64>,
    /// The file posted with it, if any (see [`FileColumns`]).
    #[sqlx(flatten)]
    file: FileColumns,
    /// History pages only (see [`page_columns`]).
    #[sqlx(default)]
    reactions: Option<String>,
    #[sqlx(default)]
    as_of: Option<i64>,
}

/// A message's file, from the `uploads` row that names it (all `None` when
/// there is none).
#[derive(sqlx::FromRow)]
pub(super) struct FileColumns {
    file_id: Option<String>,
    file_name: Option<String>,
    file_mime: Option<String>,
    file_size: Option<i64>,
    file_width: Option<i64>,
    file_height: Option<i64>,
    file_animated: Option<i64>,
    file_preview: Option<String>,
}

impl FileColumns {
    fn attachment(self) -> Option<Attachment> {
        Some(Attachment {
            id: self.file_id?,
            name: self.file_name?,
            mime: self.file_mime?,
            size: self.file_size?.max(0) as u64,
            width: self.file_width.and_then(|w| u32::try_from(w).ok()),
            height: self.file_height.and_then(|h| u32::try_from(h).ok()),
            animated: self.file_animated.unwrap_or(0) != 0,
            has_preview: self.file_preview.is_some(),
        })
    }
}

impl MessageRow {
    /// The event this row records, as it is now: a message in its current
    /// state (so a deleted one's text is not replayed), an edit with the
    /// message's current text (so no earlier version is).
    pub(super) fn event(self) -> Result<RoomEvent> {
        let kind = EventKind::from_code(self.kind);
        let change = match kind {
            Some(EventKind::Posted) => return Ok(RoomEvent::Posted(self.into())),
            Some(EventKind::Edited) => Change::Edited {
                body: self.target_body.clone().unwrap_or_default(),
            },
            Some(EventKind::Deleted) => Change::Deleted,
            Some(EventKind::Reacted) => Change::Reacted {
                emoji: self.body.clone(),
            },
            Some(EventKind::Unreacted) => Change::Unreacted {
                emoji: self.body.clone(),
            },
            None => {
                let why = format!(
                    "event {}/{} has a kind this server does not know ({}): is a newer version writing to this database?",
                    self.room_id, self.seq, self.kind
                );
                tracing::error!("{why}");
                return Err(BackendError::Unavailable(why));
            }
        };
        Ok(RoomEvent::Updated(Update {
            room: RoomId(self.room_id),
            seq: self.seq,
            id: self.id,
            message: self.target_id.unwrap_or_default(),
            by: self.username,
            at: self.created_at,
            client_id: self.client_id,
            change,
        }))
    }
}

impl From<MessageRow> for ChatMessage {
    fn from(r: MessageRow) -> ChatMessage {
        let reply_to = match (r.target_id, r.target_seq, r.target_author) {
            (Some(id), Some(seq), Some(author)) => {
                let deleted = r.target_deleted_at.is_some();
                Some(Quote {
                    id,
                    seq,
                    author,
                    excerpt: if deleted {
                        String::new()
                    } else {
                        Quote::excerpt(r.target_body.as_deref().unwrap_or_default())
                    },
                    deleted,
                })
            }
            _ => None,
        };
        let mut reactions = Vec::new();
        for entry in r.reactions.as_deref().unwrap_or_default().split(',') {
            if let Some((emoji, user)) = entry.split_once(' ') {
                add_reaction(&mut reactions, emoji.to_owned(), user.to_owned());
            }
        }
        ChatMessage {
            id: r.id,
            room: RoomId(r.room_id),
            seq: r.seq,
            author: r.username,
            body: r.body,
            created_at: r.created_at,
            client_id: r.client_id,
            reply_to,
            edited_at: r.edited_at,
            deleted: r.deleted_at.is_some(),
            reactions,
            // A deleted message's file is gone with it (and swept).
            attachment: if r.deleted_at.is_some() {
                None
            } else {
                r.file.attachment().map(Box::new)
            },
        }
    }
}

/// The message an update or a reply points at, read under its room's lock.
#[derive(sqlx::FromRow)]
pub(super) struct TargetRow {
    pub(super) id: i64,
    pub(super) room_id: i64,
    pub(super) seq: i64,
    pub(super) kind: i64,
    pub(super) author_id: i64,
    username: String,
    pub(super) body: String,
    pub(super) deleted_at: Option<i64>,
    /// Its place among the room's messages (see [`super::reading`]).
    pub(super) ordinal: i64,
}

impl TargetRow {
    /// The row, if it is a message in `room`: a message elsewhere, or an
    /// event that is not a message, is "no such message".
    pub(super) fn in_room(row: Option<&TargetRow>, room: RoomId) -> Result<&TargetRow> {
        match row {
            Some(row) if row.room_id == room.0 && row.kind == EventKind::Posted.code() => Ok(row),
            _ => Err(BackendError::MessageNotFound),
        }
    }

    /// How a reply to it shows it; refused if it was deleted.
    pub(super) fn quote(&self) -> Result<Quote> {
        if self.deleted_at.is_some() {
            return Err(Invalid("The message you are replying to was deleted.".into()).into());
        }
        Ok(Quote {
            id: self.id,
            seq: self.seq,
            author: self.username.clone(),
            excerpt: Quote::excerpt(&self.body),
            deleted: false,
        })
    }
}

/// `SELECT` of [`TargetRow`] columns, then a fixed tail.
macro_rules! select_target {
    ($tail:literal) => {
        concat!(
            "SELECT m.id, m.room_id, m.seq, m.kind, m.author_id, u.username, m.body, m.deleted_at, m.ordinal ",
            "FROM room_events m JOIN users u ON u.id = m.author_id ",
            $tail
        )
    };
}
pub(super) use select_target;

/// The quote for a reply to `target` in `room`, read in `conn`.
pub(super) async fn reply_quote(conn: &mut sqlx::AnyConnection, room: RoomId, target: i64) -> Result<Quote> {
    let row: Option<TargetRow> = sqlx::query_as(select_target!("WHERE m.id = ?"))
        .bind(target)
        .fetch_optional(&mut *conn)
        .await?;
    TargetRow::in_room(row.as_ref(), room)
        .map_err(|_| reply_missing())?
        .quote()
}

pub(super) fn reply_missing() -> BackendError {
    Invalid("The message you are replying to does not exist.".into()).into()
}

impl Store {
    /// Commits a message with the room's next sequence number, or returns the
    /// original if `client_id` was already used by this author.
    ///
    /// The sequence is bumped and the row inserted in one transaction: the
    /// `UPDATE` takes the room row's write lock, so concurrent senders are
    /// serialised and a failed insert rolls the counter back — no gaps.
    pub async fn post_message(&self, new: &NewMessage) -> Result<Posted> {
        let (author, client_id) = (new.author.id, new.client_id.as_str());
        if let Some(event) = self.event_by_client_id(author, client_id).await? {
            return Posted::replayed(event);
        }
        match self.insert_message(new).await {
            Ok(message) => Ok(Posted { message, fresh: true }),
            // A concurrent retry with the same client id won the race.
            Err(e) if e.is_unique_violation() => match self.event_by_client_id(author, client_id).await? {
                Some(event) => Posted::replayed(event),
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    async fn insert_message(&self, new: &NewMessage) -> Result<ChatMessage> {
        let (room, now) = (new.room, now_ms());
        let mut tx = self.pool.begin().await?;
        let (seq, ordinal) = next_seq(&mut tx, room, now).await?;
        let quote = match new.reply_to {
            Some(target) => Some(reply_quote(&mut tx, room, target).await?),
            None => None,
        };
        let attachment = match &new.attachment {
            Some(upload) => Some(super::uploads::attachable(&mut tx, upload, new.author.id, !self.is_sqlite).await?),
            None => None,
        };
        let insert = sqlx::query(concat!(insert_events!(), event_row!()));
        let inserted = new.bind_row(insert, (seq, ordinal), now).execute(&mut *tx).await?;
        let id = inserted_id(&mut tx, inserted.last_insert_id(), room, seq).await?;
        if let Some(attachment) = &attachment {
            super::uploads::attach(&mut tx, &attachment.id, room, id).await?;
        }
        let mentioning = super::reading::Mentioning {
            room,
            seq,
            message: id,
            author: new.author.id,
            body: new.body.as_str(),
        };
        super::reading::record_mentions(&mut tx, &[mentioning]).await?;
        super::search::index(&mut tx, self.is_sqlite, &[(id, new.body.as_str())]).await?;
        super::reading::posted_read(&mut tx, self.is_sqlite, &[(room.0, new.author.id.0, seq, ordinal)]).await?;
        tx.commit().await?;
        Ok(new.committed(id, seq, now, quote, attachment))
    }

    /// The event `author` logged under `client_id`, if any.
    async fn event_by_client_id(&self, author: UserId, client_id: &str) -> Result<Option<RoomEvent>> {
        let row: Option<MessageRow> = sqlx::query_as(select_messages!("WHERE m.author_id = ? AND m.client_id = ?"))
            .bind(author.0)
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(MessageRow::event).transpose()
    }

    /// Edits, deletes or reacts to a message: checks that it may (the
    /// message is in the room and not deleted; only its author edits it;
    /// its author or a moderator deletes it; at most
    /// [`REACTIONS_PER_MESSAGE`] different emoji), changes the message and
    /// logs the change under the room's next sequence, in one transaction.
    /// A client id used before returns the original change, applied once.
    pub async fn apply_update(&self, new: &NewUpdate) -> Result<Applied> {
        let (by, client_id) = (new.by.id, new.client_id.as_str());
        if let Some(event) = self.event_by_client_id(by, client_id).await? {
            return Applied::replayed(event);
        }
        match self.update_message(new).await {
            Ok(applied) => Ok(applied),
            Err(e) if e.is_unique_violation() => match self.event_by_client_id(by, client_id).await? {
                Some(event) => Applied::replayed(event),
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// Up to `limit` events with sequence greater than `since`, oldest
    /// first: what a client or a node that holds the room up to `since`
    /// missed.
    pub async fn events_after(&self, room: RoomId, since: Seq, limit: u32) -> Result<Vec<RoomEvent>> {
        let rows: Vec<MessageRow> = sqlx::query_as(keyset_query!(
            self.is_sqlite,
            "WHERE m.room_id = ? AND m.seq > ? ORDER BY m.seq ASC LIMIT ?"
        ))
        .bind(room.0)
        .bind(since)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(MessageRow::event).collect()
    }

    /// The sequence of message `id`, if it is a message in `room`.
    pub async fn message_seq(&self, room: RoomId, id: i64) -> Result<Option<Seq>> {
        Ok(
            sqlx::query_scalar("SELECT seq FROM room_events WHERE id = ? AND room_id = ? AND kind = ?")
                .bind(id)
                .bind(room.0)
                .bind(EventKind::Posted.code())
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// The sequence of the `n`th message after sequence `seq` in `room`, if
    /// there are that many.
    pub async fn nth_message_after(&self, room: RoomId, seq: Seq, n: u32) -> Result<Option<Seq>> {
        Ok(sqlx::query_scalar(
            "SELECT seq FROM room_events WHERE room_id = ? AND seq > ? AND kind = ? ORDER BY seq LIMIT 1 OFFSET ?",
        )
        .bind(room.0)
        .bind(seq)
        .bind(EventKind::Posted.code())
        .bind(i64::from(n.saturating_sub(1)))
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The `limit` messages just before sequence `before` (or the newest, if
    /// `None`), oldest first and in their current state (reactions
    /// included); whether older ones exist; and the room's sequence they are
    /// current as of. One statement (see [`page_columns`]). Keyset
    /// pagination on (room_id, seq): the cost does not grow with depth.
    pub async fn messages_before(
        &self,
        room: RoomId,
        before: Option<Seq>,
        limit: u32,
    ) -> Result<(Vec<ChatMessage>, bool, Seq)> {
        let rows: Vec<MessageRow> = sqlx::query_as(keyset_query!(
            self.is_sqlite,
            page_columns!(sqlite),
            page_columns!(mysql),
            "WHERE m.room_id = ? AND m.seq < ? AND m.kind = ? ORDER BY m.seq DESC LIMIT ?"
        ))
        .bind(room.0)
        .bind(before.unwrap_or(Seq::MAX))
        .bind(EventKind::Posted.code())
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        let as_of = match rows.first().and_then(|row| row.as_of) {
            Some(as_of) => as_of,
            // No message before `before` (an empty room): read on its own.
            None => self.last_seq(room).await?.unwrap_or(0),
        };
        let has_older = rows.len() > limit as usize;
        let mut messages: Vec<ChatMessage> = rows.into_iter().take(limit as usize).map(ChatMessage::from).collect();
        messages.reverse();
        Ok((messages, has_older, as_of))
    }
}

/// Adds `user`'s `emoji` to `reactions` (a new emoji goes last).
fn add_reaction(reactions: &mut Vec<Reaction>, emoji: String, user: String) {
    match reactions.iter_mut().find(|r| r.emoji == emoji) {
        Some(reaction) => reaction.users.push(user),
        None => reactions.push(Reaction {
            emoji,
            users: vec![user],
        }),
    }
}

/// A client id its author used before for another kind of thing (a
/// message's for an edit, say): only a broken client does that.
fn client_id_reused() -> BackendError {
    Invalid("That client id was already used for something else.".into()).into()
}

impl Posted {
    /// The outcome of a retry: the message its client id posted the first time.
    fn replayed(event: RoomEvent) -> Result<Posted> {
        match event {
            RoomEvent::Posted(message) => Ok(Posted { message, fresh: false }),
            _ => Err(client_id_reused()),
        }
    }
}

impl Applied {
    /// The outcome of a retry: the change its client id made the first time.
    pub(super) fn replayed(event: RoomEvent) -> Result<Applied> {
        match event {
            RoomEvent::Updated(update) => Ok(Applied {
                update: Some(update),
                fresh: false,
            }),
            _ => Err(client_id_reused()),
        }
    }
}

/// Takes the next sequence and message ordinal of `room` in `tx` for a message posted at `now`
/// (locking the room's row until the commit).
async fn next_seq(tx: &mut sqlx::AnyConnection, room: RoomId, now: Millis) -> Result<(Seq, i64)> {
    let bumped =
        sqlx::query("UPDATE rooms SET last_seq = last_seq + 1, posted = posted + 1, last_message_at = ? WHERE id = ?")
            .bind(now)
            .bind(room.0)
            .execute(&mut *tx)
            .await?;
    if bumped.rows_affected() == 0 {
        return Err(BackendError::RoomNotFound);
    }
    Ok(sqlx::query_as("SELECT last_seq, posted FROM rooms WHERE id = ?")
        .bind(room.0)
        .fetch_one(&mut *tx)
        .await?)
}

/// The id of the row just inserted at (room, seq): the driver's, or read back.
async fn inserted_id(tx: &mut sqlx::AnyConnection, last: Option<i64>, room: RoomId, seq: Seq) -> Result<i64> {
    match last {
        Some(id) => Ok(id),
        None => Ok(
            sqlx::query_scalar("SELECT id FROM room_events WHERE room_id = ? AND seq = ?")
                .bind(room.0)
                .bind(seq)
                .fetch_one(&mut *tx)
                .await?,
        ),
    }
}
