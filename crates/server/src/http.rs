//! HTTP plumbing shared by the two servers: JSON answers, bodies read under a size limit, a
//! time limit and the listener's byte budget, server-sent events. The accept loop is in
//! `serve.rs`.

use bytes::{Bytes, BytesMut};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde_json::Value;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How often a server-sent event stream sends a comment when it has no event to send. The
/// connection watchdog (`serve.rs`) allows an open stream this much more silence.
pub const EVENT_STREAM_KEEPALIVE: Duration = Duration::from_secs(15);

/// How often a server-sent event stream asks whether its client may still read.
pub const STREAM_RECHECK: Duration = Duration::from_secs(1);

/// A response: a whole body, or a stream (server-sent events).
pub type Resp = Response<BoxBody<Bytes, Infallible>>;

/// The fields of a body that break their rules: each field (`name`, `config.api_key`) with the
/// rule it breaks, as a `422`'s `fields` names them.
pub type FieldErrors = std::collections::BTreeMap<String, String>;

/// A JSON answer.
pub fn json(status: StatusCode, v: &Value) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())).boxed());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// A plain-text or HTML answer.
pub fn text(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(Full::new(body.into()).boxed());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// Why a body could not be read.
pub enum BodyError {
    /// Over the limit.
    TooLarge,
    /// The connection failed, or the body did not arrive in time.
    Broken,
}

/// Why a body could not be read, timeouts told apart (the gateway answers them 408).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadError {
    /// Over the limit.
    TooLarge,
    /// The connection failed.
    Broken,
    /// The whole body did not arrive within the listener's body timeout.
    TimedOut,
    /// The listener's [`BodyBudget`] has no room for it: the node is busy (503).
    Busy,
}

/// The bytes of request bodies a listener buffers at once: one semaphore of bytes, taken by a
/// request's `Content-Length` before its body is read when it has one, else chunk by chunk as
/// the body arrives, and given back when the request ends (answered or cancelled). Put in each
/// request's extensions by [`serve`](crate::serve::serve).
#[derive(Debug, Clone)]
pub struct BodyBudget(Arc<Semaphore>);

impl BodyBudget {
    /// A budget of `bytes`, at least 2 MiB (what one request may hold at the worst: its body
    /// as sent and inflated, and its records).
    pub fn new(bytes: usize) -> Self {
        let bytes = bytes.clamp(
            4 * signal_core::limits::MAX_BODY_BYTES,
            Semaphore::MAX_PERMITS,
        );
        Self(Arc::new(Semaphore::new(bytes)))
    }
}

/// A body read whole, holding its share of the [`BodyBudget`] until dropped.
pub struct Buffered {
    /// The request's head.
    pub parts: hyper::http::request::Parts,
    /// The body.
    pub bytes: Bytes,
    /// The budget taken (behind a lock so that a request can take more while it reads its
    /// body through a shared borrow).
    held: std::sync::Mutex<Held>,
}

impl Buffered {
    /// Holds `total` bytes of the budget in all for this request (what it made from its body:
    /// the inflated body, its records), taking the difference; never gives any back before the
    /// request ends.
    ///
    /// # Errors
    ///
    /// [`ReadError::Busy`] when the budget cannot spare the difference.
    pub fn hold(&self, total: usize) -> Result<(), ReadError> {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .up_to(total)
    }
}

/// The part of a [`BodyBudget`] one request holds.
struct Held {
    budget: Option<Arc<Semaphore>>,
    permit: Option<OwnedSemaphorePermit>,
    bytes: usize,
}

impl Held {
    /// Takes more of the budget, so that `total` bytes are held.
    fn up_to(&mut self, total: usize) -> Result<(), ReadError> {
        let Some(budget) = &self.budget else {
            return Ok(());
        };
        if total <= self.bytes {
            return Ok(());
        }
        let more = u32::try_from(total - self.bytes).map_err(|_| ReadError::Busy)?;
        let p = budget
            .clone()
            .try_acquire_many_owned(more)
            .map_err(|_| ReadError::Busy)?;
        match &mut self.permit {
            Some(held) => held.merge(p),
            None => self.permit = Some(p),
        }
        self.bytes = total;
        Ok(())
    }
}

/// How long a request's body may take to arrive: put in each request's extensions by
/// [`serve`](crate::serve::serve), read by [`read_limited`].
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub std::time::Duration);

/// Set by [`read_limited`] when a body does not arrive in time: the connection is to be closed
/// after the answer (put in each request's extensions by [`serve`](crate::serve::serve)).
#[derive(Debug, Clone)]
pub struct CloseConnection(pub Arc<std::sync::atomic::AtomicBool>);

/// Reads a whole body, refusing more than `limit` bytes.
pub async fn read_body(
    req: Request<Incoming>,
    limit: usize,
) -> Result<(hyper::http::request::Parts, Bytes), BodyError> {
    read_limited(req, limit).await.map_err(|e| match e {
        ReadError::TooLarge => BodyError::TooLarge,
        ReadError::Broken | ReadError::TimedOut | ReadError::Busy => BodyError::Broken,
    })
}

