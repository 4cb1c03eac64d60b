//! What a connection is doing, for its watchdog (`serve.rs`): when a byte last moved
//! ([`Watched`] notes it), requests under way ([`Busy`]), handlers working ([`Working`]), event
//! streams open, and whether it is to be shut down.

use crate::http::{EVENT_STREAM_KEEPALIVE, Resp};
use http_body_util::BodyExt;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

/// What a connection is doing, for its watchdog.
pub(super) struct Activity {
    /// When the connection was opened: the origin of `last_io_ms`.
    pub(super) opened: Instant,
    /// When a byte was last read or written, in milliseconds since `opened`.
    last_io_ms: AtomicU64,
    /// Requests from their head until their answer's body has been sent (or dropped).
    under_way: AtomicUsize,
    /// Handlers working out an answer.
    working: AtomicUsize,
    /// Server-sent event streams open.
    streams: AtomicUsize,
    /// Since when no request has been under way.
    idle_since: Mutex<Instant>,
    /// Since when the connection has been shutting down, if it is.
    closing_since: Mutex<Option<Instant>>,
    /// A body did not arrive in time: the connection is to be shut down.
    pub(super) close_requested: Arc<AtomicBool>,
    /// Wakes the connection's watchdog when the above change (not on each byte).
    pub(super) changed: Notify,
}

impl Activity {
    pub(super) fn new() -> Self {
        let now = Instant::now();
        Self {
            opened: now,
            last_io_ms: AtomicU64::new(0),
            under_way: AtomicUsize::new(0),
            working: AtomicUsize::new(0),
            streams: AtomicUsize::new(0),
            idle_since: Mutex::new(now),
            closing_since: Mutex::new(None),
            close_requested: Arc::new(AtomicBool::new(false)),
            changed: Notify::new(),
        }
    }

    fn progressed(&self) {
        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_io_ms.fetch_max(ms, Ordering::Relaxed);
    }

    pub(super) fn closing(&self, at: Instant) {
        *self
            .closing_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(at);
    }

    /// When the connection is to be closed: the earliest of `timeout` after it went idle (no
    /// request under way), `timeout` after its last byte (plus the event-stream keep-alive
    /// while one is open; not while a handler works), and `timeout` after its shutdown began.
    pub(super) fn deadline(&self, timeout: Duration) -> Option<Instant> {
        let mut at: Option<Instant> = None;
        let mut earliest = |d: Instant| at = Some(at.map_or(d, |a| a.min(d)));
        if self.under_way.load(Ordering::Acquire) == 0 {
            earliest(
                *self
                    .idle_since
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    + timeout,
            );
        }
        if self.working.load(Ordering::Acquire) == 0 {
            let allowance = if self.streams.load(Ordering::Acquire) > 0 {
                timeout + EVENT_STREAM_KEEPALIVE
            } else {
                timeout
            };
            let last = self.opened + Duration::from_millis(self.last_io_ms.load(Ordering::Relaxed));
            earliest(last + allowance);
        }
        if let Some(since) = *self
            .closing_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
        {
            earliest(since + timeout);
        }
        at
    }
}

/// A connection's socket, noting in its [`Activity`] each time bytes move.
pub(super) struct Watched {
    pub(super) inner: TcpStream,
    pub(super) activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.progressed();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.progressed();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.progressed();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A handler working out an answer (dropped when it has one, or is cancelled).
pub(super) struct Working(Arc<Activity>);

impl Working {
    pub(super) fn begin(activity: Arc<Activity>) -> Self {
        activity.working.fetch_add(1, Ordering::AcqRel);
        activity.changed.notify_one();
        Self(activity)
    }
}

impl Drop for Working {
    fn drop(&mut self) {
        // The stall allowance counts from the answer, not from the last byte before it.
        self.0.progressed();
        self.0.working.fetch_sub(1, Ordering::AcqRel);
        self.0.changed.notify_one();
    }
}

/// One request under way, from its head until its response body is sent (or dropped).
pub(super) struct Busy {
    activity: Arc<Activity>,
    streaming: bool,
}

impl Busy {
    pub(super) fn begin(activity: Arc<Activity>) -> Self {
        activity.under_way.fetch_add(1, Ordering::AcqRel);
        activity.changed.notify_one();
        Self {
            activity,
            streaming: false,
        }
    }

    /// `resp`, holding this request under way until its body has been sent; a server-sent
    /// event stream (`streaming`) is counted as one while it is open.
    pub(super) fn until_body_ends(mut self, resp: Resp, streaming: bool) -> Resp {
        if streaming {
            self.activity.streams.fetch_add(1, Ordering::AcqRel);
            self.streaming = true;
            self.activity.changed.notify_one();
        }
        resp.map(|body| {
            body.map_frame(move |frame| {
                self.keep();
                frame
            })
            .boxed()
        })
    }

    fn keep(&self) {}
}

impl Drop for Busy {
    fn drop(&mut self) {
        if self.streaming {
            self.activity.streams.fetch_sub(1, Ordering::AcqRel);
        }
        *self
            .activity
            .idle_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
        self.activity.under_way.fetch_sub(1, Ordering::AcqRel);
        self.activity.changed.notify_one();
    }
}
