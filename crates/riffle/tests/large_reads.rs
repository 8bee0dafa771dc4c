//! Large GetRecords responses are streamed as they are encoded; on the wire
//! they must still be one JSON document with an exact Content-Length, and the
//! SDK must read them back byte for byte.
#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use base64::Engine as _;
use common::TestServer;

async fn json_call(endpoint: &str, op: &str, body: serde_json::Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(endpoint)
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", format!("Kinesis_20131202.{op}"))
        .header("x-amz-date", "20260101T000000Z")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=00",
        )
        .body(serde_json::to_vec(&body).unwrap())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn large_get_records_are_one_document_with_an_exact_length() {
    let server = TestServer::start();
    let c = server.client().await;
    c.create_stream()
        .stream_name("big")
        .shard_count(1)
        .send()
        .await
        .unwrap();
    // 6 MiB of data in 64 KiB records, every byte position distinct.
    let records: Vec<Vec<u8>> = (0..96u32)
        .map(|i| {
            (0..65_536u32)
                .map(|j| ((i * 31 + j * 7) % 251) as u8)
                .collect()
        })
        .collect();
    for chunk in records.chunks(48) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, d)| {
                PutRecordsRequestEntry::builder()
                    .partition_key(format!("k{i}"))
                    .data(Blob::new(d.clone()))
                    .build()
                    .unwrap()
            })
            .collect();
        let out = c
            .put_records()
            .stream_name("big")
            .set_records(Some(entries))
            .send()
            .await
            .unwrap();
        assert_eq!(out.failed_record_count(), Some(0));
    }
    let it = common::kinesis::trim_horizon(&c, "big", "shardId-000000000000").await;

    // Raw: a single JSON body whose length is announced exactly.
    let resp = json_call(
        &server.endpoint(),
        "GetRecords",
        serde_json::json!({"ShardIterator": it}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let announced: usize = resp.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "application/x-amz-json-1.1");
    let body = resp.bytes().await.unwrap();
    assert_eq!(announced, body.len());
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let got = v["Records"].as_array().unwrap();
    assert_eq!(got.len(), records.len());
    for (r, want) in got.iter().zip(&records) {
        let data = base64::engine::general_purpose::STANDARD
            .decode(r["Data"].as_str().unwrap())
            .unwrap();
        assert_eq!(&data, want);
    }
    assert!(v["NextShardIterator"].is_string());
    assert_eq!(v["MillisBehindLatest"], 0);

    // The SDK reads the same response back byte for byte.
    let it = common::kinesis::trim_horizon(&c, "big", "shardId-000000000000").await;
    let out = c.get_records().shard_iterator(it).send().await.unwrap();
    let datas: Vec<Vec<u8>> = out
        .records()
        .iter()
        .map(|r| r.data().as_ref().to_vec())
        .collect();
    assert_eq!(datas, records);
}
