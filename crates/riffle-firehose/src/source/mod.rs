//! Sources other than Direct PUT: a Riffle stream read from LATEST at creation.
//!
//! A source hands records to a [`RecordSink`] (the delivery stream's durable
//! buffer) and only then records how far it got in a [`CheckpointStore`], so
//! a crash between the two re-reads the last batch: at least once, as AWS
//! promises, never loss. [`kinesis::KinesisSource`] is the one source today.
//!
//! Wiring a `KinesisStreamAsSource` delivery stream (`meta`, its document):
//!
//! ```text
//! let coll = meta_db.collection::<Checkpoints>("firehose", checkpoint::TABLE)?;
//! let store = Arc::new(CollectionCheckpointStore::new(coll, meta.uid.clone()));
//! let cfg = KinesisSourceConfig::new(&source.kinesis_stream_arn, meta.source_start_ms.unwrap_or(meta.create_ms));
//! let handle = KinesisSource::new(engine.clone(), cfg, buffer_sink, store).spawn();
//! // handle.status(): a watch of SourceStatus (Failed → FailureDescription);
//! // handle.stop().await at DeleteDeliveryStream, then store.remove().
//! ```

pub mod checkpoint;
pub mod kinesis;

pub use checkpoint::{CheckpointStore, Checkpoints, CollectionCheckpointStore, ShardCheckpoint};
pub use kinesis::{KinesisSource, KinesisSourceConfig, SourceHandle};

use crate::FirehoseError;
use bytes::Bytes;
use riffle_model::firehose as api;
use serde::Serialize;
use std::future::Future;

/// A record read from the source stream, with what the Lambda event's
/// `kinesisRecordMetadata` needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceRecord {
    pub data: Bytes,
    /// When the source stream accepted it (epoch ms): the record's
    /// `approximateArrivalTimestamp`, in the Lambda event and in object names.
    pub arrival_ms: i64,
    pub shard_id: String,
    pub partition_key: String,
    pub sequence_number: String,
}

/// `kinesisRecordMetadata` of a Lambda transformation event record, as AWS
/// sends it for a Kinesis-stream source (serialises to its camelCase JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KinesisRecordMetadata {
    pub shard_id: String,
    pub partition_key: String,
    pub approximate_arrival_timestamp: i64,
    pub sequence_number: String,
    /// Non-zero only for KPL sub-records, which de-aggregation numbers.
    pub subsequence_number: u64,
}

impl SourceRecord {
    /// The record's `kinesisRecordMetadata` (subsequence number 0: a whole
    /// stream record; the de-aggregation processor numbers sub-records).
    pub fn kinesis_record_metadata(&self) -> KinesisRecordMetadata {
        KinesisRecordMetadata {
            shard_id: self.shard_id.clone(),
            partition_key: self.partition_key.clone(),
            approximate_arrival_timestamp: self.arrival_ms,
            sequence_number: self.sequence_number.clone(),
            subsequence_number: 0,
        }
    }
}

/// Where a source puts what it reads: the delivery stream's buffer.
///
/// `accept` returns `Ok` only once the records are durable in the buffer;
/// the source checkpoints after that. On `Err` (e.g. the buffer is full:
/// [`FirehoseError::ServiceUnavailable`]) the source backs off and offers the
/// same records again, so a sink must not keep part of a failed call, or
/// must tolerate seeing those records twice.
pub trait RecordSink: Send + Sync + 'static {
    fn accept(
        &self,
        records: Vec<SourceRecord>,
    ) -> impl Future<Output = Result<(), FirehoseError>> + Send;
}

/// What a running source is doing, published on a `watch` channel
/// ([`SourceHandle::status`]) so the delivery stream can describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceStatus {
    /// Loading checkpoints and listing shards.
    Starting,
    /// Reading and delivering.
    Running,
    /// Still running, but the last attempt failed and is being retried
    /// (stream still CREATING, reads failing, the sink refusing records).
    Retrying { details: String },
    /// Stopped on request.
    Stopped,
    /// Stopped for good: the source stream is gone.
    Failed(SourceFailure),
}

/// Why a source stopped for good.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceFailure {
    pub details: String,
}

impl SourceFailure {
    /// As DescribeDeliveryStream's `FailureDescription`. AWS's failure types
    /// are all KMS and VPC ones; a lost source stream is `UNKNOWN_ERROR`.
    pub fn failure_description(&self) -> api::FailureDescription {
        api::FailureDescription {
            r#type: "UNKNOWN_ERROR".into(),
            details: self.details.clone(),
        }
    }
}
