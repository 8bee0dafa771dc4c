//! The engine API for other services in the process (Firehose reading a
//! Kinesis source, Kinesis Analytics): append to and read from a stream by
//! identity, follow its shards across resharding, and wait for appends, all
//! without HTTP or wire shapes.
//!
//! A [`StreamId`] is resolved once from a name or ARN and re-checked by the
//! engine on every call: a stream deleted and created again under the same
//! name is another stream, and a caller cannot forge an identity. Appends go
//! through PutRecords' own path (routing, the throughput-limits switch,
//! durability before acknowledgement, resharding retries) and reads through
//! GetRecords' (trim horizon, read limits, shard ends), so both behave exactly
//! as they do for AWS clients.
//!
//! Reading a whole stream exactly once, in per-key order: list [`Engine::shards`],
//! read each shard from its start to its end ([`ReadBatch::next`] is `None`
//! there), and start a shard only when all its parents are finished. Shard
//! indexes grow with creation, so walking the list in order and waiting on
//! parents is a valid schedule; a parent no longer listed (expired past
//! retention) counts as finished.

pub use super::data::Appended;
use super::data::ShardRead;
use super::{
    parse_shard_id, shard_id, Engine, LiveStream, StreamView, GET_RECORDS_MAX_BYTES,
    PUT_RECORDS_MAX_BYTES,
};
use crate::error::StreamsError;
use crate::seqnum::{self, SeqParts};
use crate::shard::ShardHandle;
use riffle_meta::{ShardMeta, StreamState};
use riffle_model::{PutRecordsEntry, ShardIteratorType};
use std::sync::Arc;
use tokio::sync::watch;

/// Most records one [`Engine::read`] returns (GetRecords' limit).
pub const READ_MAX_RECORDS: usize = 10_000;
/// Most data + key bytes one [`Engine::read`] returns (GetRecords' limit).
pub const READ_MAX_BYTES: usize = GET_RECORDS_MAX_BYTES;
/// Most data + key bytes one [`Engine::append`] takes (PutRecords' limit).
pub const APPEND_MAX_BYTES: usize = PUT_RECORDS_MAX_BYTES;

/// One stream incarnation, as resolved by [`Engine::stream_id`]. Only the
/// engine makes these, and it checks them on every use.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StreamId {
    name: String,
    uid: String,
}

impl StreamId {
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// A record to append: PutRecords' entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppendRecord {
    pub partition_key: String,
    /// Routes by this 128-bit decimal hash instead of the key's MD5.
    pub explicit_hash_key: Option<String>,
    pub data: Vec<u8>,
}

/// Where a read starts in a shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Position {
    /// The oldest record still within retention.
    TrimHorizon,
    /// Just after the newest record: only records appended from now on.
    Latest,
    /// The first record that arrived at or after this time (epoch ms).
    AtTimestamp(i64),
    /// This record, or where it would be (what [`ReadBatch::next`] returns).
    AtSequenceNumber(String),
    /// The record after this one (resume after a checkpointed record).
    AfterSequenceNumber(String),
}

/// A shard and its lineage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardInfo {
    pub shard_id: String,
    pub parent_shard_id: Option<String>,
    pub adjacent_parent_shard_id: Option<String>,
    pub starting_hash_key: u128,
    pub ending_hash_key: u128,
    /// Open shards take appends; a closed shard ends at a fixed record.
    pub open: bool,
}

impl ShardInfo {
    /// The shard's parents (none, one for a split child, two for a merge).
    pub fn parents(&self) -> impl Iterator<Item = &str> {
        self.parent_shard_id
            .iter()
            .chain(self.adjacent_parent_shard_id.iter())
            .map(String::as_str)
    }
}

/// A record read from a shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamRecord {
    pub sequence_number: String,
    pub partition_key: String,
    pub data: Vec<u8>,
    /// When the engine accepted it (epoch ms).
    pub arrival_ms: i64,
}

