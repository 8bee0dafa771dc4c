//! The stored document of a delivery stream (`firehose.delivery_streams`,
//! keyed by name). Configurations are kept in the API's own shapes
//! (`riffle_model::firehose`), as validated at creation or update, so that
//! DescribeDeliveryStream can echo them and new members need no migration.

use riffle_model::firehose as api;
use serde::{Deserialize, Serialize};

/// Table name in the metadata database: `firehose.delivery_streams`.
pub const SERVICE: &str = "firehose";
pub const TABLE: &str = "delivery_streams";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Creating,
    CreatingFailed,
    Deleting,
    DeletingFailed,
    Active,
}

impl Status {
    /// As DescribeDeliveryStream spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "CREATING",
            Status::CreatingFailed => "CREATING_FAILED",
            Status::Deleting => "DELETING",
            Status::DeletingFailed => "DELETING_FAILED",
            Status::Active => "ACTIVE",
        }
    }
}

/// The one destination of a delivery stream (AWS allows exactly one).
/// `S3` is the older `S3DestinationConfiguration`; it is delivered as an
/// extended S3 destination and described in both shapes, as AWS does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum DestinationConfig {
    ExtendedS3(Box<api::ExtendedS3DestinationConfiguration>),
    S3(Box<api::S3DestinationConfiguration>),
    HttpEndpoint(Box<api::HttpEndpointDestinationConfiguration>),
    /// Delivered to PostgreSQL (Redshift's wire protocol and COPY dialect).
    Redshift(Box<api::RedshiftDestinationConfiguration>),
    /// The older Elasticsearch destination (`_bulk`, TypeName allowed).
    Elasticsearch(Box<api::ElasticsearchDestinationConfiguration>),
    /// `AmazonopensearchserviceDestinationConfiguration` (the model's spelling).
    OpenSearch(Box<api::AmazonopensearchserviceDestinationConfiguration>),
    OpenSearchServerless(Box<api::AmazonOpenSearchServerlessDestinationConfiguration>),
    Splunk(Box<api::SplunkDestinationConfiguration>),
}

/// Server-side encryption state (Start/StopDeliveryStreamEncryption).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EncryptionState {
    /// ENABLED, ENABLING, DISABLED, DISABLING (and the *_FAILED forms).
    pub status: String,
    /// AWS_OWNED_CMK or CUSTOMER_MANAGED_CMK.
    pub key_type: Option<String>,
    pub key_arn: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryStreamMeta {
    pub name: String,
    /// Unique per creation: a stream deleted and re-created under the same
    /// name has another uid (and another buffer directory).
    pub uid: String,
    pub arn: String,
    pub status: Status,
    /// Epoch ms when a CREATING/DELETING transition completes.
    #[serde(default)]
    pub transition_deadline_ms: Option<i64>,
    /// `DirectPut` or `KinesisStreamAsSource`.
    pub delivery_stream_type: String,
    /// Bumped by every UpdateDestination (and encryption change), as AWS's
    /// `VersionId` ("1", "2", ...); it is also the `<version>` in object names.
    pub version_id: u64,
    pub create_ms: i64,
    #[serde(default)]
    pub last_update_ms: Option<i64>,
    #[serde(default)]
    pub kinesis_source: Option<api::KinesisStreamSourceConfiguration>,
    /// DirectPut's `ThroughputHintInMBs` (informational), echoed by Describe.
    #[serde(default)]
    pub direct_put_source: Option<api::DirectPutSourceConfiguration>,
    /// Epoch ms from which a Kinesis source reads (LATEST at creation).
    #[serde(default)]
    pub source_start_ms: Option<i64>,
    pub destination: DestinationConfig,
    /// `destinationId-000000000001`.
    pub destination_id: String,
    /// In the order they were added.
    #[serde(default)]
    pub tags: Vec<api::Tag>,
    #[serde(default)]
    pub encryption: Option<EncryptionState>,
    /// The last delivery failure, cleared by the next success.
    #[serde(default)]
    pub failure: Option<api::FailureDescription>,
}

impl DeliveryStreamMeta {
    /// `arn:aws:firehose:REGION:ACCOUNT:deliverystream/NAME`
    pub fn arn_for(region: &str, account: &str, name: &str) -> String {
        format!("arn:aws:firehose:{region}:{account}:deliverystream/{name}")
    }
}
