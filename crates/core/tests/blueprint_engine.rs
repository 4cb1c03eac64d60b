//! The blueprint engine on a vendor that exists only in a test fixture
//! (`fixtures/acme_analytics.json`): directives, transforms, rows that drop or send to two
//! requests, merge and hold ids, and Pendo's privacy rules, each asserted on the bytes written.

use serde_json::{Value, json};
use signal_core::{
    Blueprint, IntegrationConfig, Link, Mapped, Mapper, MemoryIdentity, Parser, Shape,
};

const NOW: i64 = 1_764_140_000_000;

fn acme() -> &'static Blueprint {
    let text = include_str!("fixtures/acme_analytics.json");
    Box::leak(Box::new(
        Blueprint::parse("acme_analytics.json", text).expect("the fixture loads"),
    ))
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
    let mut m = mapper(acme(), json!({"api_key": "k1"}));
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
            r#""tier":"P","qty":1,"tag":"t_x","flat":{"a.b":1,"c.0":true,"c.1.d":"e"},"ip":"1.2.3.4","lib":{"version":"1.0"}}"#
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
