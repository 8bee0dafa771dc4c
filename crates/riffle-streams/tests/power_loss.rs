//! Power loss of the whole engine (issue 9): metadata (redb on
//! `riffle_meta::sim::SimDisk`) and every shard log (`riffle_log::SimStorage`,
//! one per shard directory) on simulated storage that keeps only what was
//! synced. One switch cuts the power to both at a random I/O operation during
//! a random workload (create, PutRecord(s) from concurrent producers, split,
//! merge, UpdateShardCount, retention changes and sweeps with the clock moved
//! past retention, delete, lifecycle settling); then the engine is reopened on
//! what survived and checked:
//!
//! 1. it opens (a crash never leaves a state the engine refuses);
//! 2. every acknowledged record of a surviving stream that is inside every
//!    retention period the stream may have had is read back exactly once, in
//!    its shard, with its sequence number; each shard reads in sequence order,
//!    and a closed shard holds nothing at or past its recorded end;
//! 3. nothing is read that was never sent;
//! 4. metadata: each stream's open shards partition the hash space, parents
//!    come before children (so lineage is acyclic) and every closed shard has an
//!    end; an acknowledged CreateStream is there, an acknowledged reshard is
//!    applied once the stream settles, an acknowledged retention change holds
//!    (or a later attempted one), and a stream whose DeleteStream returned Ok is
//!    gone once transitions are due.
//!
//! What is simulated: file contents and lengths of every segment, index and
//! the metadata file, durable only up to their last `sync_data`; a shard log's
//! directory listing, durable only up to its last `sync_dir`; the unsynced
//! tail of each log file keeps a random prefix (a torn write); on even seeds
//! the metadata file keeps a random subset of its unsynced 512-byte pieces
//! (torn, reordered write-back), on odd seeds none of them. What is not:
//! directories themselves (stream and shard folders, `trash/`, `quarantine/`)
//! live on a real temporary directory that never loses anything, so a lost
//! directory entry after a crash is not covered (the engine fsyncs parents);
//! a log file's unsynced bytes are kept only as a prefix, never with holes
//! (recovery would report such a hole as damage, see storage-format.md). The
//! interleaving of the concurrent tasks is not replayed by the seed, only the
//! workload's choices and the crash point.
//!
//! One seed in three also cuts the power again during the restart (recovery,
//! trash, quarantine, settling), before the final reopen.
//!
//! CI runs `DEFAULT_SEEDS` crash points; `RIFFLE_POWER_LOSS_SEEDS=1000` runs
//! more, `RIFFLE_POWER_LOSS_SEED=n` replays one, `RIFFLE_POWER_LOSS_VERBOSE=1`
//! prints each seed's workload and crash point.
//!
//! Shown to fail (seed 1 in CI mode) with each of these bugs planted:
//! acknowledging an append before its fdatasync (riffle-log), metadata commits
//! without fsync (`Durability::None`), and moving a deleted stream's folder to
//! the trash before the deletion commits. It found two real ones, fixed with
//! regression tests in `engine::tests`: a settle from a stale view applied a
//! reshard to a DELETING stream and turned it back ACTIVE, and a metadata
//! write racing a deletion wrote the deleted stream back (the next start then
//! refused to open: shard directory missing).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use parking_lot::Mutex;
use riffle_log::{SimStorage, Storage, StorageFactory};
use riffle_meta::sim::{PowerCheck, SimDisk};
use riffle_meta::{MetaDb, StreamMeta, StreamState, StreamStore};
use riffle_model::*;
use riffle_streams::api::{Position, StreamId};
use riffle_streams::{seqnum, Engine, EngineConfig, LogConfig, ManualClock, SyncPolicy};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const DEFAULT_SEEDS: u64 = 32;
const TRANSITION_MS: i64 = 1_000;
const HOUR_MS: i64 = 3_600_000;
const MAX_HASH: u128 = u128::MAX;

// ------------------------------------------------------------------ rng

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

// ------------------------------------------------------------------ simulated machine

