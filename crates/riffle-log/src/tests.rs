#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;

use crate::format::{self, SEGMENT_HEADER_LEN};
use crate::{LogConfig, LogError, ShardLog, SimStorage, SyncPolicy};

fn cfg(sync: SyncPolicy) -> LogConfig {
    LogConfig {
        segment_max_bytes: 1024,
        segment_max_age_ms: 1_000_000,
        index_interval_bytes: 128,
        sync,
        ..LogConfig::default()
    }
}

fn val(i: u64) -> Vec<u8> {
    format!("value-{i:05}").into_bytes()
}

/// Appends `n` single-record batches with timestamps 1000 + i*10.
fn fill(log: &ShardLog, n: u64) {
    for i in 0..n {
        let v = val(i);
        let info = log.append(1000 + i as i64 * 10, &[(b"k", &v)]).unwrap();
        assert_eq!(info.first_offset, i);
    }
}

fn offsets(log: &ShardLog, from: u64) -> Vec<u64> {
    log.read(from, usize::MAX, usize::MAX)
        .unwrap()
        .iter()
        .map(|r| r.offset)
        .collect()
}

fn sim_log(sim: &Arc<SimStorage>, c: LogConfig) -> ShardLog {
    ShardLog::open_with_storage(sim.clone(), c).unwrap()
}

#[test]
fn append_read_round_trip_with_dense_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let log = ShardLog::open(dir.path(), LogConfig::default()).unwrap();
    assert_eq!(
        (
            log.start_offset(),
            log.end_offset(),
            log.last_timestamp_ms()
        ),
        (0, 0, None)
    );
    assert!(log.read(0, 10, 1000).unwrap().is_empty());
    let a = log
        .append(5, &[(b"k0", b"v0"), (b"", b""), (b"k2", b"v2")])
        .unwrap();
    assert_eq!((a.first_offset, a.timestamp_ms), (0, 5));
    let b = log.append(7, &[(b"k3", b"v3")]).unwrap();
    assert_eq!(b.first_offset, 3);
    assert_eq!(log.end_offset(), 4);
    let recs = log.read(0, 100, 1 << 20).unwrap();
    let got: Vec<_> = recs
        .iter()
        .map(|r| (r.offset, r.timestamp_ms, r.key.clone(), r.value.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (0, 5, b"k0".to_vec(), b"v0".to_vec()),
            (1, 5, vec![], vec![]),
            (2, 5, b"k2".to_vec(), b"v2".to_vec()),
            (3, 7, b"k3".to_vec(), b"v3".to_vec()),
        ]
    );
    assert_eq!(offsets(&log, 2), vec![2, 3]);
    assert!(log.read(4, 10, 100).unwrap().is_empty());
    assert!(matches!(log.append(8, &[]), Err(LogError::EmptyBatch)));
}

#[test]
fn timestamps_are_clamped_non_decreasing() {
    let sim = Arc::new(SimStorage::new());
    let log = sim_log(&sim, cfg(SyncPolicy::Always));
    assert_eq!(log.append(100, &[(b"", b"a")]).unwrap().timestamp_ms, 100);
    assert_eq!(log.append(50, &[(b"", b"b")]).unwrap().timestamp_ms, 100);
    assert_eq!(log.append(120, &[(b"", b"c")]).unwrap().timestamp_ms, 120);
    let ts: Vec<_> = log
        .read(0, 10, 1000)
        .unwrap()
        .iter()
        .map(|r| r.timestamp_ms)
        .collect();
    assert_eq!(ts, vec![100, 100, 120]);
    assert_eq!(log.last_timestamp_ms(), Some(120));
}

#[test]
fn read_honours_max_records_and_max_bytes() {
    let sim = Arc::new(SimStorage::new());
    let log = sim_log(&sim, cfg(SyncPolicy::Always));
    fill(&log, 50); // each record: 1 byte key + 11 byte value = 12 bytes
    assert_eq!(offsets(&log, 0).len(), 50);
    assert_eq!(
        log.read(3, 4, usize::MAX)
            .unwrap()
            .iter()
            .map(|r| r.offset)
            .collect::<Vec<_>>(),
        vec![3, 4, 5, 6]
    );
    assert_eq!(log.read(10, 100, 36).unwrap().len(), 3);
    assert_eq!(log.read(10, 100, 35).unwrap().len(), 2);
    // Always at least one record, even if it alone exceeds max_bytes.
    assert_eq!(log.read(10, 100, 1).unwrap().len(), 1);
    assert!(log.read(10, 0, 100).unwrap().is_empty());
    // Limits work across segment boundaries too.
    assert!(log.segment_count() > 1);
    assert_eq!(offsets(&log, 0), (0..50).collect::<Vec<_>>());
}

#[test]
fn offset_for_timestamp_uses_time_order() {
    let sim = Arc::new(SimStorage::new());
    let log = sim_log(&sim, cfg(SyncPolicy::Always));
    fill(&log, 60); // ts = 1000, 1010, ..., 1590
    assert!(log.segment_count() > 2);
    assert_eq!(log.offset_for_timestamp(i64::MIN).unwrap(), 0);
    assert_eq!(log.offset_for_timestamp(1000).unwrap(), 0);
    assert_eq!(log.offset_for_timestamp(1001).unwrap(), 1);
    assert_eq!(log.offset_for_timestamp(1250).unwrap(), 25);
    assert_eq!(log.offset_for_timestamp(1255).unwrap(), 26);
    assert_eq!(log.offset_for_timestamp(1590).unwrap(), 59);
    assert_eq!(log.offset_for_timestamp(1591).unwrap(), 60);
    for t in 990..1600 {
        let expect = ((t - 1000).max(0) as u64).div_ceil(10);
        assert_eq!(log.offset_for_timestamp(t).unwrap(), expect, "ts {t}");
    }
}

