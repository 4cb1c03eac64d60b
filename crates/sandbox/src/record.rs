//! The record of what the sandbox accepted: every request (method, path, headers, body, time,
//! route, item count), every item on its own (so a test counts events delivered, not only
//! requests), and the counters; also their JSON at `/_sim/requests`, `/_sim/items`, `/_sim/stats`.

use crate::fixture::Fixture;
use serde_json::{Value, json};
use std::sync::Arc;

/// One request the sandbox accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// `POST`.
    pub method: String,
    /// The path, e.g. `/data/track`.
    pub path: String,
    /// Every header, names lower-case, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// When, in milliseconds since the epoch.
    pub at_ms: u64,
    /// The fixture's name for the route (`track`, `visitors`, `httpapi`).
    pub route: String,
    /// How many items it carried.
    pub items: usize,
}

impl Recorded {
    /// The value of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One item (event, record, user) of an accepted request.
#[derive(Debug, Clone, PartialEq)]
pub struct AcceptedItem {
    /// The route's name.
    pub route: String,
    /// Its index in the request.
    pub index: usize,
    /// The item, as sent.
    pub item: Value,
    /// When, in milliseconds since the epoch.
    pub at_ms: u64,
}

/// Counters of what the sandbox saw and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Requests received.
    pub received: u64,
    /// Requests accepted (2xx) and recorded.
    pub accepted: u64,
    /// Items in the accepted requests.
    pub items_accepted: u64,
    /// Requests refused 4xx for their key, body or per-id throttling.
    pub refused: u64,
    /// 500/503 answers injected.
    pub errors: u64,
    /// 429 answers injected by the fault plan.
    pub throttled: u64,
    /// Requests refused by the fixture's per-id throttling.
    pub throttled_ids: u64,
    /// Connections closed before handling.
    pub resets_before: u64,
    /// Connections closed after handling (responses lost).
    pub resets_after: u64,
    /// Requests stalled.
    pub stalls: u64,
}

impl SimStats {
    pub(crate) fn to_json(&self, vendor: &str) -> Value {
        json!({"vendor": vendor, "received": self.received, "accepted": self.accepted,
               "items_accepted": self.items_accepted, "refused": self.refused,
               "errors": self.errors, "throttled": self.throttled,
               "throttled_ids": self.throttled_ids, "resets_before": self.resets_before,
               "resets_after": self.resets_after, "stalls": self.stalls})
    }
}

/// What was kept: the requests; their items are read back from the bodies when asked for, so
/// accepting costs no copy of each item.
#[derive(Debug, Default)]
pub(crate) struct Log {
    pub requests: Vec<Arc<Recorded>>,
}

impl Log {
    /// The requests kept now, to read after the lock is let go: parsing tens of thousands of
    /// bodies under it would hold up every request the sandbox answers meanwhile.
    pub(crate) fn snapshot(&self) -> Kept {
        Kept(self.requests.clone())
    }
}

/// The requests kept at one moment ([`Log::snapshot`]).
pub(crate) struct Kept(pub Vec<Arc<Recorded>>);

impl Kept {
    /// Every item of every kept request, in order.
    pub(crate) fn items(&self, fixture: &Fixture) -> Vec<AcceptedItem> {
        let mut out = Vec::new();
        for r in &self.0 {
            let Some(route) = fixture.routes.iter().find(|x| x.name == r.route) else {
                continue;
            };
            let Ok(body) = serde_json::from_slice::<Value>(&r.body) else {
                continue;
            };
            let items = crate::check::items(route, &body);
            out.extend(items.iter().enumerate().map(|(index, item)| AcceptedItem {
                route: r.route.clone(),
                index,
                item: item.clone(),
                at_ms: r.at_ms,
            }));
        }
        out
    }

    pub(crate) fn requests_json(&self) -> Value {
        let list: Vec<Value> = self
            .0
            .iter()
            .map(|r| {
                json!({
                    "method": r.method,
                    "path": r.path,
                    "route": r.route,
                    "items": r.items,
                    "headers": r.headers.iter().map(|(n, v)| json!([n, v])).collect::<Vec<_>>(),
                    "body": String::from_utf8_lossy(&r.body),
                    "at_ms": r.at_ms,
                })
            })
            .collect();
        json!({ "data": list })
    }

    pub(crate) fn items_json(&self, fixture: &Fixture) -> Value {
        let list: Vec<Value> = self
            .items(fixture)
            .iter()
            .map(|i| json!({"route": i.route, "index": i.index, "item": i.item, "at_ms": i.at_ms}))
            .collect();
        json!({ "data": list })
    }
}
