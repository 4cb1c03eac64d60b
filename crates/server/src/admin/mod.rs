//! The management API (interface.md section 3) and the unauthenticated health, readiness and
//! metrics endpoints, on the admin address.
//!
//! This file finds who is calling (the admin token, a user's access token, an API token),
//! checks their role against the route table and routes; each concept has its own file:
//!
//! - `health.rs`: `GET /healthz`, `GET /readyz` (unauthenticated).
//! - `metrics.rs`: `GET /metrics` (Prometheus text, unauthenticated) and
//!   `GET /v1/admin/integrations/{id}/stats`.
//! - `catalog.rs`: `GET /v1/admin/integration-catalog[/{key}]`, the blueprints.
//! - `integrations.rs`: install (`POST .../integration-catalog/{key}/install`), list, read,
//!   change (enable, disable, configure) and remove integrations.
//! - `test_event.rs`: the test button (`POST .../integrations/{id}/test`).
//! - `live.rs`: `GET .../integrations/{id}/events`, server-sent or the most recent as JSON.
//! - `dead_letters.rs`: `.../integrations/{id}/dead-letters`: page, replay, purge.
//! - `sources.rs`: `/v1/admin/sources[/{id}]`: list, create, change, remove.
//! - `audit.rs`: who is asking, recording each change, `GET /v1/admin/audit-logs`.
//! - `routes.rs`: every route as data, with the lowest role that may call it.
//! - `sign_in.rs`: `/v1/admin/auth/*`: sign in, refresh, sign out, accept an invitation, who am I.
//! - `users.rs`: `/v1/admin/users[/{id}]`: people and their roles.
//! - `tokens.rs`: `/v1/admin/tokens[/{id}]`: named API tokens with a role.
//! - `openapi.rs`: `GET /v1/admin/openapi.json`, the OpenAPI 3.1 document of this API.
//! - `reply.rs`: what they share: JSON errors, paged lists, query parameters, JSON bodies.
//!
//! Anything else not under `/v1/` is the management UI (`crate::ui`).
//!
//! Only `/v1/admin` and the paths below `/v1/admin/` are the API: `/v1/adminintegrations` is
//! not `/v1/admin/integrations`. A store that fails is a `503 UNAVAILABLE`, never "not found".

use crate::http::Resp;
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use reply::{body_json, error, not_found, store_failed};
use std::net::SocketAddr;
use std::sync::Arc;

/// One management write at a time (install, change, remove of integrations and sources): each
/// reads what is stored, judges the body against it (names unique, a secret's mask) and writes
/// it back, and none may do so from a copy another has just made stale. Writes are rare and
/// short; one lock for all keeps install's uniqueness check under it too.
pub(crate) static WRITES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub(crate) use state::AdminState;

mod audit;
mod catalog;
mod dead_letters;
mod health;
mod integrations;
mod live;
mod metrics;
mod openapi;
#[cfg(test)]
mod people_attack_tests;
#[cfg(test)]
mod people_tests;
mod reply;
mod routes;
mod sign_in;
mod sources;
mod state;
mod test_event;
#[cfg(test)]
mod tests;
mod tokens;
mod users;

/// Handles one management request.
pub async fn handle(shared: Arc<AdminState>, req: Request<Incoming>, peer: SocketAddr) -> Resp {
    let path = req.uri().path().trim_end_matches('/').to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let method = req.method().clone();
    if let Some(answer) = unauthenticated(&shared, &method, &path).await {
        return answer;
    }
    let Some(rest) = path
        .strip_prefix("/v1/admin")
        .filter(|rest| rest.is_empty() || rest.starts_with('/'))
    else {
        return not_found("such endpoint");
    };
    let user_agent = req
        .headers()
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(256).collect());
    if routes::is_public(&method, &path) {
        let who = audit::Who {
            actor: "anonymous".into(),
            caller: None,
            ip: peer.ip().to_string(),
            user_agent,
        };
        return audit::as_who(who, sign_in::route(&shared, &path, req)).await;
    }
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| crate::auth::credentials(v, "bearer"));
    let caller = match bearer.map(|b| shared.access().caller(b, crate::clock::now_ms())) {
        Some(Ok(Some(caller))) => caller,
        Some(Err(e)) => return store_failed(&e),
        Some(Ok(None)) | None => {
            return error(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "a valid bearer token is required: a signed-in user's access token, an API \
                 token or the admin token",
            );
        }
    };
    let Some(needs) = routes::find(&method, &path) else {
        return not_found("such endpoint");
    };
    if caller.role < needs.role {
        return error(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            &format!(
                "this needs the {} role or higher; you are signed in as {}",
                needs.role, caller.role
            ),
        );
    }
    let parts: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let who = audit::Who {
        actor: caller.actor.clone(),
        caller: Some(caller),
        ip: peer.ip().to_string(),
        user_agent,
    };
    audit::as_who(who, route(&shared, method, &parts, req, &query)).await
}

