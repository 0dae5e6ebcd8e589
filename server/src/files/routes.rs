//! The file routes.
//!
//! - `POST /api/uploads?name=…`: one file, as the raw request body. It is
//!   spooled to disk as it arrives (never held whole in memory) and refused
//!   with 413 the moment it passes the size limit — before reading any of it
//!   when its declared length already does. Its type is sniffed from its
//!   bytes; an image is decoded and written anew; the answer is its
//!   [`Attachment`], which a message can then carry (once).
//! - `GET /files/{id}/{name}` and `GET /previews/{id}`: its bytes and its
//!   preview, to its uploader until it is posted and from then on to whoever
//!   may read the room it was posted in, checked on every request. Anyone
//!   else gets the same 404 as for a file that never existed.
//!
//! These routes have their own body limit and deadline (the rest of the
//! site's, 64 KiB and 30 s, are too small for a photo on a slow link).

use super::blobs::is_key;
use super::kind;
use super::{CleanImage, Files};
use crate::state::AppState;
use app::backend::error::http_status;
use app::backend::store::NewUpload;
use app::backend::{Access, BackendError};
use app::protocol::{ApiError, Attachment, ErrorCode, INLINE_IMAGE_TYPES, Me};
use app::validate::{FileName, path_segment};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// The longest an upload may go without sending a byte before it is dropped.
const IDLE_UPLOAD: Duration = Duration::from_secs(30);
/// The longest a whole upload may take (25 MiB at ~45 kB/s).
const UPLOAD_DEADLINE: Duration = Duration::from_secs(10 * 60);

/// One request's refusal: the status and the sentence for the person.
struct Refused(ApiError);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        (http_status(self.0.code), Json(self.0)).into_response()
    }
}

impl From<BackendError> for Refused {
    fn from(e: BackendError) -> Self {
        Refused(e.to_api())
    }
}

impl From<super::blobs::BlobError> for Refused {
    fn from(e: super::blobs::BlobError) -> Self {
        tracing::error!(error = %e, "file storage failed");
        Refused(ApiError::new(
            ErrorCode::Unavailable,
            "The file could not be stored. Please try again in a moment.",
        ))
    }
}

impl From<std::io::Error> for Refused {
    fn from(e: std::io::Error) -> Self {
        super::blobs::BlobError::from(e).into()
    }
}

fn mib(bytes: u64) -> String {
    let mib = bytes as f64 / (1024.0 * 1024.0);
    if mib.fract() == 0.0 {
        format!("{mib:.0} MiB")
    } else {
        format!("{mib:.1} MiB")
    }
}

fn too_large(max: u64) -> Refused {
    Refused(ApiError::new(
        ErrorCode::TooLarge,
        format!("That file is too big: files are limited to {}.", mib(max)),
    ))
}

#[derive(serde::Deserialize)]
pub struct UploadQuery {
    /// The file's name, as the person's device knows it.
    #[serde(default)]
    name: String,
}

pub async fn upload(
    State(state): State<AppState>,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match tokio::time::timeout(UPLOAD_DEADLINE, receive(&state, &query.name, &headers, body)).await {
        Ok(Ok(attachment)) => (StatusCode::CREATED, Json(attachment)).into_response(),
        Ok(Err(refused)) => refused.into_response(),
        Err(_) => Refused(ApiError::invalid(
            "The upload took too long and was stopped. Please try again.",
        ))
        .into_response(),
    }
}

async fn receive(state: &AppState, name: &str, headers: &HeaderMap, body: Body) -> Result<Attachment, Refused> {
    let services = &state.services;
    let me = services.accounts.authenticate(headers).await?;
    let files = &state.files;
    let max = services.limits.upload_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large(max));
    }
    services
        .limiter
        .enforce(&format!("upload:{}", me.id.0), services.limits.uploads, "uploads")
        .await?;
    check_quota(state, &me, declared.unwrap_or(0)).await?;

    let spooled = spool(files, body, max).await?;
    if spooled.size == 0 {
        return Err(Refused(ApiError::invalid("That file is empty.")));
    }
    // Someone may have uploaded meanwhile from another tab: counted again
    // with the real size.
    check_quota(state, &me, spooled.size).await?;
    let name = FileName::parse(name).into_inner();
    let kind = kind::sniff(&spooled.head);
    let upload = if kind.is_image() {
        let image = files
            .cleaner
            .clean(spooled.file.path().to_owned(), kind)
            .await
            .map_err(|refusal| Refused(ApiError::invalid(refusal.to_string())))?;
        store_image(files, &me, name, image).await?
    } else {
        let _permit = files.storing.acquire().await.map_err(|_| shutting_down())?;
        files.blobs.put_file(&spooled.sha256, spooled.file.path()).await?;
        NewUpload {
            id: new_id()?,
            uploader: me.id,
            name,
            mime: kind.mime().to_owned(),
            size: spooled.size,
            blob_key: spooled.sha256.clone(),
            preview: None,
            width: None,
            height: None,
            animated: false,
            created_at: app::backend::clock::now_ms(),
        }
    };
    services.store.insert_upload(&upload).await?;
    tracing::info!(user = me.id.0, id = %upload.id, mime = %upload.mime, size = upload.size, "file uploaded");
    Ok(Attachment {
        id: upload.id,
        name: upload.name,
        mime: upload.mime,
        size: upload.size,
        width: upload.width,
        height: upload.height,
        animated: upload.animated,
        has_preview: upload.preview.is_some(),
    })
}

