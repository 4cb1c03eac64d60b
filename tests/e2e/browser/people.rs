//! People and roles in the UI (issue 15): signing in with email and password (a wrong one, a
//! locked account, the refresh, signing out), an invitation link becoming an account, what each
//! role is offered (controls a role may not use are not drawn), and the Users page as an admin:
//! a user added with an invitation, a role changed, a token created, shown once and revoked.

use super::{ONE_BROWSER, screenshot, signed_in};
use crate::harness::*;
use crate::webdriver::Browser;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

/// A user made through the API with the admin token (owner-level), with `PASSWORD`.
async fn add_user(edge: &Edge, email: &str, role: &str) -> Value {
    let (s, v) = edge
        .admin(
            "POST",
            "/v1/admin/users",
            Some(json!({"email": email, "role": role, "password": PASSWORD})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    v["user"].clone()
}

/// Fills the sign-in form and sends it.
async fn sign_in(browser: &Browser, email: &str, password: &str) {
    browser.clear("#f-email").await;
    browser.clear("#f-password").await;
    browser.type_into("#f-email", email).await;
    browser.type_into("#f-password", password).await;
    browser.click("#signin-form button[type=submit]").await;
}

/// A browser on `page`, signed in as `email` through the sign-in form.
async fn signed_in_as(edge: &Edge, page: &str, email: &str) -> Browser {
    let browser = Browser::start().await;
    browser.goto(&format!("{}/{page}", edge.admin)).await;
    sign_in(&browser, email, PASSWORD).await;
    browser.wait_text("#who", email).await;
    browser
}

/// What the page keeps in session storage.
async fn kept(browser: &Browser) -> Value {
    browser
        .script(
            "return JSON.parse(sessionStorage.getItem('signal-edge.session'));",
            json!([]),
        )
        .await
}

async fn me(edge: &Edge, bearer: &str) -> (u16, Value) {
    edge.call(
        "GET",
        &format!("{}/v1/admin/auth/me", edge.admin),
        Some(&format!("Bearer {bearer}")),
        None,
    )
    .await
}

async fn goto_hash(browser: &Browser, hash: &str) {
    browser
        .script("location.hash = arguments[0]; return null;", json!([hash]))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_by_email_shows_who_and_the_role_and_signing_out_ends_the_session() {
    let _one = ONE_BROWSER.lock().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let edge = Edge::start(dir.path(), &[]);
    add_user(&edge, "ada@example.com", "editor").await;
    let browser = Browser::start().await;
    browser.goto(&format!("{}/#/sources", edge.admin)).await;
    browser.wait_text(".signin h1", "signal-edge").await;
    browser.type_into("#f-email", "ada@example.com").await;
    browser.type_into("#f-password", "a guess").await;
    screenshot(&browser, "sign-in.png").await;

    // A wrong password says so, without saying which of the two is wrong.
    browser.click("#signin-form button[type=submit]").await;
    browser
        .wait_text("#signin-result", "Email or password is wrong")
        .await;
    assert_eq!(kept(&browser).await, Value::Null, "not signed in");

    // The right one: the page asked for, and who is signed in with their role in the sidebar.
    sign_in(&browser, "ada@example.com", PASSWORD).await;
    let who = browser.wait_text("#who", "ada@example.com").await;
    assert!(who.contains("editor"), "the role is shown: {who:?}");
    browser.wait_text("main h1", "Sources").await;
    let session = kept(&browser).await;
    let access = session["access"].as_str().expect("an access token");
    assert!(session["refresh"].is_string(), "{session}");
    let (s, v) = me(&edge, access).await;
    assert_eq!(
        (s, v["actor"].as_str()),
        (200, Some("ada@example.com")),
        "{v}"
    );

    // The refresh trades the pair for a new one, and the page goes on with it.
    let refreshed = browser.script("return refreshSession();", json!([])).await;
    assert_eq!(refreshed, true);
    let after = kept(&browser).await;
    assert_ne!(after["refresh"], session["refresh"], "a new refresh token");
    goto_hash(&browser, "#/users").await;
    browser.wait_text("main h1", "Users").await;
    browser.wait_text("#users", "ada@example.com").await;

    // An access token the node no longer takes: the 401 refreshes the session once and the page
    // loads all the same.
    browser
        .script(
            "const s = JSON.parse(sessionStorage.getItem('signal-edge.session'));
             s.access = 'not-a-token-any-more';
             sessionStorage.setItem('signal-edge.session', JSON.stringify(s)); return null;",
            json!([]),
        )
        .await;
    goto_hash(&browser, "#/audit").await;
    browser.wait_text("#audit", "auth.login").await;
    let after = kept(&browser).await;
    assert_ne!(after["access"], "not-a-token-any-more", "{after}");
    assert_eq!(
        me(&edge, after["access"].as_str().unwrap_or("")).await.0,
        200
    );

    // Signing out ends the session at the server: its access token stops working at once.
    let access = after["access"].as_str().expect("access").to_owned();
    assert_eq!(me(&edge, &access).await.0, 200);
    browser.click("#sign-out").await;
    browser.wait_text(".signin h1", "signal-edge").await;
    assert_eq!(kept(&browser).await, Value::Null);
    eventually_status(&edge, &access, 401).await;
}

/// Waits until `GET /auth/me` with `bearer` answers `status` (the logout is sent as the page
/// changes, not awaited by it).
async fn eventually_status(edge: &Edge, bearer: &str, status: u16) {
    for _ in 0..100 {
        if me(edge, bearer).await.0 == status {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("GET /auth/me never answered {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_account_says_so_and_an_admin_unlocks_it_on_the_users_page() {
    let _one = ONE_BROWSER.lock().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let edge = Edge::start(dir.path(), &[]);
    add_user(&edge, "bob@example.com", "viewer").await;
    // Five wrong passwords lock the account (the fifth answer says so).
    for n in 1..=5 {
        let (s, v) = edge
            .call(
                "POST",
                &format!("{}/v1/admin/auth/login", edge.admin),
                None,
                Some(json!({"email": "bob@example.com", "password": "not it at all"})),
            )
            .await;
        assert_eq!(s, if n < 5 { 401 } else { 423 }, "{v}");
    }
    let bob = Browser::start().await;
    bob.goto(&format!("{}/", edge.admin)).await;
    sign_in(&bob, "bob@example.com", PASSWORD).await;
    let locked = bob
        .wait_text("#signin-result", "This account is locked")
        .await;
    assert!(locked.contains("unlock"), "{locked}");
    drop(bob);

    let admin = signed_in(&edge, "#/users").await;
    let row = admin
        .wait_text("#users tr[data-email='bob@example.com']", "locked until")
        .await;
    assert!(row.contains("viewer"), "{row}");
    admin
        .click("button[aria-label='Unlock bob@example.com']")
        .await;
    admin.wait_text("main", "bob@example.com is unlocked").await;
    let row = admin
        .wait_text("#users tr[data-email='bob@example.com']", "active")
        .await;
    assert!(!row.contains("locked"), "{row}");
    drop(admin);

    let bob = signed_in_as(&edge, "", "bob@example.com").await;
    bob.wait_text("#who", "viewer").await;
}

/// What the signed-in role is offered on each page: the integration's head, its tabs, the
/// library, sources and users.
async fn offered(browser: &Browser, id: &str) -> Value {
    let buttons = "return [...document.querySelectorAll('main button, main a.button')]
                       .filter(b => b.offsetParent !== null).map(b => b.innerText.trim());";
    goto_hash(browser, &format!("#/integration/{id}")).await;
    browser.wait_text("#stats", "Dead-lettered").await;
    let overview = browser.script(buttons, json!([])).await;
    goto_hash(browser, &format!("#/integration/{id}/dead-letters")).await;
    browser.wait_text("main table", "max_attempts").await;
    let dead_letters = browser
        .script(
            "return {buttons: [...document.querySelectorAll('main .actions.spaced button')].map(b => b.innerText.trim()),
                     boxes: document.querySelectorAll('main table input[type=checkbox]').length};",
            json!([]),
        )
        .await;
    goto_hash(browser, &format!("#/integration/{id}/config")).await;
    browser
        .wait_text("main [data-field=api_key]", "API Key")
        .await;
    let config = browser
        .script(
            "return {form: !!document.querySelector('main form'), read: !!document.querySelector('#config-read')};",
            json!([]),
        )
        .await;
    goto_hash(browser, "#/integrations/library").await;
    browser
        .wait_text("article.card[data-key=pendo]", "Pendo")
        .await;
    let install = browser
        .script(
            "return document.querySelectorAll(\"a[href$='/install']\").length;",
            json!([]),
        )
        .await;
    goto_hash(browser, "#/sources").await;
    browser.wait_text("main table", "Web").await;
    let sources = browser
        .script(
            "return {add: !!document.querySelector('#f-name'), remove: document.querySelectorAll('main table button.danger').length};",
            json!([]),
        )
        .await;
    goto_hash(browser, "#/users").await;
    browser.wait_text("#users", "@example.com").await;
    let users = browser
        .script(
            "const roles = document.querySelector('#f-role');
             return {add_user: !!document.querySelector('#add-user'), add_token: !!document.querySelector('#add-token'),
                     roles: roles ? [...roles.options].map(o => o.value) : null,
                     remove: document.querySelectorAll('#users button.danger').length};",
            json!([]),
        )
        .await;
    json!({"overview": overview, "dead_letters": dead_letters, "config": config,
           "install_links": install, "sources": sources, "users": users})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_is_offered_only_what_it_may_do() {
    let _one = ONE_BROWSER.lock().await;
    let (_dir, _sim, edge, id) =
        with_dead_letters(&[("SIGNAL_RETRY_MAX_ATTEMPTS", "1".into())], [doomed(0)]).await;
    edge.add_source("Web").await;
    for role in ["viewer", "editor", "admin", "owner"] {
        add_user(&edge, &format!("{role}@example.com"), role).await;
    }

    let viewer = signed_in_as(&edge, "", "viewer@example.com").await;
    viewer.wait_text("#who", "viewer").await;
    let seen = offered(&viewer, &id).await;
    let overview = seen["overview"].to_string();
    for hidden in ["Disable", "Enable", "Remove", "Send test event"] {
        assert!(
            !overview.contains(hidden),
            "a viewer sees no {hidden}: {seen}"
        );
    }
    assert_eq!(
        seen["dead_letters"],
        json!({"buttons": [], "boxes": 0}),
        "{seen}"
    );
    assert_eq!(
        seen["config"],
        json!({"form": false, "read": true}),
        "{seen}"
    );
    assert_eq!(seen["install_links"], 0, "{seen}");
    assert_eq!(
        seen["sources"],
        json!({"add": false, "remove": 0}),
        "{seen}"
    );
    assert_eq!(
        seen["users"],
        json!({"add_user": false, "add_token": false, "roles": null, "remove": 0}),
        "{seen}"
    );
    // Not even by its address: the install page says what it needs.
    goto_hash(&viewer, "#/catalog/pendo/install").await;
    viewer
        .wait_text("main", "This needs the editor role or higher")
        .await;
    assert_eq!(
        viewer
            .script("return !!document.querySelector('main form');", json!([]))
            .await,
        false
    );
    drop(viewer);

    let editor = signed_in_as(&edge, "", "editor@example.com").await;
    let seen = offered(&editor, &id).await;
    let overview = seen["overview"].to_string();
    for shown in ["Disable", "Send test event"] {
        assert!(overview.contains(shown), "an editor sees {shown}: {seen}");
    }
    assert!(
        !overview.contains("Remove"),
        "no Remove for an editor: {seen}"
    );
    assert_eq!(
        seen["dead_letters"],
        json!({"buttons": ["Replay selected", "Replay all"], "boxes": 1}),
        "{seen}"
    );
    assert_eq!(
        seen["config"],
        json!({"form": true, "read": false}),
        "{seen}"
    );
    assert_eq!(seen["install_links"], 3, "one per vendor: {seen}");
    assert_eq!(
        seen["sources"],
        json!({"add": false, "remove": 0}),
        "{seen}"
    );
    assert_eq!(seen["users"]["add_user"], false, "{seen}");
    drop(editor);

    let admin = signed_in_as(&edge, "", "admin@example.com").await;
    let seen = offered(&admin, &id).await;
    let overview = seen["overview"].to_string();
    for shown in ["Disable", "Remove", "Send test event"] {
        assert!(overview.contains(shown), "an admin sees {shown}: {seen}");
    }
    assert_eq!(
        seen["dead_letters"],
        json!({"buttons": ["Replay selected", "Replay all", "Purge all"], "boxes": 1}),
        "{seen}"
    );
    // The default source and Web.
    assert_eq!(seen["sources"], json!({"add": true, "remove": 2}), "{seen}");
    // Admins manage editors and viewers only: no admin or owner role offered, and only the
    // viewer's and the editor's rows can be removed.
    assert_eq!(
        seen["users"],
        json!({"add_user": true, "add_token": true, "roles": ["editor", "viewer"], "remove": 2}),
        "{seen}"
    );
    drop(admin);

    let owner = signed_in_as(&edge, "", "owner@example.com").await;
    let seen = offered(&owner, &id).await;
    assert_eq!(
        seen["users"]["roles"],
        json!(["owner", "admin", "editor", "viewer"]),
        "{seen}"
    );
    assert_eq!(seen["users"]["remove"], 4, "{seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_adds_a_user_by_invitation_and_creates_a_token_on_the_users_page() {
    let _one = ONE_BROWSER.lock().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let edge = Edge::start(dir.path(), &[]);
    add_user(&edge, "root@example.com", "admin").await;
    add_user(&edge, "ada@example.com", "viewer").await;
    let browser = signed_in_as(&edge, "#/users", "root@example.com").await;
    browser.wait_text("main h1", "Users").await;

    // A user added without a password gets an invitation link, shown once.
    browser.type_into("#f-email", "new@example.com").await;
    browser.click("#f-role option[value=editor]").await;
    browser.click("#add-user button[type=submit]").await;
    let link = browser.wait_text("#invite-link", "/#/invite/").await;
    assert!(link.starts_with(&edge.admin), "{link}");
    let row = browser
        .wait_text("#users tr[data-email='new@example.com']", "editor")
        .await;
    assert!(row.contains("invited"), "{row}");
    let (_, users) = edge.admin("GET", "/v1/admin/users", None).await;
    let new = users["data"]
        .as_array()
        .and_then(|a| a.iter().find(|u| u["email"] == "new@example.com"))
        .cloned()
        .expect("the new user in the API");
    assert_eq!(
        (&new["role"], &new["invited"]),
        (&json!("editor"), &json!(true)),
        "{new}"
    );

    // A token: its whole value once, then masked in the list.
    browser.type_into("#f-token_name", "ci").await;
    browser.click("#f-token_role option[value=viewer]").await;
    browser.click("#add-token button[type=submit]").await;
    let token = browser.wait_text("#new-token", "sat_").await;
    let listed = browser.wait_text("#tokens", "ci").await;
    assert!(listed.contains(&token[token.len() - 4..]), "{listed}");
    assert!(!listed.contains(&token), "the list masks it: {listed}");
    screenshot(&browser, "users.png").await;
    let read = |t: String| {
        let edge = &edge;
        async move {
            edge.call(
                "GET",
                &format!("{}/v1/admin/integrations", edge.admin),
                Some(&format!("Bearer {t}")),
                None,
            )
            .await
            .0
        }
    };
    assert_eq!(read(token.clone()).await, 200, "the token reads");
    let (s, v) = edge
        .call(
            "POST",
            &format!("{}/v1/admin/sources", edge.admin),
            Some(&format!("Bearer {token}")),
            Some(json!({"name": "Not for a viewer"})),
        )
        .await;
    assert_eq!(s, 403, "a viewer token adds no source: {v}");

    // A role changed from its select, then the user removed.
    browser
        .click("select[aria-label='Role of ada@example.com'] option[value=editor]")
        .await;
    browser
        .wait_text("main", "ada@example.com is now editor")
        .await;
    let (_, users) = edge.admin("GET", "/v1/admin/users", None).await;
    let ada = users["data"]
        .as_array()
        .and_then(|a| a.iter().find(|u| u["email"] == "ada@example.com"))
        .cloned()
        .expect("ada");
    assert_eq!(ada["role"], "editor", "{ada}");
    browser
        .click("button[aria-label='Remove ada@example.com']")
        .await;
    browser.accept_dialog().await;
    browser
        .wait_text("main", "ada@example.com was removed")
        .await;
    assert!(
        !browser
            .text("#users")
            .await
            .unwrap_or_default()
            .contains("ada@"),
        "gone from the list"
    );

    // The token signs in too, as the sign-in page's second way: the sidebar names it.
    let ci = Browser::start().await;
    ci.goto(&format!("{}/", edge.admin)).await;
    ci.click("#use-token summary").await;
    ci.type_into("#token", &token).await;
    ci.click("#token-form button[type=submit]").await;
    let who = ci.wait_text("#who", "token:ci").await;
    assert!(who.contains("viewer"), "{who}");
    drop(ci);

    // The audit log names who did each change, and shows one person's alone.
    goto_hash(&browser, "#/audit").await;
    let all = browser.wait_text("#audit", "token.created").await;
    assert!(
        all.contains("admin-token"),
        "the users added through the API: {all}"
    );
    browser
        .type_into("#audit-actor", "root@example.com\u{E007}")
        .await;
    let mut shown = String::new();
    for _ in 0..100 {
        shown = browser.text("#audit").await.unwrap_or_default();
        if !shown.contains("admin-token") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for want in [
        "root@example.com",
        "token.created",
        "user.created",
        "auth.login",
    ] {
        assert!(shown.contains(want), "{want} in {shown}");
    }
    assert!(!shown.contains("admin-token"), "one actor only: {shown}");
    goto_hash(&browser, "#/users").await;
    browser.wait_text("#tokens", "ci").await;

    // Revoked, the token stops working.
    browser.click("button[aria-label='Revoke ci']").await;
    browser.accept_dialog().await;
    browser.wait_text("main", "ci was revoked").await;
    assert_eq!(read(token).await, 401, "a revoked token is refused");

    // The invitation link: the new person picks a password and is signed in as an editor.
    browser.click("#sign-out").await;
    browser.wait_text(".signin h1", "signal-edge").await;
    browser.goto(&link).await;
    browser
        .wait_text("main h1, .signin h1", "Join signal-edge")
        .await;
    browser.type_into("#f-email", "new@example.com").await;
    browser.type_into("#f-password", PASSWORD).await;
    browser
        .type_into("#f-repeat", "something else entirely")
        .await;
    browser.click("#invite-form button[type=submit]").await;
    browser
        .wait_text("#err-repeat", "is not the same password")
        .await;
    browser.clear("#f-repeat").await;
    browser.type_into("#f-repeat", PASSWORD).await;
    browser.click("#invite-form button[type=submit]").await;
    let who = browser.wait_text("#who", "new@example.com").await;
    assert!(who.contains("editor"), "{who}");
    browser.wait_text("main", "your account is ready").await;
    // Used once, the link does not work again.
    let (s, _) = edge
        .call(
            "POST",
            &format!("{}/v1/admin/auth/invitation", edge.admin),
            None,
            Some(json!({"token": link.rsplit('/').next().unwrap_or(""), "email": "new@example.com", "password": PASSWORD})),
        )
        .await;
    assert_eq!(s, 401);
}
