//! Who sent an ingestion request (interface.md section 2): an HMAC signature over the timestamp
//! and body, or a pipeline key as `Bearer` or as the user of `Basic` (what Segment's and
//! RudderStack's SDKs send as write key). Scheme names are case-insensitive; an empty key or
//! secret never matches; keys and signatures are compared in constant time.
//!
//! A signature is checked over the body's bytes as sent (the "raw body" of interface.md), never
//! over the body inflated from its `Content-Encoding`: a client that compresses signs what it
//! sends. Its timestamp and format are checked before any HMAC is worked out, and then at most
//! one HMAC per source with a secret, each over at most the 512 KiB body limit.
//!
//! A key (Bearer or Basic) needs no body: [`authenticate_headers`] settles it from the headers,
//! so the gateway refuses a request with a wrong key before it reads (and buffers) its body.
//!
//! A request with no credentials at all (no `Authorization`, no signature) sent as
//! `Content-Type: text/plain` may carry the key as the top-level `writeKey` of its JSON body:
//! what Segment's analytics-next and `navigator.sendBeacon` send (a browser's "simple" request,
//! which sets no header). Its body is read to find it, up to [`MAX_KEY_IN_BODY_BYTES`] (a
//! beacon's 64 KiB); a missing or unknown `writeKey` is the same 401 as a missing or unknown key
//! in a header. Any other request without credentials (a JSON body, say) is still refused from
//! its headers, its body never read. The key is looked for only in a body sent as is (no
//! `Content-Encoding`): nothing is inflated for a sender who has not yet said who they are.

use base64::Engine as _;
use hmac::{KeyInit, Mac};
use hyper::header::HeaderMap;
use signal_store::SourceRecord;
use std::fmt;

/// The most a request with no credentials may send for its body's `writeKey` to be looked for
/// (browsers allow 64 KiB of beacons in flight; analytics-next sends one event, at most 32 KiB).
pub const MAX_KEY_IN_BODY_BYTES: usize = 64 * 1024;

/// How far a signed request's `X-Timestamp` may be from the server's clock, in milliseconds.
pub const MAX_SKEW_MS: u64 = 300_000;

/// Why a request's credentials name no source (401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    /// `X-Timestamp` is not text.
    BadTimestamp,
    /// `X-Timestamp` is not an integer.
    TimestampNotMillis,
    /// `X-Timestamp` is too far from the server's clock.
    Skewed,
    /// `X-Signature` is not `sha256=` and 64 hex digits.
    BadSignatureFormat,
    /// No source's secret makes this signature.
    BadSignature,
    /// `/v1/events` without a signature.
    SignatureRequired,
    /// No `Authorization` header, and no `writeKey` in the body.
    Missing,
    /// `Basic` credentials that are not base64 of UTF-8.
    BadBasic,
    /// A scheme other than Bearer or Basic.
    UnknownScheme,
    /// No source has this key.
    UnknownKey,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthError::BadTimestamp => "bad X-Timestamp",
            AuthError::TimestampNotMillis => "X-Timestamp is not unix milliseconds",
            AuthError::Skewed => "X-Timestamp is more than 300 s from the server's clock",
            AuthError::BadSignatureFormat => "X-Signature must be sha256=<64 hex digits>",
            AuthError::BadSignature => "bad signature",
            AuthError::SignatureRequired => {
                "this endpoint needs an HMAC signature (X-Timestamp, X-Signature)"
            }
            AuthError::Missing => "missing Authorization (or writeKey in the body)",
            AuthError::BadBasic => "bad Basic credentials",
            AuthError::UnknownScheme => "Authorization must be Bearer or Basic",
            AuthError::UnknownKey => "unknown pipeline key",
        })
    }
}

impl std::error::Error for AuthError {}

