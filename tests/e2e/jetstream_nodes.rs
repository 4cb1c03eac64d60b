//! Several nodes on one JetStream (issue 14): each event delivered by one node, a killed
//! node's events delivered by the others, the same messageId kept once across nodes, a change
//! on one node's API in force on the others within a second, an identify on one node linking
//! the visitor for another, and a rate limit held for the cluster, not per node.

use crate::harness::{Edge, delivered_ns, sandbox, track_bodies};
use crate::jetstream::nats_server::NatsServer;
use crate::jetstream::node_on;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Waits up to `secs` for `f`, failing with `what`.
async fn within(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out after {secs} s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `n` nodes on `nats` against `sim`, each in its own directory (kept beside it).
async fn nodes(
    nats: &NatsServer,
    sim: &signal_sandbox::Sim,
    n: usize,
    env: &[(&str, String)],
) -> Vec<(tempfile::TempDir, Edge)> {
    let mut out = Vec::new();
    for _ in 0..n {
        let dir = tempfile::tempdir().expect("tempdir");
        let edge = node_on(nats, dir.path(), sim, env).await;
        out.push((dir, edge));
    }
    out
}

/// Waits until `edge` lists integration `id` (what another node installed), up to `secs`;
/// how long it took.
async fn listed(edge: &Edge, id: &str, secs: u64) -> Duration {
    let start = Instant::now();
    loop {
        let (s, _) = edge
            .admin("GET", &format!("/v1/admin/integrations/{id}"), None)
            .await;
        if s == 200 {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "integration {id} not on {} after {secs} s",
            edge.admin
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn batch(ns: std::ops::Range<u64>) -> Value {
    json!({"batch": ns.map(|n| json!({"type": "track", "userId": "u", "event": "E",
        "messageId": format!("m{n}"), "properties": {"n": n}})).collect::<Vec<_>>()})
}

/// Sends events `0..total` in batches of 500, round-robin over three nodes, one batch to
/// each at once; every batch must be accepted.
async fn send_round_robin(edges: &[&Edge], total: u64) {
    for start in (0..total).step_by(1500) {
        let (a, b, c) = tokio::join!(
            edges[0].ingest("/v1/batch", batch(start..start + 500)),
            edges[1].ingest("/v1/batch", batch(start + 500..start + 1000)),
            edges[2].ingest("/v1/batch", batch(start + 1000..start + 1500)),
        );
        for (s, v) in [a, b, c] {
            assert_eq!(s, 200, "{v}");
        }
    }
}

/// Delivered per node, from each node's stats.
async fn delivered_by(edges: &[&Edge], id: &str) -> Vec<u64> {
    let mut out = Vec::new();
    for e in edges {
        let (_, v) = e
            .admin("GET", &format!("/v1/admin/integrations/{id}/stats"), None)
            .await;
        out.push(v["counts"]["delivered"].as_u64().unwrap_or(0));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_deliver_30000_events_sent_round_robin_each_exactly_once() {
    let nats = NatsServer::start();
    let (sim, _subs) = sandbox("us", "ik").await;
    let env = [("SIGNAL_NATS_ACK_WAIT_SECS", "20".to_owned())];
    let all = nodes(&nats, &sim, 3, &env).await;
    let edges: Vec<&Edge> = all.iter().map(|(_, e)| e).collect();
    let id = edges[0]
        .install(json!({"api_key": "a", "integration_key": "ik", "rate_limit_per_second": 20000}))
        .await;
    for e in &edges[1..] {
        listed(e, &id, 5).await;
    }
    let total = 30_000u64;
    send_round_robin(&edges, total).await;
    within(240, "30,000 requests at Pendo", || {
        sim.stats().accepted >= total
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        delivered_ns(&sim).len(),
        total as usize,
        "every event delivered"
    );
    let bodies = track_bodies(&sim).len();
    let by_node = delivered_by(&edges, &id).await;
    println!(
        "30,000 events: {bodies} requests, {} duplicates; delivered by node: {by_node:?}",
        bodies - total as usize
    );
    assert_eq!(bodies, total as usize, "each event delivered exactly once");
    assert_eq!(by_node.iter().sum::<u64>(), total, "{by_node:?}");
    assert!(
        by_node.iter().filter(|n| **n > 0).count() >= 2,
        "the nodes share the delivery: {by_node:?}"
    );
}