/// The one switch of every simulated disk: on until it is turned off, or
/// until the I/O operation numbered `crash_at` (which then fails).
fn power_switch(
    on: &Arc<AtomicBool>,
    ops: &Arc<AtomicU64>,
    crash_at: &Arc<AtomicU64>,
) -> PowerCheck {
    let (on, ops, crash_at) = (on.clone(), ops.clone(), crash_at.clone());
    Arc::new(move || {
        if !on.load(Ordering::SeqCst) {
            return false;
        }
        if ops.fetch_add(1, Ordering::SeqCst) + 1 >= crash_at.load(Ordering::SeqCst) {
            on.store(false, Ordering::SeqCst);
            return false;
        }
        true
    })
}

/// The machine: a real temp dir for directories, simulated file contents, one
/// power switch with a countdown of I/O operations.
struct Machine {
    dir: tempfile::TempDir,
    on: Arc<AtomicBool>,
    ops: Arc<AtomicU64>,
    crash_at: Arc<AtomicU64>,
    logs: Arc<Mutex<BTreeMap<PathBuf, Arc<SimStorage>>>>,
    meta_disk: SimDisk,
    clock: Arc<ManualClock>,
    /// The engine's CREATING/UPDATING/DELETING duration: `TRANSITION_MS`, or
    /// 0 (immediate: deletions and reshards complete inside the call).
    transition_ms: u64,
}

impl Machine {
    fn new() -> Machine {
        let on = Arc::new(AtomicBool::new(true));
        let ops = Arc::new(AtomicU64::new(0));
        let crash_at = Arc::new(AtomicU64::new(u64::MAX));
        let power = power_switch(&on, &ops, &crash_at);
        Machine {
            dir: tempfile::tempdir().unwrap(),
            meta_disk: SimDisk::new(power),
            on,
            ops,
            crash_at,
            logs: Arc::default(),
            clock: Arc::new(ManualClock::new()),
            transition_ms: TRANSITION_MS as u64,
        }
    }

    fn power(&self) -> PowerCheck {
        power_switch(&self.on, &self.ops, &self.crash_at)
    }

    fn config(&self) -> EngineConfig {
        let mut cfg = EngineConfig::new(self.dir.path());
        cfg.transition_delay_ms = self.transition_ms;
        cfg.throughput_limits = false;
        let logs = self.logs.clone();
        let power = self.power();
        cfg.log = LogConfig {
            sync: SyncPolicy::Always,
            // Small segments: rolls (and retention of whole segments) happen
            // within a short workload.
            segment_max_bytes: 2048,
            index_interval_bytes: 256,
            storage: StorageFactory::custom(move |dir: &Path| {
                // The directory is real (the engine checks and fsyncs it);
                // the files in it are simulated.
                std::fs::create_dir_all(dir)?;
                let s = logs
                    .lock()
                    .entry(dir.to_path_buf())
                    .or_insert_with(|| Arc::new(SimStorage::with_power(power.clone())))
                    .clone();
                Ok(s as Arc<dyn Storage>)
            }),
            ..LogConfig::default()
        };
        cfg
    }

    /// Boots the engine on what the disks hold now.
    fn boot(&self) -> Result<(Engine, Arc<dyn StreamStore>), String> {
        let db = MetaDb::open_with_backend(
            self.meta_disk.backend(),
            &self.dir.path().join(MetaDb::FILE_NAME),
        )
        .map_err(|e| format!("metadata does not open: {e}"))?;
        let store = db.streams();
        let engine = Engine::open_with(self.config(), store.clone(), self.clock.clone())
            .map_err(|e| format!("engine does not open: {e}"))?;
        Ok((engine, store))
    }

    /// Power loss: everything unsynced is gone (a log file keeps a random
    /// prefix of its unsynced tail; with `torn_meta`, the metadata file keeps a
    /// random subset of its unsynced 512-byte pieces); then the power comes back.
    fn crash_and_restore(&self, seed: u64, torn_meta: bool) {
        self.on.store(false, Ordering::SeqCst);
        if torn_meta {
            self.meta_disk.crash_torn(seed);
        } else {
            self.meta_disk.crash();
        }
        for (i, s) in self.logs.lock().values().enumerate() {
            s.crash_torn(seed.wrapping_mul(31).wrapping_add(i as u64));
        }
        self.crash_at.store(u64::MAX, Ordering::SeqCst);
        self.on.store(true, Ordering::SeqCst);
    }
}

// ------------------------------------------------------------------ model of what was acknowledged

