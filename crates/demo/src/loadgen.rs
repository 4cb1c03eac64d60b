//! `signal-edge loadgen`: drives a node's ingestion API with concurrent keep-alive clients sending
//! batches of the realistic event mix, at a fixed offered rate or flat out, for a set time, and
//! reports accepted events/s and acknowledgement latency; with the Pendo sandbox as Pendo, also
//! delivered requests/s and end-to-end latency (sent to delivered), and the resident memory.
//!
//! The node runs in this process (its own data directory under the system's temp dir, the same
//! disk), so the figures are those of one 2-core machine doing everything.

use crate::DemoError;
use crate::error::HttpError;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use signal_sandbox::{Sim, Subscriptions};
use signal_server::Node;
use signal_server::{Flags, Settings};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

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
    /// Install a Pendo integration against the sandbox and measure delivery.
    pub deliver: bool,
    /// Also write the results as JSON here.
    pub json: Option<std::path::PathBuf>,
}

type Client = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    Full<Bytes>,
>;

const MARK: &[u8] = b"\"lg_sent_ms\":";
const PLACEHOLDER: &[u8] = b"0000000000000";

/// A batch body with the positions of its send-time placeholders.
struct Template {
    body: Vec<u8>,
    stamps: Vec<usize>,
    /// Where each event's 24-character messageId starts: made unique on every send, or the
    /// gateway's deduplication would (rightly) swallow the repeats.
    ids: Vec<usize>,
    events: usize,
    tracks: usize,
}

fn templates(batch: usize, count: usize) -> Vec<Template> {
    let mut samples = signal_core::sample::Samples::new(7);
    samples.consent_withheld = 0.0;
    (0..count)
        .map(|_| {
            let mut body = b"{\"batch\":[".to_vec();
            let mut stamps = Vec::new();
            let mut ids = Vec::new();
            let mut tracks = 0;
            for i in 0..batch {
                if i > 0 {
                    body.push(b',');
                }
                let (kind, ev) = samples.next_event();
                let text = ev;
                let id_key = b"\"messageId\":\"";
                let start_of_event = body.len();
                let key = b"\"properties\":{";
                match text.windows(key.len()).position(|w| w == key) {
                    Some(at)
                        if matches!(
                            kind,
                            signal_core::EventType::Track | signal_core::EventType::Page
                        ) =>
                    {
                        tracks += 1;
                        body.extend_from_slice(&text[..at + key.len()]);
                        body.extend_from_slice(MARK);
                        stamps.push(body.len());
                        body.extend_from_slice(PLACEHOLDER);
                        body.push(b',');
                        body.extend_from_slice(&text[at + key.len()..]);
                    }
                    _ => body.extend_from_slice(&text),
                }
                if let Some(at) = body[start_of_event..]
                    .windows(id_key.len())
                    .position(|w| w == id_key)
                {
                    ids.push(start_of_event + at + id_key.len());
                }
            }
            body.extend_from_slice(b"]}");
            Template {
                body,
                stamps,
                ids,
                events: batch,
                tracks,
            }
        })
        .collect()
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// End-to-end latencies, in 1 ms buckets up to 10 minutes: the sandbox's samples are folded in
/// every second, so a long run holds no growing list (the run measures the node's memory).
struct Histogram(Vec<u64>);

impl Histogram {
    fn new() -> Self {
        Self(vec![0; 600_001])
    }

    fn add(&mut self, samples: Vec<u32>) {
        for s in samples {
            let i = (s as usize).min(self.0.len() - 1);
            self.0[i] += 1;
        }
    }

    fn count(&self) -> u64 {
        self.0.iter().sum()
    }

    fn percentile(&self, p: f64) -> f64 {
        let total = self.count();
        if total == 0 {
            return f64::NAN;
        }
        let target = ((total as f64) * p).ceil() as u64;
        let mut seen = 0;
        for (ms, n) in self.0.iter().enumerate() {
            seen += n;
            if seen >= target.max(1) {
                return ms as f64;
            }
        }
        (self.0.len() - 1) as f64
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)] as f64
}

/// The counters the clients share.
#[derive(Default)]
struct Counters {
    stop: AtomicBool,
    accepted: AtomicU64,
    tracks_sent: AtomicU64,
    errors: AtomicU64,
}

/// A node in-process on a fresh data directory, with the Pendo sandbox as every region's Pendo
/// (recording off, the send-time property sampled), and the Pendo integration when delivering.
async fn start(opts: &LoadOptions, client: &Client) -> Result<(Node, Sim), DemoError> {
    let mut settings =
        Settings::resolve(&Flags::default(), |_| None).map_err(DemoError::Settings)?;
    settings.data_dir = data_dir();
    settings.ingest_addr = ([127, 0, 0, 1], 0).into();
    settings.admin_addr = ([127, 0, 0, 1], 0).into();
    settings.source_rate_limit = u32::MAX;
    settings.admin_token = Some("loadgen".into());
    settings.pipeline_key = Some("dk_live_loadgen".into());
    let subs = Subscriptions::new();
    subs.add("loadgen-key", "us");
    let sim = Sim::start("us", subs).await.map_err(DemoError::Sandbox)?;
    sim.set_recording(false);
    sim.measure_latency("lg_sent_ms");
    settings
        .base_urls
        .insert("SIGNAL_PENDO_BASE_URL_US".into(), sim.base_url());
    let (node, _) = Node::start(settings).await.map_err(DemoError::Start)?;
    if opts.deliver {
        let body = json!({"name": "Pendo (load)", "config": {"api_key": "a", "integration_key": "loadgen-key", "rate_limit_per_second": 1_000_000}});
        let req = hyper::Request::post(format!(
            "http://{}/v1/admin/integration-catalog/pendo/install",
            node.admin_addr
        ))
        .header("authorization", "Bearer loadgen")
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(HttpError::Request)?;
        let resp = client.request(req).await.map_err(HttpError::Send)?;
        if resp.status().as_u16() != 201 {
            return Err(DemoError::Install {
                status: resp.status().as_u16(),
                body: String::new(),
            });
        }
    }
    Ok((node, sim))
}

