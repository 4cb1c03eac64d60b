//! The first-party tag (`GET /v1/datafly.js`) and Segment's analytics-next in Chromium: a test
//! page on a loopback port of its own (another origin than the node's, as a customer's site
//! is) loads the client from the node (or analytics-next from this test's server, never a CDN),
//! and its calls arrive in the Pendo sandbox mapped as the spec says: page and track in the
//! Track API, identify and group as metadata, the anonymous visitor first and the identify's
//! link after it.

use super::ONE_BROWSER;
use crate::harness::*;
use crate::webdriver::Browser;
use serde_json::{Value, json};
use signal_sandbox::Sim;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// A tiny static web server on a loopback port: the test pages (and analytics-next's files).
struct Site {
    url: String,
}

impl Site {
    /// Serves the pages (path, content type, body) `pages` makes given the site's address,
    /// one request per connection.
    fn start(pages: impl FnOnce(&str) -> Vec<(String, &'static str, Vec<u8>)>) -> Site {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let pages = pages(&url);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).is_ok_and(|n| n == 1) {
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head);
                let path = head.split(' ').nth(1).unwrap_or("/");
                let path = path.split('?').next().unwrap_or("/");
                let found = pages.iter().find(|(p, _, _)| p == path);
                let (status, kind, body) = match found {
                    Some((_, kind, body)) => ("200 OK", *kind, body.as_slice()),
                    None => ("404 Not Found", "text/plain", &b"not here"[..]),
                };
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\
                     Cache-Control: no-store\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(body);
            }
        });
        Site { url }
    }
}

/// What every test page runs first: the answers its scripts got (`window.__statuses`) and the
/// beacons it sent (in `sessionStorage`, which outlives the page).
const PROBES: &str = "<script>
window.__statuses = [];
const realFetch = window.fetch.bind(window);
window.__failures = 0;
window.fetch = (...a) => realFetch(...a).then(
  r => { window.__statuses.push(r.status); return r; },
  e => { window.__failures += 1; throw e; });
const realBeacon = navigator.sendBeacon.bind(navigator);
navigator.sendBeacon = (u, b) => {
  sessionStorage.setItem('beacons', String(Number(sessionStorage.getItem('beacons') || 0) + 1));
  return realBeacon(u, b);
};
</script>";

/// A page using datafly.js from `ingest`, sending to `endpoint` when given (else the node).
fn tag_page(ingest: &str, endpoint: Option<&str>) -> Vec<u8> {
    let endpoint = endpoint.map_or(String::new(), |e| format!(" data-endpoint=\"{e}\""));
    format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Tag test</title>{PROBES}
<script>window.datafly = window.datafly || []; datafly.push(['page']);</script>
<script src=\"{ingest}/v1/datafly.js\" data-key=\"{KEY}\"{endpoint} async></script>
</head><body><h1>A customer's site</h1>
<p>Loads <code>{ingest}/v1/datafly.js</code>; its calls go to the node.</p>
<button id=buy onclick=\"datafly.track('Plan Chosen', {{plan: 'pro'}})\">Choose Pro</button>
</body></html>"
    )
    .into_bytes()
}

/// The site of the tag tests: `/` (the tag), `/dead` (the tag sending to a closed port),
/// `/next` (no tag).
fn tag_site(edge: &Edge) -> Site {
    // Port 9 (discard): nothing listens on loopback, and no test's node can be given it (a
    // port bound and let go could be, and would answer).
    let closed = 9;
    Site::start(|_| {
        vec![
            ("/".into(), "text/html", tag_page(&edge.ingest, None)),
            (
                "/dead".into(),
                "text/html",
                tag_page(&edge.ingest, Some(&format!("http://127.0.0.1:{closed}"))),
            ),
            (
                "/next".into(),
                "text/html",
                format!("<!doctype html><title>Next</title>{PROBES}<p>No tag here</p>")
                    .into_bytes(),
            ),
        ]
    })
}

