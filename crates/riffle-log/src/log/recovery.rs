//! Recovery of a shard log: at open (sealed segments from their indexes or a
//! scan, the active segment's torn tail truncated, damage before its end kept
//! aside) and in place after a fault (the active segment rebuilt from what was
//! acknowledged), without a restart.

use super::*;

impl Inner {
    /// Recovery on the write path, paced by `recovery_retry_ms` so a failing disk is
    /// not hammered by every request: `Poisoned` until the pause since the fault is over.
    pub(super) fn auto_recover(&self) -> Result<(), LogError> {
        {
            let mut last = self.last_fault.lock();
            let retry = Duration::from_millis(self.cfg.recovery_retry_ms);
            if last.is_some_and(|t| t.elapsed() < retry) {
                return Err(LogError::Poisoned);
            }
            *last = Some(Instant::now());
        }
        self.recover().map(|_| ())
    }

    pub(super) fn recover(&self) -> Result<bool, LogError> {
        if let Some(d) = &self.damage {
            return Err(d.error());
        }
        if !self.poisoned.load(Ordering::Acquire) {
            return Ok(false);
        }
        // Take the sync leadership first, then the writer lock: a leader takes the
        // writer lock for its snapshot, so it must not be waited for while holding it.
        // New leaders wait meanwhile (and then see `Poisoned` or a new epoch).
        {
            let mut st = self.sync_state.lock();
            while st.syncing {
                self.sync_cv.wait(&mut st);
            }
            st.syncing = true;
        }
        let mut w = self.writer.lock();
        let res = if self.poisoned.load(Ordering::Acquire) {
            // Waiters of the old epoch must fail even if they wake after the recovery.
            self.epoch.fetch_add(1, Ordering::AcqRel);
            self.rebuild_active(&mut w).map(|()| true)
        } else {
            Ok(false) // another caller recovered it meanwhile
        };
        let mut st = self.sync_state.lock();
        st.syncing = false;
        if let Ok(true) = res {
            st.synced = w.next_offset;
            self.poisoned.store(false, Ordering::Release);
        }
        self.sync_cv.notify_all();
        drop(st);
        *self.last_fault.lock() = Some(Instant::now());
        match res {
            Ok(true) => {
                self.recoveries.fetch_add(1, Ordering::Relaxed);
                stats::count_recovery();
                warn!(
                    segment = w.active.base,
                    end_offset = w.next_offset,
                    "shard log recovered from an I/O failure; accepting appends again"
                );
                Ok(true)
            }
            Ok(false) => Ok(false),
            Err(e) => {
                stats::count_failed_recovery();
                warn!(error = %e, "shard log recovery failed; still refusing appends");
                Err(e)
            }
        }
    }

    /// Rebuilds the active segment from a fresh descriptor. After a failed fdatasync
    /// the kernel may have dropped the dirty pages or marked them clean, so neither
    /// the old descriptor nor a plain retry of fdatasync can be trusted.
    fn rebuild_active(&self, w: &mut Writer) -> Result<(), LogError> {
        let old = w.active.clone();
        let name = old.log_name();
        // A roll that failed after creating the next segment leaves it behind; it must
        // go, or the chain would break once this segment grows past its base offset.
        let mut removed = false;
        for n in self.storage.list()? {
            let stray = match format::parse_name(&n) {
                Some((b, true)) => b > old.base,
                Some((b, false)) => b >= old.base,
                None => false,
            };
            if stray {
                self.storage.remove(&n)?;
                removed = true;
            }
        }
        if removed {
            self.storage.sync_dir()?;
        }
        let file = self.storage.open(&name)?;
        let len = file.len()?;
        let acked = self.committed_end.load(Ordering::Acquire);
        let durable = self.sync_state.lock().synced;
        let out = segment::scan(
            &*file,
            old.base,
            old.ts_floor,
            len,
            self.cfg.index_interval_bytes,
            acked,
        )?;
        let meta = out.meta;
        if meta.next_offset < acked {
            warn!(
                segment = old.base,
                lost = acked - meta.next_offset,
                "acknowledged but unsynced records were lost after a failed fdatasync"
            );
        }
        // Keep exactly the acknowledged records; the failed batch was never acknowledged.
        file.truncate(meta.size)?;
        // Write the unsynced part again so it is dirty in the page cache once more.
        if durable < meta.next_offset {
            let from = meta.position_for_offset(durable.max(old.base));
            let n = usize::try_from(meta.size - from)
                .map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
            let mut bytes = vec![0u8; n];
            read_exact_at(&*file, &mut bytes, from)?;
            file.write_all_at(&bytes, from)?;
        }
        self.sync_file(&*file)?;
        let last_ts = meta.last_ts.or(old.ts_floor);
        let next_offset = meta.next_offset;
        let new = Arc::new(Segment {
            base: old.base,
            ts_floor: old.ts_floor,
            file: SegFile::pinned(self.storage.clone(), name.clone(), file),
            meta: RwLock::new(meta),
        });
        {
            let mut segs = self.segments.write();
            match segs.last_mut() {
                Some(last) if Arc::ptr_eq(last, &old) => *last = new.clone(),
                _ => {
                    return Err(corrupt(
                        name,
                        0,
                        "active segment missing from the segment list",
                    ))
                }
            }
        }
        w.active = new;
        w.next_offset = next_offset;
        w.last_ts = last_ts;
        // Plain stores: records lost from the page cache must stop being visible.
        self.committed_end.store(next_offset, Ordering::Release);
        self.committed_ts
            .store(format::ts_to_raw(last_ts), Ordering::Release);
        Ok(())
    }
}

