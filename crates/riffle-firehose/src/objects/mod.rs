//! Object storage for delivered objects: a local directory
//! ([`LocalDirStore`], `DATA_DIR/s3/BUCKET/KEY`, so Firehose works with no
//! other service) or an S3-compatible server ([`S3Store`]).
//!
//! Both give the same guarantee the delivery loop relies on: a `put` either
//! leaves the whole object under its key or nothing new there, and putting
//! the same key again replaces it. That, with keys derived from the buffer
//! position (see `destination::s3::keys`), is what makes a delivery retried
//! after a crash overwrite its object instead of adding a duplicate.

mod local;
mod s3;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use thiserror::Error;

pub use local::LocalDirStore;
pub use s3::{S3Config, S3Store};

/// A boxed future, so that [`ObjectStore`] can be used as `Arc<dyn ObjectStore>`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where delivered objects go. Keys are S3 keys (`a/b/c`), buckets are bare
/// bucket names (see [`bucket_from_arn`]).
pub trait ObjectStore: Send + Sync {
    /// Stores `body` under `bucket`/`key`, atomically: readers see the old
    /// object (or none) until the new one is complete. Overwrites.
    fn put<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        body: Bytes,
    ) -> BoxFuture<'a, Result<(), ObjectError>>;

    /// The object's bytes, or `None` if there is no such key (or bucket, for
    /// the local directory).
    fn get<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Bytes>, ObjectError>>;

    /// Every key starting with `prefix` (a plain string prefix, as S3's
    /// ListObjectsV2 `prefix`, not a directory), sorted.
    fn list<'a>(
        &'a self,
        bucket: &'a str,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, ObjectError>>;
}

#[derive(Debug, Error)]
pub enum ObjectError {
    /// A bucket ARN that is not `arn:PARTITION:s3:::NAME`.
    #[error("invalid bucket ARN {0:?}: expected arn:aws:s3:::BUCKET")]
    BucketArn(String),
    /// A bucket name that cannot name a directory or an S3 bucket.
    #[error("invalid bucket name {0:?}")]
    Bucket(String),
    /// A key with an empty, `.` or `..` segment, a leading or trailing `/`,
    /// or a control character: it cannot be stored the same way in both stores.
    #[error("invalid object key {key:?}: {reason}")]
    Key { key: String, reason: &'static str },
    #[error("local object store at {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("S3 client for bucket {bucket}: {source}")]
    Client {
        bucket: String,
        #[source]
        source: object_store::Error,
    },
    #[error("S3 request for {bucket}/{key}: {source}")]
    S3 {
        bucket: String,
        key: String,
        #[source]
        source: object_store::Error,
    },
    /// The blocking task running a local-directory operation was lost.
    #[error("local object store task: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The store the server's flags select: `--s3-endpoint URL` (credentials
/// and region from the AWS environment variables, see [`S3Config::from_env`])
/// or else the local directory (`--s3-dir`, default `DATA_DIR/s3`).
pub fn open(
    s3_endpoint: Option<&str>,
    s3_dir: impl Into<std::path::PathBuf>,
) -> Arc<dyn ObjectStore> {
    match s3_endpoint.filter(|e| !e.is_empty()) {
        Some(endpoint) => Arc::new(S3Store::new(S3Config::from_env(endpoint))),
        None => Arc::new(LocalDirStore::new(s3_dir)),
    }
}

/// The bucket name of a Firehose `BucketARN`: `arn:aws:s3:::NAME` → `NAME`
/// (any partition, e.g. `arn:aws-cn:s3:::NAME`).
pub fn bucket_from_arn(arn: &str) -> Result<String, ObjectError> {
    let bad = || ObjectError::BucketArn(arn.to_string());
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("s3"), Some(""), Some(""), Some(name)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(bad());
    };
    if partition.is_empty() {
        return Err(bad());
    }
    check_bucket(name).map_err(|_| bad())?;
    Ok(name.to_string())
}

/// Bucket names as the model's BucketARN pattern allows them (`[\w.-]{1,255}`),
/// minus `.` and `..`, which would escape the local root.
pub(crate) fn check_bucket(name: &str) -> Result<(), ObjectError> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(ObjectError::Bucket(name.to_string()))
    }
}

/// The key rules both stores share (those of `object_store`'s `Path`, plus no
/// leading or trailing `/`), so a key that works locally works on S3 too.
pub(crate) fn check_key(key: &str) -> Result<(), ObjectError> {
    let bad = |reason| {
        Err(ObjectError::Key {
            key: key.to_string(),
            reason,
        })
    };
    if key.is_empty() {
        return bad("empty");
    }
    if key.len() > 1024 {
        return bad("longer than 1,024 bytes");
    }
    if key.starts_with('/') || key.ends_with('/') {
        return bad("starts or ends with '/'");
    }
    for segment in key.split('/') {
        if segment.is_empty() {
            return bad("empty path segment ('//')");
        }
        if segment == "." || segment == ".." {
            return bad("'.' or '..' path segment");
        }
        if segment.chars().any(|c| c.is_ascii_control()) {
            return bad("control character");
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_come_from_arns() {
        assert_eq!(
            bucket_from_arn("arn:aws:s3:::my-bucket").unwrap(),
            "my-bucket"
        );
        assert_eq!(bucket_from_arn("arn:aws-cn:s3:::b.c_d").unwrap(), "b.c_d");
        for bad in [
            "arn:aws:s3:::",
            "arn:aws:s3::123456789012:b",
            "arn:aws:kinesis:::b",
            "arn::s3:::b",
            "s3://b",
            "arn:aws:s3:::..",
            "arn:aws:s3:::a/b",
        ] {
            assert!(bucket_from_arn(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_that_cannot_be_stored_alike_are_refused() {
        check_key("2018/08/27/10/s-1-2018-08-27-10-30-05-x.gz").unwrap();
        check_key("year=2018/month=08/a b{c}").unwrap();
        for bad in ["", "/a", "a/", "a//b", "a/../b", "./a", "a\nb"] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
    }
}
