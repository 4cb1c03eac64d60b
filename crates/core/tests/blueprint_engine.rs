//! The blueprint engine on a vendor that exists only in a test fixture
//! (`fixtures/acme_analytics.json`): directives, transforms, rows that drop or send to two
//! requests, merge and hold ids, and Pendo's privacy rules, each asserted on the bytes written.

use serde_json::{Value, json};
use signal_core::{
    Blueprint, IntegrationConfig, Link, Mapped, Mapper, MemoryIdentity, Parser, Shape,
};

const NOW: i64 = 1_764_140_000_000;

fn acme() -> &'static Blueprint {
    static ACME: std::sync::OnceLock<Blueprint> = std::sync::OnceLock::new();
    ACME.get_or_init(|| {
        let text = include_str!("fixtures/acme_analytics.json");
        Blueprint::parse("acme_analytics.json", text).expect("the fixture loads")
    })
}

fn mapper(bp: &'static Blueprint, config: Value) -> Mapper {
    let (config, variant) =
        IntegrationConfig::validate_install(bp, None, None, &config).expect("valid config");
    let variant = bp.variant(&variant.key).expect("variant");
    Mapper::new(bp, variant, config)
}

/// Each item as `request body`, or `dropped reason`.
fn run(m: &mut Mapper, ids: &MemoryIdentity, src: &str) -> Vec<String> {
    let bp = m.blueprint();
    let mut buf = src.as_bytes().to_vec();
    let mut p = Parser::new();
    let doc = p.parse(&mut buf, Shape::Event(None)).expect("valid event");
    let ev = doc.event(0).expect("valid event");
    match m.map(&ev, ids, NOW).outcome {
        Mapped::Send(items) => items
            .iter()
            .map(|i| {
                let name = bp.requests.keys().nth(i.request).expect("request");
                serde_json::from_slice::<Value>(i.body).expect("valid JSON");
                format!("{name} {}", String::from_utf8_lossy(i.body))
            })
            .collect(),
        Mapped::Dropped(r) => vec![format!("dropped {r}")],
    }
}

fn body(line: &str) -> Value {
    let (_, json) = line.split_once(' ').expect("request and body");
    serde_json::from_str(json).expect("json")
}

#[test]
fn a_track_item_is_written_from_its_directives_and_transforms_in_file_order() {
    let mut m = mapper(acme(), json!({"api_key": "k1", "tenant": "k1"}));
    let out = run(
        &mut m,
        &MemoryIdentity::new(),
        r#"{"type":"track","event":"Bought","userId":"u1","timestamp":"2025-11-26T08:00:00.5Z",
        "context":{"ip":"1.2.3.4","groupId":"g1"},
        "properties":{"price":"12.5","title":"  HELLO world","plan":"pro","tag":"x","nested":{"a":{"b":1},"c":[true,{"d":"e"}]}}}"#,
    );
    assert_eq!(
        out,
        [concat!(
            r#"events {"name":"Bought","user":"u1","account":"g1","time":"2025-11-26T08:00:00.500Z","ms":1764144000,"#,
            r#""key":"6ab9f1eb8f7d3388f4f9d586f66e99fd54080df2c446f0e58668b09c08a16dd0","price":12.5,"short":"hel","#,
            r#""tier":"P","qty":1,"tag":"t_x","flat":{"a.b":1,"c.0":"true","c.1.d":"e"},"ip":"1.2.3.4","lib":{"version":"1.0"}}"#
        )]
    );
}

#[test]
fn absent_values_take_defaults_map_stars_and_templates_need_every_part() {
    let mut m = mapper(acme(), json!({"api_key": "k1", "page_event": "Seen"}));
    let out = run(
        &mut m,
        &MemoryIdentity::new(),
        r#"{"type":"page","name":"Home","anonymousId":"a-1","properties":{"plan":"free","price":"n/a","quantity":3}}"#,
    );
    let b = body(&out[0]);
    assert_eq!(b["name"], "Home");
    // No userId and no link: the anonymous id as it is (mode as_is).
    assert_eq!(b["user"], "a-1");
    assert_eq!(b["label"], "Seen Home page");
    assert_eq!(b["tier"], "other");
    assert_eq!(b["qty"], 3);
    assert!(b.get("price").is_none(), "not a number: absent, {b}");
    assert!(b.get("account").is_none());
    // No timestamp: @default {"@now": true}.
    assert_eq!(b["time"], "2025-11-26T06:53:20.000Z");
    // A template with an absent part is absent.
    let out = run(
        &mut m,
        &MemoryIdentity::new(),
        r#"{"type":"page","userId":"u"}"#,
    );
    assert!(body(&out[0]).get("label").is_none(), "{out:?}");
}

