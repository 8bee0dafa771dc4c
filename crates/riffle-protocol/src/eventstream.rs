//! AWS event-stream framing for SubscribeToShard responses
//! (`application/vnd.amazon.eventstream`), written with the SDK's own codec
//! (`aws-smithy-eventstream`), so the bytes are exactly what its decoder reads:
//!
//! ```text
//! [total_len u32][headers_len u32][prelude_crc u32][headers][payload][message_crc u32]
//! ```
//!
//! A response is an `initial-response` event (botocore and aws-sdk-go-v2
//! require it first), then `SubscribeToShardEvent` events, and at most one
//! `exception` frame, which ends the stream. Payloads follow the request's
//! format: JSON (`:content-type application/json`) or CBOR for CBOR clients.

use crate::Format;
use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use riffle_model::{ApiError, SubscribeToShardEvent};
use serde::Serialize;

/// The HTTP `Content-Type` of an event-stream response.
pub const EVENT_STREAM_CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

/// The `:content-type` of frame payloads in the request's format.
pub fn payload_content_type(format: Format) -> &'static str {
    match format {
        Format::Json => "application/json",
        Format::Cbor => crate::CBOR_CONTENT_TYPE,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("cannot serialize an event payload: {0}")]
    Payload(String),
    #[error("cannot frame an event: {0}")]
    Frame(#[from] aws_smithy_eventstream::error::Error),
}

fn string(v: &'static str) -> HeaderValue {
    HeaderValue::String(v.into())
}

