//! The management API and the node's secrets under hostile or broken conditions: secrets read
//! and written back, empty or unreadable secret files, empty credentials, the spool's size cap.

use crate::harness::*;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::process::Command;

/// POSTs a signed track event to `/v1/events`; the status.
async fn post_signed(edge: &Edge, key: &[u8]) -> u16 {
    let ts = now_ms();
    let body = json!({"type": "track", "userId": "u", "event": "Signed"}).to_string();
    let req = hyper::Request::post(format!("{}/v1/events", edge.ingest))
        .header("content-type", "application/json")
        .header("x-timestamp", &ts)
        .header("x-signature", signature(key, &ts, body.as_bytes()))
        .body(Full::new(Bytes::from(body)))
        .expect("request");
    edge.client
        .request(req)
        .await
        .expect("answer")
        .status()
        .as_u16()
}

/// Runs the binary's `serve` in `dir` until it exits (it is expected to refuse to start).
fn serve_expecting_exit(dir: &std::path::Path, env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_signal-edge"));
    cmd.arg("serve")
        .env("SIGNAL_DATA_DIR", dir)
        .env("SIGNAL_INGEST_ADDR", "127.0.0.1:0")
        .env("SIGNAL_ADMIN_ADDR", "127.0.0.1:0")
        .env_remove("SIGNAL_ADMIN_TOKEN")
        .env_remove("SIGNAL_PIPELINE_KEY")
        .env_remove("SIGNAL_PIPELINE_SECRET")
        .env_remove("SIGNAL_SPOOL_MAX_BYTES")
        .env("SIGNAL_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run signal-edge")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_read_and_written_back_keeps_the_real_keys() {
    let (_dir, sim, edge) = with_sandbox("int-key-0002", &[]).await;
    let id = edge
        .install(json!({"api_key": "api-key-0001", "integration_key": "int-key-0002"}))
        .await;
    let path = format!("/v1/admin/integrations/{id}");
    let (status, read) = edge.admin("GET", &path, None).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["config"]["integration_key"], "****0002");
    assert_eq!(read["config"]["api_key"], "****0001");
    // What a UI or script does: change the name, send the configuration back as it was read.
    let (status, written) = edge
        .admin(
            "PATCH",
            &path,
            Some(json!({"name": "Pendo (renamed)", "config": read["config"]})),
        )
        .await;
    assert_eq!(status, 200, "{written}");
    assert_eq!(written["config"], read["config"], "still shown masked");
    edge.ingest("/v1/t", json!({"userId": "u", "event": "After round trip"}))
        .await;
    eventually("Pendo accepts the event sent with the real key", || {
        !sim.requests().is_empty()
    })
    .await;
    let sent = sim.requests();
    assert_eq!(
        sent[0].header("x-pendo-integration-key"),
        Some("int-key-0002"),
        "Pendo got the stored key, not its mask"
    );
    let (_, after) = edge.admin("GET", &path, None).await;
    assert_eq!(after["status"], "active", "{after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_admin_token_file_is_replaced_and_no_token_gets_in() {
    let dir = tempfile::tempdir().expect("tempdir");
    // What a first start on a full disk used to leave behind.
    std::fs::write(dir.path().join("admin-token"), "").expect("write");
    let edge = Edge::start(dir.path(), &[("SIGNAL_ADMIN_TOKEN", String::new())]);
    let url = format!("{}/v1/admin/integrations", edge.admin);
    let (status, _) = edge.call("GET", &url, None, None).await;
    assert_eq!(status, 401, "no Authorization header");
    let (status, _) = edge.call("GET", &url, Some("Bearer "), None).await;
    assert_eq!(status, 401, "an empty bearer token");
    let (status, _) = edge.call("GET", &url, Some("Bearer"), None).await;
    assert_eq!(status, 401, "a scheme without a token");
    let file = dir.path().join("admin-token");
    let token = std::fs::read_to_string(&file).expect("the new token");
    assert_eq!(token.trim().len(), 32, "a new token was saved: `{token}`");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "readable by its owner only");
    }
    let (status, v) = edge
        .call("GET", &url, Some(&format!("Bearer {}", token.trim())), None)
        .await;
    assert_eq!(status, 200, "the new token opens the API: {v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_pipeline_secret_file_is_replaced_and_an_empty_key_hmac_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("pipeline-secret"), "\n").expect("write");
    let edge = Edge::start(dir.path(), &[]);
    assert_eq!(
        post_signed(&edge, b"").await,
        401,
        "an HMAC made with an empty key"
    );
    let secret = std::fs::read_to_string(dir.path().join("pipeline-secret")).expect("secret");
    assert_eq!(
        secret.trim().len(),
        48,
        "a new secret was saved: `{secret}`"
    );
    assert_eq!(post_signed(&edge, secret.trim().as_bytes()).await, 200);
}

