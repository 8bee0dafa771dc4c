//! SubscribeToShard over HTTP: errors found before streaming are ordinary
//! HTTP 400 responses in the request's format; otherwise HTTP 200 with an
//! `application/vnd.amazon.eventstream` body (no Content-Length: chunked on
//! HTTP/1.1, DATA frames on HTTP/2) that starts with `initial-response` and
//! then carries one frame per event. A later error is an exception frame
//! that ends the stream.
//!
//! The body is pulled: the next event is read from the log only when hyper
//! asks for more bytes, so a client that stops reading holds at most one
//! event here and never slows anyone else.

use crate::errors::to_api_error;
use crate::handler::{amz_id_2, finish, EXPOSE_HEADERS};
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use riffle_model::SubscribeToShardInput;
use riffle_protocol::eventstream::{self, EVENT_STREAM_CONTENT_TYPE};
use riffle_protocol::{encode_error, Format};
use riffle_streams::{Engine, Subscription};
use std::borrow::Cow;
use std::convert::Infallible;

enum State {
    Start(Subscription),
    Streaming(Subscription),
    Done,
}

/// Answers one SubscribeToShard request; also returns the AWS error code
/// when it is refused before streaming.
pub(crate) async fn respond(
    engine: &Engine,
    input: SubscribeToShardInput,
    format: Format,
    request_id: &str,
    origin: bool,
) -> (Response, Option<Cow<'static, str>>) {
    let sub = match engine.subscribe_to_shard(input).await {
        Ok(s) => s,
        Err(e) => {
            let err = to_api_error(e);
            let resp = finish(encode_error(format, &err), request_id, origin);
            return (resp, Some(Cow::Borrowed(err.code)));
        }
    };
    let body = futures_util::stream::unfold(State::Start(sub), move |state| async move {
        match state {
            State::Start(sub) => Some((
                Ok::<_, Infallible>(Bytes::from(eventstream::initial_response(format))),
                State::Streaming(sub),
            )),
            State::Streaming(mut sub) => {
                let frame = match sub.next_event().await? {
                    Ok(ev) => match eventstream::subscribe_event(format, &ev) {
                        Ok(f) => return Some((Ok(Bytes::from(f)), State::Streaming(sub))),
                        Err(e) => {
                            tracing::error!(error = %e, "cannot encode a SubscribeToShard event");
                            eventstream::error_frame(format, &riffle_model::ApiError::internal())
                        }
                    },
                    Err(e) => eventstream::error_frame(format, &to_api_error(e)),
                };
                Some((Ok(Bytes::from(frame)), State::Done))
            }
            State::Done => None,
        }
    });
    let mut builder = Response::builder()
        .status(StatusCode::OK)
        .header("x-amzn-RequestId", request_id)
        .header("content-type", EVENT_STREAM_CONTENT_TYPE);
    if origin {
        builder = builder
            .header("access-control-allow-origin", "*")
            .header("access-control-expose-headers", EXPOSE_HEADERS);
    } else {
        builder = builder.header("x-amz-id-2", amz_id_2());
    }
    let resp = builder.body(Body::from_stream(body)).unwrap_or_else(|_| {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        r
    });
    (resp, None)
}
