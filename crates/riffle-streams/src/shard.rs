//! A shard's record log plus the signal that wakes push subscribers.

use riffle_log::{AppendInfo, LogError, ShardLog};
use tokio::sync::watch;

/// One shard's log. Every append that returns has its records durable (per
/// the sync policy) and readable, and then bumps `appended` to the new end
/// offset so enhanced fan-out subscribers wake without polling.
pub(crate) struct ShardHandle {
    log: ShardLog,
    appended: watch::Sender<u64>,
}

impl ShardHandle {
    pub(crate) fn new(log: ShardLog) -> ShardHandle {
        let (appended, _) = watch::channel(log.end_offset());
        ShardHandle { log, appended }
    }

    /// Appends one batch (blocking) and notifies subscribers.
    pub(crate) fn append(
        &self,
        timestamp_ms: i64,
        records: &[(&[u8], &[u8])],
    ) -> Result<AppendInfo, LogError> {
        let info = self.log.append(timestamp_ms, records)?;
        self.appended.send_replace(self.log.end_offset());
        Ok(info)
    }

    /// A receiver that changes whenever records are appended.
    #[allow(dead_code)]
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }
}

impl std::ops::Deref for ShardHandle {
    type Target = ShardLog;
    fn deref(&self) -> &ShardLog {
        &self.log
    }
}
