//! The audit log over the API: who is asking (set once per request, after the credential is
//! checked, in a task-local every handler reads: [`caller`]), recording a change with its fields as
//! old/new (secrets masked), and `GET /v1/admin/audit-logs`.
//!
//! A change is recorded after it is made; an audit write that fails is logged as an error and
//! the change stands (the API answers what it did). The log is each node's (in its store): on
//! JetStream, a change is recorded by the node whose API made it.

use super::reply::{BadParam, json_page, limit, number, param, store_failed};
use super::state::AdminState;
use crate::access::Caller;
use crate::http::Resp;
use serde_json::{Map, Value, json};
use signal_core::{Blueprint, mask_secret};
use signal_store::{AuditFilter, AuditRecord, IntegrationRecord, SourceRecord};

tokio::task_local! {
    static WHO: Who;
}

/// Who makes a request.
#[derive(Debug, Clone)]
pub(super) struct Who {
    /// A user's email, `token:<name>`, `admin-token`; `anonymous` before signing in.
    pub actor: String,
    /// The caller and its role; `None` on the sign-in routes.
    pub caller: Option<Caller>,
    /// The client's address.
    pub ip: String,
    /// Its `User-Agent`.
    pub user_agent: Option<String>,
}

/// Runs `f` as `who`.
pub(super) async fn as_who<F: std::future::Future>(who: Who, f: F) -> F::Output {
    WHO.scope(who, f).await
}

/// The caller of this request (`None` on the sign-in routes and outside a request).
pub(super) fn caller() -> Option<Caller> {
    WHO.try_with(|w| w.caller.clone()).ok().flatten()
}

/// Records `action` on `resource` with `changes`, as the request's `Who`.
pub(super) async fn record(shared: &AdminState, action: &str, resource: &str, changes: Value) {
    record_as(shared, None, action, resource, changes).await;
}

/// [`record`], naming the actor (a sign-in names the email it was tried with).
pub(super) async fn record_as(
    shared: &AdminState,
    actor: Option<&str>,
    action: &str,
    resource: &str,
    changes: Value,
) {
    let who = WHO.try_with(Who::clone).unwrap_or_else(|_| Who {
        actor: "node".into(),
        caller: None,
        ip: String::new(),
        user_agent: None,
    });
    let rec = AuditRecord {
        id: 0,
        at: crate::clock::now_rfc3339(),
        at_ms: crate::clock::now_ms(),
        actor: actor.map_or(who.actor, |a| a.chars().take(254).collect()),
        action: action.into(),
        resource: resource.into(),
        changes,
        ip: who.ip,
        user_agent: who.user_agent,
    };
    let store = shared.store().clone();
    let written = tokio::task::spawn_blocking(move || store.append_audit(&rec)).await;
    if !matches!(written, Ok(Ok(_))) {
        tracing::error!(
            action,
            resource,
            "the change is made, but it could not be recorded in the audit log"
        );
    }
}

/// An integration's fields as the audit log shows them (secrets masked).
pub(super) fn integration_fields(rec: &IntegrationRecord) -> Map<String, Value> {
    let secret = |k: &str| {
        Blueprint::get(&rec.blueprint)
            .is_some_and(|bp| bp.config_fields.iter().any(|f| f.secret && f.key == k))
    };
    let mut m = Map::new();
    m.insert("name".into(), rec.name.clone().into());
    m.insert("variant".into(), rec.variant.clone().into());
    m.insert("enabled".into(), rec.enabled.into());
    for (k, v) in &rec.config {
        let shown = match v {
            Value::String(s) if secret(k) => Value::String(mask_secret(s)),
            other => other.clone(),
        };
        m.insert(format!("config.{k}"), shown);
    }
    m
}

/// A source's fields as the audit log shows them (its key and secret masked).
pub(super) fn source_fields(s: &SourceRecord) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("name".into(), s.name.clone().into());
    m.insert("pipeline_key".into(), mask_secret(&s.pipeline_key).into());
    m.insert("secret".into(), mask_secret(&s.secret).into());
    m.insert("allowed_origins".into(), json!(s.allowed_origins));
    m.insert(
        "rate_limit_per_second".into(),
        s.rate_limit_per_second.into(),
    );
    m
}

/// The fields that differ between `old` and `new` (either may be absent: made or removed), as
/// `{"field": {"old", "new"}}`.
pub(super) fn changes(old: Option<&Map<String, Value>>, new: Option<&Map<String, Value>>) -> Value {
    let empty = Map::new();
    let (old, new) = (old.unwrap_or(&empty), new.unwrap_or(&empty));
    let mut out = Map::new();
    for k in old.keys().chain(new.keys()) {
        let (o, n) = (old.get(k), new.get(k));
        if o != n && !out.contains_key(k) {
            out.insert(k.clone(), json!({"old": o, "new": n}));
        }
    }
    Value::Object(out)
}

/// `GET /v1/admin/audit-logs?actor=&action=&resource=&since=&until=&cursor=&limit=`: newest
/// first; `action` ending in `.` takes every action under it; times in RFC 3339.
pub(super) async fn list(shared: &AdminState, query: &str) -> Resp {
    let filter = match filter(query) {
        Ok(f) => f,
        Err(bad) => return bad.answer(),
    };
    let (limit, cursor) = match (limit(query, 50, 100), number(query, "cursor")) {
        (Ok(l), Ok(c)) => (l, c),
        (Err(bad), _) | (_, Err(bad)) => return bad.answer(),
    };
    let store = shared.store().clone();
    let page = tokio::task::spawn_blocking(move || store.audit_page(&filter, cursor, limit)).await;
    match page {
        Ok(Ok((records, has_more))) => {
            let next = records
                .last()
                .filter(|_| has_more)
                .map(|r| r.id.to_string());
            let data = records
                .into_iter()
                .map(|r| {
                    json!({"id": r.id.to_string(), "at": r.at, "actor": r.actor, "action": r.action,
                           "resource": r.resource, "changes": r.changes, "ip": r.ip, "user_agent": r.user_agent})
                })
                .collect();
            json_page(data, next)
        }
        Ok(Err(e)) => store_failed(&e),
        Err(_) => store_failed(&signal_store::StoreError::interrupted("audit log read")),
    }
}

fn filter(query: &str) -> Result<AuditFilter, BadParam> {
    let time = |name: &'static str| -> Result<Option<i64>, BadParam> {
        param(query, name)
            .map(|v| {
                signal_core::time::parse_iso8601(&v).ok_or(BadParam::new(
                    name,
                    "must be an RFC 3339 time, e.g. 2026-11-30T12:00:00Z",
                ))
            })
            .transpose()
    };
    Ok(AuditFilter {
        actor: param(query, "actor"),
        action: param(query, "action"),
        resource: param(query, "resource"),
        since_ms: time("since")?,
        until_ms: time("until")?,
    })
}
