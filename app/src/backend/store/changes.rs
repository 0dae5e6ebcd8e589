//! Changes to messages (edits, deletions, reactions), made in a transaction
//! that holds their rooms' locks: everything their checks need is read in
//! three queries, the changes are decided in memory in order (so several
//! changes to one message in a batch see each other), and each kind of row
//! is written with one multi-row statement. Group commit
//! ([`Store::commit_batch`]) makes a batch's changes here after its
//! messages, and a change on its own ([`Store::apply_update`]) comes here
//! too, so the rules live in one place.

use super::audit::append;
use super::log::{
    Applied, InsertedRow, MessageRow, NewUpdate, TargetRow, UpdateChange, insert_event_rows, select_messages,
    select_target,
};
use super::reading::{Mentioning, forget_mentions, record_mentions};
use super::{Actor, Moderation, Result, Store, delete_ids, padded, placeholders, power_of_two_chunks};
use crate::backend::clock::now_ms;
use crate::backend::error::{BackendError, Refusal};
use crate::backend::events::{EventKind, RoomEvent};
use crate::protocol::{AuditAction, Millis, REACTIONS_PER_MESSAGE, RoomId, Seq, Update, UserId};
use crate::validate::Invalid;
use sqlx::{AnyConnection, AssertSqlSafe};
use std::collections::{HashMap, HashSet};

/// A message as the changes of a batch find it and leave it.
struct Message {
    row: TargetRow,
    body: String,
    deleted: bool,
    edited: bool,
    /// Reactions now, in the order they came: (emoji, user, the seq of its event).
    reactions: Vec<(String, i64, Seq)>,
    /// Reactions as read, to write only the difference.
    read: HashSet<(String, i64, Seq)>,
    /// Bodies replaced by this batch's edits, oldest first.
    replaced: Vec<String>,
}

/// A reaction row as read.
#[derive(sqlx::FromRow)]
struct ReactionRow {
    message_id: i64,
    emoji: String,
    user_id: i64,
    seq: i64,
}

/// A logged change waiting for its row's id.
struct Logged {
    /// Which of the batch's updates it answers.
    index: usize,
    update: Update,
    kind: EventKind,
    author: i64,
    text: String,
}

/// What went wrong with one change, or nothing.
type Verdict = std::result::Result<bool, BackendError>;

impl Store {
    /// One change in a transaction of its own (see [`Store::apply_update`]).
    pub(super) async fn update_message(&self, new: &NewUpdate) -> Result<Applied> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        // The room's lock first, as every writer takes it: changes to one
        // room's messages are serialised by it. Rolled back if nothing changes.
        let last = lock_room(&mut tx, new.room, self.is_sqlite).await?;
        let mut next = HashMap::from([(new.room.0, last)]);
        let outcome = self
            .make_changes(&mut tx, std::slice::from_ref(new), &mut next, now)
            .await?
            .pop()
            .unwrap_or(Err(BackendError::Unavailable("a change had no outcome".into())));
        if let Ok(Applied {
            update: Some(update),
            fresh: true,
        }) = &outcome
        {
            sqlx::query("UPDATE rooms SET last_seq = ? WHERE id = ?")
                .bind(update.seq)
                .bind(new.room.0)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        outcome
    }