#[test]
fn rolls_by_size() {
    let sim = Arc::new(SimStorage::new());
    let log = sim_log(&sim, cfg(SyncPolicy::Never));
    fill(&log, 100);
    let logs: Vec<_> = sim
        .file_names()
        .into_iter()
        .filter(|n| n.ends_with(".log"))
        .collect();
    assert_eq!(logs.len(), log.segment_count());
    assert!(logs.len() >= 5, "{logs:?}");
    for n in &logs {
        let len = sim.read_file(n).unwrap().len() as u64;
        assert!(len <= 1024, "{n} has {len} bytes");
    }
    // Every sealed segment has an index file; the active one does not.
    let idx = sim
        .file_names()
        .into_iter()
        .filter(|n| n.ends_with(".idx"))
        .count();
    assert_eq!(idx, logs.len() - 1);
    assert_eq!(offsets(&log, 0), (0..100).collect::<Vec<_>>());
}

#[test]
fn oversized_single_batch_gets_its_own_segment() {
    let sim = Arc::new(SimStorage::new());
    let log = sim_log(&sim, cfg(SyncPolicy::Always));
    fill(&log, 2);
    let big = vec![7u8; 5000];
    assert_eq!(log.append(2000, &[(b"", &big)]).unwrap().first_offset, 2);
    assert_eq!(log.append(2000, &[(b"", b"x")]).unwrap().first_offset, 3);
    assert_eq!(log.segment_count(), 3);
    assert_eq!(log.read(2, 1, 1).unwrap()[0].value, big);
}

#[test]
fn rolls_by_age() {
    let sim = Arc::new(SimStorage::new());
    let c = LogConfig {
        segment_max_bytes: 1 << 20,
        segment_max_age_ms: 100,
        ..cfg(SyncPolicy::Always)
    };
    let log = sim_log(&sim, c);
    log.append(0, &[(b"", b"a")]).unwrap();
    log.append(99, &[(b"", b"b")]).unwrap();
    assert_eq!(log.segment_count(), 1);
    log.append(100, &[(b"", b"c")]).unwrap();
    assert_eq!(log.segment_count(), 2);
    log.append(150, &[(b"", b"d")]).unwrap();
    assert_eq!(log.segment_count(), 2);
    log.append(200, &[(b"", b"e")]).unwrap();
    assert_eq!(log.segment_count(), 3);
    assert_eq!(offsets(&log, 0), vec![0, 1, 2, 3, 4]);
}

#[test]
fn reopen_restores_everything() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(SyncPolicy::Always);
    let (before, segs, disk) = {
        let log = ShardLog::open(dir.path(), c.clone()).unwrap();
        fill(&log, 80);
        log.append(5000, &[(b"a", b"1"), (b"b", b"2")]).unwrap();
        (
            log.read(0, usize::MAX, usize::MAX).unwrap(),
            log.segment_count(),
            log.disk_bytes(),
        )
    };
    let log = ShardLog::open(dir.path(), c).unwrap();
    assert_eq!(log.read(0, usize::MAX, usize::MAX).unwrap(), before);
    assert_eq!((log.start_offset(), log.end_offset()), (0, 82));
    assert_eq!(log.last_timestamp_ms(), Some(5000));
    assert_eq!(log.segment_count(), segs);
    assert_eq!(log.disk_bytes(), disk);
    assert_eq!(log.offset_for_timestamp(1255).unwrap(), 26);
    assert_eq!(
        log.append(10, &[(b"", b"z")]).unwrap(),
        crate::AppendInfo {
            first_offset: 82,
            timestamp_ms: 5000
        }
    );
}

#[test]
fn opening_a_locked_directory_fails() {
    let dir = tempfile::tempdir().unwrap();
    let _a = ShardLog::open(dir.path(), LogConfig::default()).unwrap();
    assert!(matches!(
        ShardLog::open(dir.path(), LogConfig::default()),
        Err(LogError::Io(_))
    ));
}

#[test]
fn delete_before_frees_whole_segments() {
    let sim = Arc::new(SimStorage::new());
    let log = sim_log(&sim, cfg(SyncPolicy::Always));
    fill(&log, 100); // ts 1000..1990
    let segs = log.segment_count();
    let disk = log.disk_bytes();
    assert_eq!(log.delete_before(1000).unwrap(), 0);
    assert_eq!(log.start_offset(), 0);

    let freed = log.delete_before(1405).unwrap();
    let start = log.start_offset();
    assert!(start > 0 && start <= 41, "start {start}");
    assert!(freed > 0);
    assert_eq!(log.disk_bytes(), disk - freed);
    assert!(log.segment_count() < segs);
    // Whole segments only: the record just before start is expired, and the
    // remaining first segment still holds a record at/after the cutoff.
    let recs = log.read(0, usize::MAX, usize::MAX).unwrap();
    assert_eq!(recs[0].offset, start);
    assert_eq!(recs.len() as u64, 100 - start);
    assert!(1000 + (start as i64 - 1) * 10 < 1405);
    // Files are gone from storage too.
    let logs = sim
        .file_names()
        .into_iter()
        .filter(|n| n.ends_with(".log"))
        .count();
    assert_eq!(logs, log.segment_count());
    assert!(!sim.file_names().contains(&format::log_name(0)));
    assert!(!sim.file_names().contains(&format::idx_name(0)));
    assert_eq!(log.offset_for_timestamp(0).unwrap(), start);

    // Survives reopen.
    drop(log);
    let log = sim_log(&sim, cfg(SyncPolicy::Always));
    assert_eq!(log.start_offset(), start);
    assert_eq!(log.end_offset(), 100);
}

