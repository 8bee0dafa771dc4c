//! On-disk encoding of segment headers, record batches and index files.
//! Everything is little-endian; the byte layout is documented in docs/storage-format.md.

use crate::{LogError, RecordValue};

/// Format version written into segment headers, batches and index files.
pub const FORMAT_VERSION: u8 = 1;

pub(crate) const SEGMENT_MAGIC: &[u8; 4] = b"RFLS";
pub(crate) const INDEX_MAGIC: &[u8; 4] = b"RFLI";
pub(crate) const SEGMENT_HEADER_LEN: u64 = 32;
pub(crate) const BATCH_HEADER_LEN: usize = 32;
pub(crate) const INDEX_HEADER_LEN: usize = 56;
pub(crate) const INDEX_ENTRY_LEN: usize = 24;
/// Largest batch (including its header) we write or accept while scanning; far above
/// Kinesis' 5 MiB PutRecords limit, and it keeps a garbage length field from triggering
/// a huge allocation during recovery.
pub const MAX_BATCH_BYTES: usize = 256 * 1024 * 1024;
/// Batch flag: the record area is sealed by a [`crate::BatchCipher`] (encryption at
/// rest); bytes 10..12 of the header then hold the cipher's key index.
pub(crate) const FLAG_SEALED: u8 = 0x01;
/// Additional bytes a sealed record area may take beyond its plaintext (nonce, tag).
pub const MAX_SEAL_OVERHEAD: usize = 64;
/// `i64::MIN` stands for "no timestamp" in headers and index files.
pub(crate) const NO_TS: i64 = i64::MIN;

pub(crate) fn log_name(base: u64) -> String {
    format!("{base:020}.log")
}

pub(crate) fn idx_name(base: u64) -> String {
    format!("{base:020}.idx")
}

/// Parses `<20 digits>.log` / `<20 digits>.idx`; anything else is not ours.
pub(crate) fn parse_name(name: &str) -> Option<(u64, bool)> {
    let (stem, is_log) = if let Some(s) = name.strip_suffix(".log") {
        (s, true)
    } else if let Some(s) = name.strip_suffix(".idx") {
        (s, false)
    } else {
        return None;
    };
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok().map(|b| (b, is_log))
}

pub(crate) fn ts_to_raw(ts: Option<i64>) -> i64 {
    ts.unwrap_or(NO_TS)
}

pub(crate) fn ts_from_raw(raw: i64) -> Option<i64> {
    (raw != NO_TS).then_some(raw)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn i64_at(b: &[u8], at: usize) -> i64 {
    u64_at(b, at) as i64
}

// ---------------------------------------------------------------- segment header

pub(crate) struct SegmentHeader {
    pub base_offset: u64,
    /// Newest timestamp of the log when this segment was created, so the
    /// non-decreasing timestamp rule survives retention deleting every record.
    pub ts_floor: Option<i64>,
}

pub(crate) fn encode_segment_header(h: &SegmentHeader) -> [u8; SEGMENT_HEADER_LEN as usize] {
    let mut b = [0u8; SEGMENT_HEADER_LEN as usize];
    b[0..4].copy_from_slice(SEGMENT_MAGIC);
    b[4] = FORMAT_VERSION;
    b[8..16].copy_from_slice(&h.base_offset.to_le_bytes());
    b[16..24].copy_from_slice(&ts_to_raw(h.ts_floor).to_le_bytes());
    let crc = crc32c::crc32c(&b[0..24]);
    b[24..28].copy_from_slice(&crc.to_le_bytes());
    b
}

pub(crate) fn decode_segment_header(b: &[u8]) -> Result<SegmentHeader, &'static str> {
    if b.len() < SEGMENT_HEADER_LEN as usize {
        return Err("short segment header");
    }
    if &b[0..4] != SEGMENT_MAGIC {
        return Err("bad segment magic");
    }
    if crc32c::crc32c(&b[0..24]) != u32_at(b, 24) {
        return Err("segment header checksum mismatch");
    }
    if b[4] != FORMAT_VERSION {
        return Err("unsupported segment format version");
    }
    Ok(SegmentHeader {
        base_offset: u64_at(b, 8),
        ts_floor: ts_from_raw(i64_at(b, 16)),
    })
}

// ---------------------------------------------------------------- batches

