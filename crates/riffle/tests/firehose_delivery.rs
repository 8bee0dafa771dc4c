//! Firehose delivery end to end, through the real `riffle serve` binary and
//! real clients (`aws-sdk-firehose`, `aws-sdk-kinesis`): delivered objects
//! are read back from a real S3-compatible server (moto on loopback) or the
//! local S3 directory (`DATA_DIR/s3/BUCKET/KEY`), the HTTP endpoint and the
//! Lambda functions are test servers in this process, and the function by
//! command is a Python script.
//!
//! Expected values come from the Firehose developer guide (object names,
//! prefixes, compression, the HTTP endpoint and Lambda contracts, the
//! failed-record formats) as summarised in the wire reference, section 5.
//! Time bounds are generous and stated where they are asserted; every test
//! ends within about 20 s.
#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_firehose::types::{
    CompressionFormat, DeliveryStreamType, ExtendedS3DestinationConfiguration,
    HttpEndpointBufferingHints, HttpEndpointCommonAttribute, HttpEndpointConfiguration,
    HttpEndpointDestinationConfiguration, HttpEndpointRequestConfiguration,
    HttpEndpointRetryOptions, HttpEndpointS3BackupMode, KinesisStreamSourceConfiguration,
    ProcessingConfiguration, Processor, ProcessorParameter, ProcessorParameterName, ProcessorType,
    S3DestinationConfiguration,
};
use aws_sdk_firehose::Client;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use common::firehose::{
    check_object_name, client, gunzip, hints, local_objects, poll, put_all, record, stream_arn,
    unhadoop_snappy, unsnappy, unzip, wait_active, Moto, ROLE,
};
use common::TestServer;
use riffle_firehose::objects::{ObjectStore as _, S3Config, S3Store};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn s3_dest(
    bucket: &str,
) -> aws_sdk_firehose::types::builders::ExtendedS3DestinationConfigurationBuilder {
    ExtendedS3DestinationConfiguration::builder()
        .role_arn(ROLE)
        .bucket_arn(format!("arn:aws:s3:::{bucket}"))
}

async fn create_s3(c: &Client, name: &str, conf: ExtendedS3DestinationConfiguration) {
    c.create_delivery_stream()
        .delivery_stream_name(name)
        .extended_s3_destination_configuration(conf)
        .send()
        .await
        .unwrap();
    wait_active(c, name).await;
}

/// Fixed-width numbered records (`<tag>-0007\n`), so that objects holding
/// consecutive runs can be put back in order by their first bytes.
fn numbered(tag: &str, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("{tag}-{i:04}\n").into_bytes())
        .collect()
}

/// The objects' (decoded) bodies, each a run of consecutive records,
/// ordered by their first record and joined.
fn join_runs(bodies: Vec<Vec<u8>>) -> String {
    let mut runs = bodies;
    runs.sort();
    String::from_utf8(runs.concat()).unwrap()
}

fn text(records: &[Vec<u8>]) -> String {
    String::from_utf8(records.concat()).unwrap()
}

