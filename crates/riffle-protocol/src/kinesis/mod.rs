//! The `Kinesis_20131202` table: operations, input schemas, request builders,
//! output encoders, and the IAM resources of each request.

mod build;
mod fast_json;
pub mod schema;

pub use fast_json::GetRecordsJsonStream;

use crate::service::{Call, EventKind, OperationSpec, ServiceSpec};
use crate::{encode_error, serialize, Format, HttpRequestView, WireResponse};
use riffle_model::{ApiError, Input, Operation, Output};

pub const TARGET_PREFIX: &str = "Kinesis_20131202";

/// Kinesis Data Streams as the protocol core sees it.
pub static SERVICE: ServiceSpec = ServiceSpec {
    target_prefix: TARGET_PREFIX,
    iam_prefix: "kinesis",
    event_source: "kinesis.amazonaws.com",
    botocore_model: ("kinesis", "2013-12-02"),
    operations: OPERATIONS,
};

/// In [`Operation::ALL`] order, so an operation's index is its enum's index.
/// Data events: the five record-level calls CloudTrail files under
/// `AWS::Kinesis::Stream`/`StreamConsumer` data events.
static OPERATIONS: &[OperationSpec] = &[
    OperationSpec {
        name: "AddTagsToStream",
        input: schema::ADD_TAGS_TO_STREAM,
        event: EventKind::Management,
        read_only: false,
    },
    OperationSpec {
        name: "CreateStream",
        input: schema::CREATE_STREAM,
        event: EventKind::Management,
        read_only: false,
    },
    OperationSpec {
        name: "DecreaseStreamRetentionPeriod",
        input: schema::RETENTION,
        event: EventKind::Management,
        read_only: false,
    },
    OperationSpec {
        name: "DeleteResourcePolicy",
        input: schema::RESOURCE_POLICY_ARN,
        event: EventKind::Management,
        read_only: false,
    },
    OperationSpec {
        name: "DeleteStream",
        input: schema::DELETE_STREAM,
        event: EventKind::Management,
        read_only: false,
    },
    OperationSpec {
        name: "DeregisterStreamConsumer",
        input: schema::CONSUMER_REF,
        event: EventKind::Management,
        read_only: false,
    },
    OperationSpec {
        name: "DescribeAccountSettings",
        input: schema::DESCRIBE_ACCOUNT_SETTINGS,
        event: EventKind::Management,
        read_only: true,
    },
    OperationSpec {
        name: "DescribeLimits",
        input: schema::DESCRIBE_LIMITS,
        event: EventKind::Management,
        read_only: true,
    },
    OperationSpec {
        name: "DescribeStream",
        input: schema::DESCRIBE_STREAM,
        event: EventKind::Management,
        read_only: true,
    },
    OperationSpec {
        name: "DescribeStreamConsumer",
        input: schema::CONSUMER_REF,
        event: EventKind::Management,
        read_only: true,
    },
    OperationSpec {
        name: "DescribeStreamSummary",
        input: schema::DESCRIBE_STREAM_SUMMARY,
        event: EventKind::Management,
        read_only: true,
    },
    OperationSpec {
        name: "DisableEnhancedMonitoring",
        input: schema::ENHANCED_MONITORING,
        event: EventKind::Management,
        read_only: false,
    },
    OperationSpec {
        name: "EnableEnhancedMonitoring",
        input: schema::ENHANCED_MONITORING,
        event: EventKind::Management,
        read_only: false,
    },
    OperationSpec {
        name: "GetRecords",
        input: schema::GET_RECORDS,
        event: EventKind::Data,
        read_only: true,
    },
    OperationSpec {
        name: "GetResourcePolicy",
        input: schema::RESOURCE_POLICY_ARN,
        event: EventKind::Management,
        read_only: true,
    },
    OperationSpec {
        name: "GetShardIterator",
        input: schema::GET_SHARD_ITERATOR,
        event: EventKind::Data,
        read_only: true,
    },
    OperationSpec {
        name: "IncreaseStreamRetentionPeriod",
        input: schema::RETENTION,
        event: EventKind::Management,
        read_only: false,
    },
    OperationSpec {
        name: "ListShards",
        input: schema::LIST_SHARDS,
        event: EventKind::Management,
        read_only: true,
    },
    OperationSpec {
        name: "ListStreamConsumers",
        input: schema::LIST_STREAM_CONSUMERS,
        event: EventKind::Management,
        read_only: true,
    },
    OperationSpec {
        name: "ListStreams",
        input: schema::LIST_STREAMS,
        event: EventKind::Management,
        read_only: true,
    },
    OperationSpec {
        name: "ListTagsForResource",
        input: schema::LIST_TAGS_FOR_RESOURCE,
        event: EventKind::Management,
        read_only: true,
    },
    OperationSpec {
        name: "ListTagsForStream",
        input: schema::LIST_TAGS_FOR_STREAM,
        event: EventKind::Management,
        read_only: true,
    },
    OperationSpec {
        name: "MergeShards",
        input: schema::MERGE_SHARDS,
        event: EventKind::Management,
        read_only: false,
    },
    OperationSpec {
        name: "PutRecord",
        input: schema::PUT_RECORD,
        event: EventKind::Data,
        read_only: false,
    },
    OperationSpec {
        name: "PutRecords",
        input: schema::PUT_RECORDS,
        event: EventKind::Data,
        read_only: false,
    },
    OperationSpec {
        name: "PutResourcePolicy",
        input: schema::PUT_RESOURCE_POLICY,
        event: EventKind::Management,
        read_only: false,
    },
    OperationSpec {
        name: "RegisterStreamConsumer",
        input: schema::REGISTER_STREAM_CONSUMER,
        event: EventKind::Management,
        read_only: false,
    },
    OperationSpec {
        name: "RemoveTagsFromStream",
        input: schema::REMOVE_TAGS_FROM_STREAM,
        event: EventKind::Management,
        read_only: false,
    },
    OperationSpec {
        name: "SplitShard",
        input: schema::SPLIT_SHARD,
        event: EventKind::Management,
        read_only: false,
    },
    OperationSpec {
        name: "StartStreamEncryption",
        input: schema::STREAM_ENCRYPTION,
        event: EventKind::Management,
        read_only: false,
    },
    OperationSpec {
        name: "StopStreamEncryption",
        input: schema::STREAM_ENCRYPTION,
        event: EventKind::Management,
        read_only: false,
    },
    OperationSpec {
        name: "SubscribeToShard",
        input: schema::SUBSCRIBE_TO_SHARD,
        event: EventKind::Data,
        read_only: true,
    },
    OperationSpec {
        name: "TagResource",
        input: schema::TAG_RESOURCE,
        event: EventKind::Management,
        read_only: false,
    },
    OperationSpec {
        name: "UntagResource",
        input: schema::UNTAG_RESOURCE,
        event: EventKind::Management,
        read_only: false,
    },
    OperationSpec {
        name: "UpdateAccountSettings",
        input: schema::UPDATE_ACCOUNT_SETTINGS,
        event: EventKind::Management,
        read_only: false,
    },
    OperationSpec {
        name: "UpdateMaxRecordSize",
        input: schema::UPDATE_MAX_RECORD_SIZE,
        event: EventKind::Management,
        read_only: false,
    },
    OperationSpec {
        name: "UpdateShardCount",
        input: schema::UPDATE_SHARD_COUNT,
        event: EventKind::Management,
        read_only: false,
    },
    OperationSpec {
        name: "UpdateStreamMode",
        input: schema::UPDATE_STREAM_MODE,
        event: EventKind::Management,
        read_only: false,
    },
    OperationSpec {
        name: "UpdateStreamWarmThroughput",
        input: schema::UPDATE_STREAM_WARM_THROUGHPUT,
        event: EventKind::Management,
        read_only: false,
    },
];

