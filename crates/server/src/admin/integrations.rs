//! Installed integrations: install from the catalog, list, read (secrets masked), change
//! (a new configuration restarts delivery), remove, and the test button that sends one event
//! to the vendor now and shows what it answered.

use super::reply::{error, list, not_found, validation};
use crate::app::{Shared, now_rfc3339};
use crate::http::{Resp, json, text};
use hyper::StatusCode;
use serde_json::{Map, Value, json};
use signal_core::{Blueprint, IntegrationConfig, mask_secret};
use signal_spool::Start;
use signal_store::IntegrationRecord;
use std::sync::Arc;

/// An integration as the API shows it: secrets masked, with its delivery status.
pub(super) async fn integration_json(shared: &Shared, rec: &IntegrationRecord) -> Value {
    let bp = Blueprint::get(&rec.blueprint);
    let mut config = rec.config.clone();
    if let Some(bp) = bp {
        for f in bp.config_fields.iter().filter(|f| f.secret) {
            if let Some(Value::String(s)) = config.get_mut(&f.key) {
                *s = mask_secret(s);
            }
        }
    }
    let (status, diagnosis) = match shared.runtimes.lock().await.get(&rec.id) {
        Some(rt) => rt.stats.status(),
        None => ("paused".into(), None),
    };
    json!({
        "id": rec.id, "name": rec.name, "blueprint": rec.blueprint, "blueprint_version": rec.blueprint_version,
        "variant": rec.variant, "config": config, "delivery_mode": rec.delivery_mode, "enabled": rec.enabled,
        "status": status, "diagnosis": diagnosis, "created_at": rec.created_at, "updated_at": rec.updated_at,
    })
}

/// A new integration id: `int_` and 16 random hex digits.
fn new_id() -> String {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    format!(
        "int_{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    )
}

/// `POST /integration-catalog/{key}/install`: validates, stores and starts delivery; 201.
pub(super) async fn install(shared: &Arc<Shared>, key: &str, body: Value) -> Resp {
    let Some(bp) = Blueprint::get(key) else {
        return not_found("blueprint with this key");
    };
    let name = match body.get("name") {
        None => Some(bp.name.clone()),
        Some(Value::String(n)) if !n.trim().is_empty() => Some(n.trim().to_owned()),
        Some(_) => None,
    };
    let variant = body.get("variant").and_then(Value::as_str);
    let mode = body.get("delivery_mode").and_then(Value::as_str);
    let config = body
        .get("config")
        .cloned()
        .unwrap_or_else(|| Value::Object(Map::new()));
    let checked = IntegrationConfig::validate_install(bp, variant, mode, &config);
    let (validated, variant, name) = match (checked, name) {
        (Ok((validated, variant)), Some(name)) => (validated, variant, name),
        (checked, name) => {
            let mut fields = checked.err().map(|e| e.fields).unwrap_or_default();
            if name.is_none() {
                fields.insert("name".into(), "must be a non-empty string".into());
            }
            return validation(fields);
        }
    };
    let existing = match shared.store.integrations() {
        Ok(l) => l,
        Err(e) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                &e.to_string(),
            );
        }
    };
    if existing.iter().any(|i| i.name == name) {
        return error(
            StatusCode::CONFLICT,
            "CONFLICT",
            &format!("an integration named `{name}` exists"),
        );
    }
    let now = now_rfc3339();
    let rec = IntegrationRecord {
        id: new_id(),
        name,
        blueprint: bp.key.clone(),
        blueprint_version: bp.version.clone(),
        variant: variant.key.clone(),
        config: validated.values,
        delivery_mode: "server_side".into(),
        enabled: true,
        created_at: now.clone(),
        updated_at: now,
    };
    if let Err(e) = shared.store.put_integration(&rec) {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            &e.to_string(),
        );
    }
    if let Err(e) = shared.run(&rec, Start::Latest).await {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", &e);
    }
    json(StatusCode::CREATED, &integration_json(shared, &rec).await)
}

/// Applies a PATCH body's name and enabled to `rec`, and answers the configuration it asks for
/// (the stored one with the sent fields over it, not yet validated), or the fields it cannot take.
fn apply_patch(
    rec: &mut IntegrationRecord,
    bp: &Blueprint,
    o: &Map<String, Value>,
) -> Result<Map<String, Value>, std::collections::BTreeMap<String, String>> {
    let mut fields = std::collections::BTreeMap::new();
    let mut config = rec.config.clone();
    for (k, v) in o {
        match k.as_str() {
            "name" => match v.as_str() {
                Some(n) if !n.trim().is_empty() => rec.name = n.to_owned(),
                _ => {
                    fields.insert("name".to_owned(), "must be a non-empty string".to_owned());
                }
            },
            "enabled" => match v.as_bool() {
                Some(b) => rec.enabled = b,
                None => {
                    fields.insert("enabled".into(), "must be true or false".into());
                }
            },
            "config" => match v.as_object() {
                Some(c) => {
                    // A secret sent back as read (masked) keeps the stored one.
                    let mut c = c.clone();
                    crate::secrets::keep_masked_secrets(bp, &rec.config, &mut c);
                    config.extend(c);
                }
                None => {
                    fields.insert("config".into(), "must be an object".into());
                }
            },
            "event_mapping" | "rate_limit_per_second" => {
                config.insert(k.clone(), v.clone());
            }
            other => {
                fields.insert(other.to_owned(), "cannot be changed".into());
            }
        }
    }
    if fields.is_empty() {
        Ok(config)
    } else {
        Err(fields)
    }
}

