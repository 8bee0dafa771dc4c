//! Firehose crash tests against the real `riffle` binary and a real
//! S3-compatible server (moto's server mode, `pip install 'moto[server]'`):
//! `kill -9` under PutRecordBatch load, then restart on the same data dir.
//!
//! What must hold after the restart, once delivery has caught up:
//! - every acknowledged record is in the delivered objects (records whose
//!   request failed at the kill may or may not be there);
//! - no record is in two objects: a batch delivered again after the crash
//!   overwrites the object of the same name instead of adding a second one;
//! - every object is whole (complete records, nothing but records sent).
//!
//! Four crashes, against S3 and against an HTTP endpoint the test serves:
//! with the destination down the whole time (moto is started, the endpoint
//! bound, only after the restart), and in the middle of a delivery (a proxy
//! in front of moto withholds the answer to an object PUT that moto has
//! completed, the endpoint holds a request unanswered; then the server is
//! killed, so the destination has the batch but the server never learnt
//! it was delivered). The batch is then delivered again exactly as it was:
//! the same object key and bytes, the same request id and records.
//!
//! Run with `cargo test -p riffle --test firehose_crash -- --nocapture` to see
//! the figures; `FIREHOSE_CRASH_SEED=N` repeats a run's kill timing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_firehose::config::retry::RetryConfig;
use aws_sdk_firehose::config::timeout::TimeoutConfig;
use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::{
    BufferingHints, DeliveryStreamStatus, ExtendedS3DestinationConfiguration, Record,
};
use aws_sdk_firehose::Client;
use common::TestServer;
use riffle_firehose::objects::{ObjectStore, S3Config, S3Store};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BUCKET: &str = "crash-bucket";
const PRODUCERS: u32 = 4;
const RECORDS_PER_REQUEST: u64 = 250;
/// How long delivery may take to catch up after the destination is back.
const CATCH_UP: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------- records

/// A record's identity: (producer, sequence number within the producer).
type RecId = (u32, u64);

fn encode(id: RecId) -> String {
    format!("p{}-{}\n", id.0, id.1)
}

/// The records of one delivered object: records are concatenated as sent
/// (uncompressed, no delimiter added), so an object is `p{P}-{N}\n` lines.
/// Anything else (a torn write, a foreign byte, a partial last record) is
/// an error.
fn parse_object(body: &[u8]) -> Result<Vec<RecId>, String> {
    if body.is_empty() {
        return Err("empty object".into());
    }
    if body.last() != Some(&b'\n') {
        return Err("the last record is incomplete (no trailing newline)".into());
    }
    let text = std::str::from_utf8(body).map_err(|e| format!("not UTF-8: {e}"))?;
    text.split_terminator('\n')
        .map(|line| {
            let parse = || -> Option<RecId> {
                let (p, n) = line.strip_prefix('p')?.split_once('-')?;
                Some((p.parse().ok()?, n.parse().ok()?))
            };
            parse()
                .filter(|id| encode(*id).trim_end() == line)
                .ok_or_else(|| format!("not a record: {line:?}"))
        })
        .collect()
}

/// What the delivered objects hold.
#[derive(Default)]
struct Delivered {
    /// Every record, with the keys of the objects it is in.
    places: HashMap<RecId, Vec<String>>,
    /// Objects that are not a whole run of records sent by this test.
    broken: Vec<String>,
    objects: usize,
}

impl Delivered {
    fn index(objects: &BTreeMap<String, Vec<u8>>, sent: &HashSet<RecId>) -> Delivered {
        let mut d = Delivered {
            objects: objects.len(),
            ..Delivered::default()
        };
        for (key, body) in objects {
            match parse_object(body) {
                Ok(ids) => {
                    for id in ids {
                        if !sent.contains(&id) {
                            d.broken
                                .push(format!("{key}: record {id:?} was never sent"));
                        }
                        d.places.entry(id).or_default().push(key.clone());
                    }
                }
                Err(e) => d.broken.push(format!("{key}: {e}")),
            }
        }
        d
    }

    fn missing<'a>(&self, acked: &'a HashSet<RecId>) -> Vec<&'a RecId> {
        let mut m: Vec<&RecId> = acked
            .iter()
            .filter(|id| !self.places.contains_key(id))
            .collect();
        m.sort();
        m
    }

    /// Records delivered more than once, with where.
    fn duplicated(&self) -> Vec<(RecId, Vec<String>)> {
        let mut d: Vec<(RecId, Vec<String>)> = self
            .places
            .iter()
            .filter(|(_, keys)| keys.len() > 1)
            .map(|(id, keys)| (*id, keys.clone()))
            .collect();
        d.sort();
        d
    }

    /// Panics unless every acknowledged record is delivered exactly once
    /// and every object is whole.
    fn assert_exactly_once(&self, acked: &HashSet<RecId>, what: &str) {
        assert!(
            self.broken.is_empty(),
            "{what}: broken objects: {:#?}",
            &self.broken[..self.broken.len().min(10)]
        );
        let dup = self.duplicated();
        assert!(
            dup.is_empty(),
            "{what}: {} records delivered more than once (first ones: {:#?})",
            dup.len(),
            &dup[..dup.len().min(5)]
        );
        let missing = self.missing(acked);
        assert!(
            missing.is_empty(),
            "{what}: {} of {} acknowledged records are not in the {} objects (first ones: {:?})",
            missing.len(),
            acked.len(),
            self.objects,
            &missing[..missing.len().min(10)]
        );
    }
}