/// The typed operation of a spec from [`SERVICE`].
pub fn operation(op: &OperationSpec) -> Option<Operation> {
    SERVICE
        .index_of(op)
        .and_then(|i| Operation::ALL.get(i).copied())
}

/// The table entry of a typed operation.
pub fn spec(op: Operation) -> &'static OperationSpec {
    let i = Operation::ALL.iter().position(|o| *o == op).unwrap_or(0);
    &OPERATIONS[i]
}

/// Builds the typed input of an accepted call; `None` if the call is not
/// for this service.
pub fn build_call(call: Call<'_>) -> Option<(Operation, Input)> {
    if !std::ptr::eq(call.service, &SERVICE) {
        return None;
    }
    let op = operation(call.op)?;
    Some((op, build::build(op, call.fields, call.body.as_ref())))
}

/// A Kinesis-only decode, as a client of this service alone sees it.
#[derive(Debug)]
pub enum Decoded {
    Call {
        op: Operation,
        format: Format,
        input: Input,
    },
    Reply(WireResponse),
}

/// [`crate::decode_request`] with Kinesis as the only service.
pub fn decode(req: &HttpRequestView<'_>) -> Decoded {
    match crate::decode_request(req, &[&SERVICE]) {
        crate::Decoded::Reply(r) => Decoded::Reply(r),
        crate::Decoded::Call(call) => {
            let format = call.format;
            match build_call(call) {
                Some((op, input)) => Decoded::Call { op, format, input },
                None => Decoded::Reply(encode_error(format, &ApiError::internal())),
            }
        }
    }
}

