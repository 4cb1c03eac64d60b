//! Heap end to end: installed from the management API, `SIGNAL_HEAP_BASE_URL_US` pointed at a
//! sandbox playing Heap's track and properties APIs from its fixture. Track, identify and group
//! arrive on their three routes, batched, identify traits merged per user; Heap's text 400 naming
//! `events[i]` dead-letters exactly that event and the rest arrive; every event is accounted
//! for and the secret key is never shown.

use crate::vendors::{
    accounted, bodies, dead_letters, install, items, live_events, no_secret_shown, send, start,
};
use serde_json::{Value, json};
use signal_sandbox::Fixture;

const APP_ID: &str = "1234567890";
/// Heap's server-side API key: a secret the blueprint never sends.
const API_KEY: &str = "heap-secret-key-9876";

fn at(user: &str) -> Value {
    json!({"userId": user, "timestamp": "2026-11-30T10:00:00.000Z"})
}

fn event(user: &str, message_id: &str, rest: Value) -> Value {
    let mut e = at(user);
    e["messageId"] = json!(message_id);
    if let (Some(e), Some(rest)) = (e.as_object_mut(), rest.as_object()) {
        e.extend(rest.clone());
    }
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heap_routes_batches_merges_and_dead_letters_only_the_event_its_400_names() {
    // Heap refuses an identity over 255 characters, but so does the gateway (a userId over 255
    // is a 400 at ingestion): the sandbox's limit is lowered to 20 so Heap refuses one event.
    let mut fixture = Fixture::builtin("heap").expect("the heap fixture");
    let identity = fixture.routes[0]
        .item
        .fields
        .iter_mut()
        .find(|f| f.name == "identity")
        .expect("the identity rule");
    identity.max_length = Some(20);
    let (_dir, sim, edge) = start(fixture, APP_ID, "SIGNAL_HEAP_BASE_URL_US", &[]).await;
    let id = install(
        &edge,
        "heap",
        "default",
        json!({"app_id": APP_ID, "api_key": API_KEY}),
    )
    .await;
    const LONG_USER: &str = "a-user-id-of-30-characters-xyz";
    let events = [
        event(
            "user-1",
            "m-id1",
            json!({"type": "identify",
            "traits": {"name": "Ann", "Email": "ann@example.com", "accountId": "acct-1"}}),
        ),
        event(
            "user-1",
            "m-click",
            json!({"type": "track", "event": "Clicked",
            "properties": {"button": {"color": "red"}}}),
        ),
        event(
            "user-1",
            "m-group",
            json!({"type": "group", "groupId": "acct-1",
            "traits": {"plan": "pro", "seats": {"count": 5}}}),
        ),
        // Over the (lowered) identity limit: Heap's 400 names events[i].
        event(
            LONG_USER,
            "m-long",
            json!({"type": "track", "event": "Clicked"}),
        ),
        event(
            "user-2",
            "m-view",
            json!({"type": "track", "event": "Viewed"}),
        ),
        event(
            "user-1",
            "m-id2",
            json!({"type": "identify", "traits": {"role": "admin"}}),
        ),
        // No user and anonymous_users is drop: dropped with a reason.
        json!({"type": "track", "anonymousId": "anon-9", "event": "Clicked", "messageId": "m-anon"}),
    ];
    send(&edge, &events).await;
    // Items: 3 track, 2 identify, 2 of the group call; the long one dead, the anonymous dropped.
    accounted(&edge, &id, (6, 1, 1)).await;

    let tracks = items(&sim, "track");
    let keys: Vec<&str> = tracks
        .iter()
        .filter_map(|t| t["idempotency_key"].as_str())
        .collect();
    assert_eq!(keys, ["m-click", "m-view"], "{tracks:?}");
    assert_eq!(tracks[0]["identity"], "user-1");
    assert_eq!(tracks[0]["timestamp"], "2026-11-30T10:00:00.000Z");
    assert_eq!(
        tracks[0]["properties"],
        json!({"button.color": "red"}),
        "flattened"
    );
    let track_bodies = bodies(&sim, "track");
    assert!(
        track_bodies
            .iter()
            .any(|b| b["events"].as_array().is_some_and(|e| e.len() == 2)),
        "both in one request: {track_bodies:?}"
    );
    assert!(sim.stats().refused >= 1, "{:?}", sim.stats());

    let users = items(&sim, "user_props");
    let user_1: Vec<&Value> = users.iter().filter(|u| u["identity"] == "user-1").collect();
    let props: serde_json::Map<String, Value> = user_1
        .iter()
        .filter_map(|u| u["properties"].as_object())
        .flat_map(|p| p.clone())
        .collect();
    assert_eq!(props.get("name"), Some(&json!("Ann")), "{users:?}");
    assert_eq!(props.get("email"), Some(&json!("ann@example.com")));
    assert_eq!(props.get("role"), Some(&json!("admin")));
    assert_eq!(props.get("account_id"), Some(&json!("acct-1")));
    assert!(
        users
            .iter()
            .any(|u| u["properties"]["name"] == "Ann" && u["properties"]["role"] == "admin"),
        "the two identify calls merged into one user item: {users:?}"
    );
    assert_eq!(
        items(&sim, "account_props").len(),
        1,
        "the group call's account item (its content: the next test)"
    );
    for b in sim.requests() {
        let body: Value = serde_json::from_slice(&b.body).expect("json");
        assert_eq!(body["app_id"], APP_ID, "the app id in the body: {body}");
    }

    let letters = dead_letters(&edge, &id).await;
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = letters[0].to_string();
    assert!(letter.contains("m-long"), "{letter}");
    assert!(
        letter.contains("should NOT be longer than 20 characters"),
        "Heap's answer kept with the letter: {letter}"
    );
    let live = live_events(&edge, &id).await;
    assert!(
        live.iter()
            .any(|e| e["outcome"] == "dropped" && e["message_id"] == "m-anon"),
        "{live:?}"
    );
    no_secret_shown(&edge, &id, &[API_KEY]).await;
}

/// The group call's two items: the user's `account_id` (`add_user_properties`) and the account's
/// flattened traits (`add_account_properties`), as heap.json's `account_link` and
/// `account_props` write them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heap_group_call_sends_the_account_link_and_the_account_traits() {
    let fixture = Fixture::builtin("heap").expect("the heap fixture");
    let (_dir, sim, edge) = start(fixture, APP_ID, "SIGNAL_HEAP_BASE_URL_US", &[]).await;
    let id = install(&edge, "heap", "default", json!({"app_id": APP_ID})).await;
    let group = event(
        "user-1",
        "m-group",
        json!({"type": "group", "groupId": "acct-1",
        "traits": {"plan": "pro", "seats": {"count": 5}}}),
    );
    send(&edge, &[group]).await;
    accounted(&edge, &id, (2, 0, 0)).await;
    assert_eq!(
        items(&sim, "user_props"),
        [json!({"identity": "user-1", "properties": {"account_id": "acct-1"}})],
        "the user linked to the account"
    );
    assert_eq!(
        items(&sim, "account_props"),
        [json!({"account_id": "acct-1", "properties": {"plan": "pro", "seats.count": 5}})],
        "the account's traits, flattened"
    );
}
