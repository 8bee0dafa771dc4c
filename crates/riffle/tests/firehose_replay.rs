//! `riffle firehose redeliver`: delivered records stay in the buffer and a
//! time range of them goes to the destination again, as objects of their
//! own, through the real server and the real command.

#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::{BufferingHints, ExtendedS3DestinationConfiguration, Record};
use common::TestServer;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn firehose(server: &TestServer) -> aws_sdk_firehose::Client {
    let creds = aws_credential_types::Credentials::new("AKIDTEST", "secret", None, None, "test");
    let conf = aws_sdk_firehose::Config::builder()
        .behavior_version(aws_sdk_firehose::config::BehaviorVersion::latest())
        .region(aws_sdk_firehose::config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .endpoint_url(server.endpoint())
        .build();
    aws_sdk_firehose::Client::from_conf(conf)
}

fn objects(dir: &Path) -> Vec<PathBuf> {
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        if let Ok(rd) = std::fs::read_dir(d) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else if !p.to_string_lossy().contains(".riffle-tmp-") {
                    // Objects being written are temporary files until renamed.
                    out.push(p);
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out.sort();
    out
}

/// Every line of every object, sorted.
fn lines(dir: &Path) -> Vec<String> {
    let mut all: Vec<String> = objects(dir)
        .iter()
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    all.sort();
    all
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn riffle(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_riffle"))
        .args(args)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn redeliver_sends_a_time_range_again_as_new_objects() {
    let server = TestServer::start_with(&["--transition-delay-ms", "0"]);
    let fh = firehose(&server);
    let bucket_dir = server.data_dir().join("s3").join("replay-bucket");
    fh.create_delivery_stream()
        .delivery_stream_name("replayed")
        .extended_s3_destination_configuration(
            ExtendedS3DestinationConfiguration::builder()
                .role_arn("arn:aws:iam::000000000000:role/r")
                .bucket_arn("arn:aws:s3:::replay-bucket")
                .buffering_hints(
                    BufferingHints::builder()
                        .size_in_mbs(1)
                        .interval_in_seconds(0)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let put = |prefix: &'static str| {
        let fh = fh.clone();
        async move {
            let records: Vec<Record> = (0..50)
                .map(|i| {
                    Record::builder()
                        .data(Blob::new(format!("{prefix}-{i:03}\n")))
                        .build()
                        .unwrap()
                })
                .collect();
            let out = fh
                .put_record_batch()
                .delivery_stream_name("replayed")
                .set_records(Some(records))
                .send()
                .await
                .unwrap();
            assert_eq!(out.failed_put_count(), 0);
        }
    };
    put("early").await;
    wait_for("the first batch", || lines(&bucket_dir).len() == 50);
    // A gap in arrival times separates the two batches.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let between = chrono::Utc::now().timestamp_millis();
    tokio::time::sleep(Duration::from_millis(500)).await;
    put("late").await;
    wait_for("the second batch", || lines(&bucket_dir).len() == 100);
    let before = objects(&bucket_dir);

    // Only the late batch: --from between the two.
    let endpoint = server.endpoint();
    let from = format!("{}", between as f64 / 1000.0);
    let (ok, stdout, stderr) = riffle(&[
        "firehose",
        "redeliver",
        "replayed",
        "--from",
        &from,
        "--endpoint",
        &endpoint,
    ]);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("redelivering 50 records of replayed"),
        "{stdout}"
    );
    assert!(stdout.contains("done: 50 records redelivered"), "{stdout}");
    let after = objects(&bucket_dir);
    // New objects of their own; the old ones untouched.
    assert!(before.iter().all(|p| after.contains(p)));
    assert_eq!(after.len(), before.len() + 1, "{after:?}");
    let all = lines(&bucket_dir);
    let late = all.iter().filter(|l| l.starts_with("late-")).count();
    let early = all.iter().filter(|l| l.starts_with("early-")).count();
    assert_eq!((early, late), (50, 100));

    // Everything, with a relative time.
    let (ok, stdout, _) = riffle(&[
        "firehose",
        "redeliver",
        "replayed",
        "--from",
        "-5m",
        "--endpoint",
        &endpoint,
    ]);
    assert!(ok);
    assert!(stdout.contains("redelivering 100 records"), "{stdout}");
    let all = lines(&bucket_dir);
    assert_eq!(all.len(), 250);

    // Its status, as JSON.
    let (ok, stdout, _) = riffle(&[
        "firehose",
        "redelivery-status",
        "replayed",
        "--endpoint",
        &endpoint,
    ]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["Status"], "DONE");
    assert_eq!(v["DeliveredRecords"], 100);

    // Errors say what is wrong.
    let (ok, _, stderr) = riffle(&[
        "firehose",
        "redeliver",
        "nope",
        "--from",
        "-5m",
        "--endpoint",
        &endpoint,
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("ResourceNotFoundException")
            && stderr.contains("Firehose nope under account"),
        "{stderr}"
    );
    let (ok, _, stderr) = riffle(&[
        "firehose",
        "redeliver",
        "replayed",
        "--from",
        "yesterday",
        "--endpoint",
        &endpoint,
    ]);
    assert!(!ok);
    assert!(stderr.contains("RFC 3339"), "{stderr}");
}

/// The admin operations are authorized like any other: a caller whose
/// policy does not allow `firehose:StartRedelivery` is refused.
#[tokio::test]
async fn redelivery_is_an_authorized_operation() {
    let dir = tempfile::tempdir().unwrap();
    let auth = dir.path().join("auth.toml");
    std::fs::write(
        &auth,
        r#"
[[users]]
name = "reader"
access_keys = [{ id = "AKIAREADER0000000001", secret = "reader-secret" }]
policies = ['''{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"firehose:Describe*","Resource":"*"}]}''']
"#,
    )
    .unwrap();
    let server = TestServer::start_with(&[
        "--transition-delay-ms",
        "0",
        "--auth-config",
        auth.to_str().unwrap(),
    ]);
    let endpoint = server.endpoint();
    let out = Command::new(env!("CARGO_BIN_EXE_riffle"))
        .args([
            "firehose",
            "redeliver",
            "any",
            "--from",
            "-5m",
            "--endpoint",
            &endpoint,
            "--access-key-id",
            "AKIAREADER0000000001",
            "--secret-access-key",
            "reader-secret",
        ])
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("AccessDeniedException") && stderr.contains("firehose:StartRedelivery"),
        "{stderr}"
    );
    // The allowed operation passes authorization (and then finds no stream).
    let out = Command::new(env!("CARGO_BIN_EXE_riffle"))
        .args([
            "firehose",
            "redelivery-status",
            "any",
            "--endpoint",
            &endpoint,
            "--access-key-id",
            "AKIAREADER0000000001",
            "--secret-access-key",
            "reader-secret",
        ])
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ResourceNotFoundException"), "{stderr}");
}
