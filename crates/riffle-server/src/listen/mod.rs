//! The accept loop and everything that bounds what clients can hold:
//! connections, concurrent requests, and the time allowed to send a request.
//!
//! - **Connections** (`max_connections`): each accepted connection takes a
//!   permit. Over the limit a connection is still accepted, answered
//!   `503 ServiceUnavailableException` (HTTP/1.1 or h2c, whichever it speaks)
//!   and closed within [`REJECT_WITHIN`]; at most [`REJECT_SLOTS`] such
//!   answers are in progress at once, beyond that the connection is closed
//!   at once. The soft `RLIMIT_NOFILE` is raised toward what the limit needs
//!   at startup; if the hard limit is lower, the connection limit is lowered
//!   to fit (with a warning), so the limit answers rather than `accept` failing.
//! - **Concurrent requests** (`max_concurrent_requests`): a request holds a
//!   permit from when its head is read until its response body has been sent.
//!   Over the limit it is answered at once with `503
//!   ServiceUnavailableException`, which the AWS SDKs retry with backoff.
//!   Event streams (SubscribeToShard) give their permit back as soon as the
//!   response head is ready: they last minutes and are bounded by the
//!   connection limit and the consumer limits instead.
//! - **Header read** (`header_read_timeout`, HTTP/1 and the protocol preface):
//!   once the first byte of a request arrives, its head must be complete
//!   within this time, or the connection is closed.
//! - **Idle** (`idle_timeout`, HTTP/1 and HTTP/2): a connection with no request
//!   in flight for this long is closed (HTTP/2 with GOAWAY).
//! - **Request body** (`body_timeout`): the whole body must arrive within this
//!   time from the end of the head, else `408 RequestTimeoutException` and the
//!   connection is closed.
//!
//! Timeouts apply to reading requests only: a response (a SubscribeToShard
//! event stream, a large GetRecords) is never cut for taking long to send.
//!
//! **TLS** (`tls`): a connection whose first byte is 0x16 (a TLS handshake
//! record) is served over TLS, any other as plaintext, on the same port; with
//! `require_tls`, plaintext gets `400` naming https and is closed (counted as
//! `riffle_rejected_total{reason="plaintext"}`). Waiting for the first byte
//! is idle time; from the first byte, the handshake and the first request's
//! head share the header-read timeout. Every limit above applies over TLS
//! as over plaintext, and every request carries its connection's
//! [`ConnInfo`](crate::ConnInfo).

use crate::browser::BrowserPolicy;
use crate::metrics::Metrics;
use crate::{ConnInfo, ServerConfig, TlsInfo};
use axum::body::Body;
use axum::http::{HeaderMap, Request, Response, Version};
use axum::Router;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use riffle_model::ApiError;
use riffle_protocol::Format;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

mod guards;
use guards::{DeadlineBody, Guarded, InflightGuard, RequestSlot, WatchedIo};

/// Connections being answered 503 because `max_connections` was reached.
const REJECT_SLOTS: usize = 256;
/// A rejected connection is closed after this long at most.
const REJECT_WITHIN: Duration = Duration::from_secs(1);
/// After a timeout asks a connection to close, it is dropped if it is still
/// open (and has no request in flight) this much later.
const CLOSE_GRACE: Duration = Duration::from_millis(500);
/// File descriptors kept for data files, the metadata store and rejections,
/// on top of one per connection.
const FD_RESERVE: u64 = 1024;
/// Connections the kernel completes before they are accepted (capped by
/// `net.core.somaxconn`); tokio's default of 1024 drops SYNs in a burst.
const LISTEN_BACKLOG: i32 = 4096;
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// The first byte of a TLS connection: a handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

