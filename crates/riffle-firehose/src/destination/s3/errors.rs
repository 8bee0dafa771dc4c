//! Error output: records a processor or destination gave up on, written as
//! AWS's failed-record JSON, one object per line, into one S3 object under
//! the error prefix.
//!
//! The common fields come first, in AWS's order: `attemptsMade`,
//! `arrivalTimestamp`, `errorCode`, `errorMessage`, `attemptEndingTimestamp`,
//! `rawData` (base64), then [`FailedRecord::extra`] in the caller's order
//! (`lambdaArn` for processing-failed; `subsequenceNumber`, `dataId` for
//! http-endpoint-failed, ...). Format-conversion failures name the error
//! fields `lastErrorCode`/`lastErrorMessage`, as AWS does.
//!
//! Extra values are strings, except that AWS's numeric fields
//! (`subsequenceNumber`, `subSequenceNumber`) are written as numbers when
//! they parse as one, and a value that is a JSON object (`dataCatalogTable`)
//! is embedded as an object.

use base64::Engine as _;
use serde_json::Value;

use crate::destination::FailedRecord;

/// The `!{firehose:error-output-type}` values (Firehose guide, custom prefixes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorOutputType {
    /// A Lambda transformation failed or answered `ProcessingFailed`.
    ProcessingFailed,
    /// Delivery to an HTTP endpoint gave up.
    HttpEndpointFailed,
    /// JSON → Parquet/ORC conversion failed.
    FormatConversionFailed,
    SplunkFailed,
    /// The older Elasticsearch destination.
    ElasticsearchFailed,
    AmazonOpenSearchServiceFailed,
}

impl ErrorOutputType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProcessingFailed => "processing-failed",
            Self::HttpEndpointFailed => "http-endpoint-failed",
            Self::FormatConversionFailed => "format-conversion-failed",
            Self::SplunkFailed => "splunk-failed",
            Self::ElasticsearchFailed => "elasticsearch-failed",
            Self::AmazonOpenSearchServiceFailed => "AmazonOpenSearchService-failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::ProcessingFailed,
            Self::HttpEndpointFailed,
            Self::FormatConversionFailed,
            Self::SplunkFailed,
            Self::ElasticsearchFailed,
            Self::AmazonOpenSearchServiceFailed,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for ErrorOutputType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

const NUMERIC: &[&str] = &["subsequenceNumber", "subSequenceNumber"];

fn extra_value(name: &str, value: &str) -> Value {
    if NUMERIC.contains(&name) {
        if let Ok(n) = value.parse::<i64>() {
            return Value::from(n);
        }
    }
    if value.starts_with('{') {
        if let Ok(object @ Value::Object(_)) = serde_json::from_str::<Value>(value) {
            return object;
        }
    }
    Value::from(value)
}

fn push_field(out: &mut String, first: &mut bool, name: &str, value: &Value) {
    if !*first {
        out.push(',');
    }
    *first = false;
    out.push_str(&Value::from(name).to_string());
    out.push(':');
    out.push_str(&value.to_string());
}

/// One failed record as AWS's JSON object (no newline).
pub fn failed_record_json(kind: ErrorOutputType, r: &FailedRecord) -> String {
    let (code, message) = if kind == ErrorOutputType::FormatConversionFailed {
        ("lastErrorCode", "lastErrorMessage")
    } else {
        ("errorCode", "errorMessage")
    };
    let mut out = String::from("{");
    let mut first = true;
    let raw = base64::engine::general_purpose::STANDARD.encode(&r.raw_data);
    for (name, value) in [
        ("attemptsMade", Value::from(r.attempts_made)),
        ("arrivalTimestamp", Value::from(r.arrival_ms)),
        (code, Value::from(r.error_code.as_str())),
        (message, Value::from(r.error_message.as_str())),
        ("attemptEndingTimestamp", Value::from(r.attempt_ending_ms)),
        ("rawData", Value::from(raw)),
    ] {
        push_field(&mut out, &mut first, name, &value);
    }
    for (name, value) in &r.extra {
        push_field(&mut out, &mut first, name, &extra_value(name, value));
    }
    out.push('}');
    out
}

