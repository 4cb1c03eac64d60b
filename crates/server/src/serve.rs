//! The accept loop of both listeners, and what bounds a connection (interface.md section 2):
//!
//! - at most `max_connections` served at once per listener: over it the loop accepts one more
//!   and holds it until a slot frees, so the others wait in the kernel's listen backlog (they are
//!   not refused); while one waits, every connection that has been open `header_timeout` is shut
//!   down gracefully after the requests under way, so a client that keeps its connection busy
//!   (request after request) cannot keep a slot from the clients waiting;
//! - a connection with no request under way (just opened, or idle between keep-alive requests)
//!   must complete a request head within `header_timeout`, else it is closed (hyper's own HTTP/1
//!   `header_read_timeout` is set too);
//! - a connection on which no byte is read or written for `header_timeout` is closed, requests
//!   under way or not (HTTP/1 and HTTP/2): a client that stops reading its answer (an HTTP/2
//!   window of 0, a full TCP window) or stops sending holds its slot for at most that long. Only
//!   while a handler is working out an answer is the connection not judged by its bytes (each
//!   handler is bounded on its own: a body by `body_timeout`); while a server-sent event stream
//!   is open the allowance grows by its keep-alive period
//!   ([`EVENT_STREAM_KEEPALIVE`](crate::http::EVENT_STREAM_KEEPALIVE)), so a quiet stream that
//!   sends its keep-alive comments stays open;
//! - a request's body must arrive within `body_timeout` ([`BodyTimeout`], read by
//!   [`read_limited`](crate::http::read_limited)); its answer, a 408, closes the whole connection
//!   (HTTP/1: `Connection: close`; HTTP/2: GOAWAY, then closed once its streams end, at most
//!   `header_timeout` later), so a client cannot stall one body after another on one slot;
//! - HTTP/2: at most [`H2_MAX_STREAMS`] streams at once, a 256 KiB stream window, and keep-alive
//!   pings (a peer that does not answer one within `header_timeout` is dropped);
//! - request bodies are buffered under the listener's byte budget (`max_buffered_body_bytes`,
//!   [`BodyBudget`]);
//! - an accept error (EMFILE when out of file descriptors, ENFILE, ENOBUFS) makes the loop wait,
//!   5 ms doubling to 1 s, instead of retrying at once: the error repeats until a connection
//!   closes, and retrying at once spins a core.

use crate::http::{BodyBudget, BodyTimeout, CloseConnection, EVENT_STREAM_KEEPALIVE, Resp};
use hyper::body::Incoming;
use hyper::header::{CONNECTION, CONTENT_TYPE, HeaderValue};
use hyper::{Request, StatusCode, Version};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

mod activity;

use activity::{Activity, Busy, Watched, Working};

/// The first wait after an accept error.
const MIN_BACKOFF: Duration = Duration::from_millis(5);
/// The longest wait after repeated accept errors.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// HTTP/2 streams one connection may have open at once (hyper's default is 200).
pub const H2_MAX_STREAMS: u32 = 16;
/// HTTP/2 flow-control window of one stream: what a client may send before the handler reads.
const H2_STREAM_WINDOW: u32 = 256 * 1024;
/// HTTP/2 flow-control window of a whole connection.
const H2_CONN_WINDOW: u32 = 1024 * 1024;
/// The most connections a listener can be given (a semaphore's limit is lower than usize).
const MAX_SLOTS: usize = 1 << 20;

/// What bounds each listener's connections.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Time to complete a request head when no request is under way, and the longest a
    /// connection may go without a byte read or written.
    pub header_timeout: Duration,
    /// Time for a whole request body to arrive.
    pub body_timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
    /// Bytes of request bodies buffered at once on the listener ([`BodyBudget`]).
    pub max_buffered_body_bytes: usize,
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
    let slot_count = limits.max_connections.clamp(1, MAX_SLOTS);
    let slots = Arc::new(Semaphore::new(slot_count));
    let budget = BodyBudget::new(limits.max_buffered_body_bytes);
    let mut backoff = Duration::ZERO;
    // True while an accepted connection waits for a slot.
    let (pressure, _) = watch::channel(false);
    while let Some((stream, peer)) = accept(&listener, &mut backoff, &mut shutdown).await {
        let slot = match slots.clone().try_acquire_owned() {
            Ok(s) => s,
            Err(_) => {
                pressure.send_replace(true);
                let slot = tokio::select! {
                    s = slots.clone().acquire_owned() => s.ok(),
                    _ = shutdown.changed() => None,
                };
                pressure.send_replace(false);
                match slot {
                    Some(s) => s,
                    None => break,
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let service = service(handler.clone(), activity.clone(), peer, limits, &budget);
        let conn = builder(limits)
            .serve_connection_with_upgrades(
                TokioIo::new(Watched {
                    inner: stream,
                    activity: activity.clone(),
                }),
                service,
            )
            .into_owned();
        let signals = Signals {
            shutdown: shutdown.clone(),
            pressure: pressure.subscribe(),
        };
        tokio::spawn(async move {
            let _slot = slot;
            watch_connection(conn, |c| c.graceful_shutdown(), &activity, limits, signals).await;
        });
    }
    // Every slot back means every connection has ended.
    let all = u32::try_from(slot_count).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(Duration::from_secs(5), slots.acquire_many(all)).await;
}

/// The next connection, waiting after an accept error (`None` once the node stops).
async fn accept(
    listener: &TcpListener,
    backoff: &mut Duration,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<(TcpStream, SocketAddr)> {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => {
                    *backoff = Duration::ZERO;
                    return Some(a);
                }
                Err(e) => {
                    *backoff = (*backoff * 2).clamp(MIN_BACKOFF, MAX_BACKOFF);
                    tracing::warn!(error = %e, wait_ms = backoff.as_millis() as u64, "accept failed; waiting");
                    tokio::select! {
                        () = tokio::time::sleep(*backoff) => {}
                        _ = shutdown.changed() => return None,
                    }
                }
            },
            _ = shutdown.changed() => return None,
        }
    }
}

