//! One door for access: what a user may do in a room. Every server function
//! and every socket frame that touches a room asks here; nothing else
//! decides. It remembers which rooms are public (asked on every frame, so
//! answered without a query), and forgets a room the moment its access may
//! have changed ([`AccessControl::forget`], which every node calls when a
//! [`super::RoomEvent::AccessChanged`] reaches it).

use super::error::{BackendError, Refusal};
use super::store::{RoomRow, Store};
use crate::protocol::{RoomId, UserId};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

type Result<T> = std::result::Result<T, BackendError>;

/// What a user may do in a room, each level including the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Nothing: the room answers exactly like one that does not exist.
    None,
    /// See it and read its history (an archived room, for those who may see it).
    Read,
    /// Also post.
    Post,
    /// Also act on others' messages (no room has moderators yet).
    Moderate,
    /// Also manage the room and, if private, its members.
    Own,
}

impl Access {
    /// The rule, for a room as stored: a public room is everyone's to post
    /// in; a private one only its members' (`member`); its creator owns it,
    /// except a direct conversation, which nobody manages. An archived room
    /// is only read.
    pub fn of(room: &RoomRow, user: UserId, member: bool) -> Access {
        if room.private && !member {
            Access::None
        } else if room.archived {
            Access::Read
        } else if room.owner == user && !room.direct {
            Access::Own
        } else {
            Access::Post
        }
    }
}

/// Most public rooms remembered (each ~40 bytes).
const PUBLIC_ROOMS_REMEMBERED: usize = 1_000_000;
/// Most (room, user) openings remembered as recorded (each ~40 bytes).
const OPENINGS_REMEMBERED: usize = 1_000_000;

/// The door. Cheap to clone: clones share what they remember.
#[derive(Clone)]
pub struct AccessControl {
    store: Store,
    /// Public rooms and their owners. A std lock: never held across `.await`.
    public: Arc<RwLock<HashMap<RoomId, UserId>>>,
    /// Rooms each user is known to have a membership row in (see [`AccessControl::opened`]).
    opened: Arc<RwLock<HashSet<(RoomId, UserId)>>>,
}

