//! `ShardLog`: the segmented log, its group commit and its recovery.

use std::collections::{BTreeSet, HashSet};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, RwLock};
use tracing::{debug, error, warn};

use crate::fdcache::{self, SegFile};
use crate::flusher;
use crate::format::{self, SegmentHeader, BATCH_HEADER_LEN, SEGMENT_HEADER_LEN};
use crate::segment::{self, ChunkReader, SegMeta, Segment};
use crate::stats;
use crate::storage::{read_exact_at, Storage, StorageFile};
use crate::{
    AppendInfo, BatchCipher, CipherError, LogConfig, LogError, LogHealth, RecordValue,
    StoredRecord, SyncPolicy,
};

mod recovery;

use recovery::recover;

/// Read-ahead for `read`; small enough to be cheap when only one record is wanted.
const READ_CHUNK: usize = 64 * 1024;

/// A per-shard append-only log. `Send + Sync`; every method takes `&self`.
pub struct ShardLog {
    inner: Arc<Inner>,
    /// Membership in the shared flusher (`IntervalMs` only); unregisters on drop.
    _flusher: Option<flusher::Registration>,
}

pub(crate) struct Inner {
    storage: Arc<dyn Storage>,
    cfg: LogConfig,
    /// Serialises writers; held only while encoding the header and issuing the write.
    writer: Mutex<Writer>,
    /// Oldest first; the last one is the active segment.
    segments: RwLock<Vec<Arc<Segment>>>,
    /// One past the last record readers may see.
    committed_end: AtomicU64,
    /// Timestamp of the newest committed record (`NO_TS` if none ever).
    committed_ts: AtomicI64,
    sync_state: Mutex<SyncState>,
    sync_cv: Condvar,
    poisoned: AtomicBool,
    /// When the log was poisoned or last tried to recover (paces automatic recovery).
    last_fault: Mutex<Option<Instant>>,
    recoveries: AtomicU64,
    /// Set at open if the active segment is damaged before its end: read-only for good.
    damage: Option<Damage>,
    /// Bumped (under the writer lock) by every recovery; see `sync_to`.
    epoch: AtomicU64,
    sync_count: AtomicU64,
    /// Serialises `delete_before` calls.
    retention: Mutex<()>,
    /// Seals new batches and opens sealed ones (encryption at rest); see `set_cipher`.
    cipher: RwLock<Option<Arc<dyn BatchCipher>>>,
}

/// Where the active segment is damaged (see `recover_active`).
struct Damage {
    file: String,
    position: u64,
    valid_at: u64,
    reason: String,
    copy: String,
}

impl Damage {
    fn error(&self) -> LogError {
        LogError::Damaged {
            file: self.file.clone(),
            position: self.position,
            valid_at: self.valid_at,
            reason: self.reason.clone(),
            copy: self.copy.clone(),
        }
    }
}

struct Writer {
    active: Arc<Segment>,
    next_offset: u64,
    last_ts: Option<i64>,
}

struct SyncState {
    /// Every record below this offset is known durable.
    synced: u64,
    /// A leader is currently inside fdatasync.
    syncing: bool,
}

fn corrupt(file: impl Into<String>, position: u64, reason: impl Into<String>) -> LogError {
    LogError::Corrupt {
        file: file.into(),
        position,
        reason: reason.into(),
    }
}

impl ShardLog {
    /// Opens (creating if needed) the log in `dir`, on the real file system
    /// unless `cfg.storage` says otherwise.
    pub fn open(dir: &Path, cfg: LogConfig) -> Result<ShardLog, LogError> {
        let storage = cfg.storage.open(dir)?;
        Self::open_with_storage(storage, cfg)
    }

