//! The binary through its HTTP interfaces: install, gateway, delivery, restarts, signals.

use crate::harness::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use signal_sandbox::{FaultPlan, Sim, Subscriptions};
use std::process::Command;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_product_pages_install_curl_and_its_validation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let edge = Edge::start(dir.path(), &[]);
    // The product page's body, verbatim.
    let body: Value = serde_json::from_str(
        r#"{
    "name": "Pendo",
    "variant": "b2b_saas",
    "config": {
      "api_key": "your_subscription_api_key",
      "integration_key": "your_track_integration_key",
      "data_region": "us"
    },
    "delivery_mode": "server_side"
  }"#,
    )
    .expect("json");
    // Query parameters are URL-decoded: %20 and + are spaces.
    for q in ["product%20analytics", "product+analytics"] {
        let (_, v) = edge
            .admin(
                "GET",
                &format!("/v1/admin/integration-catalog?q={q}&category=Analytics"),
                None,
            )
            .await;
        assert_eq!(v["data"][0]["key"], "pendo", "q={q}: {v}");
    }
    let (status, v) = edge.try_install(body.clone()).await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["blueprint"], "pendo");
    assert_eq!(v["blueprint_version"], "0.1.0");
    assert_eq!(v["config"]["api_key"], "****_key");
    assert_eq!(v["config"]["integration_key"], "****_key");
    let mut missing = body.clone();
    missing["name"] = "Other".into();
    missing["config"]
        .as_object_mut()
        .expect("config")
        .remove("integration_key");
    let (status, v) = edge.try_install(missing).await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["error"]["code"], "VALIDATION_ERROR");
    assert_eq!(
        v["error"]["fields"]["config.integration_key"],
        "is required"
    );
    let mut mars = body.clone();
    mars["name"] = "Mars".into();
    mars["config"]["data_region"] = "mars".into();
    let (status, v) = edge.try_install(mars).await;
    assert_eq!(status, 422);
    assert!(
        v["error"]["fields"]["config.data_region"]
            .as_str()
            .is_some_and(|m| m.contains("us, eu")),
        "{v}"
    );
    let mut blank = body.clone();
    blank["name"] = "  ".into();
    blank["config"]["api_key"] = "".into();
    let (status, v) = edge.try_install(blank).await;
    assert_eq!(status, 422);
    assert_eq!(
        v["error"]["fields"],
        json!({"name": "must be a non-empty string", "config.api_key": "is required"}),
        "a blank name is named beside the config's errors"
    );
    let (status, _) = edge.try_install(body.clone()).await;
    assert_eq!(status, 409, "the same name twice");
    let (status, v) = edge
        .call(
            "GET",
            &format!("{}/v1/admin/integrations", edge.admin),
            Some("Bearer wrong"),
            None,
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (401, Some("UNAUTHORIZED"))
    );
    let (status, v) = edge.admin("GET", "/v1/admin/integrations", None).await;
    assert_eq!(status, 200);
    assert_eq!(v["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["has_more"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_arrives_at_pendo_as_the_exact_track_bodies() {
    let (_dir, sim, edge, _id) = with_pendo(&[]).await;
    let events = json!([
        {"type": "page", "userId": "u-123", "name": "Settings", "timestamp": 1_764_140_000_000_i64,
         "context": {"groupId": "acme", "page": {"url": "https://app.example.com/settings", "title": "Settings", "referrer": ""}}},
        {"type": "track", "event": "Product Viewed", "userId": "u-123", "timestamp": 1_764_140_000_001_i64, "properties": {"product_id": "p1", "price": 9.5}},
        {"type": "track", "event": "Order Completed", "userId": "u-123", "timestamp": 1_764_140_000_002_i64, "properties": {"order_id": "o1", "total": 19, "products": [{"sku": "s"}]}},
        {"type": "track", "event": "feature_used", "userId": "u-123", "timestamp": 1_764_140_000_003_i64, "properties": {"feature": "export"}},
    ]);
    let (status, v) = edge.ingest("/v1/batch", json!({"batch": events})).await;
    assert_eq!((status, v["accepted"].as_u64()), (200, Some(4)), "{v}");
    eventually("four track requests", || sim.requests().len() >= 4).await;
    let mut got = bodies(&sim);
    got.sort_by_key(|b| b["timestamp"].as_i64());
    assert_eq!(
        got[0],
        json!({"type":"track","event":"page_view","visitorId":"u-123","accountId":"acme","timestamp":1_764_140_000_000_i64,
               "properties":{"url":"https://app.example.com/settings","title":"Settings","referrer":"","name":"Settings"},
               "context":{"ip":"127.0.0.1","url":"https://app.example.com/settings","title":"Settings"}})
    );
    assert_eq!(got[1]["event"], "product_viewed");
    assert_eq!(
        got[1]["properties"],
        json!({"product_id": "p1", "price": 9.5})
    );
    assert_eq!(got[2]["event"], "purchase");
    assert_eq!(
        got[2]["properties"],
        json!({"order_id": "o1", "total": 19, "items": [{"sku": "s"}], "revenue": 19})
    );
    assert_eq!(got[3]["event"], "feature_used");
    assert!(
        sim.requests()
            .iter()
            .all(|r| r.header("x-pendo-integration-key") == Some("ik"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identify_links_the_account_and_the_anonymous_visitor() {
    let (_dir, sim, edge, _id) = with_pendo(&[]).await;
    let (s, _) = edge
        .ingest("/v1/identify", json!({"userId": "u-9", "anonymousId": "anon-9", "traits": {"accountId": "acme-corp", "plan": "pro"}}))
        .await;
    assert_eq!(s, 200);
    let (s, _) = edge
        .ingest(
            "/v1/track",
            json!({"userId": "u-9", "event": "Report Exported"}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = edge
        .ingest("/v1/page", json!({"anonymousId": "anon-9", "name": "Home"}))
        .await;
    assert_eq!(s, 200);
    eventually("two track requests and a visitor record", || {
        sim.requests().len() >= 3
    })
    .await;
    let tracks = track_bodies(&sim);
    let report = tracks
        .iter()
        .find(|b| b["event"] == "Report Exported")
        .expect("track");
    assert_eq!(report["accountId"], "acme-corp");
    let page = tracks
        .iter()
        .find(|b| b["event"] == "page_view")
        .expect("page");
    assert_eq!(
        page["visitorId"], "u-9",
        "the anonymous visitor is the identified user"
    );
    let visitor = sim
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/visitor/custom/value"))
        .expect("metadata");
    assert_eq!(
        String::from_utf8_lossy(&visitor.body),
        r#"[{"visitorId":"u-9","values":{"plan":"pro"}}]"#
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_analytics_consent_nothing_reaches_pendo_and_the_live_event_says_why() {
    let (_dir, sim, edge, id) = with_pendo(&[]).await;
    let (s, _) = edge
        .ingest(
            "/v1/t",
            json!({"userId": "u", "event": "Secret", "context": {"consent": {"analytics": false}}}),
        )
        .await;
    assert_eq!(s, 200);
    let events = edge
        .poll(
            &format!("/v1/admin/integrations/{id}/events?limit=10"),
            |v| v["data"].as_array().is_some_and(|a| !a.is_empty()),
        )
        .await;
    let live = events["data"][0].clone();
    assert_eq!(live["outcome"], "dropped", "{live}");
    assert_eq!(live["reason"], "consent");
    assert_eq!(live["event"], "Secret");
    assert_eq!(
        live["input"]["context"]["consent"]["analytics"], false,
        "the live event shows the input event: {live}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(sim.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_eu_region_reaches_only_the_eu_base_url() {
    let subs = Subscriptions::new();
    subs.add("eu-key", "eu");
    let us = Sim::start("us", subs.clone()).await.expect("us");
    let eu = Sim::start("eu", subs.clone()).await.expect("eu");
    let dir = tempfile::tempdir().expect("tempdir");
    let edge = Edge::start(
        dir.path(),
        &[
            ("SIGNAL_PENDO_BASE_URL_US", us.base_url()),
            ("SIGNAL_PENDO_BASE_URL_EU", eu.base_url()),
        ],
    );
    edge.install(json!({"api_key": "a", "integration_key": "eu-key", "data_region": "eu"}))
        .await;
    edge.ingest("/v1/t", json!({"userId": "u", "event": "E"}))
        .await;
    eventually("the EU sandbox gets the event", || eu.requests().len() == 1).await;
    assert!(us.stats().received == 0, "nothing went to the US host");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_pauses_with_its_fix_and_a_patch_delivers_every_held_event() {
    let (_dir, sim, edge) =
        with_sandbox("right-key", &[("SIGNAL_PAUSE_PROBE_MS", "600000".into())]).await;
    let id = edge
        .install(json!({"api_key": "a", "integration_key": "wrong-key"}))
        .await;
    for n in 0..10 {
        edge.ingest(
            "/v1/t",
            json!({"userId": "u", "event": "E", "properties": {"n": n}}),
        )
        .await;
    }
    let integration = edge
        .poll(&format!("/v1/admin/integrations/{id}"), |v| {
            v["status"] == "paused"
        })
        .await;
    assert_eq!(integration["status"], "paused", "{integration}");
    assert_eq!(integration["diagnosis"]["code"], "invalid_integration_key");
    assert_eq!(
        integration["diagnosis"]["fix"],
        "Regenerate the Track API integration key in Pendo and update the integration."
    );
    assert!(sim.requests().is_empty());
    edge.set_config(&id, json!({"integration_key": "right-key"}))
        .await;
    eventually("all ten held events", || sim.requests().len() >= 10).await;
    let ns: std::collections::BTreeSet<i64> = bodies(&sim)
        .iter()
        .filter_map(|b| b["properties"]["n"].as_i64())
        .collect();
    assert_eq!(ns, (0..10).collect());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_with_events_undelivered_a_restart_delivers_every_one() {
    let (sim, _subs) = sandbox("us", "ik").await;
    // Pendo is down: every request fails, so nothing is delivered before the kill.
    sim.set_faults(failing());
    let dir = tempfile::tempdir().expect("tempdir");
    let env = [
        ("SIGNAL_PENDO_BASE_URL_US", sim.base_url()),
        ("SIGNAL_RETRY_MAX_ATTEMPTS", "1000".into()),
    ];
    let edge = Edge::start(dir.path(), &env);
    edge.install(json!({"api_key": "a", "integration_key": "ik"}))
        .await;
    let batch: Vec<Value> = (0..50)
        .map(|n| json!({"type": "track", "userId": "u", "event": "E", "properties": {"n": n}}))
        .collect();
    let (s, v) = edge.ingest("/v1/batch", json!({"batch": batch})).await;
    assert_eq!((s, v["accepted"].as_u64()), (200, Some(50)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    edge.kill(); // SIGKILL
    sim.set_faults(FaultPlan::default());
    sim.clear();
    let edge = Edge::start(dir.path(), &env);
    eventually("all fifty accepted events", || {
        bodies(&sim)
            .iter()
            .filter_map(|b| b["properties"]["n"].as_i64())
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            == 50
    })
    .await;
    drop(edge);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_integrations_sources_and_identity_links() {
    let (sim, _subs) = sandbox("us", "ik").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let env = [("SIGNAL_PENDO_BASE_URL_US", sim.base_url())];
    let edge = Edge::start(dir.path(), &env);
    let id = edge
        .install(json!({"api_key": "a", "integration_key": "ik"}))
        .await;
    edge.ingest(
        "/v1/identify",
        json!({"userId": "u-5", "anonymousId": "anon-5", "traits": {"accountId": "acme"}}),
    )
    .await;
    drop(edge);
    let edge = Edge::start(dir.path(), &env);
    let (status, v) = edge
        .admin("GET", &format!("/v1/admin/integrations/{id}"), None)
        .await;
    assert_eq!(status, 200, "{v}");
    // The pipeline key still opens the gateway, and the links still resolve.
    let (s, _) = edge
        .ingest("/v1/page", json!({"anonymousId": "anon-5", "name": "Back"}))
        .await;
    assert_eq!(s, 200);
    eventually("the page view", || {
        bodies(&sim).iter().any(|b| b["event"] == "page_view")
    })
    .await;
    let page = bodies(&sim)
        .into_iter()
        .find(|b| b["event"] == "page_view")
        .expect("page");
    assert_eq!(
        (page["visitorId"].as_str(), page["accountId"].as_str()),
        (Some("u-5"), Some("acme"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configuration_exits_64_naming_the_setting() {
    let out = Command::new(env!("CARGO_BIN_EXE_signal-edge"))
        .args(["serve", "--ingest-addr", "not-an-address"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--ingest-addr: `not-an-address` is not an address"),
        "{err}"
    );
}

/// Makes Segment's Python library importable (installing it from PyPI if needed).
fn segment_python() -> Result<(), String> {
    let importable = || {
        Command::new("python3")
            .args(["-c", "import segment.analytics"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if importable() {
        return Ok(());
    }
    let install = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "segment-analytics-python==2.4.0",
        ])
        .status()
        .map_err(|e| format!("python3 -m pip: {e}"))?;
    if install.success() && importable() {
        Ok(())
    } else {
        Err("segment-analytics-python could not be installed from PyPI".into())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_own_python_library_sends_to_the_gateway() {
    segment_python().expect("Segment's Python library");
    let (_dir, sim, edge, _id) = with_pendo(&[]).await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/segment_python.py"
    );
    let ingest = edge.ingest.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args([script, &ingest, KEY])
            .output()
    })
    .await
    .expect("join")
    .expect("python3");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eventually("the Python library's events", || sim.requests().len() >= 4).await;
    let tracks = track_bodies(&sim);
    let report = tracks
        .iter()
        .find(|b| b["event"] == "Report Exported")
        .expect("the track");
    assert_eq!(report["visitorId"], "py-user-1");
    assert_eq!(report["properties"]["format"], "csv");
    assert!(
        tracks
            .iter()
            .any(|b| b["event"] == "page_view" && b["properties"]["name"] == "Getting started")
    );
    let paths: Vec<String> = sim.requests().iter().map(|r| r.path.clone()).collect();
    assert!(
        paths.iter().any(|p| p.ends_with("/visitor/custom/value")),
        "{paths:?}"
    );
    assert!(
        paths.iter().any(|p| p.ends_with("/account/custom/value")),
        "{paths:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateways_answers_auth_cors_limits_and_partial_batches() {
    use base64::Engine as _;
    let (_dir, _sim, edge) =
        with_sandbox("ik", &[("SIGNAL_PIPELINE_SECRET", "hmac-secret".into())]).await;
    let url = |p: &str| format!("{}{p}", edge.ingest);
    let ev = json!({"type": "track", "userId": "u", "event": "E"});
    // Basic, as Segment's SDKs send the write key.
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:"))
    );
    assert_eq!(
        edge.call("POST", &url("/v1/track"), Some(&basic), Some(ev.clone()))
            .await
            .0,
        200
    );
    assert_eq!(
        edge.call(
            "POST",
            &url("/v1/track"),
            Some("Bearer nope"),
            Some(ev.clone())
        )
        .await
        .0,
        401
    );
    // HMAC over timestamp + "." + body, required on /v1/events.
    assert_eq!(
        edge.call(
            "POST",
            &url("/v1/events"),
            Some(&format!("Bearer {KEY}")),
            Some(ev.clone())
        )
        .await
        .0,
        401
    );
    let body = ev.to_string();
    let ts = now_ms();
    let sig = signature(b"hmac-secret", &ts, body.as_bytes());
    let req = hyper::Request::post(url("/v1/events"))
        .header("x-timestamp", &ts)
        .header("x-signature", &sig)
        .body(Full::new(Bytes::from(body.clone())))
        .expect("request");
    assert_eq!(
        edge.client
            .request(req)
            .await
            .expect("answer")
            .status()
            .as_u16(),
        200
    );
    let stale = hyper::Request::post(url("/v1/events"))
        .header("x-timestamp", "1000")
        .header("x-signature", &sig)
        .body(Full::new(Bytes::from(body)))
        .expect("request");
    assert_eq!(
        edge.client
            .request(stale)
            .await
            .expect("answer")
            .status()
            .as_u16(),
        401
    );
    // CORS preflight for a browser.
    let pre = hyper::Request::builder()
        .method("OPTIONS")
        .uri(url("/v1/t"))
        .header("origin", "https://shop.example.com")
        .body(Full::new(Bytes::new()))
        .expect("request");
    let resp = edge.client.request(pre).await.expect("answer");
    assert_eq!(
        resp.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://shop.example.com")
    );
    assert!(
        resp.headers()
            .get("access-control-allow-headers")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|h| h.contains("authorization") && h.contains("content-type"))
    );
    // A type that disagrees with the endpoint; a body over 512 KiB; a batch with one bad event.
    let (s, v) = edge
        .ingest(
            "/v1/p",
            json!({"type": "track", "userId": "u", "event": "E"}),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("INVALID_EVENT")),
        "{v}"
    );
    let (s, _) = edge
        .ingest(
            "/v1/t",
            json!({"userId": "u", "event": "E", "properties": {"blob": "x".repeat(600_000)}}),
        )
        .await;
    assert_eq!(s, 413);
    let (s, v) = edge
        .ingest("/v1/batch", json!({"batch": [ev, {"type": "track", "userId": "u"}, {"type": "page", "userId": "u", "timestamp": "soon"}]}))
        .await;
    assert_eq!((s, v["accepted"].as_u64()), (200, Some(1)), "{v}");
    assert_eq!(v["rejected"][0]["index"], 1);
    assert_eq!(v["rejected"][0]["message"], "batch[1].event: is required");
    assert_eq!(
        v["rejected"][1]["message"],
        "batch[2].timestamp: not an ISO 8601 date or epoch milliseconds"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_live_event_stream_test_button_metrics_and_health() {
    let (_dir, _sim, edge, id) = with_pendo(&[]).await;
    // A new source: its secret shown once, whole; its key opens the gateway.
    let (s, created) = edge
        .admin(
            "POST",
            "/v1/admin/sources",
            Some(json!({"name": "iOS app", "allowed_origins": ["https://a.example"]})),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    let secret = created["secret"].as_str().expect("secret");
    assert!(!secret.starts_with("****"));
    let (_, listed) = edge.admin("GET", "/v1/admin/sources", None).await;
    let mine = listed["data"]
        .as_array()
        .expect("list")
        .iter()
        .find(|x| x["id"] == created["id"])
        .expect("listed")
        .clone();
    assert_eq!(
        mine["secret"],
        format!("****{}", &secret[secret.len() - 4..])
    );
    let key = created["pipeline_key"].as_str().expect("key");
    let (s, _) = edge
        .ingest_as(key, "/v1/t", json!({"userId": "u", "event": "From iOS"}))
        .await;
    assert_eq!(s, 200);
    // Live events as server-sent events.
    let req = hyper::Request::get(format!("{}/v1/admin/integrations/{id}/events", edge.admin))
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("accept", "text/event-stream")
        .body(Full::new(Bytes::new()))
        .expect("request");
    let resp = edge.client.request(req).await.expect("answer");
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    let mut body = resp.into_body();
    edge.ingest("/v1/t", json!({"userId": "u", "event": "Streamed"}))
        .await;
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen.contains("Streamed") && Instant::now() < deadline {
        if let Ok(Some(Ok(frame))) =
            tokio::time::timeout(Duration::from_secs(1), body.frame()).await
            && let Some(d) = frame.data_ref()
        {
            seen.push_str(&String::from_utf8_lossy(d));
        }
    }
    let line = seen
        .lines()
        .find(|l| l.starts_with("data: ") && l.contains("Streamed"))
        .expect("a data line");
    let live: Value = serde_json::from_str(&line["data: ".len()..]).expect("json");
    assert!(
        ["delivered", "retrying"].contains(&live["outcome"].as_str().unwrap_or_default()),
        "{live}"
    );
    assert!(!line.contains("\"ik\""), "no credentials in live events");
    // The test button.
    let (s, v) = edge
        .admin("POST", &format!("/v1/admin/integrations/{id}/test"), None)
        .await;
    assert_eq!(
        (
            s,
            v["vendor_response"]["status"].as_u64(),
            v["delivered"].as_bool()
        ),
        (200, Some(200), Some(true)),
        "{v}"
    );
    // Stats, metrics, health.
    let (_, stats) = edge
        .admin("GET", &format!("/v1/admin/integrations/{id}/stats"), None)
        .await;
    assert!(
        stats["counts"]["delivered"]
            .as_u64()
            .is_some_and(|n| n >= 1),
        "{stats}"
    );
    let (_, text) = edge.text("/metrics").await;
    assert!(
        text.contains(&format!(
            "signal_outcomes_total{{integration=\"{id}\",outcome=\"delivered\"}}"
        )),
        "{text}"
    );
    for path in ["/healthz", "/readyz"] {
        assert_eq!(edge.text(path).await.0, 200, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_event_without_ids_gets_the_first_party_cookie_and_proxies_are_honoured() {
    let (_dir, sim, edge, _id) = with_pendo(&[]).await;
    let send = |cookie: Option<String>| {
        let mut req = hyper::Request::post(format!("{}/v1/p", edge.ingest))
            .header("authorization", format!("Bearer {KEY}"))
            .header("origin", "https://www.example.com")
            .header("content-type", "text/plain") // what navigator.sendBeacon sends
            .header("x-forwarded-for", "198.51.100.7, 10.0.0.1");
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        edge.client.request(
            req.body(Full::new(Bytes::from(r#"{"name":"Home"}"#)))
                .expect("request"),
        )
    };
    let first = send(None).await.expect("answer");
    assert_eq!(first.status().as_u16(), 200);
    let set = first
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a _dfid cookie")
        .to_owned();
    assert!(
        set.contains("HttpOnly")
            && set.contains("Secure")
            && set.contains("SameSite=Lax")
            && set.contains("Max-Age=63072000"),
        "{set}"
    );
    let id = set
        .trim_start_matches("_dfid=")
        .split(';')
        .next()
        .expect("id")
        .to_owned();
    assert_eq!(
        first
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://www.example.com")
    );
    let second = send(Some(format!("_dfid={id}"))).await.expect("answer");
    assert_eq!(second.status().as_u16(), 200);
    assert!(
        second.headers().get("set-cookie").is_none(),
        "the cookie is kept, not replaced"
    );
    eventually("two page views", || sim.requests().len() >= 2).await;
    for b in bodies(&sim) {
        assert_eq!(b["visitorId"], format!("_PENDO_T_{id}"));
        assert_eq!(b["context"]["anonymousId"], id.as_str());
        assert_eq!(
            b["context"]["ip"], "198.51.100.7",
            "the first X-Forwarded-For entry from a local proxy"
        );
    }
    let (_, text) = edge.text("/metrics").await;
    assert!(
        text.contains(
            r#"signal_gateway_events_total{source="default",result="accepted",code=""} 2"#
        ),
        "{text}"
    );
    assert!(text.contains("signal_delivery_latency_ms_bucket"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_node_cleanly_within_ten_seconds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut edge = Edge::start(dir.path(), &[]);
    edge.ingest("/v1/t", json!({"userId": "u", "event": "E"}))
        .await;
    let pid = edge.child.id().to_string();
    let start = Instant::now();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let status = loop {
        if let Some(s) = edge.child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "still running 10 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_with_their_reason_replayed_and_purged() {
    let (_dir, sim, edge, id) = with_dead_letters(
        &[("SIGNAL_RETRY_MAX_ATTEMPTS", "2".into())],
        (0..3).map(doomed),
    )
    .await;
    let path = format!("/v1/admin/integrations/{id}/dead-letters");
    let listed = edge
        .poll(&path, |v| {
            v["data"].as_array().is_some_and(|a| a.len() == 3)
        })
        .await;
    let first = &listed["data"][0];
    assert!(
        first["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("max_attempts: status_50")),
        "{listed}"
    );
    assert_eq!(first["attempts"], 2);
    assert!(
        first["event"]
            .as_str()
            .is_some_and(|e| e.contains("\"event\":\"Doomed\"")),
        "the dead letter keeps the event as spooled: {first}"
    );
    assert!(
        first["status"]
            .as_u64()
            .is_some_and(|s| s == 500 || s == 503)
    );
    // Pendo is back: replay one, then the rest; purge is then a no-op.
    sim.set_faults(FaultPlan::default());
    let one = first["id"].as_str().expect("id").to_owned();
    let (s, v) = edge
        .admin(
            "POST",
            &format!("{path}/replay"),
            Some(json!({"ids": [one]})),
        )
        .await;
    assert_eq!((s, v["replayed"].as_u64()), (200, Some(1)), "{v}");
    eventually("the replayed event", || sim.requests().len() == 1).await;
    let (_, v) = edge
        .admin("POST", &format!("{path}/replay"), Some(json!({})))
        .await;
    assert_eq!(v["replayed"], 2);
    eventually("all three", || sim.requests().len() == 3).await;
    let (s, _) = edge.admin("DELETE", &path, None).await;
    assert_eq!(s, 204);
    let (_, v) = edge.admin("GET", &path, None).await;
    assert_eq!(v["data"].as_array().map(Vec::len), Some(0));
}
