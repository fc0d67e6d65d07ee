//! Where report files live: the `object_store` crate, on the local data
//! directory by default or in an S3-compatible bucket (`s3://bucket/prefix`)
//! that replicas share. A file is written through a multipart upload (on
//! the local file system, a staging file renamed at the end; on S3, parts
//! that become an object only when the upload completes), so it becomes
//! visible only once complete.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use tokio::io::AsyncWriteExt;

/// Bytes per uploaded part: S3's smallest part size (except the last).
const PART_BYTES: usize = 5 * 1024 * 1024;

/// Bytes per part written to a local directory, which takes parts of any
/// size: each is a write at its offset in a staging file.
const LOCAL_PART_BYTES: usize = 1024 * 1024;

/// Parts uploading at once; the next write waits for one to finish.
const PARTS_IN_FLIGHT: usize = 2;

/// The report files' store.
#[derive(Clone, Debug)]
pub struct ReportStore {
    store: Arc<dyn ObjectStore>,
    /// The same store when it is a local directory, whose files have paths.
    local: Option<Arc<LocalFileSystem>>,
}

/// A file being written.
pub struct Upload {
    writer: BufWriter,
    written: u64,
}

impl ReportStore {
    /// Files under `dir` (created if missing).
    pub fn local(dir: &FsPath) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|err| anyhow::anyhow!("cannot create {}: {err}", dir.display()))?;
        let local = Arc::new(LocalFileSystem::new_with_prefix(dir)?);
        Ok(Self {
            store: local.clone(),
            local: Some(local),
        })
    }

    /// The store a `--report-store` location names: `s3://bucket/prefix`
    /// (credentials, region and endpoint from the `AWS_*` environment
    /// variables, overridden by `options`, e.g. `aws_endpoint`), or a local
    /// directory as a path or `file://` URL.
    pub fn at(location: &str, options: &[(&str, &str)]) -> anyhow::Result<Self> {
        if let Some(rest) = location.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            anyhow::ensure!(!bucket.is_empty(), "{location}: no bucket named");
            let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
            for (key, value) in options {
                let key: AmazonS3ConfigKey = key
                    .parse()
                    .map_err(|err| anyhow::anyhow!("S3 option {key}: {err}"))?;
                builder = builder.with_config(key, *value);
            }
            let s3 = builder
                .build()
                .map_err(|err| anyhow::anyhow!("{location}: {err}"))?;
            let prefix = prefix.trim_matches('/');
            let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                Arc::new(s3)
            } else {
                Arc::new(PrefixStore::new(s3, prefix))
            };
            return Ok(Self { store, local: None });
        }
        if location.contains("://") && !location.starts_with("file://") {
            anyhow::bail!(
                "report store {location}: expected s3://bucket/prefix, file:///dir or a directory"
            );
        }
        Self::local(FsPath::new(location.trim_start_matches("file://")))
    }

    /// Files in memory, gone when the process ends (tests, and servers built
    /// without a store).
    pub fn memory() -> Self {
        Self {
            store: Arc::new(object_store::memory::InMemory::new()),
            local: None,
        }
    }

    /// Where the file at `key` lies on this machine, when the store is a
    /// local directory.
    pub fn local_path(&self, key: &str) -> Option<PathBuf> {
        self.local
            .as_ref()?
            .path_to_filesystem(&Path::from(key))
            .ok()
    }

    /// Starts a file. At most one part waits in the buffer and
    /// [`PARTS_IN_FLIGHT`] parts upload at once, so a report holds at most
    /// three parts of its file in memory: about 15 MB on S3 (object_store's
    /// defaults, 10 MB parts with 8 in flight, let a fast report reach
    /// 90 MB), 3 MB in a local directory.
    pub fn create(&self, key: &str) -> Upload {
        let part = if self.local.is_some() {
            LOCAL_PART_BYTES
        } else {
            PART_BYTES
        };
        Upload {
            writer: BufWriter::with_capacity(self.store.clone(), Path::from(key), part)
                .with_max_concurrency(PARTS_IN_FLIGHT),
            written: 0,
        }
    }

    /// The file's bytes as a stream, and its size.
    pub async fn open(
        &self,
        key: &str,
    ) -> object_store::Result<(u64, BoxStream<'static, std::io::Result<Bytes>>)> {
        let found = self.store.get(&Path::from(key)).await?;
        let size = found.meta.size;
        let stream = found.into_stream().map_err(std::io::Error::other).boxed();
        Ok((size, stream))
    }

    pub async fn delete(&self, key: &str) -> object_store::Result<()> {
        match self.store.delete(&Path::from(key)).await {
            Err(object_store::Error::NotFound { .. }) => Ok(()),
            other => other,
        }
    }
}

impl Upload {
    pub async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes).await?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Completes the file; returns its size.
    pub async fn finish(mut self) -> std::io::Result<u64> {
        self.writer.shutdown().await?;
        Ok(self.written)
    }

    /// Drops what was written; nothing becomes visible.
    pub async fn abort(mut self) {
        if let Err(err) = self.writer.abort().await {
            tracing::warn!(error = %err, "could not discard a partial report file");
        }
    }
}