/// The body of an error-output object: one JSON object per line, each
/// ending with `\n`.
pub fn encode_failed_records(kind: ErrorOutputType, records: &[FailedRecord]) -> Vec<u8> {
    let mut out = String::new();
    for r in records {
        out.push_str(&failed_record_json(kind, r));
        out.push('\n');
    }
    out.into_bytes()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn record(extra: Vec<(&'static str, String)>) -> FailedRecord {
        FailedRecord {
            raw_data: Bytes::from_static(b"hello"),
            arrival_ms: 1_535_365_805_123,
            attempts_made: 4,
            attempt_ending_ms: 1_535_365_900_000,
            error_code: "Lambda.FunctionError".into(),
            error_message:
                "The Lambda function was successfully invoked but it returned an error result."
                    .into(),
            extra,
        }
    }

    #[test]
    fn processing_failed_lines() {
        let r = record(vec![(
            "lambdaArn",
            "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST".into(),
        )]);
        let body = encode_failed_records(ErrorOutputType::ProcessingFailed, &[r.clone(), r]);
        let text = String::from_utf8(body).unwrap();
        let lines: Vec<&str> = text.split_terminator('\n').collect();
        assert_eq!(lines.len(), 2);
        assert!(text.ends_with('\n'));
        assert_eq!(
            lines[0],
            r#"{"attemptsMade":4,"arrivalTimestamp":1535365805123,"errorCode":"Lambda.FunctionError","errorMessage":"The Lambda function was successfully invoked but it returned an error result.","attemptEndingTimestamp":1535365900000,"rawData":"aGVsbG8=","lambdaArn":"arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST"}"#
        );
    }

    #[test]
    fn http_endpoint_failed_has_numeric_subsequence() {
        let mut r = record(vec![
            ("subsequenceNumber", "0".into()),
            (
                "dataId",
                "49546986683135544286507457936321625675700192471156785154.0".into(),
            ),
        ]);
        r.error_code = "HttpEndpoint.DestinationException".into();
        r.error_message =
            "Received the following response from the endpoint destination. {\"x\":1}".into();
        let line = failed_record_json(ErrorOutputType::HttpEndpointFailed, &r);
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["subsequenceNumber"], 0);
        assert_eq!(
            v["dataId"],
            "49546986683135544286507457936321625675700192471156785154.0"
        );
        assert_eq!(v["errorCode"], "HttpEndpoint.DestinationException");
        assert_eq!(v["rawData"], "aGVsbG8=");
        assert_eq!(v["errorMessage"].as_str().unwrap().matches('"').count(), 2);
    }

    #[test]
    fn format_conversion_names_and_objects() {
        let r = record(vec![
            ("sequenceNumber", "1".into()),
            ("subSequenceNumber", "2".into()),
            (
                "dataCatalogTable",
                r#"{"catalogId":"1","tableName":"t"}"#.into(),
            ),
        ]);
        let v: Value = serde_json::from_str(&failed_record_json(
            ErrorOutputType::FormatConversionFailed,
            &r,
        ))
        .unwrap();
        assert_eq!(v["lastErrorCode"], "Lambda.FunctionError");
        assert!(v.get("errorCode").is_none());
        assert_eq!(v["sequenceNumber"], "1");
        assert_eq!(v["subSequenceNumber"], 2);
        assert_eq!(v["dataCatalogTable"]["tableName"], "t");
    }

    #[test]
    fn type_names() {
        for k in [
            ErrorOutputType::ProcessingFailed,
            ErrorOutputType::HttpEndpointFailed,
            ErrorOutputType::FormatConversionFailed,
            ErrorOutputType::SplunkFailed,
            ErrorOutputType::ElasticsearchFailed,
            ErrorOutputType::AmazonOpenSearchServiceFailed,
        ] {
            assert_eq!(ErrorOutputType::parse(k.as_str()), Some(k));
        }
        assert_eq!(
            ErrorOutputType::HttpEndpointFailed.to_string(),
            "http-endpoint-failed"
        );
    }
}
