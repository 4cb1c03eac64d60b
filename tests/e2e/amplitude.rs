//! Amplitude end to end: installed from the management API with only its key, the binary's
//! `SIGNAL_AMPLITUDE_BASE_URL_US` pointed at a sandbox playing Amplitude's HTTP V2 API from its
//! fixture. Events arrive batched with the key in the body; a 400 naming events by index
//! dead-letters those alone; a per-user 429 holds that user while others keep arriving; a 413
//! splits the batch. Every event is accounted for, and the key is never shown.

use crate::harness::Edge;
use crate::vendors::{
    accounted, bodies, dead_letters, install, items, live_events, no_secret_shown, send, start,
    track, within,
};
use serde_json::{Value, json};
use signal_sandbox::{Fixture, Sim, Throttle};
use std::collections::BTreeSet;

const API_KEY: &str = "amp-key-12345";
/// 2026-11-30T10:00:00.000Z, the timestamp of `vendors::track` events.
const TEN_O_CLOCK_MS: u64 = 1_796_032_800_000;

fn fixture() -> Fixture {
    Fixture::builtin("amplitude").expect("the amplitude fixture")
}

/// The sandbox (with `fixture`) and the binary, Amplitude installed; its id last.
async fn with_amplitude(
    fixture: Fixture,
    env: &[(&str, String)],
) -> (tempfile::TempDir, Sim, Edge, String) {
    let (dir, sim, edge) = start(fixture, API_KEY, "SIGNAL_AMPLITUDE_BASE_URL_US", env).await;
    let id = install(&edge, "amplitude", "default", json!({"api_key": API_KEY})).await;
    (dir, sim, edge, id)
}

