//! On-demand capacity: ON_DEMAND streams grow and shrink by themselves.
//!
//! Every second the maintenance task samples each open shard's write
//! counters. A shard's load is its write rate as a fraction of one shard's
//! capacity (1 MiB/s or 1,000 records/s, whichever is nearer).
//!
//! * Growing: a shard above 80% for two samples in a row is split at the
//!   middle of its hash range, one split per stream per sample, up to the
//!   on-demand ceiling of 200 MiB/s (200 open shards). A stream with warm
//!   throughput set is split up front until it has one shard per MiB/s.
//! * Shrinking: when two adjacent open shards have both stayed cold (below
//!   20% of a shard's capacity) for the cold period
//!   (`EngineConfig::on_demand_cold_period_ms`, default one hour), they are
//!   merged, one merge per stream per sample, coldest pair first. A stream
//!   never shrinks below the floor: 4 open shards (an on-demand stream's
//!   starting capacity), its warm throughput (one shard per MiB/s), and
//!   twice its peak write load of the last 30 days (AWS on-demand serves up
//!   to double the previous peak), so capacity just used stays available.
//!   The peak is kept in memory: after a restart it is re-learned.
//!
//! Splits and merges use the same atomic reshard path as SplitShard and
//! MergeShards, so lineage and shard-end signalling are exactly as for a
//! manual reshard.

use super::*;
use riffle_meta::Reshard;

/// Fraction of a shard's write capacity that counts as hot.
const HOT_FRACTION: f64 = 0.8;
/// Fraction of a shard's write capacity below which a shard is cold.
const COLD_FRACTION: f64 = 0.2;
/// An on-demand stream's starting capacity, and the least it shrinks to.
pub(crate) const ON_DEMAND_MIN_SHARDS: usize = 4;
/// How long a write peak keeps its capacity (AWS: the previous 30 days).
const PEAK_WINDOW_MS: i64 = 30 * 24 * 3_600_000;
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
    /// Since when the shard has been measured cold, if it still is.
    cold_since_ms: Option<i64>,
    /// The last measured load.
    load: f64,
}

/// The autoscaler's memory.
#[derive(Default)]
pub(crate) struct Samples {
    /// Per shard (stream uid, shard index).
    shards: HashMap<(String, u32), Sample>,
    /// Per stream uid: the highest total write load measured (in shards'
    /// worth of capacity) and when.
    peaks: HashMap<String, (f64, i64)>,
}

/// The fewest open shards an on-demand stream may shrink to: see the module
/// documentation.
pub(crate) fn shrink_floor(peak_load: f64, warm_mibps: i64) -> usize {
    let peak = (2.0 * peak_load.max(0.0)).ceil() as usize;
    ON_DEMAND_MIN_SHARDS
        .max(warm_mibps.max(0) as usize)
        .max(peak)
        .min(ON_DEMAND_MAX_SHARDS)
}

