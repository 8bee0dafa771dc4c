//! Golden CBOR fixtures (see `tests/fixtures/gen_fixtures.py`): request bodies
//! laid out like the Java SDK v2 writes them, and the exact bytes Riffle must answer.

use riffle_model::*;
use riffle_protocol::*;

const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/kinesis/aws4_request, \
                    SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0123abcd";
const ARN: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/riffle-test";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn decode_cbor(op: &str, body: &[u8]) -> (Operation, Input) {
    let target = format!("Kinesis_20131202.{op}");
    let view = HttpRequestView {
        method: "POST",
        content_type: Some(CBOR_CONTENT_TYPE),
        target: Some(&target),
        authorization: Some(AUTH),
        has_date_header: true,
        query: None,
        body,
    };
    match kinesis::decode(&view) {
        kinesis::Decoded::Call { op, format, input } => {
            assert_eq!(format, Format::Cbor);
            (op, input)
        }
        kinesis::Decoded::Reply(r) => panic!(
            "{} {:?}",
            r.status,
            ciborium::from_reader::<ciborium::Value, _>(&r.body[..])
        ),
    }
}

#[test]
fn put_record_request() {
    let (op, input) = decode_cbor("PutRecord", &fixture("put_record.request.cbor"));
    assert_eq!(op, Operation::PutRecord);
    let Input::PutRecord(i) = input else {
        panic!("{input:?}")
    };
    assert_eq!(
        i.stream,
        StreamRef {
            name: Some("riffle-test".into()),
            arn: None
        }
    );
    assert_eq!(i.data, b"hello\x00\xff");
    assert_eq!(i.partition_key, "pk-1");
    assert_eq!(i.explicit_hash_key.as_deref(), Some("12345"));
    assert_eq!(i.sequence_number_for_ordering, None);
}

#[test]
fn put_records_request() {
    let (_, input) = decode_cbor("PutRecords", &fixture("put_records.request.cbor"));
    let Input::PutRecords(i) = input else {
        panic!("{input:?}")
    };
    assert_eq!(
        i.stream,
        StreamRef {
            name: None,
            arn: Some(ARN.into())
        }
    );
    assert_eq!(i.records.len(), 2);
    assert_eq!(
        i.records[0].data.to_vec(),
        Some((0..=255u8).collect::<Vec<_>>())
    );
    assert_eq!(i.records[0].partition_key, "a");
    assert_eq!(i.records[0].explicit_hash_key, None);
    assert_eq!(i.records[1].data.to_vec(), Some(Vec::<u8>::new()));
    assert_eq!(i.records[1].partition_key, "b");
    assert_eq!(
        i.records[1].explicit_hash_key.as_deref(),
        Some("340282366920938463463374607431768211455")
    );
}

#[test]
fn get_shard_iterator_at_timestamp_is_tag1_millis() {
    let (_, input) = decode_cbor(
        "GetShardIterator",
        &fixture("get_shard_iterator.request.cbor"),
    );
    let Input::GetShardIterator(i) = input else {
        panic!("{input:?}")
    };
    assert_eq!(i.shard_id, "shardId-000000000000");
    assert_eq!(i.iterator_type, ShardIteratorType::AtTimestamp);
    // Milliseconds, not seconds: reading tag 1 as RFC seconds would give year ~55000.
    assert_eq!(i.timestamp, Some(Timestamp(1_700_000_000_123)));
    assert_eq!(i.stream.name.as_deref(), Some("riffle-test"));
}

#[test]
fn list_shards_with_filter() {
    let (_, input) = decode_cbor("ListShards", &fixture("list_shards.request.cbor"));
    let Input::ListShards(i) = input else {
        panic!("{input:?}")
    };
    assert_eq!(i.max_results, Some(100));
    let f = i.shard_filter.expect("filter");
    assert_eq!(f.filter_type, ShardFilterType::FromTimestamp);
    assert_eq!(f.timestamp, Some(Timestamp(1_700_000_000_000)));
    assert_eq!(f.shard_id, None);
}

