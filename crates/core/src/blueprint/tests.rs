//! The Pendo blueprint against its product page, and the loader's located errors.

use super::*;

#[test]
fn pendo_blueprint_is_what_the_product_page_says() {
    let bp = Blueprint::get("pendo").expect("embedded");
    assert_eq!(
        (bp.name.as_str(), bp.version.as_str(), bp.status.as_str()),
        ("Pendo", "0.1.0", "alpha")
    );
    assert_eq!(bp.category, "Analytics");
    assert_eq!(bp.consent_category, "analytics");
    let region = bp.field("data_region").expect("field");
    assert_eq!(region.default, Some(serde_json::json!("us")));
    assert_eq!(
        region.allowed.as_deref(),
        Some(&["us", "eu", "us1", "jpn", "au"].map(String::from)[..])
    );
    assert!(bp.field("api_key").is_some_and(|f| f.required && f.secret));
    assert!(
        bp.field("integration_key")
            .is_some_and(|f| f.required && f.secret)
    );
    for opt in [
        "event_mapping",
        "anonymous_visitors",
        "require_consent",
        "rate_limit_per_second",
    ] {
        assert!(bp.field(opt).is_some_and(|f| !f.required), "{opt}");
    }
    assert_eq!(bp.base_url("us"), Some("https://app.pendo.io"));
    assert_eq!(bp.base_url("eu"), Some("https://app.eu.pendo.io"));
    assert_eq!(bp.base_url("us1"), Some("https://us1.app.pendo.io"));
    assert_eq!(bp.base_url("jpn"), Some("https://app.jpn.pendo.io"));
    assert_eq!(bp.base_url("au"), Some("https://app.au.pendo.io"));
    assert!(bp.variant("b2b_saas").is_some());
}

#[test]
fn troubleshooting_table_diagnoses_statuses() {
    let bp = Blueprint::get("pendo").expect("embedded");
    for s in [401, 403] {
        assert_eq!(
            bp.diagnose_status(s).map(|t| t.code.as_str()),
            Some("invalid_integration_key")
        );
    }
    let region = bp.diagnose_status(404).expect("404 row");
    assert_eq!(region.code, "wrong_data_region");
    assert!(region.fix.contains("data_region"));
    assert!(bp.diagnose_status(500).is_none());
    for code in [
        "account_not_linked",
        "reserved_property",
        "visitor_mismatch",
    ] {
        assert!(bp.troubleshooting(code).is_some(), "{code}");
    }
}

#[test]
fn region_base_url_variables_are_derived_from_the_key() {
    let bp = Blueprint::get("pendo").expect("embedded");
    assert_eq!(bp.base_url_env("eu"), "SIGNAL_PENDO_BASE_URL_EU");
    assert_eq!(bp.base_url_env("us1"), "SIGNAL_PENDO_BASE_URL_US1");
}

fn pendo_with(edit: impl FnOnce(&mut serde_json::Value)) -> Result<Blueprint, BlueprintError> {
    let mut v: serde_json::Value =
        serde_json::from_str(include_str!("../../blueprints/pendo.json")).expect("json");
    edit(&mut v);
    Blueprint::parse("pendo.json", &v.to_string())
}

#[test]
fn a_blueprint_that_does_not_load_names_file_path_and_rule() {
    let e = pendo_with(|v| v["colour"] = "red".into()).expect_err("unknown key");
    assert_eq!(e.file, "pendo.json");
    assert!(e.to_string().contains("unknown field `colour`"), "{e}");

    let e =
        pendo_with(|v| v["requests"]["track"]["item"]["timestamp"]["@as"] = "epoch_nanos".into())
            .expect_err("unknown transform");
    assert_eq!(e.path, "requests.track.item.timestamp.@as");
    assert_eq!(
        e.rule,
        BlueprintRule::UnknownTransform("epoch_nanos".into())
    );
    assert!(
        e.to_string().starts_with(
            "pendo.json: requests.track.item.timestamp.@as: unknown transform `epoch_nanos`"
        ),
        "{e}"
    );

    let e = pendo_with(|v| v["requests"]["track"]["item"]["x"] = serde_json::json!({"@pth": "a"}))
        .expect_err("unknown directive");
    assert_eq!(e.path, "requests.track.item.x");
    assert_eq!(e.rule, BlueprintRule::UnknownDirective("@pth".into()));

    let e = pendo_with(|v| {
        v["requests"]["track"]["item"]["x"] = serde_json::json!({"@path": "session.colour"})
    })
    .expect_err("unknown path");
    assert_eq!(e.rule, BlueprintRule::UnknownPath("session.colour".into()));

    let e = pendo_with(|v| v["events"][1]["send"] = serde_json::json!(["trak"]))
        .expect_err("unknown request");
    assert_eq!(e.path, "events[1].send[0]");
    assert_eq!(e.rule, BlueprintRule::UnknownRequest("trak".into()));

    let e = pendo_with(|v| v["requests"]["track"]["trace"] = true.into()).expect_err("strict");
    assert!(e.path.starts_with("requests.track"), "{e}");
}