#[derive(Clone, Debug)]
struct Acked {
    shard_id: String,
    seq: String,
    /// The clock before the call: a lower bound of the record's arrival time.
    sent_ms: i64,
}

#[derive(Default, Debug)]
struct StreamModel {
    create_acked: bool,
    delete_attempted: bool,
    delete_acked: bool,
    /// Every record sent (data → acknowledgement, if any).
    sent: HashMap<Vec<u8>, Option<Acked>>,
    /// Every retention value that may be in effect (the initial 24 h too).
    retentions: Vec<i64>,
    /// The last acknowledged retention change and whether another was tried after it.
    retention_acked: Option<i64>,
    retention_tried_after: Vec<i64>,
    /// Acknowledged reshards: shards that must be closed once it applied.
    must_close: Vec<u32>,
    /// The last reshard tried: whether it was an UpdateShardCount, and its
    /// target if that returned Ok (then the stream ends with that many open shards).
    last_reshard: Option<(bool, Option<i64>)>,
}

#[derive(Default)]
struct Model {
    streams: BTreeMap<String, StreamModel>,
    /// Names producers may write to.
    live: Vec<String>,
    log: Vec<String>,
}

type Shared = Arc<Mutex<Model>>;

fn sref(name: &str) -> StreamRef {
    StreamRef {
        name: Some(name.into()),
        arn: None,
    }
}

fn shard_name(i: u32) -> String {
    format!("shardId-{i:012}")
}

// ------------------------------------------------------------------ workload

async fn producer(
    engine: Arc<Engine>,
    model: Shared,
    clock: Arc<ManualClock>,
    seed: u64,
    pause_ms: u64,
    stop: Arc<AtomicBool>,
) {
    let mut rng = Rng(seed);
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let name = {
            let m = model.lock();
            if m.live.is_empty() {
                None
            } else {
                Some(m.live[rng.below(m.live.len() as u64) as usize].clone())
            }
        };
        let Some(name) = name else {
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        };
        let count = 1 + rng.below(4) as usize;
        let mut batch = Vec::new();
        for _ in 0..count {
            n += 1;
            let data = format!(
                "{seed:x}/{name}/{n}/{}",
                "x".repeat(rng.below(200) as usize)
            )
            .into_bytes();
            let key = format!("k{}", rng.below(1000));
            batch.push((key, data));
        }
        {
            let mut m = model.lock();
            let s = m.streams.entry(name.clone()).or_default();
            for (_, d) in &batch {
                s.sent.insert(d.clone(), None);
            }
        }
        let sent_ms = riffle_streams::Clock::now_ms(&*clock);
        if count == 1 || rng.chance(30) {
            for (key, data) in batch {
                let r = engine
                    .put_record(PutRecordInput {
                        stream: sref(&name),
                        data: data.clone(),
                        partition_key: key,
                        ..Default::default()
                    })
                    .await;
                if let Ok(out) = r {
                    let mut m = model.lock();
                    let s = m.streams.entry(name.clone()).or_default();
                    s.sent.insert(
                        data,
                        Some(Acked {
                            shard_id: out.shard_id,
                            seq: out.sequence_number,
                            sent_ms,
                        }),
                    );
                }
            }
        } else {
            let records = batch
                .iter()
                .map(|(k, d)| PutRecordsEntry {
                    data: d.clone().into(),
                    partition_key: k.clone(),
                    ..Default::default()
                })
                .collect();
            if let Ok(out) = engine
                .put_records(PutRecordsInput {
                    stream: sref(&name),
                    records,
                })
                .await
            {
                let mut m = model.lock();
                let s = m.streams.entry(name.clone()).or_default();
                for ((_, d), r) in batch.into_iter().zip(out.records) {
                    if let (Some(seq), Some(shard_id), None) =
                        (r.sequence_number, r.shard_id, r.error_code)
                    {
                        s.sent.insert(
                            d,
                            Some(Acked {
                                shard_id,
                                seq,
                                sent_ms,
                            }),
                        );
                    }
                }
            }
        }
        if pause_ms > 0 {
            tokio::time::sleep(Duration::from_millis(pause_ms)).await;
        } else {
            tokio::task::yield_now().await;
        }
    }
}

