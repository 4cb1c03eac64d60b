//! What one HTTP request costs the sending process, with nothing of the node around it: the floor
//! under delivery's CPU per Pendo request.
//!
//! ```sh
//! signal-edge __null-sink            # prints `listening 127.0.0.1:PORT`; or any loopback receiver
//! cargo run --release -p signal-forward --example client_floor -- http://127.0.0.1:PORT/data/track
//! ```
//!
//! Each variant posts `REQUESTS` bodies of a Pendo track request's size (about 600 bytes) with
//! `CONCURRENCY` requests in flight, on a single-threaded tokio runtime, and prints the process's
//! CPU time (user + system, from `/proc/self/stat`, 10 ms ticks) per request and the rate:
//!
//! - `legacy+timeout+spawn`: what delivery did per request before 8833075: hyper-util's pooled client,
//!   a task spawned per request, the request built from the URL string and headers, a
//!   `tokio::time::timeout` around the exchange, the answer read into a buffer.
//! - `legacy`: the same without the per-request task and timeout.
//! - `conn`: hyper's connection-level HTTP/1.1 client, one connection per request in flight,
//!   each sending its next request when the answer is read: no pool, no task, no timer.
//!
//! Run it pinned (`taskset -c 0`) with the receiver on the other CPU, so the figure is one core's.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::time::{Duration, Instant};

const REQUESTS: usize = 200_000;
const CONCURRENCY: usize = 32;

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// The process's CPU time so far, in clock ticks (user + system).
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    tick(11) + tick(12)
}

fn body() -> Bytes {
    let mut b = String::from(
        r#"[{"type":"track","event":"Checkout Completed","visitorId":"user-123","accountId":"acct-9","timestamp":1764500000000,"properties":{"#,
    );
    while b.len() < 580 {
        b.push_str(r#""k":"value-value","#);
    }
    b.push_str(r#""end":1},"context":{"ip":"203.0.113.9"}}]"#);
    Bytes::from(b)
}

fn request(url: &str, body: &Bytes) -> Result<Request<Full<Bytes>>, Failure> {
    Ok(Request::builder()
        .method(hyper::Method::POST)
        .uri(url)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header("x-pendo-integration-key", "floor-key")
        .body(Full::new(body.clone()))?)
}

async fn read(resp: hyper::Response<hyper::body::Incoming>) -> Result<u16, Failure> {
    let status = resp.status().as_u16();
    let mut kept = Vec::new();
    let mut body = resp.into_body();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            kept.extend_from_slice(&data);
        }
    }
    Ok(status)
}

type Legacy = Client<HttpConnector, Full<Bytes>>;

fn legacy() -> Legacy {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(256)
        .build(http)
}

/// Today's shape: a task per request, a timeout around each.
async fn legacy_spawned(url: &str, body: &Bytes) -> Result<usize, Failure> {
    let client = legacy();
    let mut set = tokio::task::JoinSet::new();
    let mut done = 0;
    let mut sent = 0;
    while done < REQUESTS {
        while sent < REQUESTS && set.len() < CONCURRENCY {
            let (client, req) = (client.clone(), request(url, body)?);
            set.spawn(async move {
                let exchange = async { read(client.request(req).await?).await };
                tokio::time::timeout(Duration::from_secs(10), exchange)
                    .await
                    .map_err(Failure::from)?
            });
            sent += 1;
        }
        if let Some(r) = set.join_next().await {
            r??;
            done += 1;
        }
    }
    Ok(done)
}

/// The pooled client, CONCURRENCY loops each sending in turn.
async fn legacy_loops(url: &str, body: &Bytes) -> Result<usize, Failure> {
    let client = legacy();
    let loops = (0..CONCURRENCY).map(|_| {
        let client = client.clone();
        async move {
            for _ in 0..REQUESTS / CONCURRENCY {
                read(client.request(request(url, body)?).await?).await?;
            }
            Ok::<_, Failure>(REQUESTS / CONCURRENCY)
        }
    });
    let mut total = 0;
    for n in futures_all(loops).await {
        total += n?;
    }
    Ok(total)
}

/// hyper's connection-level client: CONCURRENCY connections, each sending in turn.
async fn conn_loops(url: &str, body: &Bytes) -> Result<usize, Failure> {
    let uri: hyper::Uri = url.parse()?;
    let addr = format!(
        "{}:{}",
        uri.host().unwrap_or("127.0.0.1"),
        uri.port_u16().unwrap_or(80)
    );
    let loops = (0..CONCURRENCY).map(|_| {
        let addr = addr.clone();
        async move {
            let stream = tokio::net::TcpStream::connect(&addr).await?;
            stream.set_nodelay(true)?;
            let (mut send, conn) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(conn);
            for _ in 0..REQUESTS / CONCURRENCY {
                send.ready().await?;
                read(send.send_request(request(url, body)?).await?).await?;
            }
            Ok::<_, Failure>(REQUESTS / CONCURRENCY)
        }
    });
    let mut total = 0;
    for n in futures_all(loops).await {
        total += n?;
    }
    Ok(total)
}

/// Runs the futures concurrently on this task (no spawn), their results in order.
async fn futures_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in pinned.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

fn main() -> Result<(), Failure> {
    let url = std::env::args()
        .nth(1)
        .ok_or("usage: client_floor http://127.0.0.1:PORT/data/track")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let body = body();
    let hz = 100.0; // USER_HZ on Linux
    for round in 0..2 {
        for name in ["legacy+timeout+spawn", "legacy", "conn"] {
            let (t0, c0) = (Instant::now(), cpu_ticks());
            let n = rt.block_on(async {
                match name {
                    "legacy+timeout+spawn" => legacy_spawned(&url, &body).await,
                    "legacy" => legacy_loops(&url, &body).await,
                    _ => conn_loops(&url, &body).await,
                }
            })?;
            let (secs, ticks) = (t0.elapsed().as_secs_f64(), cpu_ticks() - c0);
            println!(
                "round {round} {name:>22}: {n} requests, {:>7.0} requests/s, {:>5.1} us CPU a request",
                n as f64 / secs,
                ticks as f64 / hz * 1e6 / n as f64
            );
        }
    }
    Ok(())
}
