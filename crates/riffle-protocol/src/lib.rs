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
mod build;
pub mod eventstream;
mod fast_json;

pub use fast_json::GetRecordsJsonStream;
pub mod schema;
mod typecheck;
mod validate;
pub mod value;

use riffle_model::{ApiError, Input, Operation, Output};
use serde::Serialize;

pub const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.1";
pub const CBOR_CONTENT_TYPE: &str = "application/x-amz-cbor-1.1";
/// The legacy Coral content type; accepted, but answered with Coral envelopes only.
pub const LEGACY_JSON_CONTENT_TYPE: &str = "application/json";
pub const TARGET_PREFIX: &str = "Kinesis_20131202";

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

/// A fully rendered response: status, `Content-Type` (if any) and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireResponse {
    pub status: u16,
    pub content_type: Option<&'static str>,
    pub body: Vec<u8>,
}

#[derive(Debug)]
pub enum Decoded {
    /// A validated request, ready for the domain.
    Call {
        op: Operation,
        format: Format,
        input: Input,
    },
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

fn raw(status: u16, content_type: Option<&'static str>, body: &str) -> Decoded {
    Decoded::Reply(WireResponse {
        status,
        content_type,
        body: body.as_bytes().to_vec(),
    })
}

fn reply(format: Format, err: &ApiError) -> Decoded {
    Decoded::Reply(encode_error(format, err))
}

pub fn decode_request(req: &HttpRequestView<'_>) -> Decoded {
    // 3. Method.
    if req.method != "POST" {
        return raw(403, None, ACCESS_DENIED_XML);
    }

    let mt = media_type(req.content_type);
    // `service.op`; like AWS, only the first two dot-separated parts count.
    let mut parts = req.target.unwrap_or("").split('.');
    let service = parts.next().unwrap_or("");
    let op_name = parts.next().unwrap_or("");
    let op = if service == TARGET_PREFIX {
        Operation::from_name(op_name)
    } else {
        None
    };

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
        return raw(403, None, ACCESS_DENIED_XML);
    } else {
        return raw(404, None, UNKNOWN_OPERATION_XML);
    };

    // 6. Parse.
    let body = match format {
        Format::Json => value::parse_json(req.body),
        Format::Cbor => value::parse_cbor(req.body),
    };
    let body = match body {
        Some(v) if v.is_map() => v,
        _ if legacy => return raw(400, Some(LEGACY_JSON_CONTENT_TYPE), CORAL_SERIALIZATION),
        _ => return reply(format, &ApiError::bare("SerializationException")),
    };

    // 7. Legacy Coral JSON never goes further.
    if legacy {
        return raw(404, Some(LEGACY_JSON_CONTENT_TYPE), CORAL_UNKNOWN_OPERATION);
    }

    // 8. Target.
    let Some(op) = op else {
        return reply(format, &ApiError::bare("UnknownOperationException"));
    };

    // 9. Auth.
    if let Err(e) = auth::check(req.authorization, req.has_date_header, req.query) {
        return reply(format, &e);
    }

    let members = schema::input_schema(op);

    // 10. Types, 11. constraints, then stateless custom checks.
    let fields = match typecheck::check_body(members, body, format) {
        Ok(f) => f,
        Err(e) => return reply(format, &e),
    };
    if let Err(e) = validate::validate(members, &fields) {
        return reply(format, &e);
    }
    let input = build::build(op, build::Fields::new(members, fields));
    Decoded::Call { op, format, input }
}

/// Encodes a successful result. [`Output::Empty`] is HTTP 200 with an empty
/// body (the content type is still set).
pub fn encode_output(format: Format, out: &Output) -> WireResponse {
    let body = match out {
        Output::Empty => Some(Vec::new()),
        Output::DescribeStream(o) => serialize(format, o, 1024),
        Output::DescribeStreamSummary(o) => serialize(format, o, 1024),
        Output::ListStreams(o) => serialize(format, o, 1024),
        Output::ListShards(o) => serialize(format, o, 256 * (o.shards.len() + 1)),
        Output::PutRecord(o) => serialize(format, o, 256),
        Output::PutRecords(o) => serialize(format, o, 128 * (o.records.len() + 1)),
        Output::GetShardIterator(o) => serialize(format, o, 512),
        Output::GetRecords(o) => {
            let data: usize = o.records.iter().map(|r| r.data.0.len()).sum();
            let data = match format {
                Format::Json => data / 3 * 4 + 4 * o.records.len(),
                Format::Cbor => data,
            };
            let capacity = data + 200 * o.records.len() + 1024;
            match format {
                Format::Json => fast_json::get_records(o, capacity),
                Format::Cbor => serialize(format, o, capacity),
            }
        }
        Output::ListTagsForStream(o) => serialize(format, o, 512),
        Output::ListTagsForResource(o) => serialize(format, o, 512),
        Output::DescribeLimits(o) => serialize(format, o, 256),
        Output::UpdateShardCount(o) => serialize(format, o, 256),
        Output::UpdateStreamWarmThroughput(o) => serialize(format, o, 256),
        Output::AccountSettings(o) => serialize(format, o, 256),
        Output::RegisterStreamConsumer(o) => serialize(format, o, 512),
        Output::DescribeStreamConsumer(o) => serialize(format, o, 512),
        Output::ListStreamConsumers(o) => serialize(format, o, 256 * (o.consumers.len() + 1)),
        Output::EnhancedMonitoring(o) => serialize(format, o, 512),
        Output::GetResourcePolicy(o) => serialize(format, o, o.policy.len() + 64),
    };
    match body {
        Some(body) => WireResponse {
            status: 200,
            content_type: Some(format.content_type()),
            body,
        },
        None => encode_error(format, &ApiError::internal()),
    }
}

fn serialize<T: Serialize>(format: Format, value: &T, capacity: usize) -> Option<Vec<u8>> {
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
