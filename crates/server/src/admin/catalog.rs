//! The integration catalog: the blueprints compiled into the node, listed (filtered by
//! category and a search text) and shown one by one with their mapping tables.

use super::reply::{list, not_found, param};
use crate::http::{Resp, json};
use hyper::StatusCode;
use serde_json::{Value, json};
use signal_core::{Blueprint, catalog};

/// A blueprint as the catalog lists it.
fn blueprint_summary(bp: &Blueprint) -> Value {
    json!({
        "key": bp.key,
        "name": bp.name,
        "category": bp.category,
        "status": bp.status,
        "version": bp.version,
        "description": bp.description,
        "consent_category": bp.consent_category,
        "variants": bp.variants.iter().map(|v| json!({
            "key": v.key, "name": v.name, "description": v.description, "default_config": v.default_config,
        })).collect::<Vec<_>>(),
        "config_fields": bp.config_fields.iter().map(|f| {
            let mut o = json!({"key": f.key, "required": f.required, "type": f.kind, "description": f.description});
            if let Some(d) = &f.default { o["default"] = d.clone(); }
            if let Some(e) = &f.allowed { o["enum"] = json!(e); }
            if let Some(m) = f.minimum { o["minimum"] = m.into(); }
            if f.secret { o["secret"] = true.into(); }
            if f.advanced { o["advanced"] = true.into(); }
            if f.privacy { o["privacy"] = true.into(); }
            o
        }).collect::<Vec<_>>(),
    })
}

/// A blueprint with its event mapping, identity and troubleshooting tables. A mapping row's
/// `vendor_event` is the vendor's event (the blueprint's `name` says which vendor).
fn blueprint_detail(bp: &Blueprint) -> Value {
    let mut v = blueprint_summary(bp);
    v["event_mapping"] = json!(bp.variants.iter().map(|var| json!({
        "variant": var.key,
        "rows": var.event_mapping.iter().map(|r| json!({
            "datafly_event": r.source, "aliases": r.aliases, "type": r.kind,
            "vendor_event": if r.target == "*" { Value::from("passed through") } else { Value::from(r.target.clone()) },
            "notes": r.notes,
        })).collect::<Vec<_>>(),
    })).collect::<Vec<_>>());
    v["identity"] = json!(
        bp.identity
            .iter()
            .map(|r| json!({"source": r.source, "target": r.target, "notes": r.notes}))
            .collect::<Vec<_>>()
    );
    v["troubleshooting"] = json!(
        bp.troubleshooting
            .iter()
            .map(|t| json!({"symptom": t.symptom, "cause": t.cause, "fix": t.fix, "code": t.code}))
            .collect::<Vec<_>>()
    );
    v
}

/// `GET /integration-catalog?category=&q=`: the blueprints, filtered, as a paged list.
pub(super) fn search(query: &str) -> Resp {
    let lower = |n: &str| param(query, n).map(|v| v.to_lowercase());
    let (cat, q) = (lower("category"), lower("q"));
    let data = catalog()
        .iter()
        .filter(|b| cat.as_ref().is_none_or(|c| b.category.to_lowercase() == *c))
        .filter(|b| {
            q.as_ref().is_none_or(|q| {
                b.name.to_lowercase().contains(q.as_str())
                    || b.description.to_lowercase().contains(q.as_str())
            })
        })
        .map(blueprint_summary)
        .collect();
    list(data, query)
}

/// `GET /integration-catalog/{key}`: one blueprint with its event and identity mapping tables.
pub(super) fn detail(key: &str) -> Resp {
    match Blueprint::get(key) {
        Some(bp) => json(StatusCode::OK, &blueprint_detail(bp)),
        None => not_found("blueprint with this key"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field<'v>(bp: &'v Value, key: &str) -> &'v Value {
        bp["config_fields"]
            .as_array()
            .and_then(|f| f.iter().find(|f| f["key"] == key))
            .unwrap_or(&Value::Null)
    }

    #[test]
    fn the_catalog_lists_every_vendor() {
        let keys: Vec<&str> = catalog().iter().map(|b| b.key.as_str()).collect();
        for vendor in ["pendo", "amplitude", "heap"] {
            assert!(keys.contains(&vendor), "{keys:?}");
        }
    }

    #[test]
    fn every_vendors_privacy_field_is_an_advanced_object_the_form_can_show() {
        for key in ["pendo", "amplitude", "heap"] {
            let bp = blueprint_summary(Blueprint::get(key).unwrap());
            let privacy: Vec<&Value> = bp["config_fields"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["privacy"] == true)
                .collect();
            assert_eq!(privacy.len(), 1, "{key}: {privacy:?}");
            assert_eq!(privacy[0]["type"], "object", "{key}");
            assert_eq!(privacy[0]["advanced"], true, "{key}");
            assert!(field(&bp, "api_key")["secret"] == true, "{key}");
            assert!(field(&bp, "data_region")["enum"].is_array(), "{key}");
            assert_eq!(field(&bp, "rate_limit_per_second")["minimum"], 1, "{key}");
        }
    }

    #[test]
    fn a_mapping_row_names_the_vendors_event_whatever_the_vendor() {
        let amp = blueprint_detail(Blueprint::get("amplitude").unwrap());
        let rows = amp["event_mapping"][0]["rows"].as_array().unwrap();
        assert_eq!(rows[0]["vendor_event"], "[Amplitude] Page Viewed");
        assert!(rows.iter().any(|r| r["vendor_event"] == "passed through"));
        assert!(rows.iter().all(|r| r.get("pendo_event").is_none()));
    }
}
