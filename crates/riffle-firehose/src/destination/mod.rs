//! Where delivered data goes. Each destination is a folder or file of its
//! own (configuration, request building, retries); `s3` also writes every
//! destination's backups and error output.

pub mod http;
pub mod s3;

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
