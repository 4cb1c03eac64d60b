//! The sandbox server: [`Sim`], its accept loop, and the stages of one request (introspection,
//! faults, route, key, body, throttle, record, answer).

use crate::answer::{self, Vars};
use crate::check::{self, Refusal};
use crate::faults::{self, Before, Dice, FaultPlan, Injected};
use crate::fixture::{AuthRule, Fixture, Route};
use crate::record::{AcceptedItem, Log, Recorded, SimStats};
use crate::subscriptions::{KeyCheck, Subscriptions};
use crate::throttle::Windows;
use crate::{auth, lock};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

struct State {
    fixture: Fixture,
    region: String,
    subs: Arc<Subscriptions>,
    /// Keep every accepted request (tests), or only count them (load runs).
    record: AtomicBool,
    /// The most accepted requests kept (the oldest are forgotten past it).
    keep_at_most: AtomicUsize,
    /// A numeric item property holding its send time (ms): its age on arrival is sampled.
    latency_key: Mutex<Option<String>>,
    latencies: Mutex<Vec<u32>>,
    faults: Mutex<FaultPlan>,
    dice: Mutex<Dice>,
    log: Mutex<Log>,
    stats: Mutex<SimStats>,
    windows: Mutex<Windows>,
}

/// A running sandbox for one vendor and region. Dropping it stops accepting connections.
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

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Sim {
    /// Starts a Pendo sandbox for `region` on an ephemeral loopback port.
    ///
    /// # Errors
    ///
    /// The port cannot be bound.
    pub async fn start(region: &str, subs: Arc<Subscriptions>) -> std::io::Result<Sim> {
        Self::start_on(region, subs, "127.0.0.1:0").await
    }

    /// Starts a Pendo sandbox on a given address (the demo uses a fixed port).
    ///
    /// # Errors
    ///
    /// The address cannot be bound.
    pub async fn start_on(
        region: &str,
        subs: Arc<Subscriptions>,
        addr: &str,
    ) -> std::io::Result<Sim> {
        let pendo = Fixture::builtin("pendo").map_err(std::io::Error::other)?;
        Self::start_fixture_on(pendo, region, subs, addr).await
    }

    /// Starts a sandbox playing `fixture` ([`Fixture::builtin`], [`Fixture::load`],
    /// [`Fixture::parse`]) for `region` on an ephemeral loopback port. The fixture's `keys`
    /// are added to `subs`.
    ///
    /// # Errors
    ///
    /// The port cannot be bound.
    pub async fn start_fixture(
        fixture: Fixture,
        region: &str,
        subs: Arc<Subscriptions>,
    ) -> std::io::Result<Sim> {
        Self::start_fixture_on(fixture, region, subs, "127.0.0.1:0").await
    }

    /// [`Sim::start_fixture`] on a given address.
    ///
    /// # Errors
    ///
    /// The address cannot be bound.
    pub async fn start_fixture_on(
        fixture: Fixture,
        region: &str,
        subs: Arc<Subscriptions>,
        addr: &str,
    ) -> std::io::Result<Sim> {
        for (r, keys) in &fixture.keys {
            keys.iter().for_each(|k| subs.add(k, r));
        }
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            fixture,
            region: region.to_owned(),
            subs,
            record: AtomicBool::new(true),
            keep_at_most: AtomicUsize::new(usize::MAX),
            latency_key: Mutex::new(None),
            latencies: Mutex::new(Vec::new()),
            faults: Mutex::new(FaultPlan::default()),
            dice: Mutex::new(Dice::new(0x5eed ^ u64::from(addr.port()))),
            log: Mutex::new(Log::default()),
            stats: Mutex::new(SimStats::default()),
            windows: Mutex::new(Windows::default()),
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

    /// The vendor it plays (the fixture's `vendor`).
    pub fn vendor(&self) -> &str {
        &self.state.fixture.vendor
    }

    /// Replaces the fault plan.
    pub fn set_faults(&self, plan: FaultPlan) {
        *lock(&self.state.faults) = plan;
    }

    /// Every request accepted so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        let kept = lock(&self.state.log).snapshot();
        kept.0.iter().map(|r| Recorded::clone(r)).collect()
    }

    /// Every item of the accepted requests, in order (events, records, users).
    pub fn items(&self) -> Vec<AcceptedItem> {
        let kept = lock(&self.state.log).snapshot();
        kept.items(&self.state.fixture)
    }

    /// The counters.
    pub fn stats(&self) -> SimStats {
        lock(&self.state.stats).clone()
    }

    /// Whether accepted requests are kept (the default) or only counted, for long load runs.
    pub fn set_recording(&self, keep: bool) {
        self.state.record.store(keep, Ordering::Relaxed);
    }

    /// Keeps at most `n` accepted requests (at least 1), forgetting the oldest past it, so a
    /// sandbox left running (the demo) stays bounded; its counters still count every one.
    pub fn keep_at_most(&self, n: usize) {
        self.state.keep_at_most.store(n.max(1), Ordering::Relaxed);
    }

    /// Samples the age (now minus the value, in ms) of the numeric property `key` (in the
    /// route's `properties_field`) of every accepted item: the load harness puts its send time
    /// there.
    pub fn measure_latency(&self, key: &str) {
        *lock(&self.state.latency_key) = Some(key.to_owned());
    }

    /// The ages sampled so far, in ms, and forgets them.
    pub fn take_latencies(&self) -> Vec<u32> {
        std::mem::take(&mut *lock(&self.state.latencies))
    }

    /// Forgets recorded requests and items, counters and throttling windows.
    pub fn clear(&self) {
        *lock(&self.state.log) = Log::default();
        *lock(&self.state.stats) = SimStats::default();
        lock(&self.state.windows).clear();
    }
}

