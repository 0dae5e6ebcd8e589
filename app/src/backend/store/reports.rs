//! Reports as stored: members flag a message for the administrators, who see
//! it in its context and close the report (taking the message down,
//! resolving or dismissing it), with an audit entry in the same transaction.

use super::audit::{Actor, append};
use super::{Result, Store};
use crate::backend::clock::now_ms;
use crate::backend::error::BackendError;
use crate::backend::events::EventKind;
use crate::protocol::{AuditAction, Report, ReportOutcome, ReportedMessage, RoomId, UserId};
use crate::validate::Invalid;

/// Most reports one person may have waiting: a fixed cost per person, however
/// many messages they flag.
pub const OPEN_REPORTS_PER_PERSON: i64 = 50;
/// Messages shown on each side of a reported one.
const CONTEXT: i64 = 2;

#[derive(sqlx::FromRow)]
struct ReportRow {
    id: i64,
    reporter: String,
    reason: String,
    created_at: i64,
    room_id: i64,
    room_name: String,
    message_id: i64,
    outcome: Option<String>,
    closed_by: Option<String>,
    closed_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    id: i64,
    seq: i64,
    author: String,
    body: String,
    created_at: i64,
    deleted_at: Option<i64>,
}

impl From<MessageRow> for ReportedMessage {
    fn from(m: MessageRow) -> Self {
        ReportedMessage {
            id: m.id,
            author: m.author,
            body: m.body,
            sent_at: m.created_at,
            deleted: m.deleted_at.is_some(),
        }
    }
}

/// A report's message, by id, with its sequence.
const MESSAGE_BY_ID: &str = "SELECT e.id, e.seq, u.username AS author, e.body, e.created_at, e.deleted_at \
     FROM room_events e JOIN users u ON u.id = e.author_id WHERE e.id = ?";
/// The messages just before a sequence in a room, newest first.
const MESSAGES_BEFORE: &str = "SELECT e.id, e.seq, u.username AS author, e.body, e.created_at, e.deleted_at \
     FROM room_events e JOIN users u ON u.id = e.author_id \
     WHERE e.room_id = ? AND e.kind = ? AND e.seq < ? ORDER BY e.seq DESC LIMIT ?";
/// The messages just after a sequence in a room, oldest first.
const MESSAGES_AFTER: &str = "SELECT e.id, e.seq, u.username AS author, e.body, e.created_at, e.deleted_at \
     FROM room_events e JOIN users u ON u.id = e.author_id \
     WHERE e.room_id = ? AND e.kind = ? AND e.seq > ? ORDER BY e.seq LIMIT ?";

