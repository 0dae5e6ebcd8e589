//! Who is online in which room. Presence is kept per *connection* with an
//! expiry, refreshed by the connection's heartbeat: a person with two tabs is
//! two entries but one name, and entries of a crashed node simply expire.
//!
//! With Redis, each room is a sorted set `{prefix}:presence:{room}` whose
//! members are `connection-id|username` scored by expiry time, so every node
//! sees the same list. Without Redis the same structure lives in this process.
//!
//! The same expiring-entry idea caps each user's open sockets across the
//! cluster: `{prefix}:sockets:{user}` holds one entry per open socket, so a
//! crashed node's sockets stop counting once their entries lapse.

use super::clock::now_ms;
use super::error::BackendError;
use crate::protocol::{Millis, RoomId, UserId};
use fred::prelude::*;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

type Result<T> = std::result::Result<T, BackendError>;

/// room → connection id → (username, expires at). A std mutex: nothing awaits while it is held.
type LocalTable = HashMap<RoomId, HashMap<String, (String, Millis)>>;

/// Presence without Redis: the rooms' tables, and who has a socket open
/// (until when), for the backstage's "online now".
#[derive(Default)]
pub struct LocalPresence {
    rooms: Mutex<LocalTable>,
    people: Mutex<HashMap<UserId, Millis>>,
}

#[derive(Clone)]
pub enum Presence {
    Local(Arc<LocalPresence>),
    Redis { client: Client, prefix: Arc<str> },
}

fn member(conn: &str, username: &str) -> String {
    format!("{conn}|{username}")
}

fn username_of(member: &str) -> Option<&str> {
    member.split_once('|').map(|(_, name)| name)
}

impl Presence {
    pub fn local() -> Self {
        Presence::Local(Arc::default())
    }

    pub fn redis(client: Client, prefix: &str) -> Self {
        Presence::Redis {
            client,
            prefix: prefix.into(),
        }
    }

    fn key(prefix: &str, room: RoomId) -> String {
        format!("{prefix}:presence:{room}")
    }

    /// Everyone with an open socket on any node, scored by expiry.
    fn people_key(prefix: &str) -> String {
        format!("{prefix}:online")
    }

