//! The sandbox answers as Pendo would, and tells what it accepted, from Rust and over HTTP.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use signal_sandbox::{Sim, Subscriptions};
use std::time::Duration;

type Client = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    Full<Bytes>,
>;

fn client() -> Client {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(hyper_util::client::legacy::connect::HttpConnector::new())
}

async fn call(c: &Client, method: &str, url: &str, key: Option<&str>, body: &str) -> (u16, String) {
    let mut req = hyper::Request::builder().method(method).uri(url);
    if let Some(k) = key {
        req = req.header("x-pendo-integration-key", k);
    }
    let req = req
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("request");
    let resp = c.request(req).await.expect("answer");
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

const TRACK: &str = r#"{"type":"track","event":"e","visitorId":"v","timestamp":1}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_regions_and_bodies_are_checked_like_pendo() {
    let subs = Subscriptions::new();
    subs.add("us-key", "us");
    subs.add("eu-key", "eu");
    let sim = Sim::start("us", subs.clone()).await.expect("sim");
    let c = client();
    let track = format!("{}/data/track", sim.base_url());
    assert_eq!(call(&c, "POST", &track, Some("us-key"), TRACK).await.0, 200);
    assert_eq!(call(&c, "POST", &track, Some("nope"), TRACK).await.0, 401);
    assert_eq!(call(&c, "POST", &track, None, TRACK).await.0, 401);
    subs.answer_403(true);
    assert_eq!(call(&c, "POST", &track, Some("nope"), TRACK).await.0, 403);
    let (status, body) = call(&c, "POST", &track, Some("eu-key"), TRACK).await;
    assert_eq!(
        (status, body.contains("subscription not found")),
        (404, true),
        "{body}"
    );
    let (status, body) = call(
        &c,
        "POST",
        &track,
        Some("us-key"),
        r#"{"type":"track","visitorId":"v","timestamp":1}"#,
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("event is required"), "{body}");
    let visitors = format!("{}/api/v1/metadata/visitor/custom/value", sim.base_url());
    let (status, body) = call(
        &c,
        "POST",
        &visitors,
        Some("us-key"),
        r#"[{"visitorId":"u","values":{"a":1}},{"visitorId":"w","values":{}}]"#,
    )
    .await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        v,
        serde_json::json!({"total": 2, "updated": 2, "failed": 0, "missing": 0})
    );
    assert_eq!(sim.requests().len(), 2, "only the accepted are recorded");
    let stats = sim.stats();
    assert_eq!((stats.received, stats.accepted, stats.refused), (7, 2, 5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_was_accepted_can_be_read_over_http() {
    let subs = Subscriptions::new();
    subs.add("k", "us");
    let sim = Sim::start("us", subs).await.expect("sim");
    let c = client();
    call(
        &c,
        "POST",
        &format!("{}/data/track", sim.base_url()),
        Some("k"),
        TRACK,
    )
    .await;
    let (status, body) = call(
        &c,
        "GET",
        &format!("{}/_sim/requests", sim.base_url()),
        None,
        "",
    )
    .await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["data"][0]["path"], "/data/track");
    assert_eq!(v["data"][0]["body"], TRACK);
    assert!(
        v["data"][0]["headers"]
            .as_array()
            .expect("headers")
            .iter()
            .any(|h| h[0] == "x-pendo-integration-key" && h[1] == "k")
    );
    let (_, stats) = call(
        &c,
        "GET",
        &format!("{}/_sim/stats", sim.base_url()),
        None,
        "",
    )
    .await;
    let s: serde_json::Value = serde_json::from_str(&stats).expect("json");
    assert_eq!(s["accepted"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_injected_as_planned() {
    let subs = Subscriptions::new();
    subs.add("k", "us");
    let sim = Sim::start("us", subs).await.expect("sim");
    let c = client();
    let track = format!("{}/data/track", sim.base_url());
    sim.set_faults(signal_sandbox::FaultPlan {
        throttle_next: 2,
        retry_after_secs: 7,
        ..Default::default()
    });
    let req = hyper::Request::post(&track)
        .header("x-pendo-integration-key", "k")
        .body(Full::new(Bytes::from_static(TRACK.as_bytes())))
        .expect("request");
    let resp = c.request(req).await.expect("answer");
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(
        resp.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("7")
    );
    assert_eq!(call(&c, "POST", &track, Some("k"), TRACK).await.0, 429);
    assert_eq!(call(&c, "POST", &track, Some("k"), TRACK).await.0, 200);
    sim.set_faults(signal_sandbox::FaultPlan {
        error_rate: 1.0,
        ..Default::default()
    });
    let status = call(&c, "POST", &track, Some("k"), TRACK).await.0;
    assert!(status == 500 || status == 503, "{status}");
    sim.set_faults(signal_sandbox::FaultPlan {
        latency: Duration::from_millis(150),
        ..Default::default()
    });
    let start = std::time::Instant::now();
    assert_eq!(call(&c, "POST", &track, Some("k"), TRACK).await.0, 200);
    assert!(start.elapsed() >= Duration::from_millis(150));
    sim.set_faults(signal_sandbox::FaultPlan {
        reset_after_rate: 1.0,
        ..Default::default()
    });
    let before = sim.requests().len();
    let req = hyper::Request::post(&track)
        .header("x-pendo-integration-key", "k")
        .body(Full::new(Bytes::from_static(TRACK.as_bytes())))
        .expect("request");
    assert!(c.request(req).await.is_err(), "the answer is lost");
    assert_eq!(
        sim.requests().len(),
        before + 1,
        "but the request was handled and recorded"
    );
    assert_eq!(sim.stats().resets_after, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_accepted_item_is_recorded_on_its_own() {
    let subs = Subscriptions::new();
    subs.add("k", "us");
    let sim = Sim::start("us", subs).await.expect("sim");
    let c = client();
    let base = sim.base_url();
    call(&c, "POST", &format!("{base}/data/track"), Some("k"), TRACK).await;
    let records = r#"[{"accountId":"a","values":{}},{"accountId":"b","values":{"x":1}}]"#;
    let accounts = format!("{base}/api/v1/metadata/account/custom/value");
    assert_eq!(call(&c, "POST", &accounts, Some("k"), records).await.0, 200);
    assert_eq!(
        call(&c, "POST", &accounts, Some("k"), r#"[{"values":{}}]"#)
            .await
            .0,
        400
    );
    let items = sim.items();
    let seen: Vec<(&str, usize)> = items.iter().map(|i| (i.route.as_str(), i.index)).collect();
    assert_eq!(seen, [("track", 0), ("accounts", 0), ("accounts", 1)]);
    assert_eq!(items[2].item["accountId"], "b");
    assert_eq!(sim.requests()[1].items, 2);
    assert_eq!(sim.stats().items_accepted, 3);
    let (_, body) = call(&c, "GET", &format!("{base}/_sim/items"), None, "").await;
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["data"][1]["item"]["accountId"], "a");
    assert_eq!(v["data"].as_array().map(Vec::len), Some(3));
    let (_, stats) = call(&c, "GET", &format!("{base}/_sim/stats"), None, "").await;
    let s: serde_json::Value = serde_json::from_str(&stats).expect("json");
    assert_eq!(
        (s["vendor"].clone(), s["items_accepted"].clone()),
        ("pendo".into(), 3.into())
    );
    sim.clear();
    assert!(sim.items().is_empty() && sim.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_visitor_view_is_html_at_the_sandboxs_own_address() {
    let subs = Subscriptions::new();
    subs.add("k", "us");
    let sim = Sim::start("us", subs).await.expect("sim");
    let c = client();
    let base = sim.base_url();
    call(&c, "POST", &format!("{base}/data/track"), Some("k"), TRACK).await;
    let meta = r#"[{"visitorId":"v","values":{"plan":"pro"}}]"#;
    let url = format!("{base}/api/v1/metadata/visitor/custom/value");
    assert_eq!(call(&c, "POST", &url, Some("k"), meta).await.0, 200);

    let (status, list) = call(&c, "GET", &format!("{base}/_sim/visitors?q=v"), None, "").await;
    assert_eq!(status, 200);
    assert!(list.contains("href=\"/_sim/visitors/v\""), "{list}");
    let req = hyper::Request::get(format!("{base}/_sim/visitors/v"))
        .body(Full::new(Bytes::new()))
        .expect("request");
    let resp = c.request(req).await.expect("answer");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/html; charset=utf-8");
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .expect("csp");
    assert!(
        csp.starts_with("default-src 'none'"),
        "no script runs: {csp}"
    );
    let page = resp.into_body().collect().await.expect("body").to_bytes();
    let page = String::from_utf8_lossy(&page);
    assert!(
        page.contains("Track event") && page.contains(">pro<"),
        "{page}"
    );
    let (status, _) = call(&c, "GET", &format!("{base}/_sim/visitors/nobody"), None, "").await;
    assert_eq!(status, 404);
    assert_eq!(
        sim.stats().received,
        2,
        "looking is not a request to the vendor"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_its_cap_the_oldest_requests_are_forgotten_and_still_counted() {
    let subs = Subscriptions::new();
    subs.add("k", "us");
    let sim = Sim::start("us", subs).await.expect("sim");
    sim.keep_at_most(10);
    let c = client();
    for n in 0..25 {
        let body = format!(r#"{{"type":"track","event":"e{n}","visitorId":"v","timestamp":1}}"#);
        call(
            &c,
            "POST",
            &format!("{}/data/track", sim.base_url()),
            Some("k"),
            &body,
        )
        .await;
    }
    let kept = sim.requests();
    assert!((1..=10).contains(&kept.len()), "{}", kept.len());
    let last = String::from_utf8_lossy(&kept[kept.len() - 1].body).into_owned();
    assert!(last.contains("\"e24\""), "the newest is kept: {last}");
    assert_eq!(sim.stats().accepted, 25);
}
