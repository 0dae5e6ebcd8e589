//! Search: each live message's terms (see [`crate::backend::search_text`])
//! as rows of `search_postings` (term key, message id) and its folded text
//! in `search_texts`, written in the transaction that posts, edits or
//! deletes it; the same tables and queries on MariaDB and SQLite.
//!
//! A query reads the postings of its rarest term newest first, a window at
//! a time (64, then 512, then 4,096 messages), keeping the messages that
//! have its other terms, whose text holds its words and that the asker may
//! read; it stops at a page of results or after the last window. Reading
//! stops early, so the commonest word costs no more than a rare one, and a
//! query that matches little costs at most the windows: it answers with
//! what it found and where to go on (`next`), and the next page starts
//! there.

use super::{Result, Store};
use crate::backend::events::EventKind;
use crate::backend::search_text::{self, Query};
use crate::protocol::{RoomId, SearchHit, UserId};
use crate::validate::UserKey;
use sqlx::any::AnyArguments;
use sqlx::query::Query as SqlQuery;
use sqlx::{AnyConnection, AssertSqlSafe};

/// The terms' version: a server finding rows of an older one (0: none yet)
/// indexes every message again at start-up. Raise it when
/// [`search_text`] changes what a text is indexed under.
pub const SEARCH_TERMS_VERSION: i64 = 2;

/// Messages indexed per transaction by a rebuild.
const REBUILD_CHUNK: i64 = 500;
/// Most rows per insert statement: two values each, well under SQLite's
/// 32,766 bound values per statement.
const ROWS_PER_INSERT: usize = 4096;
/// The windows of the driving term's postings a query reads, in turn.
const WINDOWS: [i64; 3] = [64, 512, 4096];
/// Counting a term's postings stops here: past it, a term is common, and
/// which of two common terms drives matters little.
const COUNT_CAP: i64 = 1000;

#[derive(sqlx::FromRow)]
struct HitRow {
    id: i64,
    room_id: i64,
    room_name: String,
    seq: i64,
    author: String,
    body: String,
    created_at: i64,
}