/// Reads a whole body, refusing more than `limit` bytes, within the request's [`BodyTimeout`]
/// (when it has one), under its [`BodyBudget`] only while reading.
pub async fn read_limited(
    req: Request<Incoming>,
    limit: usize,
) -> Result<(hyper::http::request::Parts, Bytes), ReadError> {
    read_budgeted(req, limit).await.map(|b| (b.parts, b.bytes))
}

/// Reads a whole body, refusing more than `limit` bytes, within the request's [`BodyTimeout`]
/// (when it has one), under its [`BodyBudget`] (when it has one): [`ReadError::Busy`] at once
/// when the budget cannot take it. The budget is held until the [`Buffered`] is dropped.
pub async fn read_budgeted(req: Request<Incoming>, limit: usize) -> Result<Buffered, ReadError> {
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        if declared.is_some_and(|n| n <= limit + DRAIN_PAST_LIMIT) {
            drain(body, DRAIN_PAST_LIMIT + limit).await;
        }
        return Err(ReadError::TooLarge);
    }
    let mut held = Held {
        budget: parts.extensions.get::<BodyBudget>().map(|b| b.0.clone()),
        permit: None,
        bytes: 0,
    };
    held.up_to(declared.unwrap_or(0))?;
    let read = collect(body, limit, &mut held, declared.unwrap_or(0));
    let bytes = match parts.extensions.get::<BodyTimeout>() {
        Some(t) => tokio::time::timeout(t.0, read).await.map_err(|_| {
            if let Some(c) = parts.extensions.get::<CloseConnection>() {
                c.0.store(true, std::sync::atomic::Ordering::Release);
            }
            ReadError::TimedOut
        })??,
        None => read.await?,
    };
    Ok(Buffered {
        parts,
        bytes,
        held: std::sync::Mutex::new(held),
    })
}

/// The frames of `body` gathered, each taking its bytes from `held` first.
async fn collect(
    mut body: Incoming,
    limit: usize,
    held: &mut Held,
    expected: usize,
) -> Result<Bytes, ReadError> {
    let mut out = BytesMut::with_capacity(expected.min(limit));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| ReadError::Broken)?;
        if let Ok(data) = frame.into_data() {
            let total = out.len().saturating_add(data.len());
            if total > limit {
                drain(body, DRAIN_PAST_LIMIT).await;
                return Err(ReadError::TooLarge);
            }
            held.up_to(total)?;
            out.extend_from_slice(&data);
        }
    }
    Ok(out.freeze())
}

/// How much of a body over its limit is still read (and thrown away) before the 413 is sent:
/// a client that is still sending when the server answers and closes gets a reset from the
/// kernel, often before it reads the answer, and then sees a broken connection instead of the
/// reason. Reading a little more costs no memory (nothing is kept) and is bounded in time by
/// [`DRAIN_TIME`]; larger bodies get the 413 at once.
const DRAIN_PAST_LIMIT: usize = 1 << 20;

/// The longest a body over its limit is read on before the 413.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(2);

/// Reads and drops up to `max` bytes of `body`, for at most [`DRAIN_TIME`].
async fn drain(mut body: Incoming, max: usize) {
    let read = async {
        let mut seen = 0usize;
        while let Some(Ok(frame)) = body.frame().await {
            if let Ok(data) = frame.into_data() {
                seen = seen.saturating_add(data.len());
                if seen > max {
                    return;
                }
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, read).await;
}

/// A `text/event-stream` answer fed by `lines`: each item becomes one `data:` event; a comment
/// every [`EVENT_STREAM_KEEPALIVE`] keeps proxies, and the connection watchdog, from closing a
/// quiet stream. Every [`STREAM_RECHECK`], `allowed` is asked whether the client may still
/// read: the stream ends once it says no (a signed-out user, a revoked token).
pub fn event_stream(
    mut lines: tokio::sync::broadcast::Receiver<String>,
    allowed: impl Fn() -> bool + Send + 'static,
) -> Resp {
    let (mut tx, body) = http_body_util::channel::Channel::<Bytes, Infallible>::new(64);
    tokio::spawn(async move {
        let mut ping = tokio::time::interval(EVENT_STREAM_KEEPALIVE);
        let mut recheck = tokio::time::interval(STREAM_RECHECK);
        loop {
            let chunk = tokio::select! {
                line = lines.recv() => match line {
                    Ok(l) => format!("data: {l}\n\n"),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => format!(": {n} events skipped\n\n"),
                    Err(_) => break,
                },
                _ = ping.tick() => ": ping\n\n".to_owned(),
                _ = recheck.tick() => {
                    if allowed() {
                        continue;
                    }
                    break;
                }
            };
            if tx.send_data(Bytes::from(chunk)).await.is_err() {
                break;
            }
        }
    });
    let mut r = Response::new(body.boxed());
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert("cache-control", HeaderValue::from_static("no-cache"));
    r
}
