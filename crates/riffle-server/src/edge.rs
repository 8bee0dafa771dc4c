//! The service-neutral request path: read the body, answer CORS preflights,
//! decode against every service's table, hand the call to its service,
//! count and log it, and add AWS's headers.

use crate::audit::CallFacts;
use crate::browser::BrowserPolicy;
use crate::metrics::Metrics;
use crate::respond::{cors_preflight, Reply};
use crate::security::{access_key_of, Connection, RequestContext, Security};
use crate::service::Service;
use crate::{ConnInfo, ServerConfig};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Request};
use axum::response::Response;
use riffle_audit::AuditLog;
use riffle_auth::sigv4::SignedRequest;
use riffle_protocol::{decode_request_with, Decoded, HttpRequestView, ServiceSpec, WireResponse};
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
    security: Arc<Security>,
    audit: Option<Arc<AuditLog>>,
    browser: Arc<BrowserPolicy>,
}

impl AppState {
    pub fn new(services: Vec<Arc<dyn Service>>, cfg: ServerConfig) -> Self {
        let specs: Vec<&'static ServiceSpec> = services.iter().map(|s| s.spec()).collect();
        let security = cfg
            .security
            .clone()
            .unwrap_or_else(|| Arc::new(Security::open("us-east-1", "000000000000")));
        AppState {
            security,
            audit: cfg.audit.clone(),
            metrics: Arc::new(Metrics::new(&services)),
            services: services.into(),
            specs: specs.into(),
            browser: Arc::new(BrowserPolicy::new(&cfg)),
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

/// Open mode's DNS-rebinding guard: a request whose `Host` (HTTP/2:
/// `:authority`) names neither this server nor an `--allow-host` name is
/// answered 403 `AccessDeniedException`.
pub(crate) fn refuse_host(state: &AppState, req: &Request<Body>) -> Option<Response> {
    let host = req
        .headers()
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    let local = req.extensions().get::<ConnInfo>().map(|c| c.local);
    if state.browser.host_allowed(host, local) {
        return None;
    }
    let started = Instant::now();
    let shown = host.map_or_else(|| "(none)".to_string(), |h| format!("{h:?}"));
    tracing::debug!(host = shown, "refused: Host not allowed in open mode");
    let err = riffle_model::ApiError::new(
        "AccessDeniedException",
        format!(
            "Host {shown} is not allowed: in open mode (no --auth-config) this server answers only requests \
             addressed to localhost, 127.0.0.1, [::1] or the address it listens on, so that web pages cannot \
             reach it through DNS rebinding. Add the name with --allow-host to accept it."
        ),
    )
    .with_status(403);
    let request_id = uuid::Uuid::new_v4().to_string();
    let reply = Reply::error(riffle_protocol::Format::Json, &err);
    let origin = state.browser.allow_origin(req.headers());
    Some(finish(state, reply, None, &request_id, origin, started))
}

pub(crate) async fn handle(State(state): State<AppState>, req: Request<Body>) -> Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let request_id = uuid::Uuid::new_v4().to_string();
    let origin = state.browser.allow_origin(&parts.headers);

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

    if parts.method == Method::OPTIONS && parts.headers.contains_key("origin") {
        let resp = cors_preflight(&parts.headers, &request_id, origin);
        state.metrics.request(
            NO_SERVICE,
            NO_OPERATION,
            resp.status().as_u16(),
            None,
            started,
        );
        return resp;
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
    let security = &state.security;
    let (decoded, who) = decode_request_with(&view, &state.specs, |spec, _op| {
        if security.mode() == crate::security::AuthMode::Open {
            return Ok(security.open_caller(view.authorization, view.query));
        }
        let mut headers: Vec<(&str, &[u8])> = parts
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes()))
            .collect();
        // HTTP/2 carries the host as the `:authority` pseudo-header, which
        // hyper keeps in the URI; clients sign it as `host` (Rust, Python) or
        // as `:authority` itself (the Node SDK).
        let authority = parts.uri.authority().map(|a| a.as_str());
        if let (Some(a), false) = (authority, parts.headers.contains_key("host")) {
            headers.push(("host", a.as_bytes()));
            headers.push((":authority", a.as_bytes()));
        }
        let signed = SignedRequest {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query(),
            headers: &headers,
            body: &body,
        };
        security.authenticate(&signed, spec.iam_prefix)
    });
    match decoded {
        Decoded::Reply(resp) => {
            // Refused by the core; counted under the operation it named, if any.
            let named = riffle_protocol::resolve_target(view.target, &state.specs).2;
            let message = state
                .audit
                .as_ref()
                .and(named)
                .and_then(|_| error_message(&resp.body));
            let mut reply = Reply::wire(resp);
            reply.error_message = message;
            if let (Some(log), Some((spec, op))) = (&state.audit, named) {
                let conn = connection(&parts);
                let facts = CallFacts {
                    spec,
                    op,
                    request_id: &request_id,
                    ctx: None,
                    access_key_id: access_key_of(view.authorization, view.query),
                    conn: &conn,
                    params: None,
                };
                let error = (reply.error_code, reply.error_message.clone());
                crate::audit::record(
                    log,
                    state.cfg.audit_sink.as_deref(),
                    security.account_id(),
                    security.region(),
                    facts,
                    error,
                )
                .await;
            }
            let op = named.map(|(spec, op)| (spec.iam_prefix, op.name));
            finish(&state, reply, op, &request_id, origin, started)
        }
        Decoded::Call(call) => {
            let (spec, op) = (call.service, call.op);
            let Some(who) = who else {
                let reply = Reply::error(call.format, &riffle_model::ApiError::internal());
                return finish(&state, reply, None, &request_id, origin, started);
            };
            let conn = connection(&parts);
            let ctx = Arc::new(RequestContext::new(
                who,
                conn.clone(),
                security.clone(),
                state.audit.is_some(),
            ));
            let params = state.audit.as_ref().map(|_| call.fields.audit_json());
            let reply = match state.service_for(spec) {
                Some(service) => {
                    service
                        .call(call.with_body(body.clone()), ctx.clone())
                        .await
                }
                None => Reply::error(call.format, &riffle_model::ApiError::internal()),
            };
            if let Some(log) = &state.audit {
                let facts = CallFacts {
                    spec,
                    op,
                    request_id: &request_id,
                    ctx: Some(&ctx),
                    access_key_id: None,
                    conn: &conn,
                    params,
                };
                let error = (reply.error_code, reply.error_message.clone());
                crate::audit::record(
                    log,
                    state.cfg.audit_sink.as_deref(),
                    security.account_id(),
                    security.region(),
                    facts,
                    error,
                )
                .await;
            }
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
    origin: Option<axum::http::HeaderValue>,
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

/// How the request arrived: peer address and transport, from the listen layer.
fn connection(parts: &axum::http::request::Parts) -> Connection {
    let info = parts.extensions.get::<ConnInfo>();
    let tls = info.and_then(|c| c.tls.as_ref());
    Connection {
        source_ip: info.map(|c| c.peer.ip().to_canonical()),
        secure: tls.is_some(),
        user_agent: header(&parts.headers, "user-agent").map(str::to_string),
        tls: tls.map(|t| riffle_audit::TlsDetails {
            tls_version: t.version.clone(),
            cipher_suite: t.cipher_suite.clone(),
            client_provided_host_header: header(&parts.headers, "host")
                .map(str::to_string)
                .or_else(|| parts.uri.authority().map(|a| a.to_string()))
                .unwrap_or_default(),
        }),
    }
}

/// The `message` of a rendered JSON error body (for the audit trail).
fn error_message(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get("message")
        .or_else(|| v.get("Message"))
        .and_then(|m| m.as_str())
        .map(str::to_string)
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
