//! The engine: live streams over durable metadata and per-shard logs.
//!
//! Concurrency: the stream map is behind a `RwLock`; each stream's metadata
//! behind its own `Mutex`, held only for in-memory work and metadata commits
//! (never across a log append). Appends and reads run on the blocking pool,
//! where the log's group commit lets concurrent producers share fsyncs.

mod autoscale;
mod consumers;
mod observe;
mod reshard;
mod settings;
mod subscribe;

pub use subscribe::Subscription;

use crate::clock::{Clock, SystemClock};
use crate::error::StreamsError;
use crate::hashing::{even_ranges, parse_hash_key, partition_key_hash};
use crate::iterator::IteratorToken;
use crate::seqnum::{self, SeqParts, MAX_SEQ_INDEX};
use crate::shard::{AppendError, ShardHandle};
use parking_lot::{Mutex, RwLock};
use riffle_log::{LogConfig, ShardLog, StoredRecord};
use riffle_meta::{MetaStore, RedbStore, ShardMeta, StreamMeta, StreamState};
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
}

impl LiveStream {
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
    streams: RwLock<BTreeMap<String, Arc<LiveStream>>>,
    /// Live SubscribeToShard streams, one per consumer and shard.
    subs: Arc<subscribe::Registry>,
    /// On-demand autoscaler's last write-counter samples.
    autoscale_samples: Mutex<autoscale::Samples>,
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