/// Accepts connections until `shutdown` resolves, then stops accepting, asks
/// every connection to finish (in-flight requests complete, idle connections
/// close, HTTP/2 gets GOAWAY) and returns when all have.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    metrics: Arc<Metrics>,
    cfg: &ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let max_connections = fit_fd_limit(
        cfg.max_connections
            .clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize)),
    );
    // listen() again only resizes the queue of a listening socket.
    if let Err(e) = socket2::SockRef::from(&listener).listen(LISTEN_BACKLOG) {
        tracing::debug!(error = %e, "cannot enlarge the listen backlog");
    }
    let limits = Arc::new(Limits {
        requests: Arc::new(Semaphore::new(
            cfg.max_concurrent_requests.clamp(1, Semaphore::MAX_PERMITS),
        )),
        max_concurrent_requests: cfg.max_concurrent_requests,
        header_read_timeout: cfg.header_read_timeout,
        idle_timeout: cfg.idle_timeout,
        body_timeout: cfg.body_timeout,
        busy_log: RateLimitedLog::default(),
        metrics,
        browser: BrowserPolicy::new(cfg),
        tls: cfg.tls.as_ref().map(|t| t.acceptor()),
        require_tls: cfg.require_tls,
    });
    let builder = Arc::new(conn_builder(true));
    let reject_builder = Arc::new(conn_builder(false));
    let connections = Arc::new(Semaphore::new(max_connections));
    let rejections = Arc::new(Semaphore::new(REJECT_SLOTS));
    let full_log = RateLimitedLog::default();
    let accept_log = RateLimitedLog::default();
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // EMFILE/ENFILE and the like: back off instead of spinning.
                accept_log.warn(|n| {
                    tracing::warn!(error = %e, failures = n, "cannot accept connections (out of file descriptors? raise `ulimit -n` or lower --max-connections)")
                });
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Without TCP_NODELAY, Nagle holds each small SubscribeToShard event
        // until the previous one is ACKed (up to the client's 40 ms delayed ACK).
        let _ = stream.set_nodelay(true);
        match connections.clone().try_acquire_owned() {
            Ok(permit) => {
                tokio::spawn(connection(
                    stream,
                    peer,
                    builder.clone(),
                    reject_builder.clone(),
                    app.clone(),
                    limits.clone(),
                    stop_rx.clone(),
                    permit,
                ));
            }
            Err(_) => {
                full_log.warn(|n| {
                    tracing::warn!(
                        max_connections,
                        refused = n,
                        "connection limit reached: new connections are answered 503 and closed; raise --max-connections if this load is expected"
                    )
                });
                limits.metrics.rejected("max_connections");
                if let Ok(slot) = rejections.clone().try_acquire_owned() {
                    tokio::spawn(reject(
                        stream,
                        reject_builder.clone(),
                        limits.clone(),
                        max_connections,
                        slot,
                    ));
                }
            }
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection holds a permit until it is closed.
    let _ = connections.acquire_many(max_connections as u32).await;
    Ok(())
}

fn conn_builder(keep_alive: bool) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    // hyper's own header-read timeout also runs while a keep-alive connection
    // waits for its next request, so it would double as a short idle timeout:
    // the connection task below times both instead.
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .keep_alive(keep_alive);
    b.http2().timer(TokioTimer::new());
    b
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Raises the soft open-file limit toward what `max_connections` needs; if
/// the hard limit is lower, lowers the connection limit to what fits (so
/// that the limit answers 503 instead of `accept` failing) and warns.
fn fit_fd_limit(max_connections: usize) -> usize {
    #[cfg(unix)]
    {
        let wanted = (max_connections as u64).saturating_add(FD_RESERVE);
        let soft = match rlimit::increase_nofile_limit(wanted) {
            Ok(soft) => soft,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the open-file limit (RLIMIT_NOFILE)");
                return max_connections;
            }
        };
        let fitted = connections_within(max_connections, soft);
        if fitted < max_connections {
            tracing::warn!(
                max_connections,
                open_file_limit = soft,
                "--max-connections {max_connections} needs about {wanted} file descriptors but this process may open only {soft}: serving at most {fitted} connections; raise `ulimit -n` (the hard limit) or lower --max-connections"
            );
        }
        fitted
    }
    #[cfg(not(unix))]
    max_connections
}

/// Connections that fit in `fd_limit` descriptors next to the reserve (a
/// quarter of the limit when it is small).
#[cfg_attr(not(unix), allow(dead_code))]
fn connections_within(max_connections: usize, fd_limit: u64) -> usize {
    let reserve = FD_RESERVE.min(fd_limit / 4);
    let room = usize::try_from(fd_limit.saturating_sub(reserve)).unwrap_or(usize::MAX);
    max_connections.min(room).max(1)
}

