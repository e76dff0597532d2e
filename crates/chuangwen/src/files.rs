//! Files (attachments, uploaded imports) through `object_store`: a folder on
//! the local disk by default, S3-compatible storage by configuration, memory
//! in tests.

use std::sync::Arc;

use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::config::{Config, Storage};

/// The file store.
#[derive(Clone, Debug)]
pub struct Files {
    inner: Arc<dyn ObjectStore>,
}

/// A file store failure.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    /// The local folder cannot be created or written.
    #[error("文件目录 {path} 不可写：{reason} (data folder is not writable)")]
    Folder { path: String, reason: String },
    /// The object store refused.
    #[error(transparent)]
    Store(#[from] object_store::Error),
}

impl Files {
    /// Opens the configured store; the local folder is created if missing.
    pub fn open(config: &Config) -> Result<Files, FilesError> {
        let inner: Arc<dyn ObjectStore> = match &config.storage {
            Storage::Local => {
                let folder = config.data_dir.join("files");
                let fail = |e: std::io::Error| FilesError::Folder {
                    path: folder.display().to_string(),
                    reason: e.to_string(),
                };
                std::fs::create_dir_all(&folder).map_err(fail)?;
                // Prove the folder is writable now, not at the first upload.
                let probe = folder.join(".write-test");
                std::fs::write(&probe, b"ok").map_err(fail)?;
                std::fs::remove_file(&probe).map_err(fail)?;
                Arc::new(LocalFileSystem::new_with_prefix(&folder)?)
            }
            Storage::S3(s3) => {
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(&s3.bucket)
                    .with_region(&s3.region)
                    .with_allow_http(s3.allow_http);
                if let Some(endpoint) = &s3.endpoint {
                    builder = builder.with_endpoint(endpoint);
                }
                if let Some(key) = &s3.access_key_id {
                    builder = builder.with_access_key_id(key);
                }
                if let Some(secret) = &s3.secret_access_key {
                    builder = builder.with_secret_access_key(secret.expose());
                }
                Arc::new(builder.build()?)
            }
        };
        Ok(Files { inner })
    }

    /// A store in memory, for tests.
    pub fn in_memory() -> Files {
        Files { inner: Arc::new(InMemory::new()) }
    }

    /// Writes a file.
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), FilesError> {
        self.inner.put(&Path::from(key), PutPayload::from_bytes(bytes)).await?;
        Ok(())
    }

    /// Reads a file.
    pub async fn get(&self, key: &str) -> Result<Bytes, FilesError> {
        Ok(self.inner.get(&Path::from(key)).await?.bytes().await?)
    }

    /// Removes a file.
    pub async fn delete(&self, key: &str) -> Result<(), FilesError> {
        self.inner.delete(&Path::from(key)).await?;
        Ok(())
    }

    /// Writes and removes a small file: proves the store is reachable.
    pub async fn probe(&self) -> Result<(), FilesError> {
        let key = format!("probe/{}", uuid::Uuid::new_v4());
        self.put(&key, Bytes::from_static(b"ok")).await?;
        self.delete(&key).await
    }
}
