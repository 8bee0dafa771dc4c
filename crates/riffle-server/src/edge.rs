//! The service-neutral request path: read the body, answer CORS preflights,
//! decode against every service's table, hand the call to its service,
//! count and log it, and add AWS's headers.

use crate::metrics::Metrics;
use crate::respond::{cors_preflight, Reply};
use crate::service::Service;
use crate::ServerConfig;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Request};
use axum::response::Response;
use riffle_protocol::{decode_request, Decoded, HttpRequestView, ServiceSpec, WireResponse};
use std::sync::Arc;
use std::time::Instant;

/// The services behind the edge and what they share.
#[derive(Clone)]
pub struct AppState {
    pub(crate) services: Arc<[Arc<dyn Service>]>,
    /// The services' tables, in the same order, for the protocol core.
    specs: Arc<[&'static ServiceSpec]>,
    cfg: Arc<ServerConfig>,
    pub(crate) metrics: Arc<Metrics>,
}

impl AppState {
    pub fn new(services: Vec<Arc<dyn Service>>, cfg: ServerConfig) -> Self {
        let specs: Vec<&'static ServiceSpec> = services.iter().map(|s| s.spec()).collect();
        AppState {
            metrics: Arc::new(Metrics::new(&services)),
            services: services.into(),
            specs: specs.into(),
            cfg: Arc::new(cfg),
        }
    }

    fn service_for(&self, spec: &ServiceSpec) -> Option<&Arc<dyn Service>> {
        self.services.iter().find(|s| std::ptr::eq(s.spec(), spec))
    }
}

/// The `operation` label of requests that named no (known) operation.
const NO_OPERATION: &str = "unknown";
/// The `service` label of requests that named no known service.
const NO_SERVICE: &str = "unknown";

pub(crate) async fn handle(State(state): State<AppState>, req: Request<Body>) -> Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let request_id = uuid::Uuid::new_v4().to_string();
    let origin = parts.headers.contains_key("origin");

    // Shared (not copied) with the call, so record data can stay slices of it.
    let body = match read_body(body, state.cfg.max_request_bytes).await {
        Some(b) => bytes::Bytes::from(b),
        None => {
            let reply = Reply::wire(WireResponse {
                status: 413,
                content_type: None,
                body: Vec::new(),
                error_code: None,
            });
            return finish(&state, reply, None, &request_id, origin, started);
        }
    };

    if parts.method == Method::OPTIONS && origin {
        state
            .metrics
            .request(NO_SERVICE, NO_OPERATION, 200, None, started);
        return cors_preflight(&parts.headers, &request_id);
    }

    let h = &parts.headers;
    let view = HttpRequestView {
        method: parts.method.as_str(),
        content_type: header(h, "content-type"),
        target: header(h, "x-amz-target"),
        authorization: header(h, "authorization"),
        has_date_header: h.contains_key("x-amz-date") || h.contains_key("date"),
        query: parts.uri.query(),
        body: &body,
    };
    match decode_request(&view, &state.specs) {
        Decoded::Reply(resp) => {
            // Refused by the core; counted under the operation it named, if any.
            let op = riffle_protocol::resolve_target(view.target, &state.specs)
                .2
                .map(|(spec, op)| (spec.iam_prefix, op.name));
            finish(&state, Reply::wire(resp), op, &request_id, origin, started)
        }
        Decoded::Call(call) => {
            let (spec, op) = (call.service, call.op);
            let reply = match state.service_for(spec) {
                Some(service) => service.call(call.with_body(body.clone())).await,
                None => Reply::error(call.format, &riffle_model::ApiError::internal()),
            };
            finish(
                &state,
                reply,
                Some((spec.iam_prefix, op.name)),
                &request_id,
                origin,
                started,
            )
        }
    }
}

/// Reads the whole body into one buffer sized from its `Content-Length`,
/// copying each frame as it arrives; `None` if it is larger than `limit` or
/// fails to arrive (answered 413, as before).
///
/// Why not `axum::body::to_bytes`: it holds every frame until the body ends
/// and then copies them all into one buffer. While a ~1.4 MB PutRecords body
/// arrives, the held frames pin hyper's read buffer, so hyper allocates fresh
/// ones (new pages, faulted in and zeroed by the kernel), and the final copy
/// reads the frames back from memory. Copied and dropped one by one, each
/// frame is still in cache and hyper reuses its buffer.
async fn read_body(body: Body, limit: usize) -> Option<Vec<u8>> {
    use futures_util::StreamExt;
    let hint = http_body::Body::size_hint(&body);
    if hint.lower() > limit as u64 {
        return None;
    }
    let expected = hint.exact().unwrap_or(0).min(limit as u64);
    let mut buf = Vec::with_capacity(usize::try_from(expected).unwrap_or(limit));
    let mut frames = body.into_data_stream();
    while let Some(frame) = frames.next().await {
        let data = frame.ok()?;
        if buf.len() + data.len() > limit {
            return None;
        }
        buf.extend_from_slice(&data);
    }
    Some(buf)
}

/// Counts an answered request, writes its (debug-level) log line and adds
/// the edge's headers.
fn finish(
    state: &AppState,
    reply: Reply,
    op: Option<(&'static str, &'static str)>,
    request_id: &str,
    origin: bool,
    started: Instant,
) -> Response {
    let (service, op) = op.unwrap_or((NO_SERVICE, NO_OPERATION));
    tracing::debug!(
        request_id,
        service,
        op,
        status = reply.status,
        error = reply.error_code,
        resource = reply.resource.as_deref(),
        latency_us = started.elapsed().as_micros() as u64,
        "request"
    );
    state
        .metrics
        .request(service, op, reply.status, reply.error_code, started);
    reply.into_response(request_id, origin)
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn chunked(parts: &[&'static [u8]]) -> Body {
        let frames: Vec<Result<bytes::Bytes, std::io::Error>> = parts
            .iter()
            .map(|p| Ok(bytes::Bytes::from_static(p)))
            .collect();
        Body::from_stream(futures_util::stream::iter(frames))
    }

    #[tokio::test]
    async fn reads_whole_bodies_up_to_the_limit() {
        assert_eq!(read_body(Body::empty(), 0).await, Some(vec![]));
        assert_eq!(
            read_body(Body::from("hello"), 5).await,
            Some(b"hello".to_vec())
        );
        assert_eq!(read_body(Body::from("hello"), 4).await, None);
        assert_eq!(
            read_body(chunked(&[b"ab", b"", b"cde"]), 5).await,
            Some(b"abcde".to_vec())
        );
        assert_eq!(read_body(chunked(&[b"ab", b"cde", b"f"]), 5).await, None);
        let failing = Body::from_stream(futures_util::stream::iter(vec![
            Ok(bytes::Bytes::from_static(b"ab")),
            Err(std::io::Error::other("reset")),
        ]));
        assert_eq!(read_body(failing, 100).await, None);
    }
}
