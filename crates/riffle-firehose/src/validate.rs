//! AWS validation rules of CreateDeliveryStream and UpdateDestination beyond the schema.
//! (Temporary minimal version on the integration branch; replaced by h/api.)

use crate::meta::{DeliveryStreamMeta, DestinationConfig};
use crate::FirehoseError;
use riffle_model::firehose as api;

pub struct Plan {
    pub destination: DestinationConfig,
    pub delivery_stream_type: String,
    pub kinesis_source: Option<api::KinesisStreamSourceConfiguration>,
    pub tags: Vec<api::Tag>,
    pub encryption: Option<api::DeliveryStreamEncryptionConfigurationInput>,
}

pub fn create(input: &api::CreateDeliveryStreamInput) -> Result<Plan, FirehoseError> {
    let destination = if let Some(c) = &input.extended_s3_destination_configuration {
        DestinationConfig::ExtendedS3(Box::new(c.clone()))
    } else if let Some(c) = &input.s3_destination_configuration {
        DestinationConfig::S3(Box::new(c.clone()))
    } else if let Some(c) = &input.http_endpoint_destination_configuration {
        DestinationConfig::HttpEndpoint(Box::new(c.clone()))
    } else {
        return Err(FirehoseError::InvalidArgument(
            "Exactly one destination configuration must be specified.".into(),
        ));
    };
    Ok(Plan {
        destination,
        delivery_stream_type: input
            .delivery_stream_type
            .clone()
            .unwrap_or_else(|| "DirectPut".into()),
        kinesis_source: input.kinesis_stream_source_configuration.clone(),
        tags: input.tags.clone().unwrap_or_default(),
        encryption: input.delivery_stream_encryption_configuration_input.clone(),
    })
}

pub fn update(
    current: &DeliveryStreamMeta,
    input: &api::UpdateDestinationInput,
) -> Result<DestinationConfig, FirehoseError> {
    if input.current_delivery_stream_version_id != current.version_id.to_string() {
        return Err(FirehoseError::ConcurrentModification("stale".into()));
    }
    Ok(current.destination.clone())
}

pub fn tags(_tags: &[api::Tag]) -> Result<(), FirehoseError> {
    Ok(())
}

pub fn encryption(
    _cfg: &api::DeliveryStreamEncryptionConfigurationInput,
) -> Result<(), FirehoseError> {
    Ok(())
}
