//! The integration page's charts of the last 15 minutes and Live Events' filters and grouped
//! warnings, in Chromium against a Pendo sandbox.

use super::{ONE_BROWSER, screenshot, signed_in};
use crate::harness::*;
use crate::webdriver::Browser;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Runs `script` until it returns something other than null or false, or panics with `what`.
async fn until(browser: &Browser, what: &str, script: &str) -> Value {
    let start = Instant::now();
    loop {
        let v = browser.script(script, json!([])).await;
        if !v.is_null() && v != false {
            return v;
        }
        if start.elapsed() > Duration::from_secs(20) {
            let errors = browser
                .script("return document.querySelector('#chart-readout') && document.querySelector('#chart-readout').innerText;", json!([]))
                .await;
            panic!("timed out waiting for {what} ({errors})");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_charts_draw_the_deliveries_per_second_and_read_out_the_second_pointed_at() {
    let _one = ONE_BROWSER.lock().await;
    let (_dir, _sim, edge, id) = with_pendo(&[]).await;
    let browser = signed_in(&edge, &format!("#/integration/{id}")).await;
    browser.wait_text("#charts", "Events per second").await;
    // Before any event: the lines are flat (once drawn: the caption comes before the first
    // stats answer).
    let flat = until(
        &browser,
        "the delivered line drawn",
        "const p = document.querySelector('#chart-events path[data-series=delivered]');
         return p && p.dataset.nonzero;",
    )
    .await;
    assert_eq!(flat, "0", "nothing delivered yet");

    for round in 0..3 {
        let batch: Vec<Value> = (0..5)
            .map(|n| json!({"type": "track", "userId": format!("u-{n}"), "event": "Clicked", "properties": {"round": round}}))
            .collect();
        let (s, _) = edge.ingest("/v1/batch", json!({ "batch": batch })).await;
        assert_eq!(s, 200);
        let (s, _) = edge
            .ingest(
                "/v1/batch",
                json!({"batch": [{"type": "track", "userId": "u-x", "event": "Private",
                                 "context": {"consent": {"analytics": false}}}]}),
            )
            .await;
        assert_eq!(s, 200);
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    // The delivered line rises above the axis once the seconds with deliveries are complete.
    until(
        &browser,
        "delivered points in the chart",
        "const p = document.querySelector('#chart-events path[data-series=delivered]');
         return p && Number(p.dataset.nonzero) > 0;",
    )
    .await;
    let drawn = browser
        .script(
            "const svg = document.querySelector('#chart-events');
             const p = svg.querySelector('path[data-series=delivered]');
             const ys = [...p.getAttribute('d').matchAll(/[ML]([\\d.]+) ([\\d.]+)/g)].map(m => Number(m[2]));
             return {points: ys.length, top: Math.min(...ys), base: Math.max(...ys),
                     dropped: Number(svg.querySelector('path[data-series=dropped]').dataset.nonzero),
                     labels: [...svg.querySelectorAll('text')].map(t => t.textContent),
                     legend: document.querySelector('#chart-events-legend').innerText,
                     latency: Number(document.querySelector('#chart-latency path[data-series=p99]').dataset.nonzero),
                     latencyLegend: document.querySelector('#chart-latency-legend').innerText};",
            json!([]),
        )
        .await;
    assert_eq!(drawn["points"], 899, "every complete second drawn: {drawn}");
    assert!(
        drawn["top"].as_f64() < drawn["base"].as_f64(),
        "a point above the axis: {drawn}"
    );
    assert!(drawn["dropped"].as_u64() > Some(0), "{drawn}");
    let labels = drawn["labels"].to_string();
    assert!(labels.contains(':'), "time labels on the axis: {labels}");
    let legend = drawn["legend"].as_str().unwrap_or_default();
    for l in ["Delivered", "Dropped", "Retried", "Failed", "Dead-lettered"] {
        assert!(legend.contains(l), "{l} in the legend: {legend}");
    }
    let latency_legend = drawn["latencyLegend"].as_str().unwrap_or_default();
    assert!(latency_legend.contains("p95"), "{latency_legend}");

    // Pointing at the highest delivered point reads that second out.
    let reading = until(
        &browser,
        "a readout of a second with deliveries",
        "const svg = document.querySelector('#chart-events');
         const p = svg.querySelector('path[data-series=delivered]');
         const pts = [...p.getAttribute('d').matchAll(/[ML]([\\d.]+) ([\\d.]+)/g)].map(m => [Number(m[1]), Number(m[2])]);
         const [x, y] = pts.reduce((a, b) => b[1] < a[1] ? b : a);
         const box = svg.getBoundingClientRect();
         const hit = svg.querySelector('rect.hit');
         hit.dispatchEvent(new PointerEvent('pointermove', {bubbles: true,
             clientX: box.left + x * box.width / svg.viewBox.baseVal.width,
             clientY: box.top + y * box.height / svg.viewBox.baseVal.height}));
         const r = document.querySelector('#chart-readout').innerText;
         const cursor = svg.querySelector('line.cursor').getAttribute('visibility');
         return /Delivered [1-9]/.test(r) && cursor === 'visible' && r;",
    )
    .await;
    let reading = reading.as_str().unwrap_or_default().to_owned();
    assert!(reading.contains("p50 "), "{reading}");
    assert!(
        !reading.contains("p50 –"),
        "a second with deliveries has its latency: {reading}"
    );
    browser
        .script(
            "document.querySelector('#charts').scrollIntoView(); return null;",
            json!([]),
        )
        .await;
    screenshot(&browser, "integration-charts.png").await;

    // Every delivery is in the stats' series (the page's source), once the last are counted.
    let stats = edge
        .poll(&format!("/v1/admin/integrations/{id}/stats"), |v| {
            series_sum(v, "delivered") >= 15
        })
        .await;
    assert_eq!(series_sum(&stats, "delivered"), 15, "{}", stats["counts"]);
}

/// The texts of the Live Events rows shown (not filtered out).
async fn shown(browser: &Browser) -> Vec<String> {
    let v = browser
        .script(
            "return [...document.querySelectorAll('#live-events > li')]
                 .filter(li => !li.hidden).map(li => li.querySelector('.name').innerText);",
            json!([]),
        )
        .await;
    serde_json::from_value(v).unwrap_or_default()
}

async fn wait_shown(browser: &Browser, want: &[&str]) {
    let start = Instant::now();
    loop {
        let mut got = shown(browser).await;
        got.sort();
        let mut w: Vec<String> = want.iter().map(|s| (*s).to_owned()).collect();
        w.sort();
        if got == w {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "rows shown {got:?}, not {w:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_events_filter_by_outcome_event_and_visitor_and_group_repeated_warnings() {
    let _one = ONE_BROWSER.lock().await;
    let (_dir, _sim, edge, id) = with_pendo(&[]).await;
    let browser = signed_in(&edge, &format!("#/integration/{id}/live")).await;
    browser.wait_text("#live-state", "Live").await;

    let (s, _) = edge
        .ingest(
            "/v1/batch",
            json!({"batch": [
                {"type": "track", "userId": "u-1", "event": "Order Completed", "properties": {"order_id": "o-1"}},
                {"type": "track", "userId": "u-1", "event": "Order Completed", "properties": {"order_id": "o-2"}},
                {"type": "track", "anonymousId": "anon-2", "event": "Signed Up"},
                {"type": "track", "userId": "u-3", "event": "Secret Thing",
                 "context": {"consent": {"analytics": false}}},
                {"type": "page", "userId": "u-4", "name": "Pricing"},
                {"type": "page", "userId": "u-5", "name": "Pricing"},
                {"type": "page", "userId": "u-6", "name": "Pricing"},
            ]}),
        )
        .await;
    assert_eq!(s, 200);
    wait_shown(
        &browser,
        &[
            "Order Completed",
            "Order Completed",
            "Signed Up",
            "Secret Thing",
            "Pricing",
            "Pricing",
            "Pricing",
        ],
    )
    .await;

    // One row per warning text, its count that of the events carrying it.
    let (_, recent) = edge
        .admin(
            "GET",
            &format!("/v1/admin/integrations/{id}/events?limit=100"),
            None,
        )
        .await;
    let carrying = recent["data"].as_array().map_or(0, |a| {
        a.iter()
            .filter(|e| {
                e["warnings"]
                    .as_array()
                    .is_some_and(|w| w.iter().any(|w| w["code"] == "account_not_linked"))
            })
            .count()
    });
    assert!(
        carrying >= 3,
        "the pages of unknown accounts warn: {recent}"
    );
    let group = "#live-warnings details.warn-group[data-code=account_not_linked]";
    let text = browser.wait_text(group, &format!("×{carrying}")).await;
    assert!(text.contains("no accountId"), "{text}");
    let groups = browser
        .script(
            "return document.querySelectorAll('#live-warnings details.warn-group[data-code=account_not_linked]').length;",
            json!([]),
        )
        .await;
    assert_eq!(groups, 1, "repeated warnings are one row");
    assert!(!browser.displayed(&format!("{group} ul")).await, "folded");
    browser.click(&format!("{group} summary")).await;
    let listed = browser
        .wait_text(&format!("{group} ul"), "Pricing · visitor u-4")
        .await;
    assert!(listed.contains("visitor u-6"), "{listed}");

    // By outcome.
    browser.click("#live-outcome option[value=dropped]").await;
    wait_shown(&browser, &["Secret Thing"]).await;
    browser.wait_text("#live-shown", "1 of 7 shown").await;
    browser.click("#live-outcome option[value='']").await;
    wait_shown(
        &browser,
        &[
            "Order Completed",
            "Order Completed",
            "Signed Up",
            "Secret Thing",
            "Pricing",
            "Pricing",
            "Pricing",
        ],
    )
    .await;

    // By event name (any part of it, any case).
    browser.type_into("#live-event-name", "order").await;
    wait_shown(&browser, &["Order Completed", "Order Completed"]).await;
    browser.clear("#live-event-name").await;

    // By visitor: the userId or the anonymousId.
    browser.type_into("#live-visitor", "anon-2").await;
    wait_shown(&browser, &["Signed Up"]).await;
    browser.clear("#live-visitor").await;
    browser.type_into("#live-visitor", "u-5").await;
    wait_shown(&browser, &["Pricing"]).await;
    // The warnings follow the filters.
    browser.wait_text(group, "×1").await;

    // Applied to the stream as it arrives: u-5's new event shows, another visitor's does not.
    let (s, _) = edge
        .ingest(
            "/v1/batch",
            json!({"batch": [
                {"type": "track", "userId": "u-9", "event": "Other Visitor"},
                {"type": "track", "userId": "u-5", "event": "Clicked Buy"},
            ]}),
        )
        .await;
    assert_eq!(s, 200);
    wait_shown(&browser, &["Pricing", "Clicked Buy"]).await;
    until(
        &browser,
        "Other Visitor's row, kept though hidden",
        "return [...document.querySelectorAll('#live-events > li')]
             .some(li => li.hidden && li.textContent.includes('Other Visitor'));",
    )
    .await;
    assert_eq!(
        shown(&browser).await.len(),
        2,
        "Other Visitor is kept, not shown"
    );

    // The screenshot: delivered events, their warnings grouped and one group open.
    browser.clear("#live-visitor").await;
    browser.click("#live-outcome option[value=delivered]").await;
    browser.wait_text("#live-shown", "of 9 shown").await;
    screenshot(&browser, "live-events-filters.png").await;
}
