//! Per-operation input schemas: member name, type, required-ness and
//! constraints, for the operations Riffle serves.
//!
//! Members, types, required-ness, min/max, patterns and enums come from the
//! botocore model (`kinesis/2013-12-02`, checked by the `schema_matches_botocore`
//! test). The *order* of members (which is the order AWS reports type and
//! validation errors in) and the order of constraints within a member follow
//! kinesalite's AWS-verified tests; members kinesalite predates (`StreamARN`,
//! `StreamId`, ...) come after the known ones, in model order, and operations
//! kinesalite does not know list all members in model order. Enum value lists
//! print in AWS's order where kinesalite recorded it (ShardIteratorType, also
//! used by `StartingPosition.Type`, the same model shape), otherwise in model order.

use crate::schema::{m, req, Con, Member, Pattern, Ty};
use regex::Regex;
use riffle_model::Operation;
use std::sync::LazyLock;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pat {
    Name,
    HashKey,
    SequenceNumber,
    StreamArn,
    ResourceArn,
    ConsumerArn,
    StreamId,
}

impl Pat {
    /// The pattern as the model (and AWS's messages) spell it.
    pub fn source(self) -> &'static str {
        match self {
            Pat::Name => "[a-zA-Z0-9_.-]+",
            Pat::HashKey => r"0|([1-9]\d{0,38})",
            Pat::SequenceNumber => r"0|([1-9]\d{0,128})",
            Pat::StreamArn => r"arn:aws.*:kinesis:.*:\d{12}:stream/\S+",
            Pat::ResourceArn => r"arn:aws.*:kinesis:.*:\d{12}:.*stream/\S+",
            Pat::ConsumerArn => {
                r"^(arn):aws.*:kinesis:.*:\d{12}:.*stream\/[a-zA-Z0-9_.-]+\/consumer\/[a-zA-Z0-9_.-]+:[0-9]+"
            }
            Pat::StreamId => "[a-z0-9]{20}-[a-z0-9]{3}",
        }
    }

    /// Whole-string match with Java's ASCII-only `\d` and `\S`.
    pub fn is_match(self, s: &str) -> bool {
        match self {
            Pat::Name => {
                !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
            }
            Pat::HashKey => decimal_without_leading_zero(s, 39),
            Pat::SequenceNumber => decimal_without_leading_zero(s, 129),
            Pat::StreamArn => STREAM_ARN.is_match(s),
            Pat::ResourceArn => RESOURCE_ARN.is_match(s),
            Pat::ConsumerArn => CONSUMER_ARN.is_match(s),
            Pat::StreamId => STREAM_ID.is_match(s),
        }
    }
}

impl Pattern for Pat {
    fn source(&self) -> &'static str {
        Pat::source(*self)
    }
    fn is_match(&self, s: &str) -> bool {
        Pat::is_match(*self, s)
    }
}

/// `0|([1-9]\d{0,N-1})`
fn decimal_without_leading_zero(s: &str, max_digits: usize) -> bool {
    let b = s.as_bytes();
    match b {
        [b'0'] => true,
        [first, rest @ ..] => {
            (b'1'..=b'9').contains(first)
                && rest.len() < max_digits
                && rest.iter().all(u8::is_ascii_digit)
        }
        [] => false,
    }
}

fn anchored(java: &str) -> Regex {
    // Java's `\/` is a plain `/`.
    let rust = java
        .replace(r"\d", "[0-9]")
        .replace(r"\/", "/")
        .replace(r"\S", r"[^ \t\n\x0B\x0C\r]");
    #[allow(clippy::expect_used)]
    Regex::new(&format!("^(?:{rust})$")).expect("static pattern compiles")
}

static STREAM_ARN: LazyLock<Regex> = LazyLock::new(|| anchored(Pat::StreamArn.source()));
static RESOURCE_ARN: LazyLock<Regex> = LazyLock::new(|| anchored(Pat::ResourceArn.source()));
static CONSUMER_ARN: LazyLock<Regex> = LazyLock::new(|| anchored(Pat::ConsumerArn.source()));
static STREAM_ID: LazyLock<Regex> = LazyLock::new(|| anchored(Pat::StreamId.source()));

