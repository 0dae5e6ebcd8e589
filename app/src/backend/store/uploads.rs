//! Uploads as stored: one row per file someone uploaded, naming the blob
//! (by SHA-256) that holds its bytes; attached at most once, to one message.
//! The bytes themselves are the server's blob storage's business.

use super::{Result, Store, padded, placeholders};
use crate::backend::error::BackendError;
use crate::protocol::{Attachment, Millis, RoomId, UserId};
use crate::validate::Invalid;
use sqlx::AnyConnection;
use std::collections::HashMap;

/// An upload about to be recorded.
#[derive(Clone, Debug)]
pub struct NewUpload {
    pub id: String,
    pub uploader: UserId,
    pub name: String,
    pub mime: String,
    pub size: u64,
    pub blob_key: String,
    /// The preview's blob and type, if it has one.
    pub preview: Option<(String, String)>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub animated: bool,
    pub created_at: Millis,
}

/// An upload as a file request finds it.
#[derive(Clone, Debug)]
pub struct UploadRow {
    pub attachment: Attachment,
    pub uploader: UserId,
    pub blob_key: String,
    pub preview: Option<(String, String)>,
    /// Where it was posted: `None` until attached.
    pub room: Option<RoomId>,
    /// Its message was deleted: the file is gone for everyone.
    pub deleted: bool,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    uploader_id: i64,
    name: String,
    mime: String,
    size: i64,
    blob_key: String,
    preview_key: Option<String>,
    preview_mime: Option<String>,
    width: Option<i64>,
    height: Option<i64>,
    animated: i64,
    room_id: Option<i64>,
    message_deleted_at: Option<i64>,
}

impl Row {
    fn into_upload(self) -> UploadRow {
        let preview = self.preview_key.zip(self.preview_mime);
        UploadRow {
            attachment: Attachment {
                id: self.id,
                name: self.name,
                mime: self.mime,
                size: self.size.max(0) as u64,
                width: self.width.and_then(|w| u32::try_from(w).ok()),
                height: self.height.and_then(|h| u32::try_from(h).ok()),
                animated: self.animated != 0,
                has_preview: preview.is_some(),
            },
            uploader: UserId(self.uploader_id),
            blob_key: self.blob_key,
            preview,
            room: self.room_id.map(RoomId),
            deleted: self.message_deleted_at.is_some(),
        }
    }
}

const UPLOAD_COLUMNS: &str = "u.id, u.uploader_id, u.name, u.mime, u.size, u.blob_key, u.preview_key, \
     u.preview_mime, u.width, u.height, u.animated, u.room_id, m.deleted_at AS message_deleted_at";

/// Why an upload cannot go with a message. The same answer whether it does
/// not exist, is someone else's or was posted already.
pub(super) fn not_attachable() -> BackendError {
    Invalid("That file cannot be posted (it was posted already, or removed). Please attach it again.".into()).into()
}

/// Whether `id` looks like an upload id (32 hex digits).
fn is_upload_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The uploads `ids` that exist and are not posted yet, with their
/// uploaders, read (and on MySQL locked) inside a message's transaction:
/// one query for a whole batch.
pub(super) async fn attachables(
    tx: &mut AnyConnection,
    ids: &[&str],
    lock: bool,
) -> Result<HashMap<String, (UserId, Attachment)>> {
    let mut ids: Vec<&str> = ids.iter().copied().filter(|id| is_upload_id(id)).collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    ids.sort_unstable();
    ids.dedup();
    let ids = padded(&ids);
    let sql = format!(
        "SELECT {UPLOAD_COLUMNS} FROM uploads u LEFT JOIN room_events m ON m.id = u.message_id \
         WHERE u.id IN ({}) AND u.message_id IS NULL{}",
        placeholders(ids.len()),
        if lock { " FOR UPDATE" } else { "" }
    );
    let rows: Vec<Row> = ids
        .iter()
        .fold(sqlx::query_as(sqlx::AssertSqlSafe(sql)), |query, id| query.bind(*id))
        .fetch_all(&mut *tx)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let upload = row.into_upload();
            (upload.attachment.id.clone(), (upload.uploader, upload.attachment))
        })
        .collect())
}

