//! `/v1/admin/users[/{id}]`: people and their roles. Anyone signed in reads the list; admins
//! add, change and remove editors and viewers, owners anyone (`Role::may_manage`). The last
//! owner cannot be removed or demoted. A new password, a new role or a removal signs the user
//! out everywhere. A user added without a password gets a one-time invitation instead.

use super::audit::{self, changes, record};
use super::reply::{body_object, error, list, no_content, not_found, store_failed, validation};
use super::sign_in::user_json;
use super::state::AdminState;
use crate::access::{Role, new_id, password};
use crate::http::{FieldErrors, Resp, json};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::{Map, Value, json};
use signal_store::UserRecord;

/// The routes under `/v1/admin/users`.
pub(super) async fn route(
    shared: &AdminState,
    method: Method,
    parts: &[&str],
    req: Request<Incoming>,
    query: &str,
) -> Resp {
    match (method, parts) {
        (Method::GET, []) => match shared.store().users() {
            Ok(mut users) => {
                users.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
                list(users.iter().map(user_json).collect(), query)
            }
            Err(e) => store_failed(&e),
        },
        (Method::POST, []) => match body_object(req).await {
            Ok(body) => create(shared, &body).await,
            Err(r) => r,
        },
        (Method::PATCH, [id]) => match body_object(req).await {
            Ok(body) => patch(shared, id, &body).await,
            Err(r) => r,
        },
        (Method::DELETE, [id]) => remove(shared, id).await,
        _ => not_found("such endpoint"),
    }
}

/// What is wrong with `email` as an address, if anything.
pub(super) fn email_problem(email: &str) -> Option<String> {
    let ok = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.split('.').count() >= 2
                && domain.split('.').all(|p| !p.is_empty())
        });
    (!ok).then(|| "must be an email address (name@example.com), at most 254 characters".into())
}

/// 403: the caller's role may not manage `role`.
fn may_not_manage(role: Role) -> Resp {
    error(
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
        &format!("only an owner may add, change or remove {role}s"),
    )
}

fn caller_role() -> Role {
    audit::caller().map_or(Role::Viewer, |c| c.role)
}

fn user_fields(u: &UserRecord) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("email".into(), u.email.clone().into());
    m.insert("role".into(), u.role.clone().into());
    m.insert(
        "password".into(),
        (if u.password_hash.is_empty() {
            ""
        } else {
            "****"
        })
        .into(),
    );
    m.insert("locked".into(), u.locked_until_ms.is_some().into());
    m
}

/// The role in `body["role"]`, or the error for `fields`.
fn role_field(body: &Value, fields: &mut FieldErrors) -> Option<Role> {
    let v = body.get("role")?;
    let r = v.as_str().and_then(Role::parse);
    if r.is_none() {
        fields.insert(
            "role".into(),
            "must be one of owner, admin, editor, viewer".into(),
        );
    }
    r
}

/// A new user's email, role and password (`None`: invite them), or the error for each bad field.
fn create_body(body: &Value) -> Result<(&str, Role, Option<String>), FieldErrors> {
    let mut fields = FieldErrors::new();
    let email = body
        .get("email")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim();
    if let Some(p) = email_problem(email) {
        fields.insert("email".into(), p);
    }
    let role = role_field(body, &mut fields);
    if body.get("role").is_none() {
        fields.insert("role".into(), "is required".into());
    }
    let pass = match body.get("password") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) => {
            if let Some(problem) = password::problem(p) {
                fields.insert("password".into(), problem);
            }
            Some(p.clone())
        }
        Some(_) => {
            fields.insert("password".into(), "must be a string".into());
            None
        }
    };
    unknown_fields(body, &["email", "role", "password"], &mut fields);
    match role.filter(|_| fields.is_empty()) {
        Some(role) => Ok((email, role, pass)),
        None => Err(fields),
    }
}

