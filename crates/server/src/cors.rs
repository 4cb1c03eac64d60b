//! CORS and `allowed_origins` at the gateway (interface.md section 2).
//!
//! A source with an empty allow-list takes any origin. A source with a non-empty one answers 403
//! to a request whose `Origin` is not in it, before anything is stored, and its CORS headers never
//! name that origin. A preflight (`OPTIONS`) carries no credentials, so its source is unknown:
//! it names the origin only when some source would take it.
//!
//! So a preflight is approved for an origin as soon as ANY source takes it: while one source has
//! an empty allow-list (the default source does, until someone sets one), every origin's preflight
//! is approved, including origins that another source refuses. That is by design, not a leak: the
//! preflight only lets the browser send the real request, and that request (a `POST`) carries a
//! key, names its source, and is checked against that source's list alone; an origin it does not
//! take gets 403, no CORS headers, and nothing is stored. A browser page on a refused origin thus
//! sees its preflight pass and its `POST` fail. To have preflights refuse an origin too, give
//! every source (the default one included) a non-empty allow-list.
//!
//! Entries are compared exactly with the `Origin` header, so they are stored as browsers send
//! it: the management API refuses an entry with the scheme's default port (`https://x:443`,
//! `http://x:80`), which no browser sends.

use hyper::header::{HeaderMap, HeaderValue};
use signal_store::SourceRecord;

/// The request's `Origin`, when it has a readable one.
pub fn origin(headers: &HeaderMap) -> Option<&str> {
    headers.get("origin").and_then(|v| v.to_str().ok())
}

/// Whether `source` takes requests from `origin` (an empty allow-list takes any).
pub fn allows(source: &SourceRecord, origin: &str) -> bool {
    source.allowed_origins.is_empty() || source.allowed_origins.iter().any(|o| o == origin)
}

/// Whether a request from `origin` may go on to `source`: no `Origin` (a server, not a browser),
/// or one the source allows.
pub fn admits(source: &SourceRecord, headers: &HeaderMap) -> bool {
    match headers.get("origin") {
        None => true,
        Some(v) => v.to_str().is_ok_and(|o| allows(source, o)),
    }
}

/// Who a response's CORS headers are for.
pub enum Audience<'a> {
    /// The request's source is known.
    Source(&'a SourceRecord),
    /// Unknown (a preflight, a request whose credentials failed): any of these sources. One
    /// source that takes the origin is enough (see the module docs for why that is safe).
    AnyOf(&'a [SourceRecord]),
}

/// Adds CORS headers naming the request's origin, when its audience takes that origin.
pub fn add_headers(headers_out: &mut HeaderMap, request: &HeaderMap, audience: Audience<'_>) {
    let Some(origin) = origin(request) else {
        return;
    };
    let allowed = match audience {
        Audience::Source(s) => allows(s, origin),
        Audience::AnyOf(all) => all.iter().any(|s| allows(s, origin)),
    };
    // Caches must not give one origin's answer to another.
    headers_out.insert("vary", HeaderValue::from_static("Origin"));
    if !allowed {
        return;
    }
    let Ok(v) = HeaderValue::from_str(origin) else {
        return;
    };
    let h = headers_out;
    h.insert("access-control-allow-origin", v);
    h.insert(
        "access-control-allow-credentials",
        HeaderValue::from_static("true"),
    );
    h.insert(
        "access-control-allow-headers",
        HeaderValue::from_static(
            "authorization, content-type, content-encoding, x-timestamp, x-signature",
        ),
    );
    h.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("POST, OPTIONS"),
    );
    h.insert("access-control-max-age", HeaderValue::from_static("86400"));
    // A 429's or 503's `Retry-After` is for the page's script (datafly.js backs off by it).
    h.insert(
        "access-control-expose-headers",
        HeaderValue::from_static("retry-after"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(origins: &[&str]) -> SourceRecord {
        SourceRecord {
            id: "s".into(),
            name: "S".into(),
            pipeline_key: "k".into(),
            secret: "x".into(),
            allowed_origins: origins.iter().map(|o| (*o).to_owned()).collect(),
            rate_limit_per_second: 10,
            created_at: String::new(),
        }
    }

    fn from(origin: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("origin", origin.parse().expect("header"));
        h
    }

    #[test]
    fn a_disallowed_origin_is_refused_and_never_echoed() {
        let good = source(&["https://good.example"]);
        assert!(admits(&good, &from("https://good.example")));
        assert!(!admits(&good, &from("https://evil.example")));
        assert!(admits(&good, &HeaderMap::new()), "no Origin: a server");
        assert!(admits(&source(&[]), &from("https://evil.example")));
        let mut out = HeaderMap::new();
        add_headers(
            &mut out,
            &from("https://evil.example"),
            Audience::Source(&good),
        );
        assert!(out.get("access-control-allow-origin").is_none());
        assert!(out.get("access-control-allow-credentials").is_none());
        let mut out = HeaderMap::new();
        add_headers(
            &mut out,
            &from("https://evil.example"),
            Audience::AnyOf(std::slice::from_ref(&good)),
        );
        assert!(out.get("access-control-allow-origin").is_none());
        let mut out = HeaderMap::new();
        add_headers(
            &mut out,
            &from("https://good.example"),
            Audience::AnyOf(std::slice::from_ref(&good)),
        );
        assert_eq!(
            out.get("access-control-allow-origin")
                .and_then(|v| v.to_str().ok()),
            Some("https://good.example")
        );
        // Credentialed requests (the `_dfid` cookie) need the exact origin and this; a page's
        // script reads a 429's Retry-After.
        assert_eq!(out["access-control-allow-credentials"], "true");
        assert_eq!(out["access-control-expose-headers"], "retry-after");
    }
}