const NAME_CONS: &[Con] = &[Con::Pattern(&Pat::Name), Con::MinLen(1), Con::MaxLen(128)];
const ARN_CONS: &[Con] = &[
    Con::Pattern(&Pat::StreamArn),
    Con::MinLen(1),
    Con::MaxLen(2048),
];
const RESOURCE_ARN_CONS: &[Con] = &[
    Con::Pattern(&Pat::ResourceArn),
    Con::MinLen(1),
    Con::MaxLen(2048),
];
const CONSUMER_ARN_CONS: &[Con] = &[
    Con::Pattern(&Pat::ConsumerArn),
    Con::MinLen(1),
    Con::MaxLen(2048),
];
const NEXT_TOKEN_CONS: &[Con] = &[Con::MinLen(1), Con::MaxLen(1_048_576)];
const TAG_MAP_CONS: &[Con] = &[
    Con::MinLen(1),
    Con::MaxLen(200),
    Con::KeyLen(1, 128),
    Con::ValLen(0, 256),
];
const TAG_KEYS_CONS: &[Con] = &[Con::MinLen(1), Con::MaxLen(50), Con::ChildLen(1, 128)];
const LIMIT_10000: &[Con] = &[Con::Min(1), Con::Max(10000)];
const MAX_RECORD_SIZE_CONS: &[Con] = &[Con::Min(1024), Con::Max(10240)];
/// `Data` blob: model min 0 (never fails), max 10 MiB.
const DATA_CONS: &[Con] = &[Con::MaxLen(10_485_760)];
const PARTITION_KEY_CONS: &[Con] = &[Con::MinLen(1), Con::MaxLen(256)];

const STREAM_NAME: Member = m("StreamName", Ty::Str, NAME_CONS);
const STREAM_ARN_M: Member = m("StreamARN", Ty::Str, ARN_CONS);
const STREAM_ID_M: Member = m(
    "StreamId",
    Ty::Str,
    &[
        Con::Pattern(&Pat::StreamId),
        Con::MinLen(1),
        Con::MaxLen(24),
    ],
);

static STRING_ELEM: Member = m("member", Ty::Str, &[]);

pub static SHARD_ITERATOR_TYPES: &[&str] = &[
    "AFTER_SEQUENCE_NUMBER",
    "LATEST",
    "AT_TIMESTAMP",
    "AT_SEQUENCE_NUMBER",
    "TRIM_HORIZON",
];
pub static SHARD_FILTER_TYPES: &[&str] = &[
    "AFTER_SHARD_ID",
    "AT_TRIM_HORIZON",
    "FROM_TRIM_HORIZON",
    "AT_LATEST",
    "AT_TIMESTAMP",
    "FROM_TIMESTAMP",
];
pub static STREAM_MODES: &[&str] = &["PROVISIONED", "ON_DEMAND"];
pub static METRICS_NAMES: &[&str] = &[
    "IncomingBytes",
    "IncomingRecords",
    "OutgoingBytes",
    "OutgoingRecords",
    "WriteProvisionedThroughputExceeded",
    "ReadProvisionedThroughputExceeded",
    "IteratorAgeMilliseconds",
    "ALL",
];
pub static ENCRYPTION_TYPES: &[&str] = &["NONE", "KMS"];
pub static BILLING_COMMITMENT_STATUSES: &[&str] = &["ENABLED", "DISABLED"];

static STREAM_MODE_DETAILS: &[Member] = &[req("StreamMode", Ty::Str, &[Con::Enum(STREAM_MODES)])];

static SHARD_FILTER: &[Member] = &[
    req("Type", Ty::Str, &[Con::Enum(SHARD_FILTER_TYPES)]),
    m("ShardId", Ty::Str, NAME_CONS),
    m("Timestamp", Ty::Timestamp, &[]),
];

static STARTING_POSITION: &[Member] = &[
    req("Type", Ty::Str, &[Con::Enum(SHARD_ITERATOR_TYPES)]),
    m(
        "SequenceNumber",
        Ty::Str,
        &[Con::Pattern(&Pat::SequenceNumber)],
    ),
    m("Timestamp", Ty::Timestamp, &[]),
];

static BILLING_COMMITMENT: &[Member] = &[req(
    "Status",
    Ty::Str,
    &[Con::Enum(BILLING_COMMITMENT_STATUSES)],
)];

