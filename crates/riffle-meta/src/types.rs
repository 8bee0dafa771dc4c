use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Lifecycle state as stored. `until_ms` on the stream says when a timed
/// transition (CREATING → ACTIVE, UPDATING → ACTIVE, DELETING → gone) completes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StreamState {
    Creating,
    Active,
    Updating,
    Deleting,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardMeta {
    /// The number in `shardId-%012d`; never reused within a stream.
    pub index: u32,
    /// Hash keys are 128-bit; stored as decimal strings to stay JSON-safe.
    pub starting_hash_key: String,
    pub ending_hash_key: String,
    /// Shard creation time (epoch ms); its seconds are encoded in every sequence number.
    pub created_ms: i64,
    pub parent: Option<u32>,
    pub adjacent_parent: Option<u32>,
    /// Set when a reshard closes the shard: the time and the log offset one past its last record.
    pub closed_ms: Option<i64>,
    pub end_offset: Option<u64>,
    /// The shard's sequence numbers encode the second after `created_ms`, so
    /// that a child's numbers are after its parents' last ones, as on AWS.
    /// Set for children created by this release on; `false` (the default) for
    /// shards stored before, whose sequence numbers must not change.
    #[serde(default)]
    pub seq_after_parents: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamMeta {
    pub name: String,
    /// Unique per creation: names the data directory, so deleting and
    /// re-creating a stream of the same name never mixes their records.
    pub uid: String,
    pub created_ms: i64,
    pub state: StreamState,
    pub until_ms: Option<i64>,
    pub retention_hours: u32,
    /// `PROVISIONED` or `ON_DEMAND`.
    pub mode: String,
    pub max_record_size_kib: u32,
    pub shards: Vec<ShardMeta>,
    pub next_shard_index: u32,
    pub tags: BTreeMap<String, String>,
    pub encryption_key: Option<String>,
    pub shard_level_metrics: Vec<String>,
    pub warm_throughput_mibps: Option<i64>,
    /// Enhanced fan-out consumers registered on the stream.
    #[serde(default)]
    pub consumers: Vec<ConsumerMeta>,
    /// The stream's resource policy document (PutResourcePolicy), verbatim.
    #[serde(default)]
    pub resource_policy: Option<String>,
    /// A reshard accepted while the stream is UPDATING; applied, in one
    /// transaction, when the transition completes.
    #[serde(default)]
    pub pending_reshard: Option<Reshard>,
    /// When UpdateShardCount was accepted (epoch ms), for AWS's 10-per-24-hours rule.
    #[serde(default)]
    pub shard_count_updates: Vec<i64>,
    /// When the capacity mode was switched (epoch ms), for AWS's twice-per-24-hours rule.
    #[serde(default)]
    pub mode_updates: Vec<i64>,
    /// Encryption at rest: every data key the stream ever sealed records with,
    /// wrapped by its KMS master key. A sealed batch names its key by index in
    /// this list, so entries are only ever appended.
    #[serde(default)]
    pub data_keys: Vec<StreamDataKey>,
}

/// A stream data key (AES-256), wrapped by a master key of the local keyring.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamDataKey {
    /// ARN of the master key that wraps it.
    pub key_arn: String,
    /// The wrapped key, base64 (see docs/security-encryption.md).
    pub wrapped: String,
    /// When StartStreamEncryption made it (epoch ms): batches written from then
    /// on until the next Start or Stop are sealed with it.
    pub since_ms: i64,
}

/// A resharding request waiting for its UPDATING period to end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reshard {
    Split {
        shard: u32,
        new_starting_hash_key: String,
    },
    Merge {
        shard: u32,
        adjacent: u32,
    },
    UniformScaling {
        target: u32,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConsumerState {
    Creating,
    Active,
    Deleting,
}

/// An enhanced fan-out consumer. Its ARN is
/// `{stream ARN}/consumer/{name}:{created_ms / 1000}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerMeta {
    pub name: String,
    pub created_ms: i64,
    pub state: ConsumerState,
    /// When a timed transition (CREATING → ACTIVE, DELETING → gone) completes.
    pub until_ms: Option<i64>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub resource_policy: Option<String>,
}
