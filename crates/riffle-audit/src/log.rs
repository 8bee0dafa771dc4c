//! The writer. One background thread owns the open journal; callers hand it
//! serialized events over a channel. Management events wait for the fsync
//! that covers them (concurrent callers share one fsync: group commit); data
//! events return at once and are fsynced within `data_commit_window`.
//!
//! A gzip file cannot be appended durably, so the open period lives in a
//! journal (`<dir>/journal/<name>.jsonl`, one event per line). Every
//! `rotate_every`, and at open for journals a crash left behind, the journal
//! becomes `<dir>/AWSLogs/…/<name>.json.gz` (temp file, fsync, rename, fsync
//! directories) and is then deleted. A second thread does that compression
//! and retention, so a large rotation never delays acknowledgements: the
//! writer only fsyncs the closed journal and hands it over. The final name is fixed when the
//! journal is created, so a crash between the rename and the delete is
//! recognised and never yields a second copy.

use crate::error::AuditError;
use crate::event::{AuditEvent, EventCategory};
use crate::layout::{self, FileName, FINAL_EXT, JOURNAL_DIR, JOURNAL_EXT, TEMP_EXT};
use chrono::Utc;
use flate2::write::GzEncoder;
use flate2::Compression;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Data events waiting for the writer beyond this are dropped (and counted)
/// rather than letting a slow disk grow memory without bound; management
/// events are never dropped.
const MAX_QUEUED_DATA: usize = 100_000;

/// Where and how the trail is written.
#[derive(Clone, Debug)]
pub struct AuditConfig {
    /// The trail's root, normally `<data-dir>/audit`.
    pub dir: PathBuf,
    /// Account and region in the file layout and names.
    pub account_id: String,
    pub region: String,
    /// Record data events (record-level calls); when false they are dropped
    /// and counted in [`AuditStats::dropped_data_events`].
    pub data_events: bool,
    /// How long a journal stays open before it becomes a `.json.gz` file.
    pub rotate_every: Duration,
    /// Finished files older than this (by the time in their name) are
    /// deleted; `None` keeps them forever.
    pub retention: Option<Duration>,
    /// A data event is fsynced at most this long after it was recorded.
    pub data_commit_window: Duration,
}

impl AuditConfig {
    /// CloudTrail's defaults: data events on, a file about every 5 minutes,
    /// 90 days kept, data events durable within 1 s.
    pub fn new(dir: impl Into<PathBuf>, account_id: &str, region: &str) -> AuditConfig {
        AuditConfig {
            dir: dir.into(),
            account_id: account_id.to_string(),
            region: region.to_string(),
            data_events: true,
            rotate_every: Duration::from_secs(5 * 60),
            retention: Some(Duration::from_secs(90 * 24 * 3600)),
            data_commit_window: Duration::from_secs(1),
        }
    }

    fn validate(&self) -> Result<(), AuditError> {
        // Both are fields of the `_`-separated file name and a path segment.
        for (what, v) in [("account id", &self.account_id), ("region", &self.region)] {
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(AuditError::Config(format!(
                    "{what} {v:?} must be non-empty letters, digits and '-'"
                )));
            }
        }
        if self.rotate_every.is_zero() || self.data_commit_window.is_zero() {
            return Err(AuditError::Config(
                "rotate_every and data_commit_window must be positive".into(),
            ));
        }
        Ok(())
    }
}

/// Counters since open, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuditStats {
    /// Management events written to the journal.
    pub management_events: u64,
    /// Data events written to the journal.
    pub data_events: u64,
    /// Data events covered by an fsync (durable).
    pub durable_data_events: u64,
    /// Data events not recorded: data events off, or the writer too far behind.
    pub dropped_data_events: u64,
    /// Journal fsyncs; fewer than management events when commits are grouped.
    pub journal_fsyncs: u64,
    /// `.json.gz` files written (rotations and recovered journals).
    pub files_written: u64,
    /// Finished files deleted by retention.
    pub files_deleted: u64,
    /// Journals left by an earlier run and finalized at open.
    pub journals_recovered: u64,
    /// Write, fsync or rotation failures (see the error log).
    pub write_errors: u64,
}