/// The features that closed the Amplitude and Heap gaps refuse misuse at load, naming where.
#[test]
fn misused_gap_features_are_load_errors_naming_path_and_rule() {
    use serde_json::json;
    let item = |v: &mut serde_json::Value, k: &str, d: serde_json::Value| {
        v["requests"]["track"]["item"][k] = d;
    };

    let e = pendo_with(|v| item(v, "{config.nope}", json!({"@path": "event"})))
        .expect_err("a key from an unknown config field");
    assert_eq!(e.path, "requests.track.item.{config.nope}");
    assert_eq!(e.rule, BlueprintRule::UnknownConfigField("nope".into()));

    // A secret field is for the auth: not in an item's key, as not in its values.
    let e = pendo_with(|v| item(v, "{config.api_key}", json!({"@path": "event"})))
        .expect_err("a key made of the api key");
    assert_eq!(e.path, "requests.track.item.{config.api_key}");
    assert!(
        matches!(e.rule, BlueprintRule::Invalid(why) if why.starts_with("a secret config field")),
        "{:?}",
        e.rule
    );

    let e = pendo_with(|v| {
        v["events"][1]["send"] = json!([{"request": "track", "if_config": "nope"}]);
    })
    .expect_err("if_config names an unknown field");
    assert_eq!(e.path, "events[1].send[0].if_config");
    assert_eq!(e.rule, BlueprintRule::UnknownConfigField("nope".into()));

    let e = pendo_with(|v| {
        v["events"][1]["send"] = json!([{"request": "track", "set": {"x": {"@pth": "a"}}}]);
    })
    .expect_err("a per-item set is compiled");
    assert_eq!(e.path, "events[1].send[0].set.x");

    let e = pendo_with(|v| {
        item(
            v,
            "p",
            json!({"@path": "properties", "@fn": ["flatten", "lowercase"]}),
        );
    })
    .expect_err("flatten with a value transform");
    assert_eq!(e.path, "requests.track.item.p.@fn");
    assert!(matches!(e.rule, BlueprintRule::Invalid(_)), "{e}");

    for bad in ["min_chars:x", "truncate_strings:", "url_hostname"] {
        let e = pendo_with(|v| item(v, "u", json!({"@path": "userId", "@fn": [bad]})))
            .expect_err("unknown transform");
        assert_eq!(e.rule, BlueprintRule::UnknownTransform(bad.into()), "{bad}");
    }

    let e = pendo_with(|v| item(v, "u", json!({"@path": "userId", "@reject": [1]})))
        .expect_err("@reject takes strings");
    assert_eq!(e.path, "requests.track.item.u.@reject");

    let e = pendo_with(|v| {
        v["requests"]["track"]["require_any"] = json!({"keys": ["nope"], "reason": "no_valid_id"});
    })
    .expect_err("require_any names a key the item lacks");
    assert_eq!(e.path, "requests.track.require_any");
    assert_eq!(e.rule, BlueprintRule::UnknownItemKey("nope".into()));

    let e = pendo_with(|v| {
        v["requests"]["visitors"]["batch"]["hold_by"] = json!(["visitorId", "user"]);
    })
    .expect_err("hold_by names a key the item lacks");
    assert_eq!(e.path, "requests.visitors.batch.hold_by");
    assert_eq!(e.rule, BlueprintRule::UnknownItemKey("user".into()));

    let e = pendo_with(|v| {
        v["identity_rules"]["user"]["anonymous"]["modes"] = json!({"prefix": "prefix"});
    })
    .expect_err("the mode field allows drop, which has no mode");
    assert_eq!(e.path, "identity_rules.user.anonymous.modes");
    assert_eq!(e.rule, BlueprintRule::UnknownAnonymousMode("drop".into()));

    let e = pendo_with(|v| v["config_fields"][0]["pattern"] = json!("[0-9"))
        .expect_err("a pattern that is no regular expression");
    assert_eq!(e.path, "config_fields[0].pattern");

    let e =
        pendo_with(|v| item(v, "g", json!({"@identity": "group"}))).expect_err("unknown identity");
    assert_eq!(e.path, "requests.track.item.g.@identity");
}
