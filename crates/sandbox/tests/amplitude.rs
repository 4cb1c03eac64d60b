//! The Amplitude fixture over real HTTP: the key in the body, the partial 400 naming bad events
//! by index (and accepting none of them), 413 by count and by bytes, the per-user 429.

mod support;

use serde_json::{Value, json};
use signal_sandbox::{Fixture, Sim, Subscriptions, Throttle};
use support::{client, post};

fn event(user: &str, n: u64) -> Value {
    json!({"user_id": user, "event_type": "Page Viewed", "time": 1_732_608_000_000u64 + n,
           "insert_id": format!("ins-{user}-{n}"), "event_properties": {"n": n}})
}

fn body(key: &str, events: &[Value]) -> String {
    json!({"api_key": key, "events": events}).to_string()
}

async fn amplitude(subs: &std::sync::Arc<Subscriptions>) -> Sim {
    let f = Fixture::builtin("amplitude").expect("fixture");
    Sim::start_fixture(f, "us", subs.clone())
        .await
        .expect("sim")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_is_read_from_the_body_and_checked_per_region() {
    let subs = Subscriptions::new();
    subs.add("us-api-key", "us");
    subs.add("eu-api-key", "eu");
    let sim = amplitude(&subs).await;
    let (c, url) = (client(), format!("{}/2/httpapi", sim.base_url()));
    let events = [event("alice-1", 1), event("bobby-2", 2)];
    let ok = post(&c, &url, &[], &body("us-api-key", &events)).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let v = ok.json();
    assert_eq!(
        (v["code"].clone(), v["events_ingested"].clone()),
        (json!(200), json!(2))
    );
    assert!(
        v["server_upload_time"]
            .as_u64()
            .is_some_and(|t| t > 1_700_000_000_000)
    );
    let invalid_key = json!({"code": 400, "error": "Invalid API key"});
    for key in ["nope", "eu-api-key"] {
        let a = post(&c, &url, &[], &body(key, &events)).await;
        assert_eq!((a.status, a.json()), (400, invalid_key.clone()), "{key}");
    }
    let no_key = post(&c, &url, &[], &json!({"events": events}).to_string()).await;
    assert_eq!((no_key.status, no_key.json()), (400, invalid_key));
    let not_json = post(&c, &url, &[], "{").await;
    assert_eq!(not_json.status, 400);
    let missing = post(&c, &url, &[], &json!({"api_key": "us-api-key"}).to_string()).await;
    assert_eq!(
        (missing.status, missing.json()["missing_field"].clone()),
        (400, json!("events"))
    );
    let items = sim.items();
    assert_eq!(
        items.len(),
        2,
        "only the accepted request's events are recorded"
    );
    assert_eq!(items[1].item["user_id"], "bobby-2");
    assert_eq!(items[1].route, "httpapi");
    let s = sim.stats();
    assert_eq!((s.accepted, s.items_accepted, s.refused), (1, 2, 5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_events_are_named_by_index_and_nothing_of_the_request_is_accepted() {
    let subs = Subscriptions::new();
    subs.add("k", "us");
    let sim = amplitude(&subs).await;
    let (c, url) = (client(), format!("{}/2/httpapi", sim.base_url()));
    let mut iso_time = event("carol-3", 1);
    iso_time["time"] = json!("2026-11-30T12:00:00Z");
    let mut no_type = event("dave-44", 3);
    no_type
        .as_object_mut()
        .expect("object")
        .remove("event_type");
    let events = [
        event("alice-1", 0),
        iso_time,
        event("abc", 2),
        no_type,
        event("erin-5", 4),
    ];
    let a = post(&c, &url, &[], &body("k", &events)).await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert_eq!(
        a.json(),
        json!({"code": 400, "error": "Invalid field values on some events",
               "events_with_invalid_fields": {"time": [1], "user_id": [2]},
               "events_with_missing_fields": {"event_type": [3]}})
    );
    assert!(sim.requests().is_empty() && sim.items().is_empty());
    // The rest, resent, goes through; a short id is fine once min_id_length allows it.
    let rest = [event("alice-1", 0), event("erin-5", 4)];
    assert_eq!(post(&c, &url, &[], &body("k", &rest)).await.status, 200);
    let short =
        json!({"api_key": "k", "options": {"min_id_length": 3}, "events": [event("abc", 2)]});
    assert_eq!(post(&c, &url, &[], &short.to_string()).await.status, 200);
    let null_id = json!({"api_key": "k", "events": [{"user_id": "null", "event_type": "x"}]});
    let a = post(&c, &url, &[], &null_id.to_string()).await;
    assert_eq!(
        a.json()["events_with_invalid_fields"],
        json!({"user_id": [0]})
    );
    let no_ids = json!({"api_key": "k", "events": [{"event_type": "x"}]});
    let a = post(&c, &url, &[], &no_ids.to_string()).await;
    assert_eq!(
        a.json()["events_with_missing_fields"],
        json!({"user_id": [0]})
    );
    assert_eq!(sim.stats().items_accepted, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_events_or_bytes_is_413() {
    let subs = Subscriptions::new();
    subs.add("k", "us");
    let sim = amplitude(&subs).await;
    let (c, url) = (client(), format!("{}/2/httpapi", sim.base_url()));
    let too_large = json!({"code": 413, "error": "Payload too large"});
    let many: Vec<Value> = (0..2001)
        .map(|n| event(&format!("user-{}", n % 100), n))
        .collect();
    let a = post(&c, &url, &[], &body("k", &many)).await;
    assert_eq!((a.status, a.json()), (413, too_large.clone()));
    assert_eq!(
        post(&c, &url, &[], &body("k", &many[..2000])).await.status,
        200
    );
    let mut big = event("alice-1", 1);
    big["event_properties"]["blob"] = json!("x".repeat(1_000_000));
    let a = post(&c, &url, &[], &body("k", &[big])).await;
    assert_eq!((a.status, a.json()), (413, too_large));
    assert_eq!(sim.stats().items_accepted, 2000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_user_is_throttled_with_its_events_named_and_others_go_through() {
    let subs = Subscriptions::new();
    subs.add("k", "us");
    let mut f = Fixture::builtin("amplitude").expect("fixture");
    f.routes[0].throttle = Some(Throttle {
        by: vec!["user_id".into(), "device_id".into()],
        max_items: 3,
        window_ms: 3_600_000,
    });
    let sim = Sim::start_fixture(f, "us", subs).await.expect("sim");
    let (c, url) = (client(), format!("{}/2/httpapi", sim.base_url()));
    let first = [event("alice-1", 1), event("alice-1", 2)];
    assert_eq!(post(&c, &url, &[], &body("k", &first)).await.status, 200);
    let mut on_device = event("bobby-2", 3);
    on_device["device_id"] = json!("device-9");
    let second = [on_device, event("alice-1", 4), event("alice-1", 5)];
    let a = post(&c, &url, &[], &body("k", &second)).await;
    assert_eq!(a.status, 429, "{}", a.body);
    let v = a.json();
    assert_eq!(v["error"], "Too many requests for some devices and users");
    assert_eq!(v["throttled_users"], json!({"alice-1": 4}));
    assert_eq!(v["throttled_devices"], json!({}));
    assert_eq!(v["throttled_events"], json!([1, 2]));
    assert_eq!(sim.stats().throttled_ids, 1);
    // Other users are not held back, and alice has one more event left in the window.
    assert_eq!(
        post(&c, &url, &[], &body("k", &second[..2])).await.status,
        200
    );
    assert_eq!(
        post(&c, &url, &[], &body("k", &second[2..])).await.status,
        429
    );
    assert_eq!(sim.stats().items_accepted, 4);
    sim.clear();
    assert_eq!(
        post(&c, &url, &[], &body("k", &second[2..])).await.status,
        200,
        "clear forgets"
    );
}
