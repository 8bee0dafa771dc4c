//! Model-based property test: the log against a Vec of records, through random
//! appends, reads, timestamp lookups, retention, syncs, injected fsync and write
//! failures (followed by a restart or an in-place recovery), clean reopens and
//! simulated power losses (with and without torn tails).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use proptest::prelude::*;
use riffle_log::{LogConfig, LogError, ShardLog, SimStorage, StoredRecord, SyncPolicy};

type Rec = (i64, Vec<u8>, Vec<u8>);

#[derive(Debug, Clone)]
enum Op {
    Append {
        ts_delta: i64,
        recs: Vec<(Vec<u8>, Vec<u8>)>,
    },
    /// Arms one fsync failure, then appends (only used with SyncPolicy::Always).
    AppendWithSyncFailure {
        recs: Vec<(Vec<u8>, Vec<u8>)>,
        torn: bool,
        seed: u64,
    },
    /// Arms one write or fsync failure, appends, and if that poisoned the log,
    /// recovers it in place (`ShardLog::recover`) without a restart.
    FaultThenRecover {
        write: bool,
        recs: Vec<(Vec<u8>, Vec<u8>)>,
    },
    Read {
        from_pick: u64,
        max_records: usize,
        max_bytes: usize,
    },
    OffsetForTs {
        back: i64,
    },
    DeleteBefore {
        back: i64,
    },
    Sync,
    Crash {
        torn: bool,
        seed: u64,
    },
    Reopen,
}

fn records() -> impl Strategy<Value = Vec<(Vec<u8>, Vec<u8>)>> {
    prop::collection::vec(
        (
            prop::collection::vec(any::<u8>(), 0..4),
            prop::collection::vec(any::<u8>(), 0..40),
        ),
        1..4,
    )
}

fn op(always: bool) -> impl Strategy<Value = Op> {
    let fail_weight = if always { 1 } else { 0 };
    prop_oneof![
        12 => (-50i64..100, records()).prop_map(|(ts_delta, recs)| Op::Append { ts_delta, recs }),
        fail_weight => (records(), any::<bool>(), any::<u64>())
            .prop_map(|(recs, torn, seed)| Op::AppendWithSyncFailure { recs, torn, seed }),
        2 => (any::<bool>(), records())
            .prop_map(|(write, recs)| Op::FaultThenRecover { write, recs }),
        4 => (0u64..1000, 0usize..8, 0usize..150)
            .prop_map(|(from_pick, max_records, max_bytes)| Op::Read { from_pick, max_records, max_bytes }),
        2 => (-20i64..800).prop_map(|back| Op::OffsetForTs { back }),
        2 => (-20i64..600).prop_map(|back| Op::DeleteBefore { back }),
        2 => Just(Op::Sync),
        2 => (any::<bool>(), any::<u64>()).prop_map(|(torn, seed)| Op::Crash { torn, seed }),
        1 => Just(Op::Reopen),
    ]
}

struct Model {
    /// Every record ever appended (and not lost), offset = index.
    recs: Vec<Rec>,
    start: u64,
    /// Lower bound of what must survive a power loss.
    synced: u64,
}

impl Model {
    fn last_ts(&self) -> Option<i64> {
        self.recs.last().map(|r| r.0)
    }
    fn len(&self) -> u64 {
        self.recs.len() as u64
    }
}

struct Harness {
    sim: Arc<SimStorage>,
    cfg: LogConfig,
    log: Option<ShardLog>,
    model: Model,
}

impl Harness {
    fn log(&self) -> &ShardLog {
        self.log.as_ref().unwrap()
    }

    /// Power loss (or clean reopen), then reconcile the model with what survived.
    /// `pending` are records of a failed append that may or may not have survived.
    fn restart(&mut self, crash: Option<(bool, u64)>, pending: &[Rec]) {
        self.log = None;
        match crash {
            Some((true, seed)) => self.sim.crash_torn(seed),
            Some((false, _)) => self.sim.crash(),
            None => {}
        }
        let log = ShardLog::open_with_storage(self.sim.clone(), self.cfg.clone()).unwrap();
        let m = &mut self.model;
        let end = log.end_offset();
        let upper = m.len() + pending.len() as u64;
        assert!(
            end >= m.synced,
            "acknowledged+synced records lost: end {end} < synced {}",
            m.synced
        );
        assert!(
            end <= upper,
            "records appeared from nowhere: end {end} > {upper}"
        );
        if crash.is_none() {
            assert_eq!(end, m.len(), "clean reopen must keep everything written");
        }
        m.recs.extend_from_slice(pending);
        m.recs.truncate(end as usize);
        m.synced = end; // recovery fsyncs whatever it kept
        self.log = Some(log);
    }

