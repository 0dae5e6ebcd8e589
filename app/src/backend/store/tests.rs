use super::log::{keyset_query, select_messages};
use super::*;
use super::{padded, power_of_two_chunks};
use crate::backend::RoomEvent;
use crate::backend::clock::now_ms;
use crate::backend::error::Taken;
use crate::protocol::{ChatMessage, Me, RoomId, Seq, UserId};
use crate::validate::{ClientMessageId, MessageBody, RoomName, Topic, Username};
use sqlx::Row;
use std::collections::HashMap;

pub(super) fn name(name: &str) -> Username {
    Username::parse(name).unwrap()
}

pub(super) fn room_name(name: &str) -> RoomName {
    RoomName::parse(name).unwrap()
}

pub(super) fn no_topic() -> Topic {
    Topic::parse("").unwrap()
}

pub(super) fn message(room: RoomId, author: &Me, client_id: &str, body: &str) -> NewMessage {
    NewMessage {
        room,
        author: author.clone(),
        client_id: ClientMessageId::parse(client_id).unwrap(),
        body: MessageBody::parse(body).unwrap(),
        reply_to: None,
        attachment: None,
    }
}

/// The messages a room's log holds after `since`, each checked to be a post.
async fn posted_after(store: &Store, room: RoomId, since: Seq, limit: u32) -> Vec<ChatMessage> {
    let events = store.events_after(room, since, limit).await.unwrap();
    events
        .into_iter()
        .map(|event| match event {
            RoomEvent::Posted(message) => message,
            other => panic!("not a post: {other:?}"),
        })
        .collect()
}

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

