//! `/metrics`: Kinesis's CloudWatch metrics under Prometheus names (see
//! docs/metrics.md), plus request, storage and process metrics, in the
//! OpenMetrics text format that Prometheus scrapes.
//!
//! Request metrics are prometheus-client families updated per request; the
//! engine's counters are read at scrape time by a collector, so the record
//! path only ever touches its own atomics.

use crate::service::Service;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet,
};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;
use riffle_streams::metrics::{
    fault_stats, fsync_stats, sealed_file_stats, HistogramSnapshot, MicrosHistogram, ShardSnapshot,
    StreamMetrics, StreamSnapshot, LATENCY_BOUNDS_MICROS,
};
use riffle_streams::Engine;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

/// `Content-Type` of `/metrics`.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// The service's IAM prefix (`kinesis`), `unknown` when none was named.
    service: &'static str,
    operation: &'static str,
    status: u16,
    /// The AWS error code (`__type`), empty on success.
    error: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    /// `max_connections`, `max_concurrent_requests` or `body_timeout`.
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabel {
    service: &'static str,
    operation: &'static str,
}

/// A lock-free latency histogram usable in a prometheus-client family
/// (its own `Histogram` takes a lock per observation).
#[derive(Clone, Debug, Default)]
struct Latency(Arc<MicrosHistogram>);

impl TypedMetric for Latency {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Latency {
    fn encode(&self, mut encoder: MetricEncoder) -> fmt::Result {
        encode_histogram(&mut encoder, &self.0.snapshot())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

fn encode_histogram(encoder: &mut MetricEncoder, h: &HistogramSnapshot) -> fmt::Result {
    let buckets: Vec<(f64, u64)> = LATENCY_BOUNDS_MICROS
        .iter()
        .map(|b| *b as f64 / 1e6)
        .chain(std::iter::once(f64::MAX))
        .zip(h.buckets.iter().copied())
        .collect();
    encoder.encode_histogram::<NoLabelSet>(h.sum_micros as f64 / 1e6, h.count, &buckets, None)
}

/// The server's metrics: request families plus the engine/process collector.
pub(crate) struct Metrics {
    registry: Registry,
    in_flight: Gauge,
    rejected: Family<ReasonLabel, Counter>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<OperationLabel, Latency>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    pub(crate) fn new(services: &[Arc<dyn Service>]) -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<OperationLabel, Latency>::default();
        registry.register(
            "riffle_requests",
            "API requests by operation, HTTP status and AWS error code",
            requests.clone(),
        );
        registry.register(
            "riffle_request_duration_seconds",
            "API request latency by operation, from receipt to response (event streams: to their first byte)",
            latency.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "riffle_requests_in_flight",
            "API requests holding a concurrency slot (--max-concurrent-requests): from their head until their response is sent; event streams until theirs starts",
            in_flight.clone(),
        );
        let rejected = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "riffle_rejected",
            "Connections and requests refused by the edge's limits before reaching a service (503 or 408), by limit",
            rejected.clone(),
        );
        for collector in services.iter().filter_map(|s| s.collector()) {
            registry.register_collector(collector);
        }
        registry.register_collector(Box::new(ProcessCollector {
            started: Instant::now(),
        }));
        Metrics {
            registry,
            in_flight,
            rejected,
            requests,
            latency,
        }
    }

    /// Counts one answered request. `error` is the AWS error code, if any.
    pub(crate) fn request(
        &self,
        service: &'static str,
        operation: &'static str,
        status: u16,
        error: Option<&'static str>,
        started: Instant,
    ) {
        self.requests
            .get_or_create(&RequestLabels {
                service,
                operation,
                status,
                error: error.unwrap_or(""),
            })
            .inc();
        self.latency
            .get_or_create(&OperationLabel { service, operation })
            .0
            .observe_since(started);
    }

    /// A request took (+1) or gave back (-1) its concurrency slot.
    pub(crate) fn in_flight(&self, delta: i64) {
        self.in_flight.inc_by(delta);
    }

    /// Counts one connection or request refused by a limit of the edge.
    pub(crate) fn rejected(&self, reason: &'static str) {
        self.rejected.get_or_create(&ReasonLabel { reason }).inc();
    }

