//! The null receiver (`loadgen --sink null`): a loopback vendor that answers every `POST` with
//! `200 {}` and only counts, so a load figure is the node's and not the sandbox's.
//!
//! It runs in its own process (`signal-edge __null-sink`, started by [`NullSink::start`]), on a
//! single-threaded runtime, pinned with `taskset` to the machine's last CPU when the machine has
//! `taskset` and more than one CPU. It speaks HTTP/1.1 (keep-alive) and HTTP/2 with prior
//! knowledge (h2c) on the same port (hyper-util's auto server). It counts requests, their body
//! bytes, those over HTTP/2, and the Pendo track requests (path ending `/data/track`), and for a body carrying
//! loadgen's send time (`"lg_sent_ms":`) the end-to-end latency in 1 ms buckets.
//! `GET /_count` answers the counts as JSON and hands over (and forgets) the latency buckets.
//! The process stops when its stdin closes (its parent exited or dropped the handle).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The hidden subcommand that runs the receiver.
pub const SUBCOMMAND: &str = "__null-sink";

const MARK: &[u8] = b"\"lg_sent_ms\":";

/// What the receiver has seen.
#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    bytes: AtomicU64,
    tracks: AtomicU64,
    http2: AtomicU64,
    /// End-to-end latency in ms -> requests, since the last `GET /_count`.
    latencies: Mutex<BTreeMap<u64, u64>>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The send time loadgen wrote in `body`, if it carries one.
fn sent_ms(body: &[u8]) -> Option<u64> {
    let at = body.windows(MARK.len()).position(|w| w == MARK)? + MARK.len();
    let digits = body.get(at..at + 13)?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

async fn handle(
    req: Request<Incoming>,
    counts: Arc<Counts>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    if req.method() == hyper::Method::GET && req.uri().path() == "/_count" {
        let taken =
            std::mem::take(&mut *counts.latencies.lock().unwrap_or_else(|p| p.into_inner()));
        let body = json!({
            "requests": counts.requests.load(Ordering::Relaxed),
            "bytes": counts.bytes.load(Ordering::Relaxed),
            "tracks": counts.tracks.load(Ordering::Relaxed),
            "http2": counts.http2.load(Ordering::Relaxed),
            "latencies": taken.into_iter().collect::<Vec<_>>(),
        });
        return Ok(Response::new(Full::new(Bytes::from(body.to_string()))));
    }
    let track = req.uri().path().ends_with("/data/track");
    if req.version() == hyper::Version::HTTP_2 {
        counts.http2.fetch_add(1, Ordering::Relaxed);
    }
    let body = req.into_body().collect().await?.to_bytes();
    if track {
        if let Some(sent) = sent_ms(&body) {
            let ms = now_ms().saturating_sub(sent);
            *counts
                .latencies
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(ms)
                .or_default() += 1;
        }
        counts.tracks.fetch_add(1, Ordering::Relaxed);
    }
    counts.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
    counts.requests.fetch_add(1, Ordering::Relaxed);
    let mut resp = Response::new(Full::new(Bytes::from_static(b"{}")));
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

/// Serves `listener` for ever: every connection HTTP/1.1 or h2c.
async fn serve(listener: tokio::net::TcpListener, counts: Arc<Counts>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let counts = counts.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(req, counts.clone()));
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder.http2().max_concurrent_streams(1024);
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The receiver process's body (`signal-edge __null-sink`): binds 127.0.0.1 on an ephemeral
/// port, prints `listening <addr>` on stdout, serves until stdin closes.
///
/// # Errors
///
/// The runtime or the listener cannot be made.
pub fn run_child() -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let mut out = std::io::stdout();
        writeln!(out, "listening {addr}")?;
        out.flush()?;
        let server = tokio::spawn(serve(listener, Arc::new(Counts::default())));
        // Stdin closes when the parent is gone: then stop.
        let _ = tokio::task::spawn_blocking(|| {
            let mut sink = [0u8; 64];
            while matches!(std::io::stdin().read(&mut sink), Ok(n) if n > 0) {}
        })
        .await;
        server.abort();
        Ok(())
    })
}

/// What the receiver has counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkCounts {
    /// Requests answered (every `POST`).
    pub requests: u64,
    /// Their body bytes.
    pub bytes: u64,
    /// Pendo track requests (path ending `/data/track`).
    pub tracks: u64,
    /// Requests that came over HTTP/2.
    pub http2: u64,
}

