//! One delivery task per delivery stream: waits until the undelivered part
//! of the buffer reaches the size hint or its oldest record the interval
//! hint, reads that batch back from the buffer, processes it, writes it to
//! the destination (retrying until it succeeds or, for destinations with a
//! retry duration, until the failed records are in the error output), then
//! stores the new delivered offset. A crash anywhere repeats the batch from
//! the stored offset: at-least-once, and the object it writes has the same
//! name, so the set of delivered objects has no duplicates.

use super::{Firehose, Live, Progress};
use crate::destination::http::{
    DeliveryOutcome, HttpDestination, HttpOptions, RecordRef, MAX_RECORDS_PER_REQUEST,
};
use crate::destination::s3::{
    batch_seed, sub_seed, ErrorOutputType, S3Destination, S3Error, S3Target,
};
use crate::meta::{DeliveryStreamMeta, DestinationConfig};
use crate::metrics::StreamMetrics;
use crate::process::{BatchContext, FunctionTargets, InRecord, Pipeline, ProcessedRecord};
use crate::FirehoseError;
use bytes::Bytes;
use riffle_log::StoredRecord;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::watch;

/// Delivery knobs the binary sets (tests shorten them).
#[derive(Clone)]
pub struct DeliverySettings {
    /// First retry delay after a failed delivery; doubles up to `retry_max`.
    pub retry_initial: Duration,
    pub retry_max: Duration,
    /// Lambda function ARNs → URLs or commands (`--function`).
    pub functions: FunctionTargets,
    /// HTTP endpoint timings and extra trusted CAs.
    pub http: HttpOptions,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            functions: FunctionTargets::default(),
            http: HttpOptions::default(),
        }
    }
}

/// A run of buffered records delivered together.
pub(crate) struct Batch {
    /// Buffer offsets `[first, end)`.
    pub first: u64,
    pub end: u64,
    /// The records' offsets, arrival times and keys; their values are moved
    /// into `data` (no copy).
    pub records: Vec<StoredRecord>,
    /// The records' data, in order.
    data: Vec<Bytes>,
    /// Data bytes in the batch.
    pub bytes: u64,
    /// 0 for normal delivery; a redelivery's own value, so that its objects
    /// and request ids differ from the first delivery's.
    pub salt: u64,
}

impl Batch {
    /// Arrival time of the oldest record: what prefixes and object names use.
    pub fn first_arrival_ms(&self) -> i64 {
        self.records.first().map_or(0, |r| r.timestamp_ms)
    }

    /// The batch's identity, stable across restarts: object names and HTTP
    /// request ids derive from it, so a repeated delivery overwrites or
    /// re-sends the same thing.
    pub fn seed(&self, uid: &str) -> u128 {
        let seed = batch_seed(uid, self.first);
        match self.salt {
            0 => seed,
            salt => sub_seed(seed, &format!("redelivery-{salt}")),
        }
    }

    /// The records' data (reference-counted, not copied).
    pub fn data(&self) -> Vec<Bytes> {
        self.data.clone()
    }

    fn new(first: u64, end: u64, mut records: Vec<StoredRecord>, bytes: u64) -> Batch {
        let data = records
            .iter_mut()
            .map(|r| Bytes::from(std::mem::take(&mut r.value)))
            .collect();
        Batch {
            first,
            end,
            records,
            data,
            bytes,
            salt: 0,
        }
    }
}

/// (size in bytes, interval in ms) of the destination's buffering hints,
/// with AWS's defaults (5 MiB, 300 s).
pub(crate) fn hints(d: &DestinationConfig) -> (u64, i64) {
    let h = match d {
        DestinationConfig::ExtendedS3(c) => c
            .buffering_hints
            .as_ref()
            .map(|h| (h.size_in_m_bs, h.interval_in_seconds)),
        DestinationConfig::S3(c) => c
            .buffering_hints
            .as_ref()
            .map(|h| (h.size_in_m_bs, h.interval_in_seconds)),
        DestinationConfig::HttpEndpoint(c) => c
            .buffering_hints
            .as_ref()
            .map(|h| (h.size_in_m_bs, h.interval_in_seconds)),
    };
    let (size, interval) = h.unwrap_or((None, None));
    (
        size.unwrap_or(5).max(1) as u64 * 1024 * 1024,
        interval.unwrap_or(300).max(0) * 1000,
    )
}

