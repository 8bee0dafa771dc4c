//! The Splunk destination: the HTTP Event Collector (`HECEndpointType` Raw
//! or Event) with indexer acknowledgement (a channel per delivery stream,
//! ack polling by ackId within `HECAcknowledgmentTimeoutInSeconds`),
//! retries within `RetryOptions`, then the `splunk-failed/` error output.

use super::s3::S3Target;
use super::{BatchInfo, DeliveryReport, DestinationContext, OutRecord};
use crate::FirehoseError;
use bytes::Bytes;
use riffle_model::firehose as api;

pub struct SplunkDestination {
    s3: S3Target,
}

impl SplunkDestination {
    pub fn new(
        cfg: &api::SplunkDestinationConfiguration,
        ctx: &DestinationContext,
    ) -> Result<Self, FirehoseError> {
        let s3 =
            S3Target::from_s3_config(ctx.store.clone(), &ctx.stream_name, &cfg.s3_configuration)
                .map_err(|e| FirehoseError::InvalidArgument(e.to_string()))?;
        Ok(Self { s3 })
    }

    /// The `S3Configuration` target: backups and the error output.
    pub fn s3(&self) -> &S3Target {
        &self.s3
    }

    /// Sends one batch to HEC and waits for its acknowledgement. `raw` are
    /// the batch's source records, `records` what processing produced.
    pub async fn deliver(
        &self,
        _batch: &BatchInfo,
        _raw: &[Bytes],
        _records: &[OutRecord],
    ) -> Result<DeliveryReport, FirehoseError> {
        Err(FirehoseError::Internal(
            "the Splunk destination is not built yet".into(),
        ))
    }
}
