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

fn reply(d: kinesis::Decoded) -> WireResponse {
    match d {
        kinesis::Decoded::Reply(r) => r,
        other => panic!("expected a reply, got {other:?}"),
    }
}

/// A JSON request for `op`; returns the decoded result.
fn call(op: &str, body: J) -> kinesis::Decoded {
    let target = format!("Kinesis_20131202.{op}");
    let body = body.to_string();
    kinesis::decode(&view(
        Some(&target),
        Some(JSON_CONTENT_TYPE),
        body.as_bytes(),
    ))
}

fn input(op: &str, body: J) -> Input {
    match call(op, body) {
        kinesis::Decoded::Call { input, format, .. } => {
            assert_eq!(format, Format::Json);
            input
        }
        kinesis::Decoded::Reply(r) => panic!("{} {}", r.status, String::from_utf8_lossy(&r.body)),
    }
}

/// (status, parsed JSON body) of a JSON error reply.
fn json_err(d: kinesis::Decoded) -> (u16, J) {
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

/// A text member of a CBOR error reply.
fn cbor_text_member(body: &[u8], key: &str) -> Option<String> {
    let parsed: ciborium::Value = ciborium::from_reader(body).ok()?;
    parsed
        .as_map()?
        .iter()
        .find(|(k, _)| k.as_text() == Some(key))
        .and_then(|(_, v)| v.as_text().map(str::to_owned))
}

// CBOR request bodies laid out as the Java SDK v2 writes them: indefinite-length
// maps, definite text keys, timestamps as tag 1 + integer epoch milliseconds.
fn cbor_head(major: u8, n: u64) -> Vec<u8> {
    let m = major << 5;
    match n {
        0..=23 => vec![m | n as u8],
        24..=0xff => vec![m | 24, n as u8],
        0x100..=0xffff => [&[m | 25][..], &(n as u16).to_be_bytes()].concat(),
        0x1_0000..=0xffff_ffff => [&[m | 26][..], &(n as u32).to_be_bytes()].concat(),
        _ => [&[m | 27][..], &n.to_be_bytes()].concat(),
    }
}
fn ctext(s: &str) -> Vec<u8> {
    [cbor_head(3, s.len() as u64), s.as_bytes().to_vec()].concat()
}
fn cuint(n: u64) -> Vec<u8> {
    cbor_head(0, n)
}
/// Tag 1 + a 64-bit integer, as Jackson writes epoch milliseconds.
fn ctimestamp_millis(ms: u64) -> Vec<u8> {
    [&[0xc1, 0x1b][..], &ms.to_be_bytes()].concat()
}
fn cmap(pairs: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![0xbf];
    for (k, v) in pairs {
        out.extend(ctext(k));
        out.extend_from_slice(v);
    }
    out.push(0xff);
    out
}

fn call_cbor(op: &str, body: &[u8]) -> kinesis::Decoded {
    let target = format!("Kinesis_20131202.{op}");
    kinesis::decode(&view(Some(&target), Some(CBOR_CONTENT_TYPE), body))
}

fn input_cbor(op: &str, body: &[u8]) -> Input {
    match call_cbor(op, body) {
        kinesis::Decoded::Call { input, format, .. } => {
            assert_eq!(format, Format::Cbor);
            input
        }
        kinesis::Decoded::Reply(r) => panic!(
            "{} {:?}",
            r.status,
            ciborium::from_reader::<ciborium::Value, _>(&r.body[..])
        ),
    }
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
            reply(kinesis::decode(&v)),
            WireResponse {
                status: 403,
                content_type: None,
                body: ACCESS_DENIED_XML.as_bytes().to_vec(),
                error_code: Some("AccessDeniedException"),
            }
        );
    }
}

// ------------------------------------------------------------------ step 4: empty body

