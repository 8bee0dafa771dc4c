//! decode_request, step by step (reference §1.7), with the exact status and
//! body AWS sends; expectations from the reference doc and kinesalite's tests
//! (which ran against real AWS), adjusted to the current botocore model where
//! it changed (StreamName optional, Data up to 10 MiB, limits).

use riffle_model::*;
use riffle_protocol::*;
use serde_json::{json, Value as J};

const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/kinesis/aws4_request, \
                    SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0123abcd";
const ARN: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/s1";
const ACCESS_DENIED_XML: &str = "<AccessDeniedException>\n  <Message>Unable to determine service/operation name to be authorized</Message>\n</AccessDeniedException>\n";

fn view<'a>(target: Option<&'a str>, ct: Option<&'a str>, body: &'a [u8]) -> HttpRequestView<'a> {
    HttpRequestView {
        method: "POST",
        content_type: ct,
        target,
        authorization: Some(AUTH),
        has_date_header: true,
        query: None,
        body,
    }
}

fn reply(d: Decoded) -> WireResponse {
    match d {
        Decoded::Reply(r) => r,
        other => panic!("expected a reply, got {other:?}"),
    }
}

/// A JSON request for `op`; returns the decoded result.
fn call(op: &str, body: J) -> Decoded {
    let target = format!("Kinesis_20131202.{op}");
    let body = body.to_string();
    decode_request(&view(
        Some(&target),
        Some(JSON_CONTENT_TYPE),
        body.as_bytes(),
    ))
}

fn input(op: &str, body: J) -> Input {
    match call(op, body) {
        Decoded::Call { input, format, .. } => {
            assert_eq!(format, Format::Json);
            input
        }
        Decoded::Reply(r) => panic!("{} {}", r.status, String::from_utf8_lossy(&r.body)),
        other => panic!("{other:?}"),
    }
}

/// (status, parsed JSON body) of a JSON error reply.
fn json_err(d: Decoded) -> (u16, J) {
    let r = reply(d);
    assert_eq!(r.content_type, Some(JSON_CONTENT_TYPE));
    (
        r.status,
        serde_json::from_slice(&r.body)
            .unwrap_or_else(|_| panic!("{:?}", String::from_utf8_lossy(&r.body))),
    )
}

fn validation(op: &str, body: J, errors: &[&str]) {
    let n = errors.len();
    let expected = format!(
        "{n} validation error{} detected: {}",
        if n > 1 { "s" } else { "" },
        errors.join("; ")
    );
    assert_eq!(
        json_err(call(op, body)),
        (
            400,
            json!({"__type": "ValidationException", "message": expected})
        )
    );
}