    pub fn open_with_clock(
        cfg: EngineConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Engine, StreamsError> {
        std::fs::create_dir_all(cfg.data_dir.join("streams")).map_err(|e| {
            StreamsError::Internal(format!("cannot create {}: {e}", cfg.data_dir.display()))
        })?;
        let meta: Arc<dyn MetaStore> = Arc::new(RedbStore::open(&cfg.data_dir.join("meta.redb"))?);
        let engine = Engine {
            cfg,
            meta,
            clock,
            streams: RwLock::new(BTreeMap::new()),
            subs: Arc::default(),
            autoscale_samples: Mutex::new(Default::default()),
        };
        let mut live = BTreeMap::new();
        let mut known_uids = std::collections::HashSet::new();
        for m in engine.meta.list_streams()? {
            known_uids.insert(m.uid.clone());
            let stream = engine.open_stream(m)?;
            let name = stream.view().name.clone();
            live.insert(name, stream);
        }
        *engine.streams.write() = live;
        // Directories of streams whose deletion committed but whose files were
        // not yet removed when the process stopped.
        if let Ok(entries) = std::fs::read_dir(engine.cfg.data_dir.join("streams")) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if !known_uids.contains(&name) {
                    tracing::info!(dir = %e.path().display(), "removing data of a deleted stream");
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        engine.settle_all();
        Ok(engine)
    }

    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    fn stream_dir(&self, uid: &str) -> PathBuf {
        self.cfg.data_dir.join("streams").join(uid)
    }

    fn open_log(
        &self,
        dir: &Path,
        index: u32,
        closed: bool,
    ) -> Result<Arc<ShardHandle>, StreamsError> {
        let log = ShardLog::open(&dir.join(format!("{index:012}")), self.cfg.log.clone())?;
        Ok(Arc::new(ShardHandle::new(log, closed)))
    }

    fn open_stream(&self, m: StreamMeta) -> Result<Arc<LiveStream>, StreamsError> {
        let dir = self.stream_dir(&m.uid);
        let mut logs = HashMap::new();
        for s in &m.shards {
            logs.insert(
                s.index,
                self.open_log(&dir, s.index, s.closed_ms.is_some())?,
            );
        }
        Ok(Arc::new(LiveStream {
            write: Mutex::new(()),
            view: RwLock::new(Arc::new(StreamView::new(m))),
            logs: RwLock::new(logs),
            dir,
            metrics: Arc::default(),
        }))
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

    fn arn(&self, name: &str) -> String {
        format!(
            "arn:aws:kinesis:{}:{}:stream/{}",
            self.cfg.region, self.cfg.account_id, name
        )
    }

    fn not_found(&self, name: &str) -> StreamsError {
        StreamsError::ResourceNotFound(format!(
            "Stream {name} under account {} not found.",
            self.cfg.account_id
        ))
    }

    /// Resolves `StreamName` / `StreamARN` to a stream name.
    fn resolve_name(&self, r: &StreamRef) -> Result<String, StreamsError> {
        match (&r.name, &r.arn) {
            (Some(name), None) => Ok(name.clone()),
            (name, Some(arn)) => {
                let from_arn = self.name_from_arn(arn)?;
                if let Some(n) = name {
                    if *n != from_arn {
                        return Err(StreamsError::InvalidArgument(format!(
                            "StreamARN {arn} does not match StreamName {n}."
                        )));
                    }
                }
                Ok(from_arn)
            }
            (None, None) => Err(StreamsError::InvalidArgument(
                "Either StreamName or StreamARN should be provided.".into(),
            )),
        }
    }

    /// The stream name in a stream ARN of this region and account.
    fn name_from_arn(&self, arn: &str) -> Result<String, StreamsError> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let resource = parts.get(5).copied().unwrap_or("");
        let name = resource.strip_prefix("stream/").unwrap_or("");
        if parts.len() != 6
            || parts[0] != "arn"
            || parts[2] != "kinesis"
            || name.is_empty()
            || name.contains('/')
        {
            return Err(StreamsError::InvalidArgument(format!(
                "Invalid StreamARN {arn}."
            )));
        }
        if parts[3] != self.cfg.region || parts[4] != self.cfg.account_id {
            return Err(StreamsError::ResourceNotFound(format!(
                "Stream {name} under account {} not found.",
                parts[4]
            )));
        }
        Ok(name.to_string())
    }

    // ------------------------------------------------------------ lifecycle

    /// Completes timed transitions that are due. Cheap when nothing is pending.
    fn settle(&self, name: &str, stream: &Arc<LiveStream>) -> Result<bool, StreamsError> {
        let now = self.now_ms();
        let view = stream.view();
        if !matches!(view.until_ms, Some(t) if t <= now) {
            return Ok(true);
        }
        if view.state == StreamState::Deleting {
            self.finish_delete(name, stream)?;
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
    }

    fn finish_delete(&self, name: &str, stream: &Arc<LiveStream>) -> Result<(), StreamsError> {
        self.meta.delete_stream(name)?;
        {
            let mut streams = self.streams.write();
            if streams.get(name).is_some_and(|s| Arc::ptr_eq(s, stream)) {
                streams.remove(name);
            }
        }
        stream.logs.write().clear();
        let dir = stream.dir.clone();
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(dir = %dir.display(), error = %e, "could not remove a deleted stream's data; it is removed at next start");
            }
        }
        tracing::info!(stream = name, "stream deleted");
        Ok(())
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

    pub async fn create_stream(&self, input: CreateStreamInput) -> Result<(), StreamsError> {
        let name = input.stream_name;
        let mode = input.stream_mode.unwrap_or(StreamMode::Provisioned);
        let shard_count = match (mode, input.shard_count) {
            (_, Some(n)) => n,
            (StreamMode::OnDemand, None) => 4,
            (StreamMode::Provisioned, None) => {
                return Err(StreamsError::InvalidArgument(
                    "ShardCount is required for streams in PROVISIONED mode.".into(),
                ))
            }
        };
        if let Some(tags) = &input.tags {
            validate_tags(tags)?;
            if tags.len() > MAX_TAGS {
                return Err(StreamsError::InvalidArgument(format!(
                    "Failed to add tags to stream {name} under account {} because a given stream cannot have more than {MAX_TAGS} tags associated with it.",
                    self.cfg.account_id
                )));
            }
        }
        if self.streams.read().contains_key(&name) {
            return Err(StreamsError::ResourceInUse(format!(
                "Stream {name} under account {} already exists.",
                self.cfg.account_id
            )));
        }
        let current = self.open_shard_count();
        if current + shard_count > self.cfg.shard_limit {
            return Err(StreamsError::LimitExceeded(format!(
                "This request would exceed the shard limit for the account {} in {}. Current shard count for the account: {}. Limit: {}. Number of additional shards that would have resulted from this request: {}. Refer to the AWS Service Limits page (http://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) for current limits and how to request higher limits.",
                self.cfg.account_id, self.cfg.region, current, self.cfg.shard_limit, shard_count
            )));
        }
        if mode == StreamMode::OnDemand {
            let on_demand = self
                .streams
                .read()
                .values()
                .filter(|s| s.view().mode == "ON_DEMAND")
                .count() as i64;
            if on_demand >= self.cfg.on_demand_stream_limit {
                return Err(StreamsError::LimitExceeded(format!(
                    "This request would exceed the on-demand stream limit for the account {} in {}. Limit: {}.",
                    self.cfg.account_id, self.cfg.region, self.cfg.on_demand_stream_limit
                )));
            }
        }
        let now = self.now_ms();
        // Whole seconds: the creation second is encoded in every sequence number.
        let created_ms = now - now % 1000;
        let shards = even_ranges(shard_count as u32)
            .into_iter()
            .enumerate()
            .map(|(i, (start, end))| ShardMeta {
                index: i as u32,
                starting_hash_key: start.to_string(),
                ending_hash_key: end.to_string(),
                created_ms,
                parent: None,
                adjacent_parent: None,
                closed_ms: None,
                end_offset: None,
            })
            .collect::<Vec<_>>();
        let (until_ms, immediate) = self.until();
        let meta = StreamMeta {
            name: name.clone(),
            uid: format!("{}-{}", name, uuid::Uuid::new_v4().simple()),
            created_ms,
            state: if immediate {
                StreamState::Active
            } else {
                StreamState::Creating
            },
            until_ms,
            retention_hours: 24,
            mode: match mode {
                StreamMode::Provisioned => "PROVISIONED".into(),
                StreamMode::OnDemand => "ON_DEMAND".into(),
            },
            max_record_size_kib: input.max_record_size_kib.unwrap_or(1024) as u32,
            next_shard_index: shards.len() as u32,
            shards,
            tags: input.tags.unwrap_or_default(),
            encryption_key: None,
            shard_level_metrics: vec![],
            warm_throughput_mibps: input.warm_throughput_mibps,
            consumers: vec![],
            resource_policy: None,
            pending_reshard: None,
            shard_count_updates: vec![],
            mode_updates: vec![],
        };
        // Shard directories first, metadata second: a crash in between leaves
        // only an orphan directory, which the next start removes.
        let stream = self.open_stream(meta.clone())?;
        let mut streams = self.streams.write();
        if streams.contains_key(&name) || !self.meta.create_stream(&meta)? {
            drop(streams);
            let _ = std::fs::remove_dir_all(&stream.dir);
            return Err(StreamsError::ResourceInUse(format!(
                "Stream {name} under account {} already exists.",
                self.cfg.account_id
            )));
        }
        streams.insert(name.clone(), stream);
        tracing::info!(stream = name, shards = shard_count, "stream created");
        Ok(())
    }

    pub async fn delete_stream(&self, input: DeleteStreamInput) -> Result<(), StreamsError> {
        let (name, stream) = self.lookup_ref(&input.stream)?;
        if !input.enforce_consumer_deletion && !stream.view().consumers.is_empty() {
            return Err(StreamsError::ResourceInUse(format!(
                "Consumers exist in stream {name} and enforceConsumerDeletion is either not set or is false"
            )));
        }
        let (until_ms, immediate) = self.until();
        if immediate {
            return self.finish_delete(&name, &stream);
        }
        self.update_meta(&stream, |m| {
            m.state = StreamState::Deleting;
            m.until_ms = until_ms;
            Ok(())
        })
    }

    fn status(m: &StreamMeta) -> StreamStatus {
        match m.state {
            StreamState::Creating => StreamStatus::Creating,
            StreamState::Active => StreamStatus::Active,
            StreamState::Updating => StreamStatus::Updating,
            StreamState::Deleting => StreamStatus::Deleting,
        }
    }

    fn mode(m: &StreamMeta) -> StreamModeDetails {
        StreamModeDetails {
            stream_mode: StreamMode::parse(&m.mode).unwrap_or_default(),
        }
    }

    fn shard_shape(&self, s: &ShardMeta) -> Shard {
        Shard {
            shard_id: shard_id(s.index),
            parent_shard_id: s.parent.map(shard_id),
            adjacent_parent_shard_id: s.adjacent_parent.map(shard_id),
            hash_key_range: HashKeyRange {
                starting_hash_key: s.starting_hash_key.clone(),
                ending_hash_key: s.ending_hash_key.clone(),
            },
            sequence_number_range: SequenceNumberRange {
                starting_sequence_number: seqnum::encode(SeqParts {
                    shard_create_secs: secs(s.created_ms),
                    shard_index: s.index,
                    seq_index: 0,
                    record_secs: secs(s.created_ms),
                }),
                ending_sequence_number: s.closed_ms.map(|closed| {
                    seqnum::encode(SeqParts {
                        shard_create_secs: secs(s.created_ms),
                        shard_index: s.index,
                        seq_index: MAX_SEQ_INDEX,
                        record_secs: secs(closed),
                    })
                }),
            },
        }
    }

    fn enhanced(m: &StreamMeta) -> Vec<EnhancedMetrics> {
        vec![EnhancedMetrics {
            shard_level_metrics: m.shard_level_metrics.clone(),
        }]
    }

    /// Shards not yet expired: closed shards whose records are all past retention are gone.
    fn visible_shards<'a>(&self, m: &'a StreamMeta) -> impl Iterator<Item = &'a ShardMeta> {
        let cutoff = self.now_ms() - i64::from(m.retention_hours) * 3_600_000;
        m.shards
            .iter()
            .filter(move |s| s.closed_ms.is_none_or(|c| c >= cutoff))
    }