fn insert_ids(sim: &Sim) -> BTreeSet<String> {
    items(sim, "httpapi")
        .iter()
        .filter_map(|i| i["insert_id"].as_str().map(str::to_owned))
        .collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amplitude_events_arrive_batched_and_a_named_bad_event_is_dead_lettered_alone() {
    // The node already leaves out ids Amplitude documents as invalid (under 5 characters, or
    // `null`, `undefined`...), so the sandbox is made stricter than the node (user ids of at
    // least 7 characters), as a project setting or a rule the node does not know would be:
    // the vendor's 400 then names the one event it refuses.
    let mut strict = fixture();
    for route in &mut strict.routes {
        for field in &mut route.item.fields {
            if field.name == "user_id" {
                field.min_length = Some(7);
                field.min_length_option = None;
            }
        }
    }
    let (_dir, sim, edge, id) = with_amplitude(strict, &[]).await;
    let events = [
        json!({"type": "page", "userId": "alice-1", "name": "Pricing", "messageId": "m-page",
               "timestamp": "2026-11-30T10:00:00.000Z",
               "context": {"page": {"url": "https://shop.example/pricing", "path": "/pricing"}}}),
        track("alice-1", "Signed Up", 1),
        json!({"type": "identify", "userId": "bobby-2", "messageId": "m-identify",
               "timestamp": "2026-11-30T10:00:00.000Z", "traits": {"plan": "pro"}}),
        // The stricter sandbox refuses this 6-character user_id: its 400 names it by index.
        json!({"type": "track", "userId": "abcdef", "event": "Signed Up", "messageId": "m-short",
               "timestamp": "2026-11-30T10:00:00.000Z"}),
        json!({"type": "track", "userId": "bobby-2", "event": "Order Completed", "messageId": "m-order",
               "timestamp": "2026-11-30T10:00:00.000Z", "properties": {"revenue": 42.5}}),
        json!({"type": "screen", "userId": "bobby-2", "name": "Home", "messageId": "m-screen"}),
    ];
    send(&edge, &events).await;
    let stats = accounted(&edge, &id, (4, 1, 1)).await;

    let delivered = set(&["m-page", "m-alice-1-Signed Up-1", "m-identify", "m-order"]);
    assert_eq!(insert_ids(&sim), delivered, "insert_id is the messageId");
    assert!(
        sim.stats().refused >= 1,
        "the first batch was refused: {:?}",
        sim.stats()
    );
    let sent = bodies(&sim, "httpapi");
    assert!(
        sent.iter()
            .any(|b| b["events"].as_array().is_some_and(|e| e.len() >= 2)),
        "several events per request: {sent:?}"
    );
    for b in &sent {
        assert_eq!(b["api_key"], API_KEY, "the key is in the body: {b}");
    }
    let by_id = |m: &str| -> Value {
        items(&sim, "httpapi")
            .into_iter()
            .find(|i| i["insert_id"] == m)
            .unwrap_or(Value::Null)
    };
    for i in items(&sim, "httpapi") {
        assert_eq!(i["time"], TEN_O_CLOCK_MS, "time is epoch ms: {i}");
        assert!(
            i.get("api_key").is_none(),
            "the key is not in the item: {i}"
        );
    }
    assert_eq!(by_id("m-page")["event_type"], "[Amplitude] Page Viewed");
    assert_eq!(
        by_id("m-page")["event_properties"]["[Amplitude] Page URL"],
        "https://shop.example/pricing"
    );
    assert_eq!(by_id("m-identify")["event_type"], "$identify");
    assert_eq!(
        by_id("m-identify")["user_properties"]["$set"]["plan"],
        "pro"
    );
    assert_eq!(by_id("m-order")["revenue"], 42.5);
    assert_eq!(by_id("m-order")["user_id"], "bobby-2");

    let letters = dead_letters(&edge, &id).await;
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = letters[0].to_string();
    assert!(letter.contains("m-short"), "the short id's event: {letter}");
    assert!(
        letter.contains("events_with_invalid_fields"),
        "with Amplitude's answer: {letter}"
    );
    assert_eq!(
        stats["counts"]["dropped"], 1,
        "the screen call is dropped with a reason: {stats}"
    );
    let live = live_events(&edge, &id).await;
    assert!(
        live.iter()
            .any(|e| e["outcome"] == "dropped"
                && e["reason"].as_str().is_some_and(|r| !r.is_empty())),
        "the drop has a reason: {live:?}"
    );
    no_secret_shown(&edge, &id, &[API_KEY]).await;
}

/// Amplitude's fixture with its per-id window made small: 4 items per id in 1.5 s.
fn throttling() -> Fixture {
    let mut f = fixture();
    f.routes[0].throttle = Some(Throttle {
        by: vec!["user_id".into(), "device_id".into()],
        max_items: 4,
        window_ms: 1500,
    });
    f
}

/// Three events of the hot user delivered (its window nearly full), then three more of it with
/// two of a calm user: Amplitude's 429 names the hot user's.
async fn throttle_the_hot_user(sim: &Sim, edge: &Edge) {
    let hot: Vec<Value> = (0..3).map(|n| track("hot-user", "Clicked", n)).collect();
    send(edge, &hot).await;
    within(10, "the hot user's first three", || {
        items(sim, "httpapi").len() == 3
    })
    .await;
    let mut mixed: Vec<Value> = (3..6).map(|n| track("hot-user", "Clicked", n)).collect();
    mixed.extend((0..2).map(|n| track("calm-user", "Clicked", n)));
    send(edge, &mixed).await;
}

fn of(sim: &Sim, user: &str) -> Vec<Value> {
    items(sim, "httpapi")
        .into_iter()
        .filter(|i| i["user_id"] == user)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amplitude_per_user_429_holds_that_user_while_others_keep_arriving() {
    let (_dir, sim, edge, id) = with_amplitude(throttling(), &[]).await;
    throttle_the_hot_user(&sim, &edge).await;
    within(10, "the calm user's two", || {
        of(&sim, "calm-user").len() == 2
    })
    .await;
    assert!(sim.stats().throttled_ids >= 1, "{:?}", sim.stats());
    // The hot user is held (30 s in the blueprint); the calm one keeps going meanwhile.
    send(
        &edge,
        &[
            track("calm-user", "Clicked", 2),
            track("hot-user", "Clicked", 6),
        ],
    )
    .await;
    within(10, "the calm user's third", || {
        of(&sim, "calm-user").len() == 3
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(
        of(&sim, "hot-user").len(),
        3,
        "the hot user's later events wait, even the one sent after the 429"
    );
    let live = live_events(&edge, &id).await;
    assert!(
        live.iter().any(|e| e["outcome"] == "retrying"
            && e["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("delayed"))),
        "the held events are shown as delayed: {live:?}"
    );
    no_secret_shown(&edge, &id, &[API_KEY]).await;
}

/// A copy of Amplitude's blueprint as a file under another key, its per-user delay 2 s: the
/// 30 s of the real one is only in the blueprint, too slow for a test.
fn fast_amplitude(dir: &std::path::Path) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crates/core/blueprints/amplitude.json"
    );
    let mut bp: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("amplitude.json"))
            .expect("json");
    bp["key"] = json!("amplitude_fast");
    bp["name"] = json!("Amplitude Fast");
    bp["integrations_key"] = json!("Amplitude Fast");
    let rules = bp["responses"]["amplitude_v2"]
        .as_array_mut()
        .expect("the response rules");
    let delay = rules
        .iter_mut()
        .find_map(|r| r.get_mut("delay_indexes"))
        .expect("a delay rule");
    delay["seconds"] = json!(2);
    std::fs::write(dir.join("amplitude_fast.json"), bp.to_string()).expect("write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amplitude_held_user_arrives_after_the_delay_and_everything_is_accounted_for() {
    let bps = tempfile::tempdir().expect("tempdir");
    fast_amplitude(bps.path());
    let (_dir, sim, edge) = start(
        throttling(),
        API_KEY,
        "SIGNAL_AMPLITUDE_FAST_BASE_URL_US",
        &[("SIGNAL_BLUEPRINT_DIR", bps.path().display().to_string())],
    )
    .await;
    let id = install(
        &edge,
        "amplitude_fast",
        "default",
        json!({"api_key": API_KEY}),
    )
    .await;
    throttle_the_hot_user(&sim, &edge).await;
    within(10, "the calm user's two", || {
        of(&sim, "calm-user").len() == 2
    })
    .await;
    let calm_at = sim.items().iter().map(|i| i.at_ms).max().unwrap_or(0);
    assert_eq!(of(&sim, "hot-user").len(), 3, "held");
    within(10, "the hot user's held three", || {
        of(&sim, "hot-user").len() == 6
    })
    .await;
    let hot_at = sim.items().iter().map(|i| i.at_ms).max().unwrap_or(0);
    assert!(
        hot_at >= calm_at + 1500,
        "held about 2 s after the calm user's went: {calm_at} -> {hot_at}"
    );
    accounted(&edge, &id, (8, 0, 0)).await;
    assert!(dead_letters(&edge, &id).await.is_empty());
    no_secret_shown(&edge, &id, &[API_KEY]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amplitude_413_splits_the_batch_and_every_half_arrives() {
    let mut f = fixture();
    f.routes[0].body.max_bytes = Some(3000);
    let (_dir, sim, edge, id) = with_amplitude(f, &[]).await;
    let pad = "x".repeat(400);
    let events: Vec<Value> = (0..10)
        .map(|n| {
            let mut e = track("split-user", "Padded", n);
            e["properties"]["pad"] = json!(pad);
            e
        })
        .collect();
    send(&edge, &events).await;
    accounted(&edge, &id, (10, 0, 0)).await;
    assert_eq!(items(&sim, "httpapi").len(), 10);
    assert!(
        sim.stats().refused >= 1,
        "a 413 came first: {:?}",
        sim.stats()
    );
    let sent = bodies(&sim, "httpapi");
    assert!(
        sent.len() >= 2,
        "split into several requests: {}",
        sent.len()
    );
    assert!(dead_letters(&edge, &id).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amplitude_min_id_length_from_the_config_lets_a_short_user_id_through() {
    let (_dir, sim, edge) = start(fixture(), API_KEY, "SIGNAL_AMPLITUDE_BASE_URL_US", &[]).await;
    let id = install(
        &edge,
        "amplitude",
        "default",
        json!({"api_key": API_KEY, "min_id_length": 2}),
    )
    .await;
    send(
        &edge,
        &[track("ab", "Signed Up", 0), track("cd", "Signed Up", 1)],
    )
    .await;
    accounted(&edge, &id, (2, 0, 0)).await;
    let sent = bodies(&sim, "httpapi");
    assert!(
        sent.iter().all(|b| b["options"]["min_id_length"] == 2),
        "options.min_id_length from the config: {sent:?}"
    );
    let users: Vec<Value> = items(&sim, "httpapi")
        .iter()
        .map(|i| i["user_id"].clone())
        .collect();
    assert_eq!(users, [json!("ab"), json!("cd")]);
    assert!(dead_letters(&edge, &id).await.is_empty());
}