/// The upload `id`, if `uploader` may post it: theirs and not posted yet.
pub(super) async fn attachable(tx: &mut AnyConnection, id: &str, uploader: UserId, lock: bool) -> Result<Attachment> {
    match attachables(tx, &[id], lock).await?.remove(id) {
        Some((owner, attachment)) if owner == uploader => Ok(attachment),
        _ => Err(not_attachable()),
    }
}

/// Records that the upload `id` was posted with `message` in `room`; fails
/// (and so rolls the message back) if it was posted meanwhile.
pub(super) async fn attach(tx: &mut AnyConnection, id: &str, room: RoomId, message: i64) -> Result<()> {
    let done = sqlx::query("UPDATE uploads SET room_id = ?, message_id = ? WHERE id = ? AND message_id IS NULL")
        .bind(room.0)
        .bind(message)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() != 1 {
        return Err(not_attachable());
    }
    Ok(())
}

impl Store {
    pub async fn insert_upload(&self, upload: &NewUpload) -> Result<()> {
        let (preview_key, preview_mime) = upload.preview.clone().unzip();
        sqlx::query(
            "INSERT INTO uploads (id, uploader_id, name, mime, size, blob_key, preview_key, preview_mime, \
             width, height, animated, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&upload.id)
        .bind(upload.uploader.0)
        .bind(&upload.name)
        .bind(&upload.mime)
        .bind(i64::try_from(upload.size).unwrap_or(i64::MAX))
        .bind(&upload.blob_key)
        .bind(preview_key)
        .bind(preview_mime)
        .bind(upload.width.map(i64::from))
        .bind(upload.height.map(i64::from))
        .bind(i64::from(upload.animated))
        .bind(upload.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The upload `id`, with where it was posted and whether its message is gone.
    pub async fn upload(&self, id: &str) -> Result<Option<UploadRow>> {
        let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {UPLOAD_COLUMNS} FROM uploads u LEFT JOIN room_events m ON m.id = u.message_id WHERE u.id = ?"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Row::into_upload))
    }

    /// Bytes `user` has uploaded since `since` (their quota's use).
    pub async fn uploaded_bytes(&self, user: UserId, since: Millis) -> Result<u64> {
        let total: Option<i64> = sqlx::query_scalar(
            "SELECT CAST(SUM(size) AS SIGNED) FROM uploads WHERE uploader_id = ? AND created_at >= ?",
        )
        .bind(user.0)
        .bind(since)
        .fetch_one(&self.pool)
        .await?;
        Ok(total.unwrap_or(0).max(0) as u64)
    }

    /// Removes up to `limit` uploads nobody will see again: never attached
    /// and older than `unattached_before`, or attached to a message since
    /// deleted. Their bytes stay until [`Store::blob_in_use`] says none refer
    /// to them. Returns how many were removed.
    pub async fn sweep_uploads(&self, unattached_before: Millis, limit: u32) -> Result<u64> {
        let unattached: Vec<String> =
            sqlx::query_scalar("SELECT id FROM uploads WHERE message_id IS NULL AND created_at < ? LIMIT ?")
                .bind(unattached_before)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
        let of_deleted: Vec<String> = sqlx::query_scalar(
            "SELECT u.id FROM uploads u JOIN room_events m ON m.id = u.message_id \
             WHERE m.deleted_at IS NOT NULL LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut removed = 0;
        // Still unattached when removed: one attached meanwhile stays.
        for id in &unattached {
            removed += sqlx::query("DELETE FROM uploads WHERE id = ? AND message_id IS NULL")
                .bind(id)
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        // A deleted message stays deleted.
        for id in &of_deleted {
            removed += sqlx::query("DELETE FROM uploads WHERE id = ?")
                .bind(id)
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        Ok(removed)
    }

    /// Whether any upload's file or preview is the blob `key`.
    pub async fn blob_in_use(&self, key: &str) -> Result<bool> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM uploads WHERE blob_key = ? UNION ALL SELECT 1 FROM uploads WHERE preview_key = ? LIMIT 1",
        )
        .bind(key)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }
}
