//! The mapping, row by row: the product page's Event Mapping and Identity tables and every rule of
//! pendo.md sections 2 to 6, each asserted on the exact bytes Pendo would receive.

use super::*;
use crate::config::IntegrationConfig;
use crate::identity::{Link, MemoryIdentity, links_of};
use crate::parse::{Parser, Shape};
use serde_json::{Value, json};

const NOW: i64 = 1_732_608_000_000 + 3_600_000; // an hour after 2024-11-26T08:00:00Z

fn mapper_with(config: Value) -> Mapper {
    let bp = Blueprint::get("pendo").expect("embedded");
    let mut base = json!({"api_key": "api", "integration_key": "ik"});
    if let (Some(b), Some(extra)) = (base.as_object_mut(), config.as_object()) {
        b.extend(extra.clone());
    }
    let (config, variant) =
        IntegrationConfig::validate_install(bp, None, None, &base).expect("valid config");
    Mapper::new(bp, variant, config)
}

/// What one event maps to, as text: `track <body>`, `visitor <record>`, `account <record>` or
/// `dropped <reason>`; and the warnings' codes and texts.
fn run(m: &mut Mapper, ids: &dyn IdentityLookup, src: &str) -> (String, Vec<String>) {
    let mut buf = src.as_bytes().to_vec();
    let mut p = Parser::new();
    let doc = p.parse(&mut buf, Shape::Event(None)).expect("valid event");
    let ev = doc.event(0).expect("valid event");
    let mapping = m.map(&ev, ids, NOW);
    let out = match mapping.outcome {
        Mapped::Send(items) => {
            assert_eq!(items.len(), 1, "Pendo sends one item per event");
            let item = items.get(0).expect("an item");
            let kind = match request_name(item.request) {
                "track" => "track",
                "visitors" => "visitor",
                "accounts" => "account",
                other => panic!("unknown request {other}"),
            };
            format!("{kind} {}", String::from_utf8_lossy(item.body))
        }
        Mapped::Dropped(reason) => format!("dropped {reason}"),
    };
    let warnings = mapping
        .warnings
        .iter()
        .map(|w| format!("{}: {w}", w.code()))
        .collect();
    (out, warnings)
}

fn request_name(index: usize) -> &'static str {
    let bp = Blueprint::get("pendo").expect("embedded");
    bp.requests.keys().nth(index).map_or("?", String::as_str)
}

fn map1(src: &str) -> String {
    run(&mut mapper_with(json!({})), &(), src).0
}

/// The track body's JSON, parsed, for assertions on single fields.
fn body(src: &str) -> Value {
    let out = map1(src);
    let text = out
        .strip_prefix("track ")
        .unwrap_or_else(|| panic!("not a track: {out}"));
    serde_json::from_str(text).expect("valid JSON")
}

// === Event Mapping table, variant b2b_saas ===

#[test]
fn mapping_page_is_page_view_with_url_title_referrer_exactly_as_the_spec_shows() {
    let out = map1(
        r#"{"type":"page","userId":"u-123","anonymousId":"a-9f2","timestamp":"2024-11-26T08:00:00Z",
        "properties":{"url":"https://app.example.com/settings","title":"Settings","referrer":""},
        "context":{"ip":"203.0.113.9","userAgent":"Mozilla/5.0 ...","locale":"en-US","groupId":"acme-corp",
          "page":{"url":"https://app.example.com/settings","title":"Settings"}}}"#,
    );
    assert_eq!(
        out,
        concat!(
            r#"track {"type":"track","event":"page_view","visitorId":"u-123","accountId":"acme-corp","timestamp":1732608000000,"#,
            r#""properties":{"url":"https://app.example.com/settings","title":"Settings","referrer":""},"#,
            r#""context":{"ip":"203.0.113.9","userAgent":"Mozilla/5.0 ...","url":"https://app.example.com/settings","title":"Settings","locale":"en-US","anonymousId":"a-9f2"}}"#
        )
    );
}

#[test]
fn mapping_page_takes_url_title_referrer_from_context_page_and_adds_path_search_name() {
    let b = body(
        r#"{"type":"page","userId":"u","name":"Settings","context":{"page":{"url":"https://x/s?q=1",
        "title":"T","referrer":"https://r/","path":"/s","search":"?q=1"}}}"#,
    );
    assert_eq!(
        b["properties"],
        json!({"url":"https://x/s?q=1","title":"T","referrer":"https://r/","path":"/s","search":"?q=1","name":"Settings"})
    );
    // The event's own properties win over context.page.
    let b = body(
        r#"{"type":"page","userId":"u","properties":{"title":"Own"},"context":{"page":{"title":"Ctx"}}}"#,
    );
    assert_eq!(b["properties"], json!({"title": "Own"}));
}

