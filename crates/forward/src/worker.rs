//! One integration's delivery task: its queue, batches, rate limiter, retries and pause.
//!
//! Everything here belongs to one tokio task, so no lock is held across an await and nothing an
//! integration does can hold up another's task.

use crate::batch::Batcher;
use crate::client::{self, Answer, HttpClient, NoAnswer};
use crate::config::ForwardConfig;
use crate::job::Job;
use crate::outcome::{Diagnosis, Outcome, OutcomeKind, VendorRequest, VendorResponse};
use crate::pendo_compat::{self, MetadataKind};
use crate::policy::{self, Action, Jitter};
use bytes::Bytes;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use hyper::header::{HeaderName, HeaderValue};
use std::collections::{BTreeMap, VecDeque};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

/// What the engine tells a worker.
pub(crate) enum Command {
    Deliver(Job),
    Update(Box<ForwardConfig>),
    Stop(oneshot::Sender<()>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Track = 0,
    Visitors = 1,
    Accounts = 2,
}

/// One HTTP request's worth of events.
struct Req {
    target: Target,
    body: Bytes,
    jobs: Vec<u64>,
    attempts: u32,
    first_at: Instant,
}

/// The answer to one request, back from its task.
struct Done {
    req: Req,
    answer: Result<Answer, NoAnswer>,
    latency: Duration,
    probe: bool,
}

/// How fast the rate comes back after a 429: a tenth of the configured rate every 5 s.
const RECOVERY_STEP: Duration = Duration::from_secs(5);

pub(crate) struct Worker {
    cfg: ForwardConfig,
    /// The URL of each target, and the auth header, made once per configuration.
    urls: [Arc<str>; 3],
    /// The integration's id, shared by every outcome.
    id: Arc<str>,
    auth: (HeaderName, HeaderValue),
    client: HttpClient,
    out: mpsc::UnboundedSender<Outcome>,
    ready: VecDeque<Req>,
    /// Requests waiting for their retry time, by (due, tiebreak).
    retries: BTreeMap<(Instant, u64), Req>,
    tiebreak: u64,
    visitors: Batcher,
    accounts: Batcher,
    inflight: JoinSet<Done>,
    /// Why the integration is paused, if it is.
    paused: Option<String>,
    next_probe: Option<Instant>,
    probing: bool,
    /// No request before this (a 429's `Retry-After`).
    hold_until: Option<Instant>,
    limiter: DefaultDirectRateLimiter,
    rate: u32,
    rate_changed: Instant,
    jitter: Jitter,
}

fn limiter(rate: u32) -> DefaultDirectRateLimiter {
    let per_second = NonZeroU32::new(rate.max(1)).unwrap_or(NonZeroU32::MIN);
    // A small burst (2% of a second's worth) so a measured rate stays close to the setting.
    let burst = NonZeroU32::new((rate / 50).max(1)).unwrap_or(NonZeroU32::MIN);
    RateLimiter::direct(Quota::per_second(per_second).allow_burst(burst))
}

impl Worker {
    pub fn new(
        cfg: ForwardConfig,
        client: HttpClient,
        out: mpsc::UnboundedSender<Outcome>,
    ) -> Self {
        let rate = cfg.rate_limit_per_second.max(1);
        let seed = cfg
            .integration_id
            .bytes()
            .fold(0x1234_5678u64, |h, b| h.rotate_left(5) ^ u64::from(b));
        let visitors = Batcher::new(pendo_compat::id_field(cfg.blueprint, MetadataKind::Visitor));
        let accounts = Batcher::new(pendo_compat::id_field(cfg.blueprint, MetadataKind::Account));
        let (urls, auth) = prepared(&cfg);
        Self {
            id: Arc::from(cfg.integration_id.as_str()),
            urls,
            auth,
            client,
            out,
            ready: VecDeque::new(),
            retries: BTreeMap::new(),
            tiebreak: 0,
            visitors,
            accounts,
            inflight: JoinSet::new(),
            paused: None,
            next_probe: None,
            probing: false,
            hold_until: None,
            limiter: limiter(rate),
            rate,
            rate_changed: Instant::now(),
            jitter: Jitter::new(seed),
            cfg,
        }
    }

    pub async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
        loop {
            let now = Instant::now();
            self.tick(now);
            let can_send = self.paused.is_none()
                && !self.ready.is_empty()
                && self.inflight.len() < self.cfg.concurrency
                && self.hold_until.is_none_or(|h| now >= h);
            let wake = self.next_wake(now);
            tokio::select! {
                biased;
                Some(done) = self.inflight.join_next(), if !self.inflight.is_empty() => {
                    if let Ok(done) = done {
                        self.finish(done);
                    }
                }
                cmd = rx.recv() => match cmd {
                    Some(Command::Deliver(job)) => self.enqueue(job),
                    Some(Command::Update(cfg)) => self.update(*cfg),
                    Some(Command::Stop(ack)) => {
                        let _ = ack.send(());
                        return;
                    }
                    None => return,
                },
                _ = self.limiter.until_ready(), if can_send => {
                    if let Some(req) = self.ready.pop_front() {
                        self.send(req, false);
                    }
                }
                _ = tokio::time::sleep_until(wake.into()), if wake > now => {}
            }
        }
    }