fn reply(status: u16, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static(content_type),
    );
    r
}

/// The fixture's answer `name`, with the variables every answer has.
fn answer(state: &State, route: Option<&Route>, name: &str, mut vars: Vars) -> Reply {
    vars.set("vendor", state.fixture.vendor.as_str())
        .set("region", state.region.as_str())
        .set(
            "route",
            route.map_or(Value::Null, |r| r.name.as_str().into()),
        );
    let filled = answer::render(&answer::pick(&state.fixture, route, name), &vars);
    let mut r = reply(filled.status, filled.content_type, filled.body);
    for (k, v) in filled.headers {
        if let (Ok(k), Ok(v)) = (
            hyper::header::HeaderName::try_from(k),
            hyper::header::HeaderValue::try_from(v),
        ) {
            r.headers_mut().insert(k, v);
        }
    }
    Ok(r)
}

fn key_refusal(state: &State, key: Option<&str>) -> Option<Refusal> {
    let name = match state.subs.check(key, &state.region) {
        KeyCheck::Ok => return None,
        KeyCheck::Unknown => "unknown_key",
        KeyCheck::Forbidden => "forbidden",
        KeyCheck::OtherRegion => "wrong_region",
    };
    Some(Refusal {
        answer: name,
        vars: Vars::new(),
    })
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Reply {
    let path = req.uri().path().to_owned();
    if req.method() == Method::GET && path.starts_with("/_sim/") {
        return Ok(introspect(&state, &path, req.uri().query()));
    }
    lock(&state.stats).received += 1;
    if let Some(r) = inject(&state).await? {
        return Ok(r);
    }
    let fixture = &state.fixture;
    let Some(route) = fixture
        .routes
        .iter()
        .find(|r| r.path == path && req.method().as_str().eq_ignore_ascii_case(&r.method))
    else {
        return answer(&state, None, "not_found", Vars::new());
    };
    if let Some(key) = auth::from_head(&fixture.auth, req.headers(), req.uri().query())
        && let Some(refusal) = key_refusal(&state, key.as_deref())
    {
        lock(&state.stats).refused += 1;
        return answer(&state, Some(route), refusal.answer, refusal.vars);
    }
    let method = req.method().to_string();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(n, v)| {
            let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
            (n.as_str().to_owned(), v)
        })
        .collect();
    let Ok(body) = req.into_body().collect().await else {
        return Err(Reset);
    };
    let body = body.to_bytes().to_vec();
    let (value, items) = match admit(&state, route, &body) {
        Ok(v) => v,
        Err(refusal) => {
            let mut stats = lock(&state.stats);
            stats.refused += 1;
            stats.throttled_ids += u64::from(refusal.answer == "throttled");
            drop(stats);
            return answer(&state, Some(route), refusal.answer, refusal.vars);
        }
    };
    let at_ms = now_ms();
    let bytes = body.len();
    keep(
        &state,
        route,
        &value,
        Recorded {
            method,
            path,
            headers,
            body,
            at_ms,
            route: route.name.clone(),
            items,
        },
    );
    if faults::reset_after(&lock(&state.faults), &mut lock(&state.dice)) {
        lock(&state.stats).resets_after += 1;
        return Err(Reset);
    }
    let vars = Vars::new()
        .with("items", items)
        .with("bytes", bytes)
        .with("now_ms", at_ms);
    answer(&state, Some(route), "accepted", vars)
}

