//! In-memory storage that models what a power loss keeps: only bytes covered by
//! `sync_data` and only directory entries covered by `sync_dir`.

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::storage::{Storage, StorageFile};

/// Asked before every change to simulated storage: whether the power is on.
/// Shared by several simulated disks (the shard logs' and the metadata's) so
/// that one switch cuts them all at the same instant.
pub type PowerCheck = Arc<dyn Fn() -> bool + Send + Sync>;

#[derive(Default)]
struct Faults {
    fail_syncs: AtomicU32,
    sync_calls: AtomicU64,
    fail_writes: AtomicU32,
    full: AtomicBool,
    power: Option<PowerCheck>,
}

fn power_lost() -> io::Error {
    io::Error::other("simulated power loss: the machine is off")
}

impl Faults {
    /// Err once the power is off: a dead machine writes, syncs and lists nothing.
    fn powered(&self) -> io::Result<()> {
        match &self.power {
            Some(on) if !on() => Err(power_lost()),
            _ => Ok(()),
        }
    }

    /// Whether this write fails (consuming one armed failure if so).
    fn write_fails(&self) -> bool {
        self.full.load(Ordering::SeqCst)
            || self
                .fail_writes
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
    }
}

#[derive(Default)]
struct FileData {
    /// What a reader sees now (page cache).
    current: Vec<u8>,
    /// What survives a crash.
    durable: Vec<u8>,
}

struct SimFile {
    data: Mutex<FileData>,
    faults: Arc<Faults>,
}

#[derive(Default)]
struct DirState {
    files: BTreeMap<String, Arc<SimFile>>,
    /// The directory as of the last `sync_dir`.
    durable_dir: BTreeMap<String, Arc<SimFile>>,
}

/// Simulated storage for crash tests. Share it via `Arc` between successive
/// `ShardLog::open_with_storage` calls; call [`SimStorage::crash`] in between
/// (after dropping the log) to simulate a power loss.
#[derive(Default)]
pub struct SimStorage {
    dir: Mutex<DirState>,
    faults: Arc<Faults>,
}

impl SimStorage {
    pub fn new() -> SimStorage {
        SimStorage::default()
    }

    /// A storage whose every operation fails once `power` says the power is
    /// off, so that nothing is written, synced or acknowledged after the
    /// instant of a simulated power loss (the test then calls
    /// [`crash`](Self::crash) or [`crash_torn`](Self::crash_torn) and turns the
    /// power back on before reopening).
    pub fn with_power(power: PowerCheck) -> SimStorage {
        SimStorage {
            dir: Mutex::default(),
            faults: Arc::new(Faults {
                power: Some(power),
                ..Faults::default()
            }),
        }
    }

    /// Power loss: every file reverts to its synced contents and the directory
    /// to its last synced listing. Handles opened before the crash are detached.
    pub fn crash(&self) {
        self.crash_inner(None);
    }

    /// Like [`crash`](Self::crash), but each file keeps a random prefix (chosen
    /// from `seed`) of its unsynced appended bytes, which produces torn tails.
    pub fn crash_torn(&self, seed: u64) {
        self.crash_inner(Some(seed));
    }

    fn crash_inner(&self, seed: Option<u64>) {
        let mut rng = seed.unwrap_or(0);
        let mut dir = self.dir.lock();
        let mut fresh = BTreeMap::new();
        for (name, f) in &dir.durable_dir {
            let d = f.data.lock();
            let mut content = d.durable.clone();
            let extends = d.current.len() > d.durable.len() && d.current.starts_with(&d.durable);
            if let (Some(_), true) = (seed, extends) {
                let unsynced = d.current.len() - d.durable.len();
                let keep = (splitmix64(&mut rng) % (unsynced as u64 + 1)) as usize;
                content.extend_from_slice(&d.current[d.durable.len()..d.durable.len() + keep]);
            }
            let file = Arc::new(SimFile {
                data: Mutex::new(FileData {
                    durable: content.clone(),
                    current: content,
                }),
                faults: self.faults.clone(),
            });
            fresh.insert(name.clone(), file);
        }
        dir.files = fresh.clone();
        dir.durable_dir = fresh;
    }

    /// The next `n` `sync_data` calls fail with an I/O error (and persist nothing).
    pub fn fail_next_syncs(&self, n: u32) {
        self.faults.fail_syncs.store(n, Ordering::SeqCst);
    }