/// One frame with string headers in the given order.
pub fn frame(
    headers: &[(&'static str, HeaderValue)],
    payload: Vec<u8>,
) -> Result<Vec<u8>, FrameError> {
    let headers = headers
        .iter()
        .map(|(name, value)| Header::new(*name, value.clone()))
        .collect();
    let message = Message::new_from_parts(headers, payload);
    let mut out = Vec::with_capacity(message.payload().len() + 128);
    write_message_to(&message, &mut out)?;
    Ok(out)
}

/// An event frame: `:message-type event`, `:event-type`, `:content-type`.
pub fn event(
    event_type: &'static str,
    content_type: &'static str,
    payload: Vec<u8>,
) -> Result<Vec<u8>, FrameError> {
    frame(
        &[
            (":message-type", string("event")),
            (":event-type", string(event_type)),
            (":content-type", string(content_type)),
        ],
        payload,
    )
}

/// An exception frame: `:message-type exception`, `:exception-type`, `:content-type`.
pub fn exception(
    exception_type: &'static str,
    content_type: &'static str,
    payload: Vec<u8>,
) -> Result<Vec<u8>, FrameError> {
    frame(
        &[
            (":message-type", string("exception")),
            (":exception-type", string(exception_type)),
            (":content-type", string(content_type)),
        ],
        payload,
    )
}

fn serialize<T: Serialize>(format: Format, value: &T) -> Result<Vec<u8>, FrameError> {
    let mut buf = Vec::new();
    match format {
        Format::Json => serde_json::to_writer(&mut buf, value)
            .map_err(|e| FrameError::Payload(e.to_string()))?,
        Format::Cbor => ciborium::ser::into_writer(value, &mut buf)
            .map_err(|e| FrameError::Payload(e.to_string()))?,
    }
    Ok(buf)
}

/// The first frame: `initial-response` with an empty structure
/// (SubscribeToShardOutput has no members besides the event stream).
pub fn initial_response(format: Format) -> Vec<u8> {
    let payload = match format {
        Format::Json => b"{}".to_vec(),
        // An empty CBOR map.
        Format::Cbor => vec![0xa0],
    };
    // Three short static headers and a 1-2 byte payload cannot exceed any frame limit.
    event("initial-response", payload_content_type(format), payload).unwrap_or_default()
}

/// A `SubscribeToShardEvent` frame.
pub fn subscribe_event(format: Format, ev: &SubscribeToShardEvent) -> Result<Vec<u8>, FrameError> {
    event(
        "SubscribeToShardEvent",
        payload_content_type(format),
        serialize(format, ev)?,
    )
}

#[derive(Serialize)]
struct ExceptionPayload<'a> {
    message: &'a str,
}

/// The event-stream member an error is sent as. The stream's union models
/// ResourceNotFound, ResourceInUse, the KMS errors and InternalFailureException.
fn exception_type(code: &'static str) -> &'static str {
    match code {
        "InternalFailure" => "InternalFailureException",
        other => other,
    }
}

/// An exception frame for an error that happens after streaming began; it ends the stream.
pub fn error_frame(format: Format, err: &ApiError) -> Vec<u8> {
    let message = err.message.as_deref().unwrap_or("");
    let payload = serialize(format, &ExceptionPayload { message }).unwrap_or_default();
    exception(
        exception_type(err.code),
        payload_content_type(format),
        payload,
    )
    .unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
    use riffle_model::{Blob, Record, Timestamp};

    fn decode_all(mut bytes: &[u8]) -> Vec<Message> {
        let mut dec = MessageFrameDecoder::new();
        let mut out = vec![];
        while !bytes.is_empty() {
            match dec.decode_frame(&mut bytes).unwrap() {
                DecodedFrame::Complete(m) => out.push(m),
                DecodedFrame::Incomplete => panic!("truncated frame"),
            }
        }
        out
    }

    fn header<'a>(m: &'a Message, name: &str) -> &'a str {
        m.headers()
            .iter()
            .find(|h| h.name().as_str() == name)
            .and_then(|h| h.value().as_string().ok())
            .map(|s| s.as_str())
            .unwrap_or_else(|| panic!("no header {name}"))
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// The frame layout written out by hand from the reference (§3.13), so the
    /// fixture is checked against the specification, not only against the codec.
    fn by_hand(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
        let mut h = Vec::new();
        for (name, value) in headers {
            h.push(name.len() as u8);
            h.extend_from_slice(name.as_bytes());
            h.push(7);
            h.extend_from_slice(&(value.len() as u16).to_be_bytes());
            h.extend_from_slice(value.as_bytes());
        }
        let total = 12 + h.len() + payload.len() + 4;
        let mut out = Vec::new();
        out.extend_from_slice(&(total as u32).to_be_bytes());
        out.extend_from_slice(&(h.len() as u32).to_be_bytes());
        let prelude_crc = crc32(&out);
        out.extend_from_slice(&prelude_crc.to_be_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(payload);
        let crc = crc32(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    /// CRC-32 (IEEE, as zlib), bitwise.
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn initial_response_matches_the_committed_fixture() {
        let bytes = initial_response(Format::Json);
        let fixture = include_str!("../tests/fixtures/eventstream-initial-response.hex").trim();
        assert_eq!(hex(&bytes), fixture);
        let expected = by_hand(
            &[
                (":message-type", "event"),
                (":event-type", "initial-response"),
                (":content-type", "application/json"),
            ],
            b"{}",
        );
        assert_eq!(bytes, expected);
        let m = decode_all(&bytes);
        assert_eq!(m.len(), 1);
        assert_eq!(header(&m[0], ":event-type"), "initial-response");
        assert_eq!(&m[0].payload()[..], b"{}");
    }

    #[test]
    fn exception_frame_matches_the_committed_fixture() {
        let err = ApiError::resource_in_use("taken over");
        let bytes = error_frame(Format::Json, &err);
        let fixture = include_str!("../tests/fixtures/eventstream-exception.hex").trim();
        assert_eq!(hex(&bytes), fixture);
        let m = decode_all(&bytes);
        assert_eq!(header(&m[0], ":message-type"), "exception");
        assert_eq!(header(&m[0], ":exception-type"), "ResourceInUseException");
        assert_eq!(&m[0].payload()[..], br#"{"message":"taken over"}"#);
        let internal = error_frame(Format::Json, &ApiError::internal());
        let m = decode_all(&internal);
        assert_eq!(header(&m[0], ":exception-type"), "InternalFailureException");
    }

    #[test]
    fn a_stream_of_frames_decodes_in_order() {
        let ev = SubscribeToShardEvent {
            records: vec![Record {
                sequence_number: "49".into(),
                approximate_arrival_timestamp: Timestamp(1_700_000_000_123),
                data: Blob(b"hello".to_vec()),
                partition_key: "pk".into(),
                encryption_type: None,
            }],
            continuation_sequence_number: Some("49".into()),
            millis_behind_latest: 0,
            child_shards: None,
        };
        let mut all = initial_response(Format::Json);
        all.extend(subscribe_event(Format::Json, &ev).unwrap());
        all.extend(error_frame(
            Format::Json,
            &ApiError::resource_not_found("gone"),
        ));
        let m = decode_all(&all);
        assert_eq!(m.len(), 3);
        assert_eq!(header(&m[1], ":event-type"), "SubscribeToShardEvent");
        assert_eq!(header(&m[1], ":content-type"), "application/json");
        let v: serde_json::Value = serde_json::from_slice(m[1].payload()).unwrap();
        assert_eq!(v["Records"][0]["Data"], "aGVsbG8=");
        assert_eq!(
            v["Records"][0]["ApproximateArrivalTimestamp"].as_f64(),
            Some(1_700_000_000.123)
        );
        assert_eq!(v["ContinuationSequenceNumber"], "49");
        assert!(v.get("ChildShards").is_none());
        assert_eq!(
            header(&m[2], ":exception-type"),
            "ResourceNotFoundException"
        );

        // CBOR clients get CBOR payloads: bytes for Data, integer epoch ms.
        let c = decode_all(&subscribe_event(Format::Cbor, &ev).unwrap());
        assert_eq!(header(&c[0], ":content-type"), "application/x-amz-cbor-1.1");
        let v: ciborium::Value = ciborium::de::from_reader(&c[0].payload()[..]).unwrap();
        let rec = v
            .as_map()
            .unwrap()
            .iter()
            .find(|(k, _)| k.as_text() == Some("Records"))
            .unwrap()
            .1
            .as_array()
            .unwrap()[0]
            .clone();
        let field = |name: &str| {
            rec.as_map()
                .unwrap()
                .iter()
                .find(|(k, _)| k.as_text() == Some(name))
                .unwrap()
                .1
                .clone()
        };
        assert_eq!(field("Data").as_bytes().unwrap().as_slice(), b"hello");
        assert_eq!(
            field("ApproximateArrivalTimestamp")
                .as_integer()
                .map(i128::from),
            Some(1_700_000_000_123)
        );
    }
}
