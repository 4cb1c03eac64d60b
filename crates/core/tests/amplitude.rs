//! Amplitude (HTTP V2) as data: `blueprints/amplitude.json` maps every case of
//! `fixtures/amplitude_cases.json` (written by hand from `amplitude.md`) to exactly the items the
//! spec expects, and its catalog entry, envelope and response policy say what the spec says.

mod vendor_cases;

use signal_core::Blueprint;

const CASES: &str = include_str!("fixtures/amplitude_cases.json");

fn amplitude() -> &'static Blueprint {
    Blueprint::get("amplitude").expect("amplitude is in the catalog")
}

#[test]
fn every_case_maps_to_what_the_spec_says() {
    let file = vendor_cases::load(CASES);
    assert_eq!(file.vendor, "amplitude");
    let bad = vendor_cases::mismatches(&file);
    assert!(
        bad.is_empty(),
        "{} case(s):\n\n{}",
        bad.len(),
        bad.join("\n\n")
    );
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
    assert_eq!(batch.hold_by.as_deref(), Some("device_id"));
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