    pub async fn describe_stream(
        &self,
        input: DescribeStreamInput,
    ) -> Result<DescribeStreamOutput, StreamsError> {
        let (_, stream) = self.lookup_ref(&input.stream)?;
        let m = stream.view();
        let limit = input.limit.unwrap_or(100).clamp(1, 100) as usize;
        let mut shards: Vec<Shard> = Vec::new();
        let mut has_more = false;
        if m.state != StreamState::Creating {
            let after = input
                .exclusive_start_shard_id
                .as_deref()
                .and_then(parse_shard_id);
            let mut iter = self
                .visible_shards(&m)
                .filter(|s| after.is_none_or(|a| s.index > a))
                .map(|s| self.shard_shape(s));
            shards.extend(iter.by_ref().take(limit));
            has_more = iter.next().is_some();
        }
        Ok(DescribeStreamOutput {
            stream_description: StreamDescription {
                stream_name: m.name.clone(),
                stream_arn: self.arn(&m.name),
                stream_status: Self::status(&m),
                stream_mode_details: Self::mode(&m),
                shards,
                has_more_shards: has_more,
                retention_period_hours: i64::from(m.retention_hours),
                stream_creation_timestamp: Timestamp(m.created_ms),
                enhanced_monitoring: Self::enhanced(&m),
                encryption_type: if m.encryption_key.is_some() {
                    "KMS"
                } else {
                    "NONE"
                }
                .into(),
                key_id: m.encryption_key.clone(),
            },
        })
    }

    pub async fn describe_stream_summary(
        &self,
        input: DescribeStreamSummaryInput,
    ) -> Result<DescribeStreamSummaryOutput, StreamsError> {
        let (_, stream) = self.lookup_ref(&input.stream)?;
        let m = stream.view();
        let open = if m.state == StreamState::Creating {
            0
        } else {
            m.shards.iter().filter(|s| is_open(s)).count()
        };
        Ok(DescribeStreamSummaryOutput {
            stream_description_summary: StreamDescriptionSummary {
                stream_name: m.name.clone(),
                stream_arn: self.arn(&m.name),
                stream_status: Self::status(&m),
                stream_mode_details: Self::mode(&m),
                retention_period_hours: i64::from(m.retention_hours),
                stream_creation_timestamp: Timestamp(m.created_ms),
                enhanced_monitoring: Self::enhanced(&m),
                encryption_type: if m.encryption_key.is_some() {
                    "KMS"
                } else {
                    "NONE"
                }
                .into(),
                key_id: m.encryption_key.clone(),
                open_shard_count: open as i64,
                consumer_count: m.consumers.len() as i64,
                warm_throughput: m.warm_throughput_mibps.map(|t| WarmThroughput {
                    target_mibps: Some(t),
                    current_mibps: Some(t),
                }),
                max_record_size_kib: i64::from(m.max_record_size_kib),
            },
        })
    }

    pub async fn list_streams(
        &self,
        input: ListStreamsInput,
    ) -> Result<ListStreamsOutput, StreamsError> {
        let limit = input.limit.unwrap_or(100).clamp(1, 100) as usize;
        let now = self.now_ms();
        let after = match &input.next_token {
            Some(tok) => {
                let t = PageToken::decode_fresh(tok, now)?;
                Some(t.after)
            }
            None => input.exclusive_start_stream_name.clone(),
        };
        self.settle_all();
        let streams: Vec<Arc<StreamView>> = self
            .streams
            .read()
            .iter()
            .filter(|(n, _)| after.as_ref().is_none_or(|a| n.as_str() > a.as_str()))
            .map(|(_, s)| s.view())
            .collect();
        let has_more = streams.len() > limit;
        let page = &streams[..streams.len().min(limit)];
        let next_token = if has_more {
            page.last().map(|m| {
                PageToken {
                    after: m.name.clone(),
                    issued_ms: now,
                }
                .encode()
            })
        } else {
            None
        };
        Ok(ListStreamsOutput {
            stream_names: page.iter().map(|m| m.name.clone()).collect(),
            has_more_streams: has_more,
            next_token,
            stream_summaries: page
                .iter()
                .map(|m| StreamSummary {
                    stream_name: m.name.clone(),
                    stream_arn: self.arn(&m.name),
                    stream_status: Self::status(m),
                    stream_mode_details: Self::mode(m),
                    stream_creation_timestamp: Timestamp(m.created_ms),
                })
                .collect(),
        })
    }

    pub async fn list_shards(
        &self,
        input: ListShardsInput,
    ) -> Result<ListShardsOutput, StreamsError> {
        let now = self.now_ms();
        let has_stream = input.stream.name.is_some() || input.stream.arn.is_some();
        let (name, after, filter, max_results) = match &input.next_token {
            Some(tok) => {
                if has_stream {
                    return Err(StreamsError::InvalidArgument(
                        "NextToken and StreamName cannot be provided together.".into(),
                    ));
                }
                let t = ShardPageToken::decode(tok).ok_or_else(|| {
                    StreamsError::InvalidArgument(format!("Invalid ShardPageToken: {tok}"))
                })?;
                if now - t.issued_ms > TOKEN_LIFETIME_MS {
                    return Err(StreamsError::ExpiredNextToken(format!(
                        "The timestamp on the NextToken has expired: {tok}"
                    )));
                }
                let filter = t.filter();
                (
                    t.stream,
                    Some(t.after),
                    filter,
                    input.max_results.unwrap_or(t.max_results),
                )
            }
            None => {
                if !has_stream {
                    return Err(StreamsError::InvalidArgument(
                        "Either NextToken or StreamName should be provided.".into(),
                    ));
                }
                let name = self.resolve_name(&input.stream)?;
                let after = input
                    .exclusive_start_shard_id
                    .as_deref()
                    .and_then(parse_shard_id);
                (
                    name,
                    after,
                    input.shard_filter.clone(),
                    input.max_results.unwrap_or(1000),
                )
            }
        };
        let max_results = max_results.clamp(1, 10000) as usize;
        let stream = self.lookup(&name)?;
        let m = stream.view();
        if m.state == StreamState::Creating {
            return Err(StreamsError::ResourceInUse(format!(
                "Stream {name} under account {} is in CREATING state.",
                self.cfg.account_id
            )));
        }
        let retention_ms = i64::from(m.retention_hours) * 3_600_000;
        let trim_horizon = now - retention_ms;
        // A shard is open at `t` when created at or before `t` (initial shards always) and not closed by `t`.
        let open_at = |s: &ShardMeta, t: i64| {
            (s.parent.is_none() && s.adjacent_parent.is_none() || s.created_ms <= t)
                && s.closed_ms.is_none_or(|c| c > t)
        };
        let mut filter_after = None;
        let keep = |s: &ShardMeta| -> Result<bool, StreamsError> {
            Ok(match &filter {
                None => true,
                Some(f) => match f.filter_type {
                    ShardFilterType::AfterShardId => true,
                    ShardFilterType::AtTrimHorizon => open_at(s, trim_horizon),
                    ShardFilterType::FromTrimHorizon => true,
                    ShardFilterType::AtLatest => is_open(s),
                    ShardFilterType::AtTimestamp => {
                        open_at(s, f.timestamp.map(|t| t.0).unwrap_or(now))
                    }
                    ShardFilterType::FromTimestamp => s
                        .closed_ms
                        .is_none_or(|c| c >= f.timestamp.map(|t| t.0).unwrap_or(now)),
                },
            })
        };
        if let Some(f) = &filter {
            match f.filter_type {
                ShardFilterType::AfterShardId => {
                    let id = f.shard_id.as_deref().ok_or_else(|| {
                        StreamsError::InvalidArgument(
                            "ShardId must be provided for AFTER_SHARD_ID ShardFilter.".into(),
                        )
                    })?;
                    filter_after = parse_shard_id(id);
                }
                ShardFilterType::AtTimestamp | ShardFilterType::FromTimestamp
                    if f.timestamp.is_none() =>
                {
                    return Err(StreamsError::InvalidArgument(
                        "Timestamp must be provided for AT_TIMESTAMP or FROM_TIMESTAMP ShardFilter.".into(),
                    ));
                }
                _ => {}
            }
        }
        let mut selected = Vec::new();
        for s in self.visible_shards(&m) {
            if after.is_some_and(|a| s.index <= a) || filter_after.is_some_and(|a| s.index <= a) {
                continue;
            }
            if keep(s)? {
                selected.push(s);
            }
        }
        let has_more = selected.len() > max_results;
        selected.truncate(max_results);
        let next_token = match (has_more, selected.last()) {
            (true, Some(last)) => Some(
                ShardPageToken {
                    stream: name.clone(),
                    after: last.index,
                    max_results: max_results as i64,
                    issued_ms: now,
                    filter: filter.as_ref().map(|f| {
                        (
                            filter_code(f.filter_type),
                            f.shard_id.clone(),
                            f.timestamp.map(|t| t.0),
                        )
                    }),
                }
                .encode(),
            ),
            _ => None,
        };
        Ok(ListShardsOutput {
            shards: selected.into_iter().map(|s| self.shard_shape(s)).collect(),
            next_token,
        })
    }