#[test]
fn delete_before_expires_an_idle_active_segment() {
    let sim = Arc::new(SimStorage::new());
    let log = sim_log(&sim, cfg(SyncPolicy::Always));
    fill(&log, 100);
    let freed = log.delete_before(10_000).unwrap();
    assert!(freed > 0);
    assert_eq!(
        (log.start_offset(), log.end_offset(), log.segment_count()),
        (100, 100, 1)
    );
    assert_eq!(log.disk_bytes(), SEGMENT_HEADER_LEN);
    assert!(log.read(0, 10, 100).unwrap().is_empty());
    assert_eq!(log.last_timestamp_ms(), Some(1990));
    // The timestamp floor survives a reopen even though every record is gone.
    drop(log);
    let log = sim_log(&sim, cfg(SyncPolicy::Always));
    assert_eq!(log.last_timestamp_ms(), Some(1990));
    assert_eq!(
        log.append(5, &[(b"", b"x")]).unwrap(),
        crate::AppendInfo {
            first_offset: 100,
            timestamp_ms: 1990
        }
    );
}

fn idx_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".idx"))
        .map(|n| (n.clone(), std::fs::read(dir.join(&n)).unwrap()))
        .collect();
    v.sort();
    v
}

#[test]
fn index_rebuilt_when_deleted_or_corrupted() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(SyncPolicy::Always);
    let before = {
        let log = ShardLog::open(dir.path(), c.clone()).unwrap();
        fill(&log, 60);
        log.read(0, usize::MAX, usize::MAX).unwrap()
    };
    let original = idx_files(dir.path());
    assert!(original.len() >= 2);
    // Delete one, corrupt one (checksum), and make one describe the wrong length.
    std::fs::remove_file(dir.path().join(&original[0].0)).unwrap();
    let mut bad = original[1].1.clone();
    bad[70] ^= 0xff;
    std::fs::write(dir.path().join(&original[1].0), bad).unwrap();
    std::fs::write(dir.path().join(&original[2].0), b"short").unwrap();

    let log = ShardLog::open(dir.path(), c).unwrap();
    assert_eq!(
        idx_files(dir.path()),
        original,
        "rebuilt index files must match the originals byte for byte"
    );
    assert_eq!(log.read(0, usize::MAX, usize::MAX).unwrap(), before);
    assert_eq!(log.offset_for_timestamp(1333).unwrap(), 34);
}

#[test]
fn reads_seek_through_the_sparse_index() {
    // Corrupt the first batch of a sealed segment behind the log's back: reading from
    // its start fails, but reading from a later indexed batch does not touch it.
    let dir = tempfile::tempdir().unwrap();
    let c = LogConfig {
        segment_max_bytes: 1 << 20,
        index_interval_bytes: 64,
        ..cfg(SyncPolicy::Always)
    };
    let log = ShardLog::open(dir.path(), c).unwrap();
    fill(&log, 20);
    let path = dir.path().join(format::log_name(0));
    let mut bytes = std::fs::read(&path).unwrap();
    let p = SEGMENT_HEADER_LEN as usize + 40; // inside batch 0's records
    bytes[p] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    assert!(matches!(log.read(0, 1, 100), Err(LogError::Corrupt { .. })));
    assert_eq!(offsets(&log, 10), (10..20).collect::<Vec<_>>());
}

#[test]
fn corrupt_sealed_segment_is_an_error_on_open() {
    let sim = Arc::new(SimStorage::new());
    {
        let log = sim_log(&sim, cfg(SyncPolicy::Always));
        fill(&log, 60);
    }
    let name = format::log_name(0);
    let mut bytes = sim.read_file(&name).unwrap();
    bytes[SEGMENT_HEADER_LEN as usize + 40] ^= 1;
    sim.write_file(&name, &bytes);
    // With a valid .idx the segment is trusted at open; the damage shows on read.
    let log = sim_log(&sim, cfg(SyncPolicy::Always));
    assert!(matches!(log.read(0, 1, 100), Err(LogError::Corrupt { .. })));
    drop(log);
    // Without it, the rebuild scan refuses to silently drop data.
    sim.write_file(&format::idx_name(0), b"");
    let err = ShardLog::open_with_storage(sim.clone(), cfg(SyncPolicy::Always))
        .err()
        .unwrap();
    assert!(
        matches!(err, LogError::Corrupt { position, .. } if position == SEGMENT_HEADER_LEN),
        "{err}"
    );
}

#[test]
fn missing_middle_segment_is_an_error() {
    let sim = Arc::new(SimStorage::new());
    {
        let log = sim_log(&sim, cfg(SyncPolicy::Always));
        fill(&log, 60);
    }
    let names: Vec<_> = sim
        .file_names()
        .into_iter()
        .filter(|n| n.ends_with(".log"))
        .collect();
    crate::Storage::remove(&*sim, &names[1]).unwrap();
    assert!(matches!(
        ShardLog::open_with_storage(sim.clone(), cfg(SyncPolicy::Always)),
        Err(LogError::Corrupt { .. })
    ));
}

