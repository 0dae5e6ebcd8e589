//! Uploaded files: what they are ([`kind`]), how images are made safe
//! ([`images`]) by a pool that works off the async runtime ([`Cleaner`]),
//! where the bytes are kept ([`blobs`]), the routes that take and serve
//! them ([`routes`]), and the sweep of what nobody refers to ([`sweep`]).

pub mod blobs;
pub mod images;
pub mod kind;
pub(crate) mod routes;
pub mod sweep;

use crate::config::Uploads;
use blobs::{BlobError, Blobs};
use images::{Cleaned, ImageLimits, ImageRefusal};
use kind::Kind;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Uploads copied to the blob store at once: each holds a few MiB while it
/// is (see [`blobs::Blobs::put_file`]; a cleaned image, its bytes), so many
/// large uploads together cost a bounded amount of memory.
const STORING_AT_ONCE: usize = 8;

/// Everything the file routes and the sweep share. Cheap to clone.
#[derive(Clone)]
pub struct Files {
    pub blobs: Blobs,
    pub cleaner: Cleaner,
    pub settings: Uploads,
    storing: Arc<Semaphore>,
}

impl Files {
    /// Files kept where `settings` say: an S3-compatible store if it names
    /// one, else the folder `settings.data_dir`.
    pub fn new(settings: &Uploads) -> Result<Self, BlobError> {
        let blobs = match &settings.storage {
            Some(storage) => Blobs::s3(storage)?,
            None => Blobs::local(&settings.data_dir)?,
        };
        std::fs::create_dir_all(settings.spool_dir())?;
        Ok(Self {
            blobs,
            cleaner: Cleaner::new(ImageLimits::default(), settings.image_workers),
            settings: settings.clone(),
            storing: Arc::new(Semaphore::new(STORING_AT_ONCE)),
        })
    }
}

/// A SHA-256 as 64 lowercase hex digits: a blob's key.
pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// A cleaned image and the keys its bytes (and preview's) are stored under.
#[derive(Debug)]
pub struct CleanImage {
    pub cleaned: Cleaned,
    pub key: String,
    pub preview_key: Option<String>,
}

/// Runs image work on blocking threads, at most `concurrency` at once, so a
/// burst of large photos costs a bounded amount of memory (each decode is
/// itself bounded by [`ImageLimits::max_alloc`]) and never holds up the
/// runtime's workers, which keep chat moving meanwhile.
#[derive(Clone)]
pub struct Cleaner {
    limits: ImageLimits,
    permits: Arc<Semaphore>,
}

impl Cleaner {
    pub fn new(limits: ImageLimits, concurrency: usize) -> Self {
        Self {
            limits,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
        }
    }

    /// The image at `path` decoded and written anew (see [`images::clean`]),
    /// hashed on the same thread.
    pub async fn clean(&self, path: PathBuf, kind: Kind) -> Result<CleanImage, ImageRefusal> {
        let limits = self.limits;
        self.isolated(move || {
            let cleaned = images::clean(&path, kind, &limits)?;
            Ok(CleanImage {
                key: sha256_hex(&cleaned.bytes),
                preview_key: cleaned.preview.as_ref().map(|p| sha256_hex(&p.bytes)),
                cleaned,
            })
        })
        .await
    }

    /// Runs `work` on a blocking thread once a permit is free. A panic in it
    /// (a decoder bug met by a crafted file) refuses that file and nothing
    /// else: the thread's panic ends at the task's boundary.
    async fn isolated<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, ImageRefusal> + Send + 'static,
    ) -> Result<T, ImageRefusal> {
        let Ok(permit) = self.permits.clone().acquire_owned().await else {
            return Err(ImageRefusal::Unreadable("the server is shutting down".into()));
        };
        // The permit goes with the work: if the request is dropped meanwhile,
        // the decode still counts until it really ends.
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        });
        match task.await {
            Ok(result) => result,
            Err(e) => {
                tracing::error!(error = %e, "image work panicked; the file is refused");
                Err(ImageRefusal::Unreadable("the decoder failed on it".into()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[tokio::test]
    async fn a_panic_while_cleaning_refuses_that_file_and_the_pool_goes_on() {
        let cleaner = Cleaner::new(ImageLimits::default(), 1);
        let panicked: Result<(), _> = cleaner.isolated(|| panic!("a decoder bug")).await;
        assert!(matches!(panicked, Err(ImageRefusal::Unreadable(_))));
        // The permit came back: the next file is cleaned.
        let mut png = std::io::Cursor::new(Vec::new());
        image::DynamicImage::new_rgb8(8, 8)
            .write_to(&mut png, image::ImageFormat::Png)
            .expect("encodes");
        let mut file = tempfile::NamedTempFile::new().expect("a temporary file");
        file.write_all(png.get_ref()).expect("written");
        let cleaned = cleaner.clean(file.path().to_owned(), Kind::Png).await;
        assert!(cleaned.is_ok(), "{cleaned:?}");
    }
}
