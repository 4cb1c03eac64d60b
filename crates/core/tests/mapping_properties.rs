//! Property tests of the mapping: for any event the parser accepts, what Pendo receives keeps the
//! promises of pendo.md, checked here independently of the code that makes them.

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use signal_core::{Mapped, Mapper, Parser, Shape};

const NOW: i64 = 1_764_140_000_000;

fn mapper() -> Mapper {
    Mapper::from_config("pendo", &json!({"api_key": "a", "integration_key": "k"})).expect("valid")
}

/// Pendo's property key rules, written out again on purpose.
fn is_pendo_key(k: &str) -> bool {
    const RESERVED: [&str; 7] = [
        "visitorId",
        "accountId",
        "type",
        "event",
        "timestamp",
        "context",
        "id",
    ];
    let charset = k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    let leading_digit = k.bytes().next().is_some_and(|b| b.is_ascii_digit());
    let wrapped = k.starts_with("__") && k.ends_with("__");
    (1..=32).contains(&k.len()) && charset && !leading_digit && !wrapped && !RESERVED.contains(&k)
}

/// What the mapper made of an event: the outcome's text and the warnings' texts.
#[derive(Debug, PartialEq)]
enum Out {
    Track(Value, Vec<String>, Vec<u8>),
    Metadata(Vec<u8>),
    Dropped(String),
    Invalid(String),
}

fn map(event: &Value) -> Out {
    let mut buf = serde_json::to_vec(event).expect("serialises");
    let mut parser = Parser::new();
    let doc = match parser.parse(&mut buf, Shape::Event(None)) {
        Ok(d) => d,
        Err(e) => return Out::Invalid(e.to_string()),
    };
    let ev = match doc.event(0) {
        Ok(e) => e,
        Err(e) => return Out::Invalid(e.to_string()),
    };
    let mut m = mapper();
    let bp = m.blueprint();
    let mapping = m.map(&ev, &(), NOW);
    let warnings: Vec<String> = mapping.warnings.iter().map(ToString::to_string).collect();
    match mapping.outcome {
        Mapped::Send(items) => {
            assert_eq!(items.len(), 1, "Pendo sends one item per event");
            let item = items.get(0).expect("an item");
            let body: Value = serde_json::from_slice(item.body).expect("every item is valid JSON");
            match bp.requests.keys().nth(item.request).map(String::as_str) {
                Some("track") => Out::Track(body, warnings, item.body.to_vec()),
                _ => {
                    // A metadata record: `{"<id>": "...", "values": {non-empty}}`, and its
                    // merge id and fields are the record's own.
                    let o = body.as_object().expect("a record is an object");
                    let merge = item.merge.expect("a record merges by id");
                    let id_key = if o.contains_key("visitorId") {
                        "visitorId"
                    } else {
                        "accountId"
                    };
                    assert_eq!(o.get(id_key).and_then(Value::as_str), Some(merge.id));
                    let values = o["values"].as_object().expect("values");
                    assert!(!values.is_empty());
                    assert_eq!(merge.fields().count(), values.len());
                    Out::Metadata(item.body.to_vec())
                }
            }
        }
        Mapped::Dropped(reason) => Out::Dropped(reason.to_string()),
    }
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z_0-9]{0,12}",
        "\\PC{0,40}",
        Just("accountId".to_owned()),
        Just("visitorId".to_owned()),
        Just("__x__".to_owned()),
        Just("2fa".to_owned()),
        Just("products".to_owned()),
        Just("total".to_owned()),
        Just("a-b".to_owned()),
        Just("a_b".to_owned()),
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        "\\PC{0,30}".prop_map(Value::from),
        (-1e9f64..1e9).prop_map(Value::from),
        Just(Value::Null),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn id() -> impl Strategy<Value = Value> {
    prop_oneof![
        "[a-zA-Z0-9_-]{1,20}".prop_map(Value::from),
        "\\PC{1,30}".prop_map(Value::from),
        (0u64..1_000_000).prop_map(Value::from),
    ]
}

prop_compose! {
    fn event()(
        kind in prop::sample::select(vec!["page", "track", "identify", "group", "screen", "alias"]),
        name in prop_oneof![
            Just("Product Viewed".to_owned()), Just("Order Completed".to_owned()),
            Just("purchase".to_owned()), Just("view_item".to_owned()), "\\PC{1,60}"],
        user in prop::option::of(id()),
        anon in prop::option::of(id()),
        group in id(),
        props in prop::option::of(prop::collection::btree_map(key(), value(), 0..8)),
        traits in prop::option::of(prop::collection::btree_map(key(), value(), 0..6)),
        ip in prop::option::of("[0-9.]{7,15}"),
        ua in prop::option::of("\\PC{0,40}"),
        locale in prop::option::of("[a-z]{2}-[A-Z]{2}"),
        url in prop::option::of("https://[a-z]{1,8}\\.example/[a-z/]{0,10}"),
        title in prop::option::of("\\PC{0,20}"),
        ctx_group in prop::option::of(id()),
        consent in prop::option::of(any::<bool>()),
        ts in prop::option::of(0i64..4_000_000_000_000),
    ) -> Value {
        let mut e = Map::new();
        e.insert("type".into(), kind.into());
        e.insert("event".into(), name.into());
        match (user, anon) {
            (None, None) => { e.insert("anonymousId".into(), "anon-1".into()); }
            (u, a) => {
                if let Some(u) = u { e.insert("userId".into(), u); }
                if let Some(a) = a { e.insert("anonymousId".into(), a); }
            }
        }
        e.insert("groupId".into(), group);
        if let Some(p) = props { e.insert("properties".into(), Value::Object(p.into_iter().collect())); }
        if let Some(t) = traits { e.insert("traits".into(), Value::Object(t.into_iter().collect())); }
        let mut c = Map::new();
        if let Some(v) = ip { c.insert("ip".into(), v.into()); }
        if let Some(v) = ua { c.insert("userAgent".into(), v.into()); }
        if let Some(v) = locale { c.insert("locale".into(), v.into()); }
        if let Some(v) = ctx_group { c.insert("groupId".into(), v); }
        if let Some(v) = consent { c.insert("consent".into(), json!({"analytics": v})); }
        let mut page = Map::new();
        if let Some(v) = url { page.insert("url".into(), v.into()); }
        if let Some(v) = title { page.insert("title".into(), v.into()); }
        c.insert("page".into(), Value::Object(page));
        e.insert("context".into(), Value::Object(c));
        if let Some(ts) = ts { e.insert("timestamp".into(), ts.into()); }
        Value::Object(e)
    }
}

