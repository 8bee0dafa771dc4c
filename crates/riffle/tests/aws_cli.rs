//! A scripted AWS CLI session against the real server: the `aws` command
//! (v1 from pip, or v2) must work unchanged with `--endpoint-url`.
//!
//! Needs `aws` on PATH (`pip install awscli`). Without it the test fails when
//! `CI` is set and is skipped (loudly) otherwise.
#![allow(clippy::unwrap_used)]

mod common;

use base64::Engine as _;
use common::TestServer;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const STREAM: &str = "cli-demo";

/// `Some(major version)` if `aws` runs, `None` if it is not installed.
fn aws_major_version() -> Option<u32> {
    let out = Command::new("aws").arg("--version").output().ok()?;
    if !out.status.success() {
        return None;
    }
    // v1 printed its version on stderr in older releases, stdout in newer ones.
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let rest = text.trim().strip_prefix("aws-cli/")?;
    rest.split('.').next()?.parse().ok()
}

struct Aws<'a> {
    endpoint: String,
    major: u32,
    /// Holds empty config and credential files so the user's profile cannot interfere.
    home: &'a Path,
}

impl Aws<'_> {
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("aws");
        for v in [
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_SECURITY_TOKEN",
            "AWS_REGION",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_KINESIS",
            "AWS_CA_BUNDLE",
            "AWS_CLI_AUTO_PROMPT",
        ] {
            c.env_remove(v);
        }
        c.env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", self.home.join("config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", self.home.join("credentials"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_PAGER", "")
            .args([
                "--endpoint-url",
                &self.endpoint,
                "--output",
                "json",
                "kinesis",
            ])
            .args(args);
        c
    }

    /// Runs `aws kinesis <args>`; prints the transcript so a failure is easy to read.
    fn run(&self, args: &[&str]) -> Output {
        let started = Instant::now();
        let out = self.command(args).output().expect("run aws");
        println!(
            "$ aws kinesis {} -> {} ({} ms)\n{}{}",
            args.join(" "),
            out.status,
            started.elapsed().as_millis(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs a command that must succeed; returns its stdout parsed as JSON
    /// (`Value::Null` when the command prints nothing, like create-stream).
    fn ok(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "`aws kinesis {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        if stdout.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&stdout).unwrap_or_else(|e| {
                panic!(
                    "`aws kinesis {}` printed non-JSON ({e}): {stdout}",
                    args.join(" ")
                )
            })
        }
    }

    /// Arguments that make blob parameters take raw text on both CLI versions:
    /// v1 always does; v2 expects base64 unless told otherwise.
    fn raw_blobs(&self) -> Vec<&'static str> {
        if self.major >= 2 {
            vec!["--cli-binary-format", "raw-in-base64-out"]
        } else {
            vec![]
        }
    }
}

fn s<'v>(v: &'v Value, key: &str) -> &'v str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("no string {key:?} in {v}"))
}

fn is_sequence_number(seq: &str) -> bool {
    seq.len() == 56 && seq.bytes().all(|b| b.is_ascii_digit())
}