/// A source with an empty key and secret, written into the store before the node starts (as an
/// older version, or a hand edit, could leave it).
fn seed_blank_source(dir: &std::path::Path) {
    const SOURCES: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("sources");
    let db = redb::Database::create(dir.join("store.redb")).expect("store");
    let txn = db.begin_write().expect("txn");
    {
        let mut t = txn.open_table(SOURCES).expect("table");
        let blank = json!({
            "id": "src_blank", "name": "Blank", "pipeline_key": "", "secret": "",
            "allowed_origins": [], "rate_limit_per_second": 1000,
            "created_at": "2026-01-01T00:00:00Z",
        });
        t.insert("src_blank", blank.to_string().as_bytes())
            .expect("insert");
    }
    txn.commit().expect("commit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_keys_and_secrets_in_the_store_never_match() {
    let dir = tempfile::tempdir().expect("tempdir");
    seed_blank_source(dir.path());
    let edge = Edge::start(dir.path(), &[]);
    let url = format!("{}/v1/t", edge.ingest);
    let event = json!({"userId": "u", "event": "E"});
    let basic = |user: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user)
        )
    };
    for auth in [basic(":"), basic(""), "Bearer ".to_owned()] {
        let (status, v) = edge
            .call("POST", &url, Some(&auth), Some(event.clone()))
            .await;
        assert_eq!(status, 401, "`{auth}` names no source: {v}");
    }
    assert_eq!(
        post_signed(&edge, b"").await,
        401,
        "an HMAC made with an empty key"
    );
    let (status, v) = edge.ingest("/v1/t", event).await;
    assert_eq!(status, 200, "the default source still works: {v}");
}

#[test]
fn an_unreadable_secret_file_exits_64_saying_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("admin-token");
    std::fs::create_dir(&file).expect("a directory where the token should be");
    let out = serve_expecting_exit(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&file.display().to_string()),
        "names the file: {err}"
    );
    assert!(err.contains("delete it"), "says what to do: {err}");
}

