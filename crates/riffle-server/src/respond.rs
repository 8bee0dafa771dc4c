//! Every response the edge sends is built here: AWS's request-id headers,
//! `x-amz-id-2`, CORS, and the error code carried beside the body so that
//! metrics and logs never parse it back out.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use rand::RngCore;
use riffle_model::ApiError;
use riffle_protocol::{encode_error, Format, WireResponse};

/// Headers a browser may read from a cross-origin response.
pub(crate) const EXPOSE_HEADERS: &str =
    "x-amzn-RequestId,x-amzn-ErrorType,x-amz-request-id,x-amz-id-2,x-amzn-ErrorMessage,Date";

/// A service's answer before the edge's headers are added.
pub struct Reply {
    pub status: u16,
    pub content_type: Option<&'static str>,
    pub body: Body,
    /// The AWS error code (`__type`) when this is an error.
    pub error_code: Option<&'static str>,
    /// The error's message, when the reply was built from an [`ApiError`]
    /// (for the audit trail's `errorMessage`).
    pub error_message: Option<String>,
    /// The resource the request named (stream, delivery stream), for the
    /// debug request log; filled only when debug logging is on.
    pub resource: Option<String>,
}

impl Reply {
    /// A fully rendered protocol response.
    pub fn wire(resp: WireResponse) -> Reply {
        Reply {
            status: resp.status,
            content_type: resp.content_type,
            error_code: resp.error_code,
            error_message: None,
            body: Body::from(resp.body),
            resource: None,
        }
    }

    /// An AWS error in the request's format.
    pub fn error(format: Format, err: &ApiError) -> Reply {
        let mut reply = Reply::wire(encode_error(format, err));
        reply.error_message = err.message.clone();
        reply
    }

    /// A successful response whose body is produced as it is sent
    /// (event streams, large GetRecords).
    pub fn streamed(content_type: &'static str, body: Body) -> Reply {
        Reply {
            status: 200,
            content_type: Some(content_type),
            body,
            error_code: None,
            error_message: None,
            resource: None,
        }
    }

    pub fn with_resource(mut self, resource: Option<String>) -> Reply {
        self.resource = resource;
        self
    }

    /// The HTTP response with AWS's headers around the body, and CORS's
    /// when the request's origin is allowed (`BrowserPolicy::allow_origin`).
    pub(crate) fn into_response(
        self,
        request_id: &str,
        allow_origin: Option<HeaderValue>,
    ) -> Response {
        let mut builder = Response::builder()
            .status(StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
            .header("x-amzn-RequestId", request_id)
            .header("x-amz-id-2", amz_id_2());
        if let Some(ct) = self.content_type {
            builder = builder.header("content-type", ct);
        }
        if let Some(origin) = allow_origin {
            if origin != "*" {
                builder = builder.header("vary", "Origin");
            }
            builder = builder
                .header("access-control-allow-origin", origin)
                .header("access-control-expose-headers", EXPOSE_HEADERS);
        }
        builder.body(self.body).unwrap_or_else(|_| {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            r
        })
    }
}

/// The answer to a CORS preflight (`OPTIONS` with `Origin`): the allow
/// headers if the origin is allowed, else 403 without them (the browser
/// then refuses the real request).
pub(crate) fn cors_preflight(
    h: &HeaderMap,
    request_id: &str,
    allow_origin: Option<HeaderValue>,
) -> Response {
    let mut r = Response::new(Body::empty());
    let headers = r.headers_mut();
    let put = |headers: &mut HeaderMap, name: &'static str, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            headers.insert(name, v);
        }
    };
    put(headers, "x-amzn-RequestId", request_id);
    put(headers, "x-amz-id-2", &amz_id_2());
    let Some(origin) = allow_origin else {
        *r.status_mut() = StatusCode::FORBIDDEN;
        return r;
    };
    if origin != "*" {
        put(headers, "vary", "Origin");
    }
    headers.insert("access-control-allow-origin", origin);
    put(headers, "access-control-max-age", "172800");
    if let Some(v) = h
        .get("access-control-request-headers")
        .and_then(|v| v.to_str().ok())
    {
        put(headers, "access-control-allow-headers", v);
    }
    if let Some(v) = h
        .get("access-control-request-method")
        .and_then(|v| v.to_str().ok())
    {
        put(headers, "access-control-allow-methods", v);
    }
    r
}

/// `x-amz-id-2`: base64 of 72 random bytes, as AWS sends.
fn amz_id_2() -> String {
    let mut b = [0u8; 72];
    rand::thread_rng().fill_bytes(&mut b);
    base64::engine::general_purpose::STANDARD.encode(b)
}
