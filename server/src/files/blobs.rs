//! Where uploaded bytes live: a folder on local disk (the embedded default)
//! or an S3-compatible store, behind `object_store`'s one interface. Bytes
//! are stored under their SHA-256, so the same bytes are kept once however
//! often they are uploaded, and no name a person chose reaches a path.

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::buffered::BufWriter;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;
use tokio::io::AsyncWriteExt;

/// What one upload holds in memory while it is copied to the store (one
/// part of a multipart upload, which S3 wants at least 5 MiB).
const PART_BYTES: usize = 5 * 1024 * 1024;
/// Parts of one upload in flight at once.
const PARTS_IN_FLIGHT: usize = 2;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("STORAGE_URL is not usable: {0}")]
    Config(String),
    #[error("blob storage: {0}")]
    Store(#[from] object_store::Error),
    #[error("blob storage: {0}")]
    Io(#[from] std::io::Error),
}

/// The blob store. Cheap to clone.
#[derive(Clone)]
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
    /// Only this node can read it (a local folder): said loudly when the
    /// node is one of several.
    pub local: bool,
}

/// A stored blob's bytes, as a stream, and its length.
pub struct BlobStream {
    pub size: u64,
    pub bytes: BoxStream<'static, Result<Bytes, BlobError>>,
}

/// A stored blob, as listed.
pub struct Stored {
    pub key: String,
    pub modified: SystemTime,
}

/// The key of the blob holding `sha256_hex`'s bytes: fanned out over two
/// levels of folders so none of them grows huge.
fn location(sha256_hex: &str) -> StorePath {
    let (a, b) = (sha256_hex.get(..2).unwrap_or(""), sha256_hex.get(2..4).unwrap_or(""));
    StorePath::from(format!("blobs/{a}/{b}/{sha256_hex}"))
}

/// A valid key: 64 lowercase hex digits (anything else names no blob).
pub fn is_key(key: &str) -> bool {
    key.len() == 64 && key.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Blobs {
    /// Blobs in the folder `dir`, created if missing.
    pub fn local(dir: &Path) -> Result<Self, BlobError> {
        std::fs::create_dir_all(dir)?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(dir)?.with_automatic_cleanup(true);
        Ok(Self {
            store: Arc::new(store),
            local: true,
        })
    }

    /// Blobs in the S3-compatible store `storage.url` (`s3://bucket`), set
    /// up by `storage.options` (`aws_endpoint`, `aws_access_key_id`…).
    /// Options it does not know (another tool's `AWS_…` variables) are
    /// passed over.
    pub fn s3(storage: &crate::config::Storage) -> Result<Self, BlobError> {
        use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
        if !storage.url.starts_with("s3://") {
            return Err(BlobError::Config(format!(
                "{:?} is not an s3:// URL (any S3-compatible store is reached as s3://BUCKET with AWS_ENDPOINT)",
                storage.url
            )));
        }
        let mut builder = AmazonS3Builder::new().with_url(storage.url.clone());
        for (key, value) in &storage.options {
            match key.parse::<AmazonS3ConfigKey>() {
                Ok(key) => builder = builder.with_config(key, value.clone()),
                Err(_) => tracing::debug!(key, "an AWS_ variable object_store does not know; passed over"),
            }
        }
        let store = builder.build().map_err(|e| BlobError::Config(e.to_string()))?;
        Ok(Self {
            store: Arc::new(store),
            local: false,
        })
    }

    /// Stores `bytes` (held in memory already: a cleaned image) under `key`.
    pub async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), BlobError> {
        self.store.put(&location(key), PutPayload::from(bytes)).await?;
        Ok(())
    }

    /// Stores the file at `path` under `key`, streamed: at most
    /// [`PART_BYTES`] × ([`PARTS_IN_FLIGHT`] + 1) of it in memory at once.
    pub async fn put_file(&self, key: &str, path: &Path) -> Result<(), BlobError> {
        let mut file = tokio::fs::File::open(path).await?;
        let mut writer = BufWriter::with_capacity(self.store.clone(), location(key), PART_BYTES)
            .with_max_concurrency(PARTS_IN_FLIGHT);
        if let Err(e) = tokio::io::copy(&mut file, &mut writer).await {
            writer.abort().await?;
            return Err(e.into());
        }
        writer.shutdown().await?;
        Ok(())
    }

    /// The blob `key`'s bytes, streamed; `None` if there is no such blob.
    pub async fn get(&self, key: &str) -> Result<Option<BlobStream>, BlobError> {
        match self.store.get(&location(key)).await {
            Ok(result) => Ok(Some(BlobStream {
                size: result.meta.size,
                bytes: result.into_stream().map_err(BlobError::from).boxed(),
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Every stored blob, with when it was last written, as a stream (a
    /// store may hold millions).
    pub fn list(&self) -> BoxStream<'static, Result<Stored, BlobError>> {
        let prefix = StorePath::from("blobs");
        self.store
            .list(Some(&prefix))
            .map_err(BlobError::from)
            .try_filter_map(|meta| async move {
                let key = meta.location.filename().unwrap_or_default().to_owned();
                Ok(is_key(&key).then(|| Stored {
                    key,
                    modified: meta.last_modified.into(),
                }))
            })
            .boxed()
    }

    pub async fn delete(&self, key: &str) -> Result<(), BlobError> {
        match self.store.delete(&location(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
