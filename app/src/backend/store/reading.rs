//! Keeping up: each person's read marker per room (on their membership row),
//! the mentions of them, and the sidebar that counts both.

use super::{Result, Store, padded, placeholders};
use crate::backend::events::EventKind;
use crate::protocol::{RoomId, Seq, SidebarRoom, UserId};
use sqlx::{AnyConnection, AssertSqlSafe};

/// Most rooms a sidebar lists (most recently active first); the rest are
/// reached from the room list.
pub const SIDEBAR_ROOMS: u32 = 500;

/// The rooms of `?`'s (a user id) sidebar, up to `?` of them: a person's
/// membership rows, banned and archived ones aside, newest activity first.
macro_rules! sidebar_rooms {
    () => {
        "FROM memberships m JOIN rooms r ON r.id = m.room_id \
         WHERE m.user_id = ? AND m.banned_at IS NULL AND r.archived_at IS NULL \
         ORDER BY COALESCE(r.last_message_at, r.created_at) DESC, r.id DESC LIMIT ?"
    };
}

#[derive(sqlx::FromRow)]
struct SidebarRow {
    id: i64,
    name: String,
    is_private: i64,
    is_direct: i64,
    last_seq: i64,
    read_seq: i64,
    quiet: i64,
    unread: i64,
    mentions: i64,
}

/// A message whose `@name`s are to be recorded.
pub(super) struct Mentioning<'a> {
    pub room: RoomId,
    pub seq: Seq,
    pub message: i64,
    pub author: UserId,
    pub body: &'a str,
}

impl Store {
    /// The rooms in `user`'s sidebar with what they have not read, most
    /// recently active first, in one query: the live messages after each
    /// marker, and the mentions after it. Rooms they are banned from, and
    /// archived rooms, are left out.
    ///
    /// Counted from counters, never by reading a room's log: the room's
    /// messages so far (`rooms.posted`) less those up to the marker
    /// (`memberships.read_posted`) and the deleted ones after it (one short
    /// range of `room_deletions`). Their own messages are never after their
    /// marker: posting reads the room ([`posted_read`]). Counting the log
    /// instead read every event of each room on MariaDB (which cannot bound
    /// a correlated count by the marker): p99 106 ms for 200 rooms.
    pub async fn sidebar(&self, user: UserId) -> Result<Vec<SidebarRoom>> {
        let rows: Vec<SidebarRow> = sqlx::query_as(concat!(
            "SELECT r.id, r.name, r.is_private, r.is_direct, r.last_seq, m.read_seq, m.quiet, \
             r.posted - m.read_posted - (SELECT COUNT(*) FROM room_deletions d \
                WHERE d.room_id = m.room_id AND d.ordinal > m.read_posted) AS unread, \
             (SELECT COUNT(*) FROM mentions x WHERE x.user_id = m.user_id AND x.room_id = m.room_id \
                AND x.seq > m.read_seq) AS mentions \
             ",
            sidebar_rooms!()
        ))
        .bind(user.0)
        .bind(i64::from(SIDEBAR_ROOMS))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| SidebarRoom {
                id: RoomId(r.id),
                name: r.name,
                private: r.is_private != 0,
                direct: r.is_direct != 0,
                // Never below 0, should a count ever disagree (messages
                // from before the counters, by hand).
                unread: u32::try_from(r.unread.max(0)).unwrap_or(u32::MAX),
                mentions: u32::try_from(r.mentions).unwrap_or(u32::MAX),
                read_seq: r.read_seq,
                last_seq: r.last_seq,
                quiet: r.quiet != 0,
            })
            .collect())
    }

    /// The ids of the rooms in `user`'s sidebar (as [`Store::sidebar`]
    /// lists them, without the counts): what their sockets follow.
    pub async fn sidebar_rooms(&self, user: UserId) -> Result<Vec<RoomId>> {
        let ids: Vec<i64> = sqlx::query_scalar(concat!("SELECT r.id ", sidebar_rooms!()))
            .bind(user.0)
            .bind(i64::from(SIDEBAR_ROOMS))
            .fetch_all(&self.pool)
            .await?;
        Ok(ids.into_iter().map(RoomId).collect())
    }

    /// Moves `user`'s read marker in `room` forward to `seq`; false (and
    /// nothing changed) if it is there or past it already, if `seq` is past
    /// the room's last event, or if they have no membership row (a room
    /// they never opened).
    pub async fn mark_read(&self, user: UserId, room: RoomId, seq: Seq) -> Result<bool> {
        // With the marker, the ordinal of the last message at or before it
        // (one step back along the room's log from `seq`).
        let done = sqlx::query(
            "UPDATE memberships SET read_seq = ?, read_posted = COALESCE((SELECT e.ordinal FROM room_events e \
               WHERE e.room_id = ? AND e.seq <= ? AND e.kind = ? ORDER BY e.seq DESC LIMIT 1), 0) \
             WHERE room_id = ? AND user_id = ? AND read_seq < ? \
             AND ? <= (SELECT r.last_seq FROM rooms r WHERE r.id = ?)",
        )
        .bind(seq)
        .bind(room.0)
        .bind(seq)
        .bind(EventKind::Posted.code())
        .bind(room.0)
        .bind(user.0)
        .bind(seq)
        .bind(seq)
        .bind(room.0)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Mutes (or unmutes) `room`'s notifications for `user`; false if they
    /// have no membership row there (a room they never opened).
    pub async fn set_quiet(&self, user: UserId, room: RoomId, quiet: bool) -> Result<bool> {
        let done = sqlx::query("UPDATE memberships SET quiet = ? WHERE room_id = ? AND user_id = ?")
            .bind(i64::from(quiet))
            .bind(room.0)
            .bind(user.0)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// `user`'s read marker in `room`: 0 if they never opened it.
    pub async fn read_seq(&self, user: UserId, room: RoomId) -> Result<Seq> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT read_seq FROM memberships WHERE room_id = ? AND user_id = ?")
            .bind(room.0)
            .bind(user.0)
            .fetch_optional(&self.pool)
            .await?;
        Ok(seq.unwrap_or(0))
    }
}

