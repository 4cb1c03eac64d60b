//! The audit log (issue 15): every change through the management API recorded with who,
//! when, from where and with which client, its fields old and new with secrets masked; read
//! newest first with filters and a cursor.

use crate::harness::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};

/// `GET /v1/admin/audit-logs?<query>`: status and answer.
async fn audit(edge: &Edge, query: &str) -> (u16, Value) {
    edge.admin("GET", &format!("/v1/admin/audit-logs?{query}"), None)
        .await
}

/// A PATCH sent with a `User-Agent`.
async fn patch_as(edge: &Edge, path: &str, body: Value, agent: &str) -> u16 {
    let req = hyper::Request::patch(format!("{}{path}", edge.admin))
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("user-agent", agent)
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("request");
    let resp = edge.client.request(req).await.expect("answer");
    let status = resp.status().as_u16();
    let _ = resp.into_body().collect().await;
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_is_recorded_with_who_where_and_its_fields_with_secrets_masked() {
    let (_dir, _sim, edge, id) = with_pendo(&[]).await;
    let path = format!("/v1/admin/integrations/{id}");
    assert_eq!(
        patch_as(
            &edge,
            &path,
            json!({"name": "Pendo EU", "config": {"api_key": "a-new-secret-key-9876"}}),
            "ops-cli/1.0"
        )
        .await,
        200
    );
    assert_eq!(
        patch_as(&edge, &path, json!({"enabled": false}), "ops-cli/1.0").await,
        200
    );
    let src = edge.add_source("Backend").await;
    let src_id = src["id"].as_str().expect("id");
    let (s, _) = edge
        .admin("DELETE", &format!("/v1/admin/sources/{src_id}"), None)
        .await;
    assert_eq!(s, 204);
    let (s, _) = edge.admin("DELETE", &path, None).await;
    assert_eq!(s, 204);

    let (s, log) = audit(&edge, "").await;
    assert_eq!(s, 200, "{log}");
    let data = log["data"].as_array().expect("data");
    let actions: Vec<&str> = data.iter().filter_map(|r| r["action"].as_str()).collect();
    assert_eq!(
        actions,
        [
            "integration.removed",
            "source.removed",
            "source.created",
            "integration.disabled",
            "integration.updated",
            "integration.installed"
        ],
        "newest first: {log}"
    );
    assert_eq!(log["has_more"], false);
    for r in data {
        assert_eq!(r["actor"], "admin-token", "{r}");
        assert_eq!(r["ip"], "127.0.0.1", "{r}");
        assert!(r["at"].as_str().is_some_and(|t| t.ends_with('Z')), "{r}");
    }
    let updated = &data[4];
    assert_eq!(updated["resource"], format!("integrations/{id}"));
    assert_eq!(updated["user_agent"], "ops-cli/1.0");
    assert_eq!(
        updated["changes"]["name"],
        json!({"old": "Pendo", "new": "Pendo EU"})
    );
    assert_eq!(
        updated["changes"]["config.api_key"]["new"], "****9876",
        "a secret is masked: {updated}"
    );
    assert!(
        updated["changes"].get("enabled").is_none(),
        "only what changed: {updated}"
    );
    assert_eq!(
        data[3]["changes"]["enabled"],
        json!({"old": true, "new": false})
    );
    let installed = &data[5];
    assert_eq!(
        installed["changes"]["config.integration_key"]["old"],
        Value::Null
    );
    let text = log.to_string();
    for secret in [
        "a-new-secret-key-9876",
        src["secret"].as_str().unwrap_or("x"),
        src["pipeline_key"].as_str().unwrap_or("x"),
    ] {
        assert!(!text.contains(secret), "no secret whole in the audit log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_is_filtered_and_paged_and_a_bad_time_is_named() {
    let (_dir, _sim, edge, id) = with_pendo(&[]).await;
    let path = format!("/v1/admin/integrations/{id}");
    let before = now_iso();
    for n in 0..5 {
        let (s, _) = edge
            .admin("PATCH", &path, Some(json!({"name": format!("P{n}")})))
            .await;
        assert_eq!(s, 200);
    }
    edge.add_source("Backend").await;

    let (_, only) = audit(&edge, "action=integration.").await;
    assert_eq!(
        only["data"].as_array().map(Vec::len),
        Some(6),
        "installed and five updates: {only}"
    );
    let (_, sources) = audit(&edge, "action=source.created").await;
    assert_eq!(sources["data"].as_array().map(Vec::len), Some(1));
    let (_, mine) = audit(&edge, &format!("resource=integrations/{id}&since={before}")).await;
    assert_eq!(
        mine["data"].as_array().map(Vec::len),
        Some(5),
        "the five since: {mine}"
    );
    let (_, nobody) = audit(&edge, "actor=someone-else").await;
    assert_eq!(nobody["data"], json!([]));
    let (_, none) = audit(&edge, &format!("until={before}&action=integration.updated")).await;
    assert_eq!(none["data"], json!([]), "nothing updated before: {none}");

    // Pages of two, following the cursor: every record once, newest first.
    let mut seen = Vec::new();
    let mut query = "limit=2".to_owned();
    loop {
        let (s, page) = audit(&edge, &query).await;
        assert_eq!(s, 200, "{page}");
        let ids: Vec<u64> = page["data"]
            .as_array()
            .expect("data")
            .iter()
            .filter_map(|r| r["id"].as_str()?.parse().ok())
            .collect();
        assert!(ids.len() <= 2);
        seen.extend(ids);
        if page["has_more"] != true {
            assert_eq!(page["next_cursor"], Value::Null);
            break;
        }
        query = format!(
            "limit=2&cursor={}",
            page["next_cursor"].as_str().expect("cursor")
        );
    }
    assert_eq!(seen.len(), 7, "{seen:?}");
    assert!(
        seen.windows(2).all(|w| w[0] > w[1]),
        "newest first, none twice: {seen:?}"
    );

    let (s, bad) = audit(&edge, "since=yesterday").await;
    assert_eq!(s, 422, "{bad}");
    assert!(
        bad["error"]["fields"]["since"]
            .as_str()
            .is_some_and(|r| r.contains("RFC 3339")),
        "{bad}"
    );
}

/// Now as RFC 3339 with milliseconds.
fn now_iso() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis();
    let mut out = String::new();
    signal_core::time::format_rfc3339(i64::try_from(ms).expect("ms"), &mut out);
    out
}
