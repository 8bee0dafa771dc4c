//! Firehose's `/metrics` families, under its CloudWatch metric names with a
//! `firehose_` prefix and a `delivery_stream` label.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use riffle_firehose::Firehose;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

struct FirehoseCollector(Arc<Firehose>);

impl std::fmt::Debug for FirehoseCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FirehoseCollector")
    }
}

pub fn collector(engine: Arc<Firehose>) -> Box<dyn Collector> {
    Box::new(FirehoseCollector(engine))
}

impl Collector for FirehoseCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let streams = self.0.metrics();
        type Pick = fn(&riffle_firehose::metrics::StreamMetrics) -> u64;
        let counters: &[(&str, &str, Pick)] = &[
            (
                "firehose_incoming_bytes",
                "IncomingBytes: bytes accepted by PutRecord(Batch) and sources",
                |m| m.incoming_bytes.load(Relaxed),
            ),
            ("firehose_incoming_records", "IncomingRecords", |m| {
                m.incoming_records.load(Relaxed)
            }),
            (
                "firehose_incoming_put_requests",
                "IncomingPutRequests",
                |m| m.incoming_put_requests.load(Relaxed),
            ),
            (
                "firehose_throttled_records",
                "ThrottledRecords: refused with ServiceUnavailableException (buffer full)",
                |m| m.throttled_records.load(Relaxed),
            ),
            (
                "firehose_delivery_records",
                "DeliveryToS3.Records / DeliveryToHttpEndpoint.Records",
                |m| m.delivery_records.load(Relaxed),
            ),
            (
                "firehose_delivery_bytes",
                "DeliveryToS3.Bytes / DeliveryToHttpEndpoint.Bytes",
                |m| m.delivery_bytes.load(Relaxed),
            ),
            (
                "firehose_delivery_success",
                "DeliveryTo*.Success: batches delivered",
                |m| m.delivery_success.load(Relaxed),
            ),
            (
                "firehose_delivery_failure",
                "Failed delivery attempts",
                |m| m.delivery_failure.load(Relaxed),
            ),
            (
                "firehose_execute_processing_records",
                "ExecuteProcessing.Records",
                |m| m.processing_records.load(Relaxed),
            ),
            (
                "firehose_execute_processing_success",
                "ExecuteProcessing.Success",
                |m| m.processing_success.load(Relaxed),
            ),
            (
                "firehose_execute_processing_failure",
                "Records that failed processing",
                |m| m.processing_failure.load(Relaxed),
            ),
            ("firehose_backup_to_s3_records", "BackupToS3.Records", |m| {
                m.backup_records.load(Relaxed)
            }),
            ("firehose_backup_to_s3_bytes", "BackupToS3.Bytes", |m| {
                m.backup_bytes.load(Relaxed)
            }),
            ("firehose_backup_to_s3_success", "BackupToS3.Success", |m| {
                m.backup_success.load(Relaxed)
            }),
        ];
        for (name, help, pick) in counters {
            let mut family = encoder.encode_descriptor(
                name,
                help,
                None,
                prometheus_client::metrics::MetricType::Counter,
            )?;
            for (stream, m) in &streams {
                let labels = [("delivery_stream", stream.as_str())];
                let e = family.encode_family(&labels)?;
                ConstCounter::new(pick(m)).encode(e)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "firehose_delivery_data_freshness_seconds",
            "DeliveryTo*.DataFreshness: age of the oldest record of the last delivered batch",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for (stream, m) in &streams {
            let labels = [("delivery_stream", stream.as_str())];
            let e = family.encode_family(&labels)?;
            ConstGauge::new(m.data_freshness_ms.load(Relaxed) as f64 / 1000.0).encode(e)?;
        }
        // Destination, conversion and partitioning metrics keep AWS's
        // CloudWatch names as a label, so new ones need no new family.
        let named: Vec<_> = streams.iter().map(|(s, m)| (s, m.named())).collect();
        for (kind, gauge) in [
            (prometheus_client::metrics::MetricType::Counter, false),
            (prometheus_client::metrics::MetricType::Gauge, true),
        ] {
            let mut family = encoder.encode_descriptor(
                if gauge { "firehose_level" } else { "firehose_count" },
                if gauge {
                    "Firehose levels under their CloudWatch names (PartitionCount, ...)"
                } else {
                    "Firehose counts under their CloudWatch names (DeliveryToRedshift.Records, SucceedConversion.Records, ...)"
                },
                None,
                kind,
            )?;
            for (stream, metrics) in &named {
                for (metric, v) in metrics {
                    if riffle_firehose::metrics::GAUGES.contains(metric) != gauge {
                        continue;
                    }
                    let labels = [("delivery_stream", stream.as_str()), ("metric", *metric)];
                    let e = family.encode_family(&labels)?;
                    if gauge {
                        ConstGauge::new(*v as i64).encode(e)?;
                    } else {
                        ConstCounter::new(*v).encode(e)?;
                    }
                }
            }
        }
        Ok(())
    }
}
