//! Accounts as stored: a user's name, password hash and whether an
//! administrator disabled them.

use super::{Result, Store};
use crate::backend::clock::now_ms;
use crate::backend::error::{BackendError, Taken};
use crate::protocol::{Me, SiteRole, UserId};
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
    role: String,
}

/// A user's id and display name.
#[derive(sqlx::FromRow)]
pub(super) struct UserRow {
    pub id: i64,
    pub username: String,
    pub role: String,
}

impl From<UserRow> for Me {
    fn from(row: UserRow) -> Me {
        Me {
            id: UserId(row.id),
            username: row.username,
            role: super::admin::role_of(&row.role),
        }
    }
}

impl Store {
    /// Creates a user; `Conflict` if the name is taken (case-insensitively).
    pub async fn create_user(&self, username: &Username, password_hash: &str) -> Result<Me> {
        self.create_user_invited(username, password_hash, None).await
    }

    /// Creates a user, taking one use of the invitation whose token hashes
    /// to `invitation` in the same transaction (refused, with nothing
    /// created, if it is not live); `Conflict` if the name is taken.
    pub async fn create_user_invited(
        &self,
        username: &Username,
        password_hash: &str,
        invitation: Option<&super::TokenHash>,
    ) -> Result<Me> {
        let key = username.key();
        let mut tx = self.pool.begin().await?;
        if let Some(token) = invitation {
            super::signups::use_invitation(&mut tx, token).await?;
        }
        let result =
            sqlx::query("INSERT INTO users (username, username_key, password_hash, created_at) VALUES (?, ?, ?, ?)")
                .bind(username.as_str())
                .bind(key.as_str())
                .bind(password_hash)
                .bind(now_ms())
                .execute(&mut *tx)
                .await
                .map_err(BackendError::from);
        let done = match result {
            Ok(done) => done,
            Err(e) if e.is_unique_violation() => return Err(BackendError::NameTaken(Taken::Username)),
            Err(e) => return Err(e),
        };
        let id = match done.last_insert_id() {
            Some(id) => id,
            None => {
                sqlx::query_scalar("SELECT id FROM users WHERE username_key = ?")
                    .bind(key.as_str())
                    .fetch_one(&mut *tx)
                    .await?
            }
        };
        tx.commit().await?;
        Ok(Me {
            id: UserId(id),
            username: username.as_str().to_owned(),
            role: SiteRole::Member,
        })
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
            sqlx::query_as("SELECT id, username, password_hash, disabled_at, role FROM users WHERE username_key = ?")
                .bind(key.as_str())
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|r| Credentials {
            me: Me {
                id: UserId(r.id),
                username: r.username,
                role: super::admin::role_of(&r.role),
            },
            password_hash: r.password_hash,
            disabled: r.disabled_at.is_some(),
        }))
    }
}
