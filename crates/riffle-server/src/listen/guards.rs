//! What a connection and its requests hold while they last: the in-flight
//! count, the concurrency permit, the body deadline and the idle/header
//! watch on the socket. Each releases what it holds when dropped.

use super::*;

/// Counts a request as in flight on its connection until dropped.
pub(super) struct InflightGuard(Arc<ConnState>);

impl InflightGuard {
    pub(super) fn new(conn: Arc<ConnState>) -> Self {
        conn.request_started();
        InflightGuard(conn)
    }
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// A request's concurrency permit, shown as `riffle_requests_in_flight`.
pub(super) struct RequestSlot {
    _permit: OwnedSemaphorePermit,
    metrics: Arc<Metrics>,
}

impl RequestSlot {
    pub(super) fn new(permit: OwnedSemaphorePermit, metrics: Arc<Metrics>) -> RequestSlot {
        metrics.in_flight(1);
        RequestSlot {
            _permit: permit,
            metrics,
        }
    }
}

impl Drop for RequestSlot {
    fn drop(&mut self) {
        self.metrics.in_flight(-1);
    }
}

/// A response body that holds the request's permits until it has been sent
/// (or dropped because the client went away).
pub(super) struct Guarded {
    pub(super) inner: Body,
    pub(super) _permit: Option<RequestSlot>,
    pub(super) _inflight: InflightGuard,
}

impl HttpBody for Guarded {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A request body that fails once its deadline passes before it has
/// arrived in full.
pub(super) struct DeadlineBody {
    pub(super) inner: Incoming,
    pub(super) sleep: Pin<Box<Sleep>>,
    pub(super) timed_out: Arc<AtomicBool>,
}

#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub(super) struct BodyTimeout;

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.timed_out.load(Ordering::Relaxed) {
            return Poll::Ready(None);
        }
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|r| r.map_err(Into::into)));
        }
        if this.sleep.as_mut().poll(cx).is_ready() {
            this.timed_out.store(true, Ordering::Release);
            return Poll::Ready(Some(Err(Box::new(BodyTimeout))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The TCP stream, noting when a request starts to arrive on an idle
/// connection and whether the connection speaks HTTP/2.
pub(super) struct WatchedIo<S> {
    pub(super) inner: S,
    pub(super) state: Arc<ConnState>,
    /// Bytes of the HTTP/2 preface matched so far; `usize::MAX` once decided.
    pub(super) preface_seen: usize,
}

impl<S> WatchedIo<S> {
    fn match_preface(&mut self, bytes: &[u8]) {
        let want = &H2_PREFACE[self.preface_seen..];
        let n = want.len().min(bytes.len());
        if bytes[..n] != want[..n] {
            self.preface_seen = usize::MAX;
        } else {
            self.preface_seen += n;
            if self.preface_seen == H2_PREFACE.len() {
                self.preface_seen = usize::MAX;
                self.state.with(|a| a.h2 = true);
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WatchedIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r {
            let new = &buf.filled()[before..];
            if !new.is_empty() {
                if this.preface_seen < H2_PREFACE.len() {
                    this.match_preface(new);
                }
                // An atomic load unless a request is starting on an idle connection.
                if this.state.watch_reads.load(Ordering::Acquire) {
                    this.state.bytes_read();
                }
            }
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WatchedIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
