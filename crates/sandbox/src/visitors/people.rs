//! Visitors and accounts as Pendo would know them, built from the sandbox's accepted items:
//! Track items (route `track`) make a visitor's timeline and name its account, visitor and
//! account metadata records (routes `visitors`, `accounts`) its values, later ones winning.

use crate::record::AcceptedItem;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// One Track event of a visitor.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Activity {
    /// The event's `timestamp` (ms), else when the sandbox accepted it.
    pub(super) at_ms: u64,
    /// Arrival order, to break ties.
    pub(super) seq: usize,
    pub(super) event: String,
    pub(super) account: Option<String>,
    pub(super) properties: Map<String, Value>,
    pub(super) context: Map<String, Value>,
}

#[derive(Debug, Default)]
pub(super) struct Visitor {
    pub(super) events: Vec<Activity>,
    /// Metadata values, later records winning.
    pub(super) values: Map<String, Value>,
    /// The account of its latest event that named one, and that event's time.
    pub(super) account: Option<String>,
    pub(super) account_ms: u64,
    /// The latest event's time or metadata update.
    pub(super) last_ms: u64,
}

#[derive(Debug, Default)]
pub(super) struct Account {
    pub(super) values: Map<String, Value>,
    pub(super) visitors: BTreeSet<String>,
}

/// Visitors and accounts, as Pendo would know them from the accepted items.
#[derive(Debug, Default)]
pub(crate) struct People {
    pub(super) visitors: BTreeMap<String, Visitor>,
    pub(super) accounts: BTreeMap<String, Account>,
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn object(v: &Value, key: &str) -> Map<String, Value> {
    v.get(key)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

impl People {
    /// Reads the Track items and the visitor and account metadata records, in arrival order.
    pub(crate) fn from_items(items: &[AcceptedItem]) -> Self {
        let mut p = People::default();
        for (seq, it) in items.iter().enumerate() {
            match it.route.as_str() {
                "track" => p.track(seq, it),
                "visitors" => {
                    let Some(id) = text(&it.item, "visitorId") else {
                        continue;
                    };
                    let v = p.visitors.entry(id).or_default();
                    v.values.extend(object(&it.item, "values"));
                    v.last_ms = v.last_ms.max(it.at_ms);
                }
                "accounts" => {
                    let Some(id) = text(&it.item, "accountId") else {
                        continue;
                    };
                    let a = p.accounts.entry(id).or_default();
                    a.values.extend(object(&it.item, "values"));
                }
                _ => {}
            }
        }
        for v in p.visitors.values_mut() {
            v.events
                .sort_by_key(|a| std::cmp::Reverse((a.at_ms, a.seq)));
        }
        p
    }

    fn track(&mut self, seq: usize, it: &AcceptedItem) {
        let Some(id) = text(&it.item, "visitorId") else {
            return;
        };
        let at_ms = it.item["timestamp"].as_u64().unwrap_or(it.at_ms);
        let account = text(&it.item, "accountId");
        if let Some(a) = &account {
            self.accounts
                .entry(a.clone())
                .or_default()
                .visitors
                .insert(id.clone());
        }
        let v = self.visitors.entry(id).or_default();
        if account.is_some() && (v.account.is_none() || at_ms >= v.account_ms) {
            v.account.clone_from(&account);
            v.account_ms = at_ms;
        }
        v.last_ms = v.last_ms.max(at_ms);
        v.events.push(Activity {
            at_ms,
            seq,
            event: text(&it.item, "event").unwrap_or_default(),
            account,
            properties: object(&it.item, "properties"),
            context: object(&it.item, "context"),
        });
    }

    /// Visitor ids containing `q` (case-insensitive; all when empty), most recently active
    /// first, an exact match before the rest.
    pub(super) fn search(&self, q: &str) -> Vec<(&String, &Visitor)> {
        let q = q.trim().to_lowercase();
        let mut found: Vec<_> = self
            .visitors
            .iter()
            .filter(|(id, _)| q.is_empty() || id.to_lowercase().contains(&q))
            .collect();
        found.sort_by(|(a, va), (b, vb)| {
            let exact = |id: &str| id.to_lowercase() != q;
            (exact(a), vb.last_ms).cmp(&(exact(b), va.last_ms))
        });
        found
    }
}
