//! CreateDeliveryStream's rules: each test asserts the error kind and text.

use super::*;
use serde_json::json;

const ROLE: &str = "arn:aws:iam::123456789012:role/firehose";

/// A request from its wire JSON, as the edge would decode it.
fn input(v: serde_json::Value) -> api::CreateDeliveryStreamInput {
    serde_json::from_value(v).unwrap()
}

fn ext_s3() -> serde_json::Value {
    json!({"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::bucket"})
}

fn with_ext(ext: serde_json::Value) -> api::CreateDeliveryStreamInput {
    input(json!({"DeliveryStreamName": "ds", "ExtendedS3DestinationConfiguration": ext}))
}

fn invalid_message(r: Result<Plan, FirehoseError>) -> String {
    match r {
        Err(FirehoseError::InvalidArgument(m)) => m,
        other => panic!("expected InvalidArgumentException, got {other:?}"),
    }
}

fn with_processors(procs: serde_json::Value) -> api::CreateDeliveryStreamInput {
    let mut e = ext_s3();
    e["ProcessingConfiguration"] = json!({"Enabled": true, "Processors": procs});
    with_ext(e)
}

#[test]
fn minimal_direct_put_plan() {
    let plan = create(&with_ext(ext_s3())).unwrap();
    assert_eq!(plan.delivery_stream_type, "DirectPut");
    assert!(plan.kinesis_source.is_none());
    assert!(plan.encryption.is_none());
    assert!(plan.tags.is_empty());
    let DestinationConfig::ExtendedS3(c) = &plan.destination else {
        panic!("{:?}", plan.destination)
    };
    assert_eq!(c.bucket_arn, "arn:aws:s3:::bucket");
}

#[test]
fn legacy_s3_and_http_endpoint_destinations_are_kept_as_given() {
    let plan = create(&input(json!({
        "DeliveryStreamName": "ds",
        "S3DestinationConfiguration": ext_s3()
    })))
    .unwrap();
    assert!(matches!(plan.destination, DestinationConfig::S3(_)));
    let plan = create(&input(json!({
        "DeliveryStreamName": "ds",
        "HttpEndpointDestinationConfiguration": {
            "EndpointConfiguration": {"Url": "http://localhost:8080/ingest", "AccessKey": "k"},
            "S3Configuration": ext_s3()
        }
    })))
    .unwrap();
    let DestinationConfig::HttpEndpoint(h) = &plan.destination else {
        panic!()
    };
    assert_eq!(h.endpoint_configuration.access_key.as_deref(), Some("k"));
}

#[test]
fn exactly_one_destination() {
    let msg = "Exactly one destination configuration is supported for a Firehose";
    assert_eq!(
        invalid_message(create(&input(json!({"DeliveryStreamName": "ds"})))),
        msg
    );
    assert_eq!(
        invalid_message(create(&input(json!({
            "DeliveryStreamName": "ds",
            "S3DestinationConfiguration": ext_s3(),
            "ExtendedS3DestinationConfiguration": ext_s3()
        })))),
        msg
    );
}

#[test]
fn every_served_destination_maps_to_its_variant() {
    let cases = [
        (
            "RedshiftDestinationConfiguration",
            json!({"RoleARN": ROLE, "ClusterJDBCURL": "jdbc:redshift://c.x.redshift.amazonaws.com:5439/db",
                   "CopyCommand": {"DataTableName": "t"}, "S3Configuration": ext_s3()}),
        ),
        (
            "SplunkDestinationConfiguration",
            json!({"HECEndpoint": "https://h", "HECEndpointType": "Raw", "S3Configuration": ext_s3()}),
        ),
        (
            "AmazonopensearchserviceDestinationConfiguration",
            json!({"RoleARN": ROLE, "IndexName": "i", "S3Configuration": ext_s3()}),
        ),
    ];
    for (member, config) in cases {
        let mut v = json!({"DeliveryStreamName": "ds"});
        v[member] = config;
        let plan = create(&input(v)).unwrap();
        let variant = match plan.destination {
            DestinationConfig::Redshift(_) => "RedshiftDestinationConfiguration",
            DestinationConfig::Splunk(_) => "SplunkDestinationConfiguration",
            DestinationConfig::OpenSearch(_) => "AmazonopensearchserviceDestinationConfiguration",
            _ => "other",
        };
        assert_eq!(variant, member);
    }
}

