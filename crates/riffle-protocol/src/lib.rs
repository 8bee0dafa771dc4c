//! awsJson1.1 / CBOR codecs, X-Amz-Target dispatch, auth-header checks, validation and error rendering.
//!
//! [`decode_request`] runs AWS's request-handling order (kinesalite `index.js`,
//! verified against AWS; reference doc §1.7 steps 3..11):
//!
//! 3. method != POST → 403 XML `AccessDeniedException`
//! 4. empty body → `SerializationException` / `UnknownOperationException`, no message
//!    (JSON for `application/x-amz-json-1.1`, CBOR otherwise)
//! 5. invalid content type → 403 XML `AccessDeniedException` or 404 `<UnknownOperationException/>`
//! 6. body not a JSON/CBOR object → `SerializationException`
//! 7. `application/json` (legacy Coral) → Coral envelopes, never further
//! 8. unknown target → `UnknownOperationException`
//! 9. auth well-formedness (no signature verification)
//! 10. type checks → `SerializationException` with capital `Message`
//! 11. constraint validation → `ValidationException`
//!
//! then stateless custom checks (`InvalidArgumentException`) and the typed [`Input`].

mod auth;
pub mod eventstream;
pub mod fields;
pub mod firehose;
pub mod kinesis;
pub mod schema;
pub mod service;
mod typecheck;
mod validate;
pub mod value;

pub use kinesis::GetRecordsJsonStream;
pub use service::{Call, EventKind, OperationSpec, ServiceSpec};

use riffle_model::ApiError;
use serde::Serialize;

pub const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.1";
pub const CBOR_CONTENT_TYPE: &str = "application/x-amz-cbor-1.1";
/// The legacy Coral content type; accepted, but answered with Coral envelopes only.
pub const LEGACY_JSON_CONTENT_TYPE: &str = "application/json";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Cbor,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => JSON_CONTENT_TYPE,
            Format::Cbor => CBOR_CONTENT_TYPE,
        }
    }
}

/// What `decode_request` needs from an HTTP request.
#[derive(Clone, Copy, Debug)]
pub struct HttpRequestView<'a> {
    pub method: &'a str,
    /// The raw `Content-Type` header value.
    pub content_type: Option<&'a str>,
    /// `X-Amz-Target`.
    pub target: Option<&'a str>,
    pub authorization: Option<&'a str>,
    /// `X-Amz-Date` or `Date` present.
    pub has_date_header: bool,
    /// The raw query string (presigned `X-Amz-*` parameters).
    pub query: Option<&'a str>,
    pub body: &'a [u8],
}

/// A fully rendered response: status, `Content-Type` (if any) and body, and
/// the AWS error code it carries (so nobody parses it back out of the body).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireResponse {
    pub status: u16,
    pub content_type: Option<&'static str>,
    pub body: Vec<u8>,
    pub error_code: Option<&'static str>,
}

#[derive(Debug)]
pub enum Decoded<'a> {
    /// A validated request for one of the services, ready for its builder.
    Call(Call<'a>),
    /// Any protocol, auth, serialization or validation error, fully rendered.
    Reply(WireResponse),
}

/// The media type (before any `;` parameters, trimmed) compared case-insensitively.
fn media_type(ct: Option<&str>) -> &str {
    ct.unwrap_or("").split(';').next().unwrap_or("").trim()
}

/// `application/x-amz-json-1.1` and `application/json` → JSON,
/// `application/x-amz-cbor-1.1` → CBOR, anything else → `None`.
pub fn format_for_content_type(ct: Option<&str>) -> Option<Format> {
    let mt = media_type(ct);
    if mt.eq_ignore_ascii_case(JSON_CONTENT_TYPE)
        || mt.eq_ignore_ascii_case(LEGACY_JSON_CONTENT_TYPE)
    {
        Some(Format::Json)
    } else if mt.eq_ignore_ascii_case(CBOR_CONTENT_TYPE) {
        Some(Format::Cbor)
    } else {
        None
    }
}

const ACCESS_DENIED_XML: &str = "<AccessDeniedException>\n  <Message>Unable to determine service/operation name to be authorized</Message>\n</AccessDeniedException>\n";
const UNKNOWN_OPERATION_XML: &str = "<UnknownOperationException/>\n";
const CORAL_SERIALIZATION: &str =
    r#"{"Output":{"__type":"com.amazon.coral.service#SerializationException"},"Version":"1.0"}"#;
