//! Replay (AWS has none): delivered records stay in the buffer for the
//! replay retention (`--firehose-replay-hours`, 24 h by default), and a
//! redelivery sends a time range of them to the destination again, as new
//! batches with object names of their own (a destination that lost data
//! gets it back without overwriting what it kept). One redelivery per
//! stream at a time; it runs beside normal delivery.

use super::deliver::read_batch;
use super::{Firehose, Live};
use crate::FirehoseError;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Where a redelivery stands (`DescribeRedelivery`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedeliveryStatus {
    Running,
    Done,
    /// The stream was deleted or the server stopped it.
    Stopped(String),
}

impl RedeliveryStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            RedeliveryStatus::Running => "RUNNING",
            RedeliveryStatus::Done => "DONE",
            RedeliveryStatus::Stopped(_) => "STOPPED",
        }
    }
}

/// One redelivery's range and progress.
#[derive(Debug)]
pub struct Redelivery {
    /// Buffer offsets `[first, end)` being redelivered.
    pub first: u64,
    pub end: u64,
    /// Arrival time of the first record in the buffer when the range began
    /// before the retention (records older than that are gone).
    pub expired_before_ms: Option<i64>,
    pub started_ms: i64,
    delivered: AtomicU64,
    status: Mutex<RedeliveryStatus>,
    /// The last delivery error, while it retries.
    last_error: Mutex<Option<String>>,
}

impl Redelivery {
    pub fn records(&self) -> u64 {
        self.end - self.first
    }

    pub fn delivered_records(&self) -> u64 {
        self.delivered.load(Ordering::Acquire)
    }

    pub fn status(&self) -> RedeliveryStatus {
        self.status.lock().clone()
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().clone()
    }
}

impl Firehose {
    /// Starts redelivering the records that arrived in `[from_ms, to_ms)`
    /// (to the newest delivered record when `to_ms` is `None`). Records not
    /// yet delivered are left to normal delivery. Returns at once with the
    /// range; progress is in [`Firehose::redelivery`].
    pub async fn start_redelivery(
        self: &Arc<Self>,
        name: &str,
        from_ms: i64,
        to_ms: Option<i64>,
    ) -> Result<Arc<Redelivery>, FirehoseError> {
        let live = self.live(name)?;
        if let Some(r) = live.redelivery.lock().as_ref() {
            if r.status() == RedeliveryStatus::Running {
                return Err(FirehoseError::InUse(format!(
                    "A redelivery of {name} is already running ({} of {} records delivered).",
                    r.delivered_records(),
                    r.records()
                )));
            }
        }
        if to_ms.is_some_and(|t| t <= from_ms) {
            return Err(FirehoseError::InvalidArgument(
                "The end of the time range must be after its start.".into(),
            ));
        }
        let buffer = live.buffer.clone();
        let (first, end, expired_before_ms) = tokio::task::spawn_blocking(move || {
            let start = buffer.start_offset();
            let delivered = buffer.delivered();
            let first = buffer.offset_for_timestamp(from_ms)?.max(start);
            let end = match to_ms {
                Some(t) => buffer.offset_for_timestamp(t)?,
                None => delivered,
            }
            .min(delivered);
            // Did the range begin before what the buffer still holds?
            let oldest = buffer.read(start, 1, 1)?.first().map(|r| r.timestamp_ms);
            // Only when retention deleted something (the buffer no longer starts at 0).
            let expired = oldest.filter(|&t| start > 0 && t > from_ms);
            Ok::<_, FirehoseError>((first, end.max(first), expired))
        })
        .await
        .map_err(|e| FirehoseError::Internal(e.to_string()))??;
        let r = Arc::new(Redelivery {
            first,
            end,
            expired_before_ms,
            started_ms: self.now_ms(),
            delivered: AtomicU64::new(0),
            status: Mutex::new(if first == end {
                RedeliveryStatus::Done
            } else {
                RedeliveryStatus::Running
            }),
            last_error: Mutex::new(None),
        });
        *live.redelivery.lock() = Some(r.clone());
        if first < end {
            tracing::info!(
                delivery_stream = name,
                first,
                end,
                "firehose: redelivery started"
            );
            tokio::spawn(run(Arc::downgrade(self), live, r.clone()));
        }
        Ok(r)
    }

    /// The stream's last (or running) redelivery.
    pub fn redelivery(&self, name: &str) -> Result<Option<Arc<Redelivery>>, FirehoseError> {
        Ok(self.live(name)?.redelivery.lock().clone())
    }
}

async fn run(fh: std::sync::Weak<Firehose>, live: Arc<Live>, r: Arc<Redelivery>) {
    let mut at = r.first;
    // A salt of its own: the redelivered objects get names of their own.
    let salt = r.started_ms as u64 | 1;
    let mut delay = Duration::from_millis(100);
    while at < r.end {
        let Some(fh) = fh.upgrade() else {
            *r.status.lock() = RedeliveryStatus::Stopped("the server is stopping".into());
            return;
        };
        if live.stop.lock().is_none() {
            *r.status.lock() = RedeliveryStatus::Stopped("the delivery stream was deleted".into());
            return;
        }
        let meta = live.snapshot();
        let (size, _) = super::deliver::hints(&meta.destination);
        let buffer = live.buffer.clone();
        let (from, end) = (at, r.end);
        let batch = tokio::task::spawn_blocking(move || read_batch(&buffer, from, size, end)).await;
        let mut batch = match batch {
            Ok(Ok(b)) if !b.records.is_empty() => b,
            Ok(Ok(_)) => break,
            Ok(Err(e)) => {
                *r.status.lock() = RedeliveryStatus::Stopped(format!("reading the buffer: {e}"));
                return;
            }
            Err(e) => {
                *r.status.lock() = RedeliveryStatus::Stopped(e.to_string());
                return;
            }
        };
        batch.salt = salt;
        match fh.deliver(&live, &meta, &batch).await {
            Ok(()) => {
                r.delivered
                    .fetch_add(batch.end - batch.first, Ordering::AcqRel);
                *r.last_error.lock() = None;
                at = batch.end;
                delay = Duration::from_millis(100);
            }
            Err(e) => {
                tracing::warn!(delivery_stream = %meta.name, error = %e, "firehose: redelivery attempt failed");
                *r.last_error.lock() = Some(e.to_string());
                drop(fh);
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
    *r.status.lock() = RedeliveryStatus::Done;
    tracing::info!(first = r.first, end = r.end, "firehose: redelivery done");
}