async fn create(shared: &AdminState, body: &Value) -> Resp {
    let (email, role, pass) = match create_body(body) {
        Ok(v) => v,
        Err(fields) => return validation(fields),
    };
    if !caller_role().may_manage(role) {
        return may_not_manage(role);
    }
    let hash = match pass {
        Some(p) => match shared.access().hasher().hash(p).await {
            Ok(h) => h,
            Err(_) => return hashing_failed(),
        },
        None => String::new(),
    };
    let _writes = super::WRITES.lock().await;
    match shared.store().user_by_email(email) {
        Ok(Some(_)) => return conflict("a user with this email already exists"),
        Ok(None) => {}
        Err(e) => return store_failed(&e),
    }
    let Ok(id) = new_id("usr_") else {
        return hashing_failed();
    };
    let now = crate::clock::now_rfc3339();
    let user = UserRecord {
        id,
        email: email.to_lowercase(),
        role: role.as_str().into(),
        password_hash: hash,
        created_at: now.clone(),
        updated_at: now,
        last_login_at: None,
        failed_logins: 0,
        locked_until_ms: None,
    };
    if let Err(e) = shared.store().put_user(&user) {
        return store_failed(&e);
    }
    let invitation = if user.password_hash.is_empty() {
        match shared
            .access()
            .invite(Some(&user.id), role, crate::clock::now_ms())
        {
            Ok((token, expires_ms)) => {
                json!({"token": token, "expires_at": crate::clock::rfc3339(expires_ms)})
            }
            Err(_) => return hashing_failed(),
        }
    } else {
        Value::Null
    };
    let resource = format!("users/{}", user.id);
    record(
        shared,
        "user.created",
        &resource,
        changes(None, Some(&user_fields(&user))),
    )
    .await;
    json(
        StatusCode::CREATED,
        &json!({"user": user_json(&user), "invitation": invitation}),
    )
}

fn unknown_fields(body: &Value, known: &[&str], fields: &mut FieldErrors) {
    if let Some(m) = body.as_object() {
        for k in m.keys().filter(|k| !known.contains(&k.as_str())) {
            fields.insert(k.clone(), "is not a field of a user".into());
        }
    }
}

fn conflict(message: &str) -> Resp {
    error(StatusCode::CONFLICT, "CONFLICT", message)
}

fn hashing_failed() -> Resp {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "UNAVAILABLE",
        "the node could not hash the password or make a token; nothing was changed: try again",
    )
}

/// Whether removing or demoting `user` would leave the node with no owner.
fn last_owner(shared: &AdminState, user: &UserRecord) -> Result<bool, signal_store::StoreError> {
    if user.role != "owner" {
        return Ok(false);
    }
    let owners = shared
        .store()
        .users()?
        .iter()
        .filter(|u| u.role == "owner")
        .count();
    Ok(owners <= 1)
}

/// What a PATCH asks to change.
struct Patch<'a> {
    role: Option<Role>,
    email: Option<&'a str>,
    password: Option<String>,
    unlock: bool,
}

/// The PATCH body's fields, or the error for each bad one.
fn patch_body(body: &Value) -> Result<Patch<'_>, FieldErrors> {
    let mut fields = FieldErrors::new();
    let role = role_field(body, &mut fields);
    let email = body
        .get("email")
        .map(|v| v.as_str().unwrap_or_default().trim());
    if let Some(p) = email.and_then(email_problem) {
        fields.insert("email".into(), p);
    }
    let password = body
        .get("password")
        .map(|v| v.as_str().unwrap_or_default().to_owned());
    if let Some(p) = password.as_deref().and_then(password::problem) {
        fields.insert("password".into(), p);
    }
    let unlock = match body.get("locked") {
        None => false,
        Some(Value::Bool(false)) => true,
        Some(_) => {
            fields.insert("locked".into(), "can only be set to false (unlock)".into());
            false
        }
    };
    unknown_fields(body, &["email", "role", "password", "locked"], &mut fields);
    if fields.is_empty() {
        Ok(Patch {
            role,
            email,
            password,
            unlock,
        })
    } else {
        Err(fields)
    }
}