// ------------------------------------------------------------------ a real S3-compatible server

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_into_a_real_s3_server_with_prefixes_and_gzip() {
    let moto = Moto::start();
    moto.create_bucket("e2e-bucket");
    let endpoint = moto.endpoint();
    let server = TestServer::start_with_env(
        &[
            "--transition-delay-ms",
            "0",
            "--no-throughput-limits",
            "--s3-endpoint",
            &endpoint,
        ],
        &[
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
        ],
    );
    let c = client(&server);
    let conf = s3_dest("e2e-bucket")
        .prefix("logs/!{timestamp:yyyy/MM/dd}/")
        .error_output_prefix("errors/!{firehose:error-output-type}/")
        .compression_format(CompressionFormat::Gzip)
        .buffering_hints(hints(1, 0))
        .build()
        .unwrap();
    create_s3(&c, "to-moto", conf).await;
    let records = numbered("moto", 300);
    put_all(&c, "to-moto", &records[..120], 120).await;
    put_all(&c, "to-moto", &records[120..], 90).await;

    let s3 = S3Store::new(S3Config {
        endpoint: endpoint.clone(),
        region: "us-east-1".into(),
        access_key_id: Some("test".into()),
        secret_access_key: Some("test".into()),
        session_token: None,
    });
    let want = text(&records);
    let deadline = Instant::now() + Duration::from_secs(15);
    let (keys, bodies) = loop {
        let keys = s3.list("e2e-bucket", "").await.unwrap();
        let mut bodies = Vec::new();
        for k in &keys {
            let body = s3.get("e2e-bucket", k).await.unwrap().unwrap();
            bodies.push(gunzip(&body));
        }
        if bodies.iter().map(Vec::len).sum::<usize>() >= want.len() || Instant::now() > deadline {
            break (keys, bodies);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(!keys.is_empty(), "no object in moto's bucket within 15 s");
    for key in &keys {
        // logs/YYYY/MM/dd/to-moto-1-YYYY-MM-dd-HH-mm-ss-<uuid>.gz, the
        // prefix's date being the object's (UTC) date.
        let parts: Vec<&str> = key.split('/').collect();
        assert_eq!(parts.len(), 5, "{key}");
        assert_eq!(parts[0], "logs", "{key}");
        let when = check_object_name(parts[4], "to-moto", "1", ".gz");
        assert_eq!(
            parts[1..4].join("/"),
            when.format("%Y/%m/%d").to_string(),
            "{key}: the prefix is evaluated at the object's time, in UTC"
        );
    }
    assert!(
        !keys.iter().any(|k| k.starts_with("errors/")),
        "nothing failed, so nothing under errors/: {keys:?}"
    );
    assert_eq!(join_runs(bodies), want, "{keys:?}");
}

// ------------------------------------------------------------------ buffering hints

fn local_server() -> TestServer {
    TestServer::start_with(&["--transition-delay-ms", "0", "--no-throughput-limits"])
}

/// SizeInMBs 1 with a 900 s interval: ~1.2 MiB put gives one object as soon
/// as 1 MiB is buffered, holding at most 1 MiB plus one record (AWS's hint
/// is approximate; Riffle cuts at the last record that fits), and the rest
/// waits for the interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffering_by_size_delivers_one_mib_objects() {
    let server = local_server();
    let c = client(&server);
    create_s3(
        &c,
        "by-size",
        s3_dest("size")
            .buffering_hints(hints(1, 900))
            .build()
            .unwrap(),
    )
    .await;
    const REC: usize = 10 * 1024;
    let records: Vec<Vec<u8>> = (0..120)
        .map(|i| {
            let mut r = format!("{i:04}:").into_bytes();
            r.resize(REC - 1, b'a' + (i % 26) as u8);
            r.push(b'\n');
            r
        })
        .collect();
    let started = Instant::now();
    put_all(&c, "by-size", &records, 30).await;
    let bucket = server.data_dir().join("s3").join("size");
    let got = poll(
        Duration::from_secs(10),
        || local_objects(&bucket),
        |o| !o.is_empty(),
    )
    .await;
    assert_eq!(
        got.len(),
        1,
        "one object within 10 s of buffering 1.2 MiB ({:?} after the first put)",
        started.elapsed()
    );
    let body = got.values().next().unwrap();
    const MIB: usize = 1 << 20;
    assert!(
        body.len() <= MIB + REC && body.len() >= MIB - REC,
        "{} bytes: about the 1 MiB size hint",
        body.len()
    );
    assert_eq!(body.len() % REC, 0, "whole records");
    assert_eq!(
        body,
        &records[..body.len() / REC].concat(),
        "the first records, in order"
    );
    // The remaining ~200 KiB is below the size hint and its interval is 900 s.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        local_objects(&bucket).len(),
        1,
        "the rest waits for the interval"
    );
}

/// IntervalInSeconds 2 with a 128 MiB size: a small put is not delivered
/// before 2 s after it arrived (measured from just before the put, less
/// 100 ms for millisecond rounding) and is delivered within 2 s + 3 s slack.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffering_by_interval_waits_for_the_interval() {
    let server = local_server();
    let c = client(&server);
    create_s3(
        &c,
        "by-interval",
        s3_dest("interval")
            .buffering_hints(hints(128, 2))
            .build()
            .unwrap(),
    )
    .await;
    let records = numbered("tick", 5);
    let bucket = server.data_dir().join("s3").join("interval");
    let t0 = Instant::now();
    put_all(&c, "by-interval", &records, 5).await;
    let got = poll(
        Duration::from_secs(5),
        || local_objects(&bucket),
        |o| !o.is_empty(),
    )
    .await;
    let elapsed = t0.elapsed();
    assert_eq!(got.len(), 1, "delivered within 5 s of the put");
    assert!(
        elapsed >= Duration::from_millis(1900),
        "delivered {elapsed:?} after the put, before the 2 s interval"
    );
    assert_eq!(got.values().next().unwrap(), &records.concat());
}

