//! Per-shard throughput limits at the domain level, with a manual clock: the
//! exact burst, refill and debt arithmetic (end-to-end tests through the SDK,
//! in real time, are in `crates/riffle/tests/throughput.rs`).
#![allow(clippy::unwrap_used)]

mod common;

use common::{config_with_sync, get_records, iterator, put_record, stream, SHARD0};
use riffle_model::*;
use riffle_streams::{Engine, ManualClock, StreamsError, SyncPolicy};
use std::sync::Arc;

const MIB: usize = 1024 * 1024;

fn engine(dir: &std::path::Path, clock: Arc<ManualClock>, limits: bool) -> Engine {
    let mut cfg = config_with_sync(dir, SyncPolicy::Never);
    cfg.throughput_limits = limits;
    Engine::open_with_clock(cfg, clock).unwrap()
}

async fn create(e: &Engine, name: &str, max_record_kib: Option<i64>) {
    common::create(e, name, 1, max_record_kib).await;
}

async fn put(e: &Engine, bytes: usize) -> Result<PutRecordOutput, StreamsError> {
    put_record(e, "s", "k", vec![0u8; bytes]).await
}

/// Accepted count of a PutRecords of `n` one-byte records.
async fn put_tiny(e: &Engine, n: usize) -> usize {
    let out = e
        .put_records(PutRecordsInput {
            stream: stream("s"),
            records: (0..n)
                .map(|i| PutRecordsEntry {
                    data: vec![1].into(),
                    partition_key: format!("{i}"),
                    explicit_hash_key: None,
                })
                .collect(),
        })
        .await
        .unwrap();
    n - out.failed_record_count as usize
}

/// A TRIM_HORIZON iterator of the test shard. Taken once per test and read
/// again and again: GetShardIterator has its own limit (5/s per shard).
async fn trim_horizon(e: &Engine) -> String {
    iterator(e, "s", SHARD0, ShardIteratorType::TrimHorizon, None, None)
        .await
        .unwrap()
}

async fn read(e: &Engine, it: &str) -> Result<GetRecordsOutput, StreamsError> {
    get_records(e, it.to_string()).await
}

fn is_throttled<T: std::fmt::Debug>(r: Result<T, StreamsError>) -> bool {
    match r {
        Err(StreamsError::ProvisionedThroughputExceeded(m)) => {
            assert_eq!(
                m,
                "Rate exceeded for shard shardId-000000000000 in stream s under account 000000000000."
            );
            true
        }
        Ok(_) => false,
        Err(e) => panic!("unexpected error {e:?}"),
    }
}

#[tokio::test]
async fn write_bytes_burst_then_rate() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new());
    let e = engine(dir.path(), clock.clone(), true);
    create(&e, "s", None).await;
    // 100 KiB + 1 key byte each: ten fit in 1 MiB, the eleventh does not.
    for _ in 0..10 {
        put(&e, 100 * 1024).await.unwrap();
    }
    assert!(is_throttled(put(&e, 100 * 1024).await));
    // 24,566 bytes left; 77,835 more come back in 74.2 ms at 1 MiB/s.
    clock.advance_ms(74);
    assert!(is_throttled(put(&e, 100 * 1024).await));
    clock.advance_ms(1);
    put(&e, 100 * 1024).await.unwrap();
}

#[tokio::test]
async fn write_records_burst_then_rate() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new());
    let e = engine(dir.path(), clock.clone(), true);
    create(&e, "s", None).await;
    assert_eq!(put_tiny(&e, 500).await, 500);
    assert_eq!(put_tiny(&e, 500).await, 500);
    assert_eq!(put_tiny(&e, 500).await, 0);
    clock.advance_ms(250);
    assert_eq!(put_tiny(&e, 500).await, 250);
    // Idle time refills at most one second's worth.
    clock.advance_ms(60_000);
    assert_eq!(
        put_tiny(&e, 500).await + put_tiny(&e, 500).await + put_tiny(&e, 500).await,
        1000
    );
    // Exactly the accepted records are stored; reads have their own buckets.
    assert_eq!(
        read(&e, &trim_horizon(&e).await)
            .await
            .unwrap()
            .records
            .len(),
        2250
    );
}

#[tokio::test]
async fn reads_five_calls_per_second_and_ten_mib_debt() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new());
    let e = engine(dir.path(), clock.clone(), true);
    create(&e, "s", Some(10 * 1024)).await;
    let it = trim_horizon(&e).await;
    for _ in 0..5 {
        read(&e, &it).await.unwrap();
    }
    assert!(is_throttled(read(&e, &it).await));
    clock.advance_ms(200);
    read(&e, &it).await.unwrap();
    assert!(is_throttled(read(&e, &it).await));

    // A 10 MiB record (the write bucket admits it from full, then owes 9 MiB).
    clock.advance_ms(1_000);
    put(&e, 10 * MIB - 1).await.unwrap();
    assert!(is_throttled(put(&e, 1).await));
    clock.advance_ms(8_999);
    assert!(is_throttled(put(&e, 1).await));
    clock.advance_ms(2);
    put(&e, 1).await.unwrap();

    // Reading those 10 MiB blocks reads for the next 5 s, as on AWS.
    assert_eq!(read(&e, &it).await.unwrap().records.len(), 1);
    clock.advance_ms(4_999);
    assert!(is_throttled(read(&e, &it).await));
    clock.advance_ms(1);
    assert_eq!(
        read(&e, &it).await.unwrap().records.len(),
        1,
        "10 MiB cap: one record"
    );
}

#[tokio::test]
async fn limits_off_accepts_everything() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new());
    let e = engine(dir.path(), clock, false);
    create(&e, "s", None).await;
    for _ in 0..20 {
        put(&e, 100 * 1024).await.unwrap();
    }
    for _ in 0..4 {
        assert_eq!(put_tiny(&e, 500).await, 500);
    }
    for _ in 0..20 {
        read(&e, &trim_horizon(&e).await).await.unwrap();
    }
}
