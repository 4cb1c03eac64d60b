//! Heap (server-side track and properties APIs) as data: `blueprints/heap.json` maps every case
//! of `fixtures/heap_cases.json` (written by hand from `heap.md`) to exactly the items the spec
//! expects, and its catalog entry, envelopes and response policy say what the spec says.

mod vendor_cases;

use proptest::prelude::*;
use serde_json::json;
use signal_core::request::resolve;
use signal_core::response::{Decision, decide};
use signal_core::{Blueprint, IntegrationConfig};

const CASES: &str = include_str!("fixtures/heap_cases.json");

fn heap() -> &'static Blueprint {
    Blueprint::get("heap").expect("heap is in the catalog")
}

#[test]
fn every_case_maps_to_what_the_spec_says() {
    vendor_cases::assert_every_case(CASES, "heap");
}

#[test]
fn the_file_loads_on_its_own() {
    let bp = Blueprint::parse("heap.json", include_str!("../blueprints/heap.json")).expect("loads");
    assert_eq!(bp.key, "heap");
}

#[test]
fn catalog_entry_is_what_the_spec_says() {
    let bp = heap();
    assert_eq!(
        (bp.name.as_str(), bp.status.as_str(), bp.version.as_str()),
        ("Heap", "alpha", "0.1.0")
    );
    assert_eq!(bp.category, "Analytics");
    assert_eq!(bp.consent_category, "analytics");
    assert!(bp.field("app_id").is_some_and(|f| f.required && !f.secret));
    assert!(bp.field("api_key").is_some_and(|f| !f.required && f.secret));
    let anon = bp.field("anonymous_users").expect("anonymous_users");
    assert_eq!(anon.default, Some(serde_json::json!("drop")));
    let page = bp.field("page_event_name").expect("page_event_name");
    assert_eq!(page.default, Some(serde_json::json!("Page viewed")));
    assert_eq!(bp.base_url("us"), Some("https://heapanalytics.com"));
    assert_eq!(bp.base_url("eu"), Some("https://c.eu.heap-api.com"));
    assert!(
        bp.variant("default")
            .is_some_and(|v| !v.event_mapping.is_empty())
    );
    for (name, path, max) in [
        ("track", "/api/track", 1000),
        ("user_props", "/api/add_user_properties", 1000),
        ("account_link", "/api/add_user_properties", 1000),
        ("account_props", "/api/add_account_properties", 1000),
    ] {
        let spec = &bp.requests[name];
        assert_eq!(spec.url, format!("{{region.base}}{path}"), "{name}");
        assert_eq!(
            spec.batch.as_ref().map(|b| b.max_items),
            Some(max),
            "{name}"
        );
    }
}

#[test]
fn troubleshooting_rows_back_every_diagnosis() {
    let bp = heap();
    for rules in bp.responses.values() {
        for rule in rules {
            if let Some(code) = &rule.diagnosis {
                assert!(bp.troubleshooting(code).is_some(), "no row for {code}");
            }
        }
    }
    for code in [
        "wrong_environment",
        "anonymous",
        "account_properties_ignored",
        "email_not_builtin",
        "identity_throttled",
        "wrong_data_region",
    ] {
        assert!(bp.troubleshooting(code).is_some(), "heap.md 3.6: {code}");
    }
    assert!(
        bp.troubleshooting("wrong_data_region")
            .is_some_and(|t| t.pauses)
    );
}

#[test]
fn envelopes_and_items_are_heap_bulk_bodies_with_the_app_id() {
    let file = vendor_cases::load(CASES);
    let items = vendor_cases::items_by_request(&file);
    let bodies = vendor_cases::bodies(heap(), &json!({"app_id": "1234567890"}), &items);
    let lists: Vec<(&str, &str)> = bodies
        .iter()
        .map(|(name, sent, _)| {
            assert_eq!(sent["app_id"], "1234567890", "{name}: app_id in the body");
            let list = ["events", "users", "accounts"]
                .into_iter()
                .find(|k| sent.get(*k).is_some())
                .unwrap_or("none");
            (name.as_str(), list)
        })
        .collect();
    assert_eq!(
        lists,
        [
            ("account_link", "users"),
            ("account_props", "accounts"),
            ("track", "events"),
            ("user_props", "users")
        ]
    );
    for (name, sent, _) in &bodies {
        for it in sent["events"].as_array().into_iter().flatten() {
            assert!(it["event"].is_string(), "{name}: {it}");
            assert!(
                it["identity"].is_string() != it["user_id"].is_string(),
                "exactly one of identity and user_id: {it}"
            );
            let ts = it["timestamp"].as_str().unwrap_or_default();
            assert!(ts.len() == 24 && ts.ends_with('Z'), "ISO 8601 ms: {it}");
        }
        for it in sent["users"].as_array().into_iter().flatten() {
            assert!(
                it["identity"].is_string() && it["properties"].is_object(),
                "{it}"
            );
        }
        for it in sent["accounts"].as_array().into_iter().flatten() {
            assert!(
                it["account_id"].is_string() && it["properties"].is_object(),
                "{it}"
            );
        }
    }
}

#[test]
fn the_region_picks_the_host_and_no_key_is_sent() {
    let bp = heap();
    for (region, host) in [
        ("us", "https://heapanalytics.com"),
        ("eu", "https://c.eu.heap-api.com"),
    ] {
        let config = json!({"app_id": "42", "api_key": "secret-9", "data_region": region});
        let cfg = IntegrationConfig::validate(bp, &config).expect("valid");
        let base = bp.base_url(&cfg.region).expect("region");
        let targets = resolve(&bp.requests, &cfg.values, base).expect("resolves");
        for t in &targets {
            assert!(t.url.starts_with(host), "{}", t.url);
            assert!(t.headers.iter().all(|(_, v)| !v.contains("secret-9")));
            let env = t.envelope.as_ref().expect("batched");
            assert!(!String::from_utf8_lossy(&env.prefix).contains("secret-9"));
        }
    }
}

