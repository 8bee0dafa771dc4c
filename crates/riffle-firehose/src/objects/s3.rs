//! Objects on an S3-compatible server (`--s3-endpoint URL`) through the
//! `object_store` crate: path-style requests, plain HTTP allowed, SigV4 with
//! the usual AWS environment credentials.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{ObjectStore as _, ObjectStoreExt as _, PutPayload, RetryConfig};
use parking_lot::Mutex;

use super::{check_bucket, check_key, BoxFuture, ObjectError, ObjectStore};

/// How to reach the S3-compatible server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Config {
    /// `http://127.0.0.1:9000` or `https://s3.example.com`.
    pub endpoint: String,
    pub region: String,
    /// With no access key, requests are sent unsigned (a local server that
    /// accepts anonymous writes); never the instance-metadata lookup, which
    /// would leave the machine.
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
}

impl S3Config {
    /// `endpoint` plus the usual AWS environment variables:
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
    /// region from `AWS_REGION`, then `AWS_DEFAULT_REGION`, else `us-east-1`.
    pub fn from_env(endpoint: impl Into<String>) -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Self {
            endpoint: endpoint.into(),
            region: var("AWS_REGION")
                .or_else(|| var("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|| "us-east-1".to_string()),
            access_key_id: var("AWS_ACCESS_KEY_ID"),
            secret_access_key: var("AWS_SECRET_ACCESS_KEY"),
            session_token: var("AWS_SESSION_TOKEN"),
        }
    }
}

/// An S3-compatible server; one `object_store` client per bucket, built on
/// first use and kept.
#[derive(Debug)]
pub struct S3Store {
    config: S3Config,
    clients: Mutex<HashMap<String, Arc<AmazonS3>>>,
}

impl S3Store {
    pub fn new(config: S3Config) -> Self {
        Self {
            config,
            clients: Mutex::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> &S3Config {
        &self.config
    }

    fn client(&self, bucket: &str) -> Result<Arc<AmazonS3>, ObjectError> {
        check_bucket(bucket)?;
        if let Some(client) = self.clients.lock().get(bucket) {
            return Ok(client.clone());
        }
        let c = &self.config;
        let mut builder = AmazonS3Builder::new()
            .with_endpoint(&c.endpoint)
            .with_region(&c.region)
            .with_bucket_name(bucket)
            .with_allow_http(true)
            .with_virtual_hosted_style_request(false)
            // The delivery loop retries for hours on its own; a request
            // should fail within a minute so that the loop sees it.
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(60),
                ..RetryConfig::default()
            });
        match (&c.access_key_id, &c.secret_access_key) {
            (Some(id), Some(secret)) => {
                builder = builder
                    .with_access_key_id(id)
                    .with_secret_access_key(secret);
                if let Some(token) = &c.session_token {
                    builder = builder.with_token(token);
                }
            }
            _ => builder = builder.with_skip_signature(true),
        }
        let client = Arc::new(builder.build().map_err(|source| ObjectError::Client {
            bucket: bucket.to_string(),
            source,
        })?);
        Ok(self
            .clients
            .lock()
            .entry(bucket.to_string())
            .or_insert(client)
            .clone())
    }
}

fn path(key: &str) -> Result<Path, ObjectError> {
    check_key(key)?;
    Path::parse(key).map_err(|_| ObjectError::Key {
        key: key.to_string(),
        reason: "not a valid object path",
    })
}

fn s3_err(bucket: &str, key: &str) -> impl FnOnce(object_store::Error) -> ObjectError {
    let (bucket, key) = (bucket.to_string(), key.to_string());
    move |source| ObjectError::S3 {
        bucket,
        key,
        source,
    }
}

impl ObjectStore for S3Store {
    fn put<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        body: Bytes,
    ) -> BoxFuture<'a, Result<(), ObjectError>> {
        Box::pin(async move {
            let client = self.client(bucket)?;
            let location = path(key)?;
            // One PUT: S3 makes a single-request upload visible whole or not at all.
            client
                .put(&location, PutPayload::from(body))
                .await
                .map_err(s3_err(bucket, key))?;
            Ok(())
        })
    }

    fn get<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Bytes>, ObjectError>> {
        Box::pin(async move {
            let client = self.client(bucket)?;
            let location = path(key)?;
            match client.get(&location).await {
                Ok(found) => Ok(Some(found.bytes().await.map_err(s3_err(bucket, key))?)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(s3_err(bucket, key)(e)),
            }
        })
    }

    fn list<'a>(
        &'a self,
        bucket: &'a str,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, ObjectError>> {
        Box::pin(async move {
            let client = self.client(bucket)?;
            // object_store lists by whole path segments: ask for the
            // directory part of the prefix and filter by the full string.
            let dir = match prefix.rfind('/') {
                Some(i) => Some(path(&prefix[..i])?),
                None => None,
            };
            let mut stream = client.list(dir.as_ref());
            let mut keys = Vec::new();
            while let Some(meta) = stream.next().await {
                let meta = meta.map_err(s3_err(bucket, prefix))?;
                let key = meta.location.to_string();
                if key.starts_with(prefix) {
                    keys.push(key);
                }
            }
            keys.sort();
            Ok(keys)
        })
    }
}
