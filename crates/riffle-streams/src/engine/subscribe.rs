//! SubscribeToShard: push delivery of a shard's records to one enhanced
//! fan-out consumer.
//!
//! A [`Subscription`] reads the shard log at its own pace (one event at a
//! time, on the blocking pool) and sleeps on the shard's append signal when
//! caught up, so a record reaches every subscriber as soon as its batch is
//! durable, with no polling interval. Nothing is buffered per subscriber
//! beyond the event being built: a subscriber that stops reading simply stops
//! being polled, and producers and other subscribers never wait for it.
//!
//! Per consumer and shard there is at most one live subscription (AWS's
//! rule): a second one within `subscription_exclusive_ms` of the first is
//! refused with ResourceInUseException; a later one takes over and the old
//! one ends with a ResourceInUseException event.

use super::{shard_id, Engine, LiveStream, StreamView};
use crate::clock::Clock;
use crate::error::StreamsError;
use crate::seqnum::{self, SeqParts};
use crate::shard::ShardHandle;
use parking_lot::Mutex;
use riffle_log::StoredRecord;
use riffle_meta::{ConsumerState, ShardMeta, StreamState};
use riffle_model::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

/// Most records in one event (AWS's GetRecords maximum).
const EVENT_MAX_RECORDS: usize = 10_000;
/// Most data + key bytes in one event; with base64 a JSON frame stays under ~1.4 MiB.
const EVENT_MAX_BYTES: usize = 1024 * 1024;

/// Set (and notified) when a newer subscription for the same consumer and shard takes over.
#[derive(Default)]
struct Superseded {
    flag: AtomicBool,
    notify: Notify,
}

struct Slot {
    id: u64,
    started: Instant,
    superseded: Arc<Superseded>,
}

/// The live subscriptions, one per (consumer ARN, shard index).
pub(super) struct Registry {
    slots: Mutex<HashMap<(String, u32), Slot>>,
    next_id: AtomicU64,
    /// Flipped to `true` at server shutdown: every subscription ends.
    shutdown: watch::Sender<bool>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            slots: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            shutdown: watch::channel(false).0,
        }
    }
}

