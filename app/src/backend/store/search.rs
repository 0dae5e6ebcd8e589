//! Search: each live message's terms (see [`crate::backend::search_text`])
//! in `search_terms`, written in the transaction that posts, edits or
//! deletes it; InnoDB FULLTEXT on MariaDB, FTS5 on SQLite. A query narrows
//! by the index, then checks the folded text and the asker's access to the
//! room in the same statement.

use super::{Result, Store, power_of_two_chunks};
use crate::backend::events::EventKind;
use crate::backend::search_text::{self, Query};
use crate::protocol::{RoomId, SearchHit, UserId};
use crate::validate::UserKey;
use sqlx::{AnyConnection, AssertSqlSafe};

/// The terms' version: a server finding rows of an older one (0: none yet)
/// indexes every message again at start-up. Raise it when
/// [`search_text`] changes what a text is indexed under.
pub const SEARCH_TERMS_VERSION: i64 = 1;

/// Messages indexed per transaction by a rebuild.
const REBUILD_CHUNK: i64 = 500;

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

/// The column that holds a row's message id.
pub(super) fn id_column(sqlite: bool) -> &'static str {
    if sqlite { "rowid" } else { "message_id" }
}

/// Indexes these messages (id, body as written); empty bodies (a file
/// alone) have nothing to find.
pub(super) async fn index(tx: &mut AnyConnection, sqlite: bool, messages: &[(i64, &str)]) -> Result<()> {
    let rows: Vec<(i64, String, String)> = messages
        .iter()
        .filter(|(_, body)| !body.trim().is_empty())
        .map(|(id, body)| {
            let plain = search_text::plain(body);
            (*id, search_text::terms(&plain), plain)
        })
        .collect();
    for chunk in power_of_two_chunks(&rows) {
        let sql = format!(
            "INSERT INTO search_terms ({}, terms, plain) VALUES {}",
            id_column(sqlite),
            vec!["(?, ?, ?)"; chunk.len()].join(", ")
        );
        chunk
            .iter()
            .fold(sqlx::query(AssertSqlSafe(sql)), |q, (id, terms, plain)| {
                q.bind(*id).bind(terms.as_str()).bind(plain.as_str())
            })
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// Removes these messages from the index (deleted, or edited: an edit
/// indexes its new text again).
pub(super) async fn unindex(tx: &mut AnyConnection, sqlite: bool, messages: &[i64]) -> Result<()> {
    let delete = format!("DELETE FROM search_terms WHERE {}", id_column(sqlite));
    super::delete_ids(tx, &delete, messages).await
}

/// Narrowing a search: to one room, one author, and results older than a
/// message (the next page).
#[derive(Clone, Debug, Default)]
pub struct SearchFilter {
    pub room: Option<RoomId>,
    pub author: Option<UserKey>,
    pub before: Option<i64>,
}

impl Store {
    /// Messages matching `query` that `user` may read, newest first, at most
    /// `limit`: live messages in public rooms they are not banned from, and
    /// in private rooms and conversations they are in (archived rooms
    /// included; they are still read).
    pub async fn search(
        &self,
        user: UserId,
        query: &Query,
        filter: &SearchFilter,
        limit: u32,
    ) -> Result<Vec<SearchHit>> {
        let (from, matching, against) = if self.is_sqlite {
            let terms: Vec<String> = query.terms.iter().map(|t| format!("\"{t}\"")).collect();
            (
                "search_terms s JOIN room_events e ON e.id = s.rowid",
                "s.search_terms MATCH ?",
                terms.join(" "),
            )
        } else {
            let terms: Vec<String> = query.terms.iter().map(|t| format!("+{t}")).collect();
            (
                "search_terms s JOIN room_events e ON e.id = s.message_id",
                "MATCH (s.terms) AGAINST (? IN BOOLEAN MODE)",
                terms.join(" "),
            )
        };
        let mut sql = format!(
            "SELECT e.id, e.room_id, r.name AS room_name, e.seq, u.username AS author, e.body, e.created_at \
             FROM {from} JOIN rooms r ON r.id = e.room_id JOIN users u ON u.id = e.author_id \
             LEFT JOIN memberships m ON m.room_id = e.room_id AND m.user_id = ? \
             WHERE {matching} AND e.kind = ? AND e.deleted_at IS NULL \
             AND ((r.is_private = 0 AND m.banned_at IS NULL) OR (r.is_private <> 0 AND m.user_id IS NOT NULL))"
        );
        for _ in &query.pieces {
            sql.push_str(" AND INSTR(s.plain, ?) > 0");
        }
        if filter.room.is_some() {
            sql.push_str(" AND e.room_id = ?");
        }
        if filter.author.is_some() {
            sql.push_str(" AND u.username_key = ?");
        }
        if filter.before.is_some() {
            sql.push_str(" AND e.id < ?");
        }
        sql.push_str(" ORDER BY e.id DESC LIMIT ?");
        let mut q = sqlx::query_as::<_, HitRow>(AssertSqlSafe(sql))
            .bind(user.0)
            .bind(against)
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
        if let Some(before) = filter.before {
            q = q.bind(before);
        }
        let rows = q.bind(i64::from(limit)).fetch_all(&self.pool).await?;
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
        let (id, lock) = (
            id_column(self.is_sqlite),
            if self.is_sqlite { "" } else { " FOR UPDATE" },
        );
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
            let sql = format!("DELETE FROM search_terms WHERE {id} > ? AND {id} <= ?");
            sqlx::query(AssertSqlSafe(sql))
                .bind(after)
                .bind(last)
                .execute(&mut *tx)
                .await?;
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