/// xorshift64*: the kill timing, repeatable with `FIREHOSE_CRASH_SEED`.
struct Rng(u64);

impl Rng {
    fn from_env_or_clock(test: &str) -> Rng {
        let seed = std::env::var("FIREHOSE_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        println!("{test}: FIREHOSE_CRASH_SEED={seed}");
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

// ---------------------------------------------------------------- server and client

fn start_riffle(s3_port: u16) -> TestServer {
    sign_s3_requests();
    let endpoint = format!("http://127.0.0.1:{s3_port}");
    TestServer::start_with(&[
        "--transition-delay-ms",
        "0",
        "--firehose-retry-ms",
        "100",
        "--s3-endpoint",
        &endpoint,
    ])
}

/// Gives the server (a child, which inherits the environment) S3
/// credentials, so that it signs its requests: moto refuses an unsigned PUT
/// over an existing object (403), which is what a redelivery after a crash
/// does. Set once, before any server of this file starts, to the same
/// values every time.
fn sign_s3_requests() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for (k, v) in [
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
        ] {
            if std::env::var_os(k).is_none() {
                std::env::set_var(k, v);
            }
        }
    });
}

/// A client that never retries: a request that failed at the kill must
/// count as unacknowledged, not be sent again to the restarted server.
fn firehose(endpoint: &str) -> Client {
    let creds = aws_credential_types::Credentials::new("AKIDTEST", "secret", None, None, "test");
    let conf = aws_sdk_firehose::Config::builder()
        .behavior_version(aws_sdk_firehose::config::BehaviorVersion::latest())
        .region(aws_sdk_firehose::config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .endpoint_url(endpoint)
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(20))
                .build(),
        )
        .build();
    Client::from_conf(conf)
}

/// An S3 delivery stream into [`BUCKET`], delivering as soon as data is
/// there (interval 0) in objects of at most 1 MiB.
async fn create_stream(c: &Client, name: &str) {
    let conf = ExtendedS3DestinationConfiguration::builder()
        .role_arn("arn:aws:iam::000000000000:role/firehose-role")
        .bucket_arn(format!("arn:aws:s3:::{BUCKET}"))
        .buffering_hints(
            BufferingHints::builder()
                .size_in_mbs(1)
                .interval_in_seconds(0)
                .build(),
        )
        .build()
        .unwrap();
    c.create_delivery_stream()
        .delivery_stream_name(name)
        .extended_s3_destination_configuration(conf)
        .send()
        .await
        .unwrap();
    wait_active(c, name).await;
}