    fn check_invariants(&self) {
        let log = self.log();
        let m = &self.model;
        assert_eq!(log.end_offset(), m.len());
        assert_eq!(log.start_offset(), m.start);
        assert_eq!(log.last_timestamp_ms(), m.last_ts());
        let all = log.read(0, usize::MAX, usize::MAX).unwrap();
        assert_eq!(all, expected(m, m.start, usize::MAX, usize::MAX));
    }
}

fn expected(m: &Model, from: u64, max_records: usize, max_bytes: usize) -> Vec<StoredRecord> {
    let mut out = Vec::new();
    let mut bytes = 0;
    for off in from.max(m.start)..m.len() {
        if out.len() >= max_records {
            break;
        }
        let (ts, k, v) = &m.recs[off as usize];
        let size = k.len() + v.len();
        if !out.is_empty() && bytes + size > max_bytes {
            break;
        }
        bytes += size;
        out.push(StoredRecord {
            offset: off,
            timestamp_ms: *ts,
            key: k.clone(),
            value: v.clone(),
            sealed: false,
        });
    }
    out
}

fn as_slices(recs: &[(Vec<u8>, Vec<u8>)]) -> Vec<(&[u8], &[u8])> {
    recs.iter()
        .map(|(k, v)| (k.as_slice(), v.as_slice()))
        .collect()
}