/// Appends the records of a batch after a zeroed header placeholder and returns
/// the buffer; the header is filled in by [`seal_batch`] once the offset is known
/// (under the writer lock), so the expensive part happens outside it. Each value
/// writes (or decodes) itself into the buffer.
pub(crate) fn encode_batch_body<V: RecordValue>(
    records: &[(&[u8], V)],
) -> Result<Vec<u8>, LogError> {
    let mut total = BATCH_HEADER_LEN;
    for (k, v) in records {
        total = total
            .saturating_add(8)
            .saturating_add(k.len())
            .saturating_add(v.stored_len());
    }
    // Room for a cipher's nonce and tag, so a sealed batch stays within the limit.
    if total.saturating_add(MAX_SEAL_OVERHEAD) > MAX_BATCH_BYTES
        || records.len() > u32::MAX as usize
    {
        return Err(LogError::BatchTooLarge { bytes: total });
    }
    let mut buf = Vec::with_capacity(total);
    buf.resize(BATCH_HEADER_LEN, 0);
    for (index, (k, v)) in records.iter().enumerate() {
        // Lengths fit in u32 because total <= MAX_BATCH_BYTES.
        buf.extend_from_slice(&(k.len() as u32).to_le_bytes());
        buf.extend_from_slice(k);
        let len = v.stored_len();
        buf.extend_from_slice(&(len as u32).to_le_bytes());
        let start = buf.len();
        if !v.append_to(&mut buf) || buf.len() != start + len {
            return Err(LogError::BadValue { index });
        }
    }
    Ok(buf)
}

/// Fills in the batch header. `body_crc` is the CRC32C of `buf[32..]`, computed
/// outside the writer lock and combined here with the header's CRC. `sealed_key` is
/// the cipher key index when the record area was sealed (encrypted).
pub(crate) fn seal_batch(
    buf: &mut [u8],
    base_offset: u64,
    count: u32,
    ts: i64,
    body_crc: u32,
    sealed_key: Option<u16>,
) {
    let batch_len = (buf.len() - 4) as u32;
    buf[0..4].copy_from_slice(&batch_len.to_le_bytes());
    buf[8] = FORMAT_VERSION;
    buf[9] = if sealed_key.is_some() { FLAG_SEALED } else { 0 };
    buf[10..12].copy_from_slice(&sealed_key.unwrap_or(0).to_le_bytes());
    buf[12..20].copy_from_slice(&base_offset.to_le_bytes());
    buf[20..24].copy_from_slice(&count.to_le_bytes());
    buf[24..32].copy_from_slice(&ts.to_le_bytes());
    let head_crc = crc32c::crc32c(&buf[8..BATCH_HEADER_LEN]);
    let crc = crc32c_combine(head_crc, body_crc, buf.len() - BATCH_HEADER_LEN);
    buf[4..8].copy_from_slice(&crc.to_le_bytes());
}

const CRC32C_POLY: u32 = 0x82f6_3b78; // reflected

/// a(x) * b(x) mod P(x), reflected bit order.
const fn crc_mult(a: u32, mut b: u32) -> u32 {
    let mut m: u32 = 1 << 31;
    let mut p: u32 = 0;
    loop {
        if a & m != 0 {
            p ^= b;
            if a & (m - 1) == 0 {
                return p;
            }
        }
        m >>= 1;
        b = if b & 1 != 0 {
            (b >> 1) ^ CRC32C_POLY
        } else {
            b >> 1
        };
    }
}

/// x^(2^k) mod P(x), k = 0..32.
const X2N: [u32; 32] = {
    let mut t = [0u32; 32];
    let mut p: u32 = 1 << 30; // x^1
    t[0] = p;
    let mut n = 1;
    while n < 32 {
        p = crc_mult(p, p);
        t[n] = p;
        n += 1;
    }
    t
};