/// The same event with every two-word field in snake_case.
fn snake(event: &Value) -> Value {
    let mut e = event.clone();
    let rename = |m: &mut Map<String, Value>, from: &str, to: &str| {
        if let Some(v) = m.remove(from) {
            m.insert(to.into(), v);
        }
    };
    if let Some(m) = e.as_object_mut() {
        rename(m, "userId", "user_id");
        rename(m, "anonymousId", "anonymous_id");
        rename(m, "groupId", "group_id");
        if let Some(c) = m.get_mut("context").and_then(Value::as_object_mut) {
            rename(c, "userAgent", "user_agent");
            rename(c, "groupId", "group_id");
        }
    }
    e
}

fn id_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn mapping_never_panics_and_tracks_have_the_track_shape(e in event()) {
        if let Out::Track(b, _, _) = map(&e) {
            let o = b.as_object().expect("an object");
            prop_assert_eq!(o.get("type"), Some(&json!("track")));
            prop_assert!(o.get("event").is_some_and(Value::is_string));
            prop_assert!(o.get("visitorId").is_some_and(Value::is_string));
            prop_assert!(o.get("timestamp").is_some_and(Value::is_i64));
            prop_assert!(o.get("accountId").is_none_or(Value::is_string));
            prop_assert!(o.get("properties").is_none_or(|p| p.as_object().is_some_and(|p| !p.is_empty())));
            let ctx_keys = ["ip", "userAgent", "url", "title", "locale", "anonymousId"];
            if let Some(c) = o.get("context") {
                let c = c.as_object().expect("context object");
                prop_assert!(!c.is_empty());
                for (k, v) in c {
                    prop_assert!(ctx_keys.contains(&k.as_str()), "context key {}", k);
                    prop_assert!(v.is_string());
                }
            }
            for k in o.keys() {
                prop_assert!(["type","event","visitorId","accountId","timestamp","properties","context"].contains(&k.as_str()));
            }
        }
    }

    #[test]
    fn visitor_id_is_the_user_id_whenever_there_is_one(e in event()) {
        if let (Out::Track(b, _, _), Some(u)) = (map(&e), e.get("userId")) {
            let user = id_text(u);
            prop_assert_eq!(b["visitorId"].as_str(), Some(user.as_str()));
        }
    }

    #[test]
    fn every_property_key_follows_pendos_rules(e in event()) {
        if let Out::Track(b, _, _) = map(&e) && let Some(p) = b.get("properties").and_then(Value::as_object) {
            for k in p.keys() {
                prop_assert!(is_pendo_key(k), "{:?}", k);
            }
        }
    }

    #[test]
    fn no_property_silently_disappears(e in event()) {
        let Out::Track(b, warnings, _) = map(&e) else { return Ok(()) };
        let Some(input) = e.get("properties").and_then(Value::as_object) else { return Ok(()) };
        let output = b.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
        let is_order = matches!(e["event"].as_str(), Some("Order Completed" | "purchase")) && e["type"] == "track";
        for (k, v) in input {
            let kept = output.get(k) == Some(v);
            let warned = warnings.iter().any(|w| w.contains(&format!("`{k}`")));
            // Documented moves: the accountId property becomes the body's accountId;
            // an order's products become its items.
            let linked = k == "accountId" && b.get("accountId").and_then(Value::as_str) == Some(id_text(v).as_str());
            let moved = is_order && k == "products" && output.get("items") == Some(v);
            prop_assert!(kept || warned || linked || moved, "{:?} lost: in {:?}, out {:?}, warnings {:?}", k, input, output, warnings);
        }
    }

    #[test]
    fn custom_event_names_pass_through_unchanged(name in "\\PC{1,100}", user in "[a-z0-9]{1,10}") {
        prop_assume!(!["Product Viewed", "view_item", "Order Completed", "purchase"].contains(&name.as_str()));
        let e = json!({"type": "track", "event": name, "userId": user});
        match map(&e) {
            Out::Track(b, _, _) => prop_assert_eq!(b["event"].as_str(), Some(name.as_str())),
            Out::Invalid(why) => prop_assert!(name.chars().count() > 200, "{}", why),
            other => prop_assert!(false, "{:?}", other),
        }
    }

    #[test]
    fn analytics_consent_false_always_drops(e in event()) {
        let mut e = e;
        e["context"]["consent"] = json!({"analytics": false});
        match map(&e) {
            Out::Dropped(_) | Out::Invalid(_) => {}
            other => prop_assert!(false, "sent without consent: {:?}", other),
        }
    }

    #[test]
    fn snake_and_camel_spellings_map_to_identical_bytes(e in event()) {
        let camel = map(&e);
        let snake = map(&snake(&e));
        match (&camel, &snake) {
            (Out::Invalid(_), Out::Invalid(_)) => {}
            _ => prop_assert_eq!(camel, snake),
        }
    }
}
