//! PutRecord and PutRecordBatch: records go into the delivery stream's
//! buffer as one batch (one group-committed fsync) and are acknowledged
//! when durable. Record ids name the record's buffer position.

use super::{Firehose, Live};
use crate::metrics::StreamMetrics;
use crate::FirehoseError;
use bytes::Bytes;
use std::sync::Arc;

/// What PutRecordBatch answers per record.
#[derive(Debug)]
pub enum PutOutcome {
    /// Accepted: the record id.
    Ok(String),
    /// Refused (`ServiceUnavailableException` "Slow down." when the buffer is full).
    Failed { code: String, message: String },
}

/// PutRecordBatch's limit on the records of one request (AWS: 4 MiB).
pub const MAX_BATCH_BYTES: u64 = 4 * 1024 * 1024;

/// AWS's text for a full buffer (PutRecord's exception and PutRecordBatch's entries).
pub const SLOW_DOWN: &str = "Slow down.";

impl Firehose {
    /// Appends `records` (Direct PUT) and returns one outcome per record, in
    /// order. When the stream's undelivered bytes are over the cap, every
    /// record is refused with `ServiceUnavailableException` and nothing is
    /// written: a caller retries the failed ones, as AWS tells it to.
    pub async fn put_records(
        &self,
        name: &str,
        records: Vec<Bytes>,
    ) -> Result<Vec<PutOutcome>, FirehoseError> {
        let live = self.live(name)?;
        // The record path reads three fields, not a clone of the whole
        // configuration document.
        let (accepts, direct_put, uid) = {
            let m = live.meta.read();
            (
                m.doc.status.accepts_records(),
                m.doc.delivery_stream_type == "DirectPut",
                m.doc.uid.clone(),
            )
        };
        if !accepts {
            return Err(self.not_found(name));
        }
        if !direct_put {
            return Err(FirehoseError::InvalidArgument(
                "This operation is not permitted on KinesisStreamAsSource delivery stream type."
                    .to_string(),
            ));
        }
        let m = &live.metrics;
        StreamMetrics::add(&m.incoming_put_requests, 1);
        let bytes: u64 = records.iter().map(|r| r.len() as u64).sum();
        if bytes > MAX_BATCH_BYTES {
            return Err(FirehoseError::InvalidArgument(format!(
                "Records size exceeds 4 MB limit: the records of this request hold {bytes} bytes."
            )));
        }
        if live.buffer.pending_bytes() + bytes > self.cfg.buffer_cap_bytes {
            StreamMetrics::add(&m.throttled_records, records.len() as u64);
            return Ok(records
                .iter()
                .map(|_| PutOutcome::Failed {
                    code: "ServiceUnavailableException".into(),
                    message: SLOW_DOWN.into(),
                })
                .collect());
        }
        let n = records.len();
        let first = append(&live, self.now_ms(), records).await?;
        StreamMetrics::add(&m.incoming_records, n as u64);
        StreamMetrics::add(&m.incoming_bytes, bytes);
        Ok((0..n as u64)
            .map(|i| PutOutcome::Ok(record_id(&uid, first + i)))
            .collect())
    }

    /// Appends records from a source (a Kinesis stream) with their
    /// metadata key; returns when they are durable. The buffer cap is not
    /// applied: the source waits for delivery instead (see `source`).
    pub async fn append_from_source(
        &self,
        name: &str,
        uid: &str,
        records: Vec<(Vec<u8>, Bytes)>,
    ) -> Result<(), FirehoseError> {
        let live = self.live(name)?;
        if live.snapshot().uid != uid {
            return Err(self.not_found(name));
        }
        let n = records.len() as u64;
        let bytes: u64 = records.iter().map(|(_, d)| d.len() as u64).sum();
        let buffer = live.buffer.clone();
        let now = self.now_ms();
        tokio::task::spawn_blocking(move || {
            let refs: Vec<(&[u8], &[u8])> = records
                .iter()
                .map(|(k, d)| (k.as_slice(), d.as_ref()))
                .collect();
            buffer.append(now, &refs)
        })
        .await
        .map_err(|e| FirehoseError::Internal(e.to_string()))??;
        StreamMetrics::add(&live.metrics.incoming_records, n);
        StreamMetrics::add(&live.metrics.incoming_bytes, bytes);
        Ok(())
    }

    /// Undelivered bytes of a stream (for a source's backpressure).
    pub fn pending_bytes(&self, name: &str) -> Option<u64> {
        self.streams
            .read()
            .get(name)
            .map(|l| l.buffer.pending_bytes())
    }
}

async fn append(live: &Arc<Live>, now_ms: i64, records: Vec<Bytes>) -> Result<u64, FirehoseError> {
    let buffer = live.buffer.clone();
    tokio::task::spawn_blocking(move || {
        let refs: Vec<(&[u8], &[u8])> = records.iter().map(|d| (&[][..], d.as_ref())).collect();
        buffer.append(now_ms, &refs)
    })
    .await
    .map_err(|e| FirehoseError::Internal(e.to_string()))?
}

/// An opaque, unique record id: the stream's uid and the record's buffer offset.
pub fn record_id(uid: &str, offset: u64) -> String {
    // Hex digits pushed by hand: `format!("{uid}{offset:016x}")` was 8% of
    // the server's instructions under PutRecordBatch load (one id per record).
    let mut id = String::with_capacity(uid.len() + 16);
    id.push_str(uid);
    for shift in (0..16).rev() {
        let nibble = ((offset >> (shift * 4)) & 0xf) as u32;
        id.push(char::from_digit(nibble, 16).unwrap_or('0'));
    }
    id
}

#[cfg(test)]
mod tests {
    #[test]
    fn record_ids_are_the_uid_then_16_lowercase_hex_digits() {
        for offset in [0, 1, 0xabc, 0x0123_4567_89ab_cdef, u64::MAX] {
            assert_eq!(
                super::record_id("uid-", offset),
                format!("uid-{offset:016x}")
            );
        }
    }
}
