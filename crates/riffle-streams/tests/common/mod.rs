//! Helpers shared by the domain-level engine tests: engine configuration and
//! thin wrappers over the engine calls most tests make the same way.
#![allow(dead_code, clippy::unwrap_used)]

use riffle_model::*;
use riffle_streams::{Engine, EngineConfig, LogConfig, StreamsError, SyncPolicy};

/// The first shard of every stream.
pub const SHARD0: &str = "shardId-000000000000";

/// Immediate stream transitions and no per-shard throughput limits (the tests
/// read and write many times at one manual instant); the default log.
pub fn base_config(dir: &std::path::Path) -> EngineConfig {
    let mut cfg = EngineConfig::new(dir);
    cfg.transition_delay_ms = 0;
    cfg.throughput_limits = false;
    cfg
}

/// [`base_config`] with the default log but the given fsync policy.
pub fn config_with_sync(dir: &std::path::Path, sync: SyncPolicy) -> EngineConfig {
    let mut cfg = base_config(dir);
    cfg.log = LogConfig {
        sync,
        ..LogConfig::default()
    };
    cfg
}

pub fn stream(name: &str) -> StreamRef {
    StreamRef {
        name: Some(name.into()),
        arn: None,
    }
}

pub async fn create(e: &Engine, name: &str, shards: i64, max_record_kib: Option<i64>) {
    e.create_stream(CreateStreamInput {
        stream_name: name.into(),
        shard_count: Some(shards),
        max_record_size_kib: max_record_kib,
        ..Default::default()
    })
    .await
    .unwrap();
}

pub async fn put_record(
    e: &Engine,
    name: &str,
    partition_key: &str,
    data: Vec<u8>,
) -> Result<PutRecordOutput, StreamsError> {
    e.put_record(PutRecordInput {
        stream: stream(name),
        data,
        partition_key: partition_key.into(),
        ..Default::default()
    })
    .await
}

/// GetShardIterator on `shard` of `name`.
pub async fn iterator(
    e: &Engine,
    name: &str,
    shard: &str,
    kind: ShardIteratorType,
    seq: Option<String>,
    timestamp: Option<Timestamp>,
) -> Result<String, StreamsError> {
    e.get_shard_iterator(GetShardIteratorInput {
        stream: stream(name),
        shard_id: shard.into(),
        iterator_type: kind,
        starting_sequence_number: seq,
        timestamp,
    })
    .await
    .map(|out| out.shard_iterator)
}

/// GetRecords with no limit.
pub async fn get_records(e: &Engine, it: String) -> Result<GetRecordsOutput, StreamsError> {
    e.get_records(GetRecordsInput {
        shard_iterator: it,
        limit: None,
        stream_arn: None,
    })
    .await
}
