//! HTTP plumbing shared by the two servers: JSON answers, bodies read under a size limit and a
//! time limit, server-sent events. The accept loop is in `serve.rs`.

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde_json::Value;
use std::convert::Infallible;

/// A response: a whole body, or a stream (server-sent events).
pub type Resp = Response<BoxBody<Bytes, Infallible>>;

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
}

/// How long a request's body may take to arrive: put in each request's extensions by
/// [`serve`](crate::serve::serve), read by [`read_limited`].
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub std::time::Duration);

/// Reads a whole body, refusing more than `limit` bytes.
pub async fn read_body(
    req: Request<Incoming>,
    limit: usize,
) -> Result<(hyper::http::request::Parts, Bytes), BodyError> {
    read_limited(req, limit).await.map_err(|e| match e {
        ReadError::TooLarge => BodyError::TooLarge,
        ReadError::Broken | ReadError::TimedOut => BodyError::Broken,
    })
}

/// Reads a whole body, refusing more than `limit` bytes, within the request's [`BodyTimeout`]
/// (when it has one).
pub async fn read_limited(
    req: Request<Incoming>,
    limit: usize,
) -> Result<(hyper::http::request::Parts, Bytes), ReadError> {
    let (parts, body) = req.into_parts();
    if parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > limit)
    {
        return Err(ReadError::TooLarge);
    }
    let collect = Limited::new(body, limit).collect();
    let collected = match parts.extensions.get::<BodyTimeout>() {
        Some(t) => tokio::time::timeout(t.0, collect)
            .await
            .map_err(|_| ReadError::TimedOut)?,
        None => collect.await,
    };
    match collected {
        Ok(b) => Ok((parts, b.to_bytes())),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(ReadError::TooLarge)
        }
        Err(_) => Err(ReadError::Broken),
    }
}

/// A `text/event-stream` answer fed by `lines`: each item becomes one `data:` event; a comment
/// every 15 s keeps proxies from closing an idle stream.
pub fn event_stream(mut lines: tokio::sync::broadcast::Receiver<String>) -> Resp {
    let (mut tx, body) = http_body_util::channel::Channel::<Bytes, Infallible>::new(64);
    tokio::spawn(async move {
        let mut ping = tokio::time::interval(std::time::Duration::from_secs(15));
        loop {
            let chunk = tokio::select! {
                line = lines.recv() => match line {
                    Ok(l) => format!("data: {l}\n\n"),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => format!(": {n} events skipped\n\n"),
                    Err(_) => break,
                },
                _ = ping.tick() => ": ping\n\n".to_owned(),
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