static PUT_RECORDS_ENTRY_FIELDS: &[Member] = &[
    req("PartitionKey", Ty::Str, PARTITION_KEY_CONS),
    m("ExplicitHashKey", Ty::Str, &[Con::Pattern(&Pat::HashKey)]),
    req("Data", Ty::Blob, DATA_CONS),
];
static PUT_RECORDS_ENTRY: Member = Member {
    name: "member",
    ty: Ty::Struct(PUT_RECORDS_ENTRY_FIELDS),
    required: false,
    cons: &[],
    member_str: Some("com.amazonaws.kinesis.v20131202.PutRecordsRequestEntry"),
};

macro_rules! tag_map {
    ($name:literal, $required:expr) => {
        Member {
            name: $name,
            ty: Ty::Map(&STRING_ELEM),
            required: $required,
            cons: TAG_MAP_CONS,
            member_str: None,
        }
    };
}
macro_rules! tag_keys {
    () => {
        Member {
            name: "TagKeys",
            ty: Ty::List(&STRING_ELEM),
            required: true,
            cons: TAG_KEYS_CONS,
            member_str: None,
        }
    };
}

pub static CREATE_STREAM: &[Member] = &[
    m("ShardCount", Ty::Int, &[Con::Min(1)]),
    req("StreamName", Ty::Str, NAME_CONS),
    m("StreamModeDetails", Ty::Struct(STREAM_MODE_DETAILS), &[]),
    tag_map!("Tags", false),
    m("WarmThroughputMiBps", Ty::Int, &[Con::Min(0)]),
    m("MaxRecordSizeInKiB", Ty::Int, MAX_RECORD_SIZE_CONS),
];

pub static DELETE_STREAM: &[Member] = &[
    STREAM_NAME,
    m("EnforceConsumerDeletion", Ty::Bool, &[]),
    STREAM_ARN_M,
    STREAM_ID_M,
];

pub static DESCRIBE_STREAM: &[Member] = &[
    m("Limit", Ty::Int, LIMIT_10000),
    m("ExclusiveStartShardId", Ty::Str, NAME_CONS),
    STREAM_NAME,
    STREAM_ARN_M,
    STREAM_ID_M,
];

pub static DESCRIBE_STREAM_SUMMARY: &[Member] = &[STREAM_NAME, STREAM_ARN_M, STREAM_ID_M];

pub static LIST_STREAMS: &[Member] = &[
    m("Limit", Ty::Int, LIMIT_10000),
    m("ExclusiveStartStreamName", Ty::Str, NAME_CONS),
    m("NextToken", Ty::Str, NEXT_TOKEN_CONS),
];

pub static LIST_SHARDS: &[Member] = &[
    m("MaxResults", Ty::Int, LIMIT_10000),
    m("ExclusiveStartShardId", Ty::Str, NAME_CONS),
    STREAM_NAME,
    m("NextToken", Ty::Str, NEXT_TOKEN_CONS),
    m("StreamCreationTimestamp", Ty::Timestamp, &[]),
    m("ShardFilter", Ty::Struct(SHARD_FILTER), &[]),
    STREAM_ARN_M,
    STREAM_ID_M,
];

pub static PUT_RECORD: &[Member] = &[
    m(
        "SequenceNumberForOrdering",
        Ty::Str,
        &[Con::Pattern(&Pat::SequenceNumber)],
    ),
    req("PartitionKey", Ty::Str, PARTITION_KEY_CONS),
    m("ExplicitHashKey", Ty::Str, &[Con::Pattern(&Pat::HashKey)]),
    req("Data", Ty::Blob, DATA_CONS),
    STREAM_NAME,
    STREAM_ARN_M,
    STREAM_ID_M,
];

pub static PUT_RECORDS: &[Member] = &[
    req(
        "Records",
        Ty::List(&PUT_RECORDS_ENTRY),
        &[Con::MinLen(1), Con::MaxLen(500)],
    ),
    STREAM_NAME,
    STREAM_ARN_M,
    STREAM_ID_M,
];

pub static GET_SHARD_ITERATOR: &[Member] = &[
    req("ShardId", Ty::Str, NAME_CONS),
    req(
        "ShardIteratorType",
        Ty::Str,
        &[Con::Enum(SHARD_ITERATOR_TYPES)],
    ),
    m(
        "StartingSequenceNumber",
        Ty::Str,
        &[Con::Pattern(&Pat::SequenceNumber)],
    ),
    STREAM_NAME,
    m("Timestamp", Ty::Timestamp, &[]),
    STREAM_ARN_M,
    STREAM_ID_M,
];