    // ------------------------------------------------------------ records

    /// Picks the open shard for a record and returns (shard index, log).
    fn route(
        &self,
        name: &str,
        stream: &LiveStream,
        m: &StreamView,
        partition_key: &str,
        explicit_hash_key: Option<&str>,
    ) -> Result<(u32, Arc<ShardHandle>), StreamsError> {
        let hash = match explicit_hash_key {
            Some(k) => parse_hash_key(k).ok_or_else(|| {
                StreamsError::InvalidArgument(format!(
                    "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was {k}"
                ))
            })?,
            None => partition_key_hash(partition_key),
        };
        let index = m.route(hash).ok_or_else(|| {
            StreamsError::Internal(format!(
                "no open shard covers hash key {hash} in stream {name}"
            ))
        })?;
        let log = stream.log(index).ok_or_else(|| {
            StreamsError::Internal(format!("log of {} is not open", shard_id(index)))
        })?;
        Ok((index, log))
    }

    fn writable(&self, name: &str, stream: &LiveStream) -> Result<Arc<StreamView>, StreamsError> {
        let m = stream.view();
        match m.state {
            StreamState::Active | StreamState::Updating | StreamState::Deleting => Ok(m),
            StreamState::Creating => Err(self.not_found(name)),
        }
    }

    fn record_limit(m: &StreamMeta) -> usize {
        m.max_record_size_kib as usize * 1024
    }

    fn record_too_large(&self, name: &str, size: usize, m: &StreamMeta) -> StreamsError {
        StreamsError::InvalidArgument(format!(
            "Record size {size} bytes (data plus partition key) exceeds the maximum record size of {} KiB for stream {name} under account {}.",
            m.max_record_size_kib, self.cfg.account_id
        ))
    }

    fn seq_of(m: &StreamView, shard_index: u32, offset: u64, ts_ms: i64) -> String {
        let created = m
            .shard(shard_index)
            .map(|s| s.created_ms)
            .unwrap_or(m.created_ms);
        seqnum::encode(SeqParts {
            shard_create_secs: secs(created),
            shard_index,
            seq_index: offset,
            record_secs: secs(ts_ms),
        })
    }

    /// AWS's throttling message, for writes and reads alike.
    fn rate_exceeded(&self, name: &str, index: u32) -> String {
        format!(
            "Rate exceeded for shard {} in stream {name} under account {}.",
            shard_id(index),
            self.cfg.account_id
        )
    }

    /// Takes one record of `bytes` from its shard's write buckets (always true with limits off).
    fn admit_write(&self, log: &ShardHandle, now: i64, bytes: usize) -> bool {
        !self.cfg.throughput_limits || log.limiter().admit_write(now, bytes as u64)
    }

    pub async fn put_record(&self, input: PutRecordInput) -> Result<PutRecordOutput, StreamsError> {
        let started = std::time::Instant::now();
        let (name, stream) = self.lookup_ref(&input.stream)?;
        let m = self.writable(&name, &stream)?;
        if let Some(seq) = &input.sequence_number_for_ordering {
            if seqnum::decode(seq).is_none() {
                return Err(StreamsError::InvalidArgument(format!(
                    "ExclusiveMinimumSequenceNumber {seq} used in PutRecord on stream {name} under account {} is invalid.",
                    self.cfg.account_id
                )));
            }
        }
        let size = input.data.len() + input.partition_key.len();
        if size > Self::record_limit(&m) {
            return Err(self.record_too_large(&name, size, &m));
        }
        let record = Arc::new((input.partition_key, input.data));
        let mut m = m;
        for _ in 0..RESHARD_RETRIES {
            let (index, log) = self.route(
                &name,
                &stream,
                &m,
                &record.0,
                input.explicit_hash_key.as_deref(),
            )?;
            let now = self.now_ms();
            if !self.admit_write(&log, now, size) {
                stream.metrics.write_throttled.add(1);
                log.metrics.write_throttled.add(1);
                return Err(StreamsError::ProvisionedThroughputExceeded(
                    self.rate_exceeded(&name, index),
                ));
            }
            let r = record.clone();
            let appended = tokio::task::spawn_blocking(move || {
                log.append(now, &[(r.0.as_bytes(), r.1.as_slice())])
            })
            .await
            .map_err(|e| StreamsError::Internal(format!("blocking task failed: {e}")))?;
            match appended {
                Ok(info) => {
                    stream.metrics.put_record_ok(size, started);
                    return Ok(PutRecordOutput {
                        shard_id: shard_id(index),
                        sequence_number: Self::seq_of(
                            &m,
                            index,
                            info.first_offset,
                            info.timestamp_ms,
                        ),
                        encryption_type: m.encryption_key.as_ref().map(|_| "KMS".to_string()),
                    });
                }
                Err(AppendError::Closed) => m = self.after_reshard(&name, &stream)?,
                Err(AppendError::Log(e)) => return Err(e.into()),
            }
        }
        Err(StreamsError::Internal(format!(
            "stream {name} kept resharding under a PutRecord"
        )))
    }

    /// Waits for an in-progress reshard to publish its shard map, then returns it.
    fn after_reshard(
        &self,
        name: &str,
        stream: &LiveStream,
    ) -> Result<Arc<StreamView>, StreamsError> {
        drop(stream.write.lock());
        self.writable(name, stream)
    }