impl Engine {
    /// One autoscaling pass; returns the number of splits and merges made.
    /// Blocking.
    pub fn autoscale(&self) -> usize {
        let now = self.now_ms();
        let streams: Vec<(String, Arc<LiveStream>)> = self
            .streams
            .read()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut splits = 0;
        let cold_period = i64::try_from(self.cfg.on_demand_cold_period_ms).unwrap_or(i64::MAX);
        let mut guard = self.autoscale_samples.lock();
        let Samples {
            shards: samples,
            peaks,
        } = &mut *guard;
        for (name, stream) in streams {
            let m = stream.view();
            if m.mode != "ON_DEMAND" || m.state != StreamState::Active {
                continue;
            }
            let open: Vec<&ShardMeta> = m.shards.iter().filter(|s| is_open(s)).collect();
            let mut hottest: Option<(f64, u32)> = None;
            let mut total_load = None;
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
                    entry.cold_since_ms = if load < COLD_FRACTION {
                        entry.cold_since_ms.or(Some(now))
                    } else {
                        None
                    };
                    entry.load = load;
                    *total_load.get_or_insert(0.0) += load;
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
            if let Some(total) = total_load {
                let peak = peaks.entry(m.uid.clone()).or_insert((0.0, now));
                if total >= peak.0 || now - peak.1 > PEAK_WINDOW_MS {
                    *peak = (total, now);
                }
            }
            let warm_mibps = m.warm_throughput_mibps.unwrap_or(0);
            let warm_shards = warm_mibps.max(0) as usize;
            let target = if open.len() < warm_shards.min(ON_DEMAND_MAX_SHARDS) {
                // Warm throughput: split the widest shard.
                open.iter()
                    .max_by_key(|s| {
                        let (a, b) = hash_range(s);
                        b - a
                    })
                    .map(|s| s.index)
            } else {
                hottest.map(|(_, i)| i)
            };
            let Some(index) = target else {
                // Nothing to grow: merge the coldest adjacent pair cold for long enough.
                let floor = shrink_floor(peaks.get(&m.uid).map_or(0.0, |p| p.0), warm_mibps);
                if open.len() <= floor {
                    continue;
                }
                let cold_enough = |s: &ShardMeta| {
                    samples
                        .get(&(m.uid.clone(), s.index))
                        .and_then(|x| x.cold_since_ms.map(|t| (t, x.load)))
                        .filter(|(t, _)| now.saturating_sub(*t) >= cold_period)
                        .map(|(_, load)| load)
                };
                let mut by_hash = open.clone();
                by_hash.sort_by_key(|s| hash_range(s).0);
                let pair = by_hash
                    .windows(2)
                    .filter_map(|w| {
                        let load = cold_enough(w[0])? + cold_enough(w[1])?;
                        Some((load, w[0].index, w[1].index))
                    })
                    .min_by(|a, b| a.0.total_cmp(&b.0));
                let Some((_, lower, upper)) = pair else {
                    continue;
                };
                // ShardToMerge is the lower shard in hash order, as AWS requires.
                let op = Reshard::Merge {
                    shard: lower,
                    adjacent: upper,
                };
                if self.autoscale_reshard(&name, &stream, op) {
                    splits += 1;
                    samples.retain(|(uid, i), _| !(uid == &m.uid && (*i == lower || *i == upper)));
                    tracing::info!(
                        stream = name,
                        shards = ?(lower, upper),
                        floor,
                        "on-demand: merged two cold shards"
                    );
                }
                continue;
            };
            if open.len() >= ON_DEMAND_MAX_SHARDS || self.open_shard_count() >= self.cfg.shard_limit
            {
                continue;
            }
            let Some(shard) = m.shard(index) else {
                continue;
            };
            let (a, b) = hash_range(shard);
            if b - a < 4 {
                continue;
            }
            let mid = a + (b - a) / 2 + 1;
            let op = Reshard::Split {
                shard: index,
                new_starting_hash_key: mid.to_string(),
            };
            if self.autoscale_reshard(&name, &stream, op) {
                splits += 1;
                samples.retain(|(uid, i), _| !(uid == &m.uid && *i == index));
                tracing::info!(stream = name, shard = index, "on-demand: split a hot shard");
            }
        }
        splits
    }

    /// Records `op` as the stream's pending reshard and applies it at once,
    /// unless the stream is busy (not ACTIVE, or a reshard already pending).
    fn autoscale_reshard(&self, name: &str, stream: &Arc<LiveStream>, op: Reshard) -> bool {
        let scheduled = self.update_meta(stream, |m| {
            if m.state != StreamState::Active || m.pending_reshard.is_some() {
                return Err(StreamsError::ResourceInUse(String::new()));
            }
            m.pending_reshard = Some(op.clone());
            Ok(())
        });
        if scheduled.is_err() {
            return false;
        }
        match self.apply_reshard(name, stream) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(stream = name, reshard = ?op, error = %e, "on-demand reshard failed");
                false
            }
        }
    }
}

fn hash_range(s: &ShardMeta) -> (u128, u128) {
    (
        s.starting_hash_key.parse::<u128>().unwrap_or(0),
        s.ending_hash_key.parse::<u128>().unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrink_floor_keeps_four_shards_warm_throughput_and_double_the_peak() {
        assert_eq!(shrink_floor(0.0, 0), 4);
        assert_eq!(shrink_floor(1.5, 0), 4);
        assert_eq!(shrink_floor(3.2, 0), 7, "twice a peak of 3.2 shards");
        assert_eq!(shrink_floor(0.0, 10), 10, "warm throughput of 10 MiB/s");
        assert_eq!(shrink_floor(1000.0, 0), ON_DEMAND_MAX_SHARDS);
    }
}
