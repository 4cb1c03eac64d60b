//! `/v1/admin/auth/*`: signing in with email and password (`login`), new tokens for a
//! refresh token (`refresh`), signing out (`logout`), accepting a one-time invitation
//! (`invitation`), all without a bearer token; and `GET /v1/admin/auth/me`, who the caller is.
//!
//! A wrong email and a wrong password get the same 401 in the same time; the fifth failure in
//! a row locks the account (423 until the lock ends). Every sign-in, failure, lock, sign-out
//! and reused refresh token is in the audit log.

use super::audit::{self, record_as};
use super::reply::{error, store_failed, validation};
use super::state::AdminState;
use crate::access::{AcceptError, Grant, Kind, LoginError, RefreshError, password};
use crate::http::{FieldErrors, Resp, json};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::{Value, json};

/// The sign-in routes (`routes::PUBLIC`).
pub(super) async fn route(shared: &AdminState, path: &str, req: Request<Incoming>) -> Resp {
    let body = match super::reply::body_object(req).await {
        Ok(body) => body,
        Err(r) => return r,
    };
    match path.trim_start_matches("/v1/admin/auth/") {
        "login" => login(shared, &body).await,
        "refresh" => refresh(shared, &body).await,
        "logout" => logout(shared, &body).await,
        "invitation" => accept(shared, &body).await,
        _ => super::reply::not_found("such endpoint"),
    }
}

/// The user as the API shows them.
pub(super) fn user_json(u: &signal_store::UserRecord) -> Value {
    let locked = u
        .locked_until_ms
        .filter(|t| *t > crate::clock::now_ms())
        .map(rfc3339);
    json!({
        "id": u.id, "email": u.email, "role": u.role, "created_at": u.created_at,
        "updated_at": u.updated_at, "last_login_at": u.last_login_at, "locked_until": locked,
        "invited": u.password_hash.is_empty(),
    })
}

use crate::clock::rfc3339;

fn granted(g: &Grant) -> Resp {
    json(
        StatusCode::OK,
        &json!({
            "access_token": g.access_token, "refresh_token": g.refresh_token,
            "token_type": "Bearer", "expires_in": g.expires_in,
            "user": {"id": g.user.id, "email": g.user.email, "role": g.user.role},
        }),
    )
}

fn unauthorized(message: &str) -> Resp {
    error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
}

fn internal() -> Resp {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "UNAVAILABLE",
        "the node could not make the tokens (no randomness?); try again",
    )
}

/// The string fields `names` of `body`, or a 422 naming each missing one.
fn strings<'a, const N: usize>(
    body: &'a Value,
    names: [&str; N],
) -> Result<[&'a str; N], FieldErrors> {
    let mut fields = FieldErrors::new();
    let got = names.map(|n| match body.get(n) {
        Some(Value::String(s)) if !s.is_empty() => s.as_str(),
        Some(Value::String(_)) | None => {
            fields.insert(n.into(), "is required".into());
            ""
        }
        Some(_) => {
            fields.insert(n.into(), "must be a string".into());
            ""
        }
    });
    if fields.is_empty() {
        Ok(got)
    } else {
        Err(fields)
    }
}

async fn login(shared: &AdminState, body: &Value) -> Resp {
    let [email, pass] = match strings(body, ["email", "password"]) {
        Ok(v) => v,
        Err(fields) => return validation(fields),
    };
    let now = crate::clock::now_ms();
    let resource = |id: Option<&str>| id.map_or("users".into(), |id| format!("users/{id}"));
    match shared.access().login(email, pass, now).await {
        Ok(g) => {
            let on = resource(Some(&g.user.id));
            record_as(shared, Some(&g.user.email), "auth.login", &on, json!({})).await;
            granted(&g)
        }
        Err(LoginError::Wrong { user_id }) => {
            let on = resource(user_id.as_deref());
            // What was typed as an email is recorded only when it is a user's: it could be a
            // password typed in the wrong field, and viewers read the audit log.
            let actor = if user_id.is_some() {
                email
            } else {
                "anonymous"
            };
            record_as(shared, Some(actor), "auth.login_failed", &on, json!({})).await;
            unauthorized("the email or the password is wrong")
        }
        Err(LoginError::Locked {
            user_id,
            until_ms,
            now,
        }) => {
            let on = resource(Some(&user_id));
            if now {
                record_as(shared, Some(email), "auth.login_failed", &on, json!({})).await;
                record_as(shared, Some(email), "auth.locked", &on, json!({})).await;
            }
            error(
                StatusCode::LOCKED,
                "LOCKED",
                &format!(
                    "this account is locked after 5 failed sign-ins until {}; try again then, \
                     or ask an admin to unlock it",
                    rfc3339(until_ms)
                ),
            )
        }
        Err(LoginError::Busy) => {
            let mut r = error(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                "too many sign-ins at once; nothing was judged: try again in a second",
            );
            r.headers_mut()
                .insert("retry-after", hyper::header::HeaderValue::from_static("1"));
            r
        }
        Err(LoginError::Store(e)) => store_failed(&e),
        Err(LoginError::Internal) => internal(),
    }
}

