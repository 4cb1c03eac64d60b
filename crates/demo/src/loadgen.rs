//! `signal-edge loadgen`: drives a node's ingestion API with concurrent keep-alive clients sending
//! batches of the realistic event mix, at a fixed offered rate or flat out, for a set time, and
//! reports accepted events/s and acknowledgement latency; when delivering, also delivered
//! requests/s and end-to-end latency (sent to delivered), and the resident memory.
//!
//! The node runs in this process (its own data directory under the system's temp dir, the same
//! disk), so the figures are those of one 2-core machine doing everything. The vendor is the
//! Pendo sandbox in this process (`--sink sandbox`, the default) or the null receiver in its own
//! process (`--sink null`, `vendor.rs`, `crate::sink`). `--drain N` measures delivery alone
//! (`drain.rs`).
//!
//! - `body.rs`: the batch templates, the latency histogram, memory and CPU time.
//! - `vendor.rs`: the sandbox or the null sink, and what each has received.
//! - `drain.rs`: `--drain N`, a backlog delivered with no ingest.

use crate::DemoError;
use crate::error::HttpError;
use body::{Histogram, Template, percentile, rss_kib, templates};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use signal_server::Node;
use signal_server::{Flags, Settings};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
pub use vendor::Sink;
use vendor::{Received, Vendor};

mod body;
mod drain;
mod vendor;

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Concurrent keep-alive clients.
    pub clients: usize,
    /// Events per request (`/v1/batch`).
    pub batch: usize,
    /// Offered events per second across all clients; `None` is flat out.
    pub rate: Option<u64>,
    /// How long to send.
    pub duration: Duration,
    /// Install a Pendo integration against the sink and measure delivery (always, with the
    /// null sink or a drain).
    pub deliver: bool,
    /// Where the node delivers.
    pub sink: Sink,
    /// The program the null sink runs as (`<program> __null-sink`); `None` is this executable.
    pub sink_program: Option<std::path::PathBuf>,
    /// Measure delivery alone: a backlog of this many events drained with no ingest.
    pub drain: Option<u64>,
    /// The node's environment, by variable (`SIGNAL_VENDOR_HTTP` -> `h2c`): the node resolves
    /// its settings from these alone (no config file, nothing else from the process).
    pub node_env: Vec<(String, String)>,
    /// Also write the results as JSON here.
    pub json: Option<std::path::PathBuf>,
    /// Nodes in this process sharing one JetStream (the node environment's
    /// `SIGNAL_LOG_BACKEND` must be `nats://...` past 1); the clients are spread over their
    /// gateways round-robin, the integration installed on the first.
    pub nodes: usize,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            clients: 16,
            batch: 100,
            rate: None,
            duration: Duration::from_secs(30),
            deliver: false,
            sink: Sink::Sandbox,
            sink_program: None,
            drain: None,
            node_env: Vec::new(),
            json: None,
            nodes: 1,
        }
    }
}

impl LoadOptions {
    fn delivers(&self) -> bool {
        self.deliver || self.sink == Sink::Null || self.drain.is_some()
    }
}

type Client = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    Full<Bytes>,
>;

/// The counters the clients share.
#[derive(Default)]
struct Counters {
    stop: AtomicBool,
    accepted: AtomicU64,
    tracks_sent: AtomicU64,
    errors: AtomicU64,
}

/// A running node and its vendor; the Pendo integration's id when delivering.
struct Started {
    node: Node,
    /// The other nodes (`--nodes`), on the same JetStream.
    others: Vec<Node>,
    vendor: Vendor,
    integration: Option<String>,
    client: Client,
    /// The node's vendor HTTP settings, for the report.
    http: Value,
}

