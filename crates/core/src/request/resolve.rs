//! [`resolve`]: a blueprint's request specs made concrete for one integration (its region's base
//! URL and its config values), once, at install or update. Pure: no I/O.
//!
//! - `{region.base}` and `{config.<field>}` placeholders are filled in the URL, the auth values
//!   and the envelope's strings; `{"@config": "<field>"}` in the envelope is the config value
//!   itself (any JSON type), or leaves its key out when the config has none; an object left
//!   with no members that way is left out too (Amplitude's `options`).
//! - Auth: `header` → headers; `basic` / `bearer` → `authorization`; `query` → URL parameters;
//!   `body` → fields of the envelope (an existing key keeps its place; a new one is added), or,
//!   for an unbatched request, fields spliced at the start of the item object
//!   ([`Target::item_fields`]).
//! - Everything a `{config.x}` placeholder brings into the auth or into an envelope string is
//!   treated as a credential: the `shown_*` forms (live events) have `****` in its place, in the
//!   URL and in the envelope alike. (`@config` values, numbers and flags such as Amplitude's
//!   `min_id_length`, are shown as they are.)
//! - The envelope is compiled to the bytes before and after the items. Object keys come out in
//!   `serde_json::Map` order (sorted, unless `preserve_order` is on).

use super::{Auth, Envelope, ItemFields, RequestSpec, Target};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

/// What a credential looks like in a live event.
pub const MASK: &str = "****";

/// Why a request spec cannot be made concrete for an integration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    /// A `{config.x}` / `@config` whose field the config does not hold (and auth needs it).
    MissingConfig {
        /// The request's name.
        request: String,
        /// The placeholder as written (`{config.api_key}`).
        placeholder: String,
    },
    /// A `{region.x}` other than `{region.base}`, or a `{config.x}` naming an object or array.
    BadPlaceholder {
        /// The request's name.
        request: String,
        /// The placeholder as written.
        placeholder: String,
    },
    /// The envelope is not usable: no `{"@items": true}`, more than one, or body auth with an
    /// envelope that is not an object.
    Envelope {
        /// The request's name.
        request: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// A header name or value that HTTP does not allow.
    Header {
        /// The request's name.
        request: String,
        /// The header's name.
        header: String,
    },
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveError::MissingConfig {
                request,
                placeholder,
            } => write!(
                f,
                "request {request}: {placeholder} has no value in the integration's config"
            ),
            ResolveError::BadPlaceholder {
                request,
                placeholder,
            } => write!(f, "request {request}: {placeholder} cannot be filled"),
            ResolveError::Envelope { request, problem } => {
                write!(f, "request {request}: envelope {problem}")
            }
            ResolveError::Header { request, header } => {
                write!(f, "request {request}: header {header} is not valid HTTP")
            }
        }
    }
}

impl std::error::Error for ResolveError {}

/// One [`Target`] per request spec, in the map's order (index = position, as
/// `Blueprint::request_index` counts). `base_url` is the region's base (a trailing `/` is
/// dropped).
///
/// Until the blueprint holds its `requests`, callers pass the map; with it:
/// `resolve(&bp.requests, &config, &base)`.
///
/// # Errors
///
/// A placeholder the config cannot fill, an unusable envelope, or a header HTTP does not allow:
/// each names the request and the placeholder.
pub fn resolve(
    requests: &BTreeMap<String, RequestSpec>,
    config: &Map<String, Value>,
    base_url: &str,
) -> Result<Vec<Target>, ResolveError> {
    let base = base_url.trim_end_matches('/');
    requests
        .iter()
        .map(|(name, spec)| {
            let f = Filler {
                request: name,
                config,
                base,
            };
            target(&f, name, spec)
        })
        .collect()
}

/// Fills placeholders for one request.
struct Filler<'a> {
    request: &'a str,
    config: &'a Map<String, Value>,
    base: &'a str,
}

/// A filled string, and its shown form when a secret went in.
struct Filled {
    real: String,
    shown: String,
}