#[test]
fn failed_sync_poisons_the_log() {
    let sim = Arc::new(SimStorage::new());
    let log = sim_log(&sim, cfg(SyncPolicy::Always));
    fill(&log, 3);
    sim.fail_next_syncs(1);
    let err = log.append(2000, &[(b"", b"lost")]).unwrap_err();
    assert!(matches!(err, LogError::Io(_)), "{err}");
    assert!(log.is_poisoned());
    // Never visible, and every later write is refused.
    assert_eq!(log.end_offset(), 3);
    assert_eq!(offsets(&log, 0), vec![0, 1, 2]);
    assert!(matches!(
        log.append(2001, &[(b"", b"x")]),
        Err(LogError::Poisoned)
    ));
    assert!(matches!(log.sync(), Err(LogError::Poisoned)));
    // Reopening runs recovery and accepts writes again.
    drop(log);
    sim.crash();
    let log = sim_log(&sim, cfg(SyncPolicy::Always));
    assert_eq!(log.end_offset(), 3);
    assert_eq!(log.append(2002, &[(b"", b"y")]).unwrap().first_offset, 3);
}

#[test]
fn failed_sync_while_rolling_poisons_the_log() {
    let sim = Arc::new(SimStorage::new());
    let log = sim_log(&sim, cfg(SyncPolicy::Never));
    fill(&log, 5);
    sim.fail_next_syncs(1);
    let big = vec![0u8; 2000];
    assert!(matches!(
        log.append(3000, &[(b"", &big)]),
        Err(LogError::Io(_))
    ));
    assert!(matches!(
        log.append(3000, &[(b"", b"")]),
        Err(LogError::Poisoned)
    ));
}

#[test]
fn always_policy_survives_crash() {
    let sim = Arc::new(SimStorage::new());
    {
        let log = sim_log(&sim, cfg(SyncPolicy::Always));
        fill(&log, 30);
    }
    sim.crash_torn(7);
    let log = sim_log(&sim, cfg(SyncPolicy::Always));
    assert_eq!(offsets(&log, 0), (0..30).collect::<Vec<_>>());
}

#[test]
fn torn_tail_is_truncated_and_appends_continue() {
    let c = LogConfig {
        segment_max_bytes: 1 << 20,
        ..cfg(SyncPolicy::Never)
    };
    let active = format::log_name(0);
    // Find a seed whose kept prefix ends mid-batch.
    for seed in 0..100 {
        let sim = Arc::new(SimStorage::new());
        {
            let log = sim_log(&sim, c.clone());
            fill(&log, 10);
            log.sync().unwrap();
            for i in 10..20u64 {
                log.append(5000, &[(b"k", &val(i))]).unwrap();
            }
        }
        sim.crash_torn(seed);
        let crashed_len = sim.read_file(&active).unwrap().len();
        let log = sim_log(&sim, c.clone());
        let recovered_len = sim.read_file(&active).unwrap().len();
        if recovered_len == crashed_len {
            continue; // prefix happened to end on a batch boundary
        }
        assert!(recovered_len < crashed_len);
        let end = log.end_offset();
        assert!((10..20).contains(&end), "end {end}");
        assert_eq!(offsets(&log, 0), (0..end).collect::<Vec<_>>());
        for r in log.read(0, 100, usize::MAX).unwrap() {
            assert_eq!(r.value, val(r.offset));
        }
        assert_eq!(
            log.append(6000, &[(b"", b"next")]).unwrap().first_offset,
            end
        );
        assert_eq!(log.read(end, 1, 1).unwrap()[0].value, b"next");
        return;
    }
    panic!("no seed produced a torn batch");
}

#[test]
fn never_policy_loses_unsynced_data_until_sync() {
    let sim = Arc::new(SimStorage::new());
    let c = LogConfig {
        segment_max_bytes: 1 << 20,
        ..cfg(SyncPolicy::Never)
    };
    {
        let log = sim_log(&sim, c.clone());
        fill(&log, 5);
        log.sync().unwrap();
        log.append(2000, &[(b"", b"unsynced")]).unwrap();
        assert_eq!(log.end_offset(), 6); // visible once written
    }
    sim.crash();
    let log = sim_log(&sim, c);
    assert_eq!(log.end_offset(), 5);
}

#[test]
fn interval_policy_flushes_in_the_background() {
    let sim = Arc::new(SimStorage::new());
    let c = LogConfig {
        segment_max_bytes: 1 << 20,
        ..cfg(SyncPolicy::IntervalMs(5))
    };
    {
        let log = sim_log(&sim, c.clone());
        let at_open = log.sync_count();
        fill(&log, 5);
        // No explicit sync: wait for the flusher to run once after the appends.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while log.sync_count() == at_open {
            assert!(std::time::Instant::now() < deadline, "flusher never ran");
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }
    sim.crash();
    let log = sim_log(&sim, c);
    assert_eq!(log.end_offset(), 5);
}

#[test]
fn rejects_oversized_batch() {
    let sim = Arc::new(SimStorage::new());
    let log = sim_log(&sim, cfg(SyncPolicy::Never));
    let huge = vec![0u8; crate::MAX_BATCH_BYTES];
    assert!(matches!(
        log.append(0, &[(b"", &huge)]),
        Err(LogError::BatchTooLarge { .. })
    ));
    assert_eq!(log.end_offset(), 0);
}

#[test]
fn interval_log_can_be_reopened_right_after_drop() {
    // The flusher must not keep a dropped log (and its directory lock) alive.
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(SyncPolicy::IntervalMs(1));
    for i in 0..50u64 {
        let log = ShardLog::open(dir.path(), c.clone()).unwrap();
        assert_eq!(log.end_offset(), i);
        log.append(1000, &[(b"k", &val(i))]).unwrap();
        std::thread::sleep(std::time::Duration::from_micros(300));
    }
}