/// The fault plan's part: a reset, a wait, an injected 429 or 500/503.
async fn inject(state: &State) -> Result<Option<Response<Full<Bytes>>>, Reset> {
    let plan = lock(&state.faults).clone();
    let before = faults::before(&plan, &mut lock(&state.dice));
    match before {
        Before::Reset => {
            lock(&state.stats).resets_before += 1;
            return Err(Reset);
        }
        Before::Wait { delay, stalled } => {
            if stalled {
                lock(&state.stats).stalls += 1;
            }
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
        }
    }
    let injected = faults::injected(&mut lock(&state.faults), &mut lock(&state.dice));
    Ok(match injected {
        None => None,
        Some(Injected::Throttle(secs)) => {
            lock(&state.stats).throttled += 1;
            let body = json!({"error": "rate limited"}).to_string();
            let mut r = reply(429, "application/json", body);
            r.headers_mut()
                .insert("retry-after", hyper::header::HeaderValue::from(secs));
            Some(r)
        }
        Some(Injected::Error(status)) => {
            lock(&state.stats).errors += 1;
            let body = json!({"error": "injected failure"}).to_string();
            Some(reply(status, "application/json", body))
        }
    })
}

/// Size, JSON, a key in the body, the body checks, per-id throttling: the parsed body and its
/// item count, or the refusal.
fn admit(state: &State, route: &Route, body: &[u8]) -> Result<(Value, usize), Refusal> {
    if let Some(max) = route.body.max_bytes
        && body.len() > max
    {
        let vars = Vars::new().with("bytes", body.len()).with("max_bytes", max);
        return Err(Refusal {
            answer: "too_large",
            vars,
        });
    }
    let value = check::parse(&state.fixture, route, body)?;
    if let AuthRule::Body { field } = &state.fixture.auth
        && let Some(refusal) = key_refusal(state, auth::from_body(field, &value).as_deref())
    {
        return Err(refusal);
    }
    let items = check::check(&state.fixture, route, &value)?;
    if let Some(rule) = &route.throttle {
        let list = check::items(route, &value);
        lock(&state.windows)
            .admit(rule, list, now_ms())
            .map_err(|vars| Refusal {
                answer: "throttled",
                vars,
            })?;
    }
    Ok((value, items))
}

/// Counts, samples latencies, and (when recording) keeps the request and its items.
fn keep(state: &State, route: &Route, value: &Value, recorded: Recorded) {
    let list = check::items(route, value);
    if let Some(key) = lock(&state.latency_key).as_deref() {
        let now = recorded.at_ms;
        let mut l = lock(&state.latencies);
        for item in list {
            if let Some(sent) = item[route.properties_field.as_str()][key].as_u64()
                && l.len() < 10_000_000
            {
                l.push(now.saturating_sub(sent).min(u64::from(u32::MAX)) as u32);
            }
        }
    }
    {
        let mut stats = lock(&state.stats);
        stats.accepted += 1;
        stats.items_accepted += list.len() as u64;
    }
    if state.record.load(Ordering::Relaxed) {
        let max = state.keep_at_most.load(Ordering::Relaxed);
        let mut log = lock(&state.log);
        log.requests.push(Arc::new(recorded));
        let len = log.requests.len();
        if len > max {
            // A tenth at once (at least one), so forgetting costs no copy per request.
            log.requests.drain(..(len - max + max / 10).min(len));
        }
    }
}

fn introspect(state: &State, path: &str, query: Option<&str>) -> Response<Full<Bytes>> {
    if crate::visitors::is_page(path) {
        return visitors_page(state, path, query);
    }
    let body = match path {
        "/_sim/requests" => {
            let kept = lock(&state.log).snapshot();
            kept.requests_json()
        }
        "/_sim/items" => {
            let kept = lock(&state.log).snapshot();
            kept.items_json(&state.fixture)
        }
        "/_sim/stats" => lock(&state.stats).to_json(&state.fixture.vendor),
        _ => {
            let body = json!({"error": "no such endpoint"}).to_string();
            return reply(404, "application/json", body);
        }
    };
    reply(200, "application/json", body.to_string())
}

/// A page of the visitor view (`visitors.rs`), as HTML that runs no script.
fn visitors_page(state: &State, path: &str, query: Option<&str>) -> Response<Full<Bytes>> {
    let fixture = &state.fixture;
    let pendo_like = ["track", "visitors", "accounts"]
        .iter()
        .all(|name| fixture.routes.iter().any(|r| r.name == *name));
    let kept = lock(&state.log).snapshot();
    let items = kept.items(fixture);
    let (status, html) = crate::visitors::page(&fixture.vendor, pendo_like, &items, path, query);
    let mut r = reply(status, "text/html; charset=utf-8", html);
    r.headers_mut().insert(
        "content-security-policy",
        hyper::header::HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
        ),
    );
    r
}