async fn wait_active(c: &Client, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let d = c
            .describe_delivery_stream()
            .delivery_stream_name(name)
            .send()
            .await
            .unwrap();
        if d.delivery_stream_description()
            .unwrap()
            .delivery_stream_status()
            == &DeliveryStreamStatus::Active
        {
            return;
        }
        assert!(Instant::now() < deadline, "{name} never became ACTIVE");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------- load

#[derive(Default)]
struct ProducerReport {
    acked: Vec<RecId>,
    /// Records sent: `(producer, 0..sent)`.
    sent: u64,
    /// Failures before the kill: server bugs.
    errors_before_kill: Vec<String>,
    requests_ok: u64,
    requests_failed_at_kill: u64,
}

/// PutRecordBatch in a loop until `stop`; a record is acknowledged when its
/// request succeeded and its entry has no ErrorCode.
async fn run_producer(
    p: u32,
    client: Client,
    stream: String,
    stop: Arc<AtomicBool>,
    killing: Arc<AtomicBool>,
) -> ProducerReport {
    let mut rep = ProducerReport::default();
    while !stop.load(Ordering::SeqCst) {
        let ids: Vec<RecId> = (rep.sent..rep.sent + RECORDS_PER_REQUEST)
            .map(|n| (p, n))
            .collect();
        rep.sent += RECORDS_PER_REQUEST;
        let records = ids
            .iter()
            .map(|id| Record::builder().data(Blob::new(encode(*id))).build())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let res = client
            .put_record_batch()
            .delivery_stream_name(&stream)
            .set_records(Some(records))
            .send()
            .await;
        match res {
            Ok(out) => {
                rep.requests_ok += 1;
                let answers = out.request_responses();
                if answers.len() != ids.len() {
                    rep.errors_before_kill.push(format!(
                        "PutRecordBatch answered {} entries for {} records",
                        answers.len(),
                        ids.len()
                    ));
                    continue;
                }
                for (id, a) in ids.iter().zip(answers) {
                    match (a.error_code(), a.record_id()) {
                        (None, Some(_)) => rep.acked.push(*id),
                        _ => rep
                            .errors_before_kill
                            .push(format!("PutRecordBatch entry {id:?} failed: {a:?}")),
                    }
                }
            }
            Err(e) => {
                if killing.load(Ordering::SeqCst) {
                    rep.requests_failed_at_kill += 1;
                } else {
                    rep.errors_before_kill
                        .push(format!("PutRecordBatch: {e:?}"));
                }
            }
        }
    }
    rep
}

/// Producers running against one server.
struct Load {
    stop: Arc<AtomicBool>,
    killing: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<ProducerReport>>,
}

/// What the producers got acknowledged, after the kill.
struct LoadResult {
    acked: HashSet<RecId>,
    sent: HashSet<RecId>,
    requests_ok: u64,
    failed_at_kill: u64,
}

impl Load {
    fn start(endpoint: &str, stream: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let killing = Arc::new(AtomicBool::new(false));
        let tasks = (0..PRODUCERS)
            .map(|p| {
                tokio::spawn(run_producer(
                    p,
                    firehose(endpoint),
                    stream.to_string(),
                    stop.clone(),
                    killing.clone(),
                ))
            })
            .collect();
        Load {
            stop,
            killing,
            tasks,
        }
    }

    /// `kill -9` under load, then collects what was acknowledged.
    async fn kill_server(self, server: &mut TestServer, what: &str) -> LoadResult {
        self.killing.store(true, Ordering::SeqCst);
        server.kill9();
        self.stop.store(true, Ordering::SeqCst);
        let mut out = LoadResult {
            acked: HashSet::new(),
            sent: HashSet::new(),
            requests_ok: 0,
            failed_at_kill: 0,
        };
        let mut errors = Vec::new();
        for (p, t) in self.tasks.into_iter().enumerate() {
            let rep = t.await.unwrap();
            out.acked.extend(rep.acked);
            out.sent.extend((0..rep.sent).map(|n| (p as u32, n)));
            out.requests_ok += rep.requests_ok;
            out.failed_at_kill += rep.requests_failed_at_kill;
            errors.extend(rep.errors_before_kill);
        }
        assert!(
            errors.is_empty(),
            "{what}: requests failed before the kill: {:#?}",
            &errors[..errors.len().min(10)]
        );
        assert!(
            out.acked.len() >= 1000,
            "{what}: only {} records acknowledged before the kill",
            out.acked.len()
        );
        assert!(
            out.failed_at_kill >= 1,
            "{what}: no request was in flight at the kill, so the kill tested nothing"
        );
        out
    }
}

// ---------------------------------------------------------------- moto

/// The moto server process, killed (by its own id) when dropped.
struct Moto {
    child: Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("pick a free loopback port")
        .port()
}

/// Starts moto on `port` and waits until it listens; a server that cannot
/// start fails the test (CI installs it).
fn start_moto(port: u16) -> Moto {
    let child = Command::new("python3")
        .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run python3 -m moto.server ({e}); install it with: pip install 'moto[server]'")
        });
    let mut moto = Moto { child, port };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = moto.child.try_wait().expect("poll moto") {
            let mut err = String::new();
            if let Some(mut stderr) = moto.child.stderr.take() {
                let _ = stderr.read_to_string(&mut err);
            }
            panic!("moto server exited with {status} before listening; install it with: pip install 'moto[server]'\n{err}");
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            // Nobody reads moto's stderr from here on: let it go to /dev/null
            // instead of filling a pipe.
            drop(moto.child.stderr.take());
            create_bucket(port);
            return moto;
        }
        assert!(
            Instant::now() < deadline,
            "moto server did not listen on 127.0.0.1:{port} within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// CreateBucket as a bare HTTP request (moto takes it unsigned).
fn create_bucket(port: u16) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "PUT /{BUCKET} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(
        reply.starts_with("HTTP/1.1 200") || reply.starts_with("HTTP/1.0 200"),
        "CreateBucket: {reply}"
    );
}

/// The test's own view of moto (straight to it, never through the proxy).
fn moto_store(port: u16) -> S3Store {
    S3Store::new(S3Config {
        endpoint: format!("http://127.0.0.1:{port}"),
        region: "us-east-1".into(),
        access_key_id: Some("test".into()),
        secret_access_key: Some("test".into()),
        session_token: None,
    })
}

/// Every object of the bucket, key → bytes.
async fn objects(s3: &S3Store) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for key in s3.list(BUCKET, "").await.unwrap() {
        // Objects are only ever overwritten, never deleted.
        let body = s3.get(BUCKET, &key).await.unwrap().unwrap();
        out.insert(key, body.to_vec());
    }
    out
}