/// Heap's answers (heap.md 2, 3.5) and what each comes to.
#[test]
fn answers_follow_the_response_policy() {
    let rules = &heap().responses["heap"];
    let d = |status: u16, body: &str, items: usize| decide(rules, status, body.as_bytes(), items);
    assert!(matches!(d(200, "", 4), Decision::Delivered { .. }));
    assert_eq!(
        d(400, "postBody.events[2].properties should be object", 4),
        Decision::Partial {
            dead: vec![2],
            delayed: vec![],
            delay_s: 0,
            diagnosis: Some("invalid_event".into())
        }
    );
    assert!(
        matches!(d(400, "postBody.users[0].identity should be string", 2),
        Decision::Partial { ref dead, .. } if *dead == vec![0])
    );
    assert_eq!(d(400, "Bad Request", 4), Decision::Split);
    for s in [401, 403] {
        assert_eq!(
            d(s, "", 4),
            Decision::Pause {
                code: "invalid_app_id".into()
            }
        );
    }
    assert_eq!(
        d(404, "", 4),
        Decision::Pause {
            code: "wrong_data_region".into()
        }
    );
    assert_eq!(d(429, "", 4), Decision::Retry { throttled: true });
    for s in [408, 500, 503] {
        assert_eq!(d(s, "", 4), Decision::Retry { throttled: false }, "{s}");
    }
    assert_eq!(d(422, "", 4), Decision::DeadLetter { diagnosis: None });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Every event the gateway accepts is either sent as Heap items of its request's shape
    /// (track events with exactly one of identity and user_id, and flat properties for custom
    /// events, heap.md 3.4; user and account items with an id and a properties object) or dropped with one of
    /// the blueprint's reasons (issue 12, item 6).
    #[test]
    fn every_event_is_sent_in_its_requests_shape_or_dropped_with_a_reason(
        ev in vendor_cases::arb::event(),
        anonymous in prop::sample::select(vec!["drop", "user_id_hash", "identity"]),
    ) {
        let config = json!({"app_id": "42", "anonymous_users": anonymous});
        let out = vendor_cases::map_value("heap", &config, &Default::default(), &ev, 0);
        match out {
            vendor_cases::Outcome::Items(items) => {
                prop_assert!(!items.is_empty() && items.len() <= 2);
                for it in items {
                    let b = &it.body;
                    match it.request.as_str() {
                        "track" => {
                            prop_assert!(b["event"].as_str().is_some_and(|t| !t.is_empty()), "{}", b);
                            prop_assert!(b["identity"].is_string() != b["user_id"].is_string(), "{}", b);
                            prop_assert!(b["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')), "{}", b);
                            if ev["type"] == "track" {
                                for (k, v) in b["properties"].as_object().into_iter().flatten() {
                                    // heap.md 3.4: arrays of scalars stay arrays.
                                    let nested = |v: &serde_json::Value| v.is_object() || v.is_array();
                                    prop_assert!(
                                        !v.is_object() && !v.as_array().is_some_and(|a| a.iter().any(nested)),
                                        "{} is not flat: {}", k, b
                                    );
                                }
                            }
                        }
                        "user_props" | "account_link" => {
                            prop_assert!(b["identity"].is_string() && b["properties"].is_object(), "{}", b);
                        }
                        "account_props" => {
                            prop_assert!(b["account_id"].is_string() && b["properties"].is_object(), "{}", b);
                        }
                        other => prop_assert!(false, "unknown request {}", other),
                    }
                }
            }
            vendor_cases::Outcome::Dropped(reason) => prop_assert!(
                ["unsupported_type", "anonymous", "consent", "no_traits", "integration_disabled"]
                    .contains(&reason.as_str()),
                "{}", reason
            ),
            vendor_cases::Outcome::Invalid(_) => {}
            vendor_cases::Outcome::ConfigError(e) => prop_assert!(false, "{:?}", e),
        }
    }
}

/// heap.md 1: Datafly's documented install body installs as it is; a missing App ID is named.
#[test]
fn datafly_install_body_installs_and_a_missing_app_id_is_named() {
    let bp = heap();
    let (cfg, variant) = IntegrationConfig::validate_install(
        bp,
        Some("default"),
        Some("server_side"),
        &json!({"app_id": "1234567890", "api_key": "heap-api-key-abcd"}),
    )
    .expect("installs");
    assert_eq!(variant.key, "default");
    assert_eq!(cfg.region, "us");
    assert_eq!(cfg.values["anonymous_users"], "drop");
    assert_eq!(cfg.masked(bp)["api_key"], "****abcd");
    let err = IntegrationConfig::validate_install(
        bp,
        None,
        None,
        &json!({"anonymous_users": "sometimes"}),
    )
    .expect_err("invalid");
    assert_eq!(
        err.fields.get("config.app_id").map(String::as_str),
        Some("is required")
    );
    assert!(err.fields.contains_key("config.anonymous_users"));
    // heap.md 3.1: the App ID is validated numeric; account_property defaults to account_id.
    let err = IntegrationConfig::validate_install(bp, None, None, &json!({"app_id": "12a4"}))
        .expect_err("not digits");
    assert_eq!(
        err.fields.get("config.app_id").map(String::as_str),
        Some("must match [0-9]+")
    );
    assert_eq!(cfg.values["account_property"], "account_id");
}
