//! `seed-history`: fills one room with N messages straight into the target's database,
//! with multi-row INSERTs (sending a million messages through the server would take far
//! longer than the benchmark itself). Only the missing messages are added, so reruns are
//! cheap.
//!
//! Natter: `messages(room_id, seq, author_id, client_id, body, created_at)` with a gap-free
//! `seq` from 1, and the room's `last_seq` / `last_message_at` moved in the same
//! transaction, exactly as the server keeps them; with `--reactions N`, the first N
//! messages carry one reaction each (five emoji in turn), as rows of
//! `message_reactions` (what a history page reads; their log events are not written,
//! as only pages are measured). The peer: `peer_messages(room_id,
//! author_id, client_id, body, created_at)` with an auto-increment id.

use crate::cli::{Common, SeedArgs};
use crate::target::Kind;
use crate::users;
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use sqlx::{MySqlPool, QueryBuilder};
use std::time::Instant;

/// One connection to the target's database, for seeding it.
pub async fn database(url: &str) -> Result<MySqlPool> {
    sqlx::mysql::MySqlPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .with_context(|| format!("connecting to {url}"))
}

/// Now, as the server stores times (epoch milliseconds).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A user who cannot log in (no password hash matches `!`), made if missing: its id.
pub async fn author(pool: &MySqlPool, name: &str) -> Result<i64> {
    sqlx::query("INSERT IGNORE INTO users (username, username_key, password_hash, created_at) VALUES (?, ?, '!', ?)")
        .bind(name)
        .bind(name.to_ascii_lowercase())
        .bind(now_ms())
        .execute(pool)
        .await?;
    Ok(sqlx::query_scalar("SELECT id FROM users WHERE username_key = ?")
        .bind(name.to_ascii_lowercase())
        .fetch_one(pool)
        .await?)
}

/// A public room by `author`, made if missing: its id and last sequence.
pub async fn public_room(pool: &MySqlPool, name: &str, author: i64, last_message_at: i64) -> Result<(i64, i64)> {
    sqlx::query(
        "INSERT IGNORE INTO rooms (name, name_key, topic, created_by, created_at, last_seq, last_message_at) \
         VALUES (?, ?, '', ?, ?, 0, ?)",
    )
    .bind(name)
    .bind(name.to_ascii_lowercase())
    .bind(author)
    .bind(now_ms())
    .bind(last_message_at)
    .execute(pool)
    .await?;
    Ok(sqlx::query_as("SELECT id, last_seq FROM rooms WHERE name_key = ?")
        .bind(name.to_ascii_lowercase())
        .fetch_one(pool)
        .await?)
}