/// Open shards of a stream as (index, start, end), from the engine.
fn open_shards(engine: &Engine, name: &str) -> Vec<(u32, u128, u128)> {
    let Ok(id) = engine.stream_id(name) else {
        return vec![];
    };
    let Ok(shards) = engine.shards(&id) else {
        return vec![];
    };
    let mut out: Vec<(u32, u128, u128)> = shards
        .iter()
        .filter(|s| s.open)
        .filter_map(|s| {
            let idx = s.shard_id.rsplit('-').next()?.parse().ok()?;
            Some((idx, s.starting_hash_key, s.ending_hash_key))
        })
        .collect();
    out.sort_by_key(|s| s.1);
    out
}

async fn control(
    engine: Arc<Engine>,
    model: Shared,
    clock: Arc<ManualClock>,
    seed: u64,
    steps: usize,
) {
    let mut rng = Rng(seed ^ 0xC0417);
    let mut next_name = 0;
    for _ in 0..steps {
        let names: Vec<String> = model.lock().live.clone();
        let pick = |rng: &mut Rng| -> Option<String> {
            (!names.is_empty()).then(|| names[rng.below(names.len() as u64) as usize].clone())
        };
        let roll = rng.below(100);
        if roll < 12 || names.is_empty() {
            next_name += 1;
            let name = format!("s{next_name}");
            let shards = 1 + rng.below(4) as i64;
            model
                .lock()
                .streams
                .entry(name.clone())
                .or_default()
                .retentions
                .push(24);
            let r = engine
                .create_stream(CreateStreamInput {
                    stream_name: name.clone(),
                    shard_count: Some(shards),
                    ..Default::default()
                })
                .await;
            let mut m = model.lock();
            m.log
                .push(format!("create {name} {shards} -> {}", r.is_ok()));
            if r.is_ok() {
                m.streams.entry(name.clone()).or_default().create_acked = true;
                m.live.push(name);
            }
        } else if roll < 32 {
            // Time passes: transitions come due; sometimes past retention.
            let ms = if rng.chance(25) {
                25 * HOUR_MS
            } else {
                TRANSITION_MS + rng.below(HOUR_MS as u64) as i64
            };
            clock.advance_ms(ms);
            let e = engine.clone();
            let sweep = rng.chance(50);
            let _ = tokio::task::spawn_blocking(move || {
                e.settle_all();
                if sweep {
                    e.enforce_retention();
                }
            })
            .await;
            model
                .lock()
                .log
                .push(format!("advance {ms} ms, sweep {sweep}"));
        } else if roll < 47 {
            let Some(name) = pick(&mut rng) else { continue };
            let open = open_shards(&engine, &name);
            if open.is_empty() {
                continue;
            }
            let (idx, start, end) = open[rng.below(open.len() as u64) as usize];
            if end - start < 2 {
                continue;
            }
            let mid = start + (end - start) / 2 + 1;
            let r = engine
                .split_shard(SplitShardInput {
                    stream: sref(&name),
                    shard_to_split: shard_name(idx),
                    new_starting_hash_key: mid.to_string(),
                })
                .await;
            let mut m = model.lock();
            m.log.push(format!("split {name} {idx} -> {}", r.is_ok()));
            let s = m.streams.entry(name).or_default();
            s.last_reshard = Some((false, None));
            if r.is_ok() {
                s.must_close.push(idx);
            }
        } else if roll < 57 {
            let Some(name) = pick(&mut rng) else { continue };
            let open = open_shards(&engine, &name);
            if open.len() < 2 {
                continue;
            }
            let i = rng.below(open.len() as u64 - 1) as usize;
            let (a, b) = (open[i].0, open[i + 1].0);
            let r = engine
                .merge_shards(MergeShardsInput {
                    stream: sref(&name),
                    shard_to_merge: shard_name(a),
                    adjacent_shard_to_merge: shard_name(b),
                })
                .await;
            let mut m = model.lock();
            m.log.push(format!("merge {name} {a}+{b} -> {}", r.is_ok()));
            let s = m.streams.entry(name).or_default();
            s.last_reshard = Some((false, None));
            if r.is_ok() {
                s.must_close.extend([a, b]);
            }
        } else if roll < 65 {
            let Some(name) = pick(&mut rng) else { continue };
            let open = open_shards(&engine, &name).len() as i64;
            if open == 0 {
                continue;
            }
            let target = if rng.chance(50) {
                open * 2
            } else {
                (open / 2).max(1)
            };
            if target == open {
                continue;
            }
            let r = engine
                .update_shard_count(UpdateShardCountInput {
                    stream: sref(&name),
                    target_shard_count: target,
                    scaling_type: "UNIFORM_SCALING".into(),
                })
                .await;
            let mut m = model.lock();
            m.log.push(format!(
                "update-shard-count {name} {target} -> {}",
                r.is_ok()
            ));
            let s = m.streams.entry(name).or_default();
            s.last_reshard = Some((true, r.is_ok().then_some(target)));
        } else if roll < 78 {
            let Some(name) = pick(&mut rng) else { continue };
            let hours = [24, 48, 72][rng.below(3) as usize];
            {
                let mut m = model.lock();
                let s = m.streams.entry(name.clone()).or_default();
                s.retentions.push(hours);
                if s.retention_acked.is_some() {
                    s.retention_tried_after.push(hours);
                }
            }
            let input = RetentionInput {
                stream: sref(&name),
                retention_period_hours: hours,
            };
            let current = engine
                .describe_stream_summary(DescribeStreamSummaryInput {
                    stream: sref(&name),
                })
                .await
                .map(|d| d.stream_description_summary.retention_period_hours)
                .unwrap_or(24);
            let r = if hours > current {
                engine.increase_retention(input).await
            } else if hours < current {
                engine.decrease_retention(input).await
            } else {
                continue;
            };
            let mut m = model.lock();
            m.log
                .push(format!("retention {name} {hours} -> {}", r.is_ok()));
            let s = m.streams.entry(name).or_default();
            if r.is_ok() {
                s.retention_acked = Some(hours);
                s.retention_tried_after.clear();
            }
        } else if roll < 84 {
            let Some(name) = pick(&mut rng) else { continue };
            {
                let mut m = model.lock();
                m.live.retain(|n| n != &name);
                m.streams.entry(name.clone()).or_default().delete_attempted = true;
            }
            let r = engine
                .delete_stream(DeleteStreamInput {
                    stream: sref(&name),
                    enforce_consumer_deletion: true,
                })
                .await;
            let mut m = model.lock();
            m.log.push(format!("delete {name} -> {}", r.is_ok()));
            if r.is_ok() {
                m.streams.entry(name).or_default().delete_acked = true;
            }
        } else {
            // Let the producers work a little.
            tokio::time::sleep(Duration::from_millis(rng.below(5))).await;
        }
    }
}

