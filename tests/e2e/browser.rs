//! The management UI in headless Chromium, used as a person would: signing in, the Integration
//! Library, the install form, the integration page and Live Events, against the real binary and
//! a Pendo sandbox (`browser/people.rs`: users, roles and tokens; `browser/visitors.rs`: the
//! sandbox's visitor view; `browser/example_site.rs`: the demo's example site).
//!
//! One browser at a time (the tests take `ONE_BROWSER`): two cores do not run four Chromiums and
//! four nodes at once without making every wait a race.
//!
//! With `SIGNAL_UI_SCREENSHOTS=DIR` the tests also save the screenshots in `docs/`:
//! `SIGNAL_UI_SCREENSHOTS=docs cargo test --test e2e browser`.

use crate::harness::*;
use crate::webdriver::Browser;
use serde_json::{Value, json};

/// The integration page's charts of the last 15 minutes; Live Events' filters and grouped
/// warnings.
mod charts;
/// The demo's example site: its buttons, through datafly.js, into Live Events and the
/// sandbox's visitor timeline (issue 16).
mod example_site;
/// People and roles: signing in by email and password, invitations, what each role is offered,
/// the Users page.
mod people;
/// The first-party tag (datafly.js) and Segment's analytics-next in Chromium, into Pendo's
/// sandbox.
mod tag;
/// Amplitude through the UI (the library's vendors, its install form, its privacy rules).
mod vendors;
/// The Pendo sandbox's visitor view, and the integration page's link to it (issue 16).
mod visitors;

static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn screenshot(browser: &Browser, name: &str) {
    if let Ok(dir) = std::env::var("SIGNAL_UI_SCREENSHOTS") {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        browser.screenshot(&dir.join(name)).await;
    }
}