/// CRC32C of `a ++ b` from `crc(a)`, `crc(b)` and `b.len()`, in O(log len)
/// multiplications (zlib 1.2.12's method); the `crc32c` crate's matrix-squaring
/// combine cost ~3% of the server's CPU under small-record load.
pub(crate) fn crc32c_combine(crc1: u32, crc2: u32, len2: usize) -> u32 {
    // x^(8 * len2) mod P: one table entry per set bit of len2, starting at x^8.
    let mut p: u32 = 1 << 31; // x^0
    let (mut n, mut k) = (len2, 3);
    while n != 0 {
        if n & 1 != 0 {
            p = crc_mult(X2N[k & 31], p);
        }
        n >>= 1;
        k += 1;
    }
    crc_mult(p, crc1) ^ crc2
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct BatchHeader {
    /// Total bytes of the batch including the length prefix.
    pub total_len: u64,
    pub crc: u32,
    pub version: u8,
    pub base_offset: u64,
    pub count: u32,
    pub timestamp_ms: i64,
    /// The cipher key index if the record area is sealed (flag bit 0).
    pub sealed_key: Option<u16>,
}

impl BatchHeader {
    pub fn next_offset(&self) -> u64 {
        self.base_offset + u64::from(self.count)
    }
}

/// What a sealed batch's cipher authenticates besides the records: the format
/// version, key index and record count (the offset is assigned after sealing,
/// under the writer lock, so it cannot be bound).
pub(crate) fn seal_aad(key: u16, count: u32) -> [u8; 7] {
    let mut a = [0u8; 7];
    a[0] = FORMAT_VERSION;
    a[1..3].copy_from_slice(&key.to_le_bytes());
    a[3..7].copy_from_slice(&count.to_le_bytes());
    a
}

/// Flags and reserved bytes (header bytes 9..12) this build writes: plain, or
/// sealed with any key index.
pub(crate) fn plausible_flags(head: &[u8]) -> bool {
    head.len() >= 12 && (head[9] == FLAG_SEALED || head[9..12] == [0, 0, 0])
}

/// Parses the fixed 32-byte header without any validation beyond the length field.
pub(crate) fn parse_batch_header(b: &[u8]) -> Result<BatchHeader, &'static str> {
    if b.len() < BATCH_HEADER_LEN {
        return Err("short batch header");
    }
    let batch_len = u64::from(u32_at(b, 0));
    let total_len = batch_len + 4;
    if total_len < BATCH_HEADER_LEN as u64 || total_len > MAX_BATCH_BYTES as u64 {
        return Err("batch length out of range");
    }
    Ok(BatchHeader {
        total_len,
        crc: u32_at(b, 4),
        version: b[8],
        base_offset: u64_at(b, 12),
        count: u32_at(b, 20),
        timestamp_ms: i64_at(b, 24),
        sealed_key: (b[9] & FLAG_SEALED != 0).then(|| u16::from_le_bytes([b[10], b[11]])),
    })
}

/// Fully validates a complete batch (`b.len() == total_len`): checksum, version,
/// flags, record count and that the records exactly fill the batch. A sealed
/// batch's records are checked by [`check_records`] once it is opened.
pub(crate) fn verify_batch(b: &[u8]) -> Result<BatchHeader, &'static str> {
    let h = parse_batch_header(b)?;
    if b.len() as u64 != h.total_len {
        return Err("batch length mismatch");
    }
    if crc32c::crc32c(&b[8..]) != h.crc {
        return Err("batch checksum mismatch");
    }
    if h.version != FORMAT_VERSION {
        return Err("unsupported batch format version");
    }
    if !plausible_flags(b) {
        return Err("unknown batch flags");
    }
    if h.count == 0 {
        return Err("empty batch");
    }
    if h.sealed_key.is_some() {
        return Ok(h);
    }
    check_records(&b[BATCH_HEADER_LEN..], h.count)?;
    Ok(h)
}

/// Checks that `count` records exactly fill a record area.
pub(crate) fn check_records(area: &[u8], count: u32) -> Result<(), &'static str> {
    let mut rest = area;
    for _ in 0..count {
        for _ in 0..2 {
            if rest.len() < 4 {
                return Err("record overruns batch");
            }
            let len = u32_at(rest, 0) as usize;
            if rest.len() - 4 < len {
                return Err("record overruns batch");
            }
            rest = &rest[4 + len..];
        }
    }
    if !rest.is_empty() {
        return Err("trailing bytes in batch");
    }
    Ok(())
}

/// Iterates `(key, value)` over a record area already checked by [`check_records`]
/// (a plain batch's `b[32..]` after [`verify_batch`], or an opened sealed one).
pub(crate) fn area_records(area: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut rest = area;
    std::iter::from_fn(move || {
        let mut take = || -> Option<&[u8]> {
            if rest.len() < 4 {
                return None;
            }
            let len = u32_at(rest, 0) as usize;
            let field = rest.get(4..4 + len)?;
            rest = &rest[4 + len..];
            Some(field)
        };
        let k = take()?;
        let v = take()?;
        Some((k, v))
    })
}

