//! HTTP plumbing shared by the two servers: the accept loop with graceful shutdown, JSON
//! answers, bodies read under a size limit.

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use serde_json::Value;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

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
    /// The connection failed.
    Broken,
}

/// Reads a whole body, refusing more than `limit` bytes.
pub async fn read_body(
    req: Request<Incoming>,
    limit: usize,
) -> Result<(hyper::http::request::Parts, Bytes), BodyError> {
    let (parts, body) = req.into_parts();
    if parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > limit)
    {
        return Err(BodyError::TooLarge);
    }
    match Limited::new(body, limit).collect().await {
        Ok(b) => Ok((parts, b.to_bytes())),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(BodyError::TooLarge)
        }
        Err(_) => Err(BodyError::Broken),
    }
}

/// Serves `handler` on `listener` until `shutdown` turns true, then lets the requests under way
/// finish (up to 5 s).
pub async fn serve<H, F>(
    listener: TcpListener,
    handler: Arc<H>,
    mut shutdown: watch::Receiver<bool>,
) where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Send + Sync + 'static,
    F: Future<Output = Resp> + Send + 'static,
{
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let handler = handler.clone();
                let service = hyper::service::service_fn(move |req| {
                    let fut = handler(req, peer);
                    async move { Ok::<_, Infallible>(fut.await) }
                });
                let conn = auto::Builder::new(TokioExecutor::new())
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            _ = shutdown.changed() => break,
        }
    }
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), graceful.shutdown()).await;
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
