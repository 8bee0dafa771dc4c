//! Per-shard provisioned throughput, end to end through the Rust AWS SDK (with
//! retries off, so throttling surfaces) against the real binary with its
//! default limits: 1 MiB/s and 1,000 records/s in, 2 MiB/s and 5 GetRecords/s
//! out, each bucket holding one second of burst (reads: no byte credit, only debt).
//!
//! Timing on a slow CI machine is unpredictable, so the tests assert what must
//! hold whatever the timing: throttling happens well before an unlimited server
//! would stop, and nothing beyond `burst + rate × elapsed` is ever accepted.
#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_kinesis::error::ProvideErrorMetadata;
use aws_sdk_kinesis::operation::put_records::PutRecordsOutput;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use aws_sdk_kinesis::Client;
use common::kinesis::{sid, trim_horizon};
use common::{no_retry_client_for, TestServer};
use std::time::{Duration, Instant};

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;
const THROTTLED: &str = "ProvisionedThroughputExceededException";
/// The first hash key of the second shard of a 2-shard stream (2^127).
const SHARD1_KEY: &str = "170141183460469231731687303715884105728";

fn rate_exceeded(stream: &str, shard: u32) -> String {
    format!("Rate exceeded for shard shardId-{shard:012} in stream {stream} under account 000000000000.")
}

async fn client(server: &TestServer) -> Client {
    no_retry_client_for(&server.endpoint()).await
}

async fn create(c: &Client, name: &str, shards: i32, max_record_kib: Option<i32>) {
    c.create_stream()
        .stream_name(name)
        .shard_count(shards)
        .set_max_record_size_in_kib(max_record_kib)
        .send()
        .await
        .unwrap();
}

fn entry(pk: String, data: Vec<u8>, hash_key: Option<&str>) -> PutRecordsRequestEntry {
    PutRecordsRequestEntry::builder()
        .partition_key(pk)
        .data(Blob::new(data))
        .set_explicit_hash_key(hash_key.map(str::to_string))
        .build()
        .unwrap()
}

async fn put_records(
    c: &Client,
    name: &str,
    entries: Vec<PutRecordsRequestEntry>,
) -> PutRecordsOutput {
    c.put_records()
        .stream_name(name)
        .set_records(Some(entries))
        .send()
        .await
        .unwrap()
}

/// 500 one-byte records with 4-byte keys, all to the shard of `hash_key`.
fn tiny_batch(round: usize, hash_key: Option<&str>) -> Vec<PutRecordsRequestEntry> {
    (0..500)
        .map(|i| {
            entry(
                format!("{:04}", (round * 500 + i) % 10_000),
                vec![b'x'],
                hash_key,
            )
        })
        .collect()
}

/// Checks every entry's fields and returns the indexes of the accepted ones.
fn accepted(out: &PutRecordsOutput, stream: &str, shard_of: impl Fn(usize) -> u32) -> Vec<usize> {
    let mut ok = Vec::new();
    for (i, r) in out.records().iter().enumerate() {
        match r.error_code() {
            None => {
                assert_eq!(r.shard_id(), Some(sid(shard_of(i)).as_str()));
                assert!(r.sequence_number().is_some() && r.error_message().is_none());
                ok.push(i);
            }
            Some(code) => {
                assert_eq!(code, THROTTLED, "record {i}");
                assert_eq!(
                    r.error_message(),
                    Some(rate_exceeded(stream, shard_of(i)).as_str())
                );
                assert!(r.shard_id().is_none() && r.sequence_number().is_none());
            }
        }
    }
    assert_eq!(
        out.failed_record_count(),
        Some((out.records().len() - ok.len()) as i32),
        "FailedRecordCount counts the failed entries"
    );
    ok
}

async fn iterator(c: &Client, name: &str, shard: u32) -> String {
    trim_horizon(c, name, &sid(shard)).await
}

/// Calls GetRecords on `shard` until it is throttled (at most `max` calls);
/// returns the number of successful calls and the seconds they spanned.
async fn read_until_throttled(c: &Client, name: &str, shard: u32, max: usize) -> (usize, f64) {
    let mut it = iterator(c, name, shard).await;
    let started = Instant::now();
    for n in 0..max {
        match c.get_records().shard_iterator(&it).send().await {
            Ok(out) => it = out.next_shard_iterator().unwrap().to_string(),
            Err(e) => {
                assert_eq!(e.code(), Some(THROTTLED), "{e:?}");
                assert_eq!(e.message(), Some(rate_exceeded(name, shard).as_str()));
                return (n, started.elapsed().as_secs_f64());
            }
        }
    }
    panic!(
        "{max} GetRecords calls in {:?} were never throttled",
        started.elapsed()
    );
}

