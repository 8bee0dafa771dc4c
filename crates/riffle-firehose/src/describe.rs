//! Stored configuration → DescribeDeliveryStream's description.
//!
//! AWS fills in defaults for what the configuration left out, and some are
//! required members of the description shapes (BufferingHints,
//! CompressionFormat, EncryptionConfiguration of the S3 descriptions):
//! BufferingHints {SizeInMBs 5, IntervalInSeconds 300}, CompressionFormat
//! UNCOMPRESSED, EncryptionConfiguration {NoEncryptionConfig NoEncryption},
//! CloudWatchLoggingOptions {Enabled false}, S3BackupMode Disabled
//! (FailedDataOnly for HTTP endpoints), HTTP RequestConfiguration
//! {ContentEncoding NONE} and RetryOptions {DurationInSeconds 300}.
//! ProcessingConfiguration, prefixes and the rest are echoed as given.
//!
//! An extended S3 destination is also described as an
//! `S3DestinationDescription` of its common members, and a legacy S3 one
//! also as an `ExtendedS3DestinationDescription`, as AWS (and moto) do. An
//! HTTP endpoint's `AccessKey` is never described.

use riffle_model::firehose as api;
use riffle_model::Timestamp;

use crate::meta::{DeliveryStreamMeta, DestinationConfig};

pub const DEFAULT_SIZE_IN_MBS: i64 = 5;
pub const DEFAULT_INTERVAL_IN_SECONDS: i64 = 300;
pub const DEFAULT_HTTP_RETRY_SECONDS: i64 = 300;

/// The full `DeliveryStreamDescription`. A delivery stream has one
/// destination, so `Limit` (≥ 1) never cuts it and `HasMoreDestinations` is
/// false; `ExclusiveStartDestinationId` at or after it leaves the list empty.
pub fn description(
    meta: &DeliveryStreamMeta,
    limit: Option<i64>,
    exclusive_start_destination_id: Option<&str>,
) -> api::DeliveryStreamDescription {
    let all = [&meta.destination_id];
    let after: Vec<_> = all
        .into_iter()
        .filter(|id| exclusive_start_destination_id.is_none_or(|s| id.as_str() > s))
        .collect();
    let take = usize::try_from(limit.unwrap_or(10_000).max(1)).unwrap_or(usize::MAX);
    let destinations = after
        .iter()
        .take(take)
        .map(|id| destination(id, &meta.destination))
        .collect();
    api::DeliveryStreamDescription {
        delivery_stream_name: meta.name.clone(),
        delivery_stream_arn: meta.arn.clone(),
        delivery_stream_status: meta.status.as_str().to_owned(),
        failure_description: meta.failure.clone(),
        delivery_stream_encryption_configuration: Some(encryption(meta)),
        delivery_stream_type: meta.delivery_stream_type.clone(),
        version_id: meta.version_id.to_string(),
        create_timestamp: Some(Timestamp(meta.create_ms)),
        last_update_timestamp: meta.last_update_ms.map(Timestamp),
        source: Some(source(meta)),
        destinations,
        has_more_destinations: after.len() > take,
    }
}

fn encryption(meta: &DeliveryStreamMeta) -> api::DeliveryStreamEncryptionConfiguration {
    match &meta.encryption {
        Some(e) => api::DeliveryStreamEncryptionConfiguration {
            key_arn: e.key_arn.clone(),
            key_type: e.key_type.clone(),
            status: Some(e.status.clone()),
            failure_description: None,
        },
        None => api::DeliveryStreamEncryptionConfiguration {
            status: Some("DISABLED".into()),
            ..Default::default()
        },
    }
}

fn source(meta: &DeliveryStreamMeta) -> api::SourceDescription {
    match &meta.kinesis_source {
        Some(k) => api::SourceDescription {
            kinesis_stream_source_description: Some(api::KinesisStreamSourceDescription {
                kinesis_stream_arn: Some(k.kinesis_stream_arn.clone()),
                role_arn: Some(k.role_arn.clone()),
                // The stream is read from LATEST at creation.
                delivery_start_timestamp: Some(Timestamp(
                    meta.source_start_ms.unwrap_or(meta.create_ms),
                )),
            }),
            ..Default::default()
        },
        None => api::SourceDescription {
            direct_put_source_description: Some(api::DirectPutSourceDescription {
                throughput_hint_in_m_bs: meta
                    .direct_put_source
                    .as_ref()
                    .map(|d| d.throughput_hint_in_m_bs),
            }),
            ..Default::default()
        },
    }
}

