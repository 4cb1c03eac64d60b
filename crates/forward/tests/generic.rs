//! The engine driven only by request specs and response rules, against a scripted vendor on
//! 127.0.0.1: an Amplitude-like batched target (key in the body, 400s naming events, 413s,
//! per-user 429s), a Heap-like text 400, and every auth form, whose credential reaches the
//! vendor and never an outcome.

mod support;

use bytes::Bytes;
use serde_json::json;
use signal_forward::{Job, JobBody, Outcome, OutcomeKind};
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_400_naming_events_dead_letters_those_with_the_answer_and_delivers_the_rest() {
    let vendor = Vendor::start(|s, _| {
        let bad: Vec<usize> = events(s)
            .iter()
            .enumerate()
            .filter(|(_, e)| !e["time"].is_number())
            .map(|(i, _)| i)
            .collect();
        if bad.is_empty() {
            ok(r#"{"code":200}"#)
        } else {
            let body = json!({"code": 400, "error": "Invalid field values on some events",
                              "events_with_invalid_fields": {"time": bad}});
            (400, Vec::new(), body.to_string())
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
        let time = if n == 1 || n == 4 {
            json!("yesterday")
        } else {
            json!(1_732_608_000_000u64 + n)
        };
        integration.deliver(job(
            n,
            0,
            json!({"event_type": "e", "user_id": "u-1", "time": time, "n": n}),
            Some("u-1"),
        ));
    }
    let got = finals(&mut rx, 6, Duration::from_secs(5)).await;
    assert_eq!(ids(&got, OutcomeKind::DeadLettered), BTreeSet::from([1, 4]));
    assert_eq!(
        ids(&got, OutcomeKind::Delivered),
        BTreeSet::from([0, 2, 3, 5])
    );
    for o in got.iter().filter(|o| o.kind == OutcomeKind::DeadLettered) {
        let r = o.response.as_ref().expect("the answer");
        assert_eq!(r.status, 400);
        assert!(r.body_text(4096).contains("events_with_invalid_fields"));
    }
    let seen = vendor.seen();
    assert_eq!(seen.len(), 2, "one batch, then its rest");
    assert_eq!(seen[0].json()["api_key"], AMPLITUDE_KEY);
    let second: Vec<u64> = events(&seen[1])
        .iter()
        .filter_map(|e| e["n"].as_u64())
        .collect();
    assert_eq!(second, [0, 2, 3, 5]);
    assert_never_shown(&got, AMPLITUDE_KEY);
    let shown = got[0].request.as_ref().expect("request");
    assert!(String::from_utf8_lossy(&shown.body).starts_with(r#"{"api_key":"****","events":["#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_413_splits_until_each_half_is_accepted_and_a_lone_oversized_event_dead_letters() {
    let vendor = Vendor::start(|s, _| {
        let ev = events(s);
        if ev.len() > 2 || ev.iter().any(|e| e["huge"] == json!(true)) {
            (
                413,
                Vec::new(),
                r#"{"code":413,"error":"Payload too large"}"#.to_owned(),
            )
        } else {
            ok(r#"{"code":200}"#)
        }
    })
    .await;
    let cfg = config(
        &vendor,
        amplitude_request(9, 50),
        amplitude_rules(30),
        json!({"api_key": "k"}),
    );
    let (integration, mut rx) = start(cfg);
    for n in 0..9u64 {
        integration.deliver(job(
            n,
            0,
            json!({"event_type": "e", "n": n, "huge": n == 8}),
            None,
        ));
    }
    let got = finals(&mut rx, 9, Duration::from_secs(5)).await;
    assert_eq!(ids(&got, OutcomeKind::Delivered), (0..8).collect());
    let dead: Vec<&Outcome> = got
        .iter()
        .filter(|o| o.kind == OutcomeKind::DeadLettered)
        .collect();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].id, 8);
    assert_eq!(
        dead[0].reason.as_deref(),
        Some("vendor_rejected: status_413")
    );
    let mut accepted = Vec::new();
    for s in vendor.seen() {
        let ev = events(&s);
        if ev.len() <= 2 && !ev.iter().any(|e| e["huge"] == json!(true)) {
            accepted.extend(ev.iter().filter_map(|e| e["n"].as_u64()));
        }
    }
    accepted.sort_unstable();
    assert_eq!(
        accepted,
        (0..8).collect::<Vec<u64>>(),
        "each event accepted once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_user_429_holds_that_user_while_others_go_at_the_full_rate() {
    // The first request for user "hot" is throttled; every later one is accepted.
    let vendor = Vendor::start(|s, n| {
        let ev = events(s);
        let hot = ev.iter().any(|e| e["user_id"] == "hot");
        if hot && n == 0 {
            let body = json!({"code": 429, "error": "Too many requests for some devices and users",
                              "throttled_users": {"hot": 31}, "throttled_events": [0]});
            (429, Vec::new(), body.to_string())
        } else {
            ok(r#"{"code":200}"#)
        }
    })
    .await;
    let mut cfg = config(
        &vendor,
        amplitude_request(1, 0),
        amplitude_rules(1),
        json!({"api_key": "k"}),
    );
    cfg.rate_limit_per_second = 20;
    let (integration, mut rx) = start(cfg);
    let hot = |id| {
        job(
            id,
            0,
            json!({"event_type": "e", "user_id": "hot", "n": id}),
            Some("hot"),
        )
    };
    integration.deliver(hot(0));
    let first = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("an outcome")
        .expect("open");
    let throttled_at = Instant::now();
    assert_eq!(first.kind, OutcomeKind::Retrying);
    assert_eq!(first.reason.as_deref(), Some("delayed: status_429"));
    integration.deliver(hot(1));
    for id in 2..22 {
        integration.deliver(job(
            id,
            0,
            json!({"event_type": "e", "user_id": format!("cold-{id}"), "n": id}),
            Some(&format!("cold-{id}")),
        ));
    }
    let got = finals(&mut rx, 22, Duration::from_secs(10)).await;
    assert_eq!(ids(&got, OutcomeKind::Delivered), (0..22).collect());
    let seen = vendor.seen();
    let at = |user_hot: bool| -> Vec<Instant> {
        seen.iter()
            .skip(1)
            .filter(|s| (events(s)[0]["user_id"] == "hot") == user_hot)
            .map(|s| s.at)
            .collect()
    };
    let (hot_at, cold_at) = (at(true), at(false));
    assert_eq!(
        hot_at.len(),
        2,
        "the throttled event and the later one of the same user"
    );
    for t in &hot_at {
        assert!(
            t.duration_since(throttled_at) >= Duration::from_millis(900),
            "a held user's event went {:?} after the 429",
            t.duration_since(throttled_at)
        );
    }
    assert_eq!(cold_at.len(), 20);
    assert!(
        cold_at[0].duration_since(throttled_at) < Duration::from_millis(500),
        "other users are not held"
    );
    let span = cold_at[19].duration_since(cold_at[0]);
    // 20 requests at 20/s take about 0.95 s; at a halved rate, about 1.9 s.
    assert!(
        span < Duration::from_millis(1500),
        "the rate was cut: {span:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_400_naming_events_dead_letters_those_and_resends_the_rest() {
    let vendor = Vendor::start(|s, _| {
        let msgs: Vec<String> = events(s)
            .iter()
            .enumerate()
            .filter(|(_, e)| !e["properties"].is_object())
            .map(|(i, _)| format!("postBody.events[{i}].properties should be object"))
            .collect();
        if msgs.is_empty() {
            ok("")
        } else {
            (
                400,
                vec![("content-type", "text/plain".to_owned())],
                msgs.join("\n"),
            )
        }
    })
    .await;
    let requests = json!({"track": {"url": "{region.base}/api/track", "auth": {"body": {"app_id": "{config.app_id}"}},
        "batch": {"max_items": 1000, "max_bytes": 1_000_000, "linger_ms": 50},
        "envelope": {"events": {"@items": true}}, "item": {}, "response": "heap"}});
    let rules = json!({"heap": [
        {"status": ["2xx"], "outcome": "delivered"},
        {"status": [400], "outcome": "partial", "drop_indexes": ["text:events[", "text:users[", "text:accounts["]},
        {"status": [400], "outcome": "split"},
        {"status": [401, 403], "outcome": "pause", "diagnosis": "invalid_app_id"},
        {"status": [404], "outcome": "pause", "diagnosis": "wrong_data_region"},
        {"status": [408, 429, "5xx"], "outcome": "retry"},
        {"status": ["4xx"], "outcome": "dead_letter"}
    ]});
    let cfg = config(&vendor, requests, rules, json!({"app_id": "1234567890"}));
    let (integration, mut rx) = start(cfg);
    for n in 0..5u64 {
        let props = if n == 3 {
            json!("not an object")
        } else {
            json!({"n": n})
        };
        integration.deliver(job(
            n,
            0,
            json!({"event": "e", "identity": "u", "properties": props}),
            None,
        ));
    }
    let got = finals(&mut rx, 5, Duration::from_secs(5)).await;
    assert_eq!(ids(&got, OutcomeKind::DeadLettered), BTreeSet::from([3]));
    assert_eq!(
        ids(&got, OutcomeKind::Delivered),
        BTreeSet::from([0, 1, 2, 4])
    );
    let dead = got
        .iter()
        .find(|o| o.kind == OutcomeKind::DeadLettered)
        .expect("dead");
    let text = dead.response.as_ref().expect("answer").body_text(4096);
    assert_eq!(text, "postBody.events[3].properties should be object");
    let seen = vendor.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(events(&seen[1]).len(), 4);
    assert_eq!(seen[1].json()["app_id"], "1234567890");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_bearer_query_and_body_auth_reach_the_vendor_and_never_an_outcome() {
    let vendor = Vendor::start(|_, _| ok("{}")).await;
    let requests = json!({
        "a_basic": {"url": "{region.base}/basic", "auth": {"basic": {"user": "{config.user}", "password": "{config.password}"}},
                    "item": {}, "response": "any"},
        "b_bearer": {"method": "PUT", "url": "{region.base}/bearer", "auth": {"bearer": "{config.token}"}, "item": {}, "response": "any"},
        "c_query": {"url": "{region.base}/mp/collect?v=2", "auth": {"query": {"api_secret": "{config.secret}"}},
                    "item": {}, "response": "any"},
        "d_body": {"url": "{region.base}/api/track", "auth": {"body": {"app_id": "{config.app_id}"}}, "item": {}, "response": "any"}
    });
    let secrets = json!({"user": "basic-user-31", "password": "basic-pass-77", "token": "bearer-tok-55",
                         "secret": "query-secret-19", "app_id": "body-app-id-23"});
    let cfg = config(&vendor, requests, json!({}), secrets.clone());
    let (integration, mut rx) = start(cfg);
    for r in 0..4 {
        integration.deliver(job(r as u64, r, json!({"event": "e"}), None));
        // One at a time: the vendor sees them in order.
        let got = finals(&mut rx, 1, Duration::from_secs(5)).await;
        assert_eq!(
            got.last().map(|o| o.kind),
            Some(OutcomeKind::Delivered),
            "{got:?}"
        );
        for secret in secrets.as_object().expect("object").values() {
            assert_never_shown(&got, secret.as_str().expect("string"));
        }
        let shown = got.last().and_then(|o| o.request.clone()).expect("request");
        match r {
            2 => assert!(
                shown.url.ends_with("/mp/collect?v=2&api_secret=****"),
                "{}",
                shown.url
            ),
            3 => assert_eq!(&shown.body[..], br#"{"app_id":"****","event":"e"}"#),
            _ => assert_eq!(&shown.body[..], br#"{"event":"e"}"#),
        }
    }
    let seen = vendor.seen();
    assert_eq!(seen.len(), 4);
    // base64("basic-user-31:basic-pass-77")
    assert_eq!(
        seen[0].header("authorization"),
        Some("Basic YmFzaWMtdXNlci0zMTpiYXNpYy1wYXNzLTc3")
    );
    assert_eq!(seen[1].method, "PUT");
    assert_eq!(
        seen[1].header("authorization"),
        Some("Bearer bearer-tok-55")
    );
    assert_eq!(seen[2].uri, "/mp/collect?v=2&api_secret=query-secret-19");
    assert_eq!(seen[3].body, br#"{"app_id":"body-app-id-23","event":"e"}"#);
    for s in &seen {
        assert_eq!(s.header("content-type"), Some("application/json"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_goes_partial_a_bounded_number_of_times_and_warnings_come_from_rules() {
    // Every batch: the first event is "silenced".
    let vendor = Vendor::start(|s, _| {
        if s.uri.starts_with("/meta") {
            return ok(r#"{"total":2,"updated":1,"failed":1,"missing":0}"#);
        }
        (
            400,
            Vec::new(),
            r#"{"code":400,"silenced_events":[0]}"#.to_owned(),
        )
    })
    .await;
    let mut requests = amplitude_request(10, 50);
    requests["meta"] = json!({"url": "{region.base}/meta", "batch": {"max_items": 10, "linger_ms": 20,
        "merge_by": "visitorId", "merge_into": "values"}, "envelope": {"@items": true}, "item": {}, "response": "meta"});
    let mut rules = amplitude_rules(30);
    rules["meta"] = json!([{"status": ["2xx"], "outcome": "delivered", "warn_if": [
        {"path": "failed", "gt": 0, "warning": "metadata_failed", "message": "Pendo reported {n} record(s) failed"},
        {"path": "missing", "gt": 0, "warning": "metadata_missing", "message": "Pendo reported {n} record(s) missing"}]}]);
    let mut cfg = config(&vendor, requests, rules, json!({"api_key": "k"}));
    cfg.max_partial = 2;
    let (integration, mut rx) = start(cfg);
    for n in 0..4u64 {
        integration.deliver(job(n, 0, json!({"n": n}), None));
    }
    let merge = |id: u64, k: &str| Job {
        id,
        request: 1,
        body: JobBody::Merge {
            id: "u1".into(),
            fields: vec![(Bytes::from(format!("\"{k}\"")), Bytes::from_static(b"1"))],
        },
        hold: None,
    };
    integration.deliver(merge(10, "a"));
    integration.deliver(merge(11, "b"));
    let got = finals(&mut rx, 6, Duration::from_secs(5)).await;
    let reasons: HashMap<u64, String> = got
        .iter()
        .filter(|o| o.kind == OutcomeKind::DeadLettered)
        .map(|o| (o.id, o.reason.clone().unwrap_or_default()))
        .collect();
    assert_eq!(reasons.len(), 4, "{got:?}");
    for id in [0, 1, 2, 3] {
        assert_eq!(reasons[&id], "vendor_rejected: status_400");
    }
    // Past max_partial (2) rounds, event 3 (never rejected until then) went through the retry
    // policy; sent again alone, the vendor silenced it too.
    assert!(
        got.iter().any(|o| o.id == 3
            && o.kind == OutcomeKind::Retrying
            && o.reason.as_deref() == Some("partial_limit: status_400")),
        "{got:?}"
    );
    let sent = vendor
        .seen()
        .iter()
        .filter(|s| s.uri.starts_with("/2/"))
        .count();
    assert_eq!(sent, 4, "three partial rounds, one retry");
    let delivered: Vec<&Outcome> = got
        .iter()
        .filter(|o| o.kind == OutcomeKind::Delivered)
        .collect();
    assert_eq!(delivered.len(), 2, "both merged events");
    for o in delivered {
        assert_eq!(
            o.warnings,
            ["metadata_failed: Pendo reported 1 record(s) failed"]
        );
    }
    let meta: Vec<Seen> = vendor
        .seen()
        .into_iter()
        .filter(|s| s.uri == "/meta")
        .collect();
    assert_eq!(meta.len(), 1);
    assert_eq!(
        meta[0].body,
        br#"[{"visitorId":"u1","values":{"a":1,"b":1}}]"#
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_throttled_past_the_retry_age_is_dead_lettered_not_held_for_ever() {
    let vendor = Vendor::start(|_, _| {
        let body = json!({"code": 429, "throttled_events": [0]});
        (429, Vec::new(), body.to_string())
    })
    .await;
    let mut cfg = config(
        &vendor,
        amplitude_request(1, 0),
        amplitude_rules(1),
        json!({"api_key": "k"}),
    );
    cfg.retry.max_age = Duration::from_millis(500);
    let (integration, mut rx) = start(cfg);
    integration.deliver(job(0, 0, json!({"user_id": "hot"}), Some("hot")));
    let got = finals(&mut rx, 1, Duration::from_secs(5)).await;
    let kinds: Vec<(OutcomeKind, Option<&str>)> =
        got.iter().map(|o| (o.kind, o.reason.as_deref())).collect();
    assert_eq!(
        kinds,
        [
            (OutcomeKind::Retrying, Some("delayed: status_429")),
            (OutcomeKind::DeadLettered, Some("too_old: status_429"))
        ]
    );
    assert_eq!(vendor.seen().len(), 2, "sent again once, after the delay");
}
