//! Observability against the real binary: `GET /metrics` parses as
//! Prometheus/OpenMetrics text and its counters follow the traffic exactly,
//! shard-level series follow Enable/DisableEnhancedMonitoring, throttling is
//! counted, health endpoints answer, every other request still reaches the
//! AWS handler, and request logs are structured.
#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_kinesis::error::ProvideErrorMetadata;
use aws_sdk_kinesis::operation::RequestId;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{MetricsName, PutRecordsRequestEntry, ShardIteratorType};
use aws_sdk_kinesis::Client;
use common::kinesis::{create_stream, trim_horizon};
use common::{no_retry_client_for, TestServer};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One scrape: sample key (`name{k="v",...}` with labels sorted) → value.
struct Scrape {
    samples: BTreeMap<String, f64>,
}

impl Scrape {
    /// The value of `name` with exactly these labels.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples.get(&key(name, labels)).copied()
    }

    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels)
            .unwrap_or_else(|| panic!("no sample {}", key(name, labels)))
    }

    /// Every sample of `name` (any labels).
    fn series(&self, name: &str) -> Vec<(&String, f64)> {
        self.samples
            .iter()
            .filter(|(k, _)| k.split('{').next() == Some(name))
            .map(|(k, v)| (k, *v))
            .collect()
    }

    fn sum(&self, name: &str) -> f64 {
        self.series(name).iter().map(|(_, v)| v).sum()
    }
}

fn key(name: &str, labels: &[(&str, &str)]) -> String {
    let mut l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    l.sort();
    if l.is_empty() {
        name.to_string()
    } else {
        format!("{name}{{{}}}", l.join(","))
    }
}

fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Parses (and so validates) the exposition format: HELP/TYPE lines before
/// their samples, well-formed names, labels and values, `# EOF` last.
fn parse(text: &str) -> Scrape {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = BTreeMap::new();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.last(),
        Some(&"# EOF"),
        "exposition must end with # EOF"
    );
    for line in &lines[..lines.len() - 1] {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let kind = parts.next().unwrap();
            let name = parts.next().unwrap_or_else(|| panic!("bad line {line:?}"));
            assert!(valid_name(name), "bad metric name in {line:?}");
            match kind {
                "HELP" => {}
                "TYPE" => {
                    let t = parts.next().unwrap();
                    assert!(
                        ["counter", "gauge", "histogram", "unknown", "info"].contains(&t),
                        "{line:?}"
                    );
                    assert!(
                        types.insert(name.to_string(), t.to_string()).is_none(),
                        "family {name} declared twice"
                    );
                }
                "UNIT" => {}
                _ => panic!("unknown comment line {line:?}"),
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad sample {line:?}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => {
                let inner = rest
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("bad labels {line:?}"));
                let mut labels = Vec::new();
                // Label values here never hold commas or escaped quotes.
                for pair in inner.split(',').filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once('=').unwrap();
                    assert!(valid_name(k), "bad label name in {line:?}");
                    let v = v
                        .strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .unwrap_or_else(|| panic!("unquoted label value in {line:?}"));
                    labels.push((k, v));
                }
                (n, labels)
            }
            None => (series, Vec::new()),
        };
        assert!(valid_name(name), "bad sample name in {line:?}");
        let family = ["_total", "_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| types.contains_key(*f)))
            .unwrap_or(name);
        let t = types
            .get(family)
            .unwrap_or_else(|| panic!("sample {name} before its TYPE"));
        if t == "counter" {
            assert!(
                name.ends_with("_total"),
                "counter sample {name} lacks _total"
            );
        }
        assert!(
            samples.insert(key(name, &labels), value).is_none(),
            "duplicate sample {line:?}"
        );
    }
    Scrape { samples }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().http1_only().build().unwrap()
}