// ------------------------------------------------------------------ compression

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compression_formats_and_file_extension() {
    let server = local_server();
    let c = client(&server);
    // (stream and bucket, CompressionFormat, FileExtension, expected extension)
    let cases: [(&str, CompressionFormat, Option<&str>, &str); 6] = [
        ("gz", CompressionFormat::Gzip, None, ".gz"),
        ("zip", CompressionFormat::Zip, None, ".zip"),
        ("snappy", CompressionFormat::Snappy, None, ".snappy"),
        ("hsnappy", CompressionFormat::HadoopSnappy, None, ".hsnappy"),
        (
            "gzjson",
            CompressionFormat::Gzip,
            Some(".json.gz"),
            ".json.gz",
        ),
        (
            "plain",
            CompressionFormat::Uncompressed,
            Some(".txt"),
            ".txt",
        ),
    ];
    for (name, format, ext, _) in &cases {
        let conf = s3_dest(name)
            .compression_format(format.clone())
            .set_file_extension(ext.map(str::to_string))
            .buffering_hints(hints(1, 0))
            .build()
            .unwrap();
        create_s3(&c, name, conf).await;
    }
    let mut wants = HashMap::new();
    for (name, ..) in &cases {
        let records = numbered(name, 200);
        put_all(&c, name, &records[..80], 80).await;
        put_all(&c, name, &records[80..], 120).await;
        wants.insert(*name, text(&records));
    }
    for (name, format, _, ext) in &cases {
        let bucket = server.data_dir().join("s3").join(name);
        let want = &wants[name];
        let decode = |key: &str, body: &[u8]| -> Vec<u8> {
            match format {
                CompressionFormat::Gzip => gunzip(body),
                CompressionFormat::Snappy => unsnappy(body),
                CompressionFormat::HadoopSnappy => unhadoop_snappy(body),
                CompressionFormat::Zip => {
                    let (entries, data) = unzip(body);
                    assert_eq!(entries.len(), 1, "{key}: one entry");
                    data
                }
                _ => body.to_vec(),
            }
        };
        let got = poll(
            Duration::from_secs(10),
            || local_objects(&bucket),
            |o| o.iter().map(|(k, b)| decode(k, b).len()).sum::<usize>() >= want.len(),
        )
        .await;
        assert!(!got.is_empty(), "{name}: no object within 10 s");
        let mut bodies = Vec::new();
        for (key, body) in &got {
            let parts: Vec<&str> = key.split('/').collect();
            assert_eq!(parts.len(), 5, "{key}: YYYY/MM/dd/HH/ by default");
            check_object_name(parts[4], name, "1", ext);
            if *format != CompressionFormat::Uncompressed {
                assert_ne!(&decode(key, body), body, "{key}: compressed");
            }
            bodies.push(decode(key, body));
        }
        assert_eq!(&join_runs(bodies), want, "{name}: {:?}", got.keys());
    }
}

// ------------------------------------------------------------------ HTTP endpoint

/// One request the endpoint received.
#[derive(Clone, Debug)]
struct Seen {
    scenario: String,
    headers: HashMap<String, String>,
    body: Value,
    /// Whether the answer was a success by the contract (a 200 echoing the id).
    success: bool,
}

#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<Seen>>,
    /// Lambda invocation events, by path.
    events: Mutex<Vec<(String, Value)>>,
}

fn ok_body(request_id: &str) -> String {
    json!({"requestId": request_id, "timestamp": chrono::Utc::now().timestamp_millis()}).to_string()
}

fn json_response(status: u16, body: String) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// The endpoint: answers each request by its scenario (the URL path) and
/// how many times this request id was seen before.
async fn endpoint(
    State(rec): State<Arc<Recorder>>,
    UrlPath(scenario): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let headers: HashMap<String, String> = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let raw = if headers.get("content-encoding").map(String::as_str) == Some("gzip") {
        gunzip(&body)
    } else {
        body.to_vec()
    };
    let doc: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let id = doc["requestId"].as_str().unwrap_or("").to_string();
    let attempt = 1 + rec
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.body["requestId"] == doc["requestId"])
        .count();
    let slow = scenario == "slow" && attempt == 1;
    let (status, answer, success) = match (scenario.as_str(), attempt) {
        ("retry500", 1) | ("down", _) => (
            500,
            json!({"requestId": id, "timestamp": 0, "errorMessage": "try later"}).to_string(),
            false,
        ),
        ("accepted", 1) => (202, ok_body(&id), false),
        ("wrongid", 1) => (200, ok_body("00000000-0000-0000-0000-000000000000"), false),
        _ => (200, ok_body(&id), !slow),
    };
    rec.seen.lock().unwrap().push(Seen {
        scenario: scenario.clone(),
        headers,
        body: doc,
        success,
    });
    if slow {
        // Longer than the server's --firehose-http-timeout-ms.
        tokio::time::sleep(Duration::from_millis(3500)).await;
    }
    json_response(status, answer)
}

/// A Lambda speaking Firehose's transformation contract: records starting
/// `ok` come back upper-cased, `drop` are Dropped, the rest ProcessingFailed.
async fn lambda(
    State(rec): State<Arc<Recorder>>,
    UrlPath(name): UrlPath<String>,
    body: Bytes,
) -> Response {
    let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut out = Vec::new();
    for r in event["records"].as_array().cloned().unwrap_or_default() {
        let data = B64
            .decode(r["data"].as_str().unwrap_or(""))
            .unwrap_or_default();
        let id = r["recordId"].clone();
        out.push(if data.starts_with(b"ok") {
            json!({"recordId": id, "result": "Ok", "data": B64.encode(data.to_ascii_uppercase())})
        } else if data.starts_with(b"drop") {
            json!({"recordId": id, "result": "Dropped", "data": r["data"]})
        } else {
            json!({"recordId": id, "result": "ProcessingFailed", "data": r["data"]})
        });
    }
    rec.events.lock().unwrap().push((name, event));
    json_response(200, json!({"records": out}).to_string())
}

