//! `riffle bench`: an end-to-end load generator for any Kinesis endpoint.

mod firehose;
mod stats;
mod wire;

use anyhow::{bail, Context, Result};
use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use clap::{Args, ValueEnum};
use serde::Serialize;
use serde_json::json;
use stats::{BitSet, Header, Histogram, KeyDist, KeyGen, LatencyMs, Seen, Verify};
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wire::{json_str, GetRecordsOut, PutRecordsOut, SubscribeEventOut, Wire};

/// Load-test any Kinesis Data Streams endpoint (Riffle or a peer) over the wire protocol.
///
/// Producers write records that carry their producer id, a counter and the send
/// time; readers decode them to measure latency and to verify that every
/// acknowledged record comes back exactly once and in order per shard.
///
/// Modes:
///   put-records   PutRecords of --batch records (write throughput and latency)
///   put-record    one PutRecord per record
///   get-records   write (PutRecords), then read everything back with GetRecords
///                 from TRIM_HORIZON, one reader per shard; verifies the data
///   subscribe     --consumers enhanced fan-out consumers SubscribeToShard every
///                 shard while producers write; reports put-to-push latency and
///                 verifies every consumer got every record
///   firehose      PutRecordBatch into a new Direct PUT delivery stream (ExtendedS3),
///                 then reads the objects back (--s3-dir or --s3-endpoint): accepted
///                 and delivered throughput, put-to-object latency, exactly-once check
///
/// Examples:
///   riffle bench put-records --record-bytes 100 --batch 500 --duration 10
///   riffle bench get-records --record-bytes 10240 --batch 100 --records 200000 --json
///   riffle bench subscribe --shards 1 --batch 1 --rate 1000 --duration 10
///   riffle bench subscribe --shards 1 --consumers 20 --record-bytes 1000 --batch 10 --rate 1000
///   riffle bench firehose --record-bytes 1024 --batch 500 --s3-dir riffle-data/s3
///
/// A progress line goes to stderr once a second; the report to stdout (text, or
/// JSON with --json). With --server-pid (Linux) the report adds the server's CPU
/// seconds per GB and per million records and its resident memory.
#[derive(Args, Debug, Clone)]
#[command(verbatim_doc_comment)]
pub struct BenchArgs {
    /// What to measure.
    #[arg(value_enum, default_value_t = Mode::PutRecords)]
    pub mode: Mode,
    /// Kinesis endpoint.
    #[arg(long, default_value = "http://127.0.0.1:4567")]
    pub endpoint: String,
    /// Stream name [default: bench-PID-MILLIS, created and left in place].
    #[arg(long)]
    pub stream: Option<String>,
    /// Use the existing --stream (its open shards) instead of creating one. get-records and
    /// subscribe read from TRIM_HORIZON, so records already in it fail verification: use an empty stream.
    #[arg(long, requires = "stream")]
    pub no_create: bool,
    /// Delete the stream when done.
    #[arg(long)]
    pub delete: bool,
    /// Encrypt the stream at rest first (StartStreamEncryption with this KMS key
    /// id or alias, e.g. alias/aws/kinesis), to measure encryption's cost.
    #[arg(long, value_name = "KEY_ID")]
    pub encrypt: Option<String>,
    /// Shards of the created stream.
    #[arg(long, default_value_t = 4)]
    pub shards: u32,
    /// Concurrent producers, each with its own connection and one request in flight.
    #[arg(long, default_value_t = 4)]
    pub producers: u32,
    /// get-records: concurrent readers, shards dealt round-robin [default: one per shard].
    /// subscribe: enhanced fan-out consumers, each subscribed to every shard [default: 1].
    #[arg(long)]
    pub consumers: Option<u32>,
    /// Seconds to write [default: 10, or until --records].
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Stop after writing this many records in all (split across producers).
    #[arg(long, value_name = "N")]
    pub records: Option<u64>,
    /// Bytes per record (at least 24: the header).
    #[arg(long, default_value_t = 100)]
    pub record_bytes: usize,
    /// Records per PutRecords (1..=500).
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    /// Total write rate in records per second; 0 = as fast as possible.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Partition-key distribution.
    #[arg(long, value_enum, default_value_t = KeyDist::Uniform)]
    pub key_dist: KeyDist,
    /// Distinct partition keys for uniform, hot and zipf.
    #[arg(long, default_value_t = 10_000)]
    pub keys: u64,
    /// hot: share of records on the one hot key.
    #[arg(long, default_value_t = 0.5)]
    pub hot_fraction: f64,
    /// zipf: exponent s (weight of key k is 1/(k+1)^s).
    #[arg(long, default_value_t = 1.0)]
    pub zipf_s: f64,
    /// get-records: Limit per GetRecords call.
    #[arg(long, default_value_t = 10_000)]
    pub read_limit: u32,
    /// Give up reading back after this many seconds.
    #[arg(long, default_value_t = 120.0, value_name = "SECS")]
    pub read_timeout: f64,
    /// Speak HTTP/2 with prior knowledge (h2c) instead of HTTP/1.1.
    #[arg(long)]
    pub http2: bool,
    /// Sign every request with SigV4 as this access key (with
    /// --secret-access-key), for servers that verify signatures; without it
    /// requests carry a well-formed but unverifiable signature.
    #[arg(long, value_name = "KEY_ID", requires = "secret_access_key")]
    pub access_key_id: Option<String>,
    /// The secret of --access-key-id.
    #[arg(long, value_name = "SECRET", requires = "access_key_id")]
    pub secret_access_key: Option<String>,
    /// Region in the signing scope.
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// No progress line.
    #[arg(long, short)]
    pub quiet: bool,
    /// Sample this server process's CPU time and RSS from /proc (Linux).
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,
    /// Seed for partition-key choice.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[command(flatten)]
    pub firehose: firehose::FirehoseArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    PutRecords,
    PutRecord,
    GetRecords,
    Subscribe,
    Firehose,
}

