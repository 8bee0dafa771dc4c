//! The Firehose engine: delivery streams' metadata and lifecycle
//! (`control.rs`), the write path into each stream's durable buffer
//! (`data.rs`, `buffer.rs`) and one delivery task per stream (`deliver.rs`).
//!
//! Metadata lives in two collections of the shared metadata database:
//! `firehose.delivery_streams` (the [`DeliveryStreamMeta`] document per
//! name) and `firehose.progress` (how far each stream's buffer was
//! delivered). Nothing is persisted outside them and the buffer logs, so a
//! clustered backend can replace both.

mod buffer;
mod control;
mod data;
mod deliver;
mod replay;
mod sources;

pub use buffer::Buffer;
pub use data::PutOutcome;
pub use deliver::DeliverySettings;
pub use replay::{Redelivery, RedeliveryStatus};
pub use sources::{SourceSupport, CHECKPOINT_TABLE};

use crate::meta::{DeliveryStreamMeta, Status};
use crate::objects::ObjectStore;
use crate::FirehoseError;
use parking_lot::{Mutex, RwLock};
use riffle_log::LogConfig;
use riffle_meta::{Collection, Versioned};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// How the engine is set up (the binary fills it from flags and config).
#[derive(Clone)]
pub struct FirehoseConfig {
    /// `<data-dir>/firehose`: one buffer directory per delivery stream.
    pub dir: PathBuf,
    pub region: String,
    pub account_id: String,
    /// How long CREATING and DELETING last; 0 makes them immediate.
    pub transition_delay_ms: u64,
    pub log: LogConfig,
    /// Undelivered bytes a delivery stream may hold before PutRecord(Batch)
    /// answer `ServiceUnavailableException` ("Slow down.").
    pub buffer_cap_bytes: u64,
    /// Delivered records stay in the buffer this long, for replay.
    pub replay_retention_ms: i64,
    /// Delivery streams per account (AWS: 5,000 in large regions).
    pub delivery_stream_limit: usize,
}

impl FirehoseConfig {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FirehoseConfig {
            dir: dir.into(),
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            transition_delay_ms: 500,
            log: LogConfig::default(),
            buffer_cap_bytes: 1 << 30,
            replay_retention_ms: 86_400_000,
            delivery_stream_limit: 5_000,
        }
    }
}

/// How far a delivery stream's buffer has been delivered (`firehose.progress`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// The delivery stream's uid: progress of a deleted namesake is ignored.
    pub uid: String,
    /// Records before this buffer offset are delivered.
    pub delivered: u64,
    /// The end of the batch `[delivered, in_flight_end)` being delivered
    /// when this was stored. After a crash exactly that batch is delivered
    /// again, not one that grew meanwhile: an HTTP request id then always
    /// carries the same records (a receiver may drop a repeated id), and a
    /// rewritten object holds the same bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight_end: Option<u64>,
}

/// A delivery stream that exists (any status) with its open buffer.
pub(crate) struct Live {
    pub(crate) meta: RwLock<Versioned<DeliveryStreamMeta>>,
    pub(crate) buffer: Arc<Buffer>,
    /// Serialises metadata changes of this stream (read, modify, CAS).
    pub(crate) change: tokio::sync::Mutex<()>,
    /// The delivery task; dropping the sender stops it.
    pub(crate) stop: Mutex<Option<tokio::sync::watch::Sender<bool>>>,
    pub(crate) metrics: Arc<crate::metrics::StreamMetrics>,
    /// The Kinesis source task, for `KinesisStreamAsSource` streams.
    pub(crate) source: Mutex<Option<crate::source::SourceHandle>>,
    /// The destination objects of one configuration version.
    pub(crate) plan: Mutex<Option<(u64, Arc<deliver::Plan>)>>,
    /// The last (or running) redelivery.
    pub(crate) redelivery: Mutex<Option<Arc<replay::Redelivery>>>,
}

impl Live {
    pub(crate) fn snapshot(&self) -> DeliveryStreamMeta {
        self.meta.read().doc.clone()
    }
}

pub struct Firehose {
    pub(crate) cfg: FirehoseConfig,
    pub(crate) store: Arc<dyn Collection<DeliveryStreamMeta>>,
    pub(crate) progress: Arc<dyn Collection<Progress>>,
    pub(crate) streams: RwLock<BTreeMap<String, Arc<Live>>>,
    pub(crate) objects: Arc<dyn ObjectStore>,
    pub(crate) delivery: deliver::DeliverySettings,
    pub(crate) sources: Option<SourceSupport>,
    /// When the replay retention last ran: it deletes whole segments, so
    /// once a minute is enough (maintenance ticks every 100 ms).
    retention_ran: Mutex<std::time::Instant>,
}

/// How often `maintain` applies the replay retention.
const RETENTION_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

