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
    /// A KMS failure (`KMSNotFoundException`, `KMSDisabledException`,
    /// `KMSInvalidStateException`, ...): `code` is the AWS error code.
    #[error("{message}")]
    Kms { code: &'static str, message: String },
    #[error("record log failure: {0}")]
    Log(LogError),
    #[error("metadata failure: {0}")]
    Meta(#[from] MetaError),
    #[error("internal failure: {0}")]
    Internal(String),
}

impl From<LogError> for StreamsError {
    /// A sealed batch whose key is unusable is the KMS error the client sees;
    /// every other log failure is internal.
    fn from(e: LogError) -> Self {
        match e {
            LogError::Cipher {
                source:
                    riffle_log::CipherError {
                        code: Some(code),
                        message,
                    },
                ..
            } => StreamsError::Kms { code, message },
            e => StreamsError::Log(e),
        }
    }
}

impl From<riffle_kms::KmsError> for StreamsError {
    fn from(e: riffle_kms::KmsError) -> Self {
        match e.code() {
            Some("InvalidArgumentException") => StreamsError::InvalidArgument(e.to_string()),
            Some(code) => StreamsError::Kms {
                code,
                message: e.to_string(),
            },
            None => StreamsError::Internal(e.to_string()),
        }
    }
}
