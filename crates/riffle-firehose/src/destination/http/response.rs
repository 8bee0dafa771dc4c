//! How Firehose judges one attempt: only a 200 whose JSON body echoes the
//! `requestId` (and has a numeric `timestamp`) is a delivery; 413 is a
//! permanent failure; everything else is retried. Error codes and message
//! wording are AWS's (Firehose guide, `http_troubleshooting` and
//! `basic-deliver`).

use std::fmt;

/// The response body limit (1 MiB); a larger one is `ResponseTooLarge`.
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;
/// How much of an endpoint's response goes into an error message (the
/// response `errorMessage` is at most 8,192 characters; AWS logs "a
/// truncated response payload").
const MAX_QUOTED_BODY: usize = 8192;

/// AWS's `HttpEndpoint.*` error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// A response other than 200 (2xx that are not 200 included).
    DestinationException,
    /// A 200 (or a status outside 2xx/4xx/5xx) that breaks the response contract.
    InvalidResponseFromDestination,
    /// No complete response within the response timeout.
    RequestTimeout,
    /// A response body over 1 MiB.
    ResponseTooLarge,
    /// No connection could be established.
    ConnectionFailed,
    /// The connection was reset or closed before the response was complete.
    ConnectionReset,
    /// The TLS handshake failed.
    SslHandshakeFailure,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::DestinationException => "HttpEndpoint.DestinationException",
            ErrorCode::InvalidResponseFromDestination => {
                "HttpEndpoint.InvalidResponseFromDestination"
            }
            ErrorCode::RequestTimeout => "HttpEndpoint.RequestTimeout",
            ErrorCode::ResponseTooLarge => "HttpEndpoint.ResponseTooLarge",
            ErrorCode::ConnectionFailed => "HttpEndpoint.ConnectionFailed",
            ErrorCode::ConnectionReset => "HttpEndpoint.ConnectionReset",
            ErrorCode::SslHandshakeFailure => "HttpEndpoint.SSLHandshakeFailure",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why one attempt failed.
#[derive(Clone, Debug, PartialEq)]
pub struct AttemptError {
    pub code: ErrorCode,
    /// AWS's wording, for the error record and DescribeDeliveryStream.
    pub message: String,
    /// The endpoint's status, when it answered.
    pub status: Option<u16>,
    /// 413: not retried (and, at AWS, not written to the error output).
    pub permanent: bool,
    /// What exactly was wrong, for the log line (AWS's message is generic).
    pub detail: String,
}

impl AttemptError {
    pub fn new(code: ErrorCode, message: String, detail: impl Into<String>) -> Self {
        AttemptError {
            code,
            message,
            status: None,
            permanent: false,
            detail: detail.into(),
        }
    }
}

/// The endpoint's body as text, cut at [`MAX_QUOTED_BODY`] bytes.
fn quoted(body: &[u8]) -> String {
    let cut = &body[..body.len().min(MAX_QUOTED_BODY)];
    String::from_utf8_lossy(cut).into_owned()
}

/// `HttpEndpoint.DestinationException`'s message as it appears in AWS's
/// error records: the endpoint's body quoted after a fixed sentence. With
/// an empty body Riffle quotes the status code instead (AWS's wording for
/// that case is not documented).
pub fn destination_exception_message(status: u16, body: &[u8]) -> String {
    let quoted = if body.is_empty() {
        status.to_string()
    } else {
        quoted(body)
    };
    format!("Received the following response from the endpoint destination. {quoted}")
}

/// `HttpEndpoint.InvalidResponseFromDestination`'s message, as AWS words it.
pub fn invalid_response_message(request_id: &str, status: u16, body: &[u8]) -> String {
    format!(
        "The response received from the specified endpoint is invalid. Contact the owner of the \
         endpoint to resolve the issue. Response for request {request_id} is not recognized as \
         valid JSON or has unexpected fields. Raw response received: {status} {}",
        quoted(body)
    )
}

/// Judges a complete response. `content_type`/`content_encoding` are the
/// response's header values, if present.
pub fn judge(
    request_id: &str,
    status: u16,
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    body: &[u8],
) -> Result<(), AttemptError> {
    let invalid = |detail: &str| {
        let mut e = AttemptError::new(
            ErrorCode::InvalidResponseFromDestination,
            invalid_response_message(request_id, status, body),
            detail,
        );
        e.status = Some(status);
        e
    };
    match status {
        200 => {}
        413 => {
            let mut e = AttemptError::new(
                ErrorCode::DestinationException,
                destination_exception_message(status, body),
                "413: permanent failure, not retried",
            );
            e.status = Some(status);
            e.permanent = true;
            return Err(e);
        }
        200..=299 | 400..=599 => {
            let mut e = AttemptError::new(
                ErrorCode::DestinationException,
                destination_exception_message(status, body),
                format!("status {status}"),
            );
            e.status = Some(status);
            return Err(e);
        }
        // 1xx, 3xx (redirects are not followed) and nonsense: "the status
        // code MUST be in the 2XX, 4XX or 5XX range".
        _ => return Err(invalid(&format!("status {status} is not 2xx, 4xx or 5xx"))),
    }
    if !content_type.is_some_and(is_json) {
        return Err(invalid("Content-Type is not application/json"));
    }
    if content_encoding.is_some_and(|e| !e.trim().eq_ignore_ascii_case("identity")) {
        return Err(invalid("the response has a Content-Encoding"));
    }
    let Ok(serde_json::Value::Object(doc)) = serde_json::from_slice::<serde_json::Value>(body)
    else {
        return Err(invalid("the body is not a JSON object"));
    };
    match doc.get("requestId") {
        Some(serde_json::Value::String(id)) if id == request_id => {}
        Some(serde_json::Value::String(_)) => return Err(invalid("requestId does not match")),
        _ => return Err(invalid("requestId is missing or not a string")),
    }
    if !doc.get("timestamp").is_some_and(|t| t.is_number()) {
        return Err(invalid("timestamp is missing or not a number"));
    }
    Ok(())
}

