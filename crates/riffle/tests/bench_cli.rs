//! `riffle bench` end to end: a short run against a real server, checking the
//! JSON report.
#![allow(clippy::unwrap_used)]

mod common;

use common::TestServer;
use std::process::Command;

fn bench(server: &TestServer, args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_riffle"))
        .arg("bench")
        .args(args)
        .args(["--endpoint", &server.endpoint(), "--json", "--quiet"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "riffle bench failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn get_records_reads_back_every_record_once() {
    let server = TestServer::start();
    let pid = server.pid().unwrap().to_string();
    let r = bench(
        &server,
        &[
            "get-records",
            "--duration",
            "2",
            "--shards",
            "2",
            "--producers",
            "2",
            "--record-bytes",
            "200",
            "--batch",
            "50",
            "--key-dist",
            "zipf",
            "--server-pid",
            &pid,
        ],
    );
    let written = r["write"]["records"].as_u64().unwrap();
    assert!(written > 0, "{r}");
    assert_eq!(r["write"]["bytes"].as_u64().unwrap(), written * 200);
    assert!(r["write"]["latency_ms"]["p50"].as_f64().unwrap() > 0.0);
    assert!(r["write"]["server"]["cpu_seconds"].as_f64().is_some());
    assert_eq!(r["read"]["records"].as_u64().unwrap(), written);
    let v = &r["verify"];
    assert_eq!(v["expected"].as_u64().unwrap(), written, "{r}");
    assert_eq!(v["lost"], 0, "{r}");
    assert_eq!(v["duplicated"], 0, "{r}");
    assert_eq!(v["reordered"], 0, "{r}");
    assert_eq!(v["malformed"], 0, "{r}");
}

#[test]
fn subscribe_pushes_every_record_to_every_consumer() {
    let server = TestServer::start();
    let r = bench(
        &server,
        &[
            "subscribe",
            "--duration",
            "1",
            "--shards",
            "1",
            "--producers",
            "1",
            "--consumers",
            "2",
            "--batch",
            "10",
            "--rate",
            "500",
        ],
    );
    let written = r["write"]["records"].as_u64().unwrap();
    assert!(written > 0, "{r}");
    let v = &r["verify"];
    assert_eq!(v["expected"].as_u64().unwrap(), 2 * written, "{r}");
    assert_eq!(v["lost"], 0, "{r}");
    assert_eq!(v["duplicated"], 0, "{r}");
    assert!(r["push_latency_ms"]["p50"].as_f64().unwrap() > 0.0);
}
