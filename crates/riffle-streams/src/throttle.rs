//! Per-shard provisioned throughput: token buckets for the AWS limits.
//!
//! Each shard has its own limiter (held by its `ShardHandle`):
//! * writes: 1 MiB/s of data + partition key bytes, and 1,000 records/s;
//! * shared reads (GetRecords): 5 calls/s, and 2 MiB/s of returned bytes.
//!
//! Burst allowance: a write or call bucket holds at most one second of its rate,
//! so an idle shard takes 1 MiB / 1,000 records / 5 calls at once and then the
//! steady rate; over any window of T seconds a shard accepts at most
//! `rate × (T + 1)`. A write larger than the capacity (records may be up to 10 MiB)
//! is admitted only from a full bucket and leaves it in debt, so large records
//! burst but average back to the rate, as AWS documents.
//!
//! The read-bytes bucket holds no credit at all, only debt: the size of a read is
//! unknown until it is done, so each GetRecords is charged afterwards and the next
//! one is refused until the debt is repaid at 2 MiB/s. A 10 MiB read thus blocks
//! reads for the next 5 s, exactly AWS's documented behaviour for GetRecords.
//!
//! Time is passed in (`now_ms`) so the buckets are deterministic under test.
//! Refused requests consume nothing.

use parking_lot::Mutex;

pub(crate) const WRITE_BYTES_PER_SEC: u64 = 1024 * 1024;
pub(crate) const WRITE_RECORDS_PER_SEC: u64 = 1000;
pub(crate) const READ_BYTES_PER_SEC: u64 = 2 * 1024 * 1024;
pub(crate) const READ_CALLS_PER_SEC: u64 = 5;

/// A token bucket whose level may go negative (debt). Levels are kept in
/// thousandths of a token so refill is exact integer arithmetic per millisecond.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    /// Tokens per second = thousandths of a token per millisecond.
    rate: i128,
    /// Maximum level, in thousandths of a token.
    capacity: i128,
    /// Current level, in thousandths of a token; negative is debt.
    level: i128,
    last_ms: i64,
}

impl TokenBucket {
    /// A full bucket refilling at `rate_per_sec`, holding at most `burst` tokens.
    pub(crate) fn new(rate_per_sec: u64, burst: u64) -> TokenBucket {
        TokenBucket {
            rate: i128::from(rate_per_sec),
            capacity: i128::from(burst) * 1000,
            level: i128::from(burst) * 1000,
            // Full already, so the first use may come at any time.
            last_ms: i64::MIN,
        }
    }

    fn refill(&mut self, now_ms: i64) {
        // A clock that steps backwards neither refills nor drains.
        let elapsed = i128::from(now_ms.saturating_sub(self.last_ms).max(0));
        self.last_ms = self.last_ms.max(now_ms);
        self.level = (self.level + elapsed * self.rate).min(self.capacity);
    }

    /// Whether `cost` tokens may be taken now: the bucket must hold the cost, or
    /// be full when the cost exceeds the capacity. A zero cost asks "no debt?".
    fn can_take(&mut self, now_ms: i64, cost: u64) -> bool {
        self.refill(now_ms);
        self.level >= (i128::from(cost) * 1000).min(self.capacity)
    }

    /// Takes `cost` tokens unconditionally; the level may go into debt.
    fn charge(&mut self, now_ms: i64, cost: u64) {
        self.refill(now_ms);
        self.level -= i128::from(cost) * 1000;
    }

    /// Takes `cost` tokens if [`Self::can_take`] allows it.
    #[cfg(test)]
    fn try_take(&mut self, now_ms: i64, cost: u64) -> bool {
        let ok = self.can_take(now_ms, cost);
        if ok {
            self.charge(now_ms, cost);
        }
        ok
    }
}

#[derive(Debug)]
struct Buckets {
    write_bytes: TokenBucket,
    write_records: TokenBucket,
    read_bytes: TokenBucket,
    read_calls: TokenBucket,
}

/// The four buckets of one shard, behind one lock.
#[derive(Debug)]
pub(crate) struct ShardLimiter {
    buckets: Mutex<Buckets>,
}