#[test]
fn empty_body_json() {
    let r = reply(kinesis::decode(&view(
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
    let r = reply(kinesis::decode(&view(
        Some("Kinesis_20131202.ListStream"),
        Some(JSON_CONTENT_TYPE),
        b"",
    )));
    assert_eq!(
        r.body,
        br#"{"__type":"UnknownOperationException"}"#.to_vec()
    );
    // Every known operation counts, including the capacity/consumer ones.
    let r = reply(kinesis::decode(&view(
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
        let r = reply(kinesis::decode(&view(
            Some("Kinesis_20131202.ListStreams"),
            ct,
            b"",
        )));
        assert_eq!((r.status, r.content_type), (400, Some(CBOR_CONTENT_TYPE)));
        assert_eq!(r.body, cbor_bare("SerializationException"));
        let r = reply(kinesis::decode(&view(None, ct, b"")));
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
            let r = reply(kinesis::decode(&view(target, ct, b"{}")));
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
            let r = reply(kinesis::decode(&view(Some(target), ct, b"{}")));
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
        kinesis::decode(&v),
        kinesis::Decoded::Call {
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
        let r = reply(kinesis::decode(&view(
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
        let r = reply(kinesis::decode(&view(
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
    let r = reply(kinesis::decode(&view(
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
        let r = reply(kinesis::decode(&v));
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
            json_err(kinesis::decode(&v)),
            (400, json!({"__type": "UnknownOperationException"}))
        );
        let r = reply(kinesis::decode(&view(
            target,
            Some(CBOR_CONTENT_TYPE),
            &[0xa0],
        )));
        assert_eq!(r.body, cbor_bare("UnknownOperationException"));
    }
}

// ------------------------------------------------------------------ step 9: auth

fn auth(authorization: Option<&str>, date: bool, query: Option<&str>) -> kinesis::Decoded {
    let mut v = view(
        Some("Kinesis_20131202.ListStreams"),
        Some(JSON_CONTENT_TYPE),
        b"{}",
    );
    v.authorization = authorization;
    v.has_date_header = date;
    v.query = query;
    kinesis::decode(&v)
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
    assert!(matches!(
        auth(None, false, Some(ok)),
        kinesis::Decoded::Call { .. }
    ));
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
    let r = reply(kinesis::decode(&v));
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

// ------------------------------------------------------------------ every operation decodes

#[test]
fn every_known_operation_decodes_or_fails_validation() {
    // All 39 operations have a schema: a body gets a typed Input or a
    // validation error.
    for op in Operation::ALL {
        match call(op.name(), json!({"x": 1})) {
            kinesis::Decoded::Call { op: got, .. } => assert_eq!(got, *op),
            kinesis::Decoded::Reply(r) => {
                assert_eq!(r.status, 400, "{}", op.name());
                let body: J = serde_json::from_slice(&r.body).expect("json");
                assert_eq!(body["__type"], "ValidationException", "{}", op.name());
            }
        }
    }
    // Auth still comes before the schema.
    let mut v = view(
        Some("Kinesis_20131202.SubscribeToShard"),
        Some(CBOR_CONTENT_TYPE),
        &[0xa0],
    );
    v.authorization = None;
    let r = reply(kinesis::decode(&v));
    assert_eq!(r.status, 400);
    assert_eq!(
        cbor_text_member(&r.body, "__type").as_deref(),
        Some("MissingAuthenticationTokenException")
    );
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
        kinesis::Decoded::Call { .. }
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
    let r = reply(kinesis::decode(&view(
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
    match kinesis::decode(&view(
        Some("Kinesis_20131202.PutRecord"),
        Some(CBOR_CONTENT_TYPE),
        &ok,
    )) {
        kinesis::Decoded::Call {
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
    let (_, err) = json_err(kinesis::decode(&view(
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
            i.records[0].data.to_vec(),
            i.records[0].partition_key.as_str()
        ),
        (Some(b"hello".to_vec()), "pk")
    );
    assert_eq!(
        (
            i.records[1].data.to_vec(),
            i.records[1].explicit_hash_key.as_deref()
        ),
        (Some(vec![]), Some("0"))
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

// ------------------------------------------------------------------ capacity, consumers, encryption, monitoring, policies

const CONSUMER_ARN: &str =
    "arn:aws:kinesis:us-east-1:123456789012:stream/s1/consumer/c1:1700000000";
const NOT_NULL: &str = "failed to satisfy constraint: Member must not be null";
const NAME_PATTERN: &str =
    "failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+";
const MIN_LEN_1: &str =
    "failed to satisfy constraint: Member must have length greater than or equal to 1";

#[test]
fn resharding_inputs_decode() {
    let Input::SplitShard(i) = input(
        "SplitShard",
        json!({"StreamName": "s1", "ShardToSplit": "shardId-000000000000", "NewStartingHashKey": "170141183460469231731687303715884105728"}),
    ) else {
        panic!()
    };
    assert_eq!(
        (
            i.stream.name.as_deref(),
            i.stream.arn.as_deref(),
            i.shard_to_split.as_str(),
            i.new_starting_hash_key.as_str()
        ),
        (
            Some("s1"),
            None,
            "shardId-000000000000",
            "170141183460469231731687303715884105728"
        )
    );
    let Input::MergeShards(i) = input(
        "MergeShards",
        json!({"StreamARN": ARN, "ShardToMerge": "shardId-000000000001", "AdjacentShardToMerge": "shardId-000000000002"}),
    ) else {
        panic!()
    };
    assert_eq!(
        (
            i.stream,
            i.shard_to_merge.as_str(),
            i.adjacent_shard_to_merge.as_str()
        ),
        (
            StreamRef {
                name: None,
                arn: Some(ARN.into())
            },
            "shardId-000000000001",
            "shardId-000000000002"
        )
    );
    let Input::UpdateShardCount(i) = input(
        "UpdateShardCount",
        json!({"StreamName": "s1", "TargetShardCount": 4, "ScalingType": "UNIFORM_SCALING"}),
    ) else {
        panic!()
    };
    assert_eq!(
        (
            i.stream.name.as_deref(),
            i.target_shard_count,
            i.scaling_type.as_str()
        ),
        (Some("s1"), 4, "UNIFORM_SCALING")
    );
    let Input::UpdateStreamMode(i) = input(
        "UpdateStreamMode",
        json!({"StreamARN": ARN, "StreamModeDetails": {"StreamMode": "ON_DEMAND"}, "WarmThroughputMiBps": 0}),
    ) else {
        panic!()
    };
    assert_eq!(
        (
            i.stream_arn.as_str(),
            i.stream_mode,
            i.warm_throughput_mibps
        ),
        (ARN, StreamMode::OnDemand, Some(0))
    );
    let Input::UpdateStreamMode(i) = input(
        "UpdateStreamMode",
        json!({"StreamARN": ARN, "StreamModeDetails": {"StreamMode": "PROVISIONED"}}),
    ) else {
        panic!()
    };
    assert_eq!(
        (i.stream_mode, i.warm_throughput_mibps),
        (StreamMode::Provisioned, None)
    );
    let Input::UpdateStreamWarmThroughput(i) = input(
        "UpdateStreamWarmThroughput",
        json!({"StreamName": "s1", "WarmThroughputMiBps": 100}),
    ) else {
        panic!()
    };
    assert_eq!(
        (i.stream.name.as_deref(), i.warm_throughput_mibps),
        (Some("s1"), 100)
    );
}

#[test]
fn account_settings_inputs_decode() {
    assert!(matches!(
        input("DescribeAccountSettings", json!({})),
        Input::DescribeAccountSettings
    ));
    for status in ["ENABLED", "DISABLED"] {
        let Input::UpdateAccountSettings(i) = input(
            "UpdateAccountSettings",
            json!({"MinimumThroughputBillingCommitment": {"Status": status}}),
        ) else {
            panic!()
        };
        assert_eq!(i.minimum_throughput_billing_commitment_status, status);
    }
}

#[test]
fn consumer_inputs_decode() {
    let Input::RegisterStreamConsumer(i) = input(
        "RegisterStreamConsumer",
        json!({"StreamARN": ARN, "ConsumerName": "c1", "Tags": {"team": "data"}}),
    ) else {
        panic!()
    };
    assert_eq!(
        (i.stream_arn.as_str(), i.consumer_name.as_str()),
        (ARN, "c1")
    );
    assert_eq!(
        i.tags.map(|t| t.into_iter().collect::<Vec<_>>()),
        Some(vec![("team".to_string(), "data".to_string())])
    );
    // Any combination passes: which ones name a consumer is the domain's call.
    for (op, body, expected) in [
        (
            "DeregisterStreamConsumer",
            json!({"ConsumerARN": CONSUMER_ARN}),
            ConsumerRef {
                consumer_arn: Some(CONSUMER_ARN.into()),
                ..ConsumerRef::default()
            },
        ),
        (
            "DescribeStreamConsumer",
            json!({"StreamARN": ARN, "ConsumerName": "c1"}),
            ConsumerRef {
                stream_arn: Some(ARN.into()),
                consumer_name: Some("c1".into()),
                consumer_arn: None,
            },
        ),
        ("DescribeStreamConsumer", json!({}), ConsumerRef::default()),
    ] {
        let got = match input(op, body) {
            Input::DeregisterStreamConsumer(r) if op == "DeregisterStreamConsumer" => r,
            Input::DescribeStreamConsumer(r) if op == "DescribeStreamConsumer" => r,
            other => panic!("{op}: {other:?}"),
        };
        assert_eq!(got, expected);
    }
    let Input::ListStreamConsumers(i) = input(
        "ListStreamConsumers",
        json!({"StreamARN": ARN, "MaxResults": 10, "NextToken": "t", "StreamCreationTimestamp": 1459799926.48}),
    ) else {
        panic!()
    };
    assert_eq!(
        (
            i.stream_arn.as_str(),
            i.max_results,
            i.next_token.as_deref(),
            i.stream_creation_timestamp
        ),
        (ARN, Some(10), Some("t"), Some(Timestamp(1_459_799_926_480)))
    );
    let Input::SubscribeToShard(i) = input(
        "SubscribeToShard",
        json!({"ConsumerARN": CONSUMER_ARN, "ShardId": "shardId-000000000000",
               "StartingPosition": {"Type": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": "49590338271490256608559692538361571095921575989136588898"}}),
    ) else {
        panic!()
    };
    assert_eq!(
        (
            i.consumer_arn.as_str(),
            i.shard_id.as_str(),
            i.starting_position.position_type,
            i.starting_position.sequence_number.as_deref(),
            i.starting_position.timestamp
        ),
        (
            CONSUMER_ARN,
            "shardId-000000000000",
            ShardIteratorType::AfterSequenceNumber,
            Some("49590338271490256608559692538361571095921575989136588898"),
            None
        )
    );
    // JSON timestamps are epoch seconds.
    let Input::SubscribeToShard(i) = input(
        "SubscribeToShard",
        json!({"ConsumerARN": CONSUMER_ARN, "ShardId": "shardId-000000000000",
               "StartingPosition": {"Type": "AT_TIMESTAMP", "Timestamp": 1459799926}}),
    ) else {
        panic!()
    };
    assert_eq!(
        (
            i.starting_position.position_type,
            i.starting_position.timestamp
        ),
        (
            ShardIteratorType::AtTimestamp,
            Some(Timestamp(1_459_799_926_000))
        )
    );
    // TRIM_HORIZON with a sequence number: AWS decides after looking things up.
    let Input::SubscribeToShard(i) = input(
        "SubscribeToShard",
        json!({"ConsumerARN": CONSUMER_ARN, "ShardId": "shardId-0",
               "StartingPosition": {"Type": "TRIM_HORIZON", "SequenceNumber": "5"}}),
    ) else {
        panic!()
    };
    assert_eq!(
        (
            i.starting_position.position_type,
            i.starting_position.sequence_number.as_deref()
        ),
        (ShardIteratorType::TrimHorizon, Some("5"))
    );
}

#[test]
fn consumer_inputs_decode_from_cbor() {
    let body = cmap(&[
        ("ConsumerARN", ctext(CONSUMER_ARN)),
        ("ShardId", ctext("shardId-000000000001")),
        (
            "StartingPosition",
            cmap(&[
                ("Type", ctext("AT_TIMESTAMP")),
                ("Timestamp", ctimestamp_millis(1_459_799_926_480)),
            ]),
        ),
    ]);
    let Input::SubscribeToShard(i) = input_cbor("SubscribeToShard", &body) else {
        panic!()
    };
    assert_eq!(
        (
            i.consumer_arn.as_str(),
            i.shard_id.as_str(),
            i.starting_position.position_type,
            i.starting_position.sequence_number,
            i.starting_position.timestamp
        ),
        (
            CONSUMER_ARN,
            "shardId-000000000001",
            ShardIteratorType::AtTimestamp,
            None,
            // CBOR tag 1 carries milliseconds, not seconds.
            Some(Timestamp(1_459_799_926_480))
        )
    );
    let body = cmap(&[
        ("StreamARN", ctext(ARN)),
        ("ConsumerName", ctext("kcl-app")),
        ("Tags", cmap(&[("a", ctext("1")), ("b", ctext(""))])),
    ]);
    let Input::RegisterStreamConsumer(i) = input_cbor("RegisterStreamConsumer", &body) else {
        panic!()
    };
    assert_eq!(
        (i.stream_arn.as_str(), i.consumer_name.as_str()),
        (ARN, "kcl-app")
    );
    assert_eq!(
        i.tags.map(|t| t.into_iter().collect::<Vec<_>>()),
        Some(vec![
            ("a".to_string(), "1".to_string()),
            ("b".to_string(), String::new())
        ])
    );
    let body = cmap(&[
        ("StreamARN", ctext(ARN)),
        ("MaxResults", cuint(100)),
        (
            "StreamCreationTimestamp",
            ctimestamp_millis(1_700_000_000_123),
        ),
    ]);
    let Input::ListStreamConsumers(i) = input_cbor("ListStreamConsumers", &body) else {
        panic!()
    };
    assert_eq!(
        (i.max_results, i.stream_creation_timestamp),
        (Some(100), Some(Timestamp(1_700_000_000_123)))
    );
    // Validation errors answer in CBOR too.
    let body = cmap(&[
        ("ConsumerARN", ctext(CONSUMER_ARN)),
        ("ShardId", ctext("shardId-000000000001")),
        ("StartingPosition", cmap(&[("Type", ctext("EARLIEST"))])),
    ]);
    let r = reply(call_cbor("SubscribeToShard", &body));
    assert_eq!((r.status, r.content_type), (400, Some(CBOR_CONTENT_TYPE)));
    assert_eq!(
        cbor_text_member(&r.body, "__type").as_deref(),
        Some("ValidationException")
    );
    assert_eq!(
        cbor_text_member(&r.body, "message").as_deref(),
        Some("1 validation error detected: Value 'EARLIEST' at 'startingPosition.type' failed to satisfy constraint: Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, LATEST, AT_TIMESTAMP, AT_SEQUENCE_NUMBER, TRIM_HORIZON]")
    );
}

#[test]
fn monitoring_encryption_and_policy_inputs_decode() {
    let Input::EnableEnhancedMonitoring(i) = input(
        "EnableEnhancedMonitoring",
        json!({"StreamName": "s1", "ShardLevelMetrics": ["IncomingBytes", "ALL"]}),
    ) else {
        panic!()
    };
    assert_eq!(
        (i.stream.name.as_deref(), i.shard_level_metrics),
        (
            Some("s1"),
            vec!["IncomingBytes".to_string(), "ALL".to_string()]
        )
    );
    let Input::DisableEnhancedMonitoring(i) = input(
        "DisableEnhancedMonitoring",
        json!({"StreamARN": ARN, "ShardLevelMetrics": ["IteratorAgeMilliseconds"]}),
    ) else {
        panic!()
    };
    assert_eq!(
        (i.stream.arn.as_deref(), i.shard_level_metrics),
        (Some(ARN), vec!["IteratorAgeMilliseconds".to_string()])
    );
    let Input::StartStreamEncryption(i) = input(
        "StartStreamEncryption",
        json!({"StreamName": "s1", "EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"}),
    ) else {
        panic!()
    };
    assert_eq!(
        (
            i.stream.name.as_deref(),
            i.encryption_type.as_str(),
            i.key_id.as_str()
        ),
        (Some("s1"), "KMS", "alias/aws/kinesis")
    );
    let Input::StopStreamEncryption(i) = input(
        "StopStreamEncryption",
        json!({"StreamARN": ARN, "EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"}),
    ) else {
        panic!()
    };
    assert_eq!(
        (i.stream.arn.as_deref(), i.encryption_type.as_str()),
        (Some(ARN), "KMS")
    );
    // The policy document is an opaque string here (even an empty one).
    let policy = r#"{"Version":"2012-10-17","Statement":[]}"#;
    let Input::PutResourcePolicy(i) = input(
        "PutResourcePolicy",
        json!({"ResourceARN": CONSUMER_ARN, "Policy": policy}),
    ) else {
        panic!()
    };
    assert_eq!(
        (i.resource_arn.as_str(), i.policy.as_str()),
        (CONSUMER_ARN, policy)
    );
    let Input::PutResourcePolicy(i) = input(
        "PutResourcePolicy",
        json!({"ResourceARN": ARN, "Policy": ""}),
    ) else {
        panic!()
    };
    assert_eq!(i.policy, "");
    let Input::GetResourcePolicy(i) = input("GetResourcePolicy", json!({"ResourceARN": ARN}))
    else {
        panic!()
    };
    assert_eq!(i.resource_arn, ARN);
    let Input::DeleteResourcePolicy(i) =
        input("DeleteResourcePolicy", json!({"ResourceARN": CONSUMER_ARN}))
    else {
        panic!()
    };
    assert_eq!(i.resource_arn, CONSUMER_ARN);
}

#[test]
fn resharding_validation() {
    // Current model: StreamName is optional (kinesalite's AWS run predates that);
    // member order as AWS reported it.
    validation(
        "SplitShard",
        json!({}),
        &[
            &format!("Value null at 'newStartingHashKey' {NOT_NULL}"),
            &format!("Value null at 'shardToSplit' {NOT_NULL}"),
        ],
    );
    validation(
        "SplitShard",
        json!({"StreamName": "", "ShardToSplit": "", "NewStartingHashKey": ""}),
        &[
            "Value '' at 'newStartingHashKey' failed to satisfy constraint: Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})",
            &format!("Value '' at 'streamName' {NAME_PATTERN}"),
            &format!("Value '' at 'streamName' {MIN_LEN_1}"),
            &format!("Value '' at 'shardToSplit' {NAME_PATTERN}"),
            &format!("Value '' at 'shardToSplit' {MIN_LEN_1}"),
        ],
    );
    let name = "a".repeat(129);
    validation(
        "SplitShard",
        json!({"StreamName": name, "ShardToSplit": name, "NewStartingHashKey": "0"}),
        &[
            &format!("Value '{name}' at 'streamName' failed to satisfy constraint: Member must have length less than or equal to 128"),
            &format!("Value '{name}' at 'shardToSplit' failed to satisfy constraint: Member must have length less than or equal to 128"),
        ],
    );
    // 40 digits breaks the pattern; 2^128 (39 digits) is the domain's to reject.
    validation(
        "SplitShard",
        json!({"ShardToSplit": "shardId-0", "NewStartingHashKey": "1".repeat(40), "StreamARN": "arn:aws:kinesis:us-east-1:123:stream/s"}),
        &[
            &format!("Value '{}' at 'newStartingHashKey' failed to satisfy constraint: Member must satisfy regular expression pattern: 0|([1-9]\\d{{0,38}})", "1".repeat(40)),
            "Value 'arn:aws:kinesis:us-east-1:123:stream/s' at 'streamARN' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+",
        ],
    );
    assert!(matches!(
        input(
            "SplitShard",
            json!({"StreamName": "s", "ShardToSplit": "x", "NewStartingHashKey": "340282366920938463463374607431768211456"})
        ),
        Input::SplitShard(_)
    ));

    validation(
        "MergeShards",
        json!({}),
        &[
            &format!("Value null at 'shardToMerge' {NOT_NULL}"),
            &format!("Value null at 'adjacentShardToMerge' {NOT_NULL}"),
        ],
    );
    validation(
        "MergeShards",
        json!({"StreamName": "", "ShardToMerge": "", "AdjacentShardToMerge": ""}),
        &[
            &format!("Value '' at 'shardToMerge' {NAME_PATTERN}"),
            &format!("Value '' at 'shardToMerge' {MIN_LEN_1}"),
            &format!("Value '' at 'adjacentShardToMerge' {NAME_PATTERN}"),
            &format!("Value '' at 'adjacentShardToMerge' {MIN_LEN_1}"),
            &format!("Value '' at 'streamName' {NAME_PATTERN}"),
            &format!("Value '' at 'streamName' {MIN_LEN_1}"),
        ],
    );

    validation(
        "UpdateShardCount",
        json!({}),
        &[
            &format!("Value null at 'scalingType' {NOT_NULL}"),
            &format!("Value null at 'targetShardCount' {NOT_NULL}"),
        ],
    );
    validation(
        "UpdateShardCount",
        json!({"StreamName": "", "ScalingType": "", "TargetShardCount": 0}),
        &[
            "Value '' at 'scalingType' failed to satisfy constraint: Member must satisfy enum value set: [UNIFORM_SCALING]",
            &format!("Value '' at 'streamName' {NAME_PATTERN}"),
            &format!("Value '' at 'streamName' {MIN_LEN_1}"),
            "Value '0' at 'targetShardCount' failed to satisfy constraint: Member must have value greater than or equal to 1",
        ],
    );
    validation(
        "UpdateShardCount",
        json!({"StreamName": "s", "ScalingType": "NON_UNIFORM", "TargetShardCount": 2}),
        &["Value 'NON_UNIFORM' at 'scalingType' failed to satisfy constraint: Member must satisfy enum value set: [UNIFORM_SCALING]"],
    );
    // No upper bound in the current model (kinesalite's 100000 is gone); integers clamp.
    let Input::UpdateShardCount(i) = input(
        "UpdateShardCount",
        json!({"StreamName": "s", "ScalingType": "UNIFORM_SCALING", "TargetShardCount": 100000000000u64}),
    ) else {
        panic!()
    };
    assert_eq!(i.target_shard_count, 2_147_483_647);
    serialization(
        "UpdateShardCount",
        json!({"TargetShardCount": "2"}),
        "class java.lang.String can not be converted to an Integer",
    );

    validation(
        "UpdateStreamMode",
        json!({}),
        &[
            &format!("Value null at 'streamARN' {NOT_NULL}"),
            &format!("Value null at 'streamModeDetails' {NOT_NULL}"),
        ],
    );
    validation(
        "UpdateStreamMode",
        json!({"StreamARN": ARN, "StreamModeDetails": {}, "WarmThroughputMiBps": -1}),
        &[
            &format!("Value null at 'streamModeDetails.streamMode' {NOT_NULL}"),
            "Value '-1' at 'warmThroughputMiBps' failed to satisfy constraint: Member must have value greater than or equal to 0",
        ],
    );
    validation(
        "UpdateStreamMode",
        json!({"StreamARN": ARN, "StreamModeDetails": {"StreamMode": "on_demand"}}),
        &["Value 'on_demand' at 'streamModeDetails.streamMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, ON_DEMAND]"],
    );
    validation(
        "UpdateStreamWarmThroughput",
        json!({"StreamName": "s"}),
        &[&format!("Value null at 'warmThroughputMiBps' {NOT_NULL}")],
    );
    validation(
        "UpdateStreamWarmThroughput",
        json!({"StreamARN": "", "WarmThroughputMiBps": -5}),
        &[
            "Value '' at 'streamARN' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+",
            &format!("Value '' at 'streamARN' {MIN_LEN_1}"),
            "Value '-5' at 'warmThroughputMiBps' failed to satisfy constraint: Member must have value greater than or equal to 0",
        ],
    );
}

#[test]
fn account_settings_validation() {
    validation(
        "UpdateAccountSettings",
        json!({}),
        &[&format!(
            "Value null at 'minimumThroughputBillingCommitment' {NOT_NULL}"
        )],
    );
    validation(
        "UpdateAccountSettings",
        json!({"MinimumThroughputBillingCommitment": {}}),
        &[&format!(
            "Value null at 'minimumThroughputBillingCommitment.status' {NOT_NULL}"
        )],
    );
    // An output-only status is not an input value.
    validation(
        "UpdateAccountSettings",
        json!({"MinimumThroughputBillingCommitment": {"Status": "ENABLED_UNTIL_EARLIEST_ALLOWED_END"}}),
        &["Value 'ENABLED_UNTIL_EARLIEST_ALLOWED_END' at 'minimumThroughputBillingCommitment.status' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED]"],
    );
    serialization(
        "UpdateAccountSettings",
        json!({"MinimumThroughputBillingCommitment": "ENABLED"}),
        "Expected null",
    );
    // DescribeAccountSettings has no members; anything else is ignored.
    assert!(matches!(
        input("DescribeAccountSettings", json!({"StreamName": 5})),
        Input::DescribeAccountSettings
    ));
}

#[test]
fn consumer_validation() {
    validation(
        "RegisterStreamConsumer",
        json!({}),
        &[
            &format!("Value null at 'streamARN' {NOT_NULL}"),
            &format!("Value null at 'consumerName' {NOT_NULL}"),
        ],
    );
    validation(
        "RegisterStreamConsumer",
        json!({"StreamARN": ARN, "ConsumerName": "my consumer"}),
        &[&format!(
            "Value 'my consumer' at 'consumerName' {NAME_PATTERN}"
        )],
    );
    let long = "c".repeat(129);
    validation(
        "RegisterStreamConsumer",
        json!({"StreamARN": ARN, "ConsumerName": "", "Tags": {}}),
        &[
            &format!("Value '' at 'consumerName' {NAME_PATTERN}"),
            &format!("Value '' at 'consumerName' {MIN_LEN_1}"),
            "Value '{}' at 'tags' failed to satisfy constraint: Member must have length greater than or equal to 1",
        ],
    );
    validation(
        "RegisterStreamConsumer",
        json!({"StreamARN": ARN, "ConsumerName": long}),
        &[&format!("Value '{long}' at 'consumerName' failed to satisfy constraint: Member must have length less than or equal to 128")],
    );
    let consumer_arn_pattern = r"Member must satisfy regular expression pattern: ^(arn):aws.*:kinesis:.*:\d{12}:.*stream\/[a-zA-Z0-9_.-]+\/consumer\/[a-zA-Z0-9_.-]+:[0-9]+";
    for op in ["DescribeStreamConsumer", "DeregisterStreamConsumer"] {
        validation(
            op,
            json!({"ConsumerARN": ARN, "ConsumerName": "a/b"}),
            &[
                &format!("Value 'a/b' at 'consumerName' {NAME_PATTERN}"),
                &format!("Value '{ARN}' at 'consumerARN' failed to satisfy constraint: {consumer_arn_pattern}"),
            ],
        );
    }
    validation(
        "ListStreamConsumers",
        json!({}),
        &[&format!("Value null at 'streamARN' {NOT_NULL}")],
    );
    validation(
        "ListStreamConsumers",
        json!({"StreamARN": ARN, "NextToken": "", "MaxResults": 10001}),
        &[
            &format!("Value '' at 'nextToken' {MIN_LEN_1}"),
            "Value '10001' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 10000",
        ],
    );

    validation(
        "SubscribeToShard",
        json!({}),
        &[
            &format!("Value null at 'consumerARN' {NOT_NULL}"),
            &format!("Value null at 'shardId' {NOT_NULL}"),
            &format!("Value null at 'startingPosition' {NOT_NULL}"),
        ],
    );
    validation(
        "SubscribeToShard",
        json!({"ConsumerARN": CONSUMER_ARN, "ShardId": "shardId-0", "StartingPosition": {}}),
        &[&format!("Value null at 'startingPosition.type' {NOT_NULL}")],
    );
    validation(
        "SubscribeToShard",
        json!({"ConsumerARN": CONSUMER_ARN, "ShardId": "", "StartingPosition": {"Type": "AT_SHARD_ID", "SequenceNumber": "007"}}),
        &[
            &format!("Value '' at 'shardId' {NAME_PATTERN}"),
            &format!("Value '' at 'shardId' {MIN_LEN_1}"),
            // Same shape as ShardIteratorType, so AWS's order for it.
            "Value 'AT_SHARD_ID' at 'startingPosition.type' failed to satisfy constraint: Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, LATEST, AT_TIMESTAMP, AT_SEQUENCE_NUMBER, TRIM_HORIZON]",
            "Value '007' at 'startingPosition.sequenceNumber' failed to satisfy constraint: Member must satisfy regular expression pattern: 0|([1-9]\\d{0,128})",
        ],
    );
    serialization(
        "SubscribeToShard",
        json!({"StartingPosition": "LATEST"}),
        "Expected null",
    );
    serialization(
        "SubscribeToShard",
        json!({"StartingPosition": {"Type": "AT_TIMESTAMP", "Timestamp": "2020-01-01"}}),
        "class java.lang.String can not be converted to milliseconds since epoch",
    );
    serialization(
        "SubscribeToShard",
        json!({"StartingPosition": {"Type": 1}}),
        "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to an String",
    );
}

#[test]
fn monitoring_encryption_and_policy_validation() {
    const METRICS: &str = "[IncomingBytes, IncomingRecords, OutgoingBytes, OutgoingRecords, WriteProvisionedThroughputExceeded, ReadProvisionedThroughputExceeded, IteratorAgeMilliseconds, ALL]";
    for op in ["EnableEnhancedMonitoring", "DisableEnhancedMonitoring"] {
        validation(
            op,
            json!({}),
            &[&format!("Value null at 'shardLevelMetrics' {NOT_NULL}")],
        );
        validation(
            op,
            json!({"StreamName": "s", "ShardLevelMetrics": []}),
            &["Value '[]' at 'shardLevelMetrics' failed to satisfy constraint: Member must have length greater than or equal to 1"],
        );
        // Element enums are reported once, at the list, like element lengths.
        validation(
            op,
            json!({"StreamName": "s", "ShardLevelMetrics": ["IncomingBytes", "incomingRecords", "Bogus"]}),
            &[&format!("Value '[IncomingBytes, incomingRecords, Bogus]' at 'shardLevelMetrics' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: {METRICS}]")],
        );
    }
    let eight = [
        "IncomingBytes",
        "IncomingRecords",
        "OutgoingBytes",
        "OutgoingRecords",
        "WriteProvisionedThroughputExceeded",
        "ReadProvisionedThroughputExceeded",
        "IteratorAgeMilliseconds",
        "X",
    ];
    validation(
        "EnableEnhancedMonitoring",
        json!({"StreamName": "", "ShardLevelMetrics": eight}),
        &[
            &format!("Value '' at 'streamName' {NAME_PATTERN}"),
            &format!("Value '' at 'streamName' {MIN_LEN_1}"),
            &format!("Value '[{}]' at 'shardLevelMetrics' failed to satisfy constraint: Member must have length less than or equal to 7", eight.join(", ")),
            &format!("Value '[{}]' at 'shardLevelMetrics' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: {METRICS}]", eight.join(", ")),
        ],
    );
    validation(
        "EnableEnhancedMonitoring",
        json!({"StreamName": "s", "ShardLevelMetrics": ["ALL", null]}),
        &[&format!(
            "Value null at 'shardLevelMetrics.2.member' {NOT_NULL}"
        )],
    );
    serialization(
        "EnableEnhancedMonitoring",
        json!({"ShardLevelMetrics": "ALL"}),
        "Expected list or null",
    );
    serialization(
        "DisableEnhancedMonitoring",
        json!({"ShardLevelMetrics": [true]}),
        "class java.lang.Boolean can not be converted to an String",
    );

    for op in ["StartStreamEncryption", "StopStreamEncryption"] {
        validation(
            op,
            json!({}),
            &[
                &format!("Value null at 'encryptionType' {NOT_NULL}"),
                &format!("Value null at 'keyId' {NOT_NULL}"),
            ],
        );
        validation(
            op,
            json!({"StreamName": "s", "EncryptionType": "AES256", "KeyId": ""}),
            &[
                "Value 'AES256' at 'encryptionType' failed to satisfy constraint: Member must satisfy enum value set: [NONE, KMS]",
                &format!("Value '' at 'keyId' {MIN_LEN_1}"),
            ],
        );
    }
    let long_key = "k".repeat(2049);
    validation(
        "StartStreamEncryption",
        json!({"StreamARN": ARN, "EncryptionType": "KMS", "KeyId": long_key}),
        &[&format!("Value '{long_key}' at 'keyId' failed to satisfy constraint: Member must have length less than or equal to 2048")],
    );
    // NONE passes validation; what it means is the domain's call.
    assert!(matches!(
        input(
            "StartStreamEncryption",
            json!({"StreamName": "s", "EncryptionType": "NONE", "KeyId": "k"})
        ),
        Input::StartStreamEncryption(_)
    ));

    validation(
        "PutResourcePolicy",
        json!({}),
        &[
            &format!("Value null at 'resourceARN' {NOT_NULL}"),
            &format!("Value null at 'policy' {NOT_NULL}"),
        ],
    );
    let resource_pattern =
        r"Member must satisfy regular expression pattern: arn:aws.*:kinesis:.*:\d{12}:.*stream/\S+";
    for op in ["GetResourcePolicy", "DeleteResourcePolicy"] {
        validation(
            op,
            json!({}),
            &[&format!("Value null at 'resourceARN' {NOT_NULL}")],
        );
        validation(
            op,
            json!({"ResourceARN": "arn:aws:s3:::bucket"}),
            &[&format!("Value 'arn:aws:s3:::bucket' at 'resourceARN' failed to satisfy constraint: {resource_pattern}")],
        );
    }
    serialization(
        "PutResourcePolicy",
        json!({"ResourceARN": ARN, "Policy": {"Version": "2012-10-17"}}),
        "Start of structure or map found where not expected.",
    );
}

// ------------------------------------------------------------------ outputs and errors

#[test]
fn encode_outputs_json() {
    let r = kinesis::encode_output(Format::Json, &Output::Empty);
    assert_eq!(
        r,
        WireResponse {
            status: 200,
            content_type: Some(JSON_CONTENT_TYPE),
            body: vec![],
            error_code: None,
        }
    );
    let r = kinesis::encode_output(Format::Cbor, &Output::Empty);
    assert_eq!(
        r,
        WireResponse {
            status: 200,
            content_type: Some(CBOR_CONTENT_TYPE),
            body: vec![],
            error_code: None,
        }
    );
    let r = kinesis::encode_output(
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