/// What [`Engine::read`] returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadBatch {
    pub records: Vec<StreamRecord>,
    /// Where the next read starts; `None` once a closed shard is read to its end.
    pub next: Option<Position>,
    /// At a closed shard's end: the shards that continue its hash range.
    pub child_shards: Vec<ShardInfo>,
    pub millis_behind_latest: i64,
}

/// Changes after records are appended to one shard (and when it closes).
/// Take it *before* a read that comes back empty, then await
/// [`AppendSignal::changed`]: an append in between is not missed.
pub struct AppendSignal {
    rx: watch::Receiver<u64>,
}

impl AppendSignal {
    /// Waits for the next append (or the shard's close). `false` when the
    /// shard's log is gone (the stream was deleted).
    pub async fn changed(&mut self) -> bool {
        self.rx.changed().await.is_ok()
    }
}

/// A stream, its view, one of its shards and that shard's log.
type CheckedShard = (
    Arc<LiveStream>,
    Arc<StreamView>,
    ShardMeta,
    Arc<ShardHandle>,
);

fn shard_info(s: &ShardMeta) -> ShardInfo {
    ShardInfo {
        shard_id: shard_id(s.index),
        parent_shard_id: s.parent.map(shard_id),
        adjacent_parent_shard_id: s.adjacent_parent.map(shard_id),
        starting_hash_key: s.starting_hash_key.parse().unwrap_or(0),
        ending_hash_key: s.ending_hash_key.parse().unwrap_or(0),
        open: s.closed_ms.is_none(),
    }
}

impl Engine {
    /// Resolves a stream name or stream ARN (of this region and account) to
    /// the stream's current identity. `ResourceNotFound` if there is none.
    pub fn stream_id(&self, name_or_arn: &str) -> Result<StreamId, StreamsError> {
        let name = if name_or_arn.starts_with("arn:") {
            self.name_from_arn(name_or_arn)?
        } else {
            name_or_arn.to_string()
        };
        let stream = self.lookup(&name)?;
        let uid = stream.view().uid.clone();
        Ok(StreamId { name, uid })
    }

    /// The live stream `id` names: still there, and the same incarnation.
    fn checked(&self, id: &StreamId) -> Result<Arc<LiveStream>, StreamsError> {
        let stream = self.lookup(&id.name)?;
        if stream.view().uid != id.uid {
            return Err(self.not_found(&id.name));
        }
        Ok(stream)
    }

    /// A listed shard of a stream that is past CREATING, and its log.
    fn checked_shard(&self, id: &StreamId, raw: &str) -> Result<CheckedShard, StreamsError> {
        let stream = self.checked(id)?;
        let m = self.readable(&id.name, &stream)?;
        let not_found = || self.shard_not_found(&id.name, raw);
        let index = parse_shard_id(raw).ok_or_else(not_found)?;
        let shard = m.shard(index).cloned().ok_or_else(not_found)?;
        let log = stream.log(index).ok_or_else(not_found)?;
        Ok((stream, m, shard, log))
    }

    /// The stream's view once it has left CREATING (ListShards' rule).
    fn readable(&self, name: &str, stream: &LiveStream) -> Result<Arc<StreamView>, StreamsError> {
        let m = stream.view();
        if m.state == StreamState::Creating {
            return Err(StreamsError::ResourceInUse(format!(
                "Stream {name} under account {} is in CREATING state.",
                self.cfg.account_id
            )));
        }
        Ok(m)
    }

