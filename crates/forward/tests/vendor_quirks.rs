//! What a vendor's odd answers must not do to an integration (review of issue 12): a huge or
//! days-long `Retry-After` neither stops the integration nor holds it past the retry policy's
//! cap; a retry due while paused is sent without waiting for a new event; a `max_partial`
//! that runs out retries the rest; a batched request made unbatched by an update still sends.

#[allow(dead_code)] // shared helpers; this file uses some of them
mod support;

use serde_json::json;
use signal_forward::OutcomeKind;
use std::time::Duration;
use support::*;

/// Plain rules: 2xx delivered, 401 pauses, 429 throttles, 5xx retries.
fn plain_rules() -> serde_json::Value {
    json!({"r": [
        {"status": ["2xx"], "outcome": "delivered"},
        {"status": [401], "outcome": "pause", "diagnosis": "invalid_integration_key"},
        {"status": [429], "outcome": "throttle"},
        {"status": ["5xx"], "outcome": "retry"}
    ]})
}

fn plain_request() -> serde_json::Value {
    json!({"events": {"url": "{region.base}/e", "auth": {"header": {"x-key": "{config.k}"}},
        "item": {}, "response": "r"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_of_u64_max_seconds_does_not_stop_the_integration() {
    let vendor = Vendor::start(|_, n| {
        if n == 0 {
            let forever = u64::MAX.to_string();
            (503, vec![("retry-after", forever)], String::new())
        } else {
            ok("{}")
        }
    })
    .await;
    let cfg = config(&vendor, plain_request(), plain_rules(), json!({"k": "s"}));
    let (integration, mut rx) = start(cfg);
    assert!(integration.deliver(job(0, 0, json!({"n": 0}), None)));
    // The first answer is in before the second event arrives.
    while vendor.seen().is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let accepted = integration.deliver(job(1, 0, json!({"n": 1}), None));
    assert!(
        accepted,
        "deliver() refused: the integration's task is gone"
    );
    let got = finals(&mut rx, 2, Duration::from_secs(3)).await;
    // The retry policy's cap is 200 ms here: event 0 is retried within it, not in 584 billion years.
    assert_eq!(ids(&got, OutcomeKind::Delivered).len(), 2, "{got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_days_long_retry_after_on_a_429_holds_no_longer_than_the_retry_cap() {
    let vendor = Vendor::start(|_, n| {
        if n == 0 {
            (
                429,
                vec![("retry-after", "172800".to_owned())],
                String::new(),
            )
        } else {
            ok("{}")
        }
    })
    .await;
    let cfg = config(&vendor, plain_request(), plain_rules(), json!({"k": "s"}));
    let (integration, mut rx) = start(cfg);
    for n in 0..3u64 {
        integration.deliver(job(n, 0, json!({"n": n}), None));
    }
    let got = finals(&mut rx, 3, Duration::from_secs(3)).await;
    assert_eq!(ids(&got, OutcomeKind::Delivered).len(), 3, "{got:?}");
}

/// Paused; the probe is answered 503 and its retry is due after the next probe time: with no
/// new event arriving, the retry is still sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_due_while_paused_is_sent_without_a_new_event() {
    let vendor = Vendor::start(|_, n| match n {
        0 => (401, Vec::new(), String::new()),
        1 => (503, Vec::new(), String::new()),
        _ => ok("{}"),
    })
    .await;
    let mut cfg = config(&vendor, plain_request(), plain_rules(), json!({"k": "s"}));
    cfg.probe_interval = Duration::from_millis(50);
    cfg.retry.base = Duration::from_millis(1500);
    cfg.retry.cap = Duration::from_millis(1500);
    let (integration, mut rx) = start(cfg);
    integration.deliver(job(0, 0, json!({"n": 0}), None));
    let got = finals(&mut rx, 1, Duration::from_secs(6)).await;
    let seen = vendor.seen().len();
    assert_eq!(
        ids(&got, OutcomeKind::Delivered).len(),
        1,
        "never delivered; vendor saw {seen} requests"
    );
}

/// Per-user 429s naming a different user's event each round: once `max_partial` (3) rounds
/// are used up, the events of users never throttled are still delivered, not dead-lettered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_never_throttled_are_delivered_after_max_partial_rounds() {
    let vendor = Vendor::start(|s, _| {
        let first = events(s)
            .first()
            .and_then(|e| e["user_id"].as_str().map(str::to_owned))
            .unwrap_or_default();
        // The vendor throttles whoever is first in the batch if it is one of u-0..u-3.
        if ["u-0", "u-1", "u-2", "u-3"].contains(&first.as_str()) {
            let body = json!({"code": 429, "error": "Too many requests for some devices and users",
                              "throttled_events": [0]});
            (429, Vec::new(), body.to_string())
        } else {
            ok(r#"{"code":200}"#)
        }
    })
    .await;
    let cfg = config(
        &vendor,
        amplitude_request(10, 50),
        amplitude_rules(30),
        json!({"api_key": AMPLITUDE_KEY}),
    );
    let (integration, mut rx) = start(cfg);
    for n in 0..6u64 {
        let u = format!("u-{n}");
        integration.deliver(job(n, 0, json!({"user_id": u}), Some(&u)));
    }
    let got = finals(&mut rx, 2, Duration::from_secs(5)).await;
    assert!(
        ids(&got, OutcomeKind::DeadLettered).is_empty(),
        "dead-lettered: {got:?}"
    );
    assert_eq!(ids(&got, OutcomeKind::Delivered), [4, 5].into(), "{got:?}");
}

/// An update that keeps the number of requests but makes a batched one unbatched: events
/// after it are still sent and delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_making_a_batched_request_unbatched_still_delivers() {
    let vendor = Vendor::start(|_, _| ok("{}")).await;
    let key = json!({"api_key": AMPLITUDE_KEY});
    let cfg = config(
        &vendor,
        amplitude_request(10, 20),
        amplitude_rules(30),
        key.clone(),
    );
    let unbatched = json!({"events": {"url": "{region.base}/2/httpapi",
        "auth": {"body": {"api_key": "{config.api_key}"}}, "item": {}, "response": "amplitude_v2"}});
    let cfg2 = config(&vendor, unbatched, amplitude_rules(30), key);
    let (integration, mut rx) = start(cfg);
    integration.update(cfg2);
    integration.deliver(job(0, 0, json!({"n": 0}), None));
    let got = finals(&mut rx, 1, Duration::from_secs(2)).await;
    let seen = vendor.seen().len();
    assert_eq!(
        ids(&got, OutcomeKind::Delivered).len(),
        1,
        "stranded; vendor saw {seen}"
    );
}

/// Items already waiting in a batch when an update makes their request unbatched are carried
/// over and sent, not left in the old batcher (the update's drain, which the test above,
/// updating before any item, does not reach).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_waiting_in_a_batch_when_it_becomes_unbatched_are_delivered() {
    let vendor = Vendor::start(|_, _| ok("{}")).await;
    let key = json!({"api_key": AMPLITUDE_KEY});
    // A linger far longer than the test: only the update can send these.
    let cfg = config(
        &vendor,
        amplitude_request(10, 60_000),
        amplitude_rules(30),
        key.clone(),
    );
    let unbatched = json!({"events": {"url": "{region.base}/2/httpapi",
        "auth": {"body": {"api_key": "{config.api_key}"}}, "item": {}, "response": "amplitude_v2"}});
    let cfg2 = config(&vendor, unbatched, amplitude_rules(30), key);
    let (integration, mut rx) = start(cfg);
    for n in 0..3 {
        integration.deliver(job(n, 0, json!({"n": n}), None));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(vendor.seen().len(), 0, "the batch waits for its linger");
    integration.update(cfg2);
    let got = finals(&mut rx, 3, Duration::from_secs(3)).await;
    assert_eq!(
        ids(&got, OutcomeKind::Delivered).len(),
        3,
        "stranded in the old batcher; vendor saw {}",
        vendor.seen().len()
    );
}