/// Starts the endpoint (`/endpoint/{scenario}`) and the Lambda
/// (`/lambda/{name}`) on a loopback port.
async fn test_servers() -> (Arc<Recorder>, String) {
    let rec = Arc::new(Recorder::default());
    let app = axum::Router::new()
        .route("/endpoint/{scenario}", axum::routing::post(endpoint))
        .route("/lambda/{name}", axum::routing::post(lambda))
        .with_state(rec.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (rec, base)
}

fn http_conf(base: &str, scenario: &str, gzip: bool) -> HttpEndpointDestinationConfiguration {
    let mut request = HttpEndpointRequestConfiguration::builder()
        .common_attributes(
            HttpEndpointCommonAttribute::builder()
                .attribute_name("env")
                .attribute_value("test")
                .build()
                .unwrap(),
        )
        .common_attributes(
            HttpEndpointCommonAttribute::builder()
                .attribute_name("scenario")
                .attribute_value(scenario)
                .build()
                .unwrap(),
        );
    if gzip {
        request = request.content_encoding(aws_sdk_firehose::types::ContentEncoding::Gzip);
    }
    HttpEndpointDestinationConfiguration::builder()
        .endpoint_configuration(
            HttpEndpointConfiguration::builder()
                // Plain http:// (AWS allows only https:// on 443).
                .url(format!("{base}/endpoint/{scenario}"))
                .name("test endpoint")
                .access_key(format!("key-{scenario}"))
                .build()
                .unwrap(),
        )
        .request_configuration(request.build())
        .buffering_hints(
            HttpEndpointBufferingHints::builder()
                .size_in_mbs(1)
                .interval_in_seconds(0)
                .build(),
        )
        .retry_options(
            HttpEndpointRetryOptions::builder()
                .duration_in_seconds(60)
                .build(),
        )
        .s3_backup_mode(HttpEndpointS3BackupMode::FailedDataOnly)
        .s3_configuration(
            S3DestinationConfiguration::builder()
                .role_arn(ROLE)
                .bucket_arn(format!("arn:aws:s3:::http-{scenario}"))
                .build()
                .unwrap(),
        )
        .build()
}

/// Field order of a failed-record line: `keys` appear in this order.
fn assert_field_order(line: &str, keys: &[&str]) {
    let pos: Vec<usize> = keys
        .iter()
        .map(|k| {
            line.find(&format!("\"{k}\""))
                .unwrap_or_else(|| panic!("{k} missing in {line}"))
        })
        .collect();
    assert!(
        pos.windows(2).all(|w| w[0] < w[1]),
        "AWS's field order {keys:?}: {line}"
    );
}

/// The HTTP endpoint contract against a test endpoint: the headers and
/// body of a 200; a 500, a 202, a 200 with the wrong requestId and a
/// response slower than the timeout are each retried once with the same
/// request id and then delivered; an endpoint that never succeeds gets the
/// batch written, once the (shortened) retry duration is spent, under
/// `http-endpoint-failed/` in AWS's failed-record format.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_endpoint_contract_retries_and_failed_batches() {
    let (rec, base) = test_servers().await;
    // Retry budget 2.5 s (first backoff ~310 ms), 1.5 s per response (generous for a loaded machine).
    let server = TestServer::start_with(&[
        "--transition-delay-ms",
        "0",
        "--no-throughput-limits",
        "--firehose-http-retry-ms",
        "2500",
        "--firehose-http-timeout-ms",
        "1500",
        "--firehose-retry-ms",
        "100",
    ]);
    let c = client(&server);
    let scenarios = [
        "ok", "gzip", "retry500", "accepted", "wrongid", "slow", "down",
    ];
    for s in scenarios {
        c.create_delivery_stream()
            .delivery_stream_name(format!("http-{s}"))
            .http_endpoint_destination_configuration(http_conf(&base, s, s == "gzip"))
            .send()
            .await
            .unwrap();
    }
    let mut wants = HashMap::new();
    for s in scenarios {
        wait_active(&c, &format!("http-{s}")).await;
        let records: Vec<Vec<u8>> = (0..4)
            .map(|i| format!("{s} record {i}\n").into_bytes())
            .collect();
        put_all(&c, &format!("http-{s}"), &records, 4).await;
        wants.insert(s, records);
    }

    // Everything but `down` is delivered by a 200 within 10 s.
    let delivered = |s: &str| -> Vec<Vec<u8>> {
        rec.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|x| x.scenario == s && x.success)
            .flat_map(|x| {
                x.body["records"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|r| B64.decode(r["data"].as_str().unwrap()).unwrap())
            })
            .collect()
    };
    for s in scenarios.iter().filter(|s| **s != "down") {
        let got = poll(Duration::from_secs(10), || delivered(s), |d| d.len() >= 4).await;
        assert_eq!(
            got, wants[s],
            "{s}: the records, base64 in `data`, in order"
        );
    }

    let seen = rec.seen.lock().unwrap().clone();
    let of = |s: &str| -> Vec<Seen> { seen.iter().filter(|x| x.scenario == s).cloned().collect() };

    // The headers of the contract.
    for s in ["ok", "gzip"] {
        let reqs = of(s);
        assert_eq!(reqs.len(), 1, "{s}: one request: {reqs:?}");
        let r = &reqs[0];
        let h = |k: &str| r.headers.get(k).cloned().unwrap_or_default();
        assert_eq!(h("x-amz-firehose-protocol-version"), "1.0");
        let id = h("x-amz-firehose-request-id");
        assert_eq!(
            r.body["requestId"].as_str(),
            Some(id.as_str()),
            "header and body ids"
        );
        let groups: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12], "a GUID request id: {id}");
        assert_eq!(
            h("x-amz-firehose-source-arn"),
            stream_arn(&format!("http-{s}"))
        );
        assert_eq!(h("x-amz-firehose-access-key"), format!("key-{s}"));
        let attrs: Value = serde_json::from_str(&h("x-amz-firehose-common-attributes")).unwrap();
        assert_eq!(
            attrs,
            json!({"commonAttributes": {"env": "test", "scenario": s}})
        );
        assert!(
            h("content-type").starts_with("application/json"),
            "{:?}",
            r.headers
        );
        assert!(
            r.body["timestamp"].is_i64(),
            "timestamp in epoch ms: {}",
            r.body
        );
        let gzipped = h("content-encoding") == "gzip";
        assert_eq!(
            gzipped,
            s == "gzip",
            "Content-Encoding: gzip only when asked"
        );
    }

    // Each failure is retried with the same request id; then a 200 ends it.
    for s in ["retry500", "accepted", "wrongid", "slow"] {
        let reqs = of(s);
        let ids: Vec<&str> = reqs
            .iter()
            .map(|r| r.body["requestId"].as_str().unwrap())
            .collect();
        assert_eq!(
            reqs.len(),
            2,
            "{s}: a failed attempt, then one retry: {ids:?}"
        );
        assert_eq!(ids[0], ids[1], "{s}: the same request id on every attempt");
        assert_eq!(
            reqs[0].headers["x-amz-firehose-request-id"],
            reqs[1].headers["x-amz-firehose-request-id"]
        );
        assert_eq!(
            reqs[0].body["records"], reqs[1].body["records"],
            "{s}: the same batch"
        );
    }
    for s in ["ok", "gzip", "retry500", "accepted", "wrongid", "slow"] {
        let bucket = server.data_dir().join("s3").join(format!("http-{s}"));
        assert!(local_objects(&bucket).is_empty(), "{s}: nothing failed");
    }

    // `down`: after the retry budget, the batch is in the error output.
    let bucket = server.data_dir().join("s3").join("http-down");
    let got = poll(
        Duration::from_secs(10),
        || local_objects(&bucket),
        |o| !o.is_empty(),
    )
    .await;
    assert_eq!(
        got.len(),
        1,
        "one error object within 10 s: {:?}",
        got.keys()
    );
    let (key, body) = got.iter().next().unwrap();
    let parts: Vec<&str> = key.split('/').collect();
    assert_eq!(parts[0], "http-endpoint-failed", "{key}");
    assert_eq!(
        parts.len(),
        6,
        "{key}: http-endpoint-failed/YYYY/MM/dd/HH/NAME"
    );
    check_object_name(parts[5], "http-down", "1", "");
    let attempts = rec
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|x| x.scenario == "down")
        .count();
    assert!(attempts >= 3, "retried for 2.5 s: {attempts} attempts");
    let lines: Vec<&str> = std::str::from_utf8(body).unwrap().lines().collect();
    assert_eq!(lines.len(), 4, "one line per record: {body:?}");
    for (line, want) in lines.iter().zip(&wants["down"]) {
        assert_field_order(
            line,
            &[
                "attemptsMade",
                "arrivalTimestamp",
                "errorCode",
                "errorMessage",
                "attemptEndingTimestamp",
                "rawData",
            ],
        );
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["attemptsMade"].as_u64(), Some(attempts as u64), "{line}");
        assert_eq!(
            v["errorCode"], "HttpEndpoint.DestinationException",
            "{line}"
        );
        assert!(
            v["errorMessage"].as_str().unwrap().contains("try later"),
            "{line}"
        );
        assert_eq!(B64.decode(v["rawData"].as_str().unwrap()).unwrap(), *want);
        assert!(v["arrivalTimestamp"].is_i64() && v["attemptEndingTimestamp"].is_i64());
        assert!(
            v["attemptEndingTimestamp"].as_i64() >= v["arrivalTimestamp"].as_i64(),
            "{line}"
        );
        assert_eq!(v["subsequenceNumber"], 0, "{line}");
        assert!(v["dataId"].is_string(), "{line}");
    }
}