#[derive(Default)]
struct Counters {
    management_events: AtomicU64,
    data_events: AtomicU64,
    durable_data_events: AtomicU64,
    dropped_data_events: AtomicU64,
    journal_fsyncs: AtomicU64,
    files_written: AtomicU64,
    files_deleted: AtomicU64,
    journals_recovered: AtomicU64,
    write_errors: AtomicU64,
}

fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

type Reply = Result<(), String>;

enum Msg {
    Event {
        line: Vec<u8>,
        category: EventCategory,
        ack: Option<oneshot::Sender<Reply>>,
    },
    Flush(mpsc::Sender<Reply>),
    Rotate(mpsc::Sender<Reply>),
    Shutdown,
}

/// The audit trail writer. Cheap to share behind an `Arc`; dropping it
/// finalizes the open journal into a `.json.gz` file.
pub struct AuditLog {
    tx: mpsc::Sender<Msg>,
    thread: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
    queued_data: Arc<AtomicUsize>,
    data_events: bool,
    dir: PathBuf,
}

impl AuditLog {
    /// Opens (creating) the trail at `cfg.dir`, finalizes journals an
    /// earlier run left behind (dropping a torn last line, which was never
    /// acknowledged), applies retention and starts the writer thread.
    /// Blocking: call it at startup or from `spawn_blocking`.
    pub fn open(cfg: AuditConfig) -> Result<AuditLog, AuditError> {
        cfg.validate()?;
        let journal_dir = cfg.dir.join(JOURNAL_DIR);
        std::fs::create_dir_all(&journal_dir).map_err(|e| AuditError::io(&journal_dir, e))?;
        let counters = Arc::new(Counters::default());
        remove_temps(&cfg.dir)?;
        for name in journals(&cfg.dir)? {
            finalize(&cfg.dir, &name, &counters)?;
            bump(&counters.journals_recovered, 1);
        }
        apply_retention(&cfg, &counters);
        let queued_data = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = mpsc::channel();
        let dir = cfg.dir.clone();
        let data_events = cfg.data_events;
        let (jobs, job_rx) = mpsc::channel();
        let finalizer = {
            let (fcfg, fcounters) = (cfg.clone(), counters.clone());
            std::thread::Builder::new()
                .name("riffle-audit-rotate".into())
                .spawn(move || run_finalizer(fcfg, fcounters, job_rx))
                .map_err(|e| AuditError::io(&cfg.dir, e))?
        };
        let writer = Writer {
            next_maintenance: Instant::now() + cfg.rotate_every,
            finalizer: Some((jobs, finalizer)),
            cfg,
            counters: counters.clone(),
            queued_data: queued_data.clone(),
            journal: None,
            unsynced_data: None,
        };
        let thread = std::thread::Builder::new()
            .name("riffle-audit".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| AuditError::io(&dir, e))?;
        Ok(AuditLog {
            tx,
            thread: Some(thread),
            counters,
            queued_data,
            data_events,
            dir,
        })
    }

    /// Records one event. A management event returns once an fsync has
    /// made it durable; a data event returns at once and is durable within
    /// the commit window (or is dropped and counted when data events are
    /// off). Enforces CloudTrail's limits first ([`AuditEvent::normalize`]).
    /// An error means the event may not be durable; the writer carries on.
    pub async fn record(&self, mut ev: AuditEvent) -> Result<(), AuditError> {
        ev.normalize();
        let category = ev.event_category;
        if category == EventCategory::Data && !self.data_events {
            bump(&self.counters.dropped_data_events, 1);
            return Ok(());
        }
        let mut line = serde_json::to_vec(&ev).map_err(|source| AuditError::Json {
            path: self.dir.clone(),
            source,
        })?;
        line.push(b'\n');
        match category {
            EventCategory::Data => {
                if self.queued_data.fetch_add(1, Ordering::Relaxed) >= MAX_QUEUED_DATA {
                    self.queued_data.fetch_sub(1, Ordering::Relaxed);
                    bump(&self.counters.dropped_data_events, 1);
                    tracing::warn!("audit writer behind; data event dropped");
                    return Ok(());
                }
                let msg = Msg::Event {
                    line,
                    category,
                    ack: None,
                };
                if self.tx.send(msg).is_err() {
                    self.queued_data.fetch_sub(1, Ordering::Relaxed);
                    return Err(AuditError::Closed);
                }
                Ok(())
            }
            EventCategory::Management => {
                let (ack, done) = oneshot::channel();
                let msg = Msg::Event {
                    line,
                    category,
                    ack: Some(ack),
                };
                self.tx.send(msg).map_err(|_| AuditError::Closed)?;
                done.await
                    .map_err(|_| AuditError::Closed)?
                    .map_err(AuditError::Write)
            }
        }
    }

