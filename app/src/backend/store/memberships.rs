//! Who belongs to which room: the members of a private room (who alone may
//! see it), and everyone who opened a public one (ready to carry their role
//! and read position).

use super::audit::append;
use super::{Actor, Result, Store};
use crate::backend::clock::now_ms;
use crate::backend::error::BackendError;
use crate::protocol::{AuditAction, RoomId, UserId};
use crate::validate::UserKey;

impl Store {
    /// Names of a private room's members, sorted.
    pub async fn members(&self, room: RoomId) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT u.username FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.room_id = ? ORDER BY u.username_key",
        )
        .bind(room.0)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Up to `limit` of the room's people (its members; for a public room,
    /// everyone who opened it) whose username key starts with `prefix`
    /// (lower case, username characters only), by name.
    pub async fn people_named(&self, room: RoomId, prefix: &str, limit: u32) -> Result<Vec<String>> {
        // `_` is a LIKE wildcard and may be in a name: escaped, with `!`
        // (a backslash would need escaping differently on each backend).
        let pattern = format!("{}%", prefix.replace('!', "!!").replace('_', "!_").replace('%', "!%"));
        Ok(sqlx::query_scalar(
            "SELECT u.username FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.room_id = ? AND u.username_key LIKE ? ESCAPE '!' ORDER BY u.username_key LIMIT ?",
        )
        .bind(room.0)
        .bind(pattern)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Adds the user called `key` to a private room, `by` its owner, and
    /// audits it; `UserNotFound` if there is none. Adding a member again
    /// changes (and audits) nothing.
    pub async fn add_member(&self, room: RoomId, key: &UserKey, by: &Actor) -> Result<UserId> {
        let user = self.user_id(key).await?.ok_or(BackendError::UserNotFound)?;
        let mut tx = self.pool.begin().await?;
        match insert_membership(&mut tx, room, user, now_ms()).await {
            Ok(()) => {
                let target = membership_target(&mut tx, room, user, "to").await?;
                append(&mut tx, by, AuditAction::MemberAdded, &target, "").await?;
                tx.commit().await?;
                Ok(user)
            }
            Err(e) if e.is_unique_violation() => Ok(user),
            Err(e) => Err(e),
        }
    }

    /// Removes the user called `key` from a private room, `by` its owner,
    /// and audits it; returns who was removed, if anyone.
    pub async fn remove_member(&self, room: RoomId, key: &UserKey, by: &Actor) -> Result<Option<UserId>> {
        let Some(user) = self.user_id(key).await? else {
            return Ok(None);
        };
        let mut tx = self.pool.begin().await?;
        let target = membership_target(&mut tx, room, user, "from").await?;
        let done = sqlx::query("DELETE FROM memberships WHERE room_id = ? AND user_id = ?")
            .bind(room.0)
            .bind(user.0)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        append(&mut tx, by, AuditAction::MemberRemoved, &target, "").await?;
        tx.commit().await?;
        Ok(Some(user))
    }

    /// Makes `user` a member of `room` (a no-op if they are one): for a
    /// public room, the record that they opened it.
    pub async fn ensure_member(&self, room: RoomId, user: UserId) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        let added = insert_membership(&mut conn, room, user, now_ms()).await;
        match added {
            Err(e) if !e.is_unique_violation() => Err(e),
            _ => Ok(()),
        }
    }
}

/// "NAME to ROOM" / "NAME from ROOM": what an audit entry for a membership
/// change names.
async fn membership_target(tx: &mut sqlx::AnyConnection, room: RoomId, user: UserId, word: &str) -> Result<String> {
    let (name, room): (String, String) =
        sqlx::query_as("SELECT u.username, r.name FROM users u JOIN rooms r ON r.id = ? WHERE u.id = ?")
            .bind(room.0)
            .bind(user.0)
            .fetch_one(&mut *tx)
            .await?;
    Ok(format!("{name} {word} {room}"))
}

/// Inserts one membership row on `conn` (a transaction's, or a pooled one).
/// Its read marker starts at the room's end: opening a public room, or being
/// added to a private one, does not make its whole history unread.
pub(super) async fn insert_membership(
    conn: &mut sqlx::AnyConnection,
    room: RoomId,
    user: UserId,
    at: crate::protocol::Millis,
) -> Result<()> {
    let done = sqlx::query(
        "INSERT INTO memberships (room_id, user_id, added_at, read_seq, read_posted) \
         SELECT id, ?, ?, last_seq, posted FROM rooms WHERE id = ?",
    )
    .bind(user.0)
    .bind(at)
    .bind(room.0)
    .execute(conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(BackendError::RoomNotFound);
    }
    Ok(())
}
