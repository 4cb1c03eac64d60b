//! Pendo, byte for byte: the mapper's output over the whole sample mix (several seeds, four
//! configurations, with and without identity links) and the inputs of the mapping's unit tests,
//! compared with `fixtures/pendo_bytes.jsonl`, which the Pendo writer of commit 9a567b2 (the
//! hand-written Rust writer, before Pendo became a blueprint) produced.
//!
//! Each line of the fixture is one input's outcome: the track body, or the metadata record (its
//! request, id, merge fields and body), or the drop reason, plus the warnings' codes and texts. The
//! first lines hold the outcome in full (`o`), the rest only the first 16 hex digits of the
//! SHA-256 of that same text (`h`).
//!
//! To write the fixture again from the current mapper (only when a change of Pendo's bytes is
//! intended and reviewed): `SIGNAL_WRITE_PENDO_BYTES=1 cargo test -p signal-core --test pendo_bytes`.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use signal_core::sample::Samples;
use signal_core::{IdentityLookup, Link, Mapped, Mapper, MemoryIdentity, Parser, Shape, links_of};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/pendo_bytes.jsonl"
);
/// Lines written in full; the rest are hashed.
const FULL: usize = 400;
const SAMPLE_NOW: i64 = 1_764_140_000_000 + 3_600_000;
const UNIT_NOW: i64 = 1_732_608_000_000 + 3_600_000;
const DAY: i64 = 86_400_000;

/// How identity links are known while a stream is mapped.
#[derive(Clone, Copy)]
enum Links {
    /// No links at all.
    None,
    /// Every link of the stream is recorded before mapping (so tracks find accounts).
    Before,
    /// Links are recorded as identify and group calls pass.
    AsTheyCome,
}

struct Scenario {
    config: Value,
    events: Vec<Vec<u8>>,
    now: i64,
    links: Links,
    preset: MemoryIdentity,
}

fn samples(seed: u64, n: usize) -> Vec<Vec<u8>> {
    let mut s = Samples::new(seed);
    s.consent_withheld = 0.05;
    s.take(n)
}