#[test]
fn kinesis_source_rules() {
    let source = json!({"KinesisStreamARN": "arn:aws:kinesis:us-east-1:123456789012:stream/s", "RoleARN": ROLE});
    let plan = create(&input(json!({
        "DeliveryStreamName": "ds",
        "DeliveryStreamType": "KinesisStreamAsSource",
        "KinesisStreamSourceConfiguration": source,
        "ExtendedS3DestinationConfiguration": ext_s3()
    })))
    .unwrap();
    assert_eq!(plan.delivery_stream_type, "KinesisStreamAsSource");
    assert_eq!(
        plan.kinesis_source.unwrap().kinesis_stream_arn,
        "arn:aws:kinesis:us-east-1:123456789012:stream/s"
    );

    assert_eq!(
        invalid_message(create(&input(json!({
            "DeliveryStreamName": "ds",
            "DeliveryStreamType": "KinesisStreamAsSource",
            "ExtendedS3DestinationConfiguration": ext_s3()
        })))),
        "KinesisSourceStreamConfig is mandatory for KinesisStreamAsSource stream type."
    );
    // DirectPut is the default type.
    assert_eq!(
        invalid_message(create(&input(json!({
            "DeliveryStreamName": "ds",
            "KinesisStreamSourceConfiguration": source,
            "ExtendedS3DestinationConfiguration": ext_s3()
        })))),
        "KinesisSourceStreamConfig is only applicable for KinesisStreamAsSource stream type"
    );
    assert_eq!(
        invalid_message(create(&input(json!({
            "DeliveryStreamName": "ds",
            "DeliveryStreamType": "KinesisStreamAsSource",
            "KinesisStreamSourceConfiguration": source,
            "DirectPutSourceConfiguration": {"ThroughputHintInMBs": 5},
            "ExtendedS3DestinationConfiguration": ext_s3()
        })))),
        "DirectPutSourceConfiguration is only applicable for DirectPut stream type"
    );
}

#[test]
fn other_sources_name_what_riffle_supports() {
    for t in ["MSKAsSource", "DatabaseAsSource"] {
        assert_eq!(
            invalid_message(create(&input(json!({
                "DeliveryStreamName": "ds",
                "DeliveryStreamType": t,
                "ExtendedS3DestinationConfiguration": ext_s3()
            })))),
            format!("DeliveryStreamType {t} is not supported: Riffle supports the DirectPut and KinesisStreamAsSource delivery stream types for now.")
        );
    }
    assert_eq!(
        invalid_message(create(&input(json!({
            "DeliveryStreamName": "ds",
            "MSKSourceConfiguration": {"MSKClusterARN": "arn:aws:kafka:x", "TopicName": "t",
                "AuthenticationConfiguration": {"RoleARN": ROLE, "Connectivity": "PUBLIC"}},
            "ExtendedS3DestinationConfiguration": ext_s3()
        })))),
        "DeliveryStreamType MSKAsSource is not supported: Riffle supports the DirectPut and KinesisStreamAsSource delivery stream types for now."
    );
}

#[test]
fn encryption_input_rules() {
    let mut v = json!({"DeliveryStreamName": "ds", "ExtendedS3DestinationConfiguration": ext_s3()});
    v["DeliveryStreamEncryptionConfigurationInput"] = json!({"KeyType": "CUSTOMER_MANAGED_CMK"});
    assert_eq!(
        invalid_message(create(&input(v.clone()))),
        "KeyARN has to be specified when KeyType is CUSTOMER_MANAGED_CMK"
    );
    v["DeliveryStreamEncryptionConfigurationInput"] =
        json!({"KeyType": "AWS_OWNED_CMK", "KeyARN": "arn:aws:kms:us-east-1:123456789012:key/k"});
    assert_eq!(
        invalid_message(create(&input(v.clone()))),
        "KeyARN cannot be specified when KeyType is AWS_OWNED_CMK"
    );
    v["DeliveryStreamEncryptionConfigurationInput"] = json!({"KeyType": "CUSTOMER_MANAGED_CMK", "KeyARN": "arn:aws:kms:us-east-1:123456789012:key/k"});
    let plan = create(&input(v.clone())).unwrap();
    assert_eq!(
        plan.encryption,
        Some(EncryptionState {
            status: "ENABLED".into(),
            key_type: Some("CUSTOMER_MANAGED_CMK".into()),
            key_arn: Some("arn:aws:kms:us-east-1:123456789012:key/k".into()),
        })
    );
    v["DeliveryStreamEncryptionConfigurationInput"] = json!({"KeyType": "AWS_OWNED_CMK"});
    v["DeliveryStreamType"] = json!("KinesisStreamAsSource");
    v["KinesisStreamSourceConfiguration"] = json!({"KinesisStreamARN": "arn:aws:kinesis:us-east-1:123456789012:stream/s", "RoleARN": ROLE});
    assert_eq!(
        invalid_message(create(&input(v))),
        "Server side encryption from firehose is only allowed for direct put delivery streams and database as a source delivery streams"
    );
}

