//! Shapes of the capacity, resharding, consumer (enhanced fan-out),
//! encryption, monitoring, resource-policy and account operations.

use crate::{ShardIteratorType, StreamRef, Timestamp, WarmThroughput};
use serde::Serialize;
use std::collections::BTreeMap;

// ---------------------------------------------------------------- inputs

#[derive(Clone, Debug, Default)]
pub struct SplitShardInput {
    pub stream: StreamRef,
    pub shard_to_split: String,
    pub new_starting_hash_key: String,
}

#[derive(Clone, Debug, Default)]
pub struct MergeShardsInput {
    pub stream: StreamRef,
    pub shard_to_merge: String,
    pub adjacent_shard_to_merge: String,
}

#[derive(Clone, Debug, Default)]
pub struct UpdateShardCountInput {
    pub stream: StreamRef,
    pub target_shard_count: i64,
    /// Always `UNIFORM_SCALING` (the only value the model allows).
    pub scaling_type: String,
}

#[derive(Clone, Debug, Default)]
pub struct UpdateStreamModeInput {
    pub stream_arn: String,
    pub stream_mode: crate::StreamMode,
    pub warm_throughput_mibps: Option<i64>,
}

#[derive(Clone, Debug, Default)]
pub struct UpdateStreamWarmThroughputInput {
    pub stream: StreamRef,
    pub warm_throughput_mibps: i64,
}

#[derive(Clone, Debug, Default)]
pub struct UpdateAccountSettingsInput {
    /// `ENABLED` or `DISABLED`.
    pub minimum_throughput_billing_commitment_status: String,
}

/// How consumer operations name a consumer: its ARN, or stream ARN + name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConsumerRef {
    pub stream_arn: Option<String>,
    pub consumer_name: Option<String>,
    pub consumer_arn: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct RegisterStreamConsumerInput {
    pub stream_arn: String,
    pub consumer_name: String,
    pub tags: Option<BTreeMap<String, String>>,
}

#[derive(Clone, Debug, Default)]
pub struct ListStreamConsumersInput {
    pub stream_arn: String,
    pub next_token: Option<String>,
    pub max_results: Option<i64>,
    pub stream_creation_timestamp: Option<Timestamp>,
}

#[derive(Clone, Debug, Default)]
pub struct StartingPosition {
    pub position_type: ShardIteratorType,
    pub sequence_number: Option<String>,
    pub timestamp: Option<Timestamp>,
}

#[derive(Clone, Debug, Default)]
pub struct SubscribeToShardInput {
    pub consumer_arn: String,
    pub shard_id: String,
    pub starting_position: StartingPosition,
}

#[derive(Clone, Debug, Default)]
pub struct EnhancedMonitoringInput {
    pub stream: StreamRef,
    pub shard_level_metrics: Vec<String>,
}

#[derive(Clone, Debug, Default)]
pub struct StreamEncryptionInput {
    pub stream: StreamRef,
    /// `KMS` or `NONE`.
    pub encryption_type: String,
    pub key_id: String,
}

#[derive(Clone, Debug, Default)]
pub struct PutResourcePolicyInput {
    pub resource_arn: String,
    pub policy: String,
}

#[derive(Clone, Debug, Default)]
pub struct ResourceArnInput {
    pub resource_arn: String,
}

// ---------------------------------------------------------------- outputs

#[derive(Clone, Debug, Serialize)]
pub struct UpdateShardCountOutput {
    #[serde(rename = "StreamName")]
    pub stream_name: String,
    #[serde(rename = "CurrentShardCount")]
    pub current_shard_count: i64,
    #[serde(rename = "TargetShardCount")]
    pub target_shard_count: i64,
    #[serde(rename = "StreamARN")]
    pub stream_arn: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct UpdateStreamWarmThroughputOutput {
    #[serde(rename = "StreamARN")]
    pub stream_arn: String,
    #[serde(rename = "StreamName")]
    pub stream_name: String,
    #[serde(rename = "WarmThroughput")]
    pub warm_throughput: WarmThroughput,
}

#[derive(Clone, Debug, Serialize)]
pub struct MinimumThroughputBillingCommitment {
    #[serde(rename = "Status")]
    pub status: String,
    #[serde(rename = "StartedAt", skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    #[serde(rename = "EndedAt", skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    #[serde(
        rename = "EarliestAllowedEndAt",
        skip_serializing_if = "Option::is_none"
    )]
    pub earliest_allowed_end_at: Option<Timestamp>,
}

#[derive(Clone, Debug, Serialize)]
pub struct AccountSettingsOutput {
    #[serde(
        rename = "MinimumThroughputBillingCommitment",
        skip_serializing_if = "Option::is_none"
    )]
    pub minimum_throughput_billing_commitment: Option<MinimumThroughputBillingCommitment>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConsumerStatus {
    #[default]
    Creating,
    Deleting,
    Active,
}

#[derive(Clone, Debug, Serialize)]
pub struct Consumer {
    #[serde(rename = "ConsumerName")]
    pub consumer_name: String,
    #[serde(rename = "ConsumerARN")]
    pub consumer_arn: String,
    #[serde(rename = "ConsumerStatus")]
    pub consumer_status: ConsumerStatus,
    #[serde(rename = "ConsumerCreationTimestamp")]
    pub consumer_creation_timestamp: Timestamp,
}

#[derive(Clone, Debug, Serialize)]
pub struct RegisterStreamConsumerOutput {
    #[serde(rename = "Consumer")]
    pub consumer: Consumer,
}

#[derive(Clone, Debug, Serialize)]
pub struct ConsumerDescription {
    #[serde(rename = "ConsumerName")]
    pub consumer_name: String,
    #[serde(rename = "ConsumerARN")]
    pub consumer_arn: String,
    #[serde(rename = "ConsumerStatus")]
    pub consumer_status: ConsumerStatus,
    #[serde(rename = "ConsumerCreationTimestamp")]
    pub consumer_creation_timestamp: Timestamp,
    #[serde(rename = "StreamARN")]
    pub stream_arn: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct DescribeStreamConsumerOutput {
    #[serde(rename = "ConsumerDescription")]
    pub consumer_description: ConsumerDescription,
}

#[derive(Clone, Debug, Serialize)]
pub struct ListStreamConsumersOutput {
    #[serde(rename = "Consumers")]
    pub consumers: Vec<Consumer>,
    #[serde(rename = "NextToken", skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct EnhancedMonitoringOutput {
    #[serde(rename = "StreamName")]
    pub stream_name: String,
    #[serde(rename = "CurrentShardLevelMetrics")]
    pub current_shard_level_metrics: Vec<String>,
    #[serde(rename = "DesiredShardLevelMetrics")]
    pub desired_shard_level_metrics: Vec<String>,
    #[serde(rename = "StreamARN")]
    pub stream_arn: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct GetResourcePolicyOutput {
    #[serde(rename = "Policy")]
    pub policy: String,
}

/// One `SubscribeToShardEvent` of the event stream (payload of an event frame).
#[derive(Clone, Debug, Serialize)]
pub struct SubscribeToShardEvent {
    #[serde(rename = "Records")]
    pub records: Vec<crate::Record>,
    /// Absent only at the end of a closed shard (then `ChildShards` is set).
    #[serde(
        rename = "ContinuationSequenceNumber",
        skip_serializing_if = "Option::is_none"
    )]
    pub continuation_sequence_number: Option<String>,
    #[serde(rename = "MillisBehindLatest")]
    pub millis_behind_latest: i64,
    #[serde(rename = "ChildShards", skip_serializing_if = "Option::is_none")]
    pub child_shards: Option<Vec<crate::ChildShard>>,
}
