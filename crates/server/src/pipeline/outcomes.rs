//! The outcome task: each outcome of the delivery engine acknowledges the spool (delivered),
//! hands its record to the dead-letter task (given up: `dead_letter.rs` writes it off the async
//! workers, then acknowledges) or pauses (held), and is counted and reported as a live event.
//! It holds delivery's lock only for in-memory work.

use super::Reading;
use super::dead_letter::{Backoff, DeadLetterStore, Letter, Work, dead_letter_loop};
use crate::clock::now_ms;
use crate::live::{Entry, Live, Stats};
use crate::sync::lock;
use serde_json::json;
use signal_forward::{Outcome, OutcomeKind};
use signal_spool::DeadLetterInfo;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, watch};

/// The outcome task and the dead-letter task it hands records given up on to.
pub(super) struct Outcomes {
    task: tokio::task::JoinHandle<()>,
    letters: tokio::task::JoinHandle<()>,
    stop: watch::Sender<bool>,
}

impl Outcomes {
    /// Starts the outcome task on `rx`, its dead letters going to `store` (retried after
    /// `backoff` when a write fails).
    pub(super) fn spawn(
        rx: mpsc::UnboundedReceiver<Outcome>,
        reading: Arc<Mutex<Reading>>,
        live: Arc<Live>,
        stats: Arc<Stats>,
        store: Arc<dyn DeadLetterStore>,
        backoff: Backoff,
    ) -> Self {
        let (letters_tx, letters_rx) = mpsc::unbounded_channel();
        let (stop, stop_rx) = watch::channel(false);
        let letters = tokio::spawn(dead_letter_loop(
            letters_rx,
            store,
            reading.clone(),
            stats.clone(),
            backoff,
            stop_rx,
        ));
        let task = tokio::spawn(outcome_loop(rx, reading, live, stats, letters_tx));
        Self {
            task,
            letters,
            stop,
        }
    }

    /// Waits for the outcome task to end (once the delivery engine has dropped its sender),
    /// then for the dead letters it handed on: written, or (if a write fails now) left
    /// unacknowledged for the next start.
    pub(super) async fn finish(self) {
        let _ = self.task.await;
        let _ = self.stop.send(true);
        let _ = self.letters.await;
    }
}

/// What the vendor's last answer says of a record given up on.
fn dead_letter_info(o: &Outcome) -> DeadLetterInfo {
    DeadLetterInfo {
        reason: o.reason.clone().unwrap_or_default(),
        status: o.response.as_ref().map(|x| x.status).filter(|s| *s != 0),
        body: o
            .response
            .as_ref()
            .map(|x| x.body_text(4096))
            .unwrap_or_default(),
        attempts: o.attempt,
    }
}

/// The outcome task: acknowledge, dead-letter, count, and report.
async fn outcome_loop(
    mut rx: mpsc::UnboundedReceiver<Outcome>,
    reading: Arc<Mutex<Reading>>,
    live: Arc<Live>,
    stats: Arc<Stats>,
    letters: mpsc::UnboundedSender<Work>,
) {
    while let Some(o) = rx.recv().await {
        let latency = o.latency.map(|l| l.as_millis() as u64);
        // Made before taking the lock: only in-memory bookkeeping is done under it.
        let info = (o.kind == OutcomeKind::DeadLettered).then(|| dead_letter_info(&o));
        let mut r = lock(&reading);
        let meta = r.inflight.get(&o.id).map(|f| f.meta.clone());
        let Some(meta) = meta else { continue };
        match o.kind {
            OutcomeKind::Delivered => {
                match r.release(o.id) {
                    // Finishing a replay is a synced write: made by the dead-letter task.
                    Some(f) if f.replayed => {
                        let _ = letters.send(Work::FinishReplay(o.id));
                    }
                    Some(f) => {
                        let _ = r.consumer.ack(f.receipt);
                    }
                    None => {}
                }
                stats.delivered(latency.unwrap_or(0));
                stats.set_status("active", None);
            }
            OutcomeKind::DeadLettered => {
                // Still in flight until its dead letter is written (the dead-letter task then
                // acknowledges it): never lost, never acknowledged unwritten.
                let letter = Letter {
                    seq: o.id,
                    payload: meta.input.clone(),
                    info: info.unwrap_or_default(),
                    replayed: r.inflight.get(&o.id).is_some_and(|f| f.replayed),
                };
                if letters.send(Work::DeadLetter(letter)).is_ok() {
                    stats.dead_letter_queued();
                }
                stats.count_reason("dead_lettered", o.reason.as_deref().unwrap_or("unknown"));
            }
            OutcomeKind::Dropped => {
                // A response rule dropped it: done, nothing kept.
                if let Some(f) = r.release(o.id)
                    && !f.replayed
                {
                    let _ = r.consumer.ack(f.receipt);
                }
                stats.count_reason("dropped", o.reason.as_deref().unwrap_or("unknown"));
            }
            OutcomeKind::Retrying => stats.count("retrying"),
            OutcomeKind::Failed => {
                stats.count("failed");
                let diagnosis = o
                    .diagnosis
                    .as_ref()
                    .map(|d| json!({"code": d.code, "message": d.message, "fix": d.fix}));
                stats.set_status("paused", diagnosis);
            }
        }
        drop(r);
        live.push(Entry {
            at_ms: now_ms(),
            meta,
            outcome: o.kind.as_str(),
            reason: o.reason.clone(),
            attempt: o.attempt,
            latency_ms: latency,
            result: Some(o),
        });
    }
}