impl ShardLimiter {
    /// Full buckets: a new or reopened shard starts with its burst available.
    pub(crate) fn new() -> ShardLimiter {
        ShardLimiter {
            buckets: Mutex::new(Buckets {
                write_bytes: TokenBucket::new(WRITE_BYTES_PER_SEC, WRITE_BYTES_PER_SEC),
                write_records: TokenBucket::new(WRITE_RECORDS_PER_SEC, WRITE_RECORDS_PER_SEC),
                read_bytes: TokenBucket::new(READ_BYTES_PER_SEC, 0),
                read_calls: TokenBucket::new(READ_CALLS_PER_SEC, READ_CALLS_PER_SEC),
            }),
        }
    }

    /// Admits one record of `bytes` (data + partition key) against both write
    /// limits, or neither.
    pub(crate) fn admit_write(&self, now_ms: i64, bytes: u64) -> bool {
        let mut b = self.buckets.lock();
        if b.write_bytes.can_take(now_ms, bytes) && b.write_records.can_take(now_ms, 1) {
            b.write_bytes.charge(now_ms, bytes);
            b.write_records.charge(now_ms, 1);
            true
        } else {
            false
        }
    }

    /// Admits one GetRecords call: a call token is free and no read debt is owed.
    /// The caller charges the bytes it returns with [`Self::charge_read`].
    pub(crate) fn admit_read(&self, now_ms: i64) -> bool {
        let mut b = self.buckets.lock();
        if b.read_bytes.can_take(now_ms, 0) && b.read_calls.can_take(now_ms, 1) {
            b.read_calls.charge(now_ms, 1);
            true
        } else {
            false
        }
    }

    /// Charges the bytes a GetRecords returned; may leave the shard in read debt.
    pub(crate) fn charge_read(&self, now_ms: i64, bytes: u64) {
        self.buckets.lock().read_bytes.charge(now_ms, bytes);
    }
}

/// Control-plane request rates (CreateStream, DescribeStream, ListShards...):
/// one bucket per operation and scope (the account, a stream or a shard,
/// as AWS documents each limit), each holding one second of its rate, the
/// same 1-second burst as the data-plane buckets.
#[derive(Debug, Default)]
pub(crate) struct ControlLimiter {
    buckets: Mutex<std::collections::HashMap<String, TokenBucket>>,
}

/// Idle buckets are dropped once this many exist (a full bucket carries no
/// state), so per-shard keys of deleted streams do not pile up.
const CONTROL_BUCKETS_PRUNE_AT: usize = 4096;

impl ControlLimiter {
    /// Takes one call from the bucket of `key` (refilling at `rate_per_sec`).
    pub(crate) fn admit(&self, key: &str, rate_per_sec: u64, now_ms: i64) -> bool {
        let mut buckets = self.buckets.lock();
        if buckets.len() >= CONTROL_BUCKETS_PRUNE_AT && !buckets.contains_key(key) {
            buckets.retain(|_, b| !b.is_full(now_ms));
        }
        let bucket = buckets
            .entry(key.to_string())
            .or_insert_with(|| TokenBucket::new(rate_per_sec, rate_per_sec));
        let ok = bucket.can_take(now_ms, 1);
        if ok {
            bucket.charge(now_ms, 1);
        }
        ok
    }
}

