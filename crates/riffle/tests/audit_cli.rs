//! `riffle audit` on a trail written by riffle-audit: the built binary's
//! filtered table and JSON-lines output, reading both a finished .json.gz
//! file and the live journal.
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, Utc};
use riffle_audit::{AuditConfig, AuditEvent, AuditLog, EventCategory, Resource, UserIdentity};
use serde_json::json;
use std::path::Path;
use std::process::Command;

const ACCOUNT: &str = "111122223333";

fn user(name: &str) -> UserIdentity {
    UserIdentity {
        kind: "IAMUser".into(),
        principal_id: Some("AIDAEXAMPLE".into()),
        arn: Some(format!("arn:aws:iam::{ACCOUNT}:user/{name}")),
        account_id: Some(ACCOUNT.into()),
        access_key_id: Some("AKIAEXAMPLE".into()),
        user_name: Some(name.into()),
        ..UserIdentity::default()
    }
}

fn event(
    name: &str,
    who: &str,
    stream: &str,
    at: DateTime<Utc>,
    category: EventCategory,
    error: Option<&str>,
) -> AuditEvent {
    let mut ev = AuditEvent::api_call(at, "kinesis.amazonaws.com", name, user(who), category);
    ev.aws_region = "us-east-1".into();
    ev.recipient_account_id = ACCOUNT.into();
    ev.request_parameters = json!({ "streamName": stream });
    ev.resources = vec![Resource {
        account_id: ACCOUNT.into(),
        kind: "AWS::Kinesis::Stream".into(),
        arn: format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{stream}"),
    }];
    ev.error_code = error.map(String::from);
    ev
}

fn riffle_audit(data_dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_riffle"))
        .arg("audit")
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("RIFFLE_CONFIG")
        .env_remove("RIFFLE_DATA_DIR")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "riffle audit {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Table rows split into columns (they never contain spaces here).
fn rows(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect()
}

#[test]
fn audit_prints_filtered_table_and_json_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let mut cfg = AuditConfig::new(data.join("audit"), ACCOUNT, "us-east-1");
    cfg.retention = None;
    let now = Utc::now();
    let create = event(
        "CreateStream",
        "Alice",
        "orders",
        now - Duration::hours(2),
        EventCategory::Management,
        None,
    );
    let denied = event(
        "DeleteStream",
        "Mallory",
        "orders",
        now - Duration::minutes(20),
        EventCategory::Management,
        Some("AccessDeniedException"),
    );
    let put = event(
        "PutRecord",
        "Bob",
        "clicks",
        now - Duration::minutes(10),
        EventCategory::Data,
        None,
    );
    let missing = event(
        "DescribeStream",
        "Alice",
        "nope",
        now - Duration::minutes(5),
        EventCategory::Management,
        Some("ResourceNotFoundException"),
    );
    let ids: Vec<String> = [&create, &denied, &put, &missing]
        .iter()
        .map(|e| e.event_id.clone())
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let log = AuditLog::open(cfg).unwrap();
    rt.block_on(async {
        log.record(create).await.unwrap();
        log.record(denied).await.unwrap();
        // These two end up in a finished .json.gz, the rest in the journal.
        log.rotate_now().unwrap();
        log.record(put).await.unwrap();
        log.record(missing).await.unwrap();
    });
    log.flush().unwrap();

    let table = riffle_audit(data, &["--principal", "Alice"]);
    let t = rows(&table);
    assert_eq!(t[0], ["TIME", "PRINCIPAL", "EVENT", "RESOURCE", "ERROR"]);
    assert_eq!(t.len(), 3, "{table}");
    assert_eq!(t[1][1], format!("arn:aws:iam::{ACCOUNT}:user/Alice"));
    assert_eq!(t[1][2], "CreateStream");
    assert_eq!(
        t[1][3],
        format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/orders")
    );
    assert_eq!(t[1][4], "-");
    assert_eq!(
        t[1][0],
        (now - Duration::hours(2))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    );
    assert_eq!(t[2][2], "DescribeStream");
    assert_eq!(t[2][4], "ResourceNotFoundException");

    // Relative time and JSON lines, oldest first.
    let json = riffle_audit(data, &["--since", "1h", "--output", "json"]);
    let got: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got_ids: Vec<&str> = got.iter().map(|v| v["eventID"].as_str().unwrap()).collect();
    assert_eq!(got_ids, [&ids[1], &ids[2], &ids[3]]);
    assert_eq!(got[1]["eventCategory"], json!("Data"));
    assert_eq!(
        got[1]["resources"][0]["ARN"],
        json!(format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/clicks"))
    );

    // Combined filters: failed calls on the stream named orders.
    let t = rows(&riffle_audit(
        data,
        &["--resource", "orders", "--error-code", "any"],
    ));
    assert_eq!(t.len(), 2);
    assert_eq!(t[1][2], "DeleteStream");
    assert_eq!(t[1][4], "AccessDeniedException");

    let until = (now - Duration::minutes(15)).to_rfc3339();
    let json = riffle_audit(
        data,
        &[
            "--until",
            &until,
            "--event-name",
            "CreateStream",
            "--output",
            "json",
        ],
    );
    assert_eq!(json.lines().count(), 1);
    assert!(json.contains(&ids[0]));

    // No match: just the header.
    let t = rows(&riffle_audit(data, &["--principal", "Nobody"]));
    assert_eq!(t.len(), 1);
    drop(log);
}

#[test]
fn audit_rejects_a_bad_time() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_riffle"))
        .args(["audit", "--data-dir"])
        .arg(tmp.path())
        .args(["--since", "yesterday"])
        .env_remove("RIFFLE_CONFIG")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad time"));
}
