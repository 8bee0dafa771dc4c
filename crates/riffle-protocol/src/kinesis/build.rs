//! Building the typed [`Input`] from type-checked, validated fields, and the
//! stateless `custom` checks AWS runs before the request reaches a stream.

use crate::fields::Fields;
use bytes::Bytes;
use riffle_model::*;

/// Builds the typed input. Required members are present after validation,
/// and enum members hold one of their values, so the defaults never apply.
/// PutRecords' `Data` stays base64 text, a slice of `body` when given.
pub fn build(op: Operation, mut f: Fields<'_>, body: Option<&Bytes>) -> Input {
    use Operation as O;
    match op {
        O::CreateStream => Input::CreateStream(CreateStreamInput {
            stream_name: f.string("StreamName").unwrap_or_default(),
            shard_count: f.int("ShardCount"),
            stream_mode: f
                .structure("StreamModeDetails")
                .and_then(|mut d| d.string("StreamMode"))
                .and_then(|s| StreamMode::parse(&s)),
            tags: f.string_map("Tags"),
            warm_throughput_mibps: f.int("WarmThroughputMiBps"),
            max_record_size_kib: f.int("MaxRecordSizeInKiB"),
        }),
        O::DeleteStream => Input::DeleteStream(DeleteStreamInput {
            enforce_consumer_deletion: f.boolean("EnforceConsumerDeletion").unwrap_or(false),
            stream: stream(&mut f),
        }),
        O::DescribeStream => Input::DescribeStream(DescribeStreamInput {
            limit: f.int("Limit"),
            exclusive_start_shard_id: f.string("ExclusiveStartShardId"),
            stream: stream(&mut f),
        }),
        O::DescribeStreamSummary => Input::DescribeStreamSummary(DescribeStreamSummaryInput {
            stream: stream(&mut f),
        }),
        O::ListStreams => Input::ListStreams(ListStreamsInput {
            limit: f.int("Limit"),
            exclusive_start_stream_name: f.string("ExclusiveStartStreamName"),
            next_token: f.string("NextToken"),
        }),
        O::ListShards => Input::ListShards(ListShardsInput {
            next_token: f.string("NextToken"),
            exclusive_start_shard_id: f.string("ExclusiveStartShardId"),
            max_results: f.int("MaxResults"),
            stream_creation_timestamp: f.timestamp("StreamCreationTimestamp"),
            shard_filter: f.structure("ShardFilter").map(|mut sf| ShardFilterInput {
                filter_type: sf
                    .string("Type")
                    .and_then(|t| ShardFilterType::parse(&t))
                    .unwrap_or_default(),
                shard_id: sf.string("ShardId"),
                timestamp: sf.timestamp("Timestamp"),
            }),
            stream: stream(&mut f),
        }),
        O::PutRecord => Input::PutRecord(PutRecordInput {
            data: f.blob("Data").unwrap_or_default(),
            partition_key: f.string("PartitionKey").unwrap_or_default(),
            explicit_hash_key: f.string("ExplicitHashKey"),
            sequence_number_for_ordering: f.string("SequenceNumberForOrdering"),
            stream: stream(&mut f),
        }),
        O::PutRecords => Input::PutRecords(PutRecordsInput {
            records: f
                .structures("Records")
                .unwrap_or_default()
                .into_iter()
                .map(|mut r| PutRecordsEntry {
                    data: r.record_data("Data", body).unwrap_or_default(),
                    partition_key: r.string("PartitionKey").unwrap_or_default(),
                    explicit_hash_key: r.string("ExplicitHashKey"),
                })
                .collect(),
            stream: stream(&mut f),
        }),
        O::GetShardIterator => Input::GetShardIterator(GetShardIteratorInput {
            shard_id: f.string("ShardId").unwrap_or_default(),
            iterator_type: f
                .string("ShardIteratorType")
                .and_then(|t| ShardIteratorType::parse(&t))
                .unwrap_or_default(),
            starting_sequence_number: f.string("StartingSequenceNumber"),
            timestamp: f.timestamp("Timestamp"),
            stream: stream(&mut f),
        }),
        O::GetRecords => Input::GetRecords(GetRecordsInput {
            shard_iterator: f.string("ShardIterator").unwrap_or_default(),
            limit: f.int("Limit"),
            stream_arn: f.string("StreamARN"),
        }),
        O::IncreaseStreamRetentionPeriod => Input::IncreaseStreamRetentionPeriod(retention(&mut f)),
        O::DecreaseStreamRetentionPeriod => Input::DecreaseStreamRetentionPeriod(retention(&mut f)),
        O::AddTagsToStream => Input::AddTagsToStream(AddTagsToStreamInput {
            tags: f.string_map("Tags").unwrap_or_default(),
            stream: stream(&mut f),
        }),
        O::RemoveTagsFromStream => Input::RemoveTagsFromStream(RemoveTagsFromStreamInput {
            tag_keys: f.strings("TagKeys").unwrap_or_default(),
            stream: stream(&mut f),
        }),
        O::ListTagsForStream => Input::ListTagsForStream(ListTagsForStreamInput {
            exclusive_start_tag_key: f.string("ExclusiveStartTagKey"),
            limit: f.int("Limit"),
            stream: stream(&mut f),
        }),
        O::TagResource => Input::TagResource(TagResourceInput {
            resource_arn: f.string("ResourceARN").unwrap_or_default(),
            tags: f.string_map("Tags").unwrap_or_default(),
        }),
        O::UntagResource => Input::UntagResource(UntagResourceInput {
            resource_arn: f.string("ResourceARN").unwrap_or_default(),
            tag_keys: f.strings("TagKeys").unwrap_or_default(),
        }),
        O::ListTagsForResource => Input::ListTagsForResource(ListTagsForResourceInput {
            resource_arn: f.string("ResourceARN").unwrap_or_default(),
        }),
        O::DescribeLimits => Input::DescribeLimits,
        O::UpdateMaxRecordSize => Input::UpdateMaxRecordSize(UpdateMaxRecordSizeInput {
            max_record_size_kib: f.int("MaxRecordSizeInKiB").unwrap_or_default(),
            stream: StreamRef {
                name: None,
                arn: f.string("StreamARN"),
            },
        }),
        O::SplitShard => Input::SplitShard(SplitShardInput {
            shard_to_split: f.string("ShardToSplit").unwrap_or_default(),
            new_starting_hash_key: f.string("NewStartingHashKey").unwrap_or_default(),
            stream: stream(&mut f),
        }),
        O::MergeShards => Input::MergeShards(MergeShardsInput {
            shard_to_merge: f.string("ShardToMerge").unwrap_or_default(),
            adjacent_shard_to_merge: f.string("AdjacentShardToMerge").unwrap_or_default(),
            stream: stream(&mut f),
        }),
        O::UpdateShardCount => Input::UpdateShardCount(UpdateShardCountInput {
            target_shard_count: f.int("TargetShardCount").unwrap_or_default(),
            scaling_type: f.string("ScalingType").unwrap_or_default(),
            stream: stream(&mut f),
        }),
        O::UpdateStreamMode => Input::UpdateStreamMode(UpdateStreamModeInput {
            stream_arn: f.string("StreamARN").unwrap_or_default(),
            stream_mode: f
                .structure("StreamModeDetails")
                .and_then(|mut d| d.string("StreamMode"))
                .and_then(|s| StreamMode::parse(&s))
                .unwrap_or_default(),
            warm_throughput_mibps: f.int("WarmThroughputMiBps"),
        }),
        O::UpdateStreamWarmThroughput => {
            Input::UpdateStreamWarmThroughput(UpdateStreamWarmThroughputInput {
                warm_throughput_mibps: f.int("WarmThroughputMiBps").unwrap_or_default(),
                stream: stream(&mut f),
            })
        }
        O::DescribeAccountSettings => Input::DescribeAccountSettings,
        O::UpdateAccountSettings => Input::UpdateAccountSettings(UpdateAccountSettingsInput {
            minimum_throughput_billing_commitment_status: f
                .structure("MinimumThroughputBillingCommitment")
                .and_then(|mut c| c.string("Status"))
                .unwrap_or_default(),
        }),
        O::RegisterStreamConsumer => Input::RegisterStreamConsumer(RegisterStreamConsumerInput {
            stream_arn: f.string("StreamARN").unwrap_or_default(),
            consumer_name: f.string("ConsumerName").unwrap_or_default(),
            tags: f.string_map("Tags"),
        }),
        O::DeregisterStreamConsumer => Input::DeregisterStreamConsumer(consumer_ref(&mut f)),
        O::DescribeStreamConsumer => Input::DescribeStreamConsumer(consumer_ref(&mut f)),
        O::ListStreamConsumers => Input::ListStreamConsumers(ListStreamConsumersInput {
            stream_arn: f.string("StreamARN").unwrap_or_default(),
            next_token: f.string("NextToken"),
            max_results: f.int("MaxResults"),
            stream_creation_timestamp: f.timestamp("StreamCreationTimestamp"),
        }),
        O::SubscribeToShard => Input::SubscribeToShard(SubscribeToShardInput {
            consumer_arn: f.string("ConsumerARN").unwrap_or_default(),
            shard_id: f.string("ShardId").unwrap_or_default(),
            starting_position: f
                .structure("StartingPosition")
                .map(|mut p| StartingPosition {
                    position_type: p
                        .string("Type")
                        .and_then(|t| ShardIteratorType::parse(&t))
                        .unwrap_or_default(),
                    sequence_number: p.string("SequenceNumber"),
                    timestamp: p.timestamp("Timestamp"),
                })
                .unwrap_or_default(),
        }),
        O::EnableEnhancedMonitoring => Input::EnableEnhancedMonitoring(monitoring(&mut f)),
        O::DisableEnhancedMonitoring => Input::DisableEnhancedMonitoring(monitoring(&mut f)),
        O::StartStreamEncryption => Input::StartStreamEncryption(encryption(&mut f)),
        O::StopStreamEncryption => Input::StopStreamEncryption(encryption(&mut f)),
        O::PutResourcePolicy => Input::PutResourcePolicy(PutResourcePolicyInput {
            resource_arn: f.string("ResourceARN").unwrap_or_default(),
            policy: f.string("Policy").unwrap_or_default(),
        }),
        O::GetResourcePolicy => Input::GetResourcePolicy(resource_arn(&mut f)),
        O::DeleteResourcePolicy => Input::DeleteResourcePolicy(resource_arn(&mut f)),
    }
}

