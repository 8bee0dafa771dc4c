//! Descriptors of sealed segments: opened on demand and closed least recently used
//! first, under one process-wide cap shared by every log, so that thousands of retained segments do not
//! exhaust `RLIMIT_NOFILE`. Active segments are pinned open and not counted.
//!
//! Recency is a relaxed atomic tick per file, so a read of an open segment takes no
//! global lock; the (global) cache list is only touched when a file is opened, and an
//! eviction scans it for the least recently used entry (at most `limit` entries, next
//! to an `open` syscall that costs more).

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Weak};

use parking_lot::Mutex;
use tracing::debug;

use crate::storage::{Storage, StorageFile};

/// Used when `LogConfig::max_open_sealed_files` is 0 and the descriptor limit cannot be read.
const FALLBACK_LIMIT: usize = 1024;

static LIMIT: AtomicUsize = AtomicUsize::new(FALLBACK_LIMIT);
static TICK: AtomicU64 = AtomicU64::new(0);
static OPENS: AtomicU64 = AtomicU64::new(0);
static EVICTIONS: AtomicU64 = AtomicU64::new(0);
/// Sealed files that currently hold a descriptor (dead entries are pruned lazily).
static OPEN: LazyLock<Mutex<Vec<Weak<SegFile>>>> = LazyLock::new(Default::default);

/// The cap for `configured` (0 = automatic): a quarter of the soft `RLIMIT_NOFILE`,
/// between 16 and 4,096, leaving the rest for active segments, directory locks and sockets.
pub(crate) fn resolve_limit(configured: usize) -> usize {
    if configured > 0 {
        return configured;
    }
    match rlimit::getrlimit(rlimit::Resource::NOFILE) {
        Ok((soft, _)) => usize::try_from(soft / 4).unwrap_or(4096).clamp(16, 4096),
        Err(_) => FALLBACK_LIMIT,
    }
}

/// Sets the process-wide cap (every `ShardLog::open` applies its configuration).
pub(crate) fn set_limit(limit: usize) {
    LIMIT.store(limit.max(1), Ordering::Relaxed);
}

/// Counters of the sealed-segment descriptor cache (process-wide).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SealedFileStats {
    /// The cap currently in force.
    pub limit: usize,
    /// Sealed segment files holding a descriptor now (briefly above `limit` while a
    /// reader still uses an evicted file).
    pub open: usize,
    /// Sealed segment files opened (on demand) since the process started.
    pub opens: u64,
    /// Descriptors closed to stay under the cap since the process started.
    pub evictions: u64,
}

/// The descriptor cache's current state.
pub fn sealed_file_stats() -> SealedFileStats {
    let open = OPEN
        .lock()
        .iter()
        .filter_map(Weak::upgrade)
        .filter(|f| f.file.lock().is_some())
        .count();
    SealedFileStats {
        limit: LIMIT.load(Ordering::Relaxed),
        open,
        opens: OPENS.load(Ordering::Relaxed),
        evictions: EVICTIONS.load(Ordering::Relaxed),
    }
}

/// The file of one segment: pinned open while active, opened on demand once sealed.
pub(crate) struct SegFile {
    storage: Arc<dyn Storage>,
    name: String,
    file: Mutex<Option<Arc<dyn StorageFile>>>,
    pinned: AtomicBool,
    last_used: AtomicU64,
}

impl SegFile {
    /// An active segment's file, kept open until [`unpin`](Self::unpin).
    pub fn pinned(
        storage: Arc<dyn Storage>,
        name: String,
        file: Arc<dyn StorageFile>,
    ) -> Arc<SegFile> {
        Arc::new(SegFile {
            storage,
            name,
            file: Mutex::new(Some(file)),
            pinned: AtomicBool::new(true),
            last_used: AtomicU64::new(TICK.fetch_add(1, Ordering::Relaxed)),
        })
    }

    /// A sealed segment's file, not open yet.
    pub fn closed(storage: Arc<dyn Storage>, name: String) -> Arc<SegFile> {
        Arc::new(SegFile {
            storage,
            name,
            file: Mutex::new(None),
            pinned: AtomicBool::new(false),
            last_used: AtomicU64::new(0),
        })
    }

    /// The open file, reopening it if it was closed.
    pub fn get(self: &Arc<Self>) -> io::Result<Arc<dyn StorageFile>> {
        self.last_used
            .store(TICK.fetch_add(1, Ordering::Relaxed), Ordering::Relaxed);
        let file = {
            let mut slot = self.file.lock();
            if let Some(f) = &*slot {
                return Ok(f.clone());
            }
            let f = self.storage.open(&self.name)?;
            *slot = Some(f.clone());
            f
        };
        OPENS.fetch_add(1, Ordering::Relaxed);
        if !self.pinned.load(Ordering::Acquire) {
            self.track();
        }
        Ok(file)
    }

    /// The segment was sealed: its descriptor now counts against the cap.
    pub fn unpin(self: &Arc<Self>) {
        if self.pinned.swap(false, Ordering::AcqRel) && self.file.lock().is_some() {
            self.track();
        }
    }

    /// Adds this open file to the cache, then closes the least recently used files
    /// beyond the cap. Victims are closed after the list lock is released, so the
    /// list lock is never held while waiting for a file's lock.
    fn track(self: &Arc<Self>) {
        let limit = LIMIT.load(Ordering::Relaxed);
        let victims = {
            let mut open = OPEN.lock();
            open.push(Arc::downgrade(self));
            let mut victims = Vec::new();
            if open.len() > limit {
                open.retain(|w| w.strong_count() > 0);
            }
            while open.len() > limit {
                let lru = open
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, w)| {
                        w.upgrade()
                            .map_or(0, |f| f.last_used.load(Ordering::Relaxed))
                    })
                    .map(|(i, _)| i);
                match lru {
                    Some(i) => victims.push(open.swap_remove(i)),
                    None => break,
                }
            }
            victims
        };
        for v in victims.iter().filter_map(Weak::upgrade) {
            if v.file.lock().take().is_some() {
                EVICTIONS.fetch_add(1, Ordering::Relaxed);
                debug!(file = %v.name, "closed idle sealed segment file");
            }
        }
    }
}