    /// Makes `updates` in `tx`, in order, each logged under its room's next
    /// sequence (`next` holds the rooms' last sequences, read under their
    /// locks, and is moved on). One outcome per update: a refusal (not
    /// allowed, no such message, bad input) wrote nothing and took no
    /// sequence. An `Err` is a database failure: the transaction must roll back.
    pub(super) async fn make_changes(
        &self,
        tx: &mut AnyConnection,
        updates: &[NewUpdate],
        next: &mut HashMap<i64, Seq>,
        now: Millis,
    ) -> Result<Vec<Result<Applied>>> {
        let mut messages = read_messages(tx, updates).await?;
        let earlier = read_earlier(tx, updates).await?;
        let mut outcomes: Vec<Result<Applied>> = Vec::with_capacity(updates.len());
        let mut logged = Vec::new();
        // Moderators' deletions of others' messages, to audit.
        let mut removals = Vec::new();
        // A retry queued in the same batch as its original (sent again on a
        // new connection before the first was answered): answered with the
        // original's outcome, once its id is known. (A refused original is
        // simply judged again.)
        let mut first_of: HashMap<(i64, &str), usize> = HashMap::new();
        let mut retries = Vec::new();
        for (index, new) in updates.iter().enumerate() {
            // Made before (a retry, perhaps racing its original, which this
            // lock now shows committed): its original answers it.
            if let Some(event) = earlier.get(&(new.by.username.clone(), new.client_id.as_str().to_owned())) {
                outcomes.push(Applied::replayed(event.clone()));
                continue;
            }
            let key = (new.by.id.0, new.client_id.as_str());
            match first_of.get(&key) {
                Some(&first) if outcomes[first].is_ok() => {
                    retries.push((index, first));
                    // Replaced below.
                    outcomes.push(Ok(Applied {
                        update: None,
                        fresh: false,
                    }));
                    continue;
                }
                _ => {
                    first_of.insert(key, index);
                }
            }
            let Some(&last) = next.get(&new.room.0) else {
                outcomes.push(Err(BackendError::RoomNotFound));
                continue;
            };
            let seq = last + 1;
            let verdict = match messages.get_mut(&new.message) {
                Some(m) if m.row.room_id == new.room.0 && m.row.kind == EventKind::Posted.code() => decide(m, new, seq),
                _ => Err(BackendError::MessageNotFound),
            };
            match verdict {
                Ok(true) => {
                    next.insert(new.room.0, seq);
                    if let (UpdateChange::Delete, Moderation::Audited(actor), Some(m)) =
                        (&new.change, &new.moderation, messages.get(&new.message))
                        && m.row.author_id != new.by.id.0
                    {
                        removals.push((actor, new.message, m.row.author_id));
                    }
                    let update = Update {
                        room: new.room,
                        seq,
                        id: 0,
                        message: new.message,
                        by: new.by.username.clone(),
                        at: now,
                        client_id: new.client_id.as_str().to_owned(),
                        change: new.change.change(),
                    };
                    logged.push(Logged {
                        index,
                        update,
                        kind: new.change.kind(),
                        author: new.by.id.0,
                        text: new.change.logged_text().to_owned(),
                    });
                    // Filled in below, once the event rows have ids.
                    outcomes.push(Ok(Applied {
                        update: None,
                        fresh: true,
                    }));
                }
                Ok(false) => outcomes.push(Ok(Applied {
                    update: None,
                    fresh: true,
                })),
                Err(e) => outcomes.push(Err(e)),
            }
        }
        if !logged.is_empty() {
            write_messages(tx, &messages, now, self.is_sqlite).await?;
            for (actor, message, author) in removals {
                audit_removal(tx, actor, message, author).await?;
            }
            let ids = self.insert_events(tx, &logged, now).await?;
            for mut l in logged {
                let key = (l.update.room.0, l.update.seq);
                l.update.id = ids.get(&key).copied().ok_or_else(|| {
                    BackendError::Unavailable(format!("logged change {}/{} not read back", key.0, key.1))
                })?;
                outcomes[l.index] = Ok(Applied {
                    update: Some(l.update),
                    fresh: true,
                });
            }
        }
        for (index, first) in retries {
            if let Ok(original) = &outcomes[first] {
                outcomes[index] = Ok(Applied {
                    update: original.update.clone(),
                    fresh: false,
                });
            }
        }
        Ok(outcomes)
    }

    /// Inserts the logged changes' event rows; their ids by (room, seq).
    async fn insert_events(
        &self,
        tx: &mut AnyConnection,
        logged: &[Logged],
        now: Millis,
    ) -> Result<HashMap<(i64, Seq), i64>> {
        let mut ids = insert_event_rows(tx, self.returning, logged, |query, l| {
            query
                .bind(l.update.room.0)
                .bind(l.update.seq)
                .bind(l.kind.code())
                .bind(l.author)
                .bind(l.update.client_id.as_str())
                .bind(l.text.as_str())
                .bind(now)
                .bind(Some(l.update.message))
                // Not a message: no ordinal.
                .bind(0i64)
        })
        .await?;
        if !self.returning {
            // MySQL: read them back by their keys.
            let keys = padded(
                &logged
                    .iter()
                    .map(|l| (l.update.room.0, l.update.seq))
                    .collect::<Vec<_>>(),
            );
            let sql = format!(
                "SELECT id, room_id, seq FROM room_events WHERE {}",
                vec!["(room_id = ? AND seq = ?)"; keys.len()].join(" OR ")
            );
            let rows: Vec<InsertedRow> = keys
                .iter()
                .fold(sqlx::query_as(AssertSqlSafe(sql)), |q, (room, seq)| {
                    q.bind(*room).bind(*seq)
                })
                .fetch_all(&mut *tx)
                .await?;
            ids.extend(rows.into_iter().map(|row| ((row.room_id, row.seq), row.id)));
        }
        Ok(ids)
    }
}

