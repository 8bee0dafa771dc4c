//! The engine: live streams over durable metadata and per-shard logs.
//!
//! Concurrency: the stream map is behind a `RwLock`; each stream's metadata
//! behind its own `Mutex`, held only for in-memory work and metadata commits
//! (never across a log append). Appends and reads run on the blocking pool,
//! where the log's group commit lets concurrent producers share fsyncs.
//! Control-plane file and database work (opening a new stream's logs, redb
//! commits, removing a deleted stream's tree, applying a reshard, retention
//! sweeps) never runs on an async worker: CreateStream and DeleteStream hand
//! it to the blocking pool, and the sync paths (lazy transitions, metadata
//! commits) go through `off_worker`. The stream map's lock is never held
//! across an fsync or a directory operation.
//!
//! Layout: this module holds the engine's state, startup and lifecycle;
//! `control` the stream/shard control plane, `data` the record path, `tags`,
//! `tokens` (pagination), `arn`, and one module per feature (consumers,
//! subscribe, reshard, autoscale, settings, observe).

mod access;
pub mod api;
pub mod arn;
mod autoscale;
mod consumers;
mod control;
mod dirs;

use dirs::{
    dir_bytes, empty_trash, move_to_trash, quarantine_unknown, remove_in_background,
    remove_stream_dir, sync_dir, sync_new_stream_dir, STREAMS_DIR,
};
mod data;
mod observe;
mod ratelimit;
mod reshard;
mod settings;
mod subscribe;
mod tags;
mod tokens;

pub use access::AccessFacts;
pub use subscribe::Subscription;

use data::child_shards;
use tags::{validate_tag_keys, validate_tags};
use tokens::{filter_code, ConsumerPageToken, PageToken, ShardPageToken};

use crate::clock::{Clock, SystemClock};
use crate::encryption::StreamKeys;
use crate::error::StreamsError;
use crate::hashing::{even_ranges, parse_hash_key, partition_key_hash};
use crate::iterator::IteratorToken;
use crate::seal::TokenKey;
use crate::seqnum::{self, SeqParts, MAX_SEQ_INDEX};
use crate::shard::{AppendError, ShardHandle};
use parking_lot::{Mutex, RwLock};
use riffle_kms::Keyring;
use riffle_log::{LogConfig, ShardLog, StoredRecord};
use riffle_meta::{MetaStore, ShardMeta, StreamMeta, StreamState};
use riffle_model::*;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How long shard iterators and pagination tokens stay valid.
const TOKEN_LIFETIME_MS: i64 = 300_000;
/// GetRecords answers at most this many bytes of data and keys.
const GET_RECORDS_MAX_BYTES: usize = 10 * 1024 * 1024;
/// PutRecords accepts at most this many bytes of data and keys per request.
const PUT_RECORDS_MAX_BYTES: usize = 10 * 1024 * 1024;
const MAX_TAGS: usize = 50;
const MIN_RETENTION: i64 = 24;
const MAX_RETENTION: i64 = 8760;
/// How often a write is routed again when a reshard closes its shard under it.
const RESHARD_RETRIES: usize = 8;

#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub data_dir: PathBuf,
    pub region: String,
    pub account_id: String,
    /// How long CREATING, UPDATING and DELETING last; 0 makes them immediate.
    pub transition_delay_ms: u64,
    pub log: LogConfig,
    pub shard_limit: i64,
    pub on_demand_stream_limit: i64,
    /// Enforce AWS's per-shard data-plane limits (1 MiB/s and 1,000 records/s
    /// in, 2 MiB/s and 5 GetRecords/s out); see `throttle`.
    pub throughput_limits: bool,
    /// Enhanced fan-out consumers per stream (AWS: 20; 50 with On-demand Advantage).
    pub max_consumers_per_stream: usize,
    /// A SubscribeToShard stream ends cleanly after this long (AWS: 5 minutes).
    pub subscription_lifetime_ms: u64,
    /// An idle subscription sends an empty event carrying its continuation this often.
    pub subscription_heartbeat_ms: u64,
    /// Per consumer per shard read pacing (AWS: 2 MiB/s).
    pub subscription_read_bytes_per_sec: u64,
    /// A second subscription for the same consumer and shard within this long of
    /// the first is refused; later it takes over (AWS: 5 s).
    pub subscription_exclusive_ms: u64,
    /// How long two adjacent shards of an on-demand stream must stay cold
    /// before they are merged back (see `autoscale`).
    pub on_demand_cold_period_ms: u64,
}