    /// Makes every event recorded so far durable. Blocking (for shutdown).
    pub fn flush(&self) -> Result<(), AuditError> {
        self.call(Msg::Flush)
    }

    /// Finalizes the open journal into a `.json.gz` file now instead of at
    /// the end of its period, and applies retention. Blocking.
    pub fn rotate_now(&self) -> Result<(), AuditError> {
        self.call(Msg::Rotate)
    }

    /// Counters since open.
    pub fn stats(&self) -> AuditStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        AuditStats {
            management_events: get(&c.management_events),
            data_events: get(&c.data_events),
            durable_data_events: get(&c.durable_data_events),
            dropped_data_events: get(&c.dropped_data_events),
            journal_fsyncs: get(&c.journal_fsyncs),
            files_written: get(&c.files_written),
            files_deleted: get(&c.files_deleted),
            journals_recovered: get(&c.journals_recovered),
            write_errors: get(&c.write_errors),
        }
    }

    /// The trail's root directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn call(&self, make: fn(mpsc::Sender<Reply>) -> Msg) -> Result<(), AuditError> {
        let (tx, rx) = mpsc::channel();
        self.tx.send(make(tx)).map_err(|_| AuditError::Closed)?;
        rx.recv()
            .map_err(|_| AuditError::Closed)?
            .map_err(AuditError::Write)
    }
}

impl Drop for AuditLog {
    /// Flushes and finalizes the open journal, then stops the writer.
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Shutdown);
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("audit writer thread panicked");
            }
        }
    }
}

struct Journal {
    file: File,
    name: FileName,
    opened: Instant,
}

struct Writer {
    cfg: AuditConfig,
    counters: Arc<Counters>,
    queued_data: Arc<AtomicUsize>,
    journal: Option<Journal>,
    /// When the oldest data event not yet fsynced was written.
    unsynced_data: Option<(Instant, u64)>,
    next_maintenance: Instant,
    /// The finalizer thread: closed journals go to it.
    finalizer: Option<(mpsc::Sender<Job>, JoinHandle<()>)>,
}

/// Work for the finalizer thread.
enum Job {
    /// Finalize this closed journal (if any), apply retention, then answer.
    Rotate(Option<FileName>, Option<mpsc::Sender<Reply>>),
    /// Retry journals abandoned after an error, and apply retention.
    Maintain(Vec<FileName>),
}

/// The finalizer thread's loop; ends when the writer drops its sender.
fn run_finalizer(cfg: AuditConfig, counters: Arc<Counters>, rx: mpsc::Receiver<Job>) {
    let finalize_logged = |name: &FileName| {
        let r = finalize(&cfg.dir, name, &counters);
        if let Err(e) = &r {
            bump(&counters.write_errors, 1);
            tracing::error!(error = %e, "finalizing an audit journal failed; retried later");
        }
        r
    };
    for job in rx {
        match job {
            Job::Rotate(name, reply) => {
                let r = name.as_ref().map_or(Ok(()), finalize_logged);
                apply_retention(&cfg, &counters);
                if let Some(tx) = reply {
                    let _ = tx.send(r.map_err(|e| e.to_string()));
                }
            }
            Job::Maintain(stranded) => {
                for name in &stranded {
                    let _ = finalize_logged(name);
                }
                apply_retention(&cfg, &counters);
            }
        }
    }
}