#[test]
fn the_spool_cap_is_a_setting_in_help_and_a_bad_one_exits_64() {
    let help = Command::new(env!("CARGO_BIN_EXE_signal-edge"))
        .arg("--help")
        .output()
        .expect("run");
    assert!(
        String::from_utf8_lossy(&help.stdout).contains("SIGNAL_SPOOL_MAX_BYTES"),
        "--help lists the spool cap"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    for (value, why) in [
        ("0", "`0` is too small"),
        ("lots", "`lots` is not a size"),
        ("12 parsecs", "`12 parsecs` is not a size"),
    ] {
        let out = serve_expecting_exit(dir.path(), &[("SIGNAL_SPOOL_MAX_BYTES", value)]);
        assert_eq!(out.status.code(), Some(64), "{value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("SIGNAL_SPOOL_MAX_BYTES: {why}")),
            "{value}: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_spool_cap_answers_503_when_full_and_delivers_what_it_accepted() {
    // Pendo knows only the right key; the integration starts with a wrong one, so it pauses and
    // everything accepted stays in the spool until the key is fixed.
    let (_dir, sim, edge) = with_sandbox(
        "right-key",
        &[
            ("SIGNAL_SPOOL_MAX_BYTES", "64KiB".into()),
            ("SIGNAL_PAUSE_PROBE_MS", "600000".into()),
        ],
    )
    .await;
    let id = edge
        .install(json!({"api_key": "a", "integration_key": "wrong-key"}))
        .await;
    let mut accepted = BTreeSet::new();
    let mut full = None;
    for b in 0..200 {
        let (status, retry_after, v) = send_numbered_batch(&edge, b).await;
        match status {
            200 => accepted.extend((0..20).map(|i| b * 20 + i)),
            _ => {
                full = Some((status, retry_after, v));
                break;
            }
        }
    }
    let (status, retry_after, v) = full.expect("the spool filled up before 4,000 events");
    assert_eq!(status, 503, "{v}");
    assert_eq!(v["error"]["code"], "UNAVAILABLE", "{v}");
    assert!(retry_after, "503 says when to retry");
    assert!(
        !accepted.is_empty() && accepted.len() < 1000,
        "a 64 KiB cap holds some, not a thousand, events: {}",
        accepted.len()
    );
    edge.set_config(&id, json!({"integration_key": "right-key"}))
        .await;
    eventually("every accepted event reaches Pendo", || {
        track_bodies(&sim).len() >= accepted.len()
    })
    .await;
    assert_eq!(
        delivered_ns(&sim),
        accepted,
        "exactly what was answered 200"
    );

    // Everything is delivered: the spool takes events again (a cap below the segment size once
    // kept it full for good), and delivers them.
    let start = std::time::Instant::now();
    let again = loop {
        let (status, _, v) = send_numbered_batch(&edge, 1000).await;
        if status == 200 || start.elapsed() > std::time::Duration::from_secs(10) {
            break (status, v);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(again.0, 200, "sent again after delivery: {}", again.1);
    accepted.extend((0..20).map(|i| 1000 * 20 + i));
    eventually("the batch sent after delivery reaches Pendo", || {
        track_bodies(&sim).len() >= accepted.len()
    })
    .await;
    assert_eq!(
        delivered_ns(&sim),
        accepted,
        "exactly what was answered 200, again"
    );
}

/// Sends batch `b`: 20 track events numbered `b * 20 ..`; returns the status, whether it says
/// when to retry, and the body.
async fn send_numbered_batch(edge: &Edge, b: i64) -> (u16, bool, Value) {
    let batch: Vec<Value> = (0..20)
        .map(|i| json!({"type": "track", "userId": "u", "event": "E", "properties": {"n": b * 20 + i}}))
        .collect();
    let req = hyper::Request::post(format!("{}/v1/batch", edge.ingest))
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {KEY}"))
        .body(Full::new(Bytes::from(json!({"batch": batch}).to_string())))
        .expect("request");
    let resp = edge.client.request(req).await.expect("answer");
    let status = resp.status().as_u16();
    let retry_after = resp.headers().get("retry-after").is_some();
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .expect("body")
        .to_bytes();
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, retry_after, v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_bearer_scheme_is_case_insensitive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let edge = Edge::start(dir.path(), &[]);
    let url = format!("{}/v1/admin/integrations", edge.admin);
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let (status, v) = edge
            .call("GET", &url, Some(&format!("{scheme} {TOKEN}")), None)
            .await;
        assert_eq!(status, 200, "{scheme}: {v}");
    }
    let (status, _) = edge
        .call("GET", &url, Some(&format!("Basic {TOKEN}")), None)
        .await;
    assert_eq!(status, 401, "another scheme");
    let (status, _) = edge
        .call("GET", &url, Some(&format!("Bearer {TOKEN}x")), None)
        .await;
    assert_eq!(status, 401, "another token");
}
