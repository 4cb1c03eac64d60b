//! Live events (a bounded ring of the most recent per integration, and a broadcast for
//! server-sent events) and the counters behind the stats endpoint.

use crate::app::lock;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::broadcast;

/// What a live event says of the input event (shared by all its outcomes).
pub struct Meta {
    /// Its type.
    pub kind: signal_core::EventType,
    /// Its `event` or page `name`.
    pub event: Option<String>,
    /// Its messageId.
    pub message_id: Option<String>,
    /// The mapper's warnings.
    pub warnings: Vec<signal_core::Warning>,
    /// The spooled record: `{"receivedAt","context","batch":[event]}` (shared, not copied).
    pub input: bytes::Bytes,
}

/// The input event as the gateway received it: the batch's context merged under its own and
/// the gateway's `receivedAt` (it wins, as in mapping), without a `writeKey` some clients put in the body.
fn input_json(record: &[u8]) -> Value {
    let Ok(Value::Object(mut envelope)) = serde_json::from_slice::<Value>(record) else {
        return Value::Null;
    };
    let mut event = match envelope.remove("batch") {
        Some(Value::Array(mut a)) if !a.is_empty() => a.swap_remove(0),
        _ => return Value::Null,
    };
    if let Some(o) = event.as_object_mut() {
        if let Some(Value::Object(shared)) = envelope.remove("context")
            && let Value::Object(own) = o
                .entry("context")
                .or_insert_with(|| Value::Object(Map::new()))
        {
            for (k, v) in shared {
                own.entry(k).or_insert(v);
            }
        }
        if let Some(ms) = envelope.get("receivedAt").and_then(Value::as_i64) {
            let mut at = String::new();
            signal_core::time::format_rfc3339(ms, &mut at);
            o.insert("receivedAt".into(), at.into());
        }
        o.remove("writeKey");
    }
    event
}

/// One live event, kept as facts; its JSON is made only when someone reads it.
pub struct Entry {
    /// When, in ms since the epoch.
    pub at_ms: i64,
    /// The input event.
    pub meta: std::sync::Arc<Meta>,
    /// `delivered`, `retrying`, `failed`, `dead_lettered`, `dropped`.
    pub outcome: &'static str,
    /// Why, when not delivered.
    pub reason: Option<String>,
    /// Attempt number.
    pub attempt: u32,
    /// Send to answer, ms.
    pub latency_ms: Option<u64>,
    /// The delivery engine's outcome (request, response, diagnosis), when there was one.
    pub result: Option<signal_forward::Outcome>,
}

impl Entry {
    fn to_json(&self, id: u64) -> Value {
        let mut at = String::new();
        signal_core::time::format_rfc3339(self.at_ms, &mut at);
        let mut warnings: Vec<Value> = self
            .meta
            .warnings
            .iter()
            .map(|w| json!({"code": w.code(), "message": w.to_string()}))
            .collect();
        let mut v = json!({
            "id": format!("le_{id}"),
            "at": at,
            "message_id": self.meta.message_id,
            "type": self.meta.kind.as_str(),
            "event": self.meta.event,
            "outcome": self.outcome,
            "attempt": self.attempt,
            "input": input_json(&self.meta.input),
        });
        if let Some(r) = &self.reason {
            v["reason"] = r.as_str().into();
        }
        if let Some(ms) = self.latency_ms {
            v["latency_ms"] = ms.into();
        }
        if let Some(o) = &self.result {
            if let Some(req) = &o.request {
                v["vendor_request"] = json!({"method": req.method, "url": &*req.url, "body": String::from_utf8_lossy(&req.body)});
            }
            if let Some(resp) = &o.response {
                v["vendor_response"] = json!({"status": resp.status, "body": resp.body_text(4096)});
            }
            if let Some(d) = &o.diagnosis {
                v["diagnosis"] = json!({"code": d.code, "message": d.message, "fix": d.fix});
            }
            for w in &o.warnings {
                warnings.push(json!({"code": "vendor", "message": w}));
            }
        }
        v["warnings"] = Value::Array(warnings);
        v
    }
}

/// One integration's recent live events.
pub struct Live {
    cap: usize,
    next_id: AtomicU64,
    ring: Mutex<VecDeque<(u64, Entry)>>,
    tx: broadcast::Sender<String>,
}

impl Live {
    /// Keeps the last `cap` events.
    pub fn new(cap: usize) -> Self {
        let (tx, _) = broadcast::channel(1024);
        Self {
            cap,
            next_id: AtomicU64::new(1),
            ring: Mutex::new(VecDeque::with_capacity(cap)),
            tx,
        }
    }

    /// Adds an event and tells the subscribers (its JSON is made only if there are any).
    pub fn push(&self, entry: Entry) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if self.tx.receiver_count() > 0 {
            let _ = self.tx.send(entry.to_json(id).to_string());
        }
        let mut ring = lock(&self.ring);
        if ring.len() == self.cap {
            ring.pop_front();
        }
        ring.push_back((id, entry));
    }

    /// The most recent events, newest first.
    pub fn recent(&self, limit: usize) -> Vec<Value> {
        lock(&self.ring)
            .iter()
            .rev()
            .take(limit)
            .map(|(id, e)| e.to_json(*id))
            .collect()
    }

    /// A stream of events from now on, as JSON text.
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.tx.subscribe()
    }
}

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
}

impl Stats {
    /// Counts one outcome.
    pub fn count(&self, outcome: &'static str) {
        *lock(&self.counts).entry(outcome).or_default() += 1;
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
        self.count("delivered");
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
        let mut l: Vec<u64> = lock(&self.latencies).iter().copied().collect();
        if l.is_empty() {
            return json!({"p50": null, "p90": null, "p99": null});
        }
        l.sort_unstable();
        let q = |p: f64| l[((l.len() as f64 * p) as usize).min(l.len() - 1)];
        json!({"p50": q(0.5), "p90": q(0.9), "p99": q(0.99)})
    }
}

#[cfg(test)]
mod tests {
    use super::input_json;
    use serde_json::json;

    #[test]
    fn the_input_event_has_the_batch_context_under_its_own_and_no_write_key() {
        let record = json!({"receivedAt": 0, "context": {"ip": "10.0.0.1", "locale": "en"},
            "batch": [{"type": "track", "event": "E", "writeKey": "secret", "context": {"locale": "de"}}]});
        let input = input_json(record.to_string().as_bytes());
        assert_eq!(
            input,
            json!({"type": "track", "event": "E", "receivedAt": "1970-01-01T00:00:00.000Z",
                   "context": {"ip": "10.0.0.1", "locale": "de"}})
        );
        assert_eq!(input_json(b"not json"), serde_json::Value::Null);
    }
}