fn read_header(file: &dyn StorageFile, len: u64) -> Option<Result<SegmentHeader, &'static str>> {
    if len < SEGMENT_HEADER_LEN {
        return None;
    }
    let mut b = [0u8; SEGMENT_HEADER_LEN as usize];
    match read_exact_at(file, &mut b, 0) {
        Ok(()) => Some(format::decode_segment_header(&b)),
        Err(_) => Some(Err("unreadable segment header")),
    }
}

/// Recovery: loads sealed segments (from `.idx` when valid, else by scanning, where
/// any damage is an error), then scans the active segment and truncates its torn tail,
/// or reports the damage if valid batches follow the bad one.
pub(super) fn recover(
    storage: &Arc<dyn Storage>,
    cfg: &LogConfig,
    sync_count: &AtomicU64,
) -> Result<(Vec<Arc<Segment>>, Option<Damage>), LogError> {
    let mut damage = None;
    let mut logs = BTreeSet::new();
    let mut idxs = HashSet::new();
    for name in storage.list()? {
        match format::parse_name(&name) {
            Some((base, true)) => {
                logs.insert(base);
            }
            Some((base, false)) => {
                idxs.insert(base);
            }
            None => {}
        }
    }
    // Index files without a log are leftovers of an interrupted retention delete.
    for base in idxs.iter().filter(|b| !logs.contains(b)) {
        let _ = storage.remove(&format::idx_name(*base));
    }
    let Some(&active_base) = logs.last() else {
        return Ok((vec![create_segment(storage, 0, None, sync_count)?], None));
    };
    let mut segments: Vec<Arc<Segment>> = Vec::with_capacity(logs.len());
    for &base in &logs {
        let name = format::log_name(base);
        let file = storage.open(&name)?;
        let len = file.len()?;
        let expected_base = segments.last().map(|s| s.meta.read().next_offset);
        if expected_base.is_some_and(|e| e != base) {
            return Err(corrupt(
                name,
                0,
                format!("segment does not start at expected offset {expected_base:?}"),
            ));
        }
        let prev_ts = segments
            .last()
            .and_then(|s| s.meta.read().last_ts.or(s.ts_floor));
        let seg = if base == active_base {
            let (seg, d) = recover_active(storage, file, base, len, prev_ts, cfg, sync_count)?;
            damage = d;
            seg
        } else {
            load_sealed(storage, file, base, len, idxs.contains(&base), cfg)?
        };
        segments.push(seg);
    }
    if idxs.contains(&active_base) {
        let _ = storage.remove(&format::idx_name(active_base));
    }
    Ok((segments, damage))
}

fn load_sealed(
    storage: &Arc<dyn Storage>,
    file: Arc<dyn StorageFile>,
    base: u64,
    len: u64,
    has_idx: bool,
    cfg: &LogConfig,
) -> Result<Arc<Segment>, LogError> {
    let name = format::log_name(base);
    let header = match read_header(&*file, len) {
        Some(Ok(h)) => h,
        Some(Err(why)) => return Err(corrupt(name, 0, why)),
        None => return Err(corrupt(name, 0, "sealed segment shorter than its header")),
    };
    if header.base_offset != base {
        return Err(corrupt(
            name,
            0,
            "segment header base offset does not match file name",
        ));
    }
    let idx_name = format::idx_name(base);
    let mut meta = None;
    if has_idx {
        let loaded = storage.open(&idx_name).and_then(|f| {
            let n = f.len()?;
            let mut b = vec![
                0u8;
                usize::try_from(n)
                    .map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?
            ];
            read_exact_at(&*f, &mut b, 0)?;
            Ok(b)
        });
        match loaded.map(|b| {
            (
                format::decode_index(&b).map(|f| SegMeta::from_index_file(f, base, len)),
                b.len(),
            )
        }) {
            Ok((Ok(Some(mut m)), n)) => {
                m.idx_bytes = n as u64;
                meta = Some(m);
            }
            Ok((Ok(None), _)) => warn!(
                segment = base,
                "index file does not match segment; rebuilding"
            ),
            Ok((Err(why), _)) => warn!(
                segment = base,
                reason = why,
                "invalid index file; rebuilding"
            ),
            Err(e) => warn!(segment = base, error = %e, "unreadable index file; rebuilding"),
        }
    }
    let meta = match meta {
        Some(m) => m,
        None => {
            let out = segment::scan(
                &*file,
                base,
                header.ts_floor,
                len,
                cfg.index_interval_bytes,
                u64::MAX,
            )?;
            if let Some((pos, why)) = out.stopped {
                // Sealed segments were fsynced before the next one was created, so
                // damage here is media corruption, not a torn write: refuse to guess.
                return Err(corrupt(name, pos, why));
            }
            let mut m = out.meta;
            let index = format::encode_index(&m.to_index_file(base));
            match write_file(&**storage, &idx_name, &index) {
                Ok(()) => m.idx_bytes = index.len() as u64,
                Err(e) => warn!(segment = base, error = %e, "could not write rebuilt index file"),
            }
            m
        }
    };
    // Closed until a reader needs it: open() must not hold every sealed segment open.
    drop(file);
    Ok(Arc::new(Segment {
        base,
        ts_floor: header.ts_floor,
        file: SegFile::closed(storage.clone(), name),
        meta: RwLock::new(meta),
    }))
}

