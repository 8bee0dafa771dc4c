//! UpdateDestination: the version and destination checks, then the update
//! merged into the stored configuration member by member (members not
//! given are kept, as AWS documents), then the create rules on the result.
//!
//! Merging: a given scalar or structure replaces the stored one, except
//! `BufferingHints` (each of `SizeInMBs`/`IntervalInSeconds` is kept unless
//! given), the nested S3 updates (`S3Update`, `S3BackupUpdate`, merged the
//! same way) and `EndpointConfiguration` (`Name` and `AccessKey` are kept
//! unless given; `Url` is required in the shape).
//!
//! Type changes: `S3DestinationUpdate` on an extended S3 destination
//! updates the common members, as AWS does; `ExtendedS3DestinationUpdate`
//! on a legacy S3 destination turns it into an extended one. Changing to or
//! from HttpEndpoint is refused with the message moto has for it.

use riffle_model::firehose as api;

use super::{destination, invalid, unsupported_destination, EXACTLY_ONE};
use crate::meta::{DeliveryStreamMeta, DestinationConfig};
use crate::FirehoseError;

enum Update<'a> {
    S3(&'a api::S3DestinationUpdate),
    ExtendedS3(&'a api::ExtendedS3DestinationUpdate),
    HttpEndpoint(&'a api::HttpEndpointDestinationUpdate),
}

/// The merged destination configuration to store (with the version
/// bumped by the engine). Checks, in order: exactly one update, a
/// destination Riffle serves, `CurrentDeliveryStreamVersionId` against the
/// stored version (`ConcurrentModificationException`), `DestinationId`,
/// the destination type, S3 backup not disabled once enabled, then
/// [`destination`] on the merged result.
pub fn update(
    current: &DeliveryStreamMeta,
    input: &api::UpdateDestinationInput,
) -> Result<DestinationConfig, FirehoseError> {
    let given = [
        ("S3DestinationUpdate", input.s3_destination_update.is_some()),
        (
            "ExtendedS3DestinationUpdate",
            input.extended_s3_destination_update.is_some(),
        ),
        (
            "HttpEndpointDestinationUpdate",
            input.http_endpoint_destination_update.is_some(),
        ),
        (
            "RedshiftDestinationUpdate",
            input.redshift_destination_update.is_some(),
        ),
        (
            "ElasticsearchDestinationUpdate",
            input.elasticsearch_destination_update.is_some(),
        ),
        (
            "AmazonopensearchserviceDestinationUpdate",
            input.amazonopensearchservice_destination_update.is_some(),
        ),
        (
            "AmazonOpenSearchServerlessDestinationUpdate",
            input
                .amazon_open_search_serverless_destination_update
                .is_some(),
        ),
        (
            "SplunkDestinationUpdate",
            input.splunk_destination_update.is_some(),
        ),
        (
            "SnowflakeDestinationUpdate",
            input.snowflake_destination_update.is_some(),
        ),
        (
            "IcebergDestinationUpdate",
            input.iceberg_destination_update.is_some(),
        ),
    ];
    let names: Vec<&str> = given.iter().filter(|(_, g)| *g).map(|(n, _)| *n).collect();
    let [member] = names[..] else {
        return Err(invalid(EXACTLY_ONE));
    };
    let update = if let Some(u) = &input.extended_s3_destination_update {
        Update::ExtendedS3(u)
    } else if let Some(u) = &input.s3_destination_update {
        Update::S3(u)
    } else if let Some(u) = &input.http_endpoint_destination_update {
        Update::HttpEndpoint(u)
    } else {
        return Err(unsupported_destination(member));
    };

    if input.current_delivery_stream_version_id != current.version_id.to_string() {
        return Err(FirehoseError::ConcurrentModification(format!(
            "Cannot update firehose: {} since the current version id: {} and specified version id: {} do not match",
            current.name, current.version_id, input.current_delivery_stream_version_id
        )));
    }
    if input.destination_id != current.destination_id {
        return Err(invalid(format!(
            "Destination Id {} not found",
            input.destination_id
        )));
    }

    let merged = match (update, &current.destination) {
        (Update::S3(u), DestinationConfig::S3(c)) => {
            let mut c = (**c).clone();
            merge_s3(&mut c, u);
            DestinationConfig::S3(Box::new(c))
        }
        (Update::S3(u), DestinationConfig::ExtendedS3(c)) => {
            let mut c = (**c).clone();
            merge_s3_into_extended(&mut c, u);
            DestinationConfig::ExtendedS3(Box::new(c))
        }
        (Update::ExtendedS3(u), DestinationConfig::ExtendedS3(c)) => {
            let mut c = (**c).clone();
            merge_extended(&mut c, u)?;
            DestinationConfig::ExtendedS3(Box::new(c))
        }
        (Update::ExtendedS3(u), DestinationConfig::S3(c)) => {
            let mut c = extended_from_s3(c);
            merge_extended(&mut c, u)?;
            DestinationConfig::ExtendedS3(Box::new(c))
        }
        (Update::HttpEndpoint(u), DestinationConfig::HttpEndpoint(c)) => {
            let mut c = (**c).clone();
            merge_http(&mut c, u);
            DestinationConfig::HttpEndpoint(Box::new(c))
        }
        (Update::HttpEndpoint(_), _) | (_, DestinationConfig::HttpEndpoint(_)) => {
            return Err(invalid(
                "Changing the destination type to or from HttpEndpoint is not supported at this time.",
            ))
        }
        // TODO(issue 12): updates of the other destinations.
        (_, other) => {
            return Err(invalid(format!(
                "UpdateDestination is not supported yet for this destination type ({})",
                match other {
                    DestinationConfig::Redshift(_) => "Redshift",
                    DestinationConfig::Elasticsearch(_) => "Elasticsearch",
                    DestinationConfig::OpenSearch(_) => "AmazonOpenSearchService",
                    DestinationConfig::OpenSearchServerless(_) => "AmazonOpenSearchServerless",
                    DestinationConfig::Splunk(_) => "Splunk",
                    _ => "S3",
                }
            )))
        }
    };

    if let (DestinationConfig::ExtendedS3(old), DestinationConfig::ExtendedS3(new)) =
        (&current.destination, &merged)
    {
        let enabled = |m: &Option<String>| m.as_deref() == Some("Enabled");
        if enabled(&old.s3_backup_mode) && !enabled(&new.s3_backup_mode) {
            // Riffle's wording of the model's rule.
            return Err(invalid(
                "S3BackupMode cannot be disabled once it is enabled.",
            ));
        }
    }

    destination(&merged)?;
    Ok(merged)
}

fn set<T: Clone>(slot: &mut T, given: &Option<T>) {
    if let Some(v) = given {
        *slot = v.clone();
    }
}

fn set_opt<T: Clone>(slot: &mut Option<T>, given: &Option<T>) {
    if given.is_some() {
        slot.clone_from(given);
    }
}

fn merge_hints(slot: &mut Option<api::BufferingHints>, given: &Option<api::BufferingHints>) {
    if let Some(g) = given {
        let h = slot.get_or_insert_with(Default::default);
        set_opt(&mut h.size_in_m_bs, &g.size_in_m_bs);
        set_opt(&mut h.interval_in_seconds, &g.interval_in_seconds);
    }
}

fn merge_http_hints(
    slot: &mut Option<api::HttpEndpointBufferingHints>,
    given: &Option<api::HttpEndpointBufferingHints>,
) {
    if let Some(g) = given {
        let h = slot.get_or_insert_with(Default::default);
        set_opt(&mut h.size_in_m_bs, &g.size_in_m_bs);
        set_opt(&mut h.interval_in_seconds, &g.interval_in_seconds);
    }
}

fn merge_s3(c: &mut api::S3DestinationConfiguration, u: &api::S3DestinationUpdate) {
    set(&mut c.role_arn, &u.role_arn);
    set(&mut c.bucket_arn, &u.bucket_arn);
    set_opt(&mut c.prefix, &u.prefix);
    set_opt(&mut c.error_output_prefix, &u.error_output_prefix);
    merge_hints(&mut c.buffering_hints, &u.buffering_hints);
    set_opt(&mut c.compression_format, &u.compression_format);
    set_opt(&mut c.encryption_configuration, &u.encryption_configuration);
    set_opt(
        &mut c.cloud_watch_logging_options,
        &u.cloud_watch_logging_options,
    );
}

fn merge_s3_into_extended(
    c: &mut api::ExtendedS3DestinationConfiguration,
    u: &api::S3DestinationUpdate,
) {
    set(&mut c.role_arn, &u.role_arn);
    set(&mut c.bucket_arn, &u.bucket_arn);
    set_opt(&mut c.prefix, &u.prefix);
    set_opt(&mut c.error_output_prefix, &u.error_output_prefix);
    merge_hints(&mut c.buffering_hints, &u.buffering_hints);
    set_opt(&mut c.compression_format, &u.compression_format);
    set_opt(&mut c.encryption_configuration, &u.encryption_configuration);
    set_opt(
        &mut c.cloud_watch_logging_options,
        &u.cloud_watch_logging_options,
    );
}

/// The legacy configuration as the extended one it is delivered as.
pub(crate) fn extended_from_s3(
    c: &api::S3DestinationConfiguration,
) -> api::ExtendedS3DestinationConfiguration {
    api::ExtendedS3DestinationConfiguration {
        role_arn: c.role_arn.clone(),
        bucket_arn: c.bucket_arn.clone(),
        prefix: c.prefix.clone(),
        error_output_prefix: c.error_output_prefix.clone(),
        buffering_hints: c.buffering_hints.clone(),
        compression_format: c.compression_format.clone(),
        encryption_configuration: c.encryption_configuration.clone(),
        cloud_watch_logging_options: c.cloud_watch_logging_options.clone(),
        ..Default::default()
    }
}

fn merge_extended(
    c: &mut api::ExtendedS3DestinationConfiguration,
    u: &api::ExtendedS3DestinationUpdate,
) -> Result<(), FirehoseError> {
    set(&mut c.role_arn, &u.role_arn);
    set(&mut c.bucket_arn, &u.bucket_arn);
    set_opt(&mut c.prefix, &u.prefix);
    set_opt(&mut c.error_output_prefix, &u.error_output_prefix);
    merge_hints(&mut c.buffering_hints, &u.buffering_hints);
    set_opt(&mut c.compression_format, &u.compression_format);
    set_opt(&mut c.encryption_configuration, &u.encryption_configuration);
    set_opt(
        &mut c.cloud_watch_logging_options,
        &u.cloud_watch_logging_options,
    );
    set_opt(&mut c.processing_configuration, &u.processing_configuration);
    set_opt(&mut c.s3_backup_mode, &u.s3_backup_mode);
    if let Some(b) = &u.s3_backup_update {
        match &mut c.s3_backup_configuration {
            Some(existing) => merge_s3(existing, b),
            None => {
                let (Some(role_arn), Some(bucket_arn)) = (&b.role_arn, &b.bucket_arn) else {
                    // Riffle's: a first backup configuration must be whole.
                    return Err(invalid(
                        "S3BackupUpdate must give RoleARN and BucketARN when the destination has no S3 backup configuration yet.",
                    ));
                };
                let mut fresh = api::S3DestinationConfiguration {
                    role_arn: role_arn.clone(),
                    bucket_arn: bucket_arn.clone(),
                    ..Default::default()
                };
                merge_s3(&mut fresh, b);
                c.s3_backup_configuration = Some(fresh);
            }
        }
    }
    set_opt(
        &mut c.data_format_conversion_configuration,
        &u.data_format_conversion_configuration,
    );
    set_opt(
        &mut c.dynamic_partitioning_configuration,
        &u.dynamic_partitioning_configuration,
    );
    set_opt(&mut c.file_extension, &u.file_extension);
    set_opt(&mut c.custom_time_zone, &u.custom_time_zone);
    Ok(())
}

fn merge_http(
    c: &mut api::HttpEndpointDestinationConfiguration,
    u: &api::HttpEndpointDestinationUpdate,
) {
    if let Some(e) = &u.endpoint_configuration {
        let ep = &mut c.endpoint_configuration;
        ep.url.clone_from(&e.url);
        set_opt(&mut ep.name, &e.name);
        set_opt(&mut ep.access_key, &e.access_key);
    }
    merge_http_hints(&mut c.buffering_hints, &u.buffering_hints);
    set_opt(
        &mut c.cloud_watch_logging_options,
        &u.cloud_watch_logging_options,
    );
    set_opt(&mut c.request_configuration, &u.request_configuration);
    set_opt(&mut c.processing_configuration, &u.processing_configuration);
    set_opt(&mut c.role_arn, &u.role_arn);
    set_opt(&mut c.retry_options, &u.retry_options);
    set_opt(&mut c.s3_backup_mode, &u.s3_backup_mode);
    if let Some(s3) = &u.s3_update {
        merge_s3(&mut c.s3_configuration, s3);
    }
    set_opt(
        &mut c.secrets_manager_configuration,
        &u.secrets_manager_configuration,
    );
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
