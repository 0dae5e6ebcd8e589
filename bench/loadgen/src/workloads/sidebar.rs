//! `sidebar`: how long opening the sidebar takes for someone in many rooms, each with a
//! long log (by default 200 rooms whose last sequence is 1,000,000). The sidebar counts
//! from counters (each room's messages, each marker's), never by reading a log: only the
//! end of each log (`--tail` messages) is stored, numbered as if every event before it
//! were a message. Natter only: the peer has no read markers.
//!
//! Seeded straight into the database, idempotently: the rooms (`<room-prefix>-side-N`),
//! their messages (by an author who is not the reader), the reader's memberships with
//! markers from 0 to 149 messages behind the end (read, a few unread, and "99+"), three
//! deleted messages near the end of every fifth room, and a mention of the reader in
//! every tenth room.

use super::closed;
use super::seed::{author, database, messages, now_ms, public_room};
use crate::cli::{Common, SidebarArgs};
use crate::stats::Summary;
use anyhow::{Context, Result};
use serde_json::{Value, json};
use sqlx::MySqlPool;
use std::time::Instant;

/// The seeded messages' author: a user who cannot log in (no password hash matches `!`).
const AUTHOR: &str = "sidebar-author";

pub async fn run(common: &Common, args: &SidebarArgs) -> Result<Value> {
    let (target, credential, reader) = closed::natter_user(common, "sidebar").await?;
    let pool = database(&args.database_url).await?;
    let seeding = Instant::now();
    let inserted = seed(&pool, &reader, &common.room_prefix, args).await?;
    pool.close().await;
    eprintln!(
        "sidebar: {} rooms ready ({inserted} messages inserted) in {:.1?}",
        args.rooms,
        seeding.elapsed()
    );

    let rooms = usize::try_from(args.rooms).unwrap_or(0);
    let open = |_, _| async {
        match target.sidebar(&credential).await {
            Ok(n) if n >= rooms => Ok(()),
            Ok(n) => Err(format!("the sidebar listed {n} rooms, not {rooms}")),
            Err(e) => Err(format!("{e:#}")),
        }
    };
    if args.run.warmup_secs > 0.0 {
        closed::run(args.run.concurrency, args.run.warmup_secs, open).await;
    }
    let watched = common.watched();
    let before = watched.read();
    let closed::Tally {
        latency: all,
        ok,
        errors,
        first_error,
        secs: elapsed,
    } = closed::run(args.run.concurrency, args.run.secs, open).await;
    let after = watched.read();
    let latency = Summary::of(&all);
    let server = before.server_until(&after);
    eprintln!(
        "sidebar: {ok} opened in {elapsed:.1} s ({:.0}/s, {} in flight): p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms; {errors} errors",
        ok as f64 / elapsed,
        args.run.concurrency,
        latency.p50_ms,
        latency.p99_ms,
        latency.p999_ms,
    );
    if let Some(e) = &first_error {
        eprintln!("  first problem: {e}");
    }
    Ok(json!({
        "workload": "sidebar",
        "target": common.target,
        "rooms": args.rooms,
        "depth": args.depth,
        "concurrency": args.run.concurrency,
        "secs": elapsed,
        "opened": ok,
        "opened_per_s": ok as f64 / elapsed,
        "errors": errors,
        "first_error": first_error,
        "latency": latency,
        "server": server,
        "server_cpu_us_per_open": server.as_ref().map(|s| if ok == 0 { 0.0 } else { s.cpu_s * 1e6 / ok as f64 }),
        "others": before.others_until(&after).into_iter().collect::<std::collections::BTreeMap<_, _>>(),
        "valid": true,
        "pass": errors == 0 && ok > 0,
    }))
}

/// Seeds what is missing; returns how many messages it inserted.
async fn seed(pool: &MySqlPool, reader: &str, prefix: &str, args: &SidebarArgs) -> Result<i64> {
    let reader_id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username_key = ?")
        .bind(reader.to_ascii_lowercase())
        .fetch_optional(pool)
        .await?
        .with_context(|| format!("user {reader} is not in this database (is --database-url the server's?)"))?;
    let now = now_ms();
    let author_id = author(pool, AUTHOR).await?;
    let tail = args.tail.clamp(1, args.depth.max(1));
    let mut inserted = 0;
    for i in 0..args.rooms {
        let name = format!("{prefix}-side-{i}");
        let (room, last) = public_room(pool, &name, author_id, now - i).await?;
        if last < args.depth {
            let first = (args.depth - tail + 1).max(last + 1);
            let seqs: Vec<i64> = (first..=args.depth).collect();
            let client = |seq| format!("side-{room}-{seq}");
            let text = |seq| format!("seeded sidebar message {seq}");
            messages(pool, (room, author_id), &seqs, now, client, text).await?;
            inserted += i64::try_from(seqs.len()).unwrap_or(0);
        }
        // 0 to 149 messages behind: read, a few unread, past "99+".
        let behind = (i * 37) % 150;
        sqlx::query(
            "INSERT INTO memberships (room_id, user_id, added_at, read_seq, read_posted) VALUES (?, ?, ?, ?, ?) \
             ON DUPLICATE KEY UPDATE read_seq = VALUES(read_seq), read_posted = VALUES(read_posted)",
        )
        .bind(room)
        .bind(reader_id)
        .bind(now)
        .bind(args.depth - behind)
        .bind(args.depth - behind)
        .execute(pool)
        .await?;
        if i % 5 == 0 {
            for back in 1..=3 {
                let seq = args.depth - back * 7;
                sqlx::query("UPDATE room_events SET body = '', deleted_at = ? WHERE room_id = ? AND seq = ?")
                    .bind(now)
                    .bind(room)
                    .bind(seq)
                    .execute(pool)
                    .await?;
                sqlx::query("INSERT IGNORE INTO room_deletions (room_id, ordinal) VALUES (?, ?)")
                    .bind(room)
                    .bind(seq)
                    .execute(pool)
                    .await?;
            }
        }
        if i % 10 == 0 {
            sqlx::query(
                "INSERT IGNORE INTO mentions (user_id, room_id, seq, message_id) \
                 SELECT ?, room_id, seq, id FROM room_events WHERE room_id = ? AND seq = ?",
            )
            .bind(reader_id)
            .bind(room)
            .bind(args.depth)
            .execute(pool)
            .await?;
        }
    }
    Ok(inserted)
}
