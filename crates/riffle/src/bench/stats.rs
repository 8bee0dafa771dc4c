//! The pure parts of `riffle bench`: the latency histogram, the record
//! header, partition-key distributions and read-back verification.

use base64::Engine as _;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

// ---------------------------------------------------------------- histogram

/// 128 sub-buckets per power of two: every recorded value is reported within
/// 1% of itself, in a fixed 58 KiB whatever the number of samples.
const SUB_BITS: u32 = 7;
const SUB: usize = 1 << SUB_BITS;
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB;

/// A log-linear histogram of nanosecond values.
#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    count: u64,
    sum: u128,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            count: 0,
            sum: 0,
            max: 0,
        }
    }
}

fn bucket(v: u64) -> usize {
    if v < SUB as u64 {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros();
    let shift = exp - SUB_BITS;
    let sub = (v >> shift) as usize & (SUB - 1);
    ((shift as usize + 1) << SUB_BITS) + sub
}

/// The smallest and largest value that fall in bucket `i`.
fn bucket_range(i: usize) -> (u64, u64) {
    if i < SUB {
        return (i as u64, i as u64);
    }
    let shift = (i >> SUB_BITS) - 1;
    let low = ((SUB + (i & (SUB - 1))) as u64) << shift;
    (low, low + ((1u64 << shift) - 1))
}

impl Histogram {
    pub fn record(&mut self, nanos: u64) {
        if let Some(c) = self.counts.get_mut(bucket(nanos)) {
            *c += 1;
        }
        self.count += 1;
        self.sum += u128::from(nanos);
        self.max = self.max.max(nanos);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.max = self.max.max(other.max);
    }

    #[cfg(test)]
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The value at quantile `q` (0..=1): the middle of its bucket, never above the maximum.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        if rank == self.count {
            return self.max;
        }
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (lo, hi) = bucket_range(i);
                return (lo + (hi - lo) / 2).min(self.max);
            }
        }
        self.max
    }

    pub fn summary_ms(&self) -> LatencyMs {
        let ms = |n: u64| (n as f64 / 1e3).round() / 1e3;
        LatencyMs {
            samples: self.count,
            mean: if self.count == 0 {
                0.0
            } else {
                ms((self.sum / u128::from(self.count)) as u64)
            },
            p50: ms(self.quantile(0.50)),
            p90: ms(self.quantile(0.90)),
            p99: ms(self.quantile(0.99)),
            p999: ms(self.quantile(0.999)),
            max: ms(self.max),
        }
    }
}

/// Latency percentiles in milliseconds (microsecond resolution).
#[derive(Serialize, Clone, Debug, Default)]
pub struct LatencyMs {
    pub samples: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

// ---------------------------------------------------------------- records

/// Every record starts with this 24-byte header, so a reader can tell who
/// wrote it, in what order and when: magic, producer id, counter, send time.
pub const HEADER_BYTES: usize = 24;
/// 24 bytes are exactly 32 base64 characters, so the header's base64 can be
/// written before a payload encoded once up front.
pub const HEADER_B64: usize = 32;
const MAGIC: &[u8; 4] = b"RfB1";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub producer: u32,
    pub counter: u64,
    /// Nanoseconds since the run's start, when the write was sent.
    pub sent_ns: u64,
}

impl Header {
    pub fn to_bytes(self) -> [u8; HEADER_BYTES] {
        let mut b = [0u8; HEADER_BYTES];
        b[..4].copy_from_slice(MAGIC);
        b[4..8].copy_from_slice(&self.producer.to_le_bytes());
        b[8..16].copy_from_slice(&self.counter.to_le_bytes());
        b[16..24].copy_from_slice(&self.sent_ns.to_le_bytes());
        b
    }