impl Registry {
    /// Takes the (consumer, shard) slot, superseding an old enough live holder.
    fn claim(
        &self,
        key: (String, u32),
        exclusive: Duration,
    ) -> Result<(u64, Arc<Superseded>), StreamsError> {
        let mut slots = self.slots.lock();
        let now = Instant::now();
        if let Some(old) = slots.get(&key) {
            if now.duration_since(old.started) < exclusive {
                return Err(StreamsError::ResourceInUse(format!(
                    "Another active subscription exists for consumer {} on shard {}. Retry after {} ms.",
                    key.0,
                    shard_id(key.1),
                    exclusive.as_millis()
                )));
            }
            old.superseded.flag.store(true, Ordering::SeqCst);
            old.superseded.notify.notify_one();
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let superseded = Arc::new(Superseded::default());
        slots.insert(
            key,
            Slot {
                id,
                started: now,
                superseded: superseded.clone(),
            },
        );
        Ok((id, superseded))
    }

    fn release(&self, key: &(String, u32), id: u64) {
        let mut slots = self.slots.lock();
        if slots.get(key).is_some_and(|s| s.id == id) {
            slots.remove(key);
        }
    }

    fn live(&self) -> usize {
        self.slots.lock().len()
    }
}

/// True for the continuation Riffle hands out before a shard's first record
/// (see [`Subscription::continuation`]): AFTER it means offset 0.
pub(super) fn before_first(p: &SeqParts, shard: &ShardMeta) -> bool {
    p.seq_index == 0 && p.record_secs < super::create_secs(shard)
}

impl Engine {
    /// Validates a SubscribeToShard call and starts the subscription. Errors
    /// here (unknown consumer, stream or shard, consumer not ACTIVE, bad
    /// starting position, a too-recent subscription) come before any event.
    pub async fn subscribe_to_shard(
        &self,
        input: SubscribeToShardInput,
    ) -> Result<Subscription, StreamsError> {
        let found = self.active_consumer(&input.consumer_arn)?;
        let sp = input.starting_position;
        // GetShardIterator's checks and position rules are SubscribeToShard's.
        let tok = self
            .shard_position(GetShardIteratorInput {
                stream: StreamRef {
                    name: Some(found.stream_name.clone()),
                    arn: None,
                },
                shard_id: input.shard_id,
                iterator_type: sp.position_type,
                starting_sequence_number: sp.sequence_number,
                timestamp: sp.timestamp,
            })
            .await?;
        let stream = found.stream;
        let view = stream.view();
        let log = stream
            .log(tok.shard_index)
            .filter(|_| view.uid == tok.stream_uid)
            .ok_or_else(|| self.shard_not_found(&found.stream_name, &shard_id(tok.shard_index)))?;
        let key = (found.arn.clone(), tok.shard_index);
        let exclusive = Duration::from_millis(self.cfg.subscription_exclusive_ms);
        let (id, superseded) = self
            .subs
            .claim(key.clone(), exclusive)
            .inspect_err(|_| stream.metrics.subscribe_rate_exceeded.add(1))?;
        let now = Instant::now();
        let rate = self.cfg.subscription_read_bytes_per_sec.max(1) as f64;
        tracing::debug!(
            consumer = found.arn,
            shard = tok.shard_index,
            offset = tok.offset,
            "subscription started"
        );
        Ok(Subscription {
            appended: log.subscribe(),
            shutdown: self.subs.shutdown.subscribe(),
            registry: self.subs.clone(),
            key,
            id,
            superseded,
            stream,
            log,
            clock: self.clock.clone(),
            stream_name: found.stream_name,
            account: self.cfg.account_id.clone(),
            consumer_name: found.consumer.name,
            consumer_created_ms: found.consumer.created_ms,
            shard_index: tok.shard_index,
            pos: tok.offset,
            last_ts: None,
            deadline: now + Duration::from_millis(self.cfg.subscription_lifetime_ms),
            heartbeat: Duration::from_millis(self.cfg.subscription_heartbeat_ms.max(1)),
            // The first event goes out at once, records or not.
            next_heartbeat: now,
            rate,
            budget: rate,
            refilled: now,
            done: false,
        })
    }

    /// Ends every subscription (at shutdown, so connections can drain).
    pub fn end_subscriptions(&self) {
        self.subs.shutdown.send_replace(true);
    }

    /// How many subscriptions are live.
    pub fn live_subscriptions(&self) -> usize {
        self.subs.live()
    }
}

/// One SubscribeToShard event stream. Call [`Subscription::next_event`]
/// until it returns `None`; an `Err` is the stream's last item.
pub struct Subscription {
    appended: watch::Receiver<u64>,
    shutdown: watch::Receiver<bool>,
    registry: Arc<Registry>,
    key: (String, u32),
    id: u64,
    superseded: Arc<Superseded>,
    stream: Arc<LiveStream>,
    log: Arc<ShardHandle>,
    clock: Arc<dyn Clock>,
    stream_name: String,
    account: String,
    consumer_name: String,
    consumer_created_ms: i64,
    shard_index: u32,
    /// The next log offset to deliver.
    pos: u64,
    /// Arrival time of the record at `pos - 1`, when this subscription delivered it.
    last_ts: Option<i64>,
    deadline: Instant,
    heartbeat: Duration,
    next_heartbeat: Instant,
    /// Pacing: a token bucket of `rate` bytes/s holding at most one second.
    rate: f64,
    budget: f64,
    refilled: Instant,
    done: bool,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.registry.release(&self.key, self.id);
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("consumer", &self.key.0)
            .field("shard", &shard_id(self.shard_index))
            .field("pos", &self.pos)
            .finish()
    }
}

impl Subscription {
    /// The shard this subscription reads.
    pub fn shard_id(&self) -> String {
        shard_id(self.shard_index)
    }