/// Records who each message mentions (people who exist, its author aside),
/// in the transaction that commits it. Messages without `@` cost nothing.
pub(super) async fn record_mentions(tx: &mut AnyConnection, messages: &[Mentioning<'_>]) -> Result<()> {
    for m in messages {
        let keys = crate::mentions::named(m.body);
        if keys.is_empty() {
            continue;
        }
        let keys = padded(&keys);
        let sql = format!(
            "INSERT INTO mentions (user_id, room_id, seq, message_id) \
             SELECT id, ?, ?, ? FROM users WHERE id <> ? AND username_key IN ({})",
            placeholders(keys.len())
        );
        let query = sqlx::query(AssertSqlSafe(sql))
            .bind(m.room.0)
            .bind(m.seq)
            .bind(m.message)
            .bind(m.author.0);
        keys.iter()
            .fold(query, |q, key| q.bind(key.as_str()))
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// Posting reads the room: moves each author's marker, in the transaction
/// that posts, to their newest message there. `posted` holds (room, author,
/// sequence, ordinal) of each message; a message is the room's newest when
/// it commits, so a marker only moves forward. One statement, a join of
/// `memberships` by its primary key with the values: a `CASE` per column
/// over `OR`ed keys grows with the square of the authors, and cost MariaDB
/// more than the batch's insert itself (491 µs a batch against 385 µs for
/// the join, measured under the same load).
pub(super) async fn posted_read(tx: &mut AnyConnection, sqlite: bool, posted: &[(i64, i64, Seq, i64)]) -> Result<()> {
    let mut newest: std::collections::BTreeMap<(i64, i64), (Seq, i64)> = Default::default();
    for &(room, user, seq, ordinal) in posted {
        let at = newest.entry((room, user)).or_insert((seq, ordinal));
        if seq > at.0 {
            *at = (seq, ordinal);
        }
    }
    // Padded with copies of the last row: the same row set twice sets the
    // same values.
    let rows = padded(&newest.into_iter().collect::<Vec<_>>());
    if rows.is_empty() {
        return Ok(());
    }
    let values = std::iter::once("SELECT ? AS room_id, ? AS user_id, ? AS seq, ? AS ordinal")
        .chain(std::iter::repeat_n("SELECT ?, ?, ?, ?", rows.len() - 1))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let sql = if sqlite {
        format!(
            "UPDATE memberships SET read_seq = v.seq, read_posted = v.ordinal FROM ({values}) v \
             WHERE memberships.room_id = v.room_id AND memberships.user_id = v.user_id"
        )
    } else {
        format!(
            "UPDATE memberships m JOIN ({values}) v ON m.room_id = v.room_id AND m.user_id = v.user_id \
             SET m.read_seq = v.seq, m.read_posted = v.ordinal"
        )
    };
    rows.iter()
        .fold(sqlx::query(AssertSqlSafe(sql)), |q, ((room, user), (seq, ordinal))| {
            q.bind(*room).bind(*user).bind(*seq).bind(*ordinal)
        })
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Forgets the mentions in these messages (deleted, or edited: an edit
/// records its new text's again).
pub(super) async fn forget_mentions(tx: &mut AnyConnection, messages: &[i64]) -> Result<()> {
    super::delete_ids(tx, "DELETE FROM mentions WHERE message_id", messages).await
}
