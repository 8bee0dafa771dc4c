/// An error as the client sees it: `{"__type": code, "message": message}` with
/// an HTTP status. Every crate's error type maps to this at the edge.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {}", message.as_deref().unwrap_or(""))]
pub struct ApiError {
    /// The short `__type` (`ResourceNotFoundException`).
    pub code: &'static str,
    /// `None` renders no message member at all (AWS does this for some protocol errors).
    pub message: Option<String>,
    pub status: u16,
    /// AWS's type-check errors spell the member `Message`; everything else `message`.
    pub capital_message: bool,
}

impl ApiError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: Some(message.into()),
            status: 400,
            capital_message: false,
        }
    }
    pub fn bare(code: &'static str) -> Self {
        ApiError {
            code,
            message: None,
            status: 400,
            capital_message: false,
        }
    }
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }
    pub fn resource_not_found(m: impl Into<String>) -> Self {
        Self::new("ResourceNotFoundException", m)
    }
    pub fn resource_in_use(m: impl Into<String>) -> Self {
        Self::new("ResourceInUseException", m)
    }
    pub fn invalid_argument(m: impl Into<String>) -> Self {
        Self::new("InvalidArgumentException", m)
    }
    pub fn limit_exceeded(m: impl Into<String>) -> Self {
        Self::new("LimitExceededException", m)
    }
    pub fn expired_iterator(m: impl Into<String>) -> Self {
        Self::new("ExpiredIteratorException", m)
    }
    pub fn expired_next_token(m: impl Into<String>) -> Self {
        Self::new("ExpiredNextTokenException", m)
    }
    pub fn validation(m: impl Into<String>) -> Self {
        Self::new("ValidationException", m)
    }
    pub fn throughput_exceeded(m: impl Into<String>) -> Self {
        Self::new("ProvisionedThroughputExceededException", m)
    }
    /// `InternalFailure`, HTTP 500, as AWS sends it: no message.
    pub fn internal() -> Self {
        ApiError {
            code: "InternalFailure",
            message: None,
            status: 500,
            capital_message: false,
        }
    }
    /// `SerializationException` as AWS's type checker renders it (capital `Message`).
    pub fn serialization(m: impl Into<String>) -> Self {
        ApiError {
            code: "SerializationException",
            message: Some(m.into()),
            status: 400,
            capital_message: true,
        }
    }
}
