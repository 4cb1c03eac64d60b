//! The management API (interface.md section 3) and the unauthenticated health, readiness and
//! metrics endpoints, on the admin address.

use crate::app::{Shared, now_rfc3339};
use crate::http::{BodyError, Resp, json, read_body, text};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::{Map, Value, json};
use signal_core::{Blueprint, IntegrationConfig, catalog, mask_secret};
use signal_spool::Start;
use signal_store::{IntegrationRecord, SourceRecord};
use std::net::SocketAddr;
use std::sync::Arc;

fn error(status: StatusCode, code: &str, message: &str) -> Resp {
    json(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

fn not_found(what: &str) -> Resp {
    error(StatusCode::NOT_FOUND, "NOT_FOUND", &format!("no {what}"))
}

/// The first value of a query parameter, URL-decoded (`%20` and `+` are spaces).
fn param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn list(data: Vec<Value>, query: &str) -> Resp {
    let limit = param(query, "limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(50)
        .clamp(1, 100);
    let start = param(query, "cursor")
        .and_then(|c| c.parse::<usize>().ok())
        .unwrap_or(0)
        .min(data.len());
    let end = (start + limit).min(data.len());
    let has_more = end < data.len();
    json(
        StatusCode::OK,
        &json!({
            "data": data[start..end].to_vec(),
            "next_cursor": if has_more { Value::from(end.to_string()) } else { Value::Null },
            "has_more": has_more,
        }),
    )
}

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
            if f.secret { o["secret"] = true.into(); }
            if f.advanced { o["advanced"] = true.into(); }
            o
        }).collect::<Vec<_>>(),
    })
}

