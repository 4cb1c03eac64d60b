//! The visitor view from accepted items: timelines newest first, metadata merged, accounts and
//! their visitors, search, escaping, and ids in links and paths.

use super::*;
use serde_json::json;

fn item(route: &str, item: Value, at_ms: u64) -> AcceptedItem {
    AcceptedItem {
        route: route.into(),
        index: 0,
        item,
        at_ms,
    }
}

fn track(visitor: &str, account: Option<&str>, event: &str, ts: u64, props: Value) -> AcceptedItem {
    let mut v = json!({"type": "track", "event": event, "visitorId": visitor, "timestamp": ts,
                       "properties": props, "context": {"url": "https://app.example.com/x", "title": "X"}});
    if let Some(a) = account {
        v["accountId"] = a.into();
    }
    item("track", v, ts + 5)
}

fn sample() -> Vec<AcceptedItem> {
    vec![
        track(
            "_PENDO_T_anon-1",
            None,
            "page_view",
            1_000,
            json!({"url": "https://app.example.com/", "title": "Home"}),
        ),
        track(
            "user-1",
            Some("acme"),
            "page_view",
            2_000,
            json!({"url": "https://app.example.com/pricing", "title": "Pricing"}),
        ),
        item(
            "visitors",
            json!({"visitorId": "user-1", "values": {"plan": "pro", "seats": 3}}),
            2_100,
        ),
        item(
            "accounts",
            json!({"accountId": "acme", "values": {"industry": "saas"}}),
            2_200,
        ),
        // Arrives later but happened earlier: the timeline goes by the event's timestamp.
        track(
            "user-1",
            Some("acme"),
            "Report Exported",
            1_500,
            json!({"format": "csv", "rows": 120}),
        ),
        item(
            "visitors",
            json!({"visitorId": "user-1", "values": {"plan": "enterprise"}}),
            3_000,
        ),
        track("user-2", Some("acme"), "Invite Sent", 2_500, json!({})),
    ]
}

#[test]
fn a_visitor_has_its_events_newest_first_and_its_metadata_merged() {
    let p = People::from_items(&sample());
    let v = &p.visitors["user-1"];
    let names: Vec<_> = v.events.iter().map(|a| a.event.as_str()).collect();
    assert_eq!(names, ["page_view", "Report Exported"]);
    assert_eq!(v.values["plan"], "enterprise", "a later record wins");
    assert_eq!(v.values["seats"], 3, "and keeps the fields it did not name");
    assert_eq!(v.account.as_deref(), Some("acme"));
    let acme = &p.accounts["acme"];
    assert_eq!(acme.values["industry"], "saas");
    assert_eq!(
        acme.visitors.iter().collect::<Vec<_>>(),
        ["user-1", "user-2"]
    );
}

#[test]
fn the_visitor_page_shows_the_timeline_properties_and_metadata() {
    let (status, html) = page("pendo", true, &sample(), "/_sim/visitors/user-1", None);
    assert_eq!(status, 200);
    let pricing = html.find("Pricing").expect("the page view");
    let export = html.find("Report Exported").expect("the track event");
    assert!(pricing < export, "newest first");
    for shown in [
        "Page view",
        "https://app.example.com/pricing",
        "Track event",
        ">format<",
        ">csv<",
        ">rows<",
        ">120<",
        ">enterprise<",
        ">seats<",
    ] {
        assert!(html.contains(shown), "{shown} in {html}");
    }
    assert!(html.contains("href=\"/_sim/accounts/acme\""), "{html}");
    assert!(
        html.contains("1970-01-01 00:00:02 UTC"),
        "the event's time: {html}"
    );
    assert!(!html.contains("<script"), "no script");
}

