#![allow(clippy::unwrap_used)]
//! Micro-benchmarks of the wire codecs: `cargo bench -p riffle-protocol`.
//!
//! - `decode_put_records/{json,cbor}`: `decode_request` of a 500 × 100 B PutRecords body
//!   (parse, auth well-formedness, type checks, validation, typed input), bytes built once.
//! - `encode_get_records/{json,cbor}/*`: `encode_output` of a GetRecords result with
//!   1,000 × 100 B and 100 × 10 KiB records.
//!
//! Figures are printed, never asserted.

use std::hint::black_box;
use std::time::Duration;

use base64::Engine as _;
use ciborium::Value as Cbor;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use riffle_model::{Blob, GetRecordsOutput, Output, Record, Timestamp};
use riffle_protocol::kinesis;
use riffle_protocol::{Format, HttpRequestView, CBOR_CONTENT_TYPE, JSON_CONTENT_TYPE};

const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";

fn data(i: usize, size: usize) -> Vec<u8> {
    (0..size).map(|j| (i * 31 + j) as u8).collect()
}

fn partition_key(i: usize) -> String {
    format!("user-{i:08}-session")
}

/// The PutRecords body as the AWS CLI / SDKs send it: base64 `Data` in JSON,
/// a byte string in CBOR.
fn put_records_body(format: Format, n: usize, size: usize) -> Vec<u8> {
    match format {
        Format::Json => {
            let records: Vec<serde_json::Value> = (0..n)
                .map(|i| {
                    serde_json::json!({
                        "Data": base64::engine::general_purpose::STANDARD.encode(data(i, size)),
                        "PartitionKey": partition_key(i),
                    })
                })
                .collect();
            serde_json::to_vec(&serde_json::json!({
                "StreamName": "bench-stream",
                "Records": records,
            }))
            .unwrap()
        }
        Format::Cbor => {
            let records = (0..n)
                .map(|i| {
                    Cbor::Map(vec![
                        (Cbor::Text("Data".into()), Cbor::Bytes(data(i, size))),
                        (
                            Cbor::Text("PartitionKey".into()),
                            Cbor::Text(partition_key(i)),
                        ),
                    ])
                })
                .collect();
            let body = Cbor::Map(vec![
                (
                    Cbor::Text("StreamName".into()),
                    Cbor::Text("bench-stream".into()),
                ),
                (Cbor::Text("Records".into()), Cbor::Array(records)),
            ]);
            let mut out = Vec::new();
            ciborium::ser::into_writer(&body, &mut out).unwrap();
            out
        }
    }
}

fn view(format: Format, body: &[u8]) -> HttpRequestView<'_> {
    HttpRequestView {
        method: "POST",
        content_type: Some(match format {
            Format::Json => JSON_CONTENT_TYPE,
            Format::Cbor => CBOR_CONTENT_TYPE,
        }),
        target: Some("Kinesis_20131202.PutRecords"),
        authorization: Some(AUTH),
        has_date_header: true,
        query: None,
        body,
    }
}

fn decode_put_records(c: &mut Criterion) {
    const N: usize = 500;
    let mut g = c.benchmark_group("decode_put_records");
    g.sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (name, format) in [("json", Format::Json), ("cbor", Format::Cbor)] {
        let body = put_records_body(format, N, 100);
        // Setup check, not a timing: the body must decode to a call, not an error reply.
        match kinesis::decode(&view(format, &body)) {
            kinesis::Decoded::Call { .. } => {}
            other => panic!("{name} PutRecords body did not decode: {other:?}"),
        }
        g.throughput(Throughput::ElementsAndBytes {
            elements: N as u64,
            bytes: body.len() as u64,
        });
        g.bench_function(BenchmarkId::new(name, "500x100B"), |b| {
            b.iter(|| kinesis::decode(&view(format, black_box(&body))))
        });
    }
    g.finish();
}

fn get_records_output(n: usize, size: usize) -> Output {
    Output::GetRecords(GetRecordsOutput {
        records: (0..n)
            .map(|i| Record {
                sequence_number: format!("4964643757713077716211540702897350977295615805{i:010}"),
                approximate_arrival_timestamp: Timestamp(1_764_000_000_000 + i as i64),
                data: Blob(data(i, size)),
                partition_key: partition_key(i),
                encryption_type: None,
            })
            .collect(),
        next_shard_iterator: Some("A".repeat(280)),
        millis_behind_latest: 0,
        child_shards: None,
    })
}

fn encode_get_records(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode_get_records");
    g.sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (shape, n, size) in [("1000x100B", 1000, 100), ("100x10KiB", 100, 10 * 1024)] {
        let out = get_records_output(n, size);
        for (name, format) in [("json", Format::Json), ("cbor", Format::Cbor)] {
            // Bytes are the record data carried, so MB/s compares across formats.
            g.throughput(Throughput::ElementsAndBytes {
                elements: n as u64,
                bytes: (n * size) as u64,
            });
            g.bench_function(BenchmarkId::new(name, shape), |b| {
                b.iter(|| kinesis::encode_output(format, black_box(&out)))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, decode_put_records, encode_get_records);
criterion_main!(benches);
