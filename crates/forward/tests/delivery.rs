//! The delivery engine against the Pendo sandbox, in-process over loopback: what a user would
//! see arrive at Pendo, and what happens when Pendo misbehaves.

use bytes::Bytes;
use signal_core::request::{Target, resolve};
use signal_core::{Blueprint, Mapped, Mapper, MemoryIdentity, Parser, Shape};
use signal_forward::{Engine, ForwardConfig, Job, JobBody, Outcome, OutcomeKind, RetryPolicy};
use signal_sandbox::{FaultPlan, Sim, Subscriptions};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

#[allow(dead_code)] // this file uses only some of the shared helpers
mod support;
use support::finals;

fn pendo() -> &'static Blueprint {
    Blueprint::get("pendo").expect("embedded")
}

/// The index of Pendo's request `name` (`track`, `visitors`, `accounts`).
fn request(name: &str) -> usize {
    pendo().request_index(name).expect("Pendo's request")
}

/// A region's base URL: the blueprint's variable if `env` sets it, else the vendor's host (as
/// the server's settings read it).
fn region_base_url_from(
    bp: &Blueprint,
    region: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    env(&bp.base_url_env(region)).or_else(|| bp.base_url(region).map(str::to_owned))
}

/// Pendo's targets from its blueprint (header auth; Track unbatched; metadata batched 500 and
/// merged by id into `values`, an array body) for `key` at `base_url`, with a 50 ms linger.
fn targets(base_url: &str, key: &str) -> Vec<Target> {
    let config = serde_json::json!({"integration_key": key});
    let mut targets = resolve(
        &pendo().requests,
        config.as_object().expect("object"),
        base_url,
    )
    .expect("Pendo's requests resolve");
    for t in &mut targets {
        if let Some(b) = &mut t.batch {
            b.linger_ms = 50;
        }
    }
    targets
}

/// Fast retries, a high rate, quick probes: the policy's shape with test-sized numbers.
fn config(id: &str, base_url: &str, key: &str) -> ForwardConfig {
    let mut c = ForwardConfig::new(id, pendo(), targets(base_url, key));
    c.rate_limit_per_second = 20_000;
    c.retry = RetryPolicy {
        base: Duration::from_millis(20),
        cap: Duration::from_millis(200),
        max_attempts: 5,
        max_age: Duration::from_secs(3600),
    };
    c.timeout = Duration::from_secs(2);
    c.probe_interval = Duration::from_millis(200);
    c
}

async fn sim(region: &str, key: &str) -> (Sim, Arc<Subscriptions>) {
    let subs = Subscriptions::new();
    subs.add(key, region);
    (Sim::start(region, subs.clone()).await.expect("sim"), subs)
}

fn map_all(events: &[&str]) -> Vec<Job> {
    let mut mapper = Mapper::from_config(
        "pendo",
        &serde_json::json!({"api_key": "a", "integration_key": "k"}),
    )
    .expect("mapper");
    let ids = MemoryIdentity::new();
    let mut parser = Parser::new();
    let mut jobs = Vec::new();
    for (i, src) in events.iter().enumerate() {
        let mut buf = src.as_bytes().to_vec();
        let doc = parser.parse(&mut buf, Shape::Event(None)).expect("valid");
        let ev = doc.event(0).expect("valid");
        match mapper.map(&ev, &ids, 1_764_140_000_000).outcome {
            Mapped::Send(items) => {
                jobs.extend(items.iter().map(|it| Job::from_item(i as u64, &it)))
            }
            Mapped::Dropped(d) => panic!("dropped: {d}"),
        }
    }
    jobs
}

/// A Track job.
fn item(id: u64, body: Bytes) -> Job {
    Job {
        id,
        request: request("track"),
        body: JobBody::Item(body),
        hold: None,
    }
}