// ------------------------------------------------------------------ transformation

const FN_URL: &str = "arn:aws:lambda:us-east-1:000000000000:function:upper-url";
const FN_CMD: &str = "arn:aws:lambda:us-east-1:000000000000:function:upper-cmd";

const SCRIPT: &str = r#"
import base64, json, sys
event = json.load(sys.stdin)
out = []
for r in event["records"]:
    data = base64.b64decode(r["data"])
    if data.startswith(b"ok"):
        out.append({"recordId": r["recordId"], "result": "Ok",
                    "data": base64.b64encode(data.upper()).decode()})
    elif data.startswith(b"drop"):
        out.append({"recordId": r["recordId"], "result": "Dropped", "data": r["data"]})
    else:
        out.append({"recordId": r["recordId"], "result": "ProcessingFailed", "data": r["data"]})
json.dump({"records": out}, sys.stdout)
"#;

fn lambda_processing(arn: &str) -> ProcessingConfiguration {
    let param = |n: ProcessorParameterName, v: &str| {
        ProcessorParameter::builder()
            .parameter_name(n)
            .parameter_value(v)
            .build()
            .unwrap()
    };
    ProcessingConfiguration::builder()
        .enabled(true)
        .processors(
            Processor::builder()
                .r#type(ProcessorType::Lambda)
                .parameters(param(ProcessorParameterName::LambdaArn, arn))
                .parameters(param(ProcessorParameterName::LambdaNumberOfRetries, "1"))
                .build()
                .unwrap(),
        )
        .build()
}

