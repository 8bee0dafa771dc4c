//! The Firehose domain's error; the edge maps each kind to AWS's `__type`.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum FirehoseError {
    /// `ResourceNotFoundException`.
    #[error("{0}")]
    NotFound(String),
    /// `ResourceInUseException`.
    #[error("{0}")]
    InUse(String),
    /// `InvalidArgumentException`.
    #[error("{0}")]
    InvalidArgument(String),
    /// `LimitExceededException`.
    #[error("{0}")]
    LimitExceeded(String),
    /// `ConcurrentModificationException`.
    #[error("{0}")]
    ConcurrentModification(String),
    /// `InvalidSourceException` (a delivery stream fed by a Kinesis stream refuses PutRecord).
    #[error("{0}")]
    InvalidSource(String),
    /// `InvalidKMSResourceException`.
    #[error("{0}")]
    InvalidKmsResource(String),
    /// `ServiceUnavailableException` ("Slow down.": the buffer is full).
    #[error("{0}")]
    ServiceUnavailable(String),
    #[error("metadata: {0}")]
    Meta(#[from] riffle_meta::MetaError),
    #[error("buffer log: {0}")]
    Log(#[from] riffle_log::LogError),
    #[error("{0}")]
    Internal(String),
}
