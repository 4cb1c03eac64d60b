//! What one answer does to one request, from its decision (`policy::decide`): delivered (with
//! the rule's warnings), retried (backoff, `Retry-After`, a throttle halving the rate), the
//! integration paused (the request held, a diagnosis shown), dead-lettered, split in halves,
//! dropped, or partial (the named items dead-lettered with the answer, the delayed ones held
//! by their hold id, the rest sent again at once, at most `max_partial` times, then retried).

use crate::outcome::{Diagnosis, Outcome, OutcomeKind, VendorRequest, VendorResponse};
use crate::policy;
use crate::prepared::Piece;
use crate::worker::{Done, Req, Worker, limiter};
use bytes::Bytes;
use signal_core::response::Decision;
use std::time::{Duration, Instant};

/// What every outcome of one answer shares.
struct Shared {
    attempt: u32,
    latency: Option<Duration>,
    request: Option<VendorRequest>,
    response: Option<VendorResponse>,
}

impl Worker {
    /// One outcome per event behind `pieces`.
    fn emit(
        &self,
        pieces: &[Piece],
        s: &Shared,
        kind: OutcomeKind,
        reason: Option<String>,
        diagnosis: Option<Diagnosis>,
        warnings: &[String],
    ) {
        for id in pieces.iter().flat_map(|p| p.jobs.iter().copied()) {
            let _ = self.out.send(Outcome {
                integration_id: self.id.clone(),
                id,
                kind,
                reason: reason.clone(),
                attempt: s.attempt,
                latency: s.latency,
                request: s.request.clone(),
                response: s.response.clone(),
                diagnosis: diagnosis.clone(),
                warnings: warnings.to_vec(),
            });
        }
    }

    /// Dead-letters `pieces` with `why` (`vendor_rejected: status_400`, `too_old: ...`).
    fn dead_letter(&self, pieces: &[Piece], s: &Shared, why: String, d: Option<Diagnosis>) {
        self.emit(pieces, s, OutcomeKind::DeadLettered, Some(why), d, &[]);
    }

    /// A request whose target is gone (a new configuration with fewer requests): its events
    /// are dead-lettered, never silently lost.
    pub(crate) fn lost(&self, req: &Req) {
        let s = Shared {
            attempt: req.attempts,
            latency: None,
            request: None,
            response: None,
        };
        let why = format!("no_such_request: {}", req.target);
        self.dead_letter(&req.pieces, &s, why, None);
    }

    fn diagnosis(&self, code: &str) -> Option<Diagnosis> {
        self.cfg.blueprint.troubleshooting(code).map(|t| Diagnosis {
            code: t.code.clone(),
            message: t.message.clone(),
            fix: t.fix.clone(),
        })
    }

    fn later(&mut self, at: Instant, req: Req) {
        self.tiebreak += 1;
        self.retries.insert((at, self.tiebreak), req);
    }

    /// The decision on an answer (or on no answer: retry), the reason words, the answer's
    /// `Retry-After`, and what its outcomes share: the request as shown and the response.
    fn judge(&self, done: &Done) -> Option<(Decision, String, Option<Duration>, Shared)> {
        let target = self.targets.get(done.req.target)?;
        let items = done.req.pieces.len();
        let bp = self.cfg.blueprint;
        let (decision, reason, retry_after, response) = match &done.answer {
            Ok(a) => (
                policy::decide(bp, &target.rules, a.status, &a.body, items),
                format!("status_{}", a.status),
                a.retry_after,
                VendorResponse {
                    status: a.status,
                    body: a.body.clone(),
                },
            ),
            Err(e) => (
                Decision::Retry { throttled: false },
                e.reason().to_owned(),
                None,
                VendorResponse {
                    status: 0,
                    body: Bytes::from(e.detail()),
                },
            ),
        };
        let shared = Shared {
            attempt: done.req.attempts + 1,
            latency: Some(done.latency),
            request: Some(VendorRequest {
                method: target.method_str,
                url: target.shown_url.clone(),
                body: target.shown_body(&done.req.pieces, &done.body),
            }),
            response: Some(response),
        };
        Some((decision, reason, retry_after, shared))
    }