/// Live counters shared by every task and the progress line.
#[derive(Default)]
struct Counters {
    written: AtomicU64,
    written_bytes: AtomicU64,
    read: AtomicU64,
    read_bytes: AtomicU64,
    errors: AtomicU64,
    stop: AtomicBool,
    stop_readers: AtomicBool,
}

#[derive(Serialize, Clone, Debug, Default)]
struct Phase {
    seconds: f64,
    records: u64,
    bytes: u64,
    calls: u64,
    /// Records refused (PutRecords ErrorCode or a refused call), retried.
    failed_records: u64,
    /// Calls that failed outright (transport errors and refusals).
    errors: u64,
    records_per_sec: f64,
    mb_per_sec: f64,
    /// Per call.
    latency_ms: LatencyMs,
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<ServerPhase>,
}

impl Phase {
    fn finish(&mut self, hist: &Histogram) {
        self.latency_ms = hist.summary_ms();
        if self.seconds > 0.0 {
            self.records_per_sec = (self.records as f64 / self.seconds).round();
            self.mb_per_sec = (self.bytes as f64 / self.seconds / 1e4).round() / 100.0;
        }
    }
}

#[derive(Serialize, Clone, Debug, Default)]
struct ServerPhase {
    cpu_seconds: f64,
    cpu_s_per_gb: f64,
    cpu_s_per_million_records: f64,
    rss_mb_after: f64,
    rss_mb_peak: f64,
}

#[derive(Serialize, Debug)]
struct Report {
    endpoint: String,
    mode: Mode,
    stream: String,
    shards: usize,
    producers: u32,
    consumers: u32,
    record_bytes: usize,
    batch: usize,
    key_dist: KeyDist,
    rate: f64,
    /// The KMS key the stream was encrypted with (--encrypt).
    #[serde(skip_serializing_if = "Option::is_none")]
    encrypted_with: Option<String>,
    write: Phase,
    #[serde(skip_serializing_if = "Option::is_none")]
    read: Option<Phase>,
    /// subscribe: from the PutRecords call being sent to the record arriving at a consumer.
    #[serde(skip_serializing_if = "Option::is_none")]
    push_latency_ms: Option<LatencyMs>,
    #[serde(skip_serializing_if = "Option::is_none")]
    verify: Option<Verify>,
}

/// CPU and RSS of another process, from /proc.
#[derive(Clone, Copy)]
struct Probe(u32);

impl Probe {
    fn cpu_seconds(self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.0)).ok()?;
        // Fields after the parenthesised command: state is 3rd, utime 14th, stime 15th.
        let rest = stat.rsplit_once(')')?.1;
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
        Some(ticks / 100.0) // USER_HZ is 100 on Linux
    }

    fn rss_mb(self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.0)).ok()?;
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some((kb / 1024.0 * 10.0).round() / 10.0)
    }
}

struct ServerWatch {
    probe: Probe,
    cpu0: f64,
    peak_rss: Arc<AtomicU64>,
}