/// Where `.ci/test` installs Segment's analytics-next from npm (outside git): its UMD build.
fn analytics_next_dir() -> std::path::PathBuf {
    let dir = std::env::var_os("SIGNAL_ANALYTICS_NEXT_DIR").map_or_else(
        || {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("target/npm/node_modules/@segment/analytics-next/dist/umd")
        },
        std::path::PathBuf::from,
    );
    assert!(
        dir.join("index.js").exists(),
        "the analytics-next test needs @segment/analytics-next from npm in {}: \
         `npm install --prefix target/npm @segment/analytics-next` (.ci/test installs it)",
        dir.display()
    );
    dir
}

/// A page running analytics-next's UMD build from this site, its settings inline (nothing
/// fetched from Segment's CDN), its API host the node.
fn analytics_next_site(edge: &Edge) -> Site {
    let dir = analytics_next_dir();
    let api_host = format!("{}/v1", edge.ingest.trim_start_matches("http://"));
    Site::start(|url| {
        let settings = json!({"integrations": {"Segment.io": {
            "apiKey": KEY, "apiHost": api_host, "protocol": "http"}}});
        let page = format!(
            "<!doctype html><html lang=en><head><meta charset=utf-8><title>analytics-next test</title>{PROBES}
<script src=\"/analytics-next/bundles/index.js\"></script>
<script>
window.analytics = AnalyticsNext.AnalyticsBrowser.load(
  {{writeKey: '{KEY}', cdnURL: '{url}', cdnSettings: {settings}}});
window.analytics.page();
</script></head><body><h1>analytics-next against the node</h1></body></html>"
        );
        let mut pages = vec![("/".to_owned(), "text/html", page.into_bytes())];
        // Its lazily loaded chunks, from where `cdnURL` says they are.
        for entry in std::fs::read_dir(&dir).expect("analytics-next's dist/umd") {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            if name.ends_with(".js") {
                let body = std::fs::read(&path).expect("read");
                pages.push((
                    format!("/analytics-next/bundles/{name}"),
                    "text/javascript",
                    body,
                ));
            }
        }
        pages
    })
}

/// The tag site (kept serving while it lives) and Chromium on its `path`, the tag loaded.
async fn open_tag_page(edge: &Edge, path: &str) -> (Site, Browser) {
    let site = tag_site(edge);
    let browser = Browser::start().await;
    browser.goto(&format!("{}{path}", site.url)).await;
    tag_loaded(&browser).await;
    (site, browser)
}

/// Waits until the page's `window.datafly` is the loaded tag.
async fn tag_loaded(browser: &Browser) {
    wait_for(
        browser,
        "return !!(window.datafly && window.datafly.VERSION);",
    )
    .await;
}

