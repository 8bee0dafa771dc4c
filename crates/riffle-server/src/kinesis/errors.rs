use riffle_model::ApiError;
use riffle_streams::StreamsError;

/// The one place domain errors become AWS errors.
pub fn to_api_error(e: StreamsError) -> ApiError {
    match e {
        StreamsError::ResourceNotFound(m) => ApiError::resource_not_found(m),
        StreamsError::ResourceInUse(m) => ApiError::resource_in_use(m),
        StreamsError::InvalidArgument(m) => ApiError::invalid_argument(m),
        StreamsError::LimitExceeded(m) => ApiError::limit_exceeded(m),
        StreamsError::ProvisionedThroughputExceeded(m) => ApiError::throughput_exceeded(m),
        StreamsError::ExpiredIterator(m) => ApiError::expired_iterator(m),
        StreamsError::ExpiredNextToken(m) => ApiError::expired_next_token(m),
        StreamsError::Validation(m) => ApiError::validation(m),
        StreamsError::Kms { code, message } => ApiError::new(code, message),
        e @ (StreamsError::Log(_) | StreamsError::Meta(_) | StreamsError::Internal(_)) => {
            tracing::error!(error = %e, "internal failure");
            ApiError::internal()
        }
    }
}
