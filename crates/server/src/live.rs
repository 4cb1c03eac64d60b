//! Live events (a bounded ring of the most recent per integration, and a broadcast for
//! server-sent events) and the counters behind the stats endpoint.
//!
//! The ring's memory is bounded by bytes too: each body an entry keeps (input event, vendor
//! request, vendor response) is cut to [`LIVE_BODY_BYTES`], the event then saying so in
//! `truncated`; so 1,000 entries hold at most about 13 MiB, whatever the events' size. Each
//! live event names the source that sent it (`source_id`, from the record's `sourceId`).

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

/// The most of each body a live event keeps (the input event, the vendor request's body, the
/// vendor response's body); past it, the start is kept and the event says it was cut
/// (`truncated`: each cut field's whole size). Dead letters and the spool keep the whole event.
pub const LIVE_BODY_BYTES: usize = 4 * 1024;

/// The input event as the gateway received it: the batch's context merged under its own and
/// the gateway's `receivedAt` (it wins, as in mapping), without a `writeKey` some clients put in
/// the body; and the id of the source that sent it (the record's `sourceId`).
fn input_json(record: &[u8]) -> (Value, Option<String>) {
    let Ok(Value::Object(mut envelope)) = serde_json::from_slice::<Value>(record) else {
        return (Value::Null, None);
    };
    let source = match envelope.remove("sourceId") {
        Some(Value::String(s)) => Some(s),
        _ => None,
    };
    let mut event = match envelope.remove("batch") {
        Some(Value::Array(mut a)) if !a.is_empty() => a.swap_remove(0),
        _ => return (Value::Null, source),
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
    (event, source)
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

/// The start of `bytes`, at most `max` long, cut on a UTF-8 character boundary.
fn cut(bytes: &[u8], max: usize) -> &[u8] {
    if bytes.len() <= max {
        return bytes;
    }
    let mut end = max;
    // Back off continuation bytes (0b10xx_xxxx) so a character is never split.
    while end > 0 && bytes[end] & 0xC0 == 0x80 {
        end -= 1;
    }
    &bytes[..end]
}

/// An entry as the ring keeps it: each body at most `LIVE_BODY_BYTES` (a copy of its start,
/// never a slice that would hold the whole body), and the whole sizes of those cut.
struct Kept {
    entry: Entry,
    /// The input event's JSON text, cut, with its source, when the record was too large to
    /// keep (its bytes in `entry.meta` are then dropped).
    input: Option<(String, Option<String>)>,
    /// Whole sizes of the cut fields, by their name in the live event.
    truncated: Vec<(&'static str, usize)>,
}

impl Kept {
    /// Keeps `entry`, its large bodies cut.
    fn new(mut entry: Entry) -> Self {
        let mut truncated = Vec::new();
        let mut input = None;
        let record = &entry.meta.input;
        if record.len() > LIVE_BODY_BYTES {
            let (event, source) = input_json(record);
            let text = event.to_string();
            let mut kept =
                String::from_utf8_lossy(cut(text.as_bytes(), LIVE_BODY_BYTES)).into_owned();
            if kept.len() < text.len() {
                kept.push('…');
                truncated.push(("input", record.len()));
            }
            input = Some((kept, source));
            let m = &entry.meta;
            entry.meta = std::sync::Arc::new(Meta {
                kind: m.kind,
                event: m.event.clone(),
                message_id: m.message_id.clone(),
                warnings: m.warnings.clone(),
                input: bytes::Bytes::new(),
            });
        }
        if let Some(o) = entry.result.as_mut() {
            if let Some(req) = o.request.as_mut()
                && req.body.len() > LIVE_BODY_BYTES
            {
                truncated.push(("vendor_request.body", req.body.len()));
                req.body = bytes::Bytes::copy_from_slice(cut(&req.body, LIVE_BODY_BYTES));
            }
            if let Some(resp) = o.response.as_mut()
                && resp.body.len() > LIVE_BODY_BYTES
            {
                truncated.push(("vendor_response.body", resp.body.len()));
                resp.body = bytes::Bytes::copy_from_slice(cut(&resp.body, LIVE_BODY_BYTES));
            }
        }
        Self {
            entry,
            input,
            truncated,
        }
    }

    fn to_json(&self, id: u64) -> Value {
        let e = &self.entry;
        let mut at = String::new();
        signal_core::time::format_rfc3339(e.at_ms, &mut at);
        let mut warnings: Vec<Value> = e
            .meta
            .warnings
            .iter()
            .map(|w| json!({"code": w.code(), "message": w.to_string()}))
            .collect();
        let (input, source) = match &self.input {
            Some((text, source)) => (Value::String(text.clone()), source.clone()),
            None => input_json(&e.meta.input),
        };
        let mut v = json!({
            "id": format!("le_{id}"),
            "at": at,
            "message_id": e.meta.message_id,
            "type": e.meta.kind.as_str(),
            "event": e.meta.event,
            "outcome": e.outcome,
            "attempt": e.attempt,
            "input": input,
            "source_id": source,
        });
        if let Some(r) = &e.reason {
            v["reason"] = r.as_str().into();
        }
        if let Some(ms) = e.latency_ms {
            v["latency_ms"] = ms.into();
        }
        if let Some(o) = &e.result {
            if let Some(req) = &o.request {
                v["vendor_request"] = json!({"method": req.method, "url": &*req.url, "body": String::from_utf8_lossy(&req.body)});
            }
            if let Some(resp) = &o.response {
                v["vendor_response"] =
                    json!({"status": resp.status, "body": resp.body_text(LIVE_BODY_BYTES)});
            }
            if let Some(d) = &o.diagnosis {
                v["diagnosis"] = json!({"code": d.code, "message": d.message, "fix": d.fix});
            }
            for w in &o.warnings {
                warnings.push(json!({"code": "vendor", "message": w}));
            }
        }
        if !self.truncated.is_empty() {
            let cut: Map<String, Value> = self
                .truncated
                .iter()
                .map(|(k, n)| ((*k).to_owned(), (*n).into()))
                .collect();
            v["truncated"] = Value::Object(cut);
        }
        v["warnings"] = Value::Array(warnings);
        v
    }
}

/// One integration's recent live events.
pub struct Live {
    cap: usize,
    next_id: AtomicU64,
    ring: Mutex<VecDeque<(u64, Kept)>>,
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

    /// Adds an event, its bodies cut to `LIVE_BODY_BYTES`, and tells the subscribers (its JSON
    /// is made only if there are any).
    pub fn push(&self, entry: Entry) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let entry = Kept::new(entry);
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
    use super::*;
    use std::sync::Arc;

    #[test]
    fn the_input_event_has_the_batch_context_under_its_own_and_no_write_key() {
        let record = json!({"receivedAt": 0, "context": {"ip": "10.0.0.1", "locale": "en"},
            "batch": [{"type": "track", "event": "E", "writeKey": "secret", "context": {"locale": "de"}}]});
        let (input, _) = input_json(record.to_string().as_bytes());
        assert_eq!(
            input,
            json!({"type": "track", "event": "E", "receivedAt": "1970-01-01T00:00:00.000Z",
                   "context": {"ip": "10.0.0.1", "locale": "de"}})
        );
        assert_eq!(input_json(b"not json").0, Value::Null);
    }

    fn entry(record: Vec<u8>, result: Option<signal_forward::Outcome>) -> (Entry, Arc<Meta>) {
        let meta = Arc::new(Meta {
            kind: signal_core::EventType::Track,
            event: Some("E".into()),
            message_id: Some("m1".into()),
            warnings: Vec::new(),
            input: bytes::Bytes::from(record),
        });
        let e = Entry {
            at_ms: 0,
            meta: meta.clone(),
            outcome: "retrying",
            reason: None,
            attempt: 1,
            latency_ms: None,
            result,
        };
        (e, meta)
    }

    #[test]
    fn a_live_event_names_the_source_that_sent_it() {
        let record = json!({"receivedAt": 0, "sourceId": "src_web", "context": {},
            "batch": [{"type": "track", "event": "E", "userId": "u"}]});
        let live = Live::new(10);
        live.push(entry(record.to_string().into_bytes(), None).0);
        let v = &live.recent(1)[0];
        assert_eq!(v["source_id"], "src_web", "{v}");
        assert_eq!(v["input"]["event"], "E", "the input event as it was");
    }

    /// A paused vendor and 30 KiB events: the ring keeps 1,000 live events per integration, so
    /// it keeps a few KiB of each body, not the bodies.
    #[test]
    fn a_large_event_is_kept_cut_in_the_live_ring_with_a_marker() {
        let pad = "é".repeat(15 * 1024);
        let record = json!({"receivedAt": 0, "sourceId": "src_web", "context": {},
            "batch": [{"type": "track", "event": "E", "userId": "u", "properties": {"pad": pad}}]})
        .to_string()
        .into_bytes();
        let total = record.len();
        let request_body = bytes::Bytes::from(format!(r#"{{"pad":"{pad}"}}"#));
        let outcome = signal_forward::Outcome {
            integration_id: "pendo".into(),
            id: 1,
            kind: signal_forward::OutcomeKind::Retrying,
            reason: Some("server_error".into()),
            attempt: 1,
            latency: None,
            request: Some(signal_forward::VendorRequest {
                method: "POST",
                url: "http://vendor/data/track".into(),
                body: request_body.clone(),
            }),
            response: Some(signal_forward::VendorResponse {
                status: 500,
                body: bytes::Bytes::from(vec![b'r'; 64 * 1024]),
            }),
            diagnosis: None,
            warnings: Vec::new(),
        };
        let (e, meta) = entry(record, Some(outcome));
        let kept_record = Arc::downgrade(&meta);
        drop(meta);
        let live = Live::new(10);
        live.push(e);
        assert!(
            kept_record.upgrade().is_none(),
            "the ring does not hold the whole record"
        );
        let v = &live.recent(1)[0];
        let input = v["input"].as_str().expect("the input, cut, as text");
        assert!(
            input.len() <= LIVE_BODY_BYTES + 8,
            "{} bytes kept",
            input.len()
        );
        assert!(input.starts_with(r#"{"#) && input.ends_with('…'), "{input}");
        assert_eq!(v["truncated"]["input"], total, "{}", v["truncated"]);
        let req = v["vendor_request"]["body"].as_str().expect("request body");
        assert!(req.len() <= LIVE_BODY_BYTES + 8, "{} bytes kept", req.len());
        assert_eq!(v["truncated"]["vendor_request.body"], request_body.len());
        let resp = v["vendor_response"]["body"]
            .as_str()
            .expect("response body");
        assert!(resp.len() <= LIVE_BODY_BYTES + 8);
        assert_eq!(v["truncated"]["vendor_response.body"], 64 * 1024);
        assert_eq!(v["source_id"], "src_web");
        assert_eq!(v["message_id"], "m1");
    }
}
