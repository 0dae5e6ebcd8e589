//! The audit trail as stored: one row per administrative or moderation
//! action, appended in the action's own transaction (so no action happens
//! without its entry) and never changed afterwards — this module has no
//! update or delete, and nothing else writes the table.

use super::{Result, Store};
use crate::backend::clock::now_ms;
use crate::protocol::{AuditAction, AuditEntry, AuditPage, Me, UserId};
use sqlx::AnyConnection;

/// Who performs an action, as its audit entry records them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// `None`: the server binary's command line.
    pub id: Option<UserId>,
    pub name: String,
    pub address: String,
}

impl Actor {
    pub const COMMAND_LINE: &str = "command line";

    /// Whoever runs the server binary's administrative commands.
    pub fn command_line() -> Self {
        Self {
            id: None,
            name: Self::COMMAND_LINE.into(),
            address: Self::COMMAND_LINE.into(),
        }
    }

    /// A signed-in person, from the request's address.
    pub fn person(me: &Me, address: String) -> Self {
        Self {
            id: Some(me.id),
            name: me.username.clone(),
            address,
        }
    }
}

/// Longest detail kept (characters); longer text is cut.
const DETAIL_MAX: usize = 500;

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: i64,
    at: i64,
    actor: String,
    action: String,
    target: String,
    detail: String,
    address: String,
}

/// Appends `action` by `by` on `target` to the log, inside `tx`.
pub(super) async fn append(
    tx: &mut AnyConnection,
    by: &Actor,
    action: AuditAction,
    target: &str,
    detail: &str,
) -> Result<()> {
    let detail: String = detail.chars().take(DETAIL_MAX).collect();
    let address: String = by.address.chars().take(64).collect();
    sqlx::query(
        "INSERT INTO audit_log (at, actor_id, actor, action, target, detail, address) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(now_ms())
    .bind(by.id.map(|id| id.0))
    .bind(by.name.as_str())
    .bind(action.as_str())
    .bind(target)
    .bind(detail)
    .bind(address)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

impl Store {
    /// Records `action` on its own, for an action whose effects are written
    /// elsewhere (removing someone's messages goes through the room logs):
    /// recorded before it starts, so even one cut short is in the log.
    pub async fn record(&self, by: &Actor, action: AuditAction, target: &str, detail: &str) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        append(&mut conn, by, action, target, detail).await
    }

    /// Up to `limit` entries older than `before` (all when `None`), newest
    /// first, of one `action` or of all.
    pub async fn audit_page(&self, before: Option<i64>, action: Option<AuditAction>, limit: u32) -> Result<AuditPage> {
        let before = before.unwrap_or(i64::MAX);
        let limit = i64::from(limit.clamp(1, 200));
        // One more than asked tells whether there is an older page.
        let rows: Vec<AuditRow> = match action {
            Some(action) => {
                sqlx::query_as(
                    "SELECT id, at, actor, action, target, detail, address FROM audit_log \
                     WHERE action = ? AND id < ? ORDER BY id DESC LIMIT ?",
                )
                .bind(action.as_str())
                .bind(before)
                .bind(limit + 1)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query_as(
                    "SELECT id, at, actor, action, target, detail, address FROM audit_log \
                     WHERE id < ? ORDER BY id DESC LIMIT ?",
                )
                .bind(before)
                .bind(limit + 1)
                .fetch_all(&self.pool)
                .await?
            }
        };
        let more = rows.len() as i64 > limit;
        let entries: Vec<AuditEntry> = rows
            .into_iter()
            .take(limit as usize)
            .map(|r| AuditEntry {
                id: r.id,
                at: r.at,
                actor: r.actor,
                action: r.action,
                target: r.target,
                detail: r.detail,
                address: r.address,
            })
            .collect();
        let older = if more { entries.last().map(|e| e.id) } else { None };
        Ok(AuditPage { entries, older })
    }
}
