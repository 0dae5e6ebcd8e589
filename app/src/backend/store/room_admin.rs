//! Rooms as administrators manage them: listed with how busy they are, and
//! renamed, given a topic or an owner, archived or deleted, each written
//! with its audit entry in one transaction. Only metadata is ever read here:
//! no message of any room leaves this module.

use super::admin::like_escaped;
use super::audit::{Actor, append};
use super::memberships::insert_membership;
use super::{Result, Store};
use crate::backend::clock::now_ms;
use crate::backend::error::{BackendError, Refusal, Taken};
use crate::backend::events::EventKind;
use crate::protocol::{AdminRoom, AuditAction, RoomId, RoomKind};
use crate::validate::{Invalid, RoomName, Topic, UserKey};
use sqlx::{AnyConnection, AssertSqlSafe};

#[derive(sqlx::FromRow)]
struct AdminRoomRow {
    id: i64,
    name: String,
    topic: String,
    is_private: i64,
    is_direct: i64,
    owner: String,
    created_at: i64,
    last_message_at: Option<i64>,
    archived_at: Option<i64>,
    members: i64,
    messages: i64,
}

/// A room as an action finds it, locked until the action commits.
#[derive(sqlx::FromRow)]
struct Locked {
    name: String,
    topic: String,
    is_private: i64,
    is_direct: i64,
    owner: String,
    archived_at: Option<i64>,
}

/// What [`Store::update_room`] sets.
pub struct RoomChange<'a> {
    pub name: &'a RoomName,
    pub topic: &'a Topic,
    pub owner: &'a UserKey,
}

/// Reads `room` in `tx`, its row locked until the action commits (see
/// [`super::changes::lock_room`]); `RoomNotFound` if there is none.
async fn lock_room(tx: &mut AnyConnection, sqlite: bool, room: RoomId) -> Result<Locked> {
    super::changes::lock_room(tx, room, sqlite).await?;
    sqlx::query_as(
        "SELECT r.name, r.topic, r.is_private, r.is_direct, u.username AS owner, r.archived_at \
         FROM rooms r JOIN users u ON u.id = r.created_by WHERE r.id = ?",
    )
    .bind(room.0)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(BackendError::RoomNotFound)
}

