//! Lock-free latency histograms, and the process-wide fsync statistics that
//! every [`crate::ShardLog`] feeds (read by the server's `/metrics`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Upper bounds of the histogram buckets, in microseconds (50 µs to 10 s);
/// one more bucket above the last catches everything else (`+Inf`).
pub const LATENCY_BOUNDS_MICROS: [u64; 16] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 10_000_000,
];

const BUCKETS: usize = LATENCY_BOUNDS_MICROS.len() + 1;

/// A fixed-bucket histogram of durations: one relaxed atomic add per bucket,
/// count and sum, so concurrent observers never wait for each other.
#[derive(Debug)]
pub struct MicrosHistogram {
    buckets: [AtomicU64; BUCKETS],
    count: AtomicU64,
    sum_micros: AtomicU64,
    max_micros: AtomicU64,
}

impl Default for MicrosHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl MicrosHistogram {
    pub const fn new() -> Self {
        MicrosHistogram {
            buckets: [const { AtomicU64::new(0) }; BUCKETS],
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
            max_micros: AtomicU64::new(0),
        }
    }

    pub fn observe_micros(&self, micros: u64) {
        let i = LATENCY_BOUNDS_MICROS.partition_point(|&b| b < micros);
        if let Some(b) = self.buckets.get(i) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
        self.max_micros.fetch_max(micros, Ordering::Relaxed);
    }

    /// Observes the time elapsed since `started`.
    pub fn observe_since(&self, started: Instant) {
        self.observe_micros(started.elapsed().as_micros().min(u128::from(u64::MAX)) as u64);
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut s = HistogramSnapshot {
            count: self.count.load(Ordering::Relaxed),
            sum_micros: self.sum_micros.load(Ordering::Relaxed),
            max_micros: self.max_micros.load(Ordering::Relaxed),
            buckets: [0; BUCKETS],
        };
        for (d, b) in s.buckets.iter_mut().zip(&self.buckets) {
            *d = b.load(Ordering::Relaxed);
        }
        s
    }
}

/// A histogram's values at one moment. `buckets` are per bucket (not
/// cumulative); the last one counts observations above every bound.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HistogramSnapshot {
    pub count: u64,
    pub sum_micros: u64,
    pub max_micros: u64,
    pub buckets: [u64; BUCKETS],
}

impl HistogramSnapshot {
    /// Adds `other` into `self` (e.g. to total histograms of several series).
    pub fn merge(&mut self, other: &HistogramSnapshot) {
        self.count += other.count;
        self.sum_micros += other.sum_micros;
        self.max_micros = self.max_micros.max(other.max_micros);
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
    }
}

/// Every segment-file fdatasync of every log in this process. Process-wide
/// rather than per log so the totals stay monotonic when shards are deleted.
static FSYNC: MicrosHistogram = MicrosHistogram::new();

pub(crate) fn record_fsync(started: Instant) {
    FSYNC.observe_since(started);
}

/// Count and latency of the fdatasyncs of segment files since the process started.
pub fn fsync_stats() -> HistogramSnapshot {
    FSYNC.snapshot()
}

static POISONINGS: AtomicU64 = AtomicU64::new(0);
static RECOVERIES: AtomicU64 = AtomicU64::new(0);
static FAILED_RECOVERIES: AtomicU64 = AtomicU64::new(0);
static WRITE_FAILURES: AtomicU64 = AtomicU64::new(0);
static DAMAGED_OPENS: AtomicU64 = AtomicU64::new(0);

/// Storage faults of every log in this process since it started (monotonic counters,
/// process-wide for the same reason as [`fsync_stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Logs that became poisoned (a failed fdatasync or cleanup).
    pub poisonings: u64,
    /// Poisoned logs that recovered without a restart.
    pub recoveries: u64,
    /// Recovery attempts that failed (the log stayed poisoned).
    pub failed_recoveries: u64,
    /// Appends whose write failed (e.g. ENOSPC) and were answered with an error.
    pub write_failures: u64,
    /// Logs opened in the damaged, read-only state (corruption before the end of the
    /// active segment).
    pub damaged_opens: u64,
}

pub(crate) fn count_poisoning() {
    POISONINGS.fetch_add(1, Ordering::Relaxed);
}
pub(crate) fn count_recovery() {
    RECOVERIES.fetch_add(1, Ordering::Relaxed);
}
pub(crate) fn count_failed_recovery() {
    FAILED_RECOVERIES.fetch_add(1, Ordering::Relaxed);
}
pub(crate) fn count_write_failure() {
    WRITE_FAILURES.fetch_add(1, Ordering::Relaxed);
}
pub(crate) fn count_damaged_open() {
    DAMAGED_OPENS.fetch_add(1, Ordering::Relaxed);
}

/// Counts of storage faults since the process started (for `/metrics`).
pub fn fault_stats() -> FaultStats {
    FaultStats {
        poisonings: POISONINGS.load(Ordering::Relaxed),
        recoveries: RECOVERIES.load(Ordering::Relaxed),
        failed_recoveries: FAILED_RECOVERIES.load(Ordering::Relaxed),
        write_failures: WRITE_FAILURES.load(Ordering::Relaxed),
        damaged_opens: DAMAGED_OPENS.load(Ordering::Relaxed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_sum_and_max() {
        let h = MicrosHistogram::new();
        for m in [0, 50, 51, 999, 20_000_000] {
            h.observe_micros(m);
        }
        let s = h.snapshot();
        assert_eq!(s.count, 5);
        assert_eq!(s.sum_micros, 50 + 51 + 999 + 20_000_000);
        assert_eq!(s.max_micros, 20_000_000);
        // <=50: 0 and 50; <=100: 51; <=1000: 999; +Inf: 20 s.
        assert_eq!(s.buckets[0], 2);
        assert_eq!(s.buckets[1], 1);
        assert_eq!(s.buckets[4], 1);
        assert_eq!(s.buckets[BUCKETS - 1], 1);
        assert_eq!(s.buckets.iter().sum::<u64>(), s.count);
        let mut total = s;
        total.merge(&s);
        assert_eq!(total.count, 10);
        assert_eq!(total.buckets[0], 4);
    }
}