    pub(crate) fn finish(&mut self, done: Done) {
        let now = Instant::now();
        let Some((decision, reason, retry_after, shared)) = self.judge(&done) else {
            self.lost(&done.req);
            return;
        };
        let Done { req, probe, .. } = done;
        match decision {
            Decision::Delivered { warnings } => {
                if probe || self.paused.is_some() {
                    self.paused = None;
                    self.next_probe = None;
                }
                let s = &shared;
                self.emit(
                    &req.pieces,
                    s,
                    OutcomeKind::Delivered,
                    None,
                    None,
                    &warnings,
                );
            }
            Decision::Retry { throttled } => {
                self.retry(req, &shared, reason, throttled, retry_after, probe, now)
            }
            Decision::Pause { code } => {
                let diagnosis = self.diagnosis(&code);
                if self.paused.is_none() {
                    tracing::warn!(integration = %self.cfg.integration_id, %code, "integration paused; its events are held");
                }
                self.paused = Some(code);
                self.next_probe = Some(policy::after(now, self.cfg.probe_interval));
                let s = &shared;
                self.emit(
                    &req.pieces,
                    s,
                    OutcomeKind::Failed,
                    Some(reason),
                    diagnosis,
                    &[],
                );
                // Held, not counted as an attempt: it goes first once the integration resumes.
                self.ready.push_front(req);
            }
            Decision::DeadLetter { diagnosis } => {
                let d = diagnosis.and_then(|c| self.diagnosis(&c));
                self.dead_letter(
                    &req.pieces,
                    &shared,
                    format!("vendor_rejected: {reason}"),
                    d,
                );
            }
            Decision::Drop { reason: why } => {
                let d = self.diagnosis(&why);
                let why = Some(format!("{why}: {reason}"));
                self.emit(&req.pieces, &shared, OutcomeKind::Dropped, why, d, &[]);
            }
            Decision::Split => self.split(req, &shared, &reason),
            Decision::Partial {
                dead,
                delayed,
                delay_s,
                diagnosis,
            } => {
                let d = diagnosis.and_then(|c| self.diagnosis(&c));
                let delay = Duration::from_secs(delay_s);
                let plan = (&dead[..], &delayed[..], delay, retry_after);
                self.partial(req, &shared, &reason, plan, d, now);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn retry(
        &mut self,
        mut req: Req,
        shared: &Shared,
        reason: String,
        throttled: bool,
        not_before: Option<Duration>,
        probe: bool,
        now: Instant,
    ) {
        if throttled {
            self.rate = (self.rate / 2).max(1);
            self.limiter = limiter(self.rate);
            self.rate_changed = now;
            let hold = policy::after(now, not_before.unwrap_or(Duration::from_secs(1)));
            self.hold_until = Some(self.hold_until.map_or(hold, |h| h.max(hold)));
        }
        if probe {
            self.next_probe = Some(policy::after(now, self.cfg.probe_interval));
        }
        let policy = self.cfg.retry;
        let too_old = now.duration_since(req.first_at) >= policy.max_age;
        if shared.attempt >= policy.max_attempts || too_old {
            let why = if too_old { "too_old" } else { "max_attempts" };
            self.dead_letter(&req.pieces, shared, format!("{why}: {reason}"), None);
            return;
        }
        let mut delay = policy::backoff(&policy, shared.attempt, self.jitter.unit());
        if let Some(nb) = not_before {
            delay = delay.max(nb);
        }
        self.emit(
            &req.pieces,
            shared,
            OutcomeKind::Retrying,
            Some(reason),
            None,
            &[],
        );
        req.attempts = shared.attempt;
        self.later(policy::after(now, delay), req);
    }

    /// Halves: each half its own request, first half first; a single item dead-letters.
    fn split(&mut self, mut req: Req, shared: &Shared, reason: &str) {
        if req.pieces.len() < 2 {
            let why = format!("vendor_rejected: {reason}");
            self.dead_letter(&req.pieces, shared, why, None);
            return;
        }
        let why = Some(format!("split: {reason}"));
        self.emit(&req.pieces, shared, OutcomeKind::Retrying, why, None, &[]);
        let second = req.pieces.split_off(req.pieces.len() / 2);
        let half = |pieces| Req {
            target: req.target,
            pieces,
            attempts: req.attempts,
            partials: req.partials,
            first_at: req.first_at,
        };
        let second = half(second);
        let first = half(std::mem::take(&mut req.pieces));
        self.ready.push_front(second);
        self.ready.push_front(first);
    }

    /// Dead-letters `dead`, holds `delayed` (by hold id, or alone), sends the rest at once;
    /// past `max_partial` rounds the rest is retried as a failed request is (backoff,
    /// `Retry-After`, `max_attempts`, `max_age`).
    fn partial(
        &mut self,
        req: Req,
        shared: &Shared,
        reason: &str,
        (dead, delayed, delay, not_before): (&[usize], &[usize], Duration, Option<Duration>),
        diagnosis: Option<Diagnosis>,
        now: Instant,
    ) {
        let Req {
            target,
            pieces,
            attempts,
            partials,
            first_at,
        } = req;
        let (mut gone, mut waiting, mut rest) = (Vec::new(), Vec::new(), Vec::new());
        for (i, p) in pieces.into_iter().enumerate() {
            if dead.contains(&i) {
                gone.push(p);
            } else if delayed.contains(&i) {
                waiting.push(p);
            } else {
                rest.push(p);
            }
        }
        let why = format!("vendor_rejected: {reason}");
        self.dead_letter(&gone, shared, why, diagnosis);
        // A delayed item past the retry policy's age is given up on (a vendor that throttles
        // one id for ever does not keep it for ever).
        let max_age = self.cfg.retry.max_age;
        let (old, waiting): (Vec<Piece>, Vec<Piece>) = waiting
            .into_iter()
            .partition(|p| now.duration_since(p.first_at) >= max_age);
        self.dead_letter(&old, shared, format!("too_old: {reason}"), None);
        if !waiting.is_empty() {
            let why = Some(format!("delayed: {reason}"));
            self.emit(&waiting, shared, OutcomeKind::Retrying, why, None, &[]);
            let until = policy::after(now, delay);
            let mut alone = Vec::new();
            for p in waiting {
                match p.hold.clone() {
                    Some(h) => {
                        let slot = self.holds.entry(h).or_insert(until);
                        *slot = (*slot).max(until);
                        self.parked.push((target, p));
                    }
                    None => alone.push(p),
                }
            }
            if !alone.is_empty() {
                self.later(until, Req::new(target, alone, now));
            }
        }
        if rest.is_empty() {
            return;
        }
        if partials + 1 > self.cfg.max_partial {
            // The rest was never rejected: it waits and counts an attempt, like any retry.
            let req = Req {
                target,
                pieces: rest,
                attempts,
                partials,
                first_at,
            };
            let why = format!("partial_limit: {reason}");
            self.retry(req, shared, why, false, not_before, false, now);
            return;
        }
        let why = Some(format!("partial: {reason}"));
        self.emit(&rest, shared, OutcomeKind::Retrying, why, None, &[]);
        self.ready.push_front(Req {
            target,
            pieces: rest,
            attempts,
            partials: partials + 1,
            first_at,
        });
    }
}
