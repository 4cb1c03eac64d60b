//! The vendor case files (`tests/fixtures/<vendor>_cases.json`) and how a case is run.
//!
//! A case is an input event and what the vendor spec says it becomes: the request items (exact
//! JSON, compared as parsed values) or the drop reason, with the spec row it comes from (`why`).
//! The expected outputs were written by hand from the specs, not from the engine.
//!
//! A case the blueprint format cannot yet express carries a `gap`: what the format lacks and what
//! the engine does `now` instead. Such a case must produce exactly `now` and must still differ
//! from the spec's answer, so the day the format closes the gap this test fails and the case
//! loses its `gap`.

#![allow(dead_code)]

use serde::Deserialize;
use serde_json::{Map, Value};
use signal_core::{Blueprint, Link, Mapped, Mapper, MemoryIdentity, Parser, Shape};
use std::collections::BTreeMap;
use std::fmt;

/// One case file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    /// The blueprint's key.
    pub vendor: String,
    /// Where the `why`s point.
    pub spec: String,
    /// The time of mapping.
    pub now_ms: i64,
    /// The config every case starts from.
    pub config: Map<String, Value>,
    /// The cases.
    pub cases: Vec<Case>,
}

/// One case.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    pub why: String,
    /// Config fields laid over the file's.
    #[serde(default)]
    pub config: Map<String, Value>,
    /// Links earlier identify and group calls made.
    #[serde(default)]
    pub links: Links,
    pub event: Value,
    /// The items the spec expects, in order.
    #[serde(default)]
    pub items: Option<Vec<ExpectedItem>>,
    /// The drop reason the spec expects.
    #[serde(default)]
    pub dropped: Option<String>,
    /// What the format cannot express yet, and what happens instead.
    #[serde(default)]
    pub gap: Option<Gap>,
}

/// The identity store's contents for a case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Links {
    #[serde(default)]
    pub user_for_anonymous: BTreeMap<String, String>,
    #[serde(default)]
    pub account_for_user: BTreeMap<String, String>,
    #[serde(default)]
    pub group_for_user: BTreeMap<String, String>,
}

/// One expected item: the request (by name) and its body.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedItem {
    pub request: String,
    pub body: Value,
}

/// A known shortfall of the format.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gap {
    /// What the format lacks (and the JSON that would express it).
    pub format: String,
    /// What the engine produces instead.
    pub now: Now,
}

/// The outcome while the gap is open.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Now {
    #[serde(default)]
    pub items: Option<Vec<ExpectedItem>>,
    #[serde(default)]
    pub dropped: Option<String>,
    /// The config field the install refuses.
    #[serde(default)]
    pub config_error: Option<String>,
}

/// What one case came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Sent: the items in order.
    Items(Vec<ExpectedItem>),
    /// Dropped with this reason.
    Dropped(String),
    /// The config did not validate: the fields named.
    ConfigError(Vec<String>),
    /// The event did not parse (never expected).
    Invalid(String),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Items(items) => {
                for it in items {
                    writeln!(f, "  {} {}", it.request, it.body)?;
                }
                Ok(())
            }
            Outcome::Dropped(r) => write!(f, "  dropped: {r}"),
            Outcome::ConfigError(fields) => write!(f, "  config error: {fields:?}"),
            Outcome::Invalid(e) => write!(f, "  invalid event: {e}"),
        }
    }
}

/// Reads a case file.
pub fn load(text: &str) -> CaseFile {
    serde_json::from_str(text).expect("the case file is valid")
}

impl Case {
    /// The spec's answer.
    pub fn expected(&self) -> Outcome {
        match (&self.items, &self.dropped) {
            (Some(items), None) => Outcome::Items(items.clone()),
            (None, Some(r)) => Outcome::Dropped(r.clone()),
            _ => panic!("case {}: exactly one of items and dropped", self.name),
        }
    }

    /// The case's config: the file's, with the case's fields laid over.
    pub fn config(&self, file: &CaseFile) -> Value {
        let mut c = file.config.clone();
        c.extend(self.config.clone());
        Value::Object(c)
    }
}

impl Now {
    fn outcome(&self) -> Outcome {
        match (&self.items, &self.dropped, &self.config_error) {
            (Some(items), None, None) => Outcome::Items(items.clone()),
            (None, Some(r), None) => Outcome::Dropped(r.clone()),
            (None, None, Some(f)) => Outcome::ConfigError(vec![f.clone()]),
            _ => panic!("a gap's `now` has exactly one of items, dropped, config_error"),
        }
    }
}

/// Maps the case's event with the real mapper, as an installed integration would.
pub fn run(file: &CaseFile, case: &Case) -> Outcome {
    map_value(
        &file.vendor,
        &case.config(file),
        &case.links,
        &case.event,
        file.now_ms,
    )
}

