//! The S3 destination: object keys and prefixes ([`keys`]), compression
//! ([`compress`]), error output ([`errors`]) and the writes themselves.
//!
//! [`S3Target`] is one bucket with its naming and compression: the S3
//! destination, its source-record backup, or the `S3Configuration` of
//! another destination (where an HTTP endpoint's failed data goes).
//! [`S3Destination`] is an `ExtendedS3DestinationConfiguration` (or the
//! older `S3DestinationConfiguration`): a main target and an optional backup.
//!
//! Every write is one `put` of a whole object whose key is a pure function
//! of the configuration, the version and the batch seed, so retrying a
//! write after a crash replaces the object rather than adding one.
//! `EncryptionConfiguration` (KMS) is accepted and not applied: objects are
//! stored as the object store stores them.

pub mod compress;
pub mod errors;
pub mod keys;
mod timefmt;

use std::sync::Arc;

use bytes::Bytes;
use riffle_model::firehose as api;
use thiserror::Error;

use crate::destination::FailedRecord;
use crate::objects::{bucket_from_arn, check_key, ObjectError, ObjectStore};

pub use compress::{CompressError, Compression};
pub use errors::ErrorOutputType;
pub use keys::{batch_seed, sub_seed, KeyConfig, KeyError};

#[derive(Debug, Error)]
pub enum S3Error {
    /// Prefix, ErrorOutputPrefix or CustomTimeZone (InvalidArgumentException).
    #[error(transparent)]
    Key(#[from] KeyError),
    /// CompressionFormat unknown, or compressing failed.
    #[error(transparent)]
    Compress(#[from] CompressError),
    /// The store refused or failed: retry the delivery.
    #[error(transparent)]
    Object(#[from] ObjectError),
    /// A configuration Riffle cannot deliver (InvalidArgumentException).
    #[error("{0}")]
    Config(String),
}

impl S3Error {
    /// Whether the configuration is at fault (refuse it at Create/Update)
    /// rather than the store (retry).
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            S3Error::Key(_)
                | S3Error::Config(_)
                | S3Error::Compress(CompressError::Unknown(_))
                | S3Error::Object(ObjectError::BucketArn(_) | ObjectError::Bucket(_))
        )
    }
}

/// The S3-side settings of a target, as both configuration shapes carry them.
#[derive(Clone, Copy, Debug, Default)]
pub struct TargetSettings<'a> {
    pub bucket_arn: &'a str,
    pub prefix: Option<&'a str>,
    pub error_output_prefix: Option<&'a str>,
    pub compression_format: Option<&'a str>,
    pub file_extension: Option<&'a str>,
    pub custom_time_zone: Option<&'a str>,
}

/// One bucket, how its objects are named and compressed.
#[derive(Clone)]
pub struct S3Target {
    store: Arc<dyn ObjectStore>,
    bucket: String,
    keys: KeyConfig,
    compression: Compression,
}

impl std::fmt::Debug for S3Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Target")
            .field("bucket", &self.bucket)
            .field("keys", &self.keys)
            .field("compression", &self.compression)
            .finish_non_exhaustive()
    }
}

impl S3Target {
    pub fn new(
        store: Arc<dyn ObjectStore>,
        stream_name: &str,
        s: TargetSettings<'_>,
    ) -> Result<Self, S3Error> {
        let compression = Compression::parse(s.compression_format)?;
        let keys = KeyConfig::new(
            stream_name,
            s.prefix,
            s.error_output_prefix,
            s.custom_time_zone,
            &compression.extension(s.file_extension),
        )?;
        // Keys with an empty, `.` or `..` segment (a prefix starting with
        // `/`, or holding `//`) are valid on AWS but cannot be stored by
        // either object store; refuse them now rather than at every delivery.
        let sample = 970_056_000_000;
        for key in [
            keys.object_key(1, 0, sample),
            keys.error_key(ErrorOutputType::ProcessingFailed, 1, 0, sample),
        ] {
            check_key(&key).map_err(|e| {
                S3Error::Config(format!(
                    "Riffle cannot store objects under this prefix ({e}); \
                     avoid a leading '/', '//', and '.' or '..' folders"
                ))
            })?;
        }
        Ok(Self {
            store,
            bucket: bucket_from_arn(s.bucket_arn)?,
            keys,
            compression,
        })
    }

