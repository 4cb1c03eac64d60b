//! `/v1/admin/tokens[/{id}]`: named API tokens with a role, for automation. The whole token is
//! shown once, in the answer that creates it; lists show its last four characters. Admins
//! create and revoke tokens up to editor, owners any (`Role::may_manage`). A revoked token
//! stops working at once.

use super::audit::{self, changes, record};
use super::reply::{body_object, error, list, no_content, not_found, store_failed, validation};
use super::state::AdminState;
use crate::access::{Role, opaque_mint};
use crate::http::{FieldErrors, Resp, json};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::{Map, Value, json};
use signal_core::mask_secret;
use signal_store::ApiTokenRecord;

/// The routes under `/v1/admin/tokens`.
pub(super) async fn route(
    shared: &AdminState,
    method: Method,
    parts: &[&str],
    req: Request<Incoming>,
    query: &str,
) -> Resp {
    match (method, parts) {
        (Method::GET, []) => match shared.store().api_tokens() {
            Ok(mut tokens) => {
                tokens.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
                list(tokens.iter().map(|t| token_json(t, None)).collect(), query)
            }
            Err(e) => store_failed(&e),
        },
        (Method::POST, []) => match body_object(req).await {
            Ok(body) => create(shared, &body).await,
            Err(r) => r,
        },
        (Method::DELETE, [id]) => revoke(shared, id).await,
        _ => not_found("such endpoint"),
    }
}

fn token_json(t: &ApiTokenRecord, whole: Option<&str>) -> Value {
    json!({
        "id": t.id, "name": t.name, "role": t.role, "created_at": t.created_at,
        "last_used_at": t.last_used_at,
        "token": whole.map_or_else(|| format!("****{}", t.last4), str::to_owned),
    })
}

fn fields_of(t: &ApiTokenRecord) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("name".into(), t.name.clone().into());
    m.insert("role".into(), t.role.clone().into());
    m.insert("token".into(), mask_secret(&t.last4).into());
    m
}

fn may_not_manage(role: Role) -> Resp {
    error(
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
        &format!("only an owner may create or revoke {role} tokens"),
    )
}

async fn create(shared: &AdminState, body: &Value) -> Resp {
    let mut fields = FieldErrors::new();
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        fields.insert(
            "name".into(),
            "is required: 1 to 64 characters, no control characters".into(),
        );
    }
    let role = body
        .get("role")
        .and_then(Value::as_str)
        .and_then(Role::parse);
    if role.is_none() {
        fields.insert(
            "role".into(),
            "must be one of owner, admin, editor, viewer".into(),
        );
    }
    if let Some(m) = body.as_object() {
        for k in m.keys().filter(|k| !["name", "role"].contains(&k.as_str())) {
            fields.insert(k.clone(), "is not a field of a token".into());
        }
    }
    let Some(role) = role.filter(|_| fields.is_empty()) else {
        return validation(fields);
    };
    if !audit::caller().is_some_and(|c| c.role.may_manage(role)) {
        return may_not_manage(role);
    }
    let _writes = super::WRITES.lock().await;
    match shared.store().api_tokens() {
        Ok(all) if all.iter().any(|t| t.name == name) => {
            return error(
                StatusCode::CONFLICT,
                "CONFLICT",
                "a token with this name already exists",
            );
        }
        Ok(_) => {}
        Err(e) => return store_failed(&e),
    }
    let Ok(minted) = opaque_mint("sat_") else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "the node has no randomness to make a token from; nothing was changed",
        );
    };
    let rec = ApiTokenRecord {
        id: minted.id,
        name: name.into(),
        role: role.as_str().into(),
        secret_hash: minted.secret_hash,
        last4: minted.token[minted.token.len() - 4..].into(),
        created_at: crate::clock::now_rfc3339(),
        last_used_at: None,
    };
    if let Err(e) = shared.store().put_api_token(&rec) {
        return store_failed(&e);
    }
    let resource = format!("tokens/{}", rec.id);
    record(
        shared,
        "token.created",
        &resource,
        changes(None, Some(&fields_of(&rec))),
    )
    .await;
    json(StatusCode::CREATED, &token_json(&rec, Some(&minted.token)))
}

async fn revoke(shared: &AdminState, id: &str) -> Resp {
    let _writes = super::WRITES.lock().await;
    let rec = match shared.store().api_token(id) {
        Ok(Some(t)) => t,
        Ok(None) => return not_found("token with this id"),
        Err(e) => return store_failed(&e),
    };
    let role = Role::parse(&rec.role).unwrap_or(Role::Owner);
    if !audit::caller().is_some_and(|c| c.role.may_manage(role)) {
        return may_not_manage(role);
    }
    if let Err(e) = shared.store().delete_api_token(id) {
        return store_failed(&e);
    }
    let resource = format!("tokens/{id}");
    record(
        shared,
        "token.revoked",
        &resource,
        changes(Some(&fields_of(&rec)), None),
    )
    .await;
    no_content()
}