impl Store {
    /// Rooms whose name contains `search` (case-insensitively), most recently
    /// active first, archived ones included, at most `limit`.
    pub async fn admin_rooms(&self, search: &str, limit: u32) -> Result<Vec<AdminRoom>> {
        let pattern = format!("%{}%", like_escaped(&search.to_lowercase()));
        let rows: Vec<AdminRoomRow> = sqlx::query_as(
            "SELECT r.id, r.name, r.topic, r.is_private, r.is_direct, u.username AS owner, r.created_at, \
             r.last_message_at, r.archived_at, \
             (SELECT COUNT(*) FROM memberships m WHERE m.room_id = r.id) AS members, \
             (SELECT COUNT(*) FROM room_events e WHERE e.room_id = r.id AND e.kind = ? AND e.deleted_at IS NULL) \
             AS messages \
             FROM rooms r JOIN users u ON u.id = r.created_by \
             WHERE LOWER(r.name) LIKE ? ESCAPE '!' \
             ORDER BY COALESCE(r.last_message_at, r.created_at) DESC, r.id DESC LIMIT ?",
        )
        .bind(EventKind::Posted.code())
        .bind(pattern)
        .bind(i64::from(limit.clamp(1, 500)))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| AdminRoom {
                id: RoomId(r.id),
                name: r.name,
                topic: r.topic,
                kind: match (r.is_direct != 0, r.is_private != 0) {
                    (true, _) => RoomKind::Direct,
                    (false, true) => RoomKind::Private,
                    (false, false) => RoomKind::Public,
                },
                owner: r.owner,
                members: u64::try_from(r.members).unwrap_or(0),
                messages: u64::try_from(r.messages).unwrap_or(0),
                created_at: r.created_at,
                last_activity: r.last_message_at,
                archived: r.archived_at.is_some(),
            })
            .collect())
    }

    /// Renames `room`, sets its topic and gives it to the person called
    /// `change.owner` (who becomes a member of a private room). `RoomNotFound`
    /// if there is no such room; a direct conversation is refused. Returns
    /// the room's name before the change.
    pub async fn update_room(&self, room: RoomId, change: &RoomChange<'_>, by: &Actor) -> Result<String> {
        let mut tx = self.pool.begin().await?;
        let was = lock_room(&mut tx, self.is_sqlite, room).await?;
        if was.is_direct != 0 {
            return Err(BackendError::Forbidden(Refusal::DirectUnchangeable));
        }
        let owner: Option<(i64, String)> = sqlx::query_as("SELECT id, username FROM users WHERE username_key = ?")
            .bind(change.owner.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        let (owner_id, owner_name) = owner.ok_or(BackendError::UserNotFound)?;
        let private = was.is_private != 0;
        // A private room's name is unique among its owner's (see
        // migrations/*/0007_private_names_scoped.sql).
        let key = if private {
            format!("\u{2}{owner_id}:{}", change.name.key())
        } else {
            change.name.key()
        };
        let updated = sqlx::query("UPDATE rooms SET name = ?, name_key = ?, topic = ?, created_by = ? WHERE id = ?")
            .bind(change.name.as_str())
            .bind(&key)
            .bind(change.topic.as_str())
            .bind(owner_id)
            .bind(room.0)
            .execute(&mut *tx)
            .await
            .map_err(BackendError::from);
        match updated {
            Err(e) if e.is_unique_violation() => return Err(BackendError::NameTaken(Taken::RoomName)),
            other => other?,
        };
        if private {
            let member: Option<i64> =
                sqlx::query_scalar("SELECT user_id FROM memberships WHERE room_id = ? AND user_id = ?")
                    .bind(room.0)
                    .bind(owner_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if member.is_none() {
                insert_membership(&mut tx, room, crate::protocol::UserId(owner_id), now_ms()).await?;
            }
        }
        let mut changes = Vec::new();
        if was.name != change.name.as_str() {
            changes.push(format!("renamed to {}", change.name.as_str()));
        }
        if was.topic != change.topic.as_str() {
            changes.push(format!("topic: {}", change.topic.as_str()));
        }
        if was.owner != owner_name {
            changes.push(format!("owner: {} → {owner_name}", was.owner));
        }
        if !changes.is_empty() {
            append(&mut tx, by, AuditAction::RoomChanged, &was.name, &changes.join("; ")).await?;
        }
        tx.commit().await?;
        Ok(was.name)
    }

    /// Archives `room` (read-only, left out of the room list) or restores
    /// it. `RoomNotFound` if there is none. Returns its name.
    pub async fn set_room_archived(&self, room: RoomId, archived: bool, by: &Actor) -> Result<String> {
        let mut tx = self.pool.begin().await?;
        let was = lock_room(&mut tx, self.is_sqlite, room).await?;
        if was.archived_at.is_some() == archived {
            // Already so (another administrator was quicker): nothing to record.
            return Ok(was.name);
        }
        sqlx::query("UPDATE rooms SET archived_at = ? WHERE id = ?")
            .bind(archived.then(now_ms))
            .bind(room.0)
            .execute(&mut *tx)
            .await?;
        let action = if archived {
            AuditAction::RoomArchived
        } else {
            AuditAction::RoomRestored
        };
        append(&mut tx, by, action, &was.name, "").await?;
        tx.commit().await?;
        Ok(was.name)
    }

    /// Deletes `room` with everything in it: messages, their versions and
    /// reactions, reports of them, memberships and its files' records (the files' bytes go
    /// with the next sweep, once nothing refers to them). `confirmation`
    /// must be the room's name, as written. `RoomNotFound` if there is none.
    ///
    /// One transaction: a room is there, or wholly gone. A send racing the
    /// deletion waits for the room's row and then finds no room.
    pub async fn delete_room(&self, room: RoomId, confirmation: &str, by: &Actor) -> Result<String> {
        let mut tx = self.pool.begin().await?;
        let was = lock_room(&mut tx, self.is_sqlite, room).await?;
        if confirmation.trim() != was.name {
            return Err(BackendError::Invalid(Invalid(
                "To delete the room, type its name exactly as it is written.".into(),
            )));
        }
        let events = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM room_events WHERE room_id = ? AND kind = ?")
            .bind(room.0)
            .bind(EventKind::Posted.code())
            .fetch_one(&mut *tx)
            .await?;
        // Rows kept by message. MariaDB runs `IN (SELECT …)` in a DELETE as
        // a dependent subquery over the whole table (every room's rows read
        // and locked); its join form starts from this room's messages.
        for table in [
            "search_postings",
            "search_texts",
            "message_reactions",
            "message_versions",
        ] {
            let sql = if self.is_sqlite {
                format!("DELETE FROM {table} WHERE message_id IN (SELECT id FROM room_events WHERE room_id = ?)")
            } else {
                format!("DELETE t FROM room_events e JOIN {table} t ON t.message_id = e.id WHERE e.room_id = ?")
            };
            sqlx::query(AssertSqlSafe(sql)).bind(room.0).execute(&mut *tx).await?;
        }
        for sql in [
            "DELETE FROM uploads WHERE room_id = ?",
            "DELETE FROM reports WHERE room_id = ?",
            "DELETE FROM mentions WHERE room_id = ?",
            "DELETE FROM room_deletions WHERE room_id = ?",
            "DELETE FROM room_events WHERE room_id = ?",
            "DELETE FROM memberships WHERE room_id = ?",
            "DELETE FROM rooms WHERE id = ?",
        ] {
            sqlx::query(sql).bind(room.0).execute(&mut *tx).await?;
        }
        let detail = match events {
            1 => "with 1 message".to_string(),
            n => format!("with {n} messages"),
        };
        append(&mut tx, by, AuditAction::RoomDeleted, &was.name, &detail).await?;
        tx.commit().await?;
        Ok(was.name)
    }
}