    pub fn from_bytes(b: &[u8]) -> Option<Header> {
        if b.len() < HEADER_BYTES || &b[..4] != MAGIC {
            return None;
        }
        let u32_at = |i: usize| b.get(i..i + 4)?.try_into().ok().map(u32::from_le_bytes);
        let u64_at = |i: usize| b.get(i..i + 8)?.try_into().ok().map(u64::from_le_bytes);
        Some(Header {
            producer: u32_at(4)?,
            counter: u64_at(8)?,
            sent_ns: u64_at(16)?,
        })
    }

    /// Appends the header's 32 base64 characters to `out`.
    pub fn push_b64(self, out: &mut String) {
        base64::engine::general_purpose::STANDARD.encode_string(self.to_bytes(), out);
    }

    /// Decodes the header from the start of a record's base64 `Data`.
    pub fn from_b64(data: &str) -> Option<Header> {
        let prefix = data.get(..HEADER_B64)?;
        let mut b = [0u8; HEADER_BYTES];
        base64::engine::general_purpose::STANDARD
            .decode_slice(prefix, &mut b)
            .ok()?;
        Header::from_bytes(&b)
    }
}

/// The base64 of a record's payload after its header (a fixed filler), encoded once.
pub fn payload_b64(record_bytes: usize) -> String {
    let filler: Vec<u8> = (0..record_bytes.saturating_sub(HEADER_BYTES))
        .map(|i| b'a' + (i % 26) as u8)
        .collect();
    base64::engine::general_purpose::STANDARD.encode(filler)
}

/// The decoded length of standard, padded base64 text.
pub fn b64_decoded_len(s: &str) -> usize {
    let pad = s.bytes().rev().take(2).filter(|&b| b == b'=').count();
    (s.len() / 4 * 3).saturating_sub(pad)
}

// ---------------------------------------------------------------- keys

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyDist {
    /// Every record a key of its own (`p{producer}-{counter}`).
    Unique,
    /// Keys drawn uniformly from `--keys`.
    Uniform,
    /// `--hot-fraction` of records on one key, the rest uniform.
    Hot,
    /// Zipf-like: key k drawn with weight 1/(k+1)^s.
    Zipf,
}

/// A small, fast, seedable generator (SplitMix64): the bench must not spend
/// its CPU on randomness, and tests want determinism.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n.max(1))) >> 64) as u64
    }
}

/// Draws partition keys from a distribution.
#[derive(Clone, Debug)]
pub struct KeyGen {
    dist: KeyDist,
    keys: u64,
    hot_fraction: f64,
    /// Zipf: cumulative weights, normalised to end at 1.
    cdf: Arc<Vec<f64>>,
    rng: Rng,
}

impl KeyGen {
    pub fn new(dist: KeyDist, keys: u64, hot_fraction: f64, zipf_s: f64, seed: u64) -> KeyGen {
        let keys = keys.max(1);
        let cdf = if dist == KeyDist::Zipf {
            let mut acc = 0.0;
            let mut cdf: Vec<f64> = (0..keys)
                .map(|k| {
                    acc += 1.0 / ((k + 1) as f64).powf(zipf_s);
                    acc
                })
                .collect();
            for c in &mut cdf {
                *c /= acc;
            }
            cdf
        } else {
            Vec::new()
        };
        KeyGen {
            dist,
            keys,
            hot_fraction,
            cdf: Arc::new(cdf),
            rng: Rng::new(seed),
        }
    }

    /// A generator with the same distribution and its own random sequence.
    pub fn fork(&self, seed: u64) -> KeyGen {
        KeyGen {
            rng: Rng::new(seed),
            ..self.clone()
        }
    }

    /// The key index for the next record (`None`: unique key).
    pub fn next_index(&mut self) -> Option<u64> {
        match self.dist {
            KeyDist::Unique => None,
            KeyDist::Uniform => Some(self.rng.below(self.keys)),
            KeyDist::Hot => {
                if self.rng.next_f64() < self.hot_fraction {
                    Some(0)
                } else {
                    Some(self.rng.below(self.keys))
                }
            }
            KeyDist::Zipf => {
                let u = self.rng.next_f64();
                let i = self.cdf.partition_point(|&c| c < u);
                Some((i as u64).min(self.keys - 1))
            }
        }
    }