/// `application/json`, parameters (`; charset=utf-8`) allowed.
fn is_json(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const ID: &str = "43b8e724-dbac-4510-adb7-ef211c6044b9";
    const JSON: Option<&str> = Some("application/json");

    fn ok_body(id: &str) -> Vec<u8> {
        format!(r#"{{"requestId":"{id}","timestamp":1598556019164}}"#).into_bytes()
    }

    #[test]
    fn a_200_echoing_the_request_id_is_success() {
        assert_eq!(judge(ID, 200, JSON, None, &ok_body(ID)), Ok(()));
        let with_msg = format!(r#"{{"requestId":"{ID}","timestamp":1,"errorMessage":""}}"#);
        assert_eq!(
            judge(
                ID,
                200,
                Some("Application/JSON; charset=utf-8"),
                None,
                with_msg.as_bytes()
            ),
            Ok(())
        );
    }

    #[test]
    fn a_200_breaking_the_contract_is_an_invalid_response() {
        let cases: Vec<(Option<&str>, Option<&str>, Vec<u8>)> = vec![
            (JSON, None, ok_body("other")),
            (JSON, None, br#"{"requestId":null}"#.to_vec()),
            (
                JSON,
                None,
                format!(r#"{{"requestId":"{ID}"}}"#).into_bytes(),
            ),
            (
                JSON,
                None,
                format!(r#"{{"requestId":"{ID}","timestamp":"1578090903599"}}"#).into_bytes(),
            ),
            (JSON, None, b"OK".to_vec()),
            (JSON, None, Vec::new()),
            (None, None, ok_body(ID)),
            (Some("text/plain"), None, ok_body(ID)),
            (JSON, Some("gzip"), ok_body(ID)),
        ];
        for (ct, ce, body) in cases {
            let e = judge(ID, 200, ct, ce, &body).unwrap_err();
            assert_eq!(
                e.code,
                ErrorCode::InvalidResponseFromDestination,
                "{ct:?} {body:?}"
            );
            assert!(!e.permanent);
            assert_eq!(e.status, Some(200));
            assert!(e.message.starts_with(
                "The response received from the specified endpoint is invalid. Contact the owner"
            ));
            assert!(e
                .message
                .contains(&format!("Response for request {ID} is not recognized")));
            assert!(e.message.ends_with(&format!(
                "Raw response received: 200 {}",
                String::from_utf8_lossy(&body)
            )));
        }
    }

    #[test]
    fn other_statuses_are_destination_exceptions_and_413_is_permanent() {
        let body =
            format!(r#"{{"requestId":"{ID}","timestamp":1,"errorMessage":"Payload too large"}}"#);
        let e = judge(ID, 413, JSON, None, body.as_bytes()).unwrap_err();
        assert_eq!(e.code, ErrorCode::DestinationException);
        assert!(e.permanent);
        assert_eq!(
            e.message,
            format!("Received the following response from the endpoint destination. {body}")
        );
        for status in [201, 202, 204, 400, 401, 403, 429, 500, 503] {
            let e = judge(ID, status, JSON, None, &ok_body(ID)).unwrap_err();
            assert_eq!(e.code, ErrorCode::DestinationException, "{status}");
            assert!(!e.permanent, "{status}");
            assert_eq!(e.status, Some(status));
        }
        let e = judge(ID, 500, None, None, b"").unwrap_err();
        assert_eq!(
            e.message,
            "Received the following response from the endpoint destination. 500"
        );
    }

    #[test]
    fn redirects_are_invalid_responses() {
        for status in [301, 302, 307, 308, 100] {
            let e = judge(ID, status, JSON, None, &ok_body(ID)).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidResponseFromDestination);
            assert!(!e.permanent);
        }
    }

    #[test]
    fn quoted_bodies_are_truncated() {
        let big = vec![b'x'; 100_000];
        let m = destination_exception_message(500, &big);
        assert!(m.len() < MAX_QUOTED_BODY + 100);
    }
}
