//! Parsing and validation: every rule of pendo.md section 1, each error located and named.

use super::*;
use crate::event::Id;

fn parse_one(src: &str, shape: Shape) -> Result<String, String> {
    let mut buf = src.as_bytes().to_vec();
    let mut p = Parser::new();
    let doc = p.parse(&mut buf, shape).map_err(|e| e.to_string())?;
    let ev = doc.event(0).map_err(|e| e.to_string())?;
    Ok(format!(
        "{} u={:?} a={:?} e={:?} ts={:?}",
        ev.kind.as_str(),
        ev.user_id.as_ref().map(Id::as_str),
        ev.anonymous_id.as_ref().map(Id::as_str),
        ev.event,
        ev.timestamp
    ))
}

fn err(src: &str, shape: Shape) -> String {
    match parse_one(src, shape) {
        Ok(v) => panic!("accepted: {v}"),
        Err(e) => e,
    }
}

const ANY: Shape = Shape::Event(None);

#[test]
fn a_track_event_reads_every_field() {
    let src = r#"{"type":"track","event":"Signed Up","userId":"u-1","anonymousId":"a-1",
        "timestamp":"2024-11-26T08:00:00Z","messageId":"m-1",
        "properties":{"plan":"pro"},"context":{"ip":"203.0.113.9","userAgent":"UA","locale":"en-US",
        "page":{"url":"https://x/y","path":"/y","referrer":"","title":"Y","search":"?q"},
        "groupId":"acme","traits":{"accountId":"acme"},"consent":{"analytics":true}},
        "integrations":{"Pendo":true},"sentAt":1732608000001}"#;
    let mut buf = src.as_bytes().to_vec();
    let mut p = Parser::new();
    let doc = p.parse(&mut buf, ANY).expect("valid");
    let ev = doc.event(0).expect("valid");
    assert_eq!(ev.kind, EventType::Track);
    assert_eq!(ev.event, Some("Signed Up"));
    assert_eq!(ev.user_id.as_ref().map(Id::as_str), Some("u-1"));
    assert_eq!(ev.anonymous_id.as_ref().map(Id::as_str), Some("a-1"));
    assert_eq!(ev.timestamp, Some(1_732_608_000_000));
    assert_eq!(ev.sent_at, Some(1_732_608_000_001));
    assert_eq!(ev.message_id, Some("m-1"));
    assert_eq!(ev.properties.map(|p| p.len()), Some(1));
    let c = ev.context;
    assert_eq!(
        (c.ip, c.user_agent, c.locale),
        (Some("203.0.113.9"), Some("UA"), Some("en-US"))
    );
    assert_eq!(c.page.url, Some("https://x/y"));
    assert_eq!(c.page.referrer, Some(""));
    assert_eq!(c.page.search, Some("?q"));
    assert_eq!(c.group_id.as_ref().map(Id::as_str), Some("acme"));
    assert_eq!(c.consent.analytics, Some(true));
    assert!(ev.integrations.is_some());
}

#[test]
fn snake_case_spellings_read_the_same() {
    let camel = parse_one(
        r#"{"type":"track","event":"E","userId":"u","anonymousId":"a","timestamp":5}"#,
        ANY,
    );
    let snake = parse_one(
        r#"{"type":"track","event":"E","user_id":"u","anonymous_id":"a","timestamp":5}"#,
        ANY,
    );
    assert_eq!(camel, snake);
    let mut buf = br#"{"type":"group","group_id":"g","user_id":"u","message_id":"m","sent_at":7,
        "context":{"user_agent":"UA","group_id":"acme"}}"#
        .to_vec();
    let mut p = Parser::new();
    let doc = p.parse(&mut buf, ANY).expect("valid");
    let ev = doc.event(0).expect("valid");
    assert_eq!(ev.group_id.as_ref().map(Id::as_str), Some("g"));
    assert_eq!(ev.message_id, Some("m"));
    assert_eq!(ev.sent_at, Some(7));
    assert_eq!(ev.context.user_agent, Some("UA"));
    assert_eq!(ev.context.group_id.as_ref().map(Id::as_str), Some("acme"));
}