async fn patch(shared: &AdminState, id: &str, body: &Value) -> Resp {
    let Patch {
        role,
        email,
        password: pass,
        unlock,
    } = match patch_body(body) {
        Ok(p) => p,
        Err(fields) => return validation(fields),
    };
    let hash = match pass {
        Some(p) => match shared.access().hasher().hash(p).await {
            Ok(h) => Some(h),
            Err(_) => return hashing_failed(),
        },
        None => None,
    };
    let _writes = super::WRITES.lock().await;
    let old = match shared.store().user(id) {
        Ok(Some(u)) => u,
        Ok(None) => return not_found("user with this id"),
        Err(e) => return store_failed(&e),
    };
    let me = caller_role();
    let current = Role::parse(&old.role).unwrap_or(Role::Owner);
    if !me.may_manage(current) {
        return may_not_manage(current);
    }
    if let Some(r) = role.filter(|r| !me.may_manage(*r)) {
        return may_not_manage(r);
    }
    if role.is_some_and(|r| r != Role::Owner) {
        match last_owner(shared, &old) {
            Ok(true) => return conflict("this is the last owner: make another owner first"),
            Ok(false) => {}
            Err(e) => return store_failed(&e),
        }
    }
    let new_email = email.map(str::to_lowercase).filter(|e| *e != old.email);
    if let Some(e) = &new_email {
        match shared.store().user_by_email(e) {
            Ok(Some(_)) => return conflict("a user with this email already exists"),
            Ok(None) => {}
            Err(e) => return store_failed(&e),
        }
    }
    let now = crate::clock::now_rfc3339();
    // Only the fields asked for, in one transaction: a sign-in's counters written meanwhile stay.
    // A new role or password ends their sessions in the same transaction.
    let signing_out = role.is_some() || hash.is_some();
    let apply = |u: &mut UserRecord| {
        if let Some(r) = role {
            u.role = r.as_str().into();
        }
        if let Some(e) = new_email {
            u.email = e;
        }
        if let Some(h) = hash {
            u.password_hash = h;
        }
        if unlock {
            u.locked_until_ms = None;
            u.failed_logins = 0;
        }
        u.updated_at = now;
    };
    let updated = if signing_out {
        shared.store().update_user_signing_out(id, apply)
    } else {
        shared.store().update_user(id, apply)
    };
    let user = match updated {
        Ok(Some((user, ()))) => user,
        Ok(None) => return not_found("user with this id"),
        Err(e) => return store_failed(&e),
    };
    after_update(shared, &old, &user).await;
    json(StatusCode::OK, &user_json(&user))
}

/// The change to a user in the audit log, a password as changed only.
async fn after_update(shared: &AdminState, old: &UserRecord, user: &UserRecord) {
    let mut old_fields = user_fields(old);
    let mut new_fields = user_fields(user);
    if user.password_hash != old.password_hash {
        old_fields.insert("password".into(), "****".into());
        new_fields.insert("password".into(), "**** (changed)".into());
    }
    let resource = format!("users/{}", user.id);
    record(
        shared,
        "user.updated",
        &resource,
        changes(Some(&old_fields), Some(&new_fields)),
    )
    .await;
}

async fn remove(shared: &AdminState, id: &str) -> Resp {
    let _writes = super::WRITES.lock().await;
    let old = match shared.store().user(id) {
        Ok(Some(u)) => u,
        Ok(None) => return not_found("user with this id"),
        Err(e) => return store_failed(&e),
    };
    let current = Role::parse(&old.role).unwrap_or(Role::Owner);
    if !caller_role().may_manage(current) {
        return may_not_manage(current);
    }
    match last_owner(shared, &old) {
        Ok(true) => return conflict("this is the last owner: make another owner first"),
        Ok(false) => {}
        Err(e) => return store_failed(&e),
    }
    if let Err(e) = shared.store().delete_user(id) {
        return store_failed(&e);
    }
    let resource = format!("users/{id}");
    record(
        shared,
        "user.removed",
        &resource,
        changes(Some(&user_fields(&old)), None),
    )
    .await;
    no_content()
}