// ---------------------------------------------------------------- index files

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IndexEntry {
    pub offset: u64,
    pub position: u64,
    pub timestamp_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IndexFile {
    pub base_offset: u64,
    pub log_len: u64,
    pub next_offset: u64,
    pub first_ts: Option<i64>,
    pub last_ts: Option<i64>,
    pub entries: Vec<IndexEntry>,
}

pub(crate) fn encode_index(f: &IndexFile) -> Vec<u8> {
    let mut b = Vec::with_capacity(INDEX_HEADER_LEN + f.entries.len() * INDEX_ENTRY_LEN + 4);
    b.extend_from_slice(INDEX_MAGIC);
    b.extend_from_slice(&[FORMAT_VERSION, 0, 0, 0]);
    b.extend_from_slice(&f.base_offset.to_le_bytes());
    b.extend_from_slice(&f.log_len.to_le_bytes());
    b.extend_from_slice(&f.next_offset.to_le_bytes());
    b.extend_from_slice(&ts_to_raw(f.first_ts).to_le_bytes());
    b.extend_from_slice(&ts_to_raw(f.last_ts).to_le_bytes());
    b.extend_from_slice(&(f.entries.len() as u32).to_le_bytes());
    b.extend_from_slice(&[0; 4]);
    for e in &f.entries {
        b.extend_from_slice(&e.offset.to_le_bytes());
        b.extend_from_slice(&e.position.to_le_bytes());
        b.extend_from_slice(&e.timestamp_ms.to_le_bytes());
    }
    let crc = crc32c::crc32c(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    b
}

pub(crate) fn decode_index(b: &[u8]) -> Result<IndexFile, &'static str> {
    if b.len() < INDEX_HEADER_LEN + 4 {
        return Err("short index file");
    }
    let (body, crc) = b.split_at(b.len() - 4);
    if crc32c::crc32c(body) != u32_at(crc, 0) {
        return Err("index checksum mismatch");
    }
    if &body[0..4] != INDEX_MAGIC || body[4] != FORMAT_VERSION {
        return Err("bad index magic or version");
    }
    let n = u32_at(body, 48) as usize;
    if body.len() != INDEX_HEADER_LEN + n * INDEX_ENTRY_LEN {
        return Err("index entry count mismatch");
    }
    let entries = body[INDEX_HEADER_LEN..]
        .chunks_exact(INDEX_ENTRY_LEN)
        .map(|c| IndexEntry {
            offset: u64_at(c, 0),
            position: u64_at(c, 8),
            timestamp_ms: i64_at(c, 16),
        })
        .collect();
    Ok(IndexFile {
        base_offset: u64_at(body, 8),
        log_len: u64_at(body, 16),
        next_offset: u64_at(body, 24),
        first_ts: ts_from_raw(i64_at(body, 32)),
        last_ts: ts_from_raw(i64_at(body, 40)),
        entries,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn crc_combine_matches_crc_of_concatenation() {
        let data: Vec<u8> = (0..70_000u32).map(|i| (i * 31 + i / 7) as u8).collect();
        for split in [0, 1, 3, 8, 24, 1000, 4096, 65_537, 70_000] {
            let (a, b) = data.split_at(split);
            let want = crc32c::crc32c(&data);
            let got = crc32c_combine(crc32c::crc32c(a), crc32c::crc32c(b), b.len());
            assert_eq!(got, want, "split at {split}");
            assert_eq!(
                got,
                crc32c::crc32c_combine(crc32c::crc32c(a), crc32c::crc32c(b), b.len())
            );
        }
    }

    #[test]
    fn batch_round_trip_and_crc_detects_flips() {
        let recs: Vec<(&[u8], &[u8])> = vec![(b"k1", b"v1"), (b"", b"value-two"), (b"k3", b"")];
        let mut buf = encode_batch_body(&recs).unwrap();
        let body_crc = crc32c::crc32c(&buf[BATCH_HEADER_LEN..]);
        seal_batch(&mut buf, 42, 3, 1234, body_crc, None);
        let h = verify_batch(&buf).unwrap();
        assert_eq!((h.base_offset, h.count, h.timestamp_ms), (42, 3, 1234));
        assert_eq!(h.total_len, buf.len() as u64);
        let got: Vec<_> = area_records(&buf[BATCH_HEADER_LEN..]).collect();
        assert_eq!(got, recs);
        for i in 4..buf.len() {
            let mut bad = buf.clone();
            bad[i] ^= 0x01;
            assert!(verify_batch(&bad).is_err(), "flip at {i} not detected");
        }
    }

    #[test]
    fn index_round_trip() {
        let f = IndexFile {
            base_offset: 7,
            log_len: 999,
            next_offset: 20,
            first_ts: Some(5),
            last_ts: None,
            entries: vec![IndexEntry {
                offset: 7,
                position: 32,
                timestamp_ms: 5,
            }],
        };
        let b = encode_index(&f);
        assert_eq!(decode_index(&b).unwrap(), f);
        let mut bad = b.clone();
        bad[60] ^= 1;
        assert!(decode_index(&bad).is_err());
    }

    #[test]
    fn names() {
        assert_eq!(log_name(5), "00000000000000000005.log");
        assert_eq!(parse_name("00000000000000000005.log"), Some((5, true)));
        assert_eq!(parse_name("00000000000000000005.idx"), Some((5, false)));
        assert_eq!(parse_name("5.log"), None);
        assert_eq!(parse_name("LOCK"), None);
    }
}