/// Bounds one group commit so a flood of data events cannot starve acks.
const MAX_BATCH: usize = 4096;

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Msg>) {
        loop {
            let wait = self
                .next_deadline()
                .saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok(first) => {
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(m) => batch.push(m),
                            Err(_) => break,
                        }
                    }
                    if self.handle(batch) {
                        return;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    self.shutdown();
                    return;
                }
            }
            self.on_timers();
        }
    }

    fn next_deadline(&self) -> Instant {
        let mut d = self.next_maintenance;
        if let Some((since, _)) = self.unsynced_data {
            d = d.min(since + self.cfg.data_commit_window);
        }
        if let Some(j) = &self.journal {
            d = d.min(j.opened + self.cfg.rotate_every);
        }
        d
    }

    /// Writes a batch with one write and (when anyone waits) one fsync;
    /// returns true on shutdown.
    fn handle(&mut self, batch: Vec<Msg>) -> bool {
        let mut buf = Vec::new();
        let mut acks = Vec::new();
        let mut controls = Vec::new();
        let (mut mgmt, mut data) = (0u64, 0u64);
        for msg in batch {
            match msg {
                Msg::Event {
                    line,
                    category,
                    ack,
                } => {
                    buf.extend_from_slice(&line);
                    match category {
                        EventCategory::Management => mgmt += 1,
                        EventCategory::Data => data += 1,
                    }
                    acks.extend(ack);
                }
                other => controls.push(other),
            }
        }
        self.queued_data.fetch_sub(data as usize, Ordering::Relaxed);
        let mut result = Ok(());
        if !buf.is_empty() {
            result = self.append(&buf);
            if result.is_ok() {
                bump(&self.counters.management_events, mgmt);
                bump(&self.counters.data_events, data);
                if data > 0 {
                    let since = self.unsynced_data.map_or(Instant::now(), |(t, _)| t);
                    let pending = self.unsynced_data.map_or(0, |(_, n)| n);
                    self.unsynced_data = Some((since, pending + data));
                }
            }
        }
        if result.is_ok() && (!acks.is_empty() || !controls.is_empty()) {
            result = self.sync();
        }
        let reply: Reply = result.map_err(|e| e.to_string());
        for ack in acks {
            // A caller that went away (its request was cancelled) needs no answer.
            let _ = ack.send(reply.clone());
        }
        let mut stop = false;
        for control in controls {
            match control {
                Msg::Flush(tx) => {
                    let _ = tx.send(reply.clone());
                }
                Msg::Rotate(tx) => match &reply {
                    Ok(()) => self.rotate(Some(tx)),
                    Err(e) => {
                        let _ = tx.send(Err(e.clone()));
                    }
                },
                Msg::Shutdown => stop = true,
                Msg::Event { .. } => {}
            }
        }
        if stop {
            self.shutdown();
        }
        stop
    }

    fn on_timers(&mut self) {
        let now = Instant::now();
        if let Some((since, _)) = self.unsynced_data {
            if now >= since + self.cfg.data_commit_window {
                if let Err(e) = self.sync() {
                    tracing::error!(error = %e, "audit journal fsync failed");
                }
            }
        }
        if self
            .journal
            .as_ref()
            .is_some_and(|j| now >= j.opened + self.cfg.rotate_every)
        {
            self.rotate(None);
        }
        if now >= self.next_maintenance {
            self.next_maintenance = now + self.cfg.rotate_every;
            self.maintain();
        }
    }

    /// Appends to the open journal, creating one (and making its directory
    /// entry durable) if none is open. On failure the journal is abandoned:
    /// it stays on disk and is finalized later, and the next event opens a
    /// fresh one.
    fn append(&mut self, buf: &[u8]) -> Result<(), AuditError> {
        let journal = match &mut self.journal {
            Some(j) => j,
            None => match self.create_journal() {
                Ok(j) => self.journal.insert(j),
                Err(e) => {
                    bump(&self.counters.write_errors, 1);
                    return Err(e);
                }
            },
        };
        let path = journal.name.journal_path(&self.cfg.dir);
        if let Err(e) = journal.file.write_all(buf) {
            self.fail();
            return Err(AuditError::io(path, e));
        }
        Ok(())
    }

    fn create_journal(&self) -> Result<Journal, AuditError> {
        let name = FileName::new(&self.cfg.account_id, &self.cfg.region, Utc::now());
        let path = name.journal_path(&self.cfg.dir);
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(|e| AuditError::io(&path, e))?;
        sync_dir(&self.cfg.dir.join(JOURNAL_DIR))?;
        Ok(Journal {
            file,
            name,
            opened: Instant::now(),
        })
    }

    fn sync(&mut self) -> Result<(), AuditError> {
        let Some(journal) = &self.journal else {
            return Ok(());
        };
        if let Err(e) = journal.file.sync_data() {
            let path = journal.name.journal_path(&self.cfg.dir);
            self.fail();
            return Err(AuditError::io(path, e));
        }
        bump(&self.counters.journal_fsyncs, 1);
        self.mark_data_durable();
        Ok(())
    }

    fn mark_data_durable(&mut self) {
        if let Some((_, n)) = self.unsynced_data.take() {
            bump(&self.counters.durable_data_events, n);
        }
    }

    /// After a failed write or fsync the file's state is unknown; stop using
    /// it. It is finalized (whatever lines are intact) at the next
    /// maintenance or open.
    fn fail(&mut self) {
        bump(&self.counters.write_errors, 1);
        self.journal = None;
        self.unsynced_data = None;
    }

    /// Closes the open journal (fsynced, so its data events are durable
    /// now rather than after the compression) and hands it to the finalizer
    /// thread, which answers `reply` when the `.json.gz` is in place.
    fn rotate(&mut self, reply: Option<mpsc::Sender<Reply>>) {
        let name = match self.journal.take() {
            Some(journal) => {
                match journal.file.sync_data() {
                    Ok(()) => {
                        bump(&self.counters.journal_fsyncs, 1);
                        self.mark_data_durable();
                    }
                    Err(e) => {
                        // The finalizer keeps whatever lines are intact.
                        bump(&self.counters.write_errors, 1);
                        self.unsynced_data = None;
                        tracing::error!(error = %e, "audit journal fsync failed at rotation");
                    }
                }
                Some(journal.name)
            }
            None => None,
        };
        self.send_job(Job::Rotate(name, reply));
    }

    /// Journals abandoned after an error (none in normal operation), for the
    /// finalizer to retry; it also applies retention.
    fn maintain(&mut self) {
        let current = self.journal.as_ref().map(|j| j.name.clone());
        let stranded = match journals(&self.cfg.dir) {
            Ok(names) => names
                .into_iter()
                .filter(|n| Some(n) != current.as_ref())
                .collect(),
            Err(e) => {
                tracing::error!(error = %e, "listing audit journals failed");
                Vec::new()
            }
        };
        self.send_job(Job::Maintain(stranded));
    }

    fn send_job(&mut self, job: Job) {
        let sent = match &self.finalizer {
            Some((tx, _)) => tx.send(job).map_err(|e| e.0),
            None => Err(job),
        };
        if let Err(Job::Rotate(_, Some(reply))) = sent {
            let _ = reply.send(Err(AuditError::Closed.to_string()));
        }
    }

    /// Finalizes the open journal and waits for the finalizer to finish.
    fn shutdown(&mut self) {
        self.rotate(None);
        if let Some((tx, thread)) = self.finalizer.take() {
            drop(tx);
            if thread.join().is_err() {
                tracing::error!("audit finalizer thread panicked");
            }
        }
    }
}