/// What a connection's watchdog hears from its listener.
struct Signals {
    /// The node is stopping.
    shutdown: watch::Receiver<bool>,
    /// A connection waits for a slot.
    pressure: watch::Receiver<bool>,
}

/// The connection builder: HTTP/1 and HTTP/2 with this module's bounds.
fn builder(limits: ConnLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    // Pings only once the peer has sent nothing for longer than any stall allowance: an answer
    // to a ping is a byte read, and must not keep a silent connection alive.
    let ping_every = (limits.header_timeout + EVENT_STREAM_KEEPALIVE) * 2;
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(H2_MAX_STREAMS)
        .initial_stream_window_size(H2_STREAM_WINDOW)
        .initial_connection_window_size(H2_CONN_WINDOW)
        .keep_alive_interval(ping_every)
        .keep_alive_timeout(limits.header_timeout);
    builder
}

/// The service of one connection: the handler, with the request's body timeout and budget, its
/// activity kept, and a 408 closing the connection.
fn service<H, F>(
    handler: Arc<H>,
    activity: Arc<Activity>,
    peer: SocketAddr,
    limits: ConnLimits,
    budget: &BodyBudget,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Resp,
    Error = Infallible,
    Future = Pin<Box<dyn Future<Output = Result<Resp, Infallible>> + Send>>,
> + Clone
+ Send
+ 'static
where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Send + Sync + 'static,
    F: Future<Output = Resp> + Send + 'static,
{
    let budget = budget.clone();
    hyper::service::service_fn(move |mut req: Request<Incoming>| {
        let busy = Busy::begin(activity.clone());
        let working = Working::begin(activity.clone());
        let http1 = req.version() < Version::HTTP_2;
        req.extensions_mut()
            .insert(BodyTimeout(limits.body_timeout));
        req.extensions_mut().insert(budget.clone());
        req.extensions_mut()
            .insert(CloseConnection(activity.close_requested.clone()));
        let fut = handler(req, peer);
        let activity = activity.clone();
        Box::pin(async move {
            let mut resp = fut.await;
            drop(working);
            if resp.status() == StatusCode::REQUEST_TIMEOUT {
                activity.close_requested.store(true, Ordering::Release);
            }
            if activity.close_requested.load(Ordering::Acquire) {
                activity.changed.notify_one();
                if http1 {
                    resp.headers_mut()
                        .insert(CONNECTION, HeaderValue::from_static("close"));
                }
            }
            let streaming = resp
                .headers()
                .get(CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
            Ok::<_, Infallible>(busy.until_body_ends(resp, streaming))
        }) as Pin<Box<dyn Future<Output = Result<Resp, Infallible>> + Send>>
    })
}

/// Drives `conn` until it ends, closing it when [`Activity::deadline`] passes, and shutting it
/// down gracefully (GOAWAY, or no keep-alive after the answer under way) when the node stops,
/// when a body did not arrive in time, or when a connection waits for a slot and this one has
/// had its turn (`header_timeout` since it opened): a client busy on its connection cannot keep
/// the slot from the ones waiting.
async fn watch_connection<C: Future>(
    conn: C,
    shut_down: impl Fn(Pin<&mut C>),
    activity: &Activity,
    limits: ConnLimits,
    mut signals: Signals,
) {
    tokio::pin!(conn);
    let turn_ends = activity.opened + limits.header_timeout;
    let mut stopping = *signals.shutdown.borrow();
    let mut closing = false;
    loop {
        let pressed = *signals.pressure.borrow() && !stopping;
        if !closing
            && (stopping
                || activity.close_requested.load(Ordering::Acquire)
                || (pressed && Instant::now() >= turn_ends))
        {
            shut_down(conn.as_mut());
            activity.closing(Instant::now());
            closing = true;
        }
        let wake = activity.deadline(limits.header_timeout);
        tokio::select! {
            _ = conn.as_mut() => break,
            () = activity.changed.notified() => {}
            r = signals.shutdown.changed(), if !stopping => {
                stopping = r.is_err() || *signals.shutdown.borrow();
            }
            r = signals.pressure.changed(), if !stopping => {
                stopping = r.is_err();
            }
            () = sleep_until(Some(turn_ends)), if pressed && !closing => {}
            () = sleep_until(wake) => {
                if activity.deadline(limits.header_timeout).is_some_and(|d| d <= Instant::now()) {
                    // Dropping the connection closes it.
                    break;
                }
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