/// Polls `script` in the page until it returns true (20 s).
async fn wait_for(browser: &Browser, script: &str) {
    let start = Instant::now();
    while browser.script(script, json!([])).await != Value::Bool(true) {
        assert!(start.elapsed() < Duration::from_secs(20), "never: {script}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (up to `secs`) for a body the sandbox accepted that `f` picks; returns it.
async fn arrived(sim: &Sim, what: &str, secs: u64, f: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        if let Some(b) = sim
            .requests()
            .iter()
            .filter_map(|r| serde_json::from_slice::<Value>(&r.body).ok())
            .flat_map(|b| match b {
                Value::Array(items) => items,
                one => vec![one],
            })
            .find(|b| f(b))
        {
            return b;
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}; the sandbox has {:?}",
            bodies(sim)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The live event of integration `id` named `event`, once it is among the 50 most recent.
async fn live_event_named(edge: &Edge, id: &str, event: &str) -> Value {
    let events = edge
        .poll(
            &format!("/v1/admin/integrations/{id}/events?limit=50"),
            |v| {
                v["data"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|e| e["event"] == event))
            },
        )
        .await;
    events["data"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["event"] == event))
        .cloned()
        .unwrap_or_default()
}

/// The track bodies named `event`.
fn tracks_named(sim: &Sim, event: &str) -> usize {
    track_bodies(sim)
        .iter()
        .filter(|b| b["event"] == event)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tag_is_served_cacheable_versioned_and_gzipped() {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    let dir = tempfile::tempdir().expect("tempdir");
    let edge = Edge::start(dir.path(), &[]);
    let get = |headers: Vec<(&'static str, String)>| {
        let mut req = hyper::Request::get(format!("{}/v1/datafly.js", edge.ingest));
        for (k, v) in headers {
            req = req.header(k, v);
        }
        edge.client
            .request(req.body(Full::new(Bytes::new())).expect("request"))
    };
    let r = get(vec![("accept-encoding", "gzip, br".into())])
        .await
        .expect("answer");
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(h["cache-control"], "public, max-age=3600");
    assert_eq!(h["content-encoding"], "gzip");
    let etag = h["etag"].to_str().expect("etag").to_owned();
    let gz = r.into_body().collect().await.expect("body").to_bytes();
    let mut js = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut js)
        .expect("gzip");
    assert!(js.starts_with("/*! datafly.js "), "{}", &js[..60]);
    assert!(js.contains("var VERSION = '"));
    eprintln!("datafly.js: {} bytes, {} gzipped", js.len(), gz.len());
    assert!(gz.len() < 6 * 1024, "small: {} bytes gzipped", gz.len());
    let again = get(vec![
        ("accept-encoding", "gzip".into()),
        ("if-none-match", etag),
    ])
    .await
    .expect("answer");
    assert_eq!(again.status(), 304);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datafly_js_in_chromium_reaches_pendo_mapped_with_the_anonymous_visitor_linked() {
    let _one = ONE_BROWSER.lock().await;
    let (_dir, sim, edge, id) = with_pendo(&[]).await;
    let (site, browser) = open_tag_page(&edge, "/").await;

    // The stub's page() went within a second, anonymous: the node's cookie id, Pendo's prefix.
    let page = arrived(&sim, "the first page view", 10, |b| {
        b["event"] == "page_view"
    })
    .await;
    let visitor = page["visitorId"].as_str().expect("visitorId").to_owned();
    let anonymous = page["context"]["anonymousId"]
        .as_str()
        .expect("anonymousId")
        .to_owned();
    assert_eq!(visitor, format!("_PENDO_T_{anonymous}"), "{page}");
    assert_eq!(page["properties"]["title"], "Tag test", "{page}");
    assert_eq!(
        page["properties"]["url"],
        format!("{}/", site.url),
        "{page}"
    );
    assert!(
        page["context"]["locale"]
            .as_str()
            .is_some_and(|l| !l.is_empty()),
        "{page}"
    );
    assert!(
        page["context"]["userAgent"]
            .as_str()
            .is_some_and(|ua| ua.contains("Chrome")),
        "{page}"
    );

    // A click, then identify, group and more: one batch after flush().
    browser.click("#buy").await;
    let flushed = browser
        .script(
            "datafly.identify('u-42', {plan: 'pro', seats: 12});
             datafly.group('acme', {industry: 'saas'});
             datafly.track('Report Exported', {format: 'csv'});
             datafly.page('Pricing');
             return datafly.flush().then(() => window.__statuses);",
            json!([]),
        )
        .await;
    assert!(
        flushed
            .as_array()
            .is_some_and(|s| !s.is_empty() && s.iter().all(|s| s == 200)),
        "{flushed}"
    );
    let chosen = arrived(&sim, "Plan Chosen", 10, |b| b["event"] == "Plan Chosen").await;
    assert_eq!(chosen["properties"]["plan"], "pro", "{chosen}");
    // The visitor's metadata and the account's, from identify and group.
    let person = arrived(&sim, "the visitor's metadata", 10, |b| {
        b["visitorId"] == "u-42" && b["values"].is_object()
    })
    .await;
    assert_eq!(person["values"]["plan"], "pro", "{person}");
    assert_eq!(person["values"]["seats"], 12, "{person}");
    let account = arrived(&sim, "the account's metadata", 10, |b| {
        b["accountId"] == "acme" && b["values"].is_object()
    })
    .await;
    assert_eq!(account["values"]["industry"], "saas", "{account}");
    // After identify: the user, in the account, with the same browser (the cookie went back).
    let exported = arrived(&sim, "Report Exported", 10, |b| {
        b["event"] == "Report Exported"
    })
    .await;
    assert_eq!(exported["visitorId"], "u-42", "{exported}");
    assert_eq!(exported["accountId"], "acme", "{exported}");
    assert_eq!(exported["properties"]["format"], "csv", "{exported}");
    assert_eq!(
        exported["context"]["anonymousId"], anonymous,
        "the _dfid cookie was sent back: {exported}"
    );
    let pricing = arrived(&sim, "the Pricing page", 10, |b| {
        b["event"] == "page_view" && b["properties"]["name"] == "Pricing"
    })
    .await;
    assert_eq!(pricing["visitorId"], "u-42", "{pricing}");

    // consent({analytics: false}): later events are dropped for Pendo, and Live Events says so.
    browser
        .script(
            "datafly.consent({analytics: false});
             datafly.track('Private Thing', {});
             return datafly.flush().then(() => true);",
            json!([]),
        )
        .await;
    let private = live_event_named(&edge, &id, "Private Thing").await;
    assert_eq!(private["outcome"], "dropped", "{private}");
    assert_eq!(private["reason"], "consent", "{private}");
    assert_eq!(tracks_named(&sim, "Private Thing"), 0);

    // The choice outlives the page: on the next one, without a new consent() call, still dropped.
    browser.goto(&format!("{}/", site.url)).await;
    tag_loaded(&browser).await;
    browser
        .script(
            "datafly.track('Private Next Page', {});
             return datafly.flush().then(() => true);",
            json!([]),
        )
        .await;
    let next = live_event_named(&edge, &id, "Private Next Page").await;
    assert_eq!(next["reason"], "consent", "{next}");
    assert_eq!(tracks_named(&sim, "Private Next Page"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datafly_js_keeps_its_queue_over_a_reload_and_beacons_on_pagehide() {
    let _one = ONE_BROWSER.lock().await;
    let (_dir, sim, edge, _id) = with_pendo(&[]).await;
    // Sent to a closed port: they wait in localStorage, retried with back-off.
    let (site, browser) = open_tag_page(&edge, "/dead").await;
    browser
        .script(
            "for (const n of [1, 2, 3]) datafly.track('Queued', {n});
             return true;",
            json!([]),
        )
        .await;
    let queued = format!(
        "return JSON.parse(localStorage.getItem('datafly:queue:{KEY}') || '[]')
                .filter(e => e.event === 'Queued').length === 3;"
    );
    wait_for(&browser, &queued).await;
    // Tried and failed at least twice (backing off between), the three still queued.
    wait_for(&browser, "return window.__failures >= 2;").await;
    wait_for(&browser, &queued).await;

    // The reload (the same site, the tag sending to the node): they go, once each.
    browser.goto(&format!("{}/", site.url)).await;
    tag_loaded(&browser).await;
    for n in 1..=3 {
        arrived(&sim, "a queued event", 10, |b| {
            b["event"] == "Queued" && b["properties"]["n"] == n
        })
        .await;
    }
    wait_for(
        &browser,
        &format!("return localStorage.getItem('datafly:queue:{KEY}') === null;"),
    )
    .await;

    // Leaving the page before the next flush: the event goes by sendBeacon (key in the body).
    browser
        .script(
            "sessionStorage.clear();
             datafly.track('Leaving', {to: 'next'});
             // 27 KB each in UTF-8 (9,000 characters): more than one beacon may carry.
             for (let n = 0; n < 3; n++) datafly.track('Leaving Large', {n, notes: '€'.repeat(9000)});
             setTimeout(() => { location.href = '/next'; }, 0);
             return true;",
            json!([]),
        )
        .await;
    let leaving = arrived(&sim, "the event sent on pagehide", 10, |b| {
        b["event"] == "Leaving"
    })
    .await;
    assert_eq!(leaving["properties"]["to"], "next", "{leaving}");
    // What fits in the 64 KiB a browser lets beacons carry went with it (the rest waits for the
    // next page using the tag).
    arrived(&sim, "a large event sent on pagehide", 10, |b| {
        b["event"] == "Leaving Large"
    })
    .await;
    wait_for(
        &browser,
        "return document.title === 'Next' && Number(sessionStorage.getItem('beacons')) >= 1;",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(tracks_named(&sim, "Queued"), 3, "each once");
    assert_eq!(tracks_named(&sim, "Leaving"), 1, "once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datafly_js_retries_a_503_and_delivers_later() {
    let _one = ONE_BROWSER.lock().await;
    // A full spool answers 503: Pendo knows only the right key, the integration starts with a
    // wrong one, so it pauses and the spool stays full until the key is fixed.
    let (_dir, sim, edge) = with_sandbox(
        "right-key",
        &[
            ("SIGNAL_SPOOL_MAX_BYTES", "64KiB".into()),
            ("SIGNAL_PAUSE_PROBE_MS", "600000".into()),
        ],
    )
    .await;
    let id = edge
        .install(json!({"api_key": "a", "integration_key": "wrong-key"}))
        .await;
    let mut full = false;
    for b in 0..300 {
        let batch: Vec<Value> = (0..20)
            .map(|i| json!({"type": "track", "userId": "u", "event": "Filler", "properties": {"n": b * 20 + i}}))
            .collect();
        let (s, _) = edge.ingest("/v1/batch", json!({ "batch": batch })).await;
        if s == 503 {
            full = true;
            break;
        }
    }
    assert!(full, "the spool filled up");
    // Then to the last byte, with events smaller than the page's.
    let mut small = 0;
    while small < 5000 {
        let (s, _) = edge
            .ingest("/v1/t", json!({"userId": "u", "event": "F"}))
            .await;
        if s == 503 {
            break;
        }
        small += 1;
    }
    assert!(small < 5000, "the spool filled up to the last byte");
    let (_site, browser) = open_tag_page(&edge, "/").await;
    browser
        .script(
            "datafly.track('After The Outage', {n: 1}); return true;",
            json!([]),
        )
        .await;
    let start = Instant::now();
    while browser
        .script("return window.__statuses.includes(503);", json!([]))
        .await
        != Value::Bool(true)
    {
        let statuses = browser.script("return window.__statuses;", json!([])).await;
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no 503 reached the page: {statuses}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    edge.set_config(&id, json!({"integration_key": "right-key"}))
        .await;
    let after = arrived(&sim, "the event answered 503 at first", 60, |b| {
        b["event"] == "After The Outage"
    })
    .await;
    assert_eq!(after["properties"]["n"], 1, "{after}");
    let statuses = browser.script("return window.__statuses;", json!([])).await;
    assert_eq!(
        statuses.as_array().and_then(|s| s.last()),
        Some(&json!(200)),
        "{statuses}"
    );
    assert_eq!(tracks_named(&sim, "After The Outage"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_analytics_next_in_chromium_reaches_pendo_mapped_with_the_identify_link() {
    let _one = ONE_BROWSER.lock().await;
    let (_dir, sim, edge, _id) = with_pendo(&[]).await;
    let site = analytics_next_site(&edge);
    let browser = Browser::start().await;
    browser.goto(&format!("{}/", site.url)).await;

    // Its page(), anonymous: analytics-next's own anonymousId, Pendo's prefix.
    let page = arrived(&sim, "analytics-next's page view", 15, |b| {
        b["event"] == "page_view"
    })
    .await;
    let anonymous = page["context"]["anonymousId"]
        .as_str()
        .expect("anonymousId")
        .to_owned();
    assert_eq!(page["visitorId"], format!("_PENDO_T_{anonymous}"), "{page}");
    assert_eq!(page["properties"]["title"], "analytics-next test", "{page}");
    let theirs = browser
        .script(
            "return window.analytics.then(([a]) => a.user().anonymousId());",
            json!([]),
        )
        .await;
    assert_eq!(theirs, json!(anonymous), "the browser's own id");

    let statuses = browser
        .script(
            "const a = window.analytics;
             return a.identify('u-7', {plan: 'team'})
               .then(() => a.group('globex', {industry: 'energy'}))
               .then(() => a.track('Report Exported', {format: 'pdf'}))
               .then(() => a.page('Docs'))
               .then(() => window.__statuses);",
            json!([]),
        )
        .await;
    assert!(
        statuses
            .as_array()
            .is_some_and(|s| !s.is_empty() && s.iter().all(|s| s == 200)),
        "{statuses}"
    );
    let person = arrived(&sim, "the visitor's metadata", 10, |b| {
        b["visitorId"] == "u-7" && b["values"].is_object()
    })
    .await;
    assert_eq!(person["values"]["plan"], "team", "{person}");
    let account = arrived(&sim, "the account's metadata", 10, |b| {
        b["accountId"] == "globex" && b["values"].is_object()
    })
    .await;
    assert_eq!(account["values"]["industry"], "energy", "{account}");
    let exported = arrived(&sim, "Report Exported", 10, |b| {
        b["event"] == "Report Exported"
    })
    .await;
    assert_eq!(exported["visitorId"], "u-7", "{exported}");
    assert_eq!(exported["accountId"], "globex", "{exported}");
    assert_eq!(exported["properties"]["format"], "pdf", "{exported}");
    assert_eq!(exported["context"]["anonymousId"], anonymous, "{exported}");
    let docs = arrived(&sim, "the Docs page", 10, |b| {
        b["event"] == "page_view" && b["properties"]["name"] == "Docs"
    })
    .await;
    assert_eq!(docs["visitorId"], "u-7", "{docs}");
    // The identify linked the anonymous visitor: an event of the browser's id alone is the user's.
    let (s, v) = edge
        .ingest(
            "/v1/t",
            json!({"anonymousId": anonymous, "event": "Later From The Server"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let later = arrived(&sim, "an event of the anonymous id", 10, |b| {
        b["event"] == "Later From The Server"
    })
    .await;
    assert_eq!(later["visitorId"], "u-7", "{later}");
    // Nothing left the machine: every request the page made was to 127.0.0.1.
    let hosts = browser
        .script(
            "return [...new Set(performance.getEntriesByType('resource').map(e => new URL(e.name).hostname))];",
            json!([]),
        )
        .await;
    assert_eq!(hosts, json!(["127.0.0.1"]), "{hosts}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datafly_js_splits_large_events_into_requests_a_browser_lets_it_keep_alive() {
    let _one = ONE_BROWSER.lock().await;
    let (_dir, sim, edge, _id) = with_pendo(&[]).await;
    let (_site, browser) = open_tag_page(&edge, "/").await;
    // Twenty orders of 4 KB each: one batch of them would be 80 KB, past the 64 KiB a browser
    // lets a keepalive fetch carry (it refuses it as a network error, retried for ever). Among
    // them one event past the node's 32 KiB: refused alone, the others in its batch delivered.
    browser
        .script(
            "for (let i = 0; i < 20; i++) {
               datafly.track('Large Order', {n: i, notes: 'x'.repeat(4000)});
               if (i === 9) datafly.track('Too Large', {notes: 'x'.repeat(40000)});
             }
             datafly.track('After The Large Ones');
             return true;",
            json!([]),
        )
        .await;
    arrived(&sim, "the event after the large ones", 20, |b| {
        b["event"] == "After The Large Ones"
    })
    .await;
    assert_eq!(tracks_named(&sim, "Large Order"), 20);
    assert_eq!(tracks_named(&sim, "Too Large"), 0);
    let statuses = browser.script("return window.__statuses;", json!([])).await;
    assert!(
        statuses
            .as_array()
            .is_some_and(|s| s.len() >= 2 && s.iter().all(|x| x == 200)),
        "every request answered 200, in more than one: {statuses}"
    );
}