    /// Opens the log on any [`Storage`], running crash recovery.
    pub fn open_with_storage(
        storage: Arc<dyn Storage>,
        cfg: LogConfig,
    ) -> Result<ShardLog, LogError> {
        let sync_count = AtomicU64::new(0);
        fdcache::set_limit(fdcache::resolve_limit(cfg.max_open_sealed_files));
        let (segments, damage) = recover(&storage, &cfg, &sync_count)?;
        let active = segments
            .last()
            .cloned()
            .ok_or_else(|| corrupt("", 0, "no segments"))?;
        let (next_offset, last_ts) = {
            let m = active.meta.read();
            (m.next_offset, m.last_ts.or(active.ts_floor))
        };
        let inner = Arc::new(Inner {
            storage,
            cfg: cfg.clone(),
            writer: Mutex::new(Writer {
                active,
                next_offset,
                last_ts,
            }),
            segments: RwLock::new(segments),
            committed_end: AtomicU64::new(next_offset),
            committed_ts: AtomicI64::new(format::ts_to_raw(last_ts)),
            sync_state: Mutex::new(SyncState {
                synced: next_offset,
                syncing: false,
            }),
            sync_cv: Condvar::new(),
            poisoned: AtomicBool::new(false),
            last_fault: Mutex::new(None),
            recoveries: AtomicU64::new(0),
            damage,
            epoch: AtomicU64::new(0),
            sync_count,
            retention: Mutex::new(()),
            cipher: RwLock::new(None),
        });
        let flusher = match cfg.sync {
            SyncPolicy::IntervalMs(ms) => Some(flusher::register(&inner, ms)?),
            _ => None,
        };
        Ok(ShardLog {
            inner,
            _flusher: flusher,
        })
    }

    /// Appends `records` as one batch with consecutive offsets and one timestamp
    /// (clamped to be >= the previous batch's). Blocks until durable under
    /// [`SyncPolicy::Always`]. If it fails, the batch may or may not survive a restart.
    pub fn append(
        &self,
        timestamp_ms: i64,
        records: &[(&[u8], &[u8])],
    ) -> Result<AppendInfo, LogError> {
        self.append_values(timestamp_ms, records)
    }

    /// [`ShardLog::append`] with values that write themselves into the batch
    /// buffer (see [`RecordValue`]); a value that fails fails the whole batch,
    /// before anything is written.
    pub fn append_values<V: RecordValue>(
        &self,
        timestamp_ms: i64,
        records: &[(&[u8], V)],
    ) -> Result<AppendInfo, LogError> {
        if records.is_empty() {
            return Err(LogError::EmptyBatch);
        }
        let mut buf = format::encode_batch_body(records)?;
        let count = records.len() as u32; // bounded by encode_batch_body
        let sealed_key = self.seal(&mut buf, count)?;
        if let Some(d) = &self.inner.damage {
            return Err(d.error());
        }
        if self.inner.poisoned.load(Ordering::Acquire) {
            self.inner.auto_recover()?;
        }
        let body_crc = crc32c::crc32c(&buf[BATCH_HEADER_LEN..]);
        let inner = &*self.inner;
        let (info, end) = {
            let mut w = inner.writer.lock();
            if inner.poisoned.load(Ordering::Acquire) {
                return Err(LogError::Poisoned);
            }
            let ts = w
                .last_ts
                .map_or(timestamp_ms, |last| timestamp_ms.max(last));
            inner.maybe_roll(&mut w, ts, buf.len() as u64)?;
            let base = w.next_offset;
            format::seal_batch(&mut buf, base, count, ts, body_crc, sealed_key);
            let pos = w.active.meta.read().size;
            let file = w.active.file.get()?;
            if let Err(e) = file.write_all_at(&buf, pos) {
                // E.g. ENOSPC. Cut off whatever part landed so the next batch starts
                // clean (and the space it took is free again); if even that fails the
                // file's tail is unknown, so stop writing until recovery cuts it.
                stats::count_write_failure();
                warn!(segment = w.active.base, position = pos, error = %e, "append failed to write its batch");
                if file.truncate(pos).is_err() {
                    inner.poison();
                }
                return Err(e.into());
            }
            let h = format::parse_batch_header(&buf)
                .map_err(|r| corrupt(w.active.log_name(), pos, r))?;
            w.active
                .meta
                .write()
                .push_batch(&h, pos, inner.cfg.index_interval_bytes);
            w.next_offset = h.next_offset();
            w.last_ts = Some(ts);
            if inner.cfg.sync != SyncPolicy::Always {
                inner.publish(w.next_offset, Some(ts));
            }
            (
                AppendInfo {
                    first_offset: base,
                    timestamp_ms: ts,
                },
                (w.next_offset, inner.epoch.load(Ordering::Acquire)),
            )
        };
        if inner.cfg.sync == SyncPolicy::Always {
            inner.sync_to(end.0, end.1)?;
        }
        Ok(info)
    }