#[test]
fn mapping_product_viewed_and_view_item_are_product_viewed_with_product_properties() {
    for name in ["Product Viewed", "view_item"] {
        let b = body(&format!(
            r#"{{"type":"track","event":"{name}","userId":"u","properties":{{"product_id":"p1","sku":"S1",
            "name":"Seat pack","category":"Add-ons","brand":"B","variant":"annual","price":9.99,"currency":"USD"}}}}"#
        ));
        assert_eq!(b["event"], "product_viewed", "{name}");
        assert_eq!(
            b["properties"],
            json!({"product_id":"p1","sku":"S1","name":"Seat pack","category":"Add-ons","brand":"B",
                   "variant":"annual","price":9.99,"currency":"USD"})
        );
    }
}

#[test]
fn mapping_order_completed_and_purchase_are_purchase_with_revenue_order_items() {
    for name in ["Order Completed", "purchase"] {
        let out = map1(&format!(
            r#"{{"type":"track","event":"{name}","userId":"u","timestamp":1732608000000,"properties":{{"order_id":"o1",
            "total":98.0,"currency":"USD","coupon":"X","products":[{{"sku":"a","price":49.0}},{{"sku":"b","price":49.0}}]}}}}"#
        ));
        assert_eq!(
            out,
            concat!(
                r#"track {"type":"track","event":"purchase","visitorId":"u","timestamp":1732608000000,"properties":"#,
                r#"{"order_id":"o1","total":98.0,"currency":"USD","coupon":"X","items":[{"sku":"a","price":49.0},{"sku":"b","price":49.0}],"revenue":98.0}}"#
            ),
            "{name}"
        );
    }
}

#[test]
fn mapping_order_revenue_wins_over_total_and_items_over_products() {
    let b = body(
        r#"{"type":"track","event":"Order Completed","userId":"u","properties":{"revenue":90,"total":98,
        "items":[1],"products":[2]}}"#,
    );
    assert_eq!(
        b["properties"],
        json!({"revenue":90,"total":98,"items":[1],"products":[2]})
    );
}

#[test]
fn mapping_custom_events_pass_through_as_is() {
    for name in [
        "feature_used",
        "trial_started",
        "Report Exported",
        "subscription upgraded ✓",
    ] {
        let b = body(&format!(
            r#"{{"type":"track","event":"{name}","userId":"u","properties":{{"feature":"export"}}}}"#
        ));
        assert_eq!(b["event"], name);
        assert_eq!(b["properties"], json!({"feature": "export"}));
    }
}

