//! One integration's delivery task: its queue, one batcher per batched target, the rate
//! limiter, retries, holds by id, and the pause. What an answer does is in `answer.rs`.
//!
//! Everything here belongs to one tokio task, so no lock is held across an await and nothing an
//! integration does can hold up another's task.

use crate::batch::{Batcher, write_merged};
use crate::client::{self, Answer, HttpClient, NoAnswer};
use crate::config::ForwardConfig;
use crate::cut_off::{CutOff, guarded};
use crate::job::{Job, JobBody};
use crate::outcome::{Outcome, OutcomeKind};
use crate::policy::Jitter;
use crate::prepared::{Piece, Prepared};
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// What the engine tells a worker.
pub(crate) enum Command {
    Deliver(Job),
    Update(Box<ForwardConfig>),
    Rate(u32),
    Stop(oneshot::Sender<()>),
}

/// One HTTP request's worth of items.
pub(crate) struct Req {
    pub target: usize,
    pub pieces: Vec<Piece>,
    pub attempts: u32,
    /// How many times an answer has been `partial` for it.
    pub partials: u32,
    pub first_at: Instant,
}

impl Req {
    pub fn new(target: usize, pieces: Vec<Piece>, now: Instant) -> Self {
        let first_at = pieces.iter().map(|p| p.first_at).min().unwrap_or(now);
        Self {
            target,
            pieces,
            attempts: 0,
            partials: 0,
            first_at,
        }
    }
}

/// The answer to one request, back from its task.
pub(crate) struct Done {
    pub req: Req,
    /// The body as sent.
    pub body: Bytes,
    pub answer: Result<Answer, NoAnswer>,
    pub latency: Duration,
    pub probe: bool,
}

/// One request under way: the exchange (a slot number and its answer; cut off, `None`).
type Exchange = Pin<Box<dyn Future<Output = (u64, Option<Result<Answer, NoAnswer>>)> + Send>>;

/// What the worker keeps of a request under way, by slot: what its answer is judged with, and
/// when it is cut off. The worker's own timer cuts it off ([`Worker::cut_off_late`]): no timer
/// and no task of its own per request (each cost about a microsecond a request).
struct Pending {
    req: Req,
    body: Bytes,
    start: Instant,
    probe: bool,
    deadline: Instant,
    cut_off: CutOff,
}

/// How fast the rate comes back after a 429: a tenth of the configured rate every 5 s.
const RECOVERY_STEP: Duration = Duration::from_secs(5);

pub(crate) struct Worker {
    pub(crate) cfg: ForwardConfig,
    /// The targets, made ready once per configuration.
    pub(crate) targets: Vec<Prepared>,
    /// The integration's id, shared by every outcome.
    pub(crate) id: Arc<str>,
    client: HttpClient,
    pub(crate) out: mpsc::UnboundedSender<Outcome>,
    pub(crate) ready: VecDeque<Req>,
    /// Requests waiting for their retry time, by (due, tiebreak).
    pub(crate) retries: BTreeMap<(Instant, u64), Req>,
    pub(crate) tiebreak: u64,
    /// One per target; `None` for an unbatched one.
    batchers: Vec<Option<Batcher>>,
    /// Hold ids the vendor throttled, until when.
    pub(crate) holds: HashMap<Box<str>, Instant>,
    /// Items waiting for their hold to end, by target.
    pub(crate) parked: Vec<(usize, Piece)>,
    /// The requests under way (at most `cfg.concurrency`), polled by the worker's task.
    inflight: FuturesUnordered<Exchange>,
    pending: HashMap<u64, Pending>,
    next_slot: u64,
    /// Why the integration is paused, if it is.
    pub(crate) paused: Option<String>,
    pub(crate) next_probe: Option<Instant>,
    probing: bool,
    /// No request before this (a 429's `Retry-After`).
    pub(crate) hold_until: Option<Instant>,
    pub(crate) limiter: DefaultDirectRateLimiter,
    pub(crate) rate: u32,
    pub(crate) rate_changed: Instant,
    pub(crate) jitter: Jitter,
}

pub(crate) fn limiter(rate: u32) -> DefaultDirectRateLimiter {
    let per_second = NonZeroU32::new(rate.max(1)).unwrap_or(NonZeroU32::MIN);
    // A small burst (2% of a second's worth) so a measured rate stays close to the setting.
    let burst = NonZeroU32::new((rate / 50).max(1)).unwrap_or(NonZeroU32::MIN);
    RateLimiter::direct(Quota::per_second(per_second).allow_burst(burst))
}