    /// Committed records with offset >= `from_offset` (clamped up to `start_offset()`),
    /// at most `max_records`, stopping before `max_bytes` of key+value would be
    /// exceeded, but always at least one record if any is available.
    pub fn read(
        &self,
        from_offset: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<StoredRecord>, LogError> {
        let inner = &*self.inner;
        let end = inner.committed_end.load(Ordering::Acquire);
        let mut out = Vec::new();
        if max_records == 0 || from_offset >= end {
            return Ok(out);
        }
        let segs: Vec<Arc<Segment>> = {
            let s = inner.segments.read();
            let i = s
                .partition_point(|seg| seg.base <= from_offset)
                .saturating_sub(1);
            s[i..].to_vec()
        };
        let mut from = from_offset.max(segs.first().map_or(0, |s| s.base));
        let mut bytes = 0usize;
        'segments: for seg in segs {
            if seg.base >= end {
                break;
            }
            let (mut pos, limit) = {
                let m = seg.meta.read();
                if from >= m.next_offset {
                    continue;
                }
                (m.position_for_offset(from), m.size)
            };
            let file = seg.file.get()?;
            let mut rd = ChunkReader::new(&*file, limit, READ_CHUNK);
            while pos < limit {
                let batch = read_batch(&mut rd, &seg, pos)?;
                let h = format::verify_batch(batch).map_err(|r| corrupt(seg.log_name(), pos, r))?;
                if h.base_offset >= end {
                    break 'segments;
                }
                if h.next_offset() > from {
                    let opened;
                    let area = match h.sealed_key {
                        None => &batch[BATCH_HEADER_LEN..],
                        Some(key) => {
                            opened = self.open_sealed(&seg, pos, key, h.count, batch)?;
                            &opened[..]
                        }
                    };
                    for (i, (k, v)) in format::area_records(area).enumerate() {
                        let offset = h.base_offset + i as u64;
                        if offset < from {
                            continue;
                        }
                        let size = k.len() + v.len();
                        if !out.is_empty() && bytes + size > max_bytes {
                            break 'segments;
                        }
                        bytes += size;
                        out.push(StoredRecord {
                            offset,
                            timestamp_ms: h.timestamp_ms,
                            key: k.to_vec(),
                            value: v.to_vec(),
                            sealed: h.sealed_key.is_some(),
                        });
                        if out.len() >= max_records {
                            break 'segments;
                        }
                    }
                    from = h.next_offset();
                }
                pos += h.total_len;
            }
        }
        Ok(out)
    }

    /// Installs (or removes) the cipher that seals new batches and opens sealed
    /// ones. Without one, appends write plaintext and reading a sealed batch fails.
    pub fn set_cipher(&self, cipher: Option<Arc<dyn BatchCipher>>) {
        *self.inner.cipher.write() = cipher;
    }

    /// Seals the record area of a built batch if the cipher has an active key;
    /// returns that key index for the header.
    fn seal(&self, buf: &mut Vec<u8>, count: u32) -> Result<Option<u16>, LogError> {
        let cipher = self.inner.cipher.read().clone();
        let Some((cipher, key)) = cipher.and_then(|c| c.active_key().map(|k| (c, k))) else {
            return Ok(None);
        };
        let plain_len = buf.len();
        let aad = format::seal_aad(key, count);
        let sealed = cipher
            .seal(key, buf, BATCH_HEADER_LEN, &aad)
            .and_then(|()| {
                if buf.len() > plain_len + format::MAX_SEAL_OVERHEAD {
                    Err(CipherError {
                        code: None,
                        message: "cipher overhead exceeds MAX_SEAL_OVERHEAD".into(),
                    })
                } else {
                    Ok(())
                }
            });
        sealed.map_err(|source| LogError::Cipher {
            file: "(new batch)".into(),
            position: 0,
            source,
        })?;
        Ok(Some(key))
    }

    /// Opens a sealed batch (already CRC-checked) and checks its records fill it.
    fn open_sealed(
        &self,
        seg: &Segment,
        pos: u64,
        key: u16,
        count: u32,
        batch: &[u8],
    ) -> Result<Vec<u8>, LogError> {
        let cipher_err = |source| LogError::Cipher {
            file: seg.log_name(),
            position: pos,
            source,
        };
        let cipher = self.inner.cipher.read().clone().ok_or_else(|| {
            cipher_err(CipherError {
                code: None,
                message: "the batch is encrypted and the log has no cipher".into(),
            })
        })?;
        let area = cipher
            .open(
                key,
                &batch[BATCH_HEADER_LEN..],
                &format::seal_aad(key, count),
            )
            .map_err(cipher_err)?;
        format::check_records(&area, count).map_err(|r| corrupt(seg.log_name(), pos, r))?;
        Ok(area)
    }

