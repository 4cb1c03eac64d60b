//! What the management API shows of the bounds of review 2 (issue 11): origins with a default
//! port refused, live events naming their source and cut to a few KiB, the in-flight bytes.

use crate::harness::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_origin_with_its_default_port_is_a_422_that_says_to_drop_the_port() {
    let (_dir, _sim, edge, _id) = with_pendo(&[]).await;
    let (s, v) = edge
        .admin(
            "POST",
            "/v1/admin/sources",
            Some(json!({"name": "Shop", "allowed_origins": ["https://shop.example:443"]})),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    let text = v.to_string();
    assert!(text.contains("https://shop.example:443"), "{v}");
    assert!(text.contains("drop the port"), "{v}");
    let (s, v) = edge
        .admin(
            "PATCH",
            "/v1/admin/sources/default",
            Some(json!({"allowed_origins": ["http://localhost:80"]})),
        )
        .await;
    assert_eq!(s, 422, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_event_names_its_source_and_keeps_a_large_input_cut() {
    let (_dir, _sim, edge, id) = with_pendo(&[]).await;
    let created = edge.add_source("iOS app").await;
    let key = created["pipeline_key"].as_str().expect("key").to_owned();
    let source = created["id"].as_str().expect("id").to_owned();
    let pad = "x".repeat(20 * 1024);
    let (s, v) = edge
        .ingest_as(
            &key,
            "/v1/t",
            json!({"userId": "u", "event": "Big", "properties": {"pad": pad}}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let events = edge
        .poll(
            &format!("/v1/admin/integrations/{id}/events?limit=10"),
            |v| v["data"].as_array().is_some_and(|a| !a.is_empty()),
        )
        .await;
    let live = &events["data"][0];
    assert_eq!(live["source_id"], source.as_str(), "{live}");
    let input = live["input"].as_str().expect("the input, cut, as text");
    assert!(
        input.len() < 5 * 1024,
        "{} bytes of input kept",
        input.len()
    );
    assert!(
        live["truncated"]["input"].as_u64().unwrap_or(0) > 20 * 1024,
        "{live}"
    );
    let (s, stats) = edge
        .admin("GET", &format!("/v1/admin/integrations/{id}/stats"), None)
        .await;
    assert_eq!(s, 200);
    assert!(stats["in_flight_bytes"].is_u64(), "{stats}");
}