    /// Timers: due retries, lingering batches, a probe, rate recovery.
    fn tick(&mut self, now: Instant) {
        while let Some((&(due, t), _)) = self.retries.first_key_value() {
            if due > now {
                break;
            }
            if let Some(req) = self.retries.remove(&(due, t)) {
                self.ready.push_back(req);
            }
        }
        let linger = self.cfg.linger;
        let max = self.cfg.max_batch;
        for target in [Target::Visitors, Target::Accounts] {
            let batcher = match target {
                Target::Visitors => &mut self.visitors,
                _ => &mut self.accounts,
            };
            let due = batcher.len() >= max || batcher.since().is_some_and(|s| now >= s + linger);
            if due && let Some((body, jobs)) = batcher.take(max) {
                self.ready.push_back(Req {
                    target,
                    body,
                    jobs,
                    attempts: 0,
                    first_at: now,
                });
            }
        }
        if self.paused.is_some()
            && !self.probing
            && self.next_probe.is_some_and(|p| now >= p)
            && let Some(req) = self.ready.pop_front()
        {
            self.probing = true;
            self.send(req, true);
        }
        let target_rate = self.cfg.rate_limit_per_second.max(1);
        if self.rate < target_rate && now >= self.rate_changed + RECOVERY_STEP {
            self.rate = (self.rate + (target_rate / 10).max(1)).min(target_rate);
            self.limiter = limiter(self.rate);
            self.rate_changed = now;
        }
    }

    fn next_wake(&self, now: Instant) -> Instant {
        let far = now + Duration::from_secs(3600);
        let mut wake = far;
        if let Some((&(due, _), _)) = self.retries.first_key_value() {
            wake = wake.min(due);
        }
        for b in [&self.visitors, &self.accounts] {
            if let Some(s) = b.since() {
                wake = wake.min(s + self.cfg.linger);
            }
        }
        if self.paused.is_some()
            && !self.probing
            && let Some(p) = self.next_probe
        {
            wake = wake.min(p);
        }
        if let Some(h) = self.hold_until.filter(|h| *h > now) {
            wake = wake.min(h);
        }
        if self.rate < self.cfg.rate_limit_per_second {
            wake = wake.min(self.rate_changed + RECOVERY_STEP);
        }
        wake
    }

    fn enqueue(&mut self, job: Job) {
        match job {
            Job::Track { id, body } => self.ready.push_back(Req {
                target: Target::Track,
                body,
                jobs: vec![id],
                attempts: 0,
                first_at: Instant::now(),
            }),
            Job::Metadata {
                id,
                kind,
                record_id,
                fields,
            } => match kind {
                MetadataKind::Visitor => self.visitors.push(id, record_id, fields),
                MetadataKind::Account => self.accounts.push(id, record_id, fields),
            },
        }
    }

    fn update(&mut self, cfg: ForwardConfig) {
        if cfg.rate_limit_per_second != self.cfg.rate_limit_per_second {
            self.rate = cfg.rate_limit_per_second.max(1);
            self.limiter = limiter(self.rate);
            self.rate_changed = Instant::now();
        }
        (self.urls, self.auth) = prepared(&cfg);
        self.cfg = cfg;
        // A new key or region: held events go now.
        self.paused = None;
        self.next_probe = None;
        self.hold_until = None;
    }

    fn url(&self, target: Target) -> Arc<str> {
        self.urls[target as usize].clone()
    }

    fn send(&mut self, req: Req, probe: bool) {
        let client = self.client.clone();
        let url = self.url(req.target);
        let auth = self.auth.clone();
        let timeout = self.cfg.timeout;
        self.inflight.spawn(async move {
            let start = Instant::now();
            let answer = client::post(&client, &url, auth, req.body.clone(), timeout).await;
            Done {
                req,
                answer,
                latency: start.elapsed(),
                probe,
            }
        });
    }

