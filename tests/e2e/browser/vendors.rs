//! The UI with a vendor other than Pendo: the library lists every vendor of the catalog, and
//! Amplitude installs through its own form (a secret key, region and page-name choices, an
//! integer with a minimum, the privacy rules in the advanced settings), then delivers to an
//! Amplitude sandbox with those privacy rules applied; every page names Amplitude, not Pendo.

use super::{ONE_BROWSER, screenshot, signed_in};
use crate::harness::*;
use serde_json::{Value, json};
use sha2::Digest as _;
use signal_sandbox::{Fixture, Sim, Subscriptions};

const AMPLITUDE_KEY: &str = "amp-key-0001";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amplitude_installs_through_the_ui_with_a_privacy_rule_from_the_advanced_settings() {
    let _one = ONE_BROWSER.lock().await;
    let subs = Subscriptions::new();
    subs.add(AMPLITUDE_KEY, "us");
    let fixture = Fixture::builtin("amplitude").expect("amplitude fixture");
    let sim = Sim::start_fixture(fixture, "us", subs)
        .await
        .expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let edge = Edge::start(
        dir.path(),
        &[("SIGNAL_AMPLITUDE_BASE_URL_US", sim.base_url())],
    );
    let browser = signed_in(&edge, "").await;

    // The library lists every vendor of the catalog.
    for (key, name) in [
        ("pendo", "Pendo"),
        ("amplitude", "Amplitude"),
        ("heap", "Heap"),
    ] {
        browser
            .wait_text(&format!("article.card[data-key={key}]"), name)
            .await;
    }
    // Amplitude's own tables name Amplitude.
    browser
        .click("article.card[data-key=amplitude] a[href='#/catalog/amplitude']")
        .await;
    // (Table headers are shown in capitals: their text is compared in lower case.)
    let mapping = browser
        .wait_text("#event-mapping + table", "[Amplitude] Page Viewed")
        .await
        .to_lowercase();
    assert!(mapping.contains("amplitude event"), "{mapping}");
    assert!(!mapping.contains("pendo"), "{mapping}");
    let identity = browser
        .wait_text("#identity + table", "user_id")
        .await
        .to_lowercase();
    assert!(identity.contains("amplitude field"), "{identity}");

    // The install form, generated from Amplitude's config_fields.
    browser.click("a[href='#/catalog/amplitude/install']").await;
    browser.wait_text("main h1", "Install Amplitude").await;
    let form = browser
        .script(
            "const q = (k) => document.querySelector('#f-config-' + k);
             const adv = document.querySelector('details.advanced');
             return {key_type: q('api_key').type, region: [...q('data_region').options].map(o => o.value),
                     page_tag: q('page_event_name').tagName, min_id: q('min_id_length').min,
                     consent: q('require_consent').type, privacy_tag: q('privacy').tagName,
                     privacy_placeholder: q('privacy').placeholder, advanced_open: adv.open,
                     advanced: [...adv.querySelectorAll('[data-field]')].map(f => f.dataset.field),
                     privacy_help: adv.querySelector('[data-field=privacy]').textContent};",
            json!([]),
        )
        .await;
    assert_eq!(
        form["key_type"], "password",
        "the API key is a secret: {form}"
    );
    assert_eq!(form["region"], json!(["us", "eu"]), "{form}");
    assert_eq!(form["page_tag"], "SELECT", "a choice: {form}");
    assert_eq!(form["min_id"], "1", "{form}");
    assert_eq!(form["consent"], "checkbox", "{form}");
    assert_eq!(form["privacy_tag"], "TEXTAREA", "{form}");
    assert_eq!(form["advanced_open"], false, "advanced fields are folded");
    let advanced = form["advanced"].as_array().expect("advanced fields");
    assert!(advanced.contains(&json!("privacy")), "{form}");
    assert!(!advanced.contains(&json!("api_key")), "{form}");
    let help = form["privacy_help"].as_str().unwrap_or_default();
    // (Folded away, it has no rendered text: its textContent is read.)
    for needle in ["\"hash\"", "\"remove\"", "SHA-256", "context.ip"] {
        assert!(
            help.contains(needle),
            "the privacy help explains {needle}: {help}"
        );
    }
    assert!(
        form["privacy_placeholder"]
            .as_str()
            .is_some_and(|p| p.contains("\"hash\"")),
        "{form}"
    );

    browser.type_into("#f-config-api_key", AMPLITUDE_KEY).await;
    browser.click("details.advanced summary").await;
    let rules = json!({"hash": ["userId"], "remove": ["properties.card"]});
    browser
        .type_into("#f-config-privacy", &rules.to_string())
        .await;
    screenshot(&browser, "install-amplitude.png").await;
    browser.click("form button[type=submit]").await;

    // The integration page, and the integration in the API with the privacy rule.
    browser.wait_text("main", "Amplitude is installed").await;
    browser.wait_text("#status", "active").await;
    let (_, list) = edge.admin("GET", "/v1/admin/integrations", None).await;
    let all = list["data"].as_array().expect("list");
    assert_eq!(all.len(), 1, "{list}");
    assert_eq!(all[0]["blueprint"], "amplitude");
    assert_eq!(all[0]["config"]["api_key"], "****0001");
    assert_eq!(all[0]["config"]["privacy"], rules);
    let id = all[0]["id"].as_str().expect("id").to_owned();

    // The test button names Amplitude's answer.
    browser.click("#send-test").await;
    browser
        .wait_text("#test-result", "Amplitude answered 200.")
        .await;

    // An event goes out with the rule applied: the user id hashed, the card number removed.
    let (status, _) = edge
        .ingest(
            "/v1/t",
            json!({"userId": "user-12345", "event": "Paid",
                   "properties": {"card": "4111", "plan": "pro"}}),
        )
        .await;
    assert_eq!(status, 200);
    let paid = || -> Option<Value> {
        sim.items()
            .into_iter()
            .map(|i| i.item)
            .find(|i| i["event_type"] == "Paid")
    };
    eventually("the event at Amplitude", || paid().is_some()).await;
    let sent = paid().unwrap_or_default();
    let hashed: String = sha2::Sha256::digest(b"user-12345")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(sent["user_id"], hashed.as_str(), "{sent}");
    assert_eq!(sent["event_properties"]["plan"], "pro", "{sent}");
    assert!(sent["event_properties"].get("card").is_none(), "{sent}");

    // The dead-letter page speaks of Amplitude too.
    browser
        .click(&format!("a[href='#/integration/{id}/dead-letters']"))
        .await;
    browser
        .wait_text("main", "Events that Amplitude refuses for good")
        .await;
}
