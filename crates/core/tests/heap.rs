//! Heap (server-side track and properties APIs) as data: `blueprints/heap.json` maps every case
//! of `fixtures/heap_cases.json` (written by hand from `heap.md`) to exactly the items the spec
//! expects, and its catalog entry, envelopes and response policy say what the spec says.

mod vendor_cases;

use signal_core::Blueprint;

const CASES: &str = include_str!("fixtures/heap_cases.json");

fn heap() -> &'static Blueprint {
    Blueprint::get("heap").expect("heap is in the catalog")
}

#[test]
fn every_case_maps_to_what_the_spec_says() {
    let file = vendor_cases::load(CASES);
    assert_eq!(file.vendor, "heap");
    let bad = vendor_cases::mismatches(&file);
    assert!(
        bad.is_empty(),
        "{} case(s):\n\n{}",
        bad.len(),
        bad.join("\n\n")
    );
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
