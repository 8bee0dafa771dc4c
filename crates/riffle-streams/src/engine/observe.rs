//! What the server's `/metrics` and readiness probe read from the engine.

use super::data::Appended;
use super::{is_open, shard_id, Engine, LiveStream};
use crate::error::StreamsError;
use crate::metrics::{MetricsSnapshot, ShardSnapshot, StreamSnapshot};
use crate::shard::ShardHandle;
use riffle_model::PutRecordsEntry;
use std::sync::Arc;
use std::time::Instant;

/// A live stream with its shard logs in index order.
type LiveLogs = (String, Arc<LiveStream>, Vec<(u32, Arc<ShardHandle>)>);

impl Engine {
    /// Every live stream and its shard logs, copied out so that no lock is
    /// held while they are read.
    fn live_logs(&self) -> Vec<LiveLogs> {
        let streams: Vec<(String, Arc<LiveStream>)> = self
            .streams
            .read()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        streams
            .into_iter()
            .map(|(name, stream)| {
                let mut logs: Vec<_> = stream
                    .logs
                    .read()
                    .iter()
                    .map(|(i, l)| (*i, l.clone()))
                    .collect();
                logs.sort_unstable_by_key(|(i, _)| *i);
                (name, stream, logs)
            })
            .collect()
    }

    /// Every stream's counters, shard figures and storage use, read without
    /// blocking writers (atomics, and brief read locks on segment lists).
    pub fn metrics_snapshot(&self) -> MetricsSnapshot {
        let mut out = MetricsSnapshot {
            live_subscriptions: self.live_subscriptions(),
            meta_bytes: std::fs::metadata(self.cfg.data_dir.join("meta.redb"))
                .map(|m| m.len())
                .unwrap_or(0),
            ..Default::default()
        };
        for (name, stream, logs) in self.live_logs() {
            let view = stream.view();
            out.degraded_shards += logs
                .iter()
                .filter(|(_, log)| log.health() != riffle_log::LogHealth::Healthy)
                .count();
            let shards = logs
                .into_iter()
                .map(|(index, log)| {
                    let (incoming_records, incoming_bytes) = log.written();
                    let m = &log.metrics;
                    ShardSnapshot {
                        shard_id: shard_id(index),
                        open: view.shard(index).is_some_and(is_open),
                        incoming_records,
                        incoming_bytes,
                        outgoing_records: m.outgoing_records.get(),
                        outgoing_bytes: m.outgoing_bytes.get(),
                        write_throttled: m.write_throttled.get(),
                        read_throttled: m.read_throttled.get(),
                        iterator_age_ms: m.iterator_age_ms.get(),
                        disk_bytes: log.disk_bytes(),
                        segments: log.segment_count(),
                    }
                })
                .collect();
            out.streams.push(StreamSnapshot {
                name,
                metrics: stream.metrics.clone(),
                shard_level_metrics: view.shard_level_metrics.clone(),
                open_shards: view.shards.iter().filter(|s| is_open(s)).count(),
                consumers: view.consumers.len(),
                shards,
            });
        }
        out
    }

    /// Counts one PutRecords request's outcome from its results (one pass, no allocation).
    pub(super) fn count_put_records(
        &self,
        stream: &LiveStream,
        records: &[PutRecordsEntry],
        results: &[Result<Appended, StreamsError>],
        started: Instant,
    ) {
        let (mut stored, mut bytes, mut throttled) = (0usize, 0u64, 0usize);
        for (r, res) in records.iter().zip(results) {
            match res {
                Ok(_) => {
                    stored += 1;
                    bytes += (r.data.len() + r.partition_key.len()) as u64;
                }
                Err(StreamsError::ProvisionedThroughputExceeded(_)) => throttled += 1,
                Err(_) => {}
            }
        }
        stream
            .metrics
            .put_records_done(records.len(), stored, bytes, throttled, started);
    }

    /// Shards whose log cannot take writes: poisoned by a failed write or
    /// fsync (recovering by itself) or damaged (kept read-only for an
    /// operator), as `(stream, shard id, health)`.
    pub fn degraded_shards(&self) -> Vec<(String, String, riffle_log::LogHealth)> {
        let mut out = Vec::new();
        for (name, _, logs) in self.live_logs() {
            for (index, log) in logs {
                let health = log.health();
                if health != riffle_log::LogHealth::Healthy {
                    out.push((name.clone(), shard_id(index), health));
                }
            }
        }
        out
    }

    /// Readiness: the data directory takes a write (create, fsync, remove a
    /// probe file). Blocking; a few file operations.
    pub fn check_ready(&self) -> Result<(), StreamsError> {
        let probe = self.cfg.data_dir.join(".ready-probe");
        let res = (|| {
            let f = std::fs::File::create(&probe)?;
            f.sync_all()?;
            std::fs::remove_file(&probe)
        })();
        res.map_err(|e| {
            StreamsError::Internal(format!(
                "data directory {} is not writable: {e}",
                self.cfg.data_dir.display()
            ))
        })?;
        let degraded = self.degraded_shards();
        if degraded.is_empty() {
            return Ok(());
        }
        let listed: Vec<String> = degraded
            .iter()
            .take(10)
            .map(|(stream, shard, health)| match health {
                riffle_log::LogHealth::Damaged { file, position, .. } => {
                    format!("{shard} of stream {stream} is damaged ({file} at byte {position}; read-only until repaired)")
                }
                _ => format!("{shard} of stream {stream} refuses writes after a storage fault (recovering by itself)"),
            })
            .collect();
        Err(StreamsError::Internal(format!(
            "{} degraded shard(s): {}",
            degraded.len(),
            listed.join("; ")
        )))
    }
}
