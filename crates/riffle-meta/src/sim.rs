//! A simulated disk for the metadata database, for power-loss tests: redb
//! writes through a [`SimBackend`] into memory that keeps apart what a crash
//! keeps (bytes covered by `sync_data`) and what it loses (everything written
//! since). [`SimDisk::crash`] is the power loss.
//!
//! What it models: the file's contents and length, durable only up to the last
//! `sync_data`; [`SimDisk::crash`] drops every unsynced write, and
//! [`SimDisk::crash_torn`] keeps a random subset of their 512-byte pieces (torn
//! and reordered write-back). What it does not: file locks, and the file's
//! directory entry (always durable).

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
    /// Writes and length changes since the last sync, in order: what a torn
    /// crash may or may not have persisted.
    unsynced: Vec<Change>,
}

enum Change {
    Write(usize, Vec<u8>),
    SetLen(usize),
}

impl Change {
    fn apply(&self, to: &mut Vec<u8>) {
        match self {
            Change::Write(at, data) => {
                let end = at + data.len();
                if to.len() < end {
                    to.resize(end, 0);
                }
                to[*at..end].copy_from_slice(data);
            }
            Change::SetLen(len) => to.resize(*len, 0),
        }
    }
}

/// Writes are persisted (or not) in pieces of this size, like disk sectors
/// and pages reaching the platter independently.
const TORN_UNIT: usize = 512;

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
        s.unsynced.clear();
        s.generation += 1;
    }

    /// A harsher power loss: each 512-byte piece of every write since the
    /// last sync, and each length change, independently did or did not reach
    /// the disk (chosen from `seed`), in any combination, as the page cache
    /// may write back in any order. redb must still open at its last synced
    /// commit.
    pub fn crash_torn(&self, seed: u64) {
        let mut rng = seed;
        let mut s = self.lock();
        let mut image = s.durable.clone();
        for change in std::mem::take(&mut s.unsynced) {
            match change {
                Change::Write(at, data) => {
                    for (i, piece) in data.chunks(TORN_UNIT).enumerate() {
                        if splitmix64(&mut rng) & 1 == 0 {
                            Change::Write(at + i * TORN_UNIT, piece.to_vec()).apply(&mut image);
                        }
                    }
                }
                c @ Change::SetLen(_) => {
                    if splitmix64(&mut rng) & 1 == 0 {
                        c.apply(&mut image);
                    }
                }
            }
        }
        s.durable = image.clone();
        s.current = image;
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

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
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
        let mut s = self.live()?;
        s.current.resize(len, 0);
        s.unsynced.push(Change::SetLen(len));
        Ok(())
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        // Under the lock: a sync either completed before the power went off
        // (and what it covered survives) or fails.
        let mut s = self.live()?;
        s.durable = s.current.clone();
        s.unsynced.clear();
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
        s.unsynced.push(Change::Write(start, data.to_vec()));
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

    /// The power goes off at every I/O operation of a commit in turn, and
    /// the crash keeps a random part of the unsynced writes: redb opens at a
    /// commit that has everything acknowledged before.
    #[test]
    fn redb_opens_at_its_last_commit_after_a_torn_crash_anywhere_in_a_commit() {
        use std::sync::atomic::AtomicU64;
        for cut_after in 0..80u64 {
            let budget = Arc::new(AtomicU64::new(u64::MAX));
            let power: PowerCheck = {
                let budget = budget.clone();
                Arc::new(move || {
                    budget
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok()
                })
            };
            let disk = SimDisk::new(power);
            let path = Path::new("sim/meta.redb");
            {
                let db = MetaDb::open_with_backend(disk.backend(), path).unwrap();
                assert!(db.streams().create_stream(&meta("kept")).unwrap());
                budget.store(cut_after, Ordering::SeqCst);
                let mut next = meta("kept");
                next.retention_hours = 48;
                let _ = db.streams().put_stream(&next);
                let _ = db.streams().create_stream(&meta("maybe"));
            }
            disk.crash_torn(cut_after);
            budget.store(u64::MAX, Ordering::SeqCst);
            let db = MetaDb::open_with_backend(disk.backend(), path)
                .unwrap_or_else(|e| panic!("cut after {cut_after} ops: {e}"));
            let kept = db.streams().get_stream("kept").unwrap();
            assert!(kept.is_some(), "cut after {cut_after} ops: lost a commit");
        }
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