impl TokenBucket {
    fn is_full(&mut self, now_ms: i64) -> bool {
        self.refill(now_ms);
        self.level >= self.capacity
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn control_limiter_bursts_one_second_per_key() {
        let l = ControlLimiter::default();
        assert_eq!(
            (0..20).filter(|_| l.admit("DescribeStream", 10, 0)).count(),
            10
        );
        assert!(
            l.admit("ListShards/s", 1000, 0),
            "another key has its own bucket"
        );
        assert!(!l.admit("DescribeStream", 10, 99));
        assert!(l.admit("DescribeStream", 10, 100));
    }

    #[test]
    fn bucket_allows_the_burst_then_the_rate() {
        let mut b = TokenBucket::new(10, 10);
        assert_eq!((0..20).filter(|_| b.try_take(0, 1)).count(), 10);
        assert!(!b.try_take(99, 1), "0.99 tokens refilled");
        assert!(b.try_take(100, 1));
        assert!(!b.try_take(100, 1));
        // Idle time refills at most to the capacity.
        assert_eq!((0..20).filter(|_| b.try_take(60_000, 1)).count(), 10);
    }

    #[test]
    fn bucket_never_exceeds_burst_plus_rate_times_time() {
        let mut b = TokenBucket::new(1000, 1000);
        let mut taken = 0u64;
        for now in 0..5_000 {
            while b.try_take(now, 3) {
                taken += 3;
            }
        }
        // Over 5 s: at most 1,000 burst + 5 × 1,000.
        assert!(taken <= 6000, "{taken}");
        assert!(taken >= 5990, "{taken}");
    }

    #[test]
    fn oversized_cost_needs_a_full_bucket_and_leaves_debt() {
        let mut b = TokenBucket::new(MIB, MIB);
        assert!(
            b.try_take(0, 3 * MIB),
            "a full bucket admits a 3 MiB record"
        );
        // 2 MiB of debt: 2 s until anything is admitted, and 1 s more until the
        // bucket is full again for the next 3 MiB record.
        assert!(!b.try_take(1_999, 1));
        assert!(!b.try_take(2_999, 3 * MIB));
        assert!(b.try_take(3_000, 3 * MIB));
        // Not full (one byte short): refused.
        let mut b = TokenBucket::new(MIB, MIB);
        assert!(b.try_take(0, 1));
        assert!(!b.try_take(0, 2 * MIB));
    }

    #[test]
    fn backwards_clock_does_not_refill() {
        let mut b = TokenBucket::new(10, 10);
        for _ in 0..10 {
            assert!(b.try_take(1_000, 1));
        }
        assert!(!b.try_take(0, 1));
        assert!(!b.try_take(1_000, 1));
        assert!(b.try_take(1_100, 1));
    }

    #[test]
    fn writes_limited_by_records_per_second() {
        let l = ShardLimiter::new();
        assert_eq!((0..1500).filter(|_| l.admit_write(0, 10)).count(), 1000);
        assert!(!l.admit_write(0, 10));
        assert_eq!((0..1500).filter(|_| l.admit_write(500, 10)).count(), 500);
    }

    #[test]
    fn writes_limited_by_bytes_per_second() {
        let l = ShardLimiter::new();
        let rec = 10 * 1024;
        // 1 MiB holds 102.4 records of 10 KiB.
        assert_eq!((0..500).filter(|_| l.admit_write(0, rec)).count(), 102);
        // A refused record takes no record token either: small ones still fit.
        assert!(l.admit_write(0, 4 * 1024));
        assert!(!l.admit_write(0, 1024));
        assert!(l.admit_write(1, 1024));
        // 1 s later exactly one second of bytes is back.
        assert_eq!((0..500).filter(|_| l.admit_write(1_001, rec)).count(), 102);
    }

    #[test]
    fn reads_limited_to_five_calls_per_second() {
        let l = ShardLimiter::new();
        assert_eq!((0..10).filter(|_| l.admit_read(0)).count(), 5);
        assert!(!l.admit_read(199));
        assert!(l.admit_read(200));
        assert!(!l.admit_read(200));
    }

    #[test]
    fn a_ten_mib_read_blocks_reads_for_five_seconds() {
        let l = ShardLimiter::new();
        assert!(l.admit_read(0));
        l.charge_read(0, 10 * MIB);
        for t in [1, 1_000, 4_000, 4_999] {
            assert!(!l.admit_read(t), "read at {t} ms");
        }
        assert!(l.admit_read(5_000));
        // Small reads: 1 MiB costs 0.5 s.
        l.charge_read(5_000, MIB);
        assert!(!l.admit_read(5_499));
        assert!(l.admit_read(5_500));
        // Reads and writes are independent.
        l.charge_read(5_500, 100 * MIB);
        assert!(l.admit_write(5_500, MIB));
    }
}
