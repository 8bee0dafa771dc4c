//! The writer: group commit, the data commit window, rotation into
//! CloudTrail's layout, recovery of journals, retention.
#![allow(clippy::unwrap_used)]

mod common;

use chrono::Utc;
use common::*;
use riffle_audit::AuditLog;
use serde_json::json;
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn journal_ids(dir: &Path) -> HashSet<String> {
    journal_events(dir)
        .into_iter()
        .map(|v| v["eventID"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_management_events_are_durable_when_record_returns() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let log = Arc::new(AuditLog::open(config(&dir)).unwrap());
    const N: usize = 200;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..N {
        let log = log.clone();
        let dir = dir.clone();
        tasks.spawn(async move {
            let ev = mgmt("CreateStream", "Alice", &format!("s{i}"), Utc::now());
            let id = ev.event_id.clone();
            log.record(ev).await.unwrap();
            // Returned, so it must already be in the (fsynced) journal.
            assert!(journal_ids(&dir).contains(&id), "event {i} not in journal");
            id
        });
    }
    let mut ids = HashSet::new();
    while let Some(r) = tasks.join_next().await {
        ids.insert(r.unwrap());
    }
    assert_eq!(ids.len(), N);
    let stats = log.stats();
    assert_eq!(stats.management_events, N as u64);
    // Concurrent callers share fsyncs.
    assert!(
        stats.journal_fsyncs < N as u64,
        "{} fsyncs for {N} events: commits were not grouped",
        stats.journal_fsyncs
    );
}

#[tokio::test]
async fn data_events_return_at_once_and_are_durable_within_the_window() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = config(tmp.path());
    cfg.data_commit_window = Duration::from_millis(300);
    let log = AuditLog::open(cfg).unwrap();
    let mut ids = HashSet::new();
    let started = Instant::now();
    for _ in 0..50 {
        let ev = data("PutRecord", "orders", Utc::now());
        ids.insert(ev.event_id.clone());
        log.record(ev).await.unwrap();
    }
    assert!(started.elapsed() < Duration::from_millis(300));
    // The window plus scheduling slack on a shared machine.
    let deadline = started + Duration::from_millis(300 + 700);
    while log.stats().durable_data_events < 50 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(log.stats().durable_data_events, 50);
    assert!(log.stats().journal_fsyncs >= 1);
    assert_eq!(journal_ids(tmp.path()), ids);
}

#[tokio::test]
async fn data_events_off_are_dropped_and_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = config(tmp.path());
    cfg.data_events = false;
    let log = AuditLog::open(cfg).unwrap();
    log.record(data("PutRecord", "orders", Utc::now()))
        .await
        .unwrap();
    let m = mgmt("CreateStream", "Alice", "orders", Utc::now());
    let id = m.event_id.clone();
    log.record(m).await.unwrap();
    assert_eq!(log.stats().dropped_data_events, 1);
    assert_eq!(log.stats().data_events, 0);
    assert_eq!(journal_ids(tmp.path()), HashSet::from([id]));
}

#[tokio::test]
async fn rotation_writes_cloudtrail_files_with_exactly_the_recorded_events() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut cfg = config(dir);
    cfg.rotate_every = Duration::from_millis(300);
    let log = AuditLog::open(cfg).unwrap();
    let mut ids = HashSet::new();
    for i in 0..20 {
        let ev = if i % 2 == 0 {
            mgmt("CreateStream", "Alice", "orders", Utc::now())
        } else {
            data("PutRecord", "orders", Utc::now())
        };
        ids.insert(ev.event_id.clone());
        log.record(ev).await.unwrap();
    }
    // The timer rotates on its own (more than once if recording took longer
    // than a period).
    let deadline = Instant::now() + Duration::from_secs(5);
    // (The journal is deleted just after its file is renamed into place.)
    while (final_event_counts(dir).len() < ids.len() || !journal_events(dir).is_empty())
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let files = final_files(dir);
    assert!(!files.is_empty());
    assert!(journal_events(dir).is_empty());

    for file in &files {
        let rel = file.strip_prefix(dir).unwrap();
        let parts: Vec<String> = rel
            .iter()
            .map(|p| p.to_string_lossy().to_string())
            .collect();
        assert_eq!(parts.len(), 8, "{parts:?}");
        assert_eq!(&parts[..4], ["AWSLogs", ACCOUNT, "CloudTrail", REGION]);
        let (y, m, d) = (&parts[4], &parts[5], &parts[6]);
        assert!(y.len() == 4 && m.len() == 2 && d.len() == 2);
        let name = &parts[7];
        let prefix = format!("{ACCOUNT}_CloudTrail_{REGION}_{y}{m}{d}T");
        assert!(name.starts_with(&prefix), "{name}");
        let rest = name[prefix.len()..].strip_suffix(".json.gz").unwrap();
        let (hhmm, id) = rest.split_once("Z_").unwrap();
        assert!(hhmm.len() == 4 && hhmm.bytes().all(|b| b.is_ascii_digit()));
        assert!(id.len() == 16 && id.bytes().all(|b| b.is_ascii_alphanumeric()));

        let content = read_gz(file);
        let obj = content.as_object().unwrap();
        assert_eq!(obj.keys().collect::<Vec<_>>(), ["Records"]);
        assert!(!obj["Records"].as_array().unwrap().is_empty());
    }
    let counts = final_event_counts(dir);
    assert_eq!(counts.keys().cloned().collect::<HashSet<_>>(), ids);
    assert!(counts.values().all(|&n| n == 1));

    // A second period, finalized by drop.
    let ev = mgmt("DeleteStream", "Alice", "orders", Utc::now());
    ids.insert(ev.event_id.clone());
    log.record(ev).await.unwrap();
    drop(log);
    assert_eq!(final_files(dir).len(), files.len() + 1);
    let counts = final_event_counts(dir);
    assert_eq!(counts.keys().cloned().collect::<HashSet<_>>(), ids);
    assert!(counts.values().all(|&n| n == 1));
    assert!(journal_events(dir).is_empty());
    assert_eq!(std::fs::read_dir(dir.join("journal")).unwrap().count(), 0);
}

