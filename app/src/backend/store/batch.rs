//! Group commit's statement: many messages, to many rooms, in one
//! transaction (see [`crate::backend::writer`]).

use super::log::{
    Applied, InsertedRow, NewMessage, NewUpdate, Posted, TargetRow, insert_event_rows, reply_missing, select_target,
};
use super::reading::{Mentioning, record_mentions};
use super::uploads::{attach, attachables, not_attachable};
use super::{Result, Store, padded, placeholders};
use crate::backend::clock::now_ms;
use crate::backend::error::{BackendError, Refusal};
use crate::protocol::{Attachment, Quote, Seq};
use sqlx::AssertSqlSafe;
use std::collections::HashMap;

/// A room's sequence counter, read under its lock.
#[derive(sqlx::FromRow)]
struct CounterRow {
    id: i64,
    last_seq: i64,
    posted: i64,
    archived_at: Option<i64>,
}

/// `sql` (whose `{}` is the list's place) with one placeholder per room,
/// then `suffix`.
fn rooms_sql(sql: &str, suffix: &str, rooms: &[i64]) -> AssertSqlSafe<String> {
    AssertSqlSafe(format!("{}{suffix}", sql.replacen("{}", &placeholders(rooms.len()), 1)))
}

impl Store {
    /// For each message, the quote of the message it replies to (`None` if
    /// it is no reply), or why it cannot reply to it: one query for the batch.
    async fn reply_quotes(
        &self,
        tx: &mut sqlx::AnyConnection,
        messages: &[NewMessage],
    ) -> Result<Vec<Result<Option<Quote>>>> {
        let mut targets: Vec<i64> = messages.iter().filter_map(|m| m.reply_to).collect();
        let mut found: HashMap<i64, TargetRow> = HashMap::new();
        if !targets.is_empty() {
            targets.sort_unstable();
            targets.dedup();
            let targets = padded(&targets);
            let sql = format!("{}{})", select_target!("WHERE m.id IN ("), placeholders(targets.len()));
            let rows: Vec<TargetRow> = targets
                .iter()
                .fold(sqlx::query_as(AssertSqlSafe(sql)), |query, id| query.bind(*id))
                .fetch_all(&mut *tx)
                .await?;
            found = rows.into_iter().map(|row| (row.id, row)).collect();
        }
        Ok(messages
            .iter()
            .map(|m| match m.reply_to {
                None => Ok(None),
                Some(target) => TargetRow::in_room(found.get(&target), m.room)
                    .map_err(|_| reply_missing())?
                    .quote()
                    .map(Some),
            })
            .collect())
    }

    /// For each message, the upload it posts (`None` if none), or why it
    /// cannot: one query for the batch. Of two messages posting the same
    /// upload, the first has it.
    async fn batch_attachments(
        &self,
        tx: &mut sqlx::AnyConnection,
        messages: &[NewMessage],
    ) -> Result<Vec<Result<Option<Attachment>>>> {
        let ids: Vec<&str> = messages.iter().filter_map(|m| m.attachment.as_deref()).collect();
        if ids.is_empty() {
            return Ok(messages.iter().map(|_| Ok(None)).collect());
        }
        let mut found = attachables(tx, &ids, !self.is_sqlite).await?;
        Ok(messages
            .iter()
            .map(|m| match m.attachment.as_deref() {
                None => Ok(None),
                // Someone else's attempt leaves it to its uploader.
                Some(id) => match found.get(id) {
                    Some((uploader, _)) if *uploader == m.author.id => {
                        Ok(found.remove(id).map(|(_, attachment)| attachment))
                    }
                    _ => Err(not_attachable()),
                },
            })
            .collect())
    }

    /// Commits `messages` in one transaction: [`Store::commit_batch`] without changes.
    pub async fn post_batch(&self, messages: &[NewMessage]) -> Result<Vec<Result<Posted>>> {
        Ok(self.commit_batch(messages, &[]).await?.0)
    }