// ------------------------------------------------------------------ checks

/// Every record of a shard, oldest first (reading through the engine).
async fn read_shard(
    engine: &Engine,
    id: &StreamId,
    shard: &str,
) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut out = Vec::new();
    let mut pos = Position::TrimHorizon;
    for _ in 0..10_000 {
        let b = engine
            .read(id, shard, &pos, 10_000, 10 << 20)
            .await
            .map_err(|e| format!("read {shard}: {e}"))?;
        let empty = b.records.is_empty();
        out.extend(b.records.into_iter().map(|r| (r.sequence_number, r.data)));
        match b.next {
            Some(next) if !empty => pos = next,
            _ => return Ok(out),
        }
    }
    Err(format!("read of {shard} does not end"))
}

fn check_meta(m: &StreamMeta) -> Result<(), String> {
    let name = &m.name;
    let mut open: Vec<(u128, u128, u32)> = Vec::new();
    let mut seen = HashSet::new();
    for s in &m.shards {
        if !seen.insert(s.index) || s.index >= m.next_shard_index {
            return Err(format!(
                "{name}: shard index {} repeated or past next_shard_index",
                s.index
            ));
        }
        // A parent may be gone: closed shards whose records are all past
        // retention are removed, and their children still name them (AWS).
        for p in [s.parent, s.adjacent_parent].into_iter().flatten() {
            if p >= s.index {
                return Err(format!(
                    "{name}: shard {} has parent {p} that is not an earlier shard",
                    s.index
                ));
            }
        }
        match (s.closed_ms, s.end_offset) {
            (Some(_), None) => {
                return Err(format!(
                    "{name}: closed shard {} has no end offset",
                    s.index
                ))
            }
            (None, _) => {
                let start: u128 = s
                    .starting_hash_key
                    .parse()
                    .map_err(|_| format!("{name}: bad hash key"))?;
                let end: u128 = s
                    .ending_hash_key
                    .parse()
                    .map_err(|_| format!("{name}: bad hash key"))?;
                open.push((start, end, s.index));
            }
            _ => {}
        }
    }
    open.sort_unstable();
    let mut expect = 0u128;
    for (i, (start, end, idx)) in open.iter().enumerate() {
        if *start != expect || end < start {
            return Err(format!(
                "{name}: open shards do not partition the hash space at shard {idx}: {open:?}"
            ));
        }
        if i + 1 == open.len() {
            if *end != MAX_HASH {
                return Err(format!("{name}: open shards end at {end}, not 2^128-1"));
            }
        } else {
            expect = end + 1;
        }
    }
    // A stream deleted while CREATING is DELETING with no shards (as on AWS).
    if open.is_empty() && !(m.state == StreamState::Deleting && m.shards.is_empty()) {
        return Err(format!("{name}: no open shard"));
    }
    // A reshard is pending only while UPDATING, or when DeleteStream came
    // during UPDATING (the deletion wins; the reshard is never applied).
    use riffle_meta::StreamState::{Deleting, Updating};
    if m.pending_reshard.is_some() && !matches!(m.state, Updating | Deleting) {
        return Err(format!(
            "{name}: a pending reshard outside UPDATING or DELETING ({:?})",
            m.state
        ));
    }
    Ok(())
}