/// A node in-process on a fresh data directory, with the sink as every region's Pendo, and the
/// Pendo integration when delivering.
async fn start(opts: &LoadOptions) -> Result<Started, DemoError> {
    let _ = std::fs::remove_dir_all(data_dir());
    let client: Client =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_max_idle_per_host(1024)
            .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let env = opts.node_env.clone();
    let mut settings = Settings::resolve(&Flags::default(), |k| {
        env.iter().find(|(v, _)| v == k).map(|(_, x)| x.clone())
    })
    .map_err(DemoError::Settings)?;
    let http = json!({
        "protocol": settings.vendor_http.protocol.name(),
        "h2_connections": settings.vendor_http.h2_connections,
        "h2_streams": settings.vendor_http.h2_streams,
    });
    if opts.nodes > 1 && matches!(settings.log_backend, signal_server::LogBackend::Local) {
        return Err(DemoError::Nodes(opts.nodes));
    }
    settings.data_dir = data_dir();
    settings.ingest_addr = ([127, 0, 0, 1], 0).into();
    settings.admin_addr = ([127, 0, 0, 1], 0).into();
    settings.source_rate_limit = u32::MAX;
    settings.admin_token = Some("loadgen".into());
    settings.pipeline_key = Some("dk_live_loadgen".into());
    let program = match &opts.sink_program {
        Some(p) => p.clone(),
        None => std::env::current_exe().map_err(DemoError::Report)?,
    };
    let vendor = Vendor::start(opts.sink, &program).await?;
    if let Some(placement) = vendor.placement() {
        eprintln!("{placement}");
    }
    settings
        .base_urls
        .insert("SIGNAL_PENDO_BASE_URL_US".into(), vendor.base_url());
    let mut others = Vec::new();
    for i in 1..opts.nodes {
        let mut settings = settings.clone();
        settings.data_dir = data_dir_of(i);
        let _ = std::fs::remove_dir_all(&settings.data_dir);
        others.push(Node::start(settings).await.map_err(DemoError::Start)?.0);
    }
    let (node, _) = Node::start(settings).await.map_err(DemoError::Start)?;
    let mut integration = None;
    if opts.delivers() {
        let body = json!({"name": "Pendo (load)", "config": {"api_key": "a", "integration_key": "loadgen-key", "rate_limit_per_second": 1_000_000}});
        let (status, answer) = admin(
            &client,
            &node,
            "POST",
            "/v1/admin/integration-catalog/pendo/install",
            &body,
        )
        .await?;
        if status != 201 {
            return Err(DemoError::Install {
                status,
                body: answer.to_string(),
            });
        }
        integration = answer["id"].as_str().map(str::to_owned);
        if let Some(id) = &integration {
            for other in &others {
                installed_on(&client, other, id).await?;
            }
        }
    }
    Ok(Started {
        node,
        others,
        vendor,
        integration,
        client,
        http,
    })
}

/// One call to the node's management API: its status and JSON answer (`null` if not JSON).
async fn admin(
    client: &Client,
    node: &Node,
    method: &str,
    path: &str,
    body: &Value,
) -> Result<(u16, Value), DemoError> {
    let req = hyper::Request::builder()
        .method(method)
        .uri(format!("http://{}{path}", node.admin_addr))
        .header("authorization", "Bearer loadgen")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(HttpError::Request)?;
    let resp = client.request(req).await.map_err(HttpError::Send)?;
    let status = resp.status().as_u16();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(HttpError::Body)?
        .to_bytes();
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

fn data_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("signal-loadgen-{}", std::process::id()))
}

/// The data directory of the `i`th other node.
fn data_dir_of(i: usize) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("signal-loadgen-{}-{i}", std::process::id()))
}