    /// Commits `messages`, then `updates`, in one transaction (group commit,
    /// see [`crate::backend::writer`]). Returns one outcome per message and
    /// per update, in order; a message to a room that does not exist gets
    /// `RoomNotFound`, and a change that may not be made its refusal, and
    /// neither burns a sequence. An `Err` means nothing was committed: a
    /// client id that was used before fails the whole batch with a unique
    /// violation, and the writer then commits its messages and changes one
    /// by one ([`Store::post_message`], [`Store::apply_update`]), which find
    /// the originals.
    pub async fn commit_batch(
        &self,
        messages: &[NewMessage],
        updates: &[NewUpdate],
    ) -> Result<(Vec<Result<Posted>>, Vec<Result<Applied>>)> {
        if messages.is_empty() && updates.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let now = now_ms();
        let mut tx = self.pool.begin().await?;

        // Lock the rooms' rows, whose last_seq are the sequence counters: a
        // concurrent batch (another node's) waits for this one's commit.
        let mut rooms: Vec<i64> = messages
            .iter()
            .map(|m| m.room.0)
            .chain(updates.iter().map(|u| u.room.0))
            .collect();
        rooms.sort_unstable();
        rooms.dedup();
        let rooms = padded(&rooms);
        // SQLite has no FOR UPDATE. Its transaction must write first: one that
        // reads first and then writes fails at once (SQLITE_BUSY, no waiting)
        // whenever another connection wrote in between, so take the write lock
        // with a no-op update before reading the counters.
        if self.is_sqlite {
            let sql = rooms_sql("UPDATE rooms SET last_seq = last_seq WHERE id IN ({})", "", &rooms);
            rooms
                .iter()
                .fold(sqlx::query(sql), |query, room| query.bind(*room))
                .execute(&mut *tx)
                .await?;
        }
        let lock = if self.is_sqlite { "" } else { " FOR UPDATE" };
        let sql = rooms_sql(
            "SELECT id, last_seq, posted, archived_at FROM rooms WHERE id IN ({})",
            lock,
            &rooms,
        );
        let counters = rooms
            .iter()
            .fold(sqlx::query_as::<_, CounterRow>(sql), |query, room| query.bind(*room))
            .fetch_all(&mut *tx)
            .await?;
        // A room archived after a send passed the door takes no more messages.
        let archived: Vec<i64> = counters
            .iter()
            .filter(|row| row.archived_at.is_some())
            .map(|row| row.id)
            .collect();
        let posted: HashMap<i64, i64> = counters.iter().map(|row| (row.id, row.posted)).collect();
        let last: HashMap<i64, Seq> = counters.into_iter().map(|row| (row.id, row.last_seq)).collect();
        // A room's messages take consecutive sequences after `last`, and
        // their ordinals follow `posted` the same way.
        let ordinal =
            |room: i64, seq: Seq| posted.get(&room).copied().unwrap_or(0) + seq - last.get(&room).copied().unwrap_or(0);

        // Replies: the messages they answer, checked and quoted; files:
        // the uploads they post, checked. A message refused for either
        // takes no sequence.
        let quotes = self.reply_quotes(&mut tx, messages).await?;
        let files = self.batch_attachments(&mut tx, messages).await?;
        let mut checked: Vec<Result<(Option<Quote>, Option<Attachment>)>> = quotes
            .into_iter()
            .zip(files)
            .zip(messages)
            .map(|((quote, file), m)| {
                if archived.contains(&m.room.0) {
                    return Err(BackendError::Forbidden(Refusal::ReadOnly));
                }
                Ok((quote?, file?))
            })
            .collect();

        // Sequences in arrival order, per room, continuing from the counters.
        let mut next = last.clone();
        let seqs: Vec<Option<Seq>> = messages
            .iter()
            .zip(&checked)
            .map(|(m, check)| {
                if check.is_err() {
                    return None;
                }
                next.get_mut(&m.room.0).map(|seq| {
                    *seq += 1;
                    *seq
                })
            })
            .collect();
        let fresh: Vec<(&NewMessage, Seq)> = messages
            .iter()
            .zip(&seqs)
            .filter_map(|(m, seq)| seq.map(|seq| (m, seq)))
            .collect();
        let mut ids: HashMap<(i64, Seq), i64> = HashMap::new();
        if !fresh.is_empty() {
            let bumped: Vec<(i64, Seq)> = next
                .iter()
                .filter(|(room, seq)| last.get(room) != Some(seq))
                .map(|(room, seq)| (*room, *seq))
                .collect();
            let bumped = padded(&bumped);
            let sql = format!(
                "UPDATE rooms SET last_seq = CASE id {when} END, posted = CASE id {when} END, last_message_at = ? \
                 WHERE id IN ({})",
                placeholders(bumped.len()),
                when = "WHEN ? THEN ? ".repeat(bumped.len()),
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for (room, seq) in &bumped {
                query = query.bind(*room).bind(*seq);
            }
            for (room, seq) in &bumped {
                query = query.bind(*room).bind(ordinal(*room, *seq));
            }
            query = query.bind(now);
            for (room, _) in &bumped {
                query = query.bind(*room);
            }
            query.execute(&mut *tx).await?;

            // The new rows' ids, by their (room, seq) key: ids need not be
            // consecutive, so one multi-row insert's "last id" is not enough.
            ids = insert_event_rows(&mut tx, self.returning, &fresh, |query, (m, seq)| {
                m.bind_row(query, (*seq, ordinal(m.room.0, *seq)), now)
            })
            .await?;

            if !self.returning {
                // MySQL: read them back, one range per room. In MariaDB this
                // query was a third of a batch's time, hence RETURNING there.
                let sql = format!(
                    "SELECT id, room_id, seq FROM room_events WHERE {}",
                    vec!["(room_id = ? AND seq > ? AND seq <= ?)"; bumped.len()].join(" OR ")
                );
                let mut query = sqlx::query_as::<_, InsertedRow>(AssertSqlSafe(sql));
                for (room, seq) in &bumped {
                    query = query.bind(*room).bind(last.get(room).copied().unwrap_or(0)).bind(*seq);
                }
                for row in query.fetch_all(&mut *tx).await? {
                    ids.insert((row.room_id, row.seq), row.id);
                }
            }
        }
        // Whom each message names.
        let mentioning: Vec<Mentioning<'_>> = fresh
            .iter()
            .filter(|(m, _)| m.body.as_str().contains('@'))
            .filter_map(|(m, seq)| {
                ids.get(&(m.room.0, *seq)).map(|id| Mentioning {
                    room: m.room,
                    seq: *seq,
                    message: *id,
                    author: m.author.id,
                    body: m.body.as_str(),
                })
            })
            .collect();
        record_mentions(&mut tx, &mentioning).await?;
        // What search finds them by.
        let bodies: Vec<(i64, &str)> = fresh
            .iter()
            .filter_map(|(m, seq)| ids.get(&(m.room.0, *seq)).map(|id| (*id, m.body.as_str())))
            .collect();
        super::search::index(&mut tx, self.is_sqlite, &bodies).await?;
        // Posting reads the room: each author's marker moves past their message.
        let read: Vec<(i64, i64, Seq, i64)> = fresh
            .iter()
            .map(|(m, seq)| (m.room.0, m.author.id.0, *seq, ordinal(m.room.0, *seq)))
            .collect();
        super::reading::posted_read(&mut tx, self.is_sqlite, &read).await?;
        // The posted files, each now its message's.
        for ((m, seq), check) in messages.iter().zip(&seqs).zip(&checked) {
            if let (Some(seq), Ok((_, Some(file)))) = (seq, check)
                && let Some(id) = ids.get(&(m.room.0, *seq))
            {
                attach(&mut tx, &file.id, m.room, *id).await?;
            }
        }
        // Then the changes, each under its room's next sequence, after the
        // batch's messages. A refused one wrote nothing and takes no sequence.
        let before_changes = next.clone();
        let applied = if updates.is_empty() {
            Vec::new()
        } else {
            self.make_changes(&mut tx, updates, &mut next, now).await?
        };
        let moved: Vec<(i64, Seq)> = next
            .iter()
            .filter(|(room, seq)| before_changes.get(room) != Some(seq))
            .map(|(room, seq)| (*room, *seq))
            .collect();
        if !moved.is_empty() {
            let moved = padded(&moved);
            let sql = format!(
                "UPDATE rooms SET last_seq = CASE id {} END WHERE id IN ({})",
                "WHEN ? THEN ? ".repeat(moved.len()),
                placeholders(moved.len())
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for (room, seq) in &moved {
                query = query.bind(*room).bind(*seq);
            }
            for (room, _) in &moved {
                query = query.bind(*room);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;

        let posted = messages
            .iter()
            .zip(seqs)
            .zip(checked.drain(..))
            .map(|((m, seq), check)| {
                let (quote, file) = check?;
                let seq = seq.ok_or(BackendError::RoomNotFound)?;
                let id = ids.get(&(m.room.0, seq)).copied().ok_or_else(|| {
                    BackendError::Unavailable(format!("committed message {}/{seq} not read back", m.room))
                })?;
                Ok(Posted {
                    message: m.committed(id, seq, now, quote, file),
                    fresh: true,
                })
            })
            .collect();
        Ok((posted, applied))
    }
}