/// What an IAM policy statement's `Resource` is matched against for one
/// request. Names are resolved to ARNs by the caller, who knows the region
/// and account; a shard iterator names its stream only once decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resource {
    /// `arn:aws:kinesis:{region}:{account}:stream/{name}`.
    StreamName(String),
    /// A stream or consumer ARN as given.
    Arn(String),
    /// The stream a shard iterator was issued for (GetRecords).
    Iterator(String),
    /// Account-level operations (ListStreams, DescribeLimits, account settings): `*`.
    Any,
}

/// The resources a request acts on, as the Kinesis service authorization
/// reference lists them: the stream for stream operations, the consumer for
/// consumer operations, the ARN given for resource-ARN operations.
pub fn resources(input: &Input) -> Vec<Resource> {
    use Input as I;
    let stream = |r: &riffle_model::StreamRef| match (&r.arn, &r.name) {
        (Some(arn), _) => Resource::Arn(arn.clone()),
        (None, Some(name)) => Resource::StreamName(name.clone()),
        (None, None) => Resource::Any,
    };
    let consumer = |c: &riffle_model::ConsumerRef| match (&c.consumer_arn, &c.stream_arn) {
        (Some(arn), _) => Resource::Arn(arn.clone()),
        (None, Some(stream_arn)) => match &c.consumer_name {
            Some(name) => Resource::Arn(format!("{stream_arn}/consumer/{name}")),
            None => Resource::Arn(stream_arn.clone()),
        },
        (None, None) => Resource::Any,
    };
    vec![match input {
        I::CreateStream(i) => Resource::StreamName(i.stream_name.clone()),
        I::DeleteStream(i) => stream(&i.stream),
        I::DescribeStream(i) => stream(&i.stream),
        I::DescribeStreamSummary(i) => stream(&i.stream),
        I::ListShards(i) => stream(&i.stream),
        I::PutRecord(i) => stream(&i.stream),
        I::PutRecords(i) => stream(&i.stream),
        I::GetShardIterator(i) => stream(&i.stream),
        I::GetRecords(i) => Resource::Iterator(i.shard_iterator.clone()),
        I::IncreaseStreamRetentionPeriod(i) | I::DecreaseStreamRetentionPeriod(i) => {
            stream(&i.stream)
        }
        I::AddTagsToStream(i) => stream(&i.stream),
        I::RemoveTagsFromStream(i) => stream(&i.stream),
        I::ListTagsForStream(i) => stream(&i.stream),
        I::TagResource(i) => Resource::Arn(i.resource_arn.clone()),
        I::UntagResource(i) => Resource::Arn(i.resource_arn.clone()),
        I::ListTagsForResource(i) => Resource::Arn(i.resource_arn.clone()),
        I::UpdateMaxRecordSize(i) => stream(&i.stream),
        I::SplitShard(i) => stream(&i.stream),
        I::MergeShards(i) => stream(&i.stream),
        I::UpdateShardCount(i) => stream(&i.stream),
        I::UpdateStreamMode(i) => Resource::Arn(i.stream_arn.clone()),
        I::UpdateStreamWarmThroughput(i) => stream(&i.stream),
        I::RegisterStreamConsumer(i) => Resource::Arn(i.stream_arn.clone()),
        I::DeregisterStreamConsumer(i) | I::DescribeStreamConsumer(i) => consumer(i),
        I::ListStreamConsumers(i) => Resource::Arn(i.stream_arn.clone()),
        I::SubscribeToShard(i) => Resource::Arn(i.consumer_arn.clone()),
        I::EnableEnhancedMonitoring(i) | I::DisableEnhancedMonitoring(i) => stream(&i.stream),
        I::StartStreamEncryption(i) | I::StopStreamEncryption(i) => stream(&i.stream),
        I::PutResourcePolicy(i) => Resource::Arn(i.resource_arn.clone()),
        I::GetResourcePolicy(i) | I::DeleteResourcePolicy(i) => {
            Resource::Arn(i.resource_arn.clone())
        }
        I::ListStreams(_)
        | I::DescribeLimits
        | I::DescribeAccountSettings
        | I::UpdateAccountSettings(_) => Resource::Any,
    }]
}

