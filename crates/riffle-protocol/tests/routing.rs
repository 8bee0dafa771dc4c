#![allow(clippy::unwrap_used)]
//! Routing by `X-Amz-Target` prefix across several service tables: a table
//! written here, unknown to the crate, is decoded by the same core.

use riffle_protocol::schema::{m, req, Con, Member, Ty};
use riffle_protocol::*;
use serde_json::Value as J;

static ECHO_INPUT: &[Member] = &[
    req("Name", Ty::Str, &[Con::MinLen(1), Con::MaxLen(8)]),
    m("Count", Ty::Int, &[Con::Min(1)]),
];

static ECHO: ServiceSpec = ServiceSpec {
    target_prefix: "Echo_20200101",
    iam_prefix: "echo",
    event_source: "echo.amazonaws.com",
    botocore_model: ("echo", "2020-01-01"),
    operations: &[OperationSpec {
        name: "Echo",
        input: ECHO_INPUT,
        event: EventKind::Data,
        read_only: true,
    }],
};

const SERVICES: &[&ServiceSpec] = &[&kinesis::SERVICE, &ECHO];

fn view<'a>(target: &'a str, ct: &'a str, body: &'a [u8]) -> HttpRequestView<'a> {
    HttpRequestView {
        method: "POST",
        content_type: Some(ct),
        target: Some(target),
        authorization: Some(
            "AWS4-HMAC-SHA256 Credential=a/20200101/us-east-1/echo/aws4_request, SignedHeaders=host, Signature=abc",
        ),
        has_date_header: true,
        query: None,
        body,
    }
}

fn error(d: Decoded<'_>) -> (u16, Option<&'static str>, J) {
    match d {
        Decoded::Reply(r) => (
            r.status,
            r.error_code,
            serde_json::from_slice(&r.body).unwrap_or(J::Null),
        ),
        Decoded::Call(c) => panic!("accepted: {c:?}"),
    }
}

#[test]
fn a_second_table_is_served_by_the_same_core() {
    let d = decode_request(
        &view(
            "Echo_20200101.Echo",
            JSON_CONTENT_TYPE,
            br#"{"Name":"hi","Count":2}"#,
        ),
        SERVICES,
    );
    let Decoded::Call(mut call) = d else {
        panic!("not accepted")
    };
    assert!(std::ptr::eq(call.service, &ECHO));
    assert_eq!(call.op.name, "Echo");
    assert_eq!(call.service.iam_action(call.op), "echo:Echo");
    assert_eq!(call.fields.string("Name").as_deref(), Some("hi"));
    assert_eq!(call.fields.int("Count"), Some(2));

    // Its schema is enforced with AWS's messages, in JSON and CBOR.
    let (status, code, body) = error(decode_request(
        &view(
            "Echo_20200101.Echo",
            JSON_CONTENT_TYPE,
            br#"{"Name":"","Count":0}"#,
        ),
        SERVICES,
    ));
    assert_eq!((status, code), (400, Some("ValidationException")));
    assert_eq!(
        body["message"],
        "2 validation errors detected: Value '' at 'name' failed to satisfy constraint: \
         Member must have length greater than or equal to 1; Value '0' at 'count' failed to \
         satisfy constraint: Member must have value greater than or equal to 1"
    );
    let cbor = [0xa1, 0x64, b'N', b'a', b'm', b'e', 0x61, b'x'];
    assert!(matches!(
        decode_request(
            &view("Echo_20200101.Echo", CBOR_CONTENT_TYPE, &cbor),
            SERVICES
        ),
        Decoded::Call(_)
    ));
    // Kinesis still routes to Kinesis.
    let Decoded::Call(call) = decode_request(
        &view("Kinesis_20131202.ListStreams", JSON_CONTENT_TYPE, b"{}"),
        SERVICES,
    ) else {
        panic!("ListStreams not accepted")
    };
    assert_eq!(
        kinesis::build_call(call).map(|(op, _)| op.name()),
        Some("ListStreams")
    );
}