#[test]
fn identity_links_and_the_anonymous_modes() {
    let mut ids = MemoryIdentity::new();
    ids.record(&Link::AnonymousToUser {
        anonymous_id: "a-1",
        user_id: "u-1",
    });
    ids.record(&Link::UserToGroup {
        user_id: "u-1",
        group_id: "g-9",
    });
    let mut m = mapper(acme(), json!({"api_key": "k"}));
    let b = body(
        &run(
            &mut m,
            &ids,
            r#"{"type":"track","event":"E","anonymousId":"a-1"}"#,
        )[0],
    );
    assert_eq!(
        (&b["user"], &b["account"], &b["linked"]),
        (&json!("u-1"), &json!("g-9"), &json!("g-9"))
    );
    let mut m = mapper(acme(), json!({"api_key": "k", "anonymous": "hash53"}));
    let b = body(
        &run(
            &mut m,
            &MemoryIdentity::new(),
            r#"{"type":"track","event":"E","anonymousId":"a-2"}"#,
        )[0],
    );
    let n: u64 = b["user"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("a decimal");
    assert!(n < 1 << 53, "{n}");
    let mut m = mapper(acme(), json!({"api_key": "k", "anonymous": "drop"}));
    assert_eq!(
        run(
            &mut m,
            &MemoryIdentity::new(),
            r#"{"type":"track","event":"E","anonymousId":"a-2"}"#
        ),
        ["dropped anonymous"]
    );
}

#[test]
fn rows_drop_with_their_reason_and_a_row_may_send_to_two_requests() {
    let mut m = mapper(acme(), json!({"api_key": "k"}));
    let ids = MemoryIdentity::new();
    assert_eq!(
        run(
            &mut m,
            &ids,
            r#"{"type":"track","event":"Internal","userId":"u"}"#
        ),
        ["dropped internal_event"]
    );
    assert_eq!(
        run(
            &mut m,
            &ids,
            r#"{"type":"track","event":"X","userId":"u","properties":{"secret":1}}"#
        ),
        ["dropped has_secret"]
    );
    assert_eq!(
        run(&mut m, &ids, r#"{"type":"identify","userId":"u"}"#),
        ["dropped not_sent"]
    );
    let out = run(
        &mut m,
        &ids,
        r#"{"type":"group","userId":"u","groupId":"g\"1","traits":{"plan":"pro","seats":3}}"#,
    );
    assert_eq!(out.len(), 2, "{out:?}");
    // `set` replaced the item's name and label.
    let b = body(&out[0]);
    assert_eq!(
        (&b["name"], &b["label"]),
        (&json!("Group Joined"), &json!("joined g\"1"))
    );
    assert_eq!(
        out[1],
        r#"profiles {"id":"g\"1","props":{"plan":"pro","seats":3}}"#
    );
    assert_eq!(
        run(
            &mut m,
            &ids,
            r#"{"type":"group","userId":"u","groupId":"g"}"#
        ),
        ["dropped no_traits"]
    );
}

#[test]
fn items_carry_their_merge_and_hold_ids() {
    let bp = acme();
    let mut m = mapper(bp, json!({"api_key": "k"}));
    let mut buf =
        br#"{"type":"group","userId":"u-7","groupId":"g\"1","traits":{"plan":"pro","n":2}}"#
            .to_vec();
    let mut p = Parser::new();
    let doc = p.parse(&mut buf, Shape::Event(None)).expect("valid");
    let ev = doc.event(0).expect("valid");
    let mapping = m.map(&ev, &MemoryIdentity::new(), NOW);
    assert_eq!(mapping.event_name, Some("group"));
    let Mapped::Send(items) = mapping.outcome else {
        panic!("not sent")
    };
    let events = items.get(0).expect("events item");
    assert_eq!(events.request, bp.request_index("events").expect("index"));
    assert_eq!(events.hold, Some("u-7"));
    assert!(events.merge.is_none());
    let profile = items.get(1).expect("profiles item");
    assert_eq!(
        profile.request,
        bp.request_index("profiles").expect("index")
    );
    let merge = profile.merge.expect("merge");
    assert_eq!(merge.id, "g\"1", "the id unescaped");
    let fields: Vec<(String, String)> = merge
        .fields()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(k).into(),
                String::from_utf8_lossy(v).into(),
            )
        })
        .collect();
    assert_eq!(
        fields,
        [
            ("\"plan\"".into(), "\"pro\"".into()),
            ("\"n\"".into(), "2".into())
        ]
    );
}

// === Privacy rules (Pendo's `privacy` config field) ===

