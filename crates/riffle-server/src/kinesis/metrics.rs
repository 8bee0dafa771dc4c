//! Kinesis's CloudWatch metrics (per stream, per shard when enhanced
//! monitoring asks) and the storage figures, read from the engine at each
//! scrape. Names and meanings: docs/metrics.md.

use crate::metrics::{counter, family, gauge, histogram, Labels};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use riffle_streams::metrics::{
    fault_stats, fsync_stats, sealed_file_stats, HistogramSnapshot, ShardSnapshot, StreamMetrics,
    StreamSnapshot,
};
use riffle_streams::Engine;
use std::fmt;
use std::sync::Arc;

fn stream_label(s: &StreamSnapshot) -> Labels {
    vec![("stream", s.name.clone())]
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
