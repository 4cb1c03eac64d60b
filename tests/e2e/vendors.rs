//! What the vendor tests share (Amplitude, Heap, the fixture vendor): a sandbox started from a
//! fixture, the binary pointed at it, an install through the management API, and the checks
//! every vendor gets: every event accounted for, no credential shown.

use crate::harness::Edge;
use serde_json::{Value, json};
use signal_sandbox::{Fixture, Sim, Subscriptions};
use std::time::{Duration, Instant};

/// A US sandbox playing `fixture` (which knows `key`), and the binary started against it with
/// its base URL in `url_var` (and `env` too) in a fresh data directory.
pub async fn start(
    fixture: Fixture,
    key: &str,
    url_var: &str,
    env: &[(&str, String)],
) -> (tempfile::TempDir, Sim, Edge) {
    let subs = Subscriptions::new();
    subs.add(key, "us");
    let sim = Sim::start_fixture(fixture, "us", subs)
        .await
        .expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut all = vec![(url_var, sim.base_url())];
    all.extend(env.iter().cloned());
    let edge = Edge::start(dir.path(), &all);
    (dir, sim, edge)
}

/// Installs catalog entry `vendor` named `name` with `config` (its default variant); its id.
pub async fn install(edge: &Edge, vendor: &str, variant: &str, config: Value) -> String {
    let (status, v) = edge
        .admin(
            "POST",
            &format!("/v1/admin/integration-catalog/{vendor}/install"),
            Some(json!({"name": vendor, "variant": variant, "config": config})),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    v["id"].as_str().expect("id").to_owned()
}

/// Ingests `events` one by one through `/v1/batch` in one request; asserts all were accepted.
pub async fn send(edge: &Edge, events: &[Value]) {
    let (s, v) = edge.ingest("/v1/batch", json!({ "batch": events })).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["accepted"], events.len(), "{v}");
}

/// The items the sandbox accepted on `route`, in order.
pub fn items(sim: &Sim, route: &str) -> Vec<Value> {
    sim.items()
        .into_iter()
        .filter(|i| i.route == route)
        .map(|i| i.item)
        .collect()
}

/// The JSON bodies of the requests the sandbox accepted on `route`, in order.
pub fn bodies(sim: &Sim, route: &str) -> Vec<Value> {
    sim.requests()
        .iter()
        .filter(|r| r.route == route)
        .map(|r| serde_json::from_slice(&r.body).expect("json"))
        .collect()
}

/// Waits (up to `secs`) until `f` holds, or panics with `what`.
pub async fn within(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out after {secs} s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every dead letter of integration `id` (up to 100).
pub async fn dead_letters(edge: &Edge, id: &str) -> Vec<Value> {
    let (s, v) = edge
        .admin(
            "GET",
            &format!("/v1/admin/integrations/{id}/dead-letters?limit=100"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    v["data"].as_array().cloned().unwrap_or_default()
}

/// The most recent live events of integration `id` (up to 100), newest first.
pub async fn live_events(edge: &Edge, id: &str) -> Vec<Value> {
    let (s, v) = edge
        .admin(
            "GET",
            &format!("/v1/admin/integrations/{id}/events?limit=100"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    v["data"].as_array().cloned().unwrap_or_default()
}

/// The integration's stats.
pub async fn stats(edge: &Edge, id: &str) -> Value {
    edge.admin("GET", &format!("/v1/admin/integrations/{id}/stats"), None)
        .await
        .1
}

/// A count of the stats (0 when absent).
pub fn count(stats: &Value, outcome: &str) -> u64 {
    stats["counts"][outcome].as_u64().unwrap_or(0)
}

/// Waits until the stats account for `total` items (delivered + dropped + dead-lettered), then
/// asserts they add up to exactly that with the split given, and returns the stats.
pub async fn accounted(
    edge: &Edge,
    id: &str,
    (delivered, dropped, dead): (u64, u64, u64),
) -> Value {
    let total = delivered + dropped + dead;
    let path = format!("/v1/admin/integrations/{id}/stats");
    let start = Instant::now();
    let s = loop {
        let s = edge.admin("GET", &path, None).await.1;
        let done = count(&s, "delivered") + count(&s, "dropped") + count(&s, "dead_lettered");
        if done >= total || start.elapsed() > Duration::from_secs(15) {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        (
            count(&s, "delivered"),
            count(&s, "dropped"),
            count(&s, "dead_lettered")
        ),
        (delivered, dropped, dead),
        "every item delivered, dropped or dead-lettered, none twice: {s}"
    );
    s
}

/// Asserts no `secrets` appear anywhere in the live events, dead letters or stats of `id`.
pub async fn no_secret_shown(edge: &Edge, id: &str, secrets: &[&str]) {
    let shown = [
        Value::Array(live_events(edge, id).await),
        Value::Array(dead_letters(edge, id).await),
        stats(edge, id).await,
        edge.admin("GET", &format!("/v1/admin/integrations/{id}"), None)
            .await
            .1,
    ];
    for v in shown {
        let text = v.to_string();
        for s in secrets {
            assert!(!text.contains(s), "the secret {s} is shown: {text}");
        }
    }
}

/// `n` copies of the Amplitude/Heap `time`-less track event `name` from `user`.
pub fn track(user: &str, name: &str, n: usize) -> Value {
    json!({"type": "track", "userId": user, "anonymousId": format!("anon-{user}"),
           "event": name, "messageId": format!("m-{user}-{name}-{n}"),
           "timestamp": "2026-11-30T10:00:00.000Z", "properties": {"n": n}})
}
