//! `--audit-stream`: every audit record also goes into a Riffle stream, as
//! CloudTrail can deliver to a Kinesis stream. Appended through the engine
//! API (not the edge), so the copies are not audited themselves.

use riffle_server::AuditSink;
use riffle_streams::api::AppendRecord;
use riffle_streams::Engine;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub struct StreamSink {
    engine: Arc<Engine>,
    stream: String,
    /// Warn once per outage (missing stream, failed append), not per record.
    warned: Arc<AtomicBool>,
}

impl StreamSink {
    pub fn new(engine: Arc<Engine>, stream: String) -> StreamSink {
        StreamSink {
            engine,
            stream,
            warned: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl AuditSink for StreamSink {
    fn copy(&self, event_id: &str, record: Vec<u8>) {
        let (engine, stream, warned) = (
            self.engine.clone(),
            self.stream.clone(),
            self.warned.clone(),
        );
        let rec = AppendRecord {
            partition_key: event_id.to_string(),
            explicit_hash_key: None,
            data: record,
        };
        tokio::spawn(async move {
            let appended = match engine.stream_id(&stream) {
                Ok(id) => engine
                    .append(&id, vec![rec])
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|mut r| match r.pop() {
                        Some(Ok(_)) => Ok(()),
                        Some(Err(e)) => Err(e.to_string()),
                        None => Err("no result".into()),
                    }),
                Err(e) => Err(e.to_string()),
            };
            match appended {
                Ok(()) => warned.store(false, Ordering::Relaxed),
                Err(e) => {
                    if !warned.swap(true, Ordering::Relaxed) {
                        tracing::warn!(stream, error = %e, "audit records not copied into the audit stream (create it?)");
                    }
                }
            }
        });
    }
}