    pub async fn put_records(
        &self,
        input: PutRecordsInput,
    ) -> Result<PutRecordsOutput, StreamsError> {
        let started = std::time::Instant::now();
        let (name, stream) = self.lookup_ref(&input.stream)?;
        let m = self.writable(&name, &stream)?;
        let limit = Self::record_limit(&m);
        let mut total = 0usize;
        for r in &input.records {
            let size = r.data.len() + r.partition_key.len();
            if size > limit {
                return Err(self.record_too_large(&name, size, &m));
            }
            total += size;
        }
        if total > PUT_RECORDS_MAX_BYTES {
            return Err(StreamsError::InvalidArgument(format!(
                "Records size exceeds 10 MB limit: request for stream {name} under account {} carries {total} bytes.",
                self.cfg.account_id
            )));
        }
        let records = Arc::new(input.records);
        let mut results = vec![PutRecordsResultEntry::default(); records.len()];
        let mut failed = 0;
        let mut pending: Vec<usize> = (0..records.len()).collect();
        let mut m = m;
        for attempt in 0..RESHARD_RETRIES {
            if pending.is_empty() {
                break;
            }
            if attempt > 0 {
                m = self.after_reshard(&name, &stream)?;
            }
            // Group by shard, keeping request order within each shard; one log batch per shard.
            let mut groups: BTreeMap<u32, (Arc<ShardHandle>, Vec<usize>)> = BTreeMap::new();
            // Route everything first: a request rejected as a whole takes no throughput.
            let mut routed = Vec::with_capacity(pending.len());
            for &i in &pending {
                let r = &records[i];
                routed.push((
                    i,
                    self.route(
                        &name,
                        &stream,
                        &m,
                        &r.partition_key,
                        r.explicit_hash_key.as_deref(),
                    )?,
                ));
            }
            pending.clear();
            let now = self.now_ms();
            // In request order, each record against its own shard's buckets;
            // only admitted records are appended.
            for (i, (index, log)) in routed {
                let r = &records[i];
                if !self.admit_write(&log, now, r.data.len() + r.partition_key.len()) {
                    log.metrics.write_throttled.add(1);
                    failed += 1;
                    results[i].error_code = Some("ProvisionedThroughputExceededException".into());
                    results[i].error_message = Some(self.rate_exceeded(&name, index));
                    continue;
                }
                groups
                    .entry(index)
                    .or_insert_with(|| (log, Vec::new()))
                    .1
                    .push(i);
            }
            let mut tasks = Vec::with_capacity(groups.len());
            for (index, (log, positions)) in groups {
                let records = records.clone();
                tasks.push(tokio::task::spawn_blocking(move || {
                    let batch: Vec<(&[u8], &[u8])> = positions
                        .iter()
                        .map(|&i| {
                            (
                                records[i].partition_key.as_bytes(),
                                records[i].data.as_slice(),
                            )
                        })
                        .collect();
                    let res = log.append(now, &batch);
                    (index, positions, res)
                }));
            }
            for t in tasks {
                let (index, positions, res) =
                    t.await.map_err(|e| StreamsError::Internal(e.to_string()))?;
                match res {
                    Ok(info) => {
                        let id = shard_id(index);
                        for (k, &i) in positions.iter().enumerate() {
                            results[i].shard_id = Some(id.clone());
                            results[i].sequence_number = Some(Self::seq_of(
                                &m,
                                index,
                                info.first_offset + k as u64,
                                info.timestamp_ms,
                            ));
                        }
                    }
                    // The shard closed under us: those records go to its children next round.
                    Err(AppendError::Closed) => pending.extend(positions),
                    Err(AppendError::Log(e)) => {
                        tracing::error!(stream = name, shard = index, error = %e, "append failed");
                        for &i in &positions {
                            failed += 1;
                            results[i].error_code = Some("InternalFailure".into());
                            results[i].error_message = Some("Internal service failure.".into());
                        }
                    }
                }
            }
        }
        for &i in &pending {
            failed += 1;
            results[i].error_code = Some("InternalFailure".into());
            results[i].error_message = Some("Internal service failure.".into());
        }
        self.count_put_records(&stream, &records, &results, started);
        Ok(PutRecordsOutput {
            failed_record_count: failed,
            records: results,
            encryption_type: m.encryption_key.as_ref().map(|_| "KMS".to_string()),
        })
    }

    fn shard_not_found(&self, name: &str, id: &str) -> StreamsError {
        StreamsError::ResourceNotFound(format!(
            "Shard {id} in stream {name} under account {} does not exist",
            self.cfg.account_id
        ))
    }

    /// First offset still within retention.
    fn trim_horizon(&self, m: &StreamMeta, log: &ShardLog) -> Result<u64, StreamsError> {
        let cutoff = self.now_ms() - i64::from(m.retention_hours) * 3_600_000;
        Ok(log.offset_for_timestamp(cutoff)?.max(log.start_offset()))
    }

    pub async fn get_shard_iterator(
        &self,
        input: GetShardIteratorInput,
    ) -> Result<GetShardIteratorOutput, StreamsError> {
        let name = self.resolve_name(&input.stream)?;
        let acct = &self.cfg.account_id;
        let raw = input.shard_id.as_str();
        let index = parse_shard_id(raw).ok_or_else(|| {
            StreamsError::ResourceNotFound(format!(
                "Could not find shard {raw} in stream {name} under account {acct}."
            ))
        })?;
        let id = shard_id(index);
        let stream = self.lookup(&name).map_err(|e| match e {
            StreamsError::ResourceNotFound(_) => self.shard_not_found(&name, &id),
            e => e,
        })?;
        let m = stream.view();
        let shard = m
            .shards
            .iter()
            .find(|s| s.index == index)
            .filter(|_| m.state != StreamState::Creating)
            .ok_or_else(|| self.shard_not_found(&name, &id))?
            .clone();
        let log = stream
            .log(index)
            .ok_or_else(|| self.shard_not_found(&name, &id))?;
        check_iterator_arguments(&input)?;
        let now = self.now_ms();
        let offset = match input.iterator_type {
            ShardIteratorType::AtSequenceNumber | ShardIteratorType::AfterSequenceNumber => {
                let seq = input.starting_sequence_number.as_deref().unwrap_or("");
                let p = seqnum::decode(seq).ok_or_else(|| {
                    StreamsError::InvalidArgument(format!(
                        "StartingSequenceNumber {seq} used in GetShardIterator on shard {id} in stream {name} under account {acct} is invalid."
                    ))
                })?;
                if p.shard_index != index {
                    return Err(StreamsError::InvalidArgument(format!(
                        "Invalid StartingSequenceNumber. It encodes {}, while it was used in a call to a shard with {id}",
                        shard_id(p.shard_index)
                    )));
                }
                if p.shard_create_secs != secs(shard.created_ms) {
                    return Err(StreamsError::InvalidArgument(format!(
                        "StartingSequenceNumber {seq} used in GetShardIterator on shard {id} in stream {name} under account {acct} is invalid because it did not come from this stream."
                    )));
                }
                if p.seq_index == MAX_SEQ_INDEX {
                    shard.end_offset.unwrap_or_else(|| log.end_offset())
                } else if input.iterator_type == ShardIteratorType::AtSequenceNumber
                    || subscribe::before_first(&p, &shard)
                {
                    p.seq_index
                } else {
                    p.seq_index + 1
                }
            }
            ShardIteratorType::TrimHorizon => self.trim_horizon(&m, &log)?,
            ShardIteratorType::Latest => shard.end_offset.unwrap_or_else(|| log.end_offset()),
            ShardIteratorType::AtTimestamp => {
                let ts = input.timestamp.map(|t| t.0).unwrap_or(now);
                if ts > now {
                    return Err(StreamsError::InvalidArgument(format!(
                        "The timestampInMillis parameter cannot be greater than the currentTimestampInMillis. timestampInMillis: {ts}, currentTimestampInMillis: {now}"
                    )));
                }
                let l = log.clone();
                let at = blocking(move || Ok(l.offset_for_timestamp(ts)?)).await?;
                at.max(self.trim_horizon(&m, &log)?)
            }
        };
        Ok(GetShardIteratorOutput {
            shard_iterator: IteratorToken {
                stream_name: name,
                stream_uid: m.uid.clone(),
                shard_index: index,
                offset,
                issued_ms: now,
            }
            .encode(),
        })
    }

