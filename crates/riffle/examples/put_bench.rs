//! A minimal PutRecords load generator speaking the Kinesis JSON wire protocol
//! to any endpoint (Riffle or a peer), used for the figures in BENCHMARKS.md
//! until `riffle bench` lands.
//!
//! cargo run --release --example put_bench -- ENDPOINT [producers] [seconds] [record_bytes] [batch] [shards]
#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn call(client: &reqwest::Client, endpoint: &str, op: &str, body: &Value) -> (u16, Value) {
    let resp = client
        .post(endpoint)
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", format!("Kinesis_20131202.{op}"))
        .header("x-amz-date", "20260101T000000Z")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=00",
        )
        .body(serde_json::to_vec(body).unwrap())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let endpoint = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "http://127.0.0.1:4567".into());
    let arg = |i: usize, d: u64| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (producers, seconds, record_bytes, batch, shards) =
        (arg(2, 4), arg(3, 10), arg(4, 100), arg(5, 500), arg(6, 4));
    let client = reqwest::Client::new();
    let stream = format!("bench-{}", std::process::id());
    let (s, b) = call(
        &client,
        &endpoint,
        "CreateStream",
        &json!({"StreamName": stream, "ShardCount": shards}),
    )
    .await;
    assert_eq!(s, 200, "CreateStream: {b}");
    loop {
        let (_, d) = call(
            &client,
            &endpoint,
            "DescribeStreamSummary",
            &json!({"StreamName": stream}),
        )
        .await;
        if d["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let data = base64::engine::general_purpose::STANDARD.encode(vec![b'x'; record_bytes as usize]);
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for p in 0..producers {
        let (client, endpoint, stream, data) = (
            client.clone(),
            endpoint.clone(),
            stream.clone(),
            data.clone(),
        );
        let (ok, failed, stop) = (ok.clone(), failed.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let records: Vec<Value> = (0..batch)
                    .map(|i| json!({"Data": data, "PartitionKey": format!("p{p}-{}", n + i)}))
                    .collect();
                n += batch;
                let t = Instant::now();
                let (s, out) = call(
                    &client,
                    &endpoint,
                    "PutRecords",
                    &json!({"StreamName": stream, "Records": records}),
                )
                .await;
                latencies.push(t.elapsed());
                if s != 200 {
                    failed.fetch_add(batch, Ordering::Relaxed);
                    continue;
                }
                let f = out["FailedRecordCount"].as_u64().unwrap_or(0);
                failed.fetch_add(f, Ordering::Relaxed);
                ok.fetch_add(batch - f, Ordering::Relaxed);
            }
            latencies
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    lat.sort();
    let pct = |q: f64| {
        lat.get(((lat.len() as f64 - 1.0) * q) as usize)
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    };
    let n = ok.load(Ordering::Relaxed);
    println!(
        "{}",
        json!({
            "endpoint": endpoint, "producers": producers, "seconds": elapsed, "record_bytes": record_bytes,
            "batch": batch, "shards": shards, "records_ok": n, "records_failed": failed.load(Ordering::Relaxed),
            "records_per_sec": (n as f64 / elapsed).round(), "mb_per_sec": ((n * record_bytes) as f64 / elapsed / 1e6 * 100.0).round() / 100.0,
            "latency_ms": {"p50": pct(0.5), "p99": pct(0.99), "max": pct(1.0)}
        })
    );
}