impl ServerWatch {
    fn start(probe: Option<Probe>, peak_rss: &Arc<AtomicU64>) -> Option<ServerWatch> {
        let probe = probe?;
        peak_rss.store(0, Ordering::Relaxed);
        Some(ServerWatch {
            probe,
            cpu0: probe.cpu_seconds()?,
            peak_rss: peak_rss.clone(),
        })
    }

    fn finish(self, records: u64, bytes: u64) -> ServerPhase {
        let cpu = self.probe.cpu_seconds().unwrap_or(self.cpu0) - self.cpu0;
        let rss = self.probe.rss_mb().unwrap_or(0.0);
        let peak = (self.peak_rss.load(Ordering::Relaxed) as f64 / 10.0).max(rss);
        let per = |n: f64| {
            if n > 0.0 {
                (cpu / n * 1000.0).round() / 1000.0
            } else {
                0.0
            }
        };
        ServerPhase {
            cpu_seconds: (cpu * 100.0).round() / 100.0,
            cpu_s_per_gb: per(bytes as f64 / 1e9),
            cpu_s_per_million_records: per(records as f64 / 1e6),
            rss_mb_after: rss,
            rss_mb_peak: peak,
        }
    }
}

pub fn main(args: BenchArgs) -> Result<()> {
    if args.record_bytes < stats::HEADER_BYTES {
        bail!(
            "--record-bytes must be at least {} (the record header)",
            stats::HEADER_BYTES
        );
    }
    if !(1..=500).contains(&args.batch) {
        bail!("--batch must be 1..=500");
    }
    if args.producers == 0 {
        bail!("--producers must be at least 1");
    }
    if args.mode == Mode::Firehose {
        return firehose::main(args);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(run(args.clone()))?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", render(&report))?;
    }
    let v = report.verify.as_ref();
    if v.is_some_and(|v| v.lost + v.duplicated + v.malformed > 0) {
        bail!("verification failed: records were lost, duplicated or malformed");
    }
    Ok(())
}