/// The inputs of `src/map/tests.rs` (and a few more edges), as written there.
fn unit_inputs() -> Vec<Vec<u8>> {
    let big = "x".repeat(600);
    let old = UNIT_NOW - 8 * DAY;
    let mut v: Vec<String> = [
        r#"{"type":"page","userId":"u-123","anonymousId":"a-9f2","timestamp":"2024-11-26T08:00:00Z","properties":{"url":"https://app.example.com/settings","title":"Settings","referrer":""},"context":{"ip":"203.0.113.9","userAgent":"Mozilla/5.0 ...","locale":"en-US","groupId":"acme-corp","page":{"url":"https://app.example.com/settings","title":"Settings"}}}"#,
        r#"{"type":"page","userId":"u","name":"Settings","context":{"page":{"url":"https://x/s?q=1","title":"T","referrer":"https://r/","path":"/s","search":"?q=1"}}}"#,
        r#"{"type":"page","userId":"u","properties":{"title":"Own"},"context":{"page":{"title":"Ctx"}}}"#,
        r#"{"type":"page","userId":"u","properties":{"name":"Own","path":"/own"},"name":"N","context":{"page":{"title":"Ctx","path":"/p"}}}"#,
        r#"{"type":"track","event":"Product Viewed","userId":"u","properties":{"product_id":"p1","sku":"S1","name":"Seat pack","category":"Add-ons","brand":"B","variant":"annual","price":9.99,"currency":"USD"}}"#,
        r#"{"type":"track","event":"view_item","userId":"u","properties":{"product_id":"p1","sku":"S1","name":"Seat pack","category":"Add-ons","brand":"B","variant":"annual","price":9.99,"currency":"USD"}}"#,
        r#"{"type":"track","event":"Order Completed","userId":"u","timestamp":1732608000000,"properties":{"order_id":"o1","total":98.0,"currency":"USD","coupon":"X","products":[{"sku":"a","price":49.0},{"sku":"b","price":49.0}]}}"#,
        r#"{"type":"track","event":"purchase","userId":"u","timestamp":1732608000000,"properties":{"order_id":"o1","total":98.0,"currency":"USD","coupon":"X","products":[{"sku":"a","price":49.0},{"sku":"b","price":49.0}]}}"#,
        r#"{"type":"track","event":"Order Completed","userId":"u","properties":{"revenue":90,"total":98,"items":[1],"products":[2]}}"#,
        r#"{"type":"track","event":"Order Completed","userId":"u","properties":{"products":[2],"total":null}}"#,
        r#"{"type":"track","event":"Order Completed","userId":"u","properties":{"total":5,"accountId":"acc"}}"#,
        r#"{"type":"track","event":"feature_used","userId":"u","properties":{"feature":"export"}}"#,
        r#"{"type":"track","event":"subscription upgraded ✓","userId":"u","properties":{"feature":"export"}}"#,
        r#"{"type":"track","event":"Signed Up","userId":"u"}"#,
        r#"{"type":"track","event":"Debug Ping","userId":"u"}"#,
        r#"{"type":"track","event":"signed up","userId":"u"}"#,
        r#"{"type":"track","event":"Order Completed","userId":"u","properties":{"total":5}}"#,
        r#"{"type":"page","userId":"u"}"#,
        r#"{"type":"identify","userId":"u-123","traits":{"plan":"pro","seats":12,"accountId":"acme-corp"}}"#,
        r#"{"type":"group","userId":"u","groupId":"acme-corp","traits":{"name":"Acme","industry":"saas"}}"#,
        r#"{"type":"group","userId":"u","groupId":42,"traits":{"id":1,"planLevel":"x","2x":1,"a b":2,"a_b":3}}"#,
        r#"{"type":"identify","userId":"u","traits":{"plan":"pro","n":1}}"#,
        r#"{"type":"identify","userId":"u","traits":{"email":"a@b","2fa":true,"full name":"A B","plan":"pro"}}"#,
        r#"{"type":"identify","userId":"u","context":{"traits":{"plan":"ctx","accountId":"x"}}}"#,
        r#"{"type":"identify","userId":"u","traits":{"accountId":"a"}}"#,
        r#"{"type":"identify","anonymousId":"a-9f2","traits":{"p":1}}"#,
        r#"{"type":"identify","anonymousId":"zz","traits":{"p":1}}"#,
        r#"{"type":"group","userId":"u","groupId":"g"}"#,
        r#"{"type":"screen","userId":"u","name":"Home"}"#,
        r#"{"type":"alias","userId":"u"}"#,
        r#"{"type":"track","event":"E","userId":"u-123","anonymousId":"a"}"#,
        r#"{"type":"track","event":"E","userId":42}"#,
        r#"{"type":"track","event":"E","userId":4.5,"anonymousId":7}"#,
        r#"{"type":"track","event":"E","userId":"u","anonymousId":"a-9f2"}"#,
        r#"{"type":"track","event":"E","userId":"u","context":{"ip":"203.0.113.9","user_agent":"UA/1","locale":"en-US"}}"#,
        r#"{"type":"track","event":"E","userId":"u","context":{"page":{"url":"https://x/","title":"X","path":"/"}}}"#,
        r#"{"type":"page","anonymousId":"a-9f2"}"#,
        r#"{"type":"page","anonymousId":"other"}"#,
        r#"{"type":"track","event":"E","userId":"u","properties":{"accountId":"from-props"},"context":{"groupId":"from-context","traits":{"accountId":"from-traits"}}}"#,
        r#"{"type":"track","event":"E","userId":"u","properties":{"accountId":"from-props"},"context":{"traits":{"accountId":"from-traits"}}}"#,
        r#"{"type":"track","event":"E","userId":"u","properties":{"accountId":17},"context":{"traits":{"accountId":"from-traits"}}}"#,
        r#"{"type":"track","event":"E","userId":"u","properties":{"accountId":""},"context":{"traits":{"accountId":"from-traits"}}}"#,
        r#"{"type":"track","event":"E","userId":"u","properties":{"accountId":true},"context":{"traits":{"accountId":12}}}"#,
        r#"{"type":"track","event":"E","userId":"u","context":{"traits":{"accountId":"from-traits"}}}"#,
        r#"{"type":"track","event":"E","userId":"u"}"#,
        r#"{"type":"track","event":"E","userId":"g-only"}"#,
        r#"{"type":"track","event":"E","userId":"nobody"}"#,
        r#"{"type":"track","event":"E","anonymousId":"nobody"}"#,
        r#"{"type":"track","event":"E","userId":"u","properties":{"accountId":"acme","n":1}}"#,
        r#"{"type":"track","event":"E","userId":"u","properties":{"accountId":"x"},"context":{"groupId":"g"}}"#,
        r#"{"type":"page","userId":"u","context":{"consent":{"analytics":false}}}"#,
        r#"{"type":"identify","userId":"u","traits":{"a":1},"context":{"consent":{"canonical":{"analytics":false}}}}"#,
        r#"{"type":"page","userId":"u","context":{"consent":{"analytics":true}}}"#,
        r#"{"type":"page","userId":"u","integrations":{"Pendo":false}}"#,
        r#"{"type":"page","userId":"u","integrations":{"All":false}}"#,
        r#"{"type":"page","userId":"u","integrations":{"All":false,"Pendo":true}}"#,
        r#"{"type":"page","userId":"u","integrations":{"All":false,"Pendo":{"option":1}}}"#,
        r#"{"type":"page","userId":"u","integrations":{"Amplitude":false}}"#,
        r#"{"type":"track","event":"E","userId":"u","properties":{"page-url":"a","2fa":true,"ok_key":1,"__internal__":2,"this_key_is_much_longer_than_thirty_two":3}}"#,
        r#"{"type":"track","event":"E","userId":"u","context":{"groupId":"g"},"properties":{"visitorId":1,"type":2,"event":3,"timestamp":4,"context":5,"id":6}}"#,
        r#"{"type":"track","event":"E","userId":"u","context":{"groupId":"g"},"properties":{"a-b":1,"a_b":2,"a.b":3}}"#,
        r#"{"type":"track","event":"Order Completed","userId":"u","context":{"groupId":"g"},"properties":{"a-b":1,"items":2,"products":[3],"total":1,"revenue-x":4}}"#,
        r#"{"type":"page","userId":"u","name":"N","context":{"groupId":"g","page":{"url":"U"}},"properties":{"t-t":1,"url":"own"}}"#,
        r#"{"type":"track","event":"E","userId":"u","timestamp":1}"#,
        r#"{"type":"track","event":"E","userId":"u","timestamp":1,"properties":{},"context":{"ip":null,"page":{}}}"#,
        r#"{"type":"track","event":"E","userId":"u","receivedAt":"2024-11-26T08:00:00Z"}"#,
        r#"{"type":"track","event":"Said \"hi\"","userId":"u\\1","properties":{"q":"line\nbreak \u00e9 \ud83d\ude00"}}"#,
        r#"{"type":"track","event":"A","userId":"u","properties":{"bad-key":1}}"#,
        r#"{"type":"track","event":"B","userId":"v","context":{"groupId":"g"}}"#,
        r#"{"type":"identify","userId":"u","traits":{"Név":"é","x":{"a":[1,{"b":null}]},"y":null}}"#,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    v.push(format!(
        r#"{{"type":"track","event":"E","userId":"u","context":{{"groupId":"g"}},"properties":{{"blob":"{big}"}}}}"#
    ));
    v.push(format!(
        r#"{{"type":"track","event":"E","userId":"u","context":{{"groupId":"g"}},"timestamp":{old}}}"#
    ));
    v.push(format!(
        r#"{{"type":"track","event":"E","userId":"u","timestamp":{old},"properties":{{"blob":"{big}","bad key":1}}}}"#
    ));
    v.into_iter().map(String::into_bytes).collect()
}

