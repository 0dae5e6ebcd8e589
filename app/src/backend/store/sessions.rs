//! Sessions as stored: only each token's SHA-256, its user, its expiry and
//! its last use.

use super::{Result, Store, placeholders};
use crate::backend::clock::now_ms;
use crate::protocol::{Me, Millis, UserId};
use sha2::{Digest, Sha256};
use sqlx::AssertSqlSafe;

/// A session token's SHA-256, the only form of it the store receives or
/// keeps: a leaked sessions table opens no session.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TokenHash(String);

impl TokenHash {
    pub fn of(token: &str) -> Self {
        Self(format!("{:x}", Sha256::digest(token.as_bytes())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A session's last use is written at most this often, so that busy
/// sessions do not write on every request.
const SEEN_EVERY_MS: Millis = 10 * 60 * 1000;

#[derive(sqlx::FromRow)]
struct SessionUserRow {
    id: i64,
    username: String,
    role: String,
    last_seen_at: i64,
}

#[derive(sqlx::FromRow)]
struct LiveSessionRow {
    token_hash: String,
    last_seen_at: i64,
}

impl Store {
    pub async fn create_session(&self, token_hash: &TokenHash, user: UserId, expires_at: Millis) -> Result<()> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, last_seen_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(token_hash.as_str())
        .bind(user.0)
        .bind(now)
        .bind(expires_at)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The user a live session belongs to; `None` for unknown tokens and for
    /// sessions past their absolute expiry or unused for `idle_ms`. Using a
    /// session keeps it alive; the write happens at most every `SEEN_EVERY_MS`
    /// so that busy sessions do not write on every request.
    pub async fn session_user(&self, token_hash: &TokenHash, idle_ms: Millis) -> Result<Option<Me>> {
        let now = now_ms();
        let row: Option<SessionUserRow> = sqlx::query_as(
            "SELECT u.id, u.username, u.role, s.last_seen_at FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = ? AND s.expires_at > ? AND s.last_seen_at > ? AND u.disabled_at IS NULL",
        )
        .bind(token_hash.as_str())
        .bind(now)
        .bind(now - idle_ms)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(r) = &row
            && r.last_seen_at < now - SEEN_EVERY_MS
        {
            sqlx::query("UPDATE sessions SET last_seen_at = ? WHERE token_hash = ?")
                .bind(now)
                .bind(token_hash.as_str())
                .execute(&self.pool)
                .await?;
        }
        Ok(row.map(|r| Me {
            id: UserId(r.id),
            username: r.username,
            role: super::admin::role_of(&r.role),
        }))
    }

    /// Which of `token_hashes` are live sessions ([`Store::session_user`]'s
    /// rules); using them keeps them alive, as a request would.
    pub async fn live_sessions(
        &self,
        token_hashes: &[TokenHash],
        idle_ms: Millis,
    ) -> Result<std::collections::HashSet<TokenHash>> {
        if token_hashes.is_empty() {
            return Ok(Default::default());
        }
        let now = now_ms();
        let sql = format!(
            "SELECT s.token_hash, s.last_seen_at FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash IN ({}) AND s.expires_at > ? AND s.last_seen_at > ? AND u.disabled_at IS NULL",
            placeholders(token_hashes.len())
        );
        let mut query = sqlx::query_as::<_, LiveSessionRow>(AssertSqlSafe(sql));
        for hash in token_hashes {
            query = query.bind(hash.as_str());
        }
        let rows = query.bind(now).bind(now - idle_ms).fetch_all(&self.pool).await?;
        let mut live = std::collections::HashSet::with_capacity(rows.len());
        let mut stale = Vec::new();
        for row in rows {
            if row.last_seen_at < now - SEEN_EVERY_MS {
                stale.push(row.token_hash.clone());
            }
            live.insert(TokenHash(row.token_hash));
        }
        if !stale.is_empty() {
            let sql = format!(
                "UPDATE sessions SET last_seen_at = ? WHERE token_hash IN ({})",
                placeholders(stale.len())
            );
            let mut query = sqlx::query(AssertSqlSafe(sql)).bind(now);
            for hash in &stale {
                query = query.bind(hash.as_str());
            }
            query.execute(&self.pool).await?;
        }
        Ok(live)
    }

    pub async fn delete_session(&self, token_hash: &TokenHash) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
            .bind(token_hash.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