/// Polls the bucket until every acknowledged record is in it (or
/// [`CATCH_UP`] passes), then lets delivery settle a little more so that a
/// duplicate written late would be seen too.
async fn wait_caught_up(
    s3: &S3Store,
    acked: &HashSet<RecId>,
    sent: &HashSet<RecId>,
) -> (BTreeMap<String, Vec<u8>>, Duration) {
    let started = Instant::now();
    loop {
        let got = objects(s3).await;
        let d = Delivered::index(&got, sent);
        if d.missing(acked).is_empty() {
            let took = started.elapsed();
            tokio::time::sleep(Duration::from_millis(500)).await;
            return (objects(s3).await, took);
        }
        if started.elapsed() > CATCH_UP {
            return (got, started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

// ---------------------------------------------------------------- a proxy that can withhold answers

/// When the test's proxy passes S3 traffic.
const PHASE_OPEN: u8 = 0;
/// Requests still reach moto, but its answers are withheld from riffle.
const PHASE_FROZEN: u8 = 1;
/// After the restart: open again.
const PHASE_AFTER: u8 = 2;

/// One request through the proxy.
#[derive(Clone, Debug)]
struct Exchange {
    /// `PUT /bucket/key`.
    request: String,
    sent_in: u8,
    /// The status line moto answered, and whether it reached riffle.
    status: Option<String>,
    withheld: bool,
}

#[derive(Default)]
struct ProxyLog {
    exchanges: Vec<Exchange>,
}

/// A byte-level TCP proxy in front of moto that parses just enough
/// HTTP/1.1 (request lines and status lines) to pair answers with requests.
struct Proxy {
    port: u16,
    phase: Arc<AtomicU8>,
    log: Arc<Mutex<ProxyLog>>,
    withheld_ok: Arc<AtomicUsize>,
}

impl Proxy {
    async fn start(upstream: u16) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let phase = Arc::new(AtomicU8::new(PHASE_OPEN));
        let log = Arc::new(Mutex::new(ProxyLog::default()));
        let withheld_ok = Arc::new(AtomicUsize::new(0));
        let (ph, lg, wo) = (phase.clone(), log.clone(), withheld_ok.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (ph, lg, wo) = (ph.clone(), lg.clone(), wo.clone());
                tokio::spawn(async move {
                    if let Ok(up) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await {
                        proxy_connection(client, up, ph, lg, wo).await;
                    }
                });
            }
        });
        Proxy {
            port,
            phase,
            log,
            withheld_ok,
        }
    }
}

async fn proxy_connection(
    client: tokio::net::TcpStream,
    upstream: tokio::net::TcpStream,
    phase: Arc<AtomicU8>,
    log: Arc<Mutex<ProxyLog>>,
    withheld_ok: Arc<AtomicUsize>,
) {
    let (mut cr, mut cw) = client.into_split();
    let (mut ur, mut uw) = upstream.into_split();
    // Indexes into the log of this connection's requests awaiting an answer.
    let pending: Arc<Mutex<VecDeque<usize>>> = Arc::default();
    let (lg, pd, ph) = (log.clone(), pending.clone(), phase.clone());
    let to_upstream = async move {
        let mut scan = Scanner::default();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match cr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            for line in scan.feed(&buf[..n], b" HTTP/1.1\r\n") {
                let mut l = lg.lock().unwrap();
                l.exchanges.push(Exchange {
                    request: line,
                    sent_in: ph.load(Ordering::SeqCst),
                    status: None,
                    withheld: false,
                });
                pd.lock().unwrap().push_back(l.exchanges.len() - 1);
            }
            if uw.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = uw.shutdown().await;
    };
    let to_client = async move {
        let mut scan = Scanner::default();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match ur.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let frozen = phase.load(Ordering::SeqCst) == PHASE_FROZEN;
            for status in scan.feed(&buf[..n], b"\r\n") {
                if !status.starts_with("HTTP/1.") {
                    continue; // a header line
                }
                let Some(i) = pending.lock().unwrap().pop_front() else {
                    continue;
                };
                if frozen && status.contains(" 200 ") {
                    withheld_ok.fetch_add(1, Ordering::SeqCst);
                }
                let mut l = log.lock().unwrap();
                l.exchanges[i].status = Some(status);
                l.exchanges[i].withheld = frozen;
            }
            // Frozen: the answer never reaches riffle (it waits until killed).
            if !frozen && cw.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = cw.shutdown().await;
    };
    tokio::join!(to_upstream, to_client);
}

/// Finds lines ending in a marker across reads: a request line ends in
/// `" HTTP/1.1\r\n"` (what precedes it up to the last `\n` is the line; record
/// bodies end in `\n` and hold no CR), any line in `"\r\n"`.
#[derive(Default)]
struct Scanner {
    tail: Vec<u8>,
}

impl Scanner {
    fn feed(&mut self, chunk: &[u8], marker: &[u8]) -> Vec<String> {
        let mut buf = std::mem::take(&mut self.tail);
        let old = buf.len();
        buf.extend_from_slice(chunk);
        let mut found = Vec::new();
        let mut from = 0;
        while let Some(pos) = buf[from..]
            .windows(marker.len())
            .position(|w| w == marker)
            .map(|p| p + from)
        {
            let end = pos + marker.len();
            if end > old {
                let start = buf[..pos]
                    .iter()
                    .rposition(|b| *b == b'\n')
                    .map_or(0, |p| p + 1);
                found.push(String::from_utf8_lossy(&buf[start..pos]).into_owned());
            }
            from = end;
        }
        // Enough to hold a line split between two reads, from a line start.
        let keep = buf.len().saturating_sub(4096).max(from.min(buf.len()));
        self.tail = buf[keep..].to_vec();
        found
    }
}

// ---------------------------------------------------------------- an HTTP endpoint

/// One delivery request the endpoint received.
#[derive(Clone, Debug)]
struct Hit {
    request_id: String,
    records: Vec<RecId>,
    /// Whether the endpoint answered it (200 echoing the request id).
    answered: bool,
}

/// A Firehose HTTP endpoint on a loopback port: answers 200 with the
/// request id, or (while `hold` is set) reads the request and never answers.
struct Endpoint {
    hits: Arc<Mutex<Vec<Hit>>>,
    hold: Arc<AtomicBool>,
    /// Requests received while holding.
    held: Arc<AtomicUsize>,
}

impl Endpoint {
    async fn start(port: u16) -> Endpoint {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let ep = Endpoint {
            hits: Arc::default(),
            hold: Arc::default(),
            held: Arc::default(),
        };
        let (hits, hold, held) = (ep.hits.clone(), ep.hold.clone(), ep.held.clone());
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(serve_endpoint(
                    conn,
                    hits.clone(),
                    hold.clone(),
                    held.clone(),
                ));
            }
        });
        ep
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }
}

