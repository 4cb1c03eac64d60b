use super::*;
use crate::request::Method;
use serde_json::json;

fn spec(v: Value) -> RequestSpec {
    serde_json::from_value(v).expect("a valid spec")
}

fn one(name: &str, v: Value, config: Value) -> Result<Target, ResolveError> {
    let mut map = BTreeMap::new();
    map.insert(name.to_owned(), spec(v));
    let Value::Object(config) = config else {
        panic!("config is an object")
    };
    resolve(&map, &config, "https://api.example.com/").map(|mut t| t.remove(0))
}

fn text(b: &[u8]) -> &str {
    std::str::from_utf8(b).expect("utf8")
}

#[test]
fn header_auth_fills_the_url_and_the_header_and_keeps_the_key_out_of_the_shown_url() {
    let t = one(
        "track",
        json!({"url": "{region.base}/data/track",
               "auth": {"header": {"X-Pendo-Integration-Key": "{config.integration_key}"}},
               "item": {}, "response": "pendo"}),
        json!({"integration_key": "ik-123456"}),
    )
    .expect("resolves");
    assert_eq!(t.url, "https://api.example.com/data/track");
    assert_eq!(t.shown_url, t.url);
    assert_eq!(
        t.headers,
        [("x-pendo-integration-key".to_owned(), "ik-123456".to_owned())]
    );
    assert_eq!(t.method, Method::Post);
    assert_eq!(t.envelope, None);
    assert_eq!(t.item_fields, None);
    assert_eq!(t.response, "pendo");
}

#[test]
fn basic_and_bearer_become_an_authorization_header() {
    let basic = one(
        "r",
        json!({"url": "{region.base}/x", "auth": {"basic": {"user": "{config.user}", "password": "{config.pw}"}},
               "item": {}, "response": "p"}),
        json!({"user": "Aladdin", "pw": "open sesame"}),
    )
    .expect("resolves");
    assert_eq!(
        basic.headers,
        [(
            "authorization".to_owned(),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==".to_owned()
        )]
    );
    let bearer = one(
        "r",
        json!({"url": "{region.base}/x", "auth": {"bearer": "{config.token}"}, "item": {}, "response": "p"}),
        json!({"token": "tok-1"}),
    )
    .expect("resolves");
    assert_eq!(
        bearer.headers,
        [("authorization".to_owned(), "Bearer tok-1".to_owned())]
    );
}

#[test]
fn query_auth_is_encoded_into_the_url_and_masked_in_the_shown_url() {
    let t = one(
        "r",
        json!({"url": "{region.base}/mp/collect?v=2", "auth": {"query": {"api_secret": "{config.secret}"}},
               "item": {}, "response": "p"}),
        json!({"secret": "s&c r=t"}),
    )
    .expect("resolves");
    assert_eq!(
        t.url,
        "https://api.example.com/mp/collect?v=2&api_secret=s%26c%20r%3Dt"
    );
    assert_eq!(
        t.shown_url,
        "https://api.example.com/mp/collect?v=2&api_secret=****"
    );
}