fn recover_active(
    storage: &Arc<dyn Storage>,
    file: Arc<dyn StorageFile>,
    base: u64,
    len: u64,
    prev_ts: Option<i64>,
    cfg: &LogConfig,
    sync_count: &AtomicU64,
) -> Result<(Arc<Segment>, Option<Damage>), LogError> {
    let name = format::log_name(base);
    let header = match read_header(&*file, len) {
        Some(Ok(h)) => h,
        // A header-only (or shorter) file is a segment whose creation was interrupted;
        // nothing can be lost by rewriting it.
        Some(Err(why)) if len > SEGMENT_HEADER_LEN => return Err(corrupt(name, 0, why)),
        _ => {
            warn!(segment = base, len, "rewriting incomplete segment header");
            drop(file);
            return Ok((create_segment(storage, base, prev_ts, sync_count)?, None));
        }
    };
    if header.base_offset != base {
        return Err(corrupt(
            name,
            0,
            "segment header base offset does not match file name",
        ));
    }
    let out = segment::scan(
        &*file,
        base,
        header.ts_floor,
        len,
        cfg.index_interval_bytes,
        u64::MAX,
    )?;
    if let Some((pos, why)) = out.stopped {
        let min_ts = out.meta.last_ts.or(header.ts_floor);
        if let Some(valid_at) =
            segment::find_valid_batch_after(&*file, pos, len, out.meta.next_offset, min_ts)?
        {
            // Valid batches after the bad one: damage, not a torn last write. Truncating
            // would silently drop acknowledged records, so the file is left as it is,
            // copied aside, and the log opens read-only.
            let mut copy = format!("{name}.corrupt");
            // Best effort: the original is never modified, so a failed copy (e.g. a
            // full disk) must not keep the intact records from being served.
            if let Err(e) = save_copy(&**storage, &*file, len, &copy) {
                warn!(segment = base, error = %e, "could not copy the damaged segment aside");
                let _ = storage.remove(&copy);
                copy = format!("(none: copying failed: {e})");
            }
            error!(
                segment = base,
                position = pos,
                valid_at,
                reason = why,
                copy = %copy,
                "active segment is damaged before its end; the shard refuses writes"
            );
            stats::count_damaged_open();
            // Readable records must be durable, as on the healthy path; fdatasync
            // changes nothing in the file.
            sync_count.fetch_add(1, Ordering::Relaxed);
            file.sync_data()?;
            let damage = Damage {
                file: name.clone(),
                position: pos,
                valid_at,
                reason: why.to_string(),
                copy,
            };
            return Ok((
                Arc::new(Segment {
                    base,
                    ts_floor: header.ts_floor,
                    file: SegFile::pinned(storage.clone(), name, file),
                    meta: RwLock::new(out.meta),
                }),
                Some(damage),
            ));
        }
        warn!(
            segment = base,
            position = pos,
            dropped_bytes = len - pos,
            reason = why,
            "truncating torn tail of active segment"
        );
        file.truncate(pos)?;
    }
    // Whatever survived (e.g. a kill -9 that left bytes in the page cache) is made
    // durable before it becomes readable.
    sync_count.fetch_add(1, Ordering::Relaxed);
    file.sync_data()?;
    Ok((
        Arc::new(Segment {
            base,
            ts_floor: header.ts_floor,
            file: SegFile::pinned(storage.clone(), name, file),
            meta: RwLock::new(out.meta),
        }),
        None,
    ))
}

/// Copies a damaged segment to `copy` (unless an earlier open already did), durably.
fn save_copy(
    storage: &dyn Storage,
    file: &dyn StorageFile,
    len: u64,
    copy: &str,
) -> Result<(), LogError> {
    if storage.list()?.iter().any(|n| n == copy) {
        return Ok(());
    }
    let out = storage.create(copy)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = 0;
    while pos < len {
        let n = usize::try_from((len - pos).min(buf.len() as u64))
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
        read_exact_at(file, &mut buf[..n], pos)?;
        out.write_all_at(&buf[..n], pos)?;
        pos += n as u64;
    }
    out.sync_data()?;
    storage.sync_dir()?;
    Ok(())
}