/// The journals in `<dir>/journal`, oldest name first.
fn journals(dir: &Path) -> Result<Vec<FileName>, AuditError> {
    let jdir = dir.join(JOURNAL_DIR);
    let mut paths = Vec::new();
    layout::walk(&jdir, &[JOURNAL_EXT], &mut paths).map_err(|e| AuditError::io(&jdir, e))?;
    let mut names: Vec<FileName> = paths
        .iter()
        .filter_map(|p| FileName::parse(&p.file_name()?.to_string_lossy(), JOURNAL_EXT))
        .collect();
    names.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
    Ok(names)
}

/// Turns a journal into its `.json.gz` file and deletes it. Lines that are
/// not complete JSON (a torn last line after a crash: never acknowledged)
/// are dropped. If the file already exists (a crash after the rename), the
/// journal is only deleted, so no event is delivered twice.
fn finalize(root: &Path, name: &FileName, counters: &Counters) -> Result<(), AuditError> {
    let jpath = name.journal_path(root);
    let fpath = name.final_path(root);
    let jdir = root.join(JOURNAL_DIR);
    if !fpath.exists() {
        let raw = match std::fs::read(&jpath) {
            Ok(raw) => raw,
            // Already finalized (a retry queued behind its rotation).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(AuditError::io(&jpath, e)),
        };
        let mut records: Vec<&[u8]> = Vec::new();
        for line in raw.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            if serde_json::from_slice::<serde::de::IgnoredAny>(line).is_ok() {
                records.push(line);
            } else {
                tracing::warn!(journal = %jpath.display(), "dropping an incomplete audit journal line");
            }
        }
        if !records.is_empty() {
            write_final(root, name, &records)?;
            bump(&counters.files_written, 1);
        }
    }
    match std::fs::remove_file(&jpath) {
        Ok(()) => sync_dir(&jdir),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(AuditError::io(&jpath, e)),
    }
}