async fn run(args: BenchArgs) -> Result<Report> {
    let base = Instant::now();
    let mut wire = Wire::new(&args.endpoint, args.http2)?;
    if let (Some(key), Some(secret)) = (&args.access_key_id, &args.secret_access_key) {
        wire = wire.signed(key, secret, &args.region)?;
    }
    let stream = args.stream.clone().unwrap_or_else(|| {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        format!("bench-{}-{ms}", std::process::id())
    });
    if !args.no_create {
        wire.create_stream(&stream, args.shards).await?;
    }
    let stream_arn = wire.wait_active(&stream, Duration::from_secs(60)).await?;
    if let Some(key) = &args.encrypt {
        wire.start_stream_encryption(&stream, key).await?;
        wire.wait_active(&stream, Duration::from_secs(60)).await?;
    }
    let shards = wire.list_shards(&stream).await?;
    let counters = Arc::new(Counters::default());
    let peak_rss = Arc::new(AtomicU64::new(0));
    let probe = args.server_pid.map(Probe);
    let progress = tokio::spawn(progress(
        counters.clone(),
        args.quiet,
        probe,
        peak_rss.clone(),
    ));

    let consumers = match args.mode {
        Mode::Subscribe => args.consumers.unwrap_or(1).max(1),
        Mode::GetRecords => args.consumers.unwrap_or(shards.len() as u32).max(1),
        _ => 0,
    };

    // Subscribers start before the producers so nothing is missed and the
    // first records' latency is real.
    let mut subs = Vec::new();
    if args.mode == Mode::Subscribe {
        for c in 0..consumers {
            let arn = wire
                .consumer(&stream_arn, &format!("riffle-bench-{c}"))
                .await?;
            for (i, shard) in shards.iter().enumerate() {
                let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
                subs.push((
                    c,
                    tokio::spawn(subscribe(
                        wire.clone(),
                        arn.clone(),
                        shard.clone(),
                        i,
                        base,
                        counters.clone(),
                        ready_tx,
                    )),
                ));
                ready_rx
                    .await
                    .context("a subscription ended before its initial response")??;
            }
        }
    }

    // Write phase.
    let watch = ServerWatch::start(probe, &peak_rss);
    let started = Instant::now();
    let duration = args
        .duration
        .or(if args.records.is_some() {
            None
        } else {
            Some(10.0)
        })
        .map(Duration::from_secs_f64);
    let payload = Arc::new(stats::payload_b64(args.record_bytes));
    let keys = KeyGen::new(
        args.key_dist,
        args.keys,
        args.hot_fraction,
        args.zipf_s,
        args.seed,
    );
    let mut producers = Vec::new();
    for p in 0..args.producers {
        let quota = args.records.map(|n| {
            n / u64::from(args.producers) + u64::from(u64::from(p) < n % u64::from(args.producers))
        });
        producers.push(tokio::spawn(produce(ProducerCfg {
            wire: wire.clone(),
            id: p,
            stream_json: json_str(&stream),
            payload: payload.clone(),
            keys: keys.fork(args.seed.wrapping_mul(1000).wrapping_add(u64::from(p))),
            batch: if args.mode == Mode::PutRecord {
                1
            } else {
                args.batch
            },
            single: args.mode == Mode::PutRecord,
            record_bytes: args.record_bytes as u64,
            quota,
            rate: args.rate / f64::from(args.producers),
            base,
            counters: counters.clone(),
        })));
    }
    if let Some(d) = duration {
        let c = counters.clone();
        tokio::spawn(async move {
            tokio::time::sleep(d).await;
            c.stop.store(true, Ordering::Relaxed);
        });
    }
    let mut write = Phase::default();
    let mut write_hist = Histogram::default();
    let mut acked: HashMap<u32, BitSet> = HashMap::new();
    for p in producers {
        let out = p.await.context("producer panicked")?;
        write.calls += out.calls;
        write.failed_records += out.failed;
        write.errors += out.errors;
        write_hist.merge(&out.hist);
        acked.insert(out.id, out.acked);
        if let Some(e) = out.fatal {
            counters.stop.store(true, Ordering::Relaxed);
            counters.stop_readers.store(true, Ordering::Relaxed);
            bail!("producer {} stopped: {e:#}", out.id);
        }
    }
    counters.stop.store(true, Ordering::Relaxed);
    write.seconds = started.elapsed().as_secs_f64();
    write.records = counters.written.load(Ordering::Relaxed);
    write.bytes = counters.written_bytes.load(Ordering::Relaxed);
    let total_acked: u64 = acked.values().map(BitSet::len).sum();

    let mut read = None;
    let mut push_latency = None;
    let mut verify = None;
    match args.mode {
        Mode::PutRecords | Mode::PutRecord | Mode::Firehose => {
            write.server = watch.map(|w| w.finish(write.records, write.bytes));
        }
        Mode::GetRecords => {
            write.server = watch.map(|w| w.finish(write.records, write.bytes));
            let watch = ServerWatch::start(probe, &peak_rss);
            let started = Instant::now();
            let mut readers = Vec::new();
            for r in 0..consumers as usize {
                let mine: Vec<(usize, String)> = shards
                    .iter()
                    .cloned()
                    .enumerate()
                    .filter(|(i, _)| i % consumers as usize == r)
                    .collect();
                if mine.is_empty() {
                    continue;
                }
                readers.push(tokio::spawn(read_shards(
                    wire.clone(),
                    stream.clone(),
                    mine,
                    args.read_limit,
                    counters.clone(),
                    total_acked,
                )));
            }
            let timeout = Duration::from_secs_f64(args.read_timeout);
            let c = counters.clone();
            let timer = tokio::spawn(async move {
                tokio::time::sleep(timeout).await;
                c.stop_readers.store(true, Ordering::Relaxed);
            });
            let mut phase = Phase::default();
            let mut hist = Histogram::default();
            let mut seen = Seen::default();
            for r in readers {
                let out = r.await.context("reader panicked")??;
                phase.calls += out.calls;
                phase.errors += out.errors;
                hist.merge(&out.hist);
                seen.merge(&out.seen);
            }
            timer.abort();
            phase.seconds = started.elapsed().as_secs_f64();
            phase.records = counters.read.load(Ordering::Relaxed);
            phase.bytes = counters.read_bytes.load(Ordering::Relaxed);
            phase.server = watch.map(|w| w.finish(phase.records, phase.bytes));
            phase.finish(&hist);
            read = Some(phase);
            verify = Some(seen.verify(Some(&acked)));
        }
        Mode::Subscribe => {
            // Wait until every consumer has everything (or the timeout).
            let deadline = Instant::now() + Duration::from_secs_f64(args.read_timeout);
            let want = total_acked * u64::from(consumers);
            while counters.read.load(Ordering::Relaxed) < want && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let seconds = started.elapsed().as_secs_f64();
            counters.stop_readers.store(true, Ordering::Relaxed);
            let mut per_consumer: HashMap<u32, Seen> = HashMap::new();
            let mut lat = Histogram::default();
            let mut errors = 0;
            for (c, s) in subs {
                let out = s.await.context("subscriber panicked")??;
                lat.merge(&out.hist);
                errors += out.errors;
                per_consumer.entry(c).or_default().merge(&out.seen);
            }
            let mut v = Verify::default();
            for seen in per_consumer.values() {
                v.add(&seen.verify(Some(&acked)));
            }
            let mut phase = Phase {
                seconds,
                records: counters.read.load(Ordering::Relaxed),
                bytes: counters.read_bytes.load(Ordering::Relaxed),
                errors,
                ..Phase::default()
            };
            write.server = watch.map(|w| w.finish(write.records, write.bytes));
            phase.finish(&Histogram::default());
            push_latency = Some(lat.summary_ms());
            read = Some(phase);
            verify = Some(v);
        }
    }
    write.finish(&write_hist);
    counters.stop_readers.store(true, Ordering::Relaxed);
    progress.abort();
    if !args.quiet && std::io::stderr().is_terminal() {
        eprintln!();
    }
    if args.delete {
        if let Err(e) = wire.delete_stream(&stream).await {
            eprintln!("riffle bench: could not delete {stream}: {e:#}");
        }
    }
    Ok(Report {
        encrypted_with: args.encrypt.clone(),
        endpoint: args.endpoint.clone(),
        mode: args.mode,
        stream,
        shards: shards.len(),
        producers: args.producers,
        consumers,
        record_bytes: args.record_bytes,
        batch: if args.mode == Mode::PutRecord {
            1
        } else {
            args.batch
        },
        key_dist: args.key_dist,
        rate: args.rate,
        write,
        read,
        push_latency_ms: push_latency,
        verify,
    })
}

