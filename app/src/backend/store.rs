//! Storage: users, sessions, rooms and messages, on MySQL/MariaDB or an
//! embedded SQLite file through sqlx's `Any` driver, so one set of queries
//! (with `?` placeholders, always bound — never formatted) serves both.

use super::error::BackendError;
use super::writer::NewMessage;
use crate::protocol::{ChatMessage, Me, Millis, RoomId, Seq, UserId};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, AssertSqlSafe, Row};
use std::collections::HashMap;

type Result<T> = std::result::Result<T, BackendError>;

static MYSQL_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/mysql");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// A room as stored.
#[derive(Clone, Debug)]
pub struct RoomRow {
    pub id: RoomId,
    pub name: String,
    pub topic: String,
    pub last_message_at: Option<Millis>,
    /// Sequence of the room's newest message (0 when empty).
    pub last_seq: Seq,
    /// Only members may see it.
    pub private: bool,
    /// Its creator, who manages the members of a private room.
    pub owner: UserId,
    /// A direct conversation: private, exactly two members, fixed.
    pub direct: bool,
}

/// A user with the hash to check a login against.
pub struct Credentials {
    pub me: Me,
    pub password_hash: String,
    /// An administrator disabled the account: no session may start.
    pub disabled: bool,
}

/// The outcome of posting a message.
#[derive(Clone, Debug)]
pub struct Posted {
    pub message: ChatMessage,
    /// False when the client id had been used before: `message` is the original.
    pub fresh: bool,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    is_sqlite: bool,
    /// `INSERT … RETURNING` works (SQLite, MariaDB; not MySQL): a batch gets
    /// its new ids from its inserts instead of reading them back.
    returning: bool,
    /// Rooms known to be public (see [`Store::may_see`]). A std lock: never held across `.await`.
    public_rooms: std::sync::Arc<std::sync::RwLock<std::collections::HashSet<i64>>>,
}

/// A session's last use is written at most this often, so that busy
/// sessions do not write on every request.
const SEEN_EVERY_MS: Millis = 10 * 60 * 1000;

/// Most rooms [`Store::may_see`] remembers as public.
const PUBLIC_ROOMS_REMEMBERED: usize = 1_000_000;

/// A pooled connection idle for less than this is used without a ping (see
/// [`Store::connect`]).
const TRUST_RECENTLY_PINGED: std::time::Duration = std::time::Duration::from_secs(1);

/// `SELECT` of [`ChatMessage`] columns followed by a fixed `WHERE …` clause.
/// A macro so every query stays a static string (sqlx refuses dynamic SQL).
macro_rules! select_messages {
    ($tail:literal) => {
        select_messages!("FROM messages m JOIN users u ", $tail)
    };
    ($from:literal, $tail:literal) => {
        concat!(
            "SELECT m.id, m.room_id, m.seq, u.username, m.body, m.created_at, m.client_id ",
            $from,
            "ON u.id = m.author_id ",
            $tail
        )
    };
}

/// MariaDB picks two bad plans for a keyset page if left to itself: it
/// prefers "all of the room, newest first" over the range `seq < ?` and walks
/// a million rows to reach a deep page (1.3 s instead of 16 ms at depth
/// 500,000), and when `users` is small it reads `users` first, or scans it
/// through a join buffer, and either way sorts the whole room (2.5 s per page
/// with one author). So: the range of the primary key (room_id, seq),
/// `messages` first, and one primary key lookup per row for its author.
/// (SQLite has no such hints and needs none.)
macro_rules! keyset_query {
    ($sqlite:expr, $tail:literal) => {
        if $sqlite {
            select_messages!($tail)
        } else {
            select_messages!(
                "FROM messages m FORCE INDEX (PRIMARY) STRAIGHT_JOIN users u FORCE INDEX (PRIMARY) ",
                $tail
            )
        }
    };
}

fn message_from_row(row: &AnyRow) -> std::result::Result<ChatMessage, sqlx::Error> {
    Ok(ChatMessage {
        id: row.try_get(0)?,
        room: RoomId(row.try_get(1)?),
        seq: row.try_get(2)?,
        author: row.try_get(3)?,
        body: row.try_get(4)?,
        created_at: row.try_get(5)?,
        client_id: row.try_get(6)?,
    })
}

fn room_from_row(row: &AnyRow) -> std::result::Result<RoomRow, sqlx::Error> {
    Ok(RoomRow {
        id: RoomId(row.try_get(0)?),
        name: row.try_get(1)?,
        topic: row.try_get(2)?,
        last_message_at: row.try_get(3)?,
        last_seq: row.try_get(4)?,
        private: row.try_get::<i64, _>(5)? != 0,
        owner: UserId(row.try_get(6)?),
        direct: row.try_get::<i64, _>(7)? != 0,
    })
}

/// `?, ?, …, ?` (`n` of them). Batch statements are built from this and fixed
/// text only, never from values: every value is bound.
fn placeholders(n: usize) -> String {
    let mut text = "?, ".repeat(n);
    text.truncate(text.len().saturating_sub(2));
    text
}

/// `items` padded to a power-of-two length by repeating the last one.
///
/// For the group commit's statements, whose text grows with the batch: the
/// MySQL driver prepares each distinct text and keeps ~100 per connection.
/// With one text per batch size the cache churns, and each of those
/// statements was measured taking ~43 ms while BEGIN and COMMIT took well
/// under one: four per batch made it ~175 ms and capped persistence near
/// 4,000 messages/s while the server and the database idled. (Our reading:
/// every eviction sends a COM_STMT_CLOSE, which has no reply, and the next
/// statement waits behind it for a delayed TCP ACK, since the driver leaves
/// Nagle on.) Powers of two keep it to ~10 texts per statement. Repeating a
/// value in `IN (…)`, `CASE` or `OR` lists changes no result.
fn padded<T: Copy>(items: &[T]) -> Vec<T> {
    let mut out = items.to_vec();
    if let Some(&last) = items.last() {
        out.resize(items.len().next_power_of_two(), last);
    }
    out
}