fn data_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("signal-loadgen-{}", std::process::id()))
}

/// One client: sends its templates (fresh send times and messageIds) until told to stop, at its
/// share of the offered rate; returns its acknowledgement latencies in µs.
async fn client_task(
    c: usize,
    client: Client,
    templates: Arc<Vec<Template>>,
    url: Arc<String>,
    counters: Arc<Counters>,
    interval: Option<Duration>,
) -> Vec<u64> {
    let mut lat = Vec::new();
    let mut next =
        Instant::now() + interval.map_or(Duration::ZERO, |i| i.mul_f64(c as f64 / 8.0 % 1.0));
    let mut n = c;
    while !counters.stop.load(Ordering::Relaxed) {
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

/// Progress, once a second, for the run's duration: accepted events/s, delivered requests/s,
/// resident memory. Returns the memory samples.
async fn watch(
    opts: &LoadOptions,
    sim: &Sim,
    counters: &Counters,
    e2e: &mut Histogram,
) -> Vec<u64> {
    let start = Instant::now();
    let mut rss = Vec::new();
    let mut last = (0u64, 0u64);
    let mut second = tokio::time::interval(Duration::from_secs(1));
    second.tick().await;
    while start.elapsed() < opts.duration {
        second.tick().await;
        let a = counters.accepted.load(Ordering::Relaxed);
        let d = sim.stats().accepted;
        e2e.add(sim.take_latencies());
        rss.push(rss_kib());
        eprintln!(
            "{:>4.0}s  accepted {:>8}/s  delivered {:>7} requests/s  rss {:>7} KiB  errors {}",
            start.elapsed().as_secs_f64(),
            a - last.0,
            d - last.1,
            rss.last().copied().unwrap_or(0),
            counters.errors.load(Ordering::Relaxed)
        );
        last = (a, d);
    }
    rss
}

/// Runs the load and prints the results; returns them as JSON.
///
/// # Errors
///
/// The node or the sandbox cannot start, the install is refused, or the JSON report cannot be
/// written.
pub async fn run(opts: LoadOptions) -> Result<Value, DemoError> {
    let _ = std::fs::remove_dir_all(data_dir());
    let client: Client =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_max_idle_per_host(1024)
            .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let (node, sim) = start(&opts, &client).await?;
    let templates = Arc::new(templates(opts.batch, 64));
    let url = Arc::new(format!("http://{}/v1/batch", node.ingest_addr));
    let counters = Arc::new(Counters::default());
    let start = Instant::now();
    let interval = opts.rate.map(|r| {
        Duration::from_secs_f64(opts.clients as f64 * opts.batch as f64 / r.max(1) as f64)
    });
    let tasks: Vec<_> = (0..opts.clients)
        .map(|c| {
            let task = client_task(
                c,
                client.clone(),
                templates.clone(),
                url.clone(),
                counters.clone(),
                interval,
            );
            tokio::spawn(task)
        })
        .collect();
    let mut e2e = Histogram::new();
    let rss = watch(&opts, &sim, &counters, &mut e2e).await;
    counters.stop.store(true, Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    let mut acks = Vec::new();
    for t in tasks {
        acks.extend(t.await.unwrap_or_default());
    }
    acks.sort_unstable();
    let delivered_during = sim.stats().accepted;
    // Let delivery catch up (up to a minute) to check nothing was lost.
    let expected_tracks = counters.tracks_sent.load(Ordering::Relaxed);
    e2e.add(sim.take_latencies());
    if opts.deliver {
        let wait = Instant::now();
        while e2e.count() < expected_tracks && wait.elapsed() < Duration::from_secs(60) {
            tokio::time::sleep(Duration::from_millis(200)).await;
            e2e.add(sim.take_latencies());
        }
    }
    let total = counters.accepted.load(Ordering::Relaxed);
    let report = json!({
        "clients": opts.clients, "batch": opts.batch, "offered_events_per_s": opts.rate,
        "seconds": elapsed,
        "accepted_events": total,
        "accepted_events_per_s": total as f64 / elapsed,
        "errors": counters.errors.load(Ordering::Relaxed),
        "ack_latency_ms": {"p50": percentile(&acks, 0.5) / 1000.0, "p99": percentile(&acks, 0.99) / 1000.0, "p999": percentile(&acks, 0.999) / 1000.0},
        "delivered_requests_per_s": if opts.deliver { Value::from(delivered_during as f64 / elapsed) } else { Value::Null },
        "track_events_sent": expected_tracks,
        "track_requests_delivered": e2e.count(),
        "end_to_end_latency_ms": if opts.deliver { json!({"p50": e2e.percentile(0.5), "p99": e2e.percentile(0.99)}) } else { Value::Null },
        "rss_kib": {
            "first": rss.first(),
            "at_2_min": rss.get(119),
            "max": rss.iter().max(),
            "max_after_2_min": rss.iter().skip(120).max(),
            "last": rss.last(),
        },
    });
    println!("| figure | value |\n|---|---|");
    for (k, v) in report.as_object().into_iter().flatten() {
        println!("| {k} | {v} |");
    }
    if let Some(path) = &opts.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report).unwrap_or_default())
            .map_err(DemoError::Report)?;
    }
    node.stop().await;
    let _ = std::fs::remove_dir_all(data_dir());
    Ok(report)
}
