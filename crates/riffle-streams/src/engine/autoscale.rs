//! On-demand capacity: ON_DEMAND streams grow by themselves.
//!
//! Every second the maintenance task samples each open shard's write
//! counters. A shard that runs above 80% of a shard's write capacity
//! (1 MiB/s or 1,000 records/s) for two samples in a row is split at the
//! middle of its hash range, one split per stream per sample, up to the
//! on-demand ceiling of 200 MiB/s (200 open shards). A stream with warm
//! throughput set is split up front until it has one shard per MiB/s.
//! Splits use the same atomic reshard path as SplitShard, so lineage and
//! shard-end signalling are exactly as for a manual split.

use super::*;
use riffle_meta::Reshard;

/// Fraction of a shard's write capacity that counts as hot.
const HOT_FRACTION: f64 = 0.8;
/// Consecutive hot samples before a shard is split.
const SUSTAINED_SAMPLES: u32 = 2;
/// AWS's default on-demand write ceiling is 200 MiB/s: 200 shards' worth.
pub(crate) const ON_DEMAND_MAX_SHARDS: usize = 200;
const SHARD_BYTES_PER_SEC: f64 = 1024.0 * 1024.0;
const SHARD_RECORDS_PER_SEC: f64 = 1000.0;

#[derive(Default)]
pub(crate) struct Sample {
    at_ms: i64,
    records: u64,
    bytes: u64,
    hot_streak: u32,
}

/// Per shard (stream uid, shard index) samples.
pub(crate) type Samples = HashMap<(String, u32), Sample>;

impl Engine {
    /// One autoscaling pass; returns the number of splits made. Blocking.
    pub fn autoscale(&self) -> usize {
        let now = self.now_ms();
        let streams: Vec<(String, Arc<LiveStream>)> = self
            .streams
            .read()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut splits = 0;
        let mut samples = self.autoscale_samples.lock();
        for (name, stream) in streams {
            let m = stream.view();
            if m.mode != "ON_DEMAND" || m.state != StreamState::Active {
                continue;
            }
            let open: Vec<&ShardMeta> = m.shards.iter().filter(|s| is_open(s)).collect();
            let mut hottest: Option<(f64, u32)> = None;
            for s in &open {
                let Some(log) = stream.log(s.index) else {
                    continue;
                };
                let (records, bytes) = log.written();
                let entry = samples.entry((m.uid.clone(), s.index)).or_default();
                let elapsed = (now - entry.at_ms) as f64 / 1000.0;
                if entry.at_ms > 0 && elapsed >= 0.5 {
                    let load = f64::max(
                        (bytes - entry.bytes) as f64 / elapsed / SHARD_BYTES_PER_SEC,
                        (records - entry.records) as f64 / elapsed / SHARD_RECORDS_PER_SEC,
                    );
                    entry.hot_streak = if load >= HOT_FRACTION {
                        entry.hot_streak + 1
                    } else {
                        0
                    };
                    if entry.hot_streak >= SUSTAINED_SAMPLES
                        && hottest.is_none_or(|(l, _)| load > l)
                    {
                        hottest = Some((load, s.index));
                    }
                }
                if entry.at_ms == 0 || elapsed >= 0.5 {
                    entry.at_ms = now;
                    entry.records = records;
                    entry.bytes = bytes;
                }
            }
            let warm_shards = m.warm_throughput_mibps.unwrap_or(0).max(0) as usize;
            let target = if open.len() < warm_shards.min(ON_DEMAND_MAX_SHARDS) {
                // Warm throughput: split the widest shard.
                open.iter()
                    .max_by_key(|s| {
                        let (a, b) = (
                            s.starting_hash_key.parse::<u128>().unwrap_or(0),
                            s.ending_hash_key.parse::<u128>().unwrap_or(0),
                        );
                        b - a
                    })
                    .map(|s| s.index)
            } else {
                hottest.map(|(_, i)| i)
            };
            let Some(index) = target else { continue };
            if open.len() >= ON_DEMAND_MAX_SHARDS || self.open_shard_count() >= self.cfg.shard_limit
            {
                continue;
            }
            let Some(shard) = m.shard(index) else {
                continue;
            };
            let (a, b) = (
                shard.starting_hash_key.parse::<u128>().unwrap_or(0),
                shard.ending_hash_key.parse::<u128>().unwrap_or(0),
            );
            if b - a < 4 {
                continue;
            }
            let mid = a + (b - a) / 2 + 1;
            let op = Reshard::Split {
                shard: index,
                new_starting_hash_key: mid.to_string(),
            };
            let scheduled = self.update_meta(&stream, |m| {
                if m.state != StreamState::Active || m.pending_reshard.is_some() {
                    return Err(StreamsError::ResourceInUse(String::new()));
                }
                m.pending_reshard = Some(op.clone());
                Ok(())
            });
            if scheduled.is_ok() {
                match self.apply_reshard(&name, &stream) {
                    Ok(()) => {
                        splits += 1;
                        samples.retain(|(uid, i), _| !(uid == &m.uid && *i == index));
                        tracing::info!(
                            stream = name,
                            shard = index,
                            "on-demand: split a hot shard"
                        );
                    }
                    Err(e) => tracing::warn!(stream = name, error = %e, "on-demand split failed"),
                }
            }
        }
        splits
    }
}
