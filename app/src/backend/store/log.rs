//! A room's log (`room_events`): every event under the room's next
//! sequence, read forwards as events (catch-up, gap repair) and backwards as
//! the room's messages (history pages), both by keyset on (room_id, seq).
//! A posted message is its event's row (see
//! `migrations/mysql/0008_room_event_log.sql`).

use super::{Result, Store};
use crate::backend::clock::now_ms;
use crate::backend::error::BackendError;
use crate::backend::events::{EventKind, RoomEvent};
use crate::protocol::{ChatMessage, Me, Millis, RoomId, Seq, UserId};
use crate::validate::{ClientMessageId, MessageBody};
use sqlx::any::AnyArguments;
use sqlx::query::Query;

/// One message to commit.
pub struct NewMessage {
    pub room: RoomId,
    pub author: Me,
    pub client_id: ClientMessageId,
    pub body: MessageBody,
}

impl NewMessage {
    /// The message as committed with `id` and `seq` at `now`.
    pub(super) fn committed(&self, id: i64, seq: Seq, now: Millis) -> ChatMessage {
        ChatMessage {
            id,
            room: self.room,
            seq,
            author: self.author.username.clone(),
            body: self.body.as_str().to_owned(),
            created_at: now,
            client_id: self.client_id.as_str().to_owned(),
        }
    }

    /// Binds this message's row, in the column order of [`insert_events`].
    pub(super) fn bind_row<'q>(
        &'q self,
        query: Query<'q, sqlx::Any, AnyArguments>,
        seq: Seq,
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
    }
}

/// The start of every insert into the log; each row is [`EVENT_ROW`],
/// bound by [`NewMessage::bind_row`].
macro_rules! insert_events {
    () => {
        "INSERT INTO room_events (room_id, seq, kind, author_id, client_id, body, created_at) VALUES "
    };
}
/// One row's placeholders in [`insert_events`].
macro_rules! event_row {
    () => {
        "(?, ?, ?, ?, ?, ?, ?)"
    };
}
pub(super) use insert_events;
pub(super) const EVENT_ROW: &str = event_row!();

/// The outcome of posting a message.
#[derive(Clone, Debug)]
pub struct Posted {
    pub message: ChatMessage,
    /// False when the client id had been used before: `message` is the original.
    pub fresh: bool,
}

/// `SELECT` of [`ChatMessage`] columns followed by a fixed `WHERE …` clause.
/// A macro so every query stays a static string (sqlx refuses dynamic SQL).
macro_rules! select_messages {
    ($tail:literal) => {
        select_messages!("FROM room_events m JOIN users u ", $tail)
    };
    ($from:literal, $tail:literal) => {
        concat!(
            "SELECT m.id, m.room_id, m.seq, m.kind, u.username, m.body, m.created_at, m.client_id ",
            $from,
            "ON u.id = m.author_id ",
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
/// `room_events` first, and one primary key lookup per row for its author.
/// (SQLite has no such hints and needs none.)
macro_rules! keyset_query {
    ($sqlite:expr, $tail:literal) => {
        if $sqlite {
            select_messages!($tail)
        } else {
            select_messages!(
                "FROM room_events m FORCE INDEX (PRIMARY) STRAIGHT_JOIN users u FORCE INDEX (PRIMARY) ",
                $tail
            )
        }
    };
}
#[cfg(test)]
pub(super) use {keyset_query, select_messages};

#[derive(sqlx::FromRow)]
struct MessageRow {
    id: i64,
    room_id: i64,
    seq: i64,
    kind: i64,
    username: String,
    body: String,
    created_at: i64,
    client_id: String,
}

impl MessageRow {
    /// The event this row records.
    fn event(self) -> Result<RoomEvent> {
        match EventKind::from_code(self.kind) {
            Some(EventKind::Posted) => Ok(RoomEvent::Posted(self.into())),
            None => {
                let why = format!(
                    "event {}/{} has a kind this server does not know ({}): is a newer version writing to this database?",
                    self.room_id, self.seq, self.kind
                );
                tracing::error!("{why}");
                Err(BackendError::Unavailable(why))
            }
        }
    }
}

impl From<MessageRow> for ChatMessage {
    fn from(r: MessageRow) -> ChatMessage {
        ChatMessage {
            id: r.id,
            room: RoomId(r.room_id),
            seq: r.seq,
            author: r.username,
            body: r.body,
            created_at: r.created_at,
            client_id: r.client_id,
        }
    }
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
        if let Some(message) = self.message_by_client_id(author, client_id).await? {
            return Ok(Posted { message, fresh: false });
        }
        match self.insert_message(new).await {
            Ok(message) => Ok(Posted { message, fresh: true }),
            // A concurrent retry with the same client id won the race.
            Err(e) if e.is_unique_violation() => match self.message_by_client_id(author, client_id).await? {
                Some(message) => Ok(Posted { message, fresh: false }),
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    async fn insert_message(&self, new: &NewMessage) -> Result<ChatMessage> {
        let (room, now) = (new.room, now_ms());
        let mut tx = self.pool.begin().await?;
        let bumped = sqlx::query("UPDATE rooms SET last_seq = last_seq + 1, last_message_at = ? WHERE id = ?")
            .bind(now)
            .bind(room.0)
            .execute(&mut *tx)
            .await?;
        if bumped.rows_affected() == 0 {
            return Err(BackendError::RoomNotFound);
        }
        let seq: Seq = sqlx::query_scalar("SELECT last_seq FROM rooms WHERE id = ?")
            .bind(room.0)
            .fetch_one(&mut *tx)
            .await?;
        let insert = sqlx::query(concat!(insert_events!(), event_row!()));
        let inserted = new.bind_row(insert, seq, now).execute(&mut *tx).await?;
        let id = match inserted.last_insert_id() {
            Some(id) => id,
            None => {
                sqlx::query_scalar("SELECT id FROM room_events WHERE room_id = ? AND seq = ?")
                    .bind(room.0)
                    .bind(seq)
                    .fetch_one(&mut *tx)
                    .await?
            }
        };
        tx.commit().await?;
        Ok(new.committed(id, seq, now))
    }

    async fn message_by_client_id(&self, author: UserId, client_id: &str) -> Result<Option<ChatMessage>> {
        let row: Option<MessageRow> = sqlx::query_as(select_messages!("WHERE m.author_id = ? AND m.client_id = ?"))
            .bind(author.0)
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(ChatMessage::from))
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

    /// The `limit` messages just before sequence `before` (or the newest, if
    /// `None`), oldest first, and whether older ones exist. Keyset pagination
    /// on (room_id, seq): the cost does not grow with depth.
    pub async fn messages_before(
        &self,
        room: RoomId,
        before: Option<Seq>,
        limit: u32,
    ) -> Result<(Vec<ChatMessage>, bool)> {
        let rows: Vec<MessageRow> = sqlx::query_as(keyset_query!(
            self.is_sqlite,
            "WHERE m.room_id = ? AND m.seq < ? AND m.kind = ? ORDER BY m.seq DESC LIMIT ?"
        ))
        .bind(room.0)
        .bind(before.unwrap_or(Seq::MAX))
        .bind(EventKind::Posted.code())
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        let has_older = rows.len() > limit as usize;
        let mut messages: Vec<ChatMessage> = rows.into_iter().take(limit as usize).map(ChatMessage::from).collect();
        messages.reverse();
        Ok((messages, has_older))
    }
}