#[test]
fn tag_rules() {
    let mut v = json!({"DeliveryStreamName": "ds", "ExtendedS3DestinationConfiguration": ext_s3()});
    v["Tags"] = json!([{"Key": "a", "Value": "1"}, {"Key": "b"}]);
    assert_eq!(create(&input(v.clone())).unwrap().tags.len(), 2);
    v["Tags"] = json!([{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]);
    assert_eq!(
        invalid_message(create(&input(v.clone()))),
        "Duplicate tag key a given."
    );
    v["Tags"] = json!([{"Key": "aws:x"}]);
    assert_eq!(
        invalid_message(create(&input(v.clone()))),
        "Tag key aws:x is not allowed: keys starting with aws: are reserved."
    );
    let many: Vec<_> = (0..51).map(|i| json!({"Key": format!("k{i}")})).collect();
    v["Tags"] = json!(many);
    assert_eq!(
        invalid_message(create(&input(v))),
        "A delivery stream can have at most 50 tags; 51 were given."
    );
}

#[test]
fn lone_buffering_hint_is_accepted() {
    let mut e = ext_s3();
    e["BufferingHints"] = json!({"SizeInMBs": 1});
    create(&with_ext(e)).unwrap();
}

#[test]
fn s3_encryption_configuration_is_one_of_two() {
    let mut e = ext_s3();
    e["EncryptionConfiguration"] = json!({"NoEncryptionConfig": "NoEncryption",
        "KMSEncryptionConfig": {"AWSKMSKeyARN": "arn:aws:kms:us-east-1:123456789012:key/k"}});
    let msg = "Exactly one of NoEncryptionConfig or KMSEncryptionConfig must be specified";
    assert_eq!(invalid_message(create(&with_ext(e.clone()))), msg);
    e["EncryptionConfiguration"] = json!({});
    assert_eq!(invalid_message(create(&with_ext(e))), msg);
}

#[test]
fn prefixes_are_checked_on_every_s3_configuration() {
    let mut e = ext_s3();
    e["Prefix"] = json!("!{timestamp:yyyy}/");
    assert_eq!(
        invalid_message(create(&with_ext(e))),
        "Ths supplied prefix(es) do not satisfy the following constraint: ErrorOutputPrefix cannot be null or empty when Prefix contains expressions"
    );
    let mut e = ext_s3();
    e["S3BackupMode"] = json!("Enabled");
    e["S3BackupConfiguration"] =
        json!({"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::b", "Prefix": "!{nope:x}"});
    assert_eq!(
        invalid_message(create(&with_ext(e))),
        "Namespace to the left of colon (nope) is an invalid keyword!"
    );
    let mut e = ext_s3();
    e["Prefix"] = json!("id=!{partitionKeyFromQuery:id}/");
    e["ErrorOutputPrefix"] = json!("!{firehose:error-output-type}/");
    assert_eq!(
        invalid_message(create(&with_ext(e))),
        "Dynamic Partitioning Namespaces can only be used when Dynamic Partitioning is enabled"
    );
}

#[test]
fn backup_mode_enabled_needs_a_backup_configuration() {
    let mut e = ext_s3();
    e["S3BackupMode"] = json!("Enabled");
    assert_eq!(
        invalid_message(create(&with_ext(e))),
        "S3 backup destination configuration is required when enabling S3 backup."
    );
}

#[test]
fn lambda_processor_parameters() {
    let lambda = |params: serde_json::Value| json!([{"Type": "Lambda", "Parameters": params}]);
    let arn = json!({"ParameterName": "LambdaArn", "ParameterValue": "arn:aws:lambda:us-east-1:123456789012:function:f"});
    create(&with_processors(lambda(json!([arn.clone()])))).unwrap();
    create(&with_processors(lambda(json!([arn.clone(),
        {"ParameterName": "NumberOfRetries", "ParameterValue": "3"},
        {"ParameterName": "BufferSizeInMBs", "ParameterValue": "0.5"},
        {"ParameterName": "BufferIntervalInSeconds", "ParameterValue": "60"}]))))
    .unwrap();

    let cases = [
        (json!([]), "LambdaArn is required when Lambda processor is used."),
        (
            json!([arn.clone(), {"ParameterName": "NumberOfRetries", "ParameterValue": "301"}]),
            "Number of retries for lambda must be between 0 and 300.",
        ),
        (
            json!([arn.clone(), {"ParameterName": "BufferSizeInMBs", "ParameterValue": "1"}]),
            "Both BufferSizeInMBs and BufferIntervalInSeconds are required to configure buffering for lambda processor.",
        ),
        (
            json!([arn.clone(), {"ParameterName": "BufferSizeInMBs", "ParameterValue": "0.1"},
                   {"ParameterName": "BufferIntervalInSeconds", "ParameterValue": "60"}]),
            "BufferSizeInMBs for lambda processor must be between 0.2 and 3.",
        ),
        (
            json!([arn.clone(), {"ParameterName": "BufferSizeInMBs", "ParameterValue": "1"},
                   {"ParameterName": "BufferIntervalInSeconds", "ParameterValue": "901"}]),
            "BufferIntervalInSeconds for lambda processor must be between 0 and 900.",
        ),
    ];
    for (params, msg) in cases {
        assert_eq!(
            invalid_message(create(&with_processors(lambda(params)))),
            msg
        );
    }
    let two = json!([{"Type": "Lambda", "Parameters": [arn.clone()]}, {"Type": "Lambda", "Parameters": [arn]}]);
    assert_eq!(
        invalid_message(create(&with_processors(two))),
        "Cannot have more than 1 Lambda processor."
    );
}

#[test]
fn processor_count_and_types() {
    let msg = "A maximum of 5 and a minimum of 1 processor needs to be supplied when processing is enabled.";
    assert_eq!(invalid_message(create(&with_processors(json!([])))), msg);
    let six: Vec<_> = (0..6)
        .map(|_| json!({"Type": "AppendDelimiterToRecord"}))
        .collect();
    assert_eq!(invalid_message(create(&with_processors(json!(six)))), msg);
    for t in [
        "Decompression",
        "CloudWatchLogProcessing",
        "MetadataExtraction",
    ] {
        assert_eq!(
            invalid_message(create(&with_processors(json!([{"Type": t}])))),
            format!("Processor type {t} is not supported: Riffle supports the Lambda, RecordDeAggregation and AppendDelimiterToRecord processors for now.")
        );
    }
    // Disabled processing does not run them, so Riffle keeps them.
    let mut e = ext_s3();
    e["ProcessingConfiguration"] =
        json!({"Enabled": false, "Processors": [{"Type": "Decompression"}]});
    create(&with_ext(e)).unwrap();
}

#[test]
fn deaggregation_parameters() {
    let deagg =
        |params: serde_json::Value| json!([{"Type": "RecordDeAggregation", "Parameters": params}]);
    create(&with_processors(deagg(
        json!([{"ParameterName": "SubRecordType", "ParameterValue": "JSON"}]),
    )))
    .unwrap();
    assert_eq!(
        invalid_message(create(&with_processors(deagg(json!([
            {"ParameterName": "SubRecordType", "ParameterValue": "CSV"}]))))),
        "SubRecordType has to be one of JSON, DELIMITED"
    );
    assert_eq!(
        invalid_message(create(&with_processors(deagg(json!([
            {"ParameterName": "SubRecordType", "ParameterValue": "DELIMITED"}]))))),
        "Delimiter should be present for DELIMITED"
    );
}

fn http(url: &str) -> api::CreateDeliveryStreamInput {
    input(json!({
        "DeliveryStreamName": "ds",
        "HttpEndpointDestinationConfiguration": {
            "EndpointConfiguration": {"Url": url},
            "S3Configuration": ext_s3()
        }
    }))
}

#[test]
fn http_endpoint_url_may_be_http_or_https() {
    create(&http("https://example.com/ingest")).unwrap();
    create(&http("http://127.0.0.1:8080")).unwrap();
    for bad in [
        "ftp://example.com/",
        "http://",
        "not a url",
        "/relative/path",
    ] {
        assert_eq!(
            invalid_message(create(&http(bad))),
            "EndpointConfiguration.Url must be an absolute http:// or https:// URL with a host.",
            "{bad}"
        );
    }
}

#[test]
fn http_endpoint_common_attribute_names_are_unique() {
    let v = json!({
        "DeliveryStreamName": "ds",
        "HttpEndpointDestinationConfiguration": {
            "EndpointConfiguration": {"Url": "https://example.com"},
            "RequestConfiguration": {"CommonAttributes": [
                {"AttributeName": "env", "AttributeValue": "a"},
                {"AttributeName": "env", "AttributeValue": "b"}]},
            "S3Configuration": ext_s3()
        }
    });
    assert_eq!(
        invalid_message(create(&input(v))),
        "Http Endpoint Common Attributes have duplicate name env"
    );
}

#[test]
fn http_endpoint_s3_configuration_is_checked() {
    let v = json!({
        "DeliveryStreamName": "ds",
        "HttpEndpointDestinationConfiguration": {
            "EndpointConfiguration": {"Url": "https://example.com"},
            "S3Configuration": {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::b",
                "ErrorOutputPrefix": "errors/!{timestamp:yyyy}/"}
        }
    });
    assert_eq!(
        invalid_message(create(&input(v))),
        "Ths supplied prefix(es) do not satisfy the following constraint: ErrorOutputPrefix must contain at least one occurrence of !{firehose:error-output-type}"
    );
}