/// Waits (up to 10 s) until `node` delivers integration `id`, installed on another node.
async fn installed_on(client: &Client, node: &Node, id: &str) -> Result<(), DemoError> {
    let path = format!("/v1/admin/integrations/{id}");
    let start = Instant::now();
    loop {
        let (status, answer) = admin(client, node, "GET", &path, &Value::Null).await?;
        if status == 200 && answer["status"] != "paused" {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(10) {
            return Err(DemoError::Install {
                status,
                body: format!(
                    "not on the node at {} after 10 s: {answer}",
                    node.admin_addr
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the vendor has received, summed over the run: the latency histogram, and the track
/// requests (the null sink's own count, or one per sandbox latency sample).
struct Delivered {
    e2e: Histogram,
    requests: u64,
    tracks: u64,
    http2: Option<u64>,
}

impl Delivered {
    fn new() -> Self {
        Self {
            e2e: Histogram::new(),
            requests: 0,
            tracks: 0,
            http2: None,
        }
    }

    async fn update(&mut self, vendor: &Vendor) -> Result<(), DemoError> {
        let Received {
            requests,
            tracks,
            http2,
            latencies,
        } = vendor.received().await?;
        self.http2 = http2;
        self.e2e.add_counts(latencies);
        self.requests = requests;
        self.tracks = tracks.unwrap_or_else(|| self.e2e.count());
        Ok(())
    }
}

/// How the clients send: at what interval each (`None`: flat out), until how many events are
/// accepted in all, and the first request number (messageIds differ between phases).
#[derive(Clone, Copy)]
struct Phase {
    interval: Option<Duration>,
    until: u64,
    first: usize,
}

/// One client: sends its templates (fresh send times and messageIds) until told to stop or the
/// phase's events are accepted, at its share of the offered rate; returns its acknowledgement
/// latencies in µs.
async fn client_task(
    c: usize,
    client: Client,
    templates: Arc<Vec<Template>>,
    url: Arc<String>,
    counters: Arc<Counters>,
    phase: Phase,
) -> Vec<u64> {
    let mut lat = Vec::new();
    let interval = phase.interval;
    let mut next =
        Instant::now() + interval.map_or(Duration::ZERO, |i| i.mul_f64(c as f64 / 8.0 % 1.0));
    let mut n = phase.first + c;
    while !counters.stop.load(Ordering::Relaxed)
        && counters.accepted.load(Ordering::Relaxed) < phase.until
    {
        if let Some(interval) = interval {
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                tokio::time::sleep(wait).await;
            }
            next += interval;
        }
        let t = &templates[n % templates.len()];
        n += 1;
        let mut body = t.body.clone();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let stamp = format!("{now:013}");
        for &at in &t.stamps {
            body[at..at + 13].copy_from_slice(stamp.as_bytes());
        }
        for (k, &at) in t.ids.iter().enumerate() {
            let id = format!("{:08x}{:08x}{:08x}", c, n, k);
            body[at..at + 24].copy_from_slice(id.as_bytes());
        }
        let Ok(req) = hyper::Request::post(url.as_str())
            .header("authorization", "Bearer dk_live_loadgen")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
        else {
            continue;
        };
        let sent = Instant::now();
        match client.request(req).await {
            Ok(resp) if resp.status().as_u16() == 200 => {
                let _ = resp.into_body().collect().await;
                lat.push(sent.elapsed().as_micros() as u64);
                counters
                    .accepted
                    .fetch_add(t.events as u64, Ordering::Relaxed);
                counters
                    .tracks_sent
                    .fetch_add(t.tracks as u64, Ordering::Relaxed);
            }
            _ => {
                counters.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    lat
}

/// The clients of one phase, spread over the nodes' gateways.
fn spawn_clients(
    opts: &LoadOptions,
    s: &Started,
    counters: &Arc<Counters>,
    phase: Phase,
) -> Vec<tokio::task::JoinHandle<Vec<u64>>> {
    let templates = Arc::new(templates(opts.batch, 64));
    let urls: Vec<Arc<String>> = std::iter::once(&s.node)
        .chain(&s.others)
        .map(|n| Arc::new(format!("http://{}/v1/batch", n.ingest_addr)))
        .collect();
    (0..opts.clients)
        .map(|c| {
            tokio::spawn(client_task(
                c,
                s.client.clone(),
                templates.clone(),
                urls[c % urls.len()].clone(),
                counters.clone(),
                phase,
            ))
        })
        .collect()
}

/// Progress, once a second, for the run's duration: accepted events/s, delivered requests/s,
/// the track backlog (sent, not yet at the vendor), resident memory. Returns the memory and
/// backlog samples.
async fn watch(
    opts: &LoadOptions,
    vendor: &Vendor,
    counters: &Counters,
    delivered: &mut Delivered,
) -> Result<(Vec<u64>, Vec<u64>), DemoError> {
    let start = Instant::now();
    let (mut rss, mut backlog) = (Vec::new(), Vec::new());
    let mut last = (0u64, 0u64);
    let mut second = tokio::time::interval(Duration::from_secs(1));
    second.tick().await;
    while start.elapsed() < opts.duration {
        second.tick().await;
        let a = counters.accepted.load(Ordering::Relaxed);
        if opts.delivers() {
            delivered.update(vendor).await?;
        }
        let d = delivered.requests;
        let behind = counters
            .tracks_sent
            .load(Ordering::Relaxed)
            .saturating_sub(delivered.tracks);
        rss.push(rss_kib());
        backlog.push(behind);
        eprintln!(
            "{:>4.0}s  accepted {:>8}/s  delivered {:>7} requests/s  backlog {:>8}  rss {:>7} KiB  errors {}",
            start.elapsed().as_secs_f64(),
            a - last.0,
            d - last.1,
            behind,
            rss.last().copied().unwrap_or(0),
            counters.errors.load(Ordering::Relaxed)
        );
        last = (a, d);
    }
    Ok((rss, backlog))
}

/// Runs the load (or the drain, `--drain`) and prints the results; returns them as JSON.
///
/// # Errors
///
/// The node or the sink cannot start, the install is refused, the sink cannot be read, or the
/// JSON report cannot be written.
pub async fn run(opts: LoadOptions) -> Result<Value, DemoError> {
    let s = start(&opts).await?;
    let report = match opts.drain {
        Some(events) => drain::run(&opts, &s, events).await,
        None => timed(&opts, &s).await,
    };
    s.node.stop().await;
    for (i, other) in s.others.into_iter().enumerate() {
        other.stop().await;
        let _ = std::fs::remove_dir_all(data_dir_of(i + 1));
    }
    drop(s.vendor);
    let _ = std::fs::remove_dir_all(data_dir());
    let report = report?;
    print_report(&opts, &report)?;
    Ok(report)
}

/// Prints the report as a table, and writes it as JSON when asked.
fn print_report(opts: &LoadOptions, report: &Value) -> Result<(), DemoError> {
    println!("| figure | value |\n|---|---|");
    for (k, v) in report.as_object().into_iter().flatten() {
        println!("| {k} | {v} |");
    }
    if let Some(path) = &opts.json {
        std::fs::write(path, serde_json::to_vec_pretty(report).unwrap_or_default())
            .map_err(DemoError::Report)?;
    }
    Ok(())
}

/// The timed run: send for the duration, then let delivery catch up (up to a minute) to check
/// nothing was lost.
async fn timed(opts: &LoadOptions, s: &Started) -> Result<Value, DemoError> {
    let counters = Arc::new(Counters::default());
    let start = Instant::now();
    let interval = opts.rate.map(|r| {
        Duration::from_secs_f64(opts.clients as f64 * opts.batch as f64 / r.max(1) as f64)
    });
    let phase = Phase {
        interval,
        until: u64::MAX,
        first: 0,
    };
    let tasks = spawn_clients(opts, s, &counters, phase);
    let mut delivered = Delivered::new();
    let watched = watch(opts, &s.vendor, &counters, &mut delivered).await;
    counters.stop.store(true, Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    let mut acks = Vec::new();
    for t in tasks {
        acks.extend(t.await.unwrap_or_default());
    }
    let (rss, backlog) = watched?;
    acks.sort_unstable();
    let expected_tracks = counters.tracks_sent.load(Ordering::Relaxed);
    let mut delivered_during = 0;
    if opts.delivers() {
        delivered.update(&s.vendor).await?;
        delivered_during = delivered.requests;
        let wait = Instant::now();
        while delivered.tracks < expected_tracks && wait.elapsed() < Duration::from_secs(60) {
            tokio::time::sleep(Duration::from_millis(200)).await;
            delivered.update(&s.vendor).await?;
        }
    }
    let total = counters.accepted.load(Ordering::Relaxed);
    let half = backlog.len() / 2;
    Ok(json!({
        "sink": opts.sink.name(),
        "sink_placement": s.vendor.placement(),
        "vendor_http": s.http,
        "nodes": opts.nodes,
        "clients": opts.clients, "batch": opts.batch, "offered_events_per_s": opts.rate,
        "seconds": elapsed,
        "accepted_events": total,
        "accepted_events_per_s": total as f64 / elapsed,
        "errors": counters.errors.load(Ordering::Relaxed),
        "ack_latency_ms": {"p50": percentile(&acks, 0.5) / 1000.0, "p99": percentile(&acks, 0.99) / 1000.0, "p999": percentile(&acks, 0.999) / 1000.0},
        "delivered_requests_per_s": if opts.delivers() { Value::from(delivered_during as f64 / elapsed) } else { Value::Null },
        "delivered_requests": if opts.delivers() { Value::from(delivered.requests) } else { Value::Null },
        "delivered_requests_over_http2": delivered.http2,
        "track_events_sent": expected_tracks,
        "track_requests_delivered": delivered.tracks,
        "track_backlog": if opts.delivers() { json!({"max_first_half": backlog[..half].iter().max(), "max_second_half": backlog[half..].iter().max(), "at_end_of_sending": backlog.last()}) } else { Value::Null },
        "end_to_end_latency_ms": if opts.delivers() { json!({"p50": delivered.e2e.percentile(0.5), "p99": delivered.e2e.percentile(0.99)}) } else { Value::Null },
        "rss_kib": {
            "first": rss.first(),
            "at_2_min": rss.get(119),
            "max": rss.iter().max(),
            "max_after_2_min": rss.iter().skip(120).max(),
            "last": rss.last(),
        },
    }))
}
