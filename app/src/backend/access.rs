//! One door for access: what a user may do in a room. Every server function
//! and every socket frame that touches a room asks here; nothing else
//! decides. It remembers which rooms are public (asked on every frame, so
//! answered without a query), and forgets a room the moment its access may
//! have changed ([`AccessControl::forget`], which every node calls when a
//! [`super::RoomEvent::AccessChanged`] reaches it).

use super::clock::now_ms;
use super::error::{BackendError, Refusal};
use super::store::{RoomRow, Standing, Store};
use crate::protocol::{Millis, RoomId, SiteRole, UserId};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

type Result<T> = std::result::Result<T, BackendError>;

/// What a user may do in a room, each level including the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Nothing: the room answers exactly like one that does not exist.
    None,
    /// See it and read its history (an archived room; a muted person).
    Read,
    /// Also post.
    Post,
    /// Also act on others' messages, mute and (in a public room) ban.
    Moderate,
    /// Also manage the room, its moderators and, if private, its members.
    Own,
}

/// What the rule needs to know of a room.
#[derive(Clone, Copy, Debug)]
struct Facts {
    private: bool,
    direct: bool,
    archived: bool,
    owner: UserId,
}

impl From<&RoomRow> for Facts {
    fn from(room: &RoomRow) -> Facts {
        Facts {
            private: room.private,
            direct: room.direct,
            archived: room.archived,
            owner: room.owner,
        }
    }
}

impl Access {
    /// The rule, for a room as stored: a public room is everyone's to post
    /// in, but for those banned from it; a private one only its members'
    /// (`member`); its creator owns it, except a direct conversation, which
    /// nobody manages; its appointed moderators moderate it. An archived
    /// room is only read, and so is any room by someone muted in it.
    pub fn of(room: &RoomRow, user: UserId, member: bool, standing: Standing) -> Access {
        Self::decide(Facts::from(room), user, member, standing, now_ms()).0
    }

    /// The rule, and why a room that is only read is (`None` otherwise).
    fn decide(room: Facts, user: UserId, member: bool, standing: Standing, now: Millis) -> (Access, Option<Refusal>) {
        if (room.private && !member) || (standing.banned && !room.private) {
            (Access::None, None)
        } else if room.archived {
            (Access::Read, Some(Refusal::ReadOnly))
        } else if room.owner == user && !room.direct {
            (Access::Own, None)
        } else if standing.moderator && !room.direct {
            (Access::Moderate, None)
        } else if let Some(until) = standing.muted_at(now) {
            (Access::Read, Some(Refusal::Muted(until)))
        } else {
            (Access::Post, None)
        }
    }
}

/// Most public rooms remembered (each ~40 bytes, and ~50 per person with a
/// standing in it).
const PUBLIC_ROOMS_REMEMBERED: usize = 1_000_000;
/// Most (room, user) openings remembered as recorded (each ~40 bytes).
const OPENINGS_REMEMBERED: usize = 1_000_000;

/// A public room as remembered: its owner, and everyone whose standing in
/// it is not a plain member's (its moderators, the banned, the muted).
#[derive(Debug)]
struct PublicRoom {
    owner: UserId,
    standings: HashMap<UserId, Standing>,
}

/// The door. Cheap to clone: clones share what they remember.
#[derive(Clone)]
pub struct AccessControl {
    store: Store,
    /// Public rooms. A std lock: never held across `.await`.
    public: Arc<RwLock<HashMap<RoomId, Arc<PublicRoom>>>>,
    /// Rooms each user is known to have a membership row in (see [`AccessControl::opened`]).
    opened: Arc<RwLock<HashSet<(RoomId, UserId)>>>,
    /// Counts [`AccessControl::forget`]s: a room read before one is not
    /// remembered after it (its standings may predate the change).
    forgets: Arc<AtomicU64>,
}