impl Filler<'_> {
    fn missing(&self, placeholder: &str) -> ResolveError {
        ResolveError::MissingConfig {
            request: self.request.to_owned(),
            placeholder: placeholder.to_owned(),
        }
    }

    fn bad(&self, placeholder: &str) -> ResolveError {
        ResolveError::BadPlaceholder {
            request: self.request.to_owned(),
            placeholder: placeholder.to_owned(),
        }
    }

    /// A config value as text (strings as they are, numbers and booleans as JSON).
    fn config_text(&self, field: &str, placeholder: &str) -> Result<Option<String>, ResolveError> {
        match self.config.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(Some(v.to_string())),
            Some(_) => Err(self.bad(placeholder)),
        }
    }

    /// Fills `{region.base}` and `{config.x}` in `s`; `secret` masks what config brings in.
    /// Other braces are text. A config field the config lacks is its default when the
    /// placeholder gives one (`{config.x|default}`, as the blueprint's load check reads it),
    /// else an error.
    fn fill(&self, s: &str, secret: bool) -> Result<Filled, ResolveError> {
        let mut real = String::with_capacity(s.len());
        let mut shown = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(open) = rest.find('{') {
            let (before, from) = rest.split_at(open);
            real.push_str(before);
            shown.push_str(before);
            let Some(close) = from.find('}') else {
                rest = from;
                break;
            };
            let placeholder = &from[..=close];
            let inner = &from[1..close];
            if let Some(field) = inner.strip_prefix("config.") {
                let (field, default) = match field.split_once('|') {
                    Some((f, d)) => (f, Some(d)),
                    None => (field, None),
                };
                let v = match (self.config_text(field, placeholder)?, default) {
                    (Some(v), _) => v,
                    (None, Some(d)) => d.to_owned(),
                    (None, None) => return Err(self.missing(placeholder)),
                };
                real.push_str(&v);
                shown.push_str(if secret { MASK } else { &v });
            } else if let Some(what) = inner.strip_prefix("region.") {
                if what != "base" {
                    return Err(self.bad(placeholder));
                }
                real.push_str(self.base);
                shown.push_str(self.base);
            } else {
                real.push_str(placeholder);
                shown.push_str(placeholder);
            }
            rest = &from[close + 1..];
        }
        real.push_str(rest);
        shown.push_str(rest);
        Ok(Filled { real, shown })
    }
}

fn target(f: &Filler<'_>, name: &str, spec: &RequestSpec) -> Result<Target, ResolveError> {
    let url = f.fill(&spec.url, false)?;
    let (mut real_url, mut shown_url) = (url.real, url.shown);
    let mut headers = Vec::new();
    let mut body_fields: Vec<(String, Filled)> = Vec::new();
    let header_err = |header: &str| ResolveError::Header {
        request: name.to_owned(),
        header: header.to_owned(),
    };
    match &spec.auth {
        Auth::None => {}
        Auth::Header(map) => {
            for (k, v) in map {
                let v = f.fill(v, true)?;
                if !valid_header(k, &v.real) {
                    return Err(header_err(k));
                }
                headers.push((k.to_ascii_lowercase(), v.real));
            }
        }
        Auth::Basic { user, password } => {
            let (u, p) = (f.fill(user, true)?, f.fill(password, true)?);
            let token = base64(format!("{}:{}", u.real, p.real).as_bytes());
            headers.push(("authorization".into(), format!("Basic {token}")));
        }
        Auth::Bearer(token) => {
            let t = f.fill(token, true)?;
            if !valid_header("authorization", &t.real) {
                return Err(header_err("authorization"));
            }
            headers.push(("authorization".into(), format!("Bearer {}", t.real)));
        }
        Auth::Query(map) => {
            for (k, v) in map {
                let v = f.fill(v, true)?;
                let sep = if real_url.contains('?') { '&' } else { '?' };
                real_url.push(sep);
                shown_url.push(sep);
                let key = percent(k);
                real_url.push_str(&format!("{key}={}", percent(&v.real)));
                shown_url.push_str(&format!("{key}={MASK}"));
            }
        }
        Auth::Body(map) => {
            for (k, v) in map {
                body_fields.push((k.clone(), f.fill(v, true)?));
            }
        }
    }
    let envelope_err = |problem| ResolveError::Envelope {
        request: name.to_owned(),
        problem,
    };
    let (envelope, item_fields) = match (&spec.batch, &spec.envelope) {
        (None, None) if body_fields.is_empty() => (None, None),
        (None, None) => (None, Some(item_fields(&body_fields))),
        (_, env) => {
            let env = env
                .clone()
                .unwrap_or_else(|| serde_json::json!({"@items": true}));
            (
                Some(envelope(f, env, &body_fields).map_err(envelope_err)?),
                None,
            )
        }
    };
    Ok(Target {
        name: name.to_owned(),
        method: spec.method,
        url: real_url,
        shown_url,
        headers,
        envelope,
        batch: spec.batch.clone(),
        response: spec.response.clone(),
        item_fields,
    })
}