    /// First offset still stored (advances when retention deletes segments).
    pub fn start_offset(&self) -> u64 {
        self.inner.segments.read().first().map_or(0, |s| s.base)
    }

    /// One past the last committed record; 0 for an empty log.
    pub fn end_offset(&self) -> u64 {
        self.inner.committed_end.load(Ordering::Acquire)
    }

    /// Timestamp of the newest committed record (kept even after retention deleted it).
    pub fn last_timestamp_ms(&self) -> Option<i64> {
        format::ts_from_raw(self.inner.committed_ts.load(Ordering::Acquire))
    }

    /// First committed offset whose timestamp is >= `ts_ms`, or `end_offset()` if none.
    pub fn offset_for_timestamp(&self, ts_ms: i64) -> Result<u64, LogError> {
        let inner = &*self.inner;
        let end = inner.committed_end.load(Ordering::Acquire);
        let segs: Vec<Arc<Segment>> = inner.segments.read().clone();
        // An empty (active) segment sorts by its timestamp floor, keeping the key monotonic.
        let first = segs
            .partition_point(|s| s.meta.read().last_ts.or(s.ts_floor).unwrap_or(i64::MIN) < ts_ms);
        for seg in &segs[first..] {
            let (mut pos, limit) = {
                let m = seg.meta.read();
                (m.position_for_timestamp(ts_ms), m.size)
            };
            let file = seg.file.get()?;
            let mut rd = ChunkReader::new(&*file, limit, READ_CHUNK);
            while pos < limit {
                let head = rd
                    .get(pos, BATCH_HEADER_LEN)?
                    .ok_or_else(|| corrupt(seg.log_name(), pos, "batch header past segment end"))?;
                let h = format::parse_batch_header(head)
                    .map_err(|r| corrupt(seg.log_name(), pos, r))?;
                if h.base_offset >= end {
                    return Ok(end);
                }
                if h.timestamp_ms >= ts_ms {
                    return Ok(h.base_offset);
                }
                pos += h.total_len;
            }
        }
        Ok(end)
    }

    /// Retention: deletes sealed segments whose newest record is older than
    /// `cutoff_ms`. If every record of the active segment is older too, it is
    /// sealed first so an idle shard still expires. Returns bytes freed.
    pub fn delete_before(&self, cutoff_ms: i64) -> Result<u64, LogError> {
        let inner = &*self.inner;
        let _serial = inner.retention.lock();
        {
            let mut w = inner.writer.lock();
            let expired = {
                let m = w.active.meta.read();
                !m.is_empty() && m.last_ts.is_some_and(|t| t < cutoff_ms)
            };
            if expired && !inner.poisoned.load(Ordering::Acquire) && inner.damage.is_none() {
                inner.roll(&mut w)?;
            }
        }
        let victims: Vec<Arc<Segment>> = {
            let mut segs = inner.segments.write();
            let sealed = segs.len().saturating_sub(1);
            let n = segs[..sealed]
                .iter()
                .take_while(|s| s.meta.read().last_ts.is_none_or(|t| t < cutoff_ms))
                .count();
            segs.drain(..n).collect()
        };
        let mut freed = 0;
        for (i, seg) in victims.iter().enumerate() {
            // Oldest first, so a failure (or crash) leaves a contiguous suffix.
            if let Err(e) = inner.storage.remove(&seg.log_name()) {
                if e.kind() != io::ErrorKind::NotFound {
                    let mut segs = inner.segments.write();
                    let rest: Vec<_> = victims[i..].to_vec();
                    segs.splice(0..0, rest);
                    return Err(e.into());
                }
            }
            if let Err(e) = inner.storage.remove(&format::idx_name(seg.base)) {
                if e.kind() != io::ErrorKind::NotFound {
                    warn!(segment = seg.base, error = %e, "could not remove index file");
                }
            }
            let m = seg.meta.read();
            freed += m.size + m.idx_bytes;
        }
        if !victims.is_empty() {
            inner.storage.sync_dir()?;
            debug!(
                segments = victims.len(),
                freed, "retention deleted segments"
            );
        }
        Ok(freed)
    }

    /// Bytes of segment and index files.
    pub fn disk_bytes(&self) -> u64 {
        self.inner
            .segments
            .read()
            .iter()
            .map(|s| {
                let m = s.meta.read();
                m.size + m.idx_bytes
            })
            .sum()
    }

    pub fn segment_count(&self) -> usize {
        self.inner.segments.read().len()
    }