/// One `DestinationDescription`.
pub fn destination(id: &str, d: &DestinationConfig) -> api::DestinationDescription {
    let mut out = api::DestinationDescription {
        destination_id: id.to_owned(),
        ..Default::default()
    };
    match d {
        DestinationConfig::ExtendedS3(c) => {
            out.s3_destination_description = Some(s3_common(
                &c.role_arn,
                &c.bucket_arn,
                &c.prefix,
                &c.error_output_prefix,
                &c.buffering_hints,
                &c.compression_format,
                &c.encryption_configuration,
                &c.cloud_watch_logging_options,
            ));
            out.extended_s3_destination_description = Some(extended_s3(c));
        }
        DestinationConfig::S3(c) => {
            let s3 = s3(c);
            out.extended_s3_destination_description = Some(api::ExtendedS3DestinationDescription {
                role_arn: s3.role_arn.clone(),
                bucket_arn: s3.bucket_arn.clone(),
                prefix: s3.prefix.clone(),
                error_output_prefix: s3.error_output_prefix.clone(),
                buffering_hints: s3.buffering_hints.clone(),
                compression_format: s3.compression_format.clone(),
                encryption_configuration: s3.encryption_configuration.clone(),
                cloud_watch_logging_options: s3.cloud_watch_logging_options.clone(),
                s3_backup_mode: Some("Disabled".into()),
                ..Default::default()
            });
            out.s3_destination_description = Some(s3);
        }
        DestinationConfig::HttpEndpoint(c) => {
            out.http_endpoint_destination_description = Some(http_endpoint(c));
        }
        // TODO(issue 12): their descriptions.
        DestinationConfig::Redshift(_)
        | DestinationConfig::Elasticsearch(_)
        | DestinationConfig::OpenSearch(_)
        | DestinationConfig::OpenSearchServerless(_)
        | DestinationConfig::Splunk(_) => {}
    }
    out
}

fn hints(h: &Option<api::BufferingHints>) -> api::BufferingHints {
    let h = h.clone().unwrap_or_default();
    api::BufferingHints {
        size_in_m_bs: Some(h.size_in_m_bs.unwrap_or(DEFAULT_SIZE_IN_MBS)),
        interval_in_seconds: Some(h.interval_in_seconds.unwrap_or(DEFAULT_INTERVAL_IN_SECONDS)),
    }
}

fn logging(l: &Option<api::CloudWatchLoggingOptions>) -> Option<api::CloudWatchLoggingOptions> {
    Some(l.clone().unwrap_or(api::CloudWatchLoggingOptions {
        enabled: Some(false),
        ..Default::default()
    }))
}

fn s3_encryption(e: &Option<api::EncryptionConfiguration>) -> api::EncryptionConfiguration {
    e.clone().unwrap_or(api::EncryptionConfiguration {
        no_encryption_config: Some("NoEncryption".into()),
        kms_encryption_config: None,
    })
}

#[allow(clippy::too_many_arguments)]
fn s3_common(
    role_arn: &str,
    bucket_arn: &str,
    prefix: &Option<String>,
    error_output_prefix: &Option<String>,
    buffering_hints: &Option<api::BufferingHints>,
    compression_format: &Option<String>,
    encryption: &Option<api::EncryptionConfiguration>,
    cloud_watch: &Option<api::CloudWatchLoggingOptions>,
) -> api::S3DestinationDescription {
    api::S3DestinationDescription {
        role_arn: role_arn.to_owned(),
        bucket_arn: bucket_arn.to_owned(),
        prefix: prefix.clone(),
        error_output_prefix: error_output_prefix.clone(),
        buffering_hints: hints(buffering_hints),
        compression_format: compression_format
            .clone()
            .unwrap_or_else(|| "UNCOMPRESSED".into()),
        encryption_configuration: s3_encryption(encryption),
        cloud_watch_logging_options: logging(cloud_watch),
    }
}

/// `S3DestinationConfiguration` → `S3DestinationDescription` (also used
/// for backups and the S3 configuration of HTTP endpoints).
pub fn s3(c: &api::S3DestinationConfiguration) -> api::S3DestinationDescription {
    s3_common(
        &c.role_arn,
        &c.bucket_arn,
        &c.prefix,
        &c.error_output_prefix,
        &c.buffering_hints,
        &c.compression_format,
        &c.encryption_configuration,
        &c.cloud_watch_logging_options,
    )
}