async fn progress(c: Arc<Counters>, quiet: bool, probe: Option<Probe>, peak_rss: Arc<AtomicU64>) {
    let tty = std::io::stderr().is_terminal();
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let (mut w0, mut wb0, mut r0, mut rb0) = (0, 0, 0, 0);
    loop {
        tick.tick().await;
        let rss = probe.and_then(Probe::rss_mb);
        if let Some(r) = rss {
            peak_rss.fetch_max((r * 10.0) as u64, Ordering::Relaxed);
        }
        if quiet {
            continue;
        }
        let (w, wb, r, rb) = (
            c.written.load(Ordering::Relaxed),
            c.written_bytes.load(Ordering::Relaxed),
            c.read.load(Ordering::Relaxed),
            c.read_bytes.load(Ordering::Relaxed),
        );
        let mut line = format!(
            "[{:>4}s] write {:>9} rec/s {:>8.1} MB/s (total {w})",
            start.elapsed().as_secs(),
            w - w0,
            (wb - wb0) as f64 / 1e6
        );
        if r > 0 {
            line += &format!(
                " | read {:>9} rec/s {:>8.1} MB/s (total {r})",
                r - r0,
                (rb - rb0) as f64 / 1e6
            );
        }
        let errors = c.errors.load(Ordering::Relaxed);
        if errors > 0 {
            line += &format!(" | errors {errors}");
        }
        if let Some(rss) = rss {
            line += &format!(" | server RSS {rss} MB");
        }
        if tty {
            eprint!("\r{line}\x1b[K");
        } else {
            eprintln!("{line}");
        }
        (w0, wb0, r0, rb0) = (w, wb, r, rb);
    }
}

struct ProducerCfg {
    wire: Wire,
    id: u32,
    stream_json: String,
    payload: Arc<String>,
    keys: KeyGen,
    batch: usize,
    single: bool,
    record_bytes: u64,
    quota: Option<u64>,
    /// Records per second for this producer; 0 = unlimited.
    rate: f64,
    base: Instant,
    counters: Arc<Counters>,
}

struct ProducerOut {
    id: u32,
    calls: u64,
    failed: u64,
    errors: u64,
    hist: Histogram,
    acked: BitSet,
    fatal: Option<anyhow::Error>,
}

