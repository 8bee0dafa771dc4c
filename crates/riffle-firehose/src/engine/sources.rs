//! Wiring of `KinesisStreamAsSource` delivery streams: one
//! [`KinesisSource`] per stream, feeding its buffer through [`BufferSink`],
//! checkpointed in `firehose.source_checkpoints` under the stream's uid.
//! A source stream that disappears becomes the delivery stream's
//! `FailureDescription`.

use super::{Firehose, Live};
use crate::source::{
    Checkpoints, CollectionCheckpointStore, KinesisSource, KinesisSourceConfig, RecordSink,
    SourceRecord, SourceStatus,
};
use crate::FirehoseError;
use riffle_meta::Collection;
use std::sync::{Arc, Weak};

/// What reading Riffle streams needs: the streams engine and the checkpoint table.
#[derive(Clone)]
pub struct SourceSupport {
    pub streams: Arc<riffle_streams::Engine>,
    pub checkpoints: Arc<dyn Collection<Checkpoints>>,
}

/// The table of source checkpoints: `firehose.source_checkpoints`.
pub const CHECKPOINT_TABLE: &str = "source_checkpoints";

/// Puts source records into a delivery stream's buffer, refusing (so the
/// source backs off) while the buffer is over its cap.
pub struct BufferSink {
    fh: Weak<Firehose>,
    name: String,
    uid: String,
}

impl RecordSink for BufferSink {
    async fn accept(&self, records: Vec<SourceRecord>) -> Result<(), FirehoseError> {
        let fh = self
            .fh
            .upgrade()
            .ok_or_else(|| FirehoseError::Internal("shutting down".into()))?;
        if fh.pending_bytes(&self.name).unwrap_or(0) > fh.cfg.buffer_cap_bytes {
            return Err(FirehoseError::ServiceUnavailable(
                "the delivery stream's buffer is full; waiting for delivery".into(),
            ));
        }
        let entries = records
            .into_iter()
            .map(|r| {
                let key = serde_json::to_vec(&r.kinesis_record_metadata()).unwrap_or_default();
                (key, r.data)
            })
            .collect();
        fh.append_from_source(&self.name, &self.uid, entries).await
    }
}

impl Firehose {
    /// Checks that a Kinesis source stream exists (CreateDeliveryStream).
    pub(crate) fn check_source(&self, arn: &str) -> Result<(), FirehoseError> {
        let Some(s) = &self.sources else {
            return Err(FirehoseError::InvalidArgument(
                "KinesisStreamAsSource is not available on this server.".into(),
            ));
        };
        s.streams.stream_id(arn).map(|_| ()).map_err(|_| {
            FirehoseError::InvalidArgument(format!(
                "Kinesis stream {arn} does not exist or is not accessible."
            ))
        })
    }

    /// Starts the source task of a `KinesisStreamAsSource` stream.
    pub(crate) fn start_source(self: &Arc<Self>, live: &Arc<Live>) {
        let meta = live.snapshot();
        let (Some(support), Some(src)) = (&self.sources, &meta.kinesis_source) else {
            return;
        };
        let store = Arc::new(CollectionCheckpointStore::new(
            support.checkpoints.clone(),
            meta.uid.clone(),
        ));
        let cfg = KinesisSourceConfig::new(
            src.kinesis_stream_arn.clone(),
            meta.source_start_ms.unwrap_or(meta.create_ms),
        );
        let sink = Arc::new(BufferSink {
            fh: Arc::downgrade(self),
            name: meta.name.clone(),
            uid: meta.uid.clone(),
        });
        let handle = KinesisSource::new(support.streams.clone(), cfg, sink, store).spawn();
        let mut status = handle.status();
        *live.source.lock() = Some(handle);
        // A lost source stream becomes the FailureDescription.
        let fh = Arc::downgrade(self);
        let live = live.clone();
        tokio::spawn(async move {
            while status.changed().await.is_ok() {
                let current = status.borrow().clone();
                if let SourceStatus::Failed(f) = current {
                    if let Some(fh) = fh.upgrade() {
                        fh.set_failure_description(&live, Some(f.failure_description()))
                            .await;
                    }
                    return;
                }
            }
        });
    }

    /// Stops a stream's source (dropping its handle ends the task) and
    /// forgets its checkpoints. Blocking-safe.
    pub(crate) fn stop_source(&self, live: &Arc<Live>) {
        let handle = live.source.lock().take();
        drop(handle);
        if let Some(s) = &self.sources {
            let store = CollectionCheckpointStore::new(s.checkpoints.clone(), live.snapshot().uid);
            if let Err(e) = store.remove() {
                tracing::warn!(error = %e, "firehose: could not remove source checkpoints");
            }
        }
    }
}