    /// The next event: records as soon as they are durable, a heartbeat
    /// (no records, the current continuation) when idle, the shard-end event
    /// (ChildShards, no continuation) at the end of a closed shard. `None`
    /// once the subscription has ended (lifetime, shard end, shutdown);
    /// `Some(Err)` ends it with an error (taken over, consumer or stream gone).
    pub async fn next_event(&mut self) -> Option<Result<SubscribeToShardEvent, StreamsError>> {
        if self.done {
            return None;
        }
        let r = self.next_inner().await;
        match &r {
            Some(Ok(ev)) if ev.continuation_sequence_number.is_some() => {
                self.next_heartbeat = Instant::now() + self.heartbeat;
            }
            _ => self.done = true,
        }
        r
    }

    async fn next_inner(&mut self) -> Option<Result<SubscribeToShardEvent, StreamsError>> {
        loop {
            if self.superseded.flag.load(Ordering::SeqCst) {
                return Some(Err(StreamsError::ResourceInUse(format!(
                    "Another subscription for consumer {} on shard {} has started; this one has ended.",
                    self.key.0,
                    self.shard_id()
                ))));
            }
            if *self.shutdown.borrow() || Instant::now() >= self.deadline {
                return None;
            }
            let m = match self.check() {
                Ok(m) => m,
                Err(e) => return Some(Err(e)),
            };
            let Some(shard) = m.shard(self.shard_index).cloned() else {
                return Some(Err(self.stream_gone()));
            };
            // Marks the signal seen before looking at the tip, so no append is missed.
            self.appended.borrow_and_update();
            let tip = shard.end_offset.unwrap_or_else(|| self.log.end_offset());
            let start = self.log.start_offset();
            if self.pos < start {
                // Retention removed records this subscription had not reached.
                self.pos = start;
                self.last_ts = None;
            }
            if self.pos < tip {
                match self.pacing_wait() {
                    None => return Some(self.read_event(&m, &shard).await),
                    Some(wait) => {
                        self.wait(Instant::now() + wait, false).await;
                        continue;
                    }
                }
            }
            if shard.end_offset.is_some() {
                return Some(Ok(SubscribeToShardEvent {
                    records: vec![],
                    continuation_sequence_number: None,
                    millis_behind_latest: 0,
                    child_shards: Some(super::child_shards(&m, shard.index)),
                }));
            }
            if Instant::now() >= self.next_heartbeat {
                return Some(Ok(SubscribeToShardEvent {
                    records: vec![],
                    continuation_sequence_number: Some(self.continuation(&m, &shard)),
                    millis_behind_latest: 0,
                    child_shards: None,
                }));
            }
            let until = self.next_heartbeat.min(self.deadline);
            self.wait(until, true).await;
        }
    }

    /// Sleeps until `until`, a takeover, shutdown, or (with `on_append`) new records.
    async fn wait(&mut self, until: Instant, on_append: bool) {
        let deadline = until.min(self.deadline);
        tokio::select! {
            r = self.appended.changed(), if on_append => {
                if r.is_err() {
                    // The shard's log is gone; the next check reports why.
                    tokio::time::sleep_until(deadline).await;
                }
            }
            _ = tokio::time::sleep_until(deadline) => {}
            _ = self.superseded.notify.notified() => {}
            r = self.shutdown.changed() => {
                if r.is_err() {
                    // The engine is gone: nothing more will come.
                    self.deadline = Instant::now();
                }
            }
        }
    }

    fn stream_gone(&self) -> StreamsError {
        StreamsError::ResourceNotFound(format!(
            "Stream {} under account {} not found.",
            self.stream_name, self.account
        ))
    }

    /// The stream still exists and the consumer is still this ACTIVE one.
    fn check(&self) -> Result<Arc<StreamView>, StreamsError> {
        let m = self.stream.view();
        if m.state == StreamState::Deleting || self.stream.log(self.shard_index).is_none() {
            return Err(self.stream_gone());
        }
        let alive = m.consumers.iter().any(|c| {
            c.name == self.consumer_name
                && c.created_ms == self.consumer_created_ms
                && c.state == ConsumerState::Active
        });
        if !alive {
            return Err(StreamsError::ResourceNotFound(format!(
                "ConsumerARN {} not found",
                self.key.0
            )));
        }
        Ok(m)
    }

