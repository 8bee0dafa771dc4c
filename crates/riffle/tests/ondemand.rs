//! On-demand capacity through the real binary with throughput limits on:
//! sustained load above a new on-demand stream's 4 MiB/s makes it grow, and
//! the write rate it accepts rises with it.
#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, StreamMode, StreamModeDetails};
use common::TestServer;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const RECORD: usize = 4096;

async fn open_shards(c: &aws_sdk_kinesis::Client) -> usize {
    let d = c
        .describe_stream_summary()
        .stream_name("od")
        .send()
        .await
        .unwrap();
    d.stream_description_summary().unwrap().open_shard_count() as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sustained_load_grows_an_on_demand_stream_and_its_accepted_rate() {
    let server = TestServer::start_limited();
    let c = server.client().await;
    c.create_stream()
        .stream_name("od")
        .stream_mode_details(
            StreamModeDetails::builder()
                .stream_mode(StreamMode::OnDemand)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(open_shards(&c).await, 4);

    let accepted = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut producers = Vec::new();
    for p in 0..4 {
        let client = common::no_retry_client_for(&server.endpoint()).await;
        let (accepted, stop) = (accepted.clone(), stop.clone());
        producers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let entries: Vec<PutRecordsRequestEntry> = (0..200)
                    .map(|i| {
                        PutRecordsRequestEntry::builder()
                            .partition_key(format!("p{p}-{n}-{i}"))
                            .data(Blob::new(vec![b'x'; RECORD]))
                            .build()
                            .unwrap()
                    })
                    .collect();
                n += 1;
                if let Ok(out) = client
                    .put_records()
                    .stream_name("od")
                    .set_records(Some(entries))
                    .send()
                    .await
                {
                    let ok = 200 - out.failed_record_count().unwrap_or(0) as u64;
                    accepted.fetch_add(ok * RECORD as u64, Ordering::Relaxed);
                }
            }
        }));
    }

    // Per-second accepted bytes and shard counts, for up to 25 s or until the stream has doubled.
    let started = Instant::now();
    let mut windows: Vec<(f64, usize)> = Vec::new();
    let mut last = 0u64;
    while started.elapsed() < Duration::from_secs(25) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = accepted.load(Ordering::Relaxed);
        let shards = open_shards(&c).await;
        windows.push(((now - last) as f64 / (1024.0 * 1024.0), shards));
        last = now;
        println!(
            "t={:>2}s accepted {:.2} MiB/s, {} open shards",
            windows.len(),
            windows.last().unwrap().0,
            shards
        );
        if shards >= 8 && windows.len() >= 6 {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for p in producers {
        p.await.unwrap();
    }

    let final_shards = windows.last().unwrap().1;
    assert!(
        final_shards > 4,
        "the on-demand stream never grew: {windows:?}"
    );
    // Four shards accept at most 4 MiB/s once their one-second burst is spent
    // (the first window also holds the burst). After growing, more gets in.
    let grown: Vec<f64> = windows
        .iter()
        .skip(1)
        .filter(|(_, s)| *s >= 6)
        .map(|(r, _)| *r)
        .collect();
    let best = grown.iter().cloned().fold(0.0, f64::max);
    assert!(
        best > 4.4,
        "accepted rate did not rise above four shards' 4 MiB/s after growing: {windows:?}"
    );
}