#[test]
fn body_auth_goes_into_the_envelope_which_is_cut_around_the_items() {
    let t = one(
        "events",
        json!({"url": "{region.base}/2/httpapi", "auth": {"body": {"api_key": "{config.api_key}"}},
               "batch": {"max_items": 2000, "max_bytes": 1000000, "linger_ms": 250},
               "envelope": {"events": {"@items": true}, "options": {"min_id_length": {"@config": "min_id_length"}}},
               "item": {}, "response": "amplitude_v2"}),
        json!({"api_key": "secret-key-1", "min_id_length": 3}),
    )
    .expect("resolves");
    let env = t.envelope.expect("an envelope");
    assert_eq!(text(&env.prefix), r#"{"api_key":"secret-key-1","events":["#);
    assert_eq!(text(&env.suffix), r#"],"options":{"min_id_length":3}}"#);
    assert_eq!(text(&env.shown_prefix), r#"{"api_key":"****","events":["#);
    assert_eq!(env.shown_suffix, env.suffix);
    assert_eq!(
        t.batch.map(|b| b.max_items),
        Some(2000),
        "the batch is carried"
    );
}

#[test]
fn an_envelope_object_whose_members_are_all_absent_is_left_out() {
    let t = one(
        "events",
        json!({"url": "{region.base}/2/httpapi", "batch": {"max_items": 10, "linger_ms": 1},
               "envelope": {"events": {"@items": true}, "options": {"min_id_length": {"@config": "min_id_length"}},
                            "meta": {}},
               "item": {}, "response": "amplitude_v2"}),
        json!({}),
    )
    .expect("resolves");
    let env = t.envelope.expect("an envelope");
    // amplitude.md 3.4: `options` only when min_id_length is configured; a literal `{}` stays.
    assert_eq!(text(&env.prefix), r#"{"events":["#);
    assert_eq!(text(&env.suffix), r#"],"meta":{}}"#);
}

#[test]
fn an_absent_at_config_leaves_its_key_out_and_a_batch_without_envelope_is_an_array() {
    let t = one(
        "events",
        json!({"url": "{region.base}/x", "batch": {"max_items": 10, "linger_ms": 1},
               "envelope": {"events": {"@items": true}, "n": {"@config": "nope"}},
               "item": {}, "response": "p"}),
        json!({}),
    )
    .expect("resolves");
    let env = t.envelope.expect("an envelope");
    assert_eq!(text(&env.prefix), r#"{"events":["#);
    assert_eq!(text(&env.suffix), "]}");
    let array = one(
        "m",
        json!({"url": "{region.base}/x", "batch": {"max_items": 10, "linger_ms": 1}, "item": {}, "response": "p"}),
        json!({}),
    )
    .expect("resolves")
    .envelope
    .expect("an envelope");
    assert_eq!((text(&array.prefix), text(&array.suffix)), ("[", "]"));
}

#[test]
fn unbatched_body_auth_is_spliced_into_the_item() {
    let t = one(
        "track",
        json!({"url": "{region.base}/api/track", "auth": {"body": {"app_id": "{config.app_id}"}},
               "item": {}, "response": "heap"}),
        json!({"app_id": 12345}),
    )
    .expect("resolves");
    assert_eq!(t.envelope, None);
    let fields = t.item_fields.expect("item fields");
    assert_eq!(text(&fields.bytes), r#""app_id":"12345""#);
    assert_eq!(text(&fields.shown), r#""app_id":"****""#);
}

#[test]
fn errors_name_the_request_and_the_placeholder() {
    let e = one(
        "events",
        json!({"url": "{region.base}/x", "auth": {"header": {"k": "{config.api_key}"}}, "item": {}, "response": "p"}),
        json!({}),
    )
    .expect_err("no key");
    assert_eq!(
        e,
        ResolveError::MissingConfig {
            request: "events".into(),
            placeholder: "{config.api_key}".into()
        }
    );
    assert!(e.to_string().contains("events") && e.to_string().contains("{config.api_key}"));
    let e = one(
        "t",
        json!({"url": "{region.host}/x", "item": {}, "response": "p"}),
        json!({}),
    )
    .expect_err("no such region field");
    assert!(
        matches!(e, ResolveError::BadPlaceholder { ref placeholder, .. } if placeholder == "{region.host}")
    );
    let e = one(
        "t",
        json!({"url": "{region.base}/x", "batch": {"max_items": 1, "linger_ms": 1},
               "envelope": {"a": {"@items": true}, "b": {"@items": true}}, "item": {}, "response": "p"}),
        json!({}),
    )
    .expect_err("two item places");
    assert!(matches!(e, ResolveError::Envelope { .. }));
    let e = one(
        "t",
        json!({"url": "{region.base}/x", "auth": {"body": {"k": "v"}}, "batch": {"max_items": 1, "linger_ms": 1},
               "item": {}, "response": "p"}),
        json!({}),
    )
    .expect_err("body auth in an array");
    assert!(matches!(e, ResolveError::Envelope { .. }));
    let e = one(
        "t",
        json!({"url": "{region.base}/x", "auth": {"header": {"k": "{config.k}"}}, "item": {}, "response": "p"}),
        json!({"k": "a\nb"}),
    )
    .expect_err("a newline in a header");
    assert!(matches!(e, ResolveError::Header { .. }));
}

#[test]
fn targets_come_in_the_map_order() {
    let mut map = BTreeMap::new();
    for name in ["visitor_metadata", "account_metadata", "track"] {
        map.insert(
            name.to_owned(),
            spec(json!({"url": format!("{{region.base}}/{name}"), "item": {}, "response": "p"})),
        );
    }
    let names: Vec<String> = resolve(&map, &Map::new(), "http://h")
        .expect("resolves")
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["account_metadata", "track", "visitor_metadata"]);
}

/// The blueprint's load check reads `{config.x|default}` in a request as field `x` with a
/// default; resolving takes the default when the config lacks `x`, the value when it has it.
#[test]
fn a_config_placeholder_with_a_default_takes_it_when_the_field_is_unset() {
    let spec = json!({"url": "{region.base}/v1/{config.workspace|main}/events",
                      "auth": {"header": {"X-Key": "{config.key}"}},
                      "item": {}, "response": "r"});
    let t = one("events", spec.clone(), json!({"key": "k"})).expect("resolves");
    assert_eq!(t.url, "https://api.example.com/v1/main/events");
    let t = one("events", spec, json!({"key": "k", "workspace": "w7"})).expect("resolves");
    assert_eq!(t.url, "https://api.example.com/v1/w7/events");
}