#[test]
fn get_records_request() {
    let (_, input) = decode_cbor("GetRecords", &fixture("get_records.request.cbor"));
    let Input::GetRecords(i) = input else {
        panic!("{input:?}")
    };
    assert_eq!(i.shard_iterator, "AAAAAAAAAAGfakeIterator");
    assert_eq!(i.limit, Some(10000));
    assert_eq!(i.stream_arn.as_deref(), Some(ARN));
}

const SEQ: &str = "49590338271490256608559692538361571095921575989136588898";

#[test]
fn get_records_response_bytes_and_structure() {
    let out = Output::GetRecords(GetRecordsOutput {
        records: vec![Record {
            sequence_number: SEQ.into(),
            approximate_arrival_timestamp: Timestamp(1_441_215_410_867),
            data: Blob(b"\x00\x01hello\xff".to_vec()),
            partition_key: "pk-1".into(),
            encryption_type: None,
        }],
        next_shard_iterator: Some("AAAAAAAAAAHnext".into()),
        millis_behind_latest: 0,
        child_shards: None,
    });
    let resp = kinesis::encode_output(Format::Cbor, &out);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.content_type, Some(CBOR_CONTENT_TYPE));

    // Structure, as the Java SDK reads it: integer millis, byte-string Data.
    use ciborium::Value as V;
    let v: V = ciborium::from_reader(&resp.body[..]).expect("cbor");
    let map = v.as_map().expect("map");
    let get = |m: &Vec<(V, V)>, k: &str| {
        m.iter()
            .find(|(key, _)| key.as_text() == Some(k))
            .map(|(_, v)| v.clone())
    };
    let records = get(map, "Records")
        .and_then(|r| r.as_array().cloned())
        .expect("records");
    let rec = records[0].as_map().expect("record map");
    assert_eq!(
        get(rec, "ApproximateArrivalTimestamp"),
        Some(V::Integer(1_441_215_410_867i64.into()))
    );
    assert_eq!(
        get(rec, "Data"),
        Some(V::Bytes(b"\x00\x01hello\xff".to_vec()))
    );
    assert_eq!(get(rec, "SequenceNumber"), Some(V::Text(SEQ.into())));
    assert_eq!(get(map, "MillisBehindLatest"), Some(V::Integer(0.into())));
    assert_eq!(get(map, "ChildShards"), None);

    // Byte for byte against the hand-assembled fixture.
    assert_eq!(resp.body, fixture("get_records.response.cbor"));
}

#[test]
fn put_records_response_bytes() {
    let out = Output::PutRecords(PutRecordsOutput {
        failed_record_count: 1,
        records: vec![
            PutRecordsResultEntry {
                sequence_number: Some(SEQ.into()),
                shard_id: Some("shardId-000000000000".into()),
                ..Default::default()
            },
            PutRecordsResultEntry {
                error_code: Some("ProvisionedThroughputExceededException".into()),
                error_message: Some(
                    "Rate exceeded for shard shardId-000000000001 in stream riffle-test under account 000000000000."
                        .into(),
                ),
                ..Default::default()
            },
        ],
        encryption_type: None,
    });
    let resp = kinesis::encode_output(Format::Cbor, &out);
    assert_eq!(resp.body, fixture("put_records.response.cbor"));
}

#[test]
fn cbor_errors_are_aws_indefinite_maps() {
    let resp = encode_error(
        Format::Cbor,
        &ApiError::resource_not_found("Stream x under account 000000000000 not found."),
    );
    assert_eq!(resp.status, 400);
    let mut expected = vec![0xbf, 0x66];
    expected.extend_from_slice(b"__type");
    expected.extend_from_slice(&[0x78, 25]);
    expected.extend_from_slice(b"ResourceNotFoundException");
    expected.push(0x67);
    expected.extend_from_slice(b"message");
    expected.extend_from_slice(&[0x78, 46]);
    expected.extend_from_slice(b"Stream x under account 000000000000 not found.");
    expected.push(0xff);
    assert_eq!(resp.body, expected);
    // And any CBOR reader gets the map.
    let v: ciborium::Value = ciborium::from_reader(&resp.body[..]).expect("cbor");
    assert!(v.is_map());
}