const CORAL_UNKNOWN_OPERATION: &str =
    r#"{"Output":{"__type":"com.amazon.coral.service#UnknownOperationException"},"Version":"1.0"}"#;

fn raw(
    status: u16,
    content_type: Option<&'static str>,
    body: &str,
    code: &'static str,
) -> Decoded<'static> {
    Decoded::Reply(WireResponse {
        status,
        content_type,
        body: body.as_bytes().to_vec(),
        error_code: Some(code),
    })
}

fn reply(format: Format, err: &ApiError) -> Decoded<'static> {
    Decoded::Reply(encode_error(format, err))
}

/// The service and operation an `X-Amz-Target` names, if any. Like AWS, only
/// the first two dot-separated parts count.
pub fn resolve_target<'t>(
    target: Option<&'t str>,
    services: &[&'static ServiceSpec],
) -> (
    &'t str,
    &'t str,
    Option<(&'static ServiceSpec, &'static OperationSpec)>,
) {
    let mut parts = target.unwrap_or("").split('.');
    let service = parts.next().unwrap_or("");
    let op_name = parts.next().unwrap_or("");
    let found = services
        .iter()
        .find(|s| s.target_prefix == service)
        .and_then(|s| s.operation(op_name).map(|op| (*s, op)));
    (service, op_name, found)
}

/// Runs AWS's check order on one request for any of `services`.
///
/// The body becomes a value tree only for a known operation with a
/// well-formed authentication header: other requests get their (AWS-exact)
/// answer after a syntax-only scan that allocates nothing per node. The tree
/// itself is bounded by [`value::node_budget`] relative to the body size.
pub fn decode_request<'a>(
    req: &HttpRequestView<'a>,
    services: &[&'static ServiceSpec],
) -> Decoded<'a> {
    decode_request_with(req, services, |_, _| Ok(())).0
}

/// [`decode_request`] with an authentication step: `authenticate` runs once
/// the target is known and the auth header well-formed, before the body is
/// parsed into a tree (so an unauthenticated caller never costs a parse),
/// and its error is answered in the request's format. Its result is
/// returned beside the decoded request (`None` when it did not run).
pub fn decode_request_with<'a, A>(
    req: &HttpRequestView<'a>,
    services: &[&'static ServiceSpec],
    authenticate: impl FnOnce(&'static ServiceSpec, &'static OperationSpec) -> Result<A, ApiError>,
) -> (Decoded<'a>, Option<A>) {
    let mut who = None;
    let decoded = decode_checked(req, services, |spec, op| {
        who = Some(authenticate(spec, op)?);
        Ok(())
    });
    (decoded, who)
}

