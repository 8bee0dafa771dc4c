//! Property tests: decode_request never panics on arbitrary input, error
//! replies are well-formed, the value tree round-trips through JSON and CBOR,
//! and PutRecords payloads survive decoding bit for bit in both formats.

use base64::Engine as _;
use proptest::prelude::*;
use riffle_model::{Input, Operation};
use riffle_protocol::value::{parse_cbor, parse_json, Value};
use riffle_protocol::*;
use std::borrow::Cow;

const AUTH: &str = "AWS4-HMAC-SHA256 Credential=A/20240101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=00";

fn arb_content_type() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(Some(JSON_CONTENT_TYPE.to_string())),
        Just(Some(CBOR_CONTENT_TYPE.to_string())),
        Just(Some("application/json".to_string())),
        Just(Some(" application/x-amz-cbor-1.1 ; x=y".to_string())),
        Just(None),
        ".{0,40}".prop_map(Some),
    ]
}

fn arb_target() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        4 => proptest::sample::select(Operation::ALL.to_vec()).prop_map(|op| Some(format!("Kinesis_20131202.{}", op.name()))),
        1 => Just(None),
        1 => ".{0,40}".prop_map(Some),
        1 => "[a-zA-Z_0-9.]{0,30}".prop_map(|s| Some(format!("Kinesis_20131202.{s}"))),
    ]
}

fn leaf(bytes: bool) -> BoxedStrategy<Value<'static>> {
    let mut options = vec![
        Just(Value::Null).boxed(),
        any::<bool>().prop_map(Value::Bool).boxed(),
        any::<i64>().prop_map(|i| Value::Int(i128::from(i))).boxed(),
        // Exact binary fractions: JSON prints and re-reads them exactly.
        (any::<i32>(), 0u32..4)
            .prop_map(|(i, s)| Value::Float(f64::from(i) / f64::from(1u32 << s) + 0.5))
            .boxed(),
        ".{0,12}".prop_map(|s| Value::Str(Cow::Owned(s))).boxed(),
    ];
    if bytes {
        options.push(
            proptest::collection::vec(any::<u8>(), 0..24)
                .prop_map(|b| Value::Bytes(Cow::Owned(b)))
                .boxed(),
        );
        options.push(any::<i128>().prop_map(Value::Int).boxed());
        options.push(
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::Float)
                .boxed(),
        );
    }
    proptest::strategy::Union::new(options).boxed()
}

fn arb_value(bytes: bool) -> impl Strategy<Value = Value<'static>> {
    leaf(bytes).prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec(("[A-Za-z]{0,8}".prop_map(Cow::Owned), inner), 0..6)
                .prop_map(Value::Map),
        ]
    })
}

/// A body shaped like a real request, with random values in known member names.
fn arb_request_body(bytes: bool) -> impl Strategy<Value = Value<'static>> {
    let names = proptest::sample::select(vec![
        "StreamName",
        "StreamARN",
        "Records",
        "Data",
        "PartitionKey",
        "ExplicitHashKey",
        "ShardId",
        "ShardIteratorType",
        "StartingSequenceNumber",
        "Timestamp",
        "Limit",
        "NextToken",
        "ShardFilter",
        "Tags",
        "TagKeys",
        "ResourceARN",
        "RetentionPeriodHours",
        "MaxResults",
        "StreamModeDetails",
        "ShardCount",
        "EnforceConsumerDeletion",
        "MaxRecordSizeInKiB",
        "StreamCreationTimestamp",
        "ShardIterator",
        "Type",
    ]);
    proptest::collection::vec(
        (
            names.prop_map(|n| Cow::Owned(n.to_string())),
            arb_value(bytes),
        ),
        0..8,
    )
    .prop_map(Value::Map)
}

