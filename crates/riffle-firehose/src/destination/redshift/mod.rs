//! The Redshift destination, delivered to PostgreSQL: each batch is staged
//! as an object in the `S3Configuration` bucket (as AWS stages it), then
//! loaded with the stream's `CopyCommand` translated from Redshift's COPY
//! dialect into PostgreSQL's `COPY … FROM STDIN`, at the database named by
//! `ClusterJDBCURL` (`jdbc:redshift://host:port/db` or
//! `jdbc:postgresql://…`). Failed loads are retried within
//! `RetryOptions.DurationInSeconds`, then their manifest goes under
//! `errors/manifests/`.

use super::s3::S3Target;
use super::{BatchInfo, DeliveryReport, DestinationContext, OutRecord};
use crate::FirehoseError;
use bytes::Bytes;
use riffle_model::firehose as api;

pub struct RedshiftDestination {
    s3: S3Target,
}

impl RedshiftDestination {
    /// Checks the configuration (JDBC URL, COPY options Riffle can
    /// translate, `S3Configuration`); what cannot be delivered is refused
    /// by name as `InvalidArgument`.
    pub fn new(
        cfg: &api::RedshiftDestinationConfiguration,
        ctx: &DestinationContext,
    ) -> Result<Self, FirehoseError> {
        let s3 =
            S3Target::from_s3_config(ctx.store.clone(), &ctx.stream_name, &cfg.s3_configuration)
                .map_err(|e| FirehoseError::InvalidArgument(e.to_string()))?;
        Ok(Self { s3 })
    }

    /// The `S3Configuration` target: staging objects and the error output.
    pub fn s3(&self) -> &S3Target {
        &self.s3
    }

    /// Stages and loads one batch. `raw` are the batch's source records
    /// (for `S3BackupMode` Enabled), `records` what processing produced.
    pub async fn deliver(
        &self,
        _batch: &BatchInfo,
        _raw: &[Bytes],
        _records: &[OutRecord],
    ) -> Result<DeliveryReport, FirehoseError> {
        Err(FirehoseError::Internal(
            "the Redshift destination is not built yet".into(),
        ))
    }
}