    /// Marks `user` as having a socket open for `ttl_ms` more (with every
    /// socket claim and refresh).
    async fn mark_online(&self, user: UserId, ttl_ms: Millis) -> Result<()> {
        let expires = now_ms() + ttl_ms;
        match self {
            Presence::Local(local) => {
                local
                    .people
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(user, expires);
            }
            Presence::Redis { client, prefix } => {
                let _: () = client
                    .zadd(
                        Self::people_key(prefix),
                        None,
                        None,
                        false,
                        false,
                        (expires as f64, user.0),
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// How many people have a socket open now, across every node.
    pub async fn online_people(&self) -> Result<u64> {
        let now = now_ms();
        match self {
            Presence::Local(local) => {
                let mut people = local.people.lock().unwrap_or_else(|p| p.into_inner());
                people.retain(|_, expires| *expires > now);
                Ok(people.len() as u64)
            }
            Presence::Redis { client, prefix } => {
                let key = Self::people_key(prefix);
                let _: () = client.zremrangebyscore(&key, f64::NEG_INFINITY, now as f64).await?;
                let count: u64 = client.zcard(&key).await?;
                Ok(count)
            }
        }
    }

    /// Whether Redis answers (`None` without Redis).
    pub async fn ping(&self) -> Option<Result<()>> {
        match self {
            Presence::Local(_) => None,
            Presence::Redis { client, .. } => {
                let pinged: std::result::Result<String, _> = client.ping(None).await;
                Some(pinged.map(|_| ()).map_err(BackendError::from))
            }
        }
    }

    fn local_table(local: &LocalPresence) -> std::sync::MutexGuard<'_, LocalTable> {
        // A panic while holding this lock cannot leave the map half-updated
        // (every critical section is a single insert/remove), so poison is harmless.
        local.rooms.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks (or keeps) `conn` online in `room` for `ttl_ms`. Connections
    /// refresh well within it; a node that dies stops refreshing and its
    /// entries lapse.
    pub async fn touch(&self, room: RoomId, conn: &str, username: &str, ttl_ms: Millis) -> Result<()> {
        let expires = now_ms() + ttl_ms;
        match self {
            Presence::Local(table) => {
                Self::local_table(table)
                    .entry(room)
                    .or_default()
                    .insert(conn.to_owned(), (username.to_owned(), expires));
            }
            Presence::Redis { client, prefix } => {
                let key = Self::key(prefix, room);
                // One round trip for both: a join waits on this.
                let pipeline = client.pipeline();
                let _: () = pipeline
                    .zadd(&key, None, None, false, false, (expires as f64, member(conn, username)))
                    .await?;
                // The whole set goes away if nobody refreshes it.
                let _: () = pipeline.pexpire(&key, ttl_ms * 2, None).await?;
                let _: () = pipeline.all().await?;
            }
        }
        Ok(())
    }

    fn sockets_key(prefix: &str, user: UserId) -> String {
        format!("{prefix}:sockets:{}", user.0)
    }

    /// Takes one of `user`'s `cap` socket slots across every node; false when
    /// all are taken. Without Redis there is one node, whose own count (see
    /// `Node::open_socket`) is the whole cluster's, so this always succeeds.
    pub async fn claim_socket(&self, user: UserId, conn: &str, cap: u32, ttl_ms: Millis) -> Result<bool> {
        self.mark_online(user, ttl_ms).await?;
        match self {
            Presence::Local(_) => Ok(true),
            Presence::Redis { client, prefix } => {
                let now = now_ms();
                let claimed: i64 = client
                    .eval(
                        CLAIM_SOCKET_SCRIPT,
                        Self::sockets_key(prefix, user),
                        vec![
                            now.to_string(),
                            cap.to_string(),
                            (now + ttl_ms).to_string(),
                            conn.to_owned(),
                        ],
                    )
                    .await?;
                Ok(claimed == 1)
            }
        }
    }

    /// Keeps a claimed socket slot from lapsing (called with the presence refresh).
    pub async fn refresh_socket(&self, user: UserId, conn: &str, ttl_ms: Millis) -> Result<()> {
        match self {
            Presence::Local(_) => self.mark_online(user, ttl_ms).await,
            Presence::Redis { client, prefix } => {
                let (now, key, people) = (now_ms(), Self::sockets_key(prefix, user), Self::people_key(prefix));
                let expires = (now + ttl_ms) as f64;
                // One round trip: the socket's slot, and the person in the
                // cluster's online set (trimmed of lapsed entries as it goes,
                // so it holds only people online lately).
                let pipeline = client.pipeline();
                let _: () = pipeline.zadd(&key, None, None, false, false, (expires, conn)).await?;
                let _: () = pipeline.pexpire(&key, ttl_ms * 2, None).await?;
                let _: () = pipeline
                    .zadd(&people, None, None, false, false, (expires, user.0))
                    .await?;
                let _: () = pipeline
                    .zremrangebyscore(&people, f64::NEG_INFINITY, now as f64)
                    .await?;
                let _: () = pipeline.all().await?;
                Ok(())
            }
        }
    }

    /// Gives a socket slot back when the socket closes.
    pub async fn release_socket(&self, user: UserId, conn: &str) -> Result<()> {
        if let Presence::Redis { client, prefix } = self {
            let _: () = client.zrem(Self::sockets_key(prefix, user), conn).await?;
        }
        Ok(())
    }

    pub async fn remove(&self, room: RoomId, conn: &str, username: &str) -> Result<()> {
        match self {
            Presence::Local(table) => {
                let mut table = Self::local_table(table);
                if let Some(conns) = table.get_mut(&room) {
                    conns.remove(conn);
                    if conns.is_empty() {
                        table.remove(&room);
                    }
                }
            }
            Presence::Redis { client, prefix } => {
                let _: () = client.zrem(Self::key(prefix, room), member(conn, username)).await?;
            }
        }
        Ok(())
    }

    /// Distinct names of everyone with a live connection in `room`, sorted.
    pub async fn online(&self, room: RoomId) -> Result<Vec<String>> {
        let now = now_ms();
        let names: BTreeSet<String> = match self {
            Presence::Local(table) => {
                let mut table = Self::local_table(table);
                match table.get_mut(&room) {
                    Some(conns) => {
                        conns.retain(|_, (_, expires)| *expires > now);
                        conns.values().map(|(name, _)| name.clone()).collect()
                    }
                    None => BTreeSet::new(),
                }
            }
            Presence::Redis { client, prefix } => {
                let key = Self::key(prefix, room);
                let _: () = client.zremrangebyscore(&key, f64::NEG_INFINITY, now as f64).await?;
                let members: Vec<String> = client
                    .zrangebyscore(&key, now as f64, f64::INFINITY, false, None)
                    .await?;
                members
                    .iter()
                    .filter_map(|m| username_of(m))
                    .map(str::to_owned)
                    .collect()
            }
        };
        Ok(names.into_iter().collect())
    }

    /// How many distinct people are online in each of `rooms`.
    pub async fn online_counts(&self, rooms: &[RoomId]) -> Result<HashMap<RoomId, u32>> {
        let lists = futures::future::try_join_all(
            rooms
                .iter()
                .map(|&room| async move { self.online(room).await.map(|names| (room, names.len() as u32)) }),
        )
        .await?;
        Ok(lists.into_iter().collect())
    }
}

/// Atomic "count live entries, add one if under the cap". KEYS[1] the user's
/// set; ARGV now, cap, expiry of the new entry, connection id. Returns 1 when
/// the slot was taken.
const CLAIM_SOCKET_SCRIPT: &str = r#"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('PEXPIRE', KEYS[1], (tonumber(ARGV[3]) - tonumber(ARGV[1])) * 2)
return 1
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_carry_the_username_after_the_connection_id() {
        assert_eq!(username_of(&member("node1:7", "bob")), Some("bob"));
    }

    #[tokio::test]
    async fn two_connections_of_one_person_count_once_and_leave_separately() {
        let presence = Presence::local();
        let room = RoomId(1);
        presence.touch(room, "c1", "ann", 45_000).await.unwrap();
        presence.touch(room, "c2", "ann", 45_000).await.unwrap();
        presence.touch(room, "c3", "bob", 45_000).await.unwrap();
        assert_eq!(presence.online(room).await.unwrap(), vec!["ann", "bob"]);
        presence.remove(room, "c1", "ann").await.unwrap();
        assert_eq!(presence.online(room).await.unwrap(), vec!["ann", "bob"]);
        presence.remove(room, "c2", "ann").await.unwrap();
        assert_eq!(presence.online(room).await.unwrap(), vec!["bob"]);
        assert_eq!(presence.online_counts(&[room, RoomId(2)]).await.unwrap()[&RoomId(2)], 0);
    }

    #[tokio::test]
    async fn expired_entries_are_not_online() {
        let presence = Presence::local();
        if let Presence::Local(local) = &presence {
            local
                .rooms
                .lock()
                .unwrap()
                .entry(RoomId(1))
                .or_default()
                .insert("c".into(), ("old".into(), now_ms() - 1));
        }
        assert!(presence.online(RoomId(1)).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn people_with_a_socket_are_online_until_their_claim_lapses() {
        let presence = Presence::local();
        assert_eq!(presence.online_people().await.unwrap(), 0);
        presence.claim_socket(UserId(1), "c1", 5, 45_000).await.unwrap();
        presence.claim_socket(UserId(1), "c2", 5, 45_000).await.unwrap();
        presence.claim_socket(UserId(2), "c3", 5, 45_000).await.unwrap();
        assert_eq!(presence.online_people().await.unwrap(), 2, "one person, two sockets");
        presence.refresh_socket(UserId(2), "c3", -1).await.unwrap();
        assert_eq!(presence.online_people().await.unwrap(), 1, "lapsed");
        assert!(presence.ping().await.is_none());
    }
}