impl AccessControl {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            public: Default::default(),
            opened: Default::default(),
        }
    }

    /// The room and what `user` may do in it, read from the database (for
    /// the pages that show the room's details). A room they may not see is
    /// `RoomNotFound`, exactly like one that does not exist.
    pub async fn room(&self, user: UserId, room: RoomId) -> Result<(RoomRow, Access)> {
        // Public, or private with `user` a member: the row says which.
        let row = self
            .store
            .visible_room(room, user)
            .await?
            .ok_or(BackendError::RoomNotFound)?;
        let access = Access::of(&row, user, true);
        self.remember(&row);
        Ok((row, access))
    }

    /// What `user` may do in `room`, at least `need`: `RoomNotFound` when
    /// nothing, `Forbidden` when less. A public room's answer is remembered;
    /// a private room is asked about every time, because a membership can
    /// end at any moment.
    pub async fn require(&self, user: UserId, room: RoomId, need: Access) -> Result<Access> {
        let remembered = self
            .public
            .read()
            // Poison cannot leave the map inconsistent (single inserts and removals).
            .unwrap_or_else(|p| p.into_inner())
            .get(&room)
            .copied();
        let access = match remembered {
            Some(owner) if owner == user => Access::Own,
            Some(_) => Access::Post,
            None => match self.room(user, room).await {
                Ok((_, access)) => access,
                Err(BackendError::RoomNotFound) => Access::None,
                Err(e) => return Err(e),
            },
        };
        match access {
            Access::None => Err(BackendError::RoomNotFound),
            enough if enough >= need => Ok(enough),
            _ if need == Access::Own => Err(BackendError::Forbidden(Refusal::NotRoomOwner)),
            _ => Err(BackendError::Forbidden(Refusal::ReadOnly)),
        }
    }

    /// Records that `user`, who may see `room`, opened it: every room a
    /// user opens gets a membership row, public ones included, to carry
    /// their role and read position. Written once per (room, user) as far as
    /// this node remembers; the database ignores a second one.
    pub async fn opened(&self, user: UserId, room: RoomId) -> Result<()> {
        let key = (room, user);
        if self.opened.read().unwrap_or_else(|p| p.into_inner()).contains(&key) {
            return Ok(());
        }
        self.store.ensure_member(room, user).await?;
        let mut opened = self.opened.write().unwrap_or_else(|p| p.into_inner());
        if opened.len() < OPENINGS_REMEMBERED {
            opened.insert(key);
        }
        Ok(())
    }

    /// Drops what is remembered about `room`: its next check reads the
    /// database.
    pub fn forget(&self, room: RoomId) {
        self.public.write().unwrap_or_else(|p| p.into_inner()).remove(&room);
    }

    /// Remembers a public room's owner. An archived room is asked about every
    /// time: it is rare, and read-only.
    fn remember(&self, row: &RoomRow) {
        if row.private || row.archived {
            return;
        }
        let mut public = self.public.write().unwrap_or_else(|p| p.into_inner());
        if public.len() < PUBLIC_ROOMS_REMEMBERED || public.contains_key(&row.id) {
            public.insert(row.id, row.owner);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::{RoomName, Topic, UserKey, Username};

    fn room(private: bool, direct: bool) -> RoomRow {
        RoomRow {
            id: RoomId(1),
            name: "R".into(),
            topic: String::new(),
            last_message_at: None,
            last_seq: 0,
            private,
            owner: UserId(1),
            direct,
            archived: false,
        }
    }

    #[test]
    fn the_rule() {
        let (owner, other) = (UserId(1), UserId(2));
        let public = room(false, false);
        assert_eq!(Access::of(&public, owner, false), Access::Own);
        assert_eq!(Access::of(&public, other, false), Access::Post);
        let private = room(true, false);
        assert_eq!(Access::of(&private, owner, true), Access::Own);
        assert_eq!(Access::of(&private, other, true), Access::Post);
        assert_eq!(Access::of(&private, other, false), Access::None);
        let direct = room(true, true);
        assert_eq!(
            Access::of(&direct, owner, true),
            Access::Post,
            "nobody manages a direct conversation"
        );
        assert_eq!(Access::of(&direct, other, false), Access::None);
        let archived = RoomRow {
            archived: true,
            ..room(false, false)
        };
        assert_eq!(
            Access::of(&archived, owner, false),
            Access::Read,
            "even its owner only reads"
        );
        assert_eq!(Access::of(&archived, other, false), Access::Read);
        let archived_private = RoomRow {
            archived: true,
            ..room(true, false)
        };
        assert_eq!(Access::of(&archived_private, other, false), Access::None);
        assert!(Access::None < Access::Read && Access::Read < Access::Post && Access::Moderate < Access::Own);
    }

    #[tokio::test]
    async fn the_door_reads_membership_each_time_and_records_openings() {
        let path = std::env::temp_dir().join(format!(
            "natter-access-{}-{}.db",
            std::process::id(),
            crate::backend::clock::now_ms()
        ));
        let store = Store::connect(&format!("sqlite://{}?mode=rwc", path.display()), 2)
            .await
            .unwrap();
        let ann = store.create_user(&Username::parse("ann").unwrap(), "h").await.unwrap();
        let bob = store.create_user(&Username::parse("bob").unwrap(), "h").await.unwrap();
        let public = store
            .create_room(
                &RoomName::parse("Pub").unwrap(),
                &Topic::parse("").unwrap(),
                ann.id,
                false,
            )
            .await
            .unwrap();
        let private = store
            .create_room(
                &RoomName::parse("Priv").unwrap(),
                &Topic::parse("").unwrap(),
                ann.id,
                true,
            )
            .await
            .unwrap();
        let door = AccessControl::new(store.clone());

        assert_eq!(door.require(ann.id, public, Access::Own).await.unwrap(), Access::Own);
        assert_eq!(door.require(bob.id, public, Access::Read).await.unwrap(), Access::Post);
        // Remembered now, and still told apart by owner.
        assert_eq!(door.require(ann.id, public, Access::Own).await.unwrap(), Access::Own);
        assert!(matches!(
            door.require(bob.id, public, Access::Own).await,
            Err(BackendError::Forbidden(Refusal::NotRoomOwner))
        ));
        assert!(matches!(
            door.require(bob.id, RoomId(999), Access::Read).await,
            Err(BackendError::RoomNotFound)
        ));

        assert!(matches!(
            door.require(bob.id, private, Access::Read).await,
            Err(BackendError::RoomNotFound)
        ));
        store.add_member(private, &UserKey::of("bob")).await.unwrap();
        assert_eq!(door.require(bob.id, private, Access::Post).await.unwrap(), Access::Post);
        store.remove_member(private, &UserKey::of("bob")).await.unwrap();
        assert!(
            matches!(
                door.require(bob.id, private, Access::Read).await,
                Err(BackendError::RoomNotFound)
            ),
            "a private room's answer is never remembered"
        );

        // Opening a public room gives it a membership row, once.
        assert!(store.members(public).await.unwrap().is_empty());
        door.opened(bob.id, public).await.unwrap();
        door.opened(bob.id, public).await.unwrap();
        AccessControl::new(store.clone()).opened(bob.id, public).await.unwrap();
        assert_eq!(store.members(public).await.unwrap(), ["bob"]);

        store.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