/// Maps one event (as JSON) for an integration of `vendor` with `config`.
pub fn map_value(
    vendor: &str,
    config: &Value,
    links: &Links,
    event: &Value,
    now_ms: i64,
) -> Outcome {
    let mut mapper = match Mapper::from_config(vendor, config) {
        Ok(m) => m,
        Err(e) => return Outcome::ConfigError(e.fields.keys().cloned().collect()),
    };
    let bp: &Blueprint = mapper.blueprint();
    let names: Vec<String> = bp.requests.keys().cloned().collect();
    let mut ids = MemoryIdentity::new();
    for (anonymous_id, user_id) in &links.user_for_anonymous {
        ids.record(&Link::AnonymousToUser {
            anonymous_id,
            user_id,
        });
    }
    for (user_id, account_id) in &links.account_for_user {
        ids.record(&Link::UserToAccount {
            user_id,
            account_id,
        });
    }
    for (user_id, group_id) in &links.group_for_user {
        ids.record(&Link::UserToGroup { user_id, group_id });
    }
    let mut buf = serde_json::to_vec(event).expect("serialises");
    let mut parser = Parser::new();
    let doc = match parser.parse(&mut buf, Shape::Event(None)) {
        Ok(d) => d,
        Err(e) => return Outcome::Invalid(e.to_string()),
    };
    let ev = match doc.event(0) {
        Ok(e) => e,
        Err(e) => return Outcome::Invalid(e.to_string()),
    };
    let mapping = mapper.map(&ev, &ids, now_ms);
    match mapping.outcome {
        Mapped::Dropped(r) => Outcome::Dropped(r.as_str().to_owned()),
        Mapped::Send(items) => Outcome::Items(
            items
                .iter()
                .map(|it| {
                    let request = names
                        .get(it.request)
                        .cloned()
                        .unwrap_or_else(|| format!("#{}", it.request));
                    let body: Value = serde_json::from_slice(it.body).unwrap_or_else(|e| {
                        Value::String(format!(
                            "invalid JSON ({e}): {}",
                            String::from_utf8_lossy(it.body)
                        ))
                    });
                    // What the delivery engine sends of a merged item is its id and fields,
                    // not its body: they must say the same.
                    let body = match (&it.merge, bp.requests[&request].batch.as_ref()) {
                        (Some(m), Some(batch)) => {
                            let by = batch.merge_by.clone().unwrap_or_default();
                            let into = batch.merge_into.clone().unwrap_or_default();
                            let mut fields = serde_json::Map::new();
                            for (k, v) in m.fields() {
                                let k: String = serde_json::from_slice(k).expect("a key");
                                fields.insert(k, serde_json::from_slice(v).expect("a value"));
                            }
                            let sent = serde_json::json!({by: m.id, into: fields});
                            if sent == body {
                                body
                            } else {
                                Value::String(format!("merged as {sent}, written as {body}"))
                            }
                        }
                        _ => body,
                    };
                    ExpectedItem { request, body }
                })
                .collect(),
        ),
    }
}

/// Loads `cases` (the case file of `vendor`) and fails naming every case that does not come out
/// as the file says.
pub fn assert_every_case(cases: &str, vendor: &str) {
    let file = load(cases);
    assert_eq!(file.vendor, vendor);
    let bad = mismatches(&file);
    assert!(
        bad.is_empty(),
        "{} case(s):\n\n{}",
        bad.len(),
        bad.join("\n\n")
    );
}

/// Runs every case; returns one paragraph per case that does not come out as its file says.
pub fn mismatches(file: &CaseFile) -> Vec<String> {
    let mut out = Vec::new();
    for case in &file.cases {
        let got = run(file, case);
        let expected = case.expected();
        match &case.gap {
            None if got != expected => out.push(format!(
                "{}: {}\n expected:\n{expected}\n got:\n{got}",
                case.name, case.why
            )),
            Some(gap) if got == expected => out.push(format!(
                "{}: the gap is closed (\"{}\"): remove `gap` from the case",
                case.name, gap.format
            )),
            Some(gap) if got != gap.now.outcome() => out.push(format!(
                "{}: open gap (\"{}\") but the engine's answer changed\n now:\n{}\n got:\n{got}",
                case.name,
                gap.format,
                gap.now.outcome()
            )),
            _ => {}
        }
    }
    out
}

/// The bodies of every item the cases send, by request name.
pub fn items_by_request(file: &CaseFile) -> BTreeMap<String, Vec<Value>> {
    let mut by = BTreeMap::<String, Vec<Value>>::new();
    for case in &file.cases {
        if let Outcome::Items(items) = run(file, case) {
            for it in items {
                by.entry(it.request).or_default().push(it.body);
            }
        }
    }
    by
}