impl Firehose {
    pub(crate) fn start_delivery(self: &Arc<Self>, live: &Arc<Live>) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            tracing::error!("firehose: no runtime to run deliveries on");
            return;
        };
        let (tx, rx) = watch::channel(false);
        *live.stop.lock() = Some(tx);
        rt.spawn(run(Arc::downgrade(self), live.clone(), rx));
    }

    pub(crate) fn stop_delivery(&self, live: &Arc<Live>) {
        live.stop.lock().take();
        live.buffer.appended.notify_waiters();
    }

    /// Stops every delivery task (shutdown); the buffers keep what is left.
    pub fn stop_all(&self) {
        for live in self.streams.read().values() {
            self.stop_delivery(live);
        }
    }
}

async fn run(fh: Weak<Firehose>, live: Arc<Live>, mut stop: watch::Receiver<bool>) {
    loop {
        let batch = match next_batch(&live, &mut stop).await {
            Ok(Some(b)) => b,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, "firehose: reading the buffer failed");
                if sleep_or_stop(&mut stop, Duration::from_secs(1)).await {
                    return;
                }
                continue;
            }
        };
        // The batch's extent is stored before anything is written, so that a
        // crash repeats this very batch (see `Progress::in_flight_end`).
        if let Some(f) = fh.upgrade() {
            if let Err(e) = f.mark_in_flight(&live, &batch).await {
                tracing::error!(error = %e, "firehose: storing the in-flight batch failed");
            }
        }
        let mut delay = None;
        loop {
            let Some(fh) = fh.upgrade() else { return };
            let meta = live.snapshot();
            let started = chrono::Utc::now().timestamp_millis();
            match fh.deliver(&live, &meta, &batch).await {
                Ok(()) => {
                    let m = &live.metrics;
                    StreamMetrics::add(&m.delivery_success, 1);
                    StreamMetrics::add(&m.delivery_records, batch.records.len() as u64);
                    StreamMetrics::add(&m.delivery_bytes, batch.bytes);
                    m.data_freshness_ms.store(
                        started - batch.first_arrival_ms(),
                        std::sync::atomic::Ordering::Relaxed,
                    );
                    if meta.failure.is_some() {
                        fh.set_failure(&live, None).await;
                    }
                    break;
                }
                Err(e) => {
                    StreamMetrics::add(&live.metrics.delivery_failure, 1);
                    tracing::warn!(delivery_stream = %meta.name, first = batch.first, end = batch.end, error = %e, "firehose: delivery attempt failed");
                    fh.set_failure(&live, Some(e.to_string())).await;
                    let d = delay.map_or(fh.delivery.retry_initial, |d: Duration| {
                        (d * 2).min(fh.delivery.retry_max)
                    });
                    delay = Some(d);
                    drop(fh);
                    if sleep_or_stop(&mut stop, d).await {
                        return;
                    }
                }
            }
        }
        let Some(fh) = fh.upgrade() else { return };
        if let Err(e) = fh.mark_delivered(&live, &batch).await {
            tracing::error!(error = %e, "firehose: storing the delivered offset failed");
        }
    }
}

/// Waits for the next due batch; `None` when the task is stopped.
async fn next_batch(
    live: &Arc<Live>,
    stop: &mut watch::Receiver<bool>,
) -> Result<Option<Batch>, FirehoseError> {
    loop {
        if stop.has_changed().is_err() {
            return Ok(None);
        }
        let notified = live.buffer.appended.notified();
        let (size, interval_ms) = hints(&live.snapshot().destination);
        let buffer = live.buffer.clone();
        let delivered = buffer.delivered();
        // The batch in flight when the server stopped goes again, as it was
        // (it was due then, so the hints are not consulted).
        if let Some(end) = buffer.take_resume() {
            let b = buffer.clone();
            let batch =
                tokio::task::spawn_blocking(move || read_batch(&b, delivered, u64::MAX, end))
                    .await
                    .map_err(|e| FirehoseError::Internal(e.to_string()))??;
            if !batch.records.is_empty() {
                return Ok(Some(batch));
            }
        }
        let wait = if buffer.end_offset() > delivered {
            let oldest = {
                let b = buffer.clone();
                tokio::task::spawn_blocking(move || b.read(delivered, 1, 1))
                    .await
                    .map_err(|e| FirehoseError::Internal(e.to_string()))??
                    .first()
                    .map(|r| r.timestamp_ms)
            };
            let now = chrono::Utc::now().timestamp_millis();
            let due_at = oldest.map_or(now, |t| t + interval_ms);
            if buffer.pending_bytes() >= size || now >= due_at {
                let b = buffer.clone();
                let batch =
                    tokio::task::spawn_blocking(move || read_batch(&b, delivered, size, u64::MAX))
                        .await
                        .map_err(|e| FirehoseError::Internal(e.to_string()))??;
                if !batch.records.is_empty() {
                    return Ok(Some(batch));
                }
            }
            Duration::from_millis((due_at - now).clamp(1, 1_000) as u64)
        } else {
            Duration::from_secs(1)
        };
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep(wait) => {}
            r = stop.changed() => if r.is_err() { return Ok(None) },
        }
    }
}

