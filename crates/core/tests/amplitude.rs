//! Amplitude (HTTP V2) as data: `blueprints/amplitude.json` maps every case of
//! `fixtures/amplitude_cases.json` (written by hand from `amplitude.md`) to exactly the items the
//! spec expects, and its catalog entry, envelope and response policy say what the spec says.

mod vendor_cases;

use proptest::prelude::*;
use serde_json::json;
use signal_core::request::resolve;
use signal_core::response::{Decision, decide};
use signal_core::{Blueprint, IntegrationConfig};

const CASES: &str = include_str!("fixtures/amplitude_cases.json");

fn amplitude() -> &'static Blueprint {
    Blueprint::get("amplitude").expect("amplitude is in the catalog")
}

#[test]
fn every_case_maps_to_what_the_spec_says() {
    vendor_cases::assert_every_case(CASES, "amplitude");
}

#[test]
fn the_file_loads_on_its_own_and_names_its_errors() {
    let text = include_str!("../blueprints/amplitude.json");
    let bp = Blueprint::parse("amplitude.json", text).expect("loads");
    assert_eq!(bp.key, "amplitude");
    let broken = text.replace("\"@as\": \"epoch_ms\"", "\"@as\": \"epoch_nanos\"");
    let err = Blueprint::parse("amplitude.json", &broken).expect_err("unknown transform");
    let shown = err.to_string();
    assert!(
        shown.starts_with("amplitude.json: requests.events.item.time"),
        "{shown}"
    );
    assert!(shown.contains("epoch_nanos"), "{shown}");
}

#[test]
fn catalog_entry_is_what_the_spec_says() {
    let bp = amplitude();
    assert_eq!(
        (bp.name.as_str(), bp.status.as_str(), bp.version.as_str()),
        ("Amplitude", "alpha", "0.1.0")
    );
    assert_eq!(bp.category, "Analytics");
    assert_eq!(bp.consent_category, "analytics");
    assert!(bp.field("api_key").is_some_and(|f| f.required && f.secret));
    let region = bp.field("data_region").expect("data_region");
    assert_eq!(region.default, Some(serde_json::json!("us")));
    assert_eq!(
        region.allowed.as_deref(),
        Some(&["us", "eu"].map(String::from)[..])
    );
    let page = bp.field("page_event_name").expect("page_event_name");
    assert_eq!(page.default, Some(serde_json::json!("amplitude")));
    for optional in [
        "min_id_length",
        "event_mapping",
        "require_consent",
        "rate_limit_per_second",
    ] {
        assert!(
            bp.field(optional).is_some_and(|f| !f.required),
            "{optional}"
        );
    }
    assert_eq!(bp.base_url("us"), Some("https://api2.amplitude.com"));
    assert_eq!(bp.base_url("eu"), Some("https://api.eu.amplitude.com"));
    assert!(
        bp.variant("default")
            .is_some_and(|v| !v.event_mapping.is_empty())
    );
    let spec = &bp.requests["events"];
    assert_eq!(spec.url, "{region.base}/2/httpapi");
    let batch = spec.batch.as_ref().expect("batched");
    assert_eq!((batch.max_items, batch.max_bytes), (2000, Some(1_000_000)));
    // amplitude.md 3.5: a 429 holds that user, else that device.
    assert_eq!(
        batch.hold_by.as_ref().map(|h| h.as_slice().to_vec()),
        Some(vec!["user_id".to_owned(), "device_id".to_owned()])
    );
}

#[test]
fn troubleshooting_rows_back_every_diagnosis() {
    let bp = amplitude();
    for rules in bp.responses.values() {
        for rule in rules {
            if let Some(code) = &rule.diagnosis {
                assert!(bp.troubleshooting(code).is_some(), "no row for {code}");
            }
        }
    }
    for code in [
        "invalid_api_key",
        "short_user_id",
        "user_throttled",
        "location_wrong",
        "duplicate_events",
        "group_properties_missing",
    ] {
        assert!(
            bp.troubleshooting(code).is_some(),
            "amplitude.md 3.6: {code}"
        );
    }
    let key = bp.troubleshooting("invalid_api_key").expect("row");
    assert!(key.pauses && key.fix.contains("data_region"));
}

