//! The Heap fixture over real HTTP: `app_id` in the body, the plain-text 400 naming the bad
//! event's path, the three bulk endpoints and their item records.

mod support;

use serde_json::{Value, json};
use signal_sandbox::{Fixture, Sim, Subscriptions};
use support::{client, post};

fn track(identity: &str, n: u64) -> Value {
    json!({"event": "Page viewed", "identity": identity, "timestamp": "2026-11-30T12:00:00.000Z",
           "idempotency_key": format!("k-{n}"), "properties": {"path": "/settings", "n": n}})
}

async fn heap(subs: &std::sync::Arc<Subscriptions>) -> Sim {
    let f = Fixture::builtin("heap").expect("fixture");
    Sim::start_fixture(f, "us", subs.clone())
        .await
        .expect("sim")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_ids_are_checked_and_bulk_bodies_accepted_per_item() {
    let subs = Subscriptions::new();
    subs.add("1234567890", "us");
    subs.add("999", "eu");
    let sim = heap(&subs).await;
    let c = client();
    let url = |p: &str| format!("{}{p}", sim.base_url());
    let events = [track("u-123", 1), track("u-456", 2)];
    let ok = post(
        &c,
        &url("/api/track"),
        &[],
        &json!({"app_id": "1234567890", "events": events}).to_string(),
    )
    .await;
    assert_eq!((ok.status, ok.body.as_str()), (200, ""));
    let users = json!({"app_id": "1234567890", "users": [{"identity": "u-123", "properties": {"plan": "pro"}}]});
    assert_eq!(
        post(
            &c,
            &url("/api/add_user_properties"),
            &[],
            &users.to_string()
        )
        .await
        .status,
        200
    );
    let accounts = json!({"app_id": "1234567890", "accounts": [{"account_id": "acme", "properties": {"seats": 12}}]});
    assert_eq!(
        post(
            &c,
            &url("/api/add_account_properties"),
            &[],
            &accounts.to_string()
        )
        .await
        .status,
        200
    );
    let unknown = post(
        &c,
        &url("/api/track"),
        &[],
        &json!({"app_id": "42", "events": events}).to_string(),
    )
    .await;
    assert_eq!(unknown.status, 401);
    let other = post(
        &c,
        &url("/api/track"),
        &[],
        &json!({"app_id": "999", "events": events}).to_string(),
    )
    .await;
    assert_eq!(other.status, 404);
    let routes: Vec<String> = sim.items().into_iter().map(|i| i.route).collect();
    assert_eq!(routes, ["track", "track", "user_props", "account_props"]);
    assert_eq!(sim.requests()[1].path, "/api/add_user_properties");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_event_gets_the_plain_text_400_naming_its_index() {
    let subs = Subscriptions::new();
    subs.add("1", "us");
    let sim = heap(&subs).await;
    let (c, url) = (client(), format!("{}/api/track", sim.base_url()));
    let mut bad = track("u-2", 2);
    bad["properties"] = json!("not an object");
    let a = post(
        &c,
        &url,
        &[],
        &json!({"app_id": "1", "events": [track("u-1", 1), bad]}).to_string(),
    )
    .await;
    assert_eq!(a.status, 400);
    assert!(
        a.content_type.starts_with("text/plain"),
        "{}",
        a.content_type
    );
    assert_eq!(a.body, "postBody.events[1].properties should be object");
    let mut nameless = track("u-3", 3);
    nameless.as_object_mut().expect("object").remove("event");
    let a = post(
        &c,
        &url,
        &[],
        &json!({"app_id": "1", "events": [nameless]}).to_string(),
    )
    .await;
    assert_eq!(
        a.body,
        "postBody.events[0] should have required property 'event'"
    );
    let anonymous = json!({"event": "x"});
    let a = post(
        &c,
        &url,
        &[],
        &json!({"app_id": "1", "events": [anonymous]}).to_string(),
    )
    .await;
    assert_eq!(a.status, 400);
    assert!(a.body.contains("'identity' or 'user_id'"), "{}", a.body);
    let many: Vec<Value> = (0..1001).map(|n| track("u-1", n)).collect();
    let a = post(
        &c,
        &url,
        &[],
        &json!({"app_id": "1", "events": many}).to_string(),
    )
    .await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (400, "postBody.events should NOT have more than 1000 items")
    );
    assert!(
        sim.items().is_empty(),
        "nothing of a refused request is accepted"
    );
    assert_eq!(sim.stats().refused, 4);
}