fn values(log: &ShardLog) -> Vec<Vec<u8>> {
    log.read(0, usize::MAX, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|r| r.value)
        .collect()
}

#[test]
fn poisoned_log_recovers_in_place_and_keeps_acknowledged_records() {
    let sim = Arc::new(SimStorage::new());
    let log = sim_log(&sim, cfg(SyncPolicy::Always));
    fill(&log, 3);
    let size_before = sim.read_file(&format::log_name(0)).unwrap().len();
    sim.fail_next_syncs(1);
    assert!(matches!(
        log.append(2000, &[(b"", b"failed")]),
        Err(LogError::Io(_))
    ));
    assert_eq!(log.health(), crate::LogHealth::Poisoned);
    // Within the retry pause, appends are refused without touching the disk.
    assert!(matches!(
        log.append(2001, &[(b"", b"x")]),
        Err(LogError::Poisoned)
    ));
    let recovered_before = crate::fault_stats().recoveries;
    assert!(log.recover().unwrap());
    assert!(
        !log.recover().unwrap(),
        "a healthy log has nothing to recover"
    );
    assert_eq!(log.health(), crate::LogHealth::Healthy);
    assert_eq!(log.recovery_count(), 1);
    assert!(crate::fault_stats().recoveries > recovered_before);
    // The failed batch (never acknowledged) is cut; the acknowledged ones are kept.
    assert_eq!(
        sim.read_file(&format::log_name(0)).unwrap().len(),
        size_before
    );
    assert_eq!(log.end_offset(), 3);
    assert_eq!(
        log.append(2002, &[(b"", b"after")]).unwrap().first_offset,
        3
    );
    drop(log);
    sim.crash();
    let log = sim_log(&sim, cfg(SyncPolicy::Always));
    let mut want: Vec<Vec<u8>> = (0..3).map(val).collect();
    want.push(b"after".to_vec());
    assert_eq!(values(&log), want);
}

#[test]
fn poisoned_log_recovers_on_a_later_append() {
    let sim = Arc::new(SimStorage::new());
    let c = LogConfig {
        recovery_retry_ms: 50,
        ..cfg(SyncPolicy::Always)
    };
    let log = sim_log(&sim, c.clone());
    fill(&log, 2);
    sim.fail_next_syncs(1);
    assert!(log.sync().is_ok(), "nothing to sync, nothing fails");
    assert!(log.append(2000, &[(b"", b"failed")]).is_err());
    assert!(matches!(
        log.append(2001, &[(b"", b"too early")]),
        Err(LogError::Poisoned)
    ));
    std::thread::sleep(std::time::Duration::from_millis(60));
    assert_eq!(log.append(2002, &[(b"", b"late")]).unwrap().first_offset, 2);
    assert!(!log.is_poisoned());
    assert_eq!(log.recovery_count(), 1);
    drop(log);
    sim.crash();
    let log = sim_log(&sim, c);
    assert_eq!(values(&log), vec![val(0), val(1), b"late".to_vec()]);
}

#[test]
fn recovery_makes_acknowledged_unsynced_records_durable() {
    // Under Never (and IntervalMs) records are acknowledged before they are synced;
    // after a failed fdatasync, recovery writes them again and syncs them.
    let sim = Arc::new(SimStorage::new());
    let c = LogConfig {
        segment_max_bytes: 1 << 20,
        ..cfg(SyncPolicy::Never)
    };
    let log = sim_log(&sim, c.clone());
    fill(&log, 5);
    sim.fail_next_syncs(1);
    assert!(matches!(log.sync(), Err(LogError::Io(_))));
    assert!(log.is_poisoned());
    assert!(log.recover().unwrap());
    assert_eq!(log.end_offset(), 5);
    drop(log);
    sim.crash();
    let log = sim_log(&sim, c);
    assert_eq!(values(&log), (0..5).map(val).collect::<Vec<_>>());
}

#[test]
fn recovery_after_a_failed_roll_removes_the_half_created_segment() {
    let sim = Arc::new(SimStorage::new());
    let log = sim_log(&sim, cfg(SyncPolicy::Never));
    fill(&log, 5);
    // Rolling writes the old segment's .idx, then the new segment's header: fail both.
    sim.fail_next_writes(2);
    let big = vec![7u8; 2000];
    assert!(log.append(3000, &[(b"", &big)]).is_err());
    assert!(log.is_poisoned());
    assert!(sim.file_names().contains(&format::log_name(5)));
    assert!(log.recover().unwrap());
    assert!(!sim.file_names().contains(&format::log_name(5)));
    // The roll is retried and succeeds now.
    assert_eq!(log.append(3000, &[(b"", &big)]).unwrap().first_offset, 5);
    assert_eq!(log.append(3001, &[(b"", b"z")]).unwrap().first_offset, 6);
    log.sync().unwrap();
    drop(log);
    sim.crash();
    let log = sim_log(&sim, cfg(SyncPolicy::Never));
    assert_eq!(log.end_offset(), 7);
    assert_eq!(values(&log)[5], big);
}