#[test]
fn envelope_and_items_are_an_http_v2_body_with_the_key_in_it() {
    let file = vendor_cases::load(CASES);
    let items = vendor_cases::items_by_request(&file);
    assert!(items["events"].len() > 20, "the cases send events");
    let config = json!({"api_key": "amp-test-key-0001"});
    let bodies = vendor_cases::bodies(amplitude(), &config, &items);
    assert_eq!(bodies.len(), 1);
    let (_, sent, shown) = &bodies[0];
    // amplitude.md 2 and 3.4: {"api_key", "events": [...]}, `options` only when configured.
    assert_eq!(sent["api_key"], "amp-test-key-0001");
    assert_eq!(sent.get("options"), None, "{sent}");
    assert_eq!(
        sent["events"].as_array().map(Vec::len),
        Some(items["events"].len())
    );
    for ev in sent["events"].as_array().into_iter().flatten() {
        assert!(ev["event_type"].is_string(), "event_type is required: {ev}");
        assert!(
            ev["user_id"].is_string() || ev["device_id"].is_string(),
            "one of user_id, device_id is required: {ev}"
        );
        assert!(ev["insert_id"].is_string(), "every event dedupes: {ev}");
        assert!(ev["time"].is_i64(), "time is epoch ms: {ev}");
    }
    assert!(!shown.to_string().contains("amp-test-key-0001"), "{shown}");

    let with_min = json!({"api_key": "amp-test-key-0001", "min_id_length": 3, "data_region": "eu"});
    let (_, sent, _) = &vendor_cases::bodies(amplitude(), &with_min, &items)[0];
    assert_eq!(sent["options"], json!({"min_id_length": 3}));
}

#[test]
fn the_key_goes_in_the_body_and_the_region_picks_the_host() {
    let bp = amplitude();
    for (region, host) in [
        ("us", "https://api2.amplitude.com/2/httpapi"),
        ("eu", "https://api.eu.amplitude.com/2/httpapi"),
    ] {
        let cfg =
            IntegrationConfig::validate(bp, &json!({"api_key": "k-1", "data_region": region}))
                .expect("valid");
        let base = bp.base_url(&cfg.region).expect("region");
        let targets = resolve(&bp.requests, &cfg.values, base).expect("resolves");
        assert_eq!(targets[0].url, host);
        assert!(targets[0].headers.iter().all(|(_, v)| !v.contains("k-1")));
    }
}