/// Shared by every connection.
struct Limits {
    /// Counts what this layer refuses (`riffle_rejected_total`).
    metrics: Arc<Metrics>,
    requests: Arc<Semaphore>,
    max_concurrent_requests: usize,
    header_read_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    body_timeout: Option<Duration>,
    busy_log: RateLimitedLog,
    /// CORS for the answers this layer gives itself (503, 408, 400).
    browser: BrowserPolicy,
    tls: Option<TlsAcceptor>,
    require_tls: bool,
}

/// A warning logged at most every 10 s, with how many times it happened.
#[derive(Default)]
struct RateLimitedLog {
    last: Mutex<Option<Instant>>,
    count: AtomicU64,
}

impl RateLimitedLog {
    fn warn(&self, log: impl FnOnce(u64)) {
        let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        let now = Instant::now();
        if last.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(10)) {
            *last = Some(now);
            self.count.store(0, Ordering::Relaxed);
            log(n);
        }
    }
}

/// What a connection is doing, for its timeouts.
struct Activity {
    /// Requests whose response has not been fully sent.
    inflight: usize,
    /// When `inflight` last became 0 (or the connection opened).
    idle_since: Instant,
    /// First byte read while no request was in flight: a request head (or the
    /// HTTP/2 preface) has started to arrive.
    reading_since: Option<Instant>,
    /// The connection speaks HTTP/2: bytes between requests are frames
    /// (pings, window updates), not a slow request head.
    h2: bool,
}

struct ConnState {
    activity: Mutex<Activity>,
    /// Set while the next byte read should mark `reading_since` (no request
    /// in flight, none started): keeps the read path lock-free otherwise.
    watch_reads: AtomicBool,
    changed: Notify,
}

#[derive(Debug, Clone, Copy)]
enum Expiry {
    HeaderRead,
    Idle,
}

impl ConnState {
    #[cfg(test)]
    fn new() -> Self {
        Self::reading_since(None)
    }

    /// A connection whose first request head has been arriving since
    /// `since` (a TLS handshake began then), or an idle one.
    fn reading_since(since: Option<Instant>) -> Self {
        ConnState {
            activity: Mutex::new(Activity {
                inflight: 0,
                idle_since: Instant::now(),
                reading_since: since,
                h2: false,
            }),
            watch_reads: AtomicBool::new(since.is_none()),
            changed: Notify::new(),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Activity) -> T) -> Option<T> {
        self.activity.lock().ok().map(|mut a| f(&mut a))
    }

    fn bytes_read(&self) {
        if self.watch_reads.swap(false, Ordering::AcqRel) {
            self.with(|a| {
                if a.inflight == 0 && a.reading_since.is_none() {
                    a.reading_since = Some(Instant::now());
                }
            });
            self.changed.notify_one();
        }
    }

    fn request_started(&self) {
        self.watch_reads.store(false, Ordering::Release);
        self.with(|a| {
            a.inflight += 1;
            a.reading_since = None;
        });
    }

    fn request_finished(&self) {
        let idle = self.with(|a| {
            a.inflight = a.inflight.saturating_sub(1);
            if a.inflight == 0 {
                a.idle_since = Instant::now();
                a.reading_since = None;
            }
            a.inflight == 0
        });
        if idle == Some(true) {
            self.watch_reads.store(true, Ordering::Release);
            self.changed.notify_one();
        }
    }

    /// Since when nothing has been in flight, if nothing is.
    fn idle_since(&self) -> Option<Instant> {
        self.with(|a| (a.inflight == 0).then_some(a.idle_since))
            .flatten()
    }

    /// When this connection times out if nothing changes, and why.
    fn deadline(&self, l: &Limits) -> Option<(Instant, Expiry)> {
        self.with(|a| {
            if a.inflight > 0 {
                return None;
            }
            let idle = l.idle_timeout.map(|t| (a.idle_since + t, Expiry::Idle));
            let head = match (a.reading_since, a.h2, l.header_read_timeout) {
                (Some(since), false, Some(t)) => Some((since + t, Expiry::HeaderRead)),
                _ => None,
            };
            match (idle, head) {
                (Some(i), Some(h)) => Some(if h.0 < i.0 { h } else { i }),
                (i, h) => i.or(h),
            }
        })
        .flatten()
    }
}