fn consumer_ref(f: &mut Fields<'_>) -> ConsumerRef {
    ConsumerRef {
        stream_arn: f.string("StreamARN"),
        consumer_name: f.string("ConsumerName"),
        consumer_arn: f.string("ConsumerARN"),
    }
}

fn monitoring(f: &mut Fields<'_>) -> EnhancedMonitoringInput {
    EnhancedMonitoringInput {
        shard_level_metrics: f.strings("ShardLevelMetrics").unwrap_or_default(),
        stream: stream(f),
    }
}

fn encryption(f: &mut Fields<'_>) -> StreamEncryptionInput {
    StreamEncryptionInput {
        encryption_type: f.string("EncryptionType").unwrap_or_default(),
        key_id: f.string("KeyId").unwrap_or_default(),
        stream: stream(f),
    }
}

fn resource_arn(f: &mut Fields<'_>) -> ResourceArnInput {
    ResourceArnInput {
        resource_arn: f.string("ResourceARN").unwrap_or_default(),
    }
}

fn retention(f: &mut Fields<'_>) -> RetentionInput {
    RetentionInput {
        retention_period_hours: f.int("RetentionPeriodHours").unwrap_or_default(),
        stream: stream(f),
    }
}

/// `StreamName` and/or `StreamARN`, as every stream operation accepts.
fn stream(f: &mut Fields<'_>) -> StreamRef {
    StreamRef {
        name: f.string("StreamName"),
        arn: f.string("StreamARN"),
    }
}
