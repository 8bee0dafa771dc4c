//! How much control-plane work slows the data plane: PutRecords latency on
//! one stream while idle, then while a big stream is created and another big
//! stream (with data) is deleted at the same time.
//!
//! ```text
//! cargo run --release -p riffle-streams --example control_plane_interference -- \
//!     [--create-shards 2000] [--delete-shards 1000] [--delete-records-per-shard 200] \
//!     [--producers 2] [--idle-secs 3] [--dir PATH]
//! ```
//!
//! Each PutRecords carries 100 records of 100 bytes, with fsync on every
//! append (group commit) and throughput limits off, through the engine API.

use riffle_model::*;
use riffle_streams::{Engine, EngineConfig, LogConfig, SyncPolicy};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Args {
    create_shards: i64,
    delete_shards: i64,
    delete_records_per_shard: usize,
    producers: usize,
    idle_secs: u64,
    dir: Option<std::path::PathBuf>,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        create_shards: 2000,
        delete_shards: 1000,
        delete_records_per_shard: 200,
        producers: 2,
        idle_secs: 3,
        dir: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().ok_or(format!("{flag} needs a value"))?;
        let num = || v.parse::<i64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--create-shards" => a.create_shards = num()?,
            "--delete-shards" => a.delete_shards = num()?,
            "--delete-records-per-shard" => a.delete_records_per_shard = num()? as usize,
            "--producers" => a.producers = num()? as usize,
            "--idle-secs" => a.idle_secs = num()? as u64,
            "--dir" => a.dir = Some(v.into()),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(a)
}

fn config(dir: &std::path::Path, sync: SyncPolicy) -> EngineConfig {
    let mut cfg = EngineConfig::new(dir);
    cfg.transition_delay_ms = 0;
    cfg.throughput_limits = false;
    cfg.shard_limit = 100_000;
    cfg.log = LogConfig {
        sync,
        ..LogConfig::default()
    };
    cfg
}

fn by_name(name: &str) -> StreamRef {
    StreamRef {
        name: Some(name.into()),
        arn: None,
    }
}

async fn create(e: &Engine, name: &str, shards: i64) -> Result<(), Box<dyn std::error::Error>> {
    e.create_stream(CreateStreamInput {
        stream_name: name.into(),
        shard_count: Some(shards),
        ..Default::default()
    })
    .await?;
    Ok(())
}

/// One PutRecords of 100 records of 100 bytes on stream `a`.
async fn put(e: &Engine, seed: u64) -> Result<Duration, Box<dyn std::error::Error>> {
    let records = (0..100)
        .map(|i| PutRecordsEntry {
            data: vec![b'x'; 100].into(),
            partition_key: format!("k-{seed}-{i}"),
            explicit_hash_key: None,
        })
        .collect();
    let t = Instant::now();
    let out = e
        .put_records(PutRecordsInput {
            stream: by_name("a"),
            records,
        })
        .await?;
    if out.failed_record_count != 0 {
        return Err(format!("{} records failed", out.failed_record_count).into());
    }
    Ok(t.elapsed())
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    if v.is_empty() {
        return f64::NAN;
    }
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i].as_secs_f64() * 1000.0
}

