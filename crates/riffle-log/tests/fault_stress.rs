//! Group commit under repeated fsync failures and concurrent in-place recoveries:
//! nothing deadlocks, and every acknowledged record is kept at its offset, also
//! after a power loss.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use riffle_log::{LogConfig, LogError, ShardLog, SimStorage, SyncPolicy};

const THREADS: usize = 4;
/// Fault-and-recover cycles.
const CYCLES: usize = 3_000;

fn cfg() -> LogConfig {
    LogConfig {
        segment_max_bytes: 4096,
        index_interval_bytes: 256,
        sync: SyncPolicy::Always,
        // Only the test thread recovers, concurrently with appenders and leaders.
        recovery_retry_ms: 3_600_000,
        ..LogConfig::default()
    }
}

fn run() -> (Arc<SimStorage>, BTreeMap<u64, Vec<u8>>) {
    let sim = Arc::new(SimStorage::new());
    let log = Arc::new(ShardLog::open_with_storage(sim.clone(), cfg()).unwrap());
    let done = Arc::new(AtomicBool::new(false));
    let appenders: Vec<_> = (0..THREADS)
        .map(|t| {
            let (log, done) = (log.clone(), done.clone());
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                let mut i = 0;
                while !done.load(Ordering::Acquire) {
                    let v = format!("t{t}-{i}").into_bytes();
                    i += 1;
                    match log.append(1_000 + i as i64, &[(b"k", &v)]) {
                        Ok(info) => {
                            acked.push((info.first_offset, v));
                            std::thread::sleep(Duration::from_micros(100));
                        }
                        Err(LogError::Io(_) | LogError::Poisoned) => std::thread::yield_now(),
                        Err(e) => panic!("unexpected error {e}"),
                    }
                }
                acked
            })
        })
        .collect();
    // Fault, wait for an appender's group commit (or roll) to hit it, recover; again
    // and again, while the appenders keep going.
    for _ in 0..CYCLES {
        sim.fail_next_syncs(1);
        while !log.is_poisoned() {
            std::thread::yield_now();
        }
        loop {
            match log.recover() {
                Ok(_) => break,
                Err(LogError::Io(_)) => {}
                Err(e) => panic!("unexpected recovery error {e}"),
            }
        }
        // Let a group commit succeed before the next fault.
        let end = log.end_offset();
        let until = Instant::now() + Duration::from_millis(2);
        while log.end_offset() == end && Instant::now() < until {
            std::thread::yield_now();
        }
    }
    done.store(true, Ordering::Release);
    let mut acked = BTreeMap::new();
    for a in appenders {
        for (off, v) in a.join().unwrap() {
            assert!(
                acked.insert(off, v).is_none(),
                "offset {off} acknowledged twice"
            );
        }
    }
    assert_eq!(log.recovery_count(), CYCLES as u64);
    println!("{} appends acknowledged", acked.len());
    assert!(
        acked.len() > CYCLES / 2,
        "only {} appends acknowledged",
        acked.len()
    );
    let stored: BTreeMap<u64, Vec<u8>> = log
        .read(0, usize::MAX, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|r| (r.offset, r.value))
        .collect();
    for (off, v) in &acked {
        assert_eq!(stored.get(off), Some(v), "acknowledged record {off} lost");
    }
    (sim, acked)
}

#[test]
fn appends_with_failing_fsyncs_and_concurrent_recoveries() {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(run());
    });
    let (sim, acked) = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("deadlock: appends and recoveries did not finish");
    sim.crash();
    let log = ShardLog::open_with_storage(sim, cfg()).unwrap();
    for (off, v) in &acked {
        assert_eq!(
            &log.read(*off, 1, usize::MAX).unwrap()[0].value,
            v,
            "acknowledged record {off} lost in a power loss"
        );
    }
}
