//! One delivery task per delivery stream: waits until the undelivered part
//! of the buffer reaches the size hint or its oldest record the interval
//! hint, reads that batch back from the buffer, processes it, writes it to
//! the destination (retrying until it succeeds or, for destinations with a
//! retry duration, until the failed records are in the error output), then
//! stores the new delivered offset. A crash anywhere repeats the batch from
//! the stored offset: at-least-once, and the object it writes has the same
//! name, so the set of delivered objects has no duplicates.

use super::{Firehose, Live, Progress};
use crate::convert::{Catalog, Converter};
use crate::destination::http::{
    DeliveryOutcome, HttpDestination, HttpOptions, RecordRef, MAX_RECORDS_PER_REQUEST,
};
use crate::destination::opensearch::OpenSearchDestination;
use crate::destination::redshift::RedshiftDestination;
use crate::destination::s3::{
    batch_seed, sub_seed, ErrorOutputType, S3Destination, S3Error, S3Target,
};
use crate::destination::splunk::SplunkDestination;
use crate::destination::{BatchInfo, DeliveryReport, DestinationContext, OutRecord};
use crate::meta::{DeliveryStreamMeta, DestinationConfig};
use crate::metrics::StreamMetrics;
use crate::partition::{PartitionKeys, Partitioner};
use crate::process::{BatchContext, FunctionTargets, InRecord, Pipeline, ProcessedRecord};
use crate::FirehoseError;
use bytes::Bytes;
use riffle_log::StoredRecord;
use std::collections::{BTreeMap, HashMap};
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
    /// HTTP endpoint timings and extra trusted CAs (every destination's).
    pub http: HttpOptions,
    /// Table definitions for format conversion (`--firehose-tables`).
    pub catalog: Arc<Catalog>,
    /// Active partitions a dynamically partitioned stream may have
    /// (AWS's quota: 500).
    pub active_partitions_limit: usize,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            functions: FunctionTargets::default(),
            http: HttpOptions::default(),
            catalog: Arc::new(Catalog::default()),
            active_partitions_limit: 500,
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
    macro_rules! of {
        ($h:expr) => {
            $h.as_ref().map(|h| (h.size_in_m_bs, h.interval_in_seconds))
        };
    }
    let h = match d {
        DestinationConfig::ExtendedS3(c) => of!(c.buffering_hints),
        DestinationConfig::S3(c) => of!(c.buffering_hints),
        DestinationConfig::HttpEndpoint(c) => of!(c.buffering_hints),
        // Redshift has no hints of its own: its staging S3Configuration's apply.
        DestinationConfig::Redshift(c) => of!(c.s3_configuration.buffering_hints),
        DestinationConfig::Elasticsearch(c) => of!(c.buffering_hints),
        DestinationConfig::OpenSearch(c) => of!(c.buffering_hints),
        DestinationConfig::OpenSearchServerless(c) => of!(c.buffering_hints),
        // Splunk's default interval is 60 s.
        DestinationConfig::Splunk(c) => {
            Some(of!(c.buffering_hints).map_or((None, Some(60)), |(s, i)| (s, i.or(Some(60)))))
        }
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
    /// write (or send), back up, and write what failed to the error output.
    /// `Err` means "try the whole batch again": every write is idempotent
    /// (object names derive from the batch), so a retry overwrites.
    pub(crate) async fn deliver(
        &self,
        live: &Arc<Live>,
        meta: &DeliveryStreamMeta,
        batch: &Batch,
    ) -> Result<(), FirehoseError> {
        let plan = self.plan_for(live, meta)?;
        let info = BatchInfo {
            seed: batch.seed(&meta.uid),
            first_arrival_ms: batch.first_arrival_ms(),
            version: meta.version_id,
        };
        let raw = batch.data();
        let m = &live.metrics;
        let (out, processing_failed) = self.process(&plan, meta, batch, &raw, m).await;
        let s3_err = |e: S3Error| FirehoseError::Internal(format!("S3 delivery failed: {e}"));
        let processing_target = match &plan.sink {
            Sink::S3(s) => s.dest.target(),
            Sink::Http { target, .. } => target,
            Sink::Redshift(d) => d.s3(),
            Sink::OpenSearch(d) => d.s3(),
            Sink::Splunk(d) => d.s3(),
        };
        processing_target
            .write_errors(
                ErrorOutputType::ProcessingFailed,
                info.seed,
                info.first_arrival_ms,
                info.version,
                &processing_failed,
            )
            .await
            .map_err(s3_err)?;
        let report = match &plan.sink {
            Sink::S3(s) => {
                self.deliver_s3(s, &info, &raw, &out, batch.bytes, m)
                    .await?
            }
            Sink::Http {
                http,
                target,
                backup_all,
            } => {
                self.deliver_http(
                    live,
                    meta,
                    batch,
                    &info,
                    &raw,
                    &out,
                    http,
                    target,
                    *backup_all,
                )
                .await?;
                return Ok(());
            }
            Sink::Redshift(d) => d.deliver(&info, &raw, &records(&out)).await?,
            Sink::OpenSearch(d) => d.deliver(&info, &raw, &records(&out)).await?,
            Sink::Splunk(d) => d.deliver(&info, &raw, &records(&out)).await?,
        };
        for (name, n) in &report.metrics {
            m.count(name, *n);
        }
        if report.failure.is_some() {
            self.set_failure_description(live, report.failure).await;
        }
        Ok(())
    }

    /// Runs the stream's processors over the batch: the records to deliver,
    /// and those that failed processing (for `processing-failed`).
    async fn process(
        &self,
        plan: &Plan,
        meta: &DeliveryStreamMeta,
        batch: &Batch,
        raw: &[Bytes],
        m: &StreamMetrics,
    ) -> (Vec<Processed>, Vec<crate::destination::FailedRecord>) {
        let record = |i: usize, data: Bytes, keys: BTreeMap<String, String>| Processed {
            out: OutRecord {
                data,
                arrival_ms: batch.records[i].timestamp_ms,
                record_id: batch.records[i].offset.to_string(),
                raw: raw[i].clone(),
            },
            lambda_keys: keys,
        };
        if plan.pipeline.is_passthrough() {
            let out = raw
                .iter()
                .enumerate()
                .map(|(i, d)| record(i, d.clone(), BTreeMap::new()))
                .collect();
            return (out, Vec::new());
        }
        let input = batch
            .records
            .iter()
            .zip(raw)
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
        let index = |id: &str| {
            id.parse::<u64>()
                .ok()
                .and_then(|o| batch.records.binary_search_by_key(&o, |r| r.offset).ok())
        };
        let mut ok = Vec::new();
        let mut failed = Vec::new();
        for r in results {
            match r {
                ProcessedRecord::Ok {
                    record_id,
                    data,
                    partition_keys,
                    ..
                } => match index(&record_id) {
                    Some(i) => ok.push(record(i, data, partition_keys)),
                    None => tracing::warn!(
                        record_id,
                        "firehose: a processor answered a record id it was not given"
                    ),
                },
                ProcessedRecord::Dropped { .. } => {}
                ProcessedRecord::Failed { failed: f, .. } => failed.push(f),
            }
        }
        StreamMetrics::add(&m.processing_records, (ok.len() + failed.len()) as u64);
        StreamMetrics::add(&m.processing_success, ok.len() as u64);
        StreamMetrics::add(&m.processing_failure, failed.len() as u64);
        (ok, failed)
    }

    /// An (extended) S3 destination: one object per batch, or per partition
    /// with dynamic partitioning; Parquet/ORC with format conversion; the
    /// source records backed up with `S3BackupMode` Enabled.
    async fn deliver_s3(
        &self,
        s: &S3Sink,
        info: &BatchInfo,
        raw: &[Bytes],
        out: &[Processed],
        batch_bytes: u64,
        m: &StreamMetrics,
    ) -> Result<DeliveryReport, FirehoseError> {
        let s3_err = |e: S3Error| FirehoseError::Internal(format!("S3 delivery failed: {e}"));
        let target = s.dest.target();
        let mut report = DeliveryReport::default();
        // Records grouped by partition (one group without partitioning),
        // in the order of their first record.
        let mut groups: Vec<(Option<PartitionKeys>, Vec<OutRecord>)> = Vec::new();
        let mut partition_failed = Vec::new();
        match &s.partitioner {
            None => groups.push((None, out.iter().map(|p| p.out.clone()).collect())),
            Some(p) => {
                let mut at: HashMap<PartitionKeys, usize> = HashMap::new();
                for r in out {
                    match p.keys(&r.out.data, &r.lambda_keys) {
                        Ok(keys) => {
                            let i = *at.entry(keys.clone()).or_insert_with(|| {
                                groups.push((Some(keys), Vec::new()));
                                groups.len() - 1
                            });
                            groups[i].1.push(r.out.clone());
                        }
                        Err(e) => partition_failed.push(crate::destination::FailedRecord {
                            raw_data: r.out.raw.clone(),
                            arrival_ms: r.out.arrival_ms,
                            attempts_made: 1,
                            attempt_ending_ms: chrono::Utc::now().timestamp_millis(),
                            error_code: e.code,
                            error_message: e.message,
                            extra: Vec::new(),
                        }),
                    }
                }
                report.metrics.push(("PartitionCount", groups.len() as u64));
            }
        }
        let mut conversion_failed = Vec::new();
        for (keys, records) in &groups {
            let seed = match keys {
                None => info.seed,
                Some(k) => sub_seed(info.seed, &format!("partition-{k:?}")),
            };
            let first_arrival = records
                .first()
                .map_or(info.first_arrival_ms, |r| r.arrival_ms);
            let key = match keys {
                None => target.keys().object_key(info.version, seed, first_arrival),
                Some(k) => target
                    .keys()
                    .object_key_in(info.version, seed, first_arrival, k),
            };
            match &s.converter {
                None => {
                    if records.is_empty() {
                        continue;
                    }
                    let data: Vec<Bytes> = records.iter().map(|r| r.data.clone()).collect();
                    target.put(key, &data).await.map_err(s3_err)?;
                }
                Some(c) => {
                    let converted = c.convert(records)?;
                    report
                        .metrics
                        .push(("SucceedConversion.Records", converted.rows));
                    report
                        .metrics
                        .push(("FailedConversion.Records", converted.failed.len() as u64));
                    conversion_failed.extend(converted.failed);
                    if let Some(body) = converted.body {
                        report
                            .metrics
                            .push(("SucceedConversion.Bytes", body.len() as u64));
                        target.put_body(key, body).await.map_err(s3_err)?;
                    }
                }
            }
        }
        for (kind, failed) in [
            (ErrorOutputType::FormatConversionFailed, &conversion_failed),
            (ErrorOutputType::ProcessingFailed, &partition_failed),
        ] {
            target
                .write_errors(
                    kind,
                    sub_seed(info.seed, "partitioning"),
                    info.first_arrival_ms,
                    info.version,
                    failed,
                )
                .await
                .map_err(s3_err)?;
        }
        if s.dest
            .write_backup(info.seed, info.first_arrival_ms, info.version, raw)
            .await
            .map_err(s3_err)?
            .is_some()
        {
            m.backed_up(raw.len() as u64, batch_bytes);
        }
        report.delivered_records = out.len() as u64;
        Ok(report)
    }

    /// An HTTP endpoint: requests of at most 500 records, failures to the
    /// `http-endpoint-failed` error output, `S3BackupMode` AllData.
    #[allow(clippy::too_many_arguments)]
    async fn deliver_http(
        &self,
        live: &Arc<Live>,
        meta: &DeliveryStreamMeta,
        batch: &Batch,
        info: &BatchInfo,
        raw: &[Bytes],
        out: &[Processed],
        http: &HttpDestination,
        target: &S3Target,
        backup_all: bool,
    ) -> Result<(), FirehoseError> {
        let s3_err = |e: S3Error| FirehoseError::Internal(format!("S3 delivery failed: {e}"));
        let m = &live.metrics;
        let out: Vec<Bytes> = out.iter().map(|p| p.out.data.clone()).collect();
        let mut failed_http = Vec::new();
        for (i, chunk) in out.chunks(MAX_RECORDS_PER_REQUEST).enumerate() {
            let request_id = request_id(sub_seed(info.seed, &format!("http-{i}")));
            match http.deliver(&request_id, chunk).await? {
                DeliveryOutcome::Delivered { .. } => {}
                DeliveryOutcome::Failed(f) => {
                    tracing::warn!(delivery_stream = %meta.name, request_id, code = f.error_code.as_str(), detail = %f.detail, permanent = f.permanent, "firehose: HTTP endpoint delivery failed; writing the records to the error output");
                    let arrival = vec![info.first_arrival_ms; chunk.len()];
                    let refs: Vec<RecordRef> = (0..chunk.len())
                        .map(|j| RecordRef {
                            sequence: (batch.first + (i * MAX_RECORDS_PER_REQUEST + j) as u64)
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
                info.seed,
                info.first_arrival_ms,
                info.version,
                &failed_http,
            )
            .await
            .map_err(s3_err)?;
        if backup_all {
            target
                .write(
                    sub_seed(info.seed, "backup"),
                    info.first_arrival_ms,
                    info.version,
                    raw,
                )
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
    /// cannot be delivered (prefixes, compression, processors, endpoint URL,
    /// COPY options, conversion schema, partitioning queries).
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
            DestinationConfig::Redshift(c) => c.processing_configuration.as_ref(),
            DestinationConfig::Elasticsearch(c) => c.processing_configuration.as_ref(),
            DestinationConfig::OpenSearch(c) => c.processing_configuration.as_ref(),
            DestinationConfig::OpenSearchServerless(c) => c.processing_configuration.as_ref(),
            DestinationConfig::Splunk(c) => c.processing_configuration.as_ref(),
        };
        let pipeline = match processing {
            Some(p) => Pipeline::from_config(p, &self.delivery.functions)
                .map_err(FirehoseError::InvalidArgument)?,
            None => Pipeline::passthrough(),
        };
        let ctx = DestinationContext {
            store: self.objects.clone(),
            stream_name: meta.name.clone(),
            stream_arn: meta.arn.clone(),
            http: self.delivery.http.clone(),
        };
        let sink = match &meta.destination {
            DestinationConfig::ExtendedS3(c) => Sink::S3(S3Sink {
                dest: S3Destination::new(self.objects.clone(), &meta.name, c).map_err(cfg_err)?,
                converter: Converter::new(
                    c.data_format_conversion_configuration.as_ref(),
                    &self.delivery.catalog,
                )
                .map_err(FirehoseError::InvalidArgument)?,
                partitioner: Partitioner::new(c).map_err(FirehoseError::InvalidArgument)?,
            }),
            DestinationConfig::S3(c) => Sink::S3(S3Sink {
                dest: S3Destination::from_legacy(self.objects.clone(), &meta.name, c)
                    .map_err(cfg_err)?,
                converter: None,
                partitioner: None,
            }),
            DestinationConfig::HttpEndpoint(c) => Sink::Http {
                http: HttpDestination::with_options(
                    c,
                    meta.arn.clone(),
                    self.delivery.http.clone(),
                )?,
                target: S3Target::from_s3_config(
                    self.objects.clone(),
                    &meta.name,
                    &c.s3_configuration,
                )
                .map_err(cfg_err)?,
                backup_all: c.s3_backup_mode.as_deref() == Some("AllData"),
            },
            DestinationConfig::Redshift(c) => Sink::Redshift(RedshiftDestination::new(c, &ctx)?),
            DestinationConfig::Elasticsearch(c) => {
                Sink::OpenSearch(OpenSearchDestination::elasticsearch(c, &ctx)?)
            }
            DestinationConfig::OpenSearch(c) => {
                Sink::OpenSearch(OpenSearchDestination::opensearch(c, &ctx)?)
            }
            DestinationConfig::OpenSearchServerless(c) => {
                Sink::OpenSearch(OpenSearchDestination::serverless(c, &ctx)?)
            }
            DestinationConfig::Splunk(c) => Sink::Splunk(SplunkDestination::new(c, &ctx)?),
        };
        Ok(Plan { pipeline, sink })
    }
}

fn records(out: &[Processed]) -> Vec<OutRecord> {
    out.iter().map(|p| p.out.clone()).collect()
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
    sink: Sink,
}

/// A record after processing, with the partition keys its function gave.
struct Processed {
    out: OutRecord,
    lambda_keys: BTreeMap<String, String>,
}

/// An (extended) S3 destination with its conversion and partitioning.
struct S3Sink {
    dest: S3Destination,
    converter: Option<Converter>,
    partitioner: Option<Partitioner>,
}

/// Where a configuration version delivers.
enum Sink {
    S3(S3Sink),
    /// The endpoint, its `S3Configuration` (errors, backup), and whether
    /// every record is backed up (`S3BackupMode` AllData).
    Http {
        http: HttpDestination,
        target: S3Target,
        backup_all: bool,
    },
    Redshift(RedshiftDestination),
    OpenSearch(OpenSearchDestination),
    Splunk(SplunkDestination),
}
