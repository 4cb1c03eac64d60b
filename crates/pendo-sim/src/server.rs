//! The sandbox server: routing, authentication by subscription, faults, and the record of what
//! was accepted.

use crate::check;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Pendo subscriptions: which integration key belongs to which region.
#[derive(Debug, Default)]
pub struct Subscriptions {
    keys: Mutex<HashMap<String, String>>,
    forbid: AtomicBool,
}

impl Subscriptions {
    /// No subscriptions yet.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// A subscription in `region` whose Track integration key is `key`.
    pub fn add(&self, key: &str, region: &str) {
        lock(&self.keys).insert(key.to_owned(), region.to_owned());
    }

    /// Revokes a key: it gets 401 (or 403) from now on.
    pub fn remove(&self, key: &str) {
        lock(&self.keys).remove(key);
    }

    /// Answer unknown keys with 403 instead of 401.
    pub fn answer_403(&self, yes: bool) {
        self.forbid.store(yes, Ordering::Relaxed);
    }
}

/// Faults to inject, each drawn per request. The default is none.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultPlan {
    /// Added to every answer.
    pub latency: Duration,
    /// A random extra of up to this much.
    pub jitter: Duration,
    /// Share of requests answered 500 or 503 (half each).
    pub error_rate: f64,
    /// The next this-many requests are answered 429 with `Retry-After`.
    pub throttle_next: u32,
    /// The `Retry-After` of a 429, in seconds.
    pub retry_after_secs: u64,
    /// Share of requests whose connection is closed before they are handled (not recorded).
    pub reset_before_rate: f64,
    /// Share of requests handled and recorded whose connection is then closed without an
    /// answer: the client never learns it succeeded.
    pub reset_after_rate: f64,
    /// Share of requests that stall for [`stall`](Self::stall) before being answered.
    pub stall_rate: f64,
    /// How long a stalled request waits.
    pub stall: Duration,
}

/// One request the sandbox accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// `POST`.
    pub method: String,
    /// The path, e.g. `/data/track`.
    pub path: String,
    /// Every header, names lower-case, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// When, in milliseconds since the epoch.
    pub at_ms: u64,
}

impl Recorded {
    /// The value of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Counters of what the sandbox saw and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Requests received.
    pub received: u64,
    /// Requests accepted (2xx) and recorded.
    pub accepted: u64,
    /// Requests refused 4xx for their key or body.
    pub refused: u64,
    /// 500/503 answers injected.
    pub errors: u64,
    /// 429 answers injected.
    pub throttled: u64,
    /// Connections closed before handling.
    pub resets_before: u64,
    /// Connections closed after handling (responses lost).
    pub resets_after: u64,
    /// Requests stalled.
    pub stalls: u64,
}

struct State {
    /// Keep every accepted request (tests), or only count them (load runs).
    record: AtomicBool,
    /// A numeric Track property holding its send time (ms): its age on arrival is sampled.
    latency_key: Mutex<Option<String>>,
    latencies: Mutex<Vec<u32>>,
    region: String,
    subs: Arc<Subscriptions>,
    faults: Mutex<FaultPlan>,
    rng: Mutex<u64>,
    recorded: Mutex<Vec<Recorded>>,
    stats: Mutex<SimStats>,
}

impl State {
    fn roll(&self) -> f64 {
        let mut s = lock(&self.rng);
        *s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A running sandbox for one region. Dropping it stops accepting connections.
pub struct Sim {
    addr: SocketAddr,
    state: Arc<State>,
    accept: JoinHandle<()>,
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Closing the connection without an answer (a reset as the client sees it).
#[derive(Debug)]
struct Reset;

impl std::fmt::Display for Reset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection closed by the sandbox")
    }
}

impl std::error::Error for Reset {}

type Reply = Result<Response<Full<Bytes>>, Reset>;

impl Sim {
    /// Starts a sandbox for `region` on an ephemeral loopback port.
    ///
    /// # Errors
    ///
    /// The port cannot be bound.
    pub async fn start(region: &str, subs: Arc<Subscriptions>) -> std::io::Result<Sim> {
        Self::start_on(region, subs, "127.0.0.1:0").await
    }

    /// Starts a sandbox on a given address (the demo uses a fixed port).
    ///
    /// # Errors
    ///
    /// The address cannot be bound.
    pub async fn start_on(
        region: &str,
        subs: Arc<Subscriptions>,
        addr: &str,
    ) -> std::io::Result<Sim> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            record: AtomicBool::new(true),
            latency_key: Mutex::new(None),
            latencies: Mutex::new(Vec::new()),
            region: region.to_owned(),
            subs,
            faults: Mutex::new(FaultPlan::default()),
            rng: Mutex::new(0x5eed ^ u64::from(addr.port())),
            recorded: Mutex::new(Vec::new()),
            stats: Mutex::new(SimStats::default()),
        });
        let shared = state.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(state.clone(), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Sim {
            addr,
            state,
            accept,
        })
    }

    /// `http://127.0.0.1:<port>`: what a region's base URL points at.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The region it plays.
    pub fn region(&self) -> &str {
        &self.state.region
    }

    /// Replaces the fault plan.
    pub fn set_faults(&self, plan: FaultPlan) {
        *lock(&self.state.faults) = plan;
    }

    /// Every request accepted so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.state.recorded).clone()
    }

    /// The counters.
    pub fn stats(&self) -> SimStats {
        lock(&self.state.stats).clone()
    }

    /// Whether accepted requests are kept (the default) or only counted, for long load runs.
    pub fn set_recording(&self, keep: bool) {
        self.state.record.store(keep, Ordering::Relaxed);
    }

    /// Samples the age (now minus the value, in ms) of the numeric Track property `key` of
    /// every accepted Track request: the load harness puts its send time there.
    pub fn measure_latency(&self, key: &str) {
        *lock(&self.state.latency_key) = Some(key.to_owned());
    }

    /// The ages sampled so far, in ms, and forgets them.
    pub fn take_latencies(&self) -> Vec<u32> {
        std::mem::take(&mut *lock(&self.state.latencies))
    }

    /// Forgets recorded requests and counters.
    pub fn clear(&self) {
        lock(&self.state.recorded).clear();
        *lock(&self.state.stats) = SimStats::default();
    }
}