fn pendo(config: Value) -> Result<Mapper, signal_core::ConfigErrors> {
    let mut base = json!({"api_key": "a", "integration_key": "k"});
    if let (Some(b), Some(extra)) = (base.as_object_mut(), config.as_object()) {
        b.extend(extra.clone());
    }
    Mapper::from_config("pendo", &base)
}

#[test]
fn privacy_hashes_and_removes_paths_even_inside_objects_copied_whole() {
    let mut m = pendo(json!({"privacy": {"hash": ["traits.email", "userId"], "remove": ["context.ip", "properties.card"]}}))
        .expect("valid");
    let ids = MemoryIdentity::new();
    let out = run(
        &mut m,
        &ids,
        r#"{"type":"identify","userId":"u-1","traits":{"email":"a@b.c","plan":"pro"}}"#,
    );
    assert_eq!(
        out,
        [concat!(
            r#"visitors {"visitorId":"a24a7f55f278dd49fb1f99c5507800cb198a5bfe10fe2126cd0b25672152b0da","#,
            r#""values":{"email_custom":"d648b243a3e817eaa3309e00e183483f2867baadf522099f0c2121770536b25a","plan":"pro"}}"#
        )]
    );
    let out = run(
        &mut m,
        &ids,
        r#"{"type":"track","event":"E","userId":"u-1","context":{"ip":"1.2.3.4","groupId":"g"},"properties":{"card":"4111","n":1}}"#,
    );
    let b = body(&out[0]);
    assert!(b.get("context").is_none(), "context.ip removed: {b}");
    assert_eq!(b["properties"], json!({"n": 1}));
}

#[test]
fn privacy_paths_are_checked_at_install() {
    let e =
        pendo(json!({"privacy": {"hash": ["traits.email", "contxt.ip"]}})).expect_err("bad path");
    let why = e.fields.get("config.privacy.hash[1]").expect("located");
    assert!(why.contains("contxt.ip"), "{why}");
    let e = pendo(json!({"privacy": {"blur": ["userId"]}})).expect_err("bad rule");
    assert!(e.fields.contains_key("config.privacy.blur"), "{e}");
}

// === Every blueprint: whatever the event, each item is a JSON object, or the event is dropped
// with a reason ===

mod any_event {
    use super::*;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<i64>().prop_map(Value::from),
            any::<bool>().prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::from),
            Just(Value::Null),
        ];
        leaf.prop_recursive(2, 12, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
                prop::collection::btree_map("\\PC{1,6}", inner, 0..3)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    prop_compose! {
        fn event()(
            kind in prop::sample::select(vec!["page", "track", "identify", "group", "screen", "alias"]),
            name in prop_oneof![Just("Internal".to_owned()), Just("Order Completed".to_owned()), "\\PC{1,20}"],
            user in prop::option::of("\\PC{1,12}"),
            props in prop::collection::btree_map("\\PC{1,8}", value(), 0..6),
            traits in prop::collection::btree_map("\\PC{1,8}", value(), 0..4),
            ts in prop::option::of(0i64..4_000_000_000_000),
        ) -> Value {
            let mut e = json!({"type": kind, "event": name, "anonymousId": "a-1", "groupId": "g",
                "properties": props, "traits": traits});
            if let Some(u) = user { e["userId"] = u.into(); }
            if let Some(ts) = ts { e["timestamp"] = ts.into(); }
            e
        }
    }

    fn check(m: &mut Mapper, e: &Value) {
        let mut buf = serde_json::to_vec(e).expect("json");
        let mut p = Parser::new();
        let Ok(doc) = p.parse(&mut buf, Shape::Event(None)) else {
            return;
        };
        let Ok(ev) = doc.event(0) else { return };
        let bp = m.blueprint();
        match m.map(&ev, &MemoryIdentity::new(), NOW).outcome {
            Mapped::Send(items) => {
                assert!(!items.is_empty());
                for item in items.iter() {
                    assert!(item.request < bp.requests.len());
                    let v: Value = serde_json::from_slice(item.body).unwrap_or_else(|err| {
                        panic!(
                            "invalid JSON ({err}): {}",
                            String::from_utf8_lossy(item.body)
                        )
                    });
                    assert!(v.is_object(), "{v}");
                }
            }
            Mapped::Dropped(reason) => assert!(!reason.as_str().is_empty()),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        #[test]
        fn every_item_of_every_blueprint_is_a_json_object(e in event()) {
            check(&mut mapper(acme(), json!({"api_key": "k"})), &e);
            check(&mut pendo(json!({"privacy": {"hash": ["traits.email"]}})).expect("valid"), &e);
        }
    }
}