fn check_reply_well_formed(d: &kinesis::Decoded) {
    if let kinesis::Decoded::Reply(r) = d {
        assert!(
            matches!(r.status, 400 | 403 | 404 | 500),
            "status {}",
            r.status
        );
        match r.content_type {
            Some(JSON_CONTENT_TYPE) => {
                let v: serde_json::Value =
                    serde_json::from_slice(&r.body).expect("JSON error body");
                assert!(v["__type"].is_string(), "{v}");
            }
            Some(CBOR_CONTENT_TYPE) => {
                let v: ciborium::Value =
                    ciborium::from_reader(&r.body[..]).expect("CBOR error body");
                assert!(v.is_map());
            }
            _ => {}
        }
    }
}

fn decode(
    method: &str,
    ct: Option<&str>,
    target: Option<&str>,
    auth: bool,
    body: &[u8],
) -> kinesis::Decoded {
    kinesis::decode(&HttpRequestView {
        method,
        content_type: ct,
        target,
        authorization: auth.then_some(AUTH),
        has_date_header: true,
        query: None,
        body,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(
        method in prop_oneof![9 => Just("POST"), 1 => Just("GET")],
        ct in arb_content_type(),
        target in arb_target(),
        auth in any::<bool>(),
        body in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let d = decode(method, ct.as_deref(), target.as_deref(), auth, &body);
        check_reply_well_formed(&d);
    }

    #[test]
    fn structured_json_bodies_never_panic(target in arb_target(), body in arb_request_body(false)) {
        let bytes = serde_json::to_vec(&body).expect("json");
        let d = decode("POST", Some(JSON_CONTENT_TYPE), target.as_deref(), true, &bytes);
        check_reply_well_formed(&d);
    }

    #[test]
    fn structured_cbor_bodies_never_panic(target in arb_target(), body in arb_request_body(true)) {
        let mut bytes = Vec::new();
        ciborium::into_writer(&body, &mut bytes).expect("cbor");
        let d = decode("POST", Some(CBOR_CONTENT_TYPE), target.as_deref(), true, &bytes);
        check_reply_well_formed(&d);
    }

    #[test]
    fn value_round_trips_through_json(v in arb_value(false)) {
        let bytes = serde_json::to_vec(&v).expect("json");
        prop_assert_eq!(parse_json(&bytes), Some(v));
    }

    #[test]
    fn value_round_trips_through_cbor(v in arb_value(true)) {
        let mut bytes = Vec::new();
        ciborium::into_writer(&v, &mut bytes).expect("cbor");
        prop_assert_eq!(parse_cbor(&bytes), Some(v));
    }

    #[test]
    fn put_records_payloads_survive_both_formats(
        records in proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 0..300), "[a-zA-Z0-9é ]{1,20}"),
            1..20,
        ),
    ) {
        let b64 = base64::engine::general_purpose::STANDARD;
        let json = serde_json::json!({
            "StreamName": "s",
            "Records": records.iter().map(|(d, pk)| serde_json::json!({"Data": b64.encode(d), "PartitionKey": pk})).collect::<Vec<_>>(),
        });
        let cbor_value = ciborium::Value::Map(vec![
            (ciborium::Value::Text("StreamName".into()), ciborium::Value::Text("s".into())),
            (ciborium::Value::Text("Records".into()), ciborium::Value::Array(records.iter().map(|(d, pk)| ciborium::Value::Map(vec![
                (ciborium::Value::Text("Data".into()), ciborium::Value::Bytes(d.clone())),
                (ciborium::Value::Text("PartitionKey".into()), ciborium::Value::Text(pk.clone())),
            ])).collect())),
        ]);
        let mut cbor = Vec::new();
        ciborium::into_writer(&cbor_value, &mut cbor).expect("cbor");
        for (ct, body) in [(JSON_CONTENT_TYPE, json.to_string().into_bytes()), (CBOR_CONTENT_TYPE, cbor)] {
            match decode("POST", Some(ct), Some("Kinesis_20131202.PutRecords"), true, &body) {
                kinesis::Decoded::Call { input: Input::PutRecords(i), .. } => {
                    let got: Vec<(Vec<u8>, String)> = i.records.into_iter().map(|r| (r.data.to_vec().unwrap_or_default(), r.partition_key)).collect();
                    prop_assert_eq!(&got, &records);
                }
                other => prop_assert!(false, "{:?}", other),
            }
        }
    }
}
