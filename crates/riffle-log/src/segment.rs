//! One segment file plus its in-memory sparse index.

use std::io;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::fdcache::SegFile;
use crate::format::{
    self, BatchHeader, IndexEntry, IndexFile, BATCH_HEADER_LEN, SEGMENT_HEADER_LEN,
};
use crate::storage::{read_exact_at, StorageFile};

/// Mutable part of a segment. Only the writer (holding the writer lock) mutates it,
/// and only after the batch bytes are completely written, so readers never look
/// past `size` into a half-written batch.
#[derive(Clone, Debug)]
pub(crate) struct SegMeta {
    pub size: u64,
    pub next_offset: u64,
    pub first_ts: Option<i64>,
    pub last_ts: Option<i64>,
    /// Sparse: one entry per `index_interval_bytes`; always one for the first batch.
    /// Offsets and timestamps are both non-decreasing, so one list serves both lookups.
    pub index: Vec<IndexEntry>,
    pub bytes_since_index: u64,
    /// Size of the `.idx` file on disk (0 while active).
    pub idx_bytes: u64,
}

impl SegMeta {
    pub fn empty(base: u64) -> SegMeta {
        SegMeta {
            size: SEGMENT_HEADER_LEN,
            next_offset: base,
            first_ts: None,
            last_ts: None,
            index: Vec::new(),
            bytes_since_index: 0,
            idx_bytes: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Records a batch that now fully exists at `pos`.
    pub fn push_batch(&mut self, h: &BatchHeader, pos: u64, interval: u64) {
        if self.index.is_empty() || self.bytes_since_index >= interval {
            self.index.push(IndexEntry {
                offset: h.base_offset,
                position: pos,
                timestamp_ms: h.timestamp_ms,
            });
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += h.total_len;
        self.size = pos + h.total_len;
        self.next_offset = h.next_offset();
        self.first_ts.get_or_insert(h.timestamp_ms);
        self.last_ts = Some(h.timestamp_ms);
    }

    /// File position of a batch at or before the one containing `offset`.
    pub fn position_for_offset(&self, offset: u64) -> u64 {
        let k = self.index.partition_point(|e| e.offset <= offset);
        if k == 0 {
            SEGMENT_HEADER_LEN
        } else {
            self.index[k - 1].position
        }
    }

    /// File position of a batch at or before the first batch with timestamp >= `ts`.
    pub fn position_for_timestamp(&self, ts: i64) -> u64 {
        let k = self.index.partition_point(|e| e.timestamp_ms < ts);
        if k == 0 {
            SEGMENT_HEADER_LEN
        } else {
            self.index[k - 1].position
        }
    }

    pub fn to_index_file(&self, base: u64) -> IndexFile {
        IndexFile {
            base_offset: base,
            log_len: self.size,
            next_offset: self.next_offset,
            first_ts: self.first_ts,
            last_ts: self.last_ts,
            entries: self.index.clone(),
        }
    }

    /// Rebuilds from a persisted index; `None` if it does not describe this segment.
    pub fn from_index_file(f: IndexFile, base: u64, log_len: u64) -> Option<SegMeta> {
        let plausible = f.base_offset == base
            && f.log_len == log_len
            && f.next_offset >= base
            && f.entries
                .first()
                .is_none_or(|e| e.offset == base && e.position == SEGMENT_HEADER_LEN)
            && f.entries
                .windows(2)
                .all(|w| w[0].offset < w[1].offset && w[0].position < w[1].position)
            && f.entries
                .iter()
                .all(|e| e.position < log_len && e.offset < f.next_offset);
        if !plausible {
            return None;
        }
        Some(SegMeta {
            size: f.log_len,
            next_offset: f.next_offset,
            first_ts: f.first_ts,
            last_ts: f.last_ts,
            index: f.entries,
            bytes_since_index: 0, // only used while active; sealed segments never grow
            idx_bytes: 0,
        })
    }
}

pub(crate) struct Segment {
    pub base: u64,
    pub ts_floor: Option<i64>,
    /// Pinned open while active; opened on demand (and closed when idle) once sealed.
    pub file: Arc<SegFile>,
    pub meta: RwLock<SegMeta>,
}

impl Segment {
    pub fn log_name(&self) -> String {
        format::log_name(self.base)
    }
}

/// Buffers positional reads so scanning many small batches is not one syscall each.
pub(crate) struct ChunkReader<'a> {
    file: &'a dyn StorageFile,
    limit: u64,
    chunk: usize,
    buf: Vec<u8>,
    buf_pos: u64,
}

impl<'a> ChunkReader<'a> {
    pub fn new(file: &'a dyn StorageFile, limit: u64, chunk: usize) -> ChunkReader<'a> {
        ChunkReader {
            file,
            limit,
            chunk,
            buf: Vec::new(),
            buf_pos: 0,
        }
    }

    /// `Ok(None)` if `[pos, pos+len)` extends past the limit.
    pub fn get(&mut self, pos: u64, len: usize) -> io::Result<Option<&[u8]>> {
        let end = pos.saturating_add(len as u64);
        if end > self.limit {
            return Ok(None);
        }
        let cached = pos >= self.buf_pos && end <= self.buf_pos + self.buf.len() as u64;
        if !cached {
            let want = (len.max(self.chunk) as u64).min(self.limit - pos) as usize;
            self.buf.resize(want, 0);
            read_exact_at(self.file, &mut self.buf, pos)?;
            self.buf_pos = pos;
        }
        let start = (pos - self.buf_pos) as usize;
        Ok(Some(&self.buf[start..start + len]))
    }
}

pub(crate) struct ScanOutcome {
    pub meta: SegMeta,
    /// Where and why the scan stopped before the end of the file, if it did.
    pub stopped: Option<(u64, &'static str)>,
}

/// Validates every batch from the segment header to `file_len`, rebuilding the index.
/// Stops at the first incomplete or invalid batch, or once the records below
/// `max_offset` are covered.
pub(crate) fn scan(
    file: &dyn StorageFile,
    base: u64,
    ts_floor: Option<i64>,
    file_len: u64,
    interval: u64,
    max_offset: u64,
) -> io::Result<ScanOutcome> {
    let mut meta = SegMeta::empty(base);
    let mut rd = ChunkReader::new(file, file_len, 1 << 20);
    let mut pos = SEGMENT_HEADER_LEN;
    let mut prev_ts = ts_floor;
    while pos < file_len && meta.next_offset < max_offset {
        let bad = |why| {
            Ok(ScanOutcome {
                meta: meta.clone(),
                stopped: Some((pos, why)),
            })
        };
        let head = match rd.get(pos, BATCH_HEADER_LEN)? {
            Some(h) => h,
            None => return bad("incomplete batch header"),
        };
        let h = match format::parse_batch_header(head) {
            Ok(h) => h,
            Err(why) => return bad(why),
        };
        let full = match rd.get(pos, h.total_len as usize)? {
            Some(b) => b,
            None => return bad("incomplete batch"),
        };
        let h = match format::verify_batch(full) {
            Ok(h) => h,
            Err(why) => return bad(why),
        };
        if h.base_offset != meta.next_offset {
            return bad("batch offset does not follow previous batch");
        }
        if prev_ts.is_some_and(|p| h.timestamp_ms < p) {
            return bad("batch timestamp goes backwards");
        }
        prev_ts = Some(h.timestamp_ms);
        meta.push_batch(&h, pos, interval);
        pos += h.total_len;
    }
    Ok(ScanOutcome {
        meta,
        stopped: None,
    })
}

/// Looks past a bad batch at `bad_pos` for a later batch that is complete, CRC-valid
/// and plausibly continues the log: its first offset is above `next_offset` (the bad
/// batch held at least one record) but not beyond what the bytes in between could
/// hold, and its timestamp is not below `min_ts`. Finding one means the damage is not
/// a torn last write. Returns the position of the first such batch.
pub(crate) fn find_valid_batch_after(
    file: &dyn StorageFile,
    bad_pos: u64,
    file_len: u64,
    next_offset: u64,
    min_ts: Option<i64>,
) -> io::Result<Option<u64>> {
    let mut rd = ChunkReader::new(file, file_len, 1 << 20);
    let mut pos = bad_pos + 1;
    while pos + BATCH_HEADER_LEN as u64 <= file_len {
        let head = rd.get(pos, BATCH_HEADER_LEN)?.unwrap_or_default();
        let plausible = head.len() == BATCH_HEADER_LEN
            && head[8] == format::FORMAT_VERSION
            && format::plausible_flags(head)
            && format::parse_batch_header(head).is_ok_and(|h| {
                // Every record takes at least 8 bytes (its two length fields).
                let max_offset = next_offset.saturating_add((pos - bad_pos) / 8 + 1);
                h.count > 0
                    && h.base_offset > next_offset
                    && h.base_offset <= max_offset
                    && min_ts.is_none_or(|t| h.timestamp_ms >= t)
                    && pos + h.total_len <= file_len
            });
        if plausible {
            let len = format::parse_batch_header(head).map_or(0, |h| h.total_len as usize);
            if let Some(full) = rd.get(pos, len)? {
                if format::verify_batch(full).is_ok() {
                    return Ok(Some(pos));
                }
            }
        }
        pos += 1;
    }
    Ok(None)
}