    /// How long to wait before reading, if the pacing budget is too low.
    fn pacing_wait(&mut self) -> Option<Duration> {
        let now = Instant::now();
        let dt = now.duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        self.budget = (self.budget + dt * self.rate).min(self.rate);
        // Wait for a useful amount rather than sending many tiny events.
        let want = (self.rate / 4.0).max(1.0);
        (self.budget < want).then(|| Duration::from_secs_f64((want - self.budget) / self.rate))
    }

    async fn read_event(
        &mut self,
        m: &StreamView,
        shard: &ShardMeta,
    ) -> Result<SubscribeToShardEvent, StreamsError> {
        let log = self.log.clone();
        let from = self.pos;
        let end = shard.end_offset;
        let max_bytes = (self.budget.max(1.0) as usize).min(EVENT_MAX_BYTES);
        let stored: Vec<StoredRecord> = tokio::task::spawn_blocking(move || {
            let mut v = log.read(from, EVENT_MAX_RECORDS, max_bytes)?;
            if let Some(end) = end {
                v.retain(|r| r.offset < end);
            }
            Ok::<_, StreamsError>(v)
        })
        .await
        .map_err(|e| StreamsError::Internal(format!("blocking task failed: {e}")))??;
        let Some(last) = stored.last() else {
            return Ok(SubscribeToShardEvent {
                records: vec![],
                continuation_sequence_number: Some(self.continuation(m, shard)),
                millis_behind_latest: 0,
                child_shards: None,
            });
        };
        let bytes: usize = stored.iter().map(|r| r.key.len() + r.value.len()).sum();
        self.budget -= bytes as f64;
        self.pos = last.offset + 1;
        self.last_ts = Some(last.timestamp_ms);
        let tip = shard.end_offset.unwrap_or_else(|| self.log.end_offset());
        let millis_behind = if self.pos < tip {
            (self.clock.now_ms() - last.timestamp_ms).max(0)
        } else {
            0
        };
        let age = (self.clock.now_ms() - last.timestamp_ms).max(0);
        self.log.metrics.read(stored.len(), bytes as u64, age);
        self.stream
            .metrics
            .subscribe_event(stored.len(), bytes as u64, millis_behind);
        let continuation = Engine::seq_of(m, self.shard_index, last.offset, last.timestamp_ms);
        let records = stored
            .into_iter()
            .map(|r| Record {
                sequence_number: Engine::seq_of(m, self.shard_index, r.offset, r.timestamp_ms),
                approximate_arrival_timestamp: Timestamp(r.timestamp_ms),
                data: Blob(r.value),
                partition_key: String::from_utf8(r.key).unwrap_or_default(),
                encryption_type: r.sealed.then(|| "KMS".to_string()),
            })
            .collect();
        Ok(SubscribeToShardEvent {
            records,
            continuation_sequence_number: Some(continuation),
            millis_behind_latest: millis_behind,
            child_shards: None,
        })
    }

    /// The sequence number to resume AFTER: the record before `pos`, or,
    /// before a shard's first record, a number that is not any record's
    /// (seq-index 0 stamped one second before the shard existed).
    fn continuation(&self, m: &StreamView, shard: &ShardMeta) -> String {
        match self.pos.checked_sub(1) {
            Some(prev) => {
                let ts = self
                    .last_ts
                    .or_else(|| self.log.last_timestamp_ms())
                    .unwrap_or(shard.created_ms);
                Engine::seq_of(m, self.shard_index, prev, ts)
            }
            None => {
                let created = super::create_secs(shard);
                seqnum::encode(SeqParts {
                    shard_create_secs: created,
                    shard_index: self.shard_index,
                    seq_index: 0,
                    record_secs: created.saturating_sub(1),
                })
            }
        }
    }
}
