//! The `control_plane_interference` scenario at a small scale, on a
//! multi-threaded runtime (where blocking work is moved off the workers):
//! PutRecords on one stream keeps succeeding while a many-shard stream is
//! created and another one, with data, is deleted. No timing assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{config_with_sync, create, stream};
use riffle_model::*;
use riffle_streams::{Engine, StreamsError, SyncPolicy};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

async fn put_100(e: &Engine, seed: usize) -> PutRecordsOutput {
    e.put_records(PutRecordsInput {
        stream: stream("a"),
        records: (0..100)
            .map(|i| PutRecordsEntry {
                data: vec![b'x'; 100].into(),
                partition_key: format!("k-{seed}-{i}"),
                explicit_hash_key: None,
            })
            .collect(),
    })
    .await
    .unwrap()
}

async fn fill(e: &Engine, name: &str, records: usize) {
    for chunk in 0..records / 500 {
        let out = e
            .put_records(PutRecordsInput {
                stream: stream(name),
                records: (0..500)
                    .map(|i| PutRecordsEntry {
                        data: vec![b'd'; 1000].into(),
                        partition_key: format!("d-{chunk}-{i}"),
                        explicit_hash_key: None,
                    })
                    .collect(),
            })
            .await
            .unwrap();
        assert_eq!(out.failed_record_count, 0);
    }
}

/// Producers on stream `a` until `stop`; returns how many calls succeeded.
fn producers(
    e: &Arc<Engine>,
    n: usize,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<usize>> {
    (0..n)
        .map(|p| {
            let (e, stop) = (e.clone(), stop.clone());
            tokio::spawn(async move {
                let mut calls = 0;
                while !stop.load(Ordering::Relaxed) {
                    let out = put_100(&e, calls * 8 + p).await;
                    assert_eq!(out.failed_record_count, 0);
                    assert_eq!(out.records.len(), 100);
                    calls += 1;
                }
                calls
            })
        })
        .collect()
}

fn stream_dirs(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("streams")).unwrap().count()
}

/// Deleted streams' trees not yet removed.
fn trash(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("trash")).map_or(0, |d| d.count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn puts_succeed_while_streams_are_created_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let e = Arc::new(Engine::open(config_with_sync(dir.path(), SyncPolicy::Always)).unwrap());
    create(&e, "a", 2, None).await;
    create(&e, "doomed", 50, None).await;
    fill(&e, "doomed", 5_000).await;
    assert_eq!(stream_dirs(dir.path()), 2);

    let stop = Arc::new(AtomicBool::new(false));
    let running = producers(&e, 2, &stop);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let creating = tokio::spawn({
        let e = e.clone();
        async move { create(&e, "big", 300, None).await }
    });
    let deleting = tokio::spawn({
        let e = e.clone();
        async move {
            e.delete_stream(DeleteStreamInput {
                stream: stream("doomed"),
                enforce_consumer_deletion: false,
            })
            .await
        }
    });
    creating.await.unwrap();
    deleting.await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop.store(true, Ordering::Relaxed);
    let mut calls = 0;
    for p in running {
        calls += p.await.unwrap();
    }
    assert!(calls > 0);

    let big = e
        .describe_stream_summary(DescribeStreamSummaryInput {
            stream: stream("big"),
        })
        .await
        .unwrap();
    assert_eq!(big.stream_description_summary.open_shard_count, 300);
    let gone = e
        .describe_stream_summary(DescribeStreamSummaryInput {
            stream: stream("doomed"),
        })
        .await;
    assert!(matches!(gone, Err(StreamsError::ResourceNotFound(_))));
    // DeleteStream returned after the directory tree was removed.
    assert_eq!(stream_dirs(dir.path()), 2);
    assert_eq!(trash(dir.path()), 0);
}

/// A deletion completed lazily (after DELETING) still removes the files, in
/// the background, while puts go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_deletion_removes_the_files_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config_with_sync(dir.path(), SyncPolicy::Always);
    cfg.transition_delay_ms = 0;
    let e = Arc::new(Engine::open(cfg.clone()).unwrap());
    create(&e, "a", 1, None).await;
    create(&e, "doomed", 20, None).await;
    fill(&e, "doomed", 1_000).await;
    drop(e);
    cfg.transition_delay_ms = 100;
    let e = Arc::new(Engine::open(cfg).unwrap());

    let stop = Arc::new(AtomicBool::new(false));
    let running = producers(&e, 1, &stop);
    e.delete_stream(DeleteStreamInput {
        stream: stream("doomed"),
        enforce_consumer_deletion: false,
    })
    .await
    .unwrap();
    let mut removed = false;
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Looking the stream up completes the due deletion.
        let _ = e
            .describe_stream_summary(DescribeStreamSummaryInput {
                stream: stream("doomed"),
            })
            .await;
        if stream_dirs(dir.path()) == 1 && trash(dir.path()) == 0 {
            removed = true;
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for p in running {
        assert!(p.await.unwrap() > 0);
    }
    assert!(removed, "the deleted stream's directory is still there");
    // A lazily completed CREATING -> ACTIVE commits from inside the same
    // off-worker section (nested block_in_place on this runtime).
    create(&e, "late", 3, None).await;
    let mut active = false;
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let d = e
            .describe_stream_summary(DescribeStreamSummaryInput {
                stream: stream("late"),
            })
            .await
            .unwrap();
        if d.stream_description_summary.stream_status == StreamStatus::Active {
            active = true;
            break;
        }
    }
    assert!(active, "the stream never left CREATING");
    assert!(matches!(
        e.describe_stream_summary(DescribeStreamSummaryInput {
            stream: stream("doomed"),
        })
        .await,
        Err(StreamsError::ResourceNotFound(_))
    ));
}
