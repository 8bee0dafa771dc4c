//! The crate's one error type.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A file-system call failed; `path` says on what.
    #[error("audit trail I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An event could not be encoded, or a finished file could not be read.
    #[error("audit trail JSON in {path}: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// The writer thread has stopped (after a panic or at shutdown), so the
    /// event was not recorded.
    #[error("audit trail writer has stopped")]
    Closed,
    /// The writer could not make the event durable; the message says why
    /// (the writer carries on with a fresh journal).
    #[error("audit trail write failed: {0}")]
    Write(String),
    #[error("invalid audit trail configuration: {0}")]
    Config(String),
}

impl AuditError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> AuditError {
        AuditError::Io {
            path: path.into(),
            source,
        }
    }
}
