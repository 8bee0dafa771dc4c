//! AWS's control-plane request rates (KDS developer guide quota table and
//! each operation's API reference), enforced under the same switch as the
//! data-plane limits (`EngineConfig::throughput_limits`).
//!
//! Each limit is a token bucket per operation and scope with a one-second
//! burst, like the data-plane buckets. A refused call gets AWS's
//! `LimitExceededException` "Rate exceeded for stream {name} under account
//! {acct}." (or "... for account {acct}." when no stream is named), which the
//! SDKs retry with backoff. GetShardIterator is a data-plane call whose
//! throttle AWS reports as ProvisionedThroughputExceededException with the
//! shard named.

use super::*;

/// What one limit counts against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Per {
    Account,
    Stream,
    Shard,
}

/// One documented control-plane rate.
#[derive(Clone, Copy, Debug)]
pub(super) struct Limit {
    pub op: &'static str,
    pub per_sec: u64,
    pub per: Per,
}

const fn limit(op: &'static str, per_sec: u64, per: Per) -> Limit {
    Limit { op, per_sec, per }
}

pub(super) const CREATE_STREAM: Limit = limit("CreateStream", 5, Per::Account);
pub(super) const DELETE_STREAM: Limit = limit("DeleteStream", 5, Per::Account);
pub(super) const DESCRIBE_STREAM: Limit = limit("DescribeStream", 10, Per::Account);
pub(super) const DESCRIBE_STREAM_SUMMARY: Limit = limit("DescribeStreamSummary", 20, Per::Account);
pub(super) const DESCRIBE_LIMITS: Limit = limit("DescribeLimits", 1, Per::Account);
/// "1000 TPS per data stream" (the current model documentation).
pub(super) const LIST_SHARDS: Limit = limit("ListShards", 1000, Per::Stream);
pub(super) const LIST_STREAMS: Limit = limit("ListStreams", 5, Per::Account);
/// Five calls per second per open shard.
pub(super) const GET_SHARD_ITERATOR: Limit = limit("GetShardIterator", 5, Per::Shard);
pub(super) const REGISTER_CONSUMER: Limit = limit("RegisterStreamConsumer", 5, Per::Account);
pub(super) const DEREGISTER_CONSUMER: Limit = limit("DeregisterStreamConsumer", 5, Per::Account);
pub(super) const DESCRIBE_CONSUMER: Limit = limit("DescribeStreamConsumer", 20, Per::Stream);
pub(super) const LIST_CONSUMERS: Limit = limit("ListStreamConsumers", 5, Per::Stream);
pub(super) const SPLIT_SHARD: Limit = limit("SplitShard", 5, Per::Account);
pub(super) const MERGE_SHARDS: Limit = limit("MergeShards", 5, Per::Account);
pub(super) const UPDATE_SHARD_COUNT: Limit = limit("UpdateShardCount", 10, Per::Account);
pub(super) const ADD_TAGS: Limit = limit("AddTagsToStream", 5, Per::Account);
pub(super) const REMOVE_TAGS: Limit = limit("RemoveTagsFromStream", 5, Per::Account);
pub(super) const LIST_TAGS: Limit = limit("ListTagsForStream", 5, Per::Account);
pub(super) const INCREASE_RETENTION: Limit =
    limit("IncreaseStreamRetentionPeriod", 5, Per::Account);
pub(super) const DECREASE_RETENTION: Limit =
    limit("DecreaseStreamRetentionPeriod", 5, Per::Account);
pub(super) const ENABLE_MONITORING: Limit = limit("EnableEnhancedMonitoring", 5, Per::Account);
pub(super) const DISABLE_MONITORING: Limit = limit("DisableEnhancedMonitoring", 5, Per::Account);

impl Engine {
    /// [`Self::admit_control`] for a call addressed by stream name or ARN; a
    /// reference that does not resolve is left for the call to refuse.
    pub(super) fn admit_for(&self, l: Limit, stream: &StreamRef) -> Result<(), StreamsError> {
        let name = self.resolve_name(stream).ok();
        self.admit_control(l, name.as_deref(), None)
    }

    /// Takes one call of `l` for `stream` (and `shard`, for per-shard limits),
    /// or AWS's refusal. Always admits with throughput limits off.
    pub(super) fn admit_control(
        &self,
        l: Limit,
        stream: Option<&str>,
        shard: Option<u32>,
    ) -> Result<(), StreamsError> {
        if !self.cfg.throughput_limits {
            return Ok(());
        }
        let key = match (l.per, stream, shard) {
            (Per::Shard, Some(s), Some(i)) => format!("{}/{s}/{i}", l.op),
            (Per::Stream | Per::Shard, Some(s), _) => format!("{}/{s}", l.op),
            _ => l.op.to_string(),
        };
        if self.control_limits.admit(&key, l.per_sec, self.now_ms()) {
            return Ok(());
        }
        tracing::debug!(op = l.op, key, "control-plane rate exceeded");
        let acct = &self.cfg.account_id;
        Err(match (l.per, stream, shard) {
            (Per::Shard, Some(s), Some(i)) => {
                StreamsError::ProvisionedThroughputExceeded(self.rate_exceeded(s, i))
            }
            (_, Some(s), _) => StreamsError::LimitExceeded(format!(
                "Rate exceeded for stream {s} under account {acct}."
            )),
            _ => StreamsError::LimitExceeded(format!("Rate exceeded for account {acct}.")),
        })
    }
}