#[tokio::test]
async fn put_record_is_throttled_after_the_burst() {
    let server = TestServer::start_limited();
    let c = client(&server).await;
    create(&c, "pr", 1, None).await;
    // 100 KiB records: the 1 MiB burst holds ten of them.
    let record = 100 * KIB + 1;
    let started = Instant::now();
    let mut ok = 0usize;
    let error = loop {
        let r = c
            .put_record()
            .stream_name("pr")
            .partition_key("k")
            .data(Blob::new(vec![7u8; 100 * KIB]))
            .send()
            .await;
        match r {
            Ok(_) => ok += 1,
            Err(e) => break e,
        }
        assert!(
            ok < 100,
            "100 × 100 KiB in {:?} and never throttled",
            started.elapsed()
        );
    };
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(error.code(), Some(THROTTLED));
    assert_eq!(error.message(), Some(rate_exceeded("pr", 0).as_str()));
    assert!(ok >= 10, "the burst admits ten records, got {ok}");
    let cap = MIB as f64 * (1.0 + elapsed);
    assert!(
        (ok * record) as f64 <= cap,
        "{ok} records in {elapsed:.2} s exceed 1 MiB/s"
    );
    println!("PutRecord: {ok} × 100 KiB accepted in {elapsed:.3} s before throttling");
}

#[tokio::test]
async fn put_records_fails_per_record_and_stores_the_rest() {
    let server = TestServer::start_limited();
    let c = client(&server).await;
    create(&c, "prs", 1, None).await;
    // 500 × 10 KiB (5 MiB) in one request: about 102 fit the 1 MiB burst.
    let payload = |i: usize| {
        let mut d = vec![(i % 251) as u8; 10 * KIB];
        d[..4].copy_from_slice(&(i as u32).to_be_bytes());
        d
    };
    let entries = (0..500)
        .map(|i| entry(format!("k{i:03}"), payload(i), None))
        .collect();
    let started = Instant::now();
    let out = put_records(&c, "prs", entries).await;
    let elapsed = started.elapsed().as_secs_f64();
    let ok = accepted(&out, "prs", |_| 0);
    let size = 10 * KIB + 4;
    assert!(
        ok.len() >= MIB / size,
        "the burst holds {} records, got {}",
        MIB / size,
        ok.len()
    );
    assert!(
        (ok.len() * size) as f64 <= MIB as f64 * (1.0 + elapsed),
        "{} accepted",
        ok.len()
    );
    assert!(ok.len() < 500, "some records must be throttled");
    // Checked in request order at one instant: the accepted ones are a prefix.
    assert_eq!(ok, (0..ok.len()).collect::<Vec<_>>());

    // The accepted records, and only they, are stored, in order, as acknowledged.
    let got = c
        .get_records()
        .shard_iterator(iterator(&c, "prs", 0).await)
        .send()
        .await
        .unwrap();
    assert_eq!(got.records().len(), ok.len());
    for (r, &i) in got.records().iter().zip(&ok) {
        assert_eq!(r.partition_key(), Some(format!("k{i:03}").as_str()));
        assert_eq!(r.data().as_ref(), payload(i).as_slice());
        assert_eq!(
            Some(r.sequence_number()),
            out.records()[i].sequence_number()
        );
    }
    println!("PutRecords: {} of 500 × 10 KiB accepted", ok.len());
}

