//! Account administration as stored: roles, disabling and ending sessions,
//! each written with its audit entry in one transaction. The last
//! administrator who can log in is never demoted or disabled: every change
//! that could remove one first locks the administrators' rows, so two
//! administrators demoting each other at once cannot both succeed.

use super::audit::{Actor, append};
use super::{Result, Store};
use crate::backend::clock::now_ms;
use crate::backend::error::{BackendError, Refusal};
use crate::protocol::{AuditAction, Person, SiteRole, UserId};
use crate::validate::UserKey;
use sqlx::AnyConnection;

#[derive(sqlx::FromRow)]
struct PersonRow {
    id: i64,
    username: String,
    role: String,
    created_at: i64,
    disabled_at: Option<i64>,
    last_seen_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct TargetRow {
    id: i64,
    username: String,
    role: String,
    disabled_at: Option<i64>,
}

/// A stored role; anything unknown counts as the least.
pub(super) fn role_of(stored: &str) -> SiteRole {
    SiteRole::parse(stored).unwrap_or_default()
}

/// Escapes `text` for a `LIKE … ESCAPE '!'` pattern.
pub(super) fn like_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '!' | '%' | '_') {
            out.push('!');
        }
        out.push(c);
    }
    out
}

/// The person an action is about, read inside `tx` after
/// [`lock_administrators`].
async fn target(tx: &mut AnyConnection, key: &UserKey) -> Result<Option<TargetRow>> {
    Ok(
        sqlx::query_as("SELECT id, username, role, disabled_at FROM users WHERE username_key = ?")
            .bind(key.as_str())
            .fetch_optional(&mut *tx)
            .await?,
    )
}

/// Locks the rows of the administrators who can log in, and returns how
/// many there are. SQLite has no `FOR UPDATE`: a no-op write takes its
/// database-wide write lock first (see `Store::commit_batch`).
async fn lock_administrators(tx: &mut AnyConnection, sqlite: bool) -> Result<usize> {
    if sqlite {
        sqlx::query("UPDATE users SET role = role WHERE role = 'admin'")
            .execute(&mut *tx)
            .await?;
    }
    let sql = if sqlite {
        "SELECT id FROM users WHERE role = 'admin' AND disabled_at IS NULL"
    } else {
        "SELECT id FROM users WHERE role = 'admin' AND disabled_at IS NULL FOR UPDATE"
    };
    let admins: Vec<i64> = sqlx::query_scalar(sql).fetch_all(&mut *tx).await?;
    Ok(admins.len())
}