fn run(policy: SyncPolicy, ops: Vec<Op>) {
    let cfg = LogConfig {
        segment_max_bytes: 300,
        segment_max_age_ms: 400,
        index_interval_bytes: 64,
        sync: policy,
        ..LogConfig::default()
    };
    let sim = Arc::new(SimStorage::new());
    let log = ShardLog::open_with_storage(sim.clone(), cfg.clone()).unwrap();
    let mut h = Harness {
        sim,
        cfg,
        log: Some(log),
        model: Model {
            recs: Vec::new(),
            start: 0,
            synced: 0,
        },
    };
    for op in ops {
        let now = h.model.last_ts().unwrap_or(1000);
        match op {
            Op::Append { ts_delta, recs } => {
                let ts = now + ts_delta;
                let info = h.log().append(ts, &as_slices(&recs)).unwrap();
                let eff = ts.max(h.model.last_ts().unwrap_or(i64::MIN));
                assert_eq!(info.first_offset, h.model.len());
                assert_eq!(info.timestamp_ms, eff);
                h.model
                    .recs
                    .extend(recs.into_iter().map(|(k, v)| (eff, k, v)));
                if policy == SyncPolicy::Always {
                    h.model.synced = h.model.len();
                }
            }
            Op::AppendWithSyncFailure { recs, torn, seed } => {
                h.sim.fail_next_syncs(1);
                let err = h.log().append(now + 1, &as_slices(&recs)).unwrap_err();
                assert!(matches!(err, LogError::Io(_)), "{err}");
                assert!(matches!(
                    h.log().append(now + 1, &as_slices(&recs)),
                    Err(LogError::Poisoned)
                ));
                // Not visible to readers.
                assert_eq!(h.log().end_offset(), h.model.len());
                let pending: Vec<Rec> = recs.into_iter().map(|(k, v)| (now + 1, k, v)).collect();
                h.restart(Some((torn, seed)), &pending);
            }
            Op::FaultThenRecover { write, recs } => {
                if write {
                    h.sim.fail_next_writes(1);
                } else {
                    h.sim.fail_next_syncs(1);
                }
                match h.log().append(now, &as_slices(&recs)) {
                    // The armed failure hit something that may fail quietly (an .idx
                    // write) or nothing at all (no fsync under Never without a roll).
                    Ok(info) => {
                        assert_eq!(info.first_offset, h.model.len());
                        h.model
                            .recs
                            .extend(recs.into_iter().map(|(k, v)| (now, k, v)));
                        if policy == SyncPolicy::Always {
                            h.model.synced = h.model.len();
                        }
                    }
                    Err(LogError::Io(_)) => {}
                    Err(e) => panic!("unexpected error {e}"),
                }
                h.sim.fail_next_writes(0);
                h.sim.fail_next_syncs(0);
                if h.log().is_poisoned() {
                    assert!(h.log().recover().unwrap());
                    // Recovery keeps exactly the acknowledged records and syncs them.
                    h.model.synced = h.model.len();
                }
                assert!(!h.log().is_poisoned());
            }
            Op::Read {
                from_pick,
                max_records,
                max_bytes,
            } => {
                let from = from_pick % (h.model.len() + 3);
                let got = h.log().read(from, max_records, max_bytes).unwrap();
                assert_eq!(
                    got,
                    expected(&h.model, from, max_records, max_bytes),
                    "read({from}, {max_records}, {max_bytes})"
                );
            }
            Op::OffsetForTs { back } => {
                let t = now - back;
                let m = &h.model;
                let want = (m.start..m.len())
                    .find(|&o| m.recs[o as usize].0 >= t)
                    .unwrap_or(m.len());
                assert_eq!(h.log().offset_for_timestamp(t).unwrap(), want, "ts {t}");
            }
            Op::DeleteBefore { back } => {
                let cutoff = now - back;
                let old_start = h.model.start;
                let freed = h.log().delete_before(cutoff).unwrap();
                let m = &mut h.model;
                let new_start = h.log.as_ref().unwrap().start_offset();
                assert!(new_start >= old_start && new_start <= m.len());
                assert_eq!(freed > 0, new_start > old_start);
                for o in old_start..new_start {
                    assert!(
                        m.recs[o as usize].0 < cutoff,
                        "deleted record {o} is not older than the cutoff"
                    );
                }
                if m.recs[old_start as usize..].iter().all(|r| r.0 < cutoff) {
                    assert_eq!(new_start, m.len(), "fully expired log must be emptied");
                }
                m.start = new_start;
                // Deleted segments were sealed, and sealing fsyncs.
                m.synced = m.synced.max(new_start);
            }
            Op::Sync => {
                h.log().sync().unwrap();
                h.model.synced = h.model.len();
            }
            Op::Crash { torn, seed } => h.restart(Some((torn, seed)), &[]),
            Op::Reopen => h.restart(None, &[]),
        }
        h.check_invariants();
    }
    // Whatever happened, the log still takes appends that continue the offsets.
    let end = h.model.len();
    assert_eq!(
        h.log()
            .append(i64::MAX, &[(b"k", b"v")])
            .unwrap()
            .first_offset,
        end
    );
}

proptest! {
    // Modest by default so the suite stays fast; PROPTEST_CASES=5000 for a soak.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(128),
        ..ProptestConfig::default()
    })]

    #[test]
    fn log_matches_model_always(ops in prop::collection::vec(op(true), 1..60)) {
        run(SyncPolicy::Always, ops);
    }

    #[test]
    fn log_matches_model_never(ops in prop::collection::vec(op(false), 1..60)) {
        run(SyncPolicy::Never, ops);
    }
}

/// Regression: an empty active segment after a torn tail broke the binary search
/// over segments in `offset_for_timestamp`.
#[test]
fn regression_empty_active_segment_time_lookup() {
    let ops = vec![
        Op::Append {
            ts_delta: 0,
            recs: vec![(vec![], vec![])],
        },
        Op::Append {
            ts_delta: 0,
            recs: vec![(vec![], vec![0; 23]), (vec![1, 2, 3], vec![5; 40])],
        },
        Op::Append {
            ts_delta: 96,
            recs: vec![(vec![1], vec![5; 40]), (vec![1], vec![5; 40])],
        },
        Op::Crash {
            torn: false,
            seed: 0,
        },
        Op::OffsetForTs { back: 374 },
    ];
    run(SyncPolicy::Never, ops);
}
