//! The Pendo sandbox's visitor view in Chromium (issue 16): events sent through the node, the
//! visitor found by searching its visitorId at the sandbox's own address, its activity timeline
//! (page views, track events with their properties, newest first) and metadata, its account's
//! page; and the integration page's link to it (`sandbox_url` in the API).

use super::{ONE_BROWSER, screenshot, signed_in};
use crate::harness::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_sent_through_the_node_is_found_in_the_sandbox_with_its_timeline() {
    let _one = ONE_BROWSER.lock().await;
    let (_dir, sim, edge, id) = with_pendo(&[]).await;
    let (_, integration) = edge
        .admin("GET", &format!("/v1/admin/integrations/{id}"), None)
        .await;
    let visitors = format!("{}/_sim/visitors", sim.base_url());
    assert_eq!(
        integration["sandbox_url"],
        visitors.as_str(),
        "{integration}"
    );

    // A visit: two anonymous pages, the sign-in (identify with the account, group), then a
    // feature used; all in one batch, as a tag flushes at sign-in.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let at = |s: i64| now - 60_000 + s * 1000;
    let anon = "anon-7f3a";
    let (s, v) = edge
        .ingest(
            "/v1/batch",
            json!({"batch": [
                {"type": "page", "anonymousId": anon, "name": "Home", "timestamp": at(1),
                 "properties": {"url": "https://www.example.com/", "title": "Home | Example", "path": "/"}},
                {"type": "page", "anonymousId": anon, "name": "Pricing", "timestamp": at(2),
                 "properties": {"url": "https://www.example.com/pricing", "title": "Pricing | Example", "path": "/pricing"}},
                {"type": "identify", "anonymousId": anon, "userId": "grace.hopper", "timestamp": at(3),
                 "traits": {"name": "Grace Hopper", "plan": "enterprise", "accountId": "navy", "seats": 12}},
                {"type": "group", "anonymousId": anon, "userId": "grace.hopper", "groupId": "navy", "timestamp": at(4),
                 "traits": {"industry": "defense", "employees": 5000}},
                {"type": "track", "userId": "grace.hopper", "event": "Report Exported", "timestamp": at(5),
                 "properties": {"format": "csv", "rows": 120}},
                {"type": "track", "anonymousId": "someone-else", "event": "Invite Sent", "timestamp": at(6)},
            ]}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    eventually("the events at Pendo", || {
        track_bodies(&sim).len() == 4
            && sim.items().iter().any(|i| i.route == "accounts")
            && sim.items().iter().any(|i| i.route == "visitors")
    })
    .await;

    // The link from the integration page.
    let browser = signed_in(&edge, &format!("#/integration/{id}")).await;
    browser
        .wait_text("#sandbox-link", "Open Pendo sandbox's visitors")
        .await;
    let href = browser
        .script(
            "return document.querySelector('#sandbox-link').href;",
            json!([]),
        )
        .await;
    assert_eq!(href, visitors.as_str());

    // At the sandbox: search, then the visitor's page.
    browser.goto(&visitors).await;
    let list = browser.wait_text("#visitors", "grace.hopper").await;
    assert!(list.contains("_PENDO_T_someone-else"), "{list}");
    browser.type_into("#q", "GRACE").await;
    browser.click("form[role=search] button").await;
    // The list page shows grace.hopper before the search too: wait for the searched one (up
    // to 10 s) rather than reading the old page while the form's answer loads.
    let mut found = String::new();
    for _ in 0..100 {
        found = browser.text("#visitors").await.unwrap_or_default();
        if found.contains("grace.hopper") && !found.contains("someone-else") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        found.contains("grace.hopper") && !found.contains("someone-else"),
        "the search narrows: {found}"
    );
    screenshot(&browser, "sandbox-visitors.png").await;
    browser
        .click("#visitors a[href='/_sim/visitors/grace.hopper']")
        .await;
    browser.wait_text("#visitor-id", "grace.hopper").await;
    let timeline = browser.wait_text("#timeline", "Report Exported").await;
    let order: Vec<usize> = ["Report Exported", "Pricing | Example", "Home | Example"]
        .iter()
        .map(|t| {
            timeline
                .find(t)
                .unwrap_or_else(|| panic!("{t} in {timeline}"))
        })
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "newest first, the anonymous pages under the signed-in visitor: {timeline}"
    );
    for shown in [
        "format",
        "csv",
        "rows",
        "120",
        "https://www.example.com/pricing",
    ] {
        assert!(timeline.contains(shown), "{shown} in {timeline}");
    }
    let metadata = browser.wait_text("#metadata", "Grace Hopper").await;
    assert!(
        metadata.contains("enterprise") && metadata.contains("seats"),
        "{metadata}"
    );
    assert!(
        !metadata.contains("navy"),
        "accountId is a link, not metadata: {metadata}"
    );
    screenshot(&browser, "sandbox-visitor.png").await;

    // Its account: the visitors that named it and the account metadata from group.
    browser.click("a[href='/_sim/accounts/navy']").await;
    browser.wait_text("#account-id", "navy").await;
    browser.wait_text("#account-visitors", "grace.hopper").await;
    browser.wait_text("#metadata", "defense").await;
    screenshot(&browser, "sandbox-account.png").await;
}