fn unit_identity() -> MemoryIdentity {
    let mut ids = MemoryIdentity::new();
    for l in [
        Link::UserToAccount {
            user_id: "u",
            account_id: "from-identify",
        },
        Link::UserToGroup {
            user_id: "u",
            group_id: "from-group",
        },
        Link::UserToGroup {
            user_id: "g-only",
            group_id: "from-group",
        },
        Link::AnonymousToUser {
            anonymous_id: "a-9f2",
            user_id: "u-123",
        },
        Link::UserToAccount {
            user_id: "u-123",
            account_id: "acme",
        },
    ] {
        ids.record(&l);
    }
    ids
}

fn scenarios() -> Vec<Scenario> {
    let overrides = json!({"event_mapping": {"Signed Up": "trial_started", "Debug Ping": null,
        "Order Completed": "order_done", "page": "screen_view", "Product Viewed": "pv",
        "feature_used": null}});
    let mut all = Vec::new();
    for config in [
        json!({}),
        json!({"anonymous_visitors": "drop"}),
        overrides.clone(),
        json!({"require_consent": true}),
    ] {
        all.push(Scenario {
            config,
            events: unit_inputs(),
            now: UNIT_NOW,
            links: Links::None,
            preset: unit_identity(),
        });
    }
    for (seed, n, now, links) in [
        (42, 1_500, SAMPLE_NOW, Links::Before),
        (7, 1_000, SAMPLE_NOW, Links::AsTheyCome),
        (3, 600, SAMPLE_NOW + 8 * DAY, Links::None),
    ] {
        all.push(Scenario {
            config: json!({}),
            events: samples(seed, n),
            now,
            links,
            preset: MemoryIdentity::new(),
        });
    }
    for config in [
        json!({"anonymous_visitors": "drop"}),
        overrides,
        json!({"require_consent": true}),
    ] {
        all.push(Scenario {
            config,
            events: samples(11, 300),
            now: SAMPLE_NOW,
            links: Links::Before,
            preset: MemoryIdentity::new(),
        });
    }
    all
}

