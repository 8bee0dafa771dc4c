//! What a service plugs into the protocol core: its `X-Amz-Target` prefix and,
//! per operation, the input schema, the IAM action and the audit category.
//!
//! The core ([`crate::decode_request`]) only reads these tables; a service's
//! module turns a decoded [`Call`] into its own typed input. Adding a service
//! is adding one [`ServiceSpec`] and its builder, nothing in the core.

use crate::fields::Fields;
use crate::schema::Member;
use crate::Format;
use bytes::Bytes;

/// How CloudTrail files an operation: control plane or data plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// `managementEvent: true`, `eventCategory: "Management"`; logged by default.
    Management,
    /// `eventCategory: "Data"`; logged only when a trail selects data events.
    Data,
}

/// One operation of a service.
#[derive(Debug)]
pub struct OperationSpec {
    /// The name after `{prefix}.` in `X-Amz-Target`, and the IAM action's suffix.
    pub name: &'static str,
    /// Members in the order AWS checks and reports them.
    pub input: &'static [Member],
    pub event: EventKind,
    /// CloudTrail's `readOnly`: the operation changes nothing.
    pub read_only: bool,
}

/// One AWS JSON service served at the edge.
#[derive(Debug)]
pub struct ServiceSpec {
    /// `X-Amz-Target` prefix, e.g. `Kinesis_20131202`.
    pub target_prefix: &'static str,
    /// IAM action namespace (`kinesis`, `firehose`, `kinesisanalytics`, `dynamodb`),
    /// also the SigV4 signing name.
    pub iam_prefix: &'static str,
    /// CloudTrail `eventSource`, e.g. `kinesis.amazonaws.com`.
    pub event_source: &'static str,
    /// The botocore model that is the authority for `operations`
    /// (`data/{name}/{version}/service-2.json`).
    pub botocore_model: (&'static str, &'static str),
    pub operations: &'static [OperationSpec],
}

impl ServiceSpec {
    /// The operation named in a target, by exact name.
    pub fn operation(&self, name: &str) -> Option<&'static OperationSpec> {
        self.operations.iter().find(|o| o.name == name)
    }

    /// The position of `op` in [`ServiceSpec::operations`]; services keep
    /// their typed operation enums in the same order.
    pub fn index_of(&self, op: &OperationSpec) -> Option<usize> {
        self.operations.iter().position(|o| std::ptr::eq(o, op))
    }

    /// The IAM action a policy names for `op`, e.g. `kinesis:PutRecord`.
    pub fn iam_action(&self, op: &OperationSpec) -> String {
        format!("{}:{}", self.iam_prefix, op.name)
    }
}

/// A request the core accepted: known service and operation, authentication
/// header well-formed, members type-checked and validated.
pub struct Call<'a> {
    pub service: &'static ServiceSpec,
    pub op: &'static OperationSpec,
    pub format: Format,
    pub fields: Fields<'a>,
    /// The body the call was decoded from, if the caller shares it
    /// ([`Call::with_body`]).
    pub body: Option<Bytes>,
}

impl Call<'_> {
    /// Shares the request body with the builder, so large values (a record's
    /// base64 `Data`) can stay slices of it, decoded only where they are
    /// stored, instead of being decoded into buffers of their own here.
    /// Values that do not lie inside `body` are decoded as without it.
    pub fn with_body(mut self, body: Bytes) -> Self {
        self.body = Some(body);
        self
    }
}

impl std::fmt::Debug for Call<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("service", &self.service.target_prefix)
            .field("op", &self.op.name)
            .field("format", &self.format)
            .finish()
    }
}
