//! Enhanced fan-out end to end, against the real `riffle` binary: consumers
//! through the Rust SDK, `subscribe_to_shard` from every starting position,
//! push delivery, many consumers, a stalled subscriber, the subscription
//! lifetime, takeover, errors before and during streaming, DeleteStream with
//! consumers, HTTP/2 (h2c) with JSON and CBOR payloads, and boto3 over
//! HTTP/1.1.
#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_kinesis::primitives::{Blob, DateTime};
use aws_sdk_kinesis::types::{
    ConsumerStatus, PutRecordsRequestEntry, Record, ShardIteratorType, StartingPosition,
    SubscribeToShardEventStream,
};
use aws_sdk_kinesis::Client;
use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use common::kinesis::{arn, create_stream as create, err, now_ms};
use common::TestServer;
use std::time::{Duration, Instant};

/// Holds the (not publicly nameable) event receiver in `event_stream`.
type Events = aws_sdk_kinesis::operation::subscribe_to_shard::SubscribeToShardOutput;

const SHARD0: &str = "shardId-000000000000";

async fn register(c: &Client, stream: &str, name: &str) -> String {
    let out = c
        .register_stream_consumer()
        .stream_arn(arn(stream))
        .consumer_name(name)
        .send()
        .await
        .unwrap();
    let consumer = out.consumer().unwrap();
    assert_eq!(consumer.consumer_name(), name);
    consumer.consumer_arn().to_string()
}

async fn put(c: &Client, stream: &str, data: &str) -> Record {
    let out = c
        .put_record()
        .stream_name(stream)
        .partition_key("pk")
        .data(Blob::new(data.as_bytes()))
        .send()
        .await
        .unwrap();
    Record::builder()
        .sequence_number(out.sequence_number())
        .data(Blob::new(data.as_bytes()))
        .partition_key("pk")
        .build()
        .unwrap()
}

fn position(kind: ShardIteratorType) -> aws_sdk_kinesis::types::builders::StartingPositionBuilder {
    StartingPosition::builder().r#type(kind)
}

async fn subscribe(
    c: &Client,
    consumer: &str,
    shard: &str,
    pos: aws_sdk_kinesis::types::builders::StartingPositionBuilder,
) -> Events {
    c.subscribe_to_shard()
        .consumer_arn(consumer)
        .shard_id(shard)
        .starting_position(pos.build().unwrap())
        .send()
        .await
        .unwrap()
}

/// What one subscription delivered: record data and sequence numbers, and the last event.
#[derive(Default, Debug)]
struct Got {
    data: Vec<String>,
    seqs: Vec<String>,
    continuation: String,
    child_shards: Vec<aws_sdk_kinesis::types::ChildShard>,
    ended: bool,
}

/// Receives until `n` records have arrived (or the stream ends).
async fn receive(events: &mut Events, n: usize, within: Duration) -> Got {
    let mut got = Got::default();
    let deadline = Instant::now() + within;
    while got.data.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(next) = tokio::time::timeout(left, events.event_stream.recv()).await else {
            panic!("only {} of {n} records arrived", got.data.len())
        };
        let next = next.unwrap();
        match next {
            Some(SubscribeToShardEventStream::SubscribeToShardEvent(ev)) => {
                for r in ev.records() {
                    got.data
                        .push(String::from_utf8(r.data().as_ref().to_vec()).unwrap());
                    got.seqs.push(r.sequence_number().to_string());
                }
                got.continuation = ev.continuation_sequence_number().to_string();
                got.child_shards = ev.child_shards().to_vec();
                if !got.child_shards.is_empty() {
                    got.ended = true;
                    break;
                }
            }
            Some(other) => panic!("unexpected event {other:?}"),
            None => {
                got.ended = true;
                break;
            }
        }
    }
    got
}

fn datas(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8(r.data().as_ref().to_vec()).unwrap())
        .collect()
}

