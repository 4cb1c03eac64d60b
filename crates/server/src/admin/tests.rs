//! The management API in this process, over loopback HTTP, with failures injected into its
//! store (`signal_store::Faults`) or its spool directory: a store that fails answers 503 and
//! changes nothing, never "not found" or "done"; an install whose delivery cannot start is not
//! left half made; list parameters and allowed origins that break their rules are named.

use crate::Node;
use crate::settings::{Flags, Settings};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use serde_json::{Value, json};

pub(super) const TOKEN: &str = "admin-test-token";

/// A node in `dir` on loopback ports.
pub(super) async fn node(dir: &std::path::Path) -> Node {
    node_and_invitation(dir).await.0
}

/// [`node`], and its first owner's invitation (while it has no users).
pub(super) async fn node_and_invitation(dir: &std::path::Path) -> (Node, Option<String>) {
    let flags = Flags {
        data_dir: Some(dir.display().to_string()),
        ingest_addr: Some("127.0.0.1:0".into()),
        admin_addr: Some("127.0.0.1:0".into()),
        ..Flags::default()
    };
    let settings = Settings::resolve(&flags, |k| {
        (k == "SIGNAL_ADMIN_TOKEN").then(|| TOKEN.to_owned())
    })
    .expect("settings");
    let (node, generated) = Node::start(settings).await.expect("node");
    (node, generated.owner_invitation)
}

/// Calls the management API; the status and the JSON answer (`null` for none).
async fn call(node: &Node, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    call_as(node, TOKEN, method, path, body).await
}

/// [`call`] with `bearer` (none when empty).
pub(super) async fn call_as(
    node: &Node,
    bearer: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let req = hyper::Request::builder()
        .method(method)
        .uri(format!("http://{}{path}", node.admin_addr))
        .header("authorization", format!("Bearer {bearer}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(
            body.map(|b| b.to_string()).unwrap_or_default(),
        )))
        .expect("request");
    let resp = client.request(req).await.expect("answer");
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Asserts a `503 UNAVAILABLE` that says the store failed.
fn assert_store_failed(what: &str, (status, v): (u16, Value)) {
    assert_eq!(status, 503, "{what}: {v}");
    assert_eq!(v["error"]["code"], "UNAVAILABLE", "{what}: {v}");
    let message = v["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("store failed"), "{what}: {message}");
}

/// Sends each request in turn; asserts each is answered 503 because the store failed.
async fn assert_all_store_failed(node: &Node, requests: &[(&str, &str, Option<Value>)]) {
    for (method, path, body) in requests {
        let answer = call(node, method, path, body.clone()).await;
        assert_store_failed(&format!("{method} {path}"), answer);
    }
}

/// Installs Pendo, named Pendo; the status and the answer.
async fn install_pendo(node: &Node) -> (u16, Value) {
    call(
        node,
        "POST",
        "/v1/admin/integration-catalog/pendo/install",
        Some(json!({"name": "Pendo", "config": {"api_key": "a", "integration_key": "ik"}})),
    )
    .await
}

/// The id at the end of a record's path.
fn id_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or_default()
}