impl EngineConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        EngineConfig {
            data_dir: data_dir.into(),
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            transition_delay_ms: 500,
            log: LogConfig::default(),
            shard_limit: 20_000,
            on_demand_stream_limit: 50,
            throughput_limits: true,
            max_consumers_per_stream: 20,
            subscription_lifetime_ms: 300_000,
            subscription_heartbeat_ms: 2_000,
            subscription_read_bytes_per_sec: 2 * 1024 * 1024,
            subscription_exclusive_ms: 5_000,
            on_demand_cold_period_ms: 3_600_000,
        }
    }
}

/// Figures for startup banners and metrics.
#[derive(Clone, Debug, Default)]
pub struct EngineStats {
    pub streams: usize,
    pub shards: usize,
    pub disk_bytes: u64,
}

/// An immutable snapshot of a stream's metadata plus what the record path
/// derives from it. Requests take an `Arc` of it and never hold a lock.
struct StreamView {
    meta: StreamMeta,
    /// Open shards' hash ranges, sorted by start: (start, end, shard index).
    routes: Vec<(u128, u128, u32)>,
}

impl StreamView {
    fn new(meta: StreamMeta) -> StreamView {
        let mut routes: Vec<(u128, u128, u32)> = meta
            .shards
            .iter()
            .filter(|s| is_open(s))
            .filter_map(|s| {
                Some((
                    s.starting_hash_key.parse().ok()?,
                    s.ending_hash_key.parse().ok()?,
                    s.index,
                ))
            })
            .collect();
        routes.sort_unstable();
        StreamView { meta, routes }
    }

    /// The open shard whose hash range holds `hash`.
    fn route(&self, hash: u128) -> Option<u32> {
        let i = self.routes.partition_point(|r| r.0 <= hash);
        let (start, end, index) = *self.routes.get(i.checked_sub(1)?)?;
        (start <= hash && hash <= end).then_some(index)
    }

    fn shard(&self, index: u32) -> Option<&ShardMeta> {
        // Shards are appended in index order.
        let i = self
            .meta
            .shards
            .binary_search_by_key(&index, |s| s.index)
            .ok()?;
        self.meta.shards.get(i)
    }
}

impl std::ops::Deref for StreamView {
    type Target = StreamMeta;
    fn deref(&self) -> &StreamMeta {
        &self.meta
    }
}

struct LiveStream {
    /// Serialises metadata changes (read, modify, persist, publish).
    write: Mutex<()>,
    view: RwLock<Arc<StreamView>>,
    logs: RwLock<HashMap<u32, Arc<ShardHandle>>>,
    dir: PathBuf,
    metrics: Arc<crate::metrics::StreamMetrics>,
    /// Set (under `write`) once the stream's deletion has committed. A
    /// metadata change that was already under way (a transition settled from
    /// a stale view, a tag or consumer change) must not write the stream back:
    /// that resurrected its metadata after its folder went to the trash, and
    /// the next start refused to open. Checked by every writer under `write`.
    deleted: std::sync::atomic::AtomicBool,
    /// Data keys for encryption at rest, shared by the shards' ciphers.
    keys: Arc<StreamKeys>,
}

impl LiveStream {
    fn is_deleted(&self) -> bool {
        self.deleted.load(std::sync::atomic::Ordering::Acquire)
    }

    fn log(&self, index: u32) -> Option<Arc<ShardHandle>> {
        self.logs.read().get(&index).cloned()
    }

    fn view(&self) -> Arc<StreamView> {
        self.view.read().clone()
    }
}

