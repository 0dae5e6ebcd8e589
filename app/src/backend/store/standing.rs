//! A person's standing in one room beyond everyone's, kept on their
//! membership row: appointed moderator, banned from a public room, muted
//! until a time. Each change is written with its audit entry in one
//! transaction.

use super::audit::{Actor, append};
use super::memberships::insert_membership;
use super::rooms::{RoomRecord, RoomRow, room_columns};
use super::{Result, Store};
use crate::backend::clock::now_ms;
use crate::backend::error::BackendError;
use crate::protocol::{AuditAction, Millis, RoomId, UserId};
use crate::validate::UserKey;

/// What a person's membership row says beyond "member".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Standing {
    /// Appointed by the room's owner: may remove any message, mute and ban.
    pub moderator: bool,
    /// Kept out of the (public) room until lifted.
    pub banned: bool,
    /// Their sends are refused until then.
    pub muted_until: Option<Millis>,
}

impl Standing {
    fn of(role: &str, banned_at: Option<i64>, muted_until: Option<i64>) -> Standing {
        Standing {
            moderator: role == "moderator",
            banned: banned_at.is_some(),
            muted_until,
        }
    }

    /// Muted at `now`: until when.
    pub fn muted_at(&self, now: Millis) -> Option<Millis> {
        self.muted_until.filter(|until| *until > now)
    }
}

/// One change to someone's standing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StandingChange {
    Moderator(bool),
    Banned(bool),
    /// `None` lifts a mute.
    MutedUntil(Option<Millis>),
}

#[derive(sqlx::FromRow)]
struct RoomWithStanding {
    #[sqlx(flatten)]
    room: RoomRecord,
    role: Option<String>,
    banned_at: Option<i64>,
    muted_until: Option<i64>,
}

/// A person and their membership's standing columns (`None` without a membership row).
#[derive(sqlx::FromRow)]
struct StandingRow {
    user_id: i64,
    username: String,
    role: Option<String>,
    banned_at: Option<i64>,
    muted_until: Option<i64>,
}

impl StandingRow {
    fn into_parts(self) -> (UserId, String, Standing) {
        let standing = Standing::of(
            self.role.as_deref().unwrap_or("member"),
            self.banned_at,
            self.muted_until,
        );
        (UserId(self.user_id), self.username, standing)
    }
}

impl Store {
    /// The room, if it exists and `user` may see it (public, or private with
    /// them a member), with their standing in it: one query, asked on every
    /// frame of a private room.
    pub async fn room_for(&self, room: RoomId, user: UserId) -> Result<Option<(RoomRow, Standing)>> {
        let row: Option<RoomWithStanding> = sqlx::query_as(concat!(
            "SELECT ",
            room_columns!(),
            ", m.role, m.banned_at, m.muted_until FROM rooms r ",
            "LEFT JOIN memberships m ON m.room_id = r.id AND m.user_id = ? ",
            "WHERE r.id = ? AND (r.is_private = 0 OR m.user_id IS NOT NULL)"
        ))
        .bind(user.0)
        .bind(room.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| {
            let standing = Standing::of(r.role.as_deref().unwrap_or("member"), r.banned_at, r.muted_until);
            (RoomRow::from(r.room), standing)
        }))
    }

    /// Everyone in `room` whose standing is not a plain member's, by name.
    pub async fn standings(&self, room: RoomId) -> Result<Vec<(UserId, String, Standing)>> {
        let rows: Vec<StandingRow> = sqlx::query_as(
            "SELECT m.user_id, u.username, m.role, m.banned_at, m.muted_until FROM memberships m \
             JOIN users u ON u.id = m.user_id \
             WHERE m.room_id = ? AND (m.role <> 'member' OR m.banned_at IS NOT NULL OR m.muted_until IS NOT NULL) \
             ORDER BY u.username_key",
        )
        .bind(room.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(StandingRow::into_parts).collect())
    }

    /// The standing of the person called `key` in `room`, if they exist.
    pub async fn standing_of(&self, room: RoomId, key: &UserKey) -> Result<Option<(UserId, String, Standing)>> {
        let row: Option<StandingRow> = sqlx::query_as(
            "SELECT u.id AS user_id, u.username, m.role, m.banned_at, m.muted_until FROM users u \
             LEFT JOIN memberships m ON m.user_id = u.id AND m.room_id = ? WHERE u.username_key = ?",
        )
        .bind(room.0)
        .bind(key.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(StandingRow::into_parts))
    }

    /// Changes `user`'s standing in `room` (named `room_name`, `user` named
    /// `name`, for the audit entry), giving them a membership row first if
    /// they have none (a public room they never opened).
    pub async fn set_standing(
        &self,
        room: (RoomId, &str),
        user: (UserId, &str),
        change: StandingChange,
        by: &Actor,
    ) -> Result<()> {
        let ((room, room_name), (user, name)) = (room, user);
        let mut tx = self.pool.begin().await?;
        let has_row: Option<i64> =
            sqlx::query_scalar("SELECT user_id FROM memberships WHERE room_id = ? AND user_id = ?")
                .bind(room.0)
                .bind(user.0)
                .fetch_optional(&mut *tx)
                .await?;
        if has_row.is_none() {
            insert_membership(&mut tx, room, user, now_ms()).await?;
        }
        let (sql, action, detail) = match change {
            StandingChange::Moderator(on) => (
                "UPDATE memberships SET role = ? WHERE room_id = ? AND user_id = ?",
                if on {
                    AuditAction::ModeratorAppointed
                } else {
                    AuditAction::ModeratorRemoved
                },
                String::new(),
            ),
            StandingChange::Banned(on) => (
                "UPDATE memberships SET banned_at = ? WHERE room_id = ? AND user_id = ?",
                if on {
                    AuditAction::MemberBanned
                } else {
                    AuditAction::MemberUnbanned
                },
                String::new(),
            ),
            StandingChange::MutedUntil(until) => (
                "UPDATE memberships SET muted_until = ? WHERE room_id = ? AND user_id = ?",
                if until.is_some() {
                    AuditAction::MemberMuted
                } else {
                    AuditAction::MemberUnmuted
                },
                until
                    .map(|ms| format!("until {}", crate::time::iso(ms)))
                    .unwrap_or_default(),
            ),
        };
        let query = sqlx::query(sql);
        let query = match change {
            StandingChange::Moderator(on) => query.bind(if on { "moderator" } else { "member" }),
            StandingChange::Banned(on) => query.bind(on.then(now_ms)),
            StandingChange::MutedUntil(until) => query.bind(until),
        };
        query.bind(room.0).bind(user.0).execute(&mut *tx).await?;
        append(&mut tx, by, action, &format!("{name} in {room_name}"), &detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The site role of `user` as stored now (a socket's copy may be older).
    pub async fn site_role(&self, user: UserId) -> Result<crate::protocol::SiteRole> {
        let role: Option<String> = sqlx::query_scalar("SELECT role FROM users WHERE id = ?")
            .bind(user.0)
            .fetch_optional(&self.pool)
            .await?;
        let role = role.ok_or(BackendError::Unauthorized)?;
        Ok(super::admin::role_of(&role))
    }
}