/// The request bodies a batch of `items` makes under `blueprint`'s resolved targets, as sent
/// and as shown in live events, parsed: (request name, sent, shown).
pub fn bodies(
    bp: &Blueprint,
    config: &Value,
    by_request: &BTreeMap<String, Vec<Value>>,
) -> Vec<(String, Value, Value)> {
    let cfg = signal_core::IntegrationConfig::validate(bp, config).expect("valid config");
    let base = bp.base_url(&cfg.region).expect("region");
    let targets = signal_core::request::resolve(&bp.requests, &cfg.values, base).expect("resolves");
    let mut out = Vec::new();
    for t in targets {
        let Some(items) = by_request.get(&t.name) else {
            continue;
        };
        let env = t
            .envelope
            .as_ref()
            .expect("every vendor request here is batched");
        let join = |prefix: &[u8], suffix: &[u8]| {
            let mut body = prefix.to_vec();
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                body.extend(serde_json::to_vec(it).expect("serialises"));
            }
            body.extend_from_slice(suffix);
            serde_json::from_slice::<Value>(&body).unwrap_or_else(|e| {
                panic!(
                    "{}: not JSON ({e}): {}",
                    t.name,
                    String::from_utf8_lossy(&body)
                )
            })
        };
        out.push((
            t.name.clone(),
            join(&env.prefix, &env.suffix),
            join(&env.shown_prefix, &env.shown_suffix),
        ));
    }
    out
}

/// Arbitrary Segment-style events for property tests: every type, ids as strings or numbers,
/// nested properties and traits, optional context, consent and `integrations` switches.
pub mod arb {
    use proptest::prelude::*;
    use serde_json::{Map, Value, json};

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<i64>().prop_map(Value::from),
            any::<bool>().prop_map(Value::from),
            "\\PC{0,30}".prop_map(Value::from),
            "x{1000,1100}".prop_map(Value::from),
            (-1e9f64..1e9).prop_map(Value::from),
            Just(Value::Null),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        scalar().prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map("[a-zA-Z .$_-]{1,8}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn object() -> impl Strategy<Value = Value> {
        let key = prop_oneof![
            "[a-zA-Z_][a-zA-Z0-9 _.-]{0,12}",
            Just("accountId".to_owned()),
            Just("id".to_owned()),
            Just("Email".to_owned()),
            Just("user_id".to_owned()),
            Just("url".to_owned()),
            Just("revenue".to_owned()),
            Just("total".to_owned()),
            Just("products".to_owned()),
        ];
        prop::collection::btree_map(key, value(), 0..8)
            .prop_map(|m| Value::Object(m.into_iter().collect()))
    }

    fn id() -> impl Strategy<Value = Value> {
        prop_oneof![
            "[a-zA-Z0-9_-]{1,20}".prop_map(Value::from),
            "\\PC{1,30}".prop_map(Value::from),
            Just(Value::from("null")),
            (0u64..1_000_000).prop_map(Value::from),
        ]
    }

    prop_compose! {
        /// One event.
        pub fn event()(
            kind in prop::sample::select(vec!["page", "track", "identify", "group", "screen", "alias"]),
            name in prop_oneof![
                Just("Order Completed".to_owned()), Just("purchase".to_owned()),
                Just("$identify".to_owned()), Just("Signed Up".to_owned()), "\\PC{1,60}"],
            page_name in prop::option::of("\\PC{1,20}"),
            user in prop::option::of(id()),
            anon in prop::option::of(id()),
            group in id(),
            message_id in prop::option::of("[a-f0-9-]{8,36}"),
            props in prop::option::of(object()),
            traits in prop::option::of(object()),
            ip in prop::option::of("[0-9.]{7,15}"),
            url in prop::option::of("https://[a-z]{1,8}\\.example/[a-z/]{0,10}"),
            ctx_group in prop::option::of(id()),
            consent in prop::option::of(any::<bool>()),
            switch in prop::option::of(any::<bool>()),
            ts in prop::option::of(0i64..4_000_000_000_000),
        ) -> Value {
            let mut e = Map::new();
            e.insert("type".into(), kind.into());
            e.insert("event".into(), name.into());
            if let Some(n) = page_name { e.insert("name".into(), n.into()); }
            match (user, anon) {
                (None, None) => { e.insert("anonymousId".into(), "anon-1".into()); }
                (u, a) => {
                    if let Some(u) = u { e.insert("userId".into(), u); }
                    if let Some(a) = a { e.insert("anonymousId".into(), a); }
                }
            }
            e.insert("groupId".into(), group);
            if let Some(m) = message_id { e.insert("messageId".into(), m.into()); }
            if let Some(p) = props { e.insert("properties".into(), p); }
            if let Some(t) = traits { e.insert("traits".into(), t); }
            let mut c = Map::new();
            if let Some(v) = ip { c.insert("ip".into(), v.into()); }
            if let Some(v) = ctx_group { c.insert("groupId".into(), v); }
            if let Some(v) = consent { c.insert("consent".into(), json!({"analytics": v})); }
            if let Some(v) = url { c.insert("page".into(), json!({"url": v})); }
            e.insert("context".into(), Value::Object(c));
            if let Some(on) = switch {
                e.insert("integrations".into(), json!({"Amplitude": on, "Heap": on}));
            }
            if let Some(ts) = ts { e.insert("timestamp".into(), ts.into()); }
            Value::Object(e)
        }
    }
}
