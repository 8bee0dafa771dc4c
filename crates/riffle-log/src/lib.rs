//! Per-shard append-only segment log with group commit, CRC32C batches, sparse indexes,
//! crash recovery and retention. The on-disk format is specified in `docs/storage-format.md`.
//!
//! One [`ShardLog`] per Kinesis shard, each in its own directory. It stores records only;
//! stream/shard metadata lives elsewhere.

mod fdcache;
mod flusher;
mod format;
mod log;
mod segment;
mod sim;
mod stats;
mod storage;
#[cfg(test)]
mod tests;

pub use fdcache::{sealed_file_stats, SealedFileStats};
pub use format::{FORMAT_VERSION, MAX_BATCH_BYTES, MAX_SEAL_OVERHEAD};
pub use log::ShardLog;
pub use sim::{PowerCheck, SimStorage};
pub use stats::{
    fault_stats, fsync_stats, FaultStats, HistogramSnapshot, MicrosHistogram, LATENCY_BOUNDS_MICROS,
};
pub use storage::{FsStorage, OpenStorage, Storage, StorageFactory, StorageFile};

/// Tuning knobs of a [`ShardLog`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// Roll when appending would grow the active segment beyond this many bytes.
    pub segment_max_bytes: u64,
    /// Roll when the active segment's first record is this much older than the batch
    /// being appended (judged by record timestamps, so no clock is read here).
    pub segment_max_age_ms: i64,
    /// Add a sparse index entry at the first batch after this many bytes.
    pub index_interval_bytes: u64,
    pub sync: SyncPolicy,
    /// Process-wide cap on descriptors of sealed segments, which are opened on demand
    /// and closed least-recently-used first (active segments stay open and are not
    /// counted). 0 = a quarter of the soft `RLIMIT_NOFILE`, between 16 and 4,096. Every
    /// `ShardLog::open` applies its value to the whole process, so give all logs the same.
    pub max_open_sealed_files: usize,
    /// A poisoned log (failed fdatasync) tries to recover by itself on `append`, at most
    /// once per this many ms, so a failing disk is not hammered by every request.
    /// `ShardLog::recover` can always be called directly.
    pub recovery_retry_ms: u64,
    /// Where `ShardLog::open` keeps the files: the real file system unless a
    /// test (or an embedder) supplies storage per shard directory.
    pub storage: StorageFactory,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_max_bytes: 64 * 1024 * 1024,
            segment_max_age_ms: 3_600_000,
            index_interval_bytes: 4096,
            sync: SyncPolicy::Always,
            max_open_sealed_files: 0,
            recovery_retry_ms: 1_000,
            storage: StorageFactory::fs(),
        }
    }
}

/// When appended bytes are fdatasynced. See docs/storage-format.md for what each survives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncPolicy {
    /// `append` returns (and readers see the batch) only after an fdatasync covering it;
    /// concurrent appenders share one fdatasync (group commit).
    Always,
    /// `append` returns after `write`; a background thread (one per process and interval,
    /// shared by every log) fdatasyncs each log with unsynced records every N ms.
    IntervalMs(u64),
    /// Never fdatasync appended data (except when sealing a segment); leave it to the OS.
    Never,
}

/// A record as read back from the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRecord {
    pub offset: u64,
    pub timestamp_ms: i64,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    /// The record's batch was stored sealed by a [`BatchCipher`] (encrypted at rest).
    pub sealed: bool,
}