const JOURNAL: &str = "111122223333_CloudTrail_us-east-1_20240501T1200Z_ABCDEFGHIJ012345";

#[test]
fn open_finalizes_a_journal_and_drops_its_torn_last_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("journal")).unwrap();
    let a = mgmt("CreateStream", "Alice", "a", time("2024-05-01T12:00:01Z"));
    let b = mgmt("CreateStream", "Alice", "b", time("2024-05-01T12:00:02Z"));
    let c = mgmt("CreateStream", "Alice", "c", time("2024-05-01T12:00:03Z"));
    let mut raw = String::new();
    for ev in [&a, &b] {
        raw.push_str(&serde_json::to_string(ev).unwrap());
        raw.push('\n');
    }
    let torn = serde_json::to_string(&c).unwrap();
    raw.push_str(&torn[..torn.len() / 2]);
    let jpath = dir.join("journal").join(format!("{JOURNAL}.jsonl"));
    std::fs::write(&jpath, raw).unwrap();

    let mut cfg = config(dir);
    cfg.retention = None;
    let log = AuditLog::open(cfg).unwrap();
    assert_eq!(log.stats().journals_recovered, 1);
    assert_eq!(log.stats().files_written, 1);
    assert!(!jpath.exists());
    let expected = dir.join(format!(
        "AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/{JOURNAL}.json.gz"
    ));
    assert_eq!(final_files(dir), vec![expected.clone()]);
    let recs = read_gz(&expected)["Records"].as_array().unwrap().clone();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0], serde_json::to_value(&a).unwrap());
    assert_eq!(recs[1], serde_json::to_value(&b).unwrap());
}

#[test]
fn a_journal_whose_file_was_already_written_is_not_delivered_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let a = serde_json::to_value(mgmt("CreateStream", "Alice", "a", Utc::now())).unwrap();
    // A crash after the rename but before the journal was deleted.
    let done = plant_final(
        dir,
        "20240501T1200Z",
        "ABCDEFGHIJ012345",
        std::slice::from_ref(&a),
    );
    std::fs::create_dir_all(dir.join("journal")).unwrap();
    let jpath = dir.join("journal").join(format!("{JOURNAL}.jsonl"));
    std::fs::write(&jpath, format!("{a}\n")).unwrap();
    let before = std::fs::read(&done).unwrap();

    let mut cfg = config(dir);
    cfg.retention = None;
    drop(AuditLog::open(cfg).unwrap());
    assert!(!jpath.exists());
    assert_eq!(final_files(dir), vec![done.clone()]);
    assert_eq!(std::fs::read(&done).unwrap(), before);
}

#[tokio::test]
async fn retention_deletes_files_older_than_the_retention() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let rec = serde_json::to_value(mgmt("CreateStream", "Alice", "a", Utc::now())).unwrap();
    let old = plant_final(
        dir,
        "20200101T0000Z",
        "OLDOLDOLDOLDOLD1",
        std::slice::from_ref(&rec),
    );
    let today = Utc::now().format("%Y%m%dT%H%MZ").to_string();
    let recent = plant_final(dir, &today, "NEWNEWNEWNEWNEW1", std::slice::from_ref(&rec));

    let mut cfg = config(dir);
    cfg.retention = Some(Duration::from_secs(24 * 3600));
    let log = AuditLog::open(cfg).unwrap();
    assert!(!old.exists());
    // Its now-empty day, month and year directories go too.
    assert!(!old.parent().unwrap().exists());
    assert!(!dir
        .join("AWSLogs/111122223333/CloudTrail/us-east-1/2020")
        .exists());
    assert!(recent.exists());
    assert_eq!(log.stats().files_deleted, 1);

    // And on rotation while running.
    let old2 = plant_final(dir, "20210615T1200Z", "OLDOLDOLDOLDOLD2", &[rec]);
    log.record(mgmt("CreateStream", "Alice", "b", Utc::now()))
        .await
        .unwrap();
    log.rotate_now().unwrap();
    assert!(!old2.exists());
    assert!(recent.exists());
    assert_eq!(log.stats().files_deleted, 2);
    assert_eq!(final_files(dir).len(), 2);
}

#[tokio::test]
async fn limits_are_enforced_when_recording() {
    let tmp = tempfile::tempdir().unwrap();
    let log = AuditLog::open(config(tmp.path())).unwrap();
    let mut ev = mgmt("CreateStream", "Alice", "a", Utc::now());
    ev.user_agent = "u".repeat(5000);
    ev.error_code = Some("E".repeat(2000));
    ev.error_message = Some("m".repeat(2000));
    log.record(ev).await.unwrap();
    let v = &journal_events(tmp.path())[0];
    assert_eq!(v["userAgent"].as_str().unwrap().len(), 1024);
    assert_eq!(v["errorCode"].as_str().unwrap().len(), 1024);
    assert_eq!(v["errorMessage"].as_str().unwrap().len(), 1024);
    assert_eq!(v["managementEvent"], json!(true));
}

#[test]
fn bad_configuration_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = config(tmp.path());
    cfg.region = "us_east_1".into();
    assert!(matches!(
        AuditLog::open(cfg),
        Err(riffle_audit::AuditError::Config(_))
    ));
}