/// HTTP/1.1 with keep-alive, Content-Length bodies (what riffle sends).
async fn serve_endpoint(
    mut conn: tokio::net::TcpStream,
    hits: Arc<Mutex<Vec<Hit>>>,
    hold: Arc<AtomicBool>,
    held: Arc<AtomicUsize>,
) {
    use base64::Engine as _;
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let head_end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            match conn.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("riffle sends a Content-Length");
        while buf.len() < head_end + len {
            match conn.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body: serde_json::Value =
            serde_json::from_slice(&buf[head_end..head_end + len]).expect("the body is JSON");
        buf.drain(..head_end + len);
        let request_id = body["requestId"].as_str().unwrap().to_string();
        let records = body["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let data = base64::engine::general_purpose::STANDARD
                    .decode(r["data"].as_str().unwrap())
                    .unwrap();
                match parse_object(&data).as_deref() {
                    Ok([id]) => *id,
                    other => panic!("an HTTP record that is not one record: {other:?}"),
                }
            })
            .collect();
        let holding = hold.load(Ordering::SeqCst);
        hits.lock().unwrap().push(Hit {
            request_id: request_id.clone(),
            records,
            answered: !holding,
        });
        if holding {
            held.fetch_add(1, Ordering::SeqCst);
            // Never answer: riffle waits (its response timeout is minutes)
            // until it is killed.
            let _ = conn.read(&mut chunk).await;
            return;
        }
        let answer = serde_json::json!({"requestId": request_id, "timestamp": 1578090903599_i64})
            .to_string();
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}",
            answer.len()
        );
        if conn.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Checks what an endpoint received: every acknowledged record arrived in
/// an answered request, and a record sent in two requests was sent under
/// one request id both times with the same records (a retry the receiver
/// can recognise). Returns the records received.
fn check_endpoint(hits: &[Hit], acked: &HashSet<RecId>, what: &str) -> usize {
    let mut by_id: HashMap<&str, Vec<&Hit>> = HashMap::new();
    for h in hits {
        by_id.entry(&h.request_id).or_default().push(h);
    }
    for (id, hs) in &by_id {
        let first: HashSet<RecId> = hs[0].records.iter().copied().collect();
        for h in &hs[1..] {
            let other: HashSet<RecId> = h.records.iter().copied().collect();
            assert!(
                first == other,
                "{what}: request id {id} was sent with different records: {} then {} records ({} in common)",
                first.len(),
                other.len(),
                first.intersection(&other).count()
            );
        }
    }
    let mut ids_of: HashMap<RecId, HashSet<&str>> = HashMap::new();
    let mut delivered: HashSet<RecId> = HashSet::new();
    for h in hits {
        for r in &h.records {
            ids_of.entry(*r).or_default().insert(&h.request_id);
            if h.answered {
                delivered.insert(*r);
            }
        }
    }
    let mut dup: Vec<(&RecId, &HashSet<&str>)> =
        ids_of.iter().filter(|(_, ids)| ids.len() > 1).collect();
    dup.sort_by_key(|(r, _)| **r);
    assert!(
        dup.is_empty(),
        "{what}: {} records sent under two request ids (first ones: {:?})",
        dup.len(),
        &dup[..dup.len().min(5)]
    );
    let mut missing: Vec<&RecId> = acked.iter().filter(|r| !delivered.contains(r)).collect();
    missing.sort();
    assert!(
        missing.is_empty(),
        "{what}: {} of {} acknowledged records never reached the endpoint (first ones: {:?})",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(10)]
    );
    delivered.len()
}

