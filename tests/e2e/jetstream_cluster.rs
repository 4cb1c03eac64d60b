//! A node on a three-server NATS cluster with streams of three replicas
//! (`SIGNAL_NATS_REPLICAS=3`): the events stream's leader is killed while batches arrive.
//! Every event answered 200 reaches Pendo (so none was answered 200 before JetStream stored
//! it), every other answer is a 503 with `Retry-After` within seconds, and the node is ready
//! again on the two servers left, then on all three once the third is back.

use crate::harness::{Edge, KEY, sandbox, track_bodies};
use crate::jetstream::nats_server::NatsCluster;
use crate::jetstream::node_on;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Events per batch.
const BATCH: u64 = 50;

/// Concurrent senders.
const SENDERS: u64 = 4;

/// Events answered 200 before the kill, and after it, that the test waits for.
const BEFORE: u64 = 1_500;
const AFTER: u64 = 1_500;

/// The longest one request may take: the node gives an append up after 10 s.
const REQUEST: Duration = Duration::from_secs(20);

/// A batch of track events numbered `ns`, each with its own messageId.
fn batch(ns: std::ops::Range<u64>) -> Bytes {
    let events: Vec<_> = ns
        .map(|n| {
            json!({"type": "track", "userId": "u", "event": "E",
            "messageId": format!("c{n}"), "properties": {"n": n}})
        })
        .collect();
    Bytes::from(json!({ "batch": events }).to_string())
}

/// What one request got: its status and `Retry-After`, or why there was none.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Answer {
    Status(u16, Option<String>),
    NoAnswer(String),
}

/// POSTs `body` to the node's `/v1/batch`, giving up after [`REQUEST`].
async fn send(edge: &Edge, body: Bytes) -> Answer {
    let req = hyper::Request::post(format!("{}/v1/batch", edge.ingest))
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {KEY}"))
        .body(Full::new(body))
        .expect("request");
    let answer = async {
        let resp = edge.client.request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let retry = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        // The whole body, so the connection is free for the next request.
        resp.into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(Answer::Status(status, retry))
    };
    match tokio::time::timeout(REQUEST, answer).await {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => Answer::NoAnswer(e),
        Err(_) => Answer::NoAnswer(format!("no answer within {} s", REQUEST.as_secs())),
    }
}

/// What the senders saw: the events answered 200, and how many times each answer came.
#[derive(Default)]
struct Sent {
    accepted: BTreeSet<u64>,
    answers: BTreeMap<Answer, u64>,
}

