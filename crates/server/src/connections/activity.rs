//! What a connection is doing, for the header-read and idle timeouts.
//!
//! A connection is always in one phase:
//! - `Head`: waiting for a request's headers — since it was accepted, or since the first byte of
//!   a later request arrived. Limited by the header-read timeout (slowloris clients that trickle
//!   bytes never finish a head, so they are cut off however busy they look).
//! - `Busy`: a request is being handled and its response sent. No limit here.
//! - `Idle`: kept alive between requests, nothing received since the last response ended.
//!   Limited by the idle timeout.
//! - `Upgraded`: the connection became a WebSocket, whose liveness is its ping/pong (`ws.rs`).
//!
//! [`ActivityIo`] sees the bytes read, the service marks requests and upgrades, and
//! [`ResponseBody`] marks the end of a response when hyper drops it after sending it.
//! The connection's task waits on [`Activity::expired`].

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

const HEAD: u8 = 0;
const BUSY: u8 = 1;
const IDLE: u8 = 2;
const UPGRADED: u8 = 3;

/// Which timeout closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// The request's headers did not arrive in time.
    Head,
    /// Nothing arrived on a kept-alive connection in time.
    Idle,
}

impl Expired {
    pub fn label(self) -> &'static str {
        match self {
            Expired::Head => "header",
            Expired::Idle => "idle",
        }
    }
}

/// One connection's phase and since when it is in it. Shared by the connection's IO, its
/// service and its task; every field is atomic, so the read path takes no lock.
#[derive(Debug)]
pub struct Activity {
    start: Instant,
    phase: AtomicU8,
    /// Milliseconds after `start` at which the current `Head` or `Idle` phase began.
    since_ms: AtomicU64,
    changed: Notify,
}

impl Activity {
    /// A connection just accepted: waiting for its first request's headers.
    pub fn new() -> Self {
        Activity {
            start: Instant::now(),
            phase: AtomicU8::new(HEAD),
            since_ms: AtomicU64::new(0),
            changed: Notify::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Bytes arrived: on an idle connection, they start the next request's head.
    fn received(&self) {
        if self.phase.load(Ordering::SeqCst) == IDLE {
            self.since_ms.store(self.now_ms(), Ordering::SeqCst);
            if self.phase.compare_exchange(IDLE, HEAD, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
                self.changed.notify_one();
            }
        }
    }

    /// The service got a request (its headers are complete).
    pub fn request_started(&self) {
        let _ = self.phase.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |p| (p != UPGRADED).then_some(BUSY));
    }

    /// The response was sent (hyper dropped its body): the connection waits for the next request.
    fn response_sent(&self) {
        self.since_ms.store(self.now_ms(), Ordering::SeqCst);
        if self.phase.compare_exchange(BUSY, IDLE, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
            self.changed.notify_one();
        }
    }

    /// The response switches protocols: no timeout of this module applies any more.
    pub fn upgraded(&self) {
        self.phase.store(UPGRADED, Ordering::SeqCst);
        self.changed.notify_one();
    }

    /// Whether no request is in flight (the connection can be closed without losing one).
    pub fn between_requests(&self) -> bool {
        matches!(self.phase.load(Ordering::SeqCst), HEAD | IDLE)
    }

    /// Resolves when the connection has been in `Head` longer than `header` or in `Idle` longer
    /// than `idle`; never while a request is in flight or after an upgrade.
    pub async fn expired(&self, header: Duration, idle: Duration) -> Expired {
        loop {
            // `notify_one` keeps a permit when nobody waits, so a change between the load below
            // and the wait is not missed (it only costs one more round).
            let changed = self.changed.notified();
            let (limit, which) = match self.phase.load(Ordering::SeqCst) {
                HEAD => (header, Expired::Head),
                IDLE => (idle, Expired::Idle),
                _ => {
                    changed.await;
                    continue;
                }
            };
            let deadline = self.start + Duration::from_millis(self.since_ms.load(Ordering::SeqCst)) + limit;
            if Instant::now() >= deadline {
                return which;
            }
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => {}
                () = changed => {}
            }
        }
    }
}

impl Default for Activity {
    fn default() -> Self {
        Self::new()
    }
}

/// A connection's socket that reports what it reads to its [`Activity`], and holds whatever
/// must live exactly as long as the socket (its slot under the connection caps), including
/// after an upgrade, when the WebSocket owns it.
pub struct ActivityIo<T, G> {
    inner: T,
    activity: Arc<Activity>,
    _guard: G,
}

impl<T, G> ActivityIo<T, G> {
    pub fn new(inner: T, activity: Arc<Activity>, guard: G) -> Self {
        ActivityIo { inner, activity, _guard: guard }
    }
}

impl<T: AsyncRead + Unpin, G: Unpin> AsyncRead for ActivityIo<T, G> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.received();
        }
        result
    }
}

impl<T: AsyncWrite + Unpin, G: Unpin> AsyncWrite for ActivityIo<T, G> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A response body that marks the response as sent when hyper drops it (after its last byte,
/// or when the connection ends).
pub struct ResponseBody {
    inner: Body,
    activity: Arc<Activity>,
}

impl ResponseBody {
    pub fn new(inner: Body, activity: Arc<Activity>) -> Self {
        ResponseBody { inner, activity }
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        self.activity.response_sent();
    }
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: Duration = Duration::from_secs(10);
    const IDLE_LIMIT: Duration = Duration::from_secs(60);

    async fn expires_after(activity: &Activity) -> (Expired, Duration) {
        let start = Instant::now();
        let which = activity.expired(HEADER, IDLE_LIMIT).await;
        (which, start.elapsed())
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_connection_has_the_header_timeout() {
        let activity = Activity::new();
        assert_eq!(expires_after(&activity).await, (Expired::Head, HEADER));
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_response_the_idle_timeout_runs_until_the_next_byte() {
        let activity = Arc::new(Activity::new());
        activity.request_started();
        let waiting = tokio::spawn({
            let activity = activity.clone();
            async move { expires_after(&activity).await }
        });
        tokio::time::sleep(Duration::from_secs(100)).await;
        assert!(!waiting.is_finished(), "a request in flight has no timeout");
        activity.response_sent();
        tokio::time::sleep(Duration::from_secs(30)).await;
        // The next request's first byte: its head must be complete within HEADER from now.
        activity.received();
        let (which, after) = waiting.await.unwrap();
        assert_eq!(which, Expired::Head);
        assert_eq!(after, Duration::from_secs(100 + 30) + HEADER);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_expires_after_the_idle_timeout() {
        let activity = Activity::new();
        activity.request_started();
        activity.response_sent();
        assert_eq!(expires_after(&activity).await, (Expired::Idle, IDLE_LIMIT));
    }

    #[tokio::test(start_paused = true)]
    async fn an_upgraded_connection_never_expires() {
        let activity = Activity::new();
        activity.request_started();
        activity.upgraded();
        // The 101 response's body is dropped after the upgrade was marked.
        activity.response_sent();
        activity.received();
        let outcome = tokio::time::timeout(Duration::from_secs(3600), activity.expired(HEADER, IDLE_LIMIT)).await;
        assert!(outcome.is_err(), "{outcome:?}");
        assert!(!activity.between_requests());
    }
}