    /// Appends the next partition key to `out`.
    pub fn push_key(&mut self, producer: u32, counter: u64, out: &mut String) {
        // Writing to a String cannot fail.
        let _ = match self.next_index() {
            None => write!(out, "p{producer}-{counter}"),
            Some(k) => write!(out, "k{k}"),
        };
    }
}

// ---------------------------------------------------------------- verification

/// A growable set of counters.
#[derive(Clone, Debug, Default)]
pub struct BitSet(Vec<u64>);

impl BitSet {
    /// Sets bit `i`; returns whether it was already set.
    pub fn insert(&mut self, i: u64) -> bool {
        let (w, b) = ((i / 64) as usize, i % 64);
        if self.0.len() <= w {
            self.0.resize(w + 1, 0);
        }
        let was = self.0[w] & (1 << b) != 0;
        self.0[w] |= 1 << b;
        was
    }

    pub fn contains(&self, i: u64) -> bool {
        self.0
            .get((i / 64) as usize)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    pub fn len(&self) -> u64 {
        self.0.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    /// |self \ other|
    pub fn count_not_in(&self, other: &BitSet) -> u64 {
        self.0
            .iter()
            .enumerate()
            .map(|(i, w)| u64::from((w & !other.0.get(i).copied().unwrap_or(0)).count_ones()))
            .sum()
    }

    /// |self ∩ other|
    pub fn count_both(&self, other: &BitSet) -> u64 {
        self.0
            .iter()
            .zip(&other.0)
            .map(|(a, b)| u64::from((a & b).count_ones()))
            .sum()
    }

    pub fn union_with(&mut self, other: &BitSet) {
        if self.0.len() < other.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a |= b;
        }
    }
}

/// What one reader saw: which (producer, counter) pairs, how often, in what
/// order per shard.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    seen: HashMap<u32, BitSet>,
    /// Highest counter seen per (shard, producer).
    last: HashMap<(usize, u32), u64>,
    pub records: u64,
    pub duplicated: u64,
    pub reordered: u64,
    pub malformed: u64,
}

impl Seen {
    /// One record read from `shard`: duplicated if seen before, reordered if a
    /// lower counter than one already read from the same producer on this shard.
    pub fn observe(&mut self, shard: usize, h: Header) {
        self.records += 1;
        if self.seen.entry(h.producer).or_default().insert(h.counter) {
            self.duplicated += 1;
            return;
        }
        let last = self.last.entry((shard, h.producer)).or_insert(h.counter);
        if h.counter < *last {
            self.reordered += 1;
        } else {
            *last = h.counter;
        }
    }

    pub fn malformed(&mut self) {
        self.records += 1;
        self.malformed += 1;
    }

    #[cfg(test)]
    pub fn unique(&self) -> u64 {
        self.seen.values().map(BitSet::len).sum()
    }

    /// Folds in another reader's view of other shards of the same stream:
    /// a record both saw is a duplicate.
    pub fn merge(&mut self, other: &Seen) {
        for (p, bits) in &other.seen {
            let mine = self.seen.entry(*p).or_default();
            self.duplicated += mine.count_both(bits);
            mine.union_with(bits);
        }
        for (k, v) in &other.last {
            self.last.insert(*k, *v);
        }
        self.records += other.records;
        self.duplicated += other.duplicated;
        self.reordered += other.reordered;
        self.malformed += other.malformed;
    }