/// Messages `seqs` (consecutive, after the room's last) in `room` by `author`, in one
/// transaction that also moves the room's `last_seq` and `posted` to the last: every
/// seeded event is a message, so its ordinal is its sequence. `text(seq)` is the body and
/// `client(seq)` the client id; message `seq` is dated `newest - (last seq - seq)` ms.
pub async fn messages(
    pool: &MySqlPool,
    (room, author): (i64, i64),
    seqs: &[i64],
    newest: i64,
    client: impl Fn(i64) -> String,
    text: impl Fn(i64) -> String,
) -> Result<()> {
    let Some(&last) = seqs.last() else {
        return Ok(());
    };
    let mut tx = pool.begin().await?;
    for chunk in seqs.chunks(1_000) {
        let mut insert = QueryBuilder::new(
            "INSERT INTO room_events (room_id, seq, author_id, client_id, body, created_at, ordinal) ",
        );
        insert.push_values(chunk, |mut row, seq| {
            row.push_bind(room)
                .push_bind(*seq)
                .push_bind(author)
                .push_bind(client(*seq))
                .push_bind(text(*seq))
                .push_bind(newest - last + seq)
                .push_bind(*seq);
        });
        insert.build().execute(&mut *tx).await.context("inserting messages")?;
    }
    sqlx::query("UPDATE rooms SET last_seq = ?, posted = ? WHERE id = ?")
        .bind(last)
        .bind(last)
        .bind(room)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

fn body(n: i64, bytes: usize) -> String {
    let mut b = format!("seeded history message {n} ");
    let pad = bytes.saturating_sub(b.len());
    b.extend(std::iter::repeat_n('h', pad));
    b
}

pub async fn run(common: &Common, args: &SeedArgs) -> Result<Value> {
    let target = common.target()?;
    // The author: the loadgen's first user, created through the server like any other.
    let (credential, author) = users::first(
        &target,
        &common.user_prefix,
        common.session_cache_path(&target).as_deref(),
    )
    .await?;
    let pool = database(&args.database_url).await?;
    let started = Instant::now();
    let summary = match common.target {
        Kind::Natter => {
            let name = args
                .room_name
                .clone()
                .unwrap_or_else(|| format!("{}-history", common.room_prefix));
            let room = target.rooms(&credential, &[name], common.peer_room_base).await?[0];
            seed_natter(&pool, room, &author, args).await?
        }
        Kind::Peer => seed_peer(&pool, args.peer_room, &author, args).await?,
    };
    pool.close().await;
    eprintln!("seed-history: {summary} in {:.1?}", started.elapsed());
    Ok(summary)
}

async fn seed_natter(pool: &MySqlPool, room: i64, author: &str, args: &SeedArgs) -> Result<Value> {
    let author_id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username_key = ?")
        .bind(author.to_ascii_lowercase())
        .fetch_optional(pool)
        .await?
        .with_context(|| format!("user {author} is not in this database (is --database-url the server's?)"))?;
    let mut last: i64 = sqlx::query_scalar("SELECT last_seq FROM rooms WHERE id = ?")
        .bind(room)
        .fetch_optional(pool)
        .await?
        .with_context(|| format!("room {room} is not in this database"))?;
    let already = last;
    // Servers since the room log keep messages in `room_events` (kind 0
    // by default); older ones, which `bench/run --against` may start, in `messages`.
    let table: Option<String> = sqlx::query_scalar(
        "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
         WHERE table_schema = DATABASE() AND table_name = 'room_events'",
    )
    .fetch_optional(pool)
    .await?;
    let insert_into = match table {
        Some(_) => "INSERT INTO room_events (room_id, seq, author_id, client_id, body, created_at) ",
        None => "INSERT INTO messages (room_id, seq, author_id, client_id, body, created_at) ",
    };
    let base_ms = now_ms() - args.depth;
    while last < args.depth {
        let upto = (last + i64::try_from(args.batch.max(1)).unwrap_or(1000)).min(args.depth);
        let mut tx = pool.begin().await?;
        let mut insert = QueryBuilder::new(insert_into);
        insert.push_values(last + 1..=upto, |mut row, seq| {
            row.push_bind(room)
                .push_bind(seq)
                .push_bind(author_id)
                .push_bind(format!("seed-{room}-{seq}"))
                .push_bind(body(seq, args.body_bytes))
                .push_bind(base_ms + seq);
        });
        insert.build().execute(&mut *tx).await.context("inserting messages")?;
        // Guarded by the old value: a server posting into this room meanwhile would
        // otherwise end up with a duplicate sequence.
        let moved = sqlx::query("UPDATE rooms SET last_seq = ?, last_message_at = ? WHERE id = ? AND last_seq = ?")
            .bind(upto)
            .bind(base_ms + upto)
            .bind(room)
            .bind(last)
            .execute(&mut *tx)
            .await?;
        if moved.rows_affected() != 1 {
            bail!("room {room} received messages while seeding; seed a room nobody posts to");
        }
        tx.commit().await?;
        last = upto;
        if last % 100_000 < i64::try_from(args.batch).unwrap_or(1) || last == args.depth {
            eprintln!("  {last} / {} messages", args.depth);
        }
    }
    let reactions = seed_reactions(pool, room, author_id, args).await?;
    Ok(json!({
        "workload": "seed-history",
        "target": "natter",
        "room": room,
        "depth": last,
        "inserted": last - already,
        "reactions": reactions,
        "valid": true,
        "pass": true,
    }))
}

/// One reaction on each of the room's first `--reactions` messages; returns how many
/// the room's messages carry now.
async fn seed_reactions(pool: &MySqlPool, room: i64, author_id: i64, args: &SeedArgs) -> Result<i64> {
    if args.reactions <= 0 {
        return Ok(0);
    }
    let table: Option<String> = sqlx::query_scalar(
        "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
         WHERE table_schema = DATABASE() AND table_name = 'message_reactions'",
    )
    .fetch_optional(pool)
    .await?;
    if table.is_none() {
        eprintln!("seed-history: this server keeps no reactions; none seeded");
        return Ok(0);
    }
    let count = || {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM message_reactions r JOIN room_events m ON m.id = r.message_id WHERE m.room_id = ?",
        )
        .bind(room)
        .fetch_one(pool)
    };
    let mut have = count().await?;
    let want = args.reactions.min(args.depth);
    let step = i64::try_from(args.batch.max(1)).unwrap_or(1000) * 50;
    while have < want {
        let upto = (have + step).min(want);
        // Messages `have + 1 ..= upto` by sequence (one reaction each, so the count
        // is where to go on from).
        sqlx::query(
            "INSERT INTO message_reactions (message_id, emoji, user_id, seq) \
             SELECT id, ELT(1 + seq % 5, '👍', '🎉', '❤️', '😂', '👀'), ?, seq FROM room_events \
             WHERE room_id = ? AND kind = 0 AND seq > ? AND seq <= ?",
        )
        .bind(author_id)
        .bind(room)
        .bind(have)
        .bind(upto)
        .execute(pool)
        .await
        .context("inserting reactions")?;
        have = upto;
        eprintln!("  {have} / {want} reactions");
    }
    count().await.map_err(Into::into)
}