    fn finish(&mut self, done: Done) {
        let Done {
            mut req,
            answer,
            latency,
            probe,
        } = done;
        if probe {
            self.probing = false;
        }
        let now = Instant::now();
        let attempt = req.attempts + 1;
        let bp = self.cfg.blueprint;
        let (action, reason) = match &answer {
            Ok(a) => (
                policy::classify(bp, a.status, a.retry_after),
                format!("status_{}", a.status),
            ),
            Err(e) => (
                Action::Retry {
                    not_before: None,
                    throttled: false,
                },
                e.reason().to_owned(),
            ),
        };
        let request = VendorRequest {
            method: "POST",
            url: self.url(req.target),
            body: req.body.clone(),
        };
        let response = Some(match &answer {
            Ok(a) => VendorResponse {
                status: a.status,
                body: a.body.clone(),
            },
            Err(e) => VendorResponse {
                status: 0,
                body: Bytes::from(e.detail()),
            },
        });
        let emit = |out: &mpsc::UnboundedSender<Outcome>,
                    jobs: &[u64],
                    kind: OutcomeKind,
                    reason: Option<String>,
                    diagnosis: Option<Diagnosis>,
                    warnings: Vec<String>| {
            for &id in jobs {
                let _ = out.send(Outcome {
                    integration_id: self.id.clone(),
                    id,
                    kind,
                    reason: reason.clone(),
                    attempt,
                    latency: Some(latency),
                    request: Some(request.clone()),
                    response: response.clone(),
                    diagnosis: diagnosis.clone(),
                    warnings: warnings.clone(),
                });
            }
        };
        match action {
            Action::Delivered => {
                if probe || self.paused.is_some() {
                    self.paused = None;
                    self.next_probe = None;
                }
                let warnings = answer
                    .as_ref()
                    .ok()
                    .map(|a| metadata_warnings(req.target, &a.body))
                    .unwrap_or_default();
                emit(
                    &self.out,
                    &req.jobs,
                    OutcomeKind::Delivered,
                    None,
                    None,
                    warnings,
                );
            }
            Action::Retry {
                not_before,
                throttled,
            } => {
                if throttled {
                    self.rate = (self.rate / 2).max(1);
                    self.limiter = limiter(self.rate);
                    self.rate_changed = now;
                    let hold = now + not_before.unwrap_or(Duration::from_secs(1));
                    self.hold_until = Some(self.hold_until.map_or(hold, |h| h.max(hold)));
                }
                if probe {
                    self.next_probe = Some(now + self.cfg.probe_interval);
                }
                let policy = self.cfg.retry;
                let too_old = now.duration_since(req.first_at) >= policy.max_age;
                if attempt >= policy.max_attempts || too_old {
                    let why = if too_old { "too_old" } else { "max_attempts" };
                    emit(
                        &self.out,
                        &req.jobs,
                        OutcomeKind::DeadLettered,
                        Some(format!("{why}: {reason}")),
                        None,
                        Vec::new(),
                    );
                } else {
                    let mut delay = policy::backoff(&policy, attempt, self.jitter.unit());
                    if let Some(nb) = not_before {
                        delay = delay.max(nb);
                    }
                    emit(
                        &self.out,
                        &req.jobs,
                        OutcomeKind::Retrying,
                        Some(reason),
                        None,
                        Vec::new(),
                    );
                    req.attempts = attempt;
                    self.tiebreak += 1;
                    self.retries.insert((now + delay, self.tiebreak), req);
                }
            }
            Action::Pause { code } => {
                let diagnosis = bp.troubleshooting(&code).map(|t| Diagnosis {
                    code: t.code.clone(),
                    message: t.message.clone(),
                    fix: t.fix.clone(),
                });
                if self.paused.is_none() {
                    tracing::warn!(integration = %self.cfg.integration_id, %code, "integration paused; its events are held");
                }
                self.paused = Some(code);
                self.next_probe = Some(now + self.cfg.probe_interval);
                emit(
                    &self.out,
                    &req.jobs,
                    OutcomeKind::Failed,
                    Some(reason),
                    diagnosis,
                    Vec::new(),
                );
                // Held, not counted as an attempt: it goes first once the integration resumes.
                self.ready.push_front(req);
            }
            Action::DeadLetter => {
                emit(
                    &self.out,
                    &req.jobs,
                    OutcomeKind::DeadLettered,
                    Some(format!("vendor_rejected: {reason}")),
                    None,
                    Vec::new(),
                );
            }
        }
    }
}

/// The URLs of the three targets and the auth header, for a configuration. A header value
/// that is not valid (a key with a newline) is sent empty, and Pendo answers 401: the
/// integration pauses with the diagnosis that says to fix the key.
fn prepared(cfg: &ForwardConfig) -> ([Arc<str>; 3], (HeaderName, HeaderValue)) {
    let bp = cfg.blueprint;
    let url = |path: &str| Arc::<str>::from(format!("{}{}", cfg.base_url, path));
    let urls = [
        url(&pendo_compat::track_path(bp)),
        url(&pendo_compat::metadata_path(bp, MetadataKind::Visitor)),
        url(&pendo_compat::metadata_path(bp, MetadataKind::Account)),
    ];
    let name = HeaderName::from_bytes(pendo_compat::auth_header(bp).as_bytes())
        .unwrap_or(HeaderName::from_static("x-pendo-integration-key"));
    let value = HeaderValue::from_str(&cfg.auth).unwrap_or(HeaderValue::from_static(""));
    (urls, (name, value))
}

/// Failed or missing records in a metadata answer become warnings.
fn metadata_warnings(target: Target, body: &[u8]) -> Vec<String> {
    if target == Target::Track {
        return Vec::new();
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    let mut w = Vec::new();
    for key in ["failed", "missing"] {
        if let Some(n) = v
            .get(key)
            .and_then(serde_json::Value::as_u64)
            .filter(|n| *n > 0)
        {
            w.push(format!(
                "metadata_{key}: Pendo reported {n} record(s) {key}"
            ));
        }
    }
    w
}
