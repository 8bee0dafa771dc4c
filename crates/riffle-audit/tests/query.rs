//! Reading the trail back with filters, across finished files and the live
//! journal.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use riffle_audit::{query, AuditLog, ErrorFilter, Filter};

fn names(f: &Filter, dir: &std::path::Path) -> Vec<String> {
    query(dir, f)
        .unwrap()
        .into_iter()
        .map(|e| format!("{}@{}", e.event_name, e.event_time.format("%H:%M:%S")))
        .collect()
}

#[tokio::test]
async fn filters_select_by_time_principal_name_resource_and_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut cfg = config(dir);
    cfg.retention = None;
    let log = AuditLog::open(cfg).unwrap();

    // Out of order on purpose: results come back sorted by eventTime.
    let mut denied = mgmt(
        "DeleteStream",
        "Mallory",
        "orders",
        time("2024-05-01T12:00:30Z"),
    );
    denied.error_code = Some("AccessDeniedException".into());
    denied.error_message = Some("not authorized".into());
    let mut missing = mgmt(
        "DescribeStream",
        "Alice",
        "nope",
        time("2024-05-01T12:00:40Z"),
    );
    missing.error_code = Some("ResourceNotFoundException".into());
    log.record(mgmt(
        "CreateStream",
        "Alice",
        "orders",
        time("2024-05-01T12:00:10Z"),
    ))
    .await
    .unwrap();
    log.record(denied).await.unwrap();
    // These go into a finished .json.gz file...
    log.rotate_now().unwrap();
    // ...and these stay in the live journal.
    log.record(data("PutRecord", "orders", time("2024-05-01T12:00:20Z")))
        .await
        .unwrap();
    log.record(data("GetRecords", "clicks", time("2024-05-01T12:00:50Z")))
        .await
        .unwrap();
    log.record(missing).await.unwrap();
    log.flush().unwrap();
    assert_eq!(final_files(dir).len(), 1);
    assert_eq!(journal_events(dir).len(), 3);

    assert_eq!(
        names(&Filter::default(), dir),
        [
            "CreateStream@12:00:10",
            "PutRecord@12:00:20",
            "DeleteStream@12:00:30",
            "DescribeStream@12:00:40",
            "GetRecords@12:00:50"
        ]
    );
    let f = Filter {
        since: Some(time("2024-05-01T12:00:20Z")),
        until: Some(time("2024-05-01T12:00:40Z")),
        ..Filter::default()
    };
    assert_eq!(
        names(&f, dir),
        [
            "PutRecord@12:00:20",
            "DeleteStream@12:00:30",
            "DescribeStream@12:00:40"
        ]
    );
    // By user name, by ARN, by the role a session was issued by.
    let by = |p: &str| Filter {
        principal: Some(p.into()),
        ..Filter::default()
    };
    assert_eq!(names(&by("Mallory"), dir), ["DeleteStream@12:00:30"]);
    assert_eq!(
        names(&by("arn:aws:iam::111122223333:user/Alice"), dir),
        ["CreateStream@12:00:10", "DescribeStream@12:00:40"]
    );
    assert_eq!(
        names(&by("Producer"), dir),
        ["PutRecord@12:00:20", "GetRecords@12:00:50"]
    );
    let f = Filter {
        event_name: Some("PutRecord".into()),
        ..Filter::default()
    };
    assert_eq!(names(&f, dir), ["PutRecord@12:00:20"]);
    // A resource by stream ARN, or by name (requestParameters.streamName).
    let res = |r: &str| Filter {
        resource: Some(r.into()),
        ..Filter::default()
    };
    assert_eq!(
        names(
            &res("arn:aws:kinesis:us-east-1:111122223333:stream/clicks"),
            dir
        ),
        ["GetRecords@12:00:50"]
    );
    assert_eq!(
        names(&res("orders"), dir),
        [
            "CreateStream@12:00:10",
            "PutRecord@12:00:20",
            "DeleteStream@12:00:30"
        ]
    );
    let err = |e: ErrorFilter| Filter {
        error_code: Some(e),
        ..Filter::default()
    };
    assert_eq!(
        names(&err("any".parse().unwrap()), dir),
        ["DeleteStream@12:00:30", "DescribeStream@12:00:40"]
    );
    assert_eq!(
        names(&err("none".parse().unwrap()), dir),
        [
            "CreateStream@12:00:10",
            "PutRecord@12:00:20",
            "GetRecords@12:00:50"
        ]
    );
    assert_eq!(
        names(&err("AccessDeniedException".parse().unwrap()), dir),
        ["DeleteStream@12:00:30"]
    );
    // Filters combine.
    let f = Filter {
        principal: Some("Alice".into()),
        error_code: Some(ErrorFilter::None),
        ..Filter::default()
    };
    assert_eq!(names(&f, dir), ["CreateStream@12:00:10"]);
}

#[test]
fn an_empty_or_missing_trail_has_no_events() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(query(&tmp.path().join("absent"), &Filter::default())
        .unwrap()
        .is_empty());
}