    /// Compares against what the producers had acknowledged (`acked[p]`).
    /// Without acknowledgements (reading a stream this run did not write),
    /// every counter below each producer's highest is expected.
    pub fn verify(&self, acked: Option<&HashMap<u32, BitSet>>) -> Verify {
        let mut v = Verify {
            records_read: self.records,
            duplicated: self.duplicated,
            reordered: self.reordered,
            malformed: self.malformed,
            ..Verify::default()
        };
        let empty = BitSet::default();
        match acked {
            Some(acked) => {
                for (p, want) in acked {
                    let got = self.seen.get(p).unwrap_or(&empty);
                    v.expected += want.len();
                    v.lost += want.count_not_in(got);
                }
                for (p, got) in &self.seen {
                    let want = acked.get(p).unwrap_or(&empty);
                    v.unacknowledged += got.count_not_in(want);
                }
            }
            None => {
                for got in self.seen.values() {
                    let max = got.0.len() as u64 * 64;
                    let top = (0..max)
                        .rev()
                        .find(|&i| got.contains(i))
                        .map_or(0, |i| i + 1);
                    v.expected += top;
                    v.lost += top - got.len();
                }
            }
        }
        v
    }
}

/// Read-back verification counts.
#[derive(Serialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Verify {
    /// Records the producers had acknowledged.
    pub expected: u64,
    pub records_read: u64,
    /// Acknowledged but never read.
    pub lost: u64,
    /// Read more than once.
    pub duplicated: u64,
    /// Read after a later record of the same producer on the same shard.
    pub reordered: u64,
    /// Read but never acknowledged (e.g. a write whose response was lost).
    pub unacknowledged: u64,
    /// Not written by `riffle bench`.
    pub malformed: u64,
}

