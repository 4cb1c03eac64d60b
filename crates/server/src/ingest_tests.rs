//! The handler's stateful steps: a messageId is remembered only once its append is durable.

use super::*;
use crate::gateway::{Request as GatewayRequest, build};
use signal_spool::{Spool, SpoolConfig, Start};
use std::sync::RwLock;

fn source() -> SourceRecord {
    SourceRecord {
        id: "default".into(),
        name: "Default".into(),
        pipeline_key: "k".into(),
        secret: "s".into(),
        allowed_origins: Vec::new(),
        rate_limit_per_second: 1000,
        created_at: String::new(),
    }
}

fn shared(dir: &std::path::Path, spool: Spool) -> GatewayState {
    GatewayState::with_dedup(
        signal_store::Store::open(&dir.join("store.redb")).expect("store"),
        spool,
        u64::MAX,
        Arc::new(RwLock::new(vec![source()])),
        1000,
    )
}

/// The records of a batch whose third event repeats the first's messageId.
fn batch() -> Built {
    built(&json!({"batch": [
        {"type": "track", "event": "A", "userId": "u", "messageId": "m1"},
        {"type": "track", "event": "B", "userId": "u", "messageId": "m2"},
        {"type": "track", "event": "A", "userId": "u", "messageId": "m1"},
    ]}))
}

/// The records of `body`, a batch.
fn built(body: &Value) -> Built {
    let headers = HeaderMap::new();
    let body = body.to_string();
    let req = GatewayRequest {
        method: &hyper::Method::POST,
        path: "/v1/batch",
        headers: &headers,
        body: body.as_bytes(),
        peer: std::net::IpAddr::from([127, 0, 0, 1]),
        now_ms: 1,
    };
    build(
        &req,
        body.as_bytes(),
        &source(),
        Shape::Batch,
        &mut String::new,
    )
    .expect("built")
}

async fn answer(r: Resp) -> (StatusCode, Value) {
    let status = r.status();
    let bytes = http_body_util::BodyExt::collect(r.into_body())
        .await
        .expect("body")
        .to_bytes();
    (status, serde_json::from_slice(&bytes).expect("json"))
}

fn events_in(spool: &Spool) -> Vec<String> {
    let mut c = spool.consumer("check", Start::Earliest).expect("consumer");
    let names = c
        .read(100)
        .expect("read")
        .iter()
        .map(|r| {
            let v: Value =
                serde_json::from_slice(signal_core::record::json(&r.payload)).expect("record");
            v["batch"][0]["messageId"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    drop(c);
    let _ = spool.remove_consumer("check");
    names
}

#[tokio::test]
async fn a_batch_answered_503_and_sent_again_unchanged_is_stored_once() {
    let dir = tempfile::tempdir().expect("dir");
    // A spool that refuses every append, as one at its cap or after a disk error does.
    let broken = Spool::open(SpoolConfig::new(dir.path().join("broken"))).expect("spool");
    broken.clone().close();
    let mut shared = shared(dir.path(), broken);
    let (status, v) = answer(store(&shared, &source(), batch()).await).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    // The disk recovers; the SDK sends the same batch again.
    let spool = Spool::open(SpoolConfig::new(dir.path().join("spool"))).expect("spool");
    shared.replace_spool(spool.clone());
    let (status, v) = answer(store(&shared, &source(), batch()).await).await;
    assert_eq!(
        (status, v["accepted"].as_u64()),
        (StatusCode::OK, Some(3)),
        "{v}"
    );
    assert_eq!(
        events_in(&spool),
        ["m1", "m2"],
        "stored, and the repeat within the request once"
    );
    // Now durable: a third send is a duplicate, answered 200 and not stored again.
    let (status, v) = answer(store(&shared, &source(), batch()).await).await;
    assert_eq!(
        (status, v["accepted"].as_u64()),
        (StatusCode::OK, Some(3)),
        "{v}"
    );
    assert_eq!(events_in(&spool), ["m1", "m2"]);
}

#[tokio::test]
async fn concurrent_requests_with_one_new_id_are_both_stored_at_least_once() {
    let dir = tempfile::tempdir().expect("dir");
    let spool = Spool::open(SpoolConfig::new(dir.path().join("spool"))).expect("spool");
    let shared = shared(dir.path(), spool.clone());
    let s = source();
    let (a, b) = tokio::join!(store(&shared, &s, batch()), store(&shared, &s, batch()));
    assert_eq!(answer(a).await.0, StatusCode::OK);
    assert_eq!(answer(b).await.0, StatusCode::OK);
    // Neither was durable when the other looked: both stored, none lost. (Had the ids been
    // remembered before the appends, one failing append would have lost the other's events.)
    assert_eq!(events_in(&spool), ["m1", "m2", "m1", "m2"]);
}

/// A site identifies a signed-in user at every page load, with the same anonymousId -> userId
/// link: once the store holds it, a request carrying it again does not wait for a store write.
#[tokio::test]
async fn an_identity_link_already_stored_is_not_written_again() {
    let dir = tempfile::tempdir().expect("dir");
    let spool = Spool::open(SpoolConfig::new(dir.path().join("spool"))).expect("spool");
    let shared = shared(dir.path(), spool.clone());
    let identify = |anonymous: &str, id: &str| {
        built(&json!({"batch": [
            {"type": "identify", "anonymousId": anonymous, "userId": "u1", "messageId": id},
        ]}))
    };
    let (status, v) = answer(store(&shared, &source(), identify("a1", "m1")).await).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    shared.store().faults().fail_writes(true);
    let (status, v) = answer(store(&shared, &source(), identify("a1", "m2")).await).await;
    assert_eq!(
        (status, v["accepted"].as_u64()),
        (StatusCode::OK, Some(1)),
        "the link is in the store already: {v}"
    );
    let (status, v) = answer(store(&shared, &source(), identify("a2", "m3")).await).await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "a new link must be stored first: {v}"
    );
    shared.store().faults().fail_writes(false);
    let mut user = String::new();
    assert!(
        signal_core::IdentityLookup::user_for_anonymous(shared.store(), "a1", &mut user)
            && user == "u1",
        "the first link is stored"
    );
    assert_eq!(events_in(&spool), ["m1", "m2"]);
}