/// Serves one connection (over TLS if it starts with a handshake), closing
/// it when a read timeout expires or the server shuts down.
#[allow(clippy::too_many_arguments)]
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    builder: Arc<auto::Builder<TokioExecutor>>,
    reject_builder: Arc<auto::Builder<TokioExecutor>>,
    app: Router,
    limits: Arc<Limits>,
    mut stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let Ok(local) = stream.local_addr() else {
        return;
    };
    let mut info = ConnInfo {
        peer,
        local,
        tls: None,
    };
    let Some(acceptor) = limits.tls.clone() else {
        serve_connection(stream, info, None, builder, app, limits, stop).await;
        return;
    };
    let Some(first) = first_byte(&stream, limits.idle_timeout, &mut stop).await else {
        return;
    };
    if first != TLS_HANDSHAKE {
        if limits.require_tls {
            limits.metrics.rejected("plaintext");
            refuse_plaintext(stream, reject_builder, limits).await;
        } else {
            serve_connection(stream, info, None, builder, app, limits, stop).await;
        }
        return;
    }
    let started = Instant::now();
    let handshake = async {
        match limits.header_read_timeout {
            Some(t) => tokio::time::timeout(t, acceptor.accept(stream))
                .await
                .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into())),
            None => acceptor.accept(stream).await,
        }
    };
    let tls = tokio::select! {
        r = handshake => match r {
            Ok(tls) => tls,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                return;
            }
        },
        _ = stop.changed() => return,
    };
    info.tls = Some(TlsInfo::of(tls.get_ref().1));
    serve_connection(tls, info, Some(started), builder, app, limits, stop).await;
}

/// Waits for a connection's first byte without consuming it; `None` if the
/// connection closes, stays silent for the idle timeout, or the server stops.
async fn first_byte(
    stream: &TcpStream,
    idle: Option<Duration>,
    stop: &mut watch::Receiver<bool>,
) -> Option<u8> {
    if *stop.borrow() {
        return None;
    }
    let mut b = [0u8; 1];
    let idle = async {
        match idle {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        r = stream.peek(&mut b) => matches!(r, Ok(1)).then_some(b[0]),
        () = idle => None,
        _ = stop.changed() => None,
    }
}

/// Answers a plaintext connection under `require_tls` with 400 naming
/// https (HTTP/1.1 or h2c), then closes it.
async fn refuse_plaintext(
    stream: TcpStream,
    builder: Arc<auto::Builder<TokioExecutor>>,
    limits: Arc<Limits>,
) {
    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
        let limits = limits.clone();
        async move {
            let message = "This server requires TLS (--require-tls): use an https:// endpoint URL.";
            Ok::<_, Infallible>(error_response(
                req.headers(),
                ApiError::new("BadRequestException", message),
                &limits.browser,
            ))
        }
    });
    let conn = builder.serve_connection(TokioIo::new(stream), svc);
    let _ = tokio::time::timeout(REJECT_WITHIN, conn).await;
}

