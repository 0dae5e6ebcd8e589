//! Rooms as stored: name, topic, privacy, owner, and the sequence counter
//! of the room's log.

use super::accounts::UserRow;
use super::memberships::insert_membership;
use super::{Result, Store};
use crate::backend::clock::now_ms;
use crate::backend::error::{BackendError, Taken};
use crate::protocol::{Me, Millis, RoomId, Seq, UserId};
use crate::validate::{RoomName, Topic, UserKey};

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
    /// Archived by an administrator: read-only, left out of the room list.
    pub archived: bool,
}

/// The columns of [`RoomRecord`], for `concat!` into static queries.
macro_rules! room_columns {
    () => {
        "r.id, r.name, r.topic, r.last_message_at, r.last_seq, r.is_private, r.created_by, r.is_direct, r.archived_at"
    };
}
pub(super) use room_columns;

#[derive(sqlx::FromRow)]
pub(super) struct RoomRecord {
    id: i64,
    name: String,
    topic: String,
    last_message_at: Option<i64>,
    last_seq: i64,
    is_private: i64,
    created_by: i64,
    is_direct: i64,
    archived_at: Option<i64>,
}

impl From<RoomRecord> for RoomRow {
    fn from(r: RoomRecord) -> RoomRow {
        RoomRow {
            id: RoomId(r.id),
            name: r.name,
            topic: r.topic,
            last_message_at: r.last_message_at,
            last_seq: r.last_seq,
            private: r.is_private != 0,
            owner: UserId(r.created_by),
            direct: r.is_direct != 0,
            archived: r.archived_at.is_some(),
        }
    }
}

impl Store {
    /// Creates a room; a private one starts with its creator as the only member.
    ///
    /// Its name must differ from every room the creator can see — and only
    /// those: a private room they are not in neither blocks the name nor
    /// reveals itself by refusing it. Public rooms' names are unique among
    /// public rooms (the index on their plain key); a private room's key is
    /// scoped to its creator (see `migrations/*/0007_private_names_scoped.sql`).
    pub async fn create_room(&self, name: &RoomName, topic: &Topic, creator: UserId, private: bool) -> Result<RoomId> {
        let taken = || BackendError::NameTaken(Taken::RoomName);
        let key = name.key();
        if self.sees_room_named(creator, &key).await? {
            return Err(taken());
        }
        let key = if private {
            format!("\u{2}{}:{key}", creator.0)
        } else {
            key
        };
        let key = key.as_str();
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO rooms (name, name_key, topic, created_by, created_at, is_private) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(name.as_str())
        .bind(key)
        .bind(topic.as_str())
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
            insert_membership(&mut tx, room, creator, now).await?;
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
    pub async fn direct_room(&self, me: &Me, other_key: &UserKey) -> Result<RoomId> {
        let other: Me = sqlx::query_as::<_, UserRow>("SELECT id, username, role FROM users WHERE username_key = ?")
            .bind(other_key.as_str())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(BackendError::UserNotFound)?
            .into();
        if other.id == me.id {
            // The caller refuses this with its own sentence; a room of one is never made.
            return Err(BackendError::UserNotFound);
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
            insert_membership(&mut tx, room, user, now).await?;
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

    /// The rooms `user` may see (every public room they are not banned from
    /// and the private ones they are in), archived ones aside, most recently
    /// active first.
    pub async fn rooms_visible_to(&self, user: UserId) -> Result<Vec<RoomRow>> {
        let rows: Vec<RoomRecord> = sqlx::query_as(concat!(
            "SELECT ",
            room_columns!(),
            " FROM rooms r ",
            "LEFT JOIN memberships m ON m.room_id = r.id AND m.user_id = ? ",
            "WHERE r.archived_at IS NULL AND m.banned_at IS NULL AND (r.is_private = 0 OR m.user_id IS NOT NULL) ",
            "ORDER BY COALESCE(r.last_message_at, r.created_at) DESC, r.id DESC"
        ))
        .bind(user.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(RoomRow::from).collect())
    }

    /// The room if it exists and `user` may see it. A private room the user
    /// is not in is `None`, exactly like a room that does not exist.
    pub async fn visible_room(&self, id: RoomId, user: UserId) -> Result<Option<RoomRow>> {
        let row: Option<RoomRecord> = sqlx::query_as(concat!(
            "SELECT ",
            room_columns!(),
            " FROM rooms r ",
            "WHERE r.id = ? AND (r.is_private = 0 OR EXISTS ",
            "(SELECT 1 FROM memberships m WHERE m.room_id = r.id AND m.user_id = ?))"
        ))
        .bind(id.0)
        .bind(user.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(RoomRow::from))
    }

    /// The room by id, whoever asks: for server-internal use only.
    pub async fn room(&self, id: RoomId) -> Result<Option<RoomRow>> {
        let row: Option<RoomRecord> =
            sqlx::query_as(concat!("SELECT ", room_columns!(), " FROM rooms r WHERE r.id = ?"))
                .bind(id.0)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(RoomRow::from))
    }

    /// The room's newest sequence, `None` if the room does not exist.
    pub async fn last_seq(&self, room: RoomId) -> Result<Option<Seq>> {
        Ok(sqlx::query_scalar("SELECT last_seq FROM rooms WHERE id = ?")
            .bind(room.0)
            .fetch_optional(&self.pool)
            .await?)
    }
}
