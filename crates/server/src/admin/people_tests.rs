//! People, roles and tokens over loopback HTTP against a node in this process: the role
//! matrix (every route of `routes::ROUTES` with every role, as a signed-in user and as an API
//! token), signing in, the lockout, refresh rotation and reuse, signing out, invitations, API
//! tokens, who may manage whom, and that no password or token is stored in clear.

use super::routes::ROUTES;
use super::tests::{TOKEN, call_as, node, node_and_invitation};
use crate::Node;
use crate::access::Role;
use serde_json::{Value, json};

pub(super) const PASSWORD: &str = "a long enough password";

/// Adds a user with `role` through the admin token; their id.
pub(super) async fn add_user(node: &Node, email: &str, role: &str) -> String {
    let (status, v) = call_as(
        node,
        TOKEN,
        "POST",
        "/v1/admin/users",
        Some(json!({"email": email, "role": role, "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["user"]["role"], role);
    assert_eq!(v["invitation"], Value::Null);
    v["user"]["id"].as_str().unwrap().to_owned()
}

/// Signs in; the status and answer.
pub(super) async fn login(node: &Node, email: &str, password: &str) -> (u16, Value) {
    call_as(
        node,
        "",
        "POST",
        "/v1/admin/auth/login",
        Some(json!({"email": email, "password": password})),
    )
    .await
}

/// Signs in and returns the access token.
pub(super) async fn access_token(node: &Node, email: &str) -> String {
    let (status, v) = login(node, email, PASSWORD).await;
    assert_eq!(status, 200, "{v}");
    v["access_token"].as_str().unwrap().to_owned()
}

/// Creates an API token with `role` through the admin token; the whole token.
pub(super) async fn api_token(node: &Node, name: &str, role: &str) -> String {
    let (status, v) = call_as(
        node,
        TOKEN,
        "POST",
        "/v1/admin/tokens",
        Some(json!({"name": name, "role": role})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    v["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_route_answers_each_role_as_the_table_says_for_users_and_api_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    let mut callers = Vec::new();
    for role in Role::ALL {
        let email = format!("{role}@example.com");
        add_user(&node, &email, role.as_str()).await;
        callers.push((
            role,
            format!("user {email}"),
            access_token(&node, &email).await,
        ));
        let name = format!("{role}-token");
        callers.push((
            role,
            format!("token {name}"),
            api_token(&node, &name, role.as_str()).await,
        ));
    }
    callers.push((Role::Owner, "the admin token".into(), TOKEN.into()));
    let mut checked = 0;
    for route in ROUTES {
        // Ids that name nothing: an allowed call is answered by its handler (404, 422, 200),
        // never a 403, and changes nothing the next caller depends on.
        let path = route
            .path
            .replace("{id}", "nothing-has-this-id")
            .replace("{key}", "nothing-has-this-key");
        for (role, who, bearer) in &callers {
            let body = (route.method != "GET").then(|| json!({}));
            let (status, v) = call_as(&node, bearer, route.method, &path, body).await;
            let what = format!("{} {} as {who}", route.method, route.path);
            if *role < route.role {
                assert_eq!(status, 403, "{what}: {v}");
                assert_eq!(v["error"]["code"], "FORBIDDEN", "{what}");
                let message = v["error"]["message"].as_str().unwrap();
                assert!(message.contains(route.role.as_str()), "{what}: {message}");
            } else {
                assert!(![401, 403].contains(&status), "{what}: {status} {v}");
                assert_ne!(
                    v["error"]["message"], "no such endpoint",
                    "{what}: not routed"
                );
            }
            checked += 1;
        }
        let (status, _) = call_as(&node, "", route.method, &path, None).await;
        assert_eq!(
            status, 401,
            "{} {} without a token",
            route.method, route.path
        );
        let (status, _) = call_as(&node, "sat_forged_token", route.method, &path, None).await;
        assert_eq!(
            status, 401,
            "{} {} with a forged token",
            route.method, route.path
        );
    }
    assert_eq!(checked, ROUTES.len() * 9);
}

#[tokio::test]
async fn a_user_signs_in_sees_who_they_are_and_their_actions_are_audited_under_their_email() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    add_user(&node, "Ed@Example.com", "editor").await;
    let (status, v) = login(&node, "ed@example.com", PASSWORD).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["expires_in"], 900);
    assert_eq!(v["user"]["email"], "ed@example.com");
    assert_eq!(v["user"]["role"], "editor");
    assert!(v["refresh_token"].as_str().unwrap().starts_with("srt_"));
    let access = v["access_token"].as_str().unwrap();
    let (status, me) = call_as(&node, access, "GET", "/v1/admin/auth/me", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        me,
        json!({"actor": "ed@example.com", "role": "editor", "kind": "user",
        "user": {"id": me["user"]["id"], "email": "ed@example.com", "role": "editor"}})
    );
    let (status, v) = call_as(
        &node,
        access,
        "POST",
        "/v1/admin/integration-catalog/pendo/install",
        Some(json!({"name": "Pendo", "config": {"api_key": "k", "integration_key": "ik"}})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let (_, log) = call_as(
        &node,
        TOKEN,
        "GET",
        "/v1/admin/audit-logs?action=integration.",
        None,
    )
    .await;
    assert_eq!(log["data"][0]["actor"], "ed@example.com");
    let (_, log) = call_as(
        &node,
        TOKEN,
        "GET",
        "/v1/admin/audit-logs?action=auth.login",
        None,
    )
    .await;
    assert_eq!(log["data"][0]["actor"], "ed@example.com", "{log}");
}

#[tokio::test]
async fn five_wrong_passwords_lock_the_account_and_an_admin_unlocks_it() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    let id = add_user(&node, "vi@example.com", "viewer").await;
    let (status, unknown) = login(&node, "nobody@example.com", PASSWORD).await;
    assert_eq!(status, 401);
    for attempt in 1..=4 {
        let (status, v) = login(&node, "vi@example.com", "wrong password!").await;
        assert_eq!(status, 401, "attempt {attempt}: {v}");
        // No hint which part was wrong: the same answer as for an unknown email.
        assert_eq!(v, unknown);
    }
    let (status, v) = login(&node, "vi@example.com", "wrong password!").await;
    assert_eq!(status, 423, "{v}");
    assert_eq!(v["error"]["code"], "LOCKED");
    // Locked: even the right password is refused.
    let (status, v) = login(&node, "vi@example.com", PASSWORD).await;
    assert_eq!(status, 423, "{v}");
    let (_, users) = call_as(&node, TOKEN, "GET", "/v1/admin/users", None).await;
    assert!(users["data"][0]["locked_until"].is_string(), "{users}");
    let (_, log) = call_as(
        &node,
        TOKEN,
        "GET",
        "/v1/admin/audit-logs?action=auth.",
        None,
    )
    .await;
    let actions: Vec<&str> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "auth.login_failed")
            .count(),
        6,
        "{actions:?}"
    );
    assert!(actions.contains(&"auth.locked"), "{actions:?}");
    assert_eq!(log["data"][0]["actor"], "vi@example.com");
    let (status, v) = call_as(
        &node,
        TOKEN,
        "PATCH",
        &format!("/v1/admin/users/{id}"),
        Some(json!({"locked": false})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["locked_until"], Value::Null);
    assert_eq!(login(&node, "vi@example.com", PASSWORD).await.0, 200);
}

#[tokio::test]
async fn a_refresh_token_works_once_and_its_reuse_signs_the_user_out_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    add_user(&node, "ad@example.com", "admin").await;
    let (_, first) = login(&node, "ad@example.com", PASSWORD).await;
    let (_, other_session) = login(&node, "ad@example.com", PASSWORD).await;
    let refresh = |t: &Value| json!({"refresh_token": t["refresh_token"]});
    let (status, second) = call_as(
        &node,
        "",
        "POST",
        "/v1/admin/auth/refresh",
        Some(refresh(&first)),
    )
    .await;
    assert_eq!(status, 200, "{second}");
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    let access = second["access_token"].as_str().unwrap();
    assert_eq!(
        call_as(&node, access, "GET", "/v1/admin/users", None)
            .await
            .0,
        200
    );
    // The first refresh token again: someone else has a copy.
    let (status, v) = call_as(
        &node,
        "",
        "POST",
        "/v1/admin/auth/refresh",
        Some(refresh(&first)),
    )
    .await;
    assert_eq!(status, 401, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already used")
    );
    for (what, token) in [
        ("the new access token", access),
        (
            "another session's",
            other_session["access_token"].as_str().unwrap(),
        ),
    ] {
        assert_eq!(
            call_as(&node, token, "GET", "/v1/admin/users", None)
                .await
                .0,
            401,
            "{what}"
        );
    }
    let (status, _) = call_as(
        &node,
        "",
        "POST",
        "/v1/admin/auth/refresh",
        Some(refresh(&second)),
    )
    .await;
    assert_eq!(status, 401, "the rotated token's session ended too");
    let (_, log) = call_as(
        &node,
        TOKEN,
        "GET",
        "/v1/admin/audit-logs?action=auth.refresh_reused",
        None,
    )
    .await;
    assert_eq!(log["data"].as_array().unwrap().len(), 1, "{log}");
}

#[tokio::test]
async fn signing_out_ends_the_access_token_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    add_user(&node, "ed@example.com", "editor").await;
    let (_, t) = login(&node, "ed@example.com", PASSWORD).await;
    let access = t["access_token"].as_str().unwrap();
    assert_eq!(
        call_as(&node, access, "GET", "/v1/admin/integrations", None)
            .await
            .0,
        200
    );
    let (status, _) = call_as(
        &node,
        "",
        "POST",
        "/v1/admin/auth/logout",
        Some(json!({"refresh_token": t["refresh_token"]})),
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        call_as(&node, access, "GET", "/v1/admin/integrations", None)
            .await
            .0,
        401
    );
    let (status, _) = call_as(
        &node,
        "",
        "POST",
        "/v1/admin/auth/refresh",
        Some(json!({"refresh_token": t["refresh_token"]})),
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn admins_manage_editors_and_viewers_only_and_the_last_owner_stays() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    let owner = add_user(&node, "own@example.com", "owner").await;
    add_user(&node, "ad@example.com", "admin").await;
    let admin = access_token(&node, "ad@example.com").await;
    let new_user = |role: &str| json!({"email": format!("{role}2@example.com"), "role": role, "password": PASSWORD});
    for (role, expected) in [
        ("viewer", 201),
        ("editor", 201),
        ("admin", 403),
        ("owner", 403),
    ] {
        let (status, v) = call_as(
            &node,
            &admin,
            "POST",
            "/v1/admin/users",
            Some(new_user(role)),
        )
        .await;
        assert_eq!(status, expected, "an admin adding an {role}: {v}");
    }
    let (status, _) = call_as(
        &node,
        &admin,
        "POST",
        "/v1/admin/tokens",
        Some(json!({"name": "ci", "role": "admin"})),
    )
    .await;
    assert_eq!(status, 403, "an admin making an admin token");
    let (status, _) = call_as(
        &node,
        &admin,
        "PATCH",
        &format!("/v1/admin/users/{owner}"),
        Some(json!({"role": "viewer"})),
    )
    .await;
    assert_eq!(status, 403, "an admin demoting an owner");
    let (status, v) = call_as(
        &node,
        TOKEN,
        "PATCH",
        &format!("/v1/admin/users/{owner}"),
        Some(json!({"role": "viewer"})),
    )
    .await;
    assert_eq!(status, 409, "the last owner demoted: {v}");
    assert_eq!(
        call_as(
            &node,
            TOKEN,
            "DELETE",
            &format!("/v1/admin/users/{owner}"),
            None
        )
        .await
        .0,
        409
    );
    let (status, v) = call_as(
        &node,
        TOKEN,
        "POST",
        "/v1/admin/users",
        Some(new_user("owner")),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(
        call_as(
            &node,
            TOKEN,
            "DELETE",
            &format!("/v1/admin/users/{owner}"),
            None
        )
        .await
        .0,
        204
    );
    let (status, v) = call_as(
        &node,
        TOKEN,
        "POST",
        "/v1/admin/users",
        Some(json!({"email": "no-at-sign", "role": "boss", "password": "short", "x": 1})),
    )
    .await;
    assert_eq!(status, 422);
    for field in ["email", "role", "password", "x"] {
        assert!(v["error"]["fields"][field].is_string(), "{field}: {v}");
    }
    let (status, _) = call_as(
        &node,
        TOKEN,
        "POST",
        "/v1/admin/users",
        Some(new_user("viewer")),
    )
    .await;
    assert_eq!(status, 409, "the same email twice");
}

#[tokio::test]
async fn a_role_change_takes_effect_on_the_next_request() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    let id = add_user(&node, "ed@example.com", "editor").await;
    let access = access_token(&node, "ed@example.com").await;
    let (status, _) = call_as(
        &node,
        TOKEN,
        "PATCH",
        &format!("/v1/admin/users/{id}"),
        Some(json!({"role": "viewer"})),
    )
    .await;
    assert_eq!(status, 200);
    // Its sessions ended: the old access token no longer works, a new sign-in is a viewer.
    assert_eq!(
        call_as(&node, &access, "GET", "/v1/admin/integrations", None)
            .await
            .0,
        401
    );
    let access = access_token(&node, "ed@example.com").await;
    let (status, _) = call_as(
        &node,
        &access,
        "POST",
        "/v1/admin/integration-catalog/pendo/install",
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn an_api_token_is_shown_once_works_with_its_role_and_stops_when_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    let (status, made) = call_as(
        &node,
        TOKEN,
        "POST",
        "/v1/admin/tokens",
        Some(json!({"name": "deploy bot", "role": "editor"})),
    )
    .await;
    assert_eq!(status, 201);
    let whole = made["token"].as_str().unwrap();
    assert!(whole.starts_with("sat_"));
    let (_, listed) = call_as(&node, TOKEN, "GET", "/v1/admin/tokens", None).await;
    assert_eq!(
        listed["data"][0]["token"],
        format!("****{}", &whole[whole.len() - 4..])
    );
    assert_eq!(listed["data"][0]["last_used_at"], Value::Null);
    let (status, v) = call_as(
        &node,
        whole,
        "POST",
        "/v1/admin/integration-catalog/pendo/install",
        Some(json!({"name": "Pendo", "config": {"api_key": "k", "integration_key": "ik"}})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let integration = v["id"].as_str().unwrap();
    let (status, _) = call_as(
        &node,
        whole,
        "DELETE",
        &format!("/v1/admin/integrations/{integration}"),
        None,
    )
    .await;
    assert_eq!(status, 403, "an editor token removing");
    let (_, log) = call_as(
        &node,
        TOKEN,
        "GET",
        "/v1/admin/audit-logs?action=integration.installed",
        None,
    )
    .await;
    assert_eq!(log["data"][0]["actor"], "token:deploy bot");
    let (_, listed) = call_as(&node, TOKEN, "GET", "/v1/admin/tokens", None).await;
    assert!(listed["data"][0]["last_used_at"].is_string(), "{listed}");
    let id = made["id"].as_str().unwrap();
    assert_eq!(
        call_as(
            &node,
            TOKEN,
            "DELETE",
            &format!("/v1/admin/tokens/{id}"),
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(
        call_as(&node, whole, "GET", "/v1/admin/integrations", None)
            .await
            .0,
        401
    );
    let (status, _) = call_as(
        &node,
        TOKEN,
        "POST",
        "/v1/admin/tokens",
        Some(json!({"name": "deploy bot", "role": "editor"})),
    )
    .await;
    assert_eq!(status, 201, "a revoked token's name is free again");
}

#[tokio::test]
async fn the_first_start_invitation_makes_the_owner_once() {
    let dir = tempfile::tempdir().unwrap();
    let (node, invitation) = node_and_invitation(dir.path()).await;
    let token = invitation.expect("a node with no users prints an invitation");
    let accept = |email: &str| json!({"token": token, "email": email, "password": PASSWORD});
    let (status, v) = call_as(
        &node,
        "",
        "POST",
        "/v1/admin/auth/invitation",
        Some(json!({"token": token, "email": "o@example.com", "password": "short"})),
    )
    .await;
    assert_eq!(status, 422, "{v}");
    let (status, v) = call_as(
        &node,
        "",
        "POST",
        "/v1/admin/auth/invitation",
        Some(accept("o@example.com")),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["user"]["role"], "owner");
    let access = v["access_token"].as_str().unwrap();
    assert_eq!(
        call_as(&node, access, "GET", "/v1/admin/users", None)
            .await
            .0,
        200
    );
    let (status, _) = call_as(
        &node,
        "",
        "POST",
        "/v1/admin/auth/invitation",
        Some(accept("p@example.com")),
    )
    .await;
    assert_eq!(status, 401, "an invitation works once");
    assert_eq!(login(&node, "o@example.com", PASSWORD).await.0, 200);
    // What the next start asks: a node with an owner prints no invitation.
    let access =
        crate::access::Access::new(String::new(), "key", node.shared.store.clone()).unwrap();
    let again = access
        .first_owner_invitation(crate::clock::now_ms())
        .unwrap();
    assert_eq!(again, None, "a node with an owner prints no invitation");
}

#[tokio::test]
async fn a_user_added_without_a_password_is_invited_and_sets_one() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    let (status, v) = call_as(
        &node,
        TOKEN,
        "POST",
        "/v1/admin/users",
        Some(json!({"email": "new@example.com", "role": "viewer"})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["user"]["invited"], true);
    let token = v["invitation"]["token"].as_str().unwrap();
    assert_eq!(login(&node, "new@example.com", "").await.0, 422);
    assert_eq!(
        login(&node, "new@example.com", "anything at all").await.0,
        401
    );
    let (status, v) = call_as(
        &node,
        "",
        "POST",
        "/v1/admin/auth/invitation",
        Some(json!({"token": token, "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["user"]["email"], "new@example.com");
    assert_eq!(login(&node, "new@example.com", PASSWORD).await.0, 200);
}

#[tokio::test]
async fn no_password_or_token_is_stored_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    add_user(&node, "ed@example.com", "editor").await;
    let (_, t) = login(&node, "ed@example.com", PASSWORD).await;
    let api = api_token(&node, "ci", "viewer").await;
    node.stop().await;
    let stored = std::fs::read(dir.path().join("store.redb")).unwrap();
    let contains = |needle: &str| stored.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(contains("ed@example.com"), "the store is where users are");
    for secret in [PASSWORD, t["refresh_token"].as_str().unwrap(), &api] {
        let tail = &secret[secret.len() - 20..];
        assert!(!contains(tail), "{tail} is in the store file");
    }
}

#[tokio::test]
async fn a_store_that_fails_answers_503_to_sign_ins_never_a_wrong_password() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    add_user(&node, "ed@example.com", "editor").await;
    let (_, t) = login(&node, "ed@example.com", PASSWORD).await;
    let access = t["access_token"].as_str().unwrap();
    let api = api_token(&node, "ci", "viewer").await;
    node.shared.store.faults().fail_reads(true);
    let (status, v) = login(&node, "ed@example.com", PASSWORD).await;
    assert_eq!(status, 503, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("store failed")
    );
    for bearer in [access, api.as_str()] {
        let (status, v) = call_as(&node, bearer, "GET", "/v1/admin/auth/me", None).await;
        assert_eq!(status, 503, "{v}");
    }
    node.shared.store.faults().fail_reads(false);
    node.shared.store.faults().fail_writes(true);
    // A failure counted needs a write: unwritten, the sign-in is not judged.
    let (status, _) = login(&node, "ed@example.com", "wrong password!").await;
    assert_eq!(status, 503);
    let (status, _) = call_as(
        &node,
        TOKEN,
        "POST",
        "/v1/admin/users",
        Some(json!({"email": "x@example.com", "role": "viewer", "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 503);
    node.shared.store.faults().fail_writes(false);
    let (_, users) = call_as(&node, TOKEN, "GET", "/v1/admin/users", None).await;
    assert_eq!(
        users["data"].as_array().unwrap().len(),
        1,
        "nothing half made: {users}"
    );
    assert_eq!(login(&node, "ed@example.com", PASSWORD).await.0, 200);
}
