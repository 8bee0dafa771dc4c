//! `riffle bench firehose`: Direct PUT load on a Firehose endpoint (Riffle or
//! a peer such as moto) and read-back of the delivered S3 objects.
//!
//! Producers send PutRecordBatch of fixed-size records whose first 24 bytes
//! are the bench header (producer, counter, send time) and whose last byte is
//! `\n`; Firehose concatenates record data into objects, so an object splits
//! back into records every `--record-bytes` bytes. A watcher lists the
//! bucket every `--poll-ms` and stamps each object with the first poll that
//! saw it at its final size: put-to-object latency is that stamp minus the
//! record's send time, so it is late by at most one poll interval (plus the
//! listing's own time). Every acknowledged record must be in exactly one
//! object.

use super::stats::{self, Header, Histogram, LatencyMs, Seen, Verify, HEADER_BYTES};
use super::wire::{json_str, Refused};
use super::{BenchArgs, Counters, Phase, Probe, ProducerOut, ServerPhase, ServerWatch};
use anyhow::{anyhow, bail, Context, Result};
use base64::Engine as _;
use bytes::Bytes;
use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Flags only the firehose mode reads.
#[derive(Args, Debug, Clone)]
pub struct FirehoseArgs {
    /// firehose: the destination bucket (ExtendedS3 BucketARN arn:aws:s3:::BUCKET).
    #[arg(long, default_value = "riffle-bench")]
    pub bucket: String,
    /// firehose: BufferingHints.SizeInMBs of the created delivery stream.
    #[arg(long, default_value_t = 32)]
    pub buffer_mb: u32,
    /// firehose: BufferingHints.IntervalInSeconds of the created delivery stream.
    #[arg(long, default_value_t = 1)]
    pub buffer_seconds: u32,
    /// firehose: read delivered objects from this directory, as DIR/BUCKET/KEY
    /// (the server's --s3-dir; <data-dir>/s3 by default).
    #[arg(long, value_name = "DIR")]
    pub s3_dir: Option<PathBuf>,
    /// firehose: read delivered objects from this S3 endpoint instead (path
    /// style, unsigned requests), creating the bucket there first.
    #[arg(long, value_name = "URL", conflicts_with = "s3_dir")]
    pub s3_endpoint: Option<String>,
    /// firehose: how often the bucket is listed; the put-to-object latency's resolution.
    #[arg(long, default_value_t = 50, value_name = "MS")]
    pub poll_ms: u64,
}

// ---------------------------------------------------------------- records

/// The payload after the header: letters, then `\n`, so objects read as lines
/// in a pager; the framing itself is the fixed record size.
fn payload_b64(record_bytes: usize) -> String {
    let n = record_bytes.saturating_sub(HEADER_BYTES);
    let filler: Vec<u8> = (0..n)
        .map(|i| {
            if i + 1 == n {
                b'\n'
            } else {
                b'a' + (i % 26) as u8
            }
        })
        .collect();
    base64::engine::general_purpose::STANDARD.encode(filler)
}

/// Bookkeeping over the delivered objects: which records were in them, and
/// their put-to-object latency.
#[derive(Default)]
pub struct Delivery {
    record_bytes: usize,
    seen: Seen,
    latency: Histogram,
    objects: u64,
    bytes: u64,
    /// Objects whose length is not a whole number of records.
    torn_objects: u64,
}

impl Delivery {
    pub fn new(record_bytes: usize) -> Delivery {
        Delivery {
            record_bytes,
            ..Delivery::default()
        }
    }

    /// One object, first seen complete at `stamp_ns` (on the run's clock).
    pub fn object(&mut self, stamp_ns: u64, data: &[u8]) {
        let index = self.objects as usize;
        self.objects += 1;
        self.bytes += data.len() as u64;
        let chunks = data.chunks_exact(self.record_bytes.max(1));
        if !chunks.remainder().is_empty() {
            self.torn_objects += 1;
            self.seen.malformed();
        }
        for rec in chunks {
            match Header::from_bytes(rec) {
                Some(h) => {
                    self.latency.record(stamp_ns.saturating_sub(h.sent_ns));
                    // Reordering across objects means nothing here; the
                    // object index keeps `Seen`'s order check inside one object.
                    self.seen.observe(index, h);
                }
                None => self.seen.malformed(),
            }
        }
    }

    pub fn verify(&self, acked: &HashMap<u32, stats::BitSet>) -> Verify {
        self.seen.verify(Some(acked))
    }
}

