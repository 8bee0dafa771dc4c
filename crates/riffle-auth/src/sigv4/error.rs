//! The answers a failed verification gives, in AWS's words.

/// Which AWS error a failed verification maps to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SigV4ErrorKind {
    /// No `Authorization` header and no `X-Amz-Algorithm` query parameter.
    MissingAuthenticationToken,
    /// The signature is malformed: parts missing, a bad date, a bad scope shape.
    IncompleteSignature,
    /// Well formed but wrong: signature, scope, clock, unsigned headers.
    InvalidSignature,
    /// Unknown access key, or a session token that does not belong to it.
    UnrecognizedClient,
    /// Temporary credentials past their expiry.
    ExpiredToken,
    /// The verifier itself failed (cannot happen with SHA-256 HMAC keys).
    Internal,
}

/// A rejected request: the `__type`, `message` and status the edge answers with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", .kind.aws_type())]
pub struct SigV4Error {
    kind: SigV4ErrorKind,
    message: String,
}

impl SigV4ErrorKind {
    /// The wire `__type` (Kinesis uses bare names).
    pub fn aws_type(self) -> &'static str {
        match self {
            SigV4ErrorKind::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            SigV4ErrorKind::IncompleteSignature => "IncompleteSignatureException",
            SigV4ErrorKind::InvalidSignature => "InvalidSignatureException",
            SigV4ErrorKind::UnrecognizedClient => "UnrecognizedClientException",
            SigV4ErrorKind::ExpiredToken => "ExpiredTokenException",
            SigV4ErrorKind::Internal => "InternalFailure",
        }
    }
}

impl SigV4Error {
    pub(crate) fn new(kind: SigV4ErrorKind, message: impl Into<String>) -> SigV4Error {
        SigV4Error {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn incomplete(message: impl Into<String>) -> SigV4Error {
        SigV4Error::new(SigV4ErrorKind::IncompleteSignature, message)
    }

    pub(crate) fn invalid(message: impl Into<String>) -> SigV4Error {
        SigV4Error::new(SigV4ErrorKind::InvalidSignature, message)
    }

    pub(crate) fn unrecognized() -> SigV4Error {
        SigV4Error::new(
            SigV4ErrorKind::UnrecognizedClient,
            "The security token included in the request is invalid.",
        )
    }

    pub(crate) fn expired_token() -> SigV4Error {
        // No trailing period: AWS's own text (Kinesis producer and Vector reports).
        SigV4Error::new(
            SigV4ErrorKind::ExpiredToken,
            "The security token included in the request is expired",
        )
    }

    pub(crate) fn signature_mismatch() -> SigV4Error {
        SigV4Error::invalid(SIGNATURE_MISMATCH)
    }

    pub fn kind(&self) -> SigV4ErrorKind {
        self.kind
    }

    /// The `__type` of the error body.
    pub fn aws_type(&self) -> &'static str {
        self.kind.aws_type()
    }

    /// The `message` of the error body.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The HTTP status: Kinesis answers every auth failure with 400.
    pub fn status(&self) -> u16 {
        match self.kind {
            SigV4ErrorKind::Internal => 500,
            _ => 400,
        }
    }

    pub(crate) fn append(&mut self, text: &str) {
        self.message.push_str(text);
    }
}

/// AWS's text for a signature that does not match.
pub const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
