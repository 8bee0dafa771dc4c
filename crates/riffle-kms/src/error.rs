/// Every way a keyring or envelope call fails. [`KmsError::code`] is the AWS
/// `__type` Kinesis answers with.
#[derive(Debug, thiserror::Error)]
pub enum KmsError {
    /// The key or alias does not exist (`KMSNotFoundException`).
    #[error("{0}")]
    NotFound(String),
    /// The key is disabled (`KMSDisabledException`).
    #[error("{0}")]
    Disabled(String),
    /// The key is pending deletion (`KMSInvalidStateException`).
    #[error("{0}")]
    InvalidState(String),
    /// A request that cannot be honoured, e.g. an alias that already exists.
    #[error("{0}")]
    InvalidArgument(String),
    #[error("keyring file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The keyring file does not parse or holds an invalid key.
    #[error("keyring file {path} is invalid: {reason}")]
    Corrupt { path: String, reason: String },
    /// A wrapped key or sealed batch failed to authenticate, or the CSPRNG failed.
    #[error("{0}")]
    Crypto(String),
}

impl KmsError {
    /// The AWS error code Kinesis returns for this failure, if it has one
    /// (file and crypto failures are internal errors).
    pub fn code(&self) -> Option<&'static str> {
        match self {
            KmsError::NotFound(_) => Some("KMSNotFoundException"),
            KmsError::Disabled(_) => Some("KMSDisabledException"),
            KmsError::InvalidState(_) => Some("KMSInvalidStateException"),
            KmsError::InvalidArgument(_) => Some("InvalidArgumentException"),
            KmsError::Io { .. } | KmsError::Corrupt { .. } | KmsError::Crypto(_) => None,
        }
    }
}
