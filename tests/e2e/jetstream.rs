//! A node whose event log is NATS JetStream (`SIGNAL_LOG_BACKEND=nats://...`), against a real
//! `nats-server` the tests start: what is accepted is delivered, survives the node's kill, and
//! a JetStream that cannot be reached gets 503s, never a 200.

use crate::harness::{Edge, delivered_ns, eventually, failing, sandbox};
use serde_json::{Value, json};
use std::time::Duration;

#[path = "../../crates/nats/tests/support/mod.rs"]
pub(crate) mod nats_server;
use nats_server::NatsServer;

/// A node on `nats` (one server or a cluster) against a Pendo sandbox (`ik`), with `env` too.
pub(crate) async fn node_on(
    nats: &impl nats_server::LogBackend,
    dir: &std::path::Path,
    sim: &signal_sandbox::Sim,
    env: &[(&str, String)],
) -> Edge {
    let mut all = vec![
        ("SIGNAL_PENDO_BASE_URL_US", sim.base_url()),
        ("SIGNAL_LOG_BACKEND", nats.log_backend()),
        ("SIGNAL_NATS_ACK_WAIT_SECS", "2".into()),
        // A server sets the events stream's whole size aside at its creation, from three
        // quarters of the free disk: the default 10 GiB does not fit every test machine.
        (
            "SIGNAL_SPOOL_MAX_BYTES",
            nats_server::STREAM_BYTES.to_string(),
        ),
    ];
    all.extend(env.iter().cloned());
    Edge::start(dir, &all)
}

/// A JetStream server, a Pendo sandbox (`ik`) and a node on both (with `env` too), Pendo
/// installed: its id last. Bound in this order, they drop in reverse (the node before its
/// directory, the server last).
async fn pendo_on_nats(
    env: &[(&str, String)],
) -> (
    NatsServer,
    signal_sandbox::Sim,
    tempfile::TempDir,
    Edge,
    String,
) {
    let nats = NatsServer::start();
    let (sim, _subs) = sandbox("us", "ik").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let edge = node_on(&nats, dir.path(), &sim, env).await;
    let id = edge
        .install(json!({"api_key": "a", "integration_key": "ik"}))
        .await;
    (nats, sim, dir, edge, id)
}

