//! The backstage's overview as stored: how many accounts, rooms and
//! messages there are, messages per day, and the nodes' heartbeats.

use super::{Result, Store};
use crate::backend::clock::now_ms;
use crate::backend::events::EventKind;
use crate::protocol::{DayCount, Millis, NodeInfo};
use futures::TryStreamExt;

pub const DAY_MS: Millis = 24 * 60 * 60 * 1000;
/// A node's row is removed once it has been silent this long.
const FORGET_NODES_AFTER_MS: Millis = DAY_MS;

#[derive(sqlx::FromRow)]
struct NodeRow {
    id: String,
    started_at: i64,
    seen_at: i64,
    sockets: i64,
    people: i64,
}

impl Store {
    /// Node `node`'s heartbeat: alive now, with `sockets` open for `people`.
    pub async fn heartbeat(&self, node: &str, started_at: Millis, sockets: i64, people: i64) -> Result<()> {
        let now = now_ms();
        let updated = sqlx::query("UPDATE nodes SET seen_at = ?, sockets = ?, people = ? WHERE id = ?")
            .bind(now)
            .bind(sockets)
            .bind(people)
            .bind(node)
            .execute(&self.pool)
            .await?;
        if updated.rows_affected() == 0 {
            sqlx::query("INSERT INTO nodes (id, started_at, seen_at, sockets, people) VALUES (?, ?, ?, ?, ?)")
                .bind(node)
                .bind(started_at)
                .bind(now)
                .bind(sockets)
                .bind(people)
                .execute(&self.pool)
                .await?;
        }
        sqlx::query("DELETE FROM nodes WHERE seen_at < ?")
            .bind(now - FORGET_NODES_AFTER_MS)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The nodes heard from since `since`, by id.
    pub async fn nodes_seen_since(&self, since: Millis) -> Result<Vec<NodeInfo>> {
        let rows: Vec<NodeRow> =
            sqlx::query_as("SELECT id, started_at, seen_at, sockets, people FROM nodes WHERE seen_at >= ? ORDER BY id")
                .bind(since)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|r| NodeInfo {
                id: r.id,
                started_at: r.started_at,
                seen_at: r.seen_at,
                sockets: r.sockets,
                people: r.people,
            })
            .collect())
    }

    /// Accounts, rooms (without direct conversations) and direct conversations.
    pub async fn site_counts(&self) -> Result<(i64, i64, i64)> {
        let accounts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?;
        let rooms: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rooms WHERE is_direct = 0")
            .fetch_one(&self.pool)
            .await?;
        let direct: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rooms WHERE is_direct <> 0")
            .fetch_one(&self.pool)
            .await?;
        Ok((accounts, rooms, direct))
    }

    /// Messages posted on each of the `days` days (UTC) up to and including
    /// the one holding `now`, oldest first.
    ///
    /// The log is not indexed by time (an index would cost every message
    /// its upkeep), but its ids grow with it: the first event of the period
    /// is found by bisecting ids, and only the period's rows are read.
    pub async fn messages_per_day(&self, now: Millis, days: usize) -> Result<Vec<DayCount>> {
        let today = now - now.rem_euclid(DAY_MS);
        let start = today - DAY_MS * (days.saturating_sub(1) as i64);
        let mut counts: Vec<DayCount> = (0..days as i64)
            .map(|n| DayCount {
                day: start + n * DAY_MS,
                messages: 0,
            })
            .collect();
        let Some(first) = self.first_event_since(start).await? else {
            return Ok(counts);
        };
        let mut rows = sqlx::query_scalar::<_, i64>("SELECT created_at FROM room_events WHERE id >= ? AND kind = ?")
            .bind(first)
            .bind(EventKind::Posted.code())
            .fetch(&self.pool);
        while let Some(at) = rows.try_next().await? {
            let day = (at - start).div_euclid(DAY_MS);
            if let Some(count) = usize::try_from(day).ok().and_then(|d| counts.get_mut(d)) {
                count.messages += 1;
            }
        }
        Ok(counts)
    }

    /// The id of the first event at or after `at`, if any, by bisection
    /// over ids (about 30 index lookups for a billion events).
    pub(super) async fn first_event_since(&self, at: Millis) -> Result<Option<i64>> {
        let (lowest, highest): (Option<i64>, Option<i64>) = sqlx::query_as("SELECT MIN(id), MAX(id) FROM room_events")
            .fetch_one(&self.pool)
            .await?;
        let (Some(mut lo), Some(highest)) = (lowest, highest) else {
            return Ok(None);
        };
        // The answer is the first existing id at or after `lo`, once `lo`
        // and `hi` meet; `hi` past the last id stands for "none".
        let mut hi = highest + 1;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let next: Option<(i64, i64)> =
                sqlx::query_as("SELECT id, created_at FROM room_events WHERE id >= ? ORDER BY id LIMIT 1")
                    .bind(mid)
                    .fetch_optional(&self.pool)
                    .await?;
            match next {
                Some((_, created)) if created >= at => hi = mid,
                Some((id, _)) => lo = id + 1,
                None => hi = mid,
            }
        }
        let first: Option<i64> = sqlx::query_scalar("SELECT MIN(id) FROM room_events WHERE id >= ?")
            .bind(lo)
            .fetch_one(&self.pool)
            .await?;
        Ok(first)
    }
}