fn reply(status: StatusCode, body: String) -> Reply {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(r)
}

fn error(status: StatusCode, why: &str) -> Reply {
    reply(status, json!({"error": why}).to_string())
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Reply {
    let path = req.uri().path().to_owned();
    if req.method() == Method::GET && path.starts_with("/_sim/") {
        return introspect(&state, &path);
    }
    lock(&state.stats).received += 1;
    let plan = lock(&state.faults).clone();
    if plan.reset_before_rate > 0.0 && state.roll() < plan.reset_before_rate {
        lock(&state.stats).resets_before += 1;
        return Err(Reset);
    }
    let mut delay = plan.latency;
    if !plan.jitter.is_zero() {
        delay += plan.jitter.mul_f64(state.roll());
    }
    if plan.stall_rate > 0.0 && state.roll() < plan.stall_rate {
        lock(&state.stats).stalls += 1;
        delay += plan.stall;
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    {
        let mut faults = lock(&state.faults);
        if faults.throttle_next > 0 {
            faults.throttle_next -= 1;
            drop(faults);
            lock(&state.stats).throttled += 1;
            let mut r = error(StatusCode::TOO_MANY_REQUESTS, "rate limited")?;
            r.headers_mut().insert(
                "retry-after",
                hyper::header::HeaderValue::from(plan.retry_after_secs),
            );
            return Ok(r);
        }
    }
    if plan.error_rate > 0.0 {
        let roll = state.roll();
        if roll < plan.error_rate {
            lock(&state.stats).errors += 1;
            let status = if roll < plan.error_rate / 2.0 {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            return error(status, "injected failure");
        }
    }
    let id_field = match (req.method(), path.as_str()) {
        (&Method::POST, "/data/track") => None,
        (&Method::POST, "/api/v1/metadata/visitor/custom/value") => Some("visitorId"),
        (&Method::POST, "/api/v1/metadata/account/custom/value") => Some("accountId"),
        _ => return error(StatusCode::NOT_FOUND, "no such endpoint"),
    };
    let key = req
        .headers()
        .get("x-pendo-integration-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let region = key
        .as_deref()
        .and_then(|k| lock(&state.subs.keys).get(k).cloned());
    match region {
        None => {
            lock(&state.stats).refused += 1;
            let status = if state.subs.forbid.load(Ordering::Relaxed) {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::UNAUTHORIZED
            };
            return error(status, "invalid integration key");
        }
        Some(r) if r != state.region => {
            lock(&state.stats).refused += 1;
            return error(StatusCode::NOT_FOUND, "subscription not found");
        }
        Some(_) => {}
    }
    let method = req.method().to_string();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        Err(_) => return Err(Reset),
    };
    let checked = match id_field {
        None => check::track(&body).map(|v| {
            if let Some(key) = lock(&state.latency_key).as_deref()
                && let Some(sent) = v["properties"][key].as_u64()
            {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                let mut l = lock(&state.latencies);
                if l.len() < 10_000_000 {
                    l.push(now.saturating_sub(sent).min(u64::from(u32::MAX)) as u32);
                }
            }
            None
        }),
        Some(field) => check::metadata(&body, field).map(Some),
    };
    let records = match checked {
        Ok(n) => n,
        Err(why) => {
            lock(&state.stats).refused += 1;
            return error(StatusCode::BAD_REQUEST, &why);
        }
    };
    let at_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    if state.record.load(Ordering::Relaxed) {
        lock(&state.recorded).push(Recorded {
            method,
            path,
            headers,
            body,
            at_ms,
        });
    }
    lock(&state.stats).accepted += 1;
    if plan.reset_after_rate > 0.0 && state.roll() < plan.reset_after_rate {
        lock(&state.stats).resets_after += 1;
        return Err(Reset);
    }
    match records {
        None => reply(StatusCode::OK, String::new()),
        Some(n) => reply(
            StatusCode::OK,
            json!({"total": n, "updated": n, "failed": 0, "missing": 0}).to_string(),
        ),
    }
}

fn introspect(state: &State, path: &str) -> Reply {
    match path {
        "/_sim/requests" => {
            let list: Vec<serde_json::Value> = lock(&state.recorded)
                .iter()
                .map(|r| {
                    json!({
                        "method": r.method,
                        "path": r.path,
                        "headers": r.headers.iter().map(|(n, v)| json!([n, v])).collect::<Vec<_>>(),
                        "body": String::from_utf8_lossy(&r.body),
                        "at_ms": r.at_ms,
                    })
                })
                .collect();
            reply(StatusCode::OK, json!({"data": list}).to_string())
        }
        "/_sim/stats" => {
            let s = lock(&state.stats).clone();
            reply(
                StatusCode::OK,
                json!({"received": s.received, "accepted": s.accepted, "refused": s.refused,
                       "errors": s.errors, "throttled": s.throttled, "resets_before": s.resets_before,
                       "resets_after": s.resets_after, "stalls": s.stalls})
                .to_string(),
            )
        }
        _ => error(StatusCode::NOT_FOUND, "no such endpoint"),
    }
}
