//! Group commit under real contention: 8 appender threads on a real directory
//! with SyncPolicy::Always, plus a reader checking that visibility only grows.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use riffle_log::{LogConfig, ShardLog, SyncPolicy};

const THREADS: usize = 8;
const APPENDS_PER_THREAD: usize = 150;

#[test]
fn concurrent_appends_share_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        segment_max_bytes: 64 * 1024,
        index_interval_bytes: 1024,
        ..LogConfig::default()
    };
    assert_eq!(cfg.sync, SyncPolicy::Always);
    let log = Arc::new(ShardLog::open(dir.path(), cfg.clone()).unwrap());
    let syncs_at_open = log.sync_count();
    let done = Arc::new(AtomicBool::new(false));

    let reader = {
        let (log, done) = (log.clone(), done.clone());
        std::thread::spawn(move || {
            let mut last_end = 0;
            while !done.load(Ordering::Acquire) {
                let end = log.end_offset();
                assert!(end >= last_end, "end_offset went backwards");
                let recs = log.read(0, usize::MAX, usize::MAX).unwrap();
                assert!(recs.len() as u64 >= end, "committed records not readable");
                for (i, r) in recs.iter().enumerate() {
                    assert_eq!(r.offset, i as u64);
                }
                last_end = end;
            }
        })
    };

    let writers: Vec<_> = (0..THREADS)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                for i in 0..APPENDS_PER_THREAD {
                    let n = 1 + (i % 3);
                    let vals: Vec<Vec<u8>> = (0..n)
                        .map(|j| format!("t{t}-a{i}-r{j}").into_bytes())
                        .collect();
                    let recs: Vec<(&[u8], &[u8])> =
                        vals.iter().map(|v| (&b"key"[..], v.as_slice())).collect();
                    let info = log.append(i as i64, &recs).unwrap();
                    // Durable and visible before append returns.
                    assert!(log.end_offset() >= info.first_offset + n as u64);
                    for (j, v) in vals.into_iter().enumerate() {
                        mine.push((info.first_offset + j as u64, v));
                    }
                }
                mine
            })
        })
        .collect();
    let mut expected = BTreeMap::new();
    for w in writers {
        for (off, v) in w.join().unwrap() {
            assert!(
                expected.insert(off, v).is_none(),
                "offset {off} handed out twice"
            );
        }
    }
    done.store(true, Ordering::Release);
    reader.join().unwrap();

    let total = expected.len() as u64;
    assert_eq!(
        expected.keys().copied().collect::<Vec<_>>(),
        (0..total).collect::<Vec<_>>(),
        "offsets not dense"
    );
    assert_eq!(log.end_offset(), total);
    let check = |log: &ShardLog| {
        let recs = log.read(0, usize::MAX, usize::MAX).unwrap();
        assert_eq!(recs.len() as u64, total);
        let mut prev_ts = i64::MIN;
        for r in &recs {
            assert_eq!(&r.value, &expected[&r.offset]);
            assert!(r.timestamp_ms >= prev_ts);
            prev_ts = r.timestamp_ms;
        }
    };
    check(&log);

    let appends = (THREADS * APPENDS_PER_THREAD) as u64;
    let syncs = log.sync_count() - syncs_at_open;
    eprintln!(
        "{appends} appends, {syncs} fdatasyncs, {} segments",
        log.segment_count()
    );
    assert!(
        syncs < appends,
        "group commit did not batch: {syncs} fdatasyncs for {appends} appends"
    );

    drop(log);
    let log = ShardLog::open(dir.path(), cfg).unwrap();
    check(&log);
}
