use riffle_log::LogError;
use riffle_meta::MetaError;

/// Every way a Data Streams call can fail. The server maps each variant to the
/// AWS error code of the same name; the message is already AWS's wording.
#[derive(Debug, thiserror::Error)]
pub enum StreamsError {
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    ResourceInUse(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    LimitExceeded(String),
    /// A shard's provisioned throughput is used up (see `throttle`).
    #[error("{0}")]
    ProvisionedThroughputExceeded(String),
    #[error("{0}")]
    ExpiredIterator(String),
    #[error("{0}")]
    ExpiredNextToken(String),
    #[error("{0}")]
    Validation(String),
    #[error("record log failure: {0}")]
    Log(#[from] LogError),
    #[error("metadata failure: {0}")]
    Meta(#[from] MetaError),
    #[error("internal failure: {0}")]
    Internal(String),
}