impl AccessControl {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            public: Default::default(),
            opened: Default::default(),
            forgets: Default::default(),
        }
    }

    /// The room and what `user` may do in it, read from the database (for
    /// the pages that show the room's details). A room they may not see is
    /// `RoomNotFound`, exactly like one that does not exist.
    pub async fn room(&self, user: UserId, room: RoomId) -> Result<(RoomRow, Access)> {
        let (row, access, _) = self.read(user, room).await?;
        Ok((row, access))
    }

    /// [`AccessControl::room`], with why the room is only read, if it is.
    async fn read(&self, user: UserId, room: RoomId) -> Result<(RoomRow, Access, Option<Refusal>)> {
        let generation = self.forgets.load(Ordering::Acquire);
        // Public, or private with `user` a member: the row says which.
        let (row, standing) = self
            .store
            .room_for(room, user)
            .await?
            .ok_or(BackendError::RoomNotFound)?;
        let (access, why) = Access::decide(Facts::from(&row), user, true, standing, now_ms());
        if access == Access::None {
            return Err(BackendError::RoomNotFound);
        }
        self.remember(&row, generation).await?;
        Ok((row, access, why))
    }

    /// What `user` may do in `room`, at least `need`: `RoomNotFound` when
    /// nothing, `Forbidden` when less. A public room's answer is remembered
    /// (with the standings in it); a private room is asked about every
    /// time, because a membership can end at any moment.
    pub async fn require(&self, user: UserId, room: RoomId, need: Access) -> Result<Access> {
        let remembered = self
            .public
            .read()
            // Poison cannot leave the map inconsistent (single inserts and removals).
            .unwrap_or_else(|p| p.into_inner())
            .get(&room)
            .cloned();
        let (access, why) = match remembered {
            Some(public) => {
                let facts = Facts {
                    private: false,
                    direct: false,
                    archived: false,
                    owner: public.owner,
                };
                let standing = public.standings.get(&user).copied().unwrap_or_default();
                Access::decide(facts, user, true, standing, now_ms())
            }
            None => match self.read(user, room).await {
                Ok((_, access, why)) => (access, why),
                Err(BackendError::RoomNotFound) => (Access::None, None),
                Err(e) => return Err(e),
            },
        };
        match access {
            Access::None => Err(BackendError::RoomNotFound),
            enough if enough >= need => Ok(enough),
            _ if need == Access::Own => Err(BackendError::Forbidden(Refusal::NotRoomOwner)),
            _ if need == Access::Moderate => Err(BackendError::Forbidden(Refusal::NotModerator)),
            _ => Err(BackendError::Forbidden(why.unwrap_or(Refusal::ReadOnly))),
        }
    }

    /// Whether `user` may act on others' messages in `room`, where they have
    /// `access`: its owner and moderators may, and so may the site's
    /// moderators and administrators in a public room. The site role is
    /// read from the database: a socket's copy may predate a change, and
    /// this is asked only when a message is deleted.
    pub async fn moderates(&self, user: UserId, room: RoomId, access: Access) -> Result<bool> {
        if access >= Access::Moderate {
            return Ok(true);
        }
        let (row, _) = self.room(user, room).await?;
        if row.private {
            return Ok(false);
        }
        Ok(self.store.site_role(user).await? >= SiteRole::Moderator)
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
        let mut public = self.public.write().unwrap_or_else(|p| p.into_inner());
        self.forgets.fetch_add(1, Ordering::AcqRel);
        public.remove(&room);
    }

    /// Remembers a public room's owner and standings, read after the
    /// `generation`th forget; not if another forget came since. An archived
    /// room is asked about every time: it is rare, and read-only.
    async fn remember(&self, row: &RoomRow, generation: u64) -> Result<()> {
        if row.private || row.archived {
            return Ok(());
        }
        if self
            .public
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&row.id)
        {
            return Ok(());
        }
        let standings = self
            .store
            .standings(row.id)
            .await?
            .into_iter()
            .map(|(user, _, standing)| (user, standing))
            .collect();
        let room = Arc::new(PublicRoom {
            owner: row.owner,
            standings,
        });
        let mut public = self.public.write().unwrap_or_else(|p| p.into_inner());
        // Forgets happen under this lock: none can slip in between.
        if self.forgets.load(Ordering::Acquire) == generation && public.len() < PUBLIC_ROOMS_REMEMBERED {
            public.insert(row.id, room);
        }
        Ok(())
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
    fn standings_in_a_room() {
        let (owner, other) = (UserId(1), UserId(2));
        let now = 1_000_000;
        let moderator = Standing {
            moderator: true,
            ..Standing::default()
        };
        let banned = Standing {
            banned: true,
            ..Standing::default()
        };
        let muted = |until| Standing {
            muted_until: Some(until),
            ..Standing::default()
        };
        let decide =
            |room: &RoomRow, user, member, standing| Access::decide(Facts::from(room), user, member, standing, now);
        let public = room(false, false);
        assert_eq!(decide(&public, other, false, moderator), (Access::Moderate, None));
        assert_eq!(decide(&public, other, false, banned), (Access::None, None));
        assert_eq!(
            decide(&public, other, false, muted(now + 1)),
            (Access::Read, Some(Refusal::Muted(now + 1)))
        );
        assert_eq!(
            decide(&public, other, false, muted(now)),
            (Access::Post, None),
            "a mute ends on its own"
        );
        assert_eq!(
            decide(&public, owner, false, muted(now + 1)).0,
            Access::Own,
            "nobody mutes the owner"
        );
        let private = room(true, false);
        assert_eq!(decide(&private, other, true, moderator).0, Access::Moderate);
        assert_eq!(
            decide(&private, other, false, moderator).0,
            Access::None,
            "not a member any more"
        );
        assert_eq!(
            decide(&private, other, true, banned).0,
            Access::Post,
            "private rooms remove, not ban"
        );
        let direct = room(true, true);
        assert_eq!(
            decide(&direct, other, true, moderator).0,
            Access::Post,
            "nobody moderates a direct conversation"
        );
        let archived = RoomRow {
            archived: true,
            ..room(false, false)
        };
        assert_eq!(
            decide(&archived, other, false, moderator),
            (Access::Read, Some(Refusal::ReadOnly))
        );
    }

    #[test]
    fn the_rule() {
        let (owner, other) = (UserId(1), UserId(2));
        let public = room(false, false);
        assert_eq!(Access::of(&public, owner, false, Standing::default()), Access::Own);
        assert_eq!(Access::of(&public, other, false, Standing::default()), Access::Post);
        let private = room(true, false);
        assert_eq!(Access::of(&private, owner, true, Standing::default()), Access::Own);
        assert_eq!(Access::of(&private, other, true, Standing::default()), Access::Post);
        assert_eq!(Access::of(&private, other, false, Standing::default()), Access::None);
        let direct = room(true, true);
        assert_eq!(
            Access::of(&direct, owner, true, Standing::default()),
            Access::Post,
            "nobody manages a direct conversation"
        );
        assert_eq!(Access::of(&direct, other, false, Standing::default()), Access::None);
        let archived = RoomRow {
            archived: true,
            ..room(false, false)
        };
        assert_eq!(
            Access::of(&archived, owner, false, Standing::default()),
            Access::Read,
            "even its owner only reads"
        );
        assert_eq!(Access::of(&archived, other, false, Standing::default()), Access::Read);
        let archived_private = RoomRow {
            archived: true,
            ..room(true, false)
        };
        assert_eq!(
            Access::of(&archived_private, other, false, Standing::default()),
            Access::None
        );
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
        store
            .add_member(
                private,
                &UserKey::of("bob"),
                &crate::backend::store::Actor::command_line(),
            )
            .await
            .unwrap();
        assert_eq!(door.require(bob.id, private, Access::Post).await.unwrap(), Access::Post);
        store
            .remove_member(
                private,
                &UserKey::of("bob"),
                &crate::backend::store::Actor::command_line(),
            )
            .await
            .unwrap();
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