fn serialization(op: &str, body: J, msg: &str) {
    let r = reply(call(op, body));
    assert_eq!(r.status, 400);
    // Capital `Message`, exactly these two members.
    let expected = json!({"__type": "SerializationException", "Message": msg});
    assert_eq!(
        serde_json::from_slice::<J>(&r.body).ok(),
        Some(expected),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
}

fn cbor_bare(code: &str) -> Vec<u8> {
    let mut v = vec![0xbf, 0x66];
    v.extend_from_slice(b"__type");
    if code.len() < 24 {
        v.push(0x60 | code.len() as u8);
    } else {
        v.extend_from_slice(&[0x78, code.len() as u8]);
    }
    v.extend_from_slice(code.as_bytes());
    v.push(0xff);
    v
}

// ------------------------------------------------------------------ step 3: method

#[test]
fn non_post_is_403_xml() {
    for method in ["GET", "PUT", "DELETE", "OPTIONS"] {
        let mut v = view(
            Some("Kinesis_20131202.ListStreams"),
            Some(JSON_CONTENT_TYPE),
            b"{}",
        );
        v.method = method;
        assert_eq!(
            reply(decode_request(&v)),
            WireResponse {
                status: 403,
                content_type: None,
                body: ACCESS_DENIED_XML.as_bytes().to_vec()
            }
        );
    }
}

// ------------------------------------------------------------------ step 4: empty body

#[test]
fn empty_body_json() {
    let r = reply(decode_request(&view(
        Some("Kinesis_20131202.ListStreams"),
        Some(JSON_CONTENT_TYPE),
        b"",
    )));
    assert_eq!(
        (r.status, r.content_type, r.body),
        (
            400,
            Some(JSON_CONTENT_TYPE),
            br#"{"__type":"SerializationException"}"#.to_vec()
        )
    );
    let r = reply(decode_request(&view(
        Some("Kinesis_20131202.ListStream"),
        Some(JSON_CONTENT_TYPE),
        b"",
    )));
    assert_eq!(
        r.body,
        br#"{"__type":"UnknownOperationException"}"#.to_vec()
    );
    // Unsupported-but-known operations are known here too.
    let r = reply(decode_request(&view(
        Some("Kinesis_20131202.SplitShard"),
        Some(JSON_CONTENT_TYPE),
        b"",
    )));
    assert_eq!(r.body, br#"{"__type":"SerializationException"}"#.to_vec());
}

#[test]
fn empty_body_otherwise_cbor() {
    for ct in [
        Some(CBOR_CONTENT_TYPE),
        None,
        Some("application/json"),
        Some("text/plain"),
    ] {
        let r = reply(decode_request(&view(
            Some("Kinesis_20131202.ListStreams"),
            ct,
            b"",
        )));
        assert_eq!((r.status, r.content_type), (400, Some(CBOR_CONTENT_TYPE)));
        assert_eq!(r.body, cbor_bare("SerializationException"));
        let r = reply(decode_request(&view(None, ct, b"")));
        assert_eq!(r.body, cbor_bare("UnknownOperationException"));
    }
    // Byte-exact with kinesalite's hard-coded AWS bodies.
    assert_eq!(
        cbor_bare("UnknownOperationException")[..4],
        [0xbf, 0x66, b'_', b'_']
    );
    assert_eq!(cbor_bare("UnknownOperationException")[8..10], [0x78, 0x19]);
}

// ------------------------------------------------------------------ step 5: content type

#[test]
fn invalid_content_type() {
    for ct in [None, Some("application/x-amz-json-1.0"), Some("text/plain")] {
        // No service.op shape → 403 XML.
        for target in [
            None,
            Some("Kinesis_20131202"),
            Some("Kinesis_20131202."),
            Some(".ListStreams"),
        ] {
            let r = reply(decode_request(&view(target, ct, b"{}")));
            assert_eq!(
                (r.status, r.content_type, r.body.as_slice()),
                (403, None, ACCESS_DENIED_XML.as_bytes())
            );
        }
        // Otherwise 404 with a bare XML element, even for unknown operations.
        for target in [
            "Kinesis_20131202.ListStreams",
            "Kinesis_20131202.ListStream",
            "a.b",
        ] {
            let r = reply(decode_request(&view(Some(target), ct, b"{}")));
            assert_eq!(
                (r.status, r.content_type, r.body.as_slice()),
                (404, None, &b"<UnknownOperationException/>\n"[..])
            );
        }
    }
}

#[test]
fn content_type_parameters_and_whitespace_are_ignored() {
    let v = view(
        Some("Kinesis_20131202.ListStreams"),
        Some("   application/x-amz-json-1.1   ;whatever"),
        b"{}",
    );
    assert!(matches!(
        decode_request(&v),
        Decoded::Call {
            format: Format::Json,
            ..
        }
    ));
    assert_eq!(
        format_for_content_type(Some(" application/x-amz-cbor-1.1; charset=x")),
        Some(Format::Cbor)
    );
    assert_eq!(
        format_for_content_type(Some("application/json")),
        Some(Format::Json)
    );
    assert_eq!(
        format_for_content_type(Some("application/x-amz-json-1.0")),
        None
    );
    assert_eq!(format_for_content_type(None), None);
}

// ------------------------------------------------------------------ steps 6-7: parse, legacy JSON

#[test]
fn non_object_bodies_are_serialization_exceptions() {
    for body in [
        &b"hello"[..],
        b"true",
        b"null",
        b"[1]",
        b"23",
        b"{\"a\":1} x",
        b"\"s\"",
    ] {
        let r = reply(decode_request(&view(
            Some("Kinesis_20131202.ListStreams"),
            Some(JSON_CONTENT_TYPE),
            body,
        )));
        assert_eq!(
            (r.status, r.body.as_slice()),
            (400, &br#"{"__type":"SerializationException"}"#[..])
        );
    }
    // CBOR `true`, an array, garbage.
    for body in [&[0xf5u8][..], &[0x81, 0x01], &[0xff, 0xff]] {
        let r = reply(decode_request(&view(
            Some("Kinesis_20131202.ListStreams"),
            Some(CBOR_CONTENT_TYPE),
            body,
        )));
        assert_eq!((r.status, r.content_type), (400, Some(CBOR_CONTENT_TYPE)));
        assert_eq!(r.body, cbor_bare("SerializationException"));
    }
}

#[test]
fn legacy_application_json() {
    let r = reply(decode_request(&view(
        Some("Kinesis_20131202.ListStreams"),
        Some("application/json"),
        b"hello",
    )));
    assert_eq!((r.status, r.content_type), (400, Some("application/json")));
    assert_eq!(r.body, br#"{"Output":{"__type":"com.amazon.coral.service#SerializationException"},"Version":"1.0"}"#.to_vec());
    // A valid body never gets further, whatever the target (and before auth).
    for target in [Some("Kinesis_20131202.ListStreams"), None] {
        let mut v = view(target, Some("application/json"), b"{}");
        v.authorization = None;
        let r = reply(decode_request(&v));
        assert_eq!((r.status, r.content_type), (404, Some("application/json")));
        assert_eq!(r.body, br#"{"Output":{"__type":"com.amazon.coral.service#UnknownOperationException"},"Version":"1.0"}"#.to_vec());
    }
}

// ------------------------------------------------------------------ step 8: target

#[test]
fn unknown_targets() {
    for target in [
        None,
        Some(""),
        Some("Kinesis_20131202."),
        Some("Kinesis_20131202.ListStream"),
        Some("Whatever"),
        Some("Firehose_20150804.ListStreams"),
        Some("kinesis_20131202.ListStreams"),
    ] {
        let mut v = view(target, Some(JSON_CONTENT_TYPE), b"{}");
        v.authorization = None; // checked after the target
        assert_eq!(
            json_err(decode_request(&v)),
            (400, json!({"__type": "UnknownOperationException"}))
        );
        let r = reply(decode_request(&view(
            target,
            Some(CBOR_CONTENT_TYPE),
            &[0xa0],
        )));
        assert_eq!(r.body, cbor_bare("UnknownOperationException"));
    }
}

// ------------------------------------------------------------------ step 9: auth

fn auth(authorization: Option<&str>, date: bool, query: Option<&str>) -> Decoded {
    let mut v = view(
        Some("Kinesis_20131202.ListStreams"),
        Some(JSON_CONTENT_TYPE),
        b"{}",
    );
    v.authorization = authorization;
    v.has_date_header = date;
    v.query = query;
    decode_request(&v)
}

#[test]
fn missing_authentication_token() {
    let expected = (
        400,
        json!({"__type": "MissingAuthenticationTokenException", "message": "Missing Authentication Token"}),
    );
    assert_eq!(json_err(auth(None, true, None)), expected);
    assert_eq!(json_err(auth(Some(""), true, None)), expected);
    assert_eq!(
        json_err(auth(
            None,
            true,
            Some("X-Amz-Credential=a&X-Amz-Signature=b&X-Amz-SignedHeaders=c&X-Amz-Date=d")
        )),
        expected
    );
}

#[test]
fn incomplete_signature_header() {
    let msg = "Authorization header requires 'Credential' parameter. \
               Authorization header requires 'Signature' parameter. \
               Authorization header requires 'SignedHeaders' parameter. \
               Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. \
               Authorization=X";
    assert_eq!(
        json_err(auth(Some("X"), false, None)),
        (
            400,
            json!({"__type": "IncompleteSignatureException", "message": msg})
        )
    );
    // Incomplete query key only (`X-Amz-Algorith`) does not count as query auth.
    assert_eq!(
        json_err(auth(Some("X"), false, Some("X-Amz-Algorith"))).1["message"],
        msg
    );
    assert_eq!(
        json_err(auth(Some("AWS4- Signature=b, Credential=a"), true, None)).1["message"],
        "Authorization header requires 'SignedHeaders' parameter. Authorization=AWS4- Signature=b, Credential=a"
    );
}

#[test]
fn incomplete_signature_query() {
    let msg = "AWS query-string parameters must include 'X-Amz-Algorithm'. \
               AWS query-string parameters must include 'X-Amz-Credential'. \
               AWS query-string parameters must include 'X-Amz-Signature'. \
               AWS query-string parameters must include 'X-Amz-SignedHeaders'. \
               AWS query-string parameters must include 'X-Amz-Date'. \
               Re-examine the query-string parameters.";
    assert_eq!(
        json_err(auth(None, true, Some("X-Amz-Algorithm"))),
        (
            400,
            json!({"__type": "IncompleteSignatureException", "message": msg})
        )
    );
    let ok = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20240101%2Fus-east-1%2Fkinesis%2Faws4_request\
              &X-Amz-Date=20240101T000000Z&X-Amz-SignedHeaders=host&X-Amz-Signature=abc";
    assert!(matches!(auth(None, false, Some(ok)), Decoded::Call { .. }));
}

#[test]
fn both_header_and_query_auth() {
    assert_eq!(
        json_err(auth(Some("X"), true, Some("X-Amz-Algorithm"))),
        (
            400,
            json!({"__type": "InvalidSignatureException", "message": "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header."})
        )
    );
}

#[test]
fn auth_errors_in_cbor() {
    let mut v = view(
        Some("Kinesis_20131202.ListStreams"),
        Some(CBOR_CONTENT_TYPE),
        &[0xa0],
    );
    v.authorization = None;
    let r = reply(decode_request(&v));
    assert_eq!((r.status, r.content_type), (400, Some(CBOR_CONTENT_TYPE)));
    let parsed: ciborium::Value = ciborium::from_reader(&r.body[..]).expect("cbor");
    let text = |k: &str| {
        parsed
            .as_map()
            .and_then(|m| m.iter().find(|(kk, _)| kk.as_text() == Some(k)))
            .and_then(|(_, v)| v.as_text().map(str::to_owned))
    };
    assert_eq!(
        text("__type").as_deref(),
        Some("MissingAuthenticationTokenException")
    );
    assert_eq!(
        text("message").as_deref(),
        Some("Missing Authentication Token")
    );
}

// ------------------------------------------------------------------ unsupported operations

#[test]
fn unsupported_known_operations() {
    match call("SplitShard", json!({})) {
        Decoded::Unsupported { op, format } => {
            assert_eq!((op, format), (Operation::SplitShard, Format::Json))
        }
        other => panic!("{other:?}"),
    }
    let mut v = view(
        Some("Kinesis_20131202.SubscribeToShard"),
        Some(CBOR_CONTENT_TYPE),
        &[0xa0],
    );
    assert!(matches!(
        decode_request(&v),
        Decoded::Unsupported {
            op: Operation::SubscribeToShard,
            format: Format::Cbor
        }
    ));
    // Auth still comes first.
    v.authorization = None;
    assert!(matches!(
        decode_request(&v),
        Decoded::Reply(WireResponse { status: 400, .. })
    ));
    let served = Operation::ALL
        .iter()
        .filter(|op| {
            !matches!(
                call(op.name(), json!({"x": 1})),
                Decoded::Unsupported { .. }
            )
        })
        .count();
    assert_eq!(served, 20);
}

// ------------------------------------------------------------------ step 10: types

#[test]
fn string_type_errors() {
    for (v, msg) in [
        (json!(true), "class java.lang.Boolean can not be converted to an String"),
        (json!(23), "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to an String"),
        (json!(34.56), "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to an String"),
        (json!([]), "Start of list found where not expected"),
        (json!({}), "Start of structure or map found where not expected."),
    ] {
        serialization("DescribeStream", json!({ "StreamName": v }), msg);
        serialization("PutRecords", json!({"Records": [{"PartitionKey": v.clone()}]}), msg);
    }
}

#[test]
fn integer_boolean_timestamp_type_errors() {
    for (v, msg) in [
        (
            json!("23"),
            "class java.lang.String can not be converted to an Integer",
        ),
        (
            json!(true),
            "class java.lang.Boolean can not be converted to an Integer",
        ),
        (json!([]), "Start of list found where not expected"),
        (
            json!({}),
            "Start of structure or map found where not expected.",
        ),
    ] {
        serialization("GetRecords", json!({ "Limit": v }), msg);
    }
    serialization("DeleteStream", json!({"EnforceConsumerDeletion": 23}), "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to an Boolean");
    serialization(
        "DeleteStream",
        json!({"EnforceConsumerDeletion": "hello"}),
        "'HELLO' can not be converted to an Boolean",
    );
    serialization(
        "DeleteStream",
        json!({"EnforceConsumerDeletion": []}),
        "Start of list found where not expected",
    );
    serialization(
        "ListShards",
        json!({"StreamCreationTimestamp": true}),
        "class java.lang.Boolean can not be converted to milliseconds since epoch",
    );
    serialization(
        "ListShards",
        json!({"StreamCreationTimestamp": "2020"}),
        "class java.lang.String can not be converted to milliseconds since epoch",
    );
}

#[test]
fn container_type_errors() {
    for v in [json!(true), json!(23), json!("x")] {
        serialization(
            "PutRecords",
            json!({ "Records": v }),
            "Expected list or null",
        );
        serialization(
            "AddTagsToStream",
            json!({ "Tags": v }),
            "Expected map or null",
        );
        serialization("PutRecords", json!({ "Records": [v] }), "Expected null");
        serialization("ListShards", json!({ "ShardFilter": v }), "Expected null");
    }
    serialization(
        "PutRecords",
        json!({"Records": {}}),
        "Start of structure or map found where not expected.",
    );
    serialization(
        "AddTagsToStream",
        json!({"Tags": []}),
        "Start of list found where not expected",
    );
    serialization(
        "PutRecords",
        json!({"Records": [[]]}),
        "Start of list found where not expected",
    );
    serialization("AddTagsToStream", json!({"Tags": {"a": 1}}), "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to an String");
    serialization(
        "RemoveTagsFromStream",
        json!({"TagKeys": [true]}),
        "class java.lang.Boolean can not be converted to an String",
    );
}

#[test]
fn blob_type_errors() {
    for (v, msg) in [
        (json!(true), "class java.lang.Boolean can not be converted to a Blob"),
        (json!(23), "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to a Blob"),
        (json!([]), "Start of list found where not expected"),
        (json!({}), "Start of structure or map found where not expected."),
        (json!("23456"), "'23456' can not be converted to a Blob: Base64 encoded length is expected a multiple of 4 bytes but found: 5"),
        (json!("=+/="), "'=+/=' can not be converted to a Blob: Invalid Base64 character: '='"),
        (json!("+/+="), "'+/+=' can not be converted to a Blob: Invalid last non-pad Base64 character dectected"),
    ] {
        serialization("PutRecord", json!({ "Data": v }), msg);
        serialization("PutRecords", json!({"Records": [{"PartitionKey": "a", "Data": "YQ=="}, { "Data": v }]}), msg);
    }
}

#[test]
fn type_errors_come_in_member_order_before_validation() {
    // PutRecord order: SequenceNumberForOrdering, PartitionKey, ExplicitHashKey, Data, StreamName.
    serialization("PutRecord", json!({"StreamName": 1, "Data": 5}), "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to a Blob");
    serialization(
        "PutRecord",
        json!({"StreamName": "", "SequenceNumberForOrdering": false, "Data": 5}),
        "class java.lang.Boolean can not be converted to an String",
    );
}

// ------------------------------------------------------------------ step 11: validation

#[test]
fn put_records_validation() {
    // Current model: only Records is required (StreamName or StreamARN, both optional).
    validation(
        "PutRecords",
        json!({}),
        &["Value null at 'records' failed to satisfy constraint: Member must not be null"],
    );
    validation("PutRecords", json!({"StreamName": "", "Records": []}), &[
        "Value '[]' at 'records' failed to satisfy constraint: Member must have length greater than or equal to 1",
        "Value '' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        "Value '' at 'streamName' failed to satisfy constraint: Member must have length greater than or equal to 1",
    ]);
    validation("PutRecords", json!({"StreamName": "", "Records": [{"PartitionKey": "", "Data": "", "ExplicitHashKey": ""}]}), &[
        "Value '' at 'records.1.member.partitionKey' failed to satisfy constraint: Member must have length greater than or equal to 1",
        "Value '' at 'records.1.member.explicitHashKey' failed to satisfy constraint: Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})",
        "Value '' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        "Value '' at 'streamName' failed to satisfy constraint: Member must have length greater than or equal to 1",
    ]);
    validation("PutRecords", json!({"Records": [{"PartitionKey": "a"}, {"Data": ""}], "StreamName": "a b"}), &[
        "Value null at 'records.1.member.data' failed to satisfy constraint: Member must not be null",
        "Value null at 'records.2.member.partitionKey' failed to satisfy constraint: Member must not be null",
        "Value 'a b' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
    ]);
}

#[test]
fn put_records_too_many_reports_ten() {
    let records: Vec<J> = (0..501)
        .map(|_| json!({"PartitionKey": "", "Data": ""}))
        .collect();
    let (status, body) = json_err(call(
        "PutRecords",
        json!({"StreamName": "", "Records": records}),
    ));
    assert_eq!(status, 400);
    let msg = body["message"].as_str().expect("message");
    let prefix = "10 validation errors detected: Value '[com.amazonaws.kinesis.v20131202.PutRecordsRequestEntry@";
    assert!(msg.starts_with(prefix), "{msg}");
    let parts: Vec<&str> = msg.split("; ").collect();
    assert_eq!(parts.len(), 10);
    assert!(parts[0].ends_with("]' at 'records' failed to satisfy constraint: Member must have length less than or equal to 500"));
    assert_eq!(parts[0].matches("PutRecordsRequestEntry@").count(), 501);
    for (i, p) in parts[1..].iter().enumerate() {
        assert_eq!(*p, format!("Value '' at 'records.{}.member.partitionKey' failed to satisfy constraint: Member must have length greater than or equal to 1", i + 1));
    }
}

#[test]
fn put_record_validation() {
    validation(
        "PutRecord",
        json!({}),
        &[
            "Value null at 'partitionKey' failed to satisfy constraint: Member must not be null",
            "Value null at 'data' failed to satisfy constraint: Member must not be null",
        ],
    );
    validation(
        "PutRecord",
        json!({"StreamName": "", "PartitionKey": "", "Data": "", "ExplicitHashKey": "", "SequenceNumberForOrdering": ""}),
        &[
            "Value '' at 'sequenceNumberForOrdering' failed to satisfy constraint: Member must satisfy regular expression pattern: 0|([1-9]\\d{0,128})",
            "Value '' at 'partitionKey' failed to satisfy constraint: Member must have length greater than or equal to 1",
            "Value '' at 'explicitHashKey' failed to satisfy constraint: Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})",
            "Value '' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
            "Value '' at 'streamName' failed to satisfy constraint: Member must have length greater than or equal to 1",
        ],
    );
    // Partition keys count UTF-16 units like Java: 256 two-byte chars are fine.
    assert!(matches!(
        call(
            "PutRecord",
            json!({"PartitionKey": "é".repeat(256), "Data": ""})
        ),
        Decoded::Call { .. }
    ));
}

#[test]
fn data_limit_is_ten_mib() {
    let name = "a".repeat(129);
    let pk = "a".repeat(257);
    // CBOR byte string, so the test does not base64 10 MiB.
    let body = ciborium_body(&[
        ("StreamName", CborV::Text(name.clone())),
        ("PartitionKey", CborV::Text(pk.clone())),
        ("Data", CborV::Bytes(vec![0; 10_485_761])),
        ("ExplicitHashKey", CborV::Text(String::new())),
    ]);
    let r = reply(decode_request(&view(
        Some("Kinesis_20131202.PutRecord"),
        Some(CBOR_CONTENT_TYPE),
        &body,
    )));
    let v: ciborium::Value = ciborium::from_reader(&r.body[..]).expect("cbor");
    let msg = v
        .as_map()
        .and_then(|m| m.iter().find(|(k, _)| k.as_text() == Some("message")))
        .and_then(|(_, v)| v.as_text())
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        msg,
        format!(
            "4 validation errors detected: \
             Value '{pk}' at 'partitionKey' failed to satisfy constraint: Member must have length less than or equal to 256; \
             Value '' at 'explicitHashKey' failed to satisfy constraint: Member must satisfy regular expression pattern: 0|([1-9]\\d{{0,38}}); \
             Value 'java.nio.HeapByteBuffer[pos=0 lim=10485761 cap=10485761]' at 'data' failed to satisfy constraint: Member must have length less than or equal to 10485760; \
             Value '{name}' at 'streamName' failed to satisfy constraint: Member must have length less than or equal to 128"
        )
    );
    let ok = ciborium_body(&[
        ("PartitionKey", CborV::Text("a".into())),
        ("Data", CborV::Bytes(vec![7; 10_485_760])),
    ]);
    match decode_request(&view(
        Some("Kinesis_20131202.PutRecord"),
        Some(CBOR_CONTENT_TYPE),
        &ok,
    )) {
        Decoded::Call {
            input: Input::PutRecord(i),
            ..
        } => assert_eq!(i.data.len(), 10_485_760),
        other => panic!("{other:?}"),
    }
}

enum CborV {
    Text(String),
    Bytes(Vec<u8>),
}

fn ciborium_body(pairs: &[(&str, CborV)]) -> Vec<u8> {
    use ciborium::Value as V;
    let map = V::Map(
        pairs
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    CborV::Text(s) => V::Text(s.clone()),
                    CborV::Bytes(b) => V::Bytes(b.clone()),
                };
                (V::Text((*k).into()), v)
            })
            .collect(),
    );
    let mut out = Vec::new();
    ciborium::into_writer(&map, &mut out).expect("encode");
    out
}

#[test]
fn get_shard_iterator_validation() {
    validation("GetShardIterator", json!({}), &[
        "Value null at 'shardId' failed to satisfy constraint: Member must not be null",
        "Value null at 'shardIteratorType' failed to satisfy constraint: Member must not be null",
    ]);
    validation("GetShardIterator", json!({"StreamName": "", "ShardIteratorType": "", "ShardId": "", "StartingSequenceNumber": ""}), &[
        "Value '' at 'shardId' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        "Value '' at 'shardId' failed to satisfy constraint: Member must have length greater than or equal to 1",
        "Value '' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, LATEST, AT_TIMESTAMP, AT_SEQUENCE_NUMBER, TRIM_HORIZON]",
        "Value '' at 'startingSequenceNumber' failed to satisfy constraint: Member must satisfy regular expression pattern: 0|([1-9]\\d{0,128})",
        "Value '' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        "Value '' at 'streamName' failed to satisfy constraint: Member must have length greater than or equal to 1",
    ]);
    let name = "a".repeat(129);
    validation("GetShardIterator", json!({"StreamName": name, "ShardId": name, "ShardIteratorType": "LATEST"}), &[
        &format!("Value '{name}' at 'shardId' failed to satisfy constraint: Member must have length less than or equal to 128"),
        &format!("Value '{name}' at 'streamName' failed to satisfy constraint: Member must have length less than or equal to 128"),
    ]);
}

#[test]
fn list_and_describe_validation() {
    validation("ListShards", json!({"StreamName": "", "NextToken": "", "MaxResults": 0, "ExclusiveStartShardId": ""}), &[
        "Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1",
        "Value '' at 'exclusiveStartShardId' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        "Value '' at 'exclusiveStartShardId' failed to satisfy constraint: Member must have length greater than or equal to 1",
        "Value '' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        "Value '' at 'streamName' failed to satisfy constraint: Member must have length greater than or equal to 1",
        "Value '' at 'nextToken' failed to satisfy constraint: Member must have length greater than or equal to 1",
    ]);
    let name = "a".repeat(129);
    validation("ListShards", json!({"StreamName": name, "MaxResults": 100000, "ExclusiveStartShardId": name}), &[
        "Value '100000' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 10000",
        &format!("Value '{name}' at 'exclusiveStartShardId' failed to satisfy constraint: Member must have length less than or equal to 128"),
        &format!("Value '{name}' at 'streamName' failed to satisfy constraint: Member must have length less than or equal to 128"),
    ]);
    validation("ListShards", json!({"StreamName": "s", "ShardFilter": {"ShardId": "x"}}), &[
        "Value null at 'shardFilter.type' failed to satisfy constraint: Member must not be null",
    ]);
    validation("ListShards", json!({"StreamName": "s", "ShardFilter": {"Type": "NOPE"}}), &[
        "Value 'NOPE' at 'shardFilter.type' failed to satisfy constraint: Member must satisfy enum value set: [AFTER_SHARD_ID, AT_TRIM_HORIZON, FROM_TRIM_HORIZON, AT_LATEST, AT_TIMESTAMP, FROM_TIMESTAMP]",
    ]);
    validation("DescribeStream", json!({"StreamName": "", "Limit": 0, "ExclusiveStartShardId": ""}), &[
        "Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1",
        "Value '' at 'exclusiveStartShardId' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        "Value '' at 'exclusiveStartShardId' failed to satisfy constraint: Member must have length greater than or equal to 1",
        "Value '' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        "Value '' at 'streamName' failed to satisfy constraint: Member must have length greater than or equal to 1",
    ]);
    validation("ListStreams", json!({"ExclusiveStartStreamName": "", "Limit": 0}), &[
        "Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1",
        "Value '' at 'exclusiveStartStreamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        "Value '' at 'exclusiveStartStreamName' failed to satisfy constraint: Member must have length greater than or equal to 1",
    ]);
    validation("ListStreams", json!({"Limit": 1000000}), &[
        "Value '1000000' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 10000",
    ]);
    validation("GetRecords", json!({"ShardIterator": "", "Limit": 0}), &[
        "Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1",
        "Value '' at 'shardIterator' failed to satisfy constraint: Member must have length greater than or equal to 1",
    ]);
    validation(
        "GetRecords",
        json!({}),
        &["Value null at 'shardIterator' failed to satisfy constraint: Member must not be null"],
    );
    validation("ListTagsForStream", json!({"StreamName": "s", "ExclusiveStartTagKey": "", "Limit": 51}), &[
        "Value '51' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 50",
        "Value '' at 'exclusiveStartTagKey' failed to satisfy constraint: Member must have length greater than or equal to 1",
    ]);
    validation("DescribeStreamSummary", json!({"StreamARN": "x"}), &[
        "Value 'x' at 'streamARN' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+",
    ]);
}

#[test]
fn create_stream_and_other_validation() {
    validation(
        "CreateStream",
        json!({}),
        &["Value null at 'streamName' failed to satisfy constraint: Member must not be null"],
    );
    validation("CreateStream", json!({"StreamName": "", "ShardCount": 0}), &[
        "Value '0' at 'shardCount' failed to satisfy constraint: Member must have value greater than or equal to 1",
        "Value '' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        "Value '' at 'streamName' failed to satisfy constraint: Member must have length greater than or equal to 1",
    ]);
    // Integers clamp at 2^31-1 (so no error for ShardCount here).
    let name = "a".repeat(129);
    validation("CreateStream", json!({"StreamName": name, "ShardCount": 100000000000u64}), &[
        &format!("Value '{name}' at 'streamName' failed to satisfy constraint: Member must have length less than or equal to 128"),
    ]);
    validation("CreateStream", json!({"StreamName": "s", "StreamModeDetails": {"StreamMode": "X"}, "MaxRecordSizeInKiB": 100}), &[
        "Value 'X' at 'streamModeDetails.streamMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, ON_DEMAND]",
        "Value '100' at 'maxRecordSizeInKiB' failed to satisfy constraint: Member must have value greater than or equal to 1024",
    ]);
    validation("IncreaseStreamRetentionPeriod", json!({}), &[
        "Value null at 'retentionPeriodHours' failed to satisfy constraint: Member must not be null",
    ]);
    validation("UpdateMaxRecordSize", json!({"MaxRecordSizeInKiB": 20000}), &[
        "Value '20000' at 'maxRecordSizeInKiB' failed to satisfy constraint: Member must have value less than or equal to 10240",
    ]);
    validation(
        "ListTagsForResource",
        json!({}),
        &["Value null at 'resourceARN' failed to satisfy constraint: Member must not be null"],
    );
}

#[test]
fn tag_validation() {
    validation(
        "AddTagsToStream",
        json!({}),
        &["Value null at 'tags' failed to satisfy constraint: Member must not be null"],
    );
    validation("AddTagsToStream", json!({"StreamName": "", "Tags": {}}), &[
        "Value '{}' at 'tags' failed to satisfy constraint: Member must have length greater than or equal to 1",
        "Value '' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        "Value '' at 'streamName' failed to satisfy constraint: Member must have length greater than or equal to 1",
    ]);
    let long = "a".repeat(129);
    // Raw body: json! would sort the keys. Values print in request order.
    let body = format!(r#"{{"StreamName":"s","Tags":{{"b":"2","{long}":"3","a":"1"}}}}"#);
    let (_, err) = json_err(decode_request(&view(
        Some("Kinesis_20131202.AddTagsToStream"),
        Some(JSON_CONTENT_TYPE),
        body.as_bytes(),
    )));
    assert_eq!(
        err["message"],
        format!("1 validation error detected: Value '{{b=2, {long}=3, a=1}}' at 'tags' failed to satisfy constraint: Map keys must satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1]")
    );
    let long_value = "v".repeat(257);
    validation("TagResource", json!({"ResourceARN": ARN, "Tags": {"c": long_value.clone()}}), &[
        &format!("Value '{{c={long_value}}}' at 'tags' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 256, Member must have length greater than or equal to 0]"),
    ]);
    validation("RemoveTagsFromStream", json!({"StreamName": "s", "TagKeys": ["a", long.clone(), "b"]}), &[
        &format!("Value '[a, {long}, b]' at 'tagKeys' failed to satisfy constraint: Member must satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1]"),
    ]);
    let keys: Vec<String> = (1..=51).map(|i| i.to_string()).collect();
    validation("UntagResource", json!({"ResourceARN": ARN, "TagKeys": keys}), &[
        &format!("Value '[{}]' at 'tagKeys' failed to satisfy constraint: Member must have length less than or equal to 50", keys.join(", ")),
    ]);
    validation("RemoveTagsFromStream", json!({"StreamName": "s", "TagKeys": ["a", null]}), &[
        "Value null at 'tagKeys.2.member' failed to satisfy constraint: Member must not be null",
    ]);
}

// ------------------------------------------------------------------ argument rules

#[test]
fn list_shards_next_token_rules_are_left_to_the_domain() {
    // The domain answers "Either NextToken or StreamName should be provided." and
    // "NextToken and StreamName cannot be provided together."; the protocol passes both through.
    assert!(matches!(
        input("ListShards", json!({})),
        Input::ListShards(_)
    ));
    assert!(matches!(
        input("ListShards", json!({"StreamName": "a", "NextToken": "b"})),
        Input::ListShards(_)
    ));
    assert!(matches!(
        input("ListShards", json!({"StreamARN": ARN})),
        Input::ListShards(_)
    ));
    assert!(matches!(
        input("ListShards", json!({"NextToken": "x"})),
        Input::ListShards(_)
    ));
    // Validation comes first.
    validation("ListShards", json!({"MaxResults": 0}), &["Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1"]);
}

#[test]
fn get_shard_iterator_argument_rules_are_left_to_the_domain() {
    // AWS checks the type/sequence-number and AT_TIMESTAMP rules only after the
    // stream and shard lookup, so the protocol layer must let these through.
    for (t, seq) in [
        ("LATEST", Some("5")),
        ("TRIM_HORIZON", Some("5")),
        ("AT_SEQUENCE_NUMBER", None),
        ("AT_TIMESTAMP", None),
    ] {
        let mut body = json!({"StreamName": "s", "ShardId": "shardId-0", "ShardIteratorType": t});
        if let Some(seq) = seq {
            body["StartingSequenceNumber"] = json!(seq);
        }
        let Input::GetShardIterator(i) = input("GetShardIterator", body) else {
            panic!()
        };
        assert_eq!(i.iterator_type.as_str(), t);
        assert_eq!(i.starting_sequence_number.as_deref(), seq);
    }
    let Input::GetShardIterator(i) = input(
        "GetShardIterator",
        json!({"StreamName": "s", "ShardId": "shardId-0", "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": 1459799926.48}),
    ) else {
        panic!()
    };
    assert_eq!(
        (i.iterator_type, i.timestamp),
        (
            ShardIteratorType::AtTimestamp,
            Some(Timestamp(1_459_799_926_480))
        )
    );
    let Input::GetShardIterator(i) = input(
        "GetShardIterator",
        json!({"StreamARN": ARN, "ShardId": "shardId-0", "ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": "49590338271490256608559692538361571095921575989136588898"}),
    ) else {
        panic!()
    };
    assert_eq!(
        i.stream,
        StreamRef {
            name: None,
            arn: Some(ARN.into())
        }
    );
    assert_eq!(
        i.starting_sequence_number.as_deref(),
        Some("49590338271490256608559692538361571095921575989136588898")
    );
}

#[test]
fn explicit_hash_key_range_is_left_to_the_domain() {
    // 2^128 matches the model pattern; AWS rejects it only after finding the stream.
    let too_big = "340282366920938463463374607431768211456";
    let Input::PutRecord(i) = input(
        "PutRecord",
        json!({"StreamName": "s", "PartitionKey": "a", "Data": "", "ExplicitHashKey": too_big}),
    ) else {
        panic!()
    };
    assert_eq!(i.explicit_hash_key.as_deref(), Some(too_big));
    let max = "340282366920938463463374607431768211455";
    let Input::PutRecord(i) = input(
        "PutRecord",
        json!({"PartitionKey": "a", "Data": "", "ExplicitHashKey": max}),
    ) else {
        panic!()
    };
    assert_eq!(i.explicit_hash_key.as_deref(), Some(max));
}

// ------------------------------------------------------------------ successful decodes

#[test]
fn put_records_json_decodes() {
    let Input::PutRecords(i) = input(
        "PutRecords",
        json!({
            "StreamName": "s1",
            "StreamARN": null,
            "Unknown": {"ignored": true},
            "Records": [
                {"Data": "aGVsbG8=", "PartitionKey": "pk", "Extra": 1},
                {"Data": "", "PartitionKey": "é", "ExplicitHashKey": "0"},
            ],
        }),
    ) else {
        panic!()
    };
    assert_eq!(
        i.stream,
        StreamRef {
            name: Some("s1".into()),
            arn: None
        }
    );
    assert_eq!(i.records.len(), 2);
    assert_eq!(
        (
            i.records[0].data.as_slice(),
            i.records[0].partition_key.as_str()
        ),
        (&b"hello"[..], "pk")
    );
    assert_eq!(
        (
            i.records[1].data.as_slice(),
            i.records[1].explicit_hash_key.as_deref()
        ),
        (&b""[..], Some("0"))
    );
}

#[test]
fn other_inputs_decode() {
    let Input::CreateStream(i) = input(
        "CreateStream",
        json!({"StreamName": "s", "ShardCount": 2.9, "StreamModeDetails": {"StreamMode": "ON_DEMAND"}, "Tags": {"k": "v"}, "MaxRecordSizeInKiB": 10240}),
    ) else {
        panic!()
    };
    assert_eq!(
        (
            i.stream_name.as_str(),
            i.shard_count,
            i.stream_mode,
            i.max_record_size_kib
        ),
        ("s", Some(2), Some(StreamMode::OnDemand), Some(10240))
    );
    assert_eq!(
        i.tags.map(|t| t.into_iter().collect::<Vec<_>>()),
        Some(vec![("k".to_string(), "v".to_string())])
    );
    let Input::DeleteStream(i) = input(
        "DeleteStream",
        json!({"StreamARN": ARN, "EnforceConsumerDeletion": true}),
    ) else {
        panic!()
    };
    assert!(i.enforce_consumer_deletion);
    assert_eq!(i.stream.arn.as_deref(), Some(ARN));
    // Neither StreamName nor StreamARN: the domain decides.
    let Input::DescribeStreamSummary(i) = input("DescribeStreamSummary", json!({})) else {
        panic!()
    };
    assert_eq!(i.stream, StreamRef::default());
    let Input::DecreaseStreamRetentionPeriod(i) = input(
        "DecreaseStreamRetentionPeriod",
        json!({"StreamName": "s", "RetentionPeriodHours": 23}),
    ) else {
        panic!()
    };
    assert_eq!(i.retention_period_hours, 23);
    let Input::UpdateMaxRecordSize(i) = input(
        "UpdateMaxRecordSize",
        json!({"StreamARN": ARN, "MaxRecordSizeInKiB": 2048}),
    ) else {
        panic!()
    };
    assert_eq!(
        (i.stream.arn.as_deref(), i.max_record_size_kib),
        (Some(ARN), 2048)
    );
    let Input::UntagResource(i) = input(
        "UntagResource",
        json!({"ResourceARN": ARN, "TagKeys": ["a", "b"]}),
    ) else {
        panic!()
    };
    assert_eq!(i.tag_keys, vec!["a", "b"]);
    assert!(matches!(
        input("DescribeLimits", json!({})),
        Input::DescribeLimits
    ));
    let Input::ListStreams(i) = input("ListStreams", json!({"Limit": 5, "NextToken": "t"})) else {
        panic!()
    };
    assert_eq!((i.limit, i.next_token.as_deref()), (Some(5), Some("t")));
}

// ------------------------------------------------------------------ outputs and errors

#[test]
fn encode_outputs_json() {
    let r = encode_output(Format::Json, &Output::Empty);
    assert_eq!(
        r,
        WireResponse {
            status: 200,
            content_type: Some(JSON_CONTENT_TYPE),
            body: vec![]
        }
    );
    let r = encode_output(Format::Cbor, &Output::Empty);
    assert_eq!(
        r,
        WireResponse {
            status: 200,
            content_type: Some(CBOR_CONTENT_TYPE),
            body: vec![]
        }
    );
    let r = encode_output(
        Format::Json,
        &Output::GetRecords(GetRecordsOutput {
            records: vec![Record {
                sequence_number: "1".into(),
                approximate_arrival_timestamp: Timestamp(1_441_215_410_867),
                data: Blob(b"hello".to_vec()),
                partition_key: "pk".into(),
                encryption_type: None,
            }],
            next_shard_iterator: None,
            millis_behind_latest: 0,
            child_shards: Some(vec![]),
        }),
    );
    assert_eq!(
        String::from_utf8(r.body).ok().as_deref(),
        Some(
            r#"{"Records":[{"SequenceNumber":"1","ApproximateArrivalTimestamp":1441215410.867,"Data":"aGVsbG8=","PartitionKey":"pk"}],"MillisBehindLatest":0,"ChildShards":[]}"#
        )
    );
}

#[test]
fn encode_errors_json() {
    let r = encode_error(
        Format::Json,
        &ApiError::resource_not_found("Stream \"x\" not found."),
    );
    assert_eq!((r.status, r.content_type), (400, Some(JSON_CONTENT_TYPE)));
    assert_eq!(
        r.body,
        br#"{"__type":"ResourceNotFoundException","message":"Stream \"x\" not found."}"#.to_vec()
    );
    let r = encode_error(Format::Json, &ApiError::serialization("m"));
    assert_eq!(
        r.body,
        br#"{"__type":"SerializationException","Message":"m"}"#.to_vec()
    );
    let r = encode_error(Format::Json, &ApiError::internal());
    assert_eq!(
        (r.status, r.body),
        (500, br#"{"__type":"InternalFailure"}"#.to_vec())
    );
}