#[test]
fn failed_write_leaves_no_partial_batch_and_later_appends_succeed() {
    let sim = Arc::new(SimStorage::new());
    let c = LogConfig {
        segment_max_bytes: 1 << 20,
        ..cfg(SyncPolicy::Always)
    };
    let log = sim_log(&sim, c.clone());
    fill(&log, 3);
    let size = sim.read_file(&format::log_name(0)).unwrap().len();
    let failures = crate::fault_stats().write_failures;
    sim.set_full(true);
    for _ in 0..3 {
        let err = log.append(2000, &[(b"", b"no space")]).unwrap_err();
        assert!(
            matches!(&err, LogError::Io(e) if e.kind() == std::io::ErrorKind::StorageFull),
            "{err}"
        );
        // The half-written batch was cut off again.
        assert_eq!(sim.read_file(&format::log_name(0)).unwrap().len(), size);
    }
    assert!(crate::fault_stats().write_failures >= failures + 3);
    assert_eq!(log.end_offset(), 3);
    assert_eq!(log.health(), crate::LogHealth::Healthy);
    sim.set_full(false);
    assert_eq!(
        log.append(2001, &[(b"", b"space")]).unwrap().first_offset,
        3
    );
    drop(log);
    sim.crash();
    let log = sim_log(&sim, c);
    let mut want: Vec<Vec<u8>> = (0..3).map(val).collect();
    want.push(b"space".to_vec());
    assert_eq!(values(&log), want);
}

#[test]
fn disk_full_while_rolling_recovers_by_itself_once_space_is_free() {
    let sim = Arc::new(SimStorage::new());
    let c = LogConfig {
        recovery_retry_ms: 0,
        ..cfg(SyncPolicy::Always)
    };
    let log = sim_log(&sim, c.clone());
    fill(&log, 5);
    let big = vec![1u8; 2000];
    sim.set_full(true);
    assert!(log.append(3000, &[(b"", &big)]).is_err());
    // Still full: recovery itself cannot help, nothing is acknowledged.
    assert!(log.append(3000, &[(b"", &big)]).is_err());
    assert_eq!(log.end_offset(), 5);
    sim.set_full(false);
    assert_eq!(log.append(3000, &[(b"", &big)]).unwrap().first_offset, 5);
    drop(log);
    sim.crash();
    let log = sim_log(&sim, c);
    assert_eq!(log.end_offset(), 6);
    assert_eq!(values(&log)[..5], (0..5).map(val).collect::<Vec<_>>()[..]);
}

/// Start positions of the batches of a segment file.
fn batch_positions(bytes: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut pos = SEGMENT_HEADER_LEN as usize;
    while pos + 4 <= bytes.len() {
        out.push(pos);
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        pos += 4 + len;
    }
    out
}

fn three_batch_cfg() -> LogConfig {
    LogConfig {
        segment_max_bytes: 1 << 20,
        ..cfg(SyncPolicy::Always)
    }
}

#[test]
fn damage_before_the_last_batch_is_reported_not_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let seg = dir.path().join(format::log_name(0));
    {
        let log = ShardLog::open(dir.path(), three_batch_cfg()).unwrap();
        fill(&log, 3);
    }
    let mut bytes = std::fs::read(&seg).unwrap();
    let batches = batch_positions(&bytes);
    assert_eq!(batches.len(), 3);
    bytes[batches[1] + 40] ^= 0x55; // inside the middle batch's records
    std::fs::write(&seg, &bytes).unwrap();
    let damaged_before = crate::fault_stats().damaged_opens;

    let log = ShardLog::open(dir.path(), three_batch_cfg()).unwrap();
    assert_eq!(
        log.health(),
        crate::LogHealth::Damaged {
            file: format::log_name(0),
            position: batches[1] as u64,
            reason: "batch checksum mismatch".into(),
        }
    );
    assert!(crate::fault_stats().damaged_opens > damaged_before);
    // Nothing was cut, and a copy is kept aside.
    assert_eq!(std::fs::read(&seg).unwrap(), bytes);
    let copy = dir.path().join(format!("{}.corrupt", format::log_name(0)));
    assert_eq!(std::fs::read(&copy).unwrap(), bytes);
    // The records before the damage are readable; writes are refused, and say why.
    assert_eq!(values(&log), vec![val(0)]);
    let err = log.append(5000, &[(b"", b"x")]).unwrap_err();
    assert!(
        matches!(&err, LogError::Damaged { position, valid_at, .. }
            if *position == batches[1] as u64 && *valid_at == batches[2] as u64),
        "{err}"
    );
    assert!(matches!(log.recover(), Err(LogError::Damaged { .. })));
    assert_eq!(log.delete_before(i64::MAX).unwrap(), 0);
    drop(log);
    // Still damaged (and still untouched) on the next open.
    let log = ShardLog::open(dir.path(), three_batch_cfg()).unwrap();
    assert!(matches!(log.health(), crate::LogHealth::Damaged { .. }));
    assert_eq!(std::fs::read(&seg).unwrap(), bytes);
}

#[test]
fn a_cut_last_batch_is_a_torn_tail_and_truncated() {
    let sim = Arc::new(SimStorage::new());
    {
        let log = sim_log(&sim, three_batch_cfg());
        fill(&log, 3);
    }
    let name = format::log_name(0);
    let bytes = sim.read_file(&name).unwrap();
    let batches = batch_positions(&bytes);
    sim.write_file(&name, &bytes[..batches[2] + 20]);
    let log = sim_log(&sim, three_batch_cfg());
    assert_eq!(log.health(), crate::LogHealth::Healthy);
    assert_eq!(sim.read_file(&name).unwrap().len(), batches[2]);
    assert_eq!(values(&log), vec![val(0), val(1)]);
    assert_eq!(log.append(5000, &[(b"", b"x")]).unwrap().first_offset, 2);
    assert!(!sim.file_names().iter().any(|n| n.ends_with(".corrupt")));
}