/// A node with one Pendo integration and one extra source; their paths.
async fn with_records(dir: &std::path::Path) -> (Node, String, String) {
    let node = node(dir).await;
    let (s, v) = install_pendo(&node).await;
    assert_eq!(s, 201, "{v}");
    let integration = format!("/v1/admin/integrations/{}", v["id"].as_str().expect("id"));
    let (s, v) = call(
        &node,
        "POST",
        "/v1/admin/sources",
        Some(json!({"name": "Web"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let source = format!("/v1/admin/sources/{}", v["id"].as_str().expect("id"));
    (node, integration, source)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_store_read_is_503_not_404() {
    let dir = tempfile::tempdir().expect("dir");
    let (node, integration, source) = with_records(dir.path()).await;
    node.shared.store.faults().fail_reads(true);
    assert_all_store_failed(
        &node,
        &[
            ("GET", &integration, None),
            ("PATCH", &integration, Some(json!({"name": "Renamed"}))),
            ("DELETE", &integration, None),
            ("GET", &format!("{integration}/stats"), None),
            ("PATCH", &source, Some(json!({"name": "Renamed"}))),
            ("GET", "/v1/admin/integrations", None),
            ("GET", "/v1/admin/sources", None),
        ],
    )
    .await;
    node.shared.store.faults().fail_reads(false);
    let (s, v) = call(&node, "GET", &integration, None).await;
    assert_eq!(
        (s, &v["name"]),
        (200, &json!("Pendo")),
        "nothing changed: {v}"
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_store_write_is_503_and_what_was_stored_stays() {
    let dir = tempfile::tempdir().expect("dir");
    let (node, integration, source) = with_records(dir.path()).await;
    node.shared.store.faults().fail_writes(true);
    assert_all_store_failed(
        &node,
        &[
            ("DELETE", &integration, None),
            ("PATCH", &integration, Some(json!({"name": "Renamed"}))),
            ("DELETE", &source, None),
            ("PATCH", &source, Some(json!({"name": "Renamed"}))),
        ],
    )
    .await;
    node.shared.store.faults().fail_writes(false);
    let (s, v) = call(&node, "GET", &integration, None).await;
    assert_eq!((s, &v["name"]), (200, &json!("Pendo")), "not removed: {v}");
    assert!(
        node.is_delivering(id_of(&integration)).await,
        "its delivery still runs"
    );
    let (_, list) = call(&node, "GET", "/v1/admin/sources", None).await;
    let id = id_of(&source);
    assert!(
        list["data"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| s["id"] == id && s["name"] == "Web"),
        "the source is still there, unchanged: {list}"
    );
    // Once the store works again, the same requests do what they say.
    let (s, v) = call(&node, "DELETE", &integration, None).await;
    assert_eq!(s, 204, "{v}");
    let (s, _) = call(&node, "GET", &integration, None).await;
    assert_eq!(s, 404);
    let (s, _) = call(&node, "DELETE", &source, None).await;
    assert_eq!(s, 204);
    let (s, _) = call(&node, "DELETE", &source, None).await;
    assert_eq!(s, 404, "a second delete finds nothing");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_origin_that_no_browser_sends_is_refused_naming_it() {
    let dir = tempfile::tempdir().expect("dir");
    let node = node(dir.path()).await;
    for (origins, bad) in [
        (json!(["https://good.example/"]), "https://good.example/"),
        (
            json!(["https://good.example", "good.example"]),
            "good.example",
        ),
        (json!(["HTTPS://Good.example"]), "HTTPS://Good.example"),
        (
            json!(["https://good.example/shop"]),
            "https://good.example/shop",
        ),
        (
            json!(["https://good.example:99999"]),
            "https://good.example:99999",
        ),
        (json!(["https://"]), "https://"),
        (json!([7]), "7"),
    ] {
        let (s, v) = call(
            &node,
            "POST",
            "/v1/admin/sources",
            Some(json!({"name": "Web", "allowed_origins": origins})),
        )
        .await;
        assert_eq!(s, 422, "{origins}: {v}");
        let rule = v["error"]["fields"]["allowed_origins"]
            .as_str()
            .unwrap_or_default();
        assert!(
            rule.contains(bad) && rule.contains("https://shop.example.com"),
            "{origins}: names the entry and the rule, with an example: {v}"
        );
    }
    let (s, v) = call(
        &node,
        "POST",
        "/v1/admin/sources",
        Some(json!({"name": "Web", "allowed_origins": ["https://good.example", "http://localhost:3000"]})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_query_that_is_not_a_number_is_refused_naming_the_parameter() {
    let dir = tempfile::tempdir().expect("dir");
    let (node, integration, _) = with_records(dir.path()).await;
    for (path, field) in [
        ("/v1/admin/integrations?limit=ten".to_owned(), "limit"),
        ("/v1/admin/sources?cursor=abc".to_owned(), "cursor"),
        ("/v1/admin/integration-catalog?limit=-1".to_owned(), "limit"),
        (format!("{integration}/dead-letters?cursor=last"), "cursor"),
        (format!("{integration}/dead-letters?limit=1.5"), "limit"),
        (format!("{integration}/events?limit=all"), "limit"),
    ] {
        let (s, v) = call(&node, "GET", &path, None).await;
        assert_eq!(s, 422, "{path}: {v}");
        let rule = v["error"]["fields"][field].as_str().unwrap_or_default();
        assert!(!rule.is_empty(), "{path}: the rule for `{field}`: {v}");
    }
    // Numbers past the bounds are brought into them, as the interface says (max 100).
    let (s, v) = call(&node, "GET", "/v1/admin/integrations?limit=500", None).await;
    assert_eq!(s, 200, "{v}");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_install_whose_delivery_cannot_start_is_not_left_half_installed() {
    let dir = tempfile::tempdir().expect("dir");
    let node = node(dir.path()).await;
    // Where a new integration's dead letters go is a file, not a directory: its place in the
    // spool cannot be made (as on a full or broken disk).
    let dead = dir.path().join("spool").join("dead");
    let _ = std::fs::remove_dir_all(&dead);
    std::fs::write(&dead, "in the way").expect("write");
    let (s, v) = install_pendo(&node).await;
    assert_eq!(s, 503, "{v}");
    assert_eq!(v["error"]["code"], "UNAVAILABLE", "{v}");
    let message = v["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("nothing was installed"), "{message}");
    let (_, list) = call(&node, "GET", "/v1/admin/integrations", None).await;
    assert_eq!(list["data"], json!([]), "not listed, half made: {list}");
    // Once the disk is fixed, the same request installs it (no 409 for a name left behind).
    std::fs::remove_file(&dead).expect("rm");
    let (s, v) = install_pendo(&node).await;
    assert_eq!(s, 201, "{v}");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_is_judged_against_the_key_stored_when_it_writes_not_when_it_arrived() {
    let dir = tempfile::tempdir().expect("dir");
    let (node, integration, _) = with_records(dir.path()).await;
    let id = id_of(&integration).to_owned();
    let mut rec = node
        .shared
        .store
        .integration(&id)
        .ok()
        .flatten()
        .expect("stored");
    rec.config["integration_key"] = json!("int-key-0001");
    node.shared.store.put_integration(&rec).expect("put");
    // Admin B saves a page read now (the key's mask) while admin A's rotation is being written.
    let writing = super::WRITES.lock().await;
    let node = std::sync::Arc::new(node);
    let b = {
        let (node, path) = (node.clone(), integration.clone());
        tokio::spawn(async move {
            let body = json!({"config": {"integration_key": "****0001"}});
            call(&node, "PATCH", &path, Some(body)).await
        })
    };
    // Give B's request the time to arrive and wait behind A; a B that judged its body against
    // the record it found on arrival would keep int-key-0001 over A's rotation.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    rec.config["integration_key"] = json!("int-key-0002");
    node.shared
        .store
        .put_integration(&rec)
        .expect("A rotates the key");
    drop(writing);
    let (s, v) = b.await.expect("B answered");
    assert_eq!(s, 422, "B's mask is of a key no longer stored: {v}");
    let stored = node
        .shared
        .store
        .integration(&id)
        .ok()
        .flatten()
        .expect("stored");
    assert_eq!(
        stored.config["integration_key"], "int-key-0002",
        "A's key stays"
    );
    if let Ok(node) = std::sync::Arc::try_unwrap(node) {
        node.stop().await;
    }
}