fn shutting_down() -> Refused {
    Refused(ApiError::unavailable())
}

async fn store_image(files: &Files, me: &Me, name: String, image: CleanImage) -> Result<NewUpload, Refused> {
    let CleanImage {
        cleaned,
        key,
        preview_key,
    } = image;
    let size = cleaned.bytes.len() as u64;
    let _permit = files.storing.acquire().await.map_err(|_| shutting_down())?;
    files.blobs.put(&key, cleaned.bytes).await?;
    let preview = match (cleaned.preview, preview_key) {
        (Some(preview), Some(preview_key)) => {
            files.blobs.put(&preview_key, preview.bytes).await?;
            Some((preview_key, preview.kind.mime().to_owned()))
        }
        _ => None,
    };
    Ok(NewUpload {
        id: new_id()?,
        uploader: me.id,
        name,
        mime: cleaned.kind.mime().to_owned(),
        size,
        blob_key: key,
        preview,
        width: Some(cleaned.width),
        height: Some(cleaned.height),
        animated: cleaned.animated,
        created_at: app::backend::clock::now_ms(),
    })
}

async fn check_quota(state: &AppState, me: &Me, adding: u64) -> Result<(), Refused> {
    let Some(quota) = state.files.settings.quota_bytes else {
        return Ok(());
    };
    let used = state.services.store.uploaded_bytes(me.id, 0).await?;
    if used.saturating_add(adding) > quota {
        return Err(Refused(ApiError::new(
            ErrorCode::TooLarge,
            format!(
                "Your files would pass your quota of {} ({} used). Files of deleted messages stop counting.",
                mib(quota),
                mib(used)
            ),
        )));
    }
    Ok(())
}

/// A random upload id: 128 bits from the OS, hex.
fn new_id() -> Result<String, Refused> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| {
        tracing::error!(error = %e, "no randomness for an upload id");
        Refused(ApiError::unavailable())
    })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// An upload as it arrived, on disk: removed when dropped.
struct Spooled {
    file: tempfile::NamedTempFile,
    sha256: String,
    size: u64,
    /// Its first bytes, to sniff its type from.
    head: Vec<u8>,
}