#[tokio::test]
async fn records_per_second_limit_with_tiny_records() {
    let server = TestServer::start_limited();
    let c = client(&server).await;
    create(&c, "tiny", 1, None).await;
    let started = Instant::now();
    let mut total_ok = 0usize;
    let mut rounds = Vec::new();
    // PutRecords of 500 back to back: the first two fit the 1,000-record burst.
    for round in 0..10 {
        let out = put_records(&c, "tiny", tiny_batch(round, None)).await;
        let ok = accepted(&out, "tiny", |_| 0).len();
        total_ok += ok;
        rounds.push(ok);
        if ok < 500 {
            break;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(
        &rounds[..2],
        &[500, 500],
        "the burst takes 1,000 records: {rounds:?}"
    );
    assert!(
        *rounds.last().unwrap() < 500,
        "never throttled: {rounds:?} in {elapsed:.2} s"
    );
    assert!(
        total_ok as f64 <= 1000.0 * (1.0 + elapsed),
        "{total_ok} records in {elapsed:.2} s"
    );
    println!("records/s: accepted per request {rounds:?} in {elapsed:.3} s");
}

#[tokio::test]
async fn get_records_is_limited_to_five_calls_per_second() {
    let server = TestServer::start_limited();
    let c = client(&server).await;
    create(&c, "reads", 1, None).await;
    let (ok, elapsed) = read_until_throttled(&c, "reads", 0, 50).await;
    assert!(ok >= 5, "the burst allows five calls, got {ok}");
    assert!(
        ok as f64 <= 5.0 * (1.0 + elapsed),
        "{ok} calls in {elapsed:.2} s"
    );
    // A second later the shard serves reads again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let it = iterator(&c, "reads", 0).await;
    c.get_records().shard_iterator(it).send().await.unwrap();
}

#[tokio::test]
async fn a_ten_mib_read_throttles_the_following_reads() {
    let server = TestServer::start_limited();
    let c = client(&server).await;
    create(&c, "big", 1, Some(10 * 1024)).await;
    // One ~9.5 MiB record: a full write bucket admits it (and owes the rest).
    let data = vec![3u8; 19 * MIB / 2];
    c.put_record()
        .stream_name("big")
        .partition_key("k")
        .data(Blob::new(data.clone()))
        .send()
        .await
        .unwrap();
    let it = iterator(&c, "big", 0).await;
    let out = c.get_records().shard_iterator(&it).send().await.unwrap();
    assert_eq!(out.records()[0].data().as_ref(), data.as_slice());
    // 9.5 MiB at 2 MiB/s: about 4.75 s of debt, though four call tokens are left.
    let next = out.next_shard_iterator().unwrap().to_string();
    for wait_ms in [0, 1000] {
        tokio::time::sleep(Duration::from_millis(wait_ms)).await;
        let e = c
            .get_records()
            .shard_iterator(&next)
            .send()
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some(THROTTLED), "{e:?}");
        assert_eq!(e.message(), Some(rate_exceeded("big", 0).as_str()));
    }
    // The write side owes too: the next write waits for the debt to be repaid.
    let e = c
        .put_record()
        .stream_name("big")
        .partition_key("k")
        .data(Blob::new(vec![1u8]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(THROTTLED));
}

#[tokio::test]
async fn shards_are_throttled_independently() {
    let server = TestServer::start_limited();
    let c = client(&server).await;
    create(&c, "two", 2, None).await;
    let started = Instant::now();
    let mut shard0_ok = 0;
    // Exhaust shard 0's records/s with back-to-back batches routed to it.
    for round in 0..10 {
        let out = put_records(&c, "two", tiny_batch(round, Some("0"))).await;
        let ok = accepted(&out, "two", |_| 0).len();
        shard0_ok += ok;
        if ok < 500 {
            break;
        }
        assert!(round < 9, "shard 0 never throttled");
    }
    // A mixed batch: shard 1 is untouched, so all of its records go in.
    let entries: Vec<_> = (0..500)
        .map(|i| {
            let key = if i % 2 == 0 { "0" } else { SHARD1_KEY };
            entry(format!("m{i}"), vec![b'y'], Some(key))
        })
        .collect();
    let out = put_records(&c, "two", entries).await;
    let ok = accepted(&out, "two", |i| (i % 2) as u32);
    let shard1_ok = ok.iter().filter(|&&i| i % 2 == 1).count();
    shard0_ok += ok.len() - shard1_ok;
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(shard1_ok, 250, "shard 1 has its own buckets");
    assert!(
        shard0_ok as f64 <= 1000.0 * (1.0 + elapsed),
        "{shard0_ok} in {elapsed:.2} s"
    );

    // Reads: exhausting shard 0's GetRecords leaves shard 1's alone.
    read_until_throttled(&c, "two", 0, 50).await;
    let it = iterator(&c, "two", 1).await;
    let got = c.get_records().shard_iterator(it).send().await.unwrap();
    assert_eq!(got.records().len(), 250);
}

#[tokio::test]
async fn no_throughput_limits_accepts_everything() {
    let server = TestServer::start(); // passes --no-throughput-limits
    let c = client(&server).await;
    create(&c, "free", 2, Some(10 * 1024)).await;
    for _ in 0..30 {
        c.put_record()
            .stream_name("free")
            .partition_key("k")
            .explicit_hash_key("0")
            .data(Blob::new(vec![7u8; 100 * KIB]))
            .send()
            .await
            .unwrap();
    }
    let entries = (0..500)
        .map(|i| entry(format!("k{i:03}"), vec![1u8; 10 * KIB], Some("0")))
        .collect();
    assert_eq!(
        put_records(&c, "free", entries).await.failed_record_count(),
        Some(0)
    );
    for round in 0..4 {
        let out = put_records(&c, "free", tiny_batch(round, Some(SHARD1_KEY))).await;
        assert_eq!(out.failed_record_count(), Some(0));
    }
    c.put_record()
        .stream_name("free")
        .partition_key("k")
        .explicit_hash_key("0")
        .data(Blob::new(vec![3u8; 19 * MIB / 2]))
        .send()
        .await
        .unwrap();
    // Shard 0 holds 3 + 5 + 9.5 MiB: two 10 MiB-capped reads and more, back to back.
    let mut it = iterator(&c, "free", 0).await;
    let mut records = 0;
    for _ in 0..20 {
        let out = c.get_records().shard_iterator(&it).send().await.unwrap();
        records += out.records().len();
        it = out.next_shard_iterator().unwrap().to_string();
    }
    assert_eq!(records, 30 + 500 + 1);
}
