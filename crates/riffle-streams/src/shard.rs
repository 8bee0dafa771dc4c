//! A shard's record log, its write gate, and the signal that wakes push
//! subscribers.

use crate::metrics::ShardMetrics;
use crate::throttle::ShardLimiter;
use riffle_log::{AppendInfo, LogError, RecordValue, ShardLog};
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::watch;

/// Why an append did not happen.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AppendError {
    /// A reshard closed the shard; route the records again with the new shard map.
    #[error("shard is closed")]
    Closed,
    #[error(transparent)]
    Log(#[from] LogError),
}

/// One shard's log. Every append that returns has its records durable (per
/// the sync policy) and readable, and then bumps `appended` to the new end
/// offset so enhanced fan-out subscribers wake without polling.
pub(crate) struct ShardHandle {
    log: ShardLog,
    appended: watch::Sender<u64>,
    /// `true` once the shard is closed. Appends hold the read side for their
    /// whole write, so closing (the write side) waits for them and the end
    /// offset it records is final: no acknowledged record can land after it.
    closed: parking_lot::RwLock<bool>,
    /// Provisioned-throughput buckets; consulted by the engine when limits are on.
    limiter: ShardLimiter,
    /// Records and bytes (data + key) accepted so far: the on-demand
    /// autoscaler samples these to find hot shards.
    written_records: AtomicU64,
    written_bytes: AtomicU64,
    /// Reads and throttling, for shard-level metrics.
    pub(crate) metrics: ShardMetrics,
}

impl ShardHandle {
    pub(crate) fn new(log: ShardLog, closed: bool) -> ShardHandle {
        let (appended, _) = watch::channel(log.end_offset());
        ShardHandle {
            log,
            appended,
            closed: parking_lot::RwLock::new(closed),
            limiter: ShardLimiter::new(),
            written_records: AtomicU64::new(0),
            written_bytes: AtomicU64::new(0),
            metrics: ShardMetrics::default(),
        }
    }

    pub(crate) fn limiter(&self) -> &ShardLimiter {
        &self.limiter
    }

    /// Appends one batch (blocking) and notifies subscribers.
    pub(crate) fn append<V: RecordValue>(
        &self,
        timestamp_ms: i64,
        records: &[(&[u8], V)],
    ) -> Result<AppendInfo, AppendError> {
        let closed = self.closed.read();
        if *closed {
            return Err(AppendError::Closed);
        }
        let info = self.log.append_values(timestamp_ms, records)?;
        drop(closed);
        let bytes: usize = records.iter().map(|(k, v)| k.len() + v.stored_len()).sum();
        self.written_records
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        self.written_bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
        self.appended.send_replace(self.log.end_offset());
        Ok(info)
    }

    /// Closes the shard to writes (blocking until in-flight appends finish),
    /// makes everything in it durable, and returns its final end offset.
    pub(crate) fn close(&self) -> Result<u64, LogError> {
        let mut closed = self.closed.write();
        *closed = true;
        self.log.sync()?;
        let end = self.log.end_offset();
        drop(closed);
        // Wake subscribers so they notice the shard end.
        self.appended.send_replace(end);
        Ok(end)
    }

    /// Wakes subscribers without new records (e.g. a reshard just published
    /// the children of this closed shard).
    pub(crate) fn wake(&self) {
        self.appended.send_replace(self.log.end_offset());
    }

    /// (records, bytes) written since the process started.
    pub(crate) fn written(&self) -> (u64, u64) {
        (
            self.written_records.load(Ordering::Relaxed),
            self.written_bytes.load(Ordering::Relaxed),
        )
    }

    /// Re-opens a shard whose close was not committed (the metadata
    /// transaction failed), so writes can go on.
    pub(crate) fn reopen(&self) {
        *self.closed.write() = false;
    }

    /// A receiver that changes whenever records are appended.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }
}

impl std::ops::Deref for ShardHandle {
    type Target = ShardLog;
    fn deref(&self) -> &ShardLog {
        &self.log
    }
}
