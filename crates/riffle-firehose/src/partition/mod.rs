//! Dynamic partitioning (`DynamicPartitioningConfiguration`): partition
//! keys from JQ 1.6 queries (the `MetadataExtraction` processor, evaluated
//! with jaq) and from a Lambda's `metadata.partitionKeys`, which
//! `!{partitionKeyFromQuery:…}` and `!{partitionKeyFromLambda:…}` in the S3
//! prefix turn into one object stream per partition.

use riffle_model::firehose as api;
use std::collections::BTreeMap;
use std::time::Duration;

/// A record's partition: its keys by namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartitionKeys {
    /// `partitionKeyFromQuery` keys (MetadataExtraction).
    pub query: BTreeMap<String, String>,
    /// `partitionKeyFromLambda` keys (the function's `metadata.partitionKeys`).
    pub lambda: BTreeMap<String, String>,
}

/// Why a record has no partition; it goes to the error output.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PartitionError {
    /// The failed record's `errorCode`, as AWS writes it.
    pub code: String,
    pub message: String,
}

/// A delivery stream's partitioning: compiled queries and the keys the
/// prefix needs.
#[derive(Debug)]
pub struct Partitioner {}

impl Partitioner {
    /// `None` when dynamic partitioning is absent or disabled; `Err` (a
    /// message for `InvalidArgumentException`) for what cannot run.
    pub fn new(cfg: &api::ExtendedS3DestinationConfiguration) -> Result<Option<Self>, String> {
        match &cfg.dynamic_partitioning_configuration {
            Some(c) if c.enabled == Some(true) => {
                Err("DynamicPartitioningConfiguration is not supported by Riffle yet".into())
            }
            _ => Ok(None),
        }
    }

    /// The partition of one record: `data` is the record after processing,
    /// `lambda` the function's partition keys (empty without one).
    pub fn keys(
        &self,
        _data: &[u8],
        _lambda: &BTreeMap<String, String>,
    ) -> Result<PartitionKeys, PartitionError> {
        Ok(PartitionKeys::default())
    }

    /// `DynamicPartitioningConfiguration.RetryOptions.DurationInSeconds`
    /// (AWS's default 300 s).
    pub fn retry_duration(&self) -> Duration {
        Duration::from_secs(300)
    }
}