    /// The whole exposition.
    pub(crate) fn render(&self) -> Result<String, fmt::Error> {
        let mut out = String::with_capacity(16 * 1024);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

type Labels = Vec<(&'static str, String)>;

fn stream_label(s: &StreamSnapshot) -> Labels {
    vec![("stream", s.name.clone())]
}

/// One metric family: a descriptor and its samples, skipped when it has none.
fn family<V>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    samples: &[(Labels, V)],
    mut write: impl FnMut(&mut MetricEncoder, &V) -> fmt::Result,
) -> fmt::Result {
    if samples.is_empty() {
        return Ok(());
    }
    let mut m = enc.encode_descriptor(name, help, None, kind)?;
    for (labels, v) in samples {
        if labels.is_empty() {
            write(&mut m, v)?;
        } else {
            write(&mut m.encode_family(labels)?, v)?;
        }
    }
    Ok(())
}

fn counter(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    s: &[(Labels, u64)],
) -> fmt::Result {
    family(enc, name, help, MetricType::Counter, s, |e, v| {
        e.encode_counter::<NoLabelSet, u64, u64>(v, None)
    })
}

fn gauge(enc: &mut DescriptorEncoder, name: &str, help: &str, s: &[(Labels, f64)]) -> fmt::Result {
    family(enc, name, help, MetricType::Gauge, s, |e, v| {
        e.encode_gauge(v)
    })
}

fn histogram(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    s: &[(Labels, HistogramSnapshot)],
) -> fmt::Result {
    family(enc, name, help, MetricType::Histogram, s, encode_histogram)
}

type StreamCounter = (&'static str, &'static str, fn(&StreamMetrics) -> u64);

/// Stream-level counters: Prometheus name (before `_total`), help naming the CloudWatch metric.
const STREAM_COUNTERS: &[StreamCounter] = &[
    ("riffle_kinesis_get_records_success", "GetRecords.Success: successful GetRecords calls", |m| m.get_records_success.get()),
    ("riffle_kinesis_get_records_records", "GetRecords.Records: records returned by GetRecords", |m| m.get_records_records.get()),
    ("riffle_kinesis_get_records_bytes", "GetRecords.Bytes: data and partition-key bytes returned by GetRecords", |m| m.get_records_bytes.get()),
    ("riffle_kinesis_incoming_records", "IncomingRecords: records successfully put (PutRecord and PutRecords)", |m| m.incoming_records.get()),
    ("riffle_kinesis_incoming_bytes", "IncomingBytes: data and partition-key bytes successfully put", |m| m.incoming_bytes.get()),
    ("riffle_kinesis_put_record_success", "PutRecord.Success: successful PutRecord calls", |m| m.put_record_success.get()),
    ("riffle_kinesis_put_record_bytes", "PutRecord.Bytes: bytes put with PutRecord", |m| m.put_record_bytes.get()),
    ("riffle_kinesis_put_records_success", "PutRecords.Success: PutRecords calls that stored at least one record", |m| m.put_records_success.get()),
    ("riffle_kinesis_put_records_bytes", "PutRecords.Bytes: bytes of the records PutRecords stored", |m| m.put_records_bytes.get()),
    ("riffle_kinesis_put_records_records", "PutRecords.Records: records PutRecords stored (same as successful_records)", |m| m.put_records_successful_records.get()),
    ("riffle_kinesis_put_records_total_records", "PutRecords.TotalRecords: records sent in PutRecords calls", |m| m.put_records_total_records.get()),
    ("riffle_kinesis_put_records_successful_records", "PutRecords.SuccessfulRecords: records PutRecords stored", |m| m.put_records_successful_records.get()),
    ("riffle_kinesis_put_records_failed_records", "PutRecords.FailedRecords: records PutRecords rejected by an internal failure", |m| m.put_records_failed_records.get()),
    ("riffle_kinesis_put_records_throttled_records", "PutRecords.ThrottledRecords: records PutRecords rejected by throughput limits", |m| m.put_records_throttled_records.get()),
    ("riffle_kinesis_write_provisioned_throughput_exceeded", "WriteProvisionedThroughputExceeded: records refused by the write limits (PutRecord and PutRecords)", |m| m.write_throttled.get()),
    ("riffle_kinesis_read_provisioned_throughput_exceeded", "ReadProvisionedThroughputExceeded: GetRecords calls refused by the read limits", |m| m.read_throttled.get()),
    ("riffle_kinesis_subscribe_to_shard_rate_exceeded", "SubscribeToShard.RateExceeded: subscriptions refused because one is already live", |m| m.subscribe_rate_exceeded.get()),
    ("riffle_kinesis_subscribe_to_shard_event_success", "SubscribeToShardEvent.Success: events with records pushed", |m| m.subscribe_events.get()),
    ("riffle_kinesis_subscribe_to_shard_event_records", "SubscribeToShardEvent.Records: records pushed to subscribers", |m| m.subscribe_event_records.get()),
    ("riffle_kinesis_subscribe_to_shard_event_bytes", "SubscribeToShardEvent.Bytes: bytes pushed to subscribers", |m| m.subscribe_event_bytes.get()),
];

type StreamLatency = (
    &'static str,
    &'static str,
    fn(&StreamMetrics) -> HistogramSnapshot,
);

const STREAM_LATENCIES: &[StreamLatency] = &[
    (
        "riffle_kinesis_get_records_latency_seconds",
        "GetRecords.Latency: successful GetRecords calls, until the records were read",
        |m| m.get_records_latency.snapshot(),
    ),
    (
        "riffle_kinesis_put_record_latency_seconds",
        "PutRecord.Latency: successful PutRecord calls, until the record was durable",
        |m| m.put_record_latency.snapshot(),
    ),
    (
        "riffle_kinesis_put_records_latency_seconds",
        "PutRecords.Latency: PutRecords calls that stored records, until they were durable",
        |m| m.put_records_latency.snapshot(),
    ),
];

type ShardMetric = (
    &'static str,
    &'static str,
    &'static str,
    MetricType,
    fn(&ShardSnapshot) -> f64,
);

/// Shard-level metrics: the EnableEnhancedMonitoring name that turns each on, then as above.
const SHARD_METRICS: &[ShardMetric] = &[
    ("IncomingBytes", "riffle_kinesis_shard_incoming_bytes", "IncomingBytes per shard (enhanced monitoring)", MetricType::Counter, |s| s.incoming_bytes as f64),
    ("IncomingRecords", "riffle_kinesis_shard_incoming_records", "IncomingRecords per shard (enhanced monitoring)", MetricType::Counter, |s| s.incoming_records as f64),
    ("OutgoingBytes", "riffle_kinesis_shard_outgoing_bytes", "OutgoingBytes: bytes read from the shard by GetRecords and SubscribeToShard (enhanced monitoring)", MetricType::Counter, |s| s.outgoing_bytes as f64),
    ("OutgoingRecords", "riffle_kinesis_shard_outgoing_records", "OutgoingRecords: records read from the shard by GetRecords and SubscribeToShard (enhanced monitoring)", MetricType::Counter, |s| s.outgoing_records as f64),
    ("WriteProvisionedThroughputExceeded", "riffle_kinesis_shard_write_provisioned_throughput_exceeded", "WriteProvisionedThroughputExceeded per shard (enhanced monitoring)", MetricType::Counter, |s| s.write_throttled as f64),
    ("ReadProvisionedThroughputExceeded", "riffle_kinesis_shard_read_provisioned_throughput_exceeded", "ReadProvisionedThroughputExceeded per shard (enhanced monitoring)", MetricType::Counter, |s| s.read_throttled as f64),
    ("IteratorAgeMilliseconds", "riffle_kinesis_shard_iterator_age_milliseconds", "IteratorAgeMilliseconds: age of the last record read from the shard (enhanced monitoring)", MetricType::Gauge, |s| s.iterator_age_ms as f64),
];

/// The Kinesis engine's collector, registered by the Kinesis service.
pub(crate) fn engine_collector(engine: Arc<Engine>) -> Box<dyn Collector> {
    Box::new(EngineCollector { engine })
}

/// Reads the engine's stream and storage figures at each scrape.
struct EngineCollector {
    engine: Arc<Engine>,
}

/// Reads the process figures at each scrape.
#[derive(Debug)]
struct ProcessCollector {
    started: Instant,
}

impl Collector for ProcessCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        process(&mut enc, self.started)
    }
}

impl fmt::Debug for EngineCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EngineCollector")
    }
}