    pub async fn get_records(
        &self,
        input: GetRecordsInput,
    ) -> Result<GetRecordsOutput, StreamsError> {
        let started = std::time::Instant::now();
        let invalid = || StreamsError::InvalidArgument("Invalid ShardIterator.".into());
        let tok = IteratorToken::decode(&input.shard_iterator).ok_or_else(invalid)?;
        let now = self.now_ms();
        if tok.issued_ms > now + 60_000 {
            return Err(invalid());
        }
        if now - tok.issued_ms > TOKEN_LIFETIME_MS {
            return Err(StreamsError::ExpiredIterator(format!(
                "Iterator expired. The iterator was created at time {} while right now it is {} which is further in the future than the tolerated delay of {TOKEN_LIFETIME_MS} milliseconds.",
                amz_date(tok.issued_ms),
                amz_date(now)
            )));
        }
        if let Some(arn) = &input.stream_arn {
            if self.name_from_arn(arn)? != tok.stream_name {
                return Err(invalid());
            }
        }
        let id = shard_id(tok.shard_index);
        let stream = self.lookup(&tok.stream_name).map_err(|e| match e {
            StreamsError::ResourceNotFound(_) => self.shard_not_found(&tok.stream_name, &id),
            e => e,
        })?;
        let m = stream.view();
        if m.uid != tok.stream_uid {
            return Err(self.shard_not_found(&tok.stream_name, &id));
        }
        let shard = m
            .shards
            .iter()
            .find(|s| s.index == tok.shard_index)
            .cloned()
            .ok_or_else(|| self.shard_not_found(&tok.stream_name, &id))?;
        let log = stream
            .log(tok.shard_index)
            .ok_or_else(|| self.shard_not_found(&tok.stream_name, &id))?;
        let limited = self.cfg.throughput_limits;
        if limited && !log.limiter().admit_read(now) {
            stream.metrics.read_throttled.add(1);
            log.metrics.read_throttled.add(1);
            return Err(StreamsError::ProvisionedThroughputExceeded(
                self.rate_exceeded(&tok.stream_name, tok.shard_index),
            ));
        }
        let limit = input.limit.unwrap_or(10_000).clamp(1, 10_000) as usize;
        let start = tok.offset.max(self.trim_horizon(&m, &log)?);
        let end_limit = shard.end_offset;
        let l = log.clone();
        let stored: Vec<StoredRecord> = blocking(move || {
            let mut v = l.read(start, limit, GET_RECORDS_MAX_BYTES)?;
            if let Some(end) = end_limit {
                v.retain(|r| r.offset < end);
            }
            Ok(v)
        })
        .await?;
        let bytes: usize = stored.iter().map(|r| r.key.len() + r.value.len()).sum();
        if limited {
            // Charged after the fact; a big read leaves debt that blocks the next ones.
            log.limiter().charge_read(self.now_ms(), bytes as u64);
        }
        let next_offset = stored.last().map(|r| r.offset + 1).unwrap_or(start);
        let tip = shard.end_offset.unwrap_or_else(|| log.end_offset());
        let millis_behind = match stored.last() {
            Some(last) if next_offset < tip => (now - last.timestamp_ms).max(0),
            _ => 0,
        };
        stream
            .metrics
            .get_records_ok(stored.len(), bytes as u64, millis_behind, started);
        // AWS's shard IteratorAgeMilliseconds: the age of the last record read.
        let age = stored.last().map_or(0, |r| (now - r.timestamp_ms).max(0));
        log.metrics.read(stored.len(), bytes as u64, age);
        let records = stored
            .into_iter()
            .map(|r| Record {
                sequence_number: Self::seq_of(&m, tok.shard_index, r.offset, r.timestamp_ms),
                approximate_arrival_timestamp: Timestamp(r.timestamp_ms),
                data: Blob(r.value),
                partition_key: String::from_utf8(r.key).unwrap_or_default(),
                encryption_type: m.encryption_key.as_ref().map(|_| "KMS".to_string()),
            })
            .collect();
        // At the end of a closed shard: no next iterator, and the children instead.
        let at_end = shard.end_offset.is_some_and(|end| next_offset >= end);
        if at_end {
            let children = child_shards(&m, shard.index);
            return Ok(GetRecordsOutput {
                records,
                next_shard_iterator: None,
                millis_behind_latest: 0,
                child_shards: Some(children),
            });
        }
        Ok(GetRecordsOutput {
            records,
            next_shard_iterator: Some(
                IteratorToken {
                    offset: next_offset,
                    issued_ms: now,
                    ..tok
                }
                .encode(),
            ),
            millis_behind_latest: millis_behind,
            child_shards: None,
        })
    }

    // ------------------------------------------------------------ settings