/// One producer: one request in flight; refused records are retried first
/// (with the same counter and key) so every counter is eventually acknowledged.
async fn produce(mut cfg: ProducerCfg) -> ProducerOut {
    let mut out = ProducerOut {
        id: cfg.id,
        calls: 0,
        failed: 0,
        errors: 0,
        hist: Histogram::default(),
        acked: BitSet::default(),
        fatal: None,
    };
    let mut next = 0u64;
    let mut retry: Vec<(u64, String)> = Vec::new();
    let mut batch: Vec<(u64, String)> = Vec::with_capacity(cfg.batch);
    let mut body = String::new();
    let started = Instant::now();
    let mut consecutive_errors = 0;
    loop {
        if cfg.counters.stop.load(Ordering::Relaxed) {
            break;
        }
        batch.clear();
        batch.extend(retry.drain(..retry.len().min(cfg.batch)));
        while batch.len() < cfg.batch && cfg.quota.is_none_or(|q| next < q) {
            let mut key = String::new();
            cfg.keys.push_key(cfg.id, next, &mut key);
            batch.push((next, key));
            next += 1;
        }
        if batch.is_empty() {
            break;
        }
        if cfg.rate > 0.0 {
            let due = started + Duration::from_secs_f64(next as f64 / cfg.rate);
            tokio::time::sleep_until(due.into()).await;
        }
        let sent_ns = cfg.base.elapsed().as_nanos() as u64;
        body.clear();
        let op = if cfg.single {
            "PutRecord"
        } else {
            "PutRecords"
        };
        if cfg.single {
            body.push_str("{\"StreamName\":");
            body.push_str(&cfg.stream_json);
        } else {
            body.push_str("{\"StreamName\":");
            body.push_str(&cfg.stream_json);
            body.push_str(",\"Records\":[");
        }
        for (i, (counter, key)) in batch.iter().enumerate() {
            if cfg.single {
                body.push(',');
            } else if i > 0 {
                body.push_str(",{");
            } else {
                body.push('{');
            }
            body.push_str("\"Data\":\"");
            Header {
                producer: cfg.id,
                counter: *counter,
                sent_ns,
            }
            .push_b64(&mut body);
            body.push_str(&cfg.payload);
            body.push_str("\",\"PartitionKey\":\"");
            body.push_str(key);
            body.push_str("\"}");
        }
        if !cfg.single {
            body.push_str("]}");
        }
        let t = Instant::now();
        let res = cfg.wire.call(op, body.as_bytes().to_vec()).await;
        out.hist.record(t.elapsed().as_nanos() as u64);
        out.calls += 1;
        let n = batch.len() as u64;
        let refused =
            |out: &mut ProducerOut, batch: &mut Vec<(u64, String)>, retry: &mut Vec<_>| {
                out.failed += n;
                out.errors += 1;
                retry.append(batch);
            };
        match res {
            Ok(Ok(bytes)) if cfg.single => {
                let _ = bytes;
                consecutive_errors = 0;
                for (c, _) in &batch {
                    out.acked.insert(*c);
                }
                cfg.counters.written.fetch_add(n, Ordering::Relaxed);
                cfg.counters
                    .written_bytes
                    .fetch_add(n * cfg.record_bytes, Ordering::Relaxed);
            }
            Ok(Ok(bytes)) => {
                consecutive_errors = 0;
                let parsed: Result<PutRecordsOut, _> = serde_json::from_slice(&bytes);
                let Ok(parsed) = parsed else {
                    out.fatal = Some(anyhow::anyhow!(
                        "unreadable PutRecords reply: {}",
                        String::from_utf8_lossy(&bytes)
                    ));
                    break;
                };
                let mut ok = 0;
                for (i, (c, key)) in batch.drain(..).enumerate() {
                    let failed = parsed.failed > 0
                        && parsed.records.get(i).is_none_or(|r| r.error_code.is_some());
                    if failed {
                        out.failed += 1;
                        retry.push((c, key));
                    } else {
                        out.acked.insert(c);
                        ok += 1;
                    }
                }
                cfg.counters.written.fetch_add(ok, Ordering::Relaxed);
                cfg.counters
                    .written_bytes
                    .fetch_add(ok * cfg.record_bytes, Ordering::Relaxed);
            }
            Ok(Err(r)) if r.retryable() => {
                refused(&mut out, &mut batch, &mut retry);
                cfg.counters.errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(Err(r)) => {
                out.fatal = Some(anyhow::anyhow!("{op} refused: {r}"));
                break;
            }
            Err(e) => {
                refused(&mut out, &mut batch, &mut retry);
                cfg.counters.errors.fetch_add(1, Ordering::Relaxed);
                consecutive_errors += 1;
                if consecutive_errors >= 20 {
                    out.fatal = Some(e);
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    out
}

struct ReaderOut {
    calls: u64,
    errors: u64,
    hist: Histogram,
    seen: Seen,
}

/// Reads its shards from TRIM_HORIZON until each is drained (an empty reply
/// with MillisBehindLatest 0, or the end of a closed shard), every
/// acknowledged record has been read, or the timeout.
async fn read_shards(
    wire: Wire,
    stream: String,
    shards: Vec<(usize, String)>,
    limit: u32,
    c: Arc<Counters>,
    total: u64,
) -> Result<ReaderOut> {
    let mut out = ReaderOut {
        calls: 0,
        errors: 0,
        hist: Histogram::default(),
        seen: Seen::default(),
    };
    let mut iters: Vec<(usize, Option<String>)> = Vec::new();
    for (i, s) in &shards {
        iters.push((*i, Some(wire.shard_iterator(&stream, s).await?)));
    }
    while iters.iter().any(|(_, it)| it.is_some()) {
        if c.stop_readers.load(Ordering::Relaxed) || c.read.load(Ordering::Relaxed) >= total {
            break;
        }
        for (shard, iter) in iters.iter_mut() {
            let Some(it) = iter.take() else { continue };
            let body = format!("{{\"ShardIterator\":{},\"Limit\":{limit}}}", json_str(&it));
            let t = Instant::now();
            let res = wire.call("GetRecords", body.into_bytes()).await?;
            out.hist.record(t.elapsed().as_nanos() as u64);
            out.calls += 1;
            let bytes = match res {
                Ok(b) => b,
                Err(r) if r.retryable() => {
                    out.errors += 1;
                    c.errors.fetch_add(1, Ordering::Relaxed);
                    *iter = Some(it);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                Err(r) => bail!("GetRecords refused: {r}"),
            };
            let page: GetRecordsOut = serde_json::from_slice(&bytes).context("GetRecords reply")?;
            let mut n = 0;
            let mut nbytes = 0;
            for r in &page.records {
                n += 1;
                nbytes += stats::b64_decoded_len(&r.data) as u64;
                match Header::from_b64(&r.data) {
                    Some(h) => out.seen.observe(*shard, h),
                    None => out.seen.malformed(),
                }
            }
            c.read.fetch_add(n, Ordering::Relaxed);
            c.read_bytes.fetch_add(nbytes, Ordering::Relaxed);
            let drained = n == 0 && page.behind.unwrap_or(0) == 0;
            if !drained {
                *iter = page.next;
            }
        }
    }
    Ok(out)
}

struct SubOut {
    errors: u64,
    hist: Histogram,
    seen: Seen,
}

/// One consumer's subscription to one shard, renewed from the continuation
/// sequence number when the server ends it (every 5 minutes on AWS).
async fn subscribe(
    wire: Wire,
    consumer_arn: String,
    shard_id: String,
    shard: usize,
    base: Instant,
    c: Arc<Counters>,
    ready: tokio::sync::oneshot::Sender<Result<()>>,
) -> Result<SubOut> {
    let mut out = SubOut {
        errors: 0,
        hist: Histogram::default(),
        seen: Seen::default(),
    };
    let mut ready = Some(ready);
    let mut position = json!({"Type": "TRIM_HORIZON"});
    'subscriptions: while !c.stop_readers.load(Ordering::Relaxed) {
        let body =
            json!({"ConsumerARN": consumer_arn, "ShardId": shard_id, "StartingPosition": position});
        let mut resp = match wire.stream("SubscribeToShard", &body).await? {
            Ok(r) => r,
            Err(r) if r.retryable() && ready.is_none() => {
                out.errors += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            Err(r) => {
                let e = anyhow::anyhow!("SubscribeToShard refused: {r}");
                if let Some(tx) = ready.take() {
                    let _ = tx.send(Err(e));
                    return Ok(out);
                }
                return Err(e);
            }
        };
        let mut buf = bytes::BytesMut::new();
        let mut dec = MessageFrameDecoder::new();
        loop {
            let frame = match dec.decode_frame(&mut buf) {
                Ok(DecodedFrame::Complete(m)) => m,
                Ok(DecodedFrame::Incomplete) => {
                    let chunk = tokio::select! {
                        chunk = resp.chunk() => chunk,
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {
                            if c.stop_readers.load(Ordering::Relaxed) {
                                break 'subscriptions;
                            }
                            continue;
                        }
                    };
                    match chunk {
                        Ok(Some(b)) => buf.extend_from_slice(&b),
                        Ok(None) => continue 'subscriptions,
                        Err(e) => {
                            out.errors += 1;
                            c.errors.fetch_add(1, Ordering::Relaxed);
                            eprintln!("riffle bench: subscription to {shard_id} broke: {e}");
                            continue 'subscriptions;
                        }
                    }
                    continue;
                }
                Err(e) => bail!("bad event stream frame from {shard_id}: {e}"),
            };
            let now = base.elapsed().as_nanos() as u64;
            let header = |name: &str| {
                frame
                    .headers()
                    .iter()
                    .find(|h| h.name().as_str() == name)
                    .and_then(|h| h.value().as_string().ok())
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default()
            };
            if header(":message-type") == "exception" {
                bail!(
                    "SubscribeToShard {shard_id}: {}: {}",
                    header(":exception-type"),
                    String::from_utf8_lossy(frame.payload())
                );
            }
            match header(":event-type").as_str() {
                "initial-response" => {
                    if let Some(tx) = ready.take() {
                        let _ = tx.send(Ok(()));
                    }
                }
                "SubscribeToShardEvent" => {
                    let ev: SubscribeEventOut = serde_json::from_slice(frame.payload())
                        .context("SubscribeToShardEvent payload")?;
                    let (mut n, mut nbytes) = (0, 0);
                    for r in &ev.records {
                        n += 1;
                        nbytes += stats::b64_decoded_len(&r.data) as u64;
                        match Header::from_b64(&r.data) {
                            Some(h) => {
                                out.hist.record(now.saturating_sub(h.sent_ns));
                                out.seen.observe(shard, h);
                            }
                            None => out.seen.malformed(),
                        }
                    }
                    c.read.fetch_add(n, Ordering::Relaxed);
                    c.read_bytes.fetch_add(nbytes, Ordering::Relaxed);
                    if let Some(seq) = ev.continuation {
                        position = json!({"Type": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": seq});
                    }
                }
                _ => {}
            }
        }
    }
    if let Some(tx) = ready.take() {
        let _ = tx.send(Err(anyhow::anyhow!("stopped before subscribing")));
    }
    Ok(out)
}

fn render(r: &Report) -> String {
    let mut s = format!(
        "riffle bench {:?} against {} (stream {}, {} shards, {} producers, {} consumers, {}-byte records, batch {}, keys {:?})\n",
        r.mode, r.endpoint, r.stream, r.shards, r.producers, r.consumers, r.record_bytes, r.batch, r.key_dist
    );
    if let Some(k) = &r.encrypted_with {
        s += &format!("stream encrypted at rest with {k}\n");
    }
    let phase = |name: &str, p: &Phase, s: &mut String| {
        let l = &p.latency_ms;
        *s += &format!(
            "{name:<6} {} records in {:.2} s: {} records/s, {:.2} MB/s; {} calls, {} failed records, {} errors\n",
            p.records, p.seconds, p.records_per_sec, p.mb_per_sec, p.calls, p.failed_records, p.errors
        );
        if l.samples > 0 {
            *s += &format!(
                "       latency per call ms: p50 {} p90 {} p99 {} p999 {} max {} (mean {})\n",
                l.p50, l.p90, l.p99, l.p999, l.max, l.mean
            );
        }
        if let Some(sv) = &p.server {
            *s += &format!(
                "       server: {} CPU s ({} s/GB, {} s/million records), RSS {} MB after (peak {} MB)\n",
                sv.cpu_seconds, sv.cpu_s_per_gb, sv.cpu_s_per_million_records, sv.rss_mb_after, sv.rss_mb_peak
            );
        }
    };
    phase("write", &r.write, &mut s);
    if let Some(p) = &r.read {
        phase(
            if r.mode == Mode::Subscribe {
                "push"
            } else {
                "read"
            },
            p,
            &mut s,
        );
    }
    if let Some(l) = &r.push_latency_ms {
        s += &format!(
            "put-to-push latency ms: p50 {} p90 {} p99 {} p999 {} max {} ({} records)\n",
            l.p50, l.p90, l.p99, l.p999, l.max, l.samples
        );
    }
    if let Some(v) = &r.verify {
        s += &format!(
            "verify: {} expected, {} read, {} lost, {} duplicated, {} reordered, {} unacknowledged, {} malformed\n",
            v.expected, v.records_read, v.lost, v.duplicated, v.reordered, v.unacknowledged, v.malformed
        );
    }
    s
}
