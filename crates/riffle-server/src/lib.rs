//! The HTTP edge: one port serving HTTP/1.1 and h2c (and, with a
//! certificate, HTTP/1.1 and HTTP/2 over TLS) for every service.
//! Each request is decoded by the service-neutral `riffle-protocol` core
//! against every service's table and routed by its `X-Amz-Target` prefix to
//! that [`Service`]; responses are built in one place (`respond`).

mod audit;
mod browser;
mod edge;
pub mod firehose;
pub mod kinesis;
mod listen;
mod metrics;
mod observe;
mod respond;
mod security;
mod service;
mod tls;

pub use audit::AuditSink;
pub use edge::AppState;
pub use firehose::{FirehoseAdminService, FirehoseService};
pub use kinesis::KinesisService;
pub use respond::Reply;
pub use security::{Access, AuthMode, RequestContext, Security};
pub use service::{BoxFuture, Service};
pub use tls::{ConnInfo, Error, TlsInfo, TlsSettings};

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Limits and behaviour of the HTTP edge.
#[derive(Clone)]
pub struct ServerConfig {
    /// Larger request bodies get HTTP 413. PutRecords carries up to 10 MiB of
    /// data, which is ~13.4 MiB once base64-encoded in JSON.
    pub max_request_bytes: usize,
    /// Open connections; more are answered 503 and closed.
    pub max_connections: usize,
    /// Requests being processed at once; more are answered 503 at once.
    /// SubscribeToShard streams count only until their response starts.
    pub max_concurrent_requests: usize,
    /// Once a request's first byte arrives, its head must be complete within
    /// this (HTTP/1 and the HTTP/2 preface). `None`: no limit.
    pub header_read_timeout: Option<Duration>,
    /// A connection with no request in flight is closed after this. `None`: never.
    pub idle_timeout: Option<Duration>,
    /// A request body must arrive in full within this after its head, else
    /// 408. `None`: no limit.
    pub body_timeout: Option<Duration>,
    /// Authentication and authorization; `None` is open mode.
    pub security: Option<Arc<Security>>,
    /// The audit trail every call is recorded in; `None`: no trail.
    pub audit: Option<Arc<riffle_audit::AuditLog>>,
    /// Also hands every audit record to this (with the trail on).
    pub audit_sink: Option<Arc<dyn AuditSink>>,
    /// Serve TLS. Unless `require_tls`, plaintext is served on the same port
    /// (the first byte of a connection tells which).
    pub tls: Option<TlsSettings>,
    /// Refuse plaintext connections (HTTP 400 naming https, then close).
    pub require_tls: bool,
    /// Requests must be signed (an auth configuration is loaded). `false` is
    /// open mode: CORS only for `cors_origins` and the `Host` check, against
    /// web pages reaching a local server.
    pub authenticated: bool,
    /// Open mode: origins allowed by CORS (`*` allows every origin).
    pub cors_origins: Vec<String>,
    /// Open mode: `Host` names accepted besides the connection's own
    /// address, `localhost`, `127.0.0.1` and `[::1]`; `name` or `name:port`.
    pub allowed_hosts: Vec<String>,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("max_request_bytes", &self.max_request_bytes)
            .field("max_connections", &self.max_connections)
            .field("max_concurrent_requests", &self.max_concurrent_requests)
            .field("security", &self.security)
            .field("audit", &self.audit.as_ref().map(|a| a.dir().to_path_buf()))
            .finish_non_exhaustive()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_request_bytes: 16 * 1024 * 1024,
            max_connections: 10_000,
            max_concurrent_requests: 512,
            header_read_timeout: Some(Duration::from_secs(10)),
            idle_timeout: Some(Duration::from_secs(120)),
            body_timeout: Some(Duration::from_secs(60)),
            security: None,
            audit: None,
            audit_sink: None,
            tls: None,
            require_tls: false,
            authenticated: false,
            cors_origins: Vec::new(),
            allowed_hosts: Vec::new(),
        }
    }
}

/// Every method and path goes to one handler: AWS ignores the path and
/// answers wrong methods itself, so axum's own 404/405 must never show.
/// Only `GET /metrics` and `GET /health/*` are answered first (`observe`).
pub fn router(state: AppState) -> axum::Router {
    axum::Router::new()
        .fallback(observe::route)
        .with_state(state)
}

/// Serves `services` until `shutdown` resolves, then stops accepting, drains
/// in-flight requests and flushes every service.
pub async fn serve(
    listener: TcpListener,
    services: Vec<Arc<dyn Service>>,
    cfg: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let services: Arc<[Arc<dyn Service>]> = services.into();
    let maintenance = spawn_maintenance(services.clone());
    let state = AppState::new(services.to_vec(), cfg.clone());
    let metrics = state.metrics.clone();
    let app = router(state);
    // Event streams last minutes; end them so graceful shutdown can drain.
    let ending = services.clone();
    let shutdown = async move {
        shutdown.await;
        ending.iter().for_each(|s| s.end_streams());
    };
    let result = listen::serve(listener, app, metrics, &cfg, shutdown).await;
    maintenance.abort();
    let audit = cfg.audit.clone();
    let _ = tokio::task::spawn_blocking(move || {
        services.iter().for_each(|s| s.flush());
        if let Some(Err(e)) = audit.map(|a| a.flush()) {
            tracing::error!(error = %e, "audit trail not flushed at shutdown");
        }
    })
    .await;
    result
}

/// Runs every service's periodic work (timed transitions, retention,
/// scaling) on the blocking pool, one service after another, every 100 ms.
fn spawn_maintenance(services: Arc<[Arc<dyn Service>]>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let s = services.clone();
            let _ = tokio::task::spawn_blocking(move || s.iter().for_each(|s| s.maintain())).await;
        }
    })
}
