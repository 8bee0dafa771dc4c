//! Riffle's own Firehose operations (AWS has no replay): a service table of
//! its own, `RiffleFirehose_20261202`, on the same edge, signed as
//! `firehose` and authorized as `firehose:<Operation>` on the delivery
//! stream, audited like any call. `riffle firehose redeliver` speaks it.

use super::pattern::JavaPattern;
use crate::schema::{m, req, Con, Member, Ty};
use crate::service::{EventKind, OperationSpec, ServiceSpec};

pub const TARGET_PREFIX: &str = "RiffleFirehose_20261202";

pub static SERVICE: ServiceSpec = ServiceSpec {
    target_prefix: TARGET_PREFIX,
    iam_prefix: "firehose",
    event_source: "firehose.amazonaws.com",
    // No botocore model: these operations are Riffle's.
    botocore_model: ("riffle-firehose", "2026-12-02"),
    operations: OPERATIONS,
};

/// `DeliveryStreamName` as the model constrains it.
static NAME_PATTERN: JavaPattern = JavaPattern::new("[a-zA-Z0-9_.-]+", "^(?:[a-zA-Z0-9_.-]+)$");
const NAME_CONS: &[Con] = &[Con::Pattern(&NAME_PATTERN), Con::MinLen(1), Con::MaxLen(64)];

static START_REDELIVERY: &[Member] = &[
    req("DeliveryStreamName", Ty::Str, NAME_CONS),
    req("StartTimestamp", Ty::Timestamp, &[]),
    m("EndTimestamp", Ty::Timestamp, &[]),
];

static DESCRIBE_REDELIVERY: &[Member] = &[req("DeliveryStreamName", Ty::Str, NAME_CONS)];

static OPERATIONS: &[OperationSpec] = &[
    OperationSpec {
        name: "StartRedelivery",
        input: START_REDELIVERY,
        event: EventKind::Management,
        read_only: false,
    },
    OperationSpec {
        name: "DescribeRedelivery",
        input: DESCRIBE_REDELIVERY,
        event: EventKind::Management,
        read_only: true,
    },
];