/// `PATCH /integrations/{id}`: a partial update; a new configuration restarts delivery.
pub(super) async fn patch(shared: &Arc<Shared>, mut rec: IntegrationRecord, body: Value) -> Resp {
    let Some(bp) = Blueprint::get(&rec.blueprint) else {
        return not_found("blueprint");
    };
    let Some(o) = body.as_object() else {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "the body must be a JSON object",
        );
    };
    let config = match apply_patch(&mut rec, bp, o) {
        Ok(config) => config,
        Err(fields) => return validation(fields),
    };
    match IntegrationConfig::validate(bp, &Value::Object(config)) {
        Ok(c) => rec.config = c.values,
        Err(e) => return validation(e.fields),
    }
    if let Ok(all) = shared.store.integrations()
        && all.iter().any(|i| i.name == rec.name && i.id != rec.id)
    {
        return error(
            StatusCode::CONFLICT,
            "CONFLICT",
            &format!("an integration named `{}` exists", rec.name),
        );
    }
    rec.updated_at = now_rfc3339();
    if let Err(e) = shared.store.put_integration(&rec) {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            &e.to_string(),
        );
    }
    // A new configuration restarts delivery: held events go out with the new key or region.
    if rec.enabled {
        if let Err(e) = shared.run(&rec, Start::Latest).await {
            return error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", &e);
        }
    } else {
        shared.halt(&rec.id).await;
    }
    json(StatusCode::OK, &integration_json(shared, &rec).await)
}

/// Sends one test event now and says what Pendo answered.
pub(super) async fn test_event(shared: &Arc<Shared>, rec: &IntegrationRecord) -> Resp {
    let Some(bp) = Blueprint::get(&rec.blueprint) else {
        return not_found("blueprint");
    };
    let Some(variant) = bp.variant(&rec.variant) else {
        return not_found("variant");
    };
    let config = match IntegrationConfig::validate(bp, &Value::Object(rec.config.clone())) {
        Ok(c) => c,
        Err(e) => return validation(e.fields),
    };
    let fcfg = match crate::pipeline::forward_config(shared, rec, bp, &config) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", &e),
    };
    let mut mapper = signal_core::Mapper::new(bp, variant, config);
    let now = crate::app::now_ms();
    let src = json!({"type": "track", "event": "Signal Test Event", "userId": "signal-edge-test",
                     "timestamp": now, "properties": {"sent_by": "signal-edge test button"}})
    .to_string();
    let mut buf = src.into_bytes();
    let mut parser = signal_core::Parser::new();
    let body = {
        let Ok(doc) = parser.parse(&mut buf, signal_core::Shape::Event(None)) else {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "the test event does not parse",
            );
        };
        let Ok(ev) = doc.event(0) else {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "the test event is invalid",
            );
        };
        match mapper.map(&ev, &(), now).outcome {
            signal_core::Mapped::Track { body, .. } => bytes::Bytes::copy_from_slice(body),
            other => {
                return error(
                    StatusCode::CONFLICT,
                    "CONFLICT",
                    &format!("the test event maps to {other:?}"),
                );
            }
        }
    };
    let url = format!("{}{}", fcfg.base_url, bp.track.path);
    let request = json!({"method": "POST", "url": url, "body": String::from_utf8_lossy(&body)});
    match shared.engine.send_test(&fcfg, body).await {
        Ok((status, answer)) => {
            let diagnosis = bp
                .diagnose_status(status)
                .map(|t| json!({"code": t.code, "message": t.message, "fix": t.fix}));
            json(
                StatusCode::OK,
                &json!({
                    "vendor_request": request,
                    "vendor_response": {"status": status, "body": String::from_utf8_lossy(&answer)},
                    "delivered": (200..300).contains(&status),
                    "diagnosis": diagnosis,
                }),
            )
        }
        Err(why) => json(
            StatusCode::OK,
            &json!({
                "vendor_request": request, "vendor_response": null, "delivered": false,
                "diagnosis": {"code": "unreachable", "message": format!("Pendo did not answer: {why}"),
                              "fix": "Check the node's network access to the region's host and data_region."},
            }),
        ),
    }
}

/// `GET /integrations`: every installed integration, as a paged list.
pub(super) async fn list_all(shared: &Shared, query: &str) -> Resp {
    match shared.store.integrations() {
        Ok(all) => {
            let mut data = Vec::new();
            for rec in &all {
                data.push(integration_json(shared, rec).await);
            }
            list(data, query)
        }
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            &e.to_string(),
        ),
    }
}

/// `GET /integrations/{id}`.
pub(super) async fn show(shared: &Shared, rec: &IntegrationRecord) -> Resp {
    json(StatusCode::OK, &integration_json(shared, rec).await)
}

/// `DELETE /integrations/{id}`: stops its delivery, forgets it and its place in the spool.
pub(super) async fn remove(shared: &Shared, rec: &IntegrationRecord) -> Resp {
    shared.halt(&rec.id).await;
    let _ = shared.store.delete_integration(&rec.id);
    let _ = shared.spool.remove_consumer(&rec.id);
    text(StatusCode::NO_CONTENT, "text/plain", "")
}
