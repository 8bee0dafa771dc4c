//! The durable buffer of one delivery stream: a `riffle-log` log (group
//! commit, CRC-checked batches, recovery) in `<data-dir>/firehose/<name>-<uid>/`.
//! A record is acknowledged once its batch is durable under the server's
//! fsync policy; delivery reads it back from here, so a crash between the
//! acknowledgement and the delivery loses nothing. Delivered records stay
//! for the replay retention, then whole segments are deleted.

use crate::FirehoseError;
use riffle_log::{LogConfig, ShardLog, StoredRecord};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Notify;

pub struct Buffer {
    log: ShardLog,
    dir: PathBuf,
    /// Everything before this offset was delivered (or written to the error output).
    delivered: AtomicU64,
    /// Bytes of record data appended and not yet delivered (the cap's measure).
    pending_bytes: AtomicU64,
    /// The end of the batch that was in flight at the last stop (0: none):
    /// the next batch is exactly `[delivered, resume_end)`.
    resume_end: AtomicU64,
    /// Woken after each durable append.
    pub(crate) appended: Notify,
}

impl Buffer {
    /// Opens (or creates) the buffer; `delivered` is the stored checkpoint.
    /// Blocking.
    pub fn open(dir: &Path, cfg: LogConfig, delivered: u64) -> Result<Buffer, FirehoseError> {
        std::fs::create_dir_all(dir).map_err(riffle_log::LogError::Io)?;
        let log = ShardLog::open(dir, cfg)?;
        let delivered = delivered.clamp(log.start_offset(), log.end_offset());
        // Pending bytes after a restart: sum what is left to deliver.
        let mut pending = 0u64;
        let mut at = delivered;
        while at < log.end_offset() {
            let batch = log.read(at, 10_000, 8 << 20)?;
            let Some(last) = batch.last() else { break };
            at = last.offset + 1;
            pending += batch.iter().map(|r| r.value.len() as u64).sum::<u64>();
        }
        Ok(Buffer {
            log,
            dir: dir.to_path_buf(),
            delivered: AtomicU64::new(delivered),
            pending_bytes: AtomicU64::new(pending),
            resume_end: AtomicU64::new(0),
            appended: Notify::new(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one batch (one fsync under the default policy); returns the
    /// first record's offset. Blocking. `records` are (key, data) pairs: the
    /// key carries source metadata (empty for Direct PUT).
    pub fn append(&self, now_ms: i64, records: &[(&[u8], &[u8])]) -> Result<u64, FirehoseError> {
        let bytes: u64 = records.iter().map(|(_, v)| v.len() as u64).sum();
        let info = self.log.append(now_ms, records)?;
        self.pending_bytes.fetch_add(bytes, Ordering::AcqRel);
        self.appended.notify_waiters();
        self.appended.notify_one();
        Ok(info.first_offset)
    }

    /// Records from `from`, at most `max_records` and about `max_bytes`. Blocking.
    pub fn read(
        &self,
        from: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<StoredRecord>, FirehoseError> {
        Ok(self.log.read(from, max_records, max_bytes)?)
    }

    pub fn end_offset(&self) -> u64 {
        self.log.end_offset()
    }

    pub fn start_offset(&self) -> u64 {
        self.log.start_offset()
    }

    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Acquire)
    }

    pub fn pending_bytes(&self) -> u64 {
        self.pending_bytes.load(Ordering::Acquire)
    }

    /// Makes the next batch end at `end` (the stored in-flight batch).
    pub(crate) fn resume_batch(&self, end: u64) {
        self.resume_end.store(end, Ordering::Release);
    }

    /// The in-flight batch's end to deliver again, once; `None` when there
    /// is none or it is not past what is delivered.
    pub(crate) fn take_resume(&self) -> Option<u64> {
        let end = self.resume_end.swap(0, Ordering::AcqRel);
        let end = end.min(self.log.end_offset());
        (end > self.delivered()).then_some(end)
    }

    /// Marks `[delivered, end)` delivered, `bytes` of data in it.
    pub(crate) fn mark_delivered(&self, end: u64, bytes: u64) {
        self.delivered.fetch_max(end, Ordering::AcqRel);
        let _ = self
            .pending_bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |p| {
                Some(p.saturating_sub(bytes))
            });
    }

    /// Deletes whole segments of delivered records older than `cutoff_ms`.
    /// Blocking. Never deletes undelivered records.
    pub fn enforce_retention(&self, cutoff_ms: i64) -> Result<u64, FirehoseError> {
        let delivered = self.delivered();
        if delivered <= self.log.start_offset() {
            return Ok(0);
        }
        // The newest delivered record's time bounds what may go.
        let bound = match self.log.read(delivered - 1, 1, 1)?.first() {
            Some(r) if r.offset == delivered - 1 => r.timestamp_ms,
            _ => return Ok(0),
        };
        Ok(self.log.delete_before(cutoff_ms.min(bound))?)
    }

    pub fn sync(&self) -> Result<(), FirehoseError> {
        Ok(self.log.sync()?)
    }

    pub fn offset_for_timestamp(&self, ts_ms: i64) -> Result<u64, FirehoseError> {
        Ok(self.log.offset_for_timestamp(ts_ms)?)
    }

    pub fn check_ready(&self) -> Result<(), String> {
        match self.log.health() {
            riffle_log::LogHealth::Healthy => Ok(()),
            other => Err(format!("{other:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The stored in-flight end is handed out once, clamped to what the log
    /// holds, and never when it is not past the delivered offset.
    #[test]
    fn the_in_flight_end_resumes_once_and_within_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let b = Buffer::open(dir.path(), LogConfig::default(), 0).unwrap();
        let recs: Vec<(&[u8], &[u8])> = vec![(b"", b"abc"); 10];
        assert_eq!(b.append(1, &recs).unwrap(), 0);
        assert_eq!(b.take_resume(), None);
        b.resume_batch(4);
        assert_eq!(b.take_resume(), Some(4));
        assert_eq!(b.take_resume(), None, "once only");
        b.resume_batch(25);
        assert_eq!(b.take_resume(), Some(10), "clamped to the log's end");
        b.mark_delivered(6, 18);
        b.resume_batch(6);
        assert_eq!(b.take_resume(), None, "already delivered");
    }
}