/// Opens the UI at `page` (a `#/...` address) and signs in with the admin token, the sign-in
/// page's second way ("Use an API token instead").
async fn signed_in(edge: &Edge, page: &str) -> Browser {
    let browser = Browser::start().await;
    browser.goto(&format!("{}/{page}", edge.admin)).await;
    browser.click("#use-token summary").await;
    browser.type_into("#token", "not-the-token").await;
    browser.click("#token-form button[type=submit]").await;
    browser
        .wait_text("#token-error", "did not accept this token")
        .await;
    browser.clear("#token").await;
    browser.type_into("#token", TOKEN).await;
    browser.click("#token-form button[type=submit]").await;
    browser
        .wait_text("nav[aria-label=Main]", "Integrations")
        .await;
    browser
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_install_flow_through_the_ui_creates_the_integration() {
    let _one = ONE_BROWSER.lock().await;
    let (_dir, _sim, edge) = with_sandbox("ik-from-the-ui", &[]).await;
    let browser = signed_in(&edge, "").await;

    // The library: a card with name, category, version and the alpha badge.
    let card = browser
        .wait_text("article.card[data-key=pendo]", "Pendo")
        .await;
    for shown in ["Analytics", "v0.1.0", "alpha", "Install", "Details"] {
        assert!(card.contains(shown), "the card shows {shown}: {card:?}");
    }
    screenshot(&browser, "library.png").await;
    // Search and the category filter ask the API and redraw.
    browser
        .type_into("#library-search", "nothing like it")
        .await;
    browser.wait_text("main", "No integration matches").await;
    browser.clear("#library-search").await;
    // Words with a space between them (sent as `q=visitor+and+account`) match the description
    // (Pendo's alone: Amplitude's and Heap's say "product analytics" too, not this).
    browser
        .type_into("#library-search", "visitor and account")
        .await;
    browser
        .wait_text("article.card[data-key=pendo]", "Pendo")
        .await;
    browser
        .click("#library-category option[value=Analytics]")
        .await;
    // The search still applies: Pendo alone, in Analytics.
    browser.wait_text("main", "1 integration").await;

    // The detail view: the event mapping and identity tables.
    browser
        .click("article.card[data-key=pendo] a[href='#/catalog/pendo']")
        .await;
    browser
        .wait_text("#event-mapping + table", "Order Completed")
        .await;
    let identity = browser.wait_text("#identity + table", "visitorId").await;
    assert!(identity.contains("accountId"), "{identity}");

    // The install form, generated from config_fields.
    browser.click("a[href='#/catalog/pendo/install']").await;
    browser.wait_text("main h1", "Install Pendo").await;
    let form = browser
        .script(
            "const r = document.querySelector('#f-config-data_region');
             const adv = document.querySelector('details.advanced');
             return {region_tag: r.tagName, region: r.value,
                     options: [...r.options].map(o => o.value),
                     advanced_open: adv.open,
                     advanced_fields: [...adv.querySelectorAll('[data-field]')].map(f => f.dataset.field),
                     labels: [...document.querySelectorAll('.field > label')].map(l => l.innerText)};",
            json!([]),
        )
        .await;
    assert_eq!(form["region_tag"], "SELECT", "{form}");
    assert_eq!(form["region"], "us", "Data Region defaults to us: {form}");
    assert_eq!(form["options"], json!(["us", "eu", "us1", "jpn", "au"]));
    assert_eq!(form["advanced_open"], false, "advanced fields are folded");
    assert_eq!(
        form["advanced_fields"],
        json!([
            "event_mapping",
            "anonymous_visitors",
            "require_consent",
            "rate_limit_per_second",
            "privacy"
        ])
    );
    let labels = form["labels"].to_string();
    for l in ["API Key", "Integration Key", "Data Region"] {
        assert!(labels.contains(l), "{l} in {labels}");
    }
    browser.type_into("#f-config-api_key", "api-key-1234").await;
    browser
        .type_into("#f-config-integration_key", "ik-from-the-ui")
        .await;
    screenshot(&browser, "install.png").await;
    browser.click("button[type=submit]").await;

    // The integration page, and the integration in the API.
    browser.wait_text("main", "Pendo is installed").await;
    browser.wait_text("#status", "active").await;
    let (_, list) = edge.admin("GET", "/v1/admin/integrations", None).await;
    let all = list["data"].as_array().expect("list");
    assert_eq!(all.len(), 1, "{list}");
    assert_eq!(all[0]["name"], "Pendo");
    assert_eq!(all[0]["config"]["data_region"], "us");
    assert_eq!(all[0]["config"]["integration_key"], "****e-ui");
    assert_eq!(all[0]["config"]["api_key"], "****1234");
    // The test button goes through to the sandbox with the key typed in the form.
    browser.click("#send-test").await;
    browser
        .wait_text("#test-result", "The test event was delivered")
        .await;

    // Disable and enable: the API follows the button.
    browser.click("main .page-head button:not(.danger)").await;
    browser.wait_text("#status", "disabled").await;
    browser
        .wait_text("#diagnosis", "Events are kept in the spool")
        .await;
    let (_, v) = edge.admin("GET", "/v1/admin/integrations", None).await;
    assert_eq!(v["data"][0]["enabled"], false, "{v}");
    browser.click("main .page-head button:not(.danger)").await;
    browser.wait_text("#status", "active").await;
    let (_, v) = edge.admin("GET", "/v1/admin/integrations", None).await;
    assert_eq!(v["data"][0]["enabled"], true, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_integration_key_shows_its_error_beside_the_field() {
    let _one = ONE_BROWSER.lock().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let edge = Edge::start(dir.path(), &[]);
    let browser = signed_in(&edge, "#/catalog/pendo/install").await;
    browser.wait_text("main h1", "Install Pendo").await;
    // From the keyboard: Enter in a field submits the form.
    browser
        .type_into("#f-config-api_key", "api-key\u{E007}")
        .await;
    let error = browser
        .wait_text(
            "[data-field=integration_key] .field-error",
            "Integration Key is required",
        )
        .await;
    assert!(
        !error.contains("API Key"),
        "only the missing field is named: {error:?}"
    );
    assert!(browser.displayed("#err-config-integration_key").await);
    let marks = browser
        .script(
            "const f = (k) => document.querySelector('#f-config-' + k);
             return {key: f('integration_key').getAttribute('aria-invalid'),
                     described: f('integration_key').getAttribute('aria-describedby'),
                     focused: document.activeElement && document.activeElement.id,
                     api: f('api_key').getAttribute('aria-invalid'),
                     api_error: !document.querySelector('#err-config-api_key').hidden};",
            json!([]),
        )
        .await;
    assert_eq!(marks["key"], "true", "{marks}");
    assert!(
        marks["described"]
            .as_str()
            .is_some_and(|d| d.contains("err-config-integration_key")),
        "{marks}"
    );
    assert_eq!(marks["focused"], "f-config-integration_key", "{marks}");
    assert_eq!(marks["api"], Value::Null, "the API key is fine: {marks}");
    assert_eq!(marks["api_error"], false);
    let (_, list) = edge.admin("GET", "/v1/admin/integrations", None).await;
    assert_eq!(list["data"], json!([]), "nothing was installed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_events_appear_without_reload_and_a_consent_drop_shows_its_reason() {
    let _one = ONE_BROWSER.lock().await;
    let (_dir, sim, edge, id) = with_pendo(&[]).await;
    let browser = signed_in(&edge, &format!("#/integration/{id}/live")).await;
    browser.wait_text("#live-state", "Live").await;
    browser
        .script("window.stillTheSamePage = true; return null;", json!([]))
        .await;

    let (s, _) = edge
        .ingest(
            "/v1/batch",
            json!({"batch": [
                {"type": "track", "userId": "u-1", "event": "Order Completed",
                 "properties": {"order_id": "o-77", "revenue": 42.5}},
                {"type": "track", "userId": "u-2", "event": "Secret Thing",
                 "context": {"consent": {"analytics": false}}},
                {"type": "identify", "userId": "u-1", "traits": {"name": "Ada", "accountId": "acme"}},
                {"type": "group", "userId": "u-1", "groupId": "acme", "traits": {"name": "Acme", "plan": "enterprise"}},
                {"type": "page", "userId": "u-1", "name": "Pricing", "properties": {"path": "/pricing"}},
            ]}),
        )
        .await;
    assert_eq!(s, 200);
    let consent = "#live-events li[data-outcome=dropped]";
    let row = browser.wait_text(consent, "Secret Thing").await;
    assert!(row.contains("consent"), "the reason is on the row: {row:?}");
    browser
        .wait_text("#live-events li[data-outcome=delivered]", "Order Completed")
        .await;
    browser.wait_text("#live-events", "user u-1").await;
    browser.wait_text("#live-events", "group acme").await;
    browser.wait_text("#live-events", "Pricing").await;
    assert_eq!(
        browser
            .script("return window.stillTheSamePage === true;", json!([]))
            .await,
        true,
        "the events came without a reload"
    );

    // Expanding rows: the input event, what was sent, Pendo's answer, the outcome.
    browser.click(&format!("{consent} button.ev-row")).await;
    let detail = browser
        .wait_text(&format!("{consent} .ev-detail"), "nothing was sent")
        .await;
    assert!(detail.contains("\"analytics\": false"), "{detail}");
    assert!(detail.contains("\"event\": \"Secret Thing\""), "{detail}");
    assert!(detail.contains("nothing was sent (consent)"), "{detail}");
    assert!(detail.contains("reason: consent"), "{detail}");
    browser
        .script(
            "const li = [...document.querySelectorAll('#live-events li[data-outcome=delivered]')]
                 .find(l => l.innerText.includes('Order Completed'));
             li.id = 'order'; return null;",
            json!([]),
        )
        .await;
    browser.click("#order button.ev-row").await;
    let detail = browser.wait_text("#order .ev-detail", "POST ").await;
    assert!(detail.contains("\"order_id\": \"o-77\""), "input: {detail}");
    assert!(
        detail.contains(&format!("POST {}/data/track", sim.base_url())),
        "{detail}"
    );
    assert!(
        detail.contains("\"event\": \"Order Completed\""),
        "{detail}"
    );
    let answer = browser
        .text("#order pre.vendor-response")
        .await
        .unwrap_or_default();
    assert!(answer.starts_with("200"), "Pendo's answer: {answer:?}");
    assert!(
        !detail.contains("\"ik\""),
        "no credentials in live events: {detail}"
    );
    browser.click("#order button.ev-row").await;
    assert!(
        !browser.displayed("#order .ev-detail").await,
        "a second click folds the row"
    );
    screenshot(&browser, "live-events.png").await;

    // The Live Events page of the sidebar: the integration chosen, its recent events listed.
    browser.click("nav[aria-label=Main] a[href='#/live']").await;
    browser.wait_text("main h1", "Live Events").await;
    let chosen = browser
        .script(
            "const s = document.querySelector('#live-integration'); return s && s.value;",
            json!([]),
        )
        .await;
    assert_eq!(chosen, id.as_str());
    browser.wait_text("#live-events", "Secret Thing").await;
    browser.wait_text("#live-events", "Order Completed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_shows_paused_and_the_fix_text() {
    let _one = ONE_BROWSER.lock().await;
    let (_dir, sim, edge) =
        with_sandbox("right-key", &[("SIGNAL_PAUSE_PROBE_MS", "600000".into())]).await;
    let id = edge
        .install(json!({"api_key": "api-key-0042", "integration_key": "wrong-key"}))
        .await;
    let browser = signed_in(&edge, &format!("#/integration/{id}")).await;
    browser.wait_text("#status", "active").await;
    edge.ingest("/v1/t", json!({"userId": "u", "event": "E"}))
        .await;
    // No reload: the page polls the integration and shows the pause when it happens.
    browser.wait_text("#status", "paused").await;
    let diagnosis = browser
        .wait_text("#diagnosis", "Pendo rejected the integration key")
        .await;
    assert!(
        diagnosis.contains(
            "Fix: Regenerate the Track API integration key in Pendo and update the integration."
        ),
        "{diagnosis}"
    );
    assert!(diagnosis.contains("Events are kept"), "{diagnosis}");
    assert!(sim.requests().is_empty());

    // The fix, through the Configuration tab: the held event goes out and the page says active.
    browser.click("#diagnosis a").await;
    browser.wait_text("main", "Save changes").await;
    let placeholder = browser
        .script(
            "return document.querySelector('#f-config-integration_key').placeholder;",
            json!([]),
        )
        .await;
    assert!(
        placeholder.as_str().is_some_and(|p| p.contains("****-key")),
        "the stored key shows only its last four: {placeholder}"
    );
    browser
        .type_into("#f-config-integration_key", "right-key")
        .await;
    browser.click("form button[type=submit]").await;
    browser.wait_text("main", "Saved").await;
    browser.wait_text("#status", "active").await;
    let (_, v) = edge
        .admin("GET", &format!("/v1/admin/integrations/{id}"), None)
        .await;
    assert_eq!(
        v["config"]["api_key"], "****0042",
        "untouched secrets stay: {v}"
    );
    crate::harness::eventually("the held event", || sim.requests().len() == 1).await;

    // My Integrations lists it.
    browser.click("a[href='#/integrations/mine']").await;
    browser.wait_text("main table", "Pendo").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_shown_with_their_reason_and_replayed_from_the_ui() {
    let _one = ONE_BROWSER.lock().await;
    let (_dir, sim, edge, id) = with_pendo(&[("SIGNAL_RETRY_MAX_ATTEMPTS", "2".into())]).await;
    sim.set_faults(failing());

    edge.ingest("/v1/t", json!({"userId": "u", "event": "Doomed"}))
        .await;
    let path = format!("/v1/admin/integrations/{id}/dead-letters");
    edge.poll(&path, |v| {
        v["data"].as_array().is_some_and(|a| a.len() == 1)
    })
    .await;
    let browser = signed_in(&edge, &format!("#/integration/{id}/dead-letters")).await;
    let listed = browser.wait_text("main table", "max_attempts").await;
    assert!(
        listed.contains("max_attempts: status_5"),
        "the reason names Pendo's 5xx: {listed}"
    );
    browser.click("main table details summary").await;
    browser.wait_text("main table pre", "Doomed").await;
    sim.set_faults(signal_sandbox::FaultPlan::default());
    browser.click("main button.primary").await;
    browser.wait_text("main", "1 replayed").await;
    browser.wait_text("main", "No dead letters").await;
    crate::harness::eventually("the replayed event at Pendo", || sim.requests().len() == 1).await;
    let (_, v) = edge.admin("GET", &path, None).await;
    assert_eq!(v["data"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_added_in_the_ui_shows_its_secret_once_and_its_key_opens_the_gateway() {
    let _one = ONE_BROWSER.lock().await;
    let (_dir, _sim, edge) = with_sandbox("ik", &[]).await;
    let browser = signed_in(&edge, "#/sources").await;
    browser.wait_text("main h1", "Sources").await;
    // A bad rate limit is named beside its field, and nothing is added.
    browser.type_into("#f-name", "Marketing site").await;
    browser
        .type_into("#f-allowed_origins", "https://www.example.com")
        .await;
    browser.type_into("#f-rate_limit_per_second", "0").await;
    browser.click("form button[type=submit]").await;
    browser
        .wait_text(
            "#err-rate_limit_per_second",
            "Rate limit (events/s) must be an integer of at least 1",
        )
        .await;
    browser.clear("#f-rate_limit_per_second").await;
    browser.type_into("#f-rate_limit_per_second", "250").await;
    browser.click("form button[type=submit]").await;
    let secret = browser.wait_text("#new-secret", "").await;
    assert!(secret.len() >= 32, "the whole secret is shown: {secret:?}");
    let row = browser.wait_text("main table", "Marketing site").await;
    assert!(row.contains("https://www.example.com"), "{row}");
    assert!(row.contains("250 events/s"), "{row}");

    let (_, v) = edge.admin("GET", "/v1/admin/sources", None).await;
    let made = v["data"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == "Marketing site"))
        .cloned()
        .expect("the source in the API");
    assert_eq!(
        made["secret"].as_str().map(|m| &m[4..]),
        Some(&secret[secret.len() - 4..]),
        "the secret shown once is the source's: {made}"
    );
    let key = made["pipeline_key"].as_str().expect("key");
    assert!(row.contains(key), "the key is listed: {row}");
    screenshot(&browser, "sources.png").await;
    let (status, _) = edge
        .ingest_as(
            key,
            "/v1/t",
            json!({"userId": "u", "event": "From the new source"}),
        )
        .await;
    assert_eq!(status, 200, "the new key opens the gateway");

    // Removed from the UI (after the confirmation), its key is refused.
    browser
        .click("button[aria-label='Remove Marketing site']")
        .await;
    browser.accept_dialog().await;
    browser
        .wait_text("main", "Marketing site was removed")
        .await;
    let (status, _) = edge
        .ingest_as(
            key,
            "/v1/t",
            json!({"userId": "u", "event": "After removal"}),
        )
        .await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_jetstream_the_integration_page_shows_each_nodes_part() {
    let _one = ONE_BROWSER.lock().await;
    let nats = crate::jetstream::nats_server::NatsServer::start();
    let (sim, _subs) = sandbox("us", "ik").await;
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let a = crate::jetstream::node_on(&nats, dir_a.path(), &sim, &[]).await;
    let b = crate::jetstream::node_on(&nats, dir_b.path(), &sim, &[]).await;
    let id = a
        .install(json!({"api_key": "a", "integration_key": "ik", "rate_limit_per_second": 1000}))
        .await;
    // B takes it up, and both count each other (a heartbeat a second).
    b.poll(&format!("/v1/admin/integrations/{id}"), |v| {
        v["id"] == id.as_str()
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    for (n, e) in [&a, &b].into_iter().enumerate() {
        let batch: Vec<Value> = (0..50)
            .map(|i| json!({"type": "track", "userId": "u", "event": "E", "messageId": format!("{n}-{i}")}))
            .collect();
        assert_eq!(e.ingest("/v1/batch", json!({"batch": batch})).await.0, 200);
    }
    eventually("100 events at Pendo", || track_bodies(&sim).len() >= 100).await;
    let browser = signed_in(&b, "").await;
    browser
        .script(
            "location.hash = arguments[0]",
            json!([format!("#/integration/{id}")]),
        )
        .await;
    let shown = browser.wait_text("#nodes", "2 of 2 answered").await;
    assert!(shown.contains("node_"), "{shown}");
    assert!(!shown.contains("null"), "nothing missing is drawn: {shown}");
    let rows = browser
        .script(
            "return document.querySelectorAll('#nodes tbody tr').length",
            json!([]),
        )
        .await;
    assert_eq!(rows, 2, "a row per node: {shown}");
    screenshot(&browser, "integration-nodes.png").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_page_shows_who_changed_what_and_filters_by_action() {
    let _one = ONE_BROWSER.lock().await;
    let (_dir, _sim, edge, id) = with_pendo(&[]).await;
    let (s, _) = edge
        .admin(
            "PATCH",
            &format!("/v1/admin/integrations/{id}"),
            Some(json!({"name": "Pendo EU", "config": {"api_key": "a-secret-never-shown"}})),
        )
        .await;
    assert_eq!(s, 200);
    edge.add_source("Billing backend").await;
    let browser = signed_in(&edge, "").await;
    browser.click("a[href='#/audit']").await;
    let shown = browser.wait_text("#audit", "integration.updated").await;
    for want in [
        "integration.installed",
        "source.created",
        "admin-token",
        "Pendo EU",
        "config.api_key",
    ] {
        assert!(shown.contains(want), "the page shows {want}: {shown}");
    }
    assert!(
        !shown.contains("a-secret-never-shown"),
        "secrets masked: {shown}"
    );
    screenshot(&browser, "audit-log.png").await;
    browser.click("#audit-action option[value='source.']").await;
    let filtered = browser.wait_text("#audit", "source.created").await;
    assert!(
        !filtered.contains("integration."),
        "only source changes: {filtered}"
    );
}
