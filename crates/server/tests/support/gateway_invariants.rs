// The invariants of the ingestion gateway's request handling, shared by the fuzz target
// (`fuzz/fuzz_targets/gateway.rs`) and the test that replays its corpus on stable
// (`crates/server/tests/fuzz_corpus.rs`). Included with `include!`.
//
// An input is one request: byte 0 picks the path (bits 0-2), the method (bits 3-4: POST, POST,
// OPTIONS, GET), whether the body is sent gzip- (bit 5) or deflate-compressed (bit 6) by the
// harness, and whether the good bearer key is added (bit 7 clear); then `name: value` header
// lines up to a blank line; the rest is the body. An `x-signature` header whose value starts
// with `sign` is replaced by a real signature of the body as sent (`x-timestamp` set to now),
// made with the secret of source `srv` (`sign:srv`) or `web` (anything else): signed requests
// and `/v1/events` get past authentication.

/// Feeds `data` through route, admit, build and check_fits; the source whose records were
/// built, if they were. Asserts: no panic; every refusal is a 4xx with a code and a message;
/// what is admitted is at most 512 KiB inflated and from an origin its source takes; every
/// record is a version 2 header and JSON naming its source, valid when parsed whole, read by
/// the pipeline's reader into the same event, and bounded, and all a request's records together are at most `MAX_REQUEST_RECORD_BYTES`; every
/// event of a batch is accepted or named once.
pub fn check_gateway(data: &[u8]) -> Option<String> {
    use hyper::header::{HeaderMap, HeaderName, HeaderValue};
    use hyper::Method;
    use signal_core::limits::{MAX_BODY_BYTES, MAX_EVENT_BYTES};
    use signal_core::{Parser, Shape};
    use signal_server::gateway::{
        MAX_REQUEST_RECORD_BYTES, MAX_USER_AGENT_BYTES, RECORD_OVERHEAD, Rejection, Route, admit,
        build, route,
    };
    use signal_store::SourceRecord;
    use std::io::Write;

    let (&ctl, rest) = data.split_first()?;
    const PATHS: [&str; 8] = [
        "/v1/t", "/v1/page", "/v1/i", "/v1/g", "/v1/batch", "/v1/events", "/v1/x", "/v1/track",
    ];
    let path = PATHS[usize::from(ctl & 7)];
    let method = match (ctl >> 3) & 3 {
        0 | 1 => Method::POST,
        2 => Method::OPTIONS,
        _ => Method::GET,
    };
    let (head, body) = match rest.windows(2).position(|w| w == b"\n\n") {
        Some(at) => (&rest[..at], &rest[at + 2..]),
        None => (&[][..], rest),
    };
    let mut headers = HeaderMap::new();
    for line in head.split(|b| *b == b'\n') {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(line[colon + 1..].trim_ascii()),
        ) else {
            continue;
        };
        headers.append(name, value);
    }
    if ctl & 0x80 == 0 && !headers.contains_key("authorization") {
        headers.insert("authorization", HeaderValue::from_static("Bearer k"));
    }
    let mut wire = body.to_vec();
    if ctl & 0x60 != 0 {
        let gzip = ctl & 0x20 != 0;
        let coded = if gzip {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(body).and_then(|()| e.finish())
        } else {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(body).and_then(|()| e.finish())
        };
        wire = coded.expect("compressing in memory");
        headers.insert(
            "content-encoding",
            HeaderValue::from_static(if gzip { "gzip" } else { "deflate" }),
        );
    }
    const NOW_MS: i64 = 1_764_140_000_000;
    let signer = headers
        .get("x-signature")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("sign"))
        .map(|who| if who == ":srv" { "srv" } else { "web" });
    if let Some(who) = signer {
        use hmac::{KeyInit, Mac};
        let secret = if who == "srv" { "k2-secret" } else { "k-secret" };
        let ts = NOW_MS.to_string();
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
            .expect("any key length");
        mac.update(ts.as_bytes());
        mac.update(b".");
        mac.update(&wire);
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        headers.insert("x-timestamp", HeaderValue::from_str(&ts).expect("digits"));
        headers.insert(
            "x-signature",
            HeaderValue::from_str(&format!("sha256={hex}")).expect("hex"),
        );
    }
    let source = |id: &str, key: &str, origins: &[&str]| SourceRecord {
        id: id.into(),
        name: id.into(),
        pipeline_key: key.into(),
        secret: format!("{key}-secret"),
        allowed_origins: origins.iter().map(|o| (*o).to_owned()).collect(),
        rate_limit_per_second: 1,
        created_at: String::new(),
    };
    let sources = [
        source("web", "k", &["https://good.example"]),
        source("srv", "k2", &[]),
        source("empty", "", &[]),
    ];
    let refused = |r: &Rejection| {
        assert!(r.status().is_client_error(), "{r:?} is a {}", r.status());
        assert!(!r.code().is_empty() && !r.to_string().is_empty(), "{r:?}");
    };
    let (shape, hmac_required) = match route(&method, path) {
        Err(r) => {
            refused(&r);
            return None;
        }
        Ok(Route::Preflight) => return None,
        Ok(Route::Ingest {
            shape,
            hmac_required,
        }) => (shape, hmac_required),
    };
    let req = signal_server::gateway::Request {
        method: &method,
        path,
        headers: &headers,
        body: &wire,
        peer: std::net::IpAddr::from([127, 0, 0, 1]),
        now_ms: NOW_MS,
    };
    let admitted = match admit(&req, &sources, hmac_required) {
        Ok(a) => a,
        Err(r) => {
            // A request signed with a source's secret is never refused as unauthenticated.
            assert!(
                signer.is_none() || r.status() != hyper::StatusCode::UNAUTHORIZED,
                "signed by {signer:?}, refused: {r:?}"
            );
            refused(&r);
            return None;
        }
    };
    if let Some(who) = signer {
        assert_eq!(admitted.source.id, who, "a signature admitted as another source");
    }
    assert_ne!(admitted.source.id, "empty", "an empty key matched");
    let inflated = admitted.body(&wire);
    assert!(inflated.len() <= MAX_BODY_BYTES);
    if let Some(origin) = headers.get("origin") {
        let o = origin.to_str().expect("an admitted Origin is text");
        let s = &admitted.source;
        assert!(
            s.allowed_origins.is_empty() || s.allowed_origins.iter().any(|a| a == o),
            "{o} admitted to {}",
            s.id
        );
    }
    let built = match build(&req, inflated, &admitted.source, shape, &mut || {
        "fuzz-id".to_owned()
    }) {
        Ok(b) => b,
        Err(r) => {
            assert!(
                matches!(
                    r,
                    Rejection::Invalid(_) | Rejection::Multiplied { .. } | Rejection::Unstorable(_)
                ),
                "{r:?}"
            );
            refused(&r);
            return None;
        }
    };
    let bound = MAX_EVENT_BYTES + 2 * MAX_USER_AGENT_BYTES + 512;
    let mut parser = Parser::for_records();
    let mut reader = signal_core::record::Reader::new();
    for e in &built.events {
        assert!(e.record.len() <= bound, "a record of {} bytes", e.record.len());
        let json = signal_core::record::json(&e.record);
        assert_ne!(json.len(), e.record.len(), "a version 2 record");
        let v: serde_json::Value = serde_json::from_slice(json).unwrap_or_else(|err| {
            panic!("record is not JSON ({err}): {}", String::from_utf8_lossy(&e.record))
        });
        assert_eq!(v["sourceId"], admitted.source.id.as_str());
        assert!(v["batch"].as_array().is_some_and(|b| b.len() == 1), "{v}");
        // What the version 2 header lets delivery skip holds: the JSON validates whole.
        let mut rec = json.to_vec();
        let doc = parser
            .parse(&mut rec, Shape::Batch)
            .unwrap_or_else(|err| panic!("the record does not validate ({err}): {v}"));
        let full = doc
            .event(0)
            .unwrap_or_else(|err| panic!("the record's event is invalid ({err}): {v}"));
        // And the pipeline's reader reads the same event from the record as it is.
        let mut rec = e.record.clone();
        let decoded = reader
            .read(&mut rec)
            .unwrap_or_else(|err| panic!("the pipeline cannot read the record ({err}): {v}"));
        let ev = decoded
            .event()
            .unwrap_or_else(|err| panic!("the pipeline cannot read the record's event ({err}): {v}"));
        assert_eq!(ev.message_id, e.message_id.as_deref());
        assert_eq!(
            (ev.kind, ev.timestamp, ev.sent_at, ev.received_at, ev.event, ev.name),
            (full.kind, full.timestamp, full.sent_at, full.received_at, full.event, full.name),
            "{v}"
        );
        assert_eq!(
            (ev.user_id, ev.anonymous_id, ev.group_id, ev.context.group_id),
            (full.user_id, full.anonymous_id, full.group_id, full.context.group_id),
            "{v}"
        );
    }
    for r in &built.rejected {
        assert!(
            r.message.starts_with(&format!("batch[{}]", r.index)),
            "{r:?}"
        );
    }
    let mut indexes: Vec<usize> = built.rejected.iter().map(|r| r.index).collect();
    indexes.dedup();
    assert_eq!(indexes.len(), built.rejected.len(), "an event rejected twice");
    assert!(
        built.spool_bytes() <= MAX_REQUEST_RECORD_BYTES,
        "one request of {} bytes makes {} bytes of records",
        wire.len(),
        built.spool_bytes()
    );
    // The spool's one-append limit: a request whose records are over it is refused with a 413
    // naming their size, one that is not passes (the limit is exact, as `spool_bytes` counts).
    let bytes = built.spool_bytes();
    let listed: u64 = built.events.iter().map(|e| e.record.len() as u64 + RECORD_OVERHEAD).sum();
    assert_eq!(bytes, listed, "spool_bytes miscounts the records");
    if bytes > 0 {
        let r = built
            .check_fits(bytes - 1)
            .expect_err("records over the spool's limit are refused");
        assert_eq!(r.status(), hyper::StatusCode::PAYLOAD_TOO_LARGE, "{r:?}");
        assert!(r.to_string().contains(&bytes.to_string()), "{r}");
        assert!(built.check_fits(bytes).is_ok(), "records at the limit fit");
    }
    Some(admitted.source.id.clone())
}