/// The routes that need no token: health, readiness, metrics and the UI's files. `None` for
/// any other request.
async fn unauthenticated(shared: &AdminState, method: &Method, path: &str) -> Option<Resp> {
    match (method.clone(), path) {
        (Method::GET, "/healthz") => Some(health::healthz()),
        (Method::GET, "/readyz") => Some(health::readyz(shared)),
        (Method::HEAD, "/healthz") => Some(health::without_body(health::healthz())),
        (Method::HEAD, "/readyz") => Some(health::without_body(health::readyz(shared))),
        (Method::GET, "/metrics") => Some(metrics::metrics(shared).await),
        (Method::GET | Method::HEAD, p) if !p.starts_with("/v1/") => crate::ui::asset(p),
        _ => None,
    }
}

/// The routes under `/v1/admin`, once the token is checked; `parts` are the path's segments
/// after it.
async fn route(
    shared: &AdminState,
    method: Method,
    parts: &[&str],
    req: Request<Incoming>,
    query: &str,
) -> Resp {
    match (method, parts) {
        (Method::GET, ["integration-catalog"]) => catalog::search(query),
        (Method::GET, ["integration-catalog", key]) => catalog::detail(key),
        (Method::POST, ["integration-catalog", key, "install"]) => match body_json(req).await {
            Ok(body) => integrations::install(shared, key, body).await,
            Err(r) => r,
        },
        (Method::GET, ["integrations"]) => integrations::list_all(shared, query).await,
        (Method::GET, ["audit-logs"]) => audit::list(shared, query).await,
        (Method::GET, ["openapi.json"]) => openapi::document(),
        (Method::GET, ["auth", "me"]) => sign_in::me(),
        (m, ["users", more @ ..]) => users::route(shared, m, more, req, query).await,
        (m, ["tokens", more @ ..]) => tokens::route(shared, m, more, req, query).await,
        (m, ["sources", more @ ..]) => sources::route(shared, m, more, req, query).await,
        (m, ["integrations", id, tail @ ..]) => integration(shared, m, id, tail, req, query).await,
        _ => not_found("such endpoint"),
    }
}

/// The routes under `/v1/admin/integrations/{id}`: 404 for an id not installed, whatever follows.
async fn integration(
    shared: &AdminState,
    method: Method,
    id: &str,
    tail: &[&str],
    req: Request<Incoming>,
    query: &str,
) -> Resp {
    let rec = match shared.store().integration(id) {
        Ok(Some(rec)) => rec,
        Ok(None) => return not_found("integration with this id"),
        Err(e) => return store_failed(&e),
    };
    match (method, tail) {
        (Method::GET, []) => integrations::show(shared, &rec).await,
        (Method::PATCH, []) => match body_json(req).await {
            Ok(body) => integrations::patch(shared, &rec.id, body).await,
            Err(r) => r,
        },
        (Method::DELETE, []) => integrations::remove(shared, &rec).await,
        (Method::GET, ["events"]) => {
            live::events(shared, &rec, live::wants_stream(&req), query).await
        }
        (Method::POST, ["test"]) => test_event::test_event(shared, &rec).await,
        (Method::GET, ["stats"]) => metrics::stats(shared, &rec).await,
        (m, ["dead-letters", more @ ..]) => {
            dead_letters::route(shared, &rec, m, more, req, query).await
        }
        _ => not_found("such endpoint"),
    }
}
