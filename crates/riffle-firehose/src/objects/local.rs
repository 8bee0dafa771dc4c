//! Objects as files in a local directory: `ROOT/BUCKET/KEY`.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::{check_bucket, check_key, BoxFuture, ObjectError, ObjectStore};

/// Names of files being written start with this; they are never listed, and
/// no key segment can produce one by accident as the suffix is random.
const TMP_MARK: &str = ".riffle-tmp-";

/// A directory standing in for S3 (`--s3-dir`, default `DATA_DIR/s3`).
///
/// A put writes a temporary file next to the object, fsyncs it, renames it
/// over the key and fsyncs the directory (and every directory it created),
/// so a crash leaves either the old object, or the new one, never half of
/// one under its final name.
#[derive(Clone, Debug)]
pub struct LocalDirStore {
    root: PathBuf,
}

impl LocalDirStore {
    /// The root need not exist yet; it is created on the first put.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Removes the temporary files puts interrupted by a crash left behind
    /// (they are never listed, only taking space); returns how many. Call
    /// it at startup, before any put runs: it would remove a running put's file.
    pub fn sweep_temp_files(&self) -> Result<usize, ObjectError> {
        fn sweep(dir: &Path) -> Result<usize, ObjectError> {
            let entries = match fs::read_dir(dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
                Err(e) => return Err(io_err(dir)(e)),
            };
            let mut removed = 0;
            for entry in entries {
                let entry = entry.map_err(io_err(dir))?;
                let path = entry.path();
                if entry.file_type().map_err(io_err(&path))?.is_dir() {
                    removed += sweep(&path)?;
                } else if entry.file_name().to_string_lossy().starts_with(TMP_MARK) {
                    fs::remove_file(&path).map_err(io_err(&path))?;
                    removed += 1;
                }
            }
            Ok(removed)
        }
        sweep(&self.root)
    }