/// A running receiver process; killed when dropped.
pub struct NullSink {
    child: std::process::Child,
    /// Its address (`127.0.0.1:port`).
    pub addr: std::net::SocketAddr,
    /// What was pinned where, for the output (`null sink pid 123 pinned to CPU 1 (taskset)`).
    pub placement: String,
}

/// Why the receiver could not be started or asked.
#[derive(Debug)]
pub enum SinkError {
    /// The process could not be started.
    Spawn(std::io::Error),
    /// It did not print its address.
    NoAddress(String),
    /// `GET /_count` failed.
    Count(String),
}

impl std::fmt::Display for SinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SinkError::Spawn(e) => write!(f, "the null sink could not start: {e}"),
            SinkError::NoAddress(line) => {
                write!(
                    f,
                    "the null sink did not say where it listens (got `{line}`)"
                )
            }
            SinkError::Count(e) => write!(f, "the null sink's counts could not be read: {e}"),
        }
    }
}

impl std::error::Error for SinkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SinkError::Spawn(e) => Some(e),
            SinkError::NoAddress(_) | SinkError::Count(_) => None,
        }
    }
}

/// The CPU to pin the receiver to: the last one, when `taskset` runs and there is more than one.
fn pin_cpu() -> Option<usize> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let taskset = std::process::Command::new("taskset")
        .arg("-V")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    (cpus > 1 && taskset).then_some(cpus - 1)
}

impl NullSink {
    /// Starts `program __null-sink` (normally this very binary), pinned when it can be.
    ///
    /// # Errors
    ///
    /// The process does not start or does not print its address.
    pub fn start(program: &std::path::Path) -> Result<Self, SinkError> {
        use std::process::{Command, Stdio};
        let cpu = pin_cpu();
        let mut cmd = match cpu {
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpu.to_string()).arg(program);
                c
            }
            None => Command::new(program),
        };
        let mut child = cmd
            .arg(SUBCOMMAND)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(SinkError::Spawn)?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        let addr = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|a| a.parse().ok());
        let Some(addr) = addr else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(SinkError::NoAddress(line.trim().to_owned()));
        };
        let placement = match cpu {
            Some(cpu) => format!(
                "null sink: pid {} pinned to CPU {cpu} (taskset); the node is not pinned",
                child.id()
            ),
            None => format!(
                "null sink: pid {} not pinned (no taskset, or one CPU)",
                child.id()
            ),
        };
        Ok(Self {
            child,
            addr,
            placement,
        })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Its counts, and the latency samples (ms -> requests) since the last call.
    ///
    /// # Errors
    ///
    /// No answer, or one that is not the counts.
    pub async fn counts(&self) -> Result<(SinkCounts, Vec<(u64, u64)>), SinkError> {
        let addr = self.addr;
        let text = tokio::task::spawn_blocking(move || get_count(addr))
            .await
            .map_err(|e| SinkError::Count(e.to_string()))??;
        let v: Value = serde_json::from_str(&text).map_err(|e| SinkError::Count(e.to_string()))?;
        let n = |k: &str| v[k].as_u64().unwrap_or(0);
        let latencies = v["latencies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| Some((p[0].as_u64()?, p[1].as_u64()?)))
            .collect();
        Ok((
            SinkCounts {
                requests: n("requests"),
                bytes: n("bytes"),
                tracks: n("tracks"),
                http2: n("http2"),
            },
            latencies,
        ))
    }
}

/// `GET /_count` over a fresh plain connection (one request, `Connection: close`).
fn get_count(addr: std::net::SocketAddr) -> Result<String, SinkError> {
    let err = |e: std::io::Error| SinkError::Count(e.to_string());
    let mut s = std::net::TcpStream::connect(addr).map_err(err)?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .map_err(err)?;
    s.write_all(b"GET /_count HTTP/1.1\r\nhost: sink\r\nconnection: close\r\n\r\n")
        .map_err(err)?;
    let mut text = String::new();
    s.read_to_string(&mut text).map_err(err)?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .ok_or_else(|| SinkError::Count(format!("not an HTTP answer: {text}")))?;
    Ok(body)
}

impl Drop for NullSink {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
