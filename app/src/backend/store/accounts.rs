//! Accounts as stored: a user's name, password hash and whether an
//! administrator disabled them.

use super::{Result, Store};
use crate::backend::clock::now_ms;
use crate::backend::error::{BackendError, Taken};
use crate::protocol::{Me, UserId};
use crate::validate::{UserKey, Username};

/// A user with the hash to check a login against.
pub struct Credentials {
    pub me: Me,
    pub password_hash: String,
    /// An administrator disabled the account: no session may start.
    pub disabled: bool,
}

#[derive(sqlx::FromRow)]
struct CredentialsRow {
    id: i64,
    username: String,
    password_hash: String,
    disabled_at: Option<i64>,
}

/// A user's id and display name.
#[derive(sqlx::FromRow)]
pub(super) struct UserRow {
    pub id: i64,
    pub username: String,
}

impl From<UserRow> for Me {
    fn from(row: UserRow) -> Me {
        Me {
            id: UserId(row.id),
            username: row.username,
        }
    }
}

impl Store {
    /// Creates a user; `Conflict` if the name is taken (case-insensitively).
    pub async fn create_user(&self, username: &Username, password_hash: &str) -> Result<Me> {
        let key = username.key();
        let result =
            sqlx::query("INSERT INTO users (username, username_key, password_hash, created_at) VALUES (?, ?, ?, ?)")
                .bind(username.as_str())
                .bind(key.as_str())
                .bind(password_hash)
                .bind(now_ms())
                .execute(&self.pool)
                .await
                .map_err(BackendError::from);
        match result {
            Ok(done) => {
                let id = match done.last_insert_id() {
                    Some(id) => UserId(id),
                    None => self.user_id(&key).await?.ok_or(BackendError::UserNotFound)?,
                };
                Ok(Me {
                    id,
                    username: username.as_str().to_owned(),
                })
            }
            Err(e) if e.is_unique_violation() => Err(BackendError::NameTaken(Taken::Username)),
            Err(e) => Err(e),
        }
    }

    /// The id of the user called `key`, if there is one.
    pub(super) async fn user_id(&self, key: &UserKey) -> Result<Option<UserId>> {
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE username_key = ?")
            .bind(key.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(id.map(UserId))
    }

    pub async fn credentials(&self, key: &UserKey) -> Result<Option<Credentials>> {
        let row: Option<CredentialsRow> =
            sqlx::query_as("SELECT id, username, password_hash, disabled_at FROM users WHERE username_key = ?")
                .bind(key.as_str())
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|r| Credentials {
            me: Me {
                id: UserId(r.id),
                username: r.username,
            },
            password_hash: r.password_hash,
            disabled: r.disabled_at.is_some(),
        }))
    }

    /// Disables (or re-enables) the account called `key`; disabling also
    /// deletes its sessions, so every open socket of it closes at its next
    /// session re-check. `None` if there is no such user.
    pub async fn set_disabled(&self, key: &UserKey, disabled: bool) -> Result<Option<UserId>> {
        let mut tx = self.pool.begin().await?;
        let user: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE username_key = ?")
            .bind(key.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        let Some(user) = user else { return Ok(None) };
        sqlx::query("UPDATE users SET disabled_at = ? WHERE id = ?")
            .bind(disabled.then(now_ms))
            .bind(user)
            .execute(&mut *tx)
            .await?;
        if disabled {
            sqlx::query("DELETE FROM sessions WHERE user_id = ?")
                .bind(user)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Some(UserId(user)))
    }
}
