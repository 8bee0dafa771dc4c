//! Stored configuration → DescribeDeliveryStream description.
//! (Temporary minimal version on the integration branch; replaced by h/api.)

use crate::meta::DeliveryStreamMeta;
use riffle_model::firehose as api;

pub fn description(
    meta: &DeliveryStreamMeta,
    _limit: Option<i64>,
    _start: Option<&str>,
) -> api::DeliveryStreamDescription {
    api::DeliveryStreamDescription {
        delivery_stream_name: meta.name.clone(),
        delivery_stream_arn: meta.arn.clone(),
        delivery_stream_status: meta.status.as_str().into(),
        delivery_stream_type: meta.delivery_stream_type.clone(),
        version_id: meta.version_id.to_string(),
        create_timestamp: Some(riffle_model::Timestamp(meta.create_ms)),
        destinations: vec![],
        has_more_destinations: false,
        ..Default::default()
    }
}