/// Records from `from` up to about `size` bytes of data (at least one),
/// before offset `limit`.
pub(crate) fn read_batch(
    buffer: &super::Buffer,
    from: u64,
    size: u64,
    limit: u64,
) -> Result<Batch, FirehoseError> {
    let mut records: Vec<StoredRecord> = Vec::new();
    let mut bytes = 0u64;
    let mut at = from;
    let end = buffer.end_offset().min(limit);
    while at < end && bytes < size {
        let chunk = buffer.read(at, 10_000, (size - bytes).min(16 << 20) as usize)?;
        let Some(last) = chunk.last() else { break };
        at = last.offset + 1;
        for r in chunk {
            if r.offset >= end || (bytes > 0 && bytes + r.value.len() as u64 > size) {
                at = r.offset;
                return Ok(Batch::new(from, at, records, bytes));
            }
            bytes += r.value.len() as u64;
            records.push(r);
        }
    }
    Ok(Batch::new(from, at, records, bytes))
}

/// Sleeps; true if the task was stopped meanwhile.
async fn sleep_or_stop(stop: &mut watch::Receiver<bool>, d: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => false,
        r = stop.changed() => r.is_err(),
    }
}

impl Firehose {
    /// Stores the new delivered offset, then counts the batch delivered.
    async fn mark_delivered(&self, live: &Arc<Live>, batch: &Batch) -> Result<(), FirehoseError> {
        let progress = self.progress.clone();
        let meta = live.snapshot();
        let doc = Progress {
            uid: meta.uid.clone(),
            delivered: batch.end,
            in_flight_end: None,
        };
        tokio::task::spawn_blocking(move || progress.put(&meta.name, &doc))
            .await
            .map_err(|e| FirehoseError::Internal(e.to_string()))??;
        live.buffer.mark_delivered(batch.end, batch.bytes);
        Ok(())
    }

    /// Stores that `batch` is being delivered (one metadata write per batch).
    async fn mark_in_flight(&self, live: &Arc<Live>, batch: &Batch) -> Result<(), FirehoseError> {
        let progress = self.progress.clone();
        let meta = live.snapshot();
        let doc = Progress {
            uid: meta.uid.clone(),
            delivered: batch.first,
            in_flight_end: Some(batch.end),
        };
        tokio::task::spawn_blocking(move || progress.put(&meta.name, &doc))
            .await
            .map_err(|e| FirehoseError::Internal(e.to_string()))??;
        Ok(())
    }

    /// Records (or clears) the delivery failure DescribeDeliveryStream shows.
    async fn set_failure(&self, live: &Arc<Live>, error: Option<String>) {
        let failure = error.map(|details| riffle_model::firehose::FailureDescription {
            r#type: "UNKNOWN_ERROR".into(),
            details,
        });
        self.set_failure_description(live, failure).await
    }

    pub(crate) async fn set_failure_description(
        &self,
        live: &Arc<Live>,
        failure: Option<riffle_model::firehose::FailureDescription>,
    ) {
        let changed = self
            .change(live, |m| {
                if m.failure == failure {
                    return Ok(false);
                }
                m.failure = failure;
                Ok(true)
            })
            .await;
        if let Err(e) = changed {
            tracing::debug!(error = %e, "firehose: the failure description was not stored");
        }
    }