/// Writes `{"Records":[…]}` gzip-compressed, atomically and durably.
fn write_final(root: &Path, name: &FileName, records: &[&[u8]]) -> Result<(), AuditError> {
    let dir = name.final_dir(root);
    std::fs::create_dir_all(&dir).map_err(|e| AuditError::io(&dir, e))?;
    let tmp = dir.join(format!("{}{TEMP_EXT}", name.base()));
    let io = |e| AuditError::io(&tmp, e);
    let file = File::create(&tmp).map_err(io)?;
    let mut gz = GzEncoder::new(BufWriter::new(file), Compression::default());
    gz.write_all(b"{\"Records\":[").map_err(io)?;
    for (i, rec) in records.iter().enumerate() {
        if i > 0 {
            gz.write_all(b",").map_err(io)?;
        }
        gz.write_all(rec).map_err(io)?;
    }
    gz.write_all(b"]}").map_err(io)?;
    let file = gz
        .finish()
        .map_err(io)?
        .into_inner()
        .map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    drop(file);
    let fpath = name.final_path(root);
    std::fs::rename(&tmp, &fpath).map_err(|e| AuditError::io(&fpath, e))?;
    // The new entry and any directories create_dir_all made, up to the root.
    let mut d = dir.as_path();
    loop {
        sync_dir(d)?;
        if d == root {
            break;
        }
        match d.parent() {
            Some(p) if p.starts_with(root) => d = p,
            _ => break,
        }
    }
    Ok(())
}

/// Temp files of a rotation a crash interrupted (the journal still exists).
fn remove_temps(root: &Path) -> Result<(), AuditError> {
    let logs = root.join("AWSLogs");
    let mut temps = Vec::new();
    layout::walk(&logs, &[TEMP_EXT], &mut temps).map_err(|e| AuditError::io(&logs, e))?;
    for t in temps {
        std::fs::remove_file(&t).map_err(|e| AuditError::io(&t, e))?;
    }
    Ok(())
}

/// Deletes finished files whose name's time is older than the retention,
/// and the day directories that leaves empty. Errors are logged: retention
/// must never stop recording.
fn apply_retention(cfg: &AuditConfig, counters: &Counters) {
    let Some(keep) = cfg.retention else {
        return;
    };
    let Ok(keep) = chrono::Duration::from_std(keep) else {
        return;
    };
    let Some(cutoff) = Utc::now().checked_sub_signed(keep) else {
        return;
    };
    let logs = cfg.dir.join("AWSLogs");
    let mut files = Vec::new();
    if let Err(e) = layout::walk(&logs, &[FINAL_EXT], &mut files) {
        tracing::error!(error = %e, "audit retention: listing files failed");
        return;
    }
    for f in files {
        let Some(name) = f
            .file_name()
            .and_then(|n| FileName::parse(&n.to_string_lossy(), FINAL_EXT))
        else {
            continue;
        };
        if name.time >= cutoff {
            continue;
        }
        match std::fs::remove_file(&f) {
            Ok(()) => {
                bump(&counters.files_deleted, 1);
                // Day, month, year: removed only if now empty.
                let mut d = f.parent();
                for _ in 0..3 {
                    match d {
                        Some(p) if std::fs::remove_dir(p).is_ok() => d = p.parent(),
                        _ => break,
                    }
                }
            }
            Err(e) => {
                tracing::error!(file = %f.display(), error = %e, "audit retention: delete failed")
            }
        }
    }
}

fn sync_dir(dir: &Path) -> Result<(), AuditError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| AuditError::io(dir, e))
}