fn mapper(config: &Value) -> Mapper {
    let mut base = json!({"api_key": "api", "integration_key": "ik"});
    if let (Some(b), Some(extra)) = (base.as_object_mut(), config.as_object()) {
        b.extend(extra.clone());
    }
    Mapper::from_config("pendo", &base).expect("valid config")
}

fn record_links(ids: &mut MemoryIdentity, parser: &mut Parser, body: &[u8]) {
    let mut buf = body.to_vec();
    let doc = parser.parse(&mut buf, Shape::Event(None)).expect("valid");
    let ev = doc.event(0).expect("valid");
    for l in links_of(&ev, "accountId") {
        ids.record(&l);
    }
}

/// Every input's outcome, as one text each.
fn outcomes() -> Vec<String> {
    let mut lines = Vec::new();
    let mut parser = Parser::new();
    for sc in scenarios() {
        let mut m = mapper(&sc.config);
        let mut ids = sc.preset.clone();
        if matches!(sc.links, Links::Before) {
            for e in &sc.events {
                record_links(&mut ids, &mut parser, e);
            }
        }
        for e in &sc.events {
            let mut buf = e.clone();
            let doc = parser.parse(&mut buf, Shape::Event(None)).expect("valid");
            let ev = doc.event(0).expect("valid");
            lines.push(describe(&mut m, &ev, &ids, sc.now));
            drop(doc);
            if matches!(sc.links, Links::AsTheyCome) {
                record_links(&mut ids, &mut parser, e);
            }
        }
    }
    lines
}

/// One outcome as text: what the request gets, byte for byte, and the warnings.
fn describe(
    m: &mut Mapper,
    ev: &signal_core::Event<'_, '_>,
    ids: &dyn IdentityLookup,
    now: i64,
) -> String {
    let bp = m.blueprint();
    let mapping = m.map(ev, ids, now);
    let out = match mapping.outcome {
        Mapped::Send(items) => {
            assert_eq!(items.len(), 1, "one item per event");
            let item = items.get(0).expect("an item");
            let request = bp.requests.keys().nth(item.request).expect("a request");
            let body = String::from_utf8_lossy(item.body);
            serde_json::from_slice::<Value>(item.body).expect("every item is valid JSON");
            let (kind, r) = match (request.as_str(), item.merge) {
                ("track", None) => {
                    let event = mapping.event_name.expect("a track has an event name");
                    return with_warnings(format!("track event={event} {body}"), mapping.warnings);
                }
                ("visitors", Some(r)) => ("visitor", r),
                ("accounts", Some(r)) => ("account", r),
                other => panic!("unexpected {other:?}"),
            };
            let fields: Vec<String> = r
                .fields()
                .map(|(k, v)| {
                    format!(
                        "{}={}",
                        String::from_utf8_lossy(k),
                        String::from_utf8_lossy(v)
                    )
                })
                .collect();
            format!("{kind} id={} fields=[{}] {body}", r.id, fields.join(","))
        }
        Mapped::Dropped(reason) => format!("dropped {reason}"),
    };
    with_warnings(out, mapping.warnings)
}

fn with_warnings(mut out: String, warnings: &[signal_core::Warning]) -> String {
    for w in warnings {
        out.push_str(&format!("\n{}: {w}", w.code()));
    }
    out
}

fn hash16(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn fixture_line(n: usize, outcome: &str) -> Value {
    if n < FULL {
        json!({"n": n, "o": outcome})
    } else {
        json!({"n": n, "h": hash16(outcome)})
    }
}

#[test]
fn pendo_requests_are_byte_for_byte_those_of_the_rust_writer() {
    let got = outcomes();
    if std::env::var_os("SIGNAL_WRITE_PENDO_BYTES").is_some() {
        let text: String = got
            .iter()
            .enumerate()
            .map(|(n, o)| format!("{}\n", fixture_line(n, o)))
            .collect();
        std::fs::write(FIXTURE, text).expect("fixture written");
        return;
    }
    let text = std::fs::read_to_string(FIXTURE).expect("fixture");
    let want: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("fixture line"))
        .collect();
    assert_eq!(
        want.len(),
        got.len(),
        "the fixture has another number of inputs"
    );
    let mut kinds = [0usize; 3];
    for (n, (w, g)) in want.iter().zip(&got).enumerate() {
        if g.starts_with("track") {
            kinds[0] += 1;
        } else if g.starts_with("dropped") {
            kinds[2] += 1;
        } else {
            kinds[1] += 1;
        }
        assert_eq!(w, &fixture_line(n, g), "input {n}: now {g}");
    }
    // The mix covers every outcome.
    assert!(kinds.iter().all(|&k| k > 100), "{kinds:?}");
}