pub struct Engine {
    cfg: EngineConfig,
    meta: Arc<dyn MetaStore>,
    clock: Arc<dyn Clock>,
    streams: StreamMap,
    /// Live SubscribeToShard streams, one per consumer and shard.
    subs: Arc<subscribe::Registry>,
    /// On-demand autoscaler's last write-counter samples.
    autoscale_samples: Mutex<autoscale::Samples>,
    /// Control-plane request rates (see `ratelimit`).
    control_limits: crate::throttle::ControlLimiter,
    /// Seals shard iterators and NextTokens; kept in the data directory so
    /// they survive a restart (see `seal`).
    tokens: TokenKey,
    /// Master keys for encryption at rest (`<data-dir>/keys/keyring.json`).
    keyring: Arc<Keyring>,
}

fn shard_id(index: u32) -> String {
    format!("shardId-{index:012}")
}

fn is_open(s: &ShardMeta) -> bool {
    s.closed_ms.is_none()
}

fn secs(ms: i64) -> u64 {
    (ms.max(0) / 1000) as u64
}

/// The shard creation time its sequence numbers encode. A child shard is
/// created in the same millisecond its parents close, and AWS's child starts
/// after its parents end: its numbers carry the second after its creation,
/// so its StartingSequenceNumber's time is later than its parents'
/// EndingSequenceNumber's.
fn create_secs(s: &ShardMeta) -> u64 {
    secs(s.created_ms) + u64::from(s.seq_after_parents)
}

fn open_log_at(
    cfg: &LogConfig,
    keys: &Arc<StreamKeys>,
    dir: &Path,
    index: u32,
    closed: bool,
) -> Result<Arc<ShardHandle>, StreamsError> {
    let log = ShardLog::open(&dir.join(format!("{index:012}")), cfg.clone())?;
    log.set_cipher(Some(keys.cipher(index)));
    Ok(Arc::new(ShardHandle::new(log, closed)))
}

fn open_stream_at(
    cfg: &LogConfig,
    keyring: &Keyring,
    dir: PathBuf,
    m: StreamMeta,
) -> Result<Arc<LiveStream>, StreamsError> {
    let keys = StreamKeys::load(keyring, &m);
    let mut logs = HashMap::new();
    for s in &m.shards {
        logs.insert(
            s.index,
            open_log_at(cfg, &keys, &dir, s.index, s.closed_ms.is_some())?,
        );
    }
    Ok(Arc::new(LiveStream {
        keys,
        write: Mutex::new(()),
        view: RwLock::new(Arc::new(StreamView::new(m))),
        logs: RwLock::new(logs),
        dir,
        metrics: Arc::default(),
        deleted: Default::default(),
    }))
}

/// The live streams by name. Shared (`Arc`) so that work moved to the
/// blocking pool can publish or unpublish a stream itself, and so finish even
/// if the request that started it is dropped.
type StreamMap = Arc<RwLock<BTreeMap<String, Arc<LiveStream>>>>;

/// Deletes a stream's metadata (one commit) and then unpublishes it; returns
/// its directory, for the caller to remove without holding anything. Blocking.
///
/// Serialised with the stream's other metadata writers (`write`), and done at
/// most once per incarnation: a second caller (two settles of the same due
/// deletion) must not delete by name again, since the name may already
/// belong to a new stream.
fn delete_committed(
    meta: &dyn MetaStore,
    streams: &RwLock<BTreeMap<String, Arc<LiveStream>>>,
    name: &str,
    stream: &Arc<LiveStream>,
) -> Result<PathBuf, StreamsError> {
    {
        let _serialised = stream.write.lock();
        if stream.is_deleted() {
            return Ok(stream.dir.clone());
        }
        meta.delete_stream(name)?;
        stream
            .deleted
            .store(true, std::sync::atomic::Ordering::Release);
    }
    {
        let mut streams = streams.write();
        if streams.get(name).is_some_and(|s| Arc::ptr_eq(s, stream)) {
            streams.remove(name);
        }
    }
    stream.logs.write().clear();
    tracing::info!(stream = name, "stream deleted");
    Ok(move_to_trash(&stream.dir))
}

