//! Counters behind the CloudWatch-style metrics (rendered as Prometheus text
//! by the server; this crate knows no HTTP). Every update is a relaxed
//! atomic on a struct the request already holds: one per stream, looked up
//! with the stream, and one per shard, inside its handle.

pub use riffle_log::{
    fault_stats, fsync_stats, sealed_file_stats, FaultStats, HistogramSnapshot, MicrosHistogram,
    SealedFileStats, LATENCY_BOUNDS_MICROS,
};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    pub(crate) fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
}

/// A value that goes up and down (the latest one observed).
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }

    pub(crate) fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }
}

/// A latency histogram (microsecond buckets, see [`riffle_log::LATENCY_BOUNDS_MICROS`]).
#[derive(Debug, Default)]
pub struct Latency(MicrosHistogram);

impl Latency {
    pub fn snapshot(&self) -> HistogramSnapshot {
        self.0.snapshot()
    }

    pub(crate) fn since(&self, started: Instant) {
        self.0.observe_since(started);
    }
}

/// Stream-level metrics, named after Kinesis's CloudWatch metrics. Counted
/// since the process started (or the stream was created). Latencies are of
/// successful calls, measured in the engine until the records were durable
/// (puts) or read (GetRecords).
#[derive(Debug, Default)]
pub struct StreamMetrics {
    /// `GetRecords.Success`, `.Records`, `.Bytes` (data + partition keys), `.Latency`.
    pub get_records_success: Counter,
    pub get_records_records: Counter,
    pub get_records_bytes: Counter,
    pub get_records_latency: Latency,
    /// `GetRecords.IteratorAgeMilliseconds`: MillisBehindLatest of the latest GetRecords.
    pub get_records_iterator_age_ms: Gauge,
    /// `IncomingBytes` / `IncomingRecords`: successfully put, by PutRecord and PutRecords.
    pub incoming_bytes: Counter,
    pub incoming_records: Counter,
    /// `PutRecord.Success`, `.Bytes`, `.Latency`.
    pub put_record_success: Counter,
    pub put_record_bytes: Counter,
    pub put_record_latency: Latency,
    /// `PutRecords.Success` (requests with at least one record stored), `.Bytes`
    /// (stored records), `.Latency`, and the per-record outcomes.
    pub put_records_success: Counter,
    pub put_records_bytes: Counter,
    pub put_records_latency: Latency,
    pub put_records_total_records: Counter,
    pub put_records_successful_records: Counter,
    pub put_records_failed_records: Counter,
    pub put_records_throttled_records: Counter,
    /// `ReadProvisionedThroughputExceeded`: GetRecords calls refused by the limits.
    pub read_throttled: Counter,
    /// `WriteProvisionedThroughputExceeded`: records refused by the limits.
    pub write_throttled: Counter,
    /// `SubscribeToShard.RateExceeded`: subscriptions refused (one already live).
    pub subscribe_rate_exceeded: Counter,
    /// `SubscribeToShardEvent.Records`, `.Bytes`, `.MillisBehindLatest` (latest),
    /// and the number of events with records.
    pub subscribe_events: Counter,
    pub subscribe_event_records: Counter,
    pub subscribe_event_bytes: Counter,
    pub subscribe_event_millis_behind: Gauge,
}

impl StreamMetrics {
    pub(crate) fn subscribe_event(&self, records: usize, bytes: u64, millis_behind: i64) {
        self.subscribe_events.add(1);
        self.subscribe_event_records.add(records as u64);
        self.subscribe_event_bytes.add(bytes);
        self.subscribe_event_millis_behind.set(millis_behind);
    }
}

impl StreamMetrics {
    pub(crate) fn put_record_ok(&self, bytes: usize, started: Instant) {
        let bytes = bytes as u64;
        self.put_record_success.add(1);
        self.put_record_bytes.add(bytes);
        self.incoming_records.add(1);
        self.incoming_bytes.add(bytes);
        self.put_record_latency.since(started);
    }