    /// Appends records as one PutRecords would: the whole call fails on an
    /// unknown stream or an oversized record or batch; otherwise each record
    /// gets its shard and sequence number, or fails alone (throughput exceeded
    /// with limits on, or an internal failure). Records with the same shard
    /// keep their order; acknowledged records are durable per the sync policy.
    pub async fn append(
        &self,
        stream: &StreamId,
        records: Vec<AppendRecord>,
    ) -> Result<Vec<Result<Appended, StreamsError>>, StreamsError> {
        let started = std::time::Instant::now();
        let live = self.checked(stream)?;
        let entries: Vec<PutRecordsEntry> = records
            .into_iter()
            .map(|r| PutRecordsEntry {
                data: r.data.into(),
                partition_key: r.partition_key,
                explicit_hash_key: r.explicit_hash_key,
            })
            .collect();
        let (outcomes, _) = self
            .append_entries(&stream.name, &live, Arc::new(entries), started)
            .await?;
        Ok(outcomes)
    }

    /// Every shard still within retention, open and closed, in index order
    /// (which is creation order, so parents come before their children).
    pub fn shards(&self, stream: &StreamId) -> Result<Vec<ShardInfo>, StreamsError> {
        let live = self.checked(stream)?;
        let m = self.readable(&stream.name, &live)?;
        Ok(self.visible_shards(&m).map(shard_info).collect())
    }

    /// Reads up to `max_records` and `max_bytes` (capped at GetRecords'
    /// limits) from `shard` at `from`. Read limits apply as for GetRecords.
    pub async fn read(
        &self,
        stream: &StreamId,
        shard: &str,
        from: &Position,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<ReadBatch, StreamsError> {
        let started = std::time::Instant::now();
        let (live, m, shard, log) = self.checked_shard(stream, shard)?;
        let now = self.now_ms();
        let (kind, seq, ts) = match from {
            Position::TrimHorizon => (ShardIteratorType::TrimHorizon, None, None),
            Position::Latest => (ShardIteratorType::Latest, None, None),
            Position::AtTimestamp(t) => (ShardIteratorType::AtTimestamp, None, Some(*t)),
            Position::AtSequenceNumber(s) => {
                (ShardIteratorType::AtSequenceNumber, Some(s.as_str()), None)
            }
            Position::AfterSequenceNumber(s) => (
                ShardIteratorType::AfterSequenceNumber,
                Some(s.as_str()),
                None,
            ),
        };
        let start = self
            .start_offset(&stream.name, &m, &shard, &log, kind, seq, ts, now)
            .await?;
        let ShardRead {
            stored,
            next_offset,
            millis_behind,
            at_end,
        } = self
            .read_shard(
                &stream.name,
                &live,
                &m,
                &shard,
                &log,
                start,
                max_records.clamp(1, READ_MAX_RECORDS),
                max_bytes.clamp(1, READ_MAX_BYTES),
                now,
                started,
            )
            .await?;
        let records = stored
            .into_iter()
            .map(|r| StreamRecord {
                sequence_number: Self::seq_of(&m, shard.index, r.offset, r.timestamp_ms),
                partition_key: String::from_utf8_lossy(&r.key).into_owned(),
                data: r.value,
                arrival_ms: r.timestamp_ms,
            })
            .collect();
        if at_end {
            let children = super::data::children_of(&m, shard.index)
                .map(shard_info)
                .collect();
            return Ok(ReadBatch {
                records,
                next: None,
                child_shards: children,
                millis_behind_latest: 0,
            });
        }
        // The next offset as a sequence number; it need not be a record's yet.
        let next = seqnum::encode(SeqParts {
            shard_create_secs: super::create_secs(&shard),
            shard_index: shard.index,
            seq_index: next_offset,
            record_secs: super::secs(now.max(shard.created_ms)),
        });
        Ok(ReadBatch {
            records,
            next: Some(Position::AtSequenceNumber(next)),
            child_shards: vec![],
            millis_behind_latest: millis_behind,
        })
    }

    /// A signal that changes after every durable append to `shard` (and when
    /// it closes), the one enhanced fan-out waits on.
    pub fn append_signal(
        &self,
        stream: &StreamId,
        shard: &str,
    ) -> Result<AppendSignal, StreamsError> {
        let (_, _, _, log) = self.checked_shard(stream, shard)?;
        Ok(AppendSignal {
            rx: log.subscribe(),
        })
    }
}
