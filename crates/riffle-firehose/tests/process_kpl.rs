//! KPL de-aggregation against a record made by AWS's reference aggregator
//! (`tests/fixtures/kpl/make_fixtures.py`, aws-kinesis-agg).

use base64::Engine;
use bytes::Bytes;
use riffle_firehose::process::kpl;
use riffle_firehose::process::{
    BatchContext, FunctionTargets, InRecord, KinesisRecordMetadata, Pipeline, ProcessedRecord,
};
use riffle_model::firehose::{ProcessingConfiguration, Processor, ProcessorParameter};
use serde_json::Value;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/kpl");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{DIR}/{name}")).expect("fixture")
}

fn json_fixture(name: &str) -> Vec<Value> {
    serde_json::from_slice::<Value>(&fixture(name))
        .expect("json")
        .as_array()
        .expect("array")
        .clone()
}

fn unb64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().expect("string"))
        .expect("base64")
}

#[test]
fn reference_aggregated_record_yields_the_original_user_records() {
    let blob = fixture("aggregated.bin");
    assert!(kpl::looks_aggregated(&blob));
    let users = kpl::deaggregate(&blob).expect("an aggregated record");

    let expected = json_fixture("expected.json");
    assert_eq!(users.len(), expected.len());
    for (u, e) in users.iter().zip(&expected) {
        assert_eq!(u.partition_key, e["partitionKey"].as_str().expect("pk"));
        assert_eq!(
            u.explicit_hash_key.as_deref(),
            e["explicitHashKey"].as_str()
        );
        assert_eq!(u.data, unb64(&e["data"]));
    }

    // And what the reference de-aggregator yields: same keys, data, order
    // (its explicit hash keys differ for records without one: it reads the
    // unset proto2 index as 0, see make_fixtures.py).
    let reference = json_fixture("deaggregated.json");
    assert_eq!(users.len(), reference.len());
    for (i, (u, r)) in users.iter().zip(&reference).enumerate() {
        assert_eq!(u.partition_key, r["partitionKey"].as_str().expect("pk"));
        assert_eq!(u.data, unb64(&r["data"]));
        assert_eq!(r["subSequenceNumber"].as_u64(), Some(i as u64));
    }

    // Our aggregator writes what the reference reads back the same way.
    assert_eq!(kpl::deaggregate(&kpl::aggregate(&users)), Some(users));
}

#[test]
fn corrupt_md5_passes_the_record_through_unchanged() {
    // As aws-kinesis-agg and the KCL do: a digest mismatch means "not an
    // aggregated record", so the bytes are delivered as they came.
    let mut blob = fixture("aggregated.bin");
    let n = blob.len();
    blob[n - 3] ^= 0x55;
    assert_eq!(kpl::deaggregate(&blob), None);
    let mut body_flip = fixture("aggregated.bin");
    body_flip[10] ^= 0x01;
    assert_eq!(kpl::deaggregate(&body_flip), None);
}

fn kpl_pipeline() -> Pipeline {
    let cfg = ProcessingConfiguration {
        enabled: Some(true),
        processors: Some(vec![
            Processor {
                r#type: "RecordDeAggregation".into(),
                parameters: Some(vec![ProcessorParameter {
                    parameter_name: "SubRecordType".into(),
                    parameter_value: "KPL".into(),
                }]),
            },
            Processor {
                r#type: "AppendDelimiterToRecord".into(),
                parameters: None,
            },
        ]),
    };
    Pipeline::from_config(&cfg, &FunctionTargets::new()).expect("pipeline")
}

#[tokio::test]
async fn pipeline_deaggregates_kpl_records_and_passes_others_through() {
    let blob = fixture("aggregated.bin");
    let mut corrupt = blob.clone();
    let n = corrupt.len();
    corrupt[n - 1] ^= 0xFF;
    let meta = KinesisRecordMetadata {
        shard_id: "shardId-000000000000".into(),
        partition_key: "agg-key".into(),
        approximate_arrival_ms: 10,
        sequence_number: "4959".into(),
        subsequence_number: 0,
    };
    let input = vec![
        InRecord {
            record_id: "agg".into(),
            data: Bytes::from(blob),
            arrival_ms: 10,
            kinesis_metadata: Some(meta.clone()),
        },
        InRecord {
            record_id: "bad".into(),
            data: Bytes::from(corrupt.clone()),
            arrival_ms: 11,
            kinesis_metadata: Some(meta),
        },
        InRecord {
            record_id: "plain".into(),
            data: Bytes::from_static(b"plain"),
            arrival_ms: 12,
            kinesis_metadata: None,
        },
    ];
    let ctx = BatchContext {
        delivery_stream_arn: "arn:aws:firehose:us-east-1:123456789012:deliverystream/k".into(),
        region: "us-east-1".into(),
        source_kinesis_stream_arn: None,
    };
    let out = kpl_pipeline().process(&ctx, input).await;
    let expected = json_fixture("expected.json");
    assert_eq!(out.len(), expected.len() + 2);
    for (i, e) in expected.iter().enumerate() {
        let ProcessedRecord::Ok {
            record_id,
            data,
            arrival_ms,
            ..
        } = &out[i]
        else {
            panic!("{:?}", out[i])
        };
        assert_eq!(record_id, &format!("agg.{i}"));
        let mut want = unb64(&e["data"]);
        want.push(b'\n');
        assert_eq!(&data[..], &want[..]);
        assert_eq!(*arrival_ms, 10);
    }
    let mut corrupt_nl = corrupt;
    corrupt_nl.push(b'\n');
    let tail: Vec<(&str, &[u8])> = out[expected.len()..]
        .iter()
        .map(|r| match r {
            ProcessedRecord::Ok {
                record_id, data, ..
            } => (record_id.as_str(), &data[..]),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        tail,
        vec![("bad", &corrupt_nl[..]), ("plain", &b"plain\n"[..])]
    );
}