/// A Lambda by URL and the same by command (`--function ARN=TARGET`):
/// the delivered object holds exactly the Ok records' new data, Dropped
/// records are gone, ProcessingFailed ones are under `processing-failed/`
/// in AWS's format with the function's ARN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_transformation_by_url_and_by_command() {
    let (rec, base) = test_servers().await;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("transform.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let url_map = format!("{FN_URL}={base}/lambda/upper");
    let cmd_map = format!("{FN_CMD}=cmd:python3 {}", script.display());
    let server = TestServer::start_with(&[
        "--transition-delay-ms",
        "0",
        "--no-throughput-limits",
        "--function",
        &url_map,
        "--function",
        &cmd_map,
    ]);
    let c = client(&server);
    let records: Vec<Vec<u8>> = (0..12)
        .map(|i| format!("{}-{i:02}\n", ["ok", "drop", "fail"][i % 3]).into_bytes())
        .collect();
    let want_ok: String = records
        .iter()
        .filter(|r| r.starts_with(b"ok"))
        .map(|r| String::from_utf8(r.to_ascii_uppercase()).unwrap())
        .collect();
    let want_failed: Vec<&Vec<u8>> = records.iter().filter(|r| r.starts_with(b"fail")).collect();
    for (name, arn) in [("xf-url", FN_URL), ("xf-cmd", FN_CMD)] {
        let conf = s3_dest(name)
            .buffering_hints(hints(1, 0))
            .processing_configuration(lambda_processing(arn))
            .build()
            .unwrap();
        create_s3(&c, name, conf).await;
        put_all(&c, name, &records, 12).await;
    }
    for (name, arn) in [("xf-url", FN_URL), ("xf-cmd", FN_CMD)] {
        let bucket = server.data_dir().join("s3").join(name);
        let split = |o: &BTreeMap<String, Vec<u8>>| {
            let (failed, ok): (Vec<_>, Vec<_>) = o
                .iter()
                .partition(|(k, _)| k.starts_with("processing-failed/"));
            (
                ok.into_iter().map(|(_, b)| b.clone()).collect::<Vec<_>>(),
                failed
                    .into_iter()
                    .map(|(k, b)| (k.clone(), b.clone()))
                    .collect::<Vec<_>>(),
            )
        };
        let got = poll(
            Duration::from_secs(10),
            || local_objects(&bucket),
            |o| {
                let (ok, failed) = split(o);
                ok.iter().map(Vec::len).sum::<usize>() >= want_ok.len()
                    && failed
                        .iter()
                        .map(|(_, b)| b.iter().filter(|c| **c == b'\n').count())
                        .sum::<usize>()
                        >= want_failed.len()
            },
        )
        .await;
        let (ok, failed) = split(&got);
        assert_eq!(
            join_runs(ok),
            want_ok,
            "{name}: exactly the Ok records, transformed, in order: {:?}",
            got.keys()
        );
        let mut lines = Vec::new();
        for (key, body) in &failed {
            let parts: Vec<&str> = key.split('/').collect();
            assert_eq!(
                parts.len(),
                6,
                "{key}: processing-failed/YYYY/MM/dd/HH/NAME"
            );
            check_object_name(parts[5], name, "1", "");
            lines.extend(
                String::from_utf8(body.clone())
                    .unwrap()
                    .lines()
                    .map(str::to_string),
            );
        }
        assert_eq!(lines.len(), want_failed.len(), "{name}: {lines:?}");
        let mut raw = Vec::new();
        for line in &lines {
            assert_field_order(
                line,
                &[
                    "attemptsMade",
                    "arrivalTimestamp",
                    "errorCode",
                    "errorMessage",
                    "attemptEndingTimestamp",
                    "rawData",
                    "lambdaArn",
                ],
            );
            let v: Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["errorCode"], "Lambda.ProcessingFailedStatus", "{line}");
            assert_eq!(v["lambdaArn"], arn, "{line}");
            assert!(v["attemptsMade"].as_u64().unwrap() >= 1, "{line}");
            raw.push(B64.decode(v["rawData"].as_str().unwrap()).unwrap());
        }
        raw.sort();
        let mut want: Vec<Vec<u8>> = want_failed.iter().map(|r| (*r).clone()).collect();
        want.sort();
        assert_eq!(raw, want, "{name}: the failed records' original data");
    }
    // The URL function got the Firehose event.
    let events = rec.events.lock().unwrap().clone();
    assert!(!events.is_empty(), "the URL function was invoked");
    for (path, e) in &events {
        assert_eq!(path, "upper");
        assert_eq!(e["deliveryStreamArn"], stream_arn("xf-url"), "{e}");
        assert_eq!(e["region"], "us-east-1", "{e}");
        assert!(e["invocationId"].is_string(), "{e}");
        for r in e["records"].as_array().unwrap() {
            assert!(
                r["recordId"].is_string() && r["approximateArrivalTimestamp"].is_i64(),
                "{r}"
            );
        }
    }
}

