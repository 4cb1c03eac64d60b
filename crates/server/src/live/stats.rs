//! One integration's counters, behind the stats endpoint and `/metrics`: outcomes (with their
//! reasons), the delivery latency histogram and percentiles, status and diagnosis, dead-letter
//! writes, reads held back by the in-flight cap, and the outcomes per second of the last 15
//! minutes ([`super::series`]).

use super::series::{DELIVERED, Series, Window, outcome_index};
use crate::sync::lock;
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds (ms) of the delivery latency histogram's buckets.
pub const BUCKETS: [u64; 11] = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000];

/// One integration's counters.
#[derive(Default)]
pub struct Stats {
    counts: Mutex<BTreeMap<&'static str, u64>>,
    /// Counts by outcome and reason, for drops and dead letters.
    reasons: Mutex<BTreeMap<(&'static str, String), u64>>,
    /// Cumulative histogram: counts per bucket of `BUCKETS`, then +Inf; and the sum.
    histogram: Mutex<([u64; 12], u64)>,
    latencies: Mutex<VecDeque<u64>>,
    status: Mutex<Option<(String, Option<Value>)>>,
    /// Records given up on whose dead letter is not written yet (still in flight).
    dead_letters_waiting: AtomicU64,
    /// Dead-letter writes that failed (each tried again later).
    dead_letter_write_failures: AtomicU64,
    /// Times the reader found delivery full (the in-flight cap, by count or bytes) and waited.
    reads_held: AtomicU64,
    /// Outcomes and delivery latencies per second, the last 15 minutes.
    series: Series,
}

/// The current second since the epoch, as the series counts it.
fn now_s() -> u64 {
    (crate::clock::now_ms() / 1000).max(0) as u64
}

impl Stats {
    /// Counts one outcome.
    pub fn count(&self, outcome: &'static str) {
        *lock(&self.counts).entry(outcome).or_default() += 1;
        if let Some(k) = outcome_index(outcome) {
            self.series.record(now_s(), k, None);
        }
    }

    /// Counts an outcome with its reason.
    pub fn count_reason(&self, outcome: &'static str, reason: &str) {
        self.count(outcome);
        *lock(&self.reasons)
            .entry((outcome, reason.to_owned()))
            .or_default() += 1;
    }

    /// Counts by outcome and reason.
    pub fn reasons(&self) -> BTreeMap<(&'static str, String), u64> {
        lock(&self.reasons).clone()
    }

    /// The latency histogram: per-bucket counts (last is +Inf) and the sum in ms.
    pub fn histogram(&self) -> ([u64; 12], u64) {
        *lock(&self.histogram)
    }

    /// Counts a delivery and its latency.
    pub fn delivered(&self, latency_ms: u64) {
        *lock(&self.counts).entry("delivered").or_default() += 1;
        self.series.record(now_s(), DELIVERED, Some(latency_ms));
        {
            let mut h = lock(&self.histogram);
            let i = BUCKETS
                .iter()
                .position(|b| latency_ms <= *b)
                .unwrap_or(BUCKETS.len());
            h.0[i] += 1;
            h.1 += latency_ms;
        }
        let mut l = lock(&self.latencies);
        if l.len() == 10_000 {
            l.pop_front();
        }
        l.push_back(latency_ms);
    }

    /// The outcomes and latencies per second of the last 15 minutes, up to this second.
    pub fn window(&self) -> Window {
        self.series.window(now_s())
    }

    /// Sets the status (`active`, `paused`) and its diagnosis.
    pub fn set_status(&self, status: &str, diagnosis: Option<Value>) {
        *lock(&self.status) = Some((status.to_owned(), diagnosis));
    }

    /// The status and diagnosis, `active` with none until something says otherwise.
    pub fn status(&self) -> (String, Option<Value>) {
        lock(&self.status)
            .clone()
            .unwrap_or_else(|| ("active".into(), None))
    }

    /// Counts by outcome.
    pub fn counts(&self) -> BTreeMap<&'static str, u64> {
        lock(&self.counts).clone()
    }

    /// A record given up on waits for its dead letter to be written.
    pub fn dead_letter_queued(&self) {
        self.dead_letters_waiting.fetch_add(1, Ordering::Relaxed);
    }

    /// `n` dead letters were written (their records acknowledged).
    pub fn dead_letters_written(&self, n: u64) {
        // Never below zero, whatever the order of the two counts.
        let _ = self
            .dead_letters_waiting
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
                Some(w.saturating_sub(n))
            });
    }

    /// The reader found delivery full and waits before reading more.
    pub fn read_held(&self) {
        self.reads_held.fetch_add(1, Ordering::Relaxed);
    }

    /// Times the reader found delivery full and waited.
    #[cfg(test)]
    pub fn reads_held(&self) -> u64 {
        self.reads_held.load(Ordering::Relaxed)
    }

    /// A dead-letter write failed; it is tried again later.
    pub fn dead_letter_write_failed(&self) {
        self.dead_letter_write_failures
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Records given up on whose dead letter is not written yet, and dead-letter writes that
    /// failed so far.
    pub fn dead_letter_writes(&self) -> (u64, u64) {
        (
            self.dead_letters_waiting.load(Ordering::Relaxed),
            self.dead_letter_write_failures.load(Ordering::Relaxed),
        )
    }

    /// p50, p90, p99 of recent delivery latencies, in ms.
    pub fn percentiles(&self) -> Value {
        percentiles_of(self.latencies())
    }

    /// The recent delivery latencies (the last 10,000), in ms.
    pub fn latencies(&self) -> Vec<u64> {
        lock(&self.latencies).iter().copied().collect()
    }
}

/// p50, p90, p99 of latencies `l`, in ms (nulls when there are none).
pub fn percentiles_of(mut l: Vec<u64>) -> Value {
    if l.is_empty() {
        return json!({"p50": null, "p90": null, "p99": null});
    }
    l.sort_unstable();
    let q = |p: f64| l[((l.len() as f64 * p) as usize).min(l.len() - 1)];
    json!({"p50": q(0.5), "p90": q(0.9), "p99": q(0.99)})
}