async fn seed_peer(pool: &MySqlPool, room: i64, author: &str, args: &SeedArgs) -> Result<Value> {
    let author_id: i64 = sqlx::query_scalar("SELECT id FROM peer_users WHERE username = ?")
        .bind(author)
        .fetch_optional(pool)
        .await?
        .with_context(|| format!("user {author} is not in this database (is --database-url the peer's?)"))?;
    let table = &args.peer_table;
    if !table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        bail!("--peer-table must be a plain table name");
    }
    let count_sql = format!("SELECT COUNT(*) FROM {table} WHERE room_id = ?");
    let mut have: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count_sql))
        .bind(room)
        .fetch_one(pool)
        .await
        .with_context(|| format!("counting {table}"))?;
    let already = have;
    let base_ms = now_ms() - args.depth;
    while have < args.depth {
        let upto = (have + i64::try_from(args.batch.max(1)).unwrap_or(1000)).min(args.depth);
        let mut insert = QueryBuilder::new(format!(
            "INSERT INTO {table} (room_id, author_id, client_id, body, created_at) "
        ));
        insert.push_values(have + 1..=upto, |mut row, n| {
            row.push_bind(room)
                .push_bind(author_id)
                .push_bind(format!("seed-{room}-{n}"))
                .push_bind(body(n, args.body_bytes))
                .push_bind(base_ms + n);
        });
        insert.build().execute(pool).await.context("inserting messages")?;
        have = upto;
        if have % 100_000 < i64::try_from(args.batch).unwrap_or(1) || have == args.depth {
            eprintln!("  {have} / {} messages", args.depth);
        }
    }
    let range_sql = format!("SELECT MIN(id), MAX(id) FROM {table} WHERE room_id = ?");
    let (first, last): (Option<i64>, Option<i64>) = sqlx::query_as(sqlx::AssertSqlSafe(range_sql))
        .bind(room)
        .fetch_one(pool)
        .await?;
    Ok(json!({
        "workload": "seed-history",
        "target": "peer",
        "room": room,
        "depth": have,
        "inserted": have - already,
        "first_id": first,
        "last_id": last,
        "valid": true,
        "pass": true,
    }))
}
