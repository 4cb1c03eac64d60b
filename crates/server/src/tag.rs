//! The first-party tag: `GET /v1/datafly.js` on the ingestion address (interface.md section 2),
//! the browser script in `tag/datafly.js`, compiled in (no build step, no dependency).
//!
//! It is served the way a CDN would serve it: `Cache-Control: public, max-age=3600`, an `ETag`
//! (a `304` to a matching `If-None-Match`), and gzip-compressed once, at first use, for clients
//! that accept gzip (`Vary: Accept-Encoding`). The version is in the file's first comment and
//! in `datafly.VERSION`; [`VERSION`] is the same, checked by a test.

use crate::http::{Resp, text};
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, StatusCode};
use sha2::Digest as _;
use std::io::Write as _;
use std::sync::LazyLock;

/// The path the tag is served at.
pub const PATH: &str = "/v1/datafly.js";

/// The tag's source.
pub const SOURCE: &str = include_str!("../tag/datafly.js");

/// The tag's version, as its source says it.
pub const VERSION: &str = "1.0.0";

/// What a response for the tag carries besides its body.
struct Served {
    /// The strong validator of the plain body (`"<version>-<hash>"`).
    etag: String,
    /// The gzipped body's (`"<version>-<hash>-gz"`).
    etag_gz: String,
    /// The body gzipped, if compressing worked (it does, into memory).
    gzipped: Option<Bytes>,
}

static SERVED: LazyLock<Served> = LazyLock::new(|| {
    let hash = sha2::Sha256::digest(SOURCE.as_bytes());
    let hex: String = hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
    Served {
        etag: format!("\"{VERSION}-{hex}\""),
        etag_gz: format!("\"{VERSION}-{hex}-gz\""),
        gzipped: gzip(SOURCE.as_bytes()).map(Bytes::from),
    }
});

fn gzip(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut e = GzEncoder::new(Vec::new(), Compression::best());
    e.write_all(bytes).ok()?;
    e.finish().ok()
}

/// Whether `Accept-Encoding` takes gzip (a `gzip` or `*` token whose `q` is not 0).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all("accept-encoding")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let zero = parts.any(|p| {
                p.strip_prefix("q=")
                    .is_some_and(|q| q.parse::<f32>().is_ok_and(|q| q <= 0.0))
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !zero
        })
}

/// Whether `If-None-Match` names `etag` (weak comparison, RFC 9110 section 13.1.2) or is `*`.
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all("if-none-match")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
}

/// The answer to a request for [`PATH`], or `None` for any other path. `GET` and `HEAD` only
/// (405 otherwise).
pub fn answer(method: &Method, path: &str, headers: &HeaderMap) -> Option<Resp> {
    if path != PATH {
        return None;
    }
    if method != Method::GET && method != Method::HEAD {
        let mut r = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "GET only\n",
        );
        r.headers_mut()
            .insert("allow", HeaderValue::from_static("GET, HEAD"));
        return Some(r);
    }
    let served = &*SERVED;
    let gzipped = served.gzipped.as_ref().filter(|_| accepts_gzip(headers));
    let etag = if gzipped.is_some() {
        &served.etag_gz
    } else {
        &served.etag
    };
    let mut r = if not_modified(headers, &served.etag) || not_modified(headers, etag) {
        text(
            StatusCode::NOT_MODIFIED,
            "text/javascript; charset=utf-8",
            "",
        )
    } else if let Some(gz) = gzipped {
        let mut r = text(StatusCode::OK, "text/javascript; charset=utf-8", gz.clone());
        r.headers_mut()
            .insert("content-encoding", HeaderValue::from_static("gzip"));
        r
    } else {
        text(StatusCode::OK, "text/javascript; charset=utf-8", SOURCE)
    };
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert("etag", v);
    }
    h.insert(
        "cache-control",
        HeaderValue::from_static("public, max-age=3600"),
    );
    h.insert("vary", HeaderValue::from_static("Accept-Encoding"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    // Any page may load it (a script tag needs no CORS; this lets `crossorigin` and SRI work).
    h.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().expect("header"));
        }
        h
    }

    async fn body(r: Resp) -> Vec<u8> {
        r.into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec()
    }

    #[test]
    fn the_version_is_the_files() {
        let first = SOURCE.lines().next().unwrap_or_default();
        assert!(first.contains(&format!("datafly.js {VERSION}")), "{first}");
        assert!(SOURCE.contains(&format!("var VERSION = '{VERSION}';")));
    }

    #[tokio::test]
    async fn served_cacheable_with_an_etag_gzipped_when_accepted() {
        assert!(answer(&Method::GET, "/v1/other.js", &HeaderMap::new()).is_none());
        let plain = answer(&Method::GET, PATH, &HeaderMap::new()).expect("the tag");
        assert_eq!(plain.status(), StatusCode::OK);
        let h = plain.headers().clone();
        assert_eq!(h["cache-control"], "public, max-age=3600");
        assert_eq!(h["content-type"], "text/javascript; charset=utf-8");
        assert!(h.get("content-encoding").is_none());
        let etag = h["etag"].to_str().expect("etag").to_owned();
        assert_eq!(body(plain).await, SOURCE.as_bytes());

        let gz = answer(
            &Method::GET,
            PATH,
            &headers(&[("accept-encoding", "deflate, gzip;q=0.8")]),
        )
        .expect("the tag");
        assert_eq!(gz.headers()["content-encoding"], "gzip");
        let gz_etag = gz.headers()["etag"].to_str().expect("etag").to_owned();
        assert_ne!(gz_etag, etag, "each representation has its own validator");
        let bytes = body(gz).await;
        let mut inflated = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut inflated)
            .expect("gzip");
        assert_eq!(inflated, SOURCE);
        assert!(bytes.len() < SOURCE.len() / 2, "{} bytes", bytes.len());

        let refused = answer(
            &Method::GET,
            PATH,
            &headers(&[("accept-encoding", "gzip;q=0")]),
        )
        .expect("the tag");
        assert!(refused.headers().get("content-encoding").is_none());

        let weak = format!("\"other\", W/{etag}");
        for tag in [weak.as_str(), gz_etag.as_str(), "*"] {
            let again = answer(
                &Method::GET,
                PATH,
                &headers(&[("if-none-match", tag), ("accept-encoding", "gzip")]),
            )
            .expect("the tag");
            assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{tag}");
            assert!(body(again).await.is_empty());
        }
        let changed = answer(
            &Method::GET,
            PATH,
            &headers(&[("if-none-match", "\"1-x\"")]),
        )
        .expect("the tag");
        assert_eq!(changed.status(), StatusCode::OK);
        let post = answer(&Method::POST, PATH, &HeaderMap::new()).expect("the tag");
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
}
