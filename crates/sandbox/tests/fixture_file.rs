//! A vendor that exists only in a fixture file the test writes: loaded with no Rust change,
//! its key (a query parameter here, Basic and bearer too), body checks and answers played over
//! HTTP; a broken file is an error naming the file, the place and the rule.

mod support;

use serde_json::json;
use signal_sandbox::{Fixture, FixtureError, Rule, Sim, Subscriptions};
use support::{client, post};

const ACME: &str = r#"{
  "vendor": "acme",
  "auth": {"in": "query", "name": "token"},
  "keys": {"us": ["acme-us"], "eu": ["acme-eu"]},
  "answers": {
    "unknown_key": {"status": 403, "json": {"ok": false, "reason": "bad token"}},
    "wrong_region": {"status": 421, "json": {"ok": false, "reason": "use ${region}"}},
    "invalid_items": {"status": 422, "json": {"ok": false, "rejected": "${invalid_indexes}", "first": "${why}"},
                      "headers": {"x-acme-first": "${path}"}},
    "accepted": {"status": 202, "json": {"ok": true, "stored": "${items}"}}
  },
  "routes": [{
    "name": "ingest", "method": "POST", "path": "/v3/ingest",
    "body": {"shape": "array", "max_items": 3},
    "item": {"no_nulls": true, "fields": [
      {"name": "name", "type": "non_empty_string", "required": true},
      {"name": "at", "type": "epoch_ms", "required": true},
      {"name": "who", "type": "string", "min_length": 2}
    ]}
  }]
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vendor_written_by_the_test_is_played_from_its_file() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("acme.json");
    std::fs::write(&path, ACME).expect("write");
    let fixture = Fixture::load(&path).expect("loads");
    let sim = Sim::start_fixture(fixture, "us", Subscriptions::new())
        .await
        .expect("sim");
    assert_eq!(sim.vendor(), "acme");
    let c = client();
    let url = |token: &str| format!("{}/v3/ingest?token={token}", sim.base_url());
    let two = json!([{"name": "a", "at": 1, "who": "zz"}, {"name": "b", "at": 2}]).to_string();
    let a = post(&c, &url("acme-us"), &[], &two).await;
    assert_eq!(
        (a.status, a.json()),
        (202, json!({"ok": true, "stored": 2}))
    );
    let a = post(&c, &url("acme-eu"), &[], &two).await;
    assert_eq!(
        (a.status, a.json()["reason"].clone()),
        (421, json!("use us"))
    );
    assert_eq!(post(&c, &url("nope"), &[], &two).await.status, 403);
    let bad = json!([{"name": "a", "at": 1}, {"name": "b", "at": -5}, {"name": "c", "at": 3, "who": null}]);
    let a = post(&c, &url("acme-us"), &[], &bad.to_string()).await;
    assert_eq!(a.status, 422);
    assert!(
        a.headers
            .contains(&("x-acme-first".into(), "[1].at".into())),
        "{:?}",
        a.headers
    );
    assert_eq!(
        a.json(),
        json!({"ok": false, "rejected": [1, 2], "first": "[1].at is required (epoch milliseconds)"})
    );
    let four = json!([{"name": "a", "at": 1}, {"name": "a", "at": 1}, {"name": "a", "at": 1}, {"name": "a", "at": 1}]);
    assert_eq!(
        post(&c, &url("acme-us"), &[], &four.to_string())
            .await
            .status,
        413
    );
    assert_eq!(sim.items().len(), 2);
    assert_eq!(sim.items()[0].item["who"], "zz");
    let stats = post(&c, &format!("{}/_sim/stats", sim.base_url()), &[], "").await;
    assert_eq!(stats.status, 404, "introspection is GET only");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_and_bearer_keys_are_read() {
    for (auth, header) in [
        ("basic", "Basic YWNtZS11czppZ25vcmVk"),
        ("bearer", "Bearer acme-us"),
    ] {
        let text = ACME.replace(
            r#"{"in": "query", "name": "token"}"#,
            &format!(r#"{{"in": "{auth}"}}"#),
        );
        let fixture = Fixture::parse("inline", &text).expect("parses");
        let sim = Sim::start_fixture(fixture, "us", Subscriptions::new())
            .await
            .expect("sim");
        let url = format!("{}/v3/ingest", sim.base_url());
        let body = json!([{"name": "a", "at": 1}]).to_string();
        let c = client();
        assert_eq!(
            post(&c, &url, &[("authorization", header)], &body)
                .await
                .status,
            202,
            "{auth}"
        );
        assert_eq!(post(&c, &url, &[], &body).await.status, 403, "{auth}");
    }
}

#[test]
fn a_broken_fixture_names_the_file_the_place_and_the_rule() {
    let unknown_answer = ACME.replace("\"accepted\":", "\"acepted\":");
    match Fixture::parse("acme.json", &unknown_answer) {
        Err(FixtureError::Invalid { file, at, rule }) => {
            assert_eq!(
                (file.as_str(), at.as_str(), rule),
                ("acme.json", "answers.acepted", Rule::UnknownAnswer)
            );
        }
        other => panic!("{other:?}"),
    }
    let unknown_var = ACME.replace("${items}", "${itemz}");
    let e = Fixture::parse("acme.json", &unknown_var).expect_err("refused");
    assert_eq!(
        e.to_string(),
        "acme.json: at answers.accepted: unknown variable ${itemz}"
    );
    let typo = ACME.replace("\"no_nulls\"", "\"no_null\"");
    let e = Fixture::parse("acme.json", &typo).expect_err("refused");
    assert!(
        e.to_string()
            .starts_with("acme.json: unknown field `no_null`"),
        "{e}"
    );
    let e = Fixture::load(std::path::Path::new("/nonexistent/acme.json")).expect_err("refused");
    assert!(
        e.to_string()
            .starts_with("/nonexistent/acme.json: cannot read"),
        "{e}"
    );
    for vendor in ["pendo", "amplitude", "heap"] {
        assert_eq!(Fixture::builtin(vendor).expect("ships").vendor, vendor);
    }
}