    /// fdatasyncs everything written so far (no-op if already durable). On a poisoned
    /// log it first tries to recover, paced like `append`.
    pub fn sync(&self) -> Result<(), LogError> {
        if self.inner.poisoned.load(Ordering::Acquire) {
            self.inner.auto_recover()?;
        }
        let (target, epoch) = self.inner.write_position();
        self.inner.sync_to(target, epoch)
    }

    /// Number of fdatasync calls on segment files since open (group-commit metric).
    pub fn sync_count(&self) -> u64 {
        self.inner.sync_count.load(Ordering::Relaxed)
    }

    /// True after a failed fsync (or a failed cleanup after a failed write): appends are
    /// refused until the log recovers (see [`recover`](Self::recover)).
    pub fn is_poisoned(&self) -> bool {
        self.inner.poisoned.load(Ordering::Acquire)
    }

    /// Whether the log accepts writes, for health checks.
    pub fn health(&self) -> LogHealth {
        if let Some(d) = &self.inner.damage {
            LogHealth::Damaged {
                file: d.file.clone(),
                position: d.position,
                reason: d.reason.clone(),
            }
        } else if self.is_poisoned() {
            LogHealth::Poisoned
        } else {
            LogHealth::Healthy
        }
    }

    /// Brings a poisoned log back without a restart; a no-op (`Ok(false)`) if it is not
    /// poisoned. It reopens the active segment, keeps exactly the records that were
    /// acknowledged (cutting the failed batch and any torn bytes), writes again the
    /// bytes that were never synced, so that the next fdatasync really covers them, and
    /// syncs. `append` calls this by itself, at most once per
    /// [`LogConfig::recovery_retry_ms`](crate::LogConfig::recovery_retry_ms).
    pub fn recover(&self) -> Result<bool, LogError> {
        self.inner.recover()
    }

    /// How many times this log recovered from poisoning since it was opened.
    pub fn recovery_count(&self) -> u64 {
        self.inner.recoveries.load(Ordering::Relaxed)
    }
}

impl Inner {
    /// The end of what was written so far, and the recovery epoch it belongs to.
    fn write_position(&self) -> (u64, u64) {
        let w = self.writer.lock();
        (w.next_offset, self.epoch.load(Ordering::Acquire))
    }