impl Store {
    /// Records that `reporter` reports `message` of `room`, for `reason`.
    /// `true` if new; `false` if they had reported it already (the first
    /// report stands). A missing or deleted message is `MessageNotFound`.
    pub async fn report_message(&self, room: RoomId, message: i64, reporter: UserId, reason: &str) -> Result<bool> {
        let found: Option<(i64, Option<i64>)> =
            sqlx::query_as("SELECT author_id, deleted_at FROM room_events WHERE id = ? AND room_id = ? AND kind = ?")
                .bind(message)
                .bind(room.0)
                .bind(EventKind::Posted.code())
                .fetch_optional(&self.pool)
                .await?;
        let author = match found {
            Some((author, None)) => author,
            _ => return Err(BackendError::MessageNotFound),
        };
        if author == reporter.0 {
            return Err(BackendError::Invalid(Invalid(
                "You cannot report your own message.".into(),
            )));
        }
        let waiting: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM reports WHERE reporter_id = ? AND closed_at IS NULL")
                .bind(reporter.0)
                .fetch_one(&self.pool)
                .await?;
        if waiting >= OPEN_REPORTS_PER_PERSON {
            return Err(BackendError::RateLimited(format!(
                "You have {OPEN_REPORTS_PER_PERSON} reports waiting for an administrator. \
                 Please wait until they have been looked at."
            )));
        }
        let inserted = sqlx::query(
            "INSERT INTO reports (message_id, room_id, reporter_id, reason, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(message)
        .bind(room.0)
        .bind(reporter.0)
        .bind(reason)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(BackendError::from);
        match inserted {
            Ok(_) => Ok(true),
            Err(e) if e.is_unique_violation() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Open reports, oldest first (the queue), or closed ones, most recently
    /// closed first; at most `limit`, each with its message in context.
    pub async fn reports(&self, closed: bool, limit: u32) -> Result<Vec<Report>> {
        let sql = if closed {
            "SELECT r.id, u.username AS reporter, r.reason, r.created_at, r.room_id, rm.name AS room_name, \
             r.message_id, r.outcome, r.closed_by, r.closed_at \
             FROM reports r JOIN users u ON u.id = r.reporter_id JOIN rooms rm ON rm.id = r.room_id \
             WHERE r.closed_at IS NOT NULL ORDER BY r.closed_at DESC, r.id DESC LIMIT ?"
        } else {
            "SELECT r.id, u.username AS reporter, r.reason, r.created_at, r.room_id, rm.name AS room_name, \
             r.message_id, r.outcome, r.closed_by, r.closed_at \
             FROM reports r JOIN users u ON u.id = r.reporter_id JOIN rooms rm ON rm.id = r.room_id \
             WHERE r.closed_at IS NULL ORDER BY r.id LIMIT ?"
        };
        let rows: Vec<ReportRow> = sqlx::query_as(sql)
            .bind(i64::from(limit.clamp(1, 100)))
            .fetch_all(&self.pool)
            .await?;
        let mut reports = Vec::with_capacity(rows.len());
        for row in rows {
            let Some(message) = sqlx::query_as::<_, MessageRow>(MESSAGE_BY_ID)
                .bind(row.message_id)
                .fetch_optional(&self.pool)
                .await?
            else {
                continue;
            };
            let context = |sql: &'static str| {
                sqlx::query_as::<_, MessageRow>(sql)
                    .bind(row.room_id)
                    .bind(EventKind::Posted.code())
                    .bind(message.seq)
                    .bind(CONTEXT)
                    .fetch_all(&self.pool)
            };
            let mut before = context(MESSAGES_BEFORE).await?;
            before.reverse();
            let after = context(MESSAGES_AFTER).await?;
            reports.push(Report {
                id: row.id,
                reporter: row.reporter,
                reason: row.reason,
                created_at: row.created_at,
                room: RoomId(row.room_id),
                room_name: row.room_name,
                message: message.into(),
                before: before.into_iter().map(ReportedMessage::from).collect(),
                after: after.into_iter().map(ReportedMessage::from).collect(),
                outcome: row.outcome.as_deref().and_then(ReportOutcome::parse),
                closed_by: row.closed_by,
                closed_at: row.closed_at,
            });
        }
        Ok(reports)
    }

    /// The room and message an open report is about; `None` if there is no
    /// such report or it was closed.
    pub async fn open_report(&self, id: i64) -> Result<Option<(RoomId, i64)>> {
        let found: Option<(i64, i64)> =
            sqlx::query_as("SELECT room_id, message_id FROM reports WHERE id = ? AND closed_at IS NULL")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.map(|(room, message)| (RoomId(room), message)))
    }

    /// Closes report `id`, and every other open report of the same message,
    /// as `outcome`. `false` if there is no such open report (another
    /// administrator closed it first).
    pub async fn close_report(&self, id: i64, outcome: ReportOutcome, by: &Actor) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let found: Option<(i64, String, String)> = sqlx::query_as(
            "SELECT r.message_id, u.username, rm.name FROM reports r \
             JOIN room_events e ON e.id = r.message_id JOIN users u ON u.id = e.author_id \
             JOIN rooms rm ON rm.id = r.room_id WHERE r.id = ? AND r.closed_at IS NULL",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((message, author, room)) = found else {
            return Ok(false);
        };
        let closed = sqlx::query(
            "UPDATE reports SET closed_at = ?, closed_by = ?, outcome = ? WHERE message_id = ? AND closed_at IS NULL",
        )
        .bind(now_ms())
        .bind(by.name.as_str())
        .bind(outcome.as_str())
        .bind(message)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if closed == 0 {
            // Closed by someone else between the read and the update.
            return Ok(false);
        }
        let target = format!("message by {author} in {room}");
        let detail = match closed {
            1 => outcome.label().to_string(),
            n => format!("{} ({n} reports)", outcome.label()),
        };
        append(&mut tx, by, AuditAction::ReportClosed, &target, &detail).await?;
        tx.commit().await?;
        Ok(true)
    }
}