fn batch(ns: std::ops::Range<u64>) -> Value {
    json!({"batch": ns.map(|n| json!({"type": "track", "userId": "u", "event": "E",
        "messageId": format!("m{n}"), "properties": {"n": n}})).collect::<Vec<_>>()})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_on_jetstream_delivers_what_it_accepted_once() {
    let (_nats, sim, _dir, edge, _id) = pendo_on_nats(&[]).await;
    for start in (0..300).step_by(100) {
        let (s, v) = edge.ingest("/v1/batch", batch(start..start + 100)).await;
        assert_eq!(s, 200, "{v}");
    }
    let local = edge.spool_bytes().await;
    assert!(
        local < 1024,
        "the events went to JetStream, not the local spool (its segments hold {local} bytes)"
    );
    eventually("300 events at Pendo", || delivered_ns(&sim).len() == 300).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        crate::harness::track_bodies(&sim).len(),
        300,
        "each delivered once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_a_killed_node_accepted_are_delivered_after_it_restarts() {
    let (nats, sim, dir, edge, _id) = pendo_on_nats(&[]).await;
    sim.set_faults(failing());
    let (s, v) = edge.ingest("/v1/batch", batch(0..50)).await;
    assert_eq!(s, 200, "{v}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    edge.kill(); // SIGKILL: nothing written on the way out
    assert!(delivered_ns(&sim).is_empty());
    sim.set_faults(signal_sandbox::FaultPlan::default());
    let _again = node_on(&nats, dir.path(), &sim, &[]).await;
    // What the dead node held comes back once its ack wait (2 s) passes.
    let want: std::collections::BTreeSet<i64> = (0..50).collect();
    let start = std::time::Instant::now();
    while delivered_ns(&sim) != want {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "delivered {:?}",
            delivered_ns(&sim)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_jetstream_the_gateway_answers_503_and_recovers_when_it_is_back() {
    let (mut nats, sim, _dir, edge, _id) = pendo_on_nats(&[]).await;
    let (s, _) = edge.text("/readyz").await;
    assert_eq!(s, 200);
    nats.kill();
    let (s, v) = edge.ingest("/v1/batch", batch(0..10)).await;
    assert_eq!(s, 503, "never a 200 JetStream did not acknowledge: {v}");
    assert_eq!(v["error"]["code"], "UNAVAILABLE", "{v}");
    let (s, _) = edge.text("/readyz").await;
    assert_eq!(s, 503, "not ready while JetStream is away");
    nats.restart();
    // Ready again with no request sent: the node probes JetStream while appends fail.
    let start = std::time::Instant::now();
    while edge.text("/readyz").await.0 != 200 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "ready again once JetStream is back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let start = std::time::Instant::now();
    loop {
        let (s, _) = edge.ingest("/v1/batch", batch(0..10)).await;
        if s == 200 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the node reconnects by itself"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (s, _) = edge.text("/readyz").await;
    assert_eq!(s, 200);
    eventually("the 10 events at Pendo", || delivered_ns(&sim).len() == 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_on_jetstream_are_listed_and_replayed_through_the_api() {
    let (_nats, sim, _dir, edge, id) =
        pendo_on_nats(&[("SIGNAL_RETRY_MAX_ATTEMPTS", "1".into())]).await;
    sim.set_faults(failing());
    let (s, v) = edge.ingest("/v1/batch", batch(0..3)).await;
    assert_eq!(s, 200, "{v}");
    let path = format!("/v1/admin/integrations/{id}/dead-letters");
    let page = edge
        .poll(&path, |v| {
            v["data"].as_array().is_some_and(|a| a.len() == 3)
        })
        .await;
    let letters = page["data"].as_array().cloned().unwrap_or_default();
    assert!(
        letters.iter().all(|l| l["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("max_attempts"))),
        "{page}"
    );
    for n in 0..3 {
        // In the order they were given up on, which the three concurrent requests decide.
        assert!(
            letters.iter().any(|l| l["event"]
                .as_str()
                .is_some_and(|e| e.contains(&format!("\"n\":{n}")))),
            "event {n} is a dead letter: {page}"
        );
    }
    sim.set_faults(signal_sandbox::FaultPlan::default());
    let (s, v) = edge
        .admin("POST", &format!("{path}/replay"), Some(json!({})))
        .await;
    assert_eq!(s, 200, "{v}");
    eventually("the replayed events at Pendo", || {
        delivered_ns(&sim).len() == 3
    })
    .await;
    let (_, after) = edge.admin("GET", &path, None).await;
    assert_eq!(after["data"].as_array().map(Vec::len), Some(0), "{after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_hands_held_events_back_at_once_not_after_the_ack_wait() {
    // An ack wait far longer than the test: a held record that is not handed back on the
    // restart a PATCH makes would wait all of it.
    let (_nats, sim, _dir, edge, id) =
        pendo_on_nats(&[("SIGNAL_NATS_ACK_WAIT_SECS", "120".into())]).await;
    sim.set_faults(failing());
    let (s, v) = edge.ingest("/v1/batch", batch(0..20)).await;
    assert_eq!(s, 200, "{v}");
    eventually("the events held on their retries", || {
        sim.stats().errors >= 20
    })
    .await;
    sim.set_faults(signal_sandbox::FaultPlan::default());
    // A new rate restarts delivery: what the old runtime held goes to the new one now.
    let (s, v) = edge
        .admin(
            "PATCH",
            &format!("/v1/admin/integrations/{id}"),
            Some(json!({"config": {"rate_limit_per_second": 500}})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    eventually(
        "the 20 held events at Pendo well before the ack wait",
        || delivered_ns(&sim).len() == 20,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_jetstream_readiness_does_not_hang_on_the_unused_local_spool() {
    use std::os::unix::fs::PermissionsExt;
    let (_nats, _sim, dir, edge, _id) = pendo_on_nats(&[]).await;
    let spool = dir.path().join("spool");
    std::fs::set_permissions(&spool, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    let (s, v) = edge.text("/readyz").await;
    std::fs::set_permissions(&spool, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    assert_eq!(s, 200, "events go to JetStream, not the spool: {v}");
}
