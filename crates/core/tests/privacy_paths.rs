//! Privacy rules (`config.privacy`) on the paths a blueprint reads other than a plain `@path`:
//! `@fill` from a sibling key, coalesced object sources, identity sources and `@template` parts.
//! Each test maps one event the way the edge would and checks what would leave the machine.

use serde_json::{Value, json};
use signal_core::{Mapped, Mapper, Parser, Shape};

/// Maps `ev` for `vendor` under `config`: the item bodies sent, or `dropped <reason>`.
fn run(vendor: &str, config: Value, ev: &str) -> Vec<String> {
    let mut m = Mapper::from_config(vendor, &config).expect("valid config");
    let mut buf = ev.as_bytes().to_vec();
    let mut p = Parser::new();
    let doc = p.parse(&mut buf, Shape::Event(None)).expect("event parses");
    let e = doc.event(0).expect("event reads");
    let mapping = m.map(&e, &(), 1_732_608_000_000);
    match mapping.outcome {
        Mapped::Send(items) => items
            .iter()
            .map(|i| {
                let s = String::from_utf8_lossy(i.body).into_owned();
                let v: Result<Value, _> = serde_json::from_str(&s);
                assert!(v.is_ok(), "invalid JSON: {s}");
                s
            })
            .collect(),
        Mapped::Dropped(r) => vec![format!("dropped {}", r.as_str())],
    }
}

fn pendo(privacy: Value) -> Value {
    json!({"api_key": "a", "integration_key": "k", "privacy": privacy})
}

#[test]
fn a_removed_key_is_not_filled_into_its_sibling() {
    let out = run(
        "pendo",
        pendo(json!({"remove": ["properties.total"]})),
        r#"{"type":"track","event":"Order Completed","userId":"u1","properties":{"total":"SECRET-42"}}"#,
    );
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(
        !out[0].contains("SECRET-42"),
        "removed properties.total sent: {}",
        out[0]
    );
    let heap = run(
        "heap",
        json!({"app_id": "1", "privacy": {"remove": ["traits.accountId"]}}),
        r#"{"type":"identify","userId":"u1","traits":{"accountId":"SECRET-ACCT","plan":"x"}}"#,
    );
    assert!(
        heap.iter().all(|b| !b.contains("SECRET-ACCT")),
        "removed traits.accountId sent: {heap:?}"
    );
    assert!(
        heap.iter().any(|b| b.contains("\"plan\"")),
        "the rest of traits still goes: {heap:?}"
    );
}

#[test]
fn a_hashed_key_is_filled_into_its_sibling_hashed() {
    let out = run(
        "pendo",
        pendo(json!({"hash": ["properties.total"]})),
        r#"{"type":"track","event":"Order Completed","userId":"u1","properties":{"total":"SECRET-42"}}"#,
    );
    assert!(
        !out[0].contains("SECRET-42"),
        "hashed properties.total sent in clear: {}",
        out[0]
    );
    let v: Value = serde_json::from_str(&out[0]).unwrap_or(Value::Null);
    let text = v.to_string();
    // sha256("SECRET-42")
    let hex = sha256_hex("SECRET-42");
    assert!(text.contains(&hex), "the filled value is the hash: {text}");
}

fn sha256_hex(s: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn a_removed_anonymous_id_does_not_become_the_user() {
    let ev = r#"{"type":"track","event":"e","anonymousId":"SECRETANON"}"#;
    let remove = json!({"remove": ["anonymousId"]});
    for (vendor, config) in [
        ("pendo", pendo(remove.clone())),
        (
            "heap",
            json!({"app_id": "1", "anonymous_users": "identity", "privacy": remove}),
        ),
        (
            "heap",
            json!({"app_id": "1", "anonymous_users": "user_id_hash", "privacy": remove}),
        ),
    ] {
        let out = run(vendor, config, ev);
        assert_eq!(
            out,
            ["dropped anonymous"],
            "{vendor}: a removed anonymousId was sent as the user"
        );
    }
    // A known user still goes, without the removed anonymous id.
    let out = run(
        "pendo",
        pendo(json!({"remove": ["anonymousId"]})),
        r#"{"type":"track","event":"e","userId":"u1","anonymousId":"SECRETANON"}"#,
    );
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(
        out[0].contains("\"u1\"") && !out[0].contains("SECRETANON"),
        "{}",
        out[0]
    );
}

#[test]
fn a_coalesced_object_uses_the_rules_of_the_source_it_came_from() {
    // Pendo's identify values read `traits`, else `context.traits`.
    let out = run(
        "pendo",
        pendo(json!({"hash": ["traits.email", "context.traits.phone"]})),
        r#"{"type":"identify","userId":"u1","context":{"traits":{"email":"e@x.com","phone":"SECRET-555"}}}"#,
    );
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(
        !out[0].contains("SECRET-555"),
        "context.traits.phone not hashed: {}",
        out[0]
    );
    assert!(out[0].contains(&sha256_hex("SECRET-555")), "{}", out[0]);
    assert!(
        out[0].contains("e@x.com"),
        "no rule names context.traits.email: {}",
        out[0]
    );
}

#[test]
fn a_removed_path_in_a_template_is_not_sent() {
    let out = run(
        "amplitude",
        json!({"api_key": "a", "privacy": {"remove": ["name"]}}),
        r#"{"type":"page","userId":"user-1","name":"SECRET-PAGE"}"#,
    );
    assert!(
        out.iter().all(|b| !b.contains("SECRET-PAGE")),
        "removed `name` sent: {out:?}"
    );
    let out = run(
        "amplitude",
        json!({"api_key": "a", "group_type": "org", "privacy": {"remove": ["messageId"]}}),
        r#"{"type":"group","userId":"user-1","groupId":"g-1","messageId":"SECRET-MID","traits":{"a":1}}"#,
    );
    assert!(!out.is_empty() && !out[0].starts_with("dropped"), "{out:?}");
    assert!(
        out.iter().all(|b| !b.contains("SECRET-MID")),
        "removed messageId sent: {out:?}"
    );
}

#[test]
fn a_hashed_object_copied_key_by_key_has_every_value_hashed() {
    let out = run(
        "pendo",
        pendo(json!({"hash": ["traits"]})),
        r#"{"type":"identify","userId":"u1","traits":{"email":"SECRET@x.com"}}"#,
    );
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(
        !out[0].contains("SECRET@x.com"),
        "hashed `traits` sent in clear: {}",
        out[0]
    );
    assert!(out[0].contains(&sha256_hex("SECRET@x.com")), "{}", out[0]);
    let heap = run(
        "heap",
        json!({"app_id": "1", "privacy": {"hash": ["properties"]}}),
        r#"{"type":"track","event":"e","userId":"u1","properties":{"plan":"SECRET-PLAN","n":{"x":"SECRET-X"}}}"#,
    );
    assert!(
        heap.iter().all(|b| !b.contains("SECRET")),
        "hashed `properties` sent in clear: {heap:?}"
    );
    assert!(
        heap.iter().any(|b| b.contains(&sha256_hex("SECRET-PLAN"))),
        "{heap:?}"
    );
}