/// `ExtendedS3DestinationConfiguration` → its description.
pub fn extended_s3(
    c: &api::ExtendedS3DestinationConfiguration,
) -> api::ExtendedS3DestinationDescription {
    let common = s3_common(
        &c.role_arn,
        &c.bucket_arn,
        &c.prefix,
        &c.error_output_prefix,
        &c.buffering_hints,
        &c.compression_format,
        &c.encryption_configuration,
        &c.cloud_watch_logging_options,
    );
    api::ExtendedS3DestinationDescription {
        role_arn: common.role_arn,
        bucket_arn: common.bucket_arn,
        prefix: common.prefix,
        error_output_prefix: common.error_output_prefix,
        buffering_hints: common.buffering_hints,
        compression_format: common.compression_format,
        encryption_configuration: common.encryption_configuration,
        cloud_watch_logging_options: common.cloud_watch_logging_options,
        processing_configuration: c.processing_configuration.clone(),
        s3_backup_mode: Some(
            c.s3_backup_mode
                .clone()
                .unwrap_or_else(|| "Disabled".into()),
        ),
        s3_backup_description: c.s3_backup_configuration.as_ref().map(s3),
        data_format_conversion_configuration: c.data_format_conversion_configuration.clone(),
        dynamic_partitioning_configuration: c.dynamic_partitioning_configuration.clone(),
        file_extension: c.file_extension.clone(),
        custom_time_zone: c.custom_time_zone.clone(),
    }
}