impl Collector for EngineCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let snap = self.engine.metrics_snapshot();
        let streams = &snap.streams;
        let per_stream = |f: &dyn Fn(&StreamSnapshot) -> u64| -> Vec<(Labels, u64)> {
            streams.iter().map(|s| (stream_label(s), f(s))).collect()
        };
        for (name, help, get) in STREAM_COUNTERS {
            counter(&mut enc, name, help, &per_stream(&|s| get(&s.metrics)))?;
        }
        for (name, help, get) in STREAM_LATENCIES {
            let samples: Vec<_> = streams
                .iter()
                .map(|s| (stream_label(s), get(&s.metrics)))
                .collect();
            histogram(&mut enc, name, help, &samples)?;
        }
        let as_f64 = |v: Vec<(Labels, u64)>| -> Vec<(Labels, f64)> {
            v.into_iter().map(|(l, v)| (l, v as f64)).collect()
        };
        let signed = |f: &dyn Fn(&StreamMetrics) -> i64| -> Vec<(Labels, f64)> {
            streams
                .iter()
                .map(|s| (stream_label(s), f(&s.metrics) as f64))
                .collect()
        };
        gauge(
            &mut enc,
            "riffle_kinesis_get_records_iterator_age_milliseconds",
            "GetRecords.IteratorAgeMilliseconds: MillisBehindLatest of the latest GetRecords",
            &signed(&|m| m.get_records_iterator_age_ms.get()),
        )?;
        gauge(
            &mut enc,
            "riffle_kinesis_subscribe_to_shard_event_millis_behind_latest",
            "SubscribeToShardEvent.MillisBehindLatest of the latest event with records",
            &signed(&|m| m.subscribe_event_millis_behind.get()),
        )?;

        for (aws, name, help, kind, get) in SHARD_METRICS {
            let samples: Vec<(Labels, f64)> = streams
                .iter()
                .filter(|s| s.shard_metric_enabled(aws))
                .flat_map(|s| {
                    s.shards.iter().map(|sh| {
                        (
                            vec![("stream", s.name.clone()), ("shard", sh.shard_id.clone())],
                            get(sh),
                        )
                    })
                })
                .collect();
            match kind {
                MetricType::Counter => family(&mut enc, name, help, *kind, &samples, |e, v| {
                    e.encode_counter::<NoLabelSet, f64, f64>(v, None)
                })?,
                _ => gauge(&mut enc, name, help, &samples)?,
            }
        }

        let global = |v: f64| vec![(Vec::new(), v)];
        gauge(
            &mut enc,
            "riffle_streams",
            "Streams",
            &global(streams.len() as f64),
        )?;
        gauge(
            &mut enc,
            "riffle_stream_open_shards",
            "Open shards per stream",
            &as_f64(per_stream(&|s| s.open_shards as u64)),
        )?;
        gauge(
            &mut enc,
            "riffle_stream_shards",
            "Shards with a log per stream (open and closed, until retention removes them)",
            &as_f64(per_stream(&|s| s.shards.len() as u64)),
        )?;
        gauge(
            &mut enc,
            "riffle_stream_consumers",
            "Registered enhanced fan-out consumers per stream",
            &as_f64(per_stream(&|s| s.consumers as u64)),
        )?;
        gauge(
            &mut enc,
            "riffle_subscriptions_active",
            "Live SubscribeToShard event streams",
            &global(snap.live_subscriptions as f64),
        )?;

        // Storage.
        gauge(
            &mut enc,
            "riffle_storage_stream_bytes",
            "Bytes of segment and index files per stream",
            &as_f64(per_stream(&|s| {
                s.shards.iter().map(|sh| sh.disk_bytes).sum()
            })),
        )?;
        gauge(
            &mut enc,
            "riffle_storage_stream_segments",
            "Segment files per stream",
            &as_f64(per_stream(&|s| {
                s.shards.iter().map(|sh| sh.segments as u64).sum()
            })),
        )?;
        let disk: u64 = streams
            .iter()
            .flat_map(|s| s.shards.iter())
            .map(|sh| sh.disk_bytes)
            .sum::<u64>()
            + snap.meta_bytes;
        gauge(
            &mut enc,
            "riffle_storage_bytes",
            "Bytes on disk: every segment and index file plus the metadata database",
            &global(disk as f64),
        )?;
        gauge(
            &mut enc,
            "riffle_storage_segments",
            "Segment files of every shard",
            &global(
                streams
                    .iter()
                    .flat_map(|s| s.shards.iter())
                    .map(|sh| sh.segments as f64)
                    .sum(),
            ),
        )?;
        gauge(
            &mut enc,
            "riffle_storage_meta_bytes",
            "Bytes of the metadata database",
            &global(snap.meta_bytes as f64),
        )?;
        let fsync = fsync_stats();
        counter(
            &mut enc,
            "riffle_storage_fsyncs",
            "fdatasync calls on segment files (group commit shares one among concurrent producers)",
            &[(Vec::new(), fsync.count)],
        )?;
        histogram(
            &mut enc,
            "riffle_storage_fsync_duration_seconds",
            "Latency of fdatasync on segment files",
            &[(Vec::new(), fsync)],
        )?;
        gauge(
            &mut enc,
            "riffle_storage_fsync_max_seconds",
            "Slowest fdatasync since the process started",
            &global(fsync.max_micros as f64 / 1e6),
        )?;
        let faults = fault_stats();
        for (name, help, value) in [
            ("riffle_storage_poisonings", "Shard logs that refused writes after a failed write cleanup or fdatasync", faults.poisonings),
            ("riffle_storage_recoveries", "Poisoned shard logs that recovered without a restart", faults.recoveries),
            ("riffle_storage_failed_recoveries", "Recovery attempts that failed (the shard stayed poisoned)", faults.failed_recoveries),
            ("riffle_storage_write_failures", "Appends whose write failed (e.g. disk full) and were answered with an error", faults.write_failures),
            ("riffle_storage_damaged_opens", "Shard logs opened read-only because of damage before the end of their active segment", faults.damaged_opens),
        ] {
            counter(&mut enc, name, help, &[(Vec::new(), value)])?;
        }
        gauge(
            &mut enc,
            "riffle_storage_degraded_shards",
            "Shards whose log refuses writes now (poisoned or damaged); /health/ready names them",
            &global(snap.degraded_shards as f64),
        )?;
        let files = sealed_file_stats();
        gauge(
            &mut enc,
            "riffle_storage_sealed_files_open",
            "Sealed segment files holding a descriptor (opened on demand, least recently used closed first)",
            &global(files.open as f64),
        )?;
        gauge(
            &mut enc,
            "riffle_storage_sealed_files_limit",
            "The cap on open sealed segment files",
            &global(files.limit as f64),
        )?;
        counter(
            &mut enc,
            "riffle_storage_sealed_file_evictions",
            "Sealed segment files closed to stay under the cap",
            &[(Vec::new(), files.evictions)],
        )
    }
}

