//! A delivery stream fed by a Riffle data stream (`KinesisStreamAsSource`).
//!
//! One tokio task per delivery stream reads every shard of the source stream
//! through the streams engine API, round-robin, and hands what it read to a
//! [`RecordSink`], then checkpoints. What it guarantees:
//!
//! - **Start**: records that arrived at or after the start time (the
//!   delivery stream's creation, AWS's "LATEST at creation") are delivered,
//!   earlier ones are not, however late the task itself starts (after a
//!   restart, a shard with no checkpoint is read from AT_TIMESTAMP(start)).
//! - **Order across resharding**: a shard is read only once all its parents
//!   are finished (read to their end and checkpointed as such), so records
//!   of one partition key reach the sink in order, parents before children.
//! - **At least once**: a batch is checkpointed only after the sink accepted
//!   it; after a crash, reading resumes after the last checkpointed record.
//! - **Bounded memory**: one round reads about `max_batch_bytes`, and the
//!   next round starts only once the sink has accepted it.
//! - **Politeness**: a shard that is caught up is read at most once per
//!   `min_read_interval` (AWS Firehose: one GetRecords per second per shard)
//!   and otherwise only when its append signal fires; a throttled read backs
//!   off exponentially.
//! - **Deleted stream**: the task ends with [`SourceStatus::Failed`].

use super::checkpoint::{CheckpointStore, Checkpoints, ShardCheckpoint};
use super::{RecordSink, SourceFailure, SourceRecord, SourceStatus};
use crate::FirehoseError;
use bytes::Bytes;
use futures_util::future::select_all;
use riffle_streams::api::{AppendSignal, Position, StreamId, READ_MAX_BYTES, READ_MAX_RECORDS};
use riffle_streams::{Engine, StreamsError};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// How a [`KinesisSource`] reads.
#[derive(Clone, Debug)]
pub struct KinesisSourceConfig {
    /// The source stream's name or ARN (`KinesisStreamARN`).
    pub stream: String,
    /// Epoch ms from which records are delivered: the delivery stream's
    /// `source_start_ms` (its creation time).
    pub start_ms: i64,
    /// Records per read (at most GetRecords' 10,000).
    pub max_records_per_read: usize,
    /// Data + key bytes per read (at most GetRecords' 10 MiB).
    pub max_bytes_per_read: usize,
    /// Data + key bytes read in one round over the shards and handed to the
    /// sink in one call: the source's memory bound (exceeded by at most one
    /// record, since a read always returns at least one).
    pub max_batch_bytes: usize,
    /// Least time between two reads of a shard that is caught up.
    pub min_read_interval: Duration,
    /// How often the shard list is re-read even when nothing ended (it also
    /// is whenever a shard ends or a read says the shard is gone).
    pub discover_interval: Duration,
    /// Least time between two checkpoint saves (each is a metadata
    /// transaction with an fsync). A crash loses at most this much progress,
    /// which is then delivered again; a clean stop saves what is pending.
    pub checkpoint_interval: Duration,
    /// First and longest wait after a throttled or failed read, a refused
    /// batch or a failed checkpoint save (doubling in between).
    pub min_backoff: Duration,
    pub max_backoff: Duration,
}