#[test]
fn a_bad_last_batch_with_nothing_valid_after_it_is_a_torn_tail() {
    let sim = Arc::new(SimStorage::new());
    {
        let log = sim_log(&sim, three_batch_cfg());
        fill(&log, 3);
    }
    let name = format::log_name(0);
    let mut bytes = sim.read_file(&name).unwrap();
    let batches = batch_positions(&bytes);
    bytes[batches[2] + 40] ^= 1;
    // Garbage after it (as a torn write can leave) is not a valid batch either.
    bytes.extend_from_slice(&[0xAB; 100]);
    sim.write_file(&name, &bytes);
    let log = sim_log(&sim, three_batch_cfg());
    assert_eq!(log.health(), crate::LogHealth::Healthy);
    assert_eq!(sim.read_file(&name).unwrap().len(), batches[2]);
    assert_eq!(log.end_offset(), 2);
}

#[test]
fn sync_also_recovers_a_poisoned_log_after_the_retry_pause() {
    let sim = Arc::new(SimStorage::new());
    let c = LogConfig {
        recovery_retry_ms: 30,
        ..cfg(SyncPolicy::Never)
    };
    let log = sim_log(&sim, c.clone());
    fill(&log, 4);
    sim.fail_next_syncs(1);
    assert!(matches!(log.sync(), Err(LogError::Io(_))));
    assert!(matches!(log.sync(), Err(LogError::Poisoned)));
    std::thread::sleep(std::time::Duration::from_millis(40));
    log.sync().unwrap();
    assert!(!log.is_poisoned());
    drop(log);
    sim.crash();
    assert_eq!(sim_log(&sim, c).end_offset(), 4);
}

#[test]
fn damaged_log_opens_even_if_the_copy_cannot_be_written() {
    let sim = Arc::new(SimStorage::new());
    {
        let log = sim_log(&sim, three_batch_cfg());
        fill(&log, 3);
    }
    let name = format::log_name(0);
    let mut bytes = sim.read_file(&name).unwrap();
    let batches = batch_positions(&bytes);
    bytes[batches[1] + 40] ^= 0x55;
    sim.write_file(&name, &bytes);
    sim.set_full(true);
    let log = sim_log(&sim, three_batch_cfg());
    sim.set_full(false);
    assert!(matches!(log.health(), crate::LogHealth::Damaged { .. }));
    assert_eq!(values(&log), vec![val(0)]);
    assert_eq!(sim.read_file(&name).unwrap(), bytes);
    assert!(!sim.file_names().iter().any(|n| n.ends_with(".corrupt")));
    let err = log.append(5000, &[(b"", b"x")]).unwrap_err();
    assert!(
        matches!(&err, LogError::Damaged { copy, .. } if copy.starts_with("(none")),
        "{err}"
    );
}

/// `LogConfig::storage` puts `ShardLog::open` on the storage it names (here
/// one `SimStorage` per directory), and a `SimStorage` with a power switch
/// refuses everything once the power is off: nothing appended after the cut
/// is acknowledged, and what was acknowledged before survives the crash.
#[test]
fn a_storage_factory_and_a_power_switch_drive_open_and_crash() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let on = Arc::new(AtomicBool::new(true));
    let power: crate::PowerCheck = {
        let on = on.clone();
        Arc::new(move || on.load(Ordering::SeqCst))
    };
    let sim = Arc::new(SimStorage::with_power(power));
    let opened = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let c = LogConfig {
        storage: crate::StorageFactory::custom({
            let (sim, opened) = (sim.clone(), opened.clone());
            move |dir: &Path| {
                assert_eq!(dir, Path::new("/nowhere/shard"));
                opened.fetch_add(1, Ordering::SeqCst);
                Ok(sim.clone() as Arc<dyn crate::Storage>)
            }
        }),
        ..cfg(SyncPolicy::Always)
    };
    assert!(!c.storage.is_fs());
    let dir = Path::new("/nowhere/shard");
    let log = ShardLog::open(dir, c.clone()).unwrap();
    fill(&log, 5);
    on.store(false, Ordering::SeqCst);
    assert!(log.append(2000, &[(b"k", b"late")]).is_err());
    drop(log);
    sim.crash();
    on.store(true, Ordering::SeqCst);
    let log = ShardLog::open(dir, c).unwrap();
    assert_eq!(offsets(&log, 0), vec![0, 1, 2, 3, 4]);
    assert_eq!(opened.load(Ordering::SeqCst), 2);
    assert!(LogConfig::default().storage.is_fs());
}

/// A toy cipher for the hook's plumbing (the real AES-GCM one is in
/// riffle-streams): XOR with the key index, then a 4-byte CRC of plaintext+aad
/// as the "tag". Key 7 is unknown.
struct XorCipher {
    active: parking_lot::Mutex<Option<u16>>,
}

impl crate::BatchCipher for XorCipher {
    fn active_key(&self) -> Option<u16> {
        *self.active.lock()
    }
    fn seal(
        &self,
        key: u16,
        buf: &mut Vec<u8>,
        at: usize,
        aad: &[u8],
    ) -> Result<(), crate::CipherError> {
        let tag = crc32c::crc32c_append(crc32c::crc32c(&buf[at..]), aad);
        for b in &mut buf[at..] {
            *b ^= 0x5a ^ key as u8;
        }
        buf.extend_from_slice(&tag.to_le_bytes());
        Ok(())
    }
    fn open(&self, key: u16, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, crate::CipherError> {
        let err = |m: &str| crate::CipherError {
            code: (key == 7).then_some("KMSNotFoundException"),
            message: m.into(),
        };
        if key == 7 {
            return Err(err("no such key"));
        }
        let (body, tag) = sealed.split_at(sealed.len() - 4);
        let plain: Vec<u8> = body.iter().map(|b| b ^ 0x5a ^ key as u8).collect();
        let want = crc32c::crc32c_append(crc32c::crc32c(&plain), aad);
        if tag != want.to_le_bytes() {
            return Err(err("tag mismatch"));
        }
        Ok(plain)
    }
}

/// A value that writes itself (here: upper-cases ASCII) into the batch.
struct Upper<'a>(&'a [u8]);