    /// Applies a metadata change atomically: in memory and in the store, or neither.
    fn update_meta<T>(
        &self,
        stream: &LiveStream,
        f: impl FnOnce(&mut StreamMeta) -> Result<T, StreamsError>,
    ) -> Result<T, StreamsError> {
        let _serialised = stream.write.lock();
        let mut next = stream.view().meta.clone();
        let out = f(&mut next)?;
        self.meta.put_stream(&next)?;
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

    pub async fn increase_retention(&self, input: RetentionInput) -> Result<(), StreamsError> {
        let h = input.retention_period_hours;
        check_retention_bounds(h)?;
        let (name, stream) = self.lookup_ref(&input.stream)?;
        self.update_active(&name, &stream, |m| {
            if i64::from(m.retention_hours) > h {
                return Err(StreamsError::InvalidArgument(format!(
                    "Requested retention period ({h} hours) for stream {name} can not be shorter than existing retention period ({} hours). Use DecreaseRetentionPeriod API.",
                    m.retention_hours
                )));
            }
            m.retention_hours = h as u32;
            Ok(())
        })
    }

    pub async fn decrease_retention(&self, input: RetentionInput) -> Result<(), StreamsError> {
        let h = input.retention_period_hours;
        check_retention_bounds(h)?;
        let (name, stream) = self.lookup_ref(&input.stream)?;
        self.update_active(&name, &stream, |m| {
            if i64::from(m.retention_hours) < h {
                return Err(StreamsError::InvalidArgument(format!(
                    "Requested retention period ({h} hours) for stream {name} can not be longer than existing retention period ({} hours). Use IncreaseRetentionPeriod API.",
                    m.retention_hours
                )));
            }
            m.retention_hours = h as u32;
            Ok(())
        })?;
        // Shorter retention makes older data unreachable at once; reclaim its space now.
        self.enforce_retention_for(&stream);
        Ok(())
    }

    pub async fn update_max_record_size(
        &self,
        input: UpdateMaxRecordSizeInput,
    ) -> Result<(), StreamsError> {
        let (name, stream) = self.lookup_ref(&input.stream)?;
        self.update_active(&name, &stream, |m| {
            m.max_record_size_kib = input.max_record_size_kib as u32;
            Ok(())
        })
    }

    pub async fn add_tags(&self, input: AddTagsToStreamInput) -> Result<(), StreamsError> {
        let (name, stream) = self.lookup_ref(&input.stream)?;
        self.tag_stream(&name, &stream, input.tags)
    }

    fn tag_stream(
        &self,
        name: &str,
        stream: &LiveStream,
        tags: BTreeMap<String, String>,
    ) -> Result<(), StreamsError> {
        validate_tags(&tags)?;
        self.update_meta(stream, |m| {
            if m.state == StreamState::Creating || m.state == StreamState::Deleting {
                self.require_active(name, m)?;
            }
            let mut merged = m.tags.clone();
            merged.extend(tags);
            if merged.len() > MAX_TAGS {
                return Err(StreamsError::InvalidArgument(format!(
                    "Failed to add tags to stream {name} under account {} because a given stream cannot have more than {MAX_TAGS} tags associated with it.",
                    self.cfg.account_id
                )));
            }
            m.tags = merged;
            Ok(())
        })
    }

    pub async fn remove_tags(&self, input: RemoveTagsFromStreamInput) -> Result<(), StreamsError> {
        let (name, stream) = self.lookup_ref(&input.stream)?;
        self.untag_stream(&name, &stream, &input.tag_keys)
    }

    fn untag_stream(
        &self,
        name: &str,
        stream: &LiveStream,
        keys: &[String],
    ) -> Result<(), StreamsError> {
        validate_tag_keys(keys)?;
        self.update_meta(stream, |m| {
            if m.state == StreamState::Creating || m.state == StreamState::Deleting {
                self.require_active(name, m)?;
            }
            for k in keys {
                m.tags.remove(k);
            }
            Ok(())
        })
    }

    pub async fn list_tags_for_stream(
        &self,
        input: ListTagsForStreamInput,
    ) -> Result<ListTagsForStreamOutput, StreamsError> {
        let (_, stream) = self.lookup_ref(&input.stream)?;
        let m = stream.view();
        let limit = input.limit.unwrap_or(50).clamp(1, 50) as usize;
        let mut iter = m
            .tags
            .iter()
            .filter(|(k, _)| {
                input
                    .exclusive_start_tag_key
                    .as_ref()
                    .is_none_or(|s| k.as_str() > s.as_str())
            })
            .map(|(k, v)| Tag {
                key: k.clone(),
                value: v.clone(),
            });
        let tags: Vec<Tag> = iter.by_ref().take(limit).collect();
        Ok(ListTagsForStreamOutput {
            tags,
            has_more_tags: iter.next().is_some(),
        })
    }

    fn resource(&self, arn: &str) -> Result<(String, Arc<LiveStream>), StreamsError> {
        let name = self.name_from_arn(arn).map_err(|e| match e {
            StreamsError::InvalidArgument(_) => StreamsError::InvalidArgument(format!(
                "Invalid ResourceARN {arn}: only stream ARNs of this region and account are supported."
            )),
            e => e,
        })?;
        let stream = self.lookup(&name)?;
        Ok((name, stream))
    }

    pub async fn tag_resource(&self, input: TagResourceInput) -> Result<(), StreamsError> {
        if consumers::is_consumer_arn(&input.resource_arn) {
            return self.tag_consumer(&input.resource_arn, input.tags);
        }
        let (name, stream) = self.resource(&input.resource_arn)?;
        self.tag_stream(&name, &stream, input.tags)
    }

    pub async fn untag_resource(&self, input: UntagResourceInput) -> Result<(), StreamsError> {
        if consumers::is_consumer_arn(&input.resource_arn) {
            return self.untag_consumer(&input.resource_arn, &input.tag_keys);
        }
        let (name, stream) = self.resource(&input.resource_arn)?;
        self.untag_stream(&name, &stream, &input.tag_keys)
    }

    pub async fn list_tags_for_resource(
        &self,
        input: ListTagsForResourceInput,
    ) -> Result<ListTagsForResourceOutput, StreamsError> {
        if consumers::is_consumer_arn(&input.resource_arn) {
            return self.list_consumer_tags(&input.resource_arn);
        }
        let (_, stream) = self.resource(&input.resource_arn)?;
        let m = stream.view();
        Ok(ListTagsForResourceOutput {
            tags: m
                .tags
                .iter()
                .map(|(k, v)| Tag {
                    key: k.clone(),
                    value: v.clone(),
                })
                .collect(),
        })
    }

    pub async fn describe_limits(&self) -> Result<DescribeLimitsOutput, StreamsError> {
        self.settle_all();
        let on_demand = self
            .streams
            .read()
            .values()
            .filter(|s| s.view().mode == "ON_DEMAND")
            .count();
        Ok(DescribeLimitsOutput {
            shard_limit: self.cfg.shard_limit,
            open_shard_count: self.open_shard_count(),
            on_demand_stream_count: on_demand as i64,
            on_demand_stream_count_limit: self.cfg.on_demand_stream_limit,
        })
    }

    // ------------------------------------------------------------ maintenance

    fn enforce_retention_for(&self, stream: &LiveStream) -> u64 {
        let retention_ms = i64::from(stream.view().retention_hours) * 3_600_000;
        let cutoff = self.now_ms() - retention_ms;
        let logs: Vec<Arc<ShardHandle>> = stream.logs.read().values().cloned().collect();
        let mut freed = 0;
        for log in logs {
            match log.delete_before(cutoff) {
                Ok(n) => freed += n,
                Err(e) => tracing::warn!(error = %e, "retention sweep failed for a shard"),
            }
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

/// The children of a closed shard, each naming its parents: what GetRecords
/// and SubscribeToShard return at the shard's end.
pub(super) fn child_shards(m: &StreamMeta, parent: u32) -> Vec<ChildShard> {
    m.shards
        .iter()
        .filter(|c| c.parent == Some(parent) || c.adjacent_parent == Some(parent))
        .map(|c| ChildShard {
            shard_id: shard_id(c.index),
            parent_shards: c
                .parent
                .iter()
                .chain(c.adjacent_parent.iter())
                .map(|p| shard_id(*p))
                .collect(),
            hash_key_range: HashKeyRange {
                starting_hash_key: c.starting_hash_key.clone(),
                ending_hash_key: c.ending_hash_key.clone(),
            },
        })
        .collect()
}

/// AWS checks these after finding the stream and shard (kinesalite's tests).
fn check_iterator_arguments(input: &GetShardIteratorInput) -> Result<(), StreamsError> {
    use ShardIteratorType as T;
    const MISMATCH: &str = "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no StartingSequenceNumber.";
    let kind = input.iterator_type.as_str();
    match (input.iterator_type, &input.starting_sequence_number) {
        (T::TrimHorizon | T::Latest, Some(_)) => Err(StreamsError::InvalidArgument(format!(
            "{MISMATCH} Request specified {kind} and also a StartingSequenceNumber."
        ))),
        (T::AtSequenceNumber | T::AfterSequenceNumber, None) => Err(StreamsError::InvalidArgument(format!(
            "{MISMATCH} Request specified {kind} and no StartingSequenceNumber."
        ))),
        (T::AtTimestamp, _) if input.timestamp.is_none() => Err(StreamsError::InvalidArgument(
            "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. Current request has no timestamp parameter.".into(),
        )),
        _ => Ok(()),
    }
}

fn check_retention_bounds(h: i64) -> Result<(), StreamsError> {
    if h < MIN_RETENTION {
        return Err(StreamsError::InvalidArgument(format!(
            "Minimum allowed retention period is {MIN_RETENTION} hours. Requested retention period ({h} hours) is too short."
        )));
    }
    if h > MAX_RETENTION {
        return Err(StreamsError::InvalidArgument(format!(
            "Maximum allowed retention period is {MAX_RETENTION} hours. Requested retention period ({h} hours) is too long."
        )));
    }
    Ok(())
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

fn valid_tag_text(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_alphanumeric() || c.is_whitespace() || "_./=+-%@".contains(c))
}

fn tag_chars_error() -> StreamsError {
    StreamsError::InvalidArgument(
        "Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, _ . / = + - % @."
            .into(),
    )
}

fn validate_tags(tags: &BTreeMap<String, String>) -> Result<(), StreamsError> {
    if tags
        .iter()
        .all(|(k, v)| valid_tag_text(k) && valid_tag_text(v))
    {
        Ok(())
    } else {
        Err(tag_chars_error())
    }
}

fn validate_tag_keys(keys: &[String]) -> Result<(), StreamsError> {
    if keys.iter().all(|k| valid_tag_text(k)) {
        Ok(())
    } else {
        Err(tag_chars_error())
    }
}

/// `Thu Jan 22 01:22:02 UTC 2015`, the date format of AWS's iterator messages.
fn amz_date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%a %b %d %H:%M:%S UTC %Y").to_string())
        .unwrap_or_default()
}

fn filter_code(t: ShardFilterType) -> u8 {
    match t {
        ShardFilterType::AfterShardId => 0,
        ShardFilterType::AtTrimHorizon => 1,
        ShardFilterType::FromTrimHorizon => 2,
        ShardFilterType::AtLatest => 3,
        ShardFilterType::AtTimestamp => 4,
        ShardFilterType::FromTimestamp => 5,
    }
}

/// ListStreams pagination: the last name returned and when the token was issued.
struct PageToken {
    after: String,
    issued_ms: i64,
}

impl PageToken {
    /// Decodes a NextToken and checks it has not outlived its 300 seconds.
    pub(super) fn decode_fresh(tok: &str, now: i64) -> Result<PageToken, StreamsError> {
        let t = PageToken::decode(tok)
            .ok_or_else(|| StreamsError::InvalidArgument(format!("Invalid NextToken: {tok}")))?;
        if now - t.issued_ms > TOKEN_LIFETIME_MS {
            return Err(StreamsError::ExpiredNextToken(format!(
                "The NextToken has expired: {tok}"
            )));
        }
        Ok(t)
    }

    fn encode(&self) -> String {
        token_encode(&format!("{}\n{}", self.issued_ms, self.after))
    }
    fn decode(s: &str) -> Option<PageToken> {
        let text = token_decode(s)?;
        let (t, after) = text.split_once('\n')?;
        Some(PageToken {
            after: after.to_string(),
            issued_ms: t.parse().ok()?,
        })
    }
}

/// ListShards pagination: the stream, the last shard returned, the page size and the filter.
struct ShardPageToken {
    stream: String,
    after: u32,
    max_results: i64,
    issued_ms: i64,
    filter: Option<(u8, Option<String>, Option<i64>)>,
}

impl ShardPageToken {
    fn encode(&self) -> String {
        let (code, sid, ts) = match &self.filter {
            Some((c, s, t)) => (
                c.to_string(),
                s.clone().unwrap_or_default(),
                t.map(|t| t.to_string()).unwrap_or_default(),
            ),
            None => (String::new(), String::new(), String::new()),
        };
        token_encode(&format!(
            "{}\n{}\n{}\n{}\n{}\n{}\n{}",
            self.issued_ms, self.after, self.max_results, code, sid, ts, self.stream
        ))
    }
    fn decode(s: &str) -> Option<ShardPageToken> {
        let text = token_decode(s)?;
        let mut it = text.splitn(7, '\n');
        let issued_ms = it.next()?.parse().ok()?;
        let after = it.next()?.parse().ok()?;
        let max_results = it.next()?.parse().ok()?;
        let code = it.next()?;
        let sid = it.next()?;
        let ts = it.next()?;
        let stream = it.next()?.to_string();
        let filter = if code.is_empty() {
            None
        } else {
            Some((
                code.parse().ok()?,
                (!sid.is_empty()).then(|| sid.to_string()),
                if ts.is_empty() {
                    None
                } else {
                    Some(ts.parse().ok()?)
                },
            ))
        };
        Some(ShardPageToken {
            stream,
            after,
            max_results,
            issued_ms,
            filter,
        })
    }
    fn filter(&self) -> Option<ShardFilterInput> {
        let (code, sid, ts) = self.filter.clone()?;
        let filter_type = match code {
            0 => ShardFilterType::AfterShardId,
            1 => ShardFilterType::AtTrimHorizon,
            2 => ShardFilterType::FromTrimHorizon,
            3 => ShardFilterType::AtLatest,
            4 => ShardFilterType::AtTimestamp,
            _ => ShardFilterType::FromTimestamp,
        };
        Some(ShardFilterInput {
            filter_type,
            shard_id: sid,
            timestamp: ts.map(Timestamp),
        })
    }
}

fn token_encode(text: &str) -> String {
    use base64::Engine as _;
    let mut b = text.as_bytes().to_vec();
    b.extend_from_slice(&crc32c::crc32c(text.as_bytes()).to_be_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn token_decode(s: &str) -> Option<String> {
    use base64::Engine as _;
    let b = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()?;
    if b.len() < 4 {
        return None;
    }
    let (body, crc) = b.split_at(b.len() - 4);
    if crc32c::crc32c(body).to_be_bytes() != crc {
        return None;
    }
    String::from_utf8(body.to_vec()).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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

    #[test]
    fn shard_id_normalisation() {
        assert_eq!(parse_shard_id("shardId-000000000001"), Some(1));
        assert_eq!(parse_shard_id("shardId-1"), Some(1));
        assert_eq!(parse_shard_id("5"), Some(5));
        assert_eq!(parse_shard_id("foo-12"), Some(12));
        assert_eq!(parse_shard_id("shardId-x"), None);
        assert_eq!(parse_shard_id("shardId-2147483648"), None);
    }

    #[test]
    fn amz_date_format() {
        assert_eq!(amz_date(1421889722000), "Thu Jan 22 01:22:02 UTC 2015");
    }

    #[test]
    fn tokens_round_trip() {
        let t = PageToken {
            after: "a\nb".into(),
            issued_ms: 5,
        };
        let d = PageToken::decode(&t.encode()).unwrap();
        assert_eq!((d.after.as_str(), d.issued_ms), ("a\nb", 5));
        let s = ShardPageToken {
            stream: "s".into(),
            after: 3,
            max_results: 2,
            issued_ms: 9,
            filter: Some((4, None, Some(7))),
        };
        let d = ShardPageToken::decode(&s.encode()).unwrap();
        assert_eq!(
            (d.stream.as_str(), d.after, d.max_results, d.issued_ms),
            ("s", 3, 2, 9)
        );
        assert_eq!(d.filter, Some((4, None, Some(7))));
        assert!(PageToken::decode("garbage!").is_none());
    }
}
