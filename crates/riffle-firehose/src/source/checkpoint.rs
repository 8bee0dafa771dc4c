//! How far a Kinesis source has delivered into its buffer, per shard, kept
//! durably so a restarted source resumes instead of starting over.

use crate::FirehoseError;
use riffle_meta::Collection;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Suggested metadata table for [`CollectionCheckpointStore`]:
/// `firehose.source_checkpoints`, one document per delivery stream.
pub const TABLE: &str = "source_checkpoints";

/// One shard's progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShardCheckpoint {
    /// The sequence number of the last record accepted by the sink; reading
    /// resumes after it.
    After(String),
    /// The shard is closed and every record up to its end was accepted.
    Finished,
}

/// Every shard's progress, saved as one document so that a parent's
/// `Finished` and its children's first positions change together.
/// A shard with no entry starts at the source's start time.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoints {
    /// Shard id → progress.
    #[serde(default)]
    pub shards: BTreeMap<String, ShardCheckpoint>,
}

/// Durable storage of one source's [`Checkpoints`]. Both calls block (a
/// metadata transaction); the source runs them on the blocking pool.
pub trait CheckpointStore: Send + Sync {
    /// The saved checkpoints, or empty ones if none were ever saved.
    fn load(&self) -> Result<Checkpoints, FirehoseError>;
    /// Replaces the saved checkpoints; durable when it returns.
    fn save(&self, checkpoints: &Checkpoints) -> Result<(), FirehoseError>;
}

/// [`CheckpointStore`] over a metadata [`Collection`], one document per key.
/// Key it by the delivery stream's `uid`, so that a delivery stream deleted
/// and created again under the same name starts afresh.
pub struct CollectionCheckpointStore {
    collection: Arc<dyn Collection<Checkpoints>>,
    key: String,
}

impl CollectionCheckpointStore {
    pub fn new(collection: Arc<dyn Collection<Checkpoints>>, key: impl Into<String>) -> Self {
        CollectionCheckpointStore {
            collection,
            key: key.into(),
        }
    }

    /// Removes the document (at DeleteDeliveryStream); whether it existed.
    pub fn remove(&self) -> Result<bool, FirehoseError> {
        Ok(self.collection.delete(&self.key)?)
    }
}

impl CheckpointStore for CollectionCheckpointStore {
    fn load(&self) -> Result<Checkpoints, FirehoseError> {
        Ok(self
            .collection
            .get(&self.key)?
            .map(|v| v.doc)
            .unwrap_or_default())
    }

    fn save(&self, checkpoints: &Checkpoints) -> Result<(), FirehoseError> {
        self.collection.put(&self.key, checkpoints)?;
        Ok(())
    }
}
