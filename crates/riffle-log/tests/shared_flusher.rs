//! `SyncPolicy::IntervalMs` uses one flusher thread per process (and interval), not one
//! per log. In its own file so that it runs in its own process, where the thread count
//! is not disturbed by other tests.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use riffle_log::{LogConfig, ShardLog, SimStorage, SyncPolicy};

const LOGS: usize = 2_000;

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn two_thousand_interval_logs_share_one_flusher_thread() {
    let cfg = LogConfig {
        sync: SyncPolicy::IntervalMs(10),
        ..LogConfig::default()
    };
    let before = threads();
    let sims: Vec<Arc<SimStorage>> = (0..LOGS).map(|_| Arc::new(SimStorage::new())).collect();
    let logs: Vec<ShardLog> = sims
        .iter()
        .map(|s| ShardLog::open_with_storage(s.clone(), cfg.clone()).unwrap())
        .collect();
    let during = threads();
    assert!(
        during <= before + 2,
        "{LOGS} interval logs grew the thread count from {before} to {during}"
    );

    // Every log gets flushed without an explicit sync.
    let syncs_at_open: Vec<u64> = sims.iter().map(|s| s.sync_calls()).collect();
    for (i, log) in logs.iter().enumerate() {
        log.append(1_000, &[(b"k", format!("v{i}").as_bytes())])
            .unwrap();
    }
    wait_for("every log to be flushed", || {
        sims.iter()
            .zip(&syncs_at_open)
            .all(|(s, &at_open)| s.sync_calls() > at_open)
    });
    // Clean logs are not synced again.
    let settled: Vec<u64> = sims.iter().map(|s| s.sync_calls()).collect();
    std::thread::sleep(Duration::from_millis(100));
    let idle_syncs: u64 = sims
        .iter()
        .zip(&settled)
        .map(|(s, &n)| s.sync_calls() - n)
        .sum();
    assert_eq!(idle_syncs, 0, "clean logs were fdatasynced again");

    drop(logs);
    for (i, sim) in sims.iter().enumerate() {
        sim.crash();
        let log = ShardLog::open_with_storage(sim.clone(), LogConfig::default()).unwrap();
        assert_eq!(log.end_offset(), 1, "log {i} lost its flushed record");
    }
    // Dropped logs are forgotten, and the thread ends when none is left.
    wait_for("the flusher thread to exit", || threads() <= before);
}