/// `sql` (whose `{}` is the list's place) with one placeholder per room,
/// then `suffix`, with the rooms bound.
fn rooms_query<'q>(
    sql: &str,
    suffix: &str,
    rooms: &[i64],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    let sql = format!("{}{suffix}", sql.replacen("{}", &placeholders(rooms.len()), 1));
    rooms
        .iter()
        .fold(sqlx::query(AssertSqlSafe(sql)), |query, room| query.bind(*room))
}

/// Splits `items` into chunks of power-of-two sizes, largest first (see [`padded`]).
fn power_of_two_chunks<T>(mut items: &[T]) -> Vec<&[T]> {
    let mut chunks = Vec::new();
    while !items.is_empty() {
        let n = 1usize << (usize::BITS - 1 - items.len().leading_zeros());
        let (chunk, rest) = items.split_at(n);
        chunks.push(chunk);
        items = rest;
    }
    chunks
}

pub fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

impl Store {
    /// Connects, and brings the schema up to date. `url` is `mysql://…` or `sqlite://…`.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let is_sqlite = url.starts_with("sqlite:");
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(std::time::Duration::from_secs(5))
            // sqlx pings a connection when it returns to the pool and, by
            // default, again when it is taken out: two extra round trips per
            // query, one of them in front of it (a history page measured 4
            // pings to 2 statements). A connection back from work less than
            // a second ago passed its return ping then; older ones are
            // pinged as before, so a database restart during a quiet spell
            // still costs no request a failed query. (One within that second
            // can fail a query per connection, as a restart mid-query can.)
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= TRUST_RECENTLY_PINGED {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect(url)
            .await?;
        let returning = if is_sqlite {
            // WAL lets readers (history, catch-up) run while a message commits.
            sqlx::query("PRAGMA journal_mode = WAL").execute(&pool).await?;
            SQLITE_MIGRATIONS.run(&pool).await?;
            true
        } else {
            MYSQL_MIGRATIONS.run(&pool).await?;
            let version: String = sqlx::query_scalar("SELECT VERSION()").fetch_one(&pool).await?;
            version.contains("MariaDB")
        };
        Ok(Self {
            pool,
            is_sqlite,
            returning,
            public_rooms: Default::default(),
        })
    }

    /// The same store, reading a batch's ids back as on MySQL (for tests of
    /// that path on MariaDB).
    #[cfg(test)]
    fn without_returning(mut self) -> Self {
        self.returning = false;
        self
    }

    pub fn is_sqlite(&self) -> bool {
        self.is_sqlite
    }

    /// Cheap liveness check for `/healthz`.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    // ---- users and sessions ----

    /// Creates a user; `Conflict` if the name is taken (case-insensitively).
    pub async fn create_user(&self, username: &str, key: &str, password_hash: &str) -> Result<Me> {
        let result =
            sqlx::query("INSERT INTO users (username, username_key, password_hash, created_at) VALUES (?, ?, ?, ?)")
                .bind(username)
                .bind(key)
                .bind(password_hash)
                .bind(now_ms())
                .execute(&self.pool)
                .await
                .map_err(BackendError::from);
        match result {
            Ok(done) => {
                let id = match done.last_insert_id() {
                    Some(id) => id,
                    None => self.user_id_by_key(key).await?,
                };
                Ok(Me {
                    id: UserId(id),
                    username: username.to_owned(),
                })
            }
            Err(e) if e.is_unique_violation() => Err(BackendError::Conflict("That username is already taken.".into())),
            Err(e) => Err(e),
        }
    }

