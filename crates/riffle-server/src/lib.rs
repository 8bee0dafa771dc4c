//! The HTTP edge: one port serving HTTP/1.1 and h2c for every service.
//! Each request is decoded by the service-neutral `riffle-protocol` core
//! against every service's table and routed by its `X-Amz-Target` prefix to
//! that [`Service`]; responses are built in one place (`respond`).

mod edge;
pub mod kinesis;
mod metrics;
mod observe;
mod respond;
mod service;

pub use edge::{router, AppState};
pub use kinesis::KinesisService;
pub use respond::Reply;
pub use service::{BoxFuture, Service};

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
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_request_bytes: 16 * 1024 * 1024,
        }
    }
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
    let app = router(AppState::new(services.to_vec(), cfg));
    // Event streams last minutes; end them so graceful shutdown can drain.
    let ending = services.clone();
    let shutdown = async move {
        shutdown.await;
        ending.iter().for_each(|s| s.end_streams());
    };
    // Without TCP_NODELAY, Nagle holds each small SubscribeToShard event until
    // the previous one is ACKed (up to the client's 40 ms delayed ACK).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    maintenance.abort();
    let _ = tokio::task::spawn_blocking(move || services.iter().for_each(|s| s.flush())).await;
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