#[tokio::test]
async fn every_starting_position_delivers_every_record_in_order() {
    let server = TestServer::start();
    let c = server.client().await;
    create(&c, "pos", 1).await;
    let mut written = vec![];
    for i in 0..3 {
        written.push(put(&c, "pos", &format!("r{i}")).await);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let t = now_ms();
    tokio::time::sleep(Duration::from_millis(50)).await;
    for i in 3..5 {
        written.push(put(&c, "pos", &format!("r{i}")).await);
    }
    let seq2 = written[2].sequence_number().to_string();
    let cases: Vec<(
        &str,
        aws_sdk_kinesis::types::builders::StartingPositionBuilder,
        usize,
    )> = vec![
        ("trim", position(ShardIteratorType::TrimHorizon), 0),
        ("latest", position(ShardIteratorType::Latest), 5),
        (
            "at-seq",
            position(ShardIteratorType::AtSequenceNumber).sequence_number(&seq2),
            2,
        ),
        (
            "after-seq",
            position(ShardIteratorType::AfterSequenceNumber).sequence_number(&seq2),
            3,
        ),
        (
            "at-ts",
            position(ShardIteratorType::AtTimestamp).timestamp(DateTime::from_millis(t)),
            3,
        ),
    ];
    let mut subs = vec![];
    for (name, pos, first) in cases {
        let consumer = register(&c, "pos", name).await;
        subs.push((name, subscribe(&c, &consumer, SHARD0, pos).await, first));
    }
    // Written after every subscription started: pushed to all of them.
    for i in 5..8 {
        written.push(put(&c, "pos", &format!("r{i}")).await);
    }
    for (name, mut events, first) in subs {
        let want = &written[first..];
        let got = receive(&mut events, want.len(), Duration::from_secs(20)).await;
        assert_eq!(got.data, datas(want), "{name}");
        let want_seqs: Vec<&str> = want.iter().map(|r| r.sequence_number()).collect();
        assert_eq!(got.seqs, want_seqs, "{name}");
        assert_eq!(got.continuation, written[7].sequence_number(), "{name}");
        assert!(!got.ended, "{name}");
    }
}

#[tokio::test]
async fn many_consumers_get_the_full_stream_and_a_stalled_one_slows_nobody() {
    let server = TestServer::start();
    let c = server.client().await;
    create(&c, "fan", 1).await;
    let stalled_arn = register(&c, "fan", "stalled").await;
    // Subscribed, and then never read from again.
    let _stalled = subscribe(
        &c,
        &stalled_arn,
        SHARD0,
        position(ShardIteratorType::TrimHorizon),
    )
    .await;
    let mut readers = vec![];
    for i in 0..5 {
        let consumer = register(&c, "fan", &format!("c{i}")).await;
        let mut events = subscribe(
            &c,
            &consumer,
            SHARD0,
            position(ShardIteratorType::TrimHorizon),
        )
        .await;
        readers.push(tokio::spawn(async move {
            receive(&mut events, 3000, Duration::from_secs(60)).await
        }));
    }
    // 3000 records of ~1 KiB: more than the stalled reader's socket buffers take.
    let payload = "x".repeat(1000);
    let started = Instant::now();
    for batch in 0..30 {
        let entries = (0..100)
            .map(|i| {
                PutRecordsRequestEntry::builder()
                    .partition_key("pk")
                    .data(Blob::new(format!("{:05}{payload}", batch * 100 + i)))
                    .build()
                    .unwrap()
            })
            .collect::<Vec<_>>();
        let out = c
            .put_records()
            .stream_name("fan")
            .set_records(Some(entries))
            .send()
            .await
            .unwrap();
        assert_eq!(out.failed_record_count(), Some(0));
    }
    let produced_in = started.elapsed();
    assert!(
        produced_in < Duration::from_secs(20),
        "producing took {produced_in:?}"
    );
    for r in readers {
        let got = r.await.unwrap();
        assert_eq!(got.data.len(), 3000);
        for (i, d) in got.data.iter().enumerate() {
            assert_eq!(&d[..5], format!("{i:05}"), "out of order at {i}");
        }
    }
    // 3 MB to each reader at 2 MiB/s each, in parallel: a few seconds, not a stall.
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[tokio::test]
async fn a_subscription_ends_cleanly_after_its_lifetime_and_resumes() {
    let server = TestServer::start_with(&[
        "--transition-delay-ms",
        "0",
        "--no-throughput-limits",
        "--subscription-lifetime-ms",
        "2500",
    ]);
    let c = server.client().await;
    create(&c, "life", 1).await;
    let consumer = register(&c, "life", "c").await;
    put(&c, "life", "before").await;
    let started = Instant::now();
    let mut events = subscribe(
        &c,
        &consumer,
        SHARD0,
        position(ShardIteratorType::TrimHorizon),
    )
    .await;
    let got = receive(&mut events, usize::MAX, Duration::from_secs(20)).await;
    let took = started.elapsed();
    assert!(got.ended);
    assert!(got.child_shards.is_empty());
    assert_eq!(got.data, ["before"]);
    assert!(
        took >= Duration::from_millis(2000) && took < Duration::from_secs(10),
        "{took:?}"
    );
    // The client resumes after the last continuation, as the KCL does.
    put(&c, "life", "after").await;
    let mut events = subscribe(
        &c,
        &consumer,
        SHARD0,
        position(ShardIteratorType::AfterSequenceNumber).sequence_number(&got.continuation),
    )
    .await;
    let got = receive(&mut events, 1, Duration::from_secs(10)).await;
    assert_eq!(got.data, ["after"]);
}

#[tokio::test]
async fn consumer_lifecycle_limits_and_errors() {
    let server = TestServer::start_with(&[
        "--transition-delay-ms",
        "0",
        "--no-throughput-limits",
        "--max-consumers",
        "3",
    ]);
    let c = server.client().await;
    create(&c, "life", 2).await;
    let a = register(&c, "life", "a").await;
    let created = c
        .describe_stream_consumer()
        .consumer_arn(&a)
        .send()
        .await
        .unwrap();
    let d = created.consumer_description().unwrap();
    let secs = d.consumer_creation_timestamp().secs();
    assert_eq!(a, format!("{}/consumer/a:{secs}", arn("life")));
    assert_eq!(d.consumer_status(), &ConsumerStatus::Active);
    assert_eq!(d.stream_arn(), arn("life"));
    let by_name = c
        .describe_stream_consumer()
        .stream_arn(arn("life"))
        .consumer_name("a")
        .send()
        .await
        .unwrap();
    assert_eq!(by_name.consumer_description().unwrap().consumer_arn(), a);
    register(&c, "life", "b").await;
    register(&c, "life", "c").await;
    let (code, msg) = err(c
        .register_stream_consumer()
        .stream_arn(arn("life"))
        .consumer_name("d")
        .send()
        .await);
    assert_eq!(code, "LimitExceededException", "{msg}");
    let (code, _) = err(c
        .register_stream_consumer()
        .stream_arn(arn("life"))
        .consumer_name("a")
        .send()
        .await);
    assert_eq!(code, "ResourceInUseException");
    let (code, _) = err(c
        .register_stream_consumer()
        .stream_arn(arn("nope"))
        .consumer_name("a")
        .send()
        .await);
    assert_eq!(code, "ResourceNotFoundException");
    // Pagination.
    let first = c
        .list_stream_consumers()
        .stream_arn(arn("life"))
        .max_results(2)
        .send()
        .await
        .unwrap();
    assert_eq!(first.consumers().len(), 2);
    let rest = c
        .list_stream_consumers()
        .stream_arn(arn("life"))
        .next_token(first.next_token().unwrap())
        .send()
        .await
        .unwrap();
    assert!(rest.next_token().is_none());
    let mut names: Vec<&str> = first
        .consumers()
        .iter()
        .chain(rest.consumers())
        .map(|c| c.consumer_name())
        .collect();
    names.sort();
    assert_eq!(names, ["a", "b", "c"]);
    let summary = c
        .describe_stream_summary()
        .stream_name("life")
        .send()
        .await
        .unwrap();
    assert_eq!(
        summary
            .stream_description_summary()
            .unwrap()
            .consumer_count(),
        Some(3)
    );
    // Tags on a consumer ARN.
    c.tag_resource()
        .resource_arn(&a)
        .tags("team", "data")
        .send()
        .await
        .unwrap();
    let tags = c
        .list_tags_for_resource()
        .resource_arn(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags().len(), 1);
    assert_eq!(tags.tags()[0].key(), "team");
    c.untag_resource()
        .resource_arn(&a)
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    let tags = c
        .list_tags_for_resource()
        .resource_arn(&a)
        .send()
        .await
        .unwrap();
    assert!(tags.tags().is_empty());
    // Errors before streaming are plain HTTP 400s.
    let bad = format!("{}/consumer/zzz:1", arn("life"));
    let (code, _) = err(c.describe_stream_consumer().consumer_arn(&bad).send().await);
    assert_eq!(code, "ResourceNotFoundException");
    let (code, _) = err(c
        .subscribe_to_shard()
        .consumer_arn(&bad)
        .shard_id(SHARD0)
        .starting_position(position(ShardIteratorType::Latest).build().unwrap())
        .send()
        .await);
    assert_eq!(code, "ResourceNotFoundException");
    let (code, _) = err(c
        .subscribe_to_shard()
        .consumer_arn(&a)
        .shard_id("shardId-000000000009")
        .starting_position(position(ShardIteratorType::Latest).build().unwrap())
        .send()
        .await);
    assert_eq!(code, "ResourceNotFoundException");
    let (code, _) = err(c
        .subscribe_to_shard()
        .consumer_arn(&a)
        .shard_id(SHARD0)
        .starting_position(
            position(ShardIteratorType::AtSequenceNumber)
                .build()
                .unwrap(),
        )
        .send()
        .await);
    assert_eq!(code, "InvalidArgumentException");
    // A second subscription within 5 s of the first is refused.
    let mut live = subscribe(&c, &a, SHARD0, position(ShardIteratorType::Latest)).await;
    let (code, _) = err(c
        .subscribe_to_shard()
        .consumer_arn(&a)
        .shard_id(SHARD0)
        .starting_position(position(ShardIteratorType::Latest).build().unwrap())
        .send()
        .await);
    assert_eq!(code, "ResourceInUseException");
    // The other shard is a different subscription.
    let _other = subscribe(
        &c,
        &a,
        "shardId-000000000001",
        position(ShardIteratorType::Latest),
    )
    .await;
    // Deregister, then DeleteStream needs EnforceConsumerDeletion while consumers remain.
    c.deregister_stream_consumer()
        .stream_arn(arn("life"))
        .consumer_name("c")
        .send()
        .await
        .unwrap();
    let (code, _) = err(c
        .describe_stream_consumer()
        .stream_arn(arn("life"))
        .consumer_name("c")
        .send()
        .await);
    assert_eq!(code, "ResourceNotFoundException");
    let (code, msg) = err(c.delete_stream().stream_name("life").send().await);
    assert_eq!(code, "ResourceInUseException", "{msg}");
    c.delete_stream()
        .stream_name("life")
        .enforce_consumer_deletion(true)
        .send()
        .await
        .unwrap();
    // The live subscription ends with an exception event.
    let deadline = Instant::now() + Duration::from_secs(15);
    let failure = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, live.event_stream.recv())
            .await
            .unwrap()
        {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the subscription ended without an error"),
            Err(e) => break e,
        }
    };
    let text = format!("{failure:?}");
    assert!(text.contains("ResourceNotFoundException"), "{text}");
}

