//! The management API's answers to bad input (issue 11): a replay body that is not what it must
//! be replays nothing and says why; a secret's mask is never stored as the secret; paths that
//! only look like `/v1/admin`; `HEAD` on the health endpoints; the test button's refusal in
//! words a user can act on.

use crate::harness::*;
use serde_json::{Value, json};
use std::io::{Read as _, Write as _};

/// Sends `raw` (a whole HTTP/1.1 request) to `base` (`http://host:port`) and reads the answer
/// until the node closes the connection: the status line, headers and body exactly as sent.
async fn raw(base: &str, raw: &str) -> String {
    let addr = base.trim_start_matches("http://").to_owned();
    let raw = raw.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .expect("timeout");
        s.write_all(raw.as_bytes()).expect("send");
        let mut out = Vec::new();
        s.read_to_end(&mut out).expect("read");
        String::from_utf8_lossy(&out).into_owned()
    })
    .await
    .expect("the request ran")
}

/// POSTs `body` as it is (not necessarily JSON) to an admin path; the status and the answer.
async fn post_raw(edge: &Edge, path: &str, body: &'static str) -> (u16, Value) {
    use http_body_util::BodyExt as _;
    let req = hyper::Request::post(format!("{}{path}", edge.admin))
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from_static(
            body.as_bytes(),
        )))
        .expect("request");
    let resp = edge.client.request(req).await.expect("answer");
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The ids of an integration's dead letters, oldest first.
async fn dead_ids(edge: &Edge, id: &str) -> Vec<String> {
    let (s, v) = edge
        .admin(
            "GET",
            &format!("/v1/admin/integrations/{id}/dead-letters"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    v["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_or_purge_body_that_is_not_what_it_must_be_changes_nothing_and_says_why() {
    let (_dir, sim, edge, id) = with_dead_letters(
        &[("SIGNAL_RETRY_MAX_ATTEMPTS", "1".into())],
        (0..3).map(doomed),
    )
    .await;
    let path = format!("/v1/admin/integrations/{id}/dead-letters/replay");
    edge.poll(&format!("/v1/admin/integrations/{id}/dead-letters"), |v| {
        v["data"].as_array().is_some_and(|a| a.len() == 3)
    })
    .await;
    let all = dead_ids(&edge, &id).await;
    assert_eq!(all.len(), 3, "{all:?}");

    let (s, v) = post_raw(&edge, &path, r#"{"ids": ["#).await;
    assert_eq!(s, 400, "malformed JSON: {v}");
    assert_eq!(v["error"]["code"], "INVALID_REQUEST", "{v}");
    for (body, field) in [
        (json!({"ids": "1"}), "ids"),
        (json!({"ids": null}), "ids"),
        (json!({"ids": {"1": true}}), "ids"),
        (json!({"ids": [all[0], "last"]}), "ids[1]"),
        (json!({"ids": [-1]}), "ids[0]"),
        (json!({"ids": [1.5]}), "ids[0]"),
        (json!({"id": [all[0]]}), "id"),
    ] {
        let (s, v) = edge.admin("POST", &path, Some(body.clone())).await;
        assert_eq!(s, 422, "{body} is refused: {v}");
        assert_eq!(v["error"]["code"], "VALIDATION_ERROR", "{v}");
        let rule = v["error"]["fields"][field].as_str().unwrap_or_default();
        assert!(
            !rule.is_empty(),
            "{body}: the rule for `{field}` is named: {v}"
        );
    }
    let (s, v) = post_raw(&edge, &path, "[1, 2]").await;
    assert_eq!(s, 400, "not an object: {v}");
    assert_eq!(
        dead_ids(&edge, &id).await,
        all,
        "nothing was replayed by a body that was refused"
    );

    // Purge takes no body: a body that asks for some is refused, not taken as "all".
    let letters = format!("/v1/admin/integrations/{id}/dead-letters");
    let (s, v) = edge
        .admin("DELETE", &letters, Some(json!({"ids": [all[0]]})))
        .await;
    assert_eq!(s, 422, "a purge of some: {v}");
    assert!(
        v["error"]["fields"]["ids"].is_string(),
        "names the field: {v}"
    );
    assert_eq!(dead_ids(&edge, &id).await, all, "nothing was purged");

    // The ids as the list shows them, or as numbers: only those. Pendo answers again, so the
    // replayed one is delivered for good (with Pendo still failing it would come back as a dead
    // letter, sooner or later than the list is read).
    sim.set_faults(signal_sandbox::FaultPlan::default());
    let (s, v) = edge
        .admin("POST", &path, Some(json!({"ids": [all[0]]})))
        .await;
    assert_eq!((s, &v["replayed"]), (200, &json!(1)), "{v}");
    eventually("the replayed one at Pendo", || {
        track_bodies(&sim)
            .iter()
            .any(|b| b["event"] == "Doomed" && b["properties"]["n"] == 0)
    })
    .await;
    assert_eq!(dead_ids(&edge, &id).await, all[1..].to_vec());
    assert_eq!(track_bodies(&sim).len(), 1, "only that one was replayed");
}

/// Installs Pendo with `integration_key`; its id.
async fn install_with_key(edge: &Edge, key: &str) -> String {
    edge.install(json!({"api_key": "api-key-0001", "integration_key": key}))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mask_that_is_not_the_stored_secrets_is_refused_and_never_stored() {
    let (_dir, sim, edge) = with_sandbox("int-key-0002", &[]).await;
    // Install: nothing is stored, so any mask is a copied configuration, not a key.
    for mask in ["****", "****0002", "****x"] {
        let (s, v) = edge
            .try_install(json!({"name": "Copied", "config": {"api_key": "api-key-0001", "integration_key": mask}}))
            .await;
        assert_eq!(s, 422, "install with `{mask}`: {v}");
        let rule = v["error"]["fields"]["config.integration_key"]
            .as_str()
            .unwrap_or_default();
        assert!(rule.contains("not its mask"), "{v}");
    }
    let id = install_with_key(&edge, "int-key-0001").await;
    let path = format!("/v1/admin/integrations/{id}");
    let (_, old_tab) = edge.admin("GET", &path, None).await;
    assert_eq!(old_tab["config"]["integration_key"], "****0001");
    // Admin A rotates the key.
    let (s, v) = edge
        .admin(
            "PATCH",
            &path,
            Some(json!({"config": {"integration_key": "int-key-0002"}})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    // Admin B, with the page read before, saves it unchanged.
    let (s, v) = edge
        .admin("PATCH", &path, Some(json!({"config": old_tab["config"]})))
        .await;
    assert_eq!(s, 422, "a mask of a key no longer stored: {v}");
    assert!(
        v["error"]["fields"]["config.integration_key"]
            .as_str()
            .is_some_and(|r| r.contains("send the key, not its mask")),
        "{v}"
    );
    // The current mask keeps the current key.
    let (_, now) = edge.admin("GET", &path, None).await;
    assert_eq!(now["config"]["integration_key"], "****0002");
    let (s, v) = edge
        .admin("PATCH", &path, Some(json!({"config": now["config"]})))
        .await;
    assert_eq!(s, 200, "{v}");
    edge.ingest("/v1/t", json!({"userId": "u", "event": "After"}))
        .await;
    eventually("Pendo gets the event", || !sim.requests().is_empty()).await;
    assert_eq!(
        sim.requests()[0].header("x-pendo-integration-key"),
        Some("int-key-0002"),
        "the rotated key, never a mask"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_v1_admin_and_below_are_the_management_api() {
    let (_dir, _sim, edge) = with_sandbox("ik", &[]).await;
    for p in [
        "/v1/adminintegrations",
        "/v1/admin-integrations",
        "/v1/adminsources",
    ] {
        let (s, v) = edge.admin("GET", p, None).await;
        assert_eq!(s, 404, "{p}: {v}");
    }
    let (s, v) = edge.admin("GET", "/v1/admin/integrations", None).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = edge.admin("GET", "/v1/admin/integrations/", None).await;
    assert_eq!(s, 200, "a trailing slash: {v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_on_health_and_readiness_answers_like_get_without_a_body() {
    let (_dir, _sim, edge) = with_sandbox("ik", &[]).await;
    for p in ["/healthz", "/readyz"] {
        let (get_status, _) = edge.text(p).await;
        let answer = raw(
            &edge.admin,
            &format!("HEAD {p} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"),
        )
        .await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {get_status}")),
            "HEAD {p} answers as GET ({get_status}): {answer}"
        );
        let (_, body) = answer.split_once("\r\n\r\n").expect("a head");
        assert_eq!(body, "", "HEAD {p} has no body");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_button_says_in_words_why_the_test_event_is_not_sent() {
    let (_dir, sim, edge, id) = with_pendo(&[]).await;
    let path = format!("/v1/admin/integrations/{id}");
    let (s, v) = edge
        .admin(
            "PATCH",
            &path,
            Some(json!({"event_mapping": {"Signal Test Event": null}})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = edge.admin("POST", &format!("{path}/test"), None).await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["error"]["code"], "CONFLICT");
    let message = v["error"]["message"].as_str().unwrap_or_default();
    for debug in ["Dropped(", "EventMapping", "Metadata(", "{ "] {
        assert!(!message.contains(debug), "no Rust debug text: {message}");
    }
    assert!(
        message.contains("event_mapping") && message.contains("Signal Test Event"),
        "names the setting and the event: {message}"
    );
    assert!(sim.requests().is_empty(), "nothing was sent");
}
