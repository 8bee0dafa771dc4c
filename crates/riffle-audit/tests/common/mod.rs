//! Helpers shared by the audit integration tests.
#![allow(clippy::unwrap_used, dead_code)]

use chrono::{DateTime, Utc};
use flate2::read::GzDecoder;
use riffle_audit::{
    AuditConfig, AuditEvent, EventCategory, Resource, SessionAttributes, SessionContext,
    SessionIssuer, UserIdentity,
};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const ACCOUNT: &str = "111122223333";
pub const REGION: &str = "us-east-1";

pub fn config(dir: &Path) -> AuditConfig {
    let mut cfg = AuditConfig::new(dir, ACCOUNT, REGION);
    // Tests rotate explicitly unless they say otherwise.
    cfg.rotate_every = Duration::from_secs(3600);
    cfg
}

pub fn time(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub fn iam_user(name: &str) -> UserIdentity {
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

pub fn assumed_role(role: &str, session: &str) -> UserIdentity {
    UserIdentity {
        kind: "AssumedRole".into(),
        principal_id: Some(format!("AROAEXAMPLE:{session}")),
        arn: Some(format!(
            "arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}"
        )),
        account_id: Some(ACCOUNT.into()),
        access_key_id: Some("ASIAEXAMPLE".into()),
        session_context: Some(SessionContext {
            session_issuer: Some(SessionIssuer {
                kind: "Role".into(),
                principal_id: Some("AROAEXAMPLE".into()),
                arn: Some(format!("arn:aws:iam::{ACCOUNT}:role/{role}")),
                account_id: Some(ACCOUNT.into()),
                user_name: Some(role.into()),
            }),
            attributes: Some(SessionAttributes {
                creation_date: Some("2024-05-01T11:58:00Z".into()),
                mfa_authenticated: Some("false".into()),
            }),
        }),
        ..UserIdentity::default()
    }
}

pub fn stream_resource(stream: &str) -> Resource {
    Resource {
        account_id: ACCOUNT.into(),
        kind: "AWS::Kinesis::Stream".into(),
        arn: format!("arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{stream}"),
    }
}

/// A Kinesis management call by IAM user `user` on `stream`.
pub fn mgmt(name: &str, user: &str, stream: &str, at: DateTime<Utc>) -> AuditEvent {
    let mut ev = AuditEvent::api_call(
        at,
        "kinesis.amazonaws.com",
        name,
        iam_user(user),
        EventCategory::Management,
    );
    ev.aws_region = REGION.into();
    ev.recipient_account_id = ACCOUNT.into();
    ev.source_ip_address = "203.0.113.10".into();
    ev.user_agent = "aws-cli/2.15.0".into();
    ev.request_id = uuid_like();
    ev.request_parameters = json!({ "streamName": stream });
    ev
}

/// A Kinesis data call by role session `role/producer` on `stream`.
pub fn data(name: &str, stream: &str, at: DateTime<Utc>) -> AuditEvent {
    let mut ev = AuditEvent::api_call(
        at,
        "kinesis.amazonaws.com",
        name,
        assumed_role("Producer", "producer"),
        EventCategory::Data,
    );
    ev.aws_region = REGION.into();
    ev.recipient_account_id = ACCOUNT.into();
    ev.source_ip_address = "203.0.113.10".into();
    ev.user_agent = "aws-sdk-java/2.25.0 Linux/6.1".into();
    ev.request_id = uuid_like();
    ev.request_parameters = json!({ "streamName": stream, "partitionKey": "p-1" });
    ev.resources = vec![stream_resource(stream)];
    ev
}

fn uuid_like() -> String {
    AuditEvent::api_call(
        Utc::now(),
        "x",
        "x",
        UserIdentity::default(),
        EventCategory::Data,
    )
    .event_id
}

/// Every line of every live journal, parsed.
pub fn journal_events(dir: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir.join("journal")) else {
        return out;
    };
    for e in entries {
        let raw = std::fs::read_to_string(e.unwrap().path()).unwrap();
        for line in raw.lines() {
            if let Ok(v) = serde_json::from_str(line) {
                out.push(v);
            }
        }
    }
    out
}

/// Every finished `.json.gz` under `dir`, sorted.
pub fn final_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(d) else {
            return;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.to_string_lossy().ends_with(".json.gz") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&dir.join("AWSLogs"), &mut out);
    out.sort();
    out
}

/// A finished file's decompressed JSON.
pub fn read_gz(path: &Path) -> Value {
    serde_json::from_reader(GzDecoder::new(std::fs::File::open(path).unwrap())).unwrap()
}

/// How many times each eventID occurs across all finished files.
pub fn final_event_counts(dir: &Path) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for f in final_files(dir) {
        let v = read_gz(&f);
        for r in v["Records"].as_array().unwrap() {
            *counts
                .entry(r["eventID"].as_str().unwrap().to_string())
                .or_insert(0) += 1;
        }
    }
    counts
}

/// Writes a finished file the way a trail would have, for retention tests.
pub fn plant_final(dir: &Path, stamp: &str, id: &str, records: &[Value]) -> PathBuf {
    let (y, m, d) = (&stamp[0..4], &stamp[4..6], &stamp[6..8]);
    let day = dir
        .join("AWSLogs")
        .join(ACCOUNT)
        .join("CloudTrail")
        .join(REGION)
        .join(y)
        .join(m)
        .join(d);
    std::fs::create_dir_all(&day).unwrap();
    let path = day.join(format!(
        "{ACCOUNT}_CloudTrail_{REGION}_{stamp}_{id}.json.gz"
    ));
    let f = std::fs::File::create(&path).unwrap();
    let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::default());
    serde_json::to_writer(&mut gz, &json!({ "Records": records })).unwrap();
    gz.finish().unwrap();
    path
}