#[test]
fn both_spellings_in_one_event_are_an_error_naming_the_field() {
    assert_eq!(
        err(r#"{"type":"page","userId":"u","user_id":"u"}"#, ANY),
        "user_id: given twice, also as `userId`: send one spelling"
    );
    assert_eq!(
        err(
            r#"{"type":"page","userId":"u","context":{"user_agent":"a","userAgent":"b"}}"#,
            ANY
        ),
        "context.userAgent: given twice, also as `user_agent`: send one spelling"
    );
}

#[test]
fn timestamps_are_iso_8601_or_epoch_milliseconds() {
    assert!(
        parse_one(
            r#"{"type":"page","userId":"u","timestamp":"2024-11-26T09:00:00+01:00"}"#,
            ANY
        )
        .expect("valid")
        .ends_with("ts=Some(1732608000000)")
    );
    assert!(
        parse_one(
            r#"{"type":"page","userId":"u","timestamp":1732608000000}"#,
            ANY
        )
        .expect("valid")
        .ends_with("ts=Some(1732608000000)")
    );
    assert!(
        parse_one(
            r#"{"type":"page","userId":"u","originalTimestamp":"2024-11-26T08:00:00Z"}"#,
            ANY
        )
        .expect("valid")
        .ends_with("ts=Some(1732608000000)")
    );
    assert!(
        parse_one(r#"{"type":"page","userId":"u"}"#, ANY)
            .expect("valid")
            .ends_with("ts=None")
    );
    assert_eq!(
        err(
            r#"{"type":"page","userId":"u","timestamp":"last tuesday"}"#,
            ANY
        ),
        "timestamp: not an ISO 8601 date or epoch milliseconds"
    );
    assert_eq!(
        err(
            r#"{"type":"page","userId":"u","timestamp":"2024-11-26T08:00:00"}"#,
            ANY
        ),
        "timestamp: not an ISO 8601 date or epoch milliseconds"
    );
    assert_eq!(
        err(r#"{"type":"page","userId":"u","sentAt":-5}"#, ANY),
        "sentAt: not an ISO 8601 date or epoch milliseconds"
    );
}

#[test]
fn numeric_ids_become_strings_and_other_types_are_refused() {
    assert!(
        parse_one(r#"{"type":"page","userId":12345,"anonymousId":-7}"#, ANY)
            .expect("valid")
            .contains(r#"u=Some("12345") a=Some("-7")"#)
    );
    assert_eq!(
        err(r#"{"type":"page","userId":true}"#, ANY),
        "userId: must be a string or a number"
    );
    assert_eq!(
        err(r#"{"type":"page","userId":""}"#, ANY),
        "userId: must not be empty"
    );
    assert_eq!(
        err(
            &format!(r#"{{"type":"page","userId":"{}"}}"#, "u".repeat(256)),
            ANY
        ),
        "userId: must be at most 255 characters"
    );
    // 255 characters of two bytes each are within the limit: it counts characters.
    assert!(
        parse_one(
            &format!(r#"{{"type":"page","userId":"{}"}}"#, "é".repeat(255)),
            ANY
        )
        .is_ok()
    );
}

#[test]
fn required_fields_per_type() {
    assert_eq!(
        err(r#"{"type":"track","userId":"u"}"#, ANY),
        "event: is required"
    );
    assert_eq!(
        err(r#"{"type":"track","event":"","userId":"u"}"#, ANY),
        "event: must not be empty"
    );
    assert_eq!(
        err(
            &format!(
                r#"{{"type":"track","event":"{}","userId":"u"}}"#,
                "e".repeat(201)
            ),
            ANY
        ),
        "event: must be at most 200 characters"
    );
    assert_eq!(
        err(r#"{"type":"group","userId":"u"}"#, ANY),
        "groupId: is required"
    );
    assert_eq!(
        err(r#"{"type":"page","properties":{}}"#, ANY),
        "userId: needs a userId or an anonymousId"
    );
    assert_eq!(err(r#"{"userId":"u"}"#, ANY), "type: is required");
    assert_eq!(
        err(r#"{"type":"click","userId":"u"}"#, ANY),
        "type: must be one of track, page, identify, group, screen, alias"
    );
    assert_eq!(
        err(r#"{"type":"page","userId":"u","properties":[1]}"#, ANY),
        "properties: must be an object"
    );
    assert_eq!(
        err(
            r#"{"type":"page","userId":"u","context":{"page":{"url":5}}}"#,
            ANY
        ),
        "context.page.url: must be a string"
    );
    assert_eq!(
        err(
            r#"{"type":"page","userId":"u","context":{"consent":{"canonical":{"analytics":"no"}}}}"#,
            ANY
        ),
        "context.consent.canonical.analytics: must be a boolean"
    );
}

#[test]
fn null_means_absent_as_segment_sdks_send_it() {
    assert!(parse_one(
        r#"{"type":"page","userId":null,"anonymousId":"a","properties":null,"context":{"ip":null}}"#,
        ANY
    )
    .expect("valid")
    .contains("u=None"));
}

#[test]
fn the_endpoint_implies_the_type_and_a_disagreeing_type_is_refused() {
    assert!(
        parse_one(
            r#"{"userId":"u","event":"E"}"#,
            Shape::Event(Some(EventType::Track))
        )
        .expect("valid")
        .starts_with("track")
    );
    assert_eq!(
        err(
            r#"{"type":"page","userId":"u"}"#,
            Shape::Event(Some(EventType::Track))
        ),
        "type: disagrees with the endpoint, which takes `track` events"
    );
}

#[test]
fn duplicate_keys_are_refused_wherever_they_are() {
    assert_eq!(
        err(r#"{"type":"page","userId":"u","userId":"v"}"#, ANY),
        "userId: duplicate key"
    );
    assert_eq!(
        err(
            r#"{"type":"page","userId":"u","properties":{"a":{"b":1,"b":2}}}"#,
            ANY
        ),
        "properties.a.b: duplicate key"
    );
}

#[test]
fn not_json_is_invalid_json() {
    let mut buf = b"{\"type\":".to_vec();
    let e = Parser::new().parse(&mut buf, ANY).err().expect("refused");
    assert!(e.is_invalid_json(), "{e}");
    assert!(e.to_string().starts_with("body: not valid JSON"), "{e}");
}

#[test]
fn limits_body_event_batch_and_depth() {
    let mut p = Parser::new();
    // Body over 512 KiB.
    let mut big = vec![b' '; MAX_BODY_BYTES + 1];
    let e = p.parse(&mut big, ANY).err().expect("refused");
    assert!(e.is_too_large());
    assert_eq!(
        e.to_string(),
        "body: body is over the limit of 524288 bytes"
    );
    // One event over 32 KiB.
    let pad = "x".repeat(MAX_EVENT_BYTES);
    let mut one =
        format!(r#"{{"type":"page","userId":"u","properties":{{"p":"{pad}"}}}}"#).into_bytes();
    let e = p.parse(&mut one, ANY).err().expect("refused");
    assert_eq!(
        e.to_string(),
        "body: event is over the limit of 32768 bytes"
    );
    // A batch of 501.
    let ev = r#"{"type":"page","userId":"u"}"#;
    let mut batch = format!(r#"{{"batch":[{}]}}"#, vec![ev; 501].join(",")).into_bytes();
    let e = p.parse(&mut batch, Shape::Batch).err().expect("refused");
    assert_eq!(e.to_string(), "body: batch is over the limit of 500 events");
    // 500 is fine.
    let mut batch = format!(r#"{{"batch":[{}]}}"#, vec![ev; 500].join(",")).into_bytes();
    assert_eq!(p.parse(&mut batch, Shape::Batch).expect("valid").len(), 500);
    // Depth: 64 levels in all are fine, 65 are not.
    let nest = |levels: usize| {
        let inner = levels - 2; // the event object and `properties` are two levels
        format!(
            r#"{{"type":"page","userId":"u","properties":{{"a":{}1{}}}}}"#,
            "[".repeat(inner),
            "]".repeat(inner)
        )
    };
    let mut ok = nest(MAX_DEPTH).into_bytes();
    assert!(p.parse(&mut ok, ANY).is_ok());
    let mut deep = nest(MAX_DEPTH + 1).into_bytes();
    let e = p.parse(&mut deep, ANY).err().expect("refused");
    assert_eq!(e.to_string(), "body: nested deeper than 64 levels");
    // Very deep input does not overflow the stack.
    let mut hostile = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes();
    assert!(p.parse(&mut hostile, ANY).is_err());
}

#[test]
fn a_record_reads_back_a_single_event_as_deep_as_a_body_may_be() {
    // The gateway spools a single event as `{"batch":[event]}`: two levels deeper than it came.
    let inner = MAX_DEPTH - 2;
    let event = format!(
        r#"{{"type":"page","userId":"u","properties":{{"a":{}1{}}}}}"#,
        "[".repeat(inner),
        "]".repeat(inner)
    );
    let record = format!(r#"{{"batch":[{event}]}}"#);
    let mut as_body = record.clone().into_bytes();
    let e = Parser::new().parse(&mut as_body, Shape::Batch).err();
    assert_eq!(
        e.map(|e| e.to_string()).as_deref(),
        Some("body: nested deeper than 64 levels")
    );
    let mut records = Parser::for_records();
    let mut as_record = record.clone().into_bytes();
    {
        let doc = records
            .parse(&mut as_record, Shape::Batch)
            .expect("read back");
        assert!(doc.event(0).is_ok());
    }
    // One level past what a record may hold (the body's 64 plus the record's 2) is refused.
    let mut deeper = record
        .replacen("[1", "[[1", 1)
        .replacen("1]", "1]]", 1)
        .into_bytes();
    let e = records.parse(&mut deeper, Shape::Batch).err();
    assert_eq!(
        e.map(|e| e.to_string()).as_deref(),
        Some("body: nested deeper than 66 levels")
    );
}

#[test]
fn a_batch_accepts_the_valid_and_names_the_invalid() {
    let src = r#"{"batch":[
        {"type":"page","userId":"u1"},
        {"type":"track","userId":"u2"},
        {"type":"identify","userId":"u3","traits":{"plan":"pro"}},
        {"type":"page","userId":"u4","timestamp":"soon"}
    ]}"#;
    let mut buf = src.as_bytes().to_vec();
    let mut p = Parser::new();
    let doc = p.parse(&mut buf, Shape::Batch).expect("envelope valid");
    let results: Vec<Result<EventType, String>> = doc
        .events()
        .map(|r| r.map(|e| e.kind).map_err(|e| e.to_string()))
        .collect();
    assert_eq!(
        results,
        vec![
            Ok(EventType::Page),
            Err("batch[1].event: is required".into()),
            Ok(EventType::Identify),
            Err("batch[3].timestamp: not an ISO 8601 date or epoch milliseconds".into()),
        ]
    );
}

#[test]
fn an_oversized_event_in_a_batch_is_refused_alone() {
    let pad = "x".repeat(MAX_EVENT_BYTES);
    let src = format!(
        r#"{{"batch":[{{"type":"page","userId":"a"}},{{"type":"page","userId":"b","properties":{{"p":"{pad}"}}}},{{"type":"page","userId":"c"}}]}}"#
    );
    let mut buf = src.into_bytes();
    let mut p = Parser::new();
    let doc = p.parse(&mut buf, Shape::Batch).expect("envelope valid");
    let results: Vec<Result<(), String>> = doc
        .events()
        .map(|r| r.map(|_| ()).map_err(|e| e.to_string()))
        .collect();
    assert_eq!(
        results,
        vec![
            Ok(()),
            Err("batch[1]: event is over the limit of 32768 bytes".into()),
            Ok(())
        ]
    );
}

#[test]
fn batch_spans_cover_each_events_text() {
    let events = [
        r#"{"type":"page","userId":"u1","context":{"page":{"url":"a\"b"}}}"#,
        r#"{"type":"track","event":"E","anonymousId":"x","properties":{"list":[1,{"a":[]},{}],"e":{}}}"#,
        r#"{"type":"identify","userId":"u3","traits":{"plan":"pro"}}"#,
    ];
    let src = format!(
        r#"{{"context":{{"ip":"1.2.3.4","x":[1,2,{{"y":null}}]}},"sentAt":"2024-11-26T08:00:00Z", "batch" : [ {} ,{},{} ] , "z":1}}"#,
        events[0], events[1], events[2]
    );
    let original = src.clone();
    let mut buf = src.into_bytes();
    let mut p = Parser::new();
    let doc = p.parse(&mut buf, Shape::Batch).expect("valid");
    for (i, text) in events.iter().enumerate() {
        let span = doc.span(i).expect("span");
        assert_eq!(&original[span], *text, "event {i}");
    }
}

#[test]
fn a_batch_context_lies_under_each_events_own() {
    let src = r#"{"context":{"ip":"1.1.1.1","locale":"de-DE","page":{"url":"u","title":"t"}},
        "sentAt":"2024-11-26T08:00:00Z",
        "batch":[{"type":"page","userId":"u","context":{"ip":"2.2.2.2","page":{"title":"own"}}},
                 {"type":"page","userId":"v","sentAt":5}]}"#;
    let mut buf = src.as_bytes().to_vec();
    let mut p = Parser::new();
    let doc = p.parse(&mut buf, Shape::EventOrBatch).expect("valid");
    assert!(doc.is_batch());
    let a = doc.event(0).expect("valid");
    assert_eq!(a.context.ip, Some("2.2.2.2"));
    assert_eq!(a.context.locale, Some("de-DE"));
    assert_eq!(a.context.page.url, Some("u"));
    assert_eq!(a.context.page.title, Some("own"));
    assert_eq!(a.sent_at, Some(1_732_608_000_000));
    let b = doc.event(1).expect("valid");
    assert_eq!(b.context.ip, Some("1.1.1.1"));
    assert_eq!(b.sent_at, Some(5));
}

#[test]
fn a_bad_batch_envelope_refuses_the_body() {
    let mut p = Parser::new();
    for (src, msg) in [
        (r#"{"events":[]}"#, "batch: is required"),
        (r#"{"batch":{}}"#, "batch: must be an array"),
        (r#"[1]"#, "body: must be an object with a `batch` array"),
        (
            r#"{"batch":[],"context":{"ip":3}}"#,
            "context.ip: must be a string",
        ),
        (
            r#"{"batch":[],"sentAt":"never"}"#,
            "sentAt: not an ISO 8601 date or epoch milliseconds",
        ),
    ] {
        let mut buf = src.as_bytes().to_vec();
        let e = p.parse(&mut buf, Shape::Batch).err().expect("refused");
        assert_eq!(e.to_string(), msg, "{src}");
    }
}

#[test]
fn consent_reads_both_places_and_false_wins() {
    let read = |ctx: &str| {
        let mut buf =
            format!(r#"{{"type":"page","userId":"u","context":{{"consent":{ctx}}}}}"#).into_bytes();
        let mut p = Parser::new();
        let doc = p.parse(&mut buf, ANY).expect("valid");
        doc.event(0).expect("valid").context.consent.analytics
    };
    assert_eq!(read(r#"{"analytics":false}"#), Some(false));
    assert_eq!(read(r#"{"canonical":{"analytics":false}}"#), Some(false));
    assert_eq!(
        read(r#"{"analytics":true,"canonical":{"analytics":false}}"#),
        Some(false)
    );
    assert_eq!(read(r#"{"analytics":true}"#), Some(true));
    assert_eq!(read(r#"{"marketing":false}"#), None);
}

#[test]
fn one_parser_serves_many_bodies() {
    let mut p = Parser::new();
    for i in 0..200 {
        let mut buf = format!(r#"{{"type":"track","event":"E{i}","userId":"u{i}"}}"#).into_bytes();
        let doc = p.parse(&mut buf, ANY).expect("valid");
        assert_eq!(
            doc.event(0).expect("valid").event,
            Some(format!("E{i}").as_str())
        );
    }
}

#[test]
fn a_padded_body_parses_like_an_unpadded_one() {
    let src = br#"{"batch":[{"type":"page","userId":"u\"1","context":{"ip":"1.2.3.4"}},{"type":"track","userId":"v"}]}"#;
    let mut plain = src.to_vec();
    let mut padded = src.to_vec();
    padded.extend_from_slice(&[b'x'; PADDING]);
    let mut p = Parser::new();
    let mut q = Parser::new();
    let a = p.parse(&mut plain, Shape::Batch).expect("valid");
    let b = q
        .parse_padded(&mut padded, src.len(), Shape::Batch)
        .expect("valid");
    let show = |d: &Document<'_, '_>| -> Vec<String> {
        d.events()
            .map(|e| match e {
                Ok(e) => format!(
                    "{:?} {:?}",
                    e.user_id.as_ref().map(Id::as_str),
                    e.context.ip
                ),
                Err(e) => e.to_string(),
            })
            .collect()
    };
    assert_eq!(show(&a), show(&b));
    assert_eq!(show(&b)[1], "batch[1].event: is required");
    assert_eq!(a.span(1), b.span(1));
    let expected = show(&a);
    drop(b);
    // Too little padding falls back to the copying parse instead of failing.
    let mut short = src.to_vec();
    short.push(b' ');
    assert_eq!(
        show(
            &q.parse_padded(&mut short, src.len(), Shape::Batch)
                .expect("valid")
        ),
        expected
    );
}

#[test]
fn a_gateway_envelope_stamps_received_at_and_enriches_the_context_under_the_events() {
    // What the gateway spools: the batch's context with the request's ip and user agent added
    // where missing, its receivedAt, and the raw event.
    let src =
        r#"{"context":{"ip":"1.1.1.1","locale":"de-DE"},"batch":[{"type":"page","userId":"u"}]}"#;
    let mut buf = src.as_bytes().to_vec();
    let mut p = Parser::new();
    let doc = p.parse(&mut buf, Shape::Batch).expect("valid");
    let mut ctx = Vec::new();
    doc.write_batch_context(&mut ctx, &[("ip", "9.9.9.9"), ("userAgent", "UA/1")]);
    assert_eq!(
        String::from_utf8(ctx.clone()).expect("utf8"),
        r#"{"ip":"1.1.1.1","locale":"de-DE","userAgent":"UA/1"}"#
    );
    let envelope = format!(
        r#"{{"receivedAt":1732608000000,"context":{},"batch":[{{"type":"page","userId":"u","receivedAt":5,"context":{{"userAgent":"own"}}}}]}}"#,
        String::from_utf8(ctx).expect("utf8")
    );
    let mut buf = envelope.into_bytes();
    let mut q = Parser::new();
    let doc = q.parse(&mut buf, Shape::Batch).expect("valid");
    let ev = doc.event(0).expect("valid");
    assert_eq!(
        ev.received_at,
        Some(1_732_608_000_000),
        "the gateway's stamp wins"
    );
    assert_eq!(ev.context.ip, Some("1.1.1.1"));
    assert_eq!(
        ev.context.user_agent,
        Some("own"),
        "the event's own context wins"
    );
    assert_eq!(ev.context.locale, Some("de-DE"));
}

#[test]
fn the_merge_knows_every_context_key_read_in_two_spellings() {
    // `write_batch_context` leaves an extra out when the context has it in either spelling of
    // `CONTEXT_SPELLINGS`: each pair there is one the parser reads as one field.
    for [camel, snake] in CONTEXT_SPELLINGS {
        let src =
            format!(r#"{{"type":"page","userId":"u","context":{{"{snake}":"a","{camel}":"b"}}}}"#);
        assert_eq!(
            err(&src, ANY),
            format!("context.{camel}: given twice, also as `{snake}`: send one spelling")
        );
    }
}

#[test]
fn a_batch_context_merged_with_extras_never_holds_a_field_twice() {
    let extras = [("ip", "10.0.0.1"), ("userAgent", "UA"), ("groupId", "g")];
    for (ctx, want) in [
        (
            r#"{"user_agent":"SDK"}"#,
            r#"{"user_agent":"SDK","ip":"10.0.0.1","groupId":"g"}"#,
        ),
        (
            r#"{"userAgent":null,"group_id":"acme"}"#,
            r#"{"group_id":"acme","ip":"10.0.0.1","userAgent":"UA"}"#,
        ),
        (
            r#"{"ip":null,"user_agent":null,"a":1}"#,
            r#"{"a":1,"ip":"10.0.0.1","userAgent":"UA","groupId":"g"}"#,
        ),
        (
            r#"{"ip":"1.2.3.4"}"#,
            r#"{"ip":"1.2.3.4","userAgent":"UA","groupId":"g"}"#,
        ),
    ] {
        let mut buf = format!(r#"{{"context":{ctx},"batch":[]}}"#).into_bytes();
        let mut p = Parser::new();
        let doc = p.parse(&mut buf, Shape::Batch).expect("parses");
        let mut out = Vec::new();
        doc.write_batch_context(&mut out, &extras);
        assert_eq!(String::from_utf8_lossy(&out), want, "{ctx}");
    }
}

/// A single event is validated once, by the parse; reading it afterwards takes what that
/// computed. What it reads must be what a full second validation reads, field for field, for
/// every kind of event and whether the endpoint implies the type or the event names it.
#[test]
fn a_single_event_read_after_the_parse_is_the_event_validated() {
    let mut bodies = crate::sample::Samples::new(5).take(400);
    bodies.push(br#"{"userId":"u","event":"Clicked","sentAt":"2026-11-30T10:00:00Z"}"#.to_vec());
    bodies.push(br#"{"anonymousId":7,"name":"Home","originalTimestamp":1764496800000}"#.to_vec());
    let mut p = Parser::new();
    let mut checked = 0;
    for body in &bodies {
        for implied in [None, Some(EventType::Track), Some(EventType::Page)] {
            let mut buf = body.clone();
            let Ok(doc) = p.parse(&mut buf, Shape::Event(implied)) else {
                continue;
            };
            let read = doc.event(0).map(|e| format!("{e:?}"));
            let validated = Event::decode(
                Val(&doc.tape.0),
                implied,
                Context::default(),
                Stamps::default(),
            )
            .map(|e| format!("{e:?}"));
            assert_eq!(read, validated, "{}", String::from_utf8_lossy(body));
            checked += 1;
        }
    }
    // Every body parses with no implied type, and the two hand-written ones with theirs.
    assert!(checked >= bodies.len() + 2, "only {checked} read");
}
