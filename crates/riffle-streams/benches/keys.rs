#![allow(clippy::unwrap_used)]
//! Micro-benchmarks of per-record key work: `cargo bench -p riffle-streams`.
//!
//! Each iteration handles 500 keys (one full PutRecords), so the time per
//! iteration compares directly with `decode_put_records` in riffle-protocol.
//!
//! - `partition_key_hash/*`: MD5 of 16-, 36- and 256-byte partition keys.
//! - `seqnum/encode`, `seqnum/decode`: version-2 sequence numbers to and from decimal.
//!
//! Figures are printed, never asserted.

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use riffle_streams::hashing::partition_key_hash;
use riffle_streams::seqnum::{self, SeqParts};

const N: usize = 500;

fn config<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(30)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(N as u64));
    g
}

fn hashing(c: &mut Criterion) {
    let mut g = config(c, "partition_key_hash");
    for len in [16usize, 36, 256] {
        let keys: Vec<String> = (0..N)
            .map(|i| {
                let mut k = format!("{i:08}-");
                while k.len() < len {
                    k.push(char::from(b'a' + (k.len() % 26) as u8));
                }
                k
            })
            .collect();
        g.bench_function(BenchmarkId::new("500_keys", format!("{len}B")), |b| {
            b.iter(|| {
                keys.iter()
                    .fold(0u128, |acc, k| acc ^ partition_key_hash(black_box(k)))
            })
        });
    }
    g.finish();
}

fn parts(i: usize) -> SeqParts {
    SeqParts {
        shard_create_secs: 1_764_000_000,
        shard_index: 3,
        seq_index: 1_000_000 + i as u64,
        record_secs: 1_764_000_100,
    }
}

fn seqnums(c: &mut Criterion) {
    let mut g = config(c, "seqnum");
    let p: Vec<SeqParts> = (0..N).map(parts).collect();
    let s: Vec<String> = p.iter().map(|&p| seqnum::encode(p)).collect();
    g.bench_function("encode_500", |b| {
        b.iter(|| {
            p.iter()
                .map(|&p| seqnum::encode(black_box(p)))
                .collect::<Vec<_>>()
        })
    });
    g.bench_function("decode_500", |b| {
        b.iter(|| {
            s.iter()
                .map(|s| seqnum::decode(black_box(s)).unwrap())
                .fold(0u64, |acc, p| acc ^ p.seq_index)
        })
    });
    g.finish();
}

criterion_group!(benches, hashing, seqnums);
criterion_main!(benches);