/// Encodes a successful result. [`Output::Empty`] is HTTP 200 with an empty
/// body (the content type is still set).
pub fn encode_output(format: Format, out: &Output) -> WireResponse {
    let body = match out {
        Output::Empty => Some(Vec::new()),
        Output::DescribeStream(o) => serialize(format, o, 1024),
        Output::DescribeStreamSummary(o) => serialize(format, o, 1024),
        Output::ListStreams(o) => serialize(format, o, 1024),
        Output::ListShards(o) => serialize(format, o, 256 * (o.shards.len() + 1)),
        Output::PutRecord(o) => serialize(format, o, 256),
        Output::PutRecords(o) => {
            let capacity = 128 * (o.records.len() + 1);
            match format {
                Format::Json => fast_json::put_records(o, capacity),
                Format::Cbor => serialize(format, o, capacity),
            }
        }
        Output::GetShardIterator(o) => serialize(format, o, 512),
        Output::GetRecords(o) => {
            let data: usize = o.records.iter().map(|r| r.data.0.len()).sum();
            let data = match format {
                Format::Json => data / 3 * 4 + 4 * o.records.len(),
                Format::Cbor => data,
            };
            let capacity = data + 200 * o.records.len() + 1024;
            match format {
                Format::Json => fast_json::get_records(o, capacity),
                Format::Cbor => serialize(format, o, capacity),
            }
        }
        Output::ListTagsForStream(o) => serialize(format, o, 512),
        Output::ListTagsForResource(o) => serialize(format, o, 512),
        Output::DescribeLimits(o) => serialize(format, o, 256),
        Output::UpdateShardCount(o) => serialize(format, o, 256),
        Output::UpdateStreamWarmThroughput(o) => serialize(format, o, 256),
        Output::AccountSettings(o) => serialize(format, o, 256),
        Output::RegisterStreamConsumer(o) => serialize(format, o, 512),
        Output::DescribeStreamConsumer(o) => serialize(format, o, 512),
        Output::ListStreamConsumers(o) => serialize(format, o, 256 * (o.consumers.len() + 1)),
        Output::EnhancedMonitoring(o) => serialize(format, o, 512),
        Output::GetResourcePolicy(o) => serialize(format, o, o.policy.len() + 64),
    };
    match body {
        Some(body) => WireResponse {
            status: 200,
            content_type: Some(format.content_type()),
            body,
            error_code: None,
        },
        None => encode_error(format, &ApiError::internal()),
    }
}