fn decode_checked<'a>(
    req: &HttpRequestView<'a>,
    services: &[&'static ServiceSpec],
    authenticate: impl FnOnce(&'static ServiceSpec, &'static OperationSpec) -> Result<(), ApiError>,
) -> Decoded<'a> {
    // 3. Method.
    if req.method != "POST" {
        return raw(403, None, ACCESS_DENIED_XML, "AccessDeniedException");
    }

    let mt = media_type(req.content_type);
    let (service, op_name, op) = resolve_target(req.target, services);

    // 4. Empty body.
    if req.body.is_empty() {
        let format = if mt.eq_ignore_ascii_case(JSON_CONTENT_TYPE) {
            Format::Json
        } else {
            Format::Cbor
        };
        let code = if op.is_some() {
            "SerializationException"
        } else {
            "UnknownOperationException"
        };
        return reply(format, &ApiError::bare(code));
    }

    // 5. Content type.
    let legacy = mt.eq_ignore_ascii_case(LEGACY_JSON_CONTENT_TYPE);
    let format = if mt.eq_ignore_ascii_case(JSON_CONTENT_TYPE) || legacy {
        Format::Json
    } else if mt.eq_ignore_ascii_case(CBOR_CONTENT_TYPE) {
        Format::Cbor
    } else if service.is_empty() || op_name.is_empty() {
        return raw(403, None, ACCESS_DENIED_XML, "AccessDeniedException");
    } else {
        return raw(
            404,
            None,
            UNKNOWN_OPERATION_XML,
            "UnknownOperationException",
        );
    };

    // Steps 8 and 9 are decided before the body is parsed into a tree, so an
    // unknown target or an unauthenticated caller costs a syntax scan only;
    // the answer still follows AWS's order (a bad body is reported first).
    let auth = auth::check(req.authorization, req.has_date_header, req.query);
    let target = match op {
        Some(t) if auth.is_ok() && !legacy => t,
        _ => {
            // 6. Parse (syntax only).
            if !value::is_object(format, req.body) {
                if legacy {
                    return raw(
                        400,
                        Some(LEGACY_JSON_CONTENT_TYPE),
                        CORAL_SERIALIZATION,
                        "SerializationException",
                    );
                }
                return reply(format, &ApiError::bare("SerializationException"));
            }
            // 7. Legacy Coral JSON never goes further.
            if legacy {
                return raw(
                    404,
                    Some(LEGACY_JSON_CONTENT_TYPE),
                    CORAL_UNKNOWN_OPERATION,
                    "UnknownOperationException",
                );
            }
            // 8. Target, 9. auth.
            return match (op, auth) {
                (None, _) => reply(format, &ApiError::bare("UnknownOperationException")),
                (_, Err(e)) => reply(format, &e),
                // Unreachable: a known target with valid auth took the other arm.
                (Some(_), Ok(())) => reply(format, &ApiError::internal()),
            };
        }
    };
    let (service_spec, op) = target;

    // Signature and credentials, before the body costs a tree.
    if let Err(e) = authenticate(service_spec, op) {
        return reply(format, &e);
    }

    // 6. Parse into a tree, within a node budget proportional to the body.
    let body = match format {
        Format::Json => value::parse_json(req.body),
        Format::Cbor => value::parse_cbor(req.body),
    };
    let body = match body {
        Some(v) if v.is_map() => v,
        _ => return reply(format, &ApiError::bare("SerializationException")),
    };

    // 10. Types, 11. constraints.
    let members = op.input;
    let fields = match typecheck::check_body(members, body, format) {
        Ok(f) => f,
        Err(e) => return reply(format, &e),
    };
    if let Err(e) = validate::validate(members, &fields) {
        return reply(format, &e);
    }
    Decoded::Call(Call {
        service: service_spec,
        op,
        format,
        fields: fields::Fields::new(members, fields),
        body: None,
    })
}

/// Serializes a service output in the request's format; `None` if it cannot be.
pub fn serialize<T: Serialize>(format: Format, value: &T, capacity: usize) -> Option<Vec<u8>> {
    let mut buf = Vec::with_capacity(capacity);
    match format {
        Format::Json => serde_json::to_writer(&mut buf, value).ok()?,
        Format::Cbor => ciborium::ser::into_writer(value, &mut buf).ok()?,
    }
    Some(buf)
}

/// Encodes `{"__type": code, "message": msg}` (`Message` when
/// `capital_message`; no message member when `None`) with the error's status.
/// CBOR errors are an indefinite-length map, byte-identical to AWS's
/// (`bf 66 "__type" ... ff`).
pub fn encode_error(format: Format, err: &ApiError) -> WireResponse {
    let key = if err.capital_message {
        "Message"
    } else {
        "message"
    };
    let body = match format {
        Format::Json => {
            let mut out = String::with_capacity(64 + err.message.as_ref().map_or(0, String::len));
            out.push_str("{\"__type\":");
            out.push_str(&json_string(err.code));
            if let Some(m) = &err.message {
                out.push_str(",\"");
                out.push_str(key);
                out.push_str("\":");
                out.push_str(&json_string(m));
            }
            out.push('}');
            out.into_bytes()
        }
        Format::Cbor => {
            let mut out = Vec::with_capacity(64 + err.message.as_ref().map_or(0, String::len));
            out.push(0xbf);
            cbor_text(&mut out, "__type");
            cbor_text(&mut out, err.code);
            if let Some(m) = &err.message {
                cbor_text(&mut out, key);
                cbor_text(&mut out, m);
            }
            out.push(0xff);
            out
        }
    };
    WireResponse {
        status: err.status,
        content_type: Some(format.content_type()),
        body,
        error_code: Some(err.code),
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// A definite-length CBOR text string (major type 3), minimal header.
fn cbor_text(out: &mut Vec<u8>, s: &str) {
    let len = s.len() as u64;
    match len {
        0..=23 => out.push(0x60 | len as u8),
        24..=0xff => out.extend_from_slice(&[0x78, len as u8]),
        0x100..=0xffff => {
            out.push(0x79);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(0x7a);
            out.extend_from_slice(&(len as u32).to_be_bytes());
        }
        _ => {
            out.push(0x7b);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    out.extend_from_slice(s.as_bytes());
}