impl Firehose {
    /// Opens every stored delivery stream's buffer (blocking) and starts
    /// their delivery tasks on the current tokio runtime.
    pub fn open(
        cfg: FirehoseConfig,
        store: Arc<dyn Collection<DeliveryStreamMeta>>,
        progress: Arc<dyn Collection<Progress>>,
        objects: Arc<dyn ObjectStore>,
        delivery: deliver::DeliverySettings,
        sources: Option<SourceSupport>,
    ) -> Result<Arc<Firehose>, FirehoseError> {
        std::fs::create_dir_all(&cfg.dir).map_err(riffle_log::LogError::Io)?;
        let mut streams = BTreeMap::new();
        for (name, doc) in store.list("")? {
            let (delivered, in_flight_end) = match progress.get(&name)? {
                Some(p) if p.doc.uid == doc.doc.uid => (p.doc.delivered, p.doc.in_flight_end),
                _ => (0, None),
            };
            let buffer = Buffer::open(&buffer_dir(&cfg, &doc.doc), cfg.log.clone(), delivered)?;
            if let Some(end) = in_flight_end {
                buffer.resume_batch(end);
            }
            streams.insert(name.clone(), Arc::new(new_live(doc, buffer)));
        }
        let fh = Arc::new(Firehose {
            cfg,
            store,
            progress,
            streams: RwLock::new(streams),
            objects,
            delivery,
            sources,
            retention_ran: Mutex::new(std::time::Instant::now()),
        });
        let lives: Vec<Arc<Live>> = fh.streams.read().values().cloned().collect();
        for live in lives {
            fh.start_delivery(&live);
            if live.snapshot().status != Status::Deleting {
                fh.start_source(&live);
            }
        }
        Ok(fh)
    }

    pub fn config(&self) -> &FirehoseConfig {
        &self.cfg
    }

    pub(crate) fn live(&self, name: &str) -> Result<Arc<Live>, FirehoseError> {
        self.streams
            .read()
            .get(name)
            .cloned()
            .ok_or_else(|| self.not_found(name))
    }

    pub(crate) fn not_found(&self, name: &str) -> FirehoseError {
        FirehoseError::NotFound(format!(
            "Firehose {name} under account {} not found.",
            self.cfg.account_id
        ))
    }

    pub(crate) fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }

    /// Completes due transitions (CREATING → ACTIVE, DELETING → gone) and,
    /// once a minute, applies the replay retention. Blocking; run every ~100 ms.
    pub fn maintain(self: &Arc<Self>) {
        let now = self.now_ms();
        let due: Vec<Arc<Live>> = self
            .streams
            .read()
            .values()
            .filter(|l| {
                let m = l.meta.read();
                m.doc.transition_deadline_ms.is_some_and(|d| d <= now)
            })
            .cloned()
            .collect();
        for live in due {
            if let Err(e) = self.settle(&live) {
                tracing::warn!(error = %e, "firehose: completing a transition failed");
            }
        }
        {
            let mut ran = self.retention_ran.lock();
            if ran.elapsed() < RETENTION_EVERY {
                return;
            }
            *ran = std::time::Instant::now();
        }
        let cutoff = now - self.cfg.replay_retention_ms;
        let lives: Vec<Arc<Live>> = self.streams.read().values().cloned().collect();
        for live in lives {
            if let Err(e) = live.buffer.enforce_retention(cutoff) {
                tracing::warn!(error = %e, "firehose: buffer retention failed");
            }
        }
    }

    /// Makes every buffer durable (shutdown). Blocking.
    pub fn sync_all(&self) {
        for live in self.streams.read().values() {
            if let Err(e) = live.buffer.sync() {
                tracing::error!(error = %e, "firehose: buffer sync failed");
            }
        }
    }

    /// `/health/ready`: every buffer accepts writes.
    pub fn check_ready(&self) -> Result<(), String> {
        for (name, live) in self.streams.read().iter() {
            live.buffer
                .check_ready()
                .map_err(|e| format!("delivery stream {name}: buffer {e}"))?;
        }
        Ok(())
    }

    /// Per-stream counters for `/metrics`.
    pub fn metrics(&self) -> Vec<(String, Arc<crate::metrics::StreamMetrics>)> {
        self.streams
            .read()
            .iter()
            .map(|(n, l)| (n.clone(), l.metrics.clone()))
            .collect()
    }

    pub fn stream_count(&self) -> usize {
        self.streams.read().len()
    }
}

pub(crate) fn new_live(meta: Versioned<DeliveryStreamMeta>, buffer: Buffer) -> Live {
    Live {
        meta: RwLock::new(meta),
        buffer: Arc::new(buffer),
        change: tokio::sync::Mutex::new(()),
        stop: Mutex::new(None),
        metrics: Arc::new(crate::metrics::StreamMetrics::default()),
        source: Mutex::new(None),
        plan: Mutex::new(None),
        redelivery: Mutex::new(None),
    }
}

pub(crate) fn buffer_dir(cfg: &FirehoseConfig, meta: &DeliveryStreamMeta) -> PathBuf {
    cfg.dir.join(format!("{}-{}", meta.name, meta.uid))
}

impl Status {
    pub(crate) fn accepts_records(self) -> bool {
        matches!(self, Status::Active)
    }
}

impl Firehose {
    /// The ARN a delivery stream of this name has (or would have).
    pub fn arn_for(&self, name: &str) -> String {
        DeliveryStreamMeta::arn_for(&self.cfg.region, &self.cfg.account_id, name)
    }

    /// A stream's tags (for `aws:ResourceTag/…`); empty if it does not exist.
    pub fn tags_of(&self, name: &str) -> Vec<(String, String)> {
        self.streams
            .read()
            .get(name)
            .map(|l| {
                l.meta
                    .read()
                    .doc
                    .tags
                    .iter()
                    .map(|t| (t.key.clone(), t.value.clone().unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default()
    }
}
