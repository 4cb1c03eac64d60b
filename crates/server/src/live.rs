//! Live events (a bounded ring of the most recent per integration, and a broadcast for
//! server-sent events) and the counters behind the stats endpoint.
//!
//! The ring's memory is bounded by bytes too: each body an entry keeps (input event, vendor
//! request, vendor response) is cut to [`LIVE_BODY_BYTES`], the event then saying so in
//! `truncated`; so 1,000 entries hold at most about 13 MiB, whatever the events' size. Each
//! live event names the source that sent it (`source_id`, from the record's `sourceId`).

use crate::sync::lock;
use serde_json::{Map, Value, json};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// What a live event says of the input event (shared by all its outcomes).
pub struct Meta {
    /// Its type. (Its `event` or page `name` and its messageId are read from `input` when the
    /// live event is shown, not copied for each event delivered.)
    pub kind: signal_core::EventType,
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
    let json = signal_core::record::json(record);
    let Ok(Value::Object(mut envelope)) = serde_json::from_slice::<Value>(json) else {
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

/// What a live event names of its input event.
#[derive(Clone)]
struct Said {
    /// Its `event` (a track) or `name` (a page or screen).
    event: Option<String>,
    message_id: Option<String>,
    /// The source that sent it.
    source: Option<String>,
}

impl Said {
    fn of(event: &Value, source: Option<String>) -> Self {
        let text = |k: &str| event.get(k).and_then(Value::as_str).map(str::to_owned);
        Self {
            event: text("event").or_else(|| text("name")),
            // Either spelling the gateway accepts (it refuses an event with both).
            message_id: text("messageId").or_else(|| text("message_id")),
            source,
        }
    }
}

/// An entry as the ring keeps it: each body at most `LIVE_BODY_BYTES` (a copy of its start,
/// never a slice that would hold the whole body), and the whole sizes of those cut.
struct Kept {
    entry: Entry,
    /// The input event's JSON text, cut, and what the live event says of it, when the record
    /// was too large to keep (its bytes in `entry.meta` are then dropped).
    input: Option<(String, Said)>,
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
            let said = Said::of(&event, source);
            let text = event.to_string();
            let mut kept =
                String::from_utf8_lossy(cut(text.as_bytes(), LIVE_BODY_BYTES)).into_owned();
            if kept.len() < text.len() {
                kept.push('…');
                truncated.push(("input", record.len()));
            }
            input = Some((kept, said));
            let m = &entry.meta;
            entry.meta = std::sync::Arc::new(Meta {
                kind: m.kind,
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

    /// Its JSON, `node` naming the node that delivered it (on JetStream, where several do:
    /// its id then carries the node's too, so ids stay unique across the cluster).
    fn to_json(&self, id: u64, node: Option<&str>) -> Value {
        let e = &self.entry;
        let mut at = String::new();
        signal_core::time::format_rfc3339(e.at_ms, &mut at);
        let mut warnings: Vec<Value> = e
            .meta
            .warnings
            .iter()
            .map(|w| json!({"code": w.code(), "message": w.to_string()}))
            .collect();
        let (input, said) = match &self.input {
            Some((text, said)) => (Value::String(text.clone()), said.clone()),
            None => {
                let (event, source) = input_json(&e.meta.input);
                let said = Said::of(&event, source);
                (event, said)
            }
        };
        let id = match node {
            Some(n) => format!("le_{n}_{id}"),
            None => format!("le_{id}"),
        };
        let mut v = json!({
            "id": id,
            "at": at,
            "message_id": said.message_id,
            "type": e.meta.kind.as_str(),
            "event": said.event,
            "outcome": e.outcome,
            "attempt": e.attempt,
            "input": input,
            "source_id": said.source,
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
        if let Some(n) = node {
            v["node"] = n.into();
        }
        v
    }
}

/// Where a node on JetStream sends its live events for the other nodes' viewers, while one
/// watches (`crate::cluster`'s views publish them).
pub(crate) struct Tap {
    /// This node's id.
    pub node: Arc<str>,
    /// The integration's id.
    pub integration: Arc<str>,
    /// Until when another node has a viewer.
    watched_until: Mutex<Option<Instant>>,
    /// To the publisher: (integration, live event JSON). Full: the event is not published
    /// (live events are a view; the events themselves are in the log).
    pub out: tokio::sync::mpsc::Sender<(Arc<str>, String)>,
}

impl Tap {
    /// A tap for `integration` on `node`, sending to `out`.
    pub(crate) fn new(
        node: Arc<str>,
        integration: Arc<str>,
        out: tokio::sync::mpsc::Sender<(Arc<str>, String)>,
    ) -> Self {
        Self {
            node,
            integration,
            watched_until: Mutex::new(None),
            out,
        }
    }

    fn watched(&self) -> bool {
        lock(&self.watched_until).is_some_and(|t| Instant::now() < t)
    }
}

/// One integration's recent live events.
pub struct Live {
    cap: usize,
    next_id: AtomicU64,
    ring: Mutex<VecDeque<(u64, Kept)>>,
    tx: broadcast::Sender<String>,
    tap: Option<Tap>,
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
            tap: None,
        }
    }

    /// Its events also go to `tap` while another node watches them.
    pub(crate) fn with_tap(mut self, tap: Tap) -> Self {
        self.tap = Some(tap);
        self
    }

    /// Another node has a viewer of these events: they are published for it for `time`.
    pub(crate) fn watched_for(&self, time: Duration) {
        if let Some(t) = &self.tap {
            *lock(&t.watched_until) = Some(Instant::now() + time);
        }
    }

    /// Whether this node has viewers of the stream.
    pub(crate) fn has_viewers(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    /// Another node's live event (JSON), to this node's viewers.
    pub(crate) fn relay(&self, json: String) {
        if self.tx.receiver_count() > 0 {
            let _ = self.tx.send(json);
        }
    }

    fn node(&self) -> Option<&str> {
        self.tap.as_ref().map(|t| &*t.node)
    }

    /// Adds an event, its bodies cut to `LIVE_BODY_BYTES`, and tells the subscribers (its JSON
    /// is made only if there are any).
    pub fn push(&self, entry: Entry) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let entry = Kept::new(entry);
        let remote = self.tap.as_ref().filter(|t| t.watched());
        if self.tx.receiver_count() > 0 || remote.is_some() {
            let text = entry.to_json(id, self.node()).to_string();
            if let Some(t) = remote {
                let _ = t.out.try_send((t.integration.clone(), text.clone()));
            }
            let _ = self.tx.send(text);
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
            .map(|(id, e)| e.to_json(*id, self.node()))
            .collect()
    }

    /// A stream of events from now on, as JSON text.
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.tx.subscribe()
    }
}

mod series;
mod stats;
pub use series::{DELIVERED, Series, Window};
pub use stats::{BUCKETS, Stats, percentiles_of};

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
            "batch": [{"type": "track", "event": "E", "userId": "u", "messageId": "m9"}]});
        let live = Live::new(10);
        live.push(entry(record.to_string().into_bytes(), None).0);
        let v = &live.recent(1)[0];
        assert_eq!(v["source_id"], "src_web", "{v}");
        assert_eq!(v["input"]["event"], "E", "the input event as it was");
        assert_eq!((&v["event"], &v["message_id"]), (&json!("E"), &json!("m9")));
        let page = json!({"receivedAt": 0, "context": {},
            "batch": [{"type": "page", "name": "Pricing", "userId": "u"}]});
        live.push(entry(page.to_string().into_bytes(), None).0);
        let v = &live.recent(1)[0];
        assert_eq!(
            (&v["event"], &v["message_id"]),
            (&json!("Pricing"), &Value::Null)
        );
        let snake = json!({"receivedAt": 0, "context": {},
            "batch": [{"type": "track", "event": "E", "userId": "u", "message_id": "m10"}]});
        live.push(entry(snake.to_string().into_bytes(), None).0);
        assert_eq!(
            live.recent(1)[0]["message_id"],
            "m10",
            "snake_case, as the gateway takes it"
        );
    }

    /// A paused vendor and 30 KiB events: the ring keeps 1,000 live events per integration, so
    /// it keeps a few KiB of each body, not the bodies.
    #[test]
    fn a_large_event_is_kept_cut_in_the_live_ring_with_a_marker() {
        let pad = "é".repeat(15 * 1024);
        let record = json!({"receivedAt": 0, "sourceId": "src_web", "context": {},
            "batch": [{"type": "track", "event": "E", "userId": "u", "messageId": "m1", "properties": {"pad": pad}}]})
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
