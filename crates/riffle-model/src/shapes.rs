//! Inputs (filled by the protocol layer after validation) and outputs
//! (serialized by it). Field names follow the botocore model; outputs rename
//! to the exact wire member names.

use crate::shapes_more::*;
use crate::{Blob, RecordData, Timestamp};
use serde::Serialize;
use std::collections::BTreeMap;

/// How a request names its stream: `StreamName`, `StreamARN`, or both.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamRef {
    pub name: Option<String>,
    pub arn: Option<String>,
}

// ---------------------------------------------------------------- inputs

#[derive(Clone, Debug, Default)]
pub struct CreateStreamInput {
    pub stream_name: String,
    pub shard_count: Option<i64>,
    pub stream_mode: Option<StreamMode>,
    pub tags: Option<BTreeMap<String, String>>,
    pub warm_throughput_mibps: Option<i64>,
    pub max_record_size_kib: Option<i64>,
}

#[derive(Clone, Debug, Default)]
pub struct DeleteStreamInput {
    pub stream: StreamRef,
    pub enforce_consumer_deletion: bool,
}

#[derive(Clone, Debug, Default)]
pub struct DescribeStreamInput {
    pub stream: StreamRef,
    pub limit: Option<i64>,
    pub exclusive_start_shard_id: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct DescribeStreamSummaryInput {
    pub stream: StreamRef,
}

#[derive(Clone, Debug, Default)]
pub struct ListStreamsInput {
    pub limit: Option<i64>,
    pub exclusive_start_stream_name: Option<String>,
    pub next_token: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct ShardFilterInput {
    pub filter_type: ShardFilterType,
    pub shard_id: Option<String>,
    pub timestamp: Option<Timestamp>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ShardFilterType {
    AfterShardId,
    AtTrimHorizon,
    #[default]
    FromTrimHorizon,
    AtLatest,
    AtTimestamp,
    FromTimestamp,
}

impl ShardFilterType {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "AFTER_SHARD_ID" => Self::AfterShardId,
            "AT_TRIM_HORIZON" => Self::AtTrimHorizon,
            "FROM_TRIM_HORIZON" => Self::FromTrimHorizon,
            "AT_LATEST" => Self::AtLatest,
            "AT_TIMESTAMP" => Self::AtTimestamp,
            "FROM_TIMESTAMP" => Self::FromTimestamp,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, Default)]
pub struct ListShardsInput {
    pub stream: StreamRef,
    pub next_token: Option<String>,
    pub exclusive_start_shard_id: Option<String>,
    pub max_results: Option<i64>,
    pub stream_creation_timestamp: Option<Timestamp>,
    pub shard_filter: Option<ShardFilterInput>,
}

#[derive(Clone, Debug, Default)]
pub struct PutRecordInput {
    pub stream: StreamRef,
    pub data: Vec<u8>,
    pub partition_key: String,
    pub explicit_hash_key: Option<String>,
    pub sequence_number_for_ordering: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct PutRecordsEntry {
    /// Kept as validated base64 text from a JSON body until the engine
    /// decodes it into its shard's batch.
    pub data: RecordData,
    pub partition_key: String,
    pub explicit_hash_key: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct PutRecordsInput {
    pub stream: StreamRef,
    pub records: Vec<PutRecordsEntry>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ShardIteratorType {
    AtSequenceNumber,
    AfterSequenceNumber,
    #[default]
    TrimHorizon,
    Latest,
    AtTimestamp,
}

impl ShardIteratorType {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "AT_SEQUENCE_NUMBER" => Self::AtSequenceNumber,
            "AFTER_SEQUENCE_NUMBER" => Self::AfterSequenceNumber,
            "TRIM_HORIZON" => Self::TrimHorizon,
            "LATEST" => Self::Latest,
            "AT_TIMESTAMP" => Self::AtTimestamp,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AtSequenceNumber => "AT_SEQUENCE_NUMBER",
            Self::AfterSequenceNumber => "AFTER_SEQUENCE_NUMBER",
            Self::TrimHorizon => "TRIM_HORIZON",
            Self::Latest => "LATEST",
            Self::AtTimestamp => "AT_TIMESTAMP",
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct GetShardIteratorInput {
    pub stream: StreamRef,
    pub shard_id: String,
    pub iterator_type: ShardIteratorType,
    pub starting_sequence_number: Option<String>,
    pub timestamp: Option<Timestamp>,
}

#[derive(Clone, Debug, Default)]
pub struct GetRecordsInput {
    pub shard_iterator: String,
    pub limit: Option<i64>,
    pub stream_arn: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct RetentionInput {
    pub stream: StreamRef,
    pub retention_period_hours: i64,
}

#[derive(Clone, Debug, Default)]
pub struct AddTagsToStreamInput {
    pub stream: StreamRef,
    pub tags: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default)]
pub struct RemoveTagsFromStreamInput {
    pub stream: StreamRef,
    pub tag_keys: Vec<String>,
}

#[derive(Clone, Debug, Default)]
pub struct ListTagsForStreamInput {
    pub stream: StreamRef,
    pub exclusive_start_tag_key: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Clone, Debug, Default)]
pub struct TagResourceInput {
    pub resource_arn: String,
    pub tags: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default)]
pub struct UntagResourceInput {
    pub resource_arn: String,
    pub tag_keys: Vec<String>,
}

#[derive(Clone, Debug, Default)]
pub struct ListTagsForResourceInput {
    pub resource_arn: String,
}

#[derive(Clone, Debug, Default)]
pub struct UpdateMaxRecordSizeInput {
    pub stream: StreamRef,
    pub max_record_size_kib: i64,
}

/// A validated request, one variant per operation Riffle serves.
#[derive(Clone, Debug)]
pub enum Input {
    CreateStream(CreateStreamInput),
    DeleteStream(DeleteStreamInput),
    DescribeStream(DescribeStreamInput),
    DescribeStreamSummary(DescribeStreamSummaryInput),
    ListStreams(ListStreamsInput),
    ListShards(ListShardsInput),
    PutRecord(PutRecordInput),
    PutRecords(PutRecordsInput),
    GetShardIterator(GetShardIteratorInput),
    GetRecords(GetRecordsInput),
    IncreaseStreamRetentionPeriod(RetentionInput),
    DecreaseStreamRetentionPeriod(RetentionInput),
    AddTagsToStream(AddTagsToStreamInput),
    RemoveTagsFromStream(RemoveTagsFromStreamInput),
    ListTagsForStream(ListTagsForStreamInput),
    TagResource(TagResourceInput),
    UntagResource(UntagResourceInput),
    ListTagsForResource(ListTagsForResourceInput),
    DescribeLimits,
    UpdateMaxRecordSize(UpdateMaxRecordSizeInput),
    SplitShard(SplitShardInput),
    MergeShards(MergeShardsInput),
    UpdateShardCount(UpdateShardCountInput),
    UpdateStreamMode(UpdateStreamModeInput),
    UpdateStreamWarmThroughput(UpdateStreamWarmThroughputInput),
    DescribeAccountSettings,
    UpdateAccountSettings(UpdateAccountSettingsInput),
    RegisterStreamConsumer(RegisterStreamConsumerInput),
    DeregisterStreamConsumer(ConsumerRef),
    DescribeStreamConsumer(ConsumerRef),
    ListStreamConsumers(ListStreamConsumersInput),
    /// Answered with an event stream, not an `Output`.
    SubscribeToShard(SubscribeToShardInput),
    EnableEnhancedMonitoring(EnhancedMonitoringInput),
    DisableEnhancedMonitoring(EnhancedMonitoringInput),
    StartStreamEncryption(StreamEncryptionInput),
    StopStreamEncryption(StreamEncryptionInput),
    PutResourcePolicy(PutResourcePolicyInput),
    GetResourcePolicy(ResourceArnInput),
    DeleteResourcePolicy(ResourceArnInput),
}

// ---------------------------------------------------------------- outputs

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StreamStatus {
    #[default]
    Creating,
    Deleting,
    Active,
    Updating,
}

impl StreamStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "CREATING",
            Self::Deleting => "DELETING",
            Self::Active => "ACTIVE",
            Self::Updating => "UPDATING",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StreamMode {
    #[default]
    Provisioned,
    OnDemand,
}

impl StreamMode {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "PROVISIONED" => Some(Self::Provisioned),
            "ON_DEMAND" => Some(Self::OnDemand),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct StreamModeDetails {
    #[serde(rename = "StreamMode")]
    pub stream_mode: StreamMode,
}

#[derive(Clone, Debug, Serialize)]
pub struct HashKeyRange {
    #[serde(rename = "StartingHashKey")]
    pub starting_hash_key: String,
    #[serde(rename = "EndingHashKey")]
    pub ending_hash_key: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct SequenceNumberRange {
    #[serde(rename = "StartingSequenceNumber")]
    pub starting_sequence_number: String,
    #[serde(
        rename = "EndingSequenceNumber",
        skip_serializing_if = "Option::is_none"
    )]
    pub ending_sequence_number: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Shard {
    #[serde(rename = "ShardId")]
    pub shard_id: String,
    #[serde(rename = "ParentShardId", skip_serializing_if = "Option::is_none")]
    pub parent_shard_id: Option<String>,
    #[serde(
        rename = "AdjacentParentShardId",
        skip_serializing_if = "Option::is_none"
    )]
    pub adjacent_parent_shard_id: Option<String>,
    #[serde(rename = "HashKeyRange")]
    pub hash_key_range: HashKeyRange,
    #[serde(rename = "SequenceNumberRange")]
    pub sequence_number_range: SequenceNumberRange,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct EnhancedMetrics {
    #[serde(rename = "ShardLevelMetrics")]
    pub shard_level_metrics: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct StreamDescription {
    #[serde(rename = "StreamName")]
    pub stream_name: String,
    #[serde(rename = "StreamARN")]
    pub stream_arn: String,
    #[serde(rename = "StreamStatus")]
    pub stream_status: StreamStatus,
    #[serde(rename = "StreamModeDetails")]
    pub stream_mode_details: StreamModeDetails,
    #[serde(rename = "Shards")]
    pub shards: Vec<Shard>,
    #[serde(rename = "HasMoreShards")]
    pub has_more_shards: bool,
    #[serde(rename = "RetentionPeriodHours")]
    pub retention_period_hours: i64,
    #[serde(rename = "StreamCreationTimestamp")]
    pub stream_creation_timestamp: Timestamp,
    #[serde(rename = "EnhancedMonitoring")]
    pub enhanced_monitoring: Vec<EnhancedMetrics>,
    #[serde(rename = "EncryptionType")]
    pub encryption_type: String,
    #[serde(rename = "KeyId", skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct DescribeStreamOutput {
    #[serde(rename = "StreamDescription")]
    pub stream_description: StreamDescription,
}

#[derive(Clone, Debug, Serialize)]
pub struct WarmThroughput {
    #[serde(rename = "TargetMiBps", skip_serializing_if = "Option::is_none")]
    pub target_mibps: Option<i64>,
    #[serde(rename = "CurrentMiBps", skip_serializing_if = "Option::is_none")]
    pub current_mibps: Option<i64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct StreamDescriptionSummary {
    #[serde(rename = "StreamName")]
    pub stream_name: String,
    #[serde(rename = "StreamARN")]
    pub stream_arn: String,
    #[serde(rename = "StreamStatus")]
    pub stream_status: StreamStatus,
    #[serde(rename = "StreamModeDetails")]
    pub stream_mode_details: StreamModeDetails,
    #[serde(rename = "RetentionPeriodHours")]
    pub retention_period_hours: i64,
    #[serde(rename = "StreamCreationTimestamp")]
    pub stream_creation_timestamp: Timestamp,
    #[serde(rename = "EnhancedMonitoring")]
    pub enhanced_monitoring: Vec<EnhancedMetrics>,
    #[serde(rename = "EncryptionType")]
    pub encryption_type: String,
    #[serde(rename = "KeyId", skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(rename = "OpenShardCount")]
    pub open_shard_count: i64,
    #[serde(rename = "ConsumerCount")]
    pub consumer_count: i64,
    #[serde(rename = "WarmThroughput", skip_serializing_if = "Option::is_none")]
    pub warm_throughput: Option<WarmThroughput>,
    #[serde(rename = "MaxRecordSizeInKiB")]
    pub max_record_size_kib: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct DescribeStreamSummaryOutput {
    #[serde(rename = "StreamDescriptionSummary")]
    pub stream_description_summary: StreamDescriptionSummary,
}

#[derive(Clone, Debug, Serialize)]
pub struct StreamSummary {
    #[serde(rename = "StreamName")]
    pub stream_name: String,
    #[serde(rename = "StreamARN")]
    pub stream_arn: String,
    #[serde(rename = "StreamStatus")]
    pub stream_status: StreamStatus,
    #[serde(rename = "StreamModeDetails")]
    pub stream_mode_details: StreamModeDetails,
    #[serde(rename = "StreamCreationTimestamp")]
    pub stream_creation_timestamp: Timestamp,
}

#[derive(Clone, Debug, Serialize)]
pub struct ListStreamsOutput {
    #[serde(rename = "StreamNames")]
    pub stream_names: Vec<String>,
    #[serde(rename = "HasMoreStreams")]
    pub has_more_streams: bool,
    #[serde(rename = "NextToken", skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    #[serde(rename = "StreamSummaries")]
    pub stream_summaries: Vec<StreamSummary>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ListShardsOutput {
    #[serde(rename = "Shards")]
    pub shards: Vec<Shard>,
    #[serde(rename = "NextToken", skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PutRecordOutput {
    #[serde(rename = "ShardId")]
    pub shard_id: String,
    #[serde(rename = "SequenceNumber")]
    pub sequence_number: String,
    #[serde(rename = "EncryptionType", skip_serializing_if = "Option::is_none")]
    pub encryption_type: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct PutRecordsResultEntry {
    #[serde(rename = "SequenceNumber", skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<String>,
    #[serde(rename = "ShardId", skip_serializing_if = "Option::is_none")]
    pub shard_id: Option<String>,
    #[serde(rename = "ErrorCode", skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(rename = "ErrorMessage", skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PutRecordsOutput {
    #[serde(rename = "FailedRecordCount")]
    pub failed_record_count: i64,
    #[serde(rename = "Records")]
    pub records: Vec<PutRecordsResultEntry>,
    #[serde(rename = "EncryptionType", skip_serializing_if = "Option::is_none")]
    pub encryption_type: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct GetShardIteratorOutput {
    #[serde(rename = "ShardIterator")]
    pub shard_iterator: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Record {
    #[serde(rename = "SequenceNumber")]
    pub sequence_number: String,
    #[serde(rename = "ApproximateArrivalTimestamp")]
    pub approximate_arrival_timestamp: Timestamp,
    #[serde(rename = "Data")]
    pub data: Blob,
    #[serde(rename = "PartitionKey")]
    pub partition_key: String,
    #[serde(rename = "EncryptionType", skip_serializing_if = "Option::is_none")]
    pub encryption_type: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ChildShard {
    #[serde(rename = "ShardId")]
    pub shard_id: String,
    #[serde(rename = "ParentShards")]
    pub parent_shards: Vec<String>,
    #[serde(rename = "HashKeyRange")]
    pub hash_key_range: HashKeyRange,
}

#[derive(Clone, Debug, Serialize)]
pub struct GetRecordsOutput {
    #[serde(rename = "Records")]
    pub records: Vec<Record>,
    #[serde(rename = "NextShardIterator", skip_serializing_if = "Option::is_none")]
    pub next_shard_iterator: Option<String>,
    #[serde(rename = "MillisBehindLatest")]
    pub millis_behind_latest: i64,
    #[serde(rename = "ChildShards", skip_serializing_if = "Option::is_none")]
    pub child_shards: Option<Vec<ChildShard>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Tag {
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "Value")]
    pub value: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct ListTagsForStreamOutput {
    #[serde(rename = "Tags")]
    pub tags: Vec<Tag>,
    #[serde(rename = "HasMoreTags")]
    pub has_more_tags: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct ListTagsForResourceOutput {
    #[serde(rename = "Tags")]
    pub tags: Vec<Tag>,
}

#[derive(Clone, Debug, Serialize)]
pub struct DescribeLimitsOutput {
    #[serde(rename = "ShardLimit")]
    pub shard_limit: i64,
    #[serde(rename = "OpenShardCount")]
    pub open_shard_count: i64,
    #[serde(rename = "OnDemandStreamCount")]
    pub on_demand_stream_count: i64,
    #[serde(rename = "OnDemandStreamCountLimit")]
    pub on_demand_stream_count_limit: i64,
}

/// A successful result, ready for the protocol layer to encode.
#[derive(Clone, Debug)]
pub enum Output {
    /// Operations with no output shape answer HTTP 200 with an empty body.
    Empty,
    DescribeStream(DescribeStreamOutput),
    DescribeStreamSummary(DescribeStreamSummaryOutput),
    ListStreams(ListStreamsOutput),
    ListShards(ListShardsOutput),
    PutRecord(PutRecordOutput),
    PutRecords(PutRecordsOutput),
    GetShardIterator(GetShardIteratorOutput),
    GetRecords(GetRecordsOutput),
    ListTagsForStream(ListTagsForStreamOutput),
    ListTagsForResource(ListTagsForResourceOutput),
    DescribeLimits(DescribeLimitsOutput),
    UpdateShardCount(UpdateShardCountOutput),
    UpdateStreamWarmThroughput(UpdateStreamWarmThroughputOutput),
    AccountSettings(AccountSettingsOutput),
    RegisterStreamConsumer(RegisterStreamConsumerOutput),
    DescribeStreamConsumer(DescribeStreamConsumerOutput),
    ListStreamConsumers(ListStreamConsumersOutput),
    EnhancedMonitoring(EnhancedMonitoringOutput),
    GetResourcePolicy(GetResourcePolicyOutput),
}