impl Store {
    /// The person called `key`: their id and name as written.
    pub async fn person(&self, key: &UserKey) -> Result<Option<(UserId, String)>> {
        let row: Option<(i64, String)> = sqlx::query_as("SELECT id, username FROM users WHERE username_key = ?")
            .bind(key.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|(id, name)| (UserId(id), name)))
    }

    /// Up to `limit` of `user`'s messages not yet deleted, oldest first, with their rooms.
    pub async fn live_messages_by(&self, user: UserId, limit: u32) -> Result<Vec<(crate::protocol::RoomId, i64)>> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT room_id, id FROM room_events WHERE author_id = ? AND kind = ? AND deleted_at IS NULL \
             ORDER BY id LIMIT ?",
        )
        .bind(user.0)
        .bind(crate::backend::events::EventKind::Posted.code())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(room, id)| (crate::protocol::RoomId(room), id))
            .collect())
    }

    /// People whose name contains `search` (case-insensitively), by name, at most `limit`.
    pub async fn people(&self, search: &str, limit: u32) -> Result<Vec<Person>> {
        let pattern = format!("%{}%", like_escaped(UserKey::of(search).as_str()));
        let rows: Vec<PersonRow> = sqlx::query_as(
            "SELECT u.id, u.username, u.role, u.created_at, u.disabled_at, \
             (SELECT MAX(s.last_seen_at) FROM sessions s WHERE s.user_id = u.id) AS last_seen_at \
             FROM users u WHERE u.username_key LIKE ? ESCAPE '!' ORDER BY u.username_key LIMIT ?",
        )
        .bind(pattern)
        .bind(i64::from(limit.clamp(1, 500)))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| Person {
                id: UserId(r.id),
                username: r.username,
                role: role_of(&r.role),
                created_at: r.created_at,
                last_seen_at: r.last_seen_at,
                disabled: r.disabled_at.is_some(),
            })
            .collect())
    }

    /// Gives the person called `key` the site role `role`. `None` if there
    /// is no such person; refused if they are the last administrator.
    pub async fn set_role(&self, key: &UserKey, role: SiteRole, by: &Actor) -> Result<Option<(UserId, SiteRole)>> {
        let mut tx = self.pool.begin().await?;
        let admins = lock_administrators(&mut tx, self.is_sqlite).await?;
        let Some(person) = target(&mut tx, key).await? else {
            return Ok(None);
        };
        let was = role_of(&person.role);
        let an_active_admin = was == SiteRole::Admin && person.disabled_at.is_none();
        if an_active_admin && role != SiteRole::Admin && admins <= 1 {
            return Err(BackendError::Forbidden(Refusal::LastAdministrator));
        }
        sqlx::query("UPDATE users SET role = ? WHERE id = ?")
            .bind(role.as_str())
            .bind(person.id)
            .execute(&mut *tx)
            .await?;
        let detail = format!("{} → {}", was.label(), role.label());
        append(&mut tx, by, AuditAction::RoleChanged, &person.username, &detail).await?;
        tx.commit().await?;
        Ok(Some((UserId(person.id), was)))
    }

    /// Disables (or re-enables) the account called `key`; disabling also
    /// deletes its sessions, so every open socket of it closes. `None` if
    /// there is no such user; refused for the last administrator.
    pub async fn set_disabled(&self, key: &UserKey, disabled: bool, by: &Actor) -> Result<Option<UserId>> {
        let mut tx = self.pool.begin().await?;
        let admins = lock_administrators(&mut tx, self.is_sqlite).await?;
        let Some(person) = target(&mut tx, key).await? else {
            return Ok(None);
        };
        let an_active_admin = role_of(&person.role) == SiteRole::Admin && person.disabled_at.is_none();
        if disabled && an_active_admin && admins <= 1 {
            return Err(BackendError::Forbidden(Refusal::LastAdministrator));
        }
        sqlx::query("UPDATE users SET disabled_at = ? WHERE id = ?")
            .bind(disabled.then(now_ms))
            .bind(person.id)
            .execute(&mut *tx)
            .await?;
        let action = if disabled {
            sqlx::query("DELETE FROM sessions WHERE user_id = ?")
                .bind(person.id)
                .execute(&mut *tx)
                .await?;
            AuditAction::AccountDisabled
        } else {
            AuditAction::AccountEnabled
        };
        append(&mut tx, by, action, &person.username, "").await?;
        tx.commit().await?;
        Ok(Some(UserId(person.id)))
    }

    /// Deletes every session of the person called `key` (they log in again);
    /// returns how many there were, or `None` if there is no such person.
    pub async fn end_sessions(&self, key: &UserKey, by: &Actor) -> Result<Option<(UserId, u64)>> {
        let mut tx = self.pool.begin().await?;
        let person: Option<(i64, String)> = sqlx::query_as("SELECT id, username FROM users WHERE username_key = ?")
            .bind(key.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        let Some((id, username)) = person else {
            return Ok(None);
        };
        let ended = sqlx::query("DELETE FROM sessions WHERE user_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let detail = match ended {
            1 => "1 session".to_string(),
            n => format!("{n} sessions"),
        };
        append(&mut tx, by, AuditAction::SessionsEnded, &username, &detail).await?;
        tx.commit().await?;
        Ok(Some((UserId(id), ended)))
    }
}