    /// The next `n` writes fail like a full disk: each stores the first half of its
    /// bytes (a partial write), then returns an `ENOSPC`-like error.
    pub fn fail_next_writes(&self, n: u32) {
        self.faults.fail_writes.store(n, Ordering::SeqCst);
    }

    /// While `full`, every write fails as in [`fail_next_writes`](Self::fail_next_writes);
    /// truncation (which frees space) still works.
    pub fn set_full(&self, full: bool) {
        self.faults.full.store(full, Ordering::SeqCst);
    }

    /// Number of `sync_data` calls so far (successful or not).
    pub fn sync_calls(&self) -> u64 {
        self.faults.sync_calls.load(Ordering::SeqCst)
    }

    pub fn file_names(&self) -> Vec<String> {
        self.dir.lock().files.keys().cloned().collect()
    }

    /// Current (possibly unsynced) contents of a file.
    pub fn read_file(&self, name: &str) -> Option<Vec<u8>> {
        self.dir
            .lock()
            .files
            .get(name)
            .map(|f| f.data.lock().current.clone())
    }

    /// Replaces a file's contents durably (creating it if needed); for corrupting files in tests.
    pub fn write_file(&self, name: &str, bytes: &[u8]) {
        let mut dir = self.dir.lock();
        let f = Arc::new(SimFile {
            data: Mutex::new(FileData {
                current: bytes.to_vec(),
                durable: bytes.to_vec(),
            }),
            faults: self.faults.clone(),
        });
        dir.files.insert(name.to_string(), f.clone());
        dir.durable_dir.insert(name.to_string(), f);
    }
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Storage for SimStorage {
    fn list(&self) -> io::Result<Vec<String>> {
        self.faults.powered()?;
        Ok(self.file_names())
    }

    fn open(&self, name: &str) -> io::Result<Arc<dyn StorageFile>> {
        self.faults.powered()?;
        match self.dir.lock().files.get(name) {
            Some(f) => Ok(f.clone()),
            None => Err(io::Error::new(io::ErrorKind::NotFound, name.to_string())),
        }
    }

    fn create(&self, name: &str) -> io::Result<Arc<dyn StorageFile>> {
        let mut dir = self.dir.lock();
        self.faults.powered()?;
        if let Some(f) = dir.files.get(name) {
            f.data.lock().current.clear();
            return Ok(f.clone());
        }
        let f = Arc::new(SimFile {
            data: Mutex::new(FileData::default()),
            faults: self.faults.clone(),
        });
        dir.files.insert(name.to_string(), f.clone());
        Ok(f)
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        let mut dir = self.dir.lock();
        self.faults.powered()?;
        match dir.files.remove(name) {
            Some(_) => Ok(()),
            None => Err(io::Error::new(io::ErrorKind::NotFound, name.to_string())),
        }
    }

    fn sync_dir(&self) -> io::Result<()> {
        let mut dir = self.dir.lock();
        self.faults.powered()?;
        dir.durable_dir = dir.files.clone();
        Ok(())
    }
}

impl StorageFile for SimFile {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        let d = self.data.lock();
        self.faults.powered()?;
        let pos = usize::try_from(pos).unwrap_or(usize::MAX);
        if pos >= d.current.len() {
            return Ok(0);
        }
        let n = buf.len().min(d.current.len() - pos);
        buf[..n].copy_from_slice(&d.current[pos..pos + n]);
        Ok(n)
    }

    fn write_all_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        let mut d = self.data.lock();
        self.faults.powered()?;
        let pos = usize::try_from(pos).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let (buf, fail) = if self.faults.write_fails() {
            (&buf[..buf.len() / 2], true)
        } else {
            (buf, false)
        };
        if d.current.len() < pos + buf.len() {
            d.current.resize(pos + buf.len(), 0);
        }
        d.current[pos..pos + buf.len()].copy_from_slice(buf);
        if fail {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "injected write failure: no space left on device",
            ));
        }
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        self.faults.sync_calls.fetch_add(1, Ordering::SeqCst);
        let injected = self
            .faults
            .fail_syncs
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if injected {
            return Err(io::Error::other("injected fdatasync failure"));
        }
        // Checked under the file's lock: a sync either completed before the
        // power went off (and its bytes survive) or fails.
        let mut d = self.data.lock();
        self.faults.powered()?;
        d.durable = d.current.clone();
        Ok(())
    }

    fn truncate(&self, len: u64) -> io::Result<()> {
        let len = usize::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let mut d = self.data.lock();
        self.faults.powered()?;
        d.current.resize(len, 0);
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        self.faults.powered()?;
        Ok(self.data.lock().current.len() as u64)
    }
}
