//! PutRecords `Data` kept as base64 text: with the request body shared
//! ([`Call::with_body`]), each record's data is a validated slice of the body,
//! decoded only where it is stored; AWS's accept/refuse decisions and messages
//! are the same as when it was decoded here.
#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use bytes::Bytes;
use riffle_model::*;
use riffle_protocol::*;
use serde_json::json;

const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/kinesis/aws4_request, \
                    SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0123abcd";

fn view<'a>(op: &'a str, ct: &'a str, body: &'a [u8]) -> HttpRequestView<'a> {
    HttpRequestView {
        method: "POST",
        content_type: Some(ct),
        target: Some(op),
        authorization: Some(AUTH),
        has_date_header: true,
        query: None,
        body,
    }
}

/// Decodes `body` as the edge does, sharing it (or not) with the builder.
fn decode(op: &str, ct: &str, body: &Bytes, share: bool) -> Result<Input, WireResponse> {
    let target = format!("Kinesis_20131202.{op}");
    match decode_request(&view(&target, ct, body), &[&kinesis::SERVICE]) {
        Decoded::Call(call) => {
            let call = if share {
                call.with_body(body.clone())
            } else {
                call
            };
            Ok(kinesis::build_call(call).unwrap().1)
        }
        Decoded::Reply(r) => Err(r),
    }
}

fn put_records(records: &[serde_json::Value], share: bool) -> Result<Vec<PutRecordsEntry>, String> {
    let body = Bytes::from(
        json!({"StreamName": "s", "Records": records})
            .to_string()
            .into_bytes(),
    );
    match decode("PutRecords", JSON_CONTENT_TYPE, &body, share) {
        Ok(Input::PutRecords(i)) => Ok(i.records),
        Ok(other) => panic!("{other:?}"),
        Err(r) => Err(String::from_utf8(r.body).unwrap()),
    }
}

fn record(data: &str) -> serde_json::Value {
    json!({"PartitionKey": "k", "Data": data})
}

#[test]
fn shared_body_keeps_data_as_base64_that_decodes_to_the_same_bytes() {
    let big: Vec<u8> = (0..10_240u32).map(|i| (i * 7) as u8).collect();
    let texts = [
        "aGVsbG8h".to_string(),
        "aGk=".into(),
        "aA==".into(),
        String::new(),
        base64::engine::general_purpose::STANDARD.encode(&big),
    ];
    let records: Vec<_> = texts.iter().map(|t| record(t)).collect();
    let shared = put_records(&records, true).unwrap();
    let copied = put_records(&records, false).unwrap();
    let want: Vec<Vec<u8>> = texts
        .iter()
        .map(|t| base64::engine::general_purpose::STANDARD.decode(t).unwrap())
        .collect();
    for ((s, c), w) in shared.iter().zip(&copied).zip(&want) {
        assert!(s.data.is_base64(), "shared: kept as text");
        assert!(!c.data.is_base64(), "not shared: decoded here");
        assert_eq!(s.data.len(), w.len());
        assert_eq!(s.data.to_vec().as_ref(), Some(w));
        assert_eq!(c.data.to_vec().as_ref(), Some(w));
    }
}

#[test]
fn escaped_json_text_is_decoded_not_sliced() {
    // `\/` is JSON for `/`: the text is not a slice of the body, so it is decoded.
    let body = Bytes::from_static(
        br#"{"StreamName":"s","Records":[{"PartitionKey":"k","Data":"+\/+\/"}]}"#,
    );
    let Ok(Input::PutRecords(i)) = decode("PutRecords", JSON_CONTENT_TYPE, &body, true) else {
        panic!("not decoded");
    };
    assert!(!i.records[0].data.is_base64());
    assert_eq!(i.records[0].data.to_vec().unwrap(), vec![0xfb, 0xff, 0xbf]);
}

#[test]
fn padding_forms_are_accepted_and_refused_as_before() {
    for ok in ["aGk=", "aA==", "aGVs", ""] {
        assert!(put_records(&[record(ok)], true).is_ok(), "{ok:?}");
    }
    for (bad, why) in [
        (
            "aGk",
            "Base64 encoded length is expected a multiple of 4 bytes but found: 3",
        ),
        (
            "aGk==",
            "Base64 encoded length is expected a multiple of 4 bytes but found: 5",
        ),
        ("aR==", "Invalid last non-pad Base64 character dectected"),
        ("aGl=", "Invalid last non-pad Base64 character dectected"),
        ("a===", "Invalid last non-pad Base64 character dectected"),
        ("====", "Invalid last non-pad Base64 character dectected"),
        ("aG=k", "Invalid Base64 character: '='"),
        ("aGk=aGk=", "Invalid Base64 character: '='"),
        ("aG-_", "Invalid Base64 character: '-'"),
    ] {
        let got = put_records(&[record("YQ=="), record(bad)], true).unwrap_err();
        let want = json!({
            "__type": "SerializationException",
            "Message": format!("'{bad}' can not be converted to a Blob: {why}"),
        });
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&got).unwrap(),
            want,
            "{bad:?}"
        );
    }
}

#[test]
fn one_mebibyte_of_data_is_checked_not_decoded() {
    let data: Vec<u8> = (0..1u32 << 20).map(|i| (i % 241) as u8).collect();
    let text = base64::engine::general_purpose::STANDARD.encode(&data);
    assert_eq!(text.len(), 1_398_104);
    let records = put_records(&[record(&text)], true).unwrap();
    assert!(records[0].data.is_base64());
    assert_eq!(records[0].data.len(), 1 << 20);
    assert_eq!(records[0].data.to_vec().unwrap(), data);
    // One character off: refused with AWS's message, which quotes the text.
    let mut bad = text.clone();
    bad.replace_range(1000..1001, "*");
    let err = put_records(&[record(&bad)], true).unwrap_err();
    assert!(err.contains("can not be converted to a Blob: Invalid Base64 character: '*'"));
}

#[test]
fn cbor_bytes_are_moved_as_raw_data() {
    let mut body = Vec::new();
    let v = ciborium::Value::Map(vec![
        ("StreamName".into(), "s".into()),
        (
            "Records".into(),
            ciborium::Value::Array(vec![ciborium::Value::Map(vec![
                ("PartitionKey".into(), "k".into()),
                ("Data".into(), ciborium::Value::Bytes(vec![0, 1, 255])),
            ])]),
        ),
    ]);
    ciborium::into_writer(&v, &mut body).unwrap();
    let body = Bytes::from(body);
    let Ok(Input::PutRecords(i)) = decode("PutRecords", CBOR_CONTENT_TYPE, &body, true) else {
        panic!("not decoded");
    };
    assert!(!i.records[0].data.is_base64());
    assert_eq!(i.records[0].data.to_vec().unwrap(), vec![0, 1, 255]);
}
