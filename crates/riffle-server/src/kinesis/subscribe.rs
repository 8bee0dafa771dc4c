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

use super::errors::to_api_error;
use crate::respond::Reply;
use axum::body::Body;
use bytes::Bytes;
use riffle_model::SubscribeToShardInput;
use riffle_protocol::eventstream::{self, EVENT_STREAM_CONTENT_TYPE};
use riffle_protocol::Format;
use riffle_streams::{Engine, Subscription};
use std::convert::Infallible;

enum State {
    Start(Subscription),
    Streaming(Subscription),
    Done,
}

/// Answers one SubscribeToShard request: an event stream, or the error
/// that refused it before streaming.
pub(crate) async fn respond(
    engine: &Engine,
    input: SubscribeToShardInput,
    format: Format,
) -> Reply {
    let sub = match engine.subscribe_to_shard(input).await {
        Ok(s) => s,
        Err(e) => return Reply::error(format, &to_api_error(e)),
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
    Reply::streamed(EVENT_STREAM_CONTENT_TYPE, Body::from_stream(body))
}
