//! The data directory's folders: durable creation (fsync of the parent),
//! `trash/` for deleted streams, `quarantine/` for folders no stream owns.
//! Nothing here deletes data the metadata does not say is deleted.

use crate::error::StreamsError;
use std::path::{Path, PathBuf};

/// Stream folders: `streams/<name>-<uid>/<shard:012>/`.
pub(super) const STREAMS_DIR: &str = "streams";
/// Trees of deleted streams on their way out (emptied at start).
pub(super) const TRASH_DIR: &str = "trash";
/// Folders found under `streams/` that no stream owns; kept for an operator.
pub(super) const QUARANTINE_DIR: &str = "quarantine";

/// Makes a directory's entries (files or folders just created or renamed in
/// it) durable.
pub(super) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Creates a stream's folder durably: its shard folders' entries, then the
/// folder's own entry in `streams/`. Blocking.
pub(super) fn sync_new_stream_dir(dir: &Path) -> Result<(), StreamsError> {
    let parent = dir.parent().unwrap_or(dir);
    sync_dir(dir)
        .and_then(|()| sync_dir(parent))
        .map_err(|e| StreamsError::Internal(format!("cannot sync {}: {e}", dir.display())))
}

/// Moves a deleted stream's folder (`<data>/streams/<uid>`) to
/// `<data>/trash/<uid>` with one rename, so that from here on it is known
/// garbage, and returns where it now is. On failure it stays where it was
/// (and the next start quarantines it).
pub(super) fn move_to_trash(dir: &Path) -> PathBuf {
    let (Some(streams), Some(uid)) = (dir.parent(), dir.file_name()) else {
        return dir.to_path_buf();
    };
    let Some(data) = streams.parent() else {
        return dir.to_path_buf();
    };
    let trash = data.join(TRASH_DIR);
    let to = trash.join(uid);
    match std::fs::create_dir_all(&trash).and_then(|()| std::fs::rename(dir, &to)) {
        Ok(()) => {
            if let Err(e) = sync_dir(streams) {
                tracing::warn!(dir = %streams.display(), error = %e, "fsync after moving a deleted stream to trash failed");
            }
            to
        }
        Err(e) => {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(dir = %dir.display(), error = %e, "could not move a deleted stream's data to trash");
            }
            dir.to_path_buf()
        }
    }
}

/// Removes what deletions left in `trash/` (they committed). Blocking.
pub(super) fn empty_trash(data_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(data_dir.join(TRASH_DIR)) else {
        return;
    };
    for e in entries.flatten() {
        tracing::info!(dir = %e.path().display(), "removing data of a deleted stream");
        remove_stream_dir(&e.path());
    }
}

/// Moves folders under `streams/` that no stream in the metadata owns to
/// `quarantine/`, with a warning: they may be data the metadata lost (never
/// deleted here), or an interrupted CreateStream. Blocking.
pub(super) fn quarantine_unknown(data_dir: &Path, known_uids: &std::collections::HashSet<String>) {
    let streams = data_dir.join(STREAMS_DIR);
    let Ok(entries) = std::fs::read_dir(&streams) else {
        return;
    };
    let quarantine = data_dir.join(QUARANTINE_DIR);
    let mut moved = false;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if known_uids.contains(&name) {
            continue;
        }
        let mut to = quarantine.join(&name);
        let mut n = 1;
        while to.exists() {
            to = quarantine.join(format!("{name}.{n}"));
            n += 1;
        }
        match std::fs::create_dir_all(&quarantine).and_then(|()| std::fs::rename(e.path(), &to)) {
            Ok(()) => {
                moved = true;
                tracing::warn!(from = %e.path().display(), to = %to.display(), "a folder under streams/ belongs to no stream in the metadata; moved to quarantine");
            }
            Err(err) => {
                tracing::warn!(dir = %e.path().display(), error = %err, "a folder under streams/ belongs to no stream in the metadata and could not be quarantined; left in place")
            }
        }
    }
    if moved {
        for d in [&quarantine, &streams] {
            if let Err(e) = sync_dir(d) {
                tracing::warn!(dir = %d.display(), error = %e, "fsync after quarantining failed");
            }
        }
    }
}

/// Bytes of the files directly in `dir` (a shard's segments and indexes).
pub(super) fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Removes a deleted stream's directory tree. A failure is only logged: the
/// next start removes what is left. Blocking.
pub(super) fn remove_stream_dir(dir: &Path) {
    if let Err(e) = std::fs::remove_dir_all(dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(dir = %dir.display(), error = %e, "could not remove a deleted stream's data; it is removed at next start");
        }
    }
}

/// [`remove_stream_dir`] on the blocking pool when there is a runtime, so a
/// lazily completed deletion does not make the request that noticed it wait.
pub(super) fn remove_in_background(dir: PathBuf) {
    match tokio::runtime::Handle::try_current() {
        Ok(h) => {
            h.spawn_blocking(move || remove_stream_dir(&dir));
        }
        Err(_) => remove_stream_dir(&dir),
    }
}
