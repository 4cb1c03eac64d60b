//! Pendo's checks as `pendo-sim` made them, word for word, now from `fixtures/pendo.json`.

use super::*;

fn run(route: &str, body: &[u8]) -> Result<usize, String> {
    let f = Fixture::builtin("pendo").expect("pendo fixture");
    let r = f.routes.iter().find(|r| r.name == route).expect("route");
    let why = |r: Refusal| {
        r.vars
            .get("why")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let v = parse(&f, r, body).map_err(why)?;
    check(&f, r, &v).map_err(why)
}

fn track(body: &[u8]) -> Result<(), String> {
    run("track", body).map(|_| ())
}

fn metadata(body: &[u8], id_field: &str) -> Result<usize, String> {
    let route = if id_field == "visitorId" {
        "visitors"
    } else {
        "accounts"
    };
    run(route, body)
}

#[test]
fn track_bodies() {
    assert!(
        track(br#"{"type":"track","event":"e","visitorId":"v","timestamp":1,"properties":{}}"#)
            .is_ok()
    );
    assert_eq!(
        track(br#"{"type":"track","visitorId":"v","timestamp":1}"#),
        Err("event is required (a non-empty string)".into())
    );
    assert_eq!(
        track(br#"{"type":"track","event":"e","visitorId":"v","timestamp":"now"}"#),
        Err("timestamp is required (epoch milliseconds)".into())
    );
    assert_eq!(
        track(br#"{"type":"track","event":"e","visitorId":"v","timestamp":1,"accountId":null}"#),
        Err("accountId must not be null".into())
    );
    assert_eq!(
        track(br#"{"type":"page","event":"e","visitorId":"v","timestamp":1}"#),
        Err("type must be \"track\"".into())
    );
    assert_eq!(
        track(br#"{"type":"track","event":"e","visitorId":"v","timestamp":1,"accountId":7}"#),
        Err("accountId must be a string".into())
    );
    assert_eq!(
        track(br#"{"type":"track","event":"e","visitorId":"v","timestamp":1,"context":[]}"#),
        Err("context must be an object".into())
    );
    assert_eq!(track(br#"[]"#), Err("body must be a JSON object".into()));
    assert!(track(b"{").is_err_and(|e| e.starts_with("body is not JSON: ")));
}

#[test]
fn metadata_bodies() {
    assert_eq!(
        metadata(br#"[{"visitorId":"u","values":{"a":1}}]"#, "visitorId"),
        Ok(1)
    );
    assert_eq!(
        metadata(br#"[{"visitorId":"u"}]"#, "visitorId"),
        Err("[0].values must be an object".into())
    );
    assert_eq!(
        metadata(br#"{"visitorId":"u"}"#, "visitorId"),
        Err("body must be a JSON array of records".into())
    );
    assert_eq!(
        metadata(
            br#"[{"accountId":"a","values":{}},{"values":{}}]"#,
            "accountId"
        ),
        Err("[1].accountId is required (a non-empty string)".into())
    );
}