#[test]
fn unknown_prefixes_and_operations_get_aws_answers() {
    for target in [
        "Nope_20200101.Echo",
        "Echo_20200101.Nope",
        "Echo_20200101",
        "Kinesis_20131202.Echo",
        "Echo_20200101.ListStreams",
    ] {
        let (status, code, body) = error(decode_request(
            &view(target, JSON_CONTENT_TYPE, b"{}"),
            SERVICES,
        ));
        assert_eq!(
            (status, code),
            (400, Some("UnknownOperationException")),
            "{target}"
        );
        assert_eq!(
            body,
            serde_json::json!({"__type": "UnknownOperationException"})
        );
        // A body that is not an object is reported first, as AWS does.
        let (_, code, _) = error(decode_request(
            &view(target, JSON_CONTENT_TYPE, b"[1]"),
            SERVICES,
        ));
        assert_eq!(code, Some("SerializationException"), "{target}");
        // CBOR requests get CBOR answers.
        let d = decode_request(&view(target, CBOR_CONTENT_TYPE, &[0xa0]), SERVICES);
        let Decoded::Reply(r) = d else { panic!() };
        assert_eq!(r.content_type, Some(CBOR_CONTENT_TYPE));
        assert_eq!(r.error_code, Some("UnknownOperationException"));
    }
    // An unknown content type: 404 with a known-looking target, 403 without one.
    for (target, status, code) in [
        ("Nope_20200101.Echo", 404, "UnknownOperationException"),
        ("Nope", 403, "AccessDeniedException"),
    ] {
        let d = decode_request(&view(target, "text/plain", b"{}"), SERVICES);
        let Decoded::Reply(r) = d else { panic!() };
        assert_eq!((r.status, r.error_code), (status, Some(code)), "{target}");
        assert_eq!(r.content_type, None);
    }
    // Only this service's tables are consulted: without Echo, Echo is unknown.
    let (_, code, _) = error(decode_request(
        &view("Echo_20200101.Echo", JSON_CONTENT_TYPE, br#"{"Name":"hi"}"#),
        &[&kinesis::SERVICE],
    ));
    assert_eq!(code, Some("UnknownOperationException"));
}

#[test]
fn auth_is_checked_before_the_body_is_built() {
    let mut v = view("Echo_20200101.Echo", JSON_CONTENT_TYPE, br#"{"Name":"hi"}"#);
    v.authorization = None;
    let (status, code, _) = error(decode_request(&v, SERVICES));
    assert_eq!(
        (status, code),
        (400, Some("MissingAuthenticationTokenException"))
    );
    // A body that would blow the element budget still gets the auth answer:
    // it was only scanned, never built.
    let dense = format!("{{\"Name\":[{}0]}}", "0,".repeat(300_000));
    let v = HttpRequestView {
        body: dense.as_bytes(),
        ..v
    };
    let (_, code, _) = error(decode_request(&v, SERVICES));
    assert_eq!(code, Some("MissingAuthenticationTokenException"));
    // With auth, the same body is refused as unparseable, within bounds.
    let v = HttpRequestView {
        authorization: view("", "", b"").authorization,
        ..v
    };
    let (_, code, _) = error(decode_request(&v, SERVICES));
    assert_eq!(code, Some("SerializationException"));
}

#[test]
fn authentication_runs_after_the_target_and_before_the_body_is_parsed() {
    let ct = "application/x-amz-json-1.1";
    // A refusal is answered in the request's format, and the body is never looked at.
    let v = view("Echo_20200101.Echo", ct, b"{\"Name\": not json");
    let (d, who) = decode_request_with(&v, SERVICES, |spec, op| -> Result<(), _> {
        assert_eq!((spec.iam_prefix, op.name), ("echo", "Echo"));
        Err(riffle_model::ApiError::new(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ))
    });
    assert!(who.is_none());
    let (status, code, body) = error(d);
    assert_eq!((status, code), (400, Some("UnrecognizedClientException")));
    assert_eq!(
        body["message"],
        "The security token included in the request is invalid."
    );
    // Unknown targets are answered before authentication runs.
    let v = view("Echo_20200101.Nope", ct, b"{}");
    let (d, who) = decode_request_with(&v, SERVICES, |_, _| -> Result<u8, _> {
        panic!("authenticated an unknown target")
    });
    assert!(who.is_none());
    assert_eq!(error(d).1, Some("UnknownOperationException"));
    // Accepted: the caller comes back beside the call.
    let v = view("Echo_20200101.Echo", ct, b"{\"Name\":\"a\"}");
    let (d, who) = decode_request_with(&v, SERVICES, |_, _| Ok::<_, riffle_model::ApiError>(7));
    assert!(matches!(d, Decoded::Call(_)));
    assert_eq!(who, Some(7));
}

#[test]
fn audit_parameters_keep_names_and_leave_out_record_payloads() {
    let ct = "application/x-amz-json-1.1";
    let body = br#"{"StreamName":"s","Data":"aGVsbG8=","PartitionKey":"pk","ExplicitHashKey":"5"}"#;
    let v = view("Kinesis_20131202.PutRecord", ct, body);
    let Decoded::Call(call) = decode_request(&v, SERVICES) else {
        panic!("refused")
    };
    assert_eq!(
        call.fields.audit_json(),
        serde_json::json!({"StreamName":"s","PartitionKey":"pk","ExplicitHashKey":"5"})
    );
    let body = br#"{"StreamName":"s","Records":[{"Data":"aGVsbG8=","PartitionKey":"pk"}]}"#;
    let v = view("Kinesis_20131202.PutRecords", ct, body);
    let Decoded::Call(call) = decode_request(&v, SERVICES) else {
        panic!("refused")
    };
    assert_eq!(
        call.fields.audit_json(),
        serde_json::json!({"StreamName":"s"})
    );
    let body = br#"{"StreamName":"s","Tags":{"team":"a"},"ShardCount":2}"#;
    let v = view("Kinesis_20131202.CreateStream", ct, body);
    let Decoded::Call(call) = decode_request(&v, SERVICES) else {
        panic!("refused")
    };
    assert_eq!(
        call.fields.audit_json(),
        serde_json::json!({"StreamName":"s","ShardCount":2,"Tags":{"team":"a"}})
    );
}