async fn refresh(shared: &AdminState, body: &Value) -> Resp {
    let [token] = match strings(body, ["refresh_token"]) {
        Ok(v) => v,
        Err(fields) => return validation(fields),
    };
    match shared.access().refresh(token, crate::clock::now_ms()) {
        Ok(g) => granted(&g),
        Err(RefreshError::Invalid) => {
            unauthorized("the refresh token is unknown, expired or signed out: sign in again")
        }
        Err(RefreshError::Reused { user_id }) => {
            let resource = format!("users/{user_id}");
            record_as(shared, None, "auth.refresh_reused", &resource, json!({})).await;
            unauthorized(
                "this refresh token was already used, so someone else may hold a copy: every \
                 session of this user is signed out; sign in again",
            )
        }
        Err(RefreshError::Store(e)) => store_failed(&e),
        Err(RefreshError::Internal) => internal(),
    }
}

async fn logout(shared: &AdminState, body: &Value) -> Resp {
    let token = body.get("refresh_token").and_then(Value::as_str);
    match shared.access().logout(token, None) {
        Ok(Some(user_id)) => {
            let resource = format!("users/{user_id}");
            record_as(shared, None, "auth.logout", &resource, json!({})).await;
            super::reply::no_content()
        }
        Ok(None) => super::reply::no_content(),
        Err(e) => store_failed(&e),
    }
}

async fn accept(shared: &AdminState, body: &Value) -> Resp {
    let [token, pass] = match strings(body, ["token", "password"]) {
        Ok(v) => v,
        Err(fields) => return validation(fields),
    };
    let email = body
        .get("email")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut fields = FieldErrors::new();
    if let Some(p) = password::problem(pass) {
        fields.insert("password".into(), p);
    }
    if !email.is_empty()
        && let Some(p) = super::users::email_problem(email)
    {
        fields.insert("email".into(), p);
    }
    if !fields.is_empty() {
        return validation(fields);
    }
    // With the other management writes: the first owner is made only while there is no user.
    let accepted = {
        let _writes = super::WRITES.lock().await;
        shared
            .access()
            .accept(token, email, pass, crate::clock::now_ms())
            .await
    };
    match accepted {
        Ok(g) => {
            let resource = format!("users/{}", g.user.id);
            record_as(
                shared,
                Some(&g.user.email),
                "auth.invitation_accepted",
                &resource,
                json!({}),
            )
            .await;
            granted(&g)
        }
        Err(AcceptError::Invalid) => {
            unauthorized("the invitation is unknown, already used or expired: ask for a new one")
        }
        Err(AcceptError::EmailNeeded) => {
            validation(FieldErrors::from([("email".into(), "is required".into())]))
        }
        Err(AcceptError::EmailTaken) => error(
            StatusCode::CONFLICT,
            "CONFLICT",
            "a user with this email already exists",
        ),
        Err(AcceptError::Store(e)) => store_failed(&e),
        Err(AcceptError::Internal) => internal(),
    }
}

/// `GET /v1/admin/auth/me`: who the caller is and their role.
pub(super) fn me() -> Resp {
    let Some(c) = audit::caller() else {
        return unauthorized("not signed in");
    };
    let (kind, user) = match &c.kind {
        Kind::User { id, .. } => (
            "user",
            json!({"id": id, "email": c.actor, "role": c.role.as_str()}),
        ),
        Kind::ApiToken { .. } | Kind::AdminToken => ("token", Value::Null),
    };
    json(
        StatusCode::OK,
        &json!({"actor": c.actor, "role": c.role.as_str(), "kind": kind, "user": user}),
    )
}