    fn path(&self, bucket: &str, key: &str) -> Result<PathBuf, ObjectError> {
        check_bucket(bucket)?;
        check_key(key)?;
        let mut path = self.root.join(bucket);
        path.extend(key.split('/'));
        Ok(path)
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ObjectError + '_ {
    move |source| ObjectError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn sync_dir(dir: &Path) -> Result<(), ObjectError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// `create_dir_all` that also fsyncs the parent of every directory it
/// creates, so the new object's path survives a power loss.
fn create_dirs_durable(dir: &Path) -> Result<(), ObjectError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut missing = vec![dir];
    let mut cursor = dir.parent();
    while let Some(parent) = cursor {
        if parent.as_os_str().is_empty() || parent.is_dir() {
            break;
        }
        missing.push(parent);
        cursor = parent.parent();
    }
    for created in missing.into_iter().rev() {
        match fs::create_dir(created) {
            Ok(()) => {}
            // Another put created it meanwhile.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && created.is_dir() => {}
            Err(e) => return Err(io_err(created)(e)),
        }
        if let Some(parent) = created.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

fn put_blocking(path: &Path, body: &[u8]) -> Result<(), ObjectError> {
    let dir = path.parent().ok_or_else(|| ObjectError::Key {
        key: path.display().to_string(),
        reason: "no parent directory",
    })?;
    create_dirs_durable(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        "{TMP_MARK}{:016x}-{}",
        rand::random::<u64>(),
        // Keeps the temp name recognisable in a directory listing, and short.
        name.chars().take(64).collect::<String>()
    ));
    let written = (|| {
        let mut file = File::create(&tmp).map_err(io_err(&tmp))?;
        file.write_all(body).map_err(io_err(&tmp))?;
        file.sync_all().map_err(io_err(&tmp))?;
        drop(file);
        fs::rename(&tmp, path).map_err(io_err(path))?;
        sync_dir(dir)
    })();
    if written.is_err() {
        // Best effort: the temp file is never listed anyway.
        let _ = fs::remove_file(&tmp);
    }
    written
}

fn get_blocking(path: &Path) -> Result<Option<Bytes>, ObjectError> {
    match fs::read(path) {
        Ok(body) => Ok(Some(Bytes::from(body))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        // A key that names a directory (another key's prefix) is not an object.
        Err(_) if path.is_dir() => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// Walks `dir` (the directory holding keys `base/...`) and collects the keys
/// that start with `prefix`.
fn walk(dir: &Path, base: &str, prefix: &str, out: &mut Vec<String>) -> Result<(), ObjectError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_err(dir))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue; // Not a key this store wrote.
        };
        if name.starts_with(TMP_MARK) {
            continue;
        }
        let key = if base.is_empty() {
            name
        } else {
            format!("{base}/{name}")
        };
        let file_type = entry.file_type().map_err(io_err(dir))?;
        if file_type.is_dir() {
            // Only descend where some key below can still match the prefix.
            let dir_key = format!("{key}/");
            if dir_key.starts_with(prefix) || prefix.starts_with(&dir_key) {
                walk(&entry.path(), &key, prefix, out)?;
            }
        } else if file_type.is_file() && key.starts_with(prefix) {
            out.push(key);
        }
    }
    Ok(())
}

fn list_blocking(root: &Path, bucket: &str, prefix: &str) -> Result<Vec<String>, ObjectError> {
    check_bucket(bucket)?;
    let mut keys = Vec::new();
    walk(&root.join(bucket), "", prefix, &mut keys)?;
    keys.sort();
    Ok(keys)
}

impl ObjectStore for LocalDirStore {
    fn put<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        body: Bytes,
    ) -> BoxFuture<'a, Result<(), ObjectError>> {
        Box::pin(async move {
            let path = self.path(bucket, key)?;
            tokio::task::spawn_blocking(move || put_blocking(&path, &body)).await?
        })
    }

    fn get<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Bytes>, ObjectError>> {
        Box::pin(async move {
            let path = self.path(bucket, key)?;
            tokio::task::spawn_blocking(move || get_blocking(&path)).await?
        })
    }

    fn list<'a>(
        &'a self,
        bucket: &'a str,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, ObjectError>> {
        Box::pin(async move {
            let (root, bucket, prefix) =
                (self.root.clone(), bucket.to_string(), prefix.to_string());
            tokio::task::spawn_blocking(move || list_blocking(&root, &bucket, &prefix)).await?
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_get_list_and_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDirStore::new(dir.path().join("s3"));
        assert_eq!(store.get("b", "a/x").await.unwrap(), None);
        assert!(store.list("b", "").await.unwrap().is_empty());

        store
            .put("b", "a/x", Bytes::from_static(b"one"))
            .await
            .unwrap();
        store
            .put("b", "a/y/z", Bytes::from_static(b"two"))
            .await
            .unwrap();
        store
            .put("b", "ab", Bytes::from_static(b"three"))
            .await
            .unwrap();
        store
            .put("other", "a/x", Bytes::from_static(b"else"))
            .await
            .unwrap();
        assert_eq!(fs::read(dir.path().join("s3/b/a/y/z")).unwrap(), b"two");

        assert_eq!(store.list("b", "").await.unwrap(), ["a/x", "a/y/z", "ab"]);
        // A string prefix, not a directory: "a" matches "ab" too, "a/" does not.
        assert_eq!(store.list("b", "a").await.unwrap(), ["a/x", "a/y/z", "ab"]);
        assert_eq!(store.list("b", "a/").await.unwrap(), ["a/x", "a/y/z"]);
        assert_eq!(store.list("b", "a/y/z").await.unwrap(), ["a/y/z"]);
        assert!(store.list("b", "c").await.unwrap().is_empty());
        assert!(store.list("missing", "").await.unwrap().is_empty());

        // Overwriting the same key replaces the object whole, and leaves no
        // temporary file behind.
        store
            .put("b", "a/x", Bytes::from_static(b"replaced"))
            .await
            .unwrap();
        assert_eq!(
            store.get("b", "a/x").await.unwrap().unwrap(),
            &b"replaced"[..]
        );
        let names: Vec<_> = fs::read_dir(dir.path().join("s3/b/a"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        // A directory is not an object.
        assert_eq!(store.get("b", "a/y").await.unwrap(), None);
    }

    #[tokio::test]
    async fn temp_files_of_an_interrupted_put_are_not_objects() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDirStore::new(dir.path());
        store
            .put("b", "p/k", Bytes::from_static(b"whole"))
            .await
            .unwrap();
        // What a crash between write and rename leaves behind.
        fs::write(dir.path().join(format!("b/p/{TMP_MARK}0123-k")), b"ha").unwrap();
        assert_eq!(store.list("b", "").await.unwrap(), ["p/k"]);
        assert_eq!(store.get("b", "p/k").await.unwrap().unwrap(), &b"whole"[..]);
        assert_eq!(store.sweep_temp_files().unwrap(), 1);
        assert_eq!(fs::read_dir(dir.path().join("b/p")).unwrap().count(), 1);
        assert_eq!(store.get("b", "p/k").await.unwrap().unwrap(), &b"whole"[..]);
    }

    #[tokio::test]
    async fn keys_escaping_the_root_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDirStore::new(dir.path().join("root"));
        for (bucket, key) in [("b", "../x"), ("b", "/etc/x"), ("..", "x"), ("b", "a//b")] {
            let err = store.put(bucket, key, Bytes::new()).await.unwrap_err();
            assert!(
                matches!(err, ObjectError::Key { .. } | ObjectError::Bucket(_)),
                "{err}"
            );
        }
        assert!(!dir.path().join("x").exists());
    }
}