/// Waits until every acknowledged record reached the endpoint in an
/// answered request (or [`CATCH_UP`] passes).
async fn wait_endpoint(ep: &Endpoint, acked: &HashSet<RecId>) -> Duration {
    let started = Instant::now();
    loop {
        let delivered: HashSet<RecId> = ep
            .hits()
            .iter()
            .filter(|h| h.answered)
            .flat_map(|h| h.records.iter().copied())
            .collect();
        if acked.iter().all(|r| delivered.contains(r)) || started.elapsed() > CATCH_UP {
            let took = started.elapsed();
            tokio::time::sleep(Duration::from_millis(500)).await;
            return took;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A riffle with no S3 endpoint: the HTTP destination's S3 configuration
/// (its error output) goes to the local directory.
fn start_riffle_local() -> TestServer {
    TestServer::start_with(&["--transition-delay-ms", "0", "--firehose-retry-ms", "100"])
}

/// An HTTP endpoint delivery stream to `http://127.0.0.1:PORT/`, delivering
/// as soon as data is there, retrying for the default 300 s.
async fn create_http_stream(c: &Client, name: &str, port: u16) {
    use aws_sdk_firehose::types::{
        HttpEndpointBufferingHints, HttpEndpointConfiguration,
        HttpEndpointDestinationConfiguration, S3DestinationConfiguration,
    };
    let conf = HttpEndpointDestinationConfiguration::builder()
        .endpoint_configuration(
            HttpEndpointConfiguration::builder()
                .url(format!("http://127.0.0.1:{port}/"))
                .build()
                .unwrap(),
        )
        .buffering_hints(
            HttpEndpointBufferingHints::builder()
                .size_in_mbs(1)
                .interval_in_seconds(0)
                .build(),
        )
        .s3_configuration(
            S3DestinationConfiguration::builder()
                .role_arn("arn:aws:iam::000000000000:role/firehose-role")
                .bucket_arn(format!("arn:aws:s3:::{BUCKET}"))
                .build()
                .unwrap(),
        )
        .build();
    c.create_delivery_stream()
        .delivery_stream_name(name)
        .http_endpoint_destination_configuration(conf)
        .send()
        .await
        .unwrap();
    wait_active(c, name).await;
}

/// Files under `dir`, recursively (the local S3 directory's error output).
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

// ---------------------------------------------------------------- tests

/// The destination is down from the start: the buffer holds everything.
/// `kill -9` under load; restart; bring the destination up; every
/// acknowledged record is delivered exactly once, in whole objects.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_records_survive_kill9_while_the_destination_is_down() {
    let started = Instant::now();
    let what = "destination down";
    let mut rng = Rng::from_env_or_clock(what);
    let s3_port = free_port();
    let mut server = start_riffle(s3_port);
    let c = firehose(&server.endpoint());
    create_stream(&c, "crash-down").await;

    let load = Load::start(&server.endpoint(), "crash-down");
    let load_start = Instant::now();
    // Deliveries fail meanwhile: the failure shows in the description.
    let failure = loop {
        let d = c
            .describe_delivery_stream()
            .delivery_stream_name("crash-down")
            .send()
            .await
            .unwrap();
        if let Some(f) = d
            .delivery_stream_description()
            .unwrap()
            .failure_description()
        {
            break f.details().to_string();
        }
        assert!(
            load_start.elapsed() < Duration::from_secs(15),
            "{what}: DescribeDeliveryStream showed no FailureDescription while S3 was down"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let failure_after = load_start.elapsed();
    tokio::time::sleep(Duration::from_millis(300 + rng.below(1500))).await;
    let run_for = load_start.elapsed();
    let res = load.kill_server(&mut server, what).await;

    let restart_at = Instant::now();
    server.restart();
    let restarted_in = restart_at.elapsed();
    // The destination comes back only now.
    let moto = start_moto(s3_port);
    let s3 = moto_store(moto.port);
    let (got, took) = wait_caught_up(&s3, &res.acked, &res.sent).await;
    let delivered = Delivered::index(&got, &res.sent);
    println!(
        "{what}: killed after {run_for:?} with {} requests acknowledged, {} failed at the kill; \
         {} records acknowledged of {} sent; failure shown after {failure_after:?}: {failure:?}; \
         restart {} ms; after moto was up, {} records in {} objects within {} ms \
         ({} unacknowledged ones present); total {:.1} s",
        res.requests_ok,
        res.failed_at_kill,
        res.acked.len(),
        res.sent.len(),
        restarted_in.as_millis(),
        delivered.places.len(),
        delivered.objects,
        took.as_millis(),
        delivered.places.len().saturating_sub(res.acked.len()),
        started.elapsed().as_secs_f64()
    );
    delivered.assert_exactly_once(&res.acked, what);

    // The restarted server keeps accepting and delivering.
    let c = firehose(&server.endpoint());
    let tail: Vec<RecId> = (0..10).map(|n| (PRODUCERS, n)).collect();
    let out = c
        .put_record_batch()
        .delivery_stream_name("crash-down")
        .set_records(Some(
            tail.iter()
                .map(|id| Record::builder().data(Blob::new(encode(*id))).build())
                .collect::<Result<Vec<_>, _>>()
                .unwrap(),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(out.failed_put_count(), 0);
    let mut acked = res.acked.clone();
    let mut sent = res.sent.clone();
    acked.extend(tail.iter().copied());
    sent.extend(tail.iter().copied());
    let (got, _) = wait_caught_up(&s3, &acked, &sent).await;
    Delivered::index(&got, &sent).assert_exactly_once(&acked, "after the restart");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{what}: took {:?}",
        started.elapsed()
    );
}

/// `kill -9` in the middle of a delivery: moto has stored an object, the
/// proxy withholds its answer, so the server never records the batch as
/// delivered. After the restart the batch is delivered again and its
/// object is overwritten under the same key: no record in two objects.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_redelivered_after_kill9_overwrites_its_object() {
    let started = Instant::now();
    let what = "kill during delivery";
    let mut rng = Rng::from_env_or_clock(what);
    let moto = start_moto(free_port());
    let s3 = moto_store(moto.port);
    let proxy = Proxy::start(moto.port).await;
    let mut server = start_riffle(proxy.port);
    let c = firehose(&server.endpoint());
    create_stream(&c, "crash-mid").await;

    let load = Load::start(&server.endpoint(), "crash-mid");
    let run_for = Duration::from_millis(800 + rng.below(1200));
    tokio::time::sleep(run_for).await;
    let delivered_before_freeze = proxy
        .log
        .lock()
        .unwrap()
        .exchanges
        .iter()
        .filter(|e| e.request.starts_with("PUT ") && e.status.is_some())
        .count();
    proxy.phase.store(PHASE_FROZEN, Ordering::SeqCst);
    // Wait until moto has completed an object PUT whose answer riffle never got.
    let deadline = Instant::now() + Duration::from_secs(10);
    while proxy.withheld_ok.load(Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "{what}: no object PUT completed within 10 s of freezing"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let res = load.kill_server(&mut server, what).await;
    let withheld: Vec<String> = proxy
        .log
        .lock()
        .unwrap()
        .exchanges
        .iter()
        .filter(|e| e.withheld && e.status.as_deref().is_some_and(|s| s.contains(" 200 ")))
        .map(|e| e.request.clone())
        .collect();
    let withheld_keys: Vec<String> = withheld
        .iter()
        .map(|r| {
            let path = r
                .strip_prefix(&format!("PUT /{BUCKET}/"))
                .unwrap_or_else(|| panic!("{what}: an unexpected request {r:?}"));
            path.to_string()
        })
        .collect();
    let at_kill = objects(&s3).await;
    let before = Delivered::index(&at_kill, &res.sent);
    assert!(before.broken.is_empty(), "{what}: {:#?}", before.broken);
    for key in &withheld_keys {
        // object_store percent-encodes nothing our keys use.
        assert!(
            at_kill.contains_key(key),
            "{what}: moto answered 200 to PUT {key} but has no such object: {:?}",
            at_kill.keys().collect::<Vec<_>>()
        );
    }

    proxy.phase.store(PHASE_AFTER, Ordering::SeqCst);
    server.restart();
    let (got, took) = wait_caught_up(&s3, &res.acked, &res.sent).await;
    let after = Delivered::index(&got, &res.sent);
    let puts_after: Vec<String> = proxy
        .log
        .lock()
        .unwrap()
        .exchanges
        .iter()
        .filter(|e| e.sent_in == PHASE_AFTER)
        .map(|e| e.request.clone())
        .collect();
    println!(
        "{what}: {delivered_before_freeze} objects delivered in {run_for:?}, then frozen; \
         killed with {} records acknowledged of {} sent ({} requests failed at the kill); \
         {} objects at the kill, answers withheld for {withheld_keys:?}; \
         after the restart {} PUTs, caught up in {} ms: {} records in {} objects; total {:.1} s",
        res.acked.len(),
        res.sent.len(),
        res.failed_at_kill,
        at_kill.len(),
        puts_after.len(),
        took.as_millis(),
        after.places.len(),
        after.objects,
        started.elapsed().as_secs_f64()
    );
    after.assert_exactly_once(&res.acked, what);
    // The batch whose answer was withheld was delivered again, to the same
    // key, with the same bytes: the very batch that was in flight.
    let first = &withheld_keys[0];
    assert!(
        puts_after.iter().any(|r| r.ends_with(&format!("/{first}"))),
        "{what}: the batch of {first} was not delivered again after the restart: {puts_after:?}"
    );
    assert!(
        got[first] == at_kill[first],
        "{what}: {first} was rewritten with other records: {} records before the crash, {} after",
        parse_object(&at_kill[first]).unwrap().len(),
        parse_object(&got[first]).unwrap().len()
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{what}: took {:?}",
        started.elapsed()
    );
}

/// The HTTP endpoint is down (nothing listens) from the start; `kill -9`
/// under load; restart; the endpoint comes up: every acknowledged record
/// reaches it, none under two request ids, nothing in the error output.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_records_reach_an_http_endpoint_that_was_down_at_kill9() {
    let started = Instant::now();
    let what = "HTTP endpoint down";
    let mut rng = Rng::from_env_or_clock(what);
    let port = free_port();
    let mut server = start_riffle_local();
    let c = firehose(&server.endpoint());
    create_http_stream(&c, "crash-http-down", port).await;

    let load = Load::start(&server.endpoint(), "crash-http-down");
    let run_for = Duration::from_millis(1000 + rng.below(1500));
    tokio::time::sleep(run_for).await;
    let res = load.kill_server(&mut server, what).await;
    server.restart();
    let ep = Endpoint::start(port).await;
    let took = wait_endpoint(&ep, &res.acked).await;
    let hits = ep.hits();
    let received = check_endpoint(&hits, &res.acked, what);
    let errors = files_under(&server.data_dir().join("s3"));
    println!(
        "{what}: killed after {run_for:?} with {} records acknowledged of {} sent \
         ({} requests failed at the kill); after the restart {} requests, {received} records \
         within {} ms; total {:.1} s",
        res.acked.len(),
        res.sent.len(),
        res.failed_at_kill,
        hits.len(),
        took.as_millis(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        errors.is_empty(),
        "{what}: records went to the error output although the endpoint came back within its retry duration: {errors:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{what}: took {:?}",
        started.elapsed()
    );
}

/// `kill -9` while the endpoint holds a delivery request unanswered: after
/// the restart the batch is sent again under the same request id, and with
/// the same records, so that a receiver that drops repeated request ids
/// loses nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_http_batch_resent_after_kill9_keeps_its_request_id_and_records() {
    let started = Instant::now();
    let what = "kill during HTTP delivery";
    let mut rng = Rng::from_env_or_clock(what);
    let port = free_port();
    let ep = Endpoint::start(port).await;
    let mut server = start_riffle_local();
    let c = firehose(&server.endpoint());
    create_http_stream(&c, "crash-http-mid", port).await;

    let load = Load::start(&server.endpoint(), "crash-http-mid");
    let run_for = Duration::from_millis(800 + rng.below(1200));
    tokio::time::sleep(run_for).await;
    ep.hold.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(10);
    while ep.held.load(Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "{what}: no delivery request within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Let the producers add to the buffer behind the held batch.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let res = load.kill_server(&mut server, what).await;
    let held: Vec<Hit> = ep.hits().into_iter().filter(|h| !h.answered).collect();
    let answered_before = ep.hits().len() - held.len();
    ep.hold.store(false, Ordering::SeqCst);
    server.restart();
    let took = wait_endpoint(&ep, &res.acked).await;
    let hits = ep.hits();
    println!(
        "{what}: {answered_before} requests answered in {run_for:?}, then {} held; killed with {} records \
         acknowledged of {} sent; after the restart {} requests, caught up in {} ms; total {:.1} s",
        held.len(),
        res.acked.len(),
        res.sent.len(),
        hits.len() - answered_before - held.len(),
        took.as_millis(),
        started.elapsed().as_secs_f64()
    );
    let again: Vec<&Hit> = hits
        .iter()
        .filter(|h| h.answered && h.request_id == held[0].request_id)
        .collect();
    assert!(
        !again.is_empty(),
        "{what}: the held request {} was not sent again after the restart",
        held[0].request_id
    );
    check_endpoint(&hits, &res.acked, what);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{what}: took {:?}",
        started.elapsed()
    );
}

#[test]
fn object_parser_rejects_torn_and_foreign_objects() {
    assert_eq!(parse_object(b"p0-1\np3-7\n").unwrap(), [(0, 1), (3, 7)]);
    assert!(parse_object(b"").is_err());
    assert!(parse_object(b"p0-1\np3-").is_err());
    assert!(parse_object(b"p0-1\nX\n").is_err());
    assert!(parse_object(b"p0-01\n").is_err());
    let sent: HashSet<RecId> = [(0, 1), (0, 2), (1, 1)].into();
    let acked: HashSet<RecId> = [(0, 1), (1, 1)].into();
    let objs = |v: &[(&str, &str)]| -> BTreeMap<String, Vec<u8>> {
        v.iter()
            .map(|(k, b)| (k.to_string(), b.as_bytes().to_vec()))
            .collect()
    };
    println!("(panic messages from this test are expected: each is a broken case the checker must reject)");
    let check = |o: BTreeMap<String, Vec<u8>>| {
        std::panic::catch_unwind(|| Delivered::index(&o, &sent).assert_exactly_once(&acked, "t"))
    };
    // Whole, with an unacknowledged record: accepted.
    assert!(check(objs(&[("a", "p0-1\np0-2\n"), ("b", "p1-1\n")])).is_ok());
    // A record in two objects, a lost record, a torn object, a record never sent.
    assert!(check(objs(&[("a", "p0-1\n"), ("b", "p1-1\np0-1\n")])).is_err());
    assert!(check(objs(&[("a", "p0-1\n")])).is_err());
    assert!(check(objs(&[("a", "p0-1\n"), ("b", "p1-1\np0")])).is_err());
    assert!(check(objs(&[("a", "p0-1\n"), ("b", "p1-1\np9-9\n")])).is_err());
}

#[test]
fn scanner_finds_lines_split_across_reads() {
    let mut s = Scanner::default();
    assert!(s.feed(b"p1-2\np1-3\nPUT /b/k", b" HTTP/1.1\r\n").is_empty());
    assert_eq!(
        s.feed(
            b"ey HTTP/1.1\r\nHost: x\r\n\r\np0-1\nPUT /b/z HTTP/1.1\r\n",
            b" HTTP/1.1\r\n"
        ),
        ["PUT /b/key", "PUT /b/z"]
    );
    let mut s = Scanner::default();
    assert_eq!(
        s.feed(b"HTTP/1.1 200 OK\r\nx: y", b"\r\n"),
        ["HTTP/1.1 200 OK"]
    );
    assert_eq!(s.feed(b"\r\n\r\n", b"\r\n"), ["x: y", ""]);
}
