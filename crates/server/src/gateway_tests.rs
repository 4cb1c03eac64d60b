//! The gateway's pure steps: encodings, origins, the merged-record limit, the User-Agent cap,
//! the never-fits 413, and records the pipeline can read.

use super::*;
use flate2::Compression;
use flate2::write::GzEncoder;
use hyper::StatusCode;
use hyper::header::HeaderMap;
use serde_json::{Value, json};
use signal_core::Parser;
use signal_core::limits::MAX_EVENT_BYTES;
use signal_core::record::{Reader, json};
use std::io::Write;
use std::net::IpAddr;

const KEY: &str = "dk_live_key";

fn source(origins: &[&str]) -> SourceRecord {
    SourceRecord {
        id: "web".into(),
        name: "Web".into(),
        pipeline_key: KEY.into(),
        secret: "secret".into(),
        allowed_origins: origins.iter().map(|o| (*o).to_owned()).collect(),
        rate_limit_per_second: 10,
        created_at: String::new(),
    }
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("authorization", format!("Bearer {KEY}").parse().expect("h"));
    for (k, v) in pairs {
        h.insert(*k, v.parse().expect("header"));
    }
    h
}

fn request<'a>(headers: &'a HeaderMap, body: &'a [u8]) -> Request<'a> {
    Request {
        method: &Method::POST,
        path: "/v1/batch",
        headers,
        body,
        peer: IpAddr::from([127, 0, 0, 1]),
        now_ms: 1_700_000_000_000,
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    gz.write_all(bytes).expect("gzip");
    gz.finish().expect("gzip")
}

fn build_batch(h: &HeaderMap, body: &[u8]) -> Result<Built, Rejection> {
    let req = request(h, body);
    build(&req, body, &source(&[]), Shape::Batch, &mut || {
        "fresh".into()
    })
}

fn track(i: usize, pad: usize) -> Value {
    json!({"type": "track", "event": "E", "userId": "u", "messageId": format!("m{i}"),
           "properties": {"pad": "x".repeat(pad)}})
}

#[test]
fn routes_and_methods() {
    assert_eq!(
        route(&Method::OPTIONS, "/v1/t"),
        Ok(Route::Preflight),
        "a preflight"
    );
    assert_eq!(
        route(&Method::POST, "/v1/events"),
        Ok(Route::Ingest {
            shape: Shape::EventOrBatch,
            hmac_required: true
        })
    );
    assert_eq!(
        route(&Method::GET, "/v1/batch"),
        Err(Rejection::MethodNotAllowed)
    );
    assert_eq!(route(&Method::POST, "/v2"), Err(Rejection::NotFound));
}

#[test]
fn a_gzip_batch_is_inflated_and_a_bomb_is_a_413_within_the_limit() {
    let batch = json!({"batch": [track(0, 10)]}).to_string();
    let gz = gzip(batch.as_bytes());
    let h = headers(&[("content-encoding", "gzip")]);
    let admitted = admit(&request(&h, &gz), &[source(&[])], false).expect("admitted");
    assert_eq!(admitted.body(&gz), batch.as_bytes());
    // 64 MiB of spaces in about 64 KiB: inflating stops just past 512 KiB.
    let bomb = gzip(&vec![b' '; 64 << 20]);
    assert!(bomb.len() < MAX_BODY_BYTES);
    let refused = admit(&request(&h, &bomb), &[source(&[])], false).expect_err("bomb");
    assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(refused.code(), "TOO_LARGE");
}

#[test]
fn an_unknown_encoding_is_a_415_naming_it() {
    let h = headers(&[("content-encoding", "br")]);
    let refused = admit(&request(&h, b"{}"), &[source(&[])], false).expect_err("br");
    assert_eq!(refused.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(refused.to_string().contains("`br`"), "{refused}");
}

#[test]
fn a_disallowed_origin_is_a_403_before_parsing() {
    let h = headers(&[("origin", "https://evil.example")]);
    let good = [source(&["https://good.example"])];
    let refused = admit(&request(&h, b"not even json"), &good, false).expect_err("evil");
    assert_eq!(refused, Rejection::Origin);
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let h = headers(&[("origin", "https://good.example")]);
    assert!(admit(&request(&h, b"{}"), &good, false).is_ok());
}

#[test]
fn the_merged_record_counts_against_the_event_limit() {
    // A 20 KiB batch context: an event of 15 KiB would make a 35 KiB record.
    let ctx = json!({"page": {"title": "t".repeat(20 * 1024)}});
    let body = json!({"context": ctx, "batch": [track(0, 10), track(1, 15 * 1024), track(2, 10)]})
        .to_string();
    let built = build_batch(&headers(&[]), body.as_bytes()).expect("built");
    assert_eq!(built.events.len(), 2, "the rest of the batch is accepted");
    assert_eq!(built.rejected.len(), 1);
    let r = &built.rejected[0];
    assert_eq!((r.index, r.code), (1, "TOO_LARGE"));
    assert!(
        r.message.starts_with("batch[1]: ") && r.message.contains("32768 bytes"),
        "{}",
        r.message
    );
    for e in &built.events {
        assert!(
            e.record.len() <= MAX_EVENT_BYTES + 2048,
            "{}",
            e.record.len()
        );
    }
}

#[test]
fn a_huge_context_cannot_multiply_a_batch_into_megabytes() {
    // The finding's request: 300 events, a 400 KiB context, 470 KiB in all.
    let ctx = json!({"page": {"title": "t".repeat(400 * 1024)}});
    let events: Vec<Value> = (0..300).map(|i| track(i, 150)).collect();
    let body = json!({"context": ctx, "batch": events}).to_string();
    assert!(body.len() > 450 * 1024 && body.len() <= MAX_BODY_BYTES);
    let built = build_batch(&headers(&[]), body.as_bytes()).expect("built");
    assert_eq!(built.rejected.len(), 300);
    assert!(
        built.spool_bytes() <= body.len() as u64,
        "{}",
        built.spool_bytes()
    );
}

#[test]
fn the_user_agent_is_capped() {
    let ua = "Mozilla/5.0 ".repeat(1000);
    let h = headers(&[("user-agent", &ua)]);
    let body = json!({"batch": [track(0, 10)]}).to_string();
    let built = build_batch(&h, body.as_bytes()).expect("built");
    let rec: Value = serde_json::from_slice(json(&built.events[0].record)).expect("json");
    let stored = rec["context"]["userAgent"].as_str().expect("ua");
    assert_eq!(stored.len(), MAX_USER_AGENT_BYTES);
    assert!(ua.starts_with(stored));
    assert_eq!(
        crate::records::capped("é", 1),
        "",
        "cut at a character boundary"
    );
}

#[test]
fn a_request_the_spool_can_never_take_is_a_413() {
    let body = json!({"batch": [track(0, 10), track(1, 10)]}).to_string();
    let built = build_batch(&headers(&[]), body.as_bytes()).expect("built");
    let bytes = built.spool_bytes();
    assert!(built.check_fits(bytes).is_ok());
    let refused = built.check_fits(bytes - 1).expect_err("never fits");
    assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(refused.code(), "TOO_LARGE");
}

#[test]
fn records_name_their_source_and_parse_as_the_pipeline_reads_them() {
    let body = json!({"batch": [track(0, 10)], "context": {"app": {"name": "a"}}}).to_string();
    let built = build_batch(&headers(&[]), body.as_bytes()).expect("built");
    let mut record = built.events[0].record.clone();
    let rec: Value = serde_json::from_slice(json(&record)).expect("json");
    assert_eq!(rec["sourceId"], "web");
    assert_eq!(built.events[0].message_id.as_deref(), Some("m0"));
    let mut reader = Reader::new();
    let doc = reader.read(&mut record).expect("parses");
    assert_eq!(doc.version(), 2);
    let ev = doc.event().expect("event");
    assert_eq!(ev.message_id, Some("m0"));
    assert_eq!(ev.event, Some("E"));
}

#[test]
fn a_browser_batch_event_read_again_with_an_id_is_rejected_at_its_place() {
    // Found by the fuzzer: an event without ids and without a name, in a browser's batch, was
    // named `event: is required` instead of `batch[0].event: is required`.
    let h = headers(&[("origin", "https://good.example")]);
    let body = json!({"batch": [{"type": "track"}, track(1, 1)]}).to_string();
    let built = build_batch(&h, body.as_bytes()).expect("built");
    assert_eq!(built.events.len(), 1);
    assert_eq!(
        built.rejected,
        [Rejected {
            index: 0,
            code: "INVALID_EVENT",
            message: "batch[0].event: is required".into()
        }]
    );
}

/// Every record of `built` read as the pipeline reads it, and its JSON parsed whole with its
/// one event valid (what the version 2 header lets the pipeline skip holds).
fn assert_the_pipeline_reads(built: &Built) {
    let mut parser = Parser::for_records();
    let mut reader = Reader::new();
    for p in &built.events {
        let text = String::from_utf8_lossy(&p.record).into_owned();
        let mut rec = p.record.clone();
        let read = reader.read(&mut rec).and_then(|d| d.event().map(drop));
        if let Err(e) = read {
            panic!("the pipeline cannot read the record ({e}): {text}");
        }
        let mut rec = json(&p.record).to_vec();
        let doc = parser
            .parse(&mut rec, Shape::Batch)
            .unwrap_or_else(|e| panic!("the record does not parse whole ({e}): {text}"));
        if let Err(e) = doc.event(0) {
            panic!("the record's event is invalid ({e}): {text}");
        }
    }
}

#[test]
fn a_batch_context_in_either_spelling_still_makes_records_the_pipeline_reads() {
    // Review 2, item 1: `user_agent` in the context plus the request's User-Agent made a record
    // with both spellings, answered 200 and never delivered. Every key the gateway adds (ip,
    // userAgent), given by the client in either spelling, set or null, keeps the record readable.
    let h = headers(&[("user-agent", "okhttp/4.12")]);
    for ctx in [
        json!({"user_agent": "Mozilla/5.0 (from the SDK)"}),
        json!({"userAgent": "Mozilla/5.0 (from the SDK)"}),
        json!({"user_agent": null}),
        json!({"userAgent": null}),
        json!({"userAgent": null, "user_agent": "Mozilla/5.0"}),
        json!({"ip": null}),
        json!({"ip": "203.0.113.9"}),
        json!({"groupId": "acme"}),
        json!({"group_id": "acme"}),
    ] {
        let body = json!({"context": ctx, "batch": [track(0, 10)]}).to_string();
        let built = build_batch(&h, body.as_bytes()).expect("built");
        assert_eq!((built.events.len(), built.rejected.len()), (1, 0), "{ctx}");
        assert_the_pipeline_reads(&built);
    }
    // The client's own User-Agent, in either spelling, wins over the request header's.
    for key in ["user_agent", "userAgent"] {
        let body = json!({"context": {key: "SDK/1"}, "batch": [track(0, 10)]}).to_string();
        let built = build_batch(&h, body.as_bytes()).expect("built");
        let rec: Value = serde_json::from_slice(json(&built.events[0].record)).expect("json");
        let ctx = rec["context"].as_object().expect("context");
        let uas: Vec<&Value> = ["userAgent", "user_agent"]
            .iter()
            .filter_map(|k| ctx.get(*k))
            .collect();
        assert_eq!(uas, [&json!("SDK/1")], "{rec}");
    }
}

/// `n` events of about `size` bytes each (with their own small context), as analytics.js sends.
fn realistic_batch(n: usize, size: usize, context: &Value) -> String {
    let events: Vec<Value> = (0..n)
        .map(|i| {
            let mut e = track(i, 0);
            let pad = size.saturating_sub(e.to_string().len());
            e["properties"]["pad"] = json!("x".repeat(pad));
            e
        })
        .collect();
    json!({"context": context, "batch": events, "sentAt": "2026-11-30T09:00:00.000Z"}).to_string()
}

#[test]
fn a_context_multiplied_past_the_request_limit_is_a_413_naming_the_numbers() {
    // Review 2, item 4: 1.5 KiB of gzip (a 31 KiB context, 500 tiny events) became 16 MB of
    // records. Now the request is refused whole, before its records are built.
    let events: Vec<Value> = (0..500)
        .map(
            |i| json!({"type": "track", "event": "E", "userId": "u", "messageId": format!("m{i}")}),
        )
        .collect();
    let body =
        json!({"context": {"page": {"title": "t".repeat(31 * 1024)}}, "batch": events}).to_string();
    let wire = gzip(body.as_bytes());
    assert!(wire.len() < 2048, "{}", wire.len());
    let h = headers(&[("content-encoding", "gzip")]);
    let req = request(&h, &wire);
    let admitted = admit(&req, &[source(&[])], false).expect("admitted");
    let refused = match build(
        &req,
        admitted.body(&wire),
        &admitted.source,
        Shape::Batch,
        &mut || "fresh".into(),
    ) {
        Ok(b) => panic!(
            "built {} records of {} bytes",
            b.events.len(),
            b.spool_bytes()
        ),
        Err(r) => r,
    };
    assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(refused.code(), "TOO_LARGE");
    let msg = refused.to_string();
    assert!(
        msg.starts_with("the batch context (")
            && msg.contains("is copied into each of its 500 events")
            && msg.contains(&format!("over the limit of {MAX_REQUEST_RECORD_BYTES}"))
            && msg.contains("send a smaller context or fewer events per request"),
        "{msg}"
    );
    let Rejection::Multiplied {
        context,
        events,
        bytes,
        limit,
    } = refused
    else {
        panic!("{refused:?}")
    };
    assert!(context > 31 * 1024 && events == 500, "{context} {events}");
    assert!(
        bytes > limit && limit == MAX_REQUEST_RECORD_BYTES,
        "{bytes}"
    );
}

#[test]
fn a_full_realistic_batch_still_fits_under_the_request_limit() {
    // 500 events of 1 KiB (a body near its own 512 KiB limit), a batch context of ~450 bytes,
    // a long browser User-Agent: all accepted.
    let ctx = json!({
        "library": {"name": "analytics.js", "version": "next-1.70.0"},
        "locale": "en-GB",
        "page": {"path": "/pricing", "referrer": "https://www.example.com/", "search": "",
                 "title": "Pricing - Example", "url": "https://app.example.com/pricing"},
        "screen": {"width": 2560, "height": 1440, "density": 2},
        "timezone": "Europe/London",
        "campaign": {"name": "autumn", "source": "newsletter", "medium": "email"}
    });
    assert!(
        (300..=500).contains(&ctx.to_string().len()),
        "{}",
        ctx.to_string().len()
    );
    let body = realistic_batch(500, 1024, &ctx);
    assert!(body.len() <= MAX_BODY_BYTES, "{}", body.len());
    let ua = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like \
              Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.70";
    let built = build_batch(&headers(&[("user-agent", ua)]), body.as_bytes()).expect("built");
    assert_eq!((built.events.len(), built.rejected.len()), (500, 0));
    assert!(built.spool_bytes() <= MAX_REQUEST_RECORD_BYTES);
    assert_the_pipeline_reads(&built);
}

fn build_single(h: &HeaderMap, body: &[u8]) -> Result<Built, Rejection> {
    let req = request(h, body);
    build(
        &req,
        body,
        &source(&[]),
        Shape::Event(Some(EventType::Track)),
        &mut || "fresh".into(),
    )
}

#[test]
fn a_single_event_at_the_limits_still_makes_a_record_the_pipeline_reads() {
    // A single event at its size limit, without `type` (the endpoint implies it) or ids (a
    // browser's): the record holds it with `type` (and `anonymousId`) added.
    let e = json!({"event": "E", "userId": "u", "properties": {"pad": ""}}).to_string();
    let pad = MAX_EVENT_BYTES - e.len();
    let body =
        json!({"event": "E", "userId": "u", "properties": {"pad": "x".repeat(pad)}}).to_string();
    assert_eq!(body.len(), MAX_EVENT_BYTES);
    match build_single(&headers(&[]), body.as_bytes()) {
        Ok(built) => assert_the_pipeline_reads(&built),
        Err(r) => assert_eq!(r.code(), "TOO_LARGE", "{r}"),
    }
    // Nested as deep as a body may be: the record nests it two levels deeper.
    let mut deep = json!("leaf");
    for _ in 0..62 {
        deep = json!({ "d": deep });
    }
    let body = json!({"event": "E", "userId": "u", "properties": deep}).to_string();
    // interface.md allows 64 levels from the body's root: taken, and read back.
    let built = build_single(&headers(&[]), body.as_bytes()).expect("as deep as a body may be");
    assert_the_pipeline_reads(&built);
    // A `type` or an id given as null, where the gateway writes one in.
    for body in [
        json!({"type": null, "event": "E", "userId": "u"}),
        json!({"anonymousId": null, "event": "E"}),
    ] {
        let h = headers(&[("origin", "https://good.example")]);
        match build_single(&h, body.to_string().as_bytes()) {
            Ok(built) => assert_the_pipeline_reads(&built),
            Err(r) => assert!(r.status().is_client_error(), "{r}"),
        }
    }
    // A browser's batch event at the limit, without ids: given the cookie's id, it is over.
    let e = json!({"type": "track", "event": "E", "properties": {"pad": ""}}).to_string();
    let pad = MAX_EVENT_BYTES - e.len();
    let big = json!({"type": "track", "event": "E", "properties": {"pad": "x".repeat(pad)}});
    let body = json!({"batch": [big, track(1, 1)]}).to_string();
    let h = headers(&[("origin", "https://good.example")]);
    let built = build_batch(&h, body.as_bytes()).expect("built");
    assert_the_pipeline_reads(&built);
    assert_eq!(built.events.len(), 1);
    assert_eq!(
        built
            .rejected
            .iter()
            .map(|r| (r.index, r.code))
            .collect::<Vec<_>>(),
        [(0, "TOO_LARGE")]
    );
}

#[test]
fn a_single_event_one_level_shallower_than_the_limit_is_stored_and_read() {
    let mut deep = json!("leaf");
    for _ in 0..60 {
        deep = json!({ "d": deep });
    }
    let body = json!({"event": "E", "userId": "u", "properties": deep}).to_string();
    let built = build_single(&headers(&[]), body.as_bytes()).expect("built");
    assert_eq!(built.events.len(), 1);
    assert_the_pipeline_reads(&built);
}

/// The anonymousIds of `built`'s records, in order.
fn anonymous_ids(built: &Built) -> Vec<Option<String>> {
    built
        .events
        .iter()
        .map(|p| {
            let v: Value = serde_json::from_slice(json(&p.record)).expect("record json");
            v["batch"][0]["anonymousId"].as_str().map(str::to_owned)
        })
        .collect()
}

#[test]
fn a_browsers_identify_without_an_anonymous_id_takes_the_browsers_id() {
    let body = json!({"batch": [
        {"type": "page", "name": "Home"},
        {"type": "identify", "userId": "u1", "traits": {"email": "a@b.example"}},
        {"type": "track", "event": "E", "userId": "u1", "anonymousId": "own"},
    ]})
    .to_string();
    // No cookie yet: the id made for the page is the identify's too (the link).
    let built = build_batch(
        &headers(&[("origin", "http://127.0.0.1:1")]),
        body.as_bytes(),
    )
    .expect("built");
    assert_the_pipeline_reads(&built);
    let fresh = Some("fresh".to_owned());
    assert_eq!(
        anonymous_ids(&built),
        [fresh.clone(), fresh, Some("own".into())]
    );
    assert_eq!(built.new_cookie.as_deref(), Some("fresh"));
    // With the cookie: its id.
    let built = build_batch(
        &headers(&[("cookie", "a=b; _dfid=c00k1e")]),
        body.as_bytes(),
    )
    .expect("built");
    let cookie = Some("c00k1e".to_owned());
    assert_eq!(
        anonymous_ids(&built),
        [cookie.clone(), cookie, Some("own".into())]
    );
    assert!(built.new_cookie.is_none());
    // A server (no Origin, no cookie): nothing is added.
    let server = json!({"batch": [{"type": "identify", "userId": "u1"}]}).to_string();
    let built = build_batch(&headers(&[]), server.as_bytes()).expect("built");
    assert_eq!(anonymous_ids(&built), [None]);
    // A browser with no id yet and only identified events: no id is made for them.
    let built = build_batch(
        &headers(&[("origin", "http://127.0.0.1:1")]),
        server.as_bytes(),
    )
    .expect("built");
    assert_eq!(anonymous_ids(&built), [None]);
    assert!(built.new_cookie.is_none());
}

#[test]
fn the_write_key_in_a_plain_body_admits_a_request_without_authorization() {
    let sources = [source(&[])];
    let mut none = HeaderMap::new();
    none.insert("content-type", "text/plain".parse().expect("h"));
    none.insert("origin", "http://127.0.0.1:1".parse().expect("h"));
    let body = json!({"writeKey": KEY, "batch": [track(0, 1)]}).to_string();
    let admitted = admit(&request(&none, body.as_bytes()), &sources, false).expect("admitted");
    assert_eq!(admitted.source.id, "web");
    let built = build_batch(&none, body.as_bytes()).expect("built");
    assert_eq!(built.events.len(), 1, "writeKey is not an error in a batch");
    for bad in [
        json!({"writeKey": "dk_live_wrong", "batch": []}),
        json!({"batch": []}),
    ] {
        let b = bad.to_string();
        let rej = admit(&request(&none, b.as_bytes()), &sources, false).expect_err("refused");
        assert_eq!(rej.status(), StatusCode::UNAUTHORIZED, "{bad}");
    }
    // A compressed body is not inflated to look for it.
    let mut gz = none.clone();
    gz.insert("content-encoding", "gzip".parse().expect("h"));
    let packed = gzip(body.as_bytes());
    let rej = admit(&request(&gz, &packed), &sources, false).expect_err("refused");
    assert_eq!(rej.status(), StatusCode::UNAUTHORIZED);
}