impl crate::RecordValue for Upper<'_> {
    fn stored_len(&self) -> usize {
        self.0.len()
    }
    fn append_to(&self, buf: &mut Vec<u8>) -> bool {
        buf.extend(self.0.iter().map(u8::to_ascii_uppercase));
        true
    }
}

/// Claims one length and writes another, or fails outright.
struct Liar(usize, Option<&'static [u8]>);

impl crate::RecordValue for Liar {
    fn stored_len(&self) -> usize {
        self.0
    }
    fn append_to(&self, buf: &mut Vec<u8>) -> bool {
        match self.1 {
            Some(b) => {
                buf.extend_from_slice(b);
                true
            }
            None => false,
        }
    }
}

#[test]
fn sealed_batches_are_transformed_on_disk_survive_recovery_and_mix_with_plain_ones() {
    let dir = tempfile::tempdir().unwrap();
    let cipher = Arc::new(XorCipher {
        active: parking_lot::Mutex::new(None),
    });
    let c = LogConfig::default();
    {
        let log = ShardLog::open(dir.path(), c.clone()).unwrap();
        log.set_cipher(Some(cipher.clone()));
        log.append(1, &[(b"pk", b"plain-one")]).unwrap();
        *cipher.active.lock() = Some(3);
        log.append(2, &[(b"pk", b"sealed-two"), (b"pk", b"sealed-three")])
            .unwrap();
        *cipher.active.lock() = None;
        log.append(3, &[(b"pk", b"plain-four")]).unwrap();
        let got: Vec<(Vec<u8>, bool)> = log
            .read(0, 10, usize::MAX)
            .unwrap()
            .into_iter()
            .map(|r| (r.value, r.sealed))
            .collect();
        assert_eq!(
            got,
            vec![
                (b"plain-one".to_vec(), false),
                (b"sealed-two".to_vec(), true),
                (b"sealed-three".to_vec(), true),
                (b"plain-four".to_vec(), false),
            ]
        );
    }
    let file = dir.path().join(format::log_name(0));
    let bytes = std::fs::read(&file).unwrap();
    let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(has(b"plain-one") && has(b"plain-four"));
    assert!(!has(b"sealed-two") && !has(b"sealed-three"));

    // Recovery accepts the sealed batch without a cipher; reading it needs one.
    let log = ShardLog::open(dir.path(), c.clone()).unwrap();
    assert_eq!(log.end_offset(), 4);
    assert_eq!(log.read(0, 1, usize::MAX).unwrap()[0].value, b"plain-one");
    assert!(matches!(
        log.read(1, 1, usize::MAX),
        Err(LogError::Cipher { .. })
    ));
    log.set_cipher(Some(cipher.clone()));
    assert_eq!(log.read(1, 1, usize::MAX).unwrap()[0].value, b"sealed-two");
    drop(log);

    // The header names key 3; point it at the unknown key 7 (CRC fixed): the
    // cipher's error, with its code, reaches the reader.
    let mut bad = bytes.clone();
    let second = SEGMENT_HEADER_LEN as usize
        + format::parse_batch_header(&bytes[SEGMENT_HEADER_LEN as usize..])
            .unwrap()
            .total_len as usize;
    assert_eq!(bad[second + 9], format::FLAG_SEALED);
    assert_eq!(&bad[second + 10..second + 12], &3u16.to_le_bytes());
    bad[second + 10] = 7;
    let end = second
        + format::parse_batch_header(&bad[second..])
            .unwrap()
            .total_len as usize;
    let crc = crc32c::crc32c(&bad[second + 8..end]);
    bad[second + 4..second + 8].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&file, &bad).unwrap();
    let log = ShardLog::open(dir.path(), c).unwrap();
    log.set_cipher(Some(cipher));
    match log.read(1, 1, usize::MAX) {
        Err(LogError::Cipher { source, .. }) => {
            assert_eq!(source.code, Some("KMSNotFoundException"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn values_write_themselves_into_the_batch_and_a_bad_one_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = ShardLog::open(dir.path(), LogConfig::default()).unwrap();
    let info = log
        .append_values(10, &[(&b"k1"[..], Upper(b"abc")), (&b"k2"[..], Upper(b""))])
        .unwrap();
    assert_eq!(info.first_offset, 0);
    for bad in [Liar(3, None), Liar(3, Some(b"ab")), Liar(1, Some(b"ab"))] {
        let err = log
            .append_values(20, &[(&b"ok"[..], Liar(1, Some(b"x"))), (&b"k"[..], bad)])
            .unwrap_err();
        assert!(matches!(err, LogError::BadValue { index: 1 }), "{err}");
    }
    let info = log.append(30, &[(b"k3", b"raw")]).unwrap();
    assert_eq!(info.first_offset, 2, "failed batches took no offsets");
    let got: Vec<(Vec<u8>, Vec<u8>)> = log
        .read(0, 100, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|r| (r.key, r.value))
        .collect();
    assert_eq!(
        got,
        vec![
            (b"k1".to_vec(), b"ABC".to_vec()),
            (b"k2".to_vec(), vec![]),
            (b"k3".to_vec(), b"raw".to_vec()),
        ]
    );
}
