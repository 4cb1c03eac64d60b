//! What every end-to-end test starts: the real binary (`Edge`), Pendo sandboxes, and waiting.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use signal_sandbox::{FaultPlan, Sim, Subscriptions};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const TOKEN: &str = "test-admin-token";
pub const KEY: &str = "dk_live_testtesttesttesttesttesttest";

pub type Client = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    Full<Bytes>,
>;

pub struct Edge {
    pub child: Child,
    pub ingest: String,
    pub admin: String,
    pub client: Client,
    /// What the node printed before `listening` (what it generated, its event log).
    pub printed: Vec<String>,
}

/// Reads the node's standard error to its end (so a chatty node never blocks on a full pipe),
/// keeping the last 40 lines: what a node that exits at start said, for the test's panic.
fn stderr_tail(
    stderr: std::process::ChildStderr,
) -> std::thread::JoinHandle<std::collections::VecDeque<String>> {
    std::thread::spawn(move || {
        let mut last = std::collections::VecDeque::with_capacity(40);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if last.len() == 40 {
                last.pop_front();
            }
            last.push_back(line);
        }
        last
    })
}

impl Edge {
    pub fn start(dir: &std::path::Path, env: &[(&str, String)]) -> Edge {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_signal-edge"));
        cmd.arg("serve")
            .env("SIGNAL_DATA_DIR", dir)
            .env("SIGNAL_INGEST_ADDR", "127.0.0.1:0")
            .env("SIGNAL_ADMIN_ADDR", "127.0.0.1:0")
            .env("SIGNAL_ADMIN_TOKEN", TOKEN)
            .env("SIGNAL_PIPELINE_KEY", KEY)
            .env("SIGNAL_RETRY_BASE_MS", "50")
            .env("SIGNAL_RETRY_CAP_MS", "500")
            .env("SIGNAL_PAUSE_PROBE_MS", "300")
            .env("SIGNAL_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start signal-edge");
        let stdout = child.stdout.take().expect("stdout");
        let said = stderr_tail(child.stderr.take().expect("stderr"));
        let mut lines = BufReader::new(stdout).lines();
        let mut printed = Vec::new();
        let (ingest, admin) = loop {
            let Some(Ok(line)) = lines.next() else {
                let status = child.wait();
                let said = said.join().unwrap_or_default();
                panic!(
                    "signal-edge did not print its addresses ({status:?}); its last words:\n{}",
                    Vec::from(said).join("\n")
                );
            };
            if let Some(rest) = line.strip_prefix("listening ") {
                let mut it = rest.split(' ');
                let ingest = it
                    .next()
                    .and_then(|s| s.strip_prefix("ingest="))
                    .expect("ingest")
                    .to_owned();
                let admin = it
                    .next()
                    .and_then(|s| s.strip_prefix("admin="))
                    .expect("admin")
                    .to_owned();
                break (format!("http://{ingest}"), format!("http://{admin}"));
            }
            printed.push(line);
        };
        std::thread::spawn(move || for _ in lines {});
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(hyper_util::client::legacy::connect::HttpConnector::new());
        Edge {
            child,
            ingest,
            admin,
            client,
            printed,
        }
    }