/// Runs blocking work (an fsync, a metadata commit, opening logs) from sync
/// code that may be on an async worker: there, `block_in_place` first hands
/// the worker's other tasks to another thread, so requests are not stuck
/// behind it. Elsewhere (the blocking pool, a current-thread runtime, no
/// runtime) it just runs `f`.
fn off_worker<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StreamsError> + Send + 'static,
) -> Result<T, StreamsError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StreamsError::Internal(format!("blocking task failed: {e}")))?
}

impl Engine {
    /// Opens (or creates) the data directory, recovering every shard log.
    pub fn open(cfg: EngineConfig) -> Result<Engine, StreamsError> {
        Self::open_with_clock(cfg, Arc::new(SystemClock))
    }

    /// Opens the data directory with its own metadata database (`meta.redb`).
    pub fn open_with_clock(
        cfg: EngineConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Engine, StreamsError> {
        std::fs::create_dir_all(&cfg.data_dir).map_err(|e| {
            StreamsError::Internal(format!("cannot create {}: {e}", cfg.data_dir.display()))
        })?;
        let meta = riffle_meta::MetaDb::open_in(&cfg.data_dir)?.streams();
        Self::open_with(cfg, meta, clock)
    }

    /// Opens the data directory's shard logs with the given metadata store:
    /// the binary opens one `MetaDb` for every service and passes the
    /// Kinesis store here; a cluster mode passes another implementation.
    pub fn open_with(
        cfg: EngineConfig,
        meta: Arc<dyn MetaStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Engine, StreamsError> {
        let streams_dir = cfg.data_dir.join(STREAMS_DIR);
        let fresh = !streams_dir.exists();
        std::fs::create_dir_all(&streams_dir)
            .and_then(|()| {
                if fresh {
                    sync_dir(&cfg.data_dir)
                } else {
                    Ok(())
                }
            })
            .map_err(|e| {
                StreamsError::Internal(format!("cannot create {}: {e}", streams_dir.display()))
            })?;
        let tokens = TokenKey::load_or_create(&cfg.data_dir)?;
        let keyring = Keyring::open(&cfg.data_dir, &cfg.region, &cfg.account_id)
            .map(Arc::new)
            .map_err(|e| StreamsError::Internal(format!("cannot open the KMS keyring: {e}")))?;
        let engine = Engine {
            keyring,
            cfg,
            meta,
            clock,
            streams: StreamMap::default(),
            subs: Arc::default(),
            autoscale_samples: Mutex::new(Default::default()),
            control_limits: Default::default(),
            tokens,
        };
        // Deletions that committed before the process stopped: their trees
        // were moved to `trash/` first, so everything there is known garbage.
        empty_trash(&engine.cfg.data_dir);
        let mut live = BTreeMap::new();
        let mut known_uids = std::collections::HashSet::new();
        for m in engine.meta.list_streams()? {
            known_uids.insert(m.uid.clone());
            // A listed shard without its directory lost its records: refuse to
            // start rather than recreate it empty and serve a silent gap.
            let dir = engine.stream_dir(&m.uid);
            for s in &m.shards {
                let shard_dir = dir.join(format!("{:012}", s.index));
                if !shard_dir.is_dir() {
                    return Err(StreamsError::Internal(format!(
                        "stream {} (data {}): the directory of {} ({}) is missing; not starting rather than recreating it empty",
                        m.name,
                        dir.display(),
                        shard_id(s.index),
                        shard_dir.display()
                    )));
                }
            }
            let stream = engine.open_stream(m)?;
            let name = stream.view().name.clone();
            live.insert(name, stream);
        }
        *engine.streams.write() = live;
        quarantine_unknown(&engine.cfg.data_dir, &known_uids);
        engine.settle_all();
        Ok(engine)
    }

    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    fn stream_dir(&self, uid: &str) -> PathBuf {
        self.cfg.data_dir.join(STREAMS_DIR).join(uid)
    }

    /// Opens (creating or recovering) one shard's log. Blocking.
    fn open_log(
        &self,
        stream: &LiveStream,
        index: u32,
        closed: bool,
    ) -> Result<Arc<ShardHandle>, StreamsError> {
        open_log_at(&self.cfg.log, &stream.keys, &stream.dir, index, closed)
    }

    /// Opens every shard log of a stream. Blocking: one directory and log per shard.
    fn open_stream(&self, m: StreamMeta) -> Result<Arc<LiveStream>, StreamsError> {
        open_stream_at(&self.cfg.log, &self.keyring, self.stream_dir(&m.uid), m)
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn stats(&self) -> EngineStats {
        let streams = self.streams.read();
        let mut st = EngineStats {
            streams: streams.len(),
            ..Default::default()
        };
        for s in streams.values() {
            let logs = s.logs.read();
            st.shards += logs.len();
            st.disk_bytes += logs.values().map(|l| l.disk_bytes()).sum::<u64>();
        }
        st
    }

    fn not_found(&self, name: &str) -> StreamsError {
        StreamsError::ResourceNotFound(format!(
            "Stream {name} under account {} not found.",
            self.cfg.account_id
        ))
    }

    // ------------------------------------------------------------ lifecycle

    /// Completes timed transitions that are due. Cheap when nothing is pending.
    /// Any request may get here (lookups settle lazily), so the work (metadata
    /// commits, opening and syncing logs) runs off the async worker.
    fn settle(&self, name: &str, stream: &Arc<LiveStream>) -> Result<bool, StreamsError> {
        let now = self.now_ms();
        let view = stream.view();
        if !matches!(view.until_ms, Some(t) if t <= now) {
            return Ok(true);
        }
        off_worker(|| {
            if view.state == StreamState::Deleting {
                let dir = self.finish_delete(name, stream)?;
                remove_in_background(dir);
                return Ok(false);
            }
            if view.pending_reshard.is_some() {
                self.apply_reshard(name, stream)?;
                return Ok(true);
            }
            self.update_meta(stream, |m| {
                if m.state != StreamState::Deleting && matches!(m.until_ms, Some(t) if t <= now) {
                    m.state = StreamState::Active;
                    m.until_ms = None;
                }
                Ok(())
            })?;
            Ok(true)
        })
    }

    /// [`delete_committed`] for this engine. Blocking.
    fn finish_delete(&self, name: &str, stream: &Arc<LiveStream>) -> Result<PathBuf, StreamsError> {
        delete_committed(&*self.meta, &self.streams, name, stream)
    }

    /// Applies every due transition; the server calls this on a timer.
    pub fn settle_all(&self) {
        let all: Vec<(String, Arc<LiveStream>)> = self
            .streams
            .read()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (name, s) in all {
            match self.settle(&name, &s) {
                Ok(true) => {
                    if let Err(e) = self.settle_consumers(&s) {
                        tracing::warn!(stream = name, error = %e, "could not complete a consumer transition");
                    }
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(stream = name, error = %e, "could not complete a stream transition")
                }
            }
        }
    }

    fn lookup(&self, name: &str) -> Result<Arc<LiveStream>, StreamsError> {
        let stream = self
            .streams
            .read()
            .get(name)
            .cloned()
            .ok_or_else(|| self.not_found(name))?;
        if self.settle(name, &stream)? {
            Ok(stream)
        } else {
            Err(self.not_found(name))
        }
    }

    fn lookup_ref(&self, r: &StreamRef) -> Result<(String, Arc<LiveStream>), StreamsError> {
        let name = self.resolve_name(r)?;
        let s = self.lookup(&name)?;
        Ok((name, s))
    }

    fn until(&self) -> (Option<i64>, bool) {
        if self.cfg.transition_delay_ms == 0 {
            (None, true)
        } else {
            (
                Some(self.now_ms() + self.cfg.transition_delay_ms as i64),
                false,
            )
        }
    }

    fn open_shard_count(&self) -> i64 {
        self.streams
            .read()
            .values()
            .map(|s| s.view().shards.iter().filter(|sh| is_open(sh)).count() as i64)
            .sum()
    }

    // ------------------------------------------------------------ settings

    /// Applies a metadata change atomically: in memory and in the store, or neither.
    fn update_meta<T>(
        &self,
        stream: &LiveStream,
        f: impl FnOnce(&mut StreamMeta) -> Result<T, StreamsError>,
    ) -> Result<T, StreamsError> {
        let _serialised = stream.write.lock();
        if stream.is_deleted() {
            return Err(self.not_found(&stream.view().name));
        }
        let mut next = stream.view().meta.clone();
        let out = f(&mut next)?;
        // A redb commit (fsync): off the async worker. Only this stream's
        // metadata changes wait on `write`; the record path never takes it.
        off_worker(|| self.meta.put_stream(&next))?;
        *stream.view.write() = Arc::new(StreamView::new(next));
        Ok(out)
    }

    /// `update_meta` for changes AWS allows only on ACTIVE streams.
    fn update_active<T>(
        &self,
        name: &str,
        stream: &LiveStream,
        f: impl FnOnce(&mut StreamMeta) -> Result<T, StreamsError>,
    ) -> Result<T, StreamsError> {
        self.update_meta(stream, |m| {
            self.require_active(name, m)?;
            f(m)
        })
    }

    fn require_active(&self, name: &str, m: &StreamMeta) -> Result<(), StreamsError> {
        if m.state == StreamState::Active {
            Ok(())
        } else {
            Err(StreamsError::ResourceInUse(format!(
                "Stream {name} under account {} not ACTIVE, instead in state {}",
                self.cfg.account_id,
                Self::status(m).as_str()
            )))
        }
    }

    // ------------------------------------------------------------ maintenance

    fn enforce_retention_for(&self, stream: &LiveStream) -> u64 {
        let retention_ms = i64::from(stream.view().retention_hours) * 3_600_000;
        let cutoff = self.now_ms() - retention_ms;
        let mut freed = self.expire_closed_shards(stream, cutoff);
        let logs: Vec<Arc<ShardHandle>> = stream.logs.read().values().cloned().collect();
        for log in logs {
            match log.delete_before(cutoff) {
                Ok(n) => freed += n,
                Err(e) => tracing::warn!(error = %e, "retention sweep failed for a shard"),
            }
        }
        freed
    }

    /// Removes closed shards whose records are all past retention (closed
    /// before `cutoff`), as AWS does: they leave the stream's metadata (so
    /// ListShards, DescribeStream and GetShardIterator no longer know them;
    /// children still name them as parents), then their files are deleted.
    /// Metadata first: a crash in between leaves only an unused directory.
    /// Returns the bytes freed. Blocking.
    fn expire_closed_shards(&self, stream: &LiveStream, cutoff: i64) -> u64 {
        let expired = |s: &ShardMeta| s.closed_ms.is_some_and(|c| c < cutoff);
        let view = stream.view();
        if view.state == StreamState::Deleting || !view.shards.iter().any(expired) {
            return 0;
        }
        let removed = self.update_meta(stream, |m| {
            let gone: Vec<u32> = m
                .shards
                .iter()
                .filter(|s| expired(s))
                .map(|s| s.index)
                .collect();
            m.shards.retain(|s| !expired(s));
            Ok(gone)
        });
        let removed = match removed {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "could not remove expired closed shards");
                return 0;
            }
        };
        let mut freed = 0;
        for index in removed {
            stream.logs.write().remove(&index);
            let dir = stream.dir.join(format!("{index:012}"));
            freed += dir_bytes(&dir);
            remove_stream_dir(&dir);
            tracing::info!(shard = %shard_id(index), "expired closed shard removed");
        }
        freed
    }

    /// Deletes whole segments past each stream's retention; returns bytes freed.
    /// Blocking: run it on a blocking thread.
    pub fn enforce_retention(&self) -> u64 {
        let all: Vec<Arc<LiveStream>> = self.streams.read().values().cloned().collect();
        all.iter().map(|s| self.enforce_retention_for(s)).sum()
    }

    /// Flushes every log (used at shutdown under relaxed fsync policies).
    pub fn sync_all(&self) {
        for s in self.streams.read().values() {
            for log in s.logs.read().values() {
                if let Err(e) = log.sync() {
                    tracing::error!(error = %e, "fsync at shutdown failed");
                }
            }
        }
    }
}

/// `shardId-000000000001`, `shardId-1` and `anything-1` all name shard 1, as on AWS.
fn parse_shard_id(s: &str) -> Option<u32> {
    let digits = s.split_once('-').map(|(_, d)| d).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits
        .parse::<u64>()
        .ok()
        .filter(|n| *n <= 2_147_483_647)
        .map(|n| n as u32)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn stored_children_keep_their_sequence_numbers() {
        // A child stored before `seq_after_parents` existed (no such key in
        // its JSON) encodes its creation second unchanged; a new child the
        // second after.
        let stored = r#"{"index":2,"starting_hash_key":"0","ending_hash_key":"1",
            "created_ms":1700000000500,"parent":0,"adjacent_parent":null,
            "closed_ms":null,"end_offset":null}"#;
        let old: ShardMeta = serde_json::from_str(stored).unwrap();
        assert!(!old.seq_after_parents);
        assert_eq!(create_secs(&old), 1_700_000_000);
        let new = ShardMeta {
            seq_after_parents: true,
            ..old
        };
        assert_eq!(create_secs(&new), 1_700_000_001);
    }