pub static GET_RECORDS: &[Member] = &[
    m("Limit", Ty::Int, LIMIT_10000),
    req(
        "ShardIterator",
        Ty::Str,
        &[Con::MinLen(1), Con::MaxLen(512)],
    ),
    STREAM_ARN_M,
    STREAM_ID_M,
];

pub static RETENTION: &[Member] = &[
    req("RetentionPeriodHours", Ty::Int, &[]),
    STREAM_NAME,
    STREAM_ARN_M,
    STREAM_ID_M,
];

pub static ADD_TAGS_TO_STREAM: &[Member] = &[
    tag_map!("Tags", true),
    STREAM_NAME,
    STREAM_ARN_M,
    STREAM_ID_M,
];

pub static REMOVE_TAGS_FROM_STREAM: &[Member] =
    &[tag_keys!(), STREAM_NAME, STREAM_ARN_M, STREAM_ID_M];

pub static LIST_TAGS_FOR_STREAM: &[Member] = &[
    m("Limit", Ty::Int, &[Con::Min(1), Con::Max(50)]),
    m(
        "ExclusiveStartTagKey",
        Ty::Str,
        &[Con::MinLen(1), Con::MaxLen(128)],
    ),
    STREAM_NAME,
    STREAM_ARN_M,
    STREAM_ID_M,
];

pub static TAG_RESOURCE: &[Member] = &[
    tag_map!("Tags", true),
    req("ResourceARN", Ty::Str, RESOURCE_ARN_CONS),
    STREAM_ID_M,
];

pub static UNTAG_RESOURCE: &[Member] = &[
    tag_keys!(),
    req("ResourceARN", Ty::Str, RESOURCE_ARN_CONS),
    STREAM_ID_M,
];

pub static LIST_TAGS_FOR_RESOURCE: &[Member] =
    &[req("ResourceARN", Ty::Str, RESOURCE_ARN_CONS), STREAM_ID_M];

pub static DESCRIBE_LIMITS: &[Member] = &[];

pub static UPDATE_MAX_RECORD_SIZE: &[Member] = &[
    req("MaxRecordSizeInKiB", Ty::Int, MAX_RECORD_SIZE_CONS),
    STREAM_ARN_M,
    STREAM_ID_M,
];

// SplitShard, MergeShards and UpdateShardCount: member order from kinesalite's
// AWS-verified tests. The operations below them are unknown to kinesalite.

pub static SPLIT_SHARD: &[Member] = &[
    req(
        "NewStartingHashKey",
        Ty::Str,
        &[Con::Pattern(&Pat::HashKey)],
    ),
    STREAM_NAME,
    req("ShardToSplit", Ty::Str, NAME_CONS),
    STREAM_ARN_M,
    STREAM_ID_M,
];

pub static MERGE_SHARDS: &[Member] = &[
    req("ShardToMerge", Ty::Str, NAME_CONS),
    req("AdjacentShardToMerge", Ty::Str, NAME_CONS),
    STREAM_NAME,
    STREAM_ARN_M,
    STREAM_ID_M,
];

/// kinesalite also caps `TargetShardCount` at 100000; the current model does not.
pub static UPDATE_SHARD_COUNT: &[Member] = &[
    req("ScalingType", Ty::Str, &[Con::Enum(&["UNIFORM_SCALING"])]),
    STREAM_NAME,
    req("TargetShardCount", Ty::Int, &[Con::Min(1)]),
    STREAM_ARN_M,
    STREAM_ID_M,
];

pub static UPDATE_STREAM_MODE: &[Member] = &[
    req("StreamARN", Ty::Str, ARN_CONS),
    STREAM_ID_M,
    req("StreamModeDetails", Ty::Struct(STREAM_MODE_DETAILS), &[]),
    m("WarmThroughputMiBps", Ty::Int, &[Con::Min(0)]),
];

pub static UPDATE_STREAM_WARM_THROUGHPUT: &[Member] = &[
    STREAM_ARN_M,
    STREAM_NAME,
    STREAM_ID_M,
    req("WarmThroughputMiBps", Ty::Int, &[Con::Min(0)]),
];