pub(super) async fn store() -> (Store, std::path::PathBuf) {
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

pub(super) async fn cleanup(store: Store, path: &std::path::Path) {
    store.close().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[tokio::test]
async fn sequences_are_per_room_and_a_retry_returns_the_original() {
    let (store, path) = store().await;
    let me = store.create_user(&name("ann"), "hash").await.unwrap();
    let a = store
        .create_room(&room_name("A"), &no_topic(), me.id, false)
        .await
        .unwrap();
    let b = store
        .create_room(&room_name("B"), &no_topic(), me.id, false)
        .await
        .unwrap();

    let first = store.post_message(&message(a, &me, "c1", "one")).await.unwrap();
    assert!(first.fresh);
    assert_eq!(first.message.seq, 1);
    assert_eq!(
        store
            .post_message(&message(b, &me, "c2", "other room"))
            .await
            .unwrap()
            .message
            .seq,
        1
    );
    let retry = store.post_message(&message(a, &me, "c1", "one")).await.unwrap();
    assert!(!retry.fresh);
    assert_eq!((retry.message.id, retry.message.seq), (first.message.id, 1));
    assert_eq!(
        store
            .post_message(&message(a, &me, "c3", "two"))
            .await
            .unwrap()
            .message
            .seq,
        2
    );

    // A failed post (unknown room) burns no sequence anywhere.
    assert!(matches!(
        store.post_message(&message(RoomId(999), &me, "c4", "lost")).await,
        Err(BackendError::RoomNotFound)
    ));
    assert_eq!(
        store
            .post_message(&message(a, &me, "c5", "three"))
            .await
            .unwrap()
            .message
            .seq,
        3
    );
    let all: Vec<Seq> = posted_after(&store, a, 0, 100).await.iter().map(|m| m.seq).collect();
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
pub(super) struct MariaDb {
    admin: sqlx::AnyPool,
    name: String,
    url: String,
}

impl MariaDb {
    pub(super) async fn store(prefix: &str) -> (Store, MariaDb) {
        let db = MariaDb::empty(prefix).await;
        let store = Store::connect(&db.url, 4).await.unwrap();
        (store, db)
    }

    /// A new database with no tables.
    async fn empty(prefix: &str) -> MariaDb {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let admin_url = std::env::var("TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into());
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
        MariaDb { admin, name, url }
    }

    pub(super) async fn drop(self, store: Store) {
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
#[ignore = "needs MariaDB: cargo test -- --include-ignored"]
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
#[ignore = "needs MariaDB: cargo test -- --include-ignored"]
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
    use crate::backend::writer::Writer;
    let ann = store.create_user(&name("ann"), "hash").await.unwrap();
    let bob = store.create_user(&name("bob"), "hash").await.unwrap();
    let a = store
        .create_room(&room_name("A"), &no_topic(), ann.id, false)
        .await
        .unwrap();
    let b = store
        .create_room(&room_name("B"), &no_topic(), ann.id, false)
        .await
        .unwrap();
    /// What the writer published, in the order it did.
    #[derive(Default)]
    struct Published(std::sync::Mutex<Vec<ChatMessage>>);
    impl crate::backend::Publisher for Published {
        fn publish(&self, events: Vec<RoomEvent>) -> crate::backend::events::Published<'_> {
            let mut published = self.0.lock().unwrap();
            for event in events {
                match event {
                    RoomEvent::Posted(message) => published.push(message),
                    other => panic!("the writer published {other:?}"),
                }
            }
            Box::pin(std::future::ready(()))
        }

        fn sessions_ended(&self) {}
    }
    let published = std::sync::Arc::new(Published::default());
    let writer = Writer::start(store.clone(), published.clone());
    let post = |room: RoomId, author: &Me, client_id: String| {
        let writer = writer.clone();
        let message = NewMessage {
            room,
            author: author.clone(),
            client_id: ClientMessageId::parse(&client_id).unwrap(),
            body: MessageBody::parse("hi").unwrap(),
            reply_to: None,
            attachment: None,
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
        let stored = posted_after(store, room, 0, 1000).await;
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
    let original = posted_after(store, a, 0, 1).await.remove(0);
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
        client_id: ClientMessageId::parse(client_id).unwrap(),
        body: MessageBody::parse(client_id).unwrap(),
        reply_to: None,
        attachment: None,
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
    let stored = posted_after(store, a, 201, 10).await;
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
    let me = store.create_user(&name("ann"), "hash").await.unwrap();
    let room = store
        .create_room(&room_name("A"), &no_topic(), me.id, false)
        .await
        .unwrap();
    for i in 0..7 {
        store
            .post_message(&message(room, &me, &format!("c{i}"), "x"))
            .await
            .unwrap();
    }
    let seqs = |page: &[ChatMessage]| page.iter().map(|m| m.seq).collect::<Vec<_>>();
    let (page, older, as_of) = store.messages_before(room, None, 3).await.unwrap();
    assert_eq!(as_of, 7, "current as of the room's last sequence");
    assert_eq!((seqs(&page), older), (vec![5, 6, 7], true));
    let (page, older, _) = store.messages_before(room, Some(5), 3).await.unwrap();
    assert_eq!((seqs(&page), older), (vec![2, 3, 4], true));
    let (page, older, _) = store.messages_before(room, Some(2), 3).await.unwrap();
    assert_eq!((seqs(&page), older), (vec![1], false));
    cleanup(store, &path).await;
}

/// The plan MariaDB picks for a keyset page, on a room where one author
/// wrote everything (so `users` is tiny and tempting to read first).
/// Needs MariaDB (`TEST_MYSQL_URL`, default the local server's `test`).
#[tokio::test]
#[ignore = "needs MariaDB: cargo test -- --include-ignored"]
async fn mariadb_reads_a_keyset_page_from_the_range_without_sorting_the_room() {
    let (store, db) = MariaDb::store("natter_plan").await;
    let me = store.create_user(&name("ann"), "hash").await.unwrap();
    let room = store
        .create_room(&room_name("A"), &no_topic(), me.id, false)
        .await
        .unwrap();
    // 20,000 messages in one statement (MariaDB's sequence engine).
    sqlx::query(
        "INSERT INTO room_events (room_id, seq, author_id, client_id, body, created_at) \
         SELECT ?, seq, ?, CONCAT('c', seq), 'x', 0 FROM seq_1_to_20000",
    )
    .bind(room.0)
    .bind(me.id.0)
    .execute(&store.pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE TABLE room_events, users")
        .execute(&store.pool)
        .await
        .unwrap();

    let explain = format!(
        "EXPLAIN {}",
        keyset_query!(
            false,
            "WHERE m.room_id = ? AND m.seq < ? AND m.kind = 0 ORDER BY m.seq DESC LIMIT ?"
        )
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
    let me = store.create_user(&name("Ann"), "hash").await.unwrap();
    assert!(matches!(
        store.create_user(&name("ANN"), "h").await,
        Err(BackendError::NameTaken(Taken::Username))
    ));
    store
        .create_room(&room_name("Général"), &no_topic(), me.id, false)
        .await
        .unwrap();
    let again = store
        .create_room(&room_name("GÉNÉRAL"), &no_topic(), me.id, false)
        .await;
    assert!(matches!(again, Err(BackendError::NameTaken(Taken::RoomName))));
    cleanup(store, &path).await;
}

/// Runs the migrations of `dialect` (`mysql` or `sqlite`) older than `version`
/// on `pool`: the schema as an older server left it.
async fn migrate_before(pool: &sqlx::AnyPool, dialect: &str, version: i64) {
    let from = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../migrations")
        .join(dialect);
    let to = std::env::temp_dir().join(format!(
        "natter-migrations-{dialect}-{}-{}",
        std::process::id(),
        now_ms()
    ));
    std::fs::create_dir_all(&to).unwrap();
    for entry in std::fs::read_dir(&from).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let number: i64 = name.split('_').next().unwrap().parse().unwrap();
        if number < version {
            std::fs::copy(&path, to.join(&name)).unwrap();
        }
    }
    let migrator = sqlx::migrate::Migrator::new(to.as_path()).await.unwrap();
    migrator.run(pool).await.unwrap();
    std::fs::remove_dir_all(&to).unwrap();
}

/// Messages written before the room log existed are its first events, with
/// their ids and sequences, and the room goes on from there.
async fn messages_become_events_keeping_ids_and_sequences(url: &str, dialect: &str) {
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    migrate_before(&pool, dialect, 8).await;
    sqlx::query(
        "INSERT INTO users (id, username, username_key, password_hash, created_at) VALUES (7, 'Ann', 'ann', 'h', 1)",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO rooms (id, name, name_key, topic, created_by, created_at, last_seq, last_message_at) \
         VALUES (3, 'Old', 'old', '', 7, 1, 3, 5)",
    )
    .execute(&pool)
    .await
    .unwrap();
    for (id, seq) in [(40, 1), (41, 2), (45, 3)] {
        sqlx::query(
            "INSERT INTO messages (id, room_id, seq, author_id, client_id, body, created_at) VALUES (?, 3, ?, 7, ?, ?, ?)",
        )
        .bind(id)
        .bind(seq)
        .bind(format!("c{seq}"))
        .bind(format!("before the log {seq}"))
        .bind(seq)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;

    let store = Store::connect(url, 2).await.unwrap();
    let room = RoomId(3);
    let summary = |m: &ChatMessage| (m.id, m.seq, m.author.clone(), m.body.clone(), m.client_id.clone());
    let expected: Vec<_> = [(40, 1), (41, 2), (45, 3)]
        .map(|(id, seq)| {
            (
                id,
                seq,
                "Ann".to_owned(),
                format!("before the log {seq}"),
                format!("c{seq}"),
            )
        })
        .into();
    let events: Vec<_> = posted_after(&store, room, 0, 10).await.iter().map(summary).collect();
    assert_eq!(events, expected, "catch-up replays them as events");
    let (page, older, _) = store.messages_before(room, None, 10).await.unwrap();
    assert_eq!(
        page.iter().map(summary).collect::<Vec<_>>(),
        expected,
        "history shows them"
    );
    assert!(!older);
    let ann = Me {
        id: UserId(7),
        username: "Ann".into(),
        role: Default::default(),
    };
    // A retried send from before the upgrade still finds its original.
    let retry = store.post_message(&message(room, &ann, "c2", "again")).await.unwrap();
    assert_eq!((retry.fresh, retry.message.id), (false, 41));
    let next = store
        .post_message(&message(room, &ann, "c4", "after the log"))
        .await
        .unwrap();
    assert_eq!((next.fresh, next.message.seq), (true, 4));
    // The messages from before the unread counters were numbered by the
    // upgrade, and new ones carry on from them.
    let ordinals: Vec<i64> = sqlx::query_scalar("SELECT ordinal FROM room_events WHERE room_id = 3 ORDER BY seq")
        .fetch_all(&store.pool)
        .await
        .unwrap();
    assert_eq!(ordinals, vec![1, 2, 3, 4]);
    let bob = store.create_user(&name("bob"), "h").await.unwrap();
    store.ensure_member(room, bob.id).await.unwrap();
    store.post_message(&message(room, &ann, "c5", "new")).await.unwrap();
    assert_eq!(store.sidebar(bob.id).await.unwrap()[0].unread, 1);
    store.close().await;
}

#[tokio::test]
async fn sqlite_messages_become_events_keeping_ids_and_sequences() {
    let path = std::env::temp_dir().join(format!("natter-upgrade-{}-{}.db", std::process::id(), now_ms()));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    messages_become_events_keeping_ids_and_sequences(&url, "sqlite").await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// Needs MariaDB (`TEST_MYSQL_URL`, default the local server's `test`).
#[tokio::test]
#[ignore = "needs MariaDB: cargo test -- --include-ignored"]
async fn mariadb_messages_become_events_keeping_ids_and_sequences() {
    let db = MariaDb::empty("natter_upgrade").await;
    messages_become_events_keeping_ids_and_sequences(&db.url, "mysql").await;
    let store = Store::connect(&db.url, 1).await.unwrap();
    db.drop(store).await;
}

/// Every table and column, as `table.column`, of the schema `pool` holds.
async fn schema_of(pool: &sqlx::AnyPool, sqlite: bool) -> std::collections::BTreeSet<String> {
    let sql = if sqlite {
        "SELECT m.name AS tbl, p.name AS col FROM sqlite_master m JOIN pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'"
    } else {
        "SELECT CAST(table_name AS CHAR) AS tbl, CAST(column_name AS CHAR) AS col FROM information_schema.columns \
         WHERE table_schema = DATABASE() AND table_name <> '_sqlx_migrations'"
    };
    let rows: Vec<(String, String)> = sqlx::query_as(sql).fetch_all(pool).await.unwrap();
    rows.into_iter()
        .map(|(table, column)| format!("{table}.{column}"))
        .collect()
}

/// The two migration folders must build the same tables with the same
/// columns: the one set of queries runs on both. Needs MariaDB.
#[tokio::test]
#[ignore = "needs MariaDB: cargo test -- --include-ignored"]
async fn mariadb_and_sqlite_migrations_build_the_same_tables_and_columns() {
    let (sqlite, path) = store().await;
    let (mariadb, db) = MariaDb::store("natter_parity").await;
    let on_sqlite = schema_of(&sqlite.pool, true).await;
    let on_mariadb = schema_of(&mariadb.pool, false).await;
    cleanup(sqlite, &path).await;
    db.drop(mariadb).await;
    assert!(on_sqlite.contains("room_events.kind"), "{on_sqlite:?}");
    assert!(on_sqlite.contains("search_postings.term") && on_mariadb.contains("search_postings.term"));
    let only_sqlite: Vec<_> = on_sqlite.difference(&on_mariadb).collect();
    let only_mariadb: Vec<_> = on_mariadb.difference(&on_sqlite).collect();
    assert!(
        only_sqlite.is_empty() && only_mariadb.is_empty(),
        "only on SQLite: {only_sqlite:?}; only on MariaDB: {only_mariadb:?}"
    );
}

/// `@` mentions offer the room's people by the start of their names, `_`
/// taken literally (it is a LIKE wildcard), nobody from outside the room.
async fn people_by_the_start_of_their_names(store: &Store) {
    let mut people = Vec::new();
    for n in ["ann_b", "Annabel", "annxb", "bob"] {
        people.push(store.create_user(&name(n), "hash").await.unwrap());
    }
    let outsider = store.create_user(&name("ann_zed"), "hash").await.unwrap();
    let room = store
        .create_room(&room_name("Hall"), &no_topic(), people[0].id, false)
        .await
        .unwrap();
    for p in &people {
        store.ensure_member(room, p.id).await.unwrap();
    }
    let _ = outsider;
    assert_eq!(
        store.people_named(room, "ann", 8).await.unwrap(),
        ["ann_b", "Annabel", "annxb"]
    );
    assert_eq!(store.people_named(room, "ann_", 8).await.unwrap(), ["ann_b"]);
    assert_eq!(store.people_named(room, "", 2).await.unwrap(), ["ann_b", "Annabel"]);
    assert!(store.people_named(room, "zed", 8).await.unwrap().is_empty());
}

#[tokio::test]
async fn mention_candidates_are_the_rooms_people_by_name() {
    let (store, path) = store().await;
    people_by_the_start_of_their_names(&store).await;
    cleanup(store, &path).await;
}

#[tokio::test]
#[ignore = "needs MariaDB: cargo test -- --include-ignored"]
async fn mariadb_mention_candidates_are_the_rooms_people_by_name() {
    let (store, db) = MariaDb::store("natter_mentions").await;
    people_by_the_start_of_their_names(&store).await;
    db.drop(store).await;
}
