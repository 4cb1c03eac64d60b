//! `signal-edge demo`, the real binary: its first screen says where to look, and a few seconds
//! of its sessions reach Live Events with no warning or drop but the ones it means to show (the
//! consent declined by one session in ten, one reserved property), and reach the sandbox's
//! visitor view with the anonymous landing pages under the signed-in visitor.
//! (`browser/example_site.rs` clicks through its example site in Chromium.)

use crate::harness::{Client, TOKEN};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `signal-edge demo` and the addresses its first screen printed.
pub struct Demo {
    child: Child,
    _dir: tempfile::TempDir,
    /// The first screen, as printed.
    pub screen: String,
    /// `http://127.0.0.1:<port>`: the management API and UI.
    pub admin: String,
    /// The Pendo integration's id.
    pub id: String,
    /// The example site.
    pub site: String,
    /// The sandbox's visitors page.
    pub visitors: String,
    client: Client,
}

/// The URL on the line of the first screen that starts with `label`.
fn url_after(screen: &str, label: &str) -> String {
    screen
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no {label} on the first screen:\n{screen}"))
        .to_owned()
}

impl Demo {
    /// Starts the demo on loopback ports in a fresh data directory, `rate` events a second, and
    /// reads its first screen.
    pub fn start(rate: u32) -> Demo {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new(env!("CARGO_BIN_EXE_signal-edge"))
            .arg("demo")
            .env("SIGNAL_DATA_DIR", dir.path())
            .env("SIGNAL_INGEST_ADDR", "127.0.0.1:0")
            .env("SIGNAL_ADMIN_ADDR", "127.0.0.1:0")
            .env("SIGNAL_ADMIN_TOKEN", TOKEN)
            .env("SIGNAL_DEMO_RATE", rate.to_string())
            .env("SIGNAL_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start signal-edge demo");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut screen = String::new();
        loop {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("the demo stopped before its first screen:\n{screen}"))
                .expect("line");
            screen.push_str(&line);
            screen.push('\n');
            if line.ends_with("Ctrl-C stops.") {
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        let live = url_after(&screen, "1. Live Events");
        let (admin, rest) = live
            .split_once("/#/integration/")
            .expect("a Live Events URL");
        let id = rest.trim_end_matches("/live").to_owned();
        Demo {
            child,
            _dir: dir,
            admin: admin.to_owned(),
            id,
            site: url_after(&screen, "2. Example site"),
            visitors: url_after(&screen, "3. Pendo's visitors"),
            screen,
            client: hyper_util::client::legacy::Client::builder(
                hyper_util::rt::TokioExecutor::new(),
            )
            .build(hyper_util::client::legacy::connect::HttpConnector::new()),
        }
    }

    /// GETs `url` (with the admin token when `admin`); status and body text.
    pub async fn get(&self, url: &str, admin: bool) -> (u16, String) {
        let mut req = hyper::Request::get(url);
        if admin {
            req = req.header("authorization", format!("Bearer {TOKEN}"));
        }
        let resp = self
            .client
            .request(req.body(Full::new(Bytes::new())).expect("request"))
            .await
            .expect("answer");
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// The integration's most recent live events (up to 1,000).
    pub async fn live_events(&self) -> Vec<Value> {
        let url = format!(
            "{}/v1/admin/integrations/{}/events?limit=1000",
            self.admin, self.id
        );
        let (status, body) = self.get(&url, true).await;
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).expect("json");
        v["data"].as_array().cloned().unwrap_or_default()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Live events by outcome (`delivered`, `dropped consent`) and warnings by code (each as
/// `event: message`).
type Counted = (BTreeMap<String, usize>, BTreeMap<String, Vec<String>>);

fn count(events: &[Value]) -> Counted {
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut warnings: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in events {
        let kind = format!(
            "{} {}",
            e["outcome"].as_str().unwrap_or_default(),
            e["reason"].as_str().unwrap_or_default()
        );
        *outcomes.entry(kind.trim().to_owned()).or_default() += 1;
        for w in e["warnings"].as_array().into_iter().flatten() {
            warnings
                .entry(w["code"].as_str().unwrap_or_default().to_owned())
                .or_default()
                .push(format!("{}: {}", e["event"], w["message"]));
        }
    }
    (outcomes, warnings)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_warns_and_drops_only_where_it_means_to_and_pendo_sees_whole_visits() {
    let demo = Demo::start(20);
    for look in ["Live Events", "Example site", "Pendo's visitors", TOKEN] {
        assert!(
            demo.screen.lines().take(12).any(|l| l.contains(look)),
            "the first screen names {look}:\n{}",
            demo.screen
        );
    }
    // A few seconds of sessions (the reserved property goes out on the second), read until
    // enough is delivered (at most 20 s, well before the next reserved property at 32 s).
    let start = std::time::Instant::now();
    let (events, outcomes, warnings) = loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let events = demo.live_events().await;
        let (outcomes, warnings) = count(&events);
        let enough = outcomes.get("delivered").copied().unwrap_or_default() >= 60
            && outcomes.contains_key("dropped consent")
            && warnings.contains_key("reserved_property");
        if enough || start.elapsed() > Duration::from_secs(20) {
            break (events, outcomes, warnings);
        }
    };
    let delivered = outcomes.get("delivered").copied().unwrap_or_default();
    let declined = outcomes.get("dropped consent").copied().unwrap_or_default();
    assert!(delivered >= 60, "events flow: {outcomes:?}");
    assert!(
        declined > 0 && declined * 5 < delivered,
        "a few declined consent: {outcomes:?}"
    );
    assert_eq!(
        outcomes.len(),
        2,
        "nothing but delivered and dropped for consent: {outcomes:?}"
    );
    assert_eq!(
        warnings.keys().collect::<Vec<_>>(),
        ["reserved_property"],
        "the only warning is the one meant: {warnings:?}"
    );
    assert_eq!(warnings["reserved_property"].len(), 1, "{warnings:?}");
    assert!(
        warnings["reserved_property"][0].contains("custom_id"),
        "{warnings:?}"
    );

    // Pendo's view: a visitor who signed in has its anonymous landing pages on its timeline,
    // its metadata from identify, and its account.
    let user = events
        .iter()
        .find(|e| e["type"] == "identify" && e["outcome"] == "delivered")
        .and_then(|e| e["input"]["userId"].as_str())
        .expect("a delivered identify")
        .to_owned();
    let (status, list) = demo
        .get(&format!("{}?q={user}", demo.visitors), false)
        .await;
    assert_eq!(status, 200);
    assert!(list.contains(&format!(">{user}</a>")), "{list}");
    let (status, page) = demo.get(&format!("{}/{user}", demo.visitors), false).await;
    assert_eq!(status, 200, "{page}");
    for shown in [
        "Home | Example",
        "Pricing | Example",
        "Page view",
        ">plan<",
        "/_sim/accounts/",
    ] {
        assert!(page.contains(shown), "{shown} on {user}'s page: {page}");
    }
    let (status, site) = demo.get(&demo.site, false).await;
    assert_eq!(status, 200);
    assert!(
        site.contains("/v1/datafly.js\" data-key=\"dk_live_"),
        "{site}"
    );
}