    /// One delivery attempt of `batch` to the stream's destination: process,
    /// write (or POST), back up, and write what failed to the error output.
    /// `Err` means "try the whole batch again": every write is idempotent
    /// (object names derive from the batch), so a retry overwrites.
    pub(crate) async fn deliver(
        &self,
        live: &Arc<Live>,
        meta: &DeliveryStreamMeta,
        batch: &Batch,
    ) -> Result<(), FirehoseError> {
        let plan = self.plan_for(live, meta)?;
        let seed = batch.seed(&meta.uid);
        let first_arrival = batch.first_arrival_ms();
        let version = meta.version_id;
        let raw = batch.data();
        let m = &live.metrics;
        // Processing.
        let (out, processing_failed) = if plan.pipeline.is_passthrough() {
            (raw.clone(), Vec::new())
        } else {
            let input = batch
                .records
                .iter()
                .zip(&raw)
                .map(|(r, data)| InRecord {
                    record_id: r.offset.to_string(),
                    data: data.clone(),
                    arrival_ms: r.timestamp_ms,
                    kinesis_metadata: kinesis_metadata(&r.key),
                })
                .collect();
            let ctx = BatchContext {
                delivery_stream_arn: meta.arn.clone(),
                region: self.cfg.region.clone(),
                source_kinesis_stream_arn: meta
                    .kinesis_source
                    .as_ref()
                    .map(|k| k.kinesis_stream_arn.clone()),
            };
            let results = plan.pipeline.process(&ctx, input).await;
            let mut ok = Vec::new();
            let mut failed = Vec::new();
            for r in results {
                match r {
                    ProcessedRecord::Ok { data, .. } => ok.push(data),
                    ProcessedRecord::Dropped { .. } => {}
                    ProcessedRecord::Failed { failed: f, .. } => failed.push(f),
                }
            }
            StreamMetrics::add(&m.processing_records, (ok.len() + failed.len()) as u64);
            StreamMetrics::add(&m.processing_success, ok.len() as u64);
            StreamMetrics::add(&m.processing_failure, failed.len() as u64);
            (ok, failed)
        };
        let s3_err = |e: S3Error| FirehoseError::Internal(format!("S3 delivery failed: {e}"));
        match (&plan.s3, &plan.http) {
            (Some(s3), _) => {
                s3.write(seed, first_arrival, version, &out)
                    .await
                    .map_err(s3_err)?;
                s3.write_errors(
                    ErrorOutputType::ProcessingFailed,
                    seed,
                    first_arrival,
                    version,
                    &processing_failed,
                )
                .await
                .map_err(s3_err)?;
                if s3
                    .write_backup(seed, first_arrival, version, &raw)
                    .await
                    .map_err(s3_err)?
                    .is_some()
                {
                    m.backed_up(raw.len() as u64, batch.bytes);
                }
                Ok(())
            }
            (None, Some((http, target, backup_all))) => {
                let mut failed_http = Vec::new();
                for (i, chunk) in out.chunks(MAX_RECORDS_PER_REQUEST).enumerate() {
                    let request_id = request_id(sub_seed(seed, &format!("http-{i}")));
                    match http.deliver(&request_id, chunk).await? {
                        DeliveryOutcome::Delivered { .. } => {}
                        DeliveryOutcome::Failed(f) => {
                            tracing::warn!(delivery_stream = %meta.name, request_id, code = f.error_code.as_str(), detail = %f.detail, permanent = f.permanent, "firehose: HTTP endpoint delivery failed; writing the records to the error output");
                            let arrival = vec![first_arrival; chunk.len()];
                            let refs: Vec<RecordRef> = (0..chunk.len())
                                .map(|j| RecordRef {
                                    sequence: (batch.first
                                        + (i * MAX_RECORDS_PER_REQUEST + j) as u64)
                                        .to_string(),
                                    subsequence: 0,
                                })
                                .collect();
                            failed_http.extend(f.failed_records(chunk, &arrival, &refs));
                        }
                    }
                }
                target
                    .write_errors(
                        ErrorOutputType::HttpEndpointFailed,
                        seed,
                        first_arrival,
                        version,
                        &failed_http,
                    )
                    .await
                    .map_err(s3_err)?;
                target
                    .write_errors(
                        ErrorOutputType::ProcessingFailed,
                        seed,
                        first_arrival,
                        version,
                        &processing_failed,
                    )
                    .await
                    .map_err(s3_err)?;
                if *backup_all {
                    target
                        .write(sub_seed(seed, "backup"), first_arrival, version, &raw)
                        .await
                        .map_err(s3_err)?;
                    m.backed_up(raw.len() as u64, batch.bytes);
                }
                if !failed_http.is_empty() {
                    self.set_failure(
                        live,
                        Some(format!(
                            "{} records could not be delivered to the HTTP endpoint and were written to the S3 error output",
                            failed_http.len()
                        )),
                    )
                    .await;
                }
                Ok(())
            }
            (None, None) => Err(FirehoseError::Internal("no destination".into())),
        }
    }

