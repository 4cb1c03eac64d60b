//! HMAC signatures (issue 11, review 2 item 5): checked over the body as sent, never over the
//! body inflated from its `Content-Encoding`, so refusing a signed request costs at most one
//! HMAC per source.

use flate2::Compression;
use flate2::write::GzEncoder;
use hyper::Method;
use hyper::header::{HeaderMap, HeaderValue};
use signal_server::gateway::{AuthError, Rejection, Request, admit};
use signal_store::SourceRecord;
use std::io::Write;

#[path = "../../../tests/support/signature.rs"]
mod support_signature;
use support_signature::signature;

const NOW: i64 = 1_764_140_000_000;

fn source() -> SourceRecord {
    SourceRecord {
        id: "web".into(),
        name: "Web".into(),
        pipeline_key: "k".into(),
        secret: "k-secret".into(),
        allowed_origins: Vec::new(),
        rate_limit_per_second: 10,
        created_at: String::new(),
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(bytes).expect("gzip");
    gz.finish().expect("gzip")
}

/// `admit` of a gzip `wire` body signed with `sig` at `NOW`.
fn admit_signed(wire: &[u8], sig: &str) -> Result<String, Rejection> {
    let mut headers = HeaderMap::new();
    headers.insert("content-encoding", HeaderValue::from_static("gzip"));
    headers.insert("x-timestamp", HeaderValue::from(NOW));
    headers.insert("x-signature", HeaderValue::from_str(sig).expect("header"));
    let req = Request {
        method: &Method::POST,
        path: "/v1/events",
        headers: &headers,
        body: wire,
        peer: std::net::IpAddr::from([127, 0, 0, 1]),
        now_ms: NOW,
    };
    admit(&req, &[source()], true).map(|a| a.source.id)
}

#[test]
fn a_compressed_body_is_signed_over_the_bytes_as_sent_not_as_inflated() {
    let json = br#"{"type":"track","event":"Bought","userId":"u1"}"#;
    let wire = gzip(json);
    let ts = NOW.to_string();
    assert_eq!(
        admit_signed(&wire, &signature(b"k-secret", &ts, &wire)),
        Ok("web".to_owned()),
        "a signature over the bytes as sent is accepted"
    );
    assert_eq!(
        admit_signed(&wire, &signature(b"k-secret", &ts, json)),
        Err(Rejection::Unauthorized(AuthError::BadSignature)),
        "a signature over the inflated bytes is refused"
    );
}

#[test]
fn a_signature_that_is_not_64_hex_digits_is_refused_before_any_hmac() {
    let wire = gzip(b"{}");
    for sig in [
        "sha256=00",
        "sha256=",
        &format!("sha256={}", "g".repeat(64)),
    ] {
        assert_eq!(
            admit_signed(&wire, sig),
            Err(Rejection::Unauthorized(AuthError::BadSignatureFormat)),
            "{sig}"
        );
    }
}