    pub async fn call(
        &self,
        method: &str,
        url: &str,
        auth: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(url)
            .header("content-type", "application/json");
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let resp = self
            .client
            .request(req.body(Full::new(Bytes::from(body))).expect("request"))
            .await
            .expect("answer");
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// GET an unauthenticated admin path as text (metrics, health).
    pub async fn text(&self, path: &str) -> (u16, String) {
        let req = hyper::Request::get(format!("{}{path}", self.admin))
            .body(Full::new(Bytes::new()))
            .expect("request");
        let resp = self.client.request(req).await.expect("answer");
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    pub async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call(
            method,
            &format!("{}{path}", self.admin),
            Some(&format!("Bearer {TOKEN}")),
            body,
        )
        .await
    }

    /// GETs an admin path until `done` holds for the answer (up to 10 s); returns the last answer.
    pub async fn poll(&self, path: &str, done: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let (_, v) = self.admin("GET", path, None).await;
            if done(&v) || start.elapsed() > Duration::from_secs(10) {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// POSTs to the gateway with the default source's key.
    pub async fn ingest(&self, path: &str, body: Value) -> (u16, Value) {
        self.ingest_as(KEY, path, body).await
    }

    /// POSTs to the gateway with a source's pipeline key.
    pub async fn ingest_as(&self, key: &str, path: &str, body: Value) -> (u16, Value) {
        self.call(
            "POST",
            &format!("{}{path}", self.ingest),
            Some(&format!("Bearer {key}")),
            Some(body),
        )
        .await
    }

    /// POSTs an install body for Pendo; the status and answer.
    pub async fn try_install(&self, body: Value) -> (u16, Value) {
        self.admin(
            "POST",
            "/v1/admin/integration-catalog/pendo/install",
            Some(body),
        )
        .await
    }

    /// Makes a source named `name` through the API; asserts 201 and answers it (its key and
    /// secret whole, as shown this once).
    pub async fn add_source(&self, name: &str) -> Value {
        let (s, created) = self
            .admin("POST", "/v1/admin/sources", Some(json!({ "name": name })))
            .await;
        assert_eq!(s, 201, "{created}");
        created
    }

    /// Installs Pendo, named Pendo, with `config`; its id.
    pub async fn install(&self, config: Value) -> String {
        let (status, v) = self
            .try_install(json!({"name": "Pendo", "variant": "b2b_saas", "config": config, "delivery_mode": "server_side"}))
            .await;
        assert_eq!(status, 201, "{v}");
        v["id"].as_str().expect("id").to_owned()
    }

    /// PATCHes integration `id`'s config with `config` (the fields it names); asserts 200.
    pub async fn set_config(&self, id: &str, config: Value) {
        let (status, v) = self
            .admin(
                "PATCH",
                &format!("/v1/admin/integrations/{id}"),
                Some(json!({ "config": config })),
            )
            .await;
        assert_eq!(status, 200, "{v}");
    }

    /// The bytes of the spool's segments, as `/metrics` says.
    pub async fn spool_bytes(&self) -> u64 {
        let (_, text) = self.text("/metrics").await;
        text.lines()
            .find_map(|l| l.strip_prefix("signal_spool_bytes "))
            .and_then(|v| v.trim().parse().ok())
            .expect("signal_spool_bytes in /metrics")
    }

    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn sandbox(region: &str, key: &str) -> (Sim, std::sync::Arc<Subscriptions>) {
    let subs = Subscriptions::new();
    subs.add(key, region);
    (
        Sim::start(region, subs.clone()).await.expect("sandbox"),
        subs,
    )
}

/// A US Pendo sandbox that knows `key`, and the binary started against it (with `env` too) in a
/// fresh data directory. Bound in this order, they drop in reverse: the node stops before its
/// directory goes.
pub async fn with_sandbox(key: &str, env: &[(&str, String)]) -> (tempfile::TempDir, Sim, Edge) {
    let (sim, _subs) = sandbox("us", key).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut all = vec![("SIGNAL_PENDO_BASE_URL_US", sim.base_url())];
    all.extend(env.iter().cloned());
    let edge = Edge::start(dir.path(), &all);
    (dir, sim, edge)
}

/// `with_sandbox` with the sandbox's key `ik`, and Pendo installed against it; its id last.
pub async fn with_pendo(env: &[(&str, String)]) -> (tempfile::TempDir, Sim, Edge, String) {
    let (dir, sim, edge) = with_sandbox("ik", env).await;
    let id = edge
        .install(json!({"api_key": "a", "integration_key": "ik"}))
        .await;
    (dir, sim, edge, id)
}

/// A Pendo that fails every request it gets.
pub fn failing() -> FaultPlan {
    FaultPlan {
        error_rate: 1.0,
        ..FaultPlan::default()
    }
}

/// Track event `n` of the ones the dead-letter tests give up on.
pub fn doomed(n: u64) -> Value {
    json!({"userId": "u", "event": "Doomed", "properties": {"n": n}})
}

/// `with_pendo(env)`, its sandbox then failing every request, and `events` ingested (each
/// answered 200) until each is a dead letter, one at a time so "oldest" is well defined.
pub async fn with_dead_letters(
    env: &[(&str, String)],
    events: impl IntoIterator<Item = Value>,
) -> (tempfile::TempDir, Sim, Edge, String) {
    let (dir, sim, edge, id) = with_pendo(env).await;
    sim.set_faults(failing());
    let stats = format!("/v1/admin/integrations/{id}/stats");
    for (n, event) in (1..).zip(events) {
        let (s, v) = edge.ingest("/v1/t", event).await;
        assert_eq!(s, 200, "{v}");
        edge.poll(&stats, |v| v["counts"]["dead_lettered"].as_u64() == Some(n))
            .await;
    }
    (dir, sim, edge, id)
}

/// Three events of about 3 KB given up on, one at a time so "oldest" is well defined, under a
/// dead-letter cap of 9 KiB: room for about two letters of this size, so the third pushes the
/// first out. Each event's `properties.n` is 0, 1, 2.
pub async fn with_dead_letters_past_their_cap() -> (tempfile::TempDir, Sim, Edge, String) {
    let pad = "x".repeat(3000);
    with_dead_letters(
        &[
            ("SIGNAL_RETRY_MAX_ATTEMPTS", "1".into()),
            ("SIGNAL_DEAD_LETTER_MAX_BYTES", "9KiB".into()),
        ],
        (0..3)
            .map(|n| json!({"userId": "u", "event": "Doomed", "properties": {"n": n, "pad": pad}})),
    )
    .await
}

#[path = "../support/signature.rs"]
mod signature;
/// `sha256=<hex>` of an HMAC-SHA256 over `timestamp.body` with `key` (`tests/support`).
pub use signature::signature;

/// Now, in milliseconds since the epoch, as the `x-timestamp` header carries it.
pub fn now_ms() -> String {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis()
        .to_string()
}

/// Waits until `f` holds, or panics with `what` after 10 s.
pub async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn bodies(sim: &Sim) -> Vec<Value> {
    sim.requests()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).expect("json"))
        .collect()
}

/// The `properties.n` of every Track body the sandbox accepted: which numbered events arrived.
pub fn delivered_ns(sim: &Sim) -> std::collections::BTreeSet<i64> {
    track_bodies(sim)
        .iter()
        .filter_map(|b| b["properties"]["n"].as_i64())
        .collect()
}

/// The Track bodies the sandbox accepted, in order.
pub fn track_bodies(sim: &Sim) -> Vec<Value> {
    bodies(sim)
        .into_iter()
        .filter(|b| b["type"] == "track")
        .collect()
}

/// The events of `outcome` in the stats' per-second series (`series.<outcome>` added up).
pub fn series_sum(stats: &Value, outcome: &str) -> u64 {
    stats["series"][outcome]
        .as_array()
        .map_or(0, |a| a.iter().filter_map(Value::as_u64).sum())
}
