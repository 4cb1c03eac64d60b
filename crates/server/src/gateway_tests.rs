//! The gateway's pure steps: encodings, origins, the merged-record limit, the User-Agent cap,
//! the never-fits 413, and records the pipeline can read.

use super::*;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};
use signal_core::Parser;
use signal_core::limits::MAX_EVENT_BYTES;
use std::io::Write;

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
    let rec: Value = serde_json::from_slice(&built.events[0].record).expect("json");
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
    let rec: Value = serde_json::from_slice(&record).expect("json");
    assert_eq!(rec["sourceId"], "web");
    assert_eq!(built.events[0].message_id.as_deref(), Some("m0"));
    let mut parser = Parser::new();
    let doc = parser.parse(&mut record, Shape::Batch).expect("parses");
    let ev = doc.event(0).expect("event");
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