pub static DESCRIBE_ACCOUNT_SETTINGS: &[Member] = &[];

pub static UPDATE_ACCOUNT_SETTINGS: &[Member] = &[req(
    "MinimumThroughputBillingCommitment",
    Ty::Struct(BILLING_COMMITMENT),
    &[],
)];

pub static REGISTER_STREAM_CONSUMER: &[Member] = &[
    req("StreamARN", Ty::Str, ARN_CONS),
    req("ConsumerName", Ty::Str, NAME_CONS),
    STREAM_ID_M,
    tag_map!("Tags", false),
];

/// DeregisterStreamConsumer and DescribeStreamConsumer: all optional; which
/// combination names a consumer is the domain's call.
pub static CONSUMER_REF: &[Member] = &[
    STREAM_ARN_M,
    m("ConsumerName", Ty::Str, NAME_CONS),
    m("ConsumerARN", Ty::Str, CONSUMER_ARN_CONS),
    STREAM_ID_M,
];

pub static LIST_STREAM_CONSUMERS: &[Member] = &[
    req("StreamARN", Ty::Str, ARN_CONS),
    m("NextToken", Ty::Str, NEXT_TOKEN_CONS),
    m("MaxResults", Ty::Int, LIMIT_10000),
    m("StreamCreationTimestamp", Ty::Timestamp, &[]),
    STREAM_ID_M,
];

pub static SUBSCRIBE_TO_SHARD: &[Member] = &[
    req("ConsumerARN", Ty::Str, CONSUMER_ARN_CONS),
    STREAM_ID_M,
    req("ShardId", Ty::Str, NAME_CONS),
    req("StartingPosition", Ty::Struct(STARTING_POSITION), &[]),
];

pub static ENHANCED_MONITORING: &[Member] = &[
    STREAM_NAME,
    Member {
        name: "ShardLevelMetrics",
        ty: Ty::List(&STRING_ELEM),
        required: true,
        cons: &[
            Con::MinLen(1),
            Con::MaxLen(7),
            Con::ChildEnum(METRICS_NAMES),
        ],
        member_str: None,
    },
    STREAM_ARN_M,
    STREAM_ID_M,
];

pub static STREAM_ENCRYPTION: &[Member] = &[
    STREAM_NAME,
    req("EncryptionType", Ty::Str, &[Con::Enum(ENCRYPTION_TYPES)]),
    req("KeyId", Ty::Str, &[Con::MinLen(1), Con::MaxLen(2048)]),
    STREAM_ARN_M,
    STREAM_ID_M,
];

pub static PUT_RESOURCE_POLICY: &[Member] = &[
    req("ResourceARN", Ty::Str, RESOURCE_ARN_CONS),
    STREAM_ID_M,
    req("Policy", Ty::Str, &[]),
];

/// GetResourcePolicy and DeleteResourcePolicy.
pub static RESOURCE_POLICY_ARN: &[Member] =
    &[req("ResourceARN", Ty::Str, RESOURCE_ARN_CONS), STREAM_ID_M];