impl Verify {
    pub fn add(&mut self, o: &Verify) {
        self.expected += o.expected;
        self.records_read += o.records_read;
        self.lost += o.lost;
        self.duplicated += o.duplicated;
        self.reordered += o.reordered;
        self.unacknowledged += o.unacknowledged;
        self.malformed += o.malformed;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_tight() {
        let mut prev_hi = None;
        for i in 0..BUCKETS {
            let (lo, hi) = bucket_range(i);
            if let Some(p) = prev_hi {
                assert_eq!(lo, p + 1, "bucket {i}");
            }
            assert_eq!(bucket(lo), i);
            assert_eq!(bucket(hi), i);
            assert!((hi - lo) as f64 <= lo as f64 / 100.0 + 1.0);
            prev_hi = Some(hi);
            if hi == u64::MAX {
                break;
            }
        }
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn percentiles_within_one_percent() {
        let mut h = Histogram::default();
        for us in 1..=10_000u64 {
            h.record(us * 1000);
        }
        let near = |got: u64, want: u64| (got as f64 - want as f64).abs() <= want as f64 * 0.01;
        assert!(near(h.quantile(0.5), 5_000_000), "{}", h.quantile(0.5));
        assert!(near(h.quantile(0.99), 9_900_000));
        assert!(near(h.quantile(0.999), 9_990_000));
        assert_eq!(h.quantile(1.0), 10_000_000);
        let s = h.summary_ms();
        assert_eq!(s.max, 10.0);
        assert_eq!(s.samples, 10_000);
        assert!((s.mean - 5.0005).abs() < 0.001);

        let mut a = Histogram::default();
        let mut b = Histogram::default();
        a.record(1);
        b.record(1_000_000);
        a.merge(&b);
        assert_eq!(a.count(), 2);
        assert_eq!(a.quantile(0.5), 1);
        assert_eq!(a.quantile(0.99), 1_000_000);
        assert_eq!(Histogram::default().quantile(0.5), 0);
    }

    #[test]
    fn header_round_trips_through_base64_prefix() {
        let h = Header {
            producer: 7,
            counter: 123_456_789,
            sent_ns: 42,
        };
        let mut s = String::new();
        h.push_b64(&mut s);
        assert_eq!(s.len(), HEADER_B64);
        s.push_str(&payload_b64(100));
        let whole = base64::engine::general_purpose::STANDARD
            .decode(&s)
            .unwrap();
        assert_eq!(whole.len(), 100);
        assert_eq!(b64_decoded_len(&s), 100);
        assert_eq!(Header::from_bytes(&whole), Some(h));
        assert_eq!(Header::from_b64(&s), Some(h));
        assert_eq!(Header::from_b64("aGVsbG8="), None);
        assert_eq!(Header::from_b64(&"A".repeat(40)), None);
        assert_eq!(b64_decoded_len("aGk="), 2);
        assert_eq!(b64_decoded_len("aA=="), 1);
    }

    #[test]
    fn uniform_keys_cover_the_range_evenly() {
        let mut g = KeyGen::new(KeyDist::Uniform, 10, 0.0, 1.0, 1);
        let mut counts = [0u32; 10];
        for _ in 0..100_000 {
            counts[g.next_index().unwrap() as usize] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn hot_key_takes_its_fraction() {
        let mut g = KeyGen::new(KeyDist::Hot, 1000, 0.8, 1.0, 2);
        let hot = (0..100_000).filter(|_| g.next_index() == Some(0)).count();
        // 80% plus key 0's share of the uniform 20%.
        assert!((79_000..81_500).contains(&hot), "{hot}");
    }

    #[test]
    fn zipf_keys_fall_off_as_one_over_rank() {
        let mut g = KeyGen::new(KeyDist::Zipf, 100, 0.0, 1.0, 3);
        let mut counts = vec![0u32; 100];
        for _ in 0..200_000 {
            counts[g.next_index().unwrap() as usize] += 1;
        }
        let ratio = |a: usize, b: usize| counts[a] as f64 / counts[b] as f64;
        assert!((1.8..2.2).contains(&ratio(0, 1)), "{counts:?}");
        assert!((3.6..4.4).contains(&ratio(0, 3)), "{counts:?}");
        assert!(counts[99] > 0);
    }

    #[test]
    fn unique_keys_name_producer_and_counter() {
        let mut g = KeyGen::new(KeyDist::Unique, 1, 0.0, 1.0, 4);
        let mut s = String::new();
        g.push_key(3, 99, &mut s);
        assert_eq!(s, "p3-99");
        let mut u = KeyGen::new(KeyDist::Uniform, 1, 0.0, 1.0, 4);
        s.clear();
        u.push_key(3, 99, &mut s);
        assert_eq!(s, "k0");
    }

    fn h(producer: u32, counter: u64) -> Header {
        Header {
            producer,
            counter,
            sent_ns: 0,
        }
    }

    #[test]
    fn verification_counts_lost_duplicated_reordered() {
        let mut acked = HashMap::new();
        let mut a0 = BitSet::default();
        for i in 0..10 {
            a0.insert(i);
        }
        acked.insert(0, a0);
        let mut seen = Seen::default();
        for c in [0, 1, 2, 2, 4, 3, 5, 6, 8, 9] {
            seen.observe(0, h(0, c));
        }
        seen.observe(0, h(1, 0)); // never acknowledged
        seen.malformed();
        let v = seen.verify(Some(&acked));
        assert_eq!(
            v,
            Verify {
                expected: 10,
                records_read: 12,
                lost: 1,       // 7
                duplicated: 1, // the second 2
                reordered: 1,  // 3 after 4
                unacknowledged: 1,
                malformed: 1,
            }
        );
    }

    #[test]
    fn order_is_per_shard_and_merge_finds_cross_reader_duplicates() {
        let mut a = Seen::default();
        let mut b = Seen::default();
        // Producer 0 alternates shards: each shard is in order on its own.
        a.observe(0, h(0, 0));
        a.observe(0, h(0, 2));
        a.observe(0, h(0, 3));
        b.observe(1, h(0, 1));
        b.observe(1, h(0, 3)); // read by both readers
        a.merge(&b);
        let v = a.verify(None);
        assert_eq!(v.reordered, 0);
        assert_eq!(v.duplicated, 1);
        assert_eq!(v.expected, 4);
        assert_eq!(v.lost, 0);
        assert_eq!(a.unique(), 4);

        let mut gap = Seen::default();
        gap.observe(0, h(0, 0));
        gap.observe(0, h(0, 5));
        assert_eq!(gap.verify(None).lost, 4);
    }
}
