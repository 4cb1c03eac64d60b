//! A small W3C WebDriver client: Debian's `chromedriver` on a free loopback port, one headless
//! Chromium session, and the few commands the browser tests use (navigate, find, click, type,
//! run a script, accept a dialog, screenshot). fantoccini does this too, but brings some 60 crates (two versions
//! of ICU among them) into the test build for these calls; this speaks the same protocol over the
//! hyper client the tests already have.
//!
//! Waiting is done here, not with sleeps in the tests: `wait_text` and `find` poll the page until
//! what a user would see is there, or fail after 20 s saying what was missing and what was shown.

use crate::harness::Client;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
const PATIENCE: Duration = Duration::from_secs(20);

/// One browser: its chromedriver process and session.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    base: String,
    client: Client,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium window of 1280x800.
    pub async fn start() -> Browser {
        assert!(
            std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
            "the browser tests need Debian's chromium and chromium-driver: \
             `apt-get install chromium chromium-driver` (.ci/test installs them)"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(hyper_util::client::legacy::connect::HttpConnector::new());
        let mut browser = Browser {
            driver,
            port,
            session: String::new(),
            base: format!("http://127.0.0.1:{port}"),
            client,
        };
        let start = Instant::now();
        while !browser.call("GET", "/status", None).await.1["value"]["ready"]
            .as_bool()
            .unwrap_or(false)
        {
            assert!(start.elapsed() < PATIENCE, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-dev-shm-usage", "--window-size=1280,800", "--lang=en-GB",
            ]},
        }}});
        let (status, v) = browser.call("POST", "/session", Some(caps)).await;
        assert_eq!(status, 200, "no Chromium session: {v}");
        let session = v["value"]["sessionId"].as_str().expect("session id");
        browser.base = format!("{}/session/{session}", browser.base);
        browser.session = session.to_owned();
        // --window-size is the outer window: make the page itself 1280x800.
        let inner = browser
            .script("return [window.innerWidth, window.innerHeight];", json!([]))
            .await;
        let (w, h) = (
            inner[0].as_i64().unwrap_or(1280),
            inner[1].as_i64().unwrap_or(800),
        );
        browser
            .command(
                "POST",
                "/window/rect",
                json!({"width": 1280 + (1280 - w), "height": 800 + (800 - h)}),
            )
            .await;
        browser
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let req = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(
                body.map(|b| b.to_string()).unwrap_or_default(),
            )))
            .expect("request");
        match self.client.request(req).await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let bytes = resp.into_body().collect().await.expect("body").to_bytes();
                (
                    status,
                    serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                )
            }
            Err(_) => (0, Value::Null),
        }
    }

    async fn command(&self, method: &str, path: &str, body: Value) -> Value {
        let (status, v) = self
            .call(method, path, Some(body).filter(|b| !b.is_null()))
            .await;
        assert_eq!(status, 200, "WebDriver {method} {path}: {v}");
        v["value"].clone()
    }

    /// Opens a URL.
    pub async fn goto(&self, url: &str) {
        self.command("POST", "/url", json!({"url": url})).await;
    }

    /// Runs a script in the page (`arguments[0]`... are `args`) and returns its value.
    pub async fn script(&self, script: &str, args: Value) -> Value {
        self.command(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": args}),
        )
        .await
    }

    /// The visible text of the elements matching `css` (a line between two), if there are any.
    pub async fn text(&self, css: &str) -> Option<String> {
        self.script(
            "const es = [...document.querySelectorAll(arguments[0])];
             return es.length ? es.map(e => e.innerText).join('\\n') : null;",
            json!([css]),
        )
        .await
        .as_str()
        .map(str::to_owned)
    }

    /// Waits until `css` shows a text containing `needle`; returns the whole text.
    pub async fn wait_text(&self, css: &str, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let text = self.text(css).await;
            if let Some(t) = &text
                && t.contains(needle)
            {
                return t.clone();
            }
            assert!(
                start.elapsed() < PATIENCE,
                "`{css}` never showed {needle:?}; it shows {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The first element matching `css`, waiting for it to appear.
    async fn find(&self, css: &str) -> String {
        let start = Instant::now();
        loop {
            let (status, v) = self
                .call(
                    "POST",
                    "/element",
                    Some(json!({"using": "css selector", "value": css})),
                )
                .await;
            if status == 200
                && let Some(id) = v["value"][ELEMENT].as_str()
            {
                return id.to_owned();
            }
            assert!(start.elapsed() < PATIENCE, "no element `{css}` appeared");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks the element matching `css` as a user would (it must be visible and not covered).
    pub async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.command("POST", &format!("/element/{id}/click"), json!({}))
            .await;
    }

    /// Types into the element matching `css` (after what it holds).
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.command(
            "POST",
            &format!("/element/{id}/value"),
            json!({"text": text}),
        )
        .await;
    }

    /// Empties an input.
    pub async fn clear(&self, css: &str) {
        let id = self.find(css).await;
        self.command("POST", &format!("/element/{id}/clear"), json!({}))
            .await;
    }

    /// Whether the element matching `css` is displayed.
    pub async fn displayed(&self, css: &str) -> bool {
        let id = self.find(css).await;
        self.command("GET", &format!("/element/{id}/displayed"), Value::Null)
            .await
            .as_bool()
            .unwrap_or(false)
    }

    /// Accepts the open `confirm()` dialog, waiting for it to open.
    pub async fn accept_dialog(&self) {
        let start = Instant::now();
        while self.call("POST", "/alert/accept", Some(json!({}))).await.0 != 200 {
            assert!(start.elapsed() < PATIENCE, "no dialog opened");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Saves a PNG of the window to `path`.
    pub async fn screenshot(&self, path: &std::path::Path) {
        use base64::Engine;
        let png = self.command("GET", "/screenshot", Value::Null).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().expect("base64"))
            .expect("png");
        std::fs::write(path, bytes).expect("write screenshot");
    }
}

impl Drop for Browser {
    /// Ends the session (so Chromium exits, also when a test failed), then chromedriver.
    /// Blocking and by hand, since a destructor cannot await.
    fn drop(&mut self) {
        use std::io::{Read, Write};
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = write!(
                s,
                "DELETE /session/{} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.session
            );
            let _ = s.read_to_end(&mut Vec::new());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
