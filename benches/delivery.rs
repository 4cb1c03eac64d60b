//! Delivery against the Pendo sandbox over loopback: Track requests/s and metadata records/s
//! through signal-forward with a high rate limit, and, in the same run, a bare hyper client loop
//! sending the same bodies to the same sandbox: the ceiling on this machine.
//!
//! `cargo bench --bench delivery`. `DELIVERY_BENCH_SECS` sets each measurement (default 2); five paired rounds.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use pendo_sim::{Sim, Subscriptions};
use signal_core::Blueprint;
use signal_forward::pendo_compat::MetadataKind;
use signal_forward::{Engine, ForwardConfig, Job, OutcomeKind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const CONCURRENCY: usize = 64;

fn secs() -> Duration {
    Duration::from_secs_f64(
        std::env::var("DELIVERY_BENCH_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2.0),
    )
}

fn body(n: u64) -> Bytes {
    Bytes::from(format!(
        r#"{{"type":"track","event":"feature_used","visitorId":"user-{}","accountId":"acme","timestamp":1764140000000,"properties":{{"feature":"export","n":{n}}},"context":{{"ip":"203.0.113.9","userAgent":"Mozilla/5.0","locale":"en-US"}}}}"#,
        n % 5000
    ))
}

type Bare = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    Full<Bytes>,
>;

fn bare_client() -> Bare {
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.set_nodelay(true);
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_max_idle_per_host(256)
        .build(http)
}

/// The ceiling: `CONCURRENCY` tasks posting bodies back to back with a plain hyper client
/// (kept across rounds, like the engine's, so both reuse warm connections).
async fn bare(client: &Bare, url: &str) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|t| {
            let (client, stop, count, url) =
                (client.clone(), stop.clone(), count.clone(), url.to_owned());
            tokio::spawn(async move {
                let mut n = t as u64;
                while !stop.load(Ordering::Relaxed) {
                    let req = hyper::Request::post(&url)
                        .header("content-type", "application/json")
                        .header("x-pendo-integration-key", "bench-key")
                        .body(Full::new(body(n)))
                        .expect("request");
                    let resp = client.request(req).await.expect("answer");
                    assert!(resp.status().is_success());
                    let _ = resp.into_body().collect().await;
                    count.fetch_add(1, Ordering::Relaxed);
                    n += CONCURRENCY as u64;
                }
            })
        })
        .collect();
    tokio::time::sleep(secs()).await;
    stop.store(true, Ordering::Relaxed);
    let rate = count.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
    for t in tasks {
        t.await.expect("task");
    }
    rate
}

/// One integration on the engine, with its outcome stream and the count of jobs fed so far.
struct Running {
    integration: signal_forward::Integration,
    rx: mpsc::UnboundedReceiver<signal_forward::Outcome>,
    sent: u64,
    delivered: u64,
    metadata: bool,
}

impl Running {
    fn start(base: &str, metadata: bool) -> Self {
        let bp = Blueprint::get("pendo").expect("embedded");
        let mut cfg = ForwardConfig::new("bench", bp, base, "bench-key");
        cfg.rate_limit_per_second = 1_000_000;
        cfg.concurrency = CONCURRENCY;
        let (tx, rx) = mpsc::unbounded_channel();
        let integration = Engine::new().start(cfg, tx);
        Self {
            integration,
            rx,
            sent: 0,
            delivered: 0,
            metadata,
        }
    }

    fn job(&self, n: u64) -> Job {
        if self.metadata {
            Job::Metadata {
                id: n,
                kind: MetadataKind::Visitor,
                record_id: format!("user-{n}"),
                fields: vec![
                    (
                        Bytes::from_static(b"\"plan\""),
                        Bytes::from_static(b"\"pro\""),
                    ),
                    (Bytes::from_static(b"\"seats\""), Bytes::from(n.to_string())),
                ],
            }
        } else {
            Job::Track {
                id: n,
                body: body(n),
            }
        }
    }

    /// Events delivered per second over `window`, the queue kept full.
    async fn measure(&mut self, window: Duration) -> f64 {
        let start = Instant::now();
        let before = self.delivered;
        while start.elapsed() < window {
            while self.sent < self.delivered + 20_000 {
                self.integration.deliver(self.job(self.sent));
                self.sent += 1;
            }
            match tokio::time::timeout(Duration::from_millis(100), self.rx.recv()).await {
                Ok(Some(o)) if o.kind == OutcomeKind::Delivered => self.delivered += 1,
                Ok(Some(o)) => panic!("not delivered: {o:?}"),
                _ => {}
            }
            while let Ok(o) = self.rx.try_recv() {
                assert_eq!(o.kind, OutcomeKind::Delivered, "{o:?}");
                self.delivered += 1;
            }
        }
        (self.delivered - before) as f64 / start.elapsed().as_secs_f64()
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let subs = Subscriptions::new();
        subs.add("bench-key", "us");
        let sim = Sim::start("us", subs).await.expect("sandbox");
        let url = format!("{}/data/track", sim.base_url());
        println!("delivery benchmark: sandbox and client on this 2-core machine, {CONCURRENCY} requests in flight, {:.1} s each", secs().as_secs_f64());
        // Paired rounds, bare then engine, because this machine's speed drifts within a minute.
        const ROUNDS: usize = 5;
        let client = bare_client();
        let mut engine = Running::start(&sim.base_url(), false);
        let (mut bares, mut tracks, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let b = bare(&client, &url).await;
            sim.clear();
            let t = engine.measure(secs()).await;
            sim.clear();
            bares.push(b);
            tracks.push(t);
            ratios.push(t / b);
        }
        engine.integration.stop().await;
        let mut meta = Running::start(&sim.base_url(), true);
        let records = meta.measure(secs()).await;
        let requests = sim.stats().accepted;
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let all: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
        let (b, t, r) = (median(&mut bares), median(&mut tracks), median(&mut ratios));
        println!("| what | per second (median of {ROUNDS} rounds) | against the bare client |");
        println!("|---|---|---|");
        println!("| bare hyper client loop, Track bodies (the ceiling) | {b:.0} requests | 1.00x |");
        println!("| signal-forward, Track events (one request each) | {t:.0} requests | {r:.2}x (rounds: {}) |", all.join(", "));
        println!("| signal-forward, visitor metadata records (batched, {requests} requests) | {records:.0} records | |");
    });
}