#[test]
fn aws_cli_session() {
    let Some(major) = aws_major_version() else {
        if std::env::var_os("CI").is_some() {
            panic!("the AWS CLI (`aws`) is not on PATH; install it with `pip install awscli` (this test is required in CI)");
        }
        // Written to the stderr handle directly: libtest captures eprintln! of passing tests.
        let notice = "\n\
            !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
            !!! SKIPPED aws_cli_session: `aws` is not on PATH.                       !!!\n\
            !!! Install the AWS CLI with `pip install awscli` to run this test.      !!!\n\
            !!! (With CI set in the environment this test fails instead.)            !!!\n\
            !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n";
        let _ = std::io::stderr().write_all(notice.as_bytes());
        return;
    };
    let started = Instant::now();
    let server = TestServer::start_with(&["--transition-delay-ms", "1000"]);
    let home = tempfile::tempdir().unwrap();
    let aws = Aws {
        endpoint: server.endpoint(),
        major,
        home: home.path(),
    };
    println!("AWS CLI major version {major}, server at {}", aws.endpoint);

    // create-stream: empty answer; the stream is CREATING for 1 s. The waiter
    // goes straight after it (the CLI starts in well under 1 s), so its first
    // DescribeStream normally sees CREATING and it polls again 10 s later.
    let created = aws.ok(&[
        "create-stream",
        "--stream-name",
        STREAM,
        "--shard-count",
        "2",
    ]);
    assert_eq!(created, Value::Null, "create-stream prints nothing");
    let t = Instant::now();
    aws.ok(&["wait", "stream-exists", "--stream-name", STREAM]);
    let waited = t.elapsed();
    println!(
        "waiter returned after {} ms ({})",
        waited.as_millis(),
        if waited >= Duration::from_secs(5) {
            "it saw CREATING and polled again"
        } else {
            "ACTIVE at its first poll"
        }
    );
    let summary = aws.ok(&["describe-stream-summary", "--stream-name", STREAM]);
    let summary = &summary["StreamDescriptionSummary"];
    assert_eq!(s(summary, "StreamStatus"), "ACTIVE");
    assert_eq!(summary["OpenShardCount"], 2);
    let described = aws.ok(&["describe-stream", "--stream-name", STREAM]);
    let desc = &described["StreamDescription"];
    assert_eq!(s(desc, "StreamStatus"), "ACTIVE");
    assert_eq!(s(desc, "StreamName"), STREAM);
    assert_eq!(
        s(desc, "StreamARN"),
        format!("arn:aws:kinesis:us-east-1:000000000000:stream/{STREAM}")
    );
    assert_eq!(desc["Shards"].as_array().unwrap().len(), 2);
    // The CLI auto-paginates describe-stream: it consumes HasMoreShards and
    // prints the merged pages, so HasMoreShards is not in its output.
    assert!(desc.get("HasMoreShards").is_none(), "{desc}");
    assert_eq!(desc["RetentionPeriodHours"], 24);

    // put-record: raw text in, shard id and a 56-digit sequence number out.
    // (partition key, data) -> (shard, sequence number) of every record written.
    let mut written: BTreeMap<(String, String), (String, String)> = BTreeMap::new();
    let first_data = "hello from the aws cli";
    let mut args = vec![
        "put-record",
        "--stream-name",
        STREAM,
        "--partition-key",
        "pk-1",
        "--data",
        first_data,
    ];
    args.extend(aws.raw_blobs());
    let put = aws.ok(&args);
    assert!(
        s(&put, "ShardId").starts_with("shardId-00000000000"),
        "{put}"
    );
    assert!(is_sequence_number(s(&put, "SequenceNumber")), "{put}");
    written.insert(
        ("pk-1".into(), first_data.into()),
        (s(&put, "ShardId").into(), s(&put, "SequenceNumber").into()),
    );

    // put-records from a JSON file: text with quotes, non-ASCII text, JSON text.
    let batch: Vec<(String, String)> = (0..6)
        .map(|i| {
            let data = match i % 3 {
                0 => format!("record {i} with \"quotes\" and spaces"),
                1 => format!("héllo wörld ✓ {i}"),
                _ => format!("{{\"n\":{i},\"ok\":true}}"),
            };
            (format!("batch-key-{i}"), data)
        })
        .collect();
    let file_entries: Vec<Value> = batch
        .iter()
        .map(|(pk, data)| serde_json::json!({"Data": data, "PartitionKey": pk}))
        .collect();
    let records_file = home.path().join("records.json");
    std::fs::write(
        &records_file,
        serde_json::to_vec_pretty(&file_entries).unwrap(),
    )
    .unwrap();
    let file_arg = format!("file://{}", records_file.display());
    let mut args = vec![
        "put-records",
        "--stream-name",
        STREAM,
        "--records",
        &file_arg,
    ];
    args.extend(aws.raw_blobs());
    let put = aws.ok(&args);
    assert_eq!(put["FailedRecordCount"], 0, "{put}");
    let results = put["Records"].as_array().unwrap();
    assert_eq!(results.len(), batch.len());
    for ((pk, data), r) in batch.iter().zip(results) {
        assert!(r.get("ErrorCode").is_none(), "{r}");
        assert!(is_sequence_number(s(r, "SequenceNumber")), "{r}");
        written.insert(
            (pk.clone(), data.clone()),
            (s(r, "ShardId").into(), s(r, "SequenceNumber").into()),
        );
    }
    let used: BTreeSet<&str> = written.values().map(|(shard, _)| shard.as_str()).collect();
    assert_eq!(
        used.len(),
        2,
        "7 keys should land on both shards: {written:?}"
    );

    // list-shards: two shards splitting the hash space evenly.
    let listed = aws.ok(&["list-shards", "--stream-name", STREAM]);
    let shards = listed["Shards"].as_array().unwrap();
    let ids: Vec<&str> = shards.iter().map(|sh| s(sh, "ShardId")).collect();
    assert_eq!(ids, ["shardId-000000000000", "shardId-000000000001"]);
    let ranges: Vec<(&str, &str)> = shards
        .iter()
        .map(|sh| {
            (
                s(&sh["HashKeyRange"], "StartingHashKey"),
                s(&sh["HashKeyRange"], "EndingHashKey"),
            )
        })
        .collect();
    assert_eq!(
        ranges,
        [
            ("0", "170141183460469231731687303715884105727"),
            (
                "170141183460469231731687303715884105728",
                "340282366920938463463374607431768211455"
            )
        ]
    );
    for sh in shards {
        assert!(
            is_sequence_number(s(&sh["SequenceNumberRange"], "StartingSequenceNumber")),
            "{sh}"
        );
        assert!(
            sh["SequenceNumberRange"]
                .get("EndingSequenceNumber")
                .is_none(),
            "open shard: {sh}"
        );
    }

    // get-shard-iterator + get-records on each shard: the CLI prints Data as
    // base64, which must decode to exactly the text that was put.
    let mut read: BTreeMap<(String, String), (String, String)> = BTreeMap::new();
    for id in &ids {
        let it = aws.ok(&[
            "get-shard-iterator",
            "--stream-name",
            STREAM,
            "--shard-id",
            id,
            "--shard-iterator-type",
            "TRIM_HORIZON",
        ]);
        let iterator = s(&it, "ShardIterator").to_string();
        let got = aws.ok(&["get-records", "--shard-iterator", &iterator]);
        assert!(
            got["NextShardIterator"].is_string(),
            "open shard must give a next iterator: {got}"
        );
        assert_eq!(got["MillisBehindLatest"], 0, "{got}");
        let mut last_seq = String::new();
        for r in got["Records"].as_array().unwrap() {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s(r, "Data"))
                .unwrap_or_else(|e| panic!("Data is not base64 ({e}): {r}"));
            let data = String::from_utf8(bytes).unwrap();
            let seq = s(r, "SequenceNumber").to_string();
            assert!(
                last_seq.is_empty() || (seq.len(), &seq) > (last_seq.len(), &last_seq),
                "sequence numbers must increase within {id}"
            );
            assert!(!r["ApproximateArrivalTimestamp"].is_null(), "{r}");
            last_seq = seq.clone();
            let prev = read.insert(
                (s(r, "PartitionKey").to_string(), data),
                (id.to_string(), seq),
            );
            assert!(prev.is_none(), "record read twice: {r}");
        }
    }
    assert_eq!(
        read, written,
        "get-records must return exactly the records put, on their shards and sequence numbers"
    );

    // Tags.
    aws.ok(&[
        "add-tags-to-stream",
        "--stream-name",
        STREAM,
        "--tags",
        "env=test,team=riffle",
    ]);
    let tags = aws.ok(&["list-tags-for-stream", "--stream-name", STREAM]);
    assert_eq!(
        tags["Tags"],
        serde_json::json!([{"Key": "env", "Value": "test"}, {"Key": "team", "Value": "riffle"}]),
        "{tags}"
    );
    assert_eq!(tags["HasMoreTags"], Value::Bool(false));

    // delete-stream: DELETING for the transition delay, then gone.
    aws.ok(&["delete-stream", "--stream-name", STREAM]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let gone = loop {
        let out = aws.run(&["describe-stream", "--stream-name", STREAM]);
        if !out.status.success() {
            break out;
        }
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            s(&v["StreamDescription"], "StreamStatus"),
            "DELETING",
            "{v}"
        );
        assert!(
            Instant::now() < deadline,
            "stream still DELETING after 20 s"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    let stderr = String::from_utf8_lossy(&gone.stderr);
    assert_ne!(gone.status.code(), Some(0));
    assert!(
        stderr.contains("ResourceNotFoundException") && stderr.contains(STREAM),
        "describe-stream of a deleted stream must fail with ResourceNotFoundException naming it: {stderr}"
    );
    assert!(
        gone.stdout.is_empty(),
        "no JSON on stdout for a failed command"
    );
    let streams = aws.ok(&["list-streams"]);
    assert_eq!(streams["StreamNames"], serde_json::json!([]), "{streams}");
    println!(
        "aws cli session took {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// The README's quick start, run as written (only the port differs): the
/// record it puts is the record it reads back.
#[test]
fn readme_quick_start_reads_back_its_record() {
    if aws_major_version().is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the AWS CLI (`aws`) is not on PATH; install it with `pip install awscli`"
        );
        eprintln!("SKIPPED readme_quick_start_reads_back_its_record: `aws` is not on PATH");
        return;
    }
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let section = readme
        .split("## Quick start")
        .nth(1)
        .expect("a Quick start section");
    let script = section
        .split("```sh\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("a sh block in the quick start");
    assert!(script.contains("http://127.0.0.1:4567"), "{script}");
    let server = TestServer::start();
    let script = script.replace("http://127.0.0.1:4567", &server.endpoint());
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("config"), "").unwrap();
    std::fs::write(home.path().join("credentials"), "").unwrap();
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .env("AWS_CONFIG_FILE", home.path().join("config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.path().join("credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_PAGER", "")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "quick start failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let records = v["Records"].as_array().expect("Records");
    assert_eq!(records.len(), 1, "{stdout}");
    let data = base64::engine::general_purpose::STANDARD
        .decode(s(&records[0], "Data"))
        .unwrap();
    // CLI v2 sends `aGVsbG8=` as base64 ("hello"); v1 sends the text itself.
    assert!(data == b"hello" || data == b"aGVsbG8=", "{data:?}");
    assert_eq!(s(&records[0], "PartitionKey"), "user-1");
}