/// `SENDERS` senders of `BATCH` events until `stop`; a batch not answered 200 is sent again
/// (the same messageIds), as a client told 503 would. `accepted` counts events answered 200.
async fn send_until(edge: Arc<Edge>, stop: Arc<AtomicBool>, accepted: Arc<AtomicU64>) -> Sent {
    let senders: Vec<_> = (0..SENDERS)
        .map(|s| {
            let (edge, stop, accepted) = (edge.clone(), stop.clone(), accepted.clone());
            tokio::spawn(async move {
                let mut sent = Sent::default();
                let mut next = s * 1_000_000;
                while !stop.load(Ordering::Relaxed) {
                    let ns = next..next + BATCH;
                    let answer = send(&edge, batch(ns.clone())).await;
                    *sent.answers.entry(answer.clone()).or_default() += 1;
                    if answer == Answer::Status(200, None) {
                        sent.accepted.extend(ns);
                        accepted.fetch_add(BATCH, Ordering::Relaxed);
                        next += BATCH;
                    } else {
                        // Not the 5 s `Retry-After` asks: the test would mostly wait.
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
                sent
            })
        })
        .collect();
    let mut all = Sent::default();
    for s in senders {
        let s = s.await.expect("sender");
        all.accepted.extend(s.accepted);
        for (a, n) in s.answers {
            *all.answers.entry(a).or_default() += n;
        }
    }
    all
}

async fn wait_for(accepted: &AtomicU64, n: u64, what: &str) {
    let start = Instant::now();
    while accepted.load(Ordering::Relaxed) < n {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what}: {} of {n} events answered 200 within 30 s",
            accepted.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits up to `secs` for `/readyz` to answer 200.
async fn ready_within(edge: &Edge, secs: u64, what: &str) {
    let start = Instant::now();
    while edge.text("/readyz").await.0 != 200 {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "{what}: not ready within {secs} s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How many times Pendo got each numbered track event.
fn delivered(sim: &signal_sandbox::Sim) -> BTreeMap<u64, u64> {
    let mut counts = BTreeMap::new();
    for b in track_bodies(sim) {
        if let Some(n) = b["properties"]["n"].as_u64() {
            *counts.entry(n).or_default() += 1;
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_nats_server_under_load_loses_no_event_answered_200() {
    let mut cluster = NatsCluster::start();
    let (sim, _subs) = sandbox("us", "ik").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let edge = node_on(
        &cluster,
        dir.path(),
        &sim,
        &[("SIGNAL_NATS_REPLICAS", "3".into())],
    )
    .await;
    let id = edge
        .install(json!({"api_key": "a", "integration_key": "ik"}))
        .await;
    // Above what the senders send, so delivery waits on the log, not on the rate limit: at
    // Pendo's default 100/s the few thousand events would take most of a minute to deliver.
    let (s, v) = edge
        .admin(
            "PATCH",
            &format!("/v1/admin/integrations/{id}"),
            Some(json!({"rate_limit_per_second": 100_000})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    ready_within(&edge, 10, "on three servers").await;
    let edge = Arc::new(edge);

    let (stop, accepted) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let sending = tokio::spawn(send_until(edge.clone(), stop.clone(), accepted.clone()));
    wait_for(&accepted, BEFORE, "before the kill").await;
    // The events stream's leader: appends in flight are lost with it and the next ones have
    // no stream to go to until the two left elect one (many more 503s, so many more chances
    // of a 200 too many, than killing a follower the node is connected to; signal-nats'
    // cluster tests kill that one too).
    let victim = cluster
        .stream_leader("SIGNAL_EVENTS")
        .expect("the events stream has a leader");
    let on = cluster.connected("signal-edge");
    cluster.kill(victim);
    let at_kill = accepted.load(Ordering::Relaxed);
    wait_for(
        &accepted,
        at_kill + AFTER,
        "the node takes events again on two of three servers",
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    let sent = sending.await.expect("senders");
    eprintln!(
        "killed server {victim}, the events stream's leader (the node was connected to \
         {on:?}): answers {:?}",
        sent.answers
    );
    for answer in sent.answers.keys() {
        assert!(
            matches!(answer, Answer::Status(200, None))
                || matches!(answer, Answer::Status(503, Some(_))),
            "a 200, or a 503 with Retry-After, within {} s: got {answer:?} ({:?})",
            REQUEST.as_secs(),
            sent.answers
        );
    }
    ready_within(&edge, 20, "on two of three servers").await;

    // The third server back (waiting, blocking, until it has caught up: off the workers the
    // sandbox answers on): events still go in and out.
    tokio::task::block_in_place(|| cluster.restart(victim));
    let more = 9_000_000..9_000_000 + BATCH;
    let start = Instant::now();
    loop {
        match send(&edge, batch(more.clone())).await {
            Answer::Status(200, None) => break,
            // The member rejoining may move a leader: a 503 to try again is honest.
            Answer::Status(503, Some(_)) if start.elapsed() < Duration::from_secs(20) => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => panic!("with all three servers back: {other:?}"),
        }
    }
    ready_within(&edge, 10, "on three servers again").await;

    let mut want = sent.accepted.clone();
    want.extend(more);
    let start = Instant::now();
    let got = loop {
        let got = delivered(&sim);
        let missing = want.iter().filter(|n| !got.contains_key(n)).count();
        if missing == 0 {
            break got;
        }
        if start.elapsed() > Duration::from_secs(30) {
            // Where they are: still in the stream (its consumer's pending counts), held in
            // the node (in flight), or nowhere.
            eprintln!("JetStream's /jsz: {}", cluster.jsz());
            let stats = format!("/v1/admin/integrations/{id}/stats");
            panic!(
                "{missing} of {} events answered 200 not at Pendo within 30 s, e.g. {:?}; \
                 the node's stats: {}; Pendo's: {:?}",
                want.len(),
                want.iter()
                    .filter(|n| !got.contains_key(n))
                    .take(10)
                    .collect::<Vec<_>>(),
                edge.admin("GET", &stats, None).await.1,
                sim.stats()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let twice: u64 = got.values().map(|&c| c - 1).sum();
    let unasked = got.keys().filter(|n| !want.contains(n)).count();
    eprintln!(
        "{} events answered 200, all at Pendo; {twice} delivered more than once; {unasked} \
         delivered of batches answered 503 and stopped before a 200",
        want.len()
    );
}
