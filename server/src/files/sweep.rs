//! The sweep: uploads nobody will see again (never attached within the
//! grace period, or attached to a message since deleted) are removed, then
//! stored bytes that no upload refers to.
//!
//! Race-free with uploads in flight: an upload stores its bytes before its
//! row exists, but storing them (again, when the same bytes are already
//! there) makes them new, and only bytes older than the grace period are
//! removed. Several nodes may sweep at once; removing twice is harmless.

use super::Files;
use super::blobs::BlobError;
use app::backend::{BackendError, Store};
use futures::StreamExt;
use std::time::SystemTime;

/// Uploads removed per statement batch, so one sweep never holds much.
const UPLOADS_PER_ROUND: u32 = 500;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub uploads: u64,
    pub blobs: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("{0}")]
    Store(#[from] BackendError),
    #[error("{0}")]
    Blobs(#[from] BlobError),
}

/// Sweeps every `files.settings.sweep_every`, for as long as the server runs.
pub async fn run(store: Store, files: Files) {
    let mut every = tokio::time::interval(files.settings.sweep_every);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match sweep(&store, &files, SystemTime::now()).await {
            Ok(swept) if swept != Swept::default() => {
                tracing::info!(uploads = swept.uploads, blobs = swept.blobs, "swept unused files");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "the file sweep failed; it runs again later"),
        }
    }
}

/// One sweep, as of `now`.
pub async fn sweep(store: &Store, files: &Files, now: SystemTime) -> Result<Swept, SweepError> {
    let grace = files.settings.unattached_grace;
    let cutoff = now.checked_sub(grace).unwrap_or(SystemTime::UNIX_EPOCH);
    let cutoff_ms = cutoff
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let mut swept = Swept::default();
    loop {
        // Up to a round of each kind per call: fewer than a round of either
        // means both are done.
        let removed = store.sweep_uploads(cutoff_ms, UPLOADS_PER_ROUND).await?;
        swept.uploads += removed;
        if removed < u64::from(UPLOADS_PER_ROUND) {
            break;
        }
    }
    let mut stored = files.blobs.list();
    while let Some(blob) = stored.next().await {
        let blob = blob?;
        if blob.modified < cutoff && !store.blob_in_use(&blob.key).await? {
            files.blobs.delete(&blob.key).await?;
            swept.blobs += 1;
        }
    }
    Ok(swept)
}