/// Inserts `rows` into `table (columns)`: one statement per
/// [`ROWS_PER_INSERT`], its rows padded to a power of two with copies of
/// the last (few statement texts, each prepared once per connection; one
/// round trip where exact-size pieces took up to a dozen). A copy finds its
/// row already there and changes nothing.
async fn insert_rows<'q, T>(
    tx: &mut AnyConnection,
    sqlite: bool,
    (table, row): (&str, &str),
    rows: &'q [T],
    bind: impl Fn(SqlQuery<'q, sqlx::Any, AnyArguments>, &'q T) -> SqlQuery<'q, sqlx::Any, AnyArguments>,
) -> Result<()> {
    let copies = if sqlite {
        " ON CONFLICT DO NOTHING"
    } else {
        " ON DUPLICATE KEY UPDATE message_id = message_id"
    };
    for block in rows.chunks(ROWS_PER_INSERT) {
        let Some(last) = block.last() else { continue };
        let n = block.len().next_power_of_two();
        let sql = format!("INSERT INTO {table} VALUES {}{copies}", vec![row; n].join(", "));
        block
            .iter()
            .chain(std::iter::repeat_n(last, n - block.len()))
            .fold(sqlx::query(AssertSqlSafe(sql)), &bind)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// Indexes these messages (id, body as written); empty bodies (a file
/// alone) have nothing to find.
pub(super) async fn index(tx: &mut AnyConnection, sqlite: bool, messages: &[(i64, &str)]) -> Result<()> {
    let texts: Vec<(i64, String)> = messages
        .iter()
        .filter(|(_, body)| !body.trim().is_empty())
        .map(|(id, body)| (*id, search_text::plain(body)))
        .collect();
    let postings: Vec<(i64, i64)> = texts
        .iter()
        .flat_map(|(id, plain)| search_text::keys(plain).into_iter().map(move |key| (key, *id)))
        .collect();
    let texts_table = ("search_texts (message_id, plain)", "(?, ?)");
    insert_rows(tx, sqlite, texts_table, &texts, |q, (id, plain)| {
        q.bind(*id).bind(plain.as_str())
    })
    .await?;
    let postings_table = ("search_postings (term, message_id)", "(?, ?)");
    insert_rows(tx, sqlite, postings_table, &postings, |q, (key, id)| {
        q.bind(*key).bind(*id)
    })
    .await
}

/// Removes these messages from the index (deleted, or edited: an edit
/// indexes its new text again).
pub(super) async fn unindex(tx: &mut AnyConnection, messages: &[i64]) -> Result<()> {
    super::delete_ids(tx, "DELETE FROM search_postings WHERE message_id", messages).await?;
    super::delete_ids(tx, "DELETE FROM search_texts WHERE message_id", messages).await
}

/// Narrowing a search: to one room, one author, and results older than a
/// message (the next page).
#[derive(Clone, Debug, Default)]
pub struct SearchFilter {
    pub room: Option<RoomId>,
    pub author: Option<UserKey>,
    pub before: Option<i64>,
}

/// A page of results, and where the next one starts: `next` is the
/// `before` to ask with, `None` when nothing older can match.
#[derive(Clone, Debug, Default)]
pub struct SearchResults {
    pub hits: Vec<SearchHit>,
    pub next: Option<i64>,
}

impl Store {
    /// Messages matching `query` that `user` may read, newest first, at most
    /// `limit`: live messages in public rooms they are not banned from, and
    /// in private rooms and conversations they are in (archived rooms
    /// included; they are still read). Reads at most the [`WINDOWS`] of
    /// postings, so a page may hold fewer than `limit` and still have a `next`.
    pub async fn search(
        &self,
        user: UserId,
        query: &Query,
        filter: &SearchFilter,
        limit: u32,
    ) -> Result<SearchResults> {
        let keys: Vec<i64> = query.terms.iter().map(|t| search_text::key(t)).collect();
        let Some((driving, others)) = self.driving_term(&keys).await? else {
            return Ok(SearchResults::default());
        };
        let wanted = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut hits: Vec<SearchHit> = Vec::new();
        let mut before = filter.before.unwrap_or(i64::MAX);
        for window in WINDOWS {
            let (count, lowest): (i64, Option<i64>) = sqlx::query_as(
                "SELECT COUNT(*), MIN(message_id) FROM (SELECT message_id FROM search_postings \
                 WHERE term = ? AND message_id < ? ORDER BY message_id DESC LIMIT ?) w",
            )
            .bind(driving)
            .bind(before)
            .bind(window)
            .fetch_one(&self.pool)
            .await?;
            let Some(lowest) = lowest else {
                return Ok(SearchResults { hits, next: None });
            };
            // One more than a page: whether another page follows.
            let rest = wanted + 1 - hits.len();
            hits.extend(
                self.hits_in(user, query, filter, (driving, &others), (lowest, before), rest)
                    .await?,
            );
            if hits.len() > wanted {
                hits.truncate(wanted);
                let next = hits.last().map(|h| h.id);
                return Ok(SearchResults { hits, next });
            }
            if count < window {
                return Ok(SearchResults { hits, next: None });
            }
            before = lowest;
        }
        Ok(SearchResults {
            hits,
            next: Some(before),
        })
    }

    /// Of `keys`, the one with the fewest postings (counted up to
    /// [`COUNT_CAP`]) and the rest; `None` when one has none at all (nothing
    /// can match).
    async fn driving_term(&self, keys: &[i64]) -> Result<Option<(i64, Vec<i64>)>> {
        let Some(&only) = keys.first() else {
            return Ok(None);
        };
        if keys.len() == 1 {
            return Ok(Some((only, Vec::new())));
        }
        let sql = (0..keys.len())
            .map(|i| {
                format!(
                    "SELECT {i} AS i, COUNT(*) AS n FROM (SELECT 1 AS x FROM search_postings WHERE term = ? LIMIT {COUNT_CAP}) c{i}"
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let counts: Vec<(i64, i64)> = keys
            .iter()
            .fold(sqlx::query_as(AssertSqlSafe(sql)), |q, key| q.bind(*key))
            .fetch_all(&self.pool)
            .await?;
        let Some((rarest, fewest)) = counts.into_iter().min_by_key(|(_, n)| *n) else {
            return Ok(None);
        };
        if fewest == 0 {
            return Ok(None);
        }
        let rarest = usize::try_from(rarest).unwrap_or(0);
        let others = keys
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != rarest)
            .map(|(_, k)| *k)
            .collect();
        Ok(Some((keys.get(rarest).copied().unwrap_or(only), others)))
    }

    /// The matches among the driving term's postings in `lowest..before`,
    /// newest first, at most `limit`. The join order is fixed (the postings
    /// drive, bounded by the window): left to choose, a planner may start
    /// from an author's every message instead.
    async fn hits_in(
        &self,
        user: UserId,
        query: &Query,
        filter: &SearchFilter,
        (driving, others): (i64, &[i64]),
        (lowest, before): (i64, i64),
        limit: usize,
    ) -> Result<Vec<SearchHit>> {
        let join = if self.is_sqlite { "CROSS JOIN" } else { "STRAIGHT_JOIN" };
        let mut sql = String::from(
            "SELECT e.id, e.room_id, r.name AS room_name, e.seq, u.username AS author, e.body, e.created_at \
             FROM search_postings c",
        );
        for i in 0..others.len() {
            sql.push_str(&format!(
                " {join} search_postings p{i} ON p{i}.term = ? AND p{i}.message_id = c.message_id"
            ));
        }
        sql.push_str(&format!(
            " {join} room_events e ON e.id = c.message_id {join} search_texts s ON s.message_id = c.message_id \
             {join} rooms r ON r.id = e.room_id {join} users u ON u.id = e.author_id \
             LEFT JOIN memberships m ON m.room_id = e.room_id AND m.user_id = ? \
             WHERE c.term = ? AND c.message_id < ? AND c.message_id >= ? AND e.kind = ? AND e.deleted_at IS NULL \
             AND ((r.is_private = 0 AND m.banned_at IS NULL) OR (r.is_private <> 0 AND m.user_id IS NOT NULL))"
        ));
        for _ in &query.pieces {
            sql.push_str(" AND INSTR(s.plain, ?) > 0");
        }
        if filter.room.is_some() {
            sql.push_str(" AND e.room_id = ?");
        }
        if filter.author.is_some() {
            sql.push_str(" AND u.username_key = ?");
        }
        sql.push_str(" ORDER BY c.message_id DESC LIMIT ?");
        let mut q = others
            .iter()
            .fold(sqlx::query_as::<_, HitRow>(AssertSqlSafe(sql)), |q, key| q.bind(*key));
        q = q
            .bind(user.0)
            .bind(driving)
            .bind(before)
            .bind(lowest)
            .bind(EventKind::Posted.code());
        for piece in &query.pieces {
            q = q.bind(piece.as_str());
        }
        if let Some(room) = filter.room {
            q = q.bind(room.0);
        }
        if let Some(author) = &filter.author {
            q = q.bind(author.as_str().to_string());
        }
        let rows = q
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| SearchHit {
                marks: search_text::highlights(&r.body, &query.pieces),
                id: r.id,
                room: RoomId(r.room_id),
                room_name: r.room_name,
                seq: r.seq,
                author: r.author,
                body: r.body,
                created_at: r.created_at,
            })
            .collect())
    }

    /// The version of the terms the index holds (see [`SEARCH_TERMS_VERSION`]).
    pub async fn search_terms_version(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT version FROM search_index WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?
            .unwrap_or(0))
    }

    /// Indexes every message again, a chunk per transaction, while the
    /// room goes on (each chunk locks its messages, so an edit lands before
    /// or after it, never lost between). Returns how many were indexed.
    pub async fn rebuild_search(&self) -> Result<u64> {
        // Messages after the newest one now are indexed by their own
        // transactions, this code's.
        let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM room_events")
            .fetch_one(&self.pool)
            .await?;
        let newest = newest.unwrap_or(0);
        let lock = if self.is_sqlite { "" } else { " FOR UPDATE" };
        let (mut after, mut indexed) = (0i64, 0u64);
        loop {
            let mut tx = self.pool.begin().await?;
            let sql = format!(
                "SELECT id, body FROM room_events WHERE id > ? AND id <= ? AND kind = ? AND deleted_at IS NULL \
                 ORDER BY id LIMIT ?{lock}"
            );
            let rows: Vec<(i64, String)> = sqlx::query_as(AssertSqlSafe(sql))
                .bind(after)
                .bind(newest)
                .bind(EventKind::Posted.code())
                .bind(REBUILD_CHUNK)
                .fetch_all(&mut *tx)
                .await?;
            // This chunk's range; the last one reaches the newest message.
            let last = rows.last().map_or(newest, |(id, _)| *id);
            for sql in [
                "DELETE FROM search_postings WHERE message_id > ? AND message_id <= ?",
                "DELETE FROM search_texts WHERE message_id > ? AND message_id <= ?",
            ] {
                sqlx::query(sql).bind(after).bind(last).execute(&mut *tx).await?;
            }
            let bodies: Vec<(i64, &str)> = rows.iter().map(|(id, body)| (*id, body.as_str())).collect();
            index(&mut tx, self.is_sqlite, &bodies).await?;
            if rows.is_empty() {
                sqlx::query("UPDATE search_index SET version = ? WHERE id = 1")
                    .bind(SEARCH_TERMS_VERSION)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            if rows.is_empty() {
                return Ok(indexed);
            }
            indexed += rows.len() as u64;
            after = last;
        }
    }
}