fn track(n: u64) -> Job {
    item(
        n,
        Bytes::from(format!(
            r#"{{"type":"track","event":"e","visitorId":"v","timestamp":1,"properties":{{"n":{n}}}}}"#
        )),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_mapping_row_arrives_as_the_exact_track_body_with_its_headers() {
    let (sim, _subs) = sim("us", "ik-us").await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let engine = Engine::new();
    let integration = engine.start(config("i1", &sim.base_url(), "ik-us"), tx);
    let events = [
        r#"{"type":"page","userId":"u-123","name":"Settings","context":{"groupId":"acme","page":{"url":"https://app.example.com/settings","title":"Settings","referrer":""}},"timestamp":1732608000000}"#,
        r#"{"type":"track","event":"Product Viewed","userId":"u-123","properties":{"product_id":"p1","price":9.5},"timestamp":1732608000001}"#,
        r#"{"type":"track","event":"Order Completed","userId":"u-123","properties":{"order_id":"o1","total":19,"products":[{"sku":"s"}]},"timestamp":1732608000002}"#,
        r#"{"type":"track","event":"feature_used","userId":"u-123","properties":{"feature":"export"},"timestamp":1732608000003}"#,
    ];
    let jobs = map_all(&events);
    let expected: Vec<Bytes> = jobs
        .iter()
        .map(|j| match &j.body {
            JobBody::Item(body) => body.clone(),
            JobBody::Merge { .. } => unreachable!(),
        })
        .collect();
    // One at a time, so arrival order is the sending order.
    for job in jobs {
        integration.deliver(job);
        let got = finals(&mut rx, 1, Duration::from_secs(5)).await;
        assert_eq!(
            got.last().map(|o| o.kind),
            Some(OutcomeKind::Delivered),
            "{got:?}"
        );
    }
    let requests = sim.requests();
    assert_eq!(requests.len(), 4);
    for (r, body) in requests.iter().zip(&expected) {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/data/track");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("x-pendo-integration-key"), Some("ik-us"));
        assert_eq!(r.body, body.to_vec());
    }
    let events: Vec<String> = requests
        .iter()
        .map(|r| {
            serde_json::from_slice::<serde_json::Value>(&r.body).expect("json")["event"].to_string()
        })
        .collect();
    assert_eq!(
        events,
        [
            r#""page_view""#,
            r#""product_viewed""#,
            r#""purchase""#,
            r#""feature_used""#
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identify_and_group_traits_arrive_as_merged_metadata_batches() {
    let (sim, _subs) = sim("us", "ik").await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let integration = Engine::new().start(config("i", &sim.base_url(), "ik"), tx);
    let jobs = map_all(&[
        r#"{"type":"identify","userId":"u1","traits":{"plan":"free","seats":1}}"#,
        r#"{"type":"identify","userId":"u2","traits":{"plan":"pro"}}"#,
        r#"{"type":"identify","userId":"u1","traits":{"plan":"pro","email":"a@b"}}"#,
        r#"{"type":"group","userId":"u1","groupId":"acme","traits":{"name":"Acme","industry":"saas"}}"#,
    ]);
    for job in jobs {
        integration.deliver(job);
    }
    let got = finals(&mut rx, 4, Duration::from_secs(5)).await;
    assert_eq!(
        got.iter()
            .filter(|o| o.kind == OutcomeKind::Delivered)
            .count(),
        4,
        "{got:?}"
    );
    let mut requests = sim.requests();
    requests.sort_by(|a, b| a.path.cmp(&b.path));
    assert_eq!(requests.len(), 2, "one request per kind: {requests:?}");
    assert_eq!(requests[0].path, "/api/v1/metadata/account/custom/value");
    assert_eq!(
        String::from_utf8_lossy(&requests[0].body),
        r#"[{"accountId":"acme","values":{"name_custom":"Acme","industry":"saas"}}]"#
    );
    assert_eq!(requests[1].path, "/api/v1/metadata/visitor/custom/value");
    assert_eq!(
        String::from_utf8_lossy(&requests[1].body),
        r#"[{"visitorId":"u1","values":{"plan":"pro","seats":1,"email_custom":"a@b"}},{"visitorId":"u2","values":{"plan":"pro"}}]"#
    );
    assert_eq!(requests[1].header("x-pendo-integration-key"), Some("ik"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_region_reaches_its_own_base_url() {
    let subs = Subscriptions::new();
    let regions = ["us", "eu", "us1", "jpn", "au"];
    let mut sims = HashMap::new();
    let mut env = HashMap::new();
    for r in regions {
        subs.add(&format!("key-{r}"), r);
        let s = Sim::start(r, subs.clone()).await.expect("sim");
        env.insert(
            format!("SIGNAL_PENDO_BASE_URL_{}", r.to_uppercase()),
            s.base_url(),
        );
        sims.insert(r, s);
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let engine = Engine::new();
    let mut running = Vec::new();
    for (i, r) in regions.iter().enumerate() {
        let base = region_base_url_from(pendo(), r, |name| env.get(name).cloned()).expect("region");
        let integration = engine.start(
            config(&format!("int-{r}"), &base, &format!("key-{r}")),
            tx.clone(),
        );
        integration.deliver(track(i as u64));
        running.push(integration);
    }
    let got = finals(&mut rx, 5, Duration::from_secs(5)).await;
    assert_eq!(
        got.iter()
            .filter(|o| o.kind == OutcomeKind::Delivered)
            .count(),
        5,
        "{got:?}"
    );
    for (i, r) in regions.iter().enumerate() {
        let reqs = sims[r].requests();
        assert_eq!(reqs.len(), 1, "{r}");
        assert!(
            String::from_utf8_lossy(&reqs[0].body).contains(&format!(r#""n":{i}"#)),
            "{r}"
        );
    }
    // And without overrides, each region's real host.
    assert_eq!(
        region_base_url_from(pendo(), "eu", |_| None).as_deref(),
        Some("https://app.eu.pendo.io")
    );
    assert_eq!(
        region_base_url_from(pendo(), "jpn", |_| None).as_deref(),
        Some("https://app.jpn.pendo.io")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_fifth_of_requests_failing_ten_thousand_events_all_arrive() {
    let (sim, _subs) = sim("us", "ik").await;
    sim.set_faults(FaultPlan {
        error_rate: 0.10,
        reset_before_rate: 0.05,
        reset_after_rate: 0.05,
        ..FaultPlan::default()
    });
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut cfg = config("i", &sim.base_url(), "ik");
    cfg.retry.max_attempts = 20;
    cfg.concurrency = 64;
    let integration = Engine::new().start(cfg, tx);
    const N: u64 = 10_000;
    for n in 0..N {
        integration.deliver(track(n));
    }
    let got = finals(&mut rx, N as usize, Duration::from_secs(120)).await;
    let delivered: BTreeSet<u64> = got
        .iter()
        .filter(|o| o.kind == OutcomeKind::Delivered)
        .map(|o| o.id)
        .collect();
    assert_eq!(delivered.len() as u64, N, "every event delivered");
    let mut arrivals: BTreeMap<String, u32> = BTreeMap::new();
    for r in sim.requests() {
        *arrivals
            .entry(String::from_utf8_lossy(&r.body).into_owned())
            .or_default() += 1;
    }
    assert_eq!(arrivals.len() as u64, N, "every event arrived at Pendo");
    let duplicates: u32 = arrivals.values().map(|c| c - 1).sum();
    let stats = sim.stats();
    // A duplicate only where Pendo handled a request and the answer was lost.
    assert!(
        u64::from(duplicates) <= stats.resets_after,
        "{duplicates} duplicates, {stats:?}"
    );
    let retries = got
        .iter()
        .filter(|o| o.kind == OutcomeKind::Retrying)
        .count();
    assert!(
        retries as u64 >= stats.errors,
        "{retries} retries for {stats:?}"
    );
    eprintln!(
        "10,000 events: {} injected failures ({} 5xx, {} closed before, {} answers lost), {retries} retries, {duplicates} duplicates",
        stats.errors + stats.resets_before + stats.resets_after,
        stats.errors,
        stats.resets_before,
        stats.resets_after
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_retry_after_holds_every_request_of_the_integration() {
    let (sim, _subs) = sim("us", "ik").await;
    sim.set_faults(FaultPlan {
        throttle_next: 1,
        retry_after_secs: 2,
        ..FaultPlan::default()
    });
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut cfg = config("i", &sim.base_url(), "ik");
    // Retry-After is honoured up to the retry policy's cap; 2 s is within this one.
    cfg.retry.cap = Duration::from_secs(5);
    let integration = Engine::new().start(cfg, tx);
    integration.deliver(track(0));
    // The 429 comes back as a retrying outcome.
    let first = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("outcome")
        .expect("open");
    let throttled_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    assert_eq!(first.kind, OutcomeKind::Retrying);
    assert_eq!(first.reason.as_deref(), Some("status_429"));
    for n in 1..20 {
        integration.deliver(track(n));
    }
    let got = finals(&mut rx, 20, Duration::from_secs(10)).await;
    assert_eq!(
        got.iter()
            .filter(|o| o.kind == OutcomeKind::Delivered)
            .count(),
        20
    );
    let earliest = sim
        .requests()
        .iter()
        .map(|r| r.at_ms)
        .min()
        .expect("requests");
    assert!(
        earliest + 50 >= throttled_at + 2000,
        "a request came {} ms after the 429",
        earliest as i64 - throttled_at as i64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_send_rate_stays_within_ten_percent_of_the_limit() {
    let (sim, _subs) = sim("us", "ik").await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut cfg = config("i", &sim.base_url(), "ik");
    cfg.rate_limit_per_second = 50;
    let integration = Engine::new().start(cfg, tx);
    const N: u64 = 300; // six seconds at 50/s
    for n in 0..N {
        integration.deliver(track(n));
    }
    let got = finals(&mut rx, N as usize, Duration::from_secs(20)).await;
    assert_eq!(got.len() as u64, N);
    let times: Vec<u64> = sim.requests().iter().map(|r| r.at_ms).collect();
    let span = (times[times.len() - 1] - times[0]) as f64 / 1000.0;
    assert!(span >= 5.0, "measured over {span} s");
    let rate = (times.len() - 1) as f64 / span;
    assert!(
        (45.0..=55.0).contains(&rate),
        "{rate:.1} requests/s for a limit of 50"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_pauses_the_integration_holds_its_events_and_a_new_key_sends_them_all() {
    let (sim, _subs) = sim("us", "right-key").await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut cfg = config("i", &sim.base_url(), "wrong-key");
    cfg.probe_interval = Duration::from_secs(3600);
    let integration = Engine::new().start(cfg.clone(), tx);
    for n in 0..20 {
        integration.deliver(track(n));
    }
    let first = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("outcome")
        .expect("open");
    assert_eq!(first.kind, OutcomeKind::Failed);
    let d = first.diagnosis.expect("a diagnosis");
    assert_eq!(d.code, "invalid_integration_key");
    assert_eq!(
        d.fix,
        "Regenerate the Track API integration key in Pendo and update the integration."
    );
    assert_eq!(first.response.map(|r| r.status), Some(401));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        sim.requests().is_empty(),
        "nothing accepted with a wrong key"
    );
    while let Ok(o) = rx.try_recv() {
        assert_ne!(
            o.kind,
            OutcomeKind::DeadLettered,
            "held, not dropped: {o:?}"
        );
    }
    cfg.targets = targets(&sim.base_url(), "right-key");
    integration.update(cfg);
    let got = finals(&mut rx, 20, Duration::from_secs(5)).await;
    let delivered: BTreeSet<u64> = got
        .iter()
        .filter(|o| o.kind == OutcomeKind::Delivered)
        .map(|o| o.id)
        .collect();
    assert_eq!(delivered, (0..20).collect());
    assert_eq!(sim.requests().len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_of_another_region_pauses_with_wrong_data_region_and_a_probe_resumes() {
    let subs = Subscriptions::new();
    subs.add("eu-key", "eu");
    let us = Sim::start("us", subs.clone()).await.expect("sim");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let integration = Engine::new().start(config("i", &us.base_url(), "eu-key"), tx);
    integration.deliver(track(1));
    let first = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("outcome")
        .expect("open");
    assert_eq!(
        first.diagnosis.map(|d| d.code).as_deref(),
        Some("wrong_data_region")
    );
    // Pendo sorts the subscription out: the next probe succeeds and delivery resumes by itself.
    subs.add("eu-key", "us");
    let got = finals(&mut rx, 1, Duration::from_secs(5)).await;
    assert_eq!(
        got.last().map(|o| o.kind),
        Some(OutcomeKind::Delivered),
        "{got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_body_dead_letters_that_event_only() {
    let (sim, _subs) = sim("us", "ik").await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let integration = Engine::new().start(config("i", &sim.base_url(), "ik"), tx);
    integration.deliver(item(7, Bytes::from_static(br#"{"type":"track"}"#)));
    integration.deliver(track(8));
    let got = finals(&mut rx, 2, Duration::from_secs(5)).await;
    let by_id: HashMap<u64, &Outcome> = got.iter().map(|o| (o.id, o)).collect();
    let dead = by_id[&7];
    assert_eq!(dead.kind, OutcomeKind::DeadLettered);
    assert_eq!(dead.reason.as_deref(), Some("vendor_rejected: status_400"));
    let response = dead.response.clone().expect("response");
    assert_eq!(response.status, 400);
    let text = response.body_text(4096);
    assert!(text.contains("event is required"), "{text}");
    assert_eq!(by_id[&8].kind, OutcomeKind::Delivered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_last_attempt_an_event_is_dead_lettered_with_the_last_answer() {
    let (sim, _subs) = sim("us", "ik").await;
    sim.set_faults(FaultPlan {
        error_rate: 1.0,
        ..FaultPlan::default()
    });
    let (tx, mut rx) = mpsc::unbounded_channel();
    let integration = Engine::new().start(config("i", &sim.base_url(), "ik"), tx);
    integration.deliver(track(1));
    let got = finals(&mut rx, 1, Duration::from_secs(10)).await;
    let kinds: Vec<OutcomeKind> = got.iter().map(|o| o.kind).collect();
    assert_eq!(
        kinds,
        [
            OutcomeKind::Retrying,
            OutcomeKind::Retrying,
            OutcomeKind::Retrying,
            OutcomeKind::Retrying,
            OutcomeKind::DeadLettered
        ]
    );
    let last = got.last().expect("last");
    assert_eq!(last.attempt, 5);
    assert!(
        last.reason
            .as_deref()
            .is_some_and(|r| r.starts_with("max_attempts: status_50")),
        "{last:?}"
    );
}

/// The worker cuts a request off at the integration's timeout (its own timer, not one per
/// request): the event is retried, says `timeout`, and is delivered once the vendor answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vendor_silent_past_the_timeout_is_cut_off_and_the_event_retried() {
    let (sim, _subs) = sim("us", "ik").await;
    sim.set_faults(FaultPlan {
        stall_rate: 1.0,
        stall: Duration::from_secs(30),
        ..FaultPlan::default()
    });
    let engine = Engine::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut cfg = config("t", &sim.base_url(), "ik");
    cfg.timeout = Duration::from_millis(300);
    let integration = engine.start(cfg, tx);
    let start = Instant::now();
    integration.deliver(track(1));
    let first = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("an outcome long before the vendor's 30 s stall ends")
        .expect("the engine runs");
    let took = start.elapsed();
    assert_eq!(first.kind, OutcomeKind::Retrying, "{first:?}");
    assert_eq!(first.reason.as_deref(), Some("timeout"), "{first:?}");
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "cut off after {took:?}"
    );
    sim.set_faults(FaultPlan::default());
    let got = finals(&mut rx, 1, Duration::from_secs(10)).await;
    assert_eq!(got[0].kind, OutcomeKind::Delivered, "{:?}", got[0]);
    assert!(got[0].attempt >= 2, "{:?}", got[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_integration_does_not_slow_another() {
    let subs = Subscriptions::new();
    subs.add("slow-key", "us");
    subs.add("fast-key", "eu");
    let slow = Sim::start("us", subs.clone()).await.expect("sim");
    let fast = Sim::start("eu", subs.clone()).await.expect("sim");
    slow.set_faults(FaultPlan {
        stall_rate: 1.0,
        stall: Duration::from_secs(30),
        ..FaultPlan::default()
    });
    let engine = Engine::new();
    let (slow_tx, _slow_rx) = mpsc::unbounded_channel();
    let (fast_tx, mut fast_rx) = mpsc::unbounded_channel();
    let mut slow_cfg = config("slow", &slow.base_url(), "slow-key");
    slow_cfg.timeout = Duration::from_secs(10);
    let stalled = engine.start(slow_cfg, slow_tx);
    for n in 0..500 {
        stalled.deliver(track(n));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let quick = engine.start(config("fast", &fast.base_url(), "fast-key"), fast_tx);
    let start = Instant::now();
    for n in 0..200 {
        quick.deliver(track(n));
    }
    let got = finals(&mut fast_rx, 200, Duration::from_secs(5)).await;
    let took = start.elapsed();
    assert_eq!(
        got.iter()
            .filter(|o| o.kind == OutcomeKind::Delivered)
            .count(),
        200
    );
    assert!(
        took < Duration::from_secs(2),
        "the fast integration took {took:?}"
    );
    assert!(slow.requests().is_empty(), "the slow one is still stalled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_halves_the_effective_rate() {
    let (sim, _subs) = sim("us", "ik").await;
    sim.set_faults(FaultPlan {
        throttle_next: 1,
        retry_after_secs: 1,
        ..FaultPlan::default()
    });
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut cfg = config("i", &sim.base_url(), "ik");
    cfg.rate_limit_per_second = 40;
    let integration = Engine::new().start(cfg, tx);
    for n in 0..200 {
        integration.deliver(track(n));
    }
    let _ = finals(&mut rx, 200, Duration::from_secs(4)).await;
    let times: Vec<u64> = sim.requests().iter().map(|r| r.at_ms).collect();
    let first = *times.first().expect("requests after the hold");
    // Two seconds after the hold: at the halved rate of 20/s, about 40 requests, not 80.
    let in_two_seconds = times.iter().filter(|&&t| t < first + 2000).count();
    assert!(
        (30..=55).contains(&in_two_seconds),
        "{in_two_seconds} requests in the 2 s after a 429 with a limit of 40/s"
    );
}