/// The credentials of an `Authorization` value under `scheme`, matched case-insensitively
/// (`bearer x`, `Bearer x`, `BEARER x`; RFC 9110 section 11.1), trimmed; `None` for another
/// scheme. The credentials may be empty (`Bearer `), and an empty credential never matches
/// ([`crate::secrets::credential_matches`]).
pub fn credentials<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let value = value.trim();
    let (name, rest) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
    name.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

fn ct_eq(a: &str, b: &str) -> bool {
    crate::secrets::credential_matches(a, b)
}

/// The HMAC-SHA256 of `ts.body` under `secret`, in lower-case hex (what follows `sha256=` in
/// `X-Signature`); `None` for a key the MAC refuses.
fn hmac_hex(secret: &[u8], ts: &str, body: &[u8]) -> Option<String> {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).ok()?;
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

/// Whether the request carries a signature (`X-Timestamp` and `X-Signature`), which needs the
/// body to be checked.
pub fn is_signed(headers: &HeaderMap) -> bool {
    headers.contains_key("x-timestamp") && headers.contains_key("x-signature")
}

/// What the headers alone say: `Ok(None)` for a signed request (its signature needs the body)
/// and for one with no credentials at all (its body may carry a `writeKey`), else the source
/// whose key the request carries.
///
/// # Errors
///
/// Why no source matches (a missing or unknown key, a signature required and absent).
pub fn authenticate_headers<'s>(
    sources: &'s [SourceRecord],
    headers: &HeaderMap,
    hmac_required: bool,
) -> Result<Option<&'s SourceRecord>, AuthError> {
    if is_signed(headers) {
        return Ok(None);
    }
    if hmac_required {
        return Err(AuthError::SignatureRequired);
    }
    if key_in_body(headers) {
        return Ok(None);
    }
    by_key(sources, headers).map(Some)
}

/// The source whose credentials the request carries. `body` is the body as sent (before any
/// `Content-Encoding` is undone): a signature is checked over it only, and a `writeKey` looked
/// for in it only when it was sent without a coding and no `Authorization` came.
///
/// # Errors
///
/// Why no source matches.
pub fn authenticate<'s>(
    sources: &'s [SourceRecord],
    headers: &HeaderMap,
    body: &[u8],
    hmac_required: bool,
    now_ms: i64,
) -> Result<&'s SourceRecord, AuthError> {
    if let (Some(ts), Some(sig)) = (headers.get("x-timestamp"), headers.get("x-signature")) {
        let ts = ts.to_str().map_err(|_| AuthError::BadTimestamp)?;
        let ms: i64 = ts
            .trim()
            .parse()
            .map_err(|_| AuthError::TimestampNotMillis)?;
        // `abs_diff` cannot overflow: a timestamp near i64::MIN is simply far away.
        if now_ms.abs_diff(ms) > MAX_SKEW_MS {
            return Err(AuthError::Skewed);
        }
        let sig = sig.to_str().map_err(|_| AuthError::BadSignatureFormat)?;
        let hex = sig
            .trim()
            .strip_prefix("sha256=")
            .ok_or(AuthError::BadSignatureFormat)?
            .to_ascii_lowercase();
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AuthError::BadSignatureFormat);
        }
        return sources
            .iter()
            .filter(|s| !s.secret.is_empty())
            .find(|s| hmac_hex(s.secret.as_bytes(), ts, body).is_some_and(|w| ct_eq(&w, &hex)))
            .ok_or(AuthError::BadSignature);
    }
    if hmac_required {
        return Err(AuthError::SignatureRequired);
    }
    if key_in_body(headers) {
        return by_write_key(sources, body);
    }
    by_key(sources, headers)
}

/// Whether the key is to be looked for in the body: no `Authorization`, no signature,
/// `Content-Type: text/plain` (parameters aside) and no `Content-Encoding`. Any other request
/// without credentials is refused from its headers, its body never read.
pub fn key_in_body(headers: &HeaderMap) -> bool {
    !headers.contains_key("authorization")
        && !is_signed(headers)
        && headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/plain"))
        && crate::encoding::coding_of(headers) == Ok(crate::encoding::Coding::Identity)
}