/// The input schema of every operation.
pub fn input_schema(op: Operation) -> &'static [Member] {
    use Operation as O;
    match op {
        O::CreateStream => CREATE_STREAM,
        O::DeleteStream => DELETE_STREAM,
        O::DescribeStream => DESCRIBE_STREAM,
        O::DescribeStreamSummary => DESCRIBE_STREAM_SUMMARY,
        O::ListStreams => LIST_STREAMS,
        O::ListShards => LIST_SHARDS,
        O::PutRecord => PUT_RECORD,
        O::PutRecords => PUT_RECORDS,
        O::GetShardIterator => GET_SHARD_ITERATOR,
        O::GetRecords => GET_RECORDS,
        O::IncreaseStreamRetentionPeriod | O::DecreaseStreamRetentionPeriod => RETENTION,
        O::AddTagsToStream => ADD_TAGS_TO_STREAM,
        O::RemoveTagsFromStream => REMOVE_TAGS_FROM_STREAM,
        O::ListTagsForStream => LIST_TAGS_FOR_STREAM,
        O::TagResource => TAG_RESOURCE,
        O::UntagResource => UNTAG_RESOURCE,
        O::ListTagsForResource => LIST_TAGS_FOR_RESOURCE,
        O::DescribeLimits => DESCRIBE_LIMITS,
        O::UpdateMaxRecordSize => UPDATE_MAX_RECORD_SIZE,
        O::SplitShard => SPLIT_SHARD,
        O::MergeShards => MERGE_SHARDS,
        O::UpdateShardCount => UPDATE_SHARD_COUNT,
        O::UpdateStreamMode => UPDATE_STREAM_MODE,
        O::UpdateStreamWarmThroughput => UPDATE_STREAM_WARM_THROUGHPUT,
        O::DescribeAccountSettings => DESCRIBE_ACCOUNT_SETTINGS,
        O::UpdateAccountSettings => UPDATE_ACCOUNT_SETTINGS,
        O::RegisterStreamConsumer => REGISTER_STREAM_CONSUMER,
        O::DeregisterStreamConsumer | O::DescribeStreamConsumer => CONSUMER_REF,
        O::ListStreamConsumers => LIST_STREAM_CONSUMERS,
        O::SubscribeToShard => SUBSCRIBE_TO_SHARD,
        O::EnableEnhancedMonitoring | O::DisableEnhancedMonitoring => ENHANCED_MONITORING,
        O::StartStreamEncryption | O::StopStreamEncryption => STREAM_ENCRYPTION,
        O::PutResourcePolicy => PUT_RESOURCE_POLICY,
        O::GetResourcePolicy | O::DeleteResourcePolicy => RESOURCE_POLICY_ARN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_like_java() {
        assert!(Pat::Name.is_match("a-b_c.1"));
        assert!(!Pat::Name.is_match(""));
        assert!(!Pat::Name.is_match("a b"));
        assert!(!Pat::Name.is_match("é"));
        assert!(Pat::HashKey.is_match("0"));
        assert!(Pat::HashKey.is_match(&"9".repeat(39)));
        assert!(!Pat::HashKey.is_match(&"9".repeat(40)));
        assert!(!Pat::HashKey.is_match("01"));
        assert!(!Pat::HashKey.is_match(""));
        assert!(!Pat::HashKey.is_match("١٢")); // Arabic-Indic digits: not Java \d
        assert!(Pat::SequenceNumber.is_match(&format!("1{}", "0".repeat(128))));
        assert!(!Pat::SequenceNumber.is_match(&format!("1{}", "0".repeat(129))));
        assert!(Pat::StreamArn.is_match("arn:aws:kinesis:us-east-1:123456789012:stream/s"));
        assert!(!Pat::StreamArn.is_match("arn:aws:kinesis:us-east-1:12345678901:stream/s"));
        assert!(!Pat::StreamArn.is_match("arn:aws:kinesis:us-east-1:123456789012:stream/a b"));
        assert!(Pat::ResourceArn
            .is_match("arn:aws:kinesis:us-east-1:123456789012:stream/s/consumer/c:1"));
        assert!(Pat::ConsumerArn
            .is_match("arn:aws:kinesis:us-east-1:123456789012:stream/s/consumer/c:1700000000"));
        assert!(Pat::ConsumerArn
            .is_match("arn:aws-cn:kinesis:cn-north-1:123456789012:x/stream/s.1/consumer/c_2:1"));
        assert!(!Pat::ConsumerArn.is_match("arn:aws:kinesis:us-east-1:123456789012:stream/s"));
        assert!(!Pat::ConsumerArn
            .is_match("arn:aws:kinesis:us-east-1:123456789012:stream/s/consumer/c:1x"));
        assert!(!Pat::ConsumerArn
            .is_match("arn:aws:kinesis:us-east-1:123456789012:stream/s/consumer/c d:1"));
        assert!(Pat::StreamId.is_match("abcdefghij0123456789-abc"));
        assert!(!Pat::StreamId.is_match("abcdefghij0123456789-abcd"));
    }

    #[test]
    fn every_operation_has_a_schema() {
        // DescribeLimits and DescribeAccountSettings take `{}`; every other
        // operation has members.
        let empty: Vec<_> = Operation::ALL
            .iter()
            .filter(|op| input_schema(**op).is_empty())
            .map(|op| op.name())
            .collect();
        assert_eq!(empty, ["DescribeAccountSettings", "DescribeLimits"]);
    }
}
