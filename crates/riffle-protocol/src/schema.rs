//! Per-operation input schemas: member name, type, required-ness and
//! constraints, for the operations Riffle serves.
//!
//! Members, types, required-ness, min/max, patterns and enums come from the
//! botocore model (`kinesis/2013-12-02`, checked by the `schema_matches_botocore`
//! test). The *order* of members (which is the order AWS reports type and
//! validation errors in) and the order of constraints within a member follow
//! kinesalite's AWS-verified tests; members kinesalite predates (`StreamARN`,
//! `StreamId`, ...) come after the known ones, in model order. Enum value lists
//! print in AWS's order where kinesalite recorded it (ShardIteratorType),
//! otherwise in model order.

use regex::Regex;
use riffle_model::Operation;
use std::sync::LazyLock;

#[derive(Debug)]
pub enum Ty {
    Str,
    Int,
    Bool,
    Blob,
    Timestamp,
    /// A list; the element is described by a member named `member`.
    List(&'static Member),
    /// A map with string keys; the value is described by a member named `member`.
    Map(&'static Member),
    Struct(&'static [Member]),
}

#[derive(Debug)]
pub enum Con {
    Min(i64),
    Max(i64),
    Pattern(Pat),
    Enum(&'static [&'static str]),
    MinLen(u64),
    MaxLen(u64),
    /// Every element of a list of strings has a length in `[min, max]`.
    ChildLen(u64, u64),
    /// Every key of a map has a length in `[min, max]`.
    KeyLen(u64, u64),
    /// Every value of a map (of strings) has a length in `[min, max]`.
    ValLen(u64, u64),
}

#[derive(Debug)]
pub struct Member {
    pub name: &'static str,
    pub ty: Ty,
    pub required: bool,
    pub cons: &'static [Con],
    /// How AWS renders an element of a list of structures in a message.
    pub member_str: Option<&'static str>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pat {
    Name,
    HashKey,
    SequenceNumber,
    StreamArn,
    ResourceArn,
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
            Pat::StreamId => STREAM_ID.is_match(s),
        }
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
    let rust = java
        .replace(r"\d", "[0-9]")
        .replace(r"\S", r"[^ \t\n\x0B\x0C\r]");
    #[allow(clippy::expect_used)]
    Regex::new(&format!("^(?:{rust})$")).expect("static pattern compiles")
}

static STREAM_ARN: LazyLock<Regex> = LazyLock::new(|| anchored(Pat::StreamArn.source()));
static RESOURCE_ARN: LazyLock<Regex> = LazyLock::new(|| anchored(Pat::ResourceArn.source()));
static STREAM_ID: LazyLock<Regex> = LazyLock::new(|| anchored(Pat::StreamId.source()));

const fn m(name: &'static str, ty: Ty, cons: &'static [Con]) -> Member {
    Member {
        name,
        ty,
        required: false,
        cons,
        member_str: None,
    }
}
const fn req(name: &'static str, ty: Ty, cons: &'static [Con]) -> Member {
    Member {
        name,
        ty,
        required: true,
        cons,
        member_str: None,
    }
}

const NAME_CONS: &[Con] = &[Con::Pattern(Pat::Name), Con::MinLen(1), Con::MaxLen(128)];
const ARN_CONS: &[Con] = &[
    Con::Pattern(Pat::StreamArn),
    Con::MinLen(1),
    Con::MaxLen(2048),
];
const RESOURCE_ARN_CONS: &[Con] = &[
    Con::Pattern(Pat::ResourceArn),
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
    &[Con::Pattern(Pat::StreamId), Con::MinLen(1), Con::MaxLen(24)],
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

static STREAM_MODE_DETAILS: &[Member] = &[req("StreamMode", Ty::Str, &[Con::Enum(STREAM_MODES)])];

static SHARD_FILTER: &[Member] = &[
    req("Type", Ty::Str, &[Con::Enum(SHARD_FILTER_TYPES)]),
    m("ShardId", Ty::Str, NAME_CONS),
    m("Timestamp", Ty::Timestamp, &[]),
];

static PUT_RECORDS_ENTRY_FIELDS: &[Member] = &[
    req("PartitionKey", Ty::Str, PARTITION_KEY_CONS),
    m("ExplicitHashKey", Ty::Str, &[Con::Pattern(Pat::HashKey)]),
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
        &[Con::Pattern(Pat::SequenceNumber)],
    ),
    req("PartitionKey", Ty::Str, PARTITION_KEY_CONS),
    m("ExplicitHashKey", Ty::Str, &[Con::Pattern(Pat::HashKey)]),
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
        &[Con::Pattern(Pat::SequenceNumber)],
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

/// The input schema of an operation Riffle serves; `None` for the others.
pub fn input_schema(op: Operation) -> Option<&'static [Member]> {
    use Operation as O;
    Some(match op {
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
        _ => return None,
    })
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
        assert!(Pat::StreamId.is_match("abcdefghij0123456789-abc"));
        assert!(!Pat::StreamId.is_match("abcdefghij0123456789-abcd"));
    }

    #[test]
    fn every_served_operation_has_a_schema() {
        let served = Operation::ALL
            .iter()
            .filter(|op| input_schema(**op).is_some())
            .count();
        assert_eq!(served, 20);
    }
}
