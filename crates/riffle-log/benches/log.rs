#![allow(clippy::unwrap_used)]
//! Micro-benchmarks of the segment log's hot paths: `cargo bench -p riffle-log`.
//!
//! - `append_always/*`: `ShardLog::append` under `SyncPolicy::Always` from 1, 4 and 16
//!   threads sharing one log (group commit: concurrent appenders share an fdatasync).
//!   One iteration is one `append` per thread, so records/s is the aggregate rate.
//! - `append_never/*`: the same from one thread without fdatasync (the pure write path).
//! - `read/*`: `ShardLog::read` of 10,000 records from a pre-filled log (page cache warm).
//! - `offset_for_timestamp/*`: the timestamp lookup behind `AT_TIMESTAMP` iterators.
//!
//! Logs live under Cargo's target tmp dir (a real disk: `/tmp` may be tmpfs, where
//! fdatasync costs nothing). Figures are printed, never asserted.

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use riffle_log::{LogConfig, ShardLog, SyncPolicy};
use tempfile::TempDir;

const TS: i64 = 1_764_000_000_000;
const KEY_LEN: usize = 16;

/// A fresh directory on the target dir's file system.
fn bench_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("riffle-log-bench")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap()
}

fn open(dir: &TempDir, sync: SyncPolicy) -> ShardLog {
    ShardLog::open(
        dir.path(),
        LogConfig {
            sync,
            ..LogConfig::default()
        },
    )
    .unwrap()
}

/// `n` records of `size` data bytes with 16-byte partition keys.
fn records(n: usize, size: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let key = format!("{i:0KEY_LEN$}").into_bytes();
            let value = (0..size).map(|j| (i * 31 + j) as u8).collect();
            (key, value)
        })
        .collect()
}

fn as_slices(recs: &[(Vec<u8>, Vec<u8>)]) -> Vec<(&[u8], &[u8])> {
    recs.iter()
        .map(|(k, v)| (k.as_slice(), v.as_slice()))
        .collect()
}

/// `threads` threads each append `batch` `iters` times to one log; the wall time of all.
fn run_appends(log: &ShardLog, threads: usize, iters: u64, batch: &[(&[u8], &[u8])]) -> Duration {
    if threads == 1 {
        let start = Instant::now();
        for i in 0..iters {
            black_box(log.append(TS + i as i64, batch).unwrap());
        }
        return start.elapsed();
    }
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                barrier.wait();
                for i in 0..iters {
                    black_box(log.append(TS + i as i64, batch).unwrap());
                }
                barrier.wait();
            });
        }
        barrier.wait();
        let start = Instant::now();
        barrier.wait();
        start.elapsed()
    })
}

/// (name, records per batch, data bytes per record)
const SHAPES: [(&str, usize, usize); 4] = [
    ("1x100B", 1, 100),
    ("500x100B", 500, 100),
    ("1x10KiB", 1, 10 * 1024),
    ("100x10KiB", 100, 10 * 1024),
];

fn append_group(c: &mut Criterion, sync: SyncPolicy, name: &str, thread_counts: &[usize]) {
    let mut g = c.benchmark_group(name);
    // Iterations take milliseconds (fdatasync); Flat keeps the sample count at 10 iterations
    // minimum instead of criterion's 55.
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (shape, n, size) in SHAPES {
        let recs = records(n, size);
        let batch = as_slices(&recs);
        for &threads in thread_counts {
            let elements = (threads * n) as u64;
            g.throughput(Throughput::ElementsAndBytes {
                elements,
                bytes: elements * (KEY_LEN + size) as u64,
            });
            g.bench_with_input(
                BenchmarkId::new(shape, format!("{threads}t")),
                &threads,
                |b, &threads| {
                    // A fresh log per sample keeps the disk footprint to one sample's data.
                    b.iter_custom(|iters| {
                        let dir = bench_dir();
                        let log = open(&dir, sync);
                        run_appends(&log, threads, iters, &batch)
                    })
                },
            );
        }
    }
    g.finish();
}

fn append_always(c: &mut Criterion) {
    append_group(c, SyncPolicy::Always, "append_always", &[1, 4, 16]);
}

fn append_never(c: &mut Criterion) {
    append_group(c, SyncPolicy::Never, "append_never", &[1]);
}

/// A log of `total` records of `size` bytes, appended in batches of 10 with one
/// timestamp (`TS + batch number`) per batch, as many small PutRecords would leave it.
fn filled_log(total: usize, size: usize) -> (TempDir, ShardLog) {
    let dir = bench_dir();
    let log = open(&dir, SyncPolicy::Never);
    let recs = records(10, size);
    let batch = as_slices(&recs);
    for i in 0..total / 10 {
        log.append(TS + i as i64, &batch).unwrap();
    }
    log.sync().unwrap();
    (dir, log)
}

fn read(c: &mut Criterion) {
    const N: usize = 10_000;
    let mut g = c.benchmark_group("read");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (name, size) in [("10000x100B", 100), ("10000x10KiB", 10 * 1024)] {
        let (_dir, log) = filled_log(N, size);
        g.throughput(Throughput::ElementsAndBytes {
            elements: N as u64,
            bytes: (N * (KEY_LEN + size)) as u64,
        });
        g.bench_function(name, |b| {
            b.iter(|| {
                let out = log.read(black_box(0), N, usize::MAX).unwrap();
                assert_eq!(out.len(), N);
                out
            })
        });
    }
    g.finish();
}

fn offset_for_timestamp(c: &mut Criterion) {
    const N: usize = 10_000;
    let mut g = c.benchmark_group("offset_for_timestamp");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for (name, size) in [("100B", 100), ("10KiB", 10 * 1024)] {
        let (_dir, log) = filled_log(N, size);
        let batches = (N / 10) as i64;
        for (at, ts) in [("middle", TS + batches / 2), ("past_end", TS + batches)] {
            g.bench_function(BenchmarkId::new(name, at), |b| {
                b.iter(|| log.offset_for_timestamp(black_box(ts)).unwrap())
            });
        }
    }
    g.finish();
}

criterion_group!(
    benches,
    append_always,
    append_never,
    read,
    offset_for_timestamp
);
criterion_main!(benches);