/// Encryption at rest, kept out of this crate: a log with a cipher
/// ([`ShardLog::set_cipher`]) hands each batch's record area to it before the write
/// and after the read. The batch header records that it is sealed and the key index.
pub trait BatchCipher: Send + Sync {
    /// The key new batches are sealed with, or `None` to write them in plaintext.
    fn active_key(&self) -> Option<u16>;
    /// Encrypts `buf[at..]` in place with key `key` and appends whatever [`open`]
    /// needs (nonce, tag; at most [`MAX_SEAL_OVERHEAD`] bytes). `aad` must be authenticated.
    ///
    /// [`open`]: BatchCipher::open
    fn seal(&self, key: u16, buf: &mut Vec<u8>, at: usize, aad: &[u8]) -> Result<(), CipherError>;
    /// Reverses [`seal`](BatchCipher::seal), failing if the bytes or `aad` were altered.
    fn open(&self, key: u16, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, CipherError>;
}

/// A cipher failure, with the AWS error code the caller should see (e.g.
/// `KMSDisabledException`) when it is not plain corruption.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CipherError {
    pub code: Option<&'static str>,
    pub message: String,
}

/// Whether a log accepts writes (for `/health/ready` and metrics).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogHealth {
    Healthy,
    /// An fdatasync (or the cleanup after a failed write) failed: appends return
    /// [`LogError::Poisoned`] until [`ShardLog::recover`] succeeds, which `append`
    /// also tries by itself. Reads keep working.
    Poisoned,
    /// The active segment is damaged before its end (not a torn last write): the log
    /// was opened read-only, and appends return [`LogError::Damaged`] until an operator
    /// repairs the file (see docs/storage-format.md). Reads of the records before the
    /// damage keep working.
    Damaged {
        file: String,
        position: u64,
        reason: String,
    },
}

/// Where a batch landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendInfo {
    pub first_offset: u64,
    /// The timestamp actually stored (clamped to be non-decreasing).
    pub timestamp_ms: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("corrupt log file {file} at byte {position}: {reason}")]
    Corrupt {
        file: String,
        position: u64,
        reason: String,
    },
    /// A previous fsync (or cleanup after a failed write) failed, so the state of the
    /// file is unknown; `ShardLog::recover` (which `append` tries by itself) or a
    /// reopen runs recovery.
    #[error("log is poisoned by an earlier I/O failure and has not recovered yet")]
    Poisoned,
    /// Found at open: the active segment has a bad batch followed by valid ones, so it
    /// is damage (media corruption), not a torn last write. Nothing was truncated; the
    /// segment was copied to `copy`, and the log is read-only.
    #[error("log file {file} is damaged at byte {position} ({reason}), with valid batches after it (from byte {valid_at}); it was not truncated, a copy is in {copy}, and the shard refuses writes until it is repaired")]
    Damaged {
        file: String,
        position: u64,
        valid_at: u64,
        reason: String,
        copy: String,
    },
    /// A sealed batch could not be sealed or opened: its key is unavailable, or
    /// authentication failed (the ciphertext was altered).
    #[error("cannot open or seal batch in {file} at byte {position}: {source}")]
    Cipher {
        file: String,
        position: u64,
        #[source]
        source: CipherError,
    },
    #[error("append called with no records")]
    EmptyBatch,
    #[error("batch of {bytes} bytes exceeds the maximum batch size")]
    BatchTooLarge { bytes: usize },
    /// A [`RecordValue`] could not produce its bytes (e.g. text that does not
    /// decode after all); nothing of the batch was written.
    #[error("record {index} of the batch has a value that cannot be stored")]
    BadValue { index: usize },
}

/// A record's value as [`ShardLog::append`] puts it into the batch buffer:
/// raw bytes are copied, an encoded value (a request's base64 `Data`) can be
/// decoded straight into the buffer, so it is written once, not decoded into
/// a buffer of its own and then copied.
pub trait RecordValue {
    /// The value's length in bytes, as stored.
    fn stored_len(&self) -> usize;
    /// Appends exactly [`RecordValue::stored_len`] bytes to `buf`; `false` if
    /// the value cannot be produced.
    fn append_to(&self, buf: &mut Vec<u8>) -> bool;
}

impl RecordValue for &[u8] {
    fn stored_len(&self) -> usize {
        self.len()
    }

    fn append_to(&self, buf: &mut Vec<u8>) -> bool {
        buf.extend_from_slice(self);
        true
    }
}