/// Serves HTTP on an accepted (and, for TLS, handshaken) connection.
/// `head_since`: the first request's head has been arriving since then.
async fn serve_connection<S>(
    stream: S,
    info: ConnInfo,
    head_since: Option<Instant>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    app: Router,
    limits: Arc<Limits>,
    mut stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let state = Arc::new(ConnState::reading_since(head_since));
    let io = TokioIo::new(WatchedIo {
        inner: stream,
        state: state.clone(),
        preface_seen: 0,
    });
    let info = Arc::new(info);
    let svc = {
        let state = state.clone();
        let limits = limits.clone();
        hyper::service::service_fn(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ConnInfo::clone(&info));
            call(req, app.clone(), limits.clone(), state.clone())
        })
    };
    let conn = builder.serve_connection(io, svc);
    tokio::pin!(conn);
    // Set once a timeout or the server's shutdown has asked the connection to
    // close: from then on it is dropped as soon as it has been idle for
    // CLOSE_GRACE (HTTP/2 waits for a ping answer after GOAWAY that a client
    // may never send), while requests in flight are left to finish.
    let mut closing_since: Option<Instant> = None;
    let mut stopping = *stop.borrow();
    if stopping {
        conn.as_mut().graceful_shutdown();
        closing_since = Some(Instant::now());
    }
    loop {
        // A connection asked to close is dropped once idle for CLOSE_GRACE,
        // counted from the later of the ask and its last response (whose
        // last bytes hyper may still be flushing).
        let drop_at = |since: Instant| state.idle_since().map(|idle| since.max(idle) + CLOSE_GRACE);
        let wake = match closing_since {
            Some(since) => drop_at(since),
            None => state.deadline(&limits).map(|(t, _)| t),
        };
        let sleep = async {
            match wake {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            res = conn.as_mut() => {
                if let Err(e) = res {
                    tracing::trace!(error = %e, "connection ended with an error");
                }
                return;
            }
            r = stop.changed(), if !stopping => {
                stopping = true;
                if r.is_ok() {
                    conn.as_mut().graceful_shutdown();
                    closing_since.get_or_insert_with(Instant::now);
                }
            }
            () = state.changed.notified() => {}
            () = sleep => {
                let now = Instant::now();
                if let Some(since) = closing_since {
                    if drop_at(since).is_some_and(|at| now >= at) {
                        tracing::trace!("closing a connection that did not close when asked");
                        return;
                    }
                } else if let Some((at, why)) = state.deadline(&limits) {
                    if now >= at {
                        tracing::debug!(reason = ?why, "closing a connection: read timeout");
                        closing_since = Some(now);
                        // A slow request head is dropped outright; an idle
                        // connection is closed politely (HTTP/2 GOAWAY).
                        if matches!(why, Expiry::HeaderRead) {
                            return;
                        }
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
        }
    }
}

/// Answers every request on a connection over `max_connections` with 503.
async fn reject(
    stream: TcpStream,
    builder: Arc<auto::Builder<TokioExecutor>>,
    limits: Arc<Limits>,
    max_connections: usize,
    _slot: OwnedSemaphorePermit,
) {
    let acceptor = limits.tls.clone();
    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
        let limits = limits.clone();
        async move {
            let message = format!(
                "The server has reached its limit of {max_connections} open connections (--max-connections). \
                 Retry with backoff, reuse connections, or raise --max-connections."
            );
            Ok::<_, Infallible>(error_response(
                req.headers(),
                ApiError::new("ServiceUnavailableException", message).with_status(503),
                &limits.browser,
            ))
        }
    });
    // Over TLS the answer needs a handshake first, within the same time.
    let answer = async move {
        let mut first = [0u8; 1];
        let is_tls = acceptor.is_some()
            && matches!(stream.peek(&mut first).await, Ok(1))
            && first[0] == TLS_HANDSHAKE;
        match acceptor {
            Some(acceptor) if is_tls => {
                if let Ok(tls) = acceptor.accept(stream).await {
                    let _ = builder.serve_connection(TokioIo::new(tls), svc).await;
                }
            }
            _ => {
                let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
            }
        }
    };
    let _ = tokio::time::timeout(REJECT_WITHIN, answer).await;
}

/// The per-request layer around the router: concurrency limit, body
/// deadline, and the connection's in-flight count.
async fn call(
    req: Request<Incoming>,
    app: Router,
    limits: Arc<Limits>,
    conn: Arc<ConnState>,
) -> Result<Response<Body>, Infallible> {
    let inflight = InflightGuard::new(conn);
    // Probes and scrapes are answered even when the API is saturated: that
    // is when an operator needs them.
    if req.method() == axum::http::Method::GET
        && matches!(
            req.uri().path(),
            "/metrics" | "/health/live" | "/health/ready"
        )
    {
        let resp = match app.oneshot(req.map(Body::new)).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        return Ok(resp.map(|b| {
            Body::new(Guarded {
                inner: b,
                _permit: None,
                _inflight: inflight,
            })
        }));
    }
    let Ok(permit) = limits.requests.clone().try_acquire_owned() else {
        let max = limits.max_concurrent_requests;
        limits.busy_log.warn(|n| {
            tracing::warn!(
                max_concurrent_requests = max,
                refused = n,
                "concurrent request limit reached: answering 503; raise --max-concurrent-requests if this load is expected"
            )
        });
        limits.metrics.rejected("max_concurrent_requests");
        let message = format!(
            "The server is already processing {max} requests, its limit (--max-concurrent-requests). \
             Retry with backoff, or raise --max-concurrent-requests."
        );
        let resp = error_response(
            req.headers(),
            ApiError::new("ServiceUnavailableException", message).with_status(503),
            &limits.browser,
        );
        return Ok(resp.map(|b| {
            Body::new(Guarded {
                inner: b,
                _permit: None,
                _inflight: inflight,
            })
        }));
    };
    let permit = RequestSlot::new(permit, limits.metrics.clone());
    let headers = req.headers().clone();
    let version = req.version();
    let timed_out = Arc::new(AtomicBool::new(false));
    let req = match limits.body_timeout {
        Some(t) if !req.body().is_end_stream() => {
            let flag = timed_out.clone();
            req.map(|b| {
                Body::new(DeadlineBody {
                    inner: b,
                    sleep: Box::pin(tokio::time::sleep(t)),
                    timed_out: flag,
                })
            })
        }
        _ => req.map(Body::new),
    };
    let resp = match app.oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let resp = if timed_out.load(Ordering::Acquire) {
        limits.metrics.rejected("body_timeout");
        let ms = limits.body_timeout.map_or(0, |t| t.as_millis());
        let mut r = error_response(
            &headers,
            ApiError::new(
                "RequestTimeoutException",
                format!(
                    "The request body did not arrive within {ms} ms (--body-timeout-ms). \
                     Send the body without pauses, or raise --body-timeout-ms for slow links."
                ),
            )
            .with_status(408),
            &limits.browser,
        );
        if version < Version::HTTP_2 {
            r.headers_mut()
                .insert("connection", axum::http::HeaderValue::from_static("close"));
        }
        r
    } else {
        resp
    };
    let event_stream = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with(riffle_protocol::eventstream::EVENT_STREAM_CONTENT_TYPE));
    // An event stream lasts minutes: it stops counting as a request once it
    // has started (it still keeps its connection from being idle).
    let permit = (!event_stream).then_some(permit);
    Ok(resp.map(|b| {
        Body::new(Guarded {
            inner: b,
            _permit: permit,
            _inflight: inflight,
        })
    }))
}

