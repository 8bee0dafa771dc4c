//! The HTTP edge: one port serving HTTP/1.1 and h2c, every request routed
//! through `riffle-protocol` (decode, validate) to the `riffle-streams`
//! engine, and errors mapped to AWS error codes here and only here.

mod errors;
mod handler;
mod listen;
mod metrics;
mod observe;
mod streamed;
mod subscribe;

pub use handler::{router, AppState};

use riffle_streams::Engine;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Limits and behaviour of the HTTP edge.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Larger request bodies get HTTP 413. PutRecords carries up to 10 MiB of
    /// data, which is ~13.4 MiB once base64-encoded in JSON.
    pub max_request_bytes: usize,
    /// How often due retention is enforced (whole segments deleted).
    pub retention_check_interval: Duration,
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
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_request_bytes: 16 * 1024 * 1024,
            retention_check_interval: Duration::from_secs(60),
            max_connections: 10_000,
            max_concurrent_requests: 512,
            header_read_timeout: Some(Duration::from_secs(10)),
            idle_timeout: Some(Duration::from_secs(120)),
            body_timeout: Some(Duration::from_secs(60)),
        }
    }
}

/// Serves until `shutdown` resolves, then stops accepting, drains in-flight
/// requests and flushes every log.
pub async fn serve(
    listener: TcpListener,
    engine: Arc<Engine>,
    cfg: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let maintenance = spawn_maintenance(engine.clone(), cfg.retention_check_interval);
    let app = router(AppState::new(engine.clone(), cfg.clone()));
    // Event streams last minutes; end them so graceful shutdown can drain.
    let ending = engine.clone();
    let shutdown = async move {
        shutdown.await;
        ending.end_subscriptions();
    };
    let result = listen::serve(listener, app, &cfg, shutdown).await;
    maintenance.abort();
    let e = engine.clone();
    let _ = tokio::task::spawn_blocking(move || e.sync_all()).await;
    result
}

/// Completes timed stream transitions and enforces retention in the background.
fn spawn_maintenance(
    engine: Arc<Engine>,
    retention_every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let mut last_retention = tokio::time::Instant::now();
        let mut last_autoscale = tokio::time::Instant::now();
        loop {
            tick.tick().await;
            let e = engine.clone();
            let run_retention = last_retention.elapsed() >= retention_every;
            if run_retention {
                last_retention = tokio::time::Instant::now();
            }
            let run_autoscale = last_autoscale.elapsed() >= Duration::from_secs(1);
            if run_autoscale {
                last_autoscale = tokio::time::Instant::now();
            }
            let _ = tokio::task::spawn_blocking(move || {
                e.settle_all();
                if run_autoscale {
                    e.autoscale();
                }
                if run_retention {
                    let freed = e.enforce_retention();
                    if freed > 0 {
                        tracing::info!(bytes = freed, "retention: deleted expired segments");
                    }
                }
            })
            .await;
        }
    })
}