impl KinesisSourceConfig {
    /// AWS's pace: 1 MiB reads, one read per second per caught-up shard.
    pub fn new(stream: impl Into<String>, start_ms: i64) -> Self {
        KinesisSourceConfig {
            stream: stream.into(),
            start_ms,
            max_records_per_read: READ_MAX_RECORDS,
            max_bytes_per_read: 1 << 20,
            max_batch_bytes: 4 << 20,
            min_read_interval: Duration::from_secs(1),
            discover_interval: Duration::from_secs(5),
            checkpoint_interval: Duration::from_secs(1),
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// Reads a Riffle stream into a delivery stream. Build it, then
/// [`spawn`](KinesisSource::spawn) it (or await [`run`](KinesisSource::run)
/// on a task of your own).
pub struct KinesisSource<S: RecordSink> {
    engine: Arc<Engine>,
    cfg: KinesisSourceConfig,
    sink: Arc<S>,
    store: Arc<dyn CheckpointStore>,
}

/// A spawned source: its status, and how to stop it. Dropping the handle
/// also stops the task (at its next wait).
pub struct SourceHandle {
    shutdown: watch::Sender<bool>,
    status: watch::Receiver<SourceStatus>,
    task: tokio::task::JoinHandle<()>,
}

impl SourceHandle {
    /// The status channel (clone it to watch for changes).
    pub fn status(&self) -> watch::Receiver<SourceStatus> {
        self.status.clone()
    }

    /// The status now.
    pub fn current(&self) -> SourceStatus {
        self.status.borrow().clone()
    }

    /// Whether the task has ended (stopped or failed).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Asks the task to stop and waits for it. A batch the sink is taking
    /// when the signal comes is finished and checkpointed; one still being
    /// retried is dropped uncheckpointed (it is read again next time).
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        if let Err(e) = self.task.await {
            tracing::warn!("kinesis source task ended abnormally: {e}");
        }
    }
}

impl<S: RecordSink> KinesisSource<S> {
    pub fn new(
        engine: Arc<Engine>,
        cfg: KinesisSourceConfig,
        sink: Arc<S>,
        store: Arc<dyn CheckpointStore>,
    ) -> Self {
        KinesisSource {
            engine,
            cfg,
            sink,
            store,
        }
    }

    /// Runs the source on a new tokio task.
    pub fn spawn(self) -> SourceHandle {
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (status_tx, status_rx) = watch::channel(SourceStatus::Starting);
        let task = tokio::spawn(self.run(shutdown_rx, status_tx));
        SourceHandle {
            shutdown: shutdown_tx,
            status: status_rx,
            task,
        }
    }

    /// Runs until `shutdown` turns true (or its sender is dropped), or the
    /// source stream is gone; the final status is `Stopped` or `Failed`.
    pub async fn run(self, shutdown: watch::Receiver<bool>, status: watch::Sender<SourceStatus>) {
        let stream = self.cfg.stream.clone();
        let mut run = Run {
            engine: self.engine,
            backoff: Backoff::new(self.cfg.min_backoff, self.cfg.max_backoff),
            cfg: self.cfg,
            sink: self.sink,
            store: self.store,
            shutdown,
            status,
            shards: BTreeMap::new(),
            checkpoints: Checkpoints::default(),
            dirty: false,
            last_save: None,
            next_discovery: Instant::now(),
            cursor: 0,
        };
        let end = run.main().await;
        if run.dirty {
            // One attempt (shutdown is already signalled): progress the sink
            // has accepted need not be delivered again after a clean stop.
            run.save_checkpoints().await;
        }
        let end = match end {
            End::Stopped => SourceStatus::Stopped,
            End::Failed(f) => {
                tracing::warn!(stream = %stream, "kinesis source stopped: {}", f.details);
                SourceStatus::Failed(f)
            }
        };
        run.set_status(end);
    }
}

/// How the task ends.
enum End {
    Stopped,
    Failed(SourceFailure),
}

/// Exponential backoff between `min` and `max`.
#[derive(Clone, Copy, Debug)]
struct Backoff {
    min: Duration,
    max: Duration,
}

impl Backoff {
    fn new(min: Duration, max: Duration) -> Self {
        let min = min.max(Duration::from_millis(1));
        Backoff {
            min,
            max: max.max(min),
        }
    }

    /// The wait after `current` (zero: the first failure).
    fn next(&self, current: Duration) -> Duration {
        if current.is_zero() {
            self.min
        } else {
            (current * 2).min(self.max)
        }
    }
}

/// One shard as the task follows it.
struct Shard {
    parents: Vec<String>,
    /// Where the next read starts; committed only after the sink accepted
    /// everything before it.
    pos: Position,
    /// `pos` is a saved checkpoint not yet read from (a re-created stream
    /// refuses it, and the shard starts over from the start time).
    from_checkpoint: bool,
    finished: bool,
    signal: Option<AppendSignal>,
    /// The last read found nothing new: read again only when signalled.
    idle: bool,
    signalled: bool,
    next_read: Instant,
    /// The current wait after throttling or errors (zero when fine).
    backoff: Duration,
}

/// A read's outcome, applied once the sink has accepted its records.
struct Update {
    shard: String,
    /// `None`: the shard is closed and read to its end.
    next: Option<Position>,
    last_sequence: Option<String>,
}

/// What one round over the shards produced.
#[derive(Default)]
struct Round {
    records: Vec<SourceRecord>,
    updates: Vec<Update>,
    rediscover: bool,
    /// A read failed other than by throttling.
    failed: bool,
}

/// The running task's state.
struct Run<S: RecordSink> {
    engine: Arc<Engine>,
    cfg: KinesisSourceConfig,
    sink: Arc<S>,
    store: Arc<dyn CheckpointStore>,
    shutdown: watch::Receiver<bool>,
    status: watch::Sender<SourceStatus>,
    backoff: Backoff,
    /// Known shards by id (ids sort in index order, i.e. creation order).
    shards: BTreeMap<String, Shard>,
    /// As last saved, plus changes not yet saved when `dirty`.
    checkpoints: Checkpoints,
    dirty: bool,
    last_save: Option<Instant>,
    next_discovery: Instant,
    /// Rotates the first shard of each round, for fairness under the budget.
    cursor: usize,
}

/// Future of one shard's append signal: (shard id, still there).
type SignalWait<'a> = Pin<Box<dyn Future<Output = (String, bool)> + Send + 'a>>;

impl<S: RecordSink> Run<S> {
    async fn main(&mut self) -> End {
        let id = match self.resolve().await {
            Ok(id) => id,
            Err(end) => return end,
        };
        self.checkpoints = match self.load_checkpoints().await {
            Some(c) => c,
            None => return End::Stopped,
        };
        loop {
            if self.stopping() {
                return End::Stopped;
            }
            if Instant::now() >= self.next_discovery {
                if let Err(f) = self.discover(&id) {
                    return End::Failed(f);
                }
            }
            let round = self.read_round(&id).await;
            let progress = !round.updates.is_empty();
            if round.rediscover {
                self.next_discovery = Instant::now();
            }
            if !round.records.is_empty() && !self.deliver(round.records).await {
                return End::Stopped;
            }
            self.commit(round.updates);
            if !round.failed && progress {
                self.set_status(SourceStatus::Running);
            }
            if self.save_due() && !self.save_checkpoints().await {
                return End::Stopped;
            }
            if !progress && !round.rediscover && !self.wait().await {
                return End::Stopped;
            }
        }
    }

    /// When pending checkpoint changes are to be saved (`None`: nothing pending).
    fn save_at(&self) -> Option<Instant> {
        if !self.dirty {
            return None;
        }
        Some(match self.last_save {
            Some(t) => t + self.cfg.checkpoint_interval,
            None => Instant::now(),
        })
    }

    fn save_due(&self) -> bool {
        self.save_at().is_some_and(|t| t <= Instant::now())
    }

    fn stopping(&self) -> bool {
        *self.shutdown.borrow() || self.shutdown.has_changed().is_err()
    }

    fn set_status(&self, s: SourceStatus) {
        self.status.send_if_modified(|cur| {
            if *cur == s {
                false
            } else {
                *cur = s;
                true
            }
        });
    }

    fn retrying(&self, details: String) {
        self.set_status(SourceStatus::Retrying { details });
    }

    /// Sleeps `d` unless shutdown comes first (then `false`).
    async fn pause(&mut self, d: Duration) -> bool {
        if self.stopping() {
            return false;
        }
        tokio::select! {
            _ = self.shutdown.changed() => !self.stopping(),
            _ = tokio::time::sleep(d) => true,
        }
    }

    fn not_found(&self, e: &StreamsError) -> SourceFailure {
        SourceFailure {
            details: format!(
                "The source Kinesis stream {} cannot be read: {e}",
                self.cfg.stream
            ),
        }
    }

    /// The stream's identity; a stream that is not there fails the source.
    async fn resolve(&mut self) -> Result<StreamId, End> {
        let mut wait = Duration::ZERO;
        loop {
            match self.engine.stream_id(&self.cfg.stream) {
                Ok(id) => return Ok(id),
                Err(e @ StreamsError::ResourceNotFound(_)) => {
                    return Err(End::Failed(self.not_found(&e)))
                }
                Err(e) => {
                    self.retrying(format!("resolving {}: {e}", self.cfg.stream));
                    wait = self.backoff.next(wait);
                    if !self.pause(wait).await {
                        return Err(End::Stopped);
                    }
                }
            }
        }
    }

    /// The saved checkpoints, retried until they load (`None`: shutdown).
    async fn load_checkpoints(&mut self) -> Option<Checkpoints> {
        let mut wait = Duration::ZERO;
        loop {
            let store = self.store.clone();
            match blocking(move || store.load()).await {
                Ok(c) => return Some(c),
                Err(e) => {
                    tracing::warn!(stream = %self.cfg.stream, "loading source checkpoints: {e}");
                    self.retrying(format!("loading checkpoints: {e}"));
                    wait = self.backoff.next(wait);
                    if !self.pause(wait).await {
                        return None;
                    }
                }
            }
        }
    }

    /// Saves the checkpoints, retried until durable (`false`: shutdown).
    async fn save_checkpoints(&mut self) -> bool {
        let mut wait = Duration::ZERO;
        loop {
            let store = self.store.clone();
            let doc = self.checkpoints.clone();
            match blocking(move || store.save(&doc)).await {
                Ok(()) => {
                    self.dirty = false;
                    self.last_save = Some(Instant::now());
                    return true;
                }
                Err(e) => {
                    tracing::warn!(stream = %self.cfg.stream, "saving source checkpoints: {e}");
                    self.retrying(format!("saving checkpoints: {e}"));
                    wait = self.backoff.next(wait);
                    if !self.pause(wait).await {
                        return false;
                    }
                }
            }
        }
    }

    /// Hands `records` to the sink until it accepts them (`false`: shutdown
    /// came first, and they stay uncheckpointed).
    async fn deliver(&mut self, records: Vec<SourceRecord>) -> bool {
        let mut wait = Duration::ZERO;
        loop {
            match self.sink.accept(records.clone()).await {
                Ok(()) => {
                    self.set_status(SourceStatus::Running);
                    return true;
                }
                Err(e) => {
                    tracing::debug!(stream = %self.cfg.stream, "sink refused {} records: {e}", records.len());
                    self.retrying(format!("delivering into the buffer: {e}"));
                    wait = self.backoff.next(wait);
                    if !self.pause(wait).await {
                        return false;
                    }
                }
            }
        }
    }

    /// Re-reads the shard list: new shards start from their checkpoint or
    /// the start time; shards gone past retention are forgotten (a parent
    /// no longer listed counts as finished). A stream that is gone fails
    /// the source; other errors are retried at the next discovery.
    fn discover(&mut self, id: &StreamId) -> Result<(), SourceFailure> {
        self.next_discovery = Instant::now() + self.cfg.discover_interval;
        let list = match self.engine.shards(id) {
            Ok(list) => list,
            Err(e @ StreamsError::ResourceNotFound(_)) => return Err(self.not_found(&e)),
            Err(e) => {
                self.retrying(format!("listing shards: {e}"));
                self.next_discovery = Instant::now() + self.cfg.min_backoff;
                return Ok(());
            }
        };
        if matches!(*self.status.borrow(), SourceStatus::Starting) {
            self.set_status(SourceStatus::Running);
        }
        let listed: BTreeSet<&str> = list.iter().map(|s| s.shard_id.as_str()).collect();
        self.shards.retain(|k, _| listed.contains(k.as_str()));
        let before = self.checkpoints.shards.len();
        self.checkpoints
            .shards
            .retain(|k, _| listed.contains(k.as_str()));
        self.dirty |= self.checkpoints.shards.len() != before;
        let now = Instant::now();
        for info in &list {
            if self.shards.contains_key(&info.shard_id) {
                continue;
            }
            let (pos, from_checkpoint, finished) = match self.checkpoints.shards.get(&info.shard_id)
            {
                Some(ShardCheckpoint::After(seq)) => {
                    (Position::AfterSequenceNumber(seq.clone()), true, false)
                }
                Some(ShardCheckpoint::Finished) => (Position::Latest, false, true),
                None => (Position::AtTimestamp(self.cfg.start_ms), false, false),
            };
            self.shards.insert(
                info.shard_id.clone(),
                Shard {
                    parents: info.parents().map(str::to_string).collect(),
                    pos,
                    from_checkpoint,
                    finished,
                    signal: None,
                    idle: false,
                    signalled: false,
                    next_read: now,
                    backoff: Duration::ZERO,
                },
            );
        }
        Ok(())
    }

    /// Shards that may be read: not finished, every known parent finished.
    fn eligible(&self) -> Vec<String> {
        self.shards
            .iter()
            .filter(|(_, s)| {
                !s.finished
                    && s.parents
                        .iter()
                        .all(|p| self.shards.get(p).is_none_or(|ps| ps.finished))
            })
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// One read of each shard that is due, within the byte budget.
    async fn read_round(&mut self, id: &StreamId) -> Round {
        let now = Instant::now();
        let mut due: Vec<String> = self
            .eligible()
            .into_iter()
            .filter(|k| {
                self.shards.get(k).is_some_and(|s| {
                    (!s.idle || s.signalled || s.signal.is_none()) && s.next_read <= now
                })
            })
            .collect();
        if !due.is_empty() {
            let n = due.len();
            due.rotate_left(self.cursor % n);
            self.cursor = self.cursor.wrapping_add(1);
        }
        let mut round = Round::default();
        let mut budget = self.cfg.max_batch_bytes.max(1);
        for key in due {
            if budget == 0 {
                break;
            }
            let start_ms = self.cfg.start_ms.min(self.engine.now_ms());
            let Some(shard) = self.shards.get_mut(&key) else {
                continue;
            };
            if shard.signal.is_none() {
                // Taken before the read, so an append right after it is not missed.
                shard.signal = self.engine.append_signal(id, &key).ok();
            }
            let pos = match &shard.pos {
                // Never ahead of the engine's clock (it refuses future times).
                Position::AtTimestamp(_) => Position::AtTimestamp(start_ms),
                p => p.clone(),
            };
            let max_bytes = self
                .cfg
                .max_bytes_per_read
                .clamp(1, READ_MAX_BYTES)
                .min(budget);
            let max_records = self.cfg.max_records_per_read.clamp(1, READ_MAX_RECORDS);
            let read = self
                .engine
                .read(id, &key, &pos, max_records, max_bytes)
                .await;
            let now = Instant::now();
            match read {
                Ok(batch) => {
                    shard.backoff = Duration::ZERO;
                    shard.signalled = false;
                    shard.from_checkpoint = false;
                    let count = batch.records.len();
                    let mut bytes = 0usize;
                    let last_sequence = batch.records.last().map(|r| r.sequence_number.clone());
                    for r in batch.records {
                        bytes += r.data.len() + r.partition_key.len();
                        round.records.push(SourceRecord {
                            data: Bytes::from(r.data),
                            arrival_ms: r.arrival_ms,
                            shard_id: key.clone(),
                            partition_key: r.partition_key,
                            sequence_number: r.sequence_number,
                        });
                    }
                    budget = budget.saturating_sub(bytes.max(1));
                    let behind = batch.millis_behind_latest > 0
                        || count >= max_records
                        || bytes.saturating_mul(2) >= max_bytes;
                    shard.idle = count == 0 && batch.next.is_some();
                    shard.next_read = if behind && count > 0 {
                        now
                    } else {
                        now + self.cfg.min_read_interval
                    };
                    if batch.next.is_none() {
                        round.rediscover = true;
                    }
                    round.updates.push(Update {
                        shard: key,
                        next: batch.next,
                        last_sequence,
                    });
                }
                Err(e) => {
                    shard.backoff = self.backoff.next(shard.backoff);
                    shard.next_read = now + shard.backoff;
                    match e {
                        StreamsError::ProvisionedThroughputExceeded(_)
                        | StreamsError::LimitExceeded(_) => {
                            tracing::debug!(shard = %key, "source read throttled: {e}");
                        }
                        StreamsError::ResourceNotFound(_) => {
                            // The shard expired, or the stream is gone: the listing tells.
                            shard.signal = None;
                            round.rediscover = true;
                        }
                        StreamsError::InvalidArgument(_) if shard.from_checkpoint => {
                            // A checkpoint from another incarnation of the stream.
                            tracing::warn!(shard = %key, "source checkpoint refused, reading from the start time: {e}");
                            shard.pos = Position::AtTimestamp(self.cfg.start_ms);
                            shard.from_checkpoint = false;
                            shard.next_read = now;
                        }
                        e => {
                            tracing::warn!(shard = %key, "source read failed: {e}");
                            let details = format!("reading {key}: {e}");
                            round.failed = true;
                            self.set_status(SourceStatus::Retrying { details });
                        }
                    }
                }
            }
        }
        round
    }

    /// Applies a round's reads once its records are in the sink.
    fn commit(&mut self, updates: Vec<Update>) {
        for u in updates {
            let Some(shard) = self.shards.get_mut(&u.shard) else {
                continue;
            };
            match u.next {
                Some(next) => {
                    shard.pos = next;
                    if let Some(seq) = u.last_sequence {
                        self.checkpoints
                            .shards
                            .insert(u.shard, ShardCheckpoint::After(seq));
                        self.dirty = true;
                    }
                }
                None => {
                    shard.finished = true;
                    shard.signal = None;
                    self.checkpoints
                        .shards
                        .insert(u.shard, ShardCheckpoint::Finished);
                    self.dirty = true;
                }
            }
        }
    }

    /// Waits for an idle shard's append signal, a shard's next due read,
    /// the next discovery, or shutdown (then `false`).
    async fn wait(&mut self) -> bool {
        let now = Instant::now();
        let eligible: BTreeSet<String> = self.eligible().into_iter().collect();
        let mut deadline = self.next_discovery;
        if let Some(t) = self.save_at() {
            deadline = deadline.min(t.max(now));
        }
        for key in &eligible {
            if let Some(s) = self.shards.get(key) {
                if !s.idle || s.signalled || s.signal.is_none() {
                    deadline = deadline.min(s.next_read.max(now));
                }
            }
        }
        let mut waits: Vec<SignalWait<'_>> = self
            .shards
            .iter_mut()
            .filter(|(k, s)| eligible.contains(*k) && s.idle && !s.signalled)
            .filter_map(|(k, s)| {
                let signal = s.signal.as_mut()?;
                let key = k.clone();
                let fut: SignalWait<'_> = Box::pin(async move { (key, signal.changed().await) });
                Some(fut)
            })
            .collect();
        // select_all refuses an empty list.
        waits.push(Box::pin(std::future::pending()));
        let woke = tokio::select! {
            _ = self.shutdown.changed() => None,
            _ = tokio::time::sleep_until(deadline) => None,
            ((key, alive), _, _) = select_all(waits) => Some((key, alive)),
        };
        if self.stopping() {
            return false;
        }
        if let Some((key, alive)) = woke {
            if let Some(s) = self.shards.get_mut(&key) {
                if alive {
                    s.signalled = true;
                } else {
                    // The shard's log is gone: the stream was deleted, most likely.
                    s.signal = None;
                    self.next_discovery = Instant::now();
                }
            }
        }
        true
    }
}

/// Runs a blocking checkpoint call on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, FirehoseError> + Send + 'static,
) -> Result<T, FirehoseError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| FirehoseError::Internal(format!("checkpoint task: {e}")))?
}