/// Amplitude's answers (amplitude.md 2, Responses; 3.5) and what each comes to.
#[test]
fn answers_follow_the_response_policy() {
    let rules = &amplitude().responses["amplitude_v2"];
    let d = |status: u16, body: &str, items: usize| decide(rules, status, body.as_bytes(), items);
    let ok = r#"{"code":200,"events_ingested":3,"payload_size_bytes":900,"server_upload_time":1}"#;
    assert!(matches!(d(200, ok, 3), Decision::Delivered { .. }));
    assert_eq!(
        d(400, r#"{"code":400,"error":"Invalid API key"}"#, 3),
        Decision::Pause {
            code: "invalid_api_key".into()
        }
    );
    assert_eq!(
        d(
            400,
            r#"{"code":400,"error":"Request missing required field","missing_field":"api_key"}"#,
            3
        ),
        Decision::DeadLetter {
            diagnosis: Some("request_rejected".into())
        }
    );
    let invalid = r#"{"code":400,"error":"Invalid field values on some events",
        "events_with_invalid_fields":{"time":[3],"event_type":[1,4]},"events_with_missing_fields":{"user_id":[4]}}"#;
    assert_eq!(
        d(400, invalid, 5),
        Decision::Partial {
            dead: vec![1, 3, 4],
            delayed: vec![],
            delay_s: 0,
            diagnosis: Some("invalid_events".into())
        }
    );
    let silenced = r#"{"code":400,"error":"Events silenced for device_id","eps_threshold":100,
        "silenced_devices":["d1"],"silenced_events":[0,2],"throttled_devices":{},"throttled_events":[]}"#;
    assert!(
        matches!(d(400, silenced, 3), Decision::Partial { ref dead, .. } if *dead == vec![0, 2])
    );
    assert_eq!(
        d(
            400,
            r#"{"code":400,"error":"Invalid JSON request body"}"#,
            3
        ),
        Decision::DeadLetter {
            diagnosis: Some("request_rejected".into())
        }
    );
    assert_eq!(
        d(403, r#"{"code":403,"error":"Forbidden"}"#, 3),
        Decision::DeadLetter {
            diagnosis: Some("waf_blocked".into())
        }
    );
    assert_eq!(
        d(413, r#"{"code":413,"error":"Payload too large"}"#, 8),
        Decision::Split
    );
    let throttled = r#"{"code":429,"error":"Too many requests for some devices and users","eps_threshold":30,
        "throttled_devices":{"d1":31},"throttled_users":{},"throttled_events":[0,2]}"#;
    assert_eq!(
        d(429, throttled, 3),
        Decision::Partial {
            dead: vec![],
            delayed: vec![0, 2],
            delay_s: 30,
            diagnosis: Some("user_throttled".into())
        }
    );
    assert_eq!(d(429, "", 3), Decision::Retry { throttled: true });
    for s in [408, 500, 502, 503, 504] {
        assert_eq!(d(s, "", 3), Decision::Retry { throttled: false }, "{s}");
    }
    assert_eq!(d(404, "", 3), Decision::DeadLetter { diagnosis: None });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Every event the gateway accepts is either sent as HTTP V2 events (valid JSON objects with
    /// an event_type, an id and the messageId as insert_id) or dropped with one of the
    /// blueprint's reasons (issue 12, item 6: every mapped event is accounted for).
    #[test]
    fn every_event_is_sent_as_an_event_or_dropped_with_a_reason(
        ev in vendor_cases::arb::event(),
        page in prop::sample::select(vec!["amplitude", "loaded_a_page", "viewed_name"]),
        mapping in any::<bool>(),
    ) {
        let mut config = json!({"api_key": "k-1", "page_event_name": page});
        if mapping {
            config["event_mapping"] = json!({"Signed Up": "trial_started", "page": null});
        }
        let out = vendor_cases::map_value("amplitude", &config, &Default::default(), &ev, 0);
        match out {
            vendor_cases::Outcome::Items(items) => {
                prop_assert!(!items.is_empty() && items.len() <= 2);
                for it in items {
                    prop_assert_eq!(&it.request, "events");
                    let b = &it.body;
                    prop_assert!(b.is_object(), "{}", b);
                    prop_assert!(b["event_type"].as_str().is_some_and(|t| !t.is_empty()), "{}", b);
                    prop_assert!(b["user_id"].is_string() || b["device_id"].is_string(), "{}", b);
                    prop_assert!(b["time"].is_i64(), "{}", b);
                    prop_assert_eq!(b.get("insert_id"), ev.get("messageId"));
                    prop_assert!(!b.to_string().contains("k-1"));
                }
            }
            vendor_cases::Outcome::Dropped(reason) => prop_assert!(
                ["unsupported_type", "reserved_name", "consent", "event_mapping", "integration_disabled", "no_valid_id"]
                    .contains(&reason.as_str()),
                "{}", reason
            ),
            vendor_cases::Outcome::Invalid(_) => {}
            vendor_cases::Outcome::ConfigError(e) => prop_assert!(false, "{:?}", e),
        }
    }
}

/// amplitude.md 1 and 3.1: the API key is all an install needs; the key is masked when shown,
/// and a region outside us/eu is named.
#[test]
fn an_api_key_is_all_an_install_needs() {
    let bp = amplitude();
    let (cfg, variant) = IntegrationConfig::validate_install(
        bp,
        None,
        Some("server_side"),
        &json!({"api_key": "amp-project-key-wxyz"}),
    )
    .expect("installs");
    assert_eq!(variant.key, "default");
    assert_eq!(
        (cfg.region.as_str(), cfg.auth.as_str()),
        ("us", "amp-project-key-wxyz")
    );
    assert_eq!(cfg.values["page_event_name"], "amplitude");
    assert_eq!(cfg.masked(bp)["api_key"], "****wxyz");
    let err = IntegrationConfig::validate_install(bp, None, None, &json!({"data_region": "ap"}))
        .expect_err("invalid");
    assert_eq!(
        err.fields.get("config.api_key").map(String::as_str),
        Some("is required")
    );
    assert!(err.fields.contains_key("config.data_region"));
    // amplitude.md 3.1: min_id_length is 1 to 5.
    for (n, why) in [(6, "must be at most 5"), (0, "must be at least 1")] {
        let err = IntegrationConfig::validate_install(
            bp,
            None,
            None,
            &json!({"api_key": "k-1", "min_id_length": n}),
        )
        .expect_err("out of range");
        assert_eq!(
            err.fields.get("config.min_id_length").map(String::as_str),
            Some(why)
        );
    }
}

/// amplitude.md 3.2: `min_id_length` lowers the shortest id kept; a 429 holds the user_id,
/// else the device_id (3.5).
#[test]
fn min_id_length_keeps_shorter_ids_and_the_hold_is_the_user_else_the_device() {
    use signal_core::{Mapped, Mapper, MemoryIdentity, Parser, Shape};
    let ids = MemoryIdentity::new();
    let mut parser = Parser::new();
    let mut map = |config: serde_json::Value, event: &str| -> Vec<(String, Option<String>)> {
        let mut m = Mapper::from_config("amplitude", &config).expect("valid");
        let mut buf = event.as_bytes().to_vec();
        let doc = parser.parse(&mut buf, Shape::Event(None)).expect("parses");
        let ev = doc.event(0).expect("valid");
        match m.map(&ev, &ids, 0).outcome {
            Mapped::Send(items) => items
                .iter()
                .map(|i| {
                    (
                        String::from_utf8_lossy(i.body).into_owned(),
                        i.hold.map(str::to_owned),
                    )
                })
                .collect(),
            Mapped::Dropped(r) => vec![(r.to_string(), None)],
        }
    };
    let ev = r#"{"type":"track","event":"E","userId":"u12","anonymousId":"dev-1"}"#;
    let out = map(json!({"api_key": "k"}), ev);
    assert!(!out[0].0.contains("u12"), "{out:?}");
    assert_eq!(
        out[0].1.as_deref(),
        Some("dev-1"),
        "no user: the device holds"
    );
    let out = map(json!({"api_key": "k", "min_id_length": 3}), ev);
    assert!(out[0].0.contains(r#""user_id":"u12""#), "{out:?}");
    assert_eq!(out[0].1.as_deref(), Some("u12"), "the user holds first");
}