async fn scrape(server: &TestServer) -> Scrape {
    let r = http()
        .get(format!("{}/metrics", server.endpoint()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    parse(&r.text().await.unwrap())
}

const S: &str = "stream";

/// Every record read from a shard, TRIM_HORIZON to the tip; returns (calls, records, bytes).
async fn drain(c: &Client, stream: &str, shard: &str) -> (u64, u64, u64) {
    let mut it = trim_horizon(c, stream, shard).await;
    let (mut calls, mut records, mut bytes) = (0, 0, 0);
    loop {
        let out = c.get_records().shard_iterator(&it).send().await.unwrap();
        calls += 1;
        for r in out.records() {
            records += 1;
            let data: &[u8] = r.data().as_ref();
            let key: &str = r.partition_key().unwrap_or_default();
            bytes += (data.len() + key.len()) as u64;
        }
        if out.records().is_empty() {
            return (calls, records, bytes);
        }
        it = out.next_shard_iterator.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_traffic_and_enhanced_monitoring() {
    let server = TestServer::start();
    let c = server.client().await;
    let name = "metered";
    create_stream(&c, name, 2).await;
    let before = scrape(&server).await;
    let st = [(S, name)];
    assert_eq!(
        before.value("riffle_kinesis_incoming_bytes_total", &st),
        0.0
    );
    assert_eq!(before.value("riffle_stream_open_shards", &st), 2.0);
    assert_eq!(before.value("riffle_streams", &[]), 1.0);
    assert!(before
        .series("riffle_kinesis_shard_incoming_bytes_total")
        .is_empty());

    // 100 records by PutRecords, 3 by PutRecord, of varied sizes.
    let mut want_bytes = 0u64;
    let entries: Vec<PutRecordsRequestEntry> = (0..100)
        .map(|i| {
            let pk = format!("pk-{i}");
            let data = vec![b'x'; 10 + i * 7];
            want_bytes += (pk.len() + data.len()) as u64;
            PutRecordsRequestEntry::builder()
                .partition_key(pk)
                .data(Blob::new(data))
                .build()
                .unwrap()
        })
        .collect();
    let out = c
        .put_records()
        .stream_name(name)
        .set_records(Some(entries))
        .send()
        .await
        .unwrap();
    assert_eq!(out.failed_record_count(), Some(0));
    let put_records_bytes = want_bytes;
    for i in 0..3 {
        let pk = format!("single-{i}");
        let data = vec![b'y'; 100 * (i + 1)];
        want_bytes += (pk.len() + data.len()) as u64;
        c.put_record()
            .stream_name(name)
            .partition_key(pk)
            .data(Blob::new(data))
            .send()
            .await
            .unwrap();
    }
    // One failing request, to see error codes counted.
    let err = c
        .describe_stream()
        .stream_name("no-such-stream")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));

    let after_put = scrape(&server).await;
    assert_eq!(
        after_put.value("riffle_kinesis_incoming_bytes_total", &st),
        want_bytes as f64
    );
    assert_eq!(
        after_put.value("riffle_kinesis_incoming_records_total", &st),
        103.0
    );
    assert_eq!(
        after_put.value("riffle_kinesis_put_records_bytes_total", &st),
        put_records_bytes as f64
    );
    assert_eq!(
        after_put.value("riffle_kinesis_put_record_bytes_total", &st),
        (want_bytes - put_records_bytes) as f64
    );
    for (metric, v) in [
        ("riffle_kinesis_put_records_success_total", 1.0),
        ("riffle_kinesis_put_records_total_records_total", 100.0),
        ("riffle_kinesis_put_records_successful_records_total", 100.0),
        ("riffle_kinesis_put_records_records_total", 100.0),
        ("riffle_kinesis_put_records_failed_records_total", 0.0),
        ("riffle_kinesis_put_records_throttled_records_total", 0.0),
        ("riffle_kinesis_put_record_success_total", 3.0),
        ("riffle_kinesis_put_record_latency_seconds_count", 3.0),
        ("riffle_kinesis_put_records_latency_seconds_count", 1.0),
        (
            "riffle_kinesis_write_provisioned_throughput_exceeded_total",
            0.0,
        ),
    ] {
        assert_eq!(after_put.value(metric, &st), v, "{metric}");
    }
    let put_latency_inf = after_put.value(
        "riffle_kinesis_put_record_latency_seconds_bucket",
        &[(S, name), ("le", "+Inf")],
    );
    assert_eq!(put_latency_inf, 3.0);
    // Request counters by operation, status and error code.
    let req = |s: &Scrape, op: &str, status: &str, error: &str| {
        s.get(
            "riffle_requests_total",
            &[
                ("service", "kinesis"),
                ("operation", op),
                ("status", status),
                ("error", error),
            ],
        )
        .unwrap_or(0.0)
    };
    assert_eq!(req(&after_put, "PutRecords", "200", ""), 1.0);
    assert_eq!(req(&after_put, "PutRecord", "200", ""), 3.0);
    assert_eq!(req(&after_put, "CreateStream", "200", ""), 1.0);
    assert_eq!(
        req(
            &after_put,
            "DescribeStream",
            "400",
            "ResourceNotFoundException"
        ),
        1.0
    );
    assert_eq!(
        after_put.value(
            "riffle_request_duration_seconds_count",
            &[("service", "kinesis"), ("operation", "PutRecord")]
        ),
        3.0
    );
    // Durable writes fsync (default policy: always); storage is on disk.
    assert!(
        after_put.value("riffle_storage_fsyncs_total", &[])
            >= before.value("riffle_storage_fsyncs_total", &[]) + 4.0
    );
    assert!(after_put.value("riffle_storage_fsync_duration_seconds_count", &[]) >= 4.0);
    assert!(after_put.value("riffle_storage_stream_bytes", &st) > want_bytes as f64);
    assert!(
        after_put.value("riffle_storage_stream_bytes", &st)
            > before.value("riffle_storage_stream_bytes", &st)
    );
    assert_eq!(after_put.value("riffle_storage_stream_segments", &st), 2.0);
    assert!(after_put.value("riffle_storage_bytes", &[]) > want_bytes as f64);
    assert!(after_put.value("process_resident_memory_bytes", &[]) > 0.0);
    assert!(after_put.value("process_open_fds", &[]) > 0.0);

    // Read everything back.
    let (mut calls, mut records, mut bytes) = (0, 0, 0);
    for shard in ["shardId-000000000000", "shardId-000000000001"] {
        let (c1, r1, b1) = drain(&c, name, shard).await;
        calls += c1;
        records += r1;
        bytes += b1;
    }
    assert_eq!((records, bytes), (103, want_bytes));
    let after_get = scrape(&server).await;
    assert_eq!(
        after_get.value("riffle_kinesis_get_records_records_total", &st),
        103.0
    );
    assert_eq!(
        after_get.value("riffle_kinesis_get_records_bytes_total", &st),
        want_bytes as f64
    );
    assert_eq!(
        after_get.value("riffle_kinesis_get_records_success_total", &st),
        calls as f64
    );
    assert_eq!(
        after_get.value("riffle_kinesis_get_records_latency_seconds_count", &st),
        calls as f64
    );
    assert_eq!(req(&after_get, "GetRecords", "200", ""), calls as f64);
    // Caught up: the last GetRecords was at the tip.
    assert_eq!(
        after_get.value("riffle_kinesis_get_records_iterator_age_milliseconds", &st),
        0.0
    );

    // Shard level: only what EnableEnhancedMonitoring turned on.
    assert!(after_get
        .series("riffle_kinesis_shard_incoming_bytes_total")
        .is_empty());
    c.enable_enhanced_monitoring()
        .stream_name(name)
        .shard_level_metrics(MetricsName::IncomingBytes)
        .shard_level_metrics(MetricsName::OutgoingRecords)
        .send()
        .await
        .unwrap();
    let enhanced = scrape(&server).await;
    let shard_bytes = enhanced.series("riffle_kinesis_shard_incoming_bytes_total");
    assert_eq!(shard_bytes.len(), 2, "{shard_bytes:?}");
    assert!(enhanced
        .get(
            "riffle_kinesis_shard_incoming_bytes_total",
            &[(S, name), ("shard", "shardId-000000000001")]
        )
        .is_some());
    assert_eq!(
        enhanced.sum("riffle_kinesis_shard_incoming_bytes_total"),
        want_bytes as f64
    );
    assert_eq!(
        enhanced.sum("riffle_kinesis_shard_outgoing_records_total"),
        103.0
    );
    assert!(enhanced
        .series("riffle_kinesis_shard_incoming_records_total")
        .is_empty());
    assert!(enhanced
        .series("riffle_kinesis_shard_iterator_age_milliseconds")
        .is_empty());

    // Values keep moving while enabled.
    c.put_record()
        .stream_name(name)
        .partition_key("late")
        .data(Blob::new(vec![1u8; 50]))
        .send()
        .await
        .unwrap();
    let moved = scrape(&server).await;
    assert_eq!(
        moved.sum("riffle_kinesis_shard_incoming_bytes_total"),
        (want_bytes + 54) as f64
    );
    assert_eq!(
        moved.value("riffle_kinesis_incoming_records_total", &st),
        104.0
    );

    c.enable_enhanced_monitoring()
        .stream_name(name)
        .shard_level_metrics(MetricsName::All)
        .send()
        .await
        .unwrap();
    let all = scrape(&server).await;
    for m in [
        "riffle_kinesis_shard_incoming_records_total",
        "riffle_kinesis_shard_outgoing_bytes_total",
        "riffle_kinesis_shard_write_provisioned_throughput_exceeded_total",
        "riffle_kinesis_shard_read_provisioned_throughput_exceeded_total",
        "riffle_kinesis_shard_iterator_age_milliseconds",
    ] {
        assert_eq!(all.series(m).len(), 2, "{m}");
    }
    assert_eq!(
        all.sum("riffle_kinesis_shard_outgoing_bytes_total"),
        want_bytes as f64
    );

    c.disable_enhanced_monitoring()
        .stream_name(name)
        .shard_level_metrics(MetricsName::All)
        .send()
        .await
        .unwrap();
    let off = scrape(&server).await;
    assert!(
        off.samples
            .keys()
            .all(|k| !k.starts_with("riffle_kinesis_shard_")),
        "shard-level series remain after DisableEnhancedMonitoring"
    );
    // Stream-level series stay.
    assert_eq!(
        off.value("riffle_kinesis_incoming_records_total", &st),
        104.0
    );

    // A deleted stream's series go away.
    c.delete_stream().stream_name(name).send().await.unwrap();
    let gone = scrape(&server).await;
    assert!(gone
        .get("riffle_kinesis_incoming_records_total", &st)
        .is_none());
    assert_eq!(gone.value("riffle_streams", &[]), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_counted() {
    let server = TestServer::start_limited();
    let c = no_retry_client_for(&server.endpoint()).await;
    let name = "limited";
    create_stream(&c, name, 1).await;
    c.enable_enhanced_monitoring()
        .stream_name(name)
        .shard_level_metrics(MetricsName::All)
        .send()
        .await
        .unwrap();
    // 1,500 tiny records at once against a 1,000 records/s bucket.
    let (mut stored, mut throttled) = (0u64, 0u64);
    for round in 0..3 {
        let entries: Vec<PutRecordsRequestEntry> = (0..500)
            .map(|i| {
                PutRecordsRequestEntry::builder()
                    .partition_key(format!("k{round}-{i}"))
                    .data(Blob::new(vec![0u8; 4]))
                    .build()
                    .unwrap()
            })
            .collect();
        let out = c
            .put_records()
            .stream_name(name)
            .set_records(Some(entries))
            .send()
            .await
            .unwrap();
        for r in out.records() {
            match r.error_code() {
                None => stored += 1,
                Some("ProvisionedThroughputExceededException") => throttled += 1,
                Some(other) => panic!("unexpected {other}"),
            }
        }
    }
    assert!(throttled > 0, "1,500 records in a burst must be throttled");
    // PutRecord while the bucket is (nearly) empty: count what was refused.
    let mut put_record_throttled = 0u64;
    for i in 0..5 {
        match c
            .put_record()
            .stream_name(name)
            .partition_key(format!("p{i}"))
            .data(Blob::new(vec![0u8; 4]))
            .send()
            .await
        {
            Ok(_) => stored += 1,
            Err(e) => {
                assert_eq!(e.code(), Some("ProvisionedThroughputExceededException"));
                put_record_throttled += 1;
            }
        }
    }
    // Reads: 5 calls/s with a burst of 5; 10 at once must hit the limit.
    let it = c
        .get_shard_iterator()
        .stream_name(name)
        .shard_id("shardId-000000000000")
        .shard_iterator_type(ShardIteratorType::Latest)
        .send()
        .await
        .unwrap()
        .shard_iterator
        .unwrap();
    let mut read_throttled = 0u64;
    for _ in 0..10 {
        if let Err(e) = c.get_records().shard_iterator(&it).send().await {
            assert_eq!(e.code(), Some("ProvisionedThroughputExceededException"));
            read_throttled += 1;
        }
    }
    assert!(read_throttled > 0);

    let s = scrape(&server).await;
    let st = [(S, name)];
    let shard = [(S, name), ("shard", "shardId-000000000000")];
    assert_eq!(
        s.value(
            "riffle_kinesis_write_provisioned_throughput_exceeded_total",
            &st
        ),
        (throttled + put_record_throttled) as f64
    );
    assert_eq!(
        s.value("riffle_kinesis_put_records_throttled_records_total", &st),
        throttled as f64
    );
    assert_eq!(
        s.value("riffle_kinesis_put_records_total_records_total", &st),
        1500.0
    );
    assert_eq!(
        s.value("riffle_kinesis_incoming_records_total", &st),
        stored as f64
    );
    assert_eq!(
        s.value(
            "riffle_kinesis_read_provisioned_throughput_exceeded_total",
            &st
        ),
        read_throttled as f64
    );
    assert_eq!(
        s.value(
            "riffle_kinesis_shard_write_provisioned_throughput_exceeded_total",
            &shard
        ),
        (throttled + put_record_throttled) as f64
    );
    assert_eq!(
        s.value(
            "riffle_kinesis_shard_read_provisioned_throughput_exceeded_total",
            &shard
        ),
        read_throttled as f64
    );
    assert_eq!(
        s.value("riffle_kinesis_shard_incoming_records_total", &shard),
        stored as f64
    );
    let throttled_reqs = s
        .get(
            "riffle_requests_total",
            &[
                ("service", "kinesis"),
                ("operation", "GetRecords"),
                ("status", "400"),
                ("error", "ProvisionedThroughputExceededException"),
            ],
        )
        .unwrap();
    assert_eq!(throttled_reqs, read_throttled as f64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_endpoints_and_aws_routes() {
    let server = TestServer::start();
    let h = http();
    let base = server.endpoint();
    let live = h.get(format!("{base}/health/live")).send().await.unwrap();
    assert_eq!(live.status(), 200);
    assert_eq!(live.headers()["content-type"], "application/json");
    let body: serde_json::Value = serde_json::from_str(&live.text().await.unwrap()).unwrap();
    assert_eq!(body["status"], "live");
    let ready = h.get(format!("{base}/health/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = serde_json::from_str(&ready.text().await.unwrap()).unwrap();
    assert_eq!(body["status"], "ready");

    // Everything else is still AWS's: GET / gets the 403 XML ...
    let root = h.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(root.status(), 403);
    assert!(root.headers().contains_key("x-amzn-requestid"));
    assert!(root
        .text()
        .await
        .unwrap()
        .contains("<AccessDeniedException>"));
    // ... and so does a POST to /metrics.
    let post = h.post(format!("{base}/metrics")).send().await.unwrap();
    assert!(post.headers().contains_key("x-amzn-requestid"));
    assert!(!post.text().await.unwrap().contains("# EOF"));
    let s = scrape(&server).await;
    assert!(
        s.get(
            "riffle_requests_total",
            &[
                ("service", "unknown"),
                ("operation", "unknown"),
                ("status", "403"),
                ("error", "AccessDeniedException")
            ]
        )
        .unwrap()
            >= 1.0
    );
    // The health and metrics routes are not API requests.
    assert!(s
        .series("riffle_requests_total")
        .iter()
        .all(|(_, v)| *v <= 2.0));

    // Not ready once the data directory cannot take a write.
    std::fs::remove_dir_all(server.data_dir()).unwrap();
    let ready = h.get(format!("{base}/health/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = serde_json::from_str(&ready.text().await.unwrap()).unwrap();
    assert_eq!(body["status"], "not ready");
    assert!(body["reason"].as_str().unwrap().contains("not writable"));
    let live = h.get(format!("{base}/health/live")).send().await.unwrap();
    assert_eq!(live.status(), 200);
}

/// `--log-format json` with debug request logs: one JSON object per request
/// carrying the request id the client got back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_logs_are_structured_json() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_riffle"))
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .args(["--transition-delay-ms", "0", "--data-dir"])
        .arg(tmp.path().join("data"))
        .env("RIFFLE_LOG", "warn,riffle_server=debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().unwrap().unwrap();
        if let Some(rest) = line.trim().strip_prefix("listening on http://") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let c = no_retry_client_for(&format!("http://{addr}")).await;
    create_stream(&c, "logged", 1).await;
    let err = c
        .describe_stream()
        .stream_name("missing")
        .send()
        .await
        .unwrap_err();
    let request_id = err.request_id().map(str::to_string);
    // Let the log lines reach the pipe, then stop the server.
    let deadline = Instant::now() + Duration::from_millis(300);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let events: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .filter(|v: &serde_json::Value| v["message"] == "request")
        .collect();
    let create = events
        .iter()
        .find(|e| e["op"] == "CreateStream")
        .expect("a CreateStream request log");
    assert_eq!(create["status"], 200);
    assert_eq!(create["resource"], "logged");
    assert_eq!(create["service"], "kinesis");
    assert_eq!(create["level"], "DEBUG");
    assert!(create["latency_us"].as_u64().is_some());
    assert!(!create["request_id"].as_str().unwrap().is_empty());
    let failed = events
        .iter()
        .find(|e| e["op"] == "DescribeStream")
        .expect("a DescribeStream request log");
    assert_eq!(failed["status"], 400);
    assert_eq!(failed["error"], "ResourceNotFoundException");
    assert_eq!(failed["resource"], "missing");
    assert_eq!(failed["request_id"], request_id.unwrap().as_str());
}

/// Enhanced fan-out: pushed events are counted, a refused second subscription
/// is SubscribeToShard.RateExceeded, and the live subscription shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_are_counted() {
    use aws_sdk_kinesis::types::{StartingPosition, SubscribeToShardEventStream};
    let server = TestServer::start();
    let c = server.client().await;
    let name = "fanned";
    create_stream(&c, name, 1).await;
    let mut want_bytes = 0u64;
    for i in 0..5 {
        let data = vec![b'z'; 20 + i];
        want_bytes += (data.len() + 2) as u64;
        c.put_record()
            .stream_name(name)
            .partition_key("pk")
            .data(Blob::new(data))
            .send()
            .await
            .unwrap();
    }
    let consumer = c
        .register_stream_consumer()
        .stream_arn(format!(
            "arn:aws:kinesis:us-east-1:000000000000:stream/{name}"
        ))
        .consumer_name("metered-consumer")
        .send()
        .await
        .unwrap()
        .consumer
        .unwrap()
        .consumer_arn;
    let start = || {
        StartingPosition::builder()
            .r#type(ShardIteratorType::TrimHorizon)
            .build()
            .unwrap()
    };
    let mut events = c
        .subscribe_to_shard()
        .consumer_arn(&consumer)
        .shard_id("shardId-000000000000")
        .starting_position(start())
        .send()
        .await
        .unwrap();
    let mut got = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while got < 5 {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, events.event_stream.recv())
            .await
            .expect("records within 10 s")
            .unwrap()
        {
            Some(SubscribeToShardEventStream::SubscribeToShardEvent(ev)) => {
                got += ev.records().len()
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let refused = c
        .subscribe_to_shard()
        .consumer_arn(&consumer)
        .shard_id("shardId-000000000000")
        .starting_position(start())
        .send()
        .await;
    assert!(
        refused.is_err(),
        "a second subscription within 5 s is refused"
    );

    let s = scrape(&server).await;
    let st = [(S, name)];
    assert_eq!(
        s.value("riffle_kinesis_subscribe_to_shard_event_records_total", &st),
        5.0
    );
    assert_eq!(
        s.value("riffle_kinesis_subscribe_to_shard_event_bytes_total", &st),
        want_bytes as f64
    );
    assert!(s.value("riffle_kinesis_subscribe_to_shard_event_success_total", &st) >= 1.0);
    assert_eq!(
        s.value("riffle_kinesis_subscribe_to_shard_rate_exceeded_total", &st),
        1.0
    );
    assert_eq!(s.value("riffle_subscriptions_active", &[]), 1.0);
    assert_eq!(s.value("riffle_stream_consumers", &st), 1.0);
    assert_eq!(
        s.get(
            "riffle_requests_total",
            &[
                ("service", "kinesis"),
                ("operation", "SubscribeToShard"),
                ("status", "400"),
                ("error", "ResourceInUseException")
            ]
        ),
        Some(1.0)
    );
    drop(events);
}

/// A shard whose active segment is damaged before its last batch (not a
/// torn tail) opens read-only: readiness names it, `/metrics` counts it,
/// writes to it fail, and the records before the damage are still served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_shard_is_reported_by_readiness_and_metrics() {
    let mut server = TestServer::start();
    let c = server.client().await;
    create_stream(&c, "damaged", 1).await;
    for i in 0..3u8 {
        c.put_record()
            .stream_name("damaged")
            .partition_key("k")
            .data(Blob::new(vec![b'a' + i; 1000]))
            .send()
            .await
            .unwrap();
    }
    server.kill9();
    // Three equal batches: the middle byte of the file is inside the second.
    let shard_dir = std::fs::read_dir(server.data_dir().join("streams"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("damaged-"))
        })
        .unwrap()
        .join("000000000000");
    let segment = std::fs::read_dir(&shard_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "log"))
        .unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&segment, &bytes).unwrap();
    server.restart();

    let h = http();
    let ready = h
        .get(format!("{}/health/ready", server.endpoint()))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = serde_json::from_str(&ready.text().await.unwrap()).unwrap();
    let reason = body["reason"].as_str().unwrap();
    assert!(
        reason.contains("shardId-000000000000 of stream damaged is damaged"),
        "{reason}"
    );
    let s = scrape(&server).await;
    assert_eq!(s.value("riffle_storage_degraded_shards", &[]), 1.0);
    assert_eq!(s.value("riffle_storage_damaged_opens_total", &[]), 1.0);

    let c = no_retry_client_for(&server.endpoint()).await;
    let e = c
        .put_record()
        .stream_name("damaged")
        .partition_key("k")
        .data(Blob::new(b"x".to_vec()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InternalFailure"), "{e:?}");
    let it = trim_horizon(&c, "damaged", "shardId-000000000000").await;
    let got = c.get_records().shard_iterator(it).send().await.unwrap();
    assert_eq!(got.records().len(), 1, "the record before the damage");
    assert_eq!(got.records()[0].data().as_ref(), &[b'a'; 1000][..]);
}