fn blueprint_detail(bp: &Blueprint) -> Value {
    let mut v = blueprint_summary(bp);
    v["event_mapping"] = json!(bp.variants.iter().map(|var| json!({
        "variant": var.key,
        "rows": var.event_mapping.iter().map(|r| json!({
            "datafly_event": r.source, "aliases": r.aliases, "type": r.kind,
            "pendo_event": if r.target == "*" { Value::from("passed through") } else { Value::from(r.target.clone()) },
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

async fn integration_json(shared: &Shared, rec: &IntegrationRecord) -> Value {
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

fn validation(fields: std::collections::BTreeMap<String, String>) -> Resp {
    json(
        StatusCode::UNPROCESSABLE_ENTITY,
        &json!({"error": {"code": "VALIDATION_ERROR", "message": "the request has invalid fields", "fields": fields}}),
    )
}

async fn body_json(req: Request<Incoming>) -> Result<Value, Resp> {
    match read_body(req, 1 << 20).await {
        Ok((_, b)) if b.is_empty() => Ok(Value::Object(Map::new())),
        Ok((_, b)) => serde_json::from_slice(&b).map_err(|e| {
            error(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                &format!("the body is not JSON: {e}"),
            )
        }),
        Err(BodyError::TooLarge) => Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "INVALID_REQUEST",
            "the body is too large",
        )),
        Err(BodyError::Broken) => Err(error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "the body could not be read",
        )),
    }
}

fn new_id() -> String {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    format!(
        "int_{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    )
}

async fn install(shared: &Arc<Shared>, key: &str, body: Value) -> Resp {
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

async fn patch(shared: &Arc<Shared>, mut rec: IntegrationRecord, body: Value) -> Resp {
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
    if !fields.is_empty() {
        return validation(fields);
    }
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

fn source_json(s: &SourceRecord, reveal_secret: bool) -> Value {
    json!({
        "id": s.id, "name": s.name, "pipeline_key": s.pipeline_key,
        "secret": if reveal_secret { s.secret.clone() } else { mask_secret(&s.secret) },
        "allowed_origins": s.allowed_origins, "rate_limit_per_second": s.rate_limit_per_second,
        "created_at": s.created_at,
    })
}

/// Reads name, allowed_origins and rate_limit_per_second from a source body into `s`.
fn apply_source(
    s: &mut SourceRecord,
    body: &Value,
    creating: bool,
) -> Result<(), std::collections::BTreeMap<String, String>> {
    let mut fields = std::collections::BTreeMap::new();
    match body.get("name") {
        Some(Value::String(n)) if !n.trim().is_empty() => s.name = n.clone(),
        None if !creating => {}
        _ => {
            fields.insert("name".into(), "is required (a non-empty string)".into());
        }
    }
    match body.get("allowed_origins") {
        None => {}
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => {
            s.allowed_origins = a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
        }
        Some(_) => {
            fields.insert(
                "allowed_origins".into(),
                "must be an array of origins".into(),
            );
        }
    }
    if let Some(v) = body.get("rate_limit_per_second") {
        match v
            .as_u64()
            .filter(|n| *n >= 1)
            .and_then(|n| u32::try_from(n).ok())
        {
            Some(n) => s.rate_limit_per_second = n,
            None => {
                fields.insert(
                    "rate_limit_per_second".into(),
                    "must be an integer of at least 1".into(),
                );
            }
        }
    }
    if fields.is_empty() {
        Ok(())
    } else {
        Err(fields)
    }
}

fn refresh_sources(shared: &Shared, changed: &str) {
    if let Ok(all) = shared.store.sources() {
        *shared
            .sources
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = all;
    }
    crate::app::lock(&shared.limiters).remove(changed);
}

/// Stores a source, refreshes the gateway's view of it, and answers with it.
fn save_source(shared: &Shared, s: &SourceRecord, status: StatusCode, reveal_secret: bool) -> Resp {
    if let Err(e) = shared.store.put_source(s) {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            &e.to_string(),
        );
    }
    refresh_sources(shared, &s.id);
    json(status, &source_json(s, reveal_secret))
}

async fn sources(
    shared: &Arc<Shared>,
    method: Method,
    parts: &[&str],
    req: Request<Incoming>,
    query: &str,
) -> Resp {
    match (method, parts) {
        (Method::GET, []) => match shared.store.sources() {
            Ok(all) => list(all.iter().map(|s| source_json(s, false)).collect(), query),
            Err(e) => error(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                &e.to_string(),
            ),
        },
        (Method::POST, []) => {
            let body = match body_json(req).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            let (Ok(key), Ok(secret)) =
                (crate::app::random_token(32), crate::app::random_token(48))
            else {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "INTERNAL",
                    "no randomness",
                );
            };
            let mut s = SourceRecord {
                id: format!("src_{}", key[..12].to_lowercase()),
                name: String::new(),
                pipeline_key: format!("dk_live_{key}"),
                secret,
                allowed_origins: Vec::new(),
                rate_limit_per_second: shared.settings.source_rate_limit,
                created_at: now_rfc3339(),
            };
            if let Err(fields) = apply_source(&mut s, &body, true) {
                return validation(fields);
            }
            save_source(shared, &s, StatusCode::CREATED, true)
        }
        (m @ (Method::PATCH | Method::DELETE), [id]) => {
            let Some(mut s) = shared
                .store
                .sources()
                .ok()
                .and_then(|l| l.into_iter().find(|s| s.id == *id))
            else {
                return not_found("source with this id");
            };
            if m == Method::DELETE {
                let _ = shared.store.delete_source(&s.id);
                refresh_sources(shared, &s.id);
                return text(StatusCode::NO_CONTENT, "text/plain", "");
            }
            let body = match body_json(req).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            if let Err(fields) = apply_source(&mut s, &body, false) {
                return validation(fields);
            }
            save_source(shared, &s, StatusCode::OK, false)
        }
        _ => not_found("such endpoint"),
    }
}

/// Sends one test event now and says what Pendo answered.
async fn test_event(shared: &Arc<Shared>, rec: &IntegrationRecord) -> Resp {
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

fn metrics(
    shared: &Shared,
    runtimes: &std::collections::BTreeMap<String, crate::pipeline::Runtime>,
) -> String {
    let mut out = String::new();
    out.push_str("# HELP signal_outcomes_total Events by integration and outcome.\n# TYPE signal_outcomes_total counter\n");
    for (id, rt) in runtimes {
        for (outcome, n) in rt.stats.counts() {
            out.push_str(&format!(
                "signal_outcomes_total{{integration=\"{id}\",outcome=\"{outcome}\"}} {n}\n"
            ));
        }
    }
    out.push_str("# HELP signal_outcome_reasons_total Dropped and dead-lettered events by reason.\n# TYPE signal_outcome_reasons_total counter\n");
    for (id, rt) in runtimes {
        for ((outcome, reason), n) in rt.stats.reasons() {
            let reason = reason.replace('\\', "\\\\").replace('"', "\\\"");
            out.push_str(&format!("signal_outcome_reasons_total{{integration=\"{id}\",outcome=\"{outcome}\",reason=\"{reason}\"}} {n}\n"));
        }
    }
    out.push_str("# HELP signal_delivery_latency_ms Time from a request's send to Pendo's answer.\n# TYPE signal_delivery_latency_ms histogram\n");
    for (id, rt) in runtimes {
        let (buckets, sum) = rt.stats.histogram();
        let mut cumulative = 0;
        for (i, n) in buckets.iter().enumerate() {
            cumulative += n;
            let le = crate::live::BUCKETS
                .get(i)
                .map_or_else(|| "+Inf".to_owned(), u64::to_string);
            out.push_str(&format!("signal_delivery_latency_ms_bucket{{integration=\"{id}\",le=\"{le}\"}} {cumulative}\n"));
        }
        out.push_str(&format!("signal_delivery_latency_ms_sum{{integration=\"{id}\"}} {sum}\nsignal_delivery_latency_ms_count{{integration=\"{id}\"}} {cumulative}\n"));
    }
    out.push_str("# HELP signal_gateway_events_total Events at the gateway by source and result.\n# TYPE signal_gateway_events_total counter\n");
    for ((source, what), n) in crate::app::lock(&shared.gateway).iter() {
        let (result, code) = what
            .split_once('_')
            .map_or((what.as_str(), ""), |(r, c)| (r, c));
        out.push_str(&format!("signal_gateway_events_total{{source=\"{source}\",result=\"{result}\",code=\"{code}\"}} {n}\n"));
    }
    let stats = shared.spool.stats();
    out.push_str("# HELP signal_spool_depth Events not yet acknowledged, by integration.\n# TYPE signal_spool_depth gauge\n");
    for (name, _, depth) in &stats.consumers {
        out.push_str(&format!(
            "signal_spool_depth{{integration=\"{name}\"}} {depth}\n"
        ));
    }
    out.push_str(&format!("# HELP signal_spool_bytes Bytes of spool segments.\n# TYPE signal_spool_bytes gauge\nsignal_spool_bytes {}\n", stats.bytes));
    out.push_str("# HELP signal_integration_paused Whether an integration is paused.\n# TYPE signal_integration_paused gauge\n");
    for (id, rt) in runtimes {
        let paused = u8::from(rt.stats.status().0 == "paused");
        out.push_str(&format!(
            "signal_integration_paused{{integration=\"{id}\"}} {paused}\n"
        ));
    }
    out
}

/// Handles one management request.
pub async fn handle(shared: Arc<Shared>, req: Request<Incoming>, _peer: SocketAddr) -> Resp {
    let path = req.uri().path().trim_end_matches('/').to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let method = req.method().clone();
    match (method.clone(), path.as_str()) {
        (Method::GET, "/healthz") => return json(StatusCode::OK, &json!({"status": "ok"})),
        (Method::GET, "/readyz") => {
            let spool_dir = shared.settings.data_dir.join("spool");
            let writable = std::fs::metadata(&spool_dir).is_ok_and(|m| !m.permissions().readonly());
            // Not ready while spool appends fail (a full or failing disk): ingestion answers 503.
            let ready =
                writable && !shared.spool.is_failing() && shared.store.integrations().is_ok();
            return if ready {
                json(StatusCode::OK, &json!({"status": "ready"}))
            } else {
                json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &json!({"status": "not ready"}),
                )
            };
        }
        (Method::GET, "/metrics") => {
            let runtimes = shared.runtimes.lock().await;
            return text(
                StatusCode::OK,
                "text/plain; version=0.0.4",
                metrics(&shared, &runtimes),
            );
        }
        (Method::GET | Method::HEAD, p) if !p.starts_with("/v1/") => {
            if let Some(r) = crate::ui::asset(p) {
                return r;
            }
        }
        _ => {}
    }
    let Some(rest) = path.strip_prefix("/v1/admin") else {
        return not_found("such endpoint");
    };
    let ok = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| crate::auth::credentials(v, "bearer"))
        .is_some_and(|token| crate::secrets::credential_matches(token, &shared.admin_token));
    if !ok {
        return error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "a valid admin bearer token is required",
        );
    }
    let parts: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let wants_stream = req
        .headers()
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/event-stream"));
    match (method, parts.as_slice()) {
        (Method::GET, ["integration-catalog"]) => {
            let lower = |n: &str| param(&query, n).map(|v| v.to_lowercase());
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
            list(data, &query)
        }
        (Method::GET, ["integration-catalog", key]) => match Blueprint::get(key) {
            Some(bp) => json(StatusCode::OK, &blueprint_detail(bp)),
            None => not_found("blueprint with this key"),
        },
        (Method::POST, ["integration-catalog", key, "install"]) => {
            let key = (*key).to_owned();
            match body_json(req).await {
                Ok(body) => install(&shared, &key, body).await,
                Err(r) => r,
            }
        }
        (Method::GET, ["integrations"]) => match shared.store.integrations() {
            Ok(all) => {
                let mut data = Vec::new();
                for rec in &all {
                    data.push(integration_json(&shared, rec).await);
                }
                list(data, &query)
            }
            Err(e) => error(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                &e.to_string(),
            ),
        },
        (m, ["sources", more @ ..]) => sources(&shared, m, more, req, &query).await,
        (m, ["integrations", id, tail @ ..]) => {
            let Ok(Some(rec)) = shared.store.integration(id) else {
                return not_found("integration with this id");
            };
            match (m, tail) {
                (Method::GET, []) => json(StatusCode::OK, &integration_json(&shared, &rec).await),
                (Method::PATCH, []) => match body_json(req).await {
                    Ok(body) => patch(&shared, rec, body).await,
                    Err(r) => r,
                },
                (Method::DELETE, []) => {
                    shared.halt(&rec.id).await;
                    let _ = shared.store.delete_integration(&rec.id);
                    let _ = shared.spool.remove_consumer(&rec.id);
                    text(StatusCode::NO_CONTENT, "text/plain", "")
                }
                (Method::GET, ["events"]) if wants_stream => {
                    match shared.runtimes.lock().await.get(&rec.id) {
                        Some(rt) => crate::http::event_stream(rt.live.subscribe()),
                        None => error(
                            StatusCode::CONFLICT,
                            "CONFLICT",
                            "the integration is disabled",
                        ),
                    }
                }
                (Method::GET, ["events"]) => {
                    let limit = param(&query, "limit")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(50usize)
                        .min(1000);
                    let data = shared
                        .runtimes
                        .lock()
                        .await
                        .get(&rec.id)
                        .map(|rt| rt.live.recent(limit))
                        .unwrap_or_default();
                    json(StatusCode::OK, &json!({"data": data}))
                }
                (Method::POST, ["test"]) => test_event(&shared, &rec).await,
                (Method::GET, ["stats"]) => {
                    let runtimes = shared.runtimes.lock().await;
                    let depth = shared
                        .spool
                        .stats()
                        .consumers
                        .iter()
                        .find(|(n, _, _)| n == &rec.id)
                        .map_or(0, |(_, _, d)| *d);
                    match runtimes.get(&rec.id) {
                        Some(rt) => {
                            let (status, diagnosis) = rt.stats.status();
                            json(
                                StatusCode::OK,
                                &json!({
                                    "counts": rt.stats.counts(), "latency_ms": rt.stats.percentiles(),
                                    "queue_depth": depth, "in_flight": rt.in_flight(), "status": status, "diagnosis": diagnosis,
                                }),
                            )
                        }
                        None => json(
                            StatusCode::OK,
                            &json!({"counts": {}, "queue_depth": depth, "status": "paused", "diagnosis": null}),
                        ),
                    }
                }
                (m, ["dead-letters", more @ ..]) => {
                    // The store itself, not the consumer: nothing here waits on delivery, and
                    // the runtimes' lock is let go before any file is read.
                    let dead = shared
                        .runtimes
                        .lock()
                        .await
                        .get(&rec.id)
                        .map(|rt| rt.dead_letters());
                    let Some(dead) = dead else {
                        return error(
                            StatusCode::CONFLICT,
                            "CONFLICT",
                            "the integration is disabled",
                        );
                    };
                    let unavailable = |e: crate::dead_letters::DeadLetterError| {
                        error(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "UNAVAILABLE",
                            &e.to_string(),
                        )
                    };
                    match (m, more) {
                        (Method::GET, []) => {
                            let limit = param(&query, "limit")
                                .and_then(|l| l.parse::<usize>().ok())
                                .unwrap_or(50)
                                .clamp(1, 100);
                            // The cursor is the last id of the page before.
                            let after = param(&query, "cursor").and_then(|c| c.parse::<u64>().ok());
                            match crate::dead_letters::page(dead, after, limit).await {
                                Ok(page) => json(StatusCode::OK, &page),
                                Err(e) => unavailable(e),
                            }
                        }
                        (Method::POST, ["replay"]) => {
                            let body = body_json(req).await.unwrap_or(Value::Null);
                            let ids: Option<Vec<u64>> =
                                body.get("ids").and_then(Value::as_array).map(|a| {
                                    a.iter()
                                        .filter_map(|v| {
                                            v.as_str().and_then(|s| s.parse().ok()).or(v.as_u64())
                                        })
                                        .collect()
                                });
                            match crate::dead_letters::replay(dead, ids).await {
                                Ok(n) => json(StatusCode::OK, &json!({"replayed": n})),
                                Err(e) => unavailable(e),
                            }
                        }
                        (Method::DELETE, []) => match crate::dead_letters::purge(dead).await {
                            Ok(_) => text(StatusCode::NO_CONTENT, "text/plain", ""),
                            Err(e) => unavailable(e),
                        },
                        _ => not_found("such endpoint"),
                    }
                }
                _ => not_found("such endpoint"),
            }
        }
        _ => not_found("such endpoint"),
    }
}
