//! The request Firehose sends to an HTTP endpoint: body
//! `{"requestId","timestamp","records":[{"data"}]}` and the
//! `X-Amz-Firehose-*` headers (Firehose guide, `httpdeliveryrequestresponse`).

use std::io::Write;

use base64::Engine;
use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;
use riffle_model::firehose::HttpEndpointCommonAttribute;

use crate::FirehoseError;

pub const HEADER_PROTOCOL_VERSION: &str = "x-amz-firehose-protocol-version";
pub const HEADER_REQUEST_ID: &str = "x-amz-firehose-request-id";
pub const HEADER_SOURCE_ARN: &str = "x-amz-firehose-source-arn";
pub const HEADER_ACCESS_KEY: &str = "x-amz-firehose-access-key";
pub const HEADER_COMMON_ATTRIBUTES: &str = "x-amz-firehose-common-attributes";
/// The only protocol version there is.
pub const PROTOCOL_VERSION: &str = "1.0";

/// The JSON body of one delivery request. Built once per batch: every
/// retry resends the same bytes (same `requestId`, same `timestamp`, the
/// time the request was first generated).
pub fn body(request_id: &str, timestamp_ms: i64, records: &[Bytes]) -> Vec<u8> {
    let b64 = &base64::engine::general_purpose::STANDARD;
    let data_len: usize = records.iter().map(|r| r.len().div_ceil(3) * 4 + 12).sum();
    let mut out = Vec::with_capacity(data_len + request_id.len() + 64);
    out.extend_from_slice(b"{\"requestId\":");
    json_string(&mut out, request_id);
    out.extend_from_slice(b",\"timestamp\":");
    out.extend_from_slice(timestamp_ms.to_string().as_bytes());
    out.extend_from_slice(b",\"records\":[");
    let mut encoded = String::new();
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"data\":\"");
        encoded.clear();
        b64.encode_string(r, &mut encoded);
        out.extend_from_slice(encoded.as_bytes());
        out.extend_from_slice(b"\"}");
    }
    out.extend_from_slice(b"]}");
    out
}

/// Gzips a body for `ContentEncoding: GZIP`. The fast level: the endpoint
/// needs valid gzip, not the smallest one, and a 64 MiB batch should not
/// cost seconds of CPU.
pub fn gzip(body: &[u8]) -> Result<Vec<u8>, FirehoseError> {
    let mut enc = GzEncoder::new(Vec::with_capacity(body.len() / 4 + 64), Compression::fast());
    enc.write_all(body)
        .and_then(|()| enc.finish())
        .map_err(|e| FirehoseError::Internal(format!("gzip of an HTTP endpoint request: {e}")))
}

/// `X-Amz-Firehose-Common-Attributes`: `{"commonAttributes":{…}}` in the
/// configured order (always sent, `{}` when none are configured).
pub fn common_attributes(attrs: &[HttpEndpointCommonAttribute]) -> String {
    let mut out = Vec::with_capacity(24 + attrs.len() * 32);
    out.extend_from_slice(b"{\"commonAttributes\":{");
    for (i, a) in attrs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_string(&mut out, &a.attribute_name);
        out.push(b':');
        json_string(&mut out, &a.attribute_value);
    }
    out.extend_from_slice(b"}}");
    // Only valid UTF-8 was written (JSON strings of `&str`s and ASCII).
    String::from_utf8_lossy(&out).into_owned()
}

/// Appends `s` as a JSON string literal.
fn json_string(out: &mut Vec<u8>, s: &str) {
    // serde_json's escaping; writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn body_matches_the_documented_shape() {
        let recs = [
            Bytes::from_static(b"hello"),
            Bytes::from_static(b"hello world"),
            Bytes::new(),
        ];
        let b = body("ed4acda5-034f-9f42-bba1-f29aea6d7d8f", 1578090901599, &recs);
        let v: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(
            v,
            json!({"requestId":"ed4acda5-034f-9f42-bba1-f29aea6d7d8f","timestamp":1578090901599_i64,
                   "records":[{"data":"aGVsbG8="},{"data":"aGVsbG8gd29ybGQ="},{"data":""}]})
        );
    }

    #[test]
    fn request_id_is_escaped() {
        let b = body("a\"b\\c\n", 1, &[]);
        let v: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["requestId"], "a\"b\\c\n");
        assert_eq!(v["records"], json!([]));
    }

    #[test]
    fn gzip_round_trips() {
        let b = body("id", 5, &[Bytes::from(vec![7u8; 10_000])]);
        let z = gzip(&b).unwrap();
        assert!(z.len() < b.len());
        let mut d = flate2::read::GzDecoder::new(&z[..]);
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut d, &mut back).unwrap();
        assert_eq!(back, b);
    }

    #[test]
    fn common_attributes_keep_order_and_escape() {
        let attrs = vec![
            HttpEndpointCommonAttribute {
                attribute_name: "deployment -context".into(),
                attribute_value: "pre-prod-gamma".into(),
            },
            HttpEndpointCommonAttribute {
                attribute_name: "device-types".into(),
                attribute_value: String::new(),
            },
            HttpEndpointCommonAttribute {
                attribute_name: "q\"uote".into(),
                attribute_value: "ünï".into(),
            },
        ];
        let h = common_attributes(&attrs);
        assert_eq!(
            h,
            r#"{"commonAttributes":{"deployment -context":"pre-prod-gamma","device-types":"","q\"uote":"ünï"}}"#
        );
        assert_eq!(common_attributes(&[]), r#"{"commonAttributes":{}}"#);
    }
}
