//! Where delivered data goes. Each destination is a folder or file of its
//! own (configuration, request building, retries); `s3` also writes every
//! destination's backups and error output.
//!
//! The destinations beyond S3 and HTTP endpoints (`redshift`, `opensearch`,
//! `splunk`) share one contract, so that the delivery task treats them
//! alike: built from the stream's configuration by `new` (a configuration
//! Riffle cannot deliver is refused then, at CreateDeliveryStream or
//! UpdateDestination, as `FirehoseError::InvalidArgument`), then one
//! `deliver` call per batch that retries inside, within the destination's
//! retry duration, and writes what still fails to the error output of its
//! `S3Configuration`.

pub mod http;
pub mod opensearch;
pub mod redshift;
pub mod s3;
pub mod splunk;

use crate::objects::ObjectStore;
use bytes::Bytes;
use std::sync::Arc;

/// A record a destination or processor could not deliver, kept for the
/// error output (`processing-failed/`, `http-endpoint-failed/`, ...) in
/// AWS's failed-record format.
#[derive(Clone, Debug, PartialEq)]
pub struct FailedRecord {
    /// The record as it arrived (before processing).
    pub raw_data: bytes::Bytes,
    /// Epoch milliseconds when Firehose accepted it.
    pub arrival_ms: i64,
    /// How many attempts were made.
    pub attempts_made: u32,
    /// Epoch milliseconds of the last attempt.
    pub attempt_ending_ms: i64,
    pub error_code: String,
    pub error_message: String,
    /// Destination-specific fields (`lambdaArn`, `requestId`, ...), as AWS names them.
    pub extra: Vec<(&'static str, String)>,
}

/// What every destination is built with besides its configuration.
#[derive(Clone)]
pub struct DestinationContext {
    /// Where `S3Configuration` objects (staging, backup, error output) go.
    pub store: Arc<dyn ObjectStore>,
    pub stream_name: String,
    pub stream_arn: String,
    /// Timings (retry backoff, a test's retry-duration override, response
    /// timeout) and extra trusted CAs, shared with the HTTP endpoint
    /// destination: `--firehose-http-retry-ms` and
    /// `--firehose-http-timeout-ms` shorten every destination's retries.
    pub http: http::HttpOptions,
}

/// One batch as a destination sees it.
#[derive(Clone, Copy, Debug)]
pub struct BatchInfo {
    /// The batch's identity ([`s3::batch_seed`]), stable across restarts:
    /// object keys, request ids, document ids and channel ids derive from
    /// it (with [`s3::sub_seed`]) so that a repeated delivery overwrites or
    /// re-sends the same thing.
    pub seed: u128,
    /// Arrival time of the batch's oldest record: prefixes and object names.
    pub first_arrival_ms: i64,
    /// The delivery stream's VersionId (`<version>` in object names).
    pub version: u64,
}

/// A record as the destination delivers it: after processing.
#[derive(Clone, Debug, PartialEq)]
pub struct OutRecord {
    pub data: Bytes,
    /// Epoch ms when Firehose accepted the record.
    pub arrival_ms: i64,
    /// Stable across retries and restarts (the buffer offset): document ids
    /// and failed-record references use it.
    pub record_id: String,
    /// The record as it arrived (before processing), for error output and
    /// backups of source records.
    pub raw: Bytes,
}

/// What one `deliver` call came to once the destination stopped retrying.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeliveryReport {
    /// Records (and their bytes) the destination accepted.
    pub delivered_records: u64,
    pub delivered_bytes: u64,
    /// Records written to the error output instead.
    pub failed_records: u64,
    /// Shown by DescribeDeliveryStream while records fail
    /// (`FailureDescription`); `None` clears it.
    pub failure: Option<riffle_model::firehose::FailureDescription>,
    /// CloudWatch metrics under AWS's names (`DeliveryToRedshift.Records`,
    /// `DeliveryToSplunk.DataAckLatency`, ...) to add to the stream's.
    pub metrics: Vec<(&'static str, u64)>,
}