/// Writes `body` to a spool file, hashing it on the way; refuses it the
/// moment it passes `max` bytes or stalls.
async fn spool(files: &Files, body: Body, max: u64) -> Result<Spooled, Refused> {
    let dir = files.settings.spool_dir();
    let (file, handle) = tokio::task::spawn_blocking(move || {
        let file = tempfile::NamedTempFile::new_in(dir)?;
        let handle = file.reopen()?;
        Ok::<_, std::io::Error>((file, handle))
    })
    .await
    .map_err(|_| shutting_down())??;
    let mut out = tokio::io::BufWriter::new(tokio::fs::File::from_std(handle));
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut head = Vec::with_capacity(kind::SNIFF_BYTES);
    let mut chunks = body.into_data_stream();
    loop {
        let chunk = match tokio::time::timeout(IDLE_UPLOAD, chunks.next()).await {
            Err(_) => {
                return Err(Refused(ApiError::invalid(
                    "The upload stalled and was stopped. Please try again.",
                )));
            }
            Ok(None) => break,
            Ok(Some(Err(_))) => return Err(Refused(ApiError::invalid("The upload was cut off. Please try again."))),
            Ok(Some(Ok(chunk))) => chunk,
        };
        size += chunk.len() as u64;
        if size > max {
            return Err(too_large(max));
        }
        if head.len() < kind::SNIFF_BYTES {
            let take = (kind::SNIFF_BYTES - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
        }
        hasher.update(&chunk);
        out.write_all(&chunk).await?;
    }
    out.flush().await?;
    Ok(Spooled {
        file,
        sha256: format!("{:x}", hasher.finalize()),
        size,
        head,
    })
}

/// Which of a file's pictures a request wants.
#[derive(Clone, Copy)]
enum Variant {
    Original,
    Preview,
}

pub async fn original(
    State(state): State<AppState>,
    Path((id, _name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    serve(&state, &id, Variant::Original, &headers).await
}

pub async fn preview(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    serve(&state, &id, Variant::Preview, &headers).await
}

/// The one answer for a file that does not exist, that the asker may not
/// see, or that asker is not logged in for: nothing tells them apart.
fn not_found() -> Response {
    let mut response = Refused(ApiError::new(ErrorCode::NotFound, "There is no such file.")).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    response
}

async fn serve(state: &AppState, id: &str, variant: Variant, headers: &HeaderMap) -> Response {
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return not_found();
    }
    let services = &state.services;
    let Ok(me) = services.accounts.authenticate(headers).await else {
        return not_found();
    };
    let row = match services.store.upload(id).await {
        Ok(Some(row)) => row,
        Ok(None) => return not_found(),
        Err(e) => return Refused::from(e).into_response(),
    };
    let visible = match row.room {
        None => row.uploader == me.id,
        Some(_) if row.deleted => false,
        Some(room) => match services.access.require(me.id, room, Access::Read).await {
            Ok(_) => true,
            Err(BackendError::RoomNotFound | BackendError::Forbidden(_)) => false,
            Err(e) => return Refused::from(e).into_response(),
        },
    };
    if !visible {
        return not_found();
    }
    let (key, mime) = match (variant, &row.preview) {
        (Variant::Preview, Some((key, mime))) => (key.as_str(), mime.as_str()),
        _ => (row.blob_key.as_str(), row.attachment.mime.as_str()),
    };
    if !is_key(key) {
        tracing::error!(id, key, "an upload names a malformed blob key");
        return not_found();
    }
    let inline = INLINE_IMAGE_TYPES.contains(&mime);
    let etag = format!("\"{key}\"");
    let mut response = if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        match state.files.blobs.get(key).await {
            Ok(Some(blob)) => {
                let mut response = Body::from_stream(blob.bytes).into_response();
                response.headers_mut().insert(header::CONTENT_LENGTH, blob.size.into());
                response
            }
            Ok(None) => {
                tracing::error!(id, key, "an upload's bytes are missing from storage");
                return not_found();
            }
            Err(e) => return Refused::from(e).into_response(),
        }
    };
    let headers = response.headers_mut();
    let content_type = if inline { mime } else { "application/octet-stream" };
    for (name, value) in [
        (header::CONTENT_TYPE, content_type.to_owned()),
        (
            header::CONTENT_DISPOSITION,
            content_disposition(inline, &row.attachment.name),
        ),
        (header::ETAG, etag),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    for (name, value) in FILE_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Headers on every file served: never sniffed into something else, never
/// run as a page (sandboxed, no sources: an SVG or HTML opened directly
/// runs no script and loads nothing), never embedded by another site, and
/// kept only by the asker's own browser, which asks again (and is checked
/// again) before using it.
const FILE_HEADERS: [(header::HeaderName, &str); 4] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::CONTENT_SECURITY_POLICY, "default-src 'none'; sandbox"),
    (header::CACHE_CONTROL, "private, no-cache"),
    (
        header::HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    ),
];

/// RFC 6266: `inline` for the four image types, `attachment` for the rest,
/// with the name twice: as plain ASCII (anything else, and quotes and
/// backslashes, as `_`) for old browsers and UTF-8-encoded (RFC 8187).
fn content_disposition(inline: bool, name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "{}; filename=\"{ascii}\"; filename*=UTF-8''{}",
        if inline { "inline" } else { "attachment" },
        path_segment(name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_content_disposition_are_escaped() {
        assert_eq!(
            content_disposition(true, "cat.png"),
            "inline; filename=\"cat.png\"; filename*=UTF-8''cat.png"
        );
        assert_eq!(
            content_disposition(false, "a\"b\\c 照片.pdf"),
            "attachment; filename=\"a_b_c __.pdf\"; filename*=UTF-8''a%22b%5Cc%20%E7%85%A7%E7%89%87.pdf"
        );
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(mib(25 * 1024 * 1024), "25 MiB");
        assert_eq!(mib(1024 * 1024 + 512 * 1024), "1.5 MiB");
    }

    #[test]
    fn upload_ids_are_128_random_bits() {
        let (a, b) = (new_id().ok().unwrap(), new_id().ok().unwrap());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