    fn view_with_shards(n: u32) -> StreamView {
        let shards = even_ranges(n)
            .into_iter()
            .enumerate()
            .map(|(i, (start, end))| ShardMeta {
                index: i as u32,
                starting_hash_key: start.to_string(),
                ending_hash_key: end.to_string(),
                created_ms: 0,
                parent: None,
                adjacent_parent: None,
                closed_ms: None,
                end_offset: None,
                seq_after_parents: false,
            })
            .collect();
        StreamView::new(StreamMeta {
            name: "s".into(),
            uid: "u".into(),
            created_ms: 0,
            state: StreamState::Active,
            until_ms: None,
            retention_hours: 24,
            mode: "PROVISIONED".into(),
            max_record_size_kib: 1024,
            shards,
            next_shard_index: n,
            tags: BTreeMap::new(),
            encryption_key: None,
            data_keys: Vec::new(),
            shard_level_metrics: vec![],
            warm_throughput_mibps: None,
            consumers: vec![],
            resource_policy: None,
            pending_reshard: None,
            shard_count_updates: vec![],
            mode_updates: vec![],
        })
    }

    proptest::proptest! {
        /// The routing table sends every hash key to the one open shard whose range holds it.
        #[test]
        fn routing_matches_the_ranges(n in 1u32..300, hash in proptest::prelude::any::<u128>()) {
            let v = view_with_shards(n);
            let expected = v.shards.iter().find(|s| {
                s.starting_hash_key.parse::<u128>().unwrap() <= hash && hash <= s.ending_hash_key.parse::<u128>().unwrap()
            }).map(|s| s.index);
            proptest::prop_assert_eq!(v.route(hash), expected);
            proptest::prop_assert!(expected.is_some());
        }
    }