/// The audit entry for `actor`'s deletion of `author`'s `message`, which
/// names the author and the room; the text itself is gone for good.
async fn audit_removal(tx: &mut AnyConnection, actor: &Actor, message: i64, author: i64) -> Result<()> {
    let (name, room): (String, String) = sqlx::query_as(
        "SELECT u.username, r.name FROM room_events e JOIN users u ON u.id = ? JOIN rooms r ON r.id = e.room_id \
         WHERE e.id = ?",
    )
    .bind(author)
    .bind(message)
    .fetch_one(&mut *tx)
    .await?;
    let target = format!("message by {name} in {room}");
    append(
        tx,
        actor,
        AuditAction::MessageRemoved,
        &target,
        &format!("message {message}"),
    )
    .await
}

/// Whether `new` may be made to `m` and changes it (`Ok(false)`: allowed,
/// but nothing to change); if so, `m` is changed.
fn decide(m: &mut Message, new: &NewUpdate, seq: Seq) -> Verdict {
    if m.deleted {
        return Err(Invalid("That message was deleted.".into()).into());
    }
    let by = new.by.id.0;
    match &new.change {
        UpdateChange::Edit(body) => {
            if m.row.author_id != by {
                return Err(BackendError::Forbidden(Refusal::NotAuthor));
            }
            if body.as_str() == m.body {
                return Ok(false);
            }
            m.replaced
                .push(std::mem::replace(&mut m.body, body.as_str().to_owned()));
            m.edited = true;
            Ok(true)
        }
        UpdateChange::Delete => {
            if m.row.author_id != by && !new.moderation.allowed() {
                return Err(BackendError::Forbidden(Refusal::NotAuthorOrModerator));
            }
            // Its text, earlier versions and reactions go for good.
            m.deleted = true;
            m.body.clear();
            m.replaced.clear();
            m.reactions.clear();
            Ok(true)
        }
        UpdateChange::React(emoji) => {
            let emoji = emoji.as_str();
            if m.reactions.iter().any(|(e, u, _)| e == emoji && *u == by) {
                return Ok(false);
            }
            let mut kinds: Vec<&str> = m.reactions.iter().map(|(e, _, _)| e.as_str()).collect();
            kinds.sort_unstable();
            kinds.dedup();
            if !kinds.contains(&emoji) && kinds.len() >= REACTIONS_PER_MESSAGE {
                return Err(Invalid(format!(
                    "A message can have at most {REACTIONS_PER_MESSAGE} different reactions."
                ))
                .into());
            }
            m.reactions.push((emoji.to_owned(), by, seq));
            Ok(true)
        }
        UpdateChange::Unreact(emoji) => {
            let before = m.reactions.len();
            m.reactions.retain(|(e, u, _)| !(e == emoji.as_str() && *u == by));
            Ok(m.reactions.len() < before)
        }
    }
}

/// The messages `updates` name, with their reactions: two queries.
async fn read_messages(tx: &mut AnyConnection, updates: &[NewUpdate]) -> Result<HashMap<i64, Message>> {
    let mut ids: Vec<i64> = updates.iter().map(|u| u.message).collect();
    ids.sort_unstable();
    ids.dedup();
    let ids = padded(&ids);
    let sql = format!("{}{})", select_target!("WHERE m.id IN ("), placeholders(ids.len()));
    let rows: Vec<TargetRow> = ids
        .iter()
        .fold(sqlx::query_as(AssertSqlSafe(sql)), |q, id| q.bind(*id))
        .fetch_all(&mut *tx)
        .await?;
    let sql = format!(
        "SELECT message_id, emoji, user_id, seq FROM message_reactions WHERE message_id IN ({}) ORDER BY seq",
        placeholders(ids.len())
    );
    let reactions: Vec<ReactionRow> = ids
        .iter()
        .fold(sqlx::query_as(AssertSqlSafe(sql)), |q, id| q.bind(*id))
        .fetch_all(&mut *tx)
        .await?;
    let mut messages: HashMap<i64, Message> = rows
        .into_iter()
        .map(|row| {
            let m = Message {
                body: row.body.clone(),
                deleted: row.deleted_at.is_some(),
                edited: false,
                reactions: Vec::new(),
                read: HashSet::new(),
                replaced: Vec::new(),
                row,
            };
            (m.row.id, m)
        })
        .collect();
    for r in reactions {
        if let Some(m) = messages.get_mut(&r.message_id) {
            m.read.insert((r.emoji.clone(), r.user_id, r.seq));
            m.reactions.push((r.emoji, r.user_id, r.seq));
        }
    }
    Ok(messages)
}