async fn check(
    engine: &Engine,
    store: &dyn StreamStore,
    model: &Model,
    clock: &ManualClock,
) -> Result<(), String> {
    // As reopened, before anything is settled: every stream passes the
    // metadata invariants, and an acknowledged deletion is DELETING or done.
    for m in store
        .list_streams()
        .map_err(|e| format!("list streams: {e}"))?
    {
        check_meta(&m).map_err(|e| format!("as reopened: {e}"))?;
        let sm = model.streams.get(&m.name);
        if sm.is_some_and(|sm| sm.delete_acked) && m.state != riffle_meta::StreamState::Deleting {
            return Err(format!(
                "{}: DeleteStream returned Ok, but it is {:?} after the crash",
                m.name, m.state
            ));
        }
    }
    // Let every pending transition come due and apply.
    clock.advance_ms(2 * TRANSITION_MS);
    engine.settle_all();
    let metas: BTreeMap<String, StreamMeta> = store
        .list_streams()
        .map_err(|e| format!("list streams: {e}"))?
        .into_iter()
        .map(|m| (m.name.clone(), m))
        .collect();
    let now = riffle_streams::Clock::now_ms(clock);
    for m in metas.values() {
        check_meta(m)?;
        if m.pending_reshard.is_some() {
            return Err(format!("{}: reshard still pending after settling", m.name));
        }
    }
    for (name, sm) in &model.streams {
        let meta = metas.get(name);
        if sm.delete_acked {
            if meta.is_some() || engine.stream_id(name).is_ok() {
                return Err(format!(
                    "{name}: DeleteStream returned Ok but the stream is still there: {:?}",
                    meta.map(|m| (m.state, m.until_ms, &m.pending_reshard)),
                ));
            }
            continue;
        }
        if sm.create_acked && !sm.delete_attempted && meta.is_none() {
            return Err(format!(
                "{name}: CreateStream returned Ok but the stream is gone"
            ));
        }
        let Some(meta) = meta else { continue };
        // Control-plane changes.
        for idx in &sm.must_close {
            if let Some(s) = meta.shards.iter().find(|s| s.index == *idx) {
                if s.closed_ms.is_none() {
                    return Err(format!("{name}: an acknowledged reshard closed shard {idx}, which is open after the crash"));
                }
            }
            // A missing shard is not open either: closed shards whose records
            // are all past retention are removed (and so, in time, their
            // closed children); check_meta keeps the open ones a partition.
        }
        if let Some((true, Some(target))) = sm.last_reshard {
            let open = meta.shards.iter().filter(|s| s.closed_ms.is_none()).count() as i64;
            if open != target {
                return Err(format!("{name}: UpdateShardCount to {target} returned Ok; {open} open shards after the crash"));
            }
        }
        if let Some(h) = sm.retention_acked {
            let r = i64::from(meta.retention_hours);
            if r != h && !sm.retention_tried_after.contains(&r) {
                return Err(format!(
                    "{name}: retention set to {h} h (Ok), {r} h after the crash"
                ));
            }
        }
        // Records.
        let min_retention = sm
            .retentions
            .iter()
            .copied()
            .min()
            .unwrap_or(24)
            .min(i64::from(meta.retention_hours));
        let cutoff = now - min_retention * HOUR_MS;
        let id = engine
            .stream_id(name)
            .map_err(|e| format!("{name}: not served after reopen: {e}"))?;
        let mut found: HashMap<Vec<u8>, (String, String)> = HashMap::new();
        for s in &meta.shards {
            let shard = shard_name(s.index);
            let records = read_shard(engine, &id, &shard)
                .await
                .map_err(|e| format!("{name}: {e}"))?;
            let mut last: Option<u64> = None;
            for (seq, data) in records {
                let parts = seqnum::decode(&seq)
                    .ok_or_else(|| format!("{name}: bad sequence number {seq}"))?;
                if parts.shard_index != s.index {
                    return Err(format!(
                        "{name}: {seq} read from {shard} names shard {}",
                        parts.shard_index
                    ));
                }
                if last.is_some_and(|l| l >= parts.seq_index) {
                    return Err(format!("{name}: {shard} out of sequence order at {seq}"));
                }
                last = Some(parts.seq_index);
                if let Some(end) = s.end_offset {
                    if parts.seq_index >= end {
                        return Err(format!(
                            "{name}: {shard} holds {seq} past its end offset {end}"
                        ));
                    }
                }
                if !sm.sent.contains_key(&data) {
                    return Err(format!(
                        "{name}: {shard} holds a record never sent: {:?}",
                        String::from_utf8_lossy(&data)
                    ));
                }
                if found.insert(data.clone(), (shard.clone(), seq)).is_some() {
                    return Err(format!(
                        "{name}: record {:?} read twice",
                        String::from_utf8_lossy(&data)
                    ));
                }
            }
        }
        for (data, acked) in &sm.sent {
            let Some(a) = acked else { continue };
            match found.get(data) {
                Some((shard, seq)) if shard != &a.shard_id || seq != &a.seq => {
                    return Err(format!(
                        "{name}: record {:?} acknowledged as {} {} but read as {shard} {seq}",
                        String::from_utf8_lossy(data),
                        a.shard_id,
                        a.seq
                    ));
                }
                Some(_) => {}
                None if a.sent_ms >= cutoff => {
                    return Err(format!(
                        "{name}: acknowledged record {:?} ({} {}) is lost",
                        String::from_utf8_lossy(data),
                        a.shard_id,
                        a.seq
                    ));
                }
                None => {}
            }
        }
    }
    Ok(())
}

