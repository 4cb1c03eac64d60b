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

use base64::Engine as _;
use hmac::{KeyInit, Mac};
use hyper::header::HeaderMap;
use signal_store::SourceRecord;
use std::fmt;

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
    /// No `Authorization` header.
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
            AuthError::Missing => "missing Authorization",
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

/// What the headers alone say: `Ok(None)` for a signed request (its signature needs the body),
/// else the source whose key the request carries.
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
    by_key(sources, headers).map(Some)
}

/// The source whose credentials the request carries. `body` is the body as sent (before any
/// `Content-Encoding` is undone): a signature is checked over it only.
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
    by_key(sources, headers)
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