/// The events some of `updates`' client ids already made, by (author's
/// name, client id): one query.
async fn read_earlier(tx: &mut AnyConnection, updates: &[NewUpdate]) -> Result<HashMap<(String, String), RoomEvent>> {
    let keys = padded(
        &updates
            .iter()
            .map(|u| (u.by.id.0, u.client_id.as_str()))
            .collect::<Vec<_>>(),
    );
    let sql = format!(
        "{}{}",
        select_messages!("WHERE "),
        vec!["(m.author_id = ? AND m.client_id = ?)"; keys.len()].join(" OR ")
    );
    let rows: Vec<MessageRow> = keys
        .iter()
        .fold(sqlx::query_as(AssertSqlSafe(sql)), |q, (author, client_id)| {
            q.bind(*author).bind(*client_id)
        })
        .fetch_all(&mut *tx)
        .await?;
    let mut earlier = HashMap::with_capacity(rows.len());
    for row in rows {
        let key = (row.username.clone(), row.client_id.clone());
        earlier.insert(key, row.event()?);
    }
    Ok(earlier)
}

/// Writes what the batch's changes left: the messages' rows, their earlier
/// versions and their reactions, one statement each.
async fn write_messages(
    tx: &mut AnyConnection,
    messages: &HashMap<i64, Message>,
    now: Millis,
    sqlite: bool,
) -> Result<()> {
    let changed: Vec<&Message> = messages
        .values()
        .filter(|m| m.edited || (m.deleted && m.row.deleted_at.is_none()))
        .collect();
    let deleted: Vec<i64> = changed.iter().filter(|m| m.deleted).map(|m| m.row.id).collect();
    let edited: Vec<&Message> = changed.iter().copied().filter(|m| !m.deleted).collect();

    // Bodies and times.
    if !changed.is_empty() {
        let rows = padded(&changed.iter().map(|m| m.row.id).collect::<Vec<_>>());
        let mut set = vec![format!("body = CASE id {} END", "WHEN ? THEN ? ".repeat(changed.len()))];
        if !edited.is_empty() {
            set.push(format!(
                "edited_at = CASE id {}ELSE edited_at END",
                "WHEN ? THEN ? ".repeat(edited.len())
            ));
        }
        if !deleted.is_empty() {
            set.push(format!(
                "deleted_at = CASE id {}ELSE deleted_at END",
                "WHEN ? THEN ? ".repeat(deleted.len())
            ));
        }
        let sql = format!(
            "UPDATE room_events SET {} WHERE id IN ({})",
            set.join(", "),
            placeholders(rows.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for m in &changed {
            query = query.bind(m.row.id).bind(m.body.as_str());
        }
        for m in &edited {
            query = query.bind(m.row.id).bind(now);
        }
        for id in &deleted {
            query = query.bind(*id).bind(now);
        }
        for id in &rows {
            query = query.bind(*id);
        }
        query.execute(&mut *tx).await?;
    }

    // Mentions follow the text: an edited message names whom its new text
    // names (under its own sequence); a deleted one names no one.
    if !changed.is_empty() {
        let ids: Vec<i64> = changed.iter().map(|m| m.row.id).collect();
        forget_mentions(tx, &ids).await?;
        let mentioning: Vec<Mentioning<'_>> = edited
            .iter()
            .map(|m| Mentioning {
                room: RoomId(m.row.room_id),
                seq: m.row.seq,
                message: m.row.id,
                author: UserId(m.row.author_id),
                body: m.body.as_str(),
            })
            .collect();
        record_mentions(tx, &mentioning).await?;
        // And so does search: an edited-away or deleted text is never found.
        super::search::unindex(tx, &ids).await?;
        let bodies: Vec<(i64, &str)> = edited.iter().map(|m| (m.row.id, m.body.as_str())).collect();
        super::search::index(tx, sqlite, &bodies).await?;
    }

    // Earlier versions: kept for edits, gone with a deletion.
    let versions: Vec<(i64, &str)> = edited
        .iter()
        .flat_map(|m| m.replaced.iter().map(|body| (m.row.id, body.as_str())))
        .collect();
    for chunk in power_of_two_chunks(&versions) {
        let sql = format!(
            "INSERT INTO message_versions (message_id, body, replaced_at) VALUES {}",
            vec!["(?, ?, ?)"; chunk.len()].join(", ")
        );
        let query = chunk.iter().fold(sqlx::query(AssertSqlSafe(sql)), |q, (id, body)| {
            q.bind(*id).bind(*body).bind(now)
        });
        query.execute(&mut *tx).await?;
    }
    delete_ids(tx, "DELETE FROM message_versions WHERE message_id", &deleted).await?;
    delete_ids(tx, "DELETE FROM message_reactions WHERE message_id", &deleted).await?;
    // A deleted message is no longer unread to anyone (see `Store::sidebar`).
    let gone: Vec<(i64, i64)> = changed
        .iter()
        .filter(|m| m.deleted && m.row.ordinal > 0)
        .map(|m| (m.row.room_id, m.row.ordinal))
        .collect();
    for chunk in power_of_two_chunks(&gone) {
        let sql = format!(
            "INSERT INTO room_deletions (room_id, ordinal) VALUES {}",
            vec!["(?, ?)"; chunk.len()].join(", ")
        );
        chunk
            .iter()
            .fold(sqlx::query(AssertSqlSafe(sql)), |q, (room, ordinal)| {
                q.bind(*room).bind(*ordinal)
            })
            .execute(&mut *tx)
            .await?;
    }

    // Reactions: only the difference from what was read.
    let live = messages.values().filter(|m| !m.deleted);
    let mut gone: Vec<(i64, &str, i64)> = Vec::new();
    let mut added: Vec<(i64, &str, i64, Seq)> = Vec::new();
    for m in live {
        // A reaction taken back and given again in the batch is a new row:
        // it goes last, as it does for everyone who saw it happen.
        let kept: HashSet<(&str, i64, Seq)> = m.reactions.iter().map(|(e, u, s)| (e.as_str(), *u, *s)).collect();
        gone.extend(
            m.read
                .iter()
                .filter(|(e, u, s)| !kept.contains(&(e.as_str(), *u, *s)))
                .map(|(e, u, _)| (m.row.id, e.as_str(), *u)),
        );
        added.extend(
            m.reactions
                .iter()
                .filter(|(e, u, s)| !m.read.contains(&(e.clone(), *u, *s)))
                .map(|(e, u, s)| (m.row.id, e.as_str(), *u, *s)),
        );
    }
    if !gone.is_empty() {
        let gone = padded(&gone);
        let sql = format!(
            "DELETE FROM message_reactions WHERE {}",
            vec!["(message_id = ? AND emoji = ? AND user_id = ?)"; gone.len()].join(" OR ")
        );
        gone.iter()
            .fold(sqlx::query(AssertSqlSafe(sql)), |q, (id, emoji, user)| {
                q.bind(*id).bind(*emoji).bind(*user)
            })
            .execute(&mut *tx)
            .await?;
    }
    for chunk in power_of_two_chunks(&added) {
        let sql = format!(
            "INSERT INTO message_reactions (message_id, emoji, user_id, seq) VALUES {}",
            vec!["(?, ?, ?, ?)"; chunk.len()].join(", ")
        );
        let query = chunk
            .iter()
            .fold(sqlx::query(AssertSqlSafe(sql)), |q, (id, emoji, user, seq)| {
                q.bind(*id).bind(*emoji).bind(*user).bind(*seq)
            });
        query.execute(&mut *tx).await?;
    }
    Ok(())
}

/// Locks `room`'s row in `tx` and reads its last sequence (`RoomNotFound`
/// if there is no such room). SQLite: the no-op update takes the write lock
/// first (see `Store::commit_batch`).
pub(super) async fn lock_room(tx: &mut AnyConnection, room: RoomId, sqlite: bool) -> Result<Seq> {
    if sqlite {
        sqlx::query("UPDATE rooms SET last_seq = last_seq WHERE id = ?")
            .bind(room.0)
            .execute(&mut *tx)
            .await?;
    }
    let sql = if sqlite {
        "SELECT last_seq FROM rooms WHERE id = ?"
    } else {
        "SELECT last_seq FROM rooms WHERE id = ? FOR UPDATE"
    };
    let last: Option<Seq> = sqlx::query_scalar(sql).bind(room.0).fetch_optional(&mut *tx).await?;
    last.ok_or(BackendError::RoomNotFound)
}
