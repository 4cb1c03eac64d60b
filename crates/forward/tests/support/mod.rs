//! A scripted vendor on 127.0.0.1 (hyper, HTTP/1.1): every request is recorded, and a closure
//! given the request (and how many came before) chooses the answer. And the configurations,
//! jobs and outcome readers the generic delivery tests share.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use signal_core::Blueprint;
use signal_core::request::{RequestSpec, resolve};
use signal_forward::{
    Engine, ForwardConfig, Integration, Job, JobBody, Outcome, OutcomeKind, RetryPolicy,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// One request as the vendor got it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// The answer: status, extra headers, body.
pub type Answer = (u16, Vec<(&'static str, String)>, String);

type Script = dyn Fn(&Seen, usize) -> Answer + Send + Sync;

pub struct Vendor {
    pub base_url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Vendor {
    /// Starts a vendor answering with `script`.
    pub async fn start(script: impl Fn(&Seen, usize) -> Answer + Send + Sync + 'static) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base_url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let script: Arc<Script> = Arc::new(script);
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (log, script) = (log.clone(), script.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                        let (log, script) = (log.clone(), script.clone());
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body.collect().await?.to_bytes().to_vec();
                            let seen = Seen {
                                method: parts.method.to_string(),
                                uri: parts.uri.to_string(),
                                headers: parts
                                    .headers
                                    .iter()
                                    .map(|(k, v)| {
                                        (k.to_string(), v.to_str().unwrap_or("").to_owned())
                                    })
                                    .collect(),
                                body,
                                at: Instant::now(),
                            };
                            let n = {
                                let mut log = log.lock().expect("lock");
                                log.push(seen.clone());
                                log.len() - 1
                            };
                            let (status, headers, text) = script(&seen, n);
                            let mut resp = Response::builder().status(status);
                            for (k, v) in headers {
                                resp = resp.header(k, v);
                            }
                            Ok::<_, hyper::Error>(
                                resp.body(Full::new(Bytes::from(text))).expect("response"),
                            )
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { base_url, seen }
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

/// A 200 with a body.
pub fn ok(body: &str) -> Answer {
    (200, Vec::new(), body.to_owned())
}

/// Amplitude's response policy (amplitude.md 3.5), with the 429 delay as given.
pub fn amplitude_rules(delay_s: u64) -> Value {
    json!({"amplitude_v2": [
        {"status": ["2xx"], "outcome": "delivered"},
        {"status": [400], "body": {"contains": "Invalid API key"}, "outcome": "pause", "diagnosis": "invalid_api_key"},
        {"status": [400], "outcome": "partial",
         "drop_indexes": ["events_with_invalid_fields.*", "events_with_missing_fields.*",
                          "events_with_invalid_id_lengths.*", "silenced_events"]},
        {"status": [413], "outcome": "split"},
        {"status": [429], "outcome": "partial", "delay_indexes": {"from": ["throttled_events"], "seconds": delay_s}},
        {"status": [429], "outcome": "throttle"},
        {"status": [408, "5xx"], "outcome": "retry"},
        {"status": ["4xx"], "outcome": "dead_letter"}
    ]})
}

/// An Amplitude-like request: the key in the body, events batched under `max_items`.
pub fn amplitude_request(max_items: usize, linger_ms: u64) -> Value {
    json!({"events": {"url": "{region.base}/2/httpapi", "auth": {"body": {"api_key": "{config.api_key}"}},
        "batch": {"max_items": max_items, "max_bytes": 1_000_000, "linger_ms": linger_ms, "hold_by": "user_id"},
        "envelope": {"events": {"@items": true}}, "item": {}, "response": "amplitude_v2"}})
}

pub const AMPLITUDE_KEY: &str = "amp-secret-key-0042";

/// A configuration from request specs, response policies and config values, with fast retries.
pub fn config(vendor: &Vendor, requests: Value, responses: Value, values: Value) -> ForwardConfig {
    let specs: BTreeMap<String, RequestSpec> = serde_json::from_value(requests).expect("specs");
    let targets = resolve(
        &specs,
        values.as_object().expect("object"),
        &vendor.base_url,
    )
    .expect("resolves");
    // The blueprint only lends its troubleshooting table and defaults here.
    let mut c = ForwardConfig::new("t", Blueprint::get("pendo").expect("embedded"), targets);
    c.responses = serde_json::from_value(responses).expect("policies");
    c.rate_limit_per_second = 10_000;
    c.retry = RetryPolicy {
        base: Duration::from_millis(20),
        cap: Duration::from_millis(200),
        max_attempts: 5,
        max_age: Duration::from_secs(3600),
    };
    c.timeout = Duration::from_secs(2);
    c
}

pub fn job(id: u64, request: usize, item: Value, hold: Option<&str>) -> Job {
    Job {
        id,
        request,
        body: JobBody::Item(Bytes::from(item.to_string())),
        hold: hold.map(Box::from),
    }
}

/// Starts delivering with `cfg` on a fresh engine; its handle and its outcomes.
pub fn start(cfg: ForwardConfig) -> (Integration, mpsc::UnboundedReceiver<Outcome>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Engine::new().start(cfg, tx), rx)
}

/// Outcomes until `n` events reached a final one, or the deadline.
pub async fn finals(
    rx: &mut mpsc::UnboundedReceiver<Outcome>,
    n: usize,
    within: Duration,
) -> Vec<Outcome> {
    let mut seen = Vec::new();
    let mut done = 0;
    let deadline = tokio::time::Instant::now() + within;
    while done < n {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(o)) => {
                if matches!(
                    o.kind,
                    OutcomeKind::Delivered | OutcomeKind::DeadLettered | OutcomeKind::Dropped
                ) {
                    done += 1;
                }
                seen.push(o);
            }
            _ => break,
        }
    }
    seen
}

pub fn ids(got: &[Outcome], kind: OutcomeKind) -> BTreeSet<u64> {
    got.iter()
        .filter(|o| o.kind == kind)
        .map(|o| o.id)
        .collect()
}

pub fn events(s: &Seen) -> Vec<Value> {
    s.json()["events"].as_array().cloned().unwrap_or_default()
}

/// No outcome shows `secret`, in its URL or its body.
pub fn assert_never_shown(got: &[Outcome], secret: &str) {
    for o in got {
        if let Some(r) = &o.request {
            assert!(!r.url.contains(secret), "{secret} in {}", r.url);
            assert!(
                !String::from_utf8_lossy(&r.body).contains(secret),
                "{secret} in a shown body"
            );
        }
    }
}