fn batchers(targets: &[Prepared]) -> Vec<Option<Batcher>> {
    targets
        .iter()
        .map(|t| t.limits.map(|_| Batcher::new(t.merge.clone())))
        .collect()
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
        let targets = Prepared::all(&cfg);
        Self {
            id: Arc::from(cfg.integration_id.as_str()),
            batchers: batchers(&targets),
            targets,
            client,
            out,
            ready: VecDeque::new(),
            retries: BTreeMap::new(),
            tiebreak: 0,
            holds: HashMap::new(),
            parked: Vec::new(),
            inflight: FuturesUnordered::new(),
            pending: HashMap::new(),
            next_slot: 0,
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
                Some((slot, answer)) = self.inflight.next(), if !self.inflight.is_empty() => {
                    if let Some(p) = self.pending.remove(&slot) {
                        if p.probe {
                            self.probing = false;
                        }
                        self.finish(Done {
                            latency: p.start.elapsed(),
                            answer: answer.unwrap_or(Err(NoAnswer::Timeout)),
                            req: p.req,
                            body: p.body,
                            probe: p.probe,
                        });
                    }
                }
                cmd = rx.recv() => match cmd {
                    Some(Command::Deliver(job)) => self.enqueue(job, Instant::now()),
                    Some(Command::Update(cfg)) => self.update(*cfg),
                    Some(Command::Rate(rate)) => self.set_rate(rate),
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

    fn held(&self, hold: Option<&str>, now: Instant) -> bool {
        hold.and_then(|h| self.holds.get(h))
            .is_some_and(|&t| t > now)
    }

    /// Cuts off the requests past their timeout: each then ends as `timeout`.
    fn cut_off_late(&mut self, now: Instant) {
        for p in self.pending.values() {
            if p.deadline <= now {
                p.cut_off.cut();
            }
        }
    }

    /// Timers: requests past their timeout, due retries, ended holds, lingering batches, a
    /// probe, rate recovery.
    fn tick(&mut self, now: Instant) {
        self.cut_off_late(now);
        while let Some((&(due, t), _)) = self.retries.first_key_value() {
            if due > now {
                break;
            }
            if let Some(req) = self.retries.remove(&(due, t)) {
                self.ready.push_back(req);
            }
        }
        if !self.holds.is_empty() {
            self.holds.retain(|_, until| *until > now);
            let parked = std::mem::take(&mut self.parked);
            for (target, piece) in parked {
                if self.held(piece.hold.as_deref(), now) {
                    self.parked.push((target, piece));
                } else {
                    self.unpark(target, piece, now);
                }
            }
        }
        for t in 0..self.batchers.len() {
            let (Some(Some(b)), Some(p)) = (self.batchers.get_mut(t), self.targets.get(t)) else {
                continue;
            };
            let Some(limits) = p.limits else { continue };
            let overhead = p.overhead();
            while b.len() > 0 && b.due(&limits, overhead, now) {
                let pieces = b.take(&limits, overhead);
                let (held, go): (Vec<Piece>, Vec<Piece>) = pieces.into_iter().partition(|p| {
                    p.hold
                        .as_deref()
                        .and_then(|h| self.holds.get(h))
                        .is_some_and(|&u| u > now)
                });
                self.parked.extend(held.into_iter().map(|p| (t, p)));
                if !go.is_empty() {
                    self.ready.push_back(Req::new(t, go, now));
                }
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

    /// A held or delayed item back in line: into its batch, or alone.
    fn unpark(&mut self, target: usize, piece: Piece, now: Instant) {
        match self.batchers.get_mut(target) {
            Some(Some(b)) => b.push_piece(piece),
            _ => self.ready.push_back(Req::new(target, vec![piece], now)),
        }
    }

    fn next_wake(&self, now: Instant) -> Instant {
        let far = now + Duration::from_secs(3600);
        let mut wake = far;
        // A request already cut off is not waited for again (its end comes through `inflight`).
        for p in self.pending.values().filter(|p| p.deadline > now) {
            wake = wake.min(p.deadline);
        }
        if let Some((&(due, _), _)) = self.retries.first_key_value() {
            wake = wake.min(due);
        }
        for (b, p) in self.batchers.iter().zip(&self.targets) {
            if let (Some(b), Some(l)) = (b, p.limits)
                && let Some(s) = b.since()
            {
                wake = wake.min(s + l.linger);
            }
        }
        if !self.parked.is_empty()
            && let Some(&first) = self.holds.values().min()
        {
            wake = wake.min(first);
        }
        // Only deadlines ahead count: a probe time already past (a probe is not sent while a
        // retry waits) would otherwise turn the sleep off and leave due timers unserved.
        if self.paused.is_some()
            && !self.probing
            && let Some(p) = self.next_probe.filter(|p| *p > now)
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

    fn enqueue(&mut self, job: Job, now: Instant) {
        let Job {
            id,
            request,
            body,
            hold,
        } = job;
        let Some(target) = self.targets.get(request) else {
            let _ = self.out.send(Outcome {
                integration_id: self.id.clone(),
                id,
                kind: OutcomeKind::DeadLettered,
                reason: Some(format!("no_such_request: {request}")),
                attempt: 0,
                latency: None,
                request: None,
                response: None,
                diagnosis: None,
                warnings: Vec::new(),
            });
            return;
        };
        let held = self.held(hold.as_deref(), now);
        if !held && let Some(Some(b)) = self.batchers.get_mut(request) {
            b.push(id, body, hold, now);
            return;
        }
        let bytes = match body {
            JobBody::Item(b) => b,
            JobBody::Merge { id: key, fields } => {
                write_merged(target.merge.as_ref(), &key, &fields)
            }
        };
        let piece = Piece {
            bytes,
            jobs: vec![id],
            hold,
            first_at: now,
        };
        if held {
            self.parked.push((request, piece));
        } else {
            self.ready.push_back(Req::new(request, vec![piece], now));
        }
    }

    /// A new rate limit, nothing else changed (a pause stays).
    fn set_rate(&mut self, rate: u32) {
        if rate != self.cfg.rate_limit_per_second {
            self.cfg.rate_limit_per_second = rate;
            self.rate = rate.max(1);
            self.limiter = limiter(self.rate);
            self.rate_changed = Instant::now();
        }
    }

    fn update(&mut self, cfg: ForwardConfig) {
        self.set_rate(cfg.rate_limit_per_second);
        let targets = Prepared::all(&cfg);
        let shape = |t: &Prepared| (t.limits.is_some(), t.merge.clone());
        let reshaped = self.targets.len() != targets.len()
            || self
                .targets
                .iter()
                .zip(&targets)
                .any(|(a, b)| shape(a) != shape(b));
        self.targets = targets;
        if reshaped {
            // Another set of requests, or one batched or merged otherwise: what was batching
            // goes to the same index (into its new batch, or alone), if it exists.
            let now = Instant::now();
            let old = std::mem::replace(&mut self.batchers, batchers(&self.targets));
            for (t, b) in old.into_iter().enumerate() {
                if let Some(mut b) = b {
                    let limits = crate::prepared::Limits {
                        max_items: usize::MAX,
                        max_bytes: None,
                        linger: Duration::ZERO,
                    };
                    for p in b.take(&limits, 0) {
                        self.unpark(t, p, now);
                    }
                }
            }
        }
        self.cfg = cfg;
        // A new key or region: held events go now.
        self.paused = None;
        self.next_probe = None;
        self.hold_until = None;
    }

    fn send(&mut self, req: Req, probe: bool) {
        let Some(t) = self.targets.get(req.target) else {
            self.lost(&req);
            return;
        };
        let client = self.client.clone();
        let (method, uri, headers) = (t.method.clone(), t.uri.clone(), t.headers.clone());
        let body = t.body(&req.pieces);
        let cap = self.cfg.retry.cap;
        let cut_off = CutOff::default();
        let slot = self.next_slot;
        self.next_slot += 1;
        let (sent, cut) = (body.clone(), cut_off.clone());
        self.inflight.push(Box::pin(async move {
            let exchange = client::exchange(&client, method, &uri, &headers, sent, cap);
            (slot, guarded(exchange, cut).await)
        }));
        let start = Instant::now();
        self.pending.insert(
            slot,
            Pending {
                req,
                body,
                start,
                probe,
                deadline: start + self.cfg.timeout,
                cut_off,
            },
        );
    }
}