    /// The destination objects of the stream's current configuration,
    /// rebuilt when its version changes.
    fn plan_for(
        &self,
        live: &Arc<Live>,
        meta: &DeliveryStreamMeta,
    ) -> Result<Arc<Plan>, FirehoseError> {
        let mut cached = live.plan.lock();
        if let Some((v, p)) = cached.as_ref() {
            if *v == meta.version_id {
                return Ok(p.clone());
            }
        }
        let plan = Arc::new(self.build_plan(meta)?);
        *cached = Some((meta.version_id, plan.clone()));
        Ok(plan)
    }

    /// Builds (and so checks) what delivering `meta`'s destination takes;
    /// CreateDeliveryStream and UpdateDestination call it to refuse what
    /// cannot be delivered (prefixes, compression, processors, endpoint URL).
    pub(crate) fn build_plan(&self, meta: &DeliveryStreamMeta) -> Result<Plan, FirehoseError> {
        let cfg_err = |e: S3Error| {
            if e.is_config() {
                FirehoseError::InvalidArgument(e.to_string())
            } else {
                FirehoseError::Internal(e.to_string())
            }
        };
        let processing = match &meta.destination {
            DestinationConfig::ExtendedS3(c) => c.processing_configuration.as_ref(),
            DestinationConfig::HttpEndpoint(c) => c.processing_configuration.as_ref(),
            DestinationConfig::S3(_) => None,
        };
        let pipeline = match processing {
            Some(p) => Pipeline::from_config(p, &self.delivery.functions)
                .map_err(FirehoseError::InvalidArgument)?,
            None => Pipeline::passthrough(),
        };
        let s3 =
            S3Destination::for_destination(self.objects.clone(), &meta.name, &meta.destination)
                .map_err(cfg_err)?;
        let http = match &meta.destination {
            DestinationConfig::HttpEndpoint(c) => {
                let h =
                    HttpDestination::with_options(c, meta.arn.clone(), self.delivery.http.clone())?;
                let target =
                    S3Target::from_s3_config(self.objects.clone(), &meta.name, &c.s3_configuration)
                        .map_err(cfg_err)?;
                Some((h, target, c.s3_backup_mode.as_deref() == Some("AllData")))
            }
            _ => None,
        };
        Ok(Plan { pipeline, s3, http })
    }
}

/// A UUID-shaped request id from a seed: the same batch always sends the same id.
fn request_id(seed: u128) -> String {
    uuid::Uuid::from_u128(seed).hyphenated().to_string()
}

/// The Kinesis source's metadata, stored as the buffer record's key.
fn kinesis_metadata(key: &[u8]) -> Option<crate::process::KinesisRecordMetadata> {
    if key.is_empty() {
        return None;
    }
    let m: crate::source::KinesisRecordMetadata = serde_json::from_slice(key).ok()?;
    Some(crate::process::KinesisRecordMetadata {
        shard_id: m.shard_id,
        partition_key: m.partition_key,
        approximate_arrival_ms: m.approximate_arrival_timestamp,
        sequence_number: m.sequence_number,
        subsequence_number: m.subsequence_number,
    })
}

/// What delivering one configuration version takes.
pub(crate) struct Plan {
    pipeline: Pipeline,
    s3: Option<S3Destination>,
    /// The endpoint, its `S3Configuration` (errors, backup), and whether
    /// every record is backed up (`S3BackupMode` AllData).
    http: Option<(HttpDestination, S3Target, bool)>,
}
