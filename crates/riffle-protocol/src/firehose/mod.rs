//! The `Firehose_20150804` table: operations and input schemas, generated
//! from botocore's model by `scripts/gen_firehose.py` (members in model
//! order). Requests are built into `riffle_model::firehose` types by the
//! Firehose service at the edge.

pub mod admin;
mod pattern;
pub mod schema;

use crate::service::{EventKind, OperationSpec, ServiceSpec};

pub const TARGET_PREFIX: &str = "Firehose_20150804";

/// Amazon Data Firehose as the protocol core sees it.
pub static SERVICE: ServiceSpec = ServiceSpec {
    target_prefix: TARGET_PREFIX,
    iam_prefix: "firehose",
    event_source: "firehose.amazonaws.com",
    botocore_model: ("firehose", "2015-08-04"),
    operations: OPERATIONS,
};

const fn op(
    name: &'static str,
    input: &'static [crate::schema::Member],
    event: EventKind,
    read_only: bool,
) -> OperationSpec {
    OperationSpec {
        name,
        input,
        event,
        read_only,
    }
}

use EventKind::{Data, Management};

/// In [`Operation::ALL`] order. PutRecord and PutRecordBatch are the data
/// events (CloudTrail's `AWS::KinesisFirehose::DeliveryStream`).
static OPERATIONS: &[OperationSpec] = &[
    op(
        "CreateDeliveryStream",
        schema::CREATE_DELIVERY_STREAM,
        Management,
        false,
    ),
    op(
        "DeleteDeliveryStream",
        schema::DELETE_DELIVERY_STREAM,
        Management,
        false,
    ),
    op(
        "DescribeDeliveryStream",
        schema::DESCRIBE_DELIVERY_STREAM,
        Management,
        true,
    ),
    op(
        "ListDeliveryStreams",
        schema::LIST_DELIVERY_STREAMS,
        Management,
        true,
    ),
    op(
        "ListTagsForDeliveryStream",
        schema::LIST_TAGS_FOR_DELIVERY_STREAM,
        Management,
        true,
    ),
    op("PutRecord", schema::PUT_RECORD, Data, false),
    op("PutRecordBatch", schema::PUT_RECORD_BATCH, Data, false),
    op(
        "StartDeliveryStreamEncryption",
        schema::START_DELIVERY_STREAM_ENCRYPTION,
        Management,
        false,
    ),
    op(
        "StopDeliveryStreamEncryption",
        schema::STOP_DELIVERY_STREAM_ENCRYPTION,
        Management,
        false,
    ),
    op(
        "TagDeliveryStream",
        schema::TAG_DELIVERY_STREAM,
        Management,
        false,
    ),
    op(
        "UntagDeliveryStream",
        schema::UNTAG_DELIVERY_STREAM,
        Management,
        false,
    ),
    op(
        "UpdateDestination",
        schema::UPDATE_DESTINATION,
        Management,
        false,
    ),
];

/// The operations as an enum, in [`SERVICE`]'s order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    CreateDeliveryStream,
    DeleteDeliveryStream,
    DescribeDeliveryStream,
    ListDeliveryStreams,
    ListTagsForDeliveryStream,
    PutRecord,
    PutRecordBatch,
    StartDeliveryStreamEncryption,
    StopDeliveryStreamEncryption,
    TagDeliveryStream,
    UntagDeliveryStream,
    UpdateDestination,
}

impl Operation {
    pub const ALL: [Operation; 12] = [
        Operation::CreateDeliveryStream,
        Operation::DeleteDeliveryStream,
        Operation::DescribeDeliveryStream,
        Operation::ListDeliveryStreams,
        Operation::ListTagsForDeliveryStream,
        Operation::PutRecord,
        Operation::PutRecordBatch,
        Operation::StartDeliveryStreamEncryption,
        Operation::StopDeliveryStreamEncryption,
        Operation::TagDeliveryStream,
        Operation::UntagDeliveryStream,
        Operation::UpdateDestination,
    ];

    /// The operation of an accepted call's spec.
    pub fn of(spec: &OperationSpec) -> Option<Operation> {
        SERVICE
            .index_of(spec)
            .and_then(|i| Operation::ALL.get(i).copied())
    }

    pub fn name(self) -> &'static str {
        OPERATIONS.get(self as usize).map(|o| o.name).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_matches_table() {
        for (i, op) in Operation::ALL.iter().enumerate() {
            assert_eq!(op.name(), OPERATIONS[i].name);
            assert_eq!(Operation::of(&OPERATIONS[i]), Some(*op));
        }
    }
}
