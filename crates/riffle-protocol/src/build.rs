//! Building the typed [`Input`] from type-checked, validated fields, and the
//! stateless `custom` checks AWS runs before the request reaches a stream.

use crate::schema::{Member, Ty};
use crate::typecheck::Checked;
use riffle_model::*;
use std::collections::BTreeMap;

/// Struct fields lined up with their schema members; values are moved out.
pub struct Fields<'a> {
    members: &'static [Member],
    vals: Vec<Option<Checked<'a>>>,
}

impl<'a> Fields<'a> {
    pub fn new(members: &'static [Member], vals: Vec<Option<Checked<'a>>>) -> Self {
        Fields { members, vals }
    }

    fn index(&self, name: &str) -> Option<usize> {
        let i = self.members.iter().position(|m| m.name == name);
        debug_assert!(i.is_some(), "{name} is not in the schema");
        i
    }

    fn take(&mut self, name: &str) -> Option<Checked<'a>> {
        let i = self.index(name)?;
        self.vals.get_mut(i)?.take()
    }

    fn string(&mut self, name: &str) -> Option<String> {
        match self.take(name)? {
            Checked::Str(s) => Some(s.into_owned()),
            _ => None,
        }
    }

    fn int(&mut self, name: &str) -> Option<i64> {
        match self.take(name)? {
            Checked::Int(i) => Some(i),
            _ => None,
        }
    }

    fn boolean(&mut self, name: &str) -> Option<bool> {
        match self.take(name)? {
            Checked::Bool(b) => Some(b),
            _ => None,
        }
    }

    fn timestamp(&mut self, name: &str) -> Option<Timestamp> {
        match self.take(name)? {
            Checked::Timestamp(ms) => Some(Timestamp(ms)),
            _ => None,
        }
    }

    fn blob(&mut self, name: &str) -> Option<Vec<u8>> {
        match self.take(name)? {
            Checked::Blob(b) => Some(b),
            _ => None,
        }
    }

    fn strings(&mut self, name: &str) -> Option<Vec<String>> {
        match self.take(name)? {
            Checked::List(items) => Some(
                items
                    .into_iter()
                    .filter_map(|i| match i {
                        Some(Checked::Str(s)) => Some(s.into_owned()),
                        _ => None,
                    })
                    .collect(),
            ),
            _ => None,
        }
    }

    fn string_map(&mut self, name: &str) -> Option<BTreeMap<String, String>> {
        match self.take(name)? {
            Checked::Map(entries) => Some(
                entries
                    .into_iter()
                    .filter_map(|(k, v)| match v {
                        Some(Checked::Str(v)) => Some((k.into_owned(), v.into_owned())),
                        _ => None,
                    })
                    .collect(),
            ),
            _ => None,
        }
    }

    fn structure(&mut self, name: &str) -> Option<Fields<'a>> {
        let i = self.index(name)?;
        let Ty::Struct(children) = self.members.get(i)?.ty else {
            return None;
        };
        match self.vals.get_mut(i)?.take()? {
            Checked::Struct(vals) => Some(Fields::new(children, vals)),
            _ => None,
        }
    }

    fn structures(&mut self, name: &str) -> Option<Vec<Fields<'a>>> {
        let i = self.index(name)?;
        let Ty::List(elem) = self.members.get(i)?.ty else {
            return None;
        };
        let Ty::Struct(children) = elem.ty else {
            return None;
        };
        match self.vals.get_mut(i)?.take()? {
            Checked::List(items) => Some(
                items
                    .into_iter()
                    .filter_map(|item| match item {
                        Some(Checked::Struct(vals)) => Some(Fields::new(children, vals)),
                        _ => None,
                    })
                    .collect(),
            ),
            _ => None,
        }
    }

    fn stream(&mut self) -> StreamRef {
        StreamRef {
            name: self.string("StreamName"),
            arn: self.string("StreamARN"),
        }
    }
}

/// Builds the typed input. Required members are present after validation,
/// and enum members hold one of their values, so the defaults never apply.
pub fn build(op: Operation, mut f: Fields<'_>) -> Input {
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
            stream: f.stream(),
        }),
        O::DescribeStream => Input::DescribeStream(DescribeStreamInput {
            limit: f.int("Limit"),
            exclusive_start_shard_id: f.string("ExclusiveStartShardId"),
            stream: f.stream(),
        }),
        O::DescribeStreamSummary => {
            Input::DescribeStreamSummary(DescribeStreamSummaryInput { stream: f.stream() })
        }
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
            stream: f.stream(),
        }),
        O::PutRecord => Input::PutRecord(PutRecordInput {
            data: f.blob("Data").unwrap_or_default(),
            partition_key: f.string("PartitionKey").unwrap_or_default(),
            explicit_hash_key: f.string("ExplicitHashKey"),
            sequence_number_for_ordering: f.string("SequenceNumberForOrdering"),
            stream: f.stream(),
        }),
        O::PutRecords => Input::PutRecords(PutRecordsInput {
            records: f
                .structures("Records")
                .unwrap_or_default()
                .into_iter()
                .map(|mut r| PutRecordsEntry {
                    data: r.blob("Data").unwrap_or_default(),
                    partition_key: r.string("PartitionKey").unwrap_or_default(),
                    explicit_hash_key: r.string("ExplicitHashKey"),
                })
                .collect(),
            stream: f.stream(),
        }),
        O::GetShardIterator => Input::GetShardIterator(GetShardIteratorInput {
            shard_id: f.string("ShardId").unwrap_or_default(),
            iterator_type: f
                .string("ShardIteratorType")
                .and_then(|t| ShardIteratorType::parse(&t))
                .unwrap_or_default(),
            starting_sequence_number: f.string("StartingSequenceNumber"),
            timestamp: f.timestamp("Timestamp"),
            stream: f.stream(),
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
            stream: f.stream(),
        }),
        O::RemoveTagsFromStream => Input::RemoveTagsFromStream(RemoveTagsFromStreamInput {
            tag_keys: f.strings("TagKeys").unwrap_or_default(),
            stream: f.stream(),
        }),
        O::ListTagsForStream => Input::ListTagsForStream(ListTagsForStreamInput {
            exclusive_start_tag_key: f.string("ExclusiveStartTagKey"),
            limit: f.int("Limit"),
            stream: f.stream(),
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
            stream: f.stream(),
        }),
        O::MergeShards => Input::MergeShards(MergeShardsInput {
            shard_to_merge: f.string("ShardToMerge").unwrap_or_default(),
            adjacent_shard_to_merge: f.string("AdjacentShardToMerge").unwrap_or_default(),
            stream: f.stream(),
        }),
        O::UpdateShardCount => Input::UpdateShardCount(UpdateShardCountInput {
            target_shard_count: f.int("TargetShardCount").unwrap_or_default(),
            scaling_type: f.string("ScalingType").unwrap_or_default(),
            stream: f.stream(),
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
                stream: f.stream(),
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
        stream: f.stream(),
    }
}

fn encryption(f: &mut Fields<'_>) -> StreamEncryptionInput {
    StreamEncryptionInput {
        encryption_type: f.string("EncryptionType").unwrap_or_default(),
        key_id: f.string("KeyId").unwrap_or_default(),
        stream: f.stream(),
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
        stream: f.stream(),
    }
}