/// An AWS-style error: JSON or CBOR after the request's content type, with
/// the headers every response gets (`respond`) and `x-amzn-ErrorType`.
fn error_response(req: &HeaderMap, err: ApiError, browser: &BrowserPolicy) -> Response<Body> {
    let format = match req.get("content-type").and_then(|v| v.to_str().ok()) {
        Some(ct) if ct.starts_with("application/x-amz-cbor") => Format::Cbor,
        _ => Format::Json,
    };
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut r = crate::respond::Reply::error(format, &err)
        .into_response(&request_id, browser.allow_origin(req));
    if let Ok(v) = axum::http::HeaderValue::from_str(err.code) {
        r.headers_mut().insert("x-amzn-ErrorType", v);
    }
    r
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn limits(header_ms: Option<u64>, idle_ms: Option<u64>) -> Limits {
        Limits {
            metrics: Arc::new(Metrics::new(&[])),
            requests: Arc::new(Semaphore::new(1)),
            max_concurrent_requests: 1,
            header_read_timeout: header_ms.map(Duration::from_millis),
            idle_timeout: idle_ms.map(Duration::from_millis),
            body_timeout: None,
            busy_log: RateLimitedLog::default(),
            browser: BrowserPolicy::new(&ServerConfig::default()),
            tls: None,
            require_tls: false,
        }
    }

    #[test]
    fn idle_connection_expires_after_the_idle_timeout() {
        let c = ConnState::new();
        let (at, why) = c.deadline(&limits(Some(100), Some(1000))).unwrap();
        assert!(matches!(why, Expiry::Idle));
        let since = c.with(|a| a.idle_since).unwrap();
        assert_eq!(at - since, Duration::from_millis(1000));
        assert!(c.deadline(&limits(Some(100), None)).is_none());
    }

    #[test]
    fn a_started_head_expires_after_the_header_timeout_unless_http2() {
        let c = ConnState::new();
        c.bytes_read();
        let (at, why) = c.deadline(&limits(Some(100), Some(1000))).unwrap();
        assert!(matches!(why, Expiry::HeaderRead));
        let since = c.with(|a| a.reading_since.unwrap()).unwrap();
        assert_eq!(at - since, Duration::from_millis(100));
        // Bytes between HTTP/2 requests are frames: only the idle timeout applies.
        c.with(|a| a.h2 = true);
        assert!(matches!(
            c.deadline(&limits(Some(100), Some(1000))),
            Some((_, Expiry::Idle))
        ));
    }

    #[test]
    fn no_deadline_while_a_request_is_in_flight_and_a_fresh_one_after() {
        let c = Arc::new(ConnState::new());
        c.bytes_read();
        let l = limits(Some(100), Some(1000));
        let g = InflightGuard::new(c.clone());
        assert!(c.deadline(&l).is_none());
        assert!(c.idle_since().is_none());
        drop(g);
        assert!(c.idle_since().is_some());
        // The head timer of the finished request does not carry over.
        assert!(matches!(c.deadline(&l), Some((_, Expiry::Idle))));
        assert!(c.watch_reads.load(Ordering::Acquire));
    }

    #[test]
    fn connections_fit_in_the_open_file_limit() {
        assert_eq!(connections_within(10_000, 1_048_576), 10_000);
        assert_eq!(connections_within(10_000, 11_024), 10_000);
        assert_eq!(connections_within(10_000, 4_096), 3_072);
        assert_eq!(connections_within(10_000, 1_024), 768);
        assert_eq!(connections_within(10_000, 0), 1);
    }

    /// What a handler sees of its connection, over TLS and plaintext on one
    /// port, through the real accept loop.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_carry_their_connection_info() {
        use http_body_util::BodyExt;
        use rustls_pki_types::ServerName;

        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let tls =
            crate::TlsSettings::from_pem(cert.pem().as_bytes(), key.serialize_pem().as_bytes())
                .unwrap();
        let app = Router::new().fallback(|req: Request<Body>| async move {
            match req.extensions().get::<ConnInfo>() {
                Some(c) => match &c.tls {
                    Some(t) => format!(
                        "{} {} {} {} {}",
                        c.peer,
                        c.local,
                        t.version,
                        t.cipher_suite,
                        t.server_name.as_deref().unwrap_or("-")
                    ),
                    None => format!("{} {} plaintext", c.peer, c.local),
                },
                None => "none".to_string(),
            }
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cfg = ServerConfig {
            tls: Some(tls),
            ..ServerConfig::default()
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let metrics = Arc::new(Metrics::new(&[]));
            serve(listener, app, metrics, &cfg, async move {
                let _ = stopped.await;
            })
            .await
        });

        async fn get<T>(io: T) -> String
        where
            T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        {
            let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
                .await
                .unwrap();
            tokio::spawn(conn);
            let req = Request::get("/")
                .header("host", "localhost")
                .body(http_body_util::Empty::<Bytes>::new())
                .unwrap();
            let body = tx.send_request(req).await.unwrap().into_body();
            String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap()
        }

        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let tcp = TcpStream::connect(addr).await.unwrap();
        let me = tcp.local_addr().unwrap();
        let io = tokio_rustls::TlsConnector::from(Arc::new(client))
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        let suite = io.get_ref().1.negotiated_cipher_suite().unwrap().suite();
        assert_eq!(
            get(io).await,
            format!(
                "{me} {addr} TLSv1.3 {} localhost",
                crate::tls::iana_suite_name(suite)
            )
        );
        let tcp = TcpStream::connect(addr).await.unwrap();
        let me = tcp.local_addr().unwrap();
        assert_eq!(get(tcp).await, format!("{me} {addr} plaintext"));
        let _ = stop.send(());
    }

    #[test]
    fn rate_limited_log_counts_what_it_suppressed() {
        let log = RateLimitedLog::default();
        let mut seen = Vec::new();
        for _ in 0..5 {
            log.warn(|n| seen.push(n));
        }
        assert_eq!(seen, vec![1]);
        *log.last.lock().unwrap() = Some(Instant::now() - Duration::from_secs(11));
        log.warn(|n| seen.push(n));
        assert_eq!(seen, vec![1, 5]);
    }
}
