//! The small file-system surface the log needs, so crashes can be simulated.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One flat directory of files. Implementations must be usable from many threads.
pub trait Storage: Send + Sync {
    /// Names of all files in the directory.
    fn list(&self) -> io::Result<Vec<String>>;
    /// Opens an existing file for reading and writing.
    fn open(&self, name: &str) -> io::Result<Arc<dyn StorageFile>>;
    /// Creates a file (truncating it if it exists). The name is durable only after `sync_dir`.
    fn create(&self, name: &str) -> io::Result<Arc<dyn StorageFile>>;
    fn remove(&self, name: &str) -> io::Result<()>;
    /// Makes creations and removals durable.
    fn sync_dir(&self) -> io::Result<()>;
}

/// An open file. All methods take `&self`: positional I/O lets readers run
/// concurrently with the single writer.
#[allow(clippy::len_without_is_empty)] // `len` is a fallible syscall, not a collection size
pub trait StorageFile: Send + Sync {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize>;
    fn write_all_at(&self, buf: &[u8], pos: u64) -> io::Result<()>;
    /// fdatasync: every byte written before the call is durable when it returns Ok.
    fn sync_data(&self) -> io::Result<()>;
    fn truncate(&self, len: u64) -> io::Result<()>;
    fn len(&self) -> io::Result<u64>;
}

/// Reads exactly `buf.len()` bytes at `pos` (UnexpectedEof if the file is shorter).
pub(crate) fn read_exact_at(
    f: &dyn StorageFile,
    mut buf: &mut [u8],
    mut pos: u64,
) -> io::Result<()> {
    while !buf.is_empty() {
        match f.read_at(buf, pos) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                pos += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The real file system. Holds an exclusive advisory lock on `<dir>/LOCK` so two
/// processes (or two `ShardLog`s) never write the same shard directory.
#[derive(Debug)]
pub struct FsStorage {
    dir: PathBuf,
    _lock: File,
}

impl FsStorage {
    /// Creates `dir` if missing and locks it.
    pub fn new(dir: &Path) -> io::Result<FsStorage> {
        fs::create_dir_all(dir)?;
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join("LOCK"))?;
        lock.try_lock().map_err(|e| match e {
            fs::TryLockError::Error(e) => e,
            fs::TryLockError::WouldBlock => io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "shard log directory {} is locked by another user",
                    dir.display()
                ),
            ),
        })?;
        Ok(FsStorage {
            dir: dir.to_path_buf(),
            _lock: lock,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Storage for FsStorage {
    fn list(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.dir)? {
            if let Ok(name) = e?.file_name().into_string() {
                out.push(name);
            }
        }
        Ok(out)
    }

    fn open(&self, name: &str) -> io::Result<Arc<dyn StorageFile>> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(self.dir.join(name))?;
        Ok(Arc::new(FsFile(f)))
    }

    fn create(&self, name: &str) -> io::Result<Arc<dyn StorageFile>> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(self.dir.join(name))?;
        Ok(Arc::new(FsFile(f)))
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        fs::remove_file(self.dir.join(name))
    }

    fn sync_dir(&self) -> io::Result<()> {
        File::open(&self.dir)?.sync_all()
    }
}

struct FsFile(File);

impl StorageFile for FsFile {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        self.0.read_at(buf, pos)
    }
    fn write_all_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        self.0.write_all_at(buf, pos)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn truncate(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
}

/// Opens the [`Storage`] of one shard directory.
pub type OpenStorage = dyn Fn(&Path) -> io::Result<Arc<dyn Storage>> + Send + Sync;

/// Where [`ShardLog::open`](crate::ShardLog::open) keeps a log's files: the
/// real file system ([`FsStorage`], the default), or storage chosen per shard
/// directory by the embedder. The engine opens its logs by directory only, so
/// this is how a whole-engine test puts every shard log on simulated storage
/// (a [`SimStorage`](crate::SimStorage) per directory) without another API.
#[derive(Clone, Default)]
pub struct StorageFactory(Option<Arc<OpenStorage>>);

impl StorageFactory {
    /// The real file system (the default).
    pub fn fs() -> StorageFactory {
        StorageFactory(None)
    }

    /// `open(dir)` gives the storage of the log in `dir`. It is called once
    /// per `ShardLog::open`, so it must hand back the same storage for the same
    /// directory to reopen a log's data.
    pub fn custom(
        open: impl Fn(&Path) -> io::Result<Arc<dyn Storage>> + Send + Sync + 'static,
    ) -> StorageFactory {
        StorageFactory(Some(Arc::new(open)))
    }

    /// Whether this is the real file system.
    pub fn is_fs(&self) -> bool {
        self.0.is_none()
    }

    /// The storage of the log in `dir`.
    pub fn open(&self, dir: &Path) -> io::Result<Arc<dyn Storage>> {
        match &self.0 {
            None => Ok(Arc::new(FsStorage::new(dir)?)),
            Some(open) => open(dir),
        }
    }
}

impl std::fmt::Debug for StorageFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_fs() {
            "StorageFactory(fs)"
        } else {
            "StorageFactory(custom)"
        })
    }
}

/// Two factories are equal when both are the file system or both are the
/// same custom function.
impl PartialEq for StorageFactory {
    fn eq(&self, other: &StorageFactory) -> bool {
        match (&self.0, &other.0) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for StorageFactory {}