// ------------------------------------------------------------------ Kinesis source

/// A delivery stream reading a Riffle stream across a SplitShard: every
/// record at least once, and per partition key in order, the parent
/// shard's records before its children's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinesis_source_across_split_shard_keeps_key_order() {
    let server = local_server();
    let c = client(&server);
    let k = server.client().await;
    k.create_stream()
        .stream_name("src")
        .shard_count(1)
        .send()
        .await
        .unwrap();
    let active = |k: aws_sdk_kinesis::Client| async move {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let s = k
                .describe_stream_summary()
                .stream_name("src")
                .send()
                .await
                .unwrap();
            let s = s.stream_description_summary().unwrap().clone();
            if s.stream_status() == &aws_sdk_kinesis::types::StreamStatus::Active {
                return s.stream_arn().to_string();
            }
            assert!(Instant::now() < deadline, "src never ACTIVE");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let src_arn = active(k.clone()).await;
    c.create_delivery_stream()
        .delivery_stream_name("from-kinesis")
        .delivery_stream_type(DeliveryStreamType::KinesisStreamAsSource)
        .kinesis_stream_source_configuration(
            KinesisStreamSourceConfiguration::builder()
                .kinesis_stream_arn(&src_arn)
                .role_arn(ROLE)
                .build()
                .unwrap(),
        )
        // 2 s interval: see the ordering of objects below.
        .extended_s3_destination_configuration(
            s3_dest("ks")
                .buffering_hints(hints(128, 2))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    wait_active(&c, "from-kinesis").await;

    const KEYS: usize = 6;
    let put = |k: aws_sdk_kinesis::Client, i: usize| async move {
        let key = format!("pk{}", i % KEYS);
        let out = k
            .put_record()
            .stream_name("src")
            .partition_key(&key)
            .data(aws_sdk_kinesis::primitives::Blob::new(format!(
                "{i:04} {key}\n"
            )))
            .send()
            .await
            .unwrap();
        out.shard_id().to_string()
    };
    for i in 0..24 {
        assert_eq!(put(k.clone(), i).await, "shardId-000000000000");
    }
    k.split_shard()
        .stream_name("src")
        .shard_to_split("shardId-000000000000")
        .new_starting_hash_key("170141183460469231731687303715884105728")
        .send()
        .await
        .unwrap();
    active(k.clone()).await;
    let mut child_shards = HashSet::new();
    for i in 24..48 {
        let shard = put(k.clone(), i).await;
        assert_ne!(
            shard, "shardId-000000000000",
            "record {i} goes to a child shard"
        );
        child_shards.insert(shard);
    }
    assert_eq!(
        child_shards.len(),
        2,
        "both children take records: {child_shards:?}"
    );

    let bucket = server.data_dir().join("s3").join("ks");
    let parse = |objects: &BTreeMap<String, Vec<u8>>| -> Vec<(usize, String)> {
        // Objects in delivery order: an object's batch is read after the
        // previous one was, and the previous one waited 2 s from its oldest
        // record, so their name time stamps (the oldest record's arrival,
        // to the second) differ; ties (none expected) by first record.
        let mut objs: Vec<(chrono::DateTime<chrono::Utc>, &Vec<u8>)> = objects
            .iter()
            .map(|(key, body)| {
                let name = key.rsplit('/').next().unwrap();
                (check_object_name(name, "from-kinesis", "1", ""), body)
            })
            .collect();
        objs.sort();
        objs.iter()
            .flat_map(|(_, b)| std::str::from_utf8(b).unwrap().lines())
            .map(|l| {
                let (n, key) = l.split_once(' ').unwrap();
                (n.parse().unwrap(), key.to_string())
            })
            .collect()
    };
    let got = poll(
        Duration::from_secs(15),
        || parse(&local_objects(&bucket)),
        |g| g.iter().map(|(n, _)| *n).collect::<HashSet<_>>().len() >= 48,
    )
    .await;
    let distinct: HashSet<usize> = got.iter().map(|(n, _)| *n).collect();
    let missing: Vec<usize> = (0..48).filter(|n| !distinct.contains(n)).collect();
    assert!(
        missing.is_empty(),
        "not delivered within 15 s: {missing:?}; got {got:?}"
    );
    // At least once: repeats are allowed; order is judged on first deliveries.
    let mut first = Vec::new();
    let mut seen = HashSet::new();
    for (n, key) in &got {
        if seen.insert(*n) {
            first.push((*n, key.clone()));
        }
    }
    if got.len() > first.len() {
        eprintln!(
            "{} records delivered more than once (allowed: at least once)",
            got.len() - first.len()
        );
    }
    let mut by_key: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (n, key) in &first {
        by_key.entry(key.clone()).or_default().push(*n);
    }
    for (key, ns) in &by_key {
        assert!(
            ns.windows(2).all(|w| w[0] < w[1]),
            "{key}: in put order: {ns:?}"
        );
    }
    let last_parent = first.iter().rposition(|(n, _)| *n < 24).unwrap();
    let first_child = first.iter().position(|(n, _)| *n >= 24).unwrap();
    assert!(
        last_parent < first_child,
        "the parent shard's records before its children's: {first:?}"
    );
}

// ------------------------------------------------------------------ /metrics

/// The value of `family{delivery_stream="stream"}` (counters carry
/// OpenMetrics' `_total` suffix).
fn metric(text: &str, family: &str, stream: &str) -> Option<f64> {
    let labels = format!("{{delivery_stream=\"{stream}\"}} ");
    text.lines().find_map(|l| {
        let rest = l
            .strip_prefix(&format!("{family}_total{labels}"))
            .or_else(|| l.strip_prefix(&format!("{family}{labels}")))?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_puts_and_deliveries() {
    let server = local_server();
    let c = client(&server);
    create_s3(
        &c,
        "metered",
        s3_dest("m").buffering_hints(hints(1, 0)).build().unwrap(),
    )
    .await;
    create_s3(&c, "idle", s3_dest("i").build().unwrap()).await;
    let singles = numbered("single", 3);
    for r in &singles {
        c.put_record()
            .delivery_stream_name("metered")
            .record(record(r.clone()))
            .send()
            .await
            .unwrap();
    }
    let batch = numbered("batched", 5);
    put_all(&c, "metered", &batch, 5).await;
    let bytes = (singles.concat().len() + batch.concat().len()) as f64;

    let http = reqwest::Client::new();
    let url = format!("{}/metrics", server.endpoint());
    let scrape = || async { http.get(&url).send().await.unwrap().text().await.unwrap() };
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = scrape().await;
        if metric(&text, "firehose_delivery_records", "metered") == Some(8.0)
            || Instant::now() > deadline
        {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let m = |family: &str| metric(&text, family, "metered");
    assert_eq!(m("firehose_delivery_records"), Some(8.0), "{text}");
    assert_eq!(m("firehose_incoming_records"), Some(8.0), "{text}");
    assert_eq!(m("firehose_incoming_bytes"), Some(bytes), "{text}");
    assert_eq!(m("firehose_incoming_put_requests"), Some(4.0), "{text}");
    assert_eq!(m("firehose_delivery_bytes"), Some(bytes), "{text}");
    assert!(m("firehose_delivery_success").unwrap() >= 1.0, "{text}");
    assert_eq!(m("firehose_delivery_failure"), Some(0.0), "{text}");
    assert_eq!(m("firehose_throttled_records"), Some(0.0), "{text}");
    let freshness = m("firehose_delivery_data_freshness_seconds").unwrap();
    assert!((0.0..10.0).contains(&freshness), "{freshness}");
    // A stream with nothing put has its series at zero.
    assert_eq!(
        metric(&text, "firehose_incoming_records", "idle"),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "firehose_delivery_records", "idle"),
        Some(0.0),
        "{text}"
    );
    for family in ["firehose_incoming_records", "firehose_delivery_records"] {
        assert!(
            text.contains(&format!("# TYPE {family} counter")),
            "{family}: {text}"
        );
    }
}
