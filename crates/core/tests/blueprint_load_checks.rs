//! A blueprint whose batch rules could not work fails to load, naming the path and the rule,
//! rather than loading and then sending empty or wrong requests.

use serde_json::{Value, json};
use signal_core::{Blueprint, BlueprintRule};

/// Pendo's blueprint with `edit` applied, loaded: the error's path and rule text, or `LOADED`.
fn load_with(edit: impl FnOnce(&mut Value)) -> (String, String) {
    let text = include_str!("../blueprints/pendo.json");
    let mut v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    edit(&mut v);
    match Blueprint::parse("pendo.json", &v.to_string()) {
        Ok(_) => ("LOADED".into(), String::new()),
        Err(e) => (e.path.clone(), e.rule.to_string()),
    }
}

fn batch(v: &mut Value) -> &mut serde_json::Map<String, Value> {
    match v["requests"]["visitors"]["batch"].as_object_mut() {
        Some(m) => m,
        None => panic!("pendo's visitors request batches"),
    }
}

#[test]
fn merge_rules_that_cannot_merge_fail_to_load() {
    assert_eq!(load_with(|_| {}).0, "LOADED");
    let (path, _) = load_with(|v| {
        batch(v).remove("merge_into");
    });
    assert_eq!(
        path, "requests.visitors.batch.merge_into",
        "merge_by without merge_into"
    );
    let (path, rule) = load_with(|v| {
        batch(v).insert("merge_into".into(), json!("nope"));
    });
    assert_eq!(path, "requests.visitors.batch.merge_into");
    assert_eq!(
        rule,
        BlueprintRule::UnknownItemKey("nope".into()).to_string()
    );
    let (path, _) = load_with(|v| {
        batch(v).insert("merge_into".into(), json!("visitorId"));
    });
    assert_eq!(
        path, "requests.visitors.batch.merge_into",
        "merge_into names a non-object"
    );
    let (path, rule) = load_with(|v| {
        batch(v).insert("merge_by".into(), json!("nope"));
    });
    assert_eq!(path, "requests.visitors.batch.merge_by");
    assert_eq!(
        rule,
        BlueprintRule::UnknownItemKey("nope".into()).to_string()
    );
}

#[test]
fn an_envelope_without_exactly_one_items_place_fails_to_load() {
    let (path, _) = load_with(|v| {
        v["requests"]["visitors"]["envelope"] =
            json!({"a": {"@items": true}, "b": {"@items": true}});
    });
    assert_eq!(path, "requests.visitors.envelope", "two @items");
    let (path, _) = load_with(|v| v["requests"]["visitors"]["envelope"] = json!({"a": 1}));
    assert_eq!(path, "requests.visitors.envelope", "no @items");
}

#[test]
fn an_unknown_config_field_in_url_or_auth_fails_to_load() {
    let (path, rule) =
        load_with(|v| v["requests"]["track"]["url"] = json!("{region.base}/{config.nope}"));
    assert_eq!(path, "requests.track.url");
    assert_eq!(
        rule,
        BlueprintRule::UnknownConfigField("nope".into()).to_string()
    );
    let (path, rule) =
        load_with(|v| v["requests"]["track"]["auth"] = json!({"header": {"x": "{config.nope}"}}));
    assert_eq!(path, "requests.track.auth");
    assert_eq!(
        rule,
        BlueprintRule::UnknownConfigField("nope".into()).to_string()
    );
}

#[test]
fn a_secret_config_field_cannot_go_into_an_item() {
    // integration_key is Pendo's secret: it belongs in the auth header, never in event data.
    let (path, _) =
        load_with(|v| v["requests"]["track"]["item"]["x"] = json!({"@config": "integration_key"}));
    assert_eq!(path, "requests.track.item.x.@config");
    let (path, _) = load_with(|v| {
        v["requests"]["track"]["item"]["x"] = json!({"@template": "k={config.integration_key}"});
    });
    assert_eq!(path, "requests.track.item.x.@template");
}
