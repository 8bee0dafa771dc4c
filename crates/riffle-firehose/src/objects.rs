//! Object storage for delivered objects: a local directory or an S3-compatible server.

use crate::FirehoseError;
use bytes::Bytes;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub trait ObjectStore: Send + Sync {
    fn put<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        body: Bytes,
    ) -> BoxFuture<'a, Result<(), FirehoseError>>;
}

pub struct LocalDirStore {
    pub root: PathBuf,
}

impl ObjectStore for LocalDirStore {
    fn put<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        body: Bytes,
    ) -> BoxFuture<'a, Result<(), FirehoseError>> {
        let path = self.root.join(bucket).join(key);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                if let Some(p) = path.parent() {
                    std::fs::create_dir_all(p)?;
                }
                std::fs::write(&path, &body)
            })
            .await
            .map_err(|e| FirehoseError::Internal(e.to_string()))?
            .map_err(|e| FirehoseError::Internal(e.to_string()))
        })
    }
}
