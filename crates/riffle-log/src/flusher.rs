//! The background flusher of [`SyncPolicy::IntervalMs`](crate::SyncPolicy): one thread per
//! distinct interval for the whole process, not one per log, so 20,000 shards cost one
//! thread. It holds only weak references and forgets a log as soon as it is dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tracing::warn;

use crate::log::Inner;
use crate::LogError;

/// Lets `ShardLog::drop` wait for a flush of its log that is in progress, so that once
/// the log is dropped no strong reference to it survives on the flusher thread (the
/// directory lock is released and the shard can be reopened at once).
#[derive(Default)]
struct Gate {
    closed: AtomicBool,
    busy: Mutex<()>,
}

/// Membership of one log in its interval's flusher; dropping it unregisters the log.
pub(crate) struct Registration {
    gate: Arc<Gate>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let _busy = self.gate.busy.lock();
        self.gate.closed.store(true, Ordering::Release);
    }
}

struct Member {
    log: Weak<Inner>,
    gate: Arc<Gate>,
}

#[derive(Default)]
struct Group {
    members: Vec<Member>,
    running: bool,
}

/// Interval (ms) → the logs its thread flushes. A thread exits when its group is empty.
static GROUPS: LazyLock<Mutex<HashMap<u64, Group>>> = LazyLock::new(Default::default);

/// Adds `log` to the flusher of `interval_ms`, starting that thread if needed.
pub(crate) fn register(log: &Arc<Inner>, interval_ms: u64) -> Result<Registration, LogError> {
    let interval_ms = interval_ms.max(1);
    let gate = Arc::new(Gate::default());
    let mut groups = GROUPS.lock();
    let group = groups.entry(interval_ms).or_default();
    if !group.running {
        std::thread::Builder::new()
            .name(format!("riffle-log-flush-{interval_ms}ms"))
            .spawn(move || run(interval_ms))?;
        group.running = true;
    }
    group.members.push(Member {
        log: Arc::downgrade(log),
        gate: gate.clone(),
    });
    Ok(Registration { gate })
}

fn run(interval_ms: u64) {
    let interval = Duration::from_millis(interval_ms);
    let mut next = Instant::now() + interval;
    loop {
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        // The next tick is due one interval after this one started, so a write is
        // synced at most about one interval (plus the time of the syncs) later.
        next += interval;
        let now = Instant::now();
        if next < now {
            next = now;
        }
        let members: Vec<(Weak<Inner>, Arc<Gate>)> = {
            let mut groups = GROUPS.lock();
            let Some(group) = groups.get_mut(&interval_ms) else {
                return;
            };
            group
                .members
                .retain(|m| !m.gate.closed.load(Ordering::Acquire) && m.log.strong_count() > 0);
            if group.members.is_empty() {
                groups.remove(&interval_ms);
                return;
            }
            group
                .members
                .iter()
                .map(|m| (m.log.clone(), m.gate.clone()))
                .collect()
        };
        for (log, gate) in members {
            let _busy = gate.busy.lock();
            if gate.closed.load(Ordering::Acquire) {
                continue;
            }
            if let Some(inner) = log.upgrade() {
                if let Err(e) = inner.flush_dirty() {
                    warn!(error = %e, "background flush failed");
                }
            }
        }
    }
}