    /// One PutRecords request's outcome.
    pub(crate) fn put_records_done(
        &self,
        total: usize,
        stored: usize,
        stored_bytes: u64,
        throttled: usize,
        started: Instant,
    ) {
        self.put_records_total_records.add(total as u64);
        self.put_records_successful_records.add(stored as u64);
        self.put_records_failed_records
            .add(total.saturating_sub(stored + throttled) as u64);
        self.put_records_throttled_records.add(throttled as u64);
        self.write_throttled.add(throttled as u64);
        if stored > 0 {
            self.put_records_success.add(1);
            self.put_records_bytes.add(stored_bytes);
            self.incoming_records.add(stored as u64);
            self.incoming_bytes.add(stored_bytes);
            self.put_records_latency.since(started);
        }
    }

    pub(crate) fn get_records_ok(
        &self,
        records: usize,
        bytes: u64,
        millis_behind: i64,
        started: Instant,
    ) {
        self.get_records_success.add(1);
        self.get_records_records.add(records as u64);
        self.get_records_bytes.add(bytes);
        self.get_records_iterator_age_ms.set(millis_behind);
        self.get_records_latency.since(started);
    }
}

/// Shard-level counters (the enhanced-monitoring set). Incoming counts live
/// in the shard handle already (the autoscaler samples them).
#[derive(Debug, Default)]
pub(crate) struct ShardMetrics {
    pub(crate) outgoing_records: Counter,
    pub(crate) outgoing_bytes: Counter,
    pub(crate) write_throttled: Counter,
    pub(crate) read_throttled: Counter,
    pub(crate) iterator_age_ms: Gauge,
}

impl ShardMetrics {
    /// One read of `records` (GetRecords or a SubscribeToShard event); `age_ms`
    /// is how old the last record read is (0 when none were).
    pub(crate) fn read(&self, records: usize, bytes: u64, age_ms: i64) {
        self.outgoing_records.add(records as u64);
        self.outgoing_bytes.add(bytes);
        self.iterator_age_ms.set(age_ms);
    }
}

/// Everything `/metrics` shows about the engine, taken at one scrape.
#[derive(Debug, Default)]
pub struct MetricsSnapshot {
    pub streams: Vec<StreamSnapshot>,
    pub live_subscriptions: usize,
    /// Size of the metadata database file.
    pub meta_bytes: u64,
    /// Shards whose log refuses writes (poisoned or damaged).
    pub degraded_shards: usize,
}

#[derive(Debug)]
pub struct StreamSnapshot {
    pub name: String,
    pub metrics: std::sync::Arc<StreamMetrics>,
    /// The shard-level metrics EnableEnhancedMonitoring turned on (AWS names).
    pub shard_level_metrics: Vec<String>,
    pub open_shards: usize,
    pub consumers: usize,
    pub shards: Vec<ShardSnapshot>,
}

impl StreamSnapshot {
    /// True when EnableEnhancedMonitoring turned `metric` (e.g. `IncomingBytes`) on.
    pub fn shard_metric_enabled(&self, metric: &str) -> bool {
        self.shard_level_metrics.iter().any(|m| m == metric)
    }
}

#[derive(Clone, Debug, Default)]
pub struct ShardSnapshot {
    pub shard_id: String,
    pub open: bool,
    pub incoming_records: u64,
    pub incoming_bytes: u64,
    pub outgoing_records: u64,
    pub outgoing_bytes: u64,
    pub write_throttled: u64,
    pub read_throttled: u64,
    pub iterator_age_ms: i64,
    pub disk_bytes: u64,
    pub segments: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_records_outcomes_add_up() {
        let m = StreamMetrics::default();
        let t = Instant::now();
        m.put_records_done(10, 6, 600, 3, t);
        m.put_records_done(2, 0, 0, 2, t);
        m.put_record_ok(50, t);
        assert_eq!(m.put_records_total_records.get(), 12);
        assert_eq!(m.put_records_successful_records.get(), 6);
        assert_eq!(m.put_records_throttled_records.get(), 5);
        assert_eq!(m.put_records_failed_records.get(), 1);
        assert_eq!(m.write_throttled.get(), 5);
        // A request that stored nothing is not a success and has no latency.
        assert_eq!(m.put_records_success.get(), 1);
        assert_eq!(m.put_records_latency.snapshot().count, 1);
        assert_eq!(m.incoming_records.get(), 7);
        assert_eq!(m.incoming_bytes.get(), 650);
    }
}