#[test]
fn mapping_event_mapping_config_overrides_by_exact_name_and_null_drops() {
    let mut m = mapper_with(
        json!({"event_mapping": {"Signed Up": "trial_started", "Debug Ping": null,
        "Order Completed": "order_done", "page": "screen_view"}}),
    );
    let (out, _) = run(
        &mut m,
        &(),
        r#"{"type":"track","event":"Signed Up","userId":"u"}"#,
    );
    assert!(out.contains(r#""event":"trial_started""#), "{out}");
    let (out, _) = run(
        &mut m,
        &(),
        r#"{"type":"track","event":"Debug Ping","userId":"u"}"#,
    );
    assert_eq!(out, "dropped event_mapping");
    let (out, _) = run(
        &mut m,
        &(),
        r#"{"type":"track","event":"signed up","userId":"u"}"#,
    );
    assert!(
        out.contains(r#""event":"signed up""#),
        "exact names only: {out}"
    );
    // An override renames; the row's property plan still applies.
    let (out, _) = run(
        &mut m,
        &(),
        r#"{"type":"track","event":"Order Completed","userId":"u","properties":{"total":5}}"#,
    );
    assert!(
        out.contains(r#""event":"order_done""#) && out.contains(r#""revenue":5"#),
        "{out}"
    );
    let (out, _) = run(&mut m, &(), r#"{"type":"page","userId":"u"}"#);
    assert!(out.contains(r#""event":"screen_view""#), "{out}");
}

#[test]
fn mapping_identify_is_a_visitor_metadata_record_not_a_track_event() {
    let (out, warnings) = run(
        &mut mapper_with(json!({})),
        &(),
        r#"{"type":"identify","userId":"u-123","traits":{"plan":"pro","seats":12,"accountId":"acme-corp"}}"#,
    );
    assert_eq!(
        out,
        r#"visitor {"visitorId":"u-123","values":{"plan":"pro","seats":12}}"#
    );
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn mapping_group_is_an_account_metadata_record() {
    let (out, warnings) = run(
        &mut mapper_with(json!({})),
        &(),
        r#"{"type":"group","userId":"u","groupId":"acme-corp","traits":{"name":"Acme","industry":"saas"}}"#,
    );
    assert_eq!(
        out,
        r#"account {"accountId":"acme-corp","values":{"name_custom":"Acme","industry":"saas"}}"#
    );
    assert_eq!(
        warnings,
        ["reserved_property: `name` is a reserved name, sent as `name_custom`"]
    );
}

#[test]
fn metadata_records_give_their_fields_for_merging() {
    let mut m = mapper_with(json!({}));
    let mut buf = br#"{"type":"identify","userId":"u","traits":{"plan":"pro","n":1}}"#.to_vec();
    let mut p = Parser::new();
    let doc = p.parse(&mut buf, Shape::Event(None)).expect("valid");
    let ev = doc.event(0).expect("valid");
    let Mapped::Send(items) = m.map(&ev, &(), NOW).outcome else {
        panic!("not sent")
    };
    let r = items.get(0).and_then(|i| i.merge).expect("a merge record");
    assert_eq!(r.id, "u");
    let fields: Vec<(String, String)> = r
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
            ("\"n\"".into(), "1".into())
        ]
    );
}

#[test]
fn metadata_reserved_and_invalid_keys_are_renamed_with_warnings() {
    let (out, warnings) = run(
        &mut mapper_with(json!({})),
        &(),
        r#"{"type":"identify","userId":"u","traits":{"email":"a@b","2fa":true,"full name":"A B","plan":"pro"}}"#,
    );
    assert_eq!(
        out,
        r#"visitor {"visitorId":"u","values":{"email_custom":"a@b","_2fa":true,"full_name_custom":"A B","plan":"pro"}}"#
    );
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert!(warnings.iter().all(|w| w.starts_with("reserved_property")));
}

#[test]
fn identify_or_group_without_traits_sends_nothing() {
    let mut m = mapper_with(json!({}));
    assert_eq!(
        run(
            &mut m,
            &(),
            r#"{"type":"identify","userId":"u","traits":{"accountId":"a"}}"#
        )
        .0,
        "dropped no_traits"
    );
    assert_eq!(
        run(
            &mut m,
            &(),
            r#"{"type":"group","userId":"u","groupId":"g"}"#
        )
        .0,
        "dropped no_traits"
    );
}

#[test]
fn screen_and_alias_are_dropped_as_unsupported() {
    assert_eq!(
        map1(r#"{"type":"screen","userId":"u","name":"Home"}"#),
        "dropped unsupported_type"
    );
    assert_eq!(
        map1(r#"{"type":"alias","userId":"u"}"#),
        "dropped unsupported_type"
    );
}

// === Identity table ===

#[test]
fn identity_user_id_is_visitor_id() {
    assert_eq!(
        body(r#"{"type":"track","event":"E","userId":"u-123","anonymousId":"a"}"#)["visitorId"],
        "u-123"
    );
    assert_eq!(
        body(r#"{"type":"track","event":"E","userId":42}"#)["visitorId"],
        "42"
    );
}

#[test]
fn identity_anonymous_id_is_context_anonymous_id() {
    let b = body(r#"{"type":"track","event":"E","userId":"u","anonymousId":"a-9f2"}"#);
    assert_eq!(b["context"]["anonymousId"], "a-9f2");
}

#[test]
fn identity_ip_user_agent_and_locale_go_to_context() {
    let b = body(
        r#"{"type":"track","event":"E","userId":"u","context":{"ip":"203.0.113.9","user_agent":"UA/1","locale":"en-US"}}"#,
    );
    assert_eq!(
        b["context"],
        json!({"ip":"203.0.113.9","userAgent":"UA/1","locale":"en-US"})
    );
}

#[test]
fn identity_track_context_carries_url_and_title_from_context_page() {
    let b = body(
        r#"{"type":"track","event":"E","userId":"u","context":{"page":{"url":"https://x/","title":"X","path":"/"}}}"#,
    );
    assert_eq!(b["context"], json!({"url":"https://x/","title":"X"}));
    assert!(
        b.get("properties").is_none(),
        "a track takes no page properties: {b}"
    );
}

#[test]
fn identity_anonymous_visitor_linked_by_an_earlier_identify_is_the_user() {
    let mut ids = MemoryIdentity::new();
    let mut m = mapper_with(json!({}));
    // The identify makes the link (the store records it before acknowledging).
    let mut buf = br#"{"type":"identify","userId":"u-123","anonymousId":"a-9f2","traits":{"accountId":"acme"}}"#.to_vec();
    let mut p = Parser::new();
    let doc = p.parse(&mut buf, Shape::Event(None)).expect("valid");
    let ev = doc.event(0).expect("valid");
    let links = links_of(&ev, "accountId");
    assert_eq!(
        links,
        [
            Link::AnonymousToUser {
                anonymous_id: "a-9f2",
                user_id: "u-123"
            },
            Link::UserToAccount {
                user_id: "u-123",
                account_id: "acme"
            }
        ]
    );
    for l in &links {
        ids.record(l);
    }
    drop(doc);
    let (out, warnings) = run(&mut m, &ids, r#"{"type":"page","anonymousId":"a-9f2"}"#);
    assert!(
        out.contains(r#""visitorId":"u-123","accountId":"acme""#),
        "{out}"
    );
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn identity_unlinked_anonymous_visitor_gets_the_pendo_prefix_or_is_dropped() {
    let b = body(r#"{"type":"page","anonymousId":"a-9f2"}"#);
    assert_eq!(b["visitorId"], "_PENDO_T_a-9f2");
    let mut m = mapper_with(json!({"anonymous_visitors": "drop"}));
    assert_eq!(
        run(&mut m, &(), r#"{"type":"page","anonymousId":"a-9f2"}"#).0,
        "dropped anonymous"
    );
    assert_eq!(
        run(
            &mut m,
            &(),
            r#"{"type":"identify","anonymousId":"a","traits":{"p":1}}"#
        )
        .0,
        "dropped anonymous"
    );
    // A known user is never dropped as anonymous.
    assert!(
        run(&mut m, &(), r#"{"type":"page","userId":"u"}"#)
            .0
            .starts_with("track")
    );
}

#[test]
fn identity_account_id_precedence_first_found_wins() {
    let mut ids = MemoryIdentity::new();
    ids.record(&Link::UserToAccount {
        user_id: "u",
        account_id: "from-identify",
    });
    ids.record(&Link::UserToGroup {
        user_id: "u",
        group_id: "from-group",
    });
    ids.record(&Link::UserToGroup {
        user_id: "g-only",
        group_id: "from-group",
    });
    let mut m = mapper_with(json!({}));
    let mut account = |src: &str| -> Value {
        let (out, _) = run(&mut m, &ids, src);
        let b: Value = serde_json::from_str(out.trim_start_matches("track ")).expect("json");
        b["accountId"].clone()
    };
    let all = r#"{"type":"track","event":"E","userId":"u","properties":{"accountId":"from-props"},
        "context":{"groupId":"from-context","traits":{"accountId":"from-traits"}}}"#;
    assert_eq!(account(all), "from-context");
    assert_eq!(
        account(
            r#"{"type":"track","event":"E","userId":"u","properties":{"accountId":"from-props"},"context":{"traits":{"accountId":"from-traits"}}}"#
        ),
        "from-props"
    );
    assert_eq!(
        account(
            r#"{"type":"track","event":"E","userId":"u","context":{"traits":{"accountId":"from-traits"}}}"#
        ),
        "from-traits"
    );
    assert_eq!(
        account(r#"{"type":"track","event":"E","userId":"u"}"#),
        "from-identify"
    );
    assert_eq!(
        account(r#"{"type":"track","event":"E","userId":"g-only"}"#),
        "from-group"
    );
    assert_eq!(
        account(r#"{"type":"track","event":"E","userId":"nobody"}"#),
        Value::Null
    );
}

#[test]
fn identity_properties_account_id_is_the_link_not_a_property() {
    let b = body(
        r#"{"type":"track","event":"E","userId":"u","properties":{"accountId":"acme","n":1}}"#,
    );
    assert_eq!(b["accountId"], "acme");
    assert_eq!(b["properties"], json!({"n": 1}));
    // When context.groupId wins, properties.accountId is kept, renamed, and said so.
    let (out, warnings) = run(
        &mut mapper_with(json!({})),
        &(),
        r#"{"type":"track","event":"E","userId":"u","properties":{"accountId":"x"},"context":{"groupId":"g"}}"#,
    );
    assert!(
        out.contains(r#""properties":{"custom_accountId":"x"}"#),
        "{out}"
    );
    assert_eq!(
        warnings,
        ["reserved_property: `accountId` is a reserved name, sent as `custom_accountId`"]
    );
}

#[test]
fn identity_no_account_gives_the_account_not_linked_warning_and_no_key() {
    let (out, warnings) = run(
        &mut mapper_with(json!({})),
        &(),
        r#"{"type":"track","event":"E","userId":"u"}"#,
    );
    assert!(!out.contains("accountId"), "{out}");
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].starts_with("account_not_linked"),
        "{warnings:?}"
    );
}

// === Consent and the integrations object ===

#[test]
fn consent_analytics_false_drops_in_either_place() {
    for consent in [
        r#"{"analytics":false}"#,
        r#"{"canonical":{"analytics":false}}"#,
    ] {
        for kind in [
            r#""type":"page""#,
            r#""type":"track","event":"E""#,
            r#""type":"identify","traits":{"a":1}"#,
            r#""type":"group","groupId":"g","traits":{"a":1}"#,
        ] {
            let src = format!(r#"{{{kind},"userId":"u","context":{{"consent":{consent}}}}}"#);
            assert_eq!(map1(&src), "dropped consent", "{src}");
        }
    }
}

#[test]
fn consent_absent_is_delivered_unless_require_consent() {
    assert!(map1(r#"{"type":"page","userId":"u"}"#).starts_with("track"));
    let mut m = mapper_with(json!({"require_consent": true}));
    assert_eq!(
        run(&mut m, &(), r#"{"type":"page","userId":"u"}"#).0,
        "dropped consent"
    );
    assert!(
        run(
            &mut m,
            &(),
            r#"{"type":"page","userId":"u","context":{"consent":{"analytics":true}}}"#
        )
        .0
        .starts_with("track")
    );
}

#[test]
fn integrations_object_has_segment_semantics() {
    let with = |i: &str| {
        map1(&format!(
            r#"{{"type":"page","userId":"u","integrations":{i}}}"#
        ))
    };
    assert_eq!(with(r#"{"Pendo":false}"#), "dropped integration_disabled");
    assert_eq!(with(r#"{"All":false}"#), "dropped integration_disabled");
    assert!(with(r#"{"All":false,"Pendo":true}"#).starts_with("track"));
    assert!(with(r#"{"All":false,"Pendo":{"option":1}}"#).starts_with("track"));
    assert!(with(r#"{"Amplitude":false}"#).starts_with("track"));
    assert!(with("{}").starts_with("track"));
}

// === Property rules ===

#[test]
fn properties_breaking_pendos_key_rules_are_renamed_with_warnings() {
    let (out, warnings) = run(
        &mut mapper_with(json!({})),
        &(),
        r#"{"type":"track","event":"E","userId":"u","properties":{"page-url":"a","2fa":true,
        "ok_key":1,"__internal__":2,"this_key_is_much_longer_than_thirty_two":3}}"#,
    );
    let b: Value = serde_json::from_str(out.trim_start_matches("track ")).expect("json");
    assert_eq!(
        b["properties"],
        json!({"page_url":"a","_2fa":true,"ok_key":1,"custom___internal__":2,
               "this_key_is_much_longer_than_thi":3})
    );
    let renames: Vec<&String> = warnings
        .iter()
        .filter(|w| w.starts_with("reserved_property"))
        .collect();
    assert_eq!(renames.len(), 4, "{warnings:?}");
    assert!(renames[0].contains("`page-url`") && renames[0].contains("`page_url`"));
}

#[test]
fn properties_with_reserved_names_become_custom_with_warnings() {
    let (out, warnings) = run(
        &mut mapper_with(json!({})),
        &(),
        r#"{"type":"track","event":"E","userId":"u","context":{"groupId":"g"},"properties":{"visitorId":1,"type":2,"event":3,"timestamp":4,"context":5,"id":6}}"#,
    );
    let b: Value = serde_json::from_str(out.trim_start_matches("track ")).expect("json");
    assert_eq!(
        b["properties"],
        json!({"custom_visitorId":1,"custom_type":2,"custom_event":3,"custom_timestamp":4,"custom_context":5,"custom_id":6})
    );
    assert_eq!(warnings.len(), 6, "{warnings:?}");
}

#[test]
fn properties_whose_new_names_collide_keep_the_first_and_warn() {
    let (out, warnings) = run(
        &mut mapper_with(json!({})),
        &(),
        r#"{"type":"track","event":"E","userId":"u","context":{"groupId":"g"},"properties":{"a-b":1,"a_b":2,"a.b":3}}"#,
    );
    assert!(out.contains(r#""properties":{"a_b":1}"#), "{out}");
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert!(warnings.contains(
        &"reserved_property: `a_b` is already taken by a renamed key: not sent".to_owned()
    ));
    assert!(warnings.contains(&"reserved_property: `a-b` breaks the key rules (letters, digits, _; no leading digit; length), sent as `a_b`".to_owned()));
    assert!(
        warnings.contains(
            &"reserved_property: `a.b` would be renamed `a_b`, which is already taken: not sent"
                .to_owned()
        )
    );
}

#[test]
fn properties_over_512_bytes_are_sent_with_a_warning() {
    let big = "x".repeat(600);
    let (out, warnings) = run(
        &mut mapper_with(json!({})),
        &(),
        &format!(
            r#"{{"type":"track","event":"E","userId":"u","context":{{"groupId":"g"}},"properties":{{"blob":"{big}"}}}}"#
        ),
    );
    assert!(out.contains(&big));
    assert_eq!(
        warnings,
        [
            "properties_too_large: properties are 611 bytes, over 512: sent, but Pendo may not show them"
        ]
    );
}

#[test]
fn events_older_than_seven_days_are_sent_with_a_warning() {
    let eight_days = NOW - 8 * 86_400_000;
    let (out, warnings) = run(
        &mut mapper_with(json!({})),
        &(),
        &format!(
            r#"{{"type":"track","event":"E","userId":"u","context":{{"groupId":"g"}},"timestamp":{eight_days}}}"#
        ),
    );
    assert!(out.contains(&format!(r#""timestamp":{eight_days}"#)));
    assert_eq!(
        warnings,
        ["timestamp_too_old: the event is 8 days old, over 7: sent, but Pendo may not show it"]
    );
}

#[test]
fn absent_keys_are_omitted_never_null_or_empty() {
    let out = map1(r#"{"type":"track","event":"E","userId":"u","timestamp":1}"#);
    assert_eq!(
        out,
        r#"track {"type":"track","event":"E","visitorId":"u","timestamp":1}"#
    );
    let out = map1(
        r#"{"type":"track","event":"E","userId":"u","timestamp":1,"properties":{},"context":{"ip":null,"page":{}}}"#,
    );
    assert_eq!(
        out,
        r#"track {"type":"track","event":"E","visitorId":"u","timestamp":1}"#
    );
}

#[test]
fn a_missing_timestamp_is_the_time_received_else_now() {
    let b =
        body(r#"{"type":"track","event":"E","userId":"u","receivedAt":"2024-11-26T08:00:00Z"}"#);
    assert_eq!(b["timestamp"], 1_732_608_000_000_i64);
    let b = body(r#"{"type":"track","event":"E","userId":"u"}"#);
    assert_eq!(b["timestamp"], NOW);
}

#[test]
fn strings_are_escaped_on_the_way_out() {
    let b = body(
        r#"{"type":"track","event":"Said \"hi\"","userId":"u\\1","properties":{"q":"line\nbreak \u00e9 \ud83d\ude00"}}"#,
    );
    assert_eq!(b["event"], "Said \"hi\"");
    assert_eq!(b["visitorId"], "u\\1");
    assert_eq!(b["properties"]["q"], "line\nbreak é 😀");
}

#[test]
fn a_mapper_reused_for_many_events_gives_each_its_own_result() {
    let mut m = mapper_with(json!({}));
    let a = run(
        &mut m,
        &(),
        r#"{"type":"track","event":"A","userId":"u","properties":{"bad-key":1}}"#,
    );
    let b = run(
        &mut m,
        &(),
        r#"{"type":"track","event":"B","userId":"v","context":{"groupId":"g"}}"#,
    );
    assert!(a.0.contains(r#""event":"A""#) && a.1.len() == 2);
    assert!(b.0.contains(r#""event":"B""#) && b.1.is_empty(), "{b:?}");
}