#[tokio::test]
async fn consumers_are_creating_until_the_transition_delay() {
    let server =
        TestServer::start_with(&["--transition-delay-ms", "300", "--no-throughput-limits"]);
    let c = server.client().await;
    create(&c, "slow", 1).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let out = c
        .register_stream_consumer()
        .stream_arn(arn("slow"))
        .consumer_name("c")
        .send()
        .await
        .unwrap();
    let consumer = out.consumer().unwrap();
    assert_eq!(consumer.consumer_status(), &ConsumerStatus::Creating);
    let (code, _) = err(c
        .subscribe_to_shard()
        .consumer_arn(consumer.consumer_arn())
        .shard_id(SHARD0)
        .starting_position(position(ShardIteratorType::Latest).build().unwrap())
        .send()
        .await);
    assert_eq!(code, "ResourceInUseException");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let d = c
        .describe_stream_consumer()
        .consumer_arn(consumer.consumer_arn())
        .send()
        .await
        .unwrap();
    assert_eq!(
        d.consumer_description().unwrap().consumer_status(),
        &ConsumerStatus::Active
    );
    c.deregister_stream_consumer()
        .consumer_arn(consumer.consumer_arn())
        .send()
        .await
        .unwrap();
    let d = c
        .describe_stream_consumer()
        .consumer_arn(consumer.consumer_arn())
        .send()
        .await
        .unwrap();
    assert_eq!(
        d.consumer_description().unwrap().consumer_status(),
        &ConsumerStatus::Deleting
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (code, _) = err(c
        .describe_stream_consumer()
        .consumer_arn(consumer.consumer_arn())
        .send()
        .await);
    assert_eq!(code, "ResourceNotFoundException");
}

/// Raw frames of a SubscribeToShard response over h2c (prior knowledge, as the
/// Java SDK's HTTP/2 client speaks it without TLS).
async fn h2_subscribe(
    server: &TestServer,
    content_type: &str,
    body: Vec<u8>,
    frames: usize,
) -> (
    reqwest::Response,
    Vec<aws_smithy_types::event_stream::Message>,
) {
    let http = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let mut resp = http
        .post(server.endpoint())
        .header("content-type", content_type)
        .header("x-amz-target", "Kinesis_20131202.SubscribeToShard")
        .header("x-amz-date", "20260101T000000Z")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=abcd",
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    let mut buf = bytes::BytesMut::new();
    let mut dec = MessageFrameDecoder::new();
    let mut out = vec![];
    while out.len() < frames {
        if let DecodedFrame::Complete(m) = dec.decode_frame(&mut buf).unwrap() {
            out.push(m);
            continue;
        }
        let chunk = tokio::time::timeout(Duration::from_secs(10), resp.chunk())
            .await
            .unwrap()
            .unwrap()
            .expect("the stream ended early");
        buf.extend_from_slice(&chunk);
    }
    (resp, out)
}

fn header<'a>(m: &'a aws_smithy_types::event_stream::Message, name: &str) -> &'a str {
    m.headers()
        .iter()
        .find(|h| h.name().as_str() == name)
        .and_then(|h| h.value().as_string().ok())
        .map(|s| s.as_str())
        .unwrap_or("")
}

