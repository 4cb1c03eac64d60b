//! The accept loop of both listeners, and what bounds a connection (interface.md section 2):
//!
//! - at most `max_connections` open at once per listener: over it the loop stops accepting, so
//!   new connections wait in the kernel's listen backlog until one closes (they are not refused);
//! - a connection with no request under way (just opened, or idle between keep-alive requests)
//!   must complete a request head within `header_timeout`, else it is closed: a slow-loris client
//!   holds its slot for at most that long, whatever protocol it speaks (hyper's own HTTP/1
//!   `header_read_timeout` is set too);
//! - a request's body must arrive within `body_timeout` ([`BodyTimeout`], read by
//!   [`read_limited`](crate::http::read_limited));
//! - an accept error (EMFILE when out of file descriptors, ENFILE, ENOBUFS) makes the loop wait,
//!   5 ms doubling to 1 s, instead of retrying at once: the error repeats until a connection
//!   closes, and retrying at once spins a core.

use crate::http::{BodyTimeout, Resp};
use http_body_util::BodyExt;
use hyper::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::time::Instant;

/// The first wait after an accept error.
const MIN_BACKOFF: Duration = Duration::from_millis(5);
/// The longest wait after repeated accept errors.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// What bounds each listener's connections.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Time to complete a request head when no request is under way.
    pub header_timeout: Duration,
    /// Time for a whole request body to arrive.
    pub body_timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
}

/// Serves `handler` on `listener` until `shutdown` turns true, then lets the requests under way
/// finish (up to 5 s).
pub async fn serve<H, F>(
    listener: TcpListener,
    handler: Arc<H>,
    mut shutdown: watch::Receiver<bool>,
    limits: ConnLimits,
) where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Send + Sync + 'static,
    F: Future<Output = Resp> + Send + 'static,
{
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut backoff = Duration::ZERO;
    loop {
        // A free slot before accepting: over the limit, new connections wait in the backlog.
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => break,
            },
            _ = shutdown.changed() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => {
                    backoff = Duration::ZERO;
                    a
                }
                Err(e) => {
                    backoff = (backoff * 2).clamp(MIN_BACKOFF, MAX_BACKOFF);
                    tracing::warn!(error = %e, wait_ms = backoff.as_millis() as u64, "accept failed; waiting");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        _ = shutdown.changed() => break,
                    }
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let handler = handler.clone();
        let seen = activity.clone();
        let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            let busy = Busy::begin(seen.clone());
            req.extensions_mut()
                .insert(BodyTimeout(limits.body_timeout));
            let fut = handler(req, peer);
            async move { Ok::<_, Infallible>(busy.until_body_ends(fut.await)) }
        });
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout);
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _slot = slot;
            tokio::pin!(conn);
            loop {
                let wake = activity.idle_deadline(limits.header_timeout);
                tokio::select! {
                    _ = &mut conn => break,
                    () = activity.changed.notified() => {}
                    () = sleep_until(wake) => {
                        if activity.idle_deadline(limits.header_timeout).is_some_and(|d| d <= Instant::now()) {
                            // Dropping the connection closes it.
                            break;
                        }
                    }
                }
            }
        });
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Whether a connection has requests under way, and since when it has had none.
struct Activity {
    under_way: AtomicUsize,
    idle_since: Mutex<Instant>,
    /// Wakes the connection's watchdog when the above change.
    changed: Notify,
}

impl Activity {
    fn new() -> Self {
        Self {
            under_way: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
            changed: Notify::new(),
        }
    }

    /// When the connection is to be closed if no request head arrives, or `None` while a
    /// request is under way.
    fn idle_deadline(&self, timeout: Duration) -> Option<Instant> {
        if self.under_way.load(Ordering::Acquire) > 0 {
            return None;
        }
        let since = *self
            .idle_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Some(since + timeout)
    }
}

/// One request under way, from its head until its response body is sent (or dropped).
struct Busy(Arc<Activity>);

impl Busy {
    fn begin(activity: Arc<Activity>) -> Self {
        activity.under_way.fetch_add(1, Ordering::AcqRel);
        activity.changed.notify_one();
        Self(activity)
    }

    /// `resp`, holding this request under way until its body has been sent: a stream of
    /// server-sent events is not idle.
    fn until_body_ends(self, resp: Resp) -> Resp {
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
        *self
            .0
            .idle_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
        self.0.under_way.fetch_sub(1, Ordering::AcqRel);
        self.0.changed.notify_one();
    }
}
