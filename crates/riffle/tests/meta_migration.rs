//! The real binary on a data directory written by the landed format (metadata
//! schema version 1, see `fixtures/landed-v1/README.md`): it migrates
//! `meta.redb` on start and serves every stream, record and setting as before.
#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_kinesis::types::{ConsumerStatus, MetricsName, ShardIteratorType, StreamStatus};
use aws_sdk_kinesis::Client;
use common::kinesis::{arn, put_record, sid, trim_horizon};
use common::TestServer;
use std::collections::BTreeMap;
use std::path::Path;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/landed-v1");

/// A record of `records.jsonl`: what PutRecord returned for it.
#[derive(Clone, Debug, PartialEq)]
struct Put {
    stream: String,
    shard: String,
    seq: String,
    pk: String,
    data: Vec<u8>,
}

fn fixture_records() -> Vec<Put> {
    let text = std::fs::read_to_string(format!("{FIXTURE}/records.jsonl")).unwrap();
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let s = |k: &str| v[k].as_str().unwrap().to_string();
            Put {
                stream: s("stream"),
                shard: s("shard"),
                seq: s("seq"),
                pk: s("pk"),
                data: s("data").into_bytes(),
            }
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// Every record of every shard, from TRIM_HORIZON, in shard order.
async fn read_all(c: &Client, stream: &str, shards: u32) -> Vec<Put> {
    let mut out = Vec::new();
    for i in 0..shards {
        let it = trim_horizon(c, stream, &sid(i)).await;
        let page = c.get_records().shard_iterator(it).send().await.unwrap();
        for r in page.records() {
            out.push(Put {
                stream: stream.into(),
                shard: sid(i),
                seq: r.sequence_number().into(),
                pk: r.partition_key().unwrap_or_default().into(),
                data: r.data().as_ref().to_vec(),
            });
        }
    }
    out
}

/// The fixture's records grouped as `read_all` returns them.
fn expected(stream: &str) -> Vec<Put> {
    let mut v: Vec<Put> = fixture_records()
        .into_iter()
        .filter(|p| p.stream == stream)
        .collect();
    v.sort_by(|a, b| (&a.shard, a.seq.len(), &a.seq).cmp(&(&b.shard, b.seq.len(), &b.seq)));
    v
}

async fn check_metadata(c: &Client) {
    let names = c.list_streams().send().await.unwrap();
    assert_eq!(names.stream_names(), ["fixture-tagged", "fixture-two"]);

    let two = c
        .describe_stream_summary()
        .stream_name("fixture-two")
        .send()
        .await
        .unwrap();
    let two = two.stream_description_summary().unwrap();
    assert_eq!(two.stream_status(), &StreamStatus::Active);
    assert_eq!(two.open_shard_count(), 2);
    assert_eq!(two.retention_period_hours(), 24);
    let metrics: Vec<MetricsName> = two
        .enhanced_monitoring()
        .iter()
        .flat_map(|m| m.shard_level_metrics().to_vec())
        .collect();
    assert_eq!(metrics, [MetricsName::IncomingBytes]);

    let tagged = c
        .describe_stream_summary()
        .stream_name("fixture-tagged")
        .send()
        .await
        .unwrap();
    let tagged = tagged.stream_description_summary().unwrap();
    assert_eq!(tagged.open_shard_count(), 1);
    assert_eq!(tagged.retention_period_hours(), 48);
    assert_eq!(tagged.consumer_count(), Some(1));

    let tags = c
        .list_tags_for_stream()
        .stream_name("fixture-tagged")
        .send()
        .await
        .unwrap();
    let tags: BTreeMap<&str, &str> = tags
        .tags()
        .iter()
        .map(|t| (t.key(), t.value().unwrap_or_default()))
        .collect();
    assert_eq!(tags, BTreeMap::from([("env", "fixture"), ("team", "meta")]));

    let consumers = c
        .list_stream_consumers()
        .stream_arn(arn("fixture-tagged"))
        .send()
        .await
        .unwrap();
    let consumers = consumers.consumers();
    assert_eq!(consumers.len(), 1);
    assert_eq!(consumers[0].consumer_name(), "fixture-consumer");
    assert_eq!(consumers[0].consumer_status(), &ConsumerStatus::Active);
    assert!(consumers[0].consumer_arn().starts_with(&format!(
        "{}/consumer/fixture-consumer:",
        arn("fixture-tagged")
    )));

    let settings = c.describe_account_settings().send().await.unwrap();
    let commitment = settings.minimum_throughput_billing_commitment().unwrap();
    assert_eq!(commitment.status().as_str(), "ENABLED");
    assert!(commitment.started_at().is_some());
}

async fn raise_retention(c: &Client) {
    // The records are older than 24 h by the time this runs; reads skip
    // records past retention, so open the window to its maximum first.
    for s in ["fixture-two", "fixture-tagged"] {
        c.increase_stream_retention_period()
            .stream_name(s)
            .retention_period_hours(8760)
            .send()
            .await
            .unwrap();
    }
}

async fn check_records(c: &Client) {
    assert_eq!(
        read_all(c, "fixture-two", 2).await,
        expected("fixture-two"),
        "fixture-two (if the fixture is older than 365 days, its records are past retention)"
    );
    assert_eq!(
        read_all(c, "fixture-tagged", 1).await,
        expected("fixture-tagged")
    );
    // Each original sequence number still addresses its record.
    for p in fixture_records() {
        let it = c
            .get_shard_iterator()
            .stream_name(&p.stream)
            .shard_id(&p.shard)
            .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
            .starting_sequence_number(&p.seq)
            .send()
            .await
            .unwrap();
        let page = c
            .get_records()
            .shard_iterator(it.shard_iterator().unwrap())
            .limit(1)
            .send()
            .await
            .unwrap();
        let r = &page.records()[0];
        assert_eq!(r.sequence_number(), p.seq);
        assert_eq!(r.data().as_ref(), p.data.as_slice());
    }
}

#[tokio::test]
async fn landed_data_dir_is_migrated_and_served() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    copy_dir(&Path::new(FIXTURE).join("data"), &data);
    let args = [
        "--transition-delay-ms",
        "0",
        "--no-throughput-limits",
        "--retention-check-ms",
        "86400000",
    ];
    let mut server = TestServer::start_on(&data, &args);
    let c = server.client().await;
    check_metadata(&c).await;
    raise_retention(&c).await;
    check_records(&c).await;

    // The log and the migrated metadata go on together: a new record follows
    // the fixture's last one in its shard.
    let (shard, seq) = put_record(&c, "fixture-tagged", "pk-new", b"after-migration").await;
    let last = expected("fixture-tagged").pop().unwrap();
    assert_eq!(shard, last.shard);
    assert!(
        seq.len() >= last.seq.len() && seq > last.seq,
        "{seq} <= {}",
        last.seq
    );

    // Started again on the migrated (now current) database: same streams.
    server.restart();
    let c = server.client().await;
    let names = c.list_streams().send().await.unwrap();
    assert_eq!(names.stream_names(), ["fixture-tagged", "fixture-two"]);
    assert_eq!(
        read_all(&c, "fixture-two", 2).await,
        expected("fixture-two")
    );
    let mut tagged = expected("fixture-tagged");
    tagged.push(Put {
        stream: "fixture-tagged".into(),
        shard,
        seq,
        pk: "pk-new".into(),
        data: b"after-migration".to_vec(),
    });
    assert_eq!(read_all(&c, "fixture-tagged", 1).await, tagged);
}

/// Runs `riffle serve` on `data` and returns its exit status and stderr,
/// killing it if it is still running after 30 s (that is, if it served).
fn serve_until_exit(data: &Path) -> (std::process::ExitStatus, String) {
    use std::io::Read;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let mut child = Command::new(env!("CARGO_BIN_EXE_riffle"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .env("RIFFLE_LOG", "warn")
        .env("RUST_BACKTRACE", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("riffle started on a metadata database from a newer version");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status, stderr)
}

#[test]
fn newer_metadata_version_is_refused_with_upgrade_advice() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/future-v99/data"),
        &data,
    );
    for _ in 0..2 {
        let (status, stderr) = serve_until_exit(&data);
        assert!(!status.success());
        assert!(stderr.contains("schema version 99"), "{stderr}");
        assert!(stderr.contains("upgrade Riffle"), "{stderr}");
    }
}
