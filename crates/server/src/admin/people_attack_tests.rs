//! People and tokens under attack or in races, over loopback HTTP against a node in this
//! process: parallel guesses, two refreshes of one token, sign-ins racing a demotion or a
//! password reset, a token used while it is revoked, an older owner invitation, a password typed
//! as the email, a flood of sign-ins, a live stream after signing out (found by review, each
//! failing before its fix).

use super::people_tests::{PASSWORD, add_user, api_token, login};
use super::tests::{TOKEN, call_as, node, node_and_invitation};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use serde_json::{Value, json};

#[tokio::test]
async fn parallel_guesses_are_counted_one_by_one_so_five_is_the_most_anyone_gets() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    add_user(&node, "vi@example.com", "viewer").await;
    let guesses = (0..20).map(|i| {
        let node = &node;
        async move {
            login(node, "vi@example.com", &format!("guess number {i}"))
                .await
                .0
        }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    let wrong = statuses.iter().filter(|s| **s == 401).count();
    let locked = statuses.iter().filter(|s| **s == 423).count();
    assert_eq!((wrong, locked), (4, 16), "{statuses:?}");
}

#[tokio::test]
async fn two_refreshes_with_one_token_at_once_are_a_reuse_not_two_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    add_user(&node, "ed@example.com", "editor").await;
    let (_, t) = login(&node, "ed@example.com", PASSWORD).await;
    let body = json!({"refresh_token": t["refresh_token"]});
    let refresh = || {
        call_as(
            &node,
            "",
            "POST",
            "/v1/admin/auth/refresh",
            Some(body.clone()),
        )
    };
    let (a, b) = tokio::join!(refresh(), refresh());
    let mut statuses = [a.0, b.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401], "{a:?} {b:?}");
    let won = if a.0 == 200 { a.1 } else { b.1 };
    let access = won["access_token"].as_str().unwrap();
    assert_eq!(
        call_as(&node, access, "GET", "/v1/admin/integrations", None)
            .await
            .0,
        401,
        "the reuse signed the winner out too"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_passwords_in_flight_never_undo_a_demotion_or_a_password_reset() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    let id = add_user(&node, "ad@example.com", "admin").await;
    let guesses = (0..3).map(|i| {
        let node = &node;
        async move {
            login(node, "ad@example.com", &format!("wrong guess {i}"))
                .await
                .0
        }
    });
    let change = async {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let body = json!({"role": "viewer", "password": "the new password!"});
        call_as(
            &node,
            TOKEN,
            "PATCH",
            &format!("/v1/admin/users/{id}"),
            Some(body),
        )
        .await
    };
    let (_, (status, v)) = tokio::join!(futures_util::future::join_all(guesses), change);
    assert_eq!(status, 200, "{v}");
    let (_, users) = call_as(&node, TOKEN, "GET", "/v1/admin/users", None).await;
    assert_eq!(users["data"][0]["role"], "viewer", "{users}");
    assert_eq!(
        login(&node, "ad@example.com", PASSWORD).await.0,
        401,
        "the old password"
    );
    assert_eq!(
        login(&node, "ad@example.com", "the new password!").await.0,
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_used_while_it_is_revoked_stays_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    for round in 0..20 {
        let (_, made) = call_as(
            &node,
            TOKEN,
            "POST",
            "/v1/admin/tokens",
            Some(json!({"name": format!("t{round}"), "role": "viewer"})),
        )
        .await;
        let (token, id) = (
            made["token"].as_str().unwrap(),
            made["id"].as_str().unwrap(),
        );
        let used = call_as(&node, token, "GET", "/v1/admin/integrations", None);
        let path = format!("/v1/admin/tokens/{id}");
        let revoked = call_as(&node, TOKEN, "DELETE", &path, None);
        let (_, (status, _)) = tokio::join!(used, revoked);
        assert_eq!(status, 204);
        let (status, _) = call_as(&node, token, "GET", "/v1/admin/integrations", None).await;
        assert_eq!(status, 401, "round {round}: a revoked token works again");
    }
}

#[tokio::test]
async fn only_the_invitation_printed_last_makes_an_owner_and_only_one_owner() {
    let dir = tempfile::tempdir().unwrap();
    let (node, first) = node_and_invitation(dir.path()).await;
    // What a second start before anyone accepted prints.
    let access =
        crate::access::Access::new(String::new(), "key", node.shared.store.clone()).unwrap();
    let second = access
        .first_owner_invitation(crate::clock::now_ms())
        .unwrap()
        .unwrap();
    let accept =
        |token: &str, email: &str| json!({"token": token, "email": email, "password": PASSWORD});
    let url = "/v1/admin/auth/invitation";
    let (status, _) = call_as(
        &node,
        "",
        "POST",
        url,
        Some(accept(&first.unwrap(), "a@x.io")),
    )
    .await;
    assert_eq!(status, 401, "the older invitation");
    let (status, v) = call_as(&node, "", "POST", url, Some(accept(&second, "b@x.io"))).await;
    assert_eq!(status, 200, "{v}");
    let third = access
        .first_owner_invitation(crate::clock::now_ms())
        .unwrap();
    assert_eq!(third, None);
}

#[tokio::test]
async fn an_invitation_is_void_once_an_admin_sets_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    let (_, made) = call_as(
        &node,
        TOKEN,
        "POST",
        "/v1/admin/users",
        Some(json!({"email": "new@example.com", "role": "editor"})),
    )
    .await;
    let id = made["user"]["id"].as_str().unwrap();
    let invitation = made["invitation"]["token"].as_str().unwrap();
    let (status, _) = call_as(
        &node,
        TOKEN,
        "PATCH",
        &format!("/v1/admin/users/{id}"),
        Some(json!({"password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call_as(
        &node,
        "",
        "POST",
        "/v1/admin/auth/invitation",
        Some(json!({"token": invitation, "password": "the thief's password"})),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(login(&node, "new@example.com", PASSWORD).await.0, 200);
}

#[tokio::test]
async fn what_is_typed_as_an_unknown_email_is_not_in_the_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    add_user(&node, "ed@example.com", "editor").await;
    login(&node, "My-Secret-Passw0rd!", "whatever it is").await;
    login(&node, "ed@example.com", "not the password").await;
    let viewer = api_token(&node, "reader", "viewer").await;
    let (_, log) = call_as(
        &node,
        &viewer,
        "GET",
        "/v1/admin/audit-logs?action=auth.login_failed",
        None,
    )
    .await;
    let actors: Vec<&Value> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["actor"])
        .collect();
    assert_eq!(
        actors,
        [&json!("ed@example.com"), &json!("anonymous")],
        "{log}"
    );
    assert!(!log.to_string().contains("My-Secret"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_sign_ins_is_refused_at_once_past_the_queue_not_queued_without_end() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    let flood = (0..120).map(|i| {
        let node = &node;
        async move { login(node, &format!("nobody{i}@example.com"), "some password!").await }
    });
    let answers = futures_util::future::join_all(flood).await;
    let busy = answers.iter().filter(|(s, _)| *s == 503).count();
    assert!(busy > 0, "none refused");
    for (status, v) in &answers {
        assert!([401, 503].contains(status), "{status} {v}");
        if *status == 503 {
            assert!(
                v["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("too many sign-ins")
            );
        }
    }
    assert_eq!(
        login(&node, "nobody@example.com", "some password!").await.0,
        401
    );
}

#[tokio::test]
async fn a_live_stream_ends_once_its_user_signs_out() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    add_user(&node, "vi@example.com", "viewer").await;
    let (_, installed) = call_as(
        &node,
        TOKEN,
        "POST",
        "/v1/admin/integration-catalog/pendo/install",
        Some(json!({"name": "Pendo", "config": {"api_key": "k", "integration_key": "ik"}})),
    )
    .await;
    let (_, t) = login(&node, "vi@example.com", PASSWORD).await;
    let access = t["access_token"].as_str().unwrap();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let req = hyper::Request::get(format!(
        "http://{}/v1/admin/integrations/{}/events",
        node.admin_addr,
        installed["id"].as_str().unwrap()
    ))
    .header("authorization", format!("Bearer {access}"))
    .header("accept", "text/event-stream")
    .body(Full::new(Bytes::new()))
    .unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let (status, _) = call_as(
        &node,
        "",
        "POST",
        "/v1/admin/auth/logout",
        Some(json!({"refresh_token": t["refresh_token"]})),
    )
    .await;
    assert_eq!(status, 204);
    let ended = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while let Some(Ok(_)) = body.frame().await {}
    })
    .await;
    assert!(
        ended.is_ok(),
        "the stream went on after its user signed out"
    );
}