    async fn user_id_by_key(&self, key: &str) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT id FROM users WHERE username_key = ?")
            .bind(key)
            .fetch_one(&self.pool)
            .await?)
    }

    pub async fn credentials(&self, key: &str) -> Result<Option<Credentials>> {
        let row = sqlx::query("SELECT id, username, password_hash, disabled_at FROM users WHERE username_key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(Credentials {
                me: Me {
                    id: UserId(r.try_get(0)?),
                    username: r.try_get(1)?,
                },
                password_hash: r.try_get(2)?,
                disabled: r.try_get::<Option<i64>, _>(3)?.is_some(),
            })
        })
        .transpose()
        .map_err(BackendError::Database)
    }

    pub async fn create_session(&self, token_hash: &str, user: UserId, expires_at: Millis) -> Result<()> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, last_seen_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(token_hash)
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
    pub async fn session_user(&self, token_hash: &str, idle_ms: Millis) -> Result<Option<Me>> {
        let now = now_ms();
        let row = sqlx::query(
            "SELECT u.id, u.username, s.last_seen_at FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = ? AND s.expires_at > ? AND s.last_seen_at > ? AND u.disabled_at IS NULL",
        )
        .bind(token_hash)
        .bind(now)
        .bind(now - idle_ms)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(r) = &row {
            let last_seen: Millis = r.try_get(2)?;
            if last_seen < now - SEEN_EVERY_MS {
                sqlx::query("UPDATE sessions SET last_seen_at = ? WHERE token_hash = ?")
                    .bind(now)
                    .bind(token_hash)
                    .execute(&self.pool)
                    .await?;
            }
        }
        row.map(|r| {
            Ok(Me {
                id: UserId(r.try_get(0)?),
                username: r.try_get(1)?,
            })
        })
        .transpose()
        .map_err(BackendError::Database)
    }

    /// Which of `token_hashes` are live sessions ([`Store::session_user`]'s
    /// rules); using them keeps them alive, as a request would.
    pub async fn live_sessions(
        &self,
        token_hashes: &[String],
        idle_ms: Millis,
    ) -> Result<std::collections::HashSet<String>> {
        if token_hashes.is_empty() {
            return Ok(Default::default());
        }
        let now = now_ms();
        let sql = format!(
            "SELECT s.token_hash, s.last_seen_at FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash IN ({}) AND s.expires_at > ? AND s.last_seen_at > ? AND u.disabled_at IS NULL",
            placeholders(token_hashes.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for hash in token_hashes {
            query = query.bind(hash.as_str());
        }
        let rows = query.bind(now).bind(now - idle_ms).fetch_all(&self.pool).await?;
        let mut live = std::collections::HashSet::with_capacity(rows.len());
        let mut stale = Vec::new();
        for row in rows {
            let hash: String = row.try_get(0)?;
            if row.try_get::<Millis, _>(1)? < now - SEEN_EVERY_MS {
                stale.push(hash.clone());
            }
            live.insert(hash);
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

    pub async fn delete_session(&self, token_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Disables (or re-enables) the account called `key`; disabling also
    /// deletes its sessions, so every open socket of it closes at its next
    /// session re-check. `None` if there is no such user.
    pub async fn set_disabled(&self, key: &str, disabled: bool) -> Result<Option<UserId>> {
        let mut tx = self.pool.begin().await?;
        let user: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE username_key = ?")
            .bind(key)
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

    // ---- rooms ----

    /// Creates a room; a private one starts with its creator as the only member.
    ///
    /// Its name must differ from every room the creator can see — and only
    /// those: a private room they are not in neither blocks the name nor
    /// reveals itself by refusing it. Public rooms' names are unique among
    /// public rooms (the index on their plain key); a private room's key is
    /// scoped to its creator (see `migrations/*/0007_private_names_scoped.sql`).
    pub async fn create_room(
        &self,
        name: &str,
        key: &str,
        topic: &str,
        creator: UserId,
        private: bool,
    ) -> Result<RoomId> {
        let taken = || BackendError::Conflict("A room with that name already exists.".into());
        if self.sees_room_named(creator, key).await? {
            return Err(taken());
        }
        let key = if private {
            format!("\u{2}{}:{key}", creator.0)
        } else {
            key.to_owned()
        };
        let key = key.as_str();
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO rooms (name, name_key, topic, created_by, created_at, is_private) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(name)
        .bind(key)
        .bind(topic)
        .bind(creator.0)
        .bind(now)
        .bind(i64::from(private))
        .execute(&mut *tx)
        .await
        .map_err(BackendError::from);
        let room = match inserted {
            Ok(done) => match done.last_insert_id() {
                Some(id) => RoomId(id),
                None => RoomId(
                    sqlx::query_scalar("SELECT id FROM rooms WHERE name_key = ?")
                        .bind(key)
                        .fetch_one(&mut *tx)
                        .await?,
                ),
            },
            Err(e) if e.is_unique_violation() => return Err(taken()),
            Err(e) => return Err(e),
        };
        if private {
            sqlx::query("INSERT INTO memberships (room_id, user_id, added_at) VALUES (?, ?, ?)")
                .bind(room.0)
                .bind(creator.0)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(room)
    }

    /// Whether `user` can see a room (public, or private and theirs; direct
    /// conversations aside) whose name has the key `key`.
    async fn sees_room_named(&self, user: UserId, key: &str) -> Result<bool> {
        if self.room_id_by_key(key).await?.is_some() {
            return Ok(true);
        }
        // A person is in few private rooms; their names are compared here
        // rather than in SQL, where the scoped key would need each dialect's
        // string concatenation.
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT r.name FROM rooms r JOIN memberships m ON m.room_id = r.id \
             WHERE m.user_id = ? AND r.is_private = 1 AND r.is_direct = 0",
        )
        .bind(user.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(names.iter().any(|name| name.to_lowercase() == key))
    }

    /// The direct-message room of `me` and the user called `other_key`,
    /// created on first use: a private room whose two members are fixed.
    pub async fn direct_room(&self, me: &Me, other_key: &str) -> Result<RoomId> {
        let invalid = |why: &str| BackendError::Invalid(crate::validate::Invalid(why.into()));
        let other = sqlx::query("SELECT id, username FROM users WHERE username_key = ?")
            .bind(other_key)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| invalid("There is no user with that name."))?;
        let other = Me {
            id: UserId(other.try_get(0)?),
            username: other.try_get(1)?,
        };
        if other.id == me.id {
            return Err(invalid("You cannot send direct messages to yourself."));
        }
        let (low, high) = if me.id < other.id { (me, &other) } else { (&other, me) };
        // See migrations/mysql/0005_direct_rooms.sql for why this key cannot
        // collide with a room name.
        let key = format!("\u{1}dm:{}:{}", low.id.0, high.id.0);
        if let Some(id) = self.room_id_by_key(&key).await? {
            return Ok(id);
        }
        let now = now_ms();
        let name = format!("{} & {}", low.username, high.username);
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO rooms (name, name_key, topic, created_by, created_at, is_private, is_direct) \
             VALUES (?, ?, '', ?, ?, 1, 1)",
        )
        .bind(&name)
        .bind(&key)
        .bind(me.id.0)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(BackendError::from);
        let room = match inserted {
            Ok(done) => match done.last_insert_id() {
                Some(id) => RoomId(id),
                None => RoomId(
                    sqlx::query_scalar("SELECT id FROM rooms WHERE name_key = ?")
                        .bind(&key)
                        .fetch_one(&mut *tx)
                        .await?,
                ),
            },
            // Both started the conversation at once: the other insert won.
            Err(e) if e.is_unique_violation() => {
                drop(tx);
                return self.room_id_by_key(&key).await?.ok_or(e);
            }
            Err(e) => return Err(e),
        };
        for user in [low.id, high.id] {
            sqlx::query("INSERT INTO memberships (room_id, user_id, added_at) VALUES (?, ?, ?)")
                .bind(room.0)
                .bind(user.0)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(room)
    }

    async fn room_id_by_key(&self, key: &str) -> Result<Option<RoomId>> {
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM rooms WHERE name_key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(id.map(RoomId))
    }

    /// The rooms `user` may see (every public room and the private ones they
    /// are in), most recently active first.
    pub async fn rooms_visible_to(&self, user: UserId) -> Result<Vec<RoomRow>> {
        let rows = sqlx::query(concat!(
            "SELECT id, name, topic, last_message_at, last_seq, is_private, created_by, is_direct FROM rooms r ",
            "WHERE r.is_private = 0 OR EXISTS (SELECT 1 FROM memberships m WHERE m.room_id = r.id AND m.user_id = ?) ",
            "ORDER BY COALESCE(last_message_at, created_at) DESC, id DESC"
        ))
        .bind(user.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(room_from_row)
            .collect::<std::result::Result<_, _>>()
            .map_err(Into::into)
    }

    /// The room if it exists and `user` may see it. A private room the user
    /// is not in is `None`, exactly like a room that does not exist.
    pub async fn visible_room(&self, id: RoomId, user: UserId) -> Result<Option<RoomRow>> {
        let row = sqlx::query(concat!(
            "SELECT id, name, topic, last_message_at, last_seq, is_private, created_by, is_direct FROM rooms r ",
            "WHERE r.id = ? AND (r.is_private = 0 OR EXISTS ",
            "(SELECT 1 FROM memberships m WHERE m.room_id = r.id AND m.user_id = ?))"
        ))
        .bind(id.0)
        .bind(user.0)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(room_from_row).transpose().map_err(Into::into)
    }

    /// Whether `user` may see `room`: [`Store::visible_room`] without the
    /// details, for the check on every socket frame. Whether a room is public
    /// never changes (rooms are neither deleted nor made private), so that
    /// answer is remembered; a private room is asked about every time,
    /// because a membership can end at any moment.
    pub async fn may_see(&self, room: RoomId, user: UserId) -> Result<bool> {
        // Poison cannot leave the set inconsistent (single inserts), so it is ignored.
        if self
            .public_rooms
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&room.0)
        {
            return Ok(true);
        }
        let Some(row) = self.visible_room(room, user).await? else {
            return Ok(false);
        };
        if !row.private {
            let mut public = self.public_rooms.write().unwrap_or_else(|p| p.into_inner());
            if public.len() < PUBLIC_ROOMS_REMEMBERED {
                public.insert(room.0);
            }
        }
        Ok(true)
    }

    /// [`Store::visible_room`], with "not found" as the error it is for callers.
    pub async fn visible_room_or_not_found(&self, id: RoomId, user: UserId) -> Result<RoomRow> {
        self.visible_room(id, user).await?.ok_or(BackendError::RoomNotFound)
    }

    /// Names of a private room's members, sorted.
    pub async fn members(&self, room: RoomId) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT u.username FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.room_id = ? ORDER BY u.username_key",
        )
        .bind(room.0)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Adds the user called `key` (lower-cased name); `Invalid` if there is none.
    pub async fn add_member(&self, room: RoomId, key: &str) -> Result<UserId> {
        let user: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE username_key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        let user = UserId(user.ok_or_else(|| {
            BackendError::Invalid(crate::validate::Invalid("There is no user with that name.".into()))
        })?);
        let added = sqlx::query("INSERT INTO memberships (room_id, user_id, added_at) VALUES (?, ?, ?)")
            .bind(room.0)
            .bind(user.0)
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map_err(BackendError::from);
        match added {
            Ok(_) => Ok(user),
            Err(e) if e.is_unique_violation() => Ok(user),
            Err(e) => Err(e),
        }
    }

    /// Removes the user called `key`; returns who was removed, if anyone.
    pub async fn remove_member(&self, room: RoomId, key: &str) -> Result<Option<UserId>> {
        let user: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE username_key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        let Some(user) = user else { return Ok(None) };
        let done = sqlx::query("DELETE FROM memberships WHERE room_id = ? AND user_id = ?")
            .bind(room.0)
            .bind(user)
            .execute(&self.pool)
            .await?;
        Ok((done.rows_affected() > 0).then_some(UserId(user)))
    }

    /// The room by id, whoever asks: for server-internal use only.
    pub async fn room(&self, id: RoomId) -> Result<Option<RoomRow>> {
        let row = sqlx::query(
            "SELECT id, name, topic, last_message_at, last_seq, is_private, created_by, is_direct FROM rooms WHERE id = ?",
        )
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(room_from_row).transpose().map_err(Into::into)
    }

    /// The room's newest sequence, `None` if the room does not exist.
    pub async fn last_seq(&self, room: RoomId) -> Result<Option<Seq>> {
        Ok(sqlx::query_scalar("SELECT last_seq FROM rooms WHERE id = ?")
            .bind(room.0)
            .fetch_optional(&self.pool)
            .await?)
    }

    // ---- messages ----

    /// Commits a message with the room's next sequence number, or returns the
    /// original if `client_id` was already used by this author.
    ///
    /// The sequence is bumped and the row inserted in one transaction: the
    /// `UPDATE` takes the room row's write lock, so concurrent senders are
    /// serialised and a failed insert rolls the counter back — no gaps.
    pub async fn post_message(&self, room: RoomId, author: &Me, client_id: &str, body: &str) -> Result<Posted> {
        if let Some(message) = self.message_by_client_id(author.id, client_id).await? {
            return Ok(Posted { message, fresh: false });
        }
        match self.insert_message(room, author, client_id, body).await {
            Ok(message) => Ok(Posted { message, fresh: true }),
            // A concurrent retry with the same client id won the race.
            Err(e) if e.is_unique_violation() => match self.message_by_client_id(author.id, client_id).await? {
                Some(message) => Ok(Posted { message, fresh: false }),
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    async fn insert_message(&self, room: RoomId, author: &Me, client_id: &str, body: &str) -> Result<ChatMessage> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let bumped = sqlx::query("UPDATE rooms SET last_seq = last_seq + 1, last_message_at = ? WHERE id = ?")
            .bind(now)
            .bind(room.0)
            .execute(&mut *tx)
            .await?;
        if bumped.rows_affected() == 0 {
            return Err(BackendError::RoomNotFound);
        }
        let seq: Seq = sqlx::query_scalar("SELECT last_seq FROM rooms WHERE id = ?")
            .bind(room.0)
            .fetch_one(&mut *tx)
            .await?;
        let inserted = sqlx::query(
            "INSERT INTO messages (room_id, seq, author_id, client_id, body, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(room.0)
        .bind(seq)
        .bind(author.id.0)
        .bind(client_id)
        .bind(body)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let id = match inserted.last_insert_id() {
            Some(id) => id,
            None => {
                sqlx::query_scalar("SELECT id FROM messages WHERE room_id = ? AND seq = ?")
                    .bind(room.0)
                    .bind(seq)
                    .fetch_one(&mut *tx)
                    .await?
            }
        };
        tx.commit().await?;
        Ok(ChatMessage {
            id,
            room,
            seq,
            author: author.username.clone(),
            body: body.to_owned(),
            created_at: now,
            client_id: client_id.to_owned(),
        })
    }

    /// Commits `messages` in one transaction (group commit, see
    /// [`super::writer`]). Returns one outcome per message, in order; a message
    /// to a room that does not exist gets `RoomNotFound` and burns no
    /// sequence. An `Err` means nothing was committed: a client id that was
    /// used before fails the whole batch with a unique violation, and the
    /// writer then commits its messages one by one through
    /// [`Store::post_message`], which finds the originals.
    pub async fn post_batch(&self, messages: &[NewMessage]) -> Result<Vec<Result<Posted>>> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_ms();
        let mut tx = self.pool.begin().await?;

        // Lock the rooms' rows, whose last_seq are the sequence counters: a
        // concurrent batch (another node's) waits for this one's commit.
        let mut rooms: Vec<i64> = messages.iter().map(|m| m.room.0).collect();
        rooms.sort_unstable();
        rooms.dedup();
        let rooms = padded(&rooms);
        // SQLite has no FOR UPDATE. Its transaction must write first: one that
        // reads first and then writes fails at once (SQLITE_BUSY, no waiting)
        // whenever another connection wrote in between, so take the write lock
        // with a no-op update before reading the counters.
        if self.is_sqlite {
            rooms_query("UPDATE rooms SET last_seq = last_seq WHERE id IN ({})", "", &rooms)
                .execute(&mut *tx)
                .await?;
        }
        let lock = if self.is_sqlite { "" } else { " FOR UPDATE" };
        let query = rooms_query("SELECT id, last_seq FROM rooms WHERE id IN ({})", lock, &rooms);
        let mut last: HashMap<i64, Seq> = HashMap::with_capacity(rooms.len());
        for row in query.fetch_all(&mut *tx).await? {
            last.insert(row.try_get(0)?, row.try_get(1)?);
        }

        // Sequences in arrival order, per room, continuing from the counters.
        let mut next = last.clone();
        let seqs: Vec<Option<Seq>> = messages
            .iter()
            .map(|m| {
                next.get_mut(&m.room.0).map(|seq| {
                    *seq += 1;
                    *seq
                })
            })
            .collect();
        let fresh: Vec<(&NewMessage, Seq)> = messages
            .iter()
            .zip(&seqs)
            .filter_map(|(m, seq)| seq.map(|seq| (m, seq)))
            .collect();
        let mut ids: HashMap<(i64, Seq), i64> = HashMap::with_capacity(fresh.len());
        if !fresh.is_empty() {
            let bumped: Vec<(i64, Seq)> = next
                .iter()
                .filter(|(room, seq)| last.get(room) != Some(seq))
                .map(|(room, seq)| (*room, *seq))
                .collect();
            let bumped = padded(&bumped);
            let sql = format!(
                "UPDATE rooms SET last_seq = CASE id {} END, last_message_at = ? WHERE id IN ({})",
                "WHEN ? THEN ? ".repeat(bumped.len()),
                placeholders(bumped.len())
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for (room, seq) in &bumped {
                query = query.bind(*room).bind(*seq);
            }
            query = query.bind(now);
            for (room, _) in &bumped {
                query = query.bind(*room);
            }
            query.execute(&mut *tx).await?;

            // The new rows' ids, by their (room, seq) key: ids need not be
            // consecutive, so one multi-row insert's "last id" is not enough.
            let returning = if self.returning {
                " RETURNING id, room_id, seq"
            } else {
                ""
            };
            for chunk in power_of_two_chunks(&fresh) {
                let sql = format!(
                    "INSERT INTO messages (room_id, seq, author_id, client_id, body, created_at) VALUES {}{returning}",
                    vec!["(?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ")
                );
                let mut query = sqlx::query(AssertSqlSafe(sql));
                for (m, seq) in chunk {
                    query = query
                        .bind(m.room.0)
                        .bind(*seq)
                        .bind(m.author.id.0)
                        .bind(m.client_id.as_str())
                        .bind(m.body.as_str())
                        .bind(now);
                }
                if self.returning {
                    for row in query.fetch_all(&mut *tx).await? {
                        ids.insert((row.try_get(1)?, row.try_get(2)?), row.try_get(0)?);
                    }
                } else {
                    query.execute(&mut *tx).await?;
                }
            }

            if !self.returning {
                // MySQL: read them back, one range per room. In MariaDB this
                // query was a third of a batch's time, hence RETURNING there.
                let sql = format!(
                    "SELECT id, room_id, seq FROM messages WHERE {}",
                    vec!["(room_id = ? AND seq > ? AND seq <= ?)"; bumped.len()].join(" OR ")
                );
                let mut query = sqlx::query(AssertSqlSafe(sql));
                for (room, seq) in &bumped {
                    query = query.bind(*room).bind(last.get(room).copied().unwrap_or(0)).bind(*seq);
                }
                for row in query.fetch_all(&mut *tx).await? {
                    ids.insert((row.try_get(1)?, row.try_get(2)?), row.try_get(0)?);
                }
            }
        }
        tx.commit().await?;

        Ok(messages
            .iter()
            .zip(seqs)
            .map(|(m, seq)| {
                let seq = seq.ok_or(BackendError::RoomNotFound)?;
                let id = ids.get(&(m.room.0, seq)).copied().ok_or_else(|| {
                    BackendError::Unavailable(format!("committed message {}/{seq} not read back", m.room))
                })?;
                Ok(Posted {
                    message: ChatMessage {
                        id,
                        room: m.room,
                        seq,
                        author: m.author.username.clone(),
                        body: m.body.clone(),
                        created_at: now,
                        client_id: m.client_id.clone(),
                    },
                    fresh: true,
                })
            })
            .collect())
    }

    async fn message_by_client_id(&self, author: UserId, client_id: &str) -> Result<Option<ChatMessage>> {
        let row = sqlx::query(select_messages!("WHERE m.author_id = ? AND m.client_id = ?"))
            .bind(author.0)
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(message_from_row).transpose().map_err(Into::into)
    }

    /// Up to `limit` messages with sequence greater than `since`, oldest first.
    pub async fn messages_after(&self, room: RoomId, since: Seq, limit: u32) -> Result<Vec<ChatMessage>> {
        let rows = sqlx::query(keyset_query!(
            self.is_sqlite,
            "WHERE m.room_id = ? AND m.seq > ? ORDER BY m.seq ASC LIMIT ?"
        ))
        .bind(room.0)
        .bind(since)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(message_from_row)
            .collect::<std::result::Result<_, _>>()
            .map_err(Into::into)
    }

    /// The `limit` messages just before sequence `before` (or the newest, if
    /// `None`), oldest first, and whether older ones exist. Keyset pagination
    /// on (room_id, seq): the cost does not grow with depth.
    pub async fn messages_before(
        &self,
        room: RoomId,
        before: Option<Seq>,
        limit: u32,
    ) -> Result<(Vec<ChatMessage>, bool)> {
        let rows = sqlx::query(keyset_query!(
            self.is_sqlite,
            "WHERE m.room_id = ? AND m.seq < ? ORDER BY m.seq DESC LIMIT ?"
        ))
        .bind(room.0)
        .bind(before.unwrap_or(Seq::MAX))
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        let has_older = rows.len() > limit as usize;
        let mut messages = rows
            .iter()
            .take(limit as usize)
            .map(message_from_row)
            .collect::<std::result::Result<Vec<_>, _>>()?;
        messages.reverse();
        Ok((messages, has_older))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_statements_come_in_few_shapes() {
        assert_eq!(padded(&[1, 2, 3]), [1, 2, 3, 3]);
        assert_eq!(padded(&[7]), [7]);
        assert!(padded::<i64>(&[]).is_empty());
        let sizes = |n: usize| {
            let items: Vec<usize> = (0..n).collect();
            let chunks = power_of_two_chunks(&items);
            assert_eq!(chunks.concat(), items, "every item once, in order");
            chunks.iter().map(|c| c.len()).collect::<Vec<_>>()
        };
        assert_eq!(sizes(300), [256, 32, 8, 4]);
        assert_eq!(sizes(1), [1]);
        assert!(sizes(0).is_empty());
        // Every batch size up to the writer's limit uses the same ~10 texts.
        let shapes: std::collections::BTreeSet<usize> = (1..=1000)
            .flat_map(sizes)
            .chain((1..=1000usize).map(|n| n.next_power_of_two()))
            .collect();
        assert!(shapes.len() <= 11, "{shapes:?}");
    }

    async fn store() -> (Store, std::path::PathBuf) {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "natter-store-{}-{}-{}.db",
            std::process::id(),
            now_ms(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        let store = Store::connect(&format!("sqlite://{}?mode=rwc", path.display()), 4)
            .await
            .unwrap();
        (store, path)
    }

    async fn cleanup(store: Store, path: &std::path::Path) {
        store.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }

    #[tokio::test]
    async fn sequences_are_per_room_and_a_retry_returns_the_original() {
        let (store, path) = store().await;
        let me = store.create_user("ann", "ann", "hash").await.unwrap();
        let a = store.create_room("A", "a", "", me.id, false).await.unwrap();
        let b = store.create_room("B", "b", "", me.id, false).await.unwrap();

        let first = store.post_message(a, &me, "c1", "one").await.unwrap();
        assert!(first.fresh);
        assert_eq!(first.message.seq, 1);
        assert_eq!(
            store
                .post_message(b, &me, "c2", "other room")
                .await
                .unwrap()
                .message
                .seq,
            1
        );
        let retry = store.post_message(a, &me, "c1", "one").await.unwrap();
        assert!(!retry.fresh);
        assert_eq!((retry.message.id, retry.message.seq), (first.message.id, 1));
        assert_eq!(store.post_message(a, &me, "c3", "two").await.unwrap().message.seq, 2);

        // A failed post (unknown room) burns no sequence anywhere.
        assert!(matches!(
            store.post_message(RoomId(999), &me, "c4", "lost").await,
            Err(BackendError::RoomNotFound)
        ));
        assert_eq!(store.post_message(a, &me, "c5", "three").await.unwrap().message.seq, 3);
        let all: Vec<Seq> = store
            .messages_after(a, 0, 100)
            .await
            .unwrap()
            .iter()
            .map(|m| m.seq)
            .collect();
        assert_eq!(all, [1, 2, 3]);
        cleanup(store, &path).await;
    }

    #[tokio::test]
    async fn concurrent_posts_through_the_writer_get_gap_free_sequences_and_retries_their_originals() {
        let (store, path) = store().await;
        posts_through_the_writer(&store).await;
        cleanup(store, &path).await;
    }

    /// A database of its own on the local MariaDB (`TEST_MYSQL_URL`, default
    /// the local server's `test`), dropped by [`MariaDb::drop`].
    struct MariaDb {
        admin: sqlx::AnyPool,
        name: String,
        url: String,
    }

    impl MariaDb {
        async fn store(prefix: &str) -> (Store, MariaDb) {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let admin_url =
                std::env::var("TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into());
            sqlx::any::install_default_drivers();
            let admin = sqlx::AnyPool::connect(&admin_url).await.expect("MariaDB for this test");
            let name = format!(
                "{prefix}_{}_{}_{}",
                std::process::id(),
                now_ms(),
                N.fetch_add(1, Ordering::Relaxed)
            );
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&admin)
                .await
                .unwrap();
            let base = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(base, _)| base);
            let url = format!("{base}/{name}");
            let store = Store::connect(&url, 4).await.unwrap();
            (store, MariaDb { admin, name, url })
        }

        async fn drop(self, store: Store) {
            store.close().await;
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {}", self.name)))
                .execute(&self.admin)
                .await
                .unwrap();
        }
    }

    /// A query costs the round trip of one ping (sqlx's, as its connection
    /// returns to the pool), not two: a connection that came back moments
    /// ago is not pinged again before its next query.
    #[tokio::test]
    async fn mariadb_a_busy_connection_is_not_pinged_before_each_query() {
        let (store, db) = MariaDb::store("natter_ping").await;
        // One connection, so its session's counters see every ping.
        let one = Store::connect(&db.url, 1).await.unwrap();
        let pings = || async {
            let n: String = sqlx::query_scalar(
                "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS \
                 WHERE VARIABLE_NAME = 'COM_ADMIN_COMMANDS'",
            )
            .fetch_one(&one.pool)
            .await
            .unwrap();
            n.parse::<u64>().unwrap()
        };
        let before = pings().await;
        for _ in 0..10 {
            one.ping().await.unwrap();
        }
        let after = pings().await;
        one.close().await;
        db.drop(store).await;
        // Ten queries and the first count's own query: one return ping each.
        assert_eq!(after - before, 11, "pings for 10 queries");
    }

    /// The writer's batches on MariaDB, with their ids from `INSERT …
    /// RETURNING` and read back as on MySQL.
    #[tokio::test]
    async fn mariadb_batches_get_their_ids_with_and_without_returning() {
        for returning in [true, false] {
            let (store, db) = MariaDb::store("natter_batch").await;
            assert!(store.returning, "MariaDB has INSERT … RETURNING");
            let store = if returning { store } else { store.without_returning() };
            posts_through_the_writer(&store).await;
            db.drop(store).await;
        }
    }

    async fn posts_through_the_writer(store: &Store) {
        use crate::backend::writer::{NewMessage, Writer};
        let ann = store.create_user("ann", "ann", "hash").await.unwrap();
        let bob = store.create_user("bob", "bob", "hash").await.unwrap();
        let a = store.create_room("A", "a", "", ann.id, false).await.unwrap();
        let b = store.create_room("B", "b", "", ann.id, false).await.unwrap();
        /// What the writer published, in the order it did.
        #[derive(Default)]
        struct Published(std::sync::Mutex<Vec<ChatMessage>>);
        impl crate::backend::Publisher for Published {
            fn committed(&self, messages: Vec<ChatMessage>) {
                self.0.lock().unwrap().extend(messages);
            }
        }
        let published = std::sync::Arc::new(Published::default());
        let writer = Writer::start(store.clone(), published.clone());
        let post = |room: RoomId, author: &Me, client_id: String| {
            let writer = writer.clone();
            let message = NewMessage {
                room,
                author: author.clone(),
                client_id,
                body: "hi".into(),
            };
            tokio::spawn(async move { writer.post(message).await })
        };
        // 300 at once: they queue while the first transaction runs, and
        // later ones commit together.
        let mut tasks = Vec::new();
        for i in 0..300 {
            let (room, author) = if i % 3 == 0 { (b, &bob) } else { (a, &ann) };
            tasks.push((room, post(room, author, format!("c{i}"))));
        }
        let missing = post(RoomId(999), &ann, "lost".into());
        let mut acked: HashMap<RoomId, Vec<Seq>> = HashMap::new();
        for (room, task) in tasks {
            let posted = task.await.unwrap().unwrap();
            assert!(posted.fresh);
            assert_eq!(posted.message.room, room);
            acked.entry(room).or_default().push(posted.message.seq);
        }
        assert!(matches!(missing.await.unwrap(), Err(BackendError::RoomNotFound)));
        for (room, count) in [(a, 200), (b, 100)] {
            let mut seqs = acked.remove(&room).unwrap();
            seqs.sort_unstable();
            assert_eq!(seqs, (1..=count).collect::<Vec<Seq>>(), "gap-free and unique");
            let stored = store.messages_after(room, 0, 1000).await.unwrap();
            assert_eq!(stored.len(), count as usize);
            assert_eq!(store.last_seq(room).await.unwrap(), Some(count));
        }
        // Published once each, before their acks, in commit order: each
        // room's in sequence order.
        let in_order = |room: RoomId| -> Vec<Seq> {
            let published = published.0.lock().unwrap();
            published.iter().filter(|m| m.room == room).map(|m| m.seq).collect()
        };
        assert_eq!(in_order(a), (1..=200).collect::<Vec<Seq>>());
        assert_eq!(in_order(b), (1..=100).collect::<Vec<Seq>>());

        // A retried client id, alone or amid fresh ones, finds its original
        // (and is not published again).
        let original = store.messages_after(a, 0, 1).await.unwrap().remove(0);
        let retry = post(a, &ann, original.client_id.clone());
        let other = post(a, &ann, "c-new".into());
        let retry = retry.await.unwrap().unwrap();
        assert!(!retry.fresh);
        assert_eq!((retry.message.id, retry.message.seq), (original.id, original.seq));
        assert_eq!(other.await.unwrap().unwrap().message.seq, 201);
        assert_eq!(in_order(a), (1..=201).collect::<Vec<Seq>>());

        // One batch over two rooms and a missing one: each gets its own outcome.
        let new = |room: RoomId, client_id: &str| NewMessage {
            room,
            author: bob.clone(),
            client_id: client_id.into(),
            body: client_id.into(),
        };
        let outcomes = store
            .post_batch(&[new(a, "x1"), new(RoomId(999), "x2"), new(b, "x3"), new(a, "x4")])
            .await
            .unwrap();
        let seqs: Vec<Option<Seq>> = outcomes
            .iter()
            .map(|o| o.as_ref().ok().map(|p| p.message.seq))
            .collect();
        assert_eq!(seqs, [Some(202), None, Some(101), Some(203)]);
        let stored = store.messages_after(a, 201, 10).await.unwrap();
        let ids: Vec<i64> = outcomes
            .iter()
            .filter_map(|o| o.as_ref().ok())
            .map(|p| p.message.id)
            .collect();
        assert_eq!(
            (stored[0].id, stored[1].id),
            (ids[0], ids[2]),
            "acks carry the stored ids"
        );
        assert_eq!(stored[1].body, "x4");
    }

    #[tokio::test]
    async fn keyset_pages_walk_back_to_the_first_message() {
        let (store, path) = store().await;
        let me = store.create_user("ann", "ann", "hash").await.unwrap();
        let room = store.create_room("A", "a", "", me.id, false).await.unwrap();
        for i in 0..7 {
            store.post_message(room, &me, &format!("c{i}"), "x").await.unwrap();
        }
        let seqs = |page: &[ChatMessage]| page.iter().map(|m| m.seq).collect::<Vec<_>>();
        let (page, older) = store.messages_before(room, None, 3).await.unwrap();
        assert_eq!((seqs(&page), older), (vec![5, 6, 7], true));
        let (page, older) = store.messages_before(room, Some(5), 3).await.unwrap();
        assert_eq!((seqs(&page), older), (vec![2, 3, 4], true));
        let (page, older) = store.messages_before(room, Some(2), 3).await.unwrap();
        assert_eq!((seqs(&page), older), (vec![1], false));
        cleanup(store, &path).await;
    }

    /// The plan MariaDB picks for a keyset page, on a room where one author
    /// wrote everything (so `users` is tiny and tempting to read first).
    /// Needs MariaDB (`TEST_MYSQL_URL`, default the local server's `test`).
    #[tokio::test]
    async fn mariadb_reads_a_keyset_page_from_the_range_without_sorting_the_room() {
        let (store, db) = MariaDb::store("natter_plan").await;
        let me = store.create_user("ann", "ann", "hash").await.unwrap();
        let room = store.create_room("A", "a", "", me.id, false).await.unwrap();
        // 20,000 messages in one statement (MariaDB's sequence engine).
        sqlx::query(
            "INSERT INTO messages (room_id, seq, author_id, client_id, body, created_at) \
             SELECT ?, seq, ?, CONCAT('c', seq), 'x', 0 FROM seq_1_to_20000",
        )
        .bind(room.0)
        .bind(me.id.0)
        .execute(&store.pool)
        .await
        .unwrap();
        sqlx::query("ANALYZE TABLE messages, users")
            .execute(&store.pool)
            .await
            .unwrap();

        let explain = format!(
            "EXPLAIN {}",
            keyset_query!(false, "WHERE m.room_id = ? AND m.seq < ? ORDER BY m.seq DESC LIMIT ?")
        );
        let plan = sqlx::query(sqlx::AssertSqlSafe(explain))
            .bind(room.0)
            .bind(10_000_i64)
            .bind(51_i64)
            .fetch_all(&store.pool)
            .await
            .unwrap();
        let steps: Vec<(String, String, String)> = plan
            .iter()
            .map(|row| {
                let table: String = row.try_get("table").unwrap();
                let key: Option<String> = row.try_get("key").unwrap();
                let extra: Option<String> = row.try_get("Extra").unwrap();
                (table, key.unwrap_or_default(), extra.unwrap_or_default())
            })
            .collect();
        db.drop(store).await;
        assert_eq!(
            steps.first().map(|s| (s.0.as_str(), s.1.as_str())),
            Some(("m", "PRIMARY")),
            "messages first, as a range of the (room_id, seq) primary key: {steps:?}"
        );
        assert!(
            steps
                .iter()
                .all(|(_, _, extra)| !extra.contains("filesort") && !extra.contains("temporary")),
            "a page must not sort the room: {steps:?}"
        );
    }

    #[tokio::test]
    async fn names_are_unique_case_insensitively_through_their_keys() {
        let (store, path) = store().await;
        let me = store.create_user("Ann", "ann", "hash").await.unwrap();
        assert!(matches!(
            store.create_user("ANN", "ann", "h").await,
            Err(BackendError::Conflict(_))
        ));
        store.create_room("Général", "général", "", me.id, false).await.unwrap();
        let again = store.create_room("GÉNÉRAL", "général", "", me.id, false).await;
        assert!(matches!(again, Err(BackendError::Conflict(_))));
        cleanup(store, &path).await;
    }
}