/// Runs `producers` PutRecords loops until `stop`, returning every latency.
async fn measure(
    e: &Arc<Engine>,
    producers: usize,
    stop: Arc<AtomicBool>,
) -> Result<Vec<Duration>, Box<dyn std::error::Error>> {
    let mut tasks = Vec::new();
    for p in 0..producers {
        let (e, stop) = (e.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                lat.push(
                    put(&e, n * 64 + p as u64)
                        .await
                        .map_err(|e| e.to_string())?,
                );
                n += 1;
            }
            Ok::<_, String>(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(all)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = args()?;
    let tmp = tempfile::tempdir()?;
    let dir = a.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());

    // Fill the stream to delete without fsyncs, then reopen with fsync always.
    {
        let e = Engine::open(config(&dir, SyncPolicy::Never))?;
        create(&e, "a", 4).await?;
        create(&e, "doomed", a.delete_shards).await?;
        let total = a.delete_shards as usize * a.delete_records_per_shard;
        let mut sent = 0;
        while sent < total {
            let n = (total - sent).min(500);
            let records = (0..n)
                .map(|i| PutRecordsEntry {
                    data: vec![b'd'; 1000].into(),
                    partition_key: format!("d-{}", sent + i),
                    explicit_hash_key: None,
                })
                .collect();
            e.put_records(PutRecordsInput {
                stream: by_name("doomed"),
                records,
            })
            .await?;
            sent += n;
        }
        e.sync_all();
    }
    let e = Arc::new(Engine::open(config(&dir, SyncPolicy::Always))?);
    let stats = e.stats();
    println!(
        "setup: {} streams, {} shards, {:.1} MiB on disk; {} producer(s), 100 x 100 B per PutRecords, fsync always",
        stats.streams,
        stats.shards,
        stats.disk_bytes as f64 / 1048576.0,
        a.producers
    );

    // Warm up, then idle.
    let stop = Arc::new(AtomicBool::new(false));
    let run = tokio::spawn({
        let (e, stop) = (e.clone(), stop.clone());
        async move {
            measure(&e, a.producers, stop)
                .await
                .map_err(|e| e.to_string())
        }
    });
    tokio::time::sleep(Duration::from_secs(a.idle_secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut idle = run.await??;

    // During: create a big stream and delete the filled one, concurrently.
    let stop = Arc::new(AtomicBool::new(false));
    let run = tokio::spawn({
        let (e, stop) = (e.clone(), stop.clone());
        async move {
            measure(&e, a.producers, stop)
                .await
                .map_err(|e| e.to_string())
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t0 = Instant::now();
    let creating = tokio::spawn({
        let e = e.clone();
        let n = a.create_shards;
        async move {
            create(&e, "big", n).await.map_err(|e| e.to_string())?;
            Ok::<_, String>(t0.elapsed())
        }
    });
    let deleting = tokio::spawn({
        let e = e.clone();
        async move {
            e.delete_stream(DeleteStreamInput {
                stream: by_name("doomed"),
                enforce_consumer_deletion: false,
            })
            .await
            .map_err(|e| e.to_string())?;
            Ok::<_, String>(t0.elapsed())
        }
    });
    let created_in = creating.await??;
    let deleted_in = deleting.await??;
    stop.store(true, Ordering::Relaxed);
    let mut during = run.await??;

    println!(
        "control plane: CreateStream({} shards) {:.0} ms, DeleteStream({} shards, {} records) {:.0} ms",
        a.create_shards,
        created_in.as_secs_f64() * 1000.0,
        a.delete_shards,
        a.delete_shards as usize * a.delete_records_per_shard,
        deleted_in.as_secs_f64() * 1000.0
    );
    let idle_rate = idle.len() as f64 / a.idle_secs as f64;
    let during_secs = created_in.max(deleted_in).as_secs_f64() + 0.2;
    let during_rate = during.len() as f64 / during_secs;
    let (i50, i99, i999, imax) = (
        pct(&mut idle, 0.5),
        pct(&mut idle, 0.99),
        pct(&mut idle, 0.999),
        pct(&mut idle, 1.0),
    );
    let (d50, d99, d999, dmax) = (
        pct(&mut during, 0.5),
        pct(&mut during, 0.99),
        pct(&mut during, 0.999),
        pct(&mut during, 1.0),
    );
    println!(
        "PutRecords idle:   n={:6} ({idle_rate:6.0}/s)  p50 {i50:8.2} ms  p99 {i99:8.2} ms  p99.9 {i999:8.2} ms  max {imax:8.2} ms",
        idle.len()
    );
    println!(
        "PutRecords during: n={:6} ({during_rate:6.0}/s)  p50 {d50:8.2} ms  p99 {d99:8.2} ms  p99.9 {d999:8.2} ms  max {dmax:8.2} ms",
        during.len()
    );
    println!("p99 during / idle: {:.2}x", d99 / i99);
    Ok(())
}