/// `HttpEndpointDestinationConfiguration` → its description, without the
/// endpoint's `AccessKey`.
pub fn http_endpoint(
    c: &api::HttpEndpointDestinationConfiguration,
) -> api::HttpEndpointDestinationDescription {
    let h = c.buffering_hints.clone().unwrap_or_default();
    let mut request = c.request_configuration.clone().unwrap_or_default();
    if request.content_encoding.is_none() {
        request.content_encoding = Some("NONE".into());
    }
    api::HttpEndpointDestinationDescription {
        endpoint_configuration: Some(api::HttpEndpointDescription {
            url: Some(c.endpoint_configuration.url.clone()),
            name: c.endpoint_configuration.name.clone(),
        }),
        buffering_hints: Some(api::HttpEndpointBufferingHints {
            size_in_m_bs: Some(h.size_in_m_bs.unwrap_or(DEFAULT_SIZE_IN_MBS)),
            interval_in_seconds: Some(h.interval_in_seconds.unwrap_or(DEFAULT_INTERVAL_IN_SECONDS)),
        }),
        cloud_watch_logging_options: logging(&c.cloud_watch_logging_options),
        request_configuration: Some(request),
        processing_configuration: c.processing_configuration.clone(),
        role_arn: c.role_arn.clone(),
        retry_options: Some(api::HttpEndpointRetryOptions {
            duration_in_seconds: Some(
                c.retry_options
                    .as_ref()
                    .and_then(|r| r.duration_in_seconds)
                    .unwrap_or(DEFAULT_HTTP_RETRY_SECONDS),
            ),
        }),
        s3_backup_mode: Some(
            c.s3_backup_mode
                .clone()
                .unwrap_or_else(|| "FailedDataOnly".into()),
        ),
        s3_destination_description: Some(s3(&c.s3_configuration)),
        secrets_manager_configuration: c.secrets_manager_configuration.clone(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::meta::{EncryptionState, Status};
    use serde_json::json;

    fn meta(destination: DestinationConfig) -> DeliveryStreamMeta {
        DeliveryStreamMeta {
            name: "ds".into(),
            uid: "u1".into(),
            arn: "arn:aws:firehose:us-east-1:123456789012:deliverystream/ds".into(),
            status: Status::Active,
            transition_deadline_ms: None,
            delivery_stream_type: "DirectPut".into(),
            version_id: 3,
            create_ms: 1_700_000_000_000,
            last_update_ms: Some(1_700_000_500_500),
            kinesis_source: None,
            direct_put_source: None,
            source_start_ms: None,
            destination,
            destination_id: "destinationId-000000000001".into(),
            tags: vec![],
            encryption: None,
            failure: None,
        }
    }

    fn bare_extended() -> api::ExtendedS3DestinationConfiguration {
        api::ExtendedS3DestinationConfiguration {
            role_arn: "arn:aws:iam::123456789012:role/r".into(),
            bucket_arn: "arn:aws:s3:::b".into(),
            ..Default::default()
        }
    }

    #[test]
    fn extended_s3_golden_with_defaults() {
        let d = description(
            &meta(DestinationConfig::ExtendedS3(Box::new(bare_extended()))),
            None,
            None,
        );
        let common = json!({
            "RoleARN": "arn:aws:iam::123456789012:role/r",
            "BucketARN": "arn:aws:s3:::b",
            "BufferingHints": {"SizeInMBs": 5, "IntervalInSeconds": 300},
            "CompressionFormat": "UNCOMPRESSED",
            "EncryptionConfiguration": {"NoEncryptionConfig": "NoEncryption"},
            "CloudWatchLoggingOptions": {"Enabled": false}
        });
        let mut extended = common.clone();
        extended["S3BackupMode"] = json!("Disabled");
        assert_eq!(
            serde_json::to_value(&d).unwrap(),
            json!({
                "DeliveryStreamName": "ds",
                "DeliveryStreamARN": "arn:aws:firehose:us-east-1:123456789012:deliverystream/ds",
                "DeliveryStreamStatus": "ACTIVE",
                "DeliveryStreamEncryptionConfiguration": {"Status": "DISABLED"},
                "DeliveryStreamType": "DirectPut",
                "VersionId": "3",
                "CreateTimestamp": 1_700_000_000,
                "LastUpdateTimestamp": 1_700_000_500.5,
                "Source": {"DirectPutSourceDescription": {}},
                "Destinations": [{
                    "DestinationId": "destinationId-000000000001",
                    "S3DestinationDescription": common,
                    "ExtendedS3DestinationDescription": extended
                }],
                "HasMoreDestinations": false
            })
        );
    }

    #[test]
    fn extended_s3_echoes_what_was_given() {
        let mut c = bare_extended();
        c.prefix = Some("p/!{timestamp:yyyy}/".into());
        c.error_output_prefix = Some("e/!{firehose:error-output-type}/".into());
        c.buffering_hints = Some(api::BufferingHints {
            size_in_m_bs: Some(64),
            interval_in_seconds: None,
        });
        c.compression_format = Some("GZIP".into());
        c.processing_configuration = Some(api::ProcessingConfiguration {
            enabled: Some(true),
            processors: Some(vec![api::Processor {
                r#type: "AppendDelimiterToRecord".into(),
                parameters: None,
            }]),
        });
        c.s3_backup_mode = Some("Enabled".into());
        c.s3_backup_configuration = Some(api::S3DestinationConfiguration {
            role_arn: "arn:aws:iam::123456789012:role/r".into(),
            bucket_arn: "arn:aws:s3:::backup".into(),
            ..Default::default()
        });
        c.file_extension = Some(".json.gz".into());
        let v = serde_json::to_value(extended_s3(&c)).unwrap();
        assert_eq!(v["Prefix"], "p/!{timestamp:yyyy}/");
        assert_eq!(v["ErrorOutputPrefix"], "e/!{firehose:error-output-type}/");
        assert_eq!(
            v["BufferingHints"],
            json!({"SizeInMBs": 64, "IntervalInSeconds": 300})
        );
        assert_eq!(v["CompressionFormat"], "GZIP");
        assert_eq!(
            v["ProcessingConfiguration"],
            json!({"Enabled": true, "Processors": [{"Type": "AppendDelimiterToRecord"}]})
        );
        assert_eq!(v["S3BackupMode"], "Enabled");
        assert_eq!(v["S3BackupDescription"]["BucketARN"], "arn:aws:s3:::backup");
        assert_eq!(
            v["S3BackupDescription"]["BufferingHints"],
            json!({"SizeInMBs": 5, "IntervalInSeconds": 300})
        );
        assert_eq!(v["FileExtension"], ".json.gz");
    }

    #[test]
    fn legacy_s3_is_described_in_both_shapes() {
        let c = api::S3DestinationConfiguration {
            role_arn: "arn:aws:iam::123456789012:role/r".into(),
            bucket_arn: "arn:aws:s3:::b".into(),
            compression_format: Some("Snappy".into()),
            ..Default::default()
        };
        let d = destination(
            "destinationId-000000000001",
            &DestinationConfig::S3(Box::new(c)),
        );
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["S3DestinationDescription"]["CompressionFormat"], "Snappy");
        assert_eq!(
            v["ExtendedS3DestinationDescription"]["CompressionFormat"],
            "Snappy"
        );
        assert_eq!(
            v["ExtendedS3DestinationDescription"]["S3BackupMode"],
            "Disabled"
        );
        assert!(v.get("HttpEndpointDestinationDescription").is_none());
    }

    #[test]
    fn http_endpoint_golden_never_shows_the_access_key() {
        let c = api::HttpEndpointDestinationConfiguration {
            endpoint_configuration: api::HttpEndpointConfiguration {
                url: "http://127.0.0.1:9000/in".into(),
                name: Some("local".into()),
                access_key: Some("s3cr3t".into()),
            },
            s3_configuration: api::S3DestinationConfiguration {
                role_arn: "arn:aws:iam::123456789012:role/r".into(),
                bucket_arn: "arn:aws:s3:::b".into(),
                ..Default::default()
            },
            ..Default::default()
        };
        let d = description(
            &meta(DestinationConfig::HttpEndpoint(Box::new(c))),
            Some(1),
            None,
        );
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(
            v["Destinations"][0],
            json!({
                "DestinationId": "destinationId-000000000001",
                "HttpEndpointDestinationDescription": {
                    "EndpointConfiguration": {"Url": "http://127.0.0.1:9000/in", "Name": "local"},
                    "BufferingHints": {"SizeInMBs": 5, "IntervalInSeconds": 300},
                    "CloudWatchLoggingOptions": {"Enabled": false},
                    "RequestConfiguration": {"ContentEncoding": "NONE"},
                    "RetryOptions": {"DurationInSeconds": 300},
                    "S3BackupMode": "FailedDataOnly",
                    "S3DestinationDescription": {
                        "RoleARN": "arn:aws:iam::123456789012:role/r",
                        "BucketARN": "arn:aws:s3:::b",
                        "BufferingHints": {"SizeInMBs": 5, "IntervalInSeconds": 300},
                        "CompressionFormat": "UNCOMPRESSED",
                        "EncryptionConfiguration": {"NoEncryptionConfig": "NoEncryption"},
                        "CloudWatchLoggingOptions": {"Enabled": false}
                    }
                }
            })
        );
        assert!(!v.to_string().contains("s3cr3t"));
        assert!(!v.to_string().contains("AccessKey"));
    }

    #[test]
    fn kinesis_source_encryption_and_failure() {
        let mut m = meta(DestinationConfig::ExtendedS3(Box::new(bare_extended())));
        m.delivery_stream_type = "KinesisStreamAsSource".into();
        m.kinesis_source = Some(api::KinesisStreamSourceConfiguration {
            kinesis_stream_arn: "arn:aws:kinesis:us-east-1:123456789012:stream/s".into(),
            role_arn: "arn:aws:iam::123456789012:role/r".into(),
        });
        m.source_start_ms = Some(1_700_000_001_000);
        m.encryption = Some(EncryptionState {
            status: "ENABLED".into(),
            key_type: Some("CUSTOMER_MANAGED_CMK".into()),
            key_arn: Some("arn:aws:kms:us-east-1:123456789012:key/k".into()),
        });
        m.failure = Some(api::FailureDescription {
            r#type: "S3_ERROR".into(),
            details: "Access denied".into(),
        });
        m.status = Status::Creating;
        let v = serde_json::to_value(description(&m, None, None)).unwrap();
        assert_eq!(
            v["Source"],
            json!({"KinesisStreamSourceDescription": {
                "KinesisStreamARN": "arn:aws:kinesis:us-east-1:123456789012:stream/s",
                "RoleARN": "arn:aws:iam::123456789012:role/r",
                "DeliveryStartTimestamp": 1_700_000_001
            }})
        );
        assert_eq!(
            v["DeliveryStreamEncryptionConfiguration"],
            json!({"KeyARN": "arn:aws:kms:us-east-1:123456789012:key/k",
                   "KeyType": "CUSTOMER_MANAGED_CMK", "Status": "ENABLED"})
        );
        assert_eq!(
            v["FailureDescription"],
            json!({"Type": "S3_ERROR", "Details": "Access denied"})
        );
        assert_eq!(v["DeliveryStreamStatus"], "CREATING");
        assert!(v.get("LastUpdateTimestamp").is_some());
    }

    #[test]
    fn exclusive_start_at_the_destination_leaves_none() {
        let m = meta(DestinationConfig::ExtendedS3(Box::new(bare_extended())));
        let d = description(&m, Some(1), Some("destinationId-000000000001"));
        assert!(d.destinations.is_empty());
        assert!(!d.has_more_destinations);
        let d = description(&m, Some(1), Some("destinationId-000000000000"));
        assert_eq!(d.destinations.len(), 1);
        assert!(!d.has_more_destinations);
    }
}