    /// Called by the shared flusher: fdatasyncs the log if it has unsynced records.
    pub(crate) fn flush_dirty(&self) -> Result<(), LogError> {
        if self.poisoned.load(Ordering::Acquire) {
            return Ok(());
        }
        let (target, epoch) = self.write_position();
        if self.sync_state.lock().synced >= target {
            return Ok(());
        }
        match self.sync_to(target, epoch) {
            Ok(()) | Err(LogError::Poisoned) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn poison(&self) {
        if !self.poisoned.swap(true, Ordering::AcqRel) {
            *self.last_fault.lock() = Some(Instant::now());
            stats::count_poisoning();
            warn!("shard log poisoned after an I/O failure; refusing appends until it recovers");
        }
    }

    /// Makes records below `end` visible to readers.
    fn publish(&self, end: u64, ts: Option<i64>) {
        if let Some(ts) = ts {
            self.committed_ts.fetch_max(ts, Ordering::AcqRel);
        }
        self.committed_end.fetch_max(end, Ordering::AcqRel);
    }

    fn sync_file(&self, f: &dyn StorageFile) -> Result<(), LogError> {
        self.sync_count.fetch_add(1, Ordering::Relaxed);
        let started = std::time::Instant::now();
        let res = f.sync_data();
        crate::stats::record_fsync(started);
        res.map_err(|e| {
            self.poison();
            LogError::Io(e)
        })
    }

    /// Group commit: returns once every record below `target` is durable. One
    /// caller at a time (the leader) runs fdatasync on behalf of everyone whose
    /// bytes were written before it started; the rest wait on the condvar.
    ///
    /// `epoch` is the recovery epoch in which the bytes up to `target` were written: if
    /// the log recovered since, those bytes may have been cut, so they never count as
    /// synced.
    fn sync_to(&self, target: u64, epoch: u64) -> Result<(), LogError> {
        let mut st = self.sync_state.lock();
        loop {
            if self.poisoned.load(Ordering::Acquire) || self.epoch.load(Ordering::Acquire) != epoch
            {
                return Err(LogError::Poisoned);
            }
            if st.synced >= target {
                return Ok(());
            }
            if st.syncing {
                self.sync_cv.wait(&mut st);
                continue;
            }
            st.syncing = true;
            drop(st);
            // Lock order is writer -> sync_state (see roll), so the snapshot is taken
            // without holding sync_state. All bytes of offsets < snap_end are in
            // `file` or in older segments, which were synced when they were sealed.
            let (snap_end, snap_ts, file) = {
                let w = self.writer.lock();
                (w.next_offset, w.last_ts, w.active.file.get())
            };
            let res = file
                .map_err(LogError::from)
                .and_then(|f| self.sync_file(&*f));
            st = self.sync_state.lock();
            st.syncing = false;
            if res.is_ok() {
                st.synced = st.synced.max(snap_end);
                self.publish(snap_end, snap_ts);
            }
            self.sync_cv.notify_all();
            res?;
        }
    }

    fn maybe_roll(&self, w: &mut Writer, ts: i64, batch_len: u64) -> Result<(), LogError> {
        let roll = {
            let m = w.active.meta.read();
            !m.is_empty()
                && (m.size.saturating_add(batch_len) > self.cfg.segment_max_bytes
                    || m.first_ts
                        .is_some_and(|f| ts.saturating_sub(f) >= self.cfg.segment_max_age_ms))
        };
        if roll {
            self.roll(w)?;
        }
        Ok(())
    }

    /// Seals the active segment and starts a new one. The old segment is fsynced
    /// before the new one exists, so only the last segment can ever be torn.
    fn roll(&self, w: &mut Writer) -> Result<(), LogError> {
        let old = w.active.clone();
        self.sync_file(&*old.file.get()?)?;
        // Publish before advancing `synced`: a follower in `sync_to` returns as
        // soon as it sees `synced` cover its batch, and its records must already
        // be readable then.
        self.publish(w.next_offset, w.last_ts);
        {
            let mut st = self.sync_state.lock();
            st.synced = st.synced.max(w.next_offset);
        }
        // The index is a cache (rebuildable, checksummed), so it is not fsynced.
        let index = format::encode_index(&old.meta.read().to_index_file(old.base));
        match write_file(&*self.storage, &format::idx_name(old.base), &index) {
            Ok(()) => old.meta.write().idx_bytes = index.len() as u64,
            Err(e) => {
                warn!(segment = old.base, error = %e, "could not write index file; it will be rebuilt")
            }
        }
        let new = self.create_segment(w.next_offset, w.last_ts)?;
        self.segments.write().push(new.clone());
        w.active = new;
        // Sealed: its descriptor now counts against the process-wide cap.
        old.file.unpin();
        debug!(segment = w.next_offset, "rolled segment");
        Ok(())
    }

    fn create_segment(&self, base: u64, ts_floor: Option<i64>) -> Result<Arc<Segment>, LogError> {
        create_segment(&self.storage, base, ts_floor, &self.sync_count).inspect_err(|e| {
            if matches!(e, LogError::Io(_)) {
                self.poison();
            }
        })
    }
}

fn write_file(storage: &dyn Storage, name: &str, bytes: &[u8]) -> io::Result<()> {
    storage.create(name)?.write_all_at(bytes, 0)
}

/// Creates a segment with its header, durably (file data and directory entry).
fn create_segment(
    storage: &Arc<dyn Storage>,
    base: u64,
    ts_floor: Option<i64>,
    sync_count: &AtomicU64,
) -> Result<Arc<Segment>, LogError> {
    let name = format::log_name(base);
    let file = storage.create(&name)?;
    file.write_all_at(
        &format::encode_segment_header(&SegmentHeader {
            base_offset: base,
            ts_floor,
        }),
        0,
    )?;
    sync_count.fetch_add(1, Ordering::Relaxed);
    file.sync_data()?;
    storage.sync_dir()?;
    Ok(Arc::new(Segment {
        base,
        ts_floor,
        file: SegFile::pinned(storage.clone(), name, file),
        meta: RwLock::new(SegMeta::empty(base)),
    }))
}

fn read_batch<'a>(
    rd: &'a mut ChunkReader<'_>,
    seg: &Segment,
    pos: u64,
) -> Result<&'a [u8], LogError> {
    let head = rd
        .get(pos, BATCH_HEADER_LEN)?
        .ok_or_else(|| corrupt(seg.log_name(), pos, "batch header past segment end"))?;
    let h = format::parse_batch_header(head).map_err(|r| corrupt(seg.log_name(), pos, r))?;
    rd.get(pos, h.total_len as usize)?
        .ok_or_else(|| corrupt(seg.log_name(), pos, "batch past segment end"))
}
