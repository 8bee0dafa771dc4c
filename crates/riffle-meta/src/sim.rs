//! A simulated disk for the metadata database, for power-loss tests: redb
//! writes through a [`SimBackend`] into memory that keeps apart what a crash
//! keeps (bytes covered by `sync_data`) and what it loses (everything written
//! since). [`SimDisk::crash`] is the power loss.
//!
//! What it models: the file's contents and length, durable only up to the last
//! `sync_data`. What it does not: torn or reordered sectors within the unsynced
//! writes (a crash drops all of them; redb's own crash tests cover partial
//! page writes), file locks, and the file's directory entry (always durable).

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use redb::StorageBackend;
use std::io;

/// Asked before every operation: whether the power is on. The same switch
/// can drive the shard logs' simulated storage (`riffle_log::SimStorage`), so
/// that metadata and records lose their unsynced writes at the same instant.
pub type PowerCheck = Arc<dyn Fn() -> bool + Send + Sync>;

#[derive(Default)]
struct DiskState {
    /// What reads see now (the page cache).
    current: Vec<u8>,
    /// What survives a crash.
    durable: Vec<u8>,
    /// Bumped by every crash; a backend of an older generation belongs to a
    /// process that died and must never touch the disk again.
    generation: u64,
}

/// One simulated database file, shared by the backends handed to redb over
/// successive "boots".
#[derive(Clone)]
pub struct SimDisk {
    state: Arc<Mutex<DiskState>>,
    power: PowerCheck,
}

impl SimDisk {
    /// An empty disk whose operations fail while `power()` is false.
    pub fn new(power: PowerCheck) -> SimDisk {
        SimDisk {
            state: Arc::default(),
            power,
        }
    }

    fn lock(&self) -> MutexGuard<'_, DiskState> {
        // A panic while holding the lock leaves plain bytes behind: still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A backend for `MetaDb::open_with_backend`, valid until the next crash.
    pub fn backend(&self) -> SimBackend {
        SimBackend {
            disk: self.clone(),
            generation: self.lock().generation,
        }
    }

    /// Power loss: the file reverts to its synced contents, and every backend
    /// handed out so far fails from now on (its process is gone).
    pub fn crash(&self) {
        let mut s = self.lock();
        s.current = s.durable.clone();
        s.generation += 1;
    }

    /// Bytes that would survive a crash now.
    pub fn durable_len(&self) -> usize {
        self.lock().durable.len()
    }
}

/// The redb side of a [`SimDisk`].
pub struct SimBackend {
    disk: SimDisk,
    generation: u64,
}

impl fmt::Debug for SimBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimBackend")
            .field("generation", &self.generation)
            .finish()
    }
}

fn io_err(msg: &str) -> io::Error {
    io::Error::other(msg.to_string())
}

impl SimBackend {
    /// The disk's state, if this backend may still use it.
    fn live(&self) -> Result<MutexGuard<'_, DiskState>, io::Error> {
        let s = self.disk.lock();
        if s.generation != self.generation {
            return Err(io_err("simulated power loss: this process is gone"));
        }
        if !(self.disk.power)() {
            return Err(io_err("simulated power loss: the machine is off"));
        }
        Ok(s)
    }
}

impl StorageBackend for SimBackend {
    fn len(&self) -> Result<u64, io::Error> {
        Ok(self.live()?.current.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        let s = self.live()?;
        let start = usize::try_from(offset).map_err(|_| io_err("offset out of range"))?;
        let src = start
            .checked_add(out.len())
            .and_then(|end| s.current.get(start..end))
            .ok_or_else(|| io_err("read past the end of the simulated file"))?;
        out.copy_from_slice(src);
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        let len = usize::try_from(len).map_err(|_| io_err("length out of range"))?;
        self.live()?.current.resize(len, 0);
        Ok(())
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        // Under the lock: a sync either completed before the power went off
        // (and what it covered survives) or fails.
        let mut s = self.live()?;
        s.durable = s.current.clone();
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        let mut s = self.live()?;
        let start = usize::try_from(offset).map_err(|_| io_err("offset out of range"))?;
        let end = start
            .checked_add(data.len())
            .ok_or_else(|| io_err("write out of range"))?;
        if s.current.len() < end {
            s.current.resize(end, 0);
        }
        s.current[start..end].copy_from_slice(data);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::conformance::sample_stream as meta;
    use crate::MetaDb;
    use std::path::Path;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn a_committed_change_survives_a_crash_and_the_unsynced_rest_does_not() {
        let on = Arc::new(AtomicBool::new(true));
        let power: PowerCheck = {
            let on = on.clone();
            Arc::new(move || on.load(Ordering::SeqCst))
        };
        let disk = SimDisk::new(power);
        let path = Path::new("sim/meta.redb");
        {
            let db = MetaDb::open_with_backend(disk.backend(), path).unwrap();
            assert!(db.streams().create_stream(&meta("kept")).unwrap());
            on.store(false, Ordering::SeqCst);
            assert!(db.streams().create_stream(&meta("lost")).is_err());
        }
        disk.crash();
        on.store(true, Ordering::SeqCst);
        let db = MetaDb::open_with_backend(disk.backend(), path).unwrap();
        let names: Vec<String> = db
            .streams()
            .list_streams()
            .unwrap()
            .into_iter()
            .map(|m| m.name)
            .collect();
        assert_eq!(names, vec!["kept".to_string()]);
    }

    #[test]
    fn a_backend_from_before_a_crash_is_dead() {
        let disk = SimDisk::new(Arc::new(|| true));
        let old = disk.backend();
        old.write(0, b"abc").unwrap();
        old.sync_data().unwrap();
        disk.crash();
        assert!(old.write(0, b"x").is_err());
        let new = disk.backend();
        let mut buf = [0u8; 3];
        new.read(0, &mut buf).unwrap();
        assert_eq!(&buf, b"abc");
    }
}