#[tokio::test]
async fn h2c_streams_json_and_cbor_events() {
    let server = TestServer::start();
    let c = server.client().await;
    create(&c, "h2", 1).await;
    let json_consumer = register(&c, "h2", "json").await;
    let cbor_consumer = register(&c, "h2", "cbor").await;
    put(&c, "h2", "hello").await;

    let body = serde_json::json!({
        "ConsumerARN": json_consumer,
        "ShardId": SHARD0,
        "StartingPosition": {"Type": "TRIM_HORIZON"},
    });
    let (resp, frames) = h2_subscribe(
        &server,
        "application/x-amz-json-1.1",
        serde_json::to_vec(&body).unwrap(),
        2,
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers().get("content-type").unwrap(),
        "application/vnd.amazon.eventstream"
    );
    assert!(resp.headers().get("content-length").is_none());
    assert!(resp.headers().get("x-amzn-requestid").is_some());
    assert_eq!(header(&frames[0], ":event-type"), "initial-response");
    assert_eq!(header(&frames[1], ":event-type"), "SubscribeToShardEvent");
    assert_eq!(header(&frames[1], ":content-type"), "application/json");
    let ev: serde_json::Value = serde_json::from_slice(frames[1].payload()).unwrap();
    assert_eq!(ev["Records"][0]["Data"], "aGVsbG8=");
    assert!(ev["Records"][0]["ApproximateArrivalTimestamp"].is_number());
    assert!(ev["ContinuationSequenceNumber"].is_string());
    assert_eq!(ev["MillisBehindLatest"], 0);
    drop(resp);

    let mut body = vec![];
    ciborium::ser::into_writer(
        &ciborium::Value::Map(vec![
            ("ConsumerARN".into(), cbor_consumer.as_str().into()),
            ("ShardId".into(), SHARD0.into()),
            (
                "StartingPosition".into(),
                ciborium::Value::Map(vec![("Type".into(), "TRIM_HORIZON".into())]),
            ),
        ]),
        &mut body,
    )
    .unwrap();
    let (_resp, frames) = h2_subscribe(&server, "application/x-amz-cbor-1.1", body, 2).await;
    assert_eq!(
        header(&frames[1], ":content-type"),
        "application/x-amz-cbor-1.1"
    );
    let ev: ciborium::Value = ciborium::de::from_reader(&frames[1].payload()[..]).unwrap();
    let get = |v: &ciborium::Value, k: &str| {
        v.as_map()
            .unwrap()
            .iter()
            .find(|(key, _)| key.as_text() == Some(k))
            .unwrap()
            .1
            .clone()
    };
    let rec = get(&ev, "Records").as_array().unwrap()[0].clone();
    assert_eq!(get(&rec, "Data").as_bytes().unwrap().as_slice(), b"hello");
    assert!(get(&rec, "ApproximateArrivalTimestamp").is_integer());

    // An error before streaming is an ordinary JSON 400.
    let http = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let resp = http
        .post(server.endpoint())
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", "Kinesis_20131202.SubscribeToShard")
        .header("x-amz-date", "20260101T000000Z")
        .header("authorization", "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=abcd")
        .body(
            serde_json::to_vec(&serde_json::json!({
                "ConsumerARN": format!("{}/consumer/none:1", arn("h2")),
                "ShardId": SHARD0,
                "StartingPosition": {"Type": "LATEST"},
            }))
            .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: serde_json::Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(v["__type"], "ResourceNotFoundException");
}

#[test]
fn boto3_subscribe_to_shard_over_http1() {
    let have_boto3 = std::process::Command::new("python3")
        .args(["-c", "import boto3"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !have_boto3 {
        if std::env::var_os("CI").is_some() {
            panic!("boto3 is required in CI (.ci/run installs it)");
        }
        eprintln!("\n\n!!!!!!!! SKIPPED boto3_subscribe_to_shard_over_http1: python3 has no boto3 (pip install boto3) !!!!!!!!\n\n");
        return;
    }
    let server = TestServer::start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/efo_boto3.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(server.endpoint())
        .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "boto3 script failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("EFO-BOTO3-OK"), "{stdout}\n{stderr}");
}

#[tokio::test]
async fn a_split_ends_the_parent_subscription_with_child_shards() {
    let server = TestServer::start();
    let c = server.client().await;
    create(&c, "split", 1).await;
    let consumer = register(&c, "split", "c").await;
    let mut parent = subscribe(
        &c,
        &consumer,
        SHARD0,
        position(ShardIteratorType::TrimHorizon),
    )
    .await;
    let before = put(&c, "split", "before").await;
    c.split_shard()
        .stream_name("split")
        .shard_to_split(SHARD0)
        .new_starting_hash_key((1u128 << 127).to_string())
        .send()
        .await
        .unwrap();
    let after_shard = c
        .put_record()
        .stream_name("split")
        .partition_key("pk")
        .data(Blob::new("after"))
        .send()
        .await
        .unwrap()
        .shard_id()
        .to_string();
    let got = receive(&mut parent, usize::MAX, Duration::from_secs(20)).await;
    assert!(got.ended);
    assert_eq!(got.data, ["before"]);
    assert_eq!(got.seqs, [before.sequence_number()]);
    // The shard-end event: no continuation, both children, each naming the parent.
    assert_eq!(got.continuation, "");
    let mut children: Vec<String> = got
        .child_shards
        .iter()
        .map(|c| {
            assert_eq!(c.parent_shards(), [SHARD0]);
            c.shard_id().to_string()
        })
        .collect();
    children.sort();
    assert_eq!(children, ["shardId-000000000001", "shardId-000000000002"]);
    // Then the stream ends.
    let end = tokio::time::timeout(Duration::from_secs(10), parent.event_stream.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(end.is_none(), "{end:?}");
    // The child that took the record has it from TRIM_HORIZON.
    let mut found = vec![];
    for child in &children {
        let mut events = subscribe(
            &c,
            &consumer,
            child,
            position(ShardIteratorType::TrimHorizon),
        )
        .await;
        let n = if after_shard == *child { 1 } else { 0 };
        if n > 0 {
            found.extend(receive(&mut events, n, Duration::from_secs(10)).await.data);
        }
    }
    assert_eq!(found, ["after"]);
}

#[tokio::test]
async fn records_are_pushed_without_a_polling_interval() {
    let server = TestServer::start();
    let c = server.client().await;
    create(&c, "push", 1).await;
    let consumer = register(&c, "push", "c").await;
    let mut events = subscribe(&c, &consumer, SHARD0, position(ShardIteratorType::Latest)).await;
    // The first (empty) event comes at once; the next heartbeat is 2 s away.
    tokio::time::timeout(Duration::from_secs(5), events.event_stream.recv())
        .await
        .unwrap()
        .unwrap();
    let mut latencies = vec![];
    for i in 0..20 {
        let started = Instant::now();
        put(&c, "push", &format!("p{i}")).await;
        let got = receive(&mut events, 1, Duration::from_secs(10)).await;
        latencies.push(started.elapsed());
        assert_eq!(got.data, [format!("p{i}")]);
    }
    latencies.sort();
    eprintln!(
        "put-to-push latency over 20 records (PutRecord call start to event received): median {:?}, max {:?}",
        latencies[10], latencies[19]
    );
    // Well under the 2 s heartbeat: delivery is driven by the append, not a timer.
    assert!(latencies[10] < Duration::from_millis(500), "{latencies:?}");
}

/// A stand-in Kinesis endpoint that answers every request with an empty
/// ListStreams result and records the HTTP version each request came in on. It
/// serves HTTP/1.1 and h2c alike (hyper's auto server sniffs the h2 preface),
/// so it reports whatever the client really spoke.
async fn version_probe() -> (String, std::sync::Arc<std::sync::Mutex<Vec<http::Version>>>) {
    use http_body_util::Full;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(vec![]));
    let versions = seen.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let seen = seen.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: http::Request<_>| {
                    seen.lock().unwrap().push(req.version());
                    drop(req);
                    async {
                        Ok::<_, std::convert::Infallible>(
                            http::Response::builder()
                                .header("content-type", "application/x-amz-json-1.1")
                                .body(Full::new(bytes::Bytes::from_static(
                                    br#"{"StreamNames":["probe"],"HasMoreStreams":false}"#,
                                )))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    (endpoint, versions)
}

#[tokio::test]
async fn the_h2c_sdk_client_speaks_http2() {
    let (endpoint, seen) = version_probe().await;
    // Control: the SDK's default client speaks HTTP/1.1 to a plain-TCP endpoint,
    // so the probe does tell the two apart.
    let out = common::client_for(&endpoint)
        .await
        .list_streams()
        .send()
        .await
        .unwrap();
    assert_eq!(out.stream_names(), ["probe"]);
    assert_eq!(*seen.lock().unwrap(), [http::Version::HTTP_11]);
    seen.lock().unwrap().clear();
    let h2c = common::h2c::h2c_client_for(&endpoint).await;
    for _ in 0..2 {
        let out = h2c.list_streams().send().await.unwrap();
        assert_eq!(out.stream_names(), ["probe"]);
    }
    assert_eq!(
        *seen.lock().unwrap(),
        [http::Version::HTTP_2, http::Version::HTTP_2]
    );
}

/// Issue #4: the Rust SDK's `subscribe_to_shard` over HTTP/2 (h2c) receives
/// every record written, in order, across a resharding. Every call in this test,
/// control plane included, goes through the h2c client (which cannot fall back
/// to HTTP/1.1; `the_h2c_sdk_client_speaks_http2` shows it speaks h2).
#[tokio::test]
async fn sdk_subscribe_to_shard_over_h2c_across_a_split() {
    let server = TestServer::start();
    let c = common::h2c::h2c_client_for(&server.endpoint()).await;
    create(&c, "h2split", 1).await;
    let listed = c.list_streams().send().await.unwrap();
    assert_eq!(listed.stream_names(), ["h2split"]);
    let consumer = register(&c, "h2split", "c").await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let d = c
            .describe_stream_consumer()
            .consumer_arn(&consumer)
            .send()
            .await
            .unwrap();
        if d.consumer_description().unwrap().consumer_status() == &ConsumerStatus::Active {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the consumer never became ACTIVE"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let mut written = vec![];
    for i in 0..5 {
        written.push(put(&c, "h2split", &format!("before-{i}")).await);
    }
    let mut parent = subscribe(
        &c,
        &consumer,
        SHARD0,
        position(ShardIteratorType::TrimHorizon),
    )
    .await;
    let mut data = vec![];
    let mut seqs = vec![];
    // The backlog arrives while the response is still open: streamed, not buffered.
    let got = receive(&mut parent, 5, Duration::from_secs(5)).await;
    assert!(!got.ended);
    data.extend(got.data);
    seqs.extend(got.seqs);

    // Written during the subscription: single records and a batch.
    for i in 0..5 {
        written.push(put(&c, "h2split", &format!("during-{i}")).await);
    }
    let entries = (0..50)
        .map(|i| {
            PutRecordsRequestEntry::builder()
                .partition_key(format!("pk{i}"))
                .data(Blob::new(format!("batch-{i}")))
                .build()
                .unwrap()
        })
        .collect::<Vec<_>>();
    let out = c
        .put_records()
        .stream_name("h2split")
        .set_records(Some(entries))
        .send()
        .await
        .unwrap();
    assert_eq!(out.failed_record_count(), Some(0));
    for (i, r) in out.records().iter().enumerate() {
        written.push(
            Record::builder()
                .sequence_number(r.sequence_number().unwrap())
                .data(Blob::new(format!("batch-{i}")))
                .partition_key(format!("pk{i}"))
                .build()
                .unwrap(),
        );
    }
    let got = receive(&mut parent, 55, Duration::from_secs(5)).await;
    assert!(!got.ended);
    data.extend(got.data);
    seqs.extend(got.seqs);
    written.push(put(&c, "h2split", "last-before-split").await);

    c.split_shard()
        .stream_name("h2split")
        .shard_to_split(SHARD0)
        .new_starting_hash_key((1u128 << 127).to_string())
        .send()
        .await
        .unwrap();
    // Goes to a child, never to the parent's subscription.
    c.put_record()
        .stream_name("h2split")
        .partition_key("pk")
        .data(Blob::new("after-split"))
        .send()
        .await
        .unwrap();

    let got = receive(&mut parent, usize::MAX, Duration::from_secs(5)).await;
    assert!(got.ended);
    data.extend(got.data);
    seqs.extend(got.seqs);
    // Every record written to the parent, once each, in order.
    assert_eq!(data, datas(&written));
    let want_seqs: Vec<&str> = written.iter().map(|r| r.sequence_number()).collect();
    assert_eq!(seqs, want_seqs);
    // The shard-end event: no continuation, both children, each naming the parent.
    assert_eq!(got.continuation, "");
    let mut children: Vec<String> = got
        .child_shards
        .iter()
        .map(|c| {
            assert_eq!(c.parent_shards(), [SHARD0]);
            c.shard_id().to_string()
        })
        .collect();
    children.sort();
    assert_eq!(children, ["shardId-000000000001", "shardId-000000000002"]);
    // Then the stream ends.
    let end = tokio::time::timeout(Duration::from_secs(5), parent.event_stream.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(end.is_none(), "{end:?}");
}
