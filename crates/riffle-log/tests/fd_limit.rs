//! Sealed segments are opened on demand under a process-wide descriptor cap: a log
//! with more sealed segments than `RLIMIT_NOFILE` allows still opens and reads.
//! In its own file because it lowers the descriptor limit of the whole process.
#![allow(clippy::unwrap_used)]

use riffle_log::{sealed_file_stats, LogConfig, ShardLog, SyncPolicy};

const NOFILE: u64 = 256;
const RECORDS: u64 = 1_000;

fn value(i: u64) -> Vec<u8> {
    format!("record-{i:06}").into_bytes()
}

#[test]
fn more_sealed_segments_than_the_descriptor_limit() {
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    rlimit::setrlimit(rlimit::Resource::NOFILE, NOFILE.min(hard), hard).unwrap();

    let dir = tempfile::tempdir().unwrap();
    // One batch per segment: every record ends up in its own sealed segment.
    let cfg = LogConfig {
        segment_max_bytes: 64,
        sync: SyncPolicy::Never,
        ..LogConfig::default()
    };
    {
        let log = ShardLog::open(dir.path(), cfg.clone()).unwrap();
        for i in 0..RECORDS {
            assert_eq!(
                log.append(1_000, &[(b"k", &value(i))])
                    .unwrap()
                    .first_offset,
                i
            );
        }
        assert!(log.segment_count() as u64 >= RECORDS);
        log.sync().unwrap();
    }
    let log = ShardLog::open(dir.path(), cfg).unwrap();
    assert!(log.segment_count() as u64 > NOFILE * 3);
    let limit = sealed_file_stats().limit;
    assert_eq!(
        limit,
        (NOFILE / 4) as usize,
        "automatic cap: a quarter of the soft limit"
    );

    // In order, in one read and one record at a time.
    let all = log.read(0, usize::MAX, usize::MAX).unwrap();
    assert_eq!(all.len() as u64, RECORDS);
    for (i, r) in all.iter().enumerate() {
        assert_eq!((r.offset, &r.value), (i as u64, &value(i as u64)));
    }
    for i in 0..RECORDS {
        assert_eq!(log.read(i, 1, usize::MAX).unwrap()[0].value, value(i));
    }
    // In random order (a fixed permutation), which forces reopening evicted files.
    let mut order: Vec<u64> = (0..RECORDS).collect();
    let mut state = 0x5eed_u64;
    for i in (1..order.len()).rev() {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        order.swap(i, (state >> 33) as usize % (i + 1));
    }
    for &i in &order {
        let got = log.read(i, 1, usize::MAX).unwrap();
        assert_eq!((got[0].offset, &got[0].value), (i, &value(i)));
        assert_eq!(log.offset_for_timestamp(1_000).unwrap(), 0);
    }
    let stats = sealed_file_stats();
    assert!(stats.open <= limit, "{stats:?}");
    assert!(stats.evictions > 0, "{stats:?}");

    // Appends and rolls keep working next to the cap.
    assert_eq!(
        log.append(2_000, &[(b"k", b"more")]).unwrap().first_offset,
        RECORDS
    );
    assert_eq!(log.read(RECORDS, 1, 100).unwrap()[0].value, b"more");
}