// ---------------------------------------------------------------- wire

const FIREHOSE_AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDBENCH/20260101/us-east-1/firehose/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0000000000000000000000000000000000000000000000000000000000000000";
const S3_AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDBENCH/20260101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000";

/// The Firehose JSON protocol over raw HTTP (unsigned: a well-formed
/// signature scope names the service, which is how moto routes requests).
#[derive(Clone)]
struct Fh {
    client: reqwest::Client,
    endpoint: String,
}

impl Fh {
    fn new(endpoint: &str, http2: bool) -> Result<Fh> {
        let mut b = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(30));
        b = if http2 {
            b.http2_prior_knowledge()
        } else {
            b.http1_only()
        };
        Ok(Fh {
            client: b.build().context("cannot build the HTTP client")?,
            endpoint: endpoint.to_string(),
        })
    }

    async fn call(&self, op: &str, body: Vec<u8>) -> Result<Result<Bytes, Refused>> {
        let resp = self
            .client
            .post(&self.endpoint)
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", format!("Firehose_20150804.{op}"))
            .header("x-amz-date", "20260101T000000Z")
            .header("authorization", FIREHOSE_AUTH)
            .body(body)
            .send()
            .await
            .with_context(|| format!("{op} to {}", self.endpoint))?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.with_context(|| format!("{op} body"))?;
        if status == 200 {
            return Ok(Ok(bytes));
        }
        let error_type = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v["__type"].as_str().map(str::to_string))
            .unwrap_or_default();
        Ok(Err(Refused {
            status,
            error_type,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }))
    }

    async fn control(&self, op: &str, body: &Value) -> Result<Value> {
        let raw = serde_json::to_vec(body)?;
        for attempt in 0.. {
            match self.call(op, raw.clone()).await? {
                Ok(b) if b.is_empty() => return Ok(Value::Null),
                Ok(b) => return serde_json::from_slice(&b).with_context(|| format!("{op} reply")),
                Err(r) if r.retryable() && attempt < 50 => {
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                Err(r) => bail!("{op}: {r}"),
            }
        }
        bail!("{op}: gave up")
    }

    /// Waits for ACTIVE; returns the VersionId.
    async fn wait_active(&self, name: &str, within: Duration) -> Result<String> {
        let deadline = Instant::now() + within;
        loop {
            let d = self
                .control(
                    "DescribeDeliveryStream",
                    &json!({"DeliveryStreamName": name}),
                )
                .await?;
            let desc = &d["DeliveryStreamDescription"];
            if desc["DeliveryStreamStatus"] == "ACTIVE" {
                return Ok(desc["VersionId"].as_str().unwrap_or("1").to_string());
            }
            if Instant::now() > deadline {
                bail!("delivery stream {name} is not ACTIVE after {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[derive(Deserialize)]
struct PutBatchOut {
    #[serde(rename = "FailedPutCount", default)]
    failed: u64,
    #[serde(rename = "RequestResponses", default)]
    responses: Vec<PutBatchEntry>,
}

#[derive(Deserialize)]
struct PutBatchEntry {
    #[serde(rename = "ErrorCode", default)]
    error_code: Option<serde::de::IgnoredAny>,
}

// ---------------------------------------------------------------- objects

/// Where the delivered objects are read from.
#[derive(Clone)]
enum Bucket {
    /// `<s3-dir>/<bucket>`.
    Dir(PathBuf),
    /// An S3 endpoint, path style.
    S3 {
        client: reqwest::Client,
        endpoint: String,
        bucket: String,
    },
}

impl Bucket {
    fn s3_url(endpoint: &str, bucket: &str, key: &str) -> String {
        format!("{}/{bucket}/{key}", endpoint.trim_end_matches('/'))
    }

    async fn create(&self) -> Result<()> {
        if let Bucket::S3 {
            client,
            endpoint,
            bucket,
        } = self
        {
            let resp = s3_req(client.put(Bucket::s3_url(endpoint, bucket, "")))
                .send()
                .await
                .context("CreateBucket")?;
            let status = resp.status().as_u16();
            let body = resp.text().await.unwrap_or_default();
            if status != 200 && !body.contains("BucketAlreadyOwnedByYou") {
                bail!("CreateBucket {bucket}: HTTP {status}: {body}");
            }
        }
        Ok(())
    }

    /// `(key, size)` of the objects; on S3, only keys after `start_after`
    /// (AWS object names sort by time, so a recent bound keeps listings short).
    async fn list(&self, start_after: Option<&str>) -> Result<Vec<(String, u64)>> {
        match self {
            Bucket::Dir(root) => {
                let root = root.clone();
                tokio::task::spawn_blocking(move || {
                    let mut out = Vec::new();
                    walk(&root, &root, &mut out)?;
                    Ok(out)
                })
                .await?
            }
            Bucket::S3 {
                client,
                endpoint,
                bucket,
            } => {
                let mut out = Vec::new();
                let mut token: Option<String> = None;
                loop {
                    let mut params = vec![("list-type", "2".to_string())];
                    if let Some(t) = &token {
                        params.push(("continuation-token", t.clone()));
                    } else if let Some(s) = start_after {
                        params.push(("start-after", s.to_string()));
                    }
                    let url = reqwest::Url::parse_with_params(
                        &Bucket::s3_url(endpoint, bucket, ""),
                        &params,
                    )?;
                    let resp = s3_req(client.get(url))
                        .send()
                        .await
                        .context("ListObjectsV2")?;
                    let status = resp.status().as_u16();
                    let text = resp.text().await.context("ListObjectsV2 body")?;
                    if status != 200 {
                        bail!("ListObjectsV2: HTTP {status}: {text}");
                    }
                    let page = parse_list(&text);
                    out.extend(page.objects);
                    match page.next {
                        Some(t) => token = Some(t),
                        None => break,
                    }
                }
                Ok(out)
            }
        }
    }

    async fn get(&self, key: &str) -> Result<Bytes> {
        match self {
            Bucket::Dir(root) => {
                let path = root.join(key);
                Ok(Bytes::from(
                    tokio::fs::read(&path)
                        .await
                        .with_context(|| format!("reading {}", path.display()))?,
                ))
            }
            Bucket::S3 {
                client,
                endpoint,
                bucket,
            } => {
                let resp = s3_req(client.get(Bucket::s3_url(endpoint, bucket, key)))
                    .send()
                    .await
                    .with_context(|| format!("GetObject {key}"))?;
                let status = resp.status().as_u16();
                let body = resp.bytes().await?;
                if status != 200 {
                    bail!("GetObject {key}: HTTP {status}");
                }
                Ok(body)
            }
        }
    }
}

fn s3_req(b: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    b.header("x-amz-date", "20260101T000000Z")
        .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
        .header("authorization", S3_AUTH)
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, u64)>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let ft = entry.file_type()?;
        let path = entry.path();
        if ft.is_dir() {
            walk(root, &path, out)?;
        } else if ft.is_file() {
            // An object being written is a temporary file until it is
            // renamed to its name (the local store's atomic put).
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(".riffle-tmp-")
            {
                continue;
            }
            let size = match entry.metadata() {
                Ok(m) => m.len(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if let Ok(rel) = path.strip_prefix(root) {
                out.push((rel.to_string_lossy().into_owned(), size));
            }
        }
    }
    Ok(())
}

struct ListPage {
    objects: Vec<(String, u64)>,
    next: Option<String>,
}

/// The keys and sizes of a ListObjectsV2 reply (plain text scanning: the
/// reply's shape is fixed and the bench needs nothing else from it).
fn parse_list(xml: &str) -> ListPage {
    fn tag<'a>(s: &'a str, name: &str) -> Option<&'a str> {
        let open = format!("<{name}>");
        let close = format!("</{name}>");
        let start = s.find(&open)? + open.len();
        let end = s[start..].find(&close)? + start;
        Some(&s[start..end])
    }
    fn unescape(s: &str) -> String {
        s.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&")
    }
    let mut objects = Vec::new();
    for part in xml.split("<Contents>").skip(1) {
        if let (Some(k), Some(s)) = (tag(part, "Key"), tag(part, "Size")) {
            objects.push((unescape(k), s.trim().parse().unwrap_or(0)));
        }
    }
    let truncated = tag(xml, "IsTruncated").is_some_and(|t| t.trim() == "true");
    let next = if truncated {
        tag(xml, "NextContinuationToken").map(unescape)
    } else {
        None
    };
    ListPage { objects, next }
}

/// What the watcher knows of one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ObjectSeen {
    size: u64,
    /// When this size was first seen (run clock, ns).
    stamp_ns: u64,
}

/// Stamps objects: a new object, or one whose size changed (a local file
/// still being written), gets the current time.
#[derive(Default)]
struct Stamps {
    objects: HashMap<String, ObjectSeen>,
    bytes: u64,
    /// Objects seen to change size after their first sighting.
    grew: u64,
}

impl Stamps {
    fn observe(&mut self, listing: Vec<(String, u64)>, now_ns: u64) {
        for (key, size) in listing {
            match self.objects.get_mut(&key) {
                Some(o) if o.size == size => {}
                Some(o) => {
                    self.bytes = self.bytes - o.size + size;
                    self.grew += 1;
                    *o = ObjectSeen {
                        size,
                        stamp_ns: now_ns,
                    };
                }
                None => {
                    self.bytes += size;
                    self.objects.insert(
                        key,
                        ObjectSeen {
                            size,
                            stamp_ns: now_ns,
                        },
                    );
                }
            }
        }
    }
}

/// The ListObjectsV2 start-after bound for objects named after `secs_ago`
/// seconds ago: `YYYY/MM/dd/HH/NAME-VERSION-YYYY-MM-dd-HH-mm-ss` (AWS's
/// default object name, which Riffle and moto both use).
fn start_after(name: &str, version: &str, secs_ago: i64) -> String {
    let t = chrono::Utc::now() - chrono::Duration::seconds(secs_ago);
    format!(
        "{}{name}-{version}-{}",
        t.format("%Y/%m/%d/%H/"),
        t.format("%Y-%m-%d-%H-%M-%S")
    )
}

/// What the watcher task needs.
struct Watcher {
    bucket: Bucket,
    name: String,
    version: String,
    poll: Duration,
    base: Instant,
    record_bytes: u64,
    counters: Arc<Counters>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

/// Lists the bucket every `poll` until told to stop, then once more in
/// full; a failed listing is counted and retried.
async fn watch(w: Watcher) -> Stamps {
    let Watcher {
        bucket,
        name,
        version,
        poll,
        base,
        record_bytes,
        counters: c,
        stop,
    } = w;
    let mut stamps = Stamps::default();
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let last = stop.load(Ordering::Relaxed);
        // The final pass lists everything, in case a poll was missed for
        // longer than the start-after window.
        let bound = (!last).then(|| start_after(&name, &version, 10));
        match bucket.list(bound.as_deref()).await {
            Ok(listing) => {
                stamps.observe(listing, base.elapsed().as_nanos() as u64);
                c.read_bytes.store(stamps.bytes, Ordering::Relaxed);
                c.read
                    .store(stamps.bytes / record_bytes.max(1), Ordering::Relaxed);
            }
            Err(e) => {
                c.errors.fetch_add(1, Ordering::Relaxed);
                eprintln!("riffle bench: listing the bucket failed: {e:#}");
            }
        }
        if last {
            return stamps;
        }
    }
}

// ---------------------------------------------------------------- run

#[derive(Serialize, Clone, Debug, Default)]
struct DeliveredPhase {
    objects: u64,
    records: u64,
    bytes: u64,
    /// From the first PutRecordBatch to the last object's stamp.
    seconds: f64,
    records_per_sec: f64,
    mb_per_sec: f64,
    /// Objects whose length is not a whole number of records.
    torn_objects: u64,
    /// Local objects seen at one size and later at another (written while listed).
    objects_seen_growing: u64,
}

#[derive(Serialize, Debug)]
struct Report {
    endpoint: String,
    mode: &'static str,
    delivery_stream: String,
    bucket: String,
    objects_from: String,
    producers: u32,
    record_bytes: usize,
    batch: usize,
    rate: f64,
    buffer_mb: u32,
    buffer_seconds: u32,
    /// Accepted by PutRecordBatch; `server` covers accepting and delivering.
    write: Phase,
    delivered: DeliveredPhase,
    /// From the PutRecordBatch being sent to the first listing that showed
    /// the record's object complete (late by at most `poll_ms`).
    put_to_object_latency_ms: LatencyMs,
    poll_ms: u64,
    /// This load generator's own CPU seconds over the same span as
    /// `write.server` (it shares the machine with the server).
    #[serde(skip_serializing_if = "Option::is_none")]
    client_cpu_seconds: Option<f64>,
    verify: Verify,
}

pub fn main(args: BenchArgs) -> Result<()> {
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
    let v = &report.verify;
    if v.lost + v.duplicated + v.malformed > 0 {
        bail!("verification failed: records were lost, duplicated or malformed");
    }
    Ok(())
}

async fn run(args: BenchArgs) -> Result<Report> {
    let f = &args.firehose;
    let base = Instant::now();
    let fh = Fh::new(&args.endpoint, args.http2)?;
    let name = args.stream.clone().unwrap_or_else(|| {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        format!("bench-{}-{ms}", std::process::id())
    });
    let (bucket, objects_from) = match (&f.s3_endpoint, &f.s3_dir) {
        (Some(ep), _) => (
            Bucket::S3 {
                client: reqwest::Client::builder()
                    .build()
                    .context("cannot build the S3 client")?,
                endpoint: ep.clone(),
                bucket: f.bucket.clone(),
            },
            ep.clone(),
        ),
        (None, Some(dir)) => (Bucket::Dir(dir.join(&f.bucket)), dir.display().to_string()),
        (None, None) => {
            bail!("firehose needs --s3-dir DIR or --s3-endpoint URL to read objects back")
        }
    };
    bucket.create().await?;
    if !args.no_create {
        fh.control(
            "CreateDeliveryStream",
            &json!({
                "DeliveryStreamName": name,
                "DeliveryStreamType": "DirectPut",
                "ExtendedS3DestinationConfiguration": {
                    "RoleARN": "arn:aws:iam::123456789012:role/riffle-bench",
                    "BucketARN": format!("arn:aws:s3:::{}", f.bucket),
                    "BufferingHints": {
                        "SizeInMBs": f.buffer_mb,
                        "IntervalInSeconds": f.buffer_seconds,
                    },
                },
            }),
        )
        .await?;
    }
    let version = fh.wait_active(&name, Duration::from_secs(60)).await?;

    let counters = Arc::new(Counters::default());
    let peak_rss = Arc::new(AtomicU64::new(0));
    let probe = args.server_pid.map(Probe);
    let progress = tokio::spawn(super::progress(
        counters.clone(),
        args.quiet,
        probe,
        peak_rss.clone(),
    ));
    let watch_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = tokio::spawn(watch(Watcher {
        bucket: bucket.clone(),
        name: name.clone(),
        version,
        poll: Duration::from_millis(f.poll_ms.max(1)),
        base,
        record_bytes: args.record_bytes as u64,
        counters: counters.clone(),
        stop: watch_stop.clone(),
    }));

    let server_watch = ServerWatch::start(probe, &peak_rss);
    let me = Probe(std::process::id());
    let client_cpu0 = me.cpu_seconds();
    let started = Instant::now();
    let started_ns = base.elapsed().as_nanos() as u64;
    let duration = args
        .duration
        .or(if args.records.is_some() {
            None
        } else {
            Some(10.0)
        })
        .map(Duration::from_secs_f64);
    let payload = Arc::new(payload_b64(args.record_bytes));
    let mut producers = Vec::new();
    for p in 0..args.producers {
        let quota = args.records.map(|n| {
            n / u64::from(args.producers) + u64::from(u64::from(p) < n % u64::from(args.producers))
        });
        producers.push(tokio::spawn(produce(Producer {
            fh: fh.clone(),
            id: p,
            name_json: json_str(&name),
            payload: payload.clone(),
            batch: args.batch,
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
    let mut acked: HashMap<u32, stats::BitSet> = HashMap::new();
    let mut fatal = None;
    for p in producers {
        let out = p.await.context("producer panicked")?;
        write.calls += out.calls;
        write.failed_records += out.failed;
        write.errors += out.errors;
        write_hist.merge(&out.hist);
        acked.insert(out.id, out.acked);
        if let Some(e) = out.fatal {
            counters.stop.store(true, Ordering::Relaxed);
            fatal = Some(anyhow!("producer {} stopped: {e:#}", out.id));
        }
    }
    if let Some(e) = fatal {
        watch_stop.store(true, Ordering::Relaxed);
        return Err(e);
    }
    counters.stop.store(true, Ordering::Relaxed);
    write.seconds = started.elapsed().as_secs_f64();
    write.records = counters.written.load(Ordering::Relaxed);
    write.bytes = counters.written_bytes.load(Ordering::Relaxed);
    write.finish(&write_hist);

    // Wait until the bucket holds at least every acknowledged byte.
    let want = write.bytes;
    let deadline = Instant::now() + Duration::from_secs_f64(args.read_timeout);
    while counters.read_bytes.load(Ordering::Relaxed) < want && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let server: Option<ServerPhase> = server_watch.map(|w| w.finish(write.records, write.bytes));
    let client_cpu_seconds = client_cpu0
        .zip(me.cpu_seconds())
        .map(|(a, b)| ((b - a) * 100.0).round() / 100.0);
    watch_stop.store(true, Ordering::Relaxed);
    let stamps = watcher.await.context("watcher panicked")?;
    progress.abort();
    if !args.quiet && std::io::stderr().is_terminal() {
        eprintln!();
    }
    write.server = server;

    // Read every object back, oldest first.
    let mut objects: Vec<(String, ObjectSeen)> = stamps.objects.into_iter().collect();
    objects.sort_by_key(|(k, o)| (o.stamp_ns, k.clone()));
    let mut delivery = Delivery::new(args.record_bytes);
    let mut last_stamp = started_ns;
    for (key, seen) in &objects {
        let data = bucket.get(key).await?;
        delivery.object(seen.stamp_ns, &data);
        last_stamp = last_stamp.max(seen.stamp_ns);
    }
    let verify = delivery.verify(&acked);
    let seconds = (last_stamp - started_ns) as f64 / 1e9;
    let records = delivery.bytes / args.record_bytes as u64;
    let mut delivered = DeliveredPhase {
        objects: delivery.objects,
        records,
        bytes: delivery.bytes,
        seconds: (seconds * 1000.0).round() / 1000.0,
        torn_objects: delivery.torn_objects,
        objects_seen_growing: stamps.grew,
        ..DeliveredPhase::default()
    };
    if seconds > 0.0 {
        delivered.records_per_sec = (records as f64 / seconds).round();
        delivered.mb_per_sec = (delivery.bytes as f64 / seconds / 1e4).round() / 100.0;
    }
    if args.delete {
        if let Err(e) = fh
            .control("DeleteDeliveryStream", &json!({"DeliveryStreamName": name}))
            .await
        {
            eprintln!("riffle bench: could not delete {name}: {e:#}");
        }
    }
    Ok(Report {
        endpoint: args.endpoint.clone(),
        mode: "firehose",
        delivery_stream: name,
        bucket: f.bucket.clone(),
        objects_from,
        producers: args.producers,
        record_bytes: args.record_bytes,
        batch: args.batch,
        rate: args.rate,
        buffer_mb: f.buffer_mb,
        buffer_seconds: f.buffer_seconds,
        write,
        delivered,
        put_to_object_latency_ms: delivery.latency.summary_ms(),
        poll_ms: f.poll_ms,
        client_cpu_seconds,
        verify,
    })
}

struct Producer {
    fh: Fh,
    id: u32,
    name_json: String,
    payload: Arc<String>,
    batch: usize,
    record_bytes: u64,
    quota: Option<u64>,
    rate: f64,
    base: Instant,
    counters: Arc<Counters>,
}

/// One producer, one PutRecordBatch in flight; entries refused (a
/// FailedPutCount, "Slow down.") or whole calls refused are sent again first,
/// with their counters, so every counter is eventually acknowledged.
async fn produce(cfg: Producer) -> ProducerOut {
    let mut out = ProducerOut {
        id: cfg.id,
        calls: 0,
        failed: 0,
        errors: 0,
        hist: Histogram::default(),
        acked: stats::BitSet::default(),
        fatal: None,
    };
    let mut next = 0u64;
    let mut retry: Vec<u64> = Vec::new();
    let mut batch: Vec<u64> = Vec::with_capacity(cfg.batch);
    let started = Instant::now();
    let mut consecutive_errors = 0;
    while !cfg.counters.stop.load(Ordering::Relaxed) {
        batch.clear();
        batch.extend(retry.drain(..retry.len().min(cfg.batch)));
        while batch.len() < cfg.batch && cfg.quota.is_none_or(|q| next < q) {
            batch.push(next);
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
        let mut body = String::with_capacity(
            64 + cfg.name_json.len() + batch.len() * (cfg.payload.len() + 48),
        );
        body.push_str("{\"DeliveryStreamName\":");
        body.push_str(&cfg.name_json);
        body.push_str(",\"Records\":[");
        for (i, counter) in batch.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str("{\"Data\":\"");
            Header {
                producer: cfg.id,
                counter: *counter,
                sent_ns,
            }
            .push_b64(&mut body);
            body.push_str(&cfg.payload);
            body.push_str("\"}");
        }
        body.push_str("]}");
        let t = Instant::now();
        let res = cfg.fh.call("PutRecordBatch", body.into_bytes()).await;
        out.hist.record(t.elapsed().as_nanos() as u64);
        out.calls += 1;
        match res {
            Ok(Ok(bytes)) => {
                consecutive_errors = 0;
                let Ok(parsed) = serde_json::from_slice::<PutBatchOut>(&bytes) else {
                    out.fatal = Some(anyhow!(
                        "unreadable PutRecordBatch reply: {}",
                        String::from_utf8_lossy(&bytes)
                    ));
                    break;
                };
                let mut ok = 0;
                for (i, c) in batch.drain(..).enumerate() {
                    let failed = parsed.failed > 0
                        && parsed
                            .responses
                            .get(i)
                            .is_none_or(|r| r.error_code.is_some());
                    if failed {
                        out.failed += 1;
                        retry.push(c);
                    } else {
                        out.acked.insert(c);
                        ok += 1;
                    }
                }
                cfg.counters.written.fetch_add(ok, Ordering::Relaxed);
                cfg.counters
                    .written_bytes
                    .fetch_add(ok * cfg.record_bytes, Ordering::Relaxed);
                if parsed.failed > 0 {
                    // The buffer is full: give delivery a moment.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            Ok(Err(r)) if r.retryable() || r.error_type.contains("ServiceUnavailable") => {
                out.failed += batch.len() as u64;
                out.errors += 1;
                retry.append(&mut batch);
                cfg.counters.errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(Err(r)) => {
                out.fatal = Some(anyhow!("PutRecordBatch refused: {r}"));
                break;
            }
            Err(e) => {
                out.failed += batch.len() as u64;
                out.errors += 1;
                retry.append(&mut batch);
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

fn render(r: &Report) -> String {
    let mut s = format!(
        "riffle bench firehose against {} (delivery stream {}, bucket {} read from {}, {} producers, {}-byte records, batch {}, buffering {} MiB / {} s)\n",
        r.endpoint, r.delivery_stream, r.bucket, r.objects_from, r.producers, r.record_bytes, r.batch, r.buffer_mb, r.buffer_seconds
    );
    let w = &r.write;
    let l = &w.latency_ms;
    s += &format!(
        "accepted  {} records in {:.2} s: {} records/s, {:.2} MB/s; {} calls, {} failed records, {} errors\n",
        w.records, w.seconds, w.records_per_sec, w.mb_per_sec, w.calls, w.failed_records, w.errors
    );
    s += &format!(
        "          PutRecordBatch latency ms: p50 {} p90 {} p99 {} p999 {} max {} (mean {})\n",
        l.p50, l.p90, l.p99, l.p999, l.max, l.mean
    );
    let d = &r.delivered;
    s += &format!(
        "delivered {} records in {} objects by {:.2} s: {} records/s, {:.2} MB/s ({} torn objects, {} seen growing)\n",
        d.records, d.objects, d.seconds, d.records_per_sec, d.mb_per_sec, d.torn_objects, d.objects_seen_growing
    );
    let p = &r.put_to_object_latency_ms;
    s += &format!(
        "put-to-object latency ms (+0..{} ms polling): p50 {} p90 {} p99 {} p999 {} max {} ({} records)\n",
        r.poll_ms, p.p50, p.p90, p.p99, p.p999, p.max, p.samples
    );
    if let Some(sv) = &w.server {
        s += &format!(
            "server (accepting and delivering): {} CPU s ({} s/GB, {} s/million records), RSS {} MB after (peak {} MB)\n",
            sv.cpu_seconds, sv.cpu_s_per_gb, sv.cpu_s_per_million_records, sv.rss_mb_after, sv.rss_mb_peak
        );
    }
    if let Some(c) = r.client_cpu_seconds {
        s += &format!("client (this load generator): {c} CPU s\n");
    }
    let v = &r.verify;
    s += &format!(
        "verify: {} expected, {} read, {} lost, {} duplicated, {} unacknowledged, {} malformed\n",
        v.expected, v.records_read, v.lost, v.duplicated, v.unacknowledged, v.malformed
    );
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn record(record_bytes: usize, producer: u32, counter: u64, sent_ns: u64) -> Vec<u8> {
        let mut b64 = String::new();
        Header {
            producer,
            counter,
            sent_ns,
        }
        .push_b64(&mut b64);
        b64.push_str(&payload_b64(record_bytes));
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap()
    }

    #[test]
    fn records_have_the_fixed_size_and_end_in_a_newline() {
        for n in [24, 25, 100, 1024, 1000] {
            let r = record(n, 3, 7, 9);
            assert_eq!(r.len(), n);
            assert_eq!(Header::from_bytes(&r).unwrap().counter, 7);
            if n > 24 {
                assert_eq!(r.last(), Some(&b'\n'));
            }
        }
    }

    #[test]
    fn objects_split_into_records_with_latency_and_verification() {
        let rb = 1024;
        let mut obj1 = Vec::new();
        for c in 0..3 {
            obj1.extend(record(rb, 0, c, 1_000));
        }
        let mut obj2 = record(rb, 1, 0, 2_000);
        obj2.extend(record(rb, 0, 1, 1_000)); // delivered twice
        let mut d = Delivery::new(rb);
        d.object(11_000, &obj1);
        d.object(5_000, &obj2);
        let mut acked = HashMap::new();
        let mut p0 = stats::BitSet::default();
        for c in 0..4 {
            p0.insert(c); // counter 3 acknowledged, never delivered
        }
        acked.insert(0, p0);
        acked.insert(1, stats::BitSet::default()); // producer 1's record unacknowledged
        let v = d.verify(&acked);
        assert_eq!(v.expected, 4);
        assert_eq!(v.records_read, 5);
        assert_eq!(v.lost, 1);
        assert_eq!(v.duplicated, 1);
        assert_eq!(v.unacknowledged, 1);
        assert_eq!(v.malformed, 0);
        assert_eq!((d.objects, d.bytes), (2, 5 * rb as u64));
        // Latencies: 3 × 10 µs, then 3 µs and 4 µs.
        assert_eq!(d.latency.count(), 5);
        assert_eq!(d.latency.quantile(1.0), 10_000);
        let p20 = d.latency.quantile(0.2) as f64;
        assert!((p20 - 3_000.0).abs() <= 30.0, "{p20}");
    }

    #[test]
    fn torn_and_foreign_objects_are_malformed() {
        let rb = 100;
        let mut obj = record(rb, 0, 0, 0);
        obj.extend_from_slice(&[b'x'; 50]);
        let mut d = Delivery::new(rb);
        d.object(1, &obj);
        d.object(1, &[b'y'; 100]);
        assert_eq!(d.torn_objects, 1);
        let v = d.verify(&HashMap::new());
        assert_eq!(v.malformed, 2);
        assert_eq!(v.records_read, 3);
    }

    #[test]
    fn stamps_follow_the_final_size() {
        let mut s = Stamps::default();
        s.observe(vec![("a".into(), 10), ("b".into(), 5)], 100);
        s.observe(vec![("a".into(), 10), ("b".into(), 8)], 200);
        s.observe(
            vec![("a".into(), 10), ("b".into(), 8), ("c".into(), 1)],
            300,
        );
        assert_eq!(s.objects["a"].stamp_ns, 100);
        assert_eq!(
            s.objects["b"],
            ObjectSeen {
                size: 8,
                stamp_ns: 200
            }
        );
        assert_eq!(s.objects["c"].stamp_ns, 300);
        assert_eq!((s.bytes, s.grew), (19, 1));
    }

    #[test]
    fn list_replies_parse() {
        let xml = "<?xml version=\"1.0\"?><ListBucketResult><IsTruncated>true</IsTruncated>\
            <Contents><Key>2026/01/01/00/s-1-2026-01-01-00-00-00-a&amp;b</Key><Size>2048</Size></Contents>\
            <Contents><Key>k2</Key><LastModified>x</LastModified><Size>0</Size></Contents>\
            <NextContinuationToken>tok</NextContinuationToken></ListBucketResult>";
        let p = parse_list(xml);
        assert_eq!(
            p.objects,
            vec![
                (
                    "2026/01/01/00/s-1-2026-01-01-00-00-00-a&b".to_string(),
                    2048
                ),
                ("k2".to_string(), 0)
            ]
        );
        assert_eq!(p.next.as_deref(), Some("tok"));
        let done =
            parse_list("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>");
        assert!(done.objects.is_empty() && done.next.is_none());
    }

    #[test]
    fn start_after_sorts_before_newer_object_names() {
        let bound = start_after("s", "1", 5);
        let now = start_after("s", "1", 0);
        assert!(bound < format!("{now}-0000"));
        assert!(bound.starts_with(&chrono::Utc::now().format("%Y/").to_string()));
    }
}