/// Standard `process_*` metrics from /proc/self (Linux; absent elsewhere).
fn process(enc: &mut DescriptorEncoder, started: Instant) -> fmt::Result {
    let global = |v: f64| vec![(Labels::new(), v)];
    gauge(
        enc,
        "riffle_build_info",
        "Always 1; the version is a label",
        &[(
            vec![("version", env!("CARGO_PKG_VERSION").to_string())],
            1.0,
        )],
    )?;
    gauge(
        enc,
        "riffle_uptime_seconds",
        "Seconds since the server started",
        &global(started.elapsed().as_secs_f64()),
    )?;
    let p = ProcStats::read();
    if let Some(cpu) = p.cpu_seconds {
        family(
            enc,
            "process_cpu_seconds",
            "User and system CPU time",
            MetricType::Counter,
            &global(cpu),
            |e, v| e.encode_counter::<NoLabelSet, f64, f64>(v, None),
        )?;
    }
    let gauges = [
        (
            "process_resident_memory_bytes",
            "Resident memory",
            p.rss_bytes,
        ),
        ("process_virtual_memory_bytes", "Virtual memory", p.vm_bytes),
        ("process_open_fds", "Open file descriptors", p.open_fds),
        (
            "process_max_fds",
            "Limit on open file descriptors",
            p.max_fds,
        ),
        ("process_threads", "OS threads", p.threads),
        (
            "process_start_time_seconds",
            "Start time since the Unix epoch",
            p.start_time_seconds,
        ),
    ];
    for (name, help, v) in gauges {
        if let Some(v) = v {
            gauge(enc, name, help, &global(v))?;
        }
    }
    Ok(())
}

