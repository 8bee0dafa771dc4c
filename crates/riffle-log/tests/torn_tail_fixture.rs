//! A committed, real segment file whose last batch was cut in half. It pins the
//! on-disk format (docs/storage-format.md, version 1) and exercises recovery on
//! bytes that were not produced by the current build.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use riffle_log::{LogConfig, ShardLog, SyncPolicy};

const SEGMENT: &str = "00000000000000000000.log";

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torn-tail")
}

type Batch = (i64, Vec<(&'static [u8], &'static [u8])>);

/// The batches in the fixture, in order: (timestamp, records).
fn batches() -> Vec<Batch> {
    vec![
        (
            1_000,
            vec![(b"alpha", b"first record"), (b"beta", b"second record")],
        ),
        (2_000, vec![(b"", b"third record, empty key")]),
        (
            3_000,
            vec![
                (b"x", b"fourth"),
                (b"y", b"fifth"),
                (b"z", b"sixth: this batch is torn"),
            ],
        ),
    ]
}

/// Regenerates the fixture: `cargo test -p riffle-log --test torn_tail_fixture -- --ignored`.
/// Only needed if the format version changes (then keep the old fixture too).
#[test]
#[ignore]
fn generate_fixture() {
    let tmp = tempfile::tempdir().unwrap();
    let mut sizes = Vec::new();
    {
        let log = ShardLog::open(
            tmp.path(),
            LogConfig {
                sync: SyncPolicy::Always,
                ..LogConfig::default()
            },
        )
        .unwrap();
        for (ts, recs) in batches() {
            log.append(ts, &recs).unwrap();
            sizes.push(std::fs::metadata(tmp.path().join(SEGMENT)).unwrap().len());
        }
    }
    let bytes = std::fs::read(tmp.path().join(SEGMENT)).unwrap();
    let cut = (sizes[1] + (sizes[2] - sizes[1]) / 2) as usize;
    std::fs::create_dir_all(fixture_dir()).unwrap();
    std::fs::write(fixture_dir().join(SEGMENT), &bytes[..cut]).unwrap();
}

#[test]
fn torn_tail_fixture_recovers() {
    let src = std::fs::read(fixture_dir().join(SEGMENT)).unwrap();
    assert_eq!(&src[0..4], b"RFLS");
    assert_eq!(src[4], riffle_log::FORMAT_VERSION);

    // Work on a copy: recovery truncates the file.
    let tmp = tempfile::tempdir().unwrap();
    let seg = tmp.path().join(SEGMENT);
    std::fs::write(&seg, &src).unwrap();
    let log = ShardLog::open(tmp.path(), LogConfig::default()).unwrap();

    let want: Vec<(u64, i64, &[u8], &[u8])> = batches()
        .into_iter()
        .take(2)
        .flat_map(|(ts, recs)| recs.into_iter().map(move |(k, v)| (ts, k, v)))
        .enumerate()
        .map(|(i, (ts, k, v))| (i as u64, ts, k, v))
        .collect();
    let got = log.read(0, 100, 1 << 20).unwrap();
    let got: Vec<_> = got
        .iter()
        .map(|r| {
            (
                r.offset,
                r.timestamp_ms,
                r.key.as_slice(),
                r.value.as_slice(),
            )
        })
        .collect();
    assert_eq!(
        got, want,
        "complete batches must survive, the torn one must be gone"
    );
    assert_eq!(log.end_offset(), 3);
    assert_eq!(log.last_timestamp_ms(), Some(2_000));
    let truncated = std::fs::metadata(&seg).unwrap().len();
    assert!(
        truncated < src.len() as u64,
        "torn bytes were not truncated"
    );

    let info = log.append(4_000, &[(b"k", b"after recovery")]).unwrap();
    assert_eq!(info.first_offset, 3);
    drop(log);
    let log = ShardLog::open(tmp.path(), LogConfig::default()).unwrap();
    assert_eq!(log.end_offset(), 4);
    assert_eq!(log.read(3, 1, 100).unwrap()[0].value, b"after recovery");
}