/// `"k":"v","k2":"v2"` (real and shown), for splicing into an unbatched item.
fn item_fields(fields: &[(String, Filled)]) -> ItemFields {
    let (mut bytes, mut shown) = (Vec::new(), Vec::new());
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            bytes.push(b',');
            shown.push(b',');
        }
        for (out, val) in [(&mut bytes, &v.real), (&mut shown, &v.shown)] {
            crate::json::write_str(out, k);
            out.push(b':');
            crate::json::write_str(out, val);
        }
    }
    ItemFields { bytes, shown }
}

/// The marker the items' place is serialized as, then cut at.
const ITEMS_MARK: &str = "\u{1}signal-items\u{1}";

/// Compiles an envelope: placeholders filled (real and shown), body auth merged, cut around
/// the items.
fn envelope(
    f: &Filler<'_>,
    env: Value,
    body: &[(String, Filled)],
) -> Result<Envelope, &'static str> {
    let (mut real, mut shown) = (env.clone(), env);
    let mut marks = 0;
    walk(f, &mut real, false, &mut marks)
        .map_err(|_| "has a placeholder the config cannot fill")?;
    let mut ignored = 0;
    walk(f, &mut shown, true, &mut ignored)
        .map_err(|_| "has a placeholder the config cannot fill")?;
    match marks {
        0 => return Err("has no {\"@items\": true}"),
        1 => {}
        _ => return Err("has more than one {\"@items\": true}"),
    }
    if !body.is_empty() {
        let (Value::Object(r), Value::Object(s)) = (&mut real, &mut shown) else {
            return Err("must be an object for body auth");
        };
        for (k, v) in body {
            r.insert(k.clone(), Value::String(v.real.clone()));
            s.insert(k.clone(), Value::String(v.shown.clone()));
        }
    }
    let (prefix, suffix) = cut(&real)?;
    let (shown_prefix, shown_suffix) = cut(&shown)?;
    Ok(Envelope {
        prefix,
        suffix,
        shown_prefix,
        shown_suffix,
    })
}

/// Fills the envelope's strings and `@config` directives; the `@items` object becomes the mark.
/// A failing placeholder is reported as `Err(())` (the caller names the request).
fn walk(f: &Filler<'_>, v: &mut Value, shown: bool, marks: &mut usize) -> Result<(), ()> {
    match v {
        Value::String(s) => {
            let filled = f.fill(s, true).map_err(|_| ())?;
            *s = if shown { filled.shown } else { filled.real };
        }
        Value::Array(items) => {
            for i in items {
                walk(f, i, shown, marks)?;
            }
        }
        Value::Object(map) => {
            if map.get("@items") == Some(&Value::Bool(true)) && map.len() == 1 {
                *marks += 1;
                *v = Value::String(ITEMS_MARK.to_owned());
                return Ok(());
            }
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                let Some(child) = map.get_mut(&k) else {
                    continue;
                };
                if let Value::Object(d) = child
                    && d.len() == 1
                    && let Some(Value::String(field)) = d.get("@config")
                {
                    match f.config.get(field.as_str()) {
                        None | Some(Value::Null) => {
                            map.remove(&k);
                        }
                        Some(value) => *child = value.clone(),
                    }
                    continue;
                }
                let had_members = matches!(child, Value::Object(m) if !m.is_empty());
                walk(f, child, shown, marks)?;
                // An object whose members were all absent `@config` values is left out.
                if had_members && matches!(child, Value::Object(m) if m.is_empty()) {
                    map.remove(&k);
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Serializes `v` and cuts it where the items go: `prefix` ends with `[`, `suffix` starts with
/// `]`.
fn cut(v: &Value) -> Result<(Vec<u8>, Vec<u8>), &'static str> {
    let text = serde_json::to_string(v).map_err(|_| "does not serialize")?;
    let mark = serde_json::to_string(ITEMS_MARK).map_err(|_| "does not serialize")?;
    let at = text.find(&mark).ok_or("has no {\"@items\": true}")?;
    let mut prefix = text.as_bytes()[..at].to_vec();
    prefix.push(b'[');
    let mut suffix = vec![b']'];
    suffix.extend_from_slice(&text.as_bytes()[at + mark.len()..]);
    Ok((prefix, suffix))
}

/// Whether HTTP allows this header (a token name, a value of visible ASCII, space and tab).
fn valid_header(name: &str, value: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        && value
            .bytes()
            .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}

/// Percent-encodes a query component (RFC 3986 unreserved characters kept).
fn percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Standard base64 with padding (for `Authorization: Basic`).
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
#[path = "resolve_tests.rs"]
mod tests;
