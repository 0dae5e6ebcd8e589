//! Who may sign up, as stored: the site's settings (its name and sign-up
//! policy) and invitation links. Changes are written with their audit
//! entries; an invitation is used up in the same transaction as the account
//! it creates, so a link for one person makes one account, however many
//! times it is submitted at once.

use super::audit::{Actor, append};
use super::sessions::TokenHash;
use super::{Result, Store};
use crate::backend::clock::now_ms;
use crate::backend::error::{BackendError, Refusal};
use crate::protocol::{AuditAction, Invitation, Millis, SignupPolicy, SiteSettings};
use sqlx::AnyConnection;

const SITE_NAME: &str = "site_name";
const SIGNUPS: &str = "signups";

#[derive(sqlx::FromRow)]
struct InvitationRow {
    id: i64,
    created_by: String,
    created_at: i64,
    expires_at: i64,
    uses_left: i64,
    used: i64,
    revoked_at: Option<i64>,
}

async fn put(tx: &mut AnyConnection, name: &str, value: &str) -> Result<()> {
    // Delete-then-insert: one statement text for both databases (no upsert
    // syntax they share), inside the caller's transaction.
    sqlx::query("DELETE FROM site_settings WHERE name = ?")
        .bind(name)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO site_settings (name, value) VALUES (?, ?)")
        .bind(name)
        .bind(value)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

impl Store {
    /// The site's settings; defaults for any never set.
    pub async fn settings(&self) -> Result<SiteSettings> {
        let rows: Vec<(String, String)> = sqlx::query_as("SELECT name, value FROM site_settings")
            .fetch_all(&self.pool)
            .await?;
        let mut settings = SiteSettings::default();
        for (name, value) in rows {
            match name.as_str() {
                SITE_NAME => settings.site_name = value,
                SIGNUPS => settings.signups = SignupPolicy::parse(&value).unwrap_or_default(),
                _ => {}
            }
        }
        Ok(settings)
    }

    /// Saves `new` (validated by the caller), with an audit entry saying what changed.
    pub async fn save_settings(&self, new: &SiteSettings, by: &Actor) -> Result<()> {
        let old = self.settings().await?;
        let mut changes = Vec::new();
        if old.site_name != new.site_name {
            changes.push(format!("site name: {:?} → {:?}", old.site_name, new.site_name));
        }
        if old.signups != new.signups {
            changes.push(format!("sign-ups: {} → {}", old.signups.label(), new.signups.label()));
        }
        if changes.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        put(&mut tx, SITE_NAME, &new.site_name).await?;
        put(&mut tx, SIGNUPS, new.signups.as_str()).await?;
        append(&mut tx, by, AuditAction::SettingsChanged, "site", &changes.join("; ")).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records an invitation whose link carries the token hashed as
    /// `token`: good for `uses` sign-ups until `expires_at`.
    pub async fn create_invitation(&self, token: &TokenHash, expires_at: Millis, uses: i64, by: &Actor) -> Result<i64> {
        let creator = by.id.ok_or(BackendError::UserNotFound)?;
        let mut tx = self.pool.begin().await?;
        let now = now_ms();
        sqlx::query(
            "INSERT INTO invitations (token_hash, created_by, created_at, expires_at, uses_left, used) \
             VALUES (?, ?, ?, ?, ?, 0)",
        )
        .bind(token.as_str())
        .bind(creator.0)
        .bind(now)
        .bind(expires_at)
        .bind(uses)
        .execute(&mut *tx)
        .await?;
        let id: i64 = sqlx::query_scalar("SELECT id FROM invitations WHERE token_hash = ?")
            .bind(token.as_str())
            .fetch_one(&mut *tx)
            .await?;
        let hours = (expires_at - now + 1_800_000) / 3_600_000;
        let detail = format!("{uses} sign-up(s), for {hours} h");
        append(
            &mut tx,
            by,
            AuditAction::InvitationCreated,
            &format!("invitation {id}"),
            &detail,
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Every invitation, newest first, at most `limit`.
    pub async fn invitations(&self, limit: u32) -> Result<Vec<Invitation>> {
        let rows: Vec<InvitationRow> = sqlx::query_as(
            "SELECT i.id, COALESCE(u.username, '?') AS created_by, i.created_at, i.expires_at, \
             i.uses_left, i.used, i.revoked_at \
             FROM invitations i LEFT JOIN users u ON u.id = i.created_by ORDER BY i.id DESC LIMIT ?",
        )
        .bind(i64::from(limit.clamp(1, 500)))
        .fetch_all(&self.pool)
        .await?;
        let now = now_ms();
        Ok(rows
            .into_iter()
            .map(|r| Invitation {
                expired: r.expires_at <= now,
                id: r.id,
                created_by: r.created_by,
                created_at: r.created_at,
                expires_at: r.expires_at,
                uses_left: r.uses_left,
                used: r.used,
                revoked: r.revoked_at.is_some(),
            })
            .collect())
    }

    /// Withdraws invitation `id`: its link signs nobody up any more.
    /// `false` if there is no such invitation.
    pub async fn revoke_invitation(&self, id: i64, by: &Actor) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("UPDATE invitations SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
            .bind(now_ms())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        append(
            &mut tx,
            by,
            AuditAction::InvitationRevoked,
            &format!("invitation {id}"),
            "",
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// Takes one use of the invitation whose token hashes to `token`, inside
/// the sign-up's transaction; refused (the same way whatever the reason, so
/// nothing is learnt about other links) unless it is live and has a use left.
pub(super) async fn use_invitation(tx: &mut AnyConnection, token: &TokenHash) -> Result<()> {
    let taken = sqlx::query(
        "UPDATE invitations SET uses_left = uses_left - 1, used = used + 1 \
         WHERE token_hash = ? AND uses_left > 0 AND expires_at > ? AND revoked_at IS NULL",
    )
    .bind(token.as_str())
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    if taken.rows_affected() == 1 {
        Ok(())
    } else {
        Err(BackendError::Forbidden(Refusal::InvitationNotValid))
    }
}
