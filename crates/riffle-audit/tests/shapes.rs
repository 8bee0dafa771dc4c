//! Serialized events have the member names and JSON types of the CloudTrail
//! samples in shared/reference/aws-security-and-clients.md §3.4.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use riffle_audit::TlsDetails;
use serde_json::{json, Map, Value};

/// The reference's data-event sample (Kinesis PutRecord).
const DATA_SAMPLE: &str = r#"{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLE:producer","arn":"arn:aws:sts::111122223333:assumed-role/Producer/producer","accountId":"111122223333","accessKeyId":"ASIAEXAMPLE","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROAEXAMPLE","arn":"arn:aws:iam::111122223333:role/Producer","accountId":"111122223333","userName":"Producer"},"attributes":{"creationDate":"2024-05-01T11:58:00Z","mfaAuthenticated":"false"}}},
 "eventTime":"2024-05-01T12:00:00Z","eventSource":"kinesis.amazonaws.com","eventName":"PutRecord","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.10","userAgent":"aws-sdk-java/2.25.0 Linux/6.1",
 "requestParameters":{"streamName":"orders","partitionKey":"p-1"},"responseElements":null,"requestID":"c1e6d2a8-8b2f-4a1e-9d0a-3f2b7c6e5d41","eventID":"0f5a9e22-64a0-4d5c-9a3b-2f6e8d1c7b90","readOnly":false,
 "resources":[{"accountId":"111122223333","type":"AWS::Kinesis::Stream","ARN":"arn:aws:kinesis:us-east-1:111122223333:stream/orders"}],
 "eventType":"AwsApiCall","managementEvent":false,"recipientAccountId":"111122223333","eventCategory":"Data",
 "tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"kinesis.us-east-1.amazonaws.com"}}"#;

/// The reference's management-event sample (Kinesis CreateStream).
const MGMT_SAMPLE: &str = r#"{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::111122223333:user/Alice","accountId":"111122223333","accessKeyId":"AKIAEXAMPLE","userName":"Alice"},
 "eventTime":"2024-05-01T12:00:05Z","eventSource":"kinesis.amazonaws.com","eventName":"CreateStream","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.10","userAgent":"aws-cli/2.15.0",
 "requestParameters":{"streamName":"orders","shardCount":1},"responseElements":null,"requestID":"db6c59f8-c757-11e3-bc3b-57923b443c1c","eventID":"b7acfcd0-6ca9-4ee1-a3d7-c4e8d420d99b",
 "readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#;

/// Member names and JSON types, with values erased.
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), shape(v)))
                .collect::<Map<_, _>>(),
        ),
        Value::Array(a) => Value::Array(a.iter().take(1).map(shape).collect()),
        Value::String(_) => json!("string"),
        Value::Number(_) => json!("number"),
        Value::Bool(_) => json!("bool"),
        Value::Null => json!("null"),
    }
}

#[test]
fn data_event_matches_the_reference_sample() {
    let mut ev = data("PutRecord", "orders", time("2024-05-01T12:00:00Z"));
    ev.tls_details = Some(TlsDetails {
        tls_version: "TLSv1.3".into(),
        cipher_suite: "TLS_AES_128_GCM_SHA256".into(),
        client_provided_host_header: "kinesis.us-east-1.amazonaws.com".into(),
    });
    let ours = serde_json::to_value(&ev).unwrap();
    let sample: Value = serde_json::from_str(DATA_SAMPLE).unwrap();
    assert_eq!(shape(&ours), shape(&sample));
    assert_eq!(ours["eventVersion"], json!("1.11"));
    assert_eq!(ours["eventTime"], json!("2024-05-01T12:00:00Z"));
    assert_eq!(ours["eventCategory"], json!("Data"));
    assert_eq!(ours["managementEvent"], json!(false));
    assert_eq!(ours["resources"], sample["resources"]);
    assert_eq!(ours["userIdentity"], sample["userIdentity"]);
    // Reading the sample back gives the same event modulo the values that differ.
    let back: riffle_audit::AuditEvent = serde_json::from_value(sample).unwrap();
    assert_eq!(back.resources, ev.resources);
    assert_eq!(back.tls_details, ev.tls_details);
}

#[test]
fn management_event_matches_the_reference_sample() {
    let mut ev = mgmt(
        "CreateStream",
        "Alice",
        "orders",
        time("2024-05-01T12:00:05Z"),
    );
    ev.request_parameters = json!({"streamName": "orders", "shardCount": 1});
    let ours = serde_json::to_value(&ev).unwrap();
    let sample: Value = serde_json::from_str(MGMT_SAMPLE).unwrap();
    assert_eq!(shape(&ours), shape(&sample));
    assert_eq!(ours["userIdentity"], sample["userIdentity"]);
    assert_eq!(ours["eventType"], json!("AwsApiCall"));
    // Always present even when null; absent optional members stay absent.
    assert!(ours.as_object().unwrap().contains_key("responseElements"));
    for absent in [
        "errorCode",
        "errorMessage",
        "resources",
        "tlsDetails",
        "apiVersion",
    ] {
        assert!(ours.get(absent).is_none(), "{absent} should be omitted");
    }
}

#[test]
fn a_failed_call_adds_error_code_and_message() {
    let mut ev = mgmt(
        "DescribeStream",
        "Alice",
        "foo",
        time("2024-05-01T12:00:05Z"),
    );
    ev.error_code = Some("ResourceNotFoundException".into());
    ev.error_message = Some("Stream foo under account 111122223333 not found.".into());
    let ours = serde_json::to_value(&ev).unwrap();
    assert_eq!(ours["errorCode"], json!("ResourceNotFoundException"));
    assert_eq!(
        ours["errorMessage"],
        json!("Stream foo under account 111122223333 not found.")
    );
}

#[test]
fn request_parameters_follow_cloudtrail_naming_and_drop_payloads() {
    let body = json!({
        "StreamName": "orders",
        "Records": [
            {"Data": "aGVsbG8=", "PartitionKey": "a", "ExplicitHashKey": "1"},
            {"Data": "d29ybGQ=", "PartitionKey": "b"}
        ],
        "StreamModeDetails": {"StreamMode": "ON_DEMAND"}
    });
    let out = riffle_audit::request_parameters(&body, &["Data"]);
    assert_eq!(
        out,
        json!({
            "streamName": "orders",
            "records": [
                {"partitionKey": "a", "explicitHashKey": "1"},
                {"partitionKey": "b"}
            ],
            "streamModeDetails": {"streamMode": "ON_DEMAND"}
        })
    );
    let firehose = json!({"DeliveryStreamEncryptionConfigurationInput": {"KeyARN": "k", "KeyType": "CUSTOMER_MANAGED_CMK"}, "KMSEncryptionConfig": {"AWSKMSKeyARN": "k"}});
    let out = riffle_audit::request_parameters(&firehose, &[]);
    assert_eq!(out["kMSEncryptionConfig"]["aWSKMSKeyARN"], json!("k"));
    assert_eq!(
        out["deliveryStreamEncryptionConfigurationInput"]["keyARN"],
        json!("k")
    );
}
