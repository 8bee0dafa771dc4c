//! `/metrics` in the OpenMetrics text format that Prometheus scrapes: the
//! edge's request, limit and process metrics here, plus each service's own
//! collector (`Service::collector`; Kinesis's is `kinesis/metrics.rs`).
//! Names and meanings: docs/metrics.md.
//!
//! Request metrics are prometheus-client families updated per request;
//! services' counters are read at scrape time, so the record path only ever
//! touches its own atomics.

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
use riffle_streams::metrics::{HistogramSnapshot, MicrosHistogram, LATENCY_BOUNDS_MICROS};
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
            "Connections and requests refused by the edge before reaching a service (503 or 408 over a limit, 400 for plaintext under --require-tls), by reason",
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

pub(crate) type Labels = Vec<(&'static str, String)>;

/// One metric family: a descriptor and its samples, skipped when it has none.
pub(crate) fn family<V>(
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

pub(crate) fn counter(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    s: &[(Labels, u64)],
) -> fmt::Result {
    family(enc, name, help, MetricType::Counter, s, |e, v| {
        e.encode_counter::<NoLabelSet, u64, u64>(v, None)
    })
}

pub(crate) fn gauge(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    s: &[(Labels, f64)],
) -> fmt::Result {
    family(enc, name, help, MetricType::Gauge, s, |e, v| {
        e.encode_gauge(v)
    })
}

pub(crate) fn histogram(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    s: &[(Labels, HistogramSnapshot)],
) -> fmt::Result {
    family(enc, name, help, MetricType::Histogram, s, encode_histogram)
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