// ------------------------------------------------------------------ driver

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// One crash point: the workload, the crash, the reopen and the checks.
fn run_seed(seed: u64) -> Result<String, String> {
    let mut rng = Rng(seed);
    let mut machine = Machine::new();
    let steps = 20 + rng.below(40) as usize;
    // One seed in four has a single slow producer, so that the cut mostly
    // lands inside the control plane's own I/O (creating logs, closing shards
    // on a reshard, metadata commits, retention deletes) rather than inside
    // appends.
    let quiet = rng.chance(25);
    let (producers, pause_ms, crash_at) = if quiet {
        (1, 3, 1 + rng.below(350))
    } else {
        (1 + rng.below(3), 0, 1 + rng.below(3_000))
    };
    // One seed in four runs with immediate transitions, the other code path
    // of DeleteStream and of resharding.
    if rng.chance(25) {
        machine.transition_ms = 0;
    }
    let model: Shared = Arc::default();

    let rt = runtime();
    let (engine, _store) = rt.block_on(async { machine.boot() })?;
    let engine = Arc::new(engine);
    machine.crash_at.store(
        machine.ops.load(Ordering::SeqCst) + crash_at,
        Ordering::SeqCst,
    );
    let cut = rt.block_on(async {
        let stop = Arc::new(AtomicBool::new(false));
        let producers: Vec<_> = (0..producers)
            .map(|i| {
                tokio::spawn(producer(
                    engine.clone(),
                    model.clone(),
                    machine.clock.clone(),
                    seed.wrapping_mul(7).wrapping_add(i),
                    pause_ms,
                    stop.clone(),
                ))
            })
            .collect();
        let ctl = tokio::spawn(control(
            engine.clone(),
            model.clone(),
            machine.clock.clone(),
            seed,
            steps,
        ));
        // The control script ends, or the power goes out under it.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if ctl.is_finished()
                || !machine.on.load(Ordering::SeqCst)
                || tokio::time::Instant::now() > deadline
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // Pull the plug (if the countdown has not), then let the tasks see it.
        let by_countdown = !machine.on.load(Ordering::SeqCst);
        let step = model.lock().log.len();
        machine.on.store(false, Ordering::SeqCst);
        stop.store(true, Ordering::SeqCst);
        let _ = tokio::time::timeout(Duration::from_secs(10), ctl).await;
        for p in producers {
            let _ = tokio::time::timeout(Duration::from_secs(10), p).await;
        }
        if by_countdown {
            format!("power cut at I/O op {crash_at} after step {step}")
        } else {
            format!("power cut after the script ({step} steps)")
        }
    });
    let crashed_at = machine.ops.load(Ordering::SeqCst);
    drop(engine);
    rt.shutdown_timeout(Duration::from_secs(10));

    machine.crash_and_restore(seed, seed & 1 == 0);

    // One seed in three loses power again while the engine starts up
    // (log recovery truncating torn tails, trash and quarantine, settling
    // transitions), before the final reopen.
    let mut second = String::new();
    if rng.chance(33) {
        let budget = 1 + rng.below(400);
        let start = machine.ops.load(Ordering::SeqCst);
        machine.crash_at.store(start + budget, Ordering::SeqCst);
        let rt = runtime();
        let opened = rt.block_on(async {
            let booted = machine.boot();
            if let Ok((engine, _)) = &booted {
                engine.settle_all();
            }
            booted.is_ok()
        });
        rt.shutdown_timeout(Duration::from_secs(10));
        second = format!(
            ", cut again {budget} I/O ops into the restart (it {})",
            if opened { "opened" } else { "did not open" }
        );
        machine.crash_and_restore(seed.wrapping_add(1), seed & 2 == 0);
    }

    let rt = runtime();
    let model = model.lock();
    let summary = format!(
        "{producers} producers, transitions {} ms, {cut}{second}, {crashed_at} I/O ops, {} acknowledged records\n  {}",
        machine.transition_ms,
        model
            .streams
            .values()
            .flat_map(|s| s.sent.values())
            .filter(|a| a.is_some())
            .count(),
        model.log.join("\n  ")
    );
    let result = rt.block_on(async {
        let (engine, store) = machine.boot()?;
        check(&engine, &*store, &model, &machine.clock).await
    });
    rt.shutdown_timeout(Duration::from_secs(10));
    result
        .map(|()| summary.clone())
        .map_err(|e| format!("{e}\nworkload: {summary}"))
}

#[test]
fn acknowledged_data_and_metadata_survive_power_loss_at_random_points() {
    let seeds: Vec<u64> = match std::env::var("RIFFLE_POWER_LOSS_SEED") {
        Ok(s) => vec![s.parse().expect("RIFFLE_POWER_LOSS_SEED is a number")],
        Err(_) => {
            let n = std::env::var("RIFFLE_POWER_LOSS_SEEDS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(DEFAULT_SEEDS);
            (1..=n).collect()
        }
    };
    let started = std::time::Instant::now();
    for seed in seeds {
        match run_seed(seed) {
            Ok(summary) => {
                if std::env::var("RIFFLE_POWER_LOSS_VERBOSE").is_ok() {
                    eprintln!("seed {seed}: {summary}");
                }
            }
            Err(e) => {
                panic!("power loss seed {seed} failed (replay: RIFFLE_POWER_LOSS_SEED={seed}): {e}")
            }
        }
    }
    eprintln!("power loss: done in {:?}", started.elapsed());
}
