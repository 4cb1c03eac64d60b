//! The management API's OpenAPI document as the node serves it, and regressions for what
//! schemathesis (`.ci/schemathesis`) found running the real binary against it (issue 15).

use crate::harness::*;
use serde_json::json;

fn node() -> (tempfile::TempDir, Edge) {
    let dir = tempfile::tempdir().expect("temp dir");
    let edge = Edge::start(dir.path(), &[]);
    (dir, edge)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_served_to_a_credential_and_names_every_operation() {
    let (_dir, edge) = node();
    let (s, doc) = edge.admin("GET", "/v1/admin/openapi.json", None).await;
    assert_eq!(s, 200, "{doc}");
    assert_eq!(doc["openapi"], "3.1.0");
    let install = &doc["paths"]["/v1/admin/integration-catalog/{key}/install"]["post"];
    assert_eq!(install["x-role"], "editor", "{install}");
    assert_eq!(
        doc["paths"]["/v1/admin/auth/login"]["post"]["security"],
        json!([])
    );
    let (s, _) = edge.text("/v1/admin/openapi.json").await;
    assert_eq!(
        s, 401,
        "the document needs a credential like every other route"
    );
}

/// `http://[103]` was taken as an origin (any hex digits and colons passed for an IPv6
/// literal); no browser sends it, so the source could never match, and schemathesis's own URL
/// parsing failed on the answer that echoed it. Likewise ports with a sign or leading zeros.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_origin_in_brackets_must_be_an_ipv6_address_and_a_port_plain_digits() {
    let (_dir, edge) = node();
    for bad in [
        "http://[103]",
        "https://[:::]",
        "http://[1:2:3:4:5:6:7:8:9]:8080",
        // Ports as no browser writes them (`0443` also slipped past the default-port rule).
        "http://shop.example:+8080",
        "http://shop.example:08080",
        "https://shop.example:0443",
    ] {
        let (s, v) = edge
            .admin(
                "POST",
                "/v1/admin/sources",
                Some(json!({"name": "v6", "allowed_origins": [bad]})),
            )
            .await;
        assert_eq!(s, 422, "{bad}: {v}");
        assert!(v["error"]["fields"]["allowed_origins"].is_string(), "{v}");
    }
    let good = [
        "http://[::1]:8080",
        "https://[fe80::1:2]",
        "http://shop.example:8080",
    ];
    let (s, v) = edge
        .admin(
            "POST",
            "/v1/admin/sources",
            Some(json!({"name": "v6", "allowed_origins": good})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["allowed_origins"], json!(good));
}

/// An install's `variant` or `delivery_mode` that is not a string was taken as left out: the
/// integration was installed with the defaults (`{"delivery_mode": 7}` answered 201, though
/// only `server_side` is a delivery mode). Found against the document's InstallRequest schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_install_whose_variant_or_delivery_mode_is_not_a_string_is_a_422() {
    let (_dir, edge) = node();
    let config = json!({"api_key": "pendo-api-key", "integration_key": "pendo-integration-key"});
    for (field, value) in [
        ("variant", json!(5)),
        ("variant", json!(null)),
        ("delivery_mode", json!(7)),
        ("delivery_mode", json!(["server_side"])),
    ] {
        let mut body = json!({"name": "Pendo", "config": config});
        body[field] = value.clone();
        let (s, v) = edge.try_install(body).await;
        assert_eq!(s, 422, "{field}: {value}: {v}");
        assert_eq!(v["error"]["fields"][field], "must be a string", "{v}");
    }
    let (_, listed) = edge.admin("GET", "/v1/admin/integrations", None).await;
    assert_eq!(listed["data"], json!([]), "nothing installed");
    let (s, v) = edge
        .try_install(
            json!({"name": "Pendo", "config": config, "variant": "b2b_saas",
                            "delivery_mode": "server_side"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
}