#[derive(Debug, Default)]
struct ProcStats {
    cpu_seconds: Option<f64>,
    rss_bytes: Option<f64>,
    vm_bytes: Option<f64>,
    open_fds: Option<f64>,
    max_fds: Option<f64>,
    threads: Option<f64>,
    start_time_seconds: Option<f64>,
}

/// Linux's USER_HZ, the unit of /proc times: fixed at 100 by the kernel ABI.
const TICKS_PER_SEC: f64 = 100.0;

impl ProcStats {
    fn read() -> ProcStats {
        let mut p = ProcStats::default();
        if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
            for line in status.lines() {
                let kb = |rest: &str| {
                    rest.split_whitespace()
                        .next()
                        .and_then(|v| v.parse::<f64>().ok())
                };
                if let Some(rest) = line.strip_prefix("VmRSS:") {
                    p.rss_bytes = kb(rest).map(|v| v * 1024.0);
                } else if let Some(rest) = line.strip_prefix("VmSize:") {
                    p.vm_bytes = kb(rest).map(|v| v * 1024.0);
                } else if let Some(rest) = line.strip_prefix("Threads:") {
                    p.threads = kb(rest);
                }
            }
        }
        if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
            // Fields after the parenthesised command name, which may hold spaces.
            let fields: Vec<&str> = stat
                .rsplit_once(')')
                .map(|(_, rest)| rest.split_whitespace().collect())
                .unwrap_or_default();
            // utime, stime and starttime are fields 14, 15 and 22 (1-based; the
            // slice starts at field 3).
            let num = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
            if let (Some(u), Some(s)) = (num(11), num(12)) {
                p.cpu_seconds = Some((u + s) / TICKS_PER_SEC);
            }
            let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("btime "))
                    .and_then(|v| v.trim().parse::<f64>().ok())
            });
            if let (Some(start), Some(boot)) = (num(19), boot) {
                p.start_time_seconds = Some(boot + start / TICKS_PER_SEC);
            }
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            p.open_fds = Some(dir.count() as f64);
        }
        if let Ok(limits) = std::fs::read_to_string("/proc/self/limits") {
            p.max_fds = limits
                .lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse().ok());
        }
        p
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn latency_family_renders_cumulative_buckets() {
        let mut registry = Registry::default();
        let fam = Family::<OperationLabel, Latency>::default();
        registry.register("lat_seconds", "test", fam.clone());
        let h = fam.get_or_create(&OperationLabel {
            service: "kinesis",
            operation: "PutRecord",
        });
        h.0.observe_micros(40);
        h.0.observe_micros(2_000_000);
        drop(h);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        assert!(out.contains("# TYPE lat_seconds histogram"), "{out}");
        assert!(
            out.contains("lat_seconds_count{service=\"kinesis\",operation=\"PutRecord\"} 2"),
            "{out}"
        );
        assert!(
            out.contains(
                "lat_seconds_bucket{le=\"0.00005\",service=\"kinesis\",operation=\"PutRecord\"} 1"
            ),
            "{out}"
        );
        assert!(
            out.contains(
                "lat_seconds_bucket{le=\"2.5\",service=\"kinesis\",operation=\"PutRecord\"} 2"
            ),
            "{out}"
        );
        assert!(
            out.contains(
                "lat_seconds_bucket{le=\"+Inf\",service=\"kinesis\",operation=\"PutRecord\"} 2"
            ),
            "{out}"
        );
    }

    #[test]
    fn proc_stats_on_linux() {
        let p = ProcStats::read();
        if cfg!(target_os = "linux") {
            assert!(p.rss_bytes.unwrap() > 0.0);
            assert!(p.open_fds.unwrap() >= 1.0);
            assert!(p.cpu_seconds.is_some());
            assert!(p.start_time_seconds.unwrap() > 1.0e9);
        }
    }
}
