//! UpdateDestination: version and destination checks, merge semantics.

use super::*;
use crate::meta::Status;
use serde_json::json;

const ROLE: &str = "arn:aws:iam::123456789012:role/firehose";

fn meta(destination: serde_json::Value) -> DeliveryStreamMeta {
    let destination = if let Some(c) = destination.get("ExtendedS3") {
        DestinationConfig::ExtendedS3(Box::new(serde_json::from_value(c.clone()).unwrap()))
    } else if let Some(c) = destination.get("S3") {
        DestinationConfig::S3(Box::new(serde_json::from_value(c.clone()).unwrap()))
    } else {
        DestinationConfig::HttpEndpoint(Box::new(
            serde_json::from_value(destination["HttpEndpoint"].clone()).unwrap(),
        ))
    };
    DeliveryStreamMeta {
        name: "ds".into(),
        uid: "u".into(),
        arn: "arn:aws:firehose:us-east-1:123456789012:deliverystream/ds".into(),
        status: Status::Active,
        transition_deadline_ms: None,
        delivery_stream_type: "DirectPut".into(),
        version_id: 2,
        create_ms: 0,
        last_update_ms: None,
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

fn ext_meta() -> DeliveryStreamMeta {
    meta(json!({"ExtendedS3": {
        "RoleARN": ROLE,
        "BucketARN": "arn:aws:s3:::old",
        "Prefix": "data/",
        "BufferingHints": {"SizeInMBs": 10, "IntervalInSeconds": 60},
        "CompressionFormat": "GZIP",
        "FileExtension": ".gz"
    }}))
}

fn req(update: serde_json::Value) -> api::UpdateDestinationInput {
    let mut v = json!({
        "DeliveryStreamName": "ds",
        "CurrentDeliveryStreamVersionId": "2",
        "DestinationId": "destinationId-000000000001"
    });
    for (k, x) in update.as_object().unwrap() {
        v[k] = x.clone();
    }
    serde_json::from_value(v).unwrap()
}

fn invalid_message(r: Result<DestinationConfig, FirehoseError>) -> String {
    match r {
        Err(FirehoseError::InvalidArgument(m)) => m,
        other => panic!("expected InvalidArgumentException, got {other:?}"),
    }
}

fn as_json(d: &DestinationConfig) -> serde_json::Value {
    serde_json::to_value(d).unwrap()
}

#[test]
fn stale_version_is_a_concurrent_modification() {
    let mut r = req(json!({"ExtendedS3DestinationUpdate": {"Prefix": "x/"}}));
    r.current_delivery_stream_version_id = "1".into();
    match update(&ext_meta(), &r) {
        Err(FirehoseError::ConcurrentModification(m)) => assert_eq!(
            m,
            "Cannot update firehose: ds since the current version id: 2 and specified version id: 1 do not match"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_destination_id() {
    let mut r = req(json!({"ExtendedS3DestinationUpdate": {"Prefix": "x/"}}));
    r.destination_id = "destinationId-000000000002".into();
    assert_eq!(
        invalid_message(update(&ext_meta(), &r)),
        "Destination Id destinationId-000000000002 not found"
    );
}

#[test]
fn exactly_one_update_of_a_served_destination() {
    assert_eq!(
        invalid_message(update(&ext_meta(), &req(json!({})))),
        "Exactly one destination configuration is supported for a Firehose"
    );
    assert_eq!(
        invalid_message(update(
            &ext_meta(),
            &req(json!({"S3DestinationUpdate": {}, "ExtendedS3DestinationUpdate": {}}))
        )),
        "Exactly one destination configuration is supported for a Firehose"
    );
    assert_eq!(
        invalid_message(update(
            &ext_meta(),
            &req(json!({"SplunkDestinationUpdate": {"HECEndpoint": "https://h"}}))
        )),
        "SplunkDestinationUpdate is not supported: Riffle supports ExtendedS3, S3, HttpEndpoint, Redshift, Elasticsearch, AmazonOpenSearchService, AmazonOpenSearchServerless and Splunk destinations."
    );
}

#[test]
fn extended_update_merges_member_by_member() {
    let merged = update(
        &ext_meta(),
        &req(json!({"ExtendedS3DestinationUpdate": {
            "BucketARN": "arn:aws:s3:::new",
            "BufferingHints": {"SizeInMBs": 64}
        }})),
    )
    .unwrap();
    assert_eq!(
        as_json(&merged),
        json!({"ExtendedS3": {
            "RoleARN": ROLE,
            "BucketARN": "arn:aws:s3:::new",
            "Prefix": "data/",
            "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 60},
            "CompressionFormat": "GZIP",
            "FileExtension": ".gz"
        }})
    );
}

#[test]
fn s3_update_on_extended_updates_the_common_members() {
    let mut m = ext_meta();
    if let DestinationConfig::ExtendedS3(c) = &mut m.destination {
        c.processing_configuration = Some(api::ProcessingConfiguration {
            enabled: Some(true),
            processors: Some(vec![api::Processor {
                r#type: "AppendDelimiterToRecord".into(),
                parameters: None,
            }]),
        });
    }
    let merged = update(
        &m,
        &req(json!({"S3DestinationUpdate": {"CompressionFormat": "Snappy", "Prefix": "p/"}})),
    )
    .unwrap();
    let DestinationConfig::ExtendedS3(c) = &merged else {
        panic!("{merged:?}")
    };
    assert_eq!(c.compression_format.as_deref(), Some("Snappy"));
    assert_eq!(c.prefix.as_deref(), Some("p/"));
    assert_eq!(c.bucket_arn, "arn:aws:s3:::old");
    assert!(
        c.processing_configuration.is_some(),
        "extended members are kept"
    );
    assert_eq!(c.file_extension.as_deref(), Some(".gz"));
}

#[test]
fn extended_update_on_legacy_s3_makes_it_extended() {
    let m = meta(json!({"S3": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::b", "Prefix": "old/"}}));
    let merged = update(
        &m,
        &req(json!({"ExtendedS3DestinationUpdate": {"FileExtension": ".log"}})),
    )
    .unwrap();
    assert_eq!(
        as_json(&merged),
        json!({"ExtendedS3": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::b",
                              "Prefix": "old/", "FileExtension": ".log"}})
    );
    // And an S3 update keeps it legacy.
    let merged = update(&m, &req(json!({"S3DestinationUpdate": {"Prefix": "new/"}}))).unwrap();
    assert_eq!(
        as_json(&merged),
        json!({"S3": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::b", "Prefix": "new/"}})
    );
}

#[test]
fn merged_result_is_checked_like_create() {
    assert_eq!(
        invalid_message(update(
            &ext_meta(),
            &req(json!({"ExtendedS3DestinationUpdate": {"Prefix": "!{timestamp:yyyy}/"}}))
        )),
        "Ths supplied prefix(es) do not satisfy the following constraint: ErrorOutputPrefix cannot be null or empty when Prefix contains expressions"
    );
    // The stored error prefix counts: given once, it need not be repeated.
    let mut m = ext_meta();
    if let DestinationConfig::ExtendedS3(c) = &mut m.destination {
        c.error_output_prefix = Some("e/!{firehose:error-output-type}/".into());
    }
    update(
        &m,
        &req(json!({"ExtendedS3DestinationUpdate": {"Prefix": "!{timestamp:yyyy}/"}})),
    )
    .unwrap();
    assert_eq!(
        invalid_message(update(
            &ext_meta(),
            &req(json!({"ExtendedS3DestinationUpdate": {"S3BackupMode": "Enabled"}}))
        )),
        "S3 backup destination configuration is required when enabling S3 backup."
    );
}

#[test]
fn backup_can_be_enabled_but_not_disabled() {
    let merged = update(
        &ext_meta(),
        &req(json!({"ExtendedS3DestinationUpdate": {
            "S3BackupMode": "Enabled",
            "S3BackupUpdate": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::backup", "Prefix": "raw/"}
        }})),
    )
    .unwrap();
    let DestinationConfig::ExtendedS3(c) = &merged else {
        panic!()
    };
    let backup = c.s3_backup_configuration.as_ref().unwrap();
    assert_eq!(backup.bucket_arn, "arn:aws:s3:::backup");
    assert_eq!(backup.prefix.as_deref(), Some("raw/"));

    let mut m = ext_meta();
    m.destination = merged;
    // A later backup update merges into the existing backup configuration.
    let again = update(
        &m,
        &req(json!({"ExtendedS3DestinationUpdate": {"S3BackupUpdate": {"Prefix": "raw2/"}}})),
    )
    .unwrap();
    let DestinationConfig::ExtendedS3(c) = &again else {
        panic!()
    };
    let backup = c.s3_backup_configuration.as_ref().unwrap();
    assert_eq!(backup.bucket_arn, "arn:aws:s3:::backup");
    assert_eq!(backup.prefix.as_deref(), Some("raw2/"));

    assert_eq!(
        invalid_message(update(
            &m,
            &req(json!({"ExtendedS3DestinationUpdate": {"S3BackupMode": "Disabled"}}))
        )),
        "S3BackupMode cannot be disabled once it is enabled."
    );
    assert_eq!(
        invalid_message(update(
            &ext_meta(),
            &req(json!({"ExtendedS3DestinationUpdate": {"S3BackupUpdate": {"Prefix": "raw/"}}}))
        )),
        "S3BackupUpdate must give RoleARN and BucketARN when the destination has no S3 backup configuration yet."
    );
}

fn http_meta() -> DeliveryStreamMeta {
    meta(json!({"HttpEndpoint": {
        "EndpointConfiguration": {"Url": "https://old.example.com", "Name": "n", "AccessKey": "k1"},
        "RetryOptions": {"DurationInSeconds": 60},
        "S3Configuration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::b"}
    }}))
}

#[test]
fn http_update_keeps_the_access_key_unless_given() {
    let merged = update(
        &http_meta(),
        &req(json!({"HttpEndpointDestinationUpdate": {
            "EndpointConfiguration": {"Url": "http://127.0.0.1:9000/in"},
            "S3Update": {"ErrorOutputPrefix": "failed/"}
        }})),
    )
    .unwrap();
    assert_eq!(
        as_json(&merged),
        json!({"HttpEndpoint": {
            "EndpointConfiguration": {"Url": "http://127.0.0.1:9000/in", "Name": "n", "AccessKey": "k1"},
            "RetryOptions": {"DurationInSeconds": 60},
            "S3Configuration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::b", "ErrorOutputPrefix": "failed/"}
        }})
    );
    assert_eq!(
        invalid_message(update(
            &http_meta(),
            &req(
                json!({"HttpEndpointDestinationUpdate": {"EndpointConfiguration": {"Url": "ftp://x"}}})
            )
        )),
        "EndpointConfiguration.Url must be an absolute http:// or https:// URL with a host."
    );
}

#[test]
fn changing_to_or_from_http_endpoint_is_refused() {
    let msg =
        "Changing the destination type to or from HttpEndpoint is not supported at this time.";
    assert_eq!(
        invalid_message(update(
            &http_meta(),
            &req(json!({"ExtendedS3DestinationUpdate": {"Prefix": "p/"}}))
        )),
        msg
    );
    assert_eq!(
        invalid_message(update(
            &ext_meta(),
            &req(json!({"HttpEndpointDestinationUpdate": {"RoleARN": ROLE}}))
        )),
        msg
    );
}