    #[test]
    fn routing_skips_closed_shards() {
        let mut v = view_with_shards(2);
        let mut meta = v.meta.clone();
        meta.shards[0].closed_ms = Some(1);
        v = StreamView::new(meta);
        assert_eq!(v.route(0), None);
        assert_eq!(v.route(u128::MAX), Some(1));
        assert_eq!(v.shard(1).map(|s| s.index), Some(1));
    }

    /// `settle` reads the view without the stream's lock, so it can call
    /// `apply_reshard` on a view that went stale: here the reshard is not due
    /// yet, and then DeleteStream has committed. Applying anyway once turned a
    /// DELETING stream back ACTIVE, undoing an acknowledged DeleteStream (found
    /// by `tests/power_loss.rs`, seed 31, with a producer's lookup racing the
    /// control plane).
    #[tokio::test]
    async fn a_stale_settle_neither_applies_a_reshard_early_nor_undoes_a_delete() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(crate::clock::ManualClock::new());
        let mut cfg = EngineConfig::new(dir.path());
        cfg.transition_delay_ms = 1_000;
        let e = Engine::open_with_clock(cfg, clock.clone()).unwrap();
        let sref = || StreamRef {
            name: Some("s".into()),
            arn: None,
        };
        e.create_stream(CreateStreamInput {
            stream_name: "s".into(),
            shard_count: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
        clock.advance_ms(1_000);
        e.settle_all();
        e.split_shard(SplitShardInput {
            stream: sref(),
            shard_to_split: shard_id(0),
            new_starting_hash_key: (u128::MAX / 2).to_string(),
        })
        .await
        .unwrap();
        let live = e.streams.read().get("s").cloned().unwrap();
        // Not due: nothing happens.
        e.apply_reshard("s", &live).unwrap();
        assert_eq!(live.view().state, StreamState::Updating);
        assert_eq!(live.view().shards.len(), 1);
        e.delete_stream(DeleteStreamInput {
            stream: sref(),
            enforce_consumer_deletion: false,
        })
        .await
        .unwrap();
        clock.advance_ms(1_000);
        // Due, but the stream is being deleted: the deletion stands.
        e.apply_reshard("s", &live).unwrap();
        let stored = e.meta.get_stream("s").unwrap().unwrap();
        assert_eq!(stored.state, StreamState::Deleting);
        e.settle_all();
        assert!(e.meta.get_stream("s").unwrap().is_none());
        assert!(e.stream_id("s").is_err());
    }

    /// A metadata change already under way when the deletion commits (here a
    /// transition settled from a stale view: `update_meta` with no change)
    /// used to write the deleted stream back into the store after its folder
    /// went to the trash; the next start then refused to open ("directory
    /// missing"). Found by `tests/power_loss.rs` (seed 72).
    #[tokio::test]
    async fn a_change_racing_a_deletion_does_not_resurrect_the_stream() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(crate::clock::ManualClock::new());
        let mut cfg = EngineConfig::new(dir.path());
        cfg.transition_delay_ms = 1_000;
        {
            let e = Engine::open_with_clock(cfg.clone(), clock.clone()).unwrap();
            e.create_stream(CreateStreamInput {
                stream_name: "s".into(),
                shard_count: Some(1),
                ..Default::default()
            })
            .await
            .unwrap();
            clock.advance_ms(1_000);
            e.settle_all();
            let live = e.streams.read().get("s").cloned().unwrap();
            e.delete_stream(DeleteStreamInput {
                stream: StreamRef {
                    name: Some("s".into()),
                    arn: None,
                },
                enforce_consumer_deletion: false,
            })
            .await
            .unwrap();
            clock.advance_ms(1_000);
            let trash = e.finish_delete("s", &live).unwrap();
            remove_stream_dir(&trash);
            // The late writer, and a second settle of the same deletion.
            assert!(e.update_meta(&live, |_| Ok(())).is_err());
            e.finish_delete("s", &live).unwrap();
            assert!(e.meta.get_stream("s").unwrap().is_none());
        }
        let e = Engine::open_with_clock(cfg, clock).unwrap();
        assert!(e.stream_id("s").is_err());
    }

    #[test]
    fn shard_id_normalisation() {
        assert_eq!(parse_shard_id("shardId-000000000001"), Some(1));
        assert_eq!(parse_shard_id("shardId-1"), Some(1));
        assert_eq!(parse_shard_id("5"), Some(5));
        assert_eq!(parse_shard_id("foo-12"), Some(12));
        assert_eq!(parse_shard_id("shardId-x"), None);
        assert_eq!(parse_shard_id("shardId-2147483648"), None);
    }
}