    /// An `S3DestinationConfiguration`: the older destination shape, an
    /// extended destination's `S3BackupConfiguration`, or the
    /// `S3Configuration` of another destination.
    pub fn from_s3_config(
        store: Arc<dyn ObjectStore>,
        stream_name: &str,
        cfg: &api::S3DestinationConfiguration,
    ) -> Result<Self, S3Error> {
        Self::new(
            store,
            stream_name,
            TargetSettings {
                bucket_arn: &cfg.bucket_arn,
                prefix: cfg.prefix.as_deref(),
                error_output_prefix: cfg.error_output_prefix.as_deref(),
                compression_format: cfg.compression_format.as_deref(),
                file_extension: None,
                custom_time_zone: None,
            },
        )
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn keys(&self) -> &KeyConfig {
        &self.keys
    }

    pub fn compression(&self) -> Compression {
        self.compression
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// Writes `records` concatenated and compressed as the object `key`.
    pub async fn put(&self, key: String, records: &[Bytes]) -> Result<String, S3Error> {
        // The ZIP entry is the object's file name without its extension.
        let file = key.rsplit('/').next().unwrap_or(&key);
        let entry = file.strip_suffix(self.keys.extension()).unwrap_or(file);
        let body = self.compression.compress(records, entry)?;
        self.store.put(&self.bucket, &key, body).await?;
        Ok(key)
    }

    /// Writes `body` as the object `key`, as it is (a Parquet or ORC file:
    /// no compression).
    pub async fn put_body(&self, key: String, body: Bytes) -> Result<String, S3Error> {
        self.store.put(&self.bucket, &key, body).await?;
        Ok(key)
    }

    /// Writes `records`, concatenated byte for byte and compressed, as one
    /// object; returns its key, or `None` (nothing written) when there are
    /// no records. `seed` is the batch's identity ([`batch_seed`]),
    /// `first_arrival_ms` the arrival time of its oldest record, `version`
    /// the delivery stream's VersionId.
    pub async fn write(
        &self,
        seed: u128,
        first_arrival_ms: i64,
        version: u64,
        records: &[Bytes],
    ) -> Result<Option<String>, S3Error> {
        if records.is_empty() {
            return Ok(None);
        }
        let key = self.keys.object_key(version, seed, first_arrival_ms);
        self.put(key, records).await.map(Some)
    }

    /// Writes failed records as AWS's failed-record JSON lines, one object
    /// under the error prefix for `kind` (compressed like the target's
    /// objects); `None` when there are none.
    pub async fn write_errors(
        &self,
        kind: ErrorOutputType,
        seed: u128,
        first_arrival_ms: i64,
        version: u64,
        records: &[FailedRecord],
    ) -> Result<Option<String>, S3Error> {
        if records.is_empty() {
            return Ok(None);
        }
        let key = self.keys.error_key(kind, version, seed, first_arrival_ms);
        let body = Bytes::from(errors::encode_failed_records(kind, records));
        self.put(key, &[body]).await.map(Some)
    }
}

/// An S3 delivery destination: the objects, and with `S3BackupMode`
/// `Enabled` a backup of the source records (before processing) in their
/// own bucket and prefix.
#[derive(Clone, Debug)]
pub struct S3Destination {
    main: S3Target,
    backup: Option<S3Target>,
}

impl S3Destination {
    /// Checks what AWS checks of the S3 settings (prefixes, time zone,
    /// compression, bucket ARN, backup). Format conversion and dynamic
    /// partitioning are checked by `convert` and `partition`.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        stream_name: &str,
        cfg: &api::ExtendedS3DestinationConfiguration,
    ) -> Result<Self, S3Error> {
        let main = S3Target::new(
            store.clone(),
            stream_name,
            TargetSettings {
                bucket_arn: &cfg.bucket_arn,
                prefix: cfg.prefix.as_deref(),
                error_output_prefix: cfg.error_output_prefix.as_deref(),
                compression_format: cfg.compression_format.as_deref(),
                file_extension: cfg.file_extension.as_deref(),
                custom_time_zone: cfg.custom_time_zone.as_deref(),
            },
        )?;
        let backup = match (cfg.s3_backup_mode.as_deref(), &cfg.s3_backup_configuration) {
            (Some("Enabled"), Some(b)) => Some(S3Target::from_s3_config(store, stream_name, b)?),
            (Some("Enabled"), None) => {
                return Err(S3Error::Config(
                    "S3BackupConfiguration is required when S3BackupMode is Enabled".into(),
                ))
            }
            _ => None,
        };
        Ok(Self { main, backup })
    }

    /// The older `S3DestinationConfiguration`, delivered as an extended one.
    pub fn from_legacy(
        store: Arc<dyn ObjectStore>,
        stream_name: &str,
        cfg: &api::S3DestinationConfiguration,
    ) -> Result<Self, S3Error> {
        Ok(Self {
            main: S3Target::from_s3_config(store, stream_name, cfg)?,
            backup: None,
        })
    }

    /// The S3 destination of a stored delivery stream; `None` for an
    /// HTTP endpoint destination (whose `S3Configuration` is an
    /// [`S3Target::from_s3_config`]).
    pub fn for_destination(
        store: Arc<dyn ObjectStore>,
        stream_name: &str,
        destination: &crate::meta::DestinationConfig,
    ) -> Result<Option<Self>, S3Error> {
        use crate::meta::DestinationConfig as D;
        match destination {
            D::ExtendedS3(cfg) => Self::new(store, stream_name, cfg).map(Some),
            D::S3(cfg) => Self::from_legacy(store, stream_name, cfg).map(Some),
            _ => Ok(None),
        }
    }

    pub fn target(&self) -> &S3Target {
        &self.main
    }

    pub fn backup(&self) -> Option<&S3Target> {
        self.backup.as_ref()
    }

    /// Delivers a batch as one object (see [`S3Target::write`]).
    pub async fn write(
        &self,
        batch_seed: u128,
        first_arrival_ms: i64,
        version: u64,
        records: &[Bytes],
    ) -> Result<Option<String>, S3Error> {
        self.main
            .write(batch_seed, first_arrival_ms, version, records)
            .await
    }

    /// Backs up the batch's source records; `None` when backup is disabled
    /// (or there are no records). Its key derives from `sub_seed(seed,
    /// "backup")`, so it never collides with the batch's object even when
    /// both go to the same bucket and prefix.
    pub async fn write_backup(
        &self,
        batch_seed: u128,
        first_arrival_ms: i64,
        version: u64,
        records: &[Bytes],
    ) -> Result<Option<String>, S3Error> {
        match &self.backup {
            Some(b) => {
                b.write(
                    sub_seed(batch_seed, "backup"),
                    first_arrival_ms,
                    version,
                    records,
                )
                .await
            }
            None => Ok(None),
        }
    }

    /// Writes failed records under the destination's error prefix.
    pub async fn write_errors(
        &self,
        kind: ErrorOutputType,
        batch_seed: u128,
        first_arrival_ms: i64,
        version: u64,
        records: &[FailedRecord],
    ) -> Result<Option<String>, S3Error> {
        self.main
            .write_errors(kind, batch_seed, first_arrival_ms, version, records)
            .await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::objects::LocalDirStore;
    use std::io::Read;

    const T: i64 = 1_535_365_805_123;

    fn ext_cfg() -> api::ExtendedS3DestinationConfiguration {
        serde_json::from_value(serde_json::json!({
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "BucketARN": "arn:aws:s3:::main-bucket",
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn writes_concatenated_records_and_retries_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn ObjectStore> = Arc::new(LocalDirStore::new(dir.path()));
        let mut cfg = ext_cfg();
        cfg.compression_format = Some("GZIP".into());
        cfg.prefix = Some("logs/".into());
        let dest = S3Destination::new(store.clone(), "orders", &cfg).unwrap();
        let recs = [
            Bytes::from_static(b"a\n"),
            Bytes::from_static(b"bc"),
            Bytes::from_static(b"d\n"),
        ];
        let seed = batch_seed("uid", 0);
        let key = dest.write(seed, T, 1, &recs).await.unwrap().unwrap();
        assert!(
            key.starts_with("logs/2018/08/27/10/orders-1-2018-08-27-10-30-05-"),
            "{key}"
        );
        assert!(key.ends_with(".gz"));
        let body = store.get("main-bucket", &key).await.unwrap().unwrap();
        let mut plain = String::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_string(&mut plain)
            .unwrap();
        assert_eq!(plain, "a\nbcd\n");

        // The same batch delivered again (after a crash): the same key, one object.
        let again = dest.write(seed, T, 1, &recs).await.unwrap().unwrap();
        assert_eq!(again, key);
        assert_eq!(
            store.list("main-bucket", "").await.unwrap(),
            vec![key.clone()]
        );
        // The next batch is another object.
        let next = dest
            .write(batch_seed("uid", 3), T, 1, &recs)
            .await
            .unwrap()
            .unwrap();
        assert_ne!(next, key);
        assert_eq!(store.list("main-bucket", "logs/").await.unwrap().len(), 2);
        assert_eq!(dest.write(seed, T, 1, &[]).await.unwrap(), None);
    }

    #[tokio::test]
    async fn backup_and_errors_have_their_own_keys() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn ObjectStore> = Arc::new(LocalDirStore::new(dir.path()));
        let mut cfg = ext_cfg();
        cfg.prefix = Some("p/".into());
        cfg.file_extension = Some(".json".into());
        cfg.s3_backup_mode = Some("Enabled".into());
        // Same bucket and prefix as the main objects, on purpose.
        cfg.s3_backup_configuration = Some(
            serde_json::from_value(serde_json::json!({
                "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                "BucketARN": "arn:aws:s3:::main-bucket",
                "Prefix": "p/",
            }))
            .unwrap(),
        );
        let dest = S3Destination::new(store.clone(), "s", &cfg).unwrap();
        let seed = batch_seed("uid", 10);
        let recs = [Bytes::from_static(b"x")];
        let main = dest.write(seed, T, 2, &recs).await.unwrap().unwrap();
        let backup = dest.write_backup(seed, T, 2, &recs).await.unwrap().unwrap();
        assert_ne!(main, backup);
        assert!(main.ends_with(".json"));
        assert!(
            !backup.ends_with(".json"),
            "the backup has its own (default) extension"
        );
        let failed = FailedRecord {
            raw_data: Bytes::from_static(b"x"),
            arrival_ms: T,
            attempts_made: 1,
            attempt_ending_ms: T + 5,
            error_code: "Lambda.FunctionError".into(),
            error_message: "boom".into(),
            extra: vec![(
                "lambdaArn",
                "arn:aws:lambda:us-east-1:123456789012:function:f".into(),
            )],
        };
        let err = dest
            .write_errors(ErrorOutputType::ProcessingFailed, seed, T, 2, &[failed])
            .await
            .unwrap()
            .unwrap();
        assert!(
            err.starts_with("p/processing-failed/2018/08/27/10/s-2-"),
            "{err}"
        );
        let body = store.get("main-bucket", &err).await.unwrap().unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(body.strip_suffix(b"\n").unwrap()).unwrap();
        assert_eq!(v["rawData"], "eA==");
        assert_eq!(
            v["lambdaArn"],
            "arn:aws:lambda:us-east-1:123456789012:function:f"
        );
        assert_eq!(store.list("main-bucket", "").await.unwrap().len(), 3);

        // Backup disabled: nothing written.
        let plain = S3Destination::new(store, "s", &ext_cfg()).unwrap();
        assert_eq!(plain.write_backup(seed, T, 1, &recs).await.unwrap(), None);
    }

    #[test]
    fn configuration_errors() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn ObjectStore> = Arc::new(LocalDirStore::new(dir.path()));
        let check = |f: &dyn Fn(&mut api::ExtendedS3DestinationConfiguration)| {
            let mut cfg = ext_cfg();
            f(&mut cfg);
            let err = S3Destination::new(store.clone(), "s", &cfg).unwrap_err();
            assert!(err.is_config(), "{err}");
            err.to_string()
        };
        assert!(
            check(&|c| c.s3_backup_mode = Some("Enabled".into())).contains("S3BackupConfiguration")
        );
        assert!(
            check(&|c| c.prefix = Some("!{timestamp:yyyy}/".into())).contains("ErrorOutputPrefix")
        );
        assert!(
            check(&|c| c.custom_time_zone = Some("Nowhere/Else".into())).contains("CustomTimeZone")
        );
        assert!(check(&|c| c.compression_format = Some("LZ4".into())).contains("LZ4"));
        assert!(check(&|c| c.bucket_arn = "arn:aws:s3:::".into()).contains("bucket"));
        assert!(check(&|c| c.prefix = Some("/abs/".into())).contains("leading '/'"));
        assert!(check(&|c| c.prefix = Some("a//b/".into())).contains("'//'"));
        assert!(check(&|c| {
            c.prefix = Some("!{timestamp:yyyy}/../".into());
            c.error_output_prefix = Some("!{firehose:error-output-type}/".into());
        })
        .contains("'..'"));
        let legacy: api::S3DestinationConfiguration = serde_json::from_value(serde_json::json!({
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "BucketARN": "arn:aws:s3:::legacy",
            "CompressionFormat": "Snappy",
        }))
        .unwrap();
        let d = S3Destination::for_destination(
            store,
            "s",
            &crate::meta::DestinationConfig::S3(Box::new(legacy)),
        )
        .unwrap()
        .unwrap();
        assert_eq!(d.target().bucket(), "legacy");
        assert_eq!(d.target().keys().extension(), ".snappy");
    }
}