#[test]
fn the_list_searches_by_visitor_id_and_the_account_page_lists_its_visitors() {
    let items = sample();
    let (_, all) = page("pendo", true, &items, "/_sim/visitors", None);
    for id in ["_PENDO_T_anon-1", "user-1", "user-2"] {
        assert!(all.contains(&format!(">{id}</a>")), "{id} listed: {all}");
    }
    assert!(all.contains("3 visitors, 1 account."), "{all}");
    let (_, found) = page("pendo", true, &items, "/_sim/visitors", Some("q=USER-2"));
    assert!(found.contains(">user-2</a>"), "{found}");
    assert!(!found.contains(">user-1</a>"), "{found}");
    assert!(
        found.contains("value=\"USER-2\""),
        "the search is kept in its field"
    );
    let (_, none) = page("pendo", true, &items, "/_sim/visitors", Some("q=nobody"));
    assert!(none.contains("No visitor matches “nobody”"), "{none}");

    let (s, acme) = page("pendo", true, &items, "/_sim/accounts/acme", None);
    assert_eq!(s, 200);
    assert!(
        acme.contains("2 visitors") && acme.contains(">industry<"),
        "{acme}"
    );
    assert!(acme.contains("href=\"/_sim/visitors/user-2\""), "{acme}");
}

#[test]
fn an_account_page_lists_its_most_recently_active_visitors_up_to_the_list_size() {
    let items: Vec<AcceptedItem> = (0..SHOWN as u64 + 5)
        .map(|n| {
            track(
                &format!("v-{n}"),
                Some("big"),
                "Clicked",
                1_000 + n,
                json!({}),
            )
        })
        .collect();
    let (s, big) = page("pendo", true, &items, "/_sim/accounts/big", None);
    assert_eq!(s, 200);
    assert_eq!(
        big.matches("href=\"/_sim/visitors/v-").count(),
        SHOWN,
        "{big}"
    );
    let newest = format!("/_sim/visitors/v-{}\"", SHOWN + 4);
    assert!(big.contains(&newest), "the newest is listed");
    assert!(!big.contains("/_sim/visitors/v-0\""), "the oldest is not");
    assert!(
        big.contains(&format!(
            "The {SHOWN} most recently active of {} shown",
            SHOWN + 5
        )),
        "{big}"
    );
}

#[test]
fn ids_are_escaped_in_text_and_percent_encoded_in_links() {
    let odd = "<b>a&b</b> \"x\"/y";
    let items = vec![track(
        odd,
        Some("o'k & co"),
        "<img src=x>",
        1,
        json!({"<k>": "<v>"}),
    )];
    let (_, list) = page("pendo", true, &items, "/_sim/visitors", Some("q=%3Cb%3E"));
    assert!(!list.contains("<b>a&b"), "escaped: {list}");
    assert!(
        list.contains("&lt;b&gt;a&amp;b&lt;/b&gt; &quot;x&quot;/y"),
        "{list}"
    );
    let href = format!("/_sim/visitors/{}", enc(odd));
    assert!(list.contains(&href), "{list}");
    let (s, one) = page("pendo", true, &items, &href, None);
    assert_eq!(s, 200, "the encoded id finds the visitor: {one}");
    assert!(
        !one.contains("<img") && !one.contains("<k>") && !one.contains("<v>"),
        "{one}"
    );
    assert!(one.contains("o&#39;k &amp; co"), "{one}");
}

#[test]
fn unknown_ids_bad_encodings_and_other_vendors_get_a_page_saying_so() {
    let items = sample();
    let (s, html) = page("pendo", true, &items, "/_sim/visitors/nobody", None);
    assert_eq!(s, 404);
    assert!(html.contains("No such visitor"), "{html}");
    let (s, _) = page("pendo", true, &items, "/_sim/accounts/none", None);
    assert_eq!(s, 404);
    let (s, _) = page("pendo", true, &items, "/_sim/visitors/%zz", None);
    assert_eq!(s, 400);
    let (s, _) = page("pendo", true, &items, "/_sim/visitors/%FF", None);
    assert_eq!(s, 400, "not UTF-8");
    let (s, html) = page("amplitude", false, &items, "/_sim/visitors", None);
    assert_eq!(s, 200);
    assert!(html.contains("This sandbox plays amplitude"), "{html}");
    let (_, empty) = page("pendo", true, &[], "/_sim/visitors", None);
    assert!(empty.contains("No visitor yet"), "{empty}");
}

#[test]
fn times_are_utc_dates() {
    assert_eq!(time(0), "1970-01-01 00:00:00 UTC");
    assert_eq!(time(1_764_547_199_000), "2025-11-30 23:59:59 UTC");
    assert_eq!(time(951_782_400_000), "2000-02-29 00:00:00 UTC");
    assert_eq!(dec("a%20b%2Fc").as_deref(), Some("a b/c"));
    assert_eq!(enc("a b/c"), "a%20b%2Fc");
}