/// The top-level `writeKey` of a JSON object, when it has a string one.
pub fn write_key(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct WithKey {
        #[serde(rename = "writeKey")]
        write_key: Option<String>,
    }
    // An object only (serde would also read a struct from an array).
    if body.trim_ascii_start().first() != Some(&b'{') {
        return None;
    }
    serde_json::from_slice::<WithKey>(body).ok()?.write_key
}

/// The source whose pipeline key is the body's `writeKey` (a body sent without a coding).
fn by_write_key<'s>(
    sources: &'s [SourceRecord],
    body: &[u8],
) -> Result<&'s SourceRecord, AuthError> {
    let key = write_key(body).ok_or(AuthError::Missing)?;
    sources
        .iter()
        .find(|s| ct_eq(&s.pipeline_key, &key))
        .ok_or(AuthError::UnknownKey)
}

/// The source whose pipeline key the `Authorization` header carries.
fn by_key<'s>(
    sources: &'s [SourceRecord],
    headers: &HeaderMap,
) -> Result<&'s SourceRecord, AuthError> {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or(AuthError::Missing)?;
    let key = if let Some(k) = credentials(auth, "bearer") {
        k.to_owned()
    } else if let Some(b) = credentials(auth, "basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b)
            .map_err(|_| AuthError::BadBasic)?;
        let text = String::from_utf8(decoded).map_err(|_| AuthError::BadBasic)?;
        text.split(':').next().unwrap_or_default().to_owned()
    } else {
        return Err(AuthError::UnknownScheme);
    };
    sources
        .iter()
        .find(|s| ct_eq(&s.pipeline_key, &key))
        .ok_or(AuthError::UnknownKey)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(key: &str, secret: &str) -> SourceRecord {
        SourceRecord {
            id: "s".into(),
            name: "S".into(),
            pipeline_key: key.into(),
            secret: secret.into(),
            allowed_origins: Vec::new(),
            rate_limit_per_second: 10,
            created_at: String::new(),
        }
    }

    fn with(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("header"));
        }
        h
    }

    /// A signature as a client sends it. (The HMAC itself is checked against one worked out
    /// apart from this code in the end-to-end tests, `tests/support/signature.rs`.)
    fn sign(secret: &str, ts: &str, body: &[u8]) -> String {
        let hex = hmac_hex(secret.as_bytes(), ts, body).expect("any key length");
        format!("sha256={hex}")
    }

    #[test]
    fn a_timestamp_near_i64_min_is_refused_not_overflowed() {
        let sources = [source("k", "secret")];
        let now = 1_700_000_000_000;
        for ts in [i64::MIN, i64::MIN + 1, i64::MIN + 299_999, i64::MAX] {
            let ts = ts.to_string();
            let h = with(&[
                ("x-timestamp", &ts),
                ("x-signature", &sign("secret", &ts, b"{}")),
            ]);
            assert_eq!(
                authenticate(&sources, &h, b"{}", true, now).map(|s| s.id.as_str()),
                Err(AuthError::Skewed),
                "timestamp {ts}"
            );
        }
        let ts = now.to_string();
        let h = with(&[
            ("x-timestamp", &ts),
            ("x-signature", &sign("secret", &ts, b"{}")),
        ]);
        assert!(authenticate(&sources, &h, b"{}", true, now).is_ok());
    }

    #[test]
    fn schemes_are_case_insensitive() {
        let sources = [source("k1", "x")];
        let basic = base64::engine::general_purpose::STANDARD.encode("k1:");
        for auth in [
            "Bearer k1".to_owned(),
            "bearer k1".to_owned(),
            "BEARER  k1".to_owned(),
            format!("basic {basic}"),
            format!("Basic {basic}"),
            format!("BASIC {basic}"),
        ] {
            let h = with(&[("authorization", &auth)]);
            assert!(authenticate(&sources, &h, b"", false, 0).is_ok(), "{auth}");
        }
        let h = with(&[("authorization", "Token k1")]);
        assert_eq!(
            authenticate(&sources, &h, b"", false, 0).map(|s| s.id.as_str()),
            Err(AuthError::UnknownScheme)
        );
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_the_token_required() {
        for h in ["Bearer t0k", "bearer t0k", "BEARER  t0k ", "bEaReR\tt0k"] {
            assert_eq!(credentials(h, "bearer"), Some("t0k"), "{h:?}");
        }
        for h in ["Bearer", "Bearer ", "Bearer   "] {
            assert_eq!(credentials(h, "bearer"), Some(""), "{h:?}");
        }
        for h in ["", "Basic t0k", "Bearert0k", "t0k"] {
            assert_eq!(credentials(h, "bearer"), None, "{h:?}");
        }
    }

    #[test]
    fn the_write_key_in_the_body_names_the_source_when_no_header_does() {
        let sources = [source("k1", "x")];
        let none = with(&[("content-type", "text/plain;charset=UTF-8")]);
        assert_eq!(
            authenticate_headers(&sources, &none, false).map(|s| s.is_some()),
            Ok(false),
            "no credentials, text/plain: the body is read"
        );
        for ct in ["application/json", ""] {
            let json = with(&[("content-type", ct)]);
            assert_eq!(
                authenticate_headers(&sources, &json, false).map(|s| s.is_some()),
                Err(AuthError::Missing),
                "no credentials, {ct:?}: refused from the headers"
            );
        }
        let body = br#"{"writeKey":"k1","batch":[]}"#;
        assert!(authenticate(&sources, &none, body, false, 0).is_ok());
        for (body, why) in [
            (&br#"{"writeKey":"k2"}"#[..], AuthError::UnknownKey),
            (br#"{"writeKey":""}"#, AuthError::UnknownKey),
            (br#"{"batch":[]}"#, AuthError::Missing),
            (br#"{"writeKey":7}"#, AuthError::Missing),
            (b"not json", AuthError::Missing),
            (br#"["k1"]"#, AuthError::Missing),
        ] {
            assert_eq!(
                authenticate(&sources, &none, body, false, 0).map(|s| s.id.as_str()),
                Err(why),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        // A wrong key in a header is refused from the headers, whatever the body says.
        let wrong = with(&[("authorization", "Bearer nope")]);
        assert_eq!(
            authenticate_headers(&sources, &wrong, false).map(|s| s.is_some()),
            Err(AuthError::UnknownKey)
        );
        assert_eq!(
            authenticate(&sources, &wrong, body, false, 0).map(|s| s.id.as_str()),
            Err(AuthError::UnknownKey)
        );
        // Not for /v1/events, and not in a compressed body.
        assert_eq!(
            authenticate(&sources, &none, body, true, 0).map(|s| s.id.as_str()),
            Err(AuthError::SignatureRequired)
        );
        let gz = with(&[("content-type", "text/plain"), ("content-encoding", "gzip")]);
        assert_eq!(
            authenticate_headers(&sources, &gz, false).map(|s| s.is_some()),
            Err(AuthError::Missing),
            "a compressed body without credentials is refused from the headers, never read"
        );
        assert_eq!(
            authenticate(&sources, &gz, body, false, 0).map(|s| s.id.as_str()),
            Err(AuthError::Missing)
        );
    }

    #[test]
    fn empty_credentials_never_match() {
        let sources = [source("", "")];
        let h = with(&[("authorization", "Bearer ")]);
        assert_eq!(
            authenticate(&sources, &h, b"", false, 0).map(|s| s.id.as_str()),
            Err(AuthError::UnknownKey)
        );
        let h = with(&[("x-timestamp", "0"), ("x-signature", &sign("", "0", b""))]);
        assert_eq!(
            authenticate(&sources, &h, b"", false, 0).map(|s| s.id.as_str()),
            Err(AuthError::BadSignature)
        );
    }
}
