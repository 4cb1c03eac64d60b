//! The demo's example site in Chromium (issue 16): `signal-edge demo`, the real binary, serves
//! a page on its own loopback port that loads the node's `datafly.js`; its buttons (sign in,
//! feature events, consent declined) reach Live Events, in the API and in the UI, and the
//! sandbox's timeline of the visitor.

use super::{ONE_BROWSER, screenshot};
use crate::demo::Demo;
use crate::harness::TOKEN;
use crate::webdriver::Browser;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Waits (up to 20 s) for a live event of `user` matching `want`; returns it.
async fn live_event(demo: &Demo, what: &str, want: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        if let Some(e) = demo.live_events().await.into_iter().find(|e| want(e)) {
            return e;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no live event {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_sites_buttons_show_up_in_live_events_and_the_visitor_timeline() {
    let _one = ONE_BROWSER.lock().await;
    let demo = Demo::start(2);
    let browser = Browser::start().await;
    browser.goto(&demo.site).await;
    browser.wait_text("#tag-state", "The tag is loaded.").await;
    let user = browser
        .script("return document.querySelector('#user').value;", json!([]))
        .await
        .as_str()
        .expect("a visitorId in the field")
        .to_owned();
    browser.click("#sign-in").await;
    browser.wait_text("#who", &user).await;
    browser.click("#export").await;
    browser.click("#decline").await;
    browser.click("#invite").await;
    browser.wait_text("#sent", "Invite Sent").await;
    screenshot(&browser, "example-site.png").await;

    let mine = |e: &Value| e["input"]["userId"] == user.as_str();
    live_event(&demo, "identify", |e| {
        mine(e) && e["type"] == "identify" && e["outcome"] == "delivered"
    })
    .await;
    let group = live_event(&demo, "group", |e| {
        // The demo's own sessions group acme-corp too: the site's carries its visitor.
        mine(e)
            && e["type"] == "group"
            && e["input"]["groupId"] == "acme-corp"
            && e["outcome"] == "delivered"
    })
    .await;
    assert_eq!(group["warnings"], json!([]), "{group}");
    let export = live_event(&demo, "Report Exported", |e| {
        mine(e) && e["event"] == "Report Exported"
    })
    .await;
    assert_eq!(export["outcome"], "delivered", "{export}");
    assert_eq!(
        export["warnings"],
        json!([]),
        "signed in, with its account: {export}"
    );
    let body: Value =
        serde_json::from_str(export["vendor_request"]["body"].as_str().unwrap_or("{}"))
            .expect("the Track body");
    assert_eq!(body["visitorId"], user.as_str(), "{body}");
    assert_eq!(body["accountId"], "acme-corp", "{body}");
    let invite = live_event(&demo, "Invite Sent", |e| {
        mine(e) && e["event"] == "Invite Sent"
    })
    .await;
    assert_eq!(invite["outcome"], "dropped", "{invite}");
    assert_eq!(invite["reason"], "consent", "{invite}");

    // In the UI's Live Events (signed in with the admin token).
    browser
        .goto(&format!("{}/#/integration/{}/live", demo.admin, demo.id))
        .await;
    browser.click("#use-token summary").await;
    browser.type_into("#token", TOKEN).await;
    browser.click("#token-form button[type=submit]").await;
    browser.wait_text("#live-state", "Live").await;
    // Filtered to the visitor: the site's last click (the demo's sessions send Invite Sent
    // too, hidden by the filter), among the 50 most recent events the page loads.
    browser.type_into("#live-visitor", &user).await;
    browser.wait_text("#live-shown", " shown").await;
    browser.wait_text("#live-events", "Invite Sent").await;

    // And in Pendo's view of the visitor, at the sandbox.
    browser.goto(&format!("{}/{}", demo.visitors, user)).await;
    browser.wait_text("#timeline", "Report Exported").await;
    browser.wait_text("#metadata", "Ada Lovelace").await;
}
