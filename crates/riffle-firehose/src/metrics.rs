//! Per delivery stream counters under Firehose's CloudWatch metric names,
//! read by the edge at scrape time.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct StreamMetrics {
    pub incoming_bytes: AtomicU64,
    pub incoming_records: AtomicU64,
    pub incoming_put_requests: AtomicU64,
    pub throttled_records: AtomicU64,
    /// DeliveryToS3.* (or DeliveryToHttpEndpoint.*, by destination).
    pub delivery_records: AtomicU64,
    pub delivery_bytes: AtomicU64,
    pub delivery_success: AtomicU64,
    pub delivery_failure: AtomicU64,
    /// Age in ms of the oldest record not yet delivered, at the last delivery.
    pub data_freshness_ms: AtomicI64,
    pub processing_records: AtomicU64,
    pub processing_success: AtomicU64,
    pub processing_failure: AtomicU64,
    pub backup_records: AtomicU64,
    pub backup_bytes: AtomicU64,
    pub backup_success: AtomicU64,
    /// Destination, conversion and partitioning metrics, by AWS's name
    /// (`DeliveryToRedshift.Records`, `SucceedConversion.Records`,
    /// `PartitionCount`, ...): counters added to, gauges (names listed in
    /// [`GAUGES`]) set.
    named: Mutex<BTreeMap<&'static str, u64>>,
}

/// Named metrics that are levels, not counts: `count` sets them.
pub const GAUGES: &[&str] = &["PartitionCount", "ActivePartitionsLimit"];

impl StreamMetrics {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Adds `n` to the metric `name` (AWS's CloudWatch name), or sets it
    /// when it is one of [`GAUGES`].
    pub fn count(&self, name: &'static str, n: u64) {
        let mut named = self.named.lock();
        let v = named.entry(name).or_insert(0);
        if GAUGES.contains(&name) {
            *v = n;
        } else {
            *v += n;
        }
    }

    /// The named metrics, by name.
    pub fn named(&self) -> Vec<(&'static str, u64)> {
        self.named.lock().iter().map(|(k, v)| (*k, *v)).collect()
    }

    /// BackupToS3.*: one backup object of `records` records, `bytes` bytes.
    pub(crate) fn backed_up(&self, records: u64, bytes: u64) {
        Self::add(&self.backup_records, records);
        Self::add(&self.backup_bytes, bytes);
        Self::add(&self.backup_success, 1);
    }
}
