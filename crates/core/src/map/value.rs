//! One value while an item is written, and the closed set of transforms over it.
//!
//! A value borrows the event (a string, an id, a tape value), the plan (a literal), or names
//! text held by the writer: the scratch string a transform made ([`V::Text`]).
//! Transforms write into two reused scratch strings, so they allocate nothing once grown.

use crate::event::Id;
use crate::json::{write_f64, write_i64, write_str, write_val};
use crate::tape::Val;
use crate::time::{format_rfc3339, parse_iso8601};
use sha2::{Digest, Sha256};
use simd_json::StaticNode;
use std::fmt::Write as _;

/// A value to write.
#[derive(Clone, Copy, Debug)]
pub(crate) enum V<'v> {
    Str(&'v str),
    Id(Id<'v>),
    /// Epoch milliseconds.
    Time(i64),
    Tape(Val<'v, 'v>),
    Int(i64),
    F64(f64),
    Bool(bool),
    /// Raw JSON from the plan.
    Lit(&'v [u8]),
    /// The string in the scratch's `cur`.
    Text,
}

/// The two strings transforms work in.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    pub cur: String,
    pub next: String,
}

/// A transform of the closed set (docs/blueprint-format.md).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Transform {
    EpochMs,
    EpochMicros,
    EpochS,
    Iso8601,
    String,
    Number,
    Int,
    Bool,
    Lowercase,
    Uppercase,
    Trim,
    Truncate(usize),
    /// Absent when the text has fewer characters.
    MinChars(usize),
    /// A URL's host (no user, no port); absent when the text is not `scheme://host...`.
    UrlHost,
    Sha256Hex,
    Prefix(Box<str>),
    Hash53,
    /// Applied while writing (`style.rs`), never by [`apply`].
    Flatten,
    /// `truncate_strings:N`: applied while writing (`style.rs`), never by [`apply`].
    CutStrings(usize),
}

impl Transform {
    /// Reads a transform's name (`truncate:1024`, `prefix:_T_`).
    pub fn from_name(s: &str) -> Option<Self> {
        if let Some(n) = s.strip_prefix("truncate:") {
            return n.parse().ok().map(Transform::Truncate);
        }
        if let Some(n) = s.strip_prefix("truncate_strings:") {
            return n.parse().ok().map(Transform::CutStrings);
        }
        if let Some(n) = s.strip_prefix("min_chars:") {
            return n.parse().ok().map(Transform::MinChars);
        }
        if let Some(p) = s.strip_prefix("prefix:") {
            return Some(Transform::Prefix(p.into()));
        }
        Some(match s {
            "epoch_ms" => Transform::EpochMs,
            "epoch_micros" => Transform::EpochMicros,
            "epoch_s" => Transform::EpochS,
            "iso8601" => Transform::Iso8601,
            "string" => Transform::String,
            "number" => Transform::Number,
            "int" => Transform::Int,
            "bool" => Transform::Bool,
            "lowercase" => Transform::Lowercase,
            "uppercase" => Transform::Uppercase,
            "trim" => Transform::Trim,
            "sha256_hex" => Transform::Sha256Hex,
            "hash53" => Transform::Hash53,
            "flatten" => Transform::Flatten,
            "url_host" => Transform::UrlHost,
            _ => return None,
        })
    }
}

/// Appends the value's text (a string's characters, a number's digits, other JSON as text).
pub(crate) fn push_text(v: V<'_>, cur: &str, dst: &mut String) -> bool {
    match v {
        V::Str(s) => dst.push_str(s),
        V::Id(id) => dst.push_str(id.as_str()),
        V::Time(ms) | V::Int(ms) => {
            let _ = write!(dst, "{ms}");
        }
        V::F64(f) => {
            let mut b = Vec::new();
            write_f64(&mut b, f);
            dst.push_str(&String::from_utf8_lossy(&b));
        }
        V::Bool(b) => dst.push_str(if b { "true" } else { "false" }),
        V::Text => dst.push_str(cur),
        V::Tape(t) => match t.as_str() {
            Some(s) => dst.push_str(s),
            None => {
                let mut b = Vec::new();
                write_val(&mut b, t);
                dst.push_str(&String::from_utf8_lossy(&b));
            }
        },
        V::Lit(raw) => match serde_json::from_slice::<String>(raw) {
            Ok(s) => dst.push_str(&s),
            Err(_) => dst.push_str(&String::from_utf8_lossy(raw)),
        },
    }
    true
}

/// Appends the value as JSON.
#[inline]
pub(crate) fn put(out: &mut Vec<u8>, v: V<'_>, sc: &Scratch) {
    match v {
        V::Str(s) => write_str(out, s),
        V::Id(id) => write_str(out, id.as_str()),
        V::Time(ms) | V::Int(ms) => write_i64(out, ms),
        V::F64(f) => write_f64(out, f),
        V::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        V::Tape(t) => write_val(out, t),
        V::Lit(raw) => out.extend_from_slice(raw),
        V::Text => write_str(out, &sc.cur),
    }
}

/// The value as epoch milliseconds: a time, a number, or an ISO 8601 string.
fn time_of(v: V<'_>, sc: &Scratch) -> Option<i64> {
    match v {
        V::Time(ms) | V::Int(ms) => Some(ms),
        V::F64(f) => Some(f as i64),
        V::Str(s) => parse_iso8601(s),
        V::Text => parse_iso8601(&sc.cur),
        V::Tape(t) => match (t.as_str(), t.as_static_number()) {
            (Some(s), _) => parse_iso8601(s),
            (_, Some(StaticNode::I64(i))) => Some(i),
            (_, Some(StaticNode::U64(u))) => i64::try_from(u).ok(),
            (_, Some(StaticNode::F64(f))) => Some(f as i64),
            _ => None,
        },
        _ => None,
    }
}

/// The value as a number, if it is one or a string of one.
fn number_of(v: V<'_>, sc: &Scratch) -> Option<V<'static>> {
    let parse = |s: &str| {
        let s = s.trim();
        s.parse::<i64>()
            .map(V::Int)
            .ok()
            .or_else(|| s.parse::<f64>().ok().filter(|f| f.is_finite()).map(V::F64))
    };
    match v {
        V::Int(i) | V::Time(i) => Some(V::Int(i)),
        V::F64(f) => Some(V::F64(f)),
        V::Str(s) => parse(s),
        V::Text => parse(&sc.cur),
        V::Id(id) => parse(id.as_str()),
        V::Tape(t) => match (t.as_str(), t.as_static_number()) {
            (Some(s), _) => parse(s),
            (_, Some(StaticNode::I64(i))) => Some(V::Int(i)),
            (_, Some(StaticNode::U64(u))) => i64::try_from(u).ok().map(V::Int),
            (_, Some(StaticNode::F64(f))) => Some(V::F64(f)),
            _ => None,
        },
        _ => None,
    }
}

/// Applies `t`; `None` when the value cannot take it.
pub(crate) fn apply<'v>(t: &Transform, v: V<'v>, sc: &mut Scratch) -> Option<V<'v>> {
    let scale = |ms: i64, t: &Transform| match t {
        Transform::EpochMicros => ms.saturating_mul(1_000),
        Transform::EpochS => ms.div_euclid(1_000),
        _ => ms,
    };
    match t {
        Transform::EpochMs | Transform::EpochMicros | Transform::EpochS => {
            time_of(v, sc).map(|ms| V::Int(scale(ms, t)))
        }
        Transform::Iso8601 => {
            let ms = time_of(v, sc)?;
            sc.cur.clear();
            format_rfc3339(ms, &mut sc.cur);
            Some(V::Text)
        }
        Transform::MinChars(n) => {
            sc.next.clear();
            push_text(v, &sc.cur, &mut sc.next);
            (sc.next.chars().nth(n.saturating_sub(1)).is_some() || *n == 0).then_some(v)
        }
        Transform::Number => number_of(v, sc),
        Transform::Int => match number_of(v, sc)? {
            V::F64(f) => Some(V::Int(f as i64)),
            n => Some(n),
        },
        Transform::Bool => match v {
            V::Bool(b) => Some(V::Bool(b)),
            V::Tape(t) if t.as_bool().is_some() => t.as_bool().map(V::Bool),
            _ => {
                sc.next.clear();
                push_text(v, &sc.cur, &mut sc.next);
                match sc.next.trim() {
                    "true" => Some(V::Bool(true)),
                    "false" => Some(V::Bool(false)),
                    _ => None,
                }
            }
        },
        _ => {
            sc.next.clear();
            push_text(v, &sc.cur, &mut sc.next);
            let Scratch { cur, next } = sc;
            cur.clear();
            match t {
                Transform::String => cur.push_str(next),
                Transform::Lowercase => cur.extend(next.chars().flat_map(char::to_lowercase)),
                Transform::Uppercase => cur.extend(next.chars().flat_map(char::to_uppercase)),
                Transform::Trim => cur.push_str(next.trim()),
                Transform::Truncate(n) => cur.extend(next.chars().take(*n)),
                Transform::UrlHost => cur.push_str(url_host(next)?),
                Transform::Prefix(p) => {
                    cur.push_str(p);
                    cur.push_str(next);
                }
                Transform::Sha256Hex => sha256_hex(next, cur),
                Transform::Hash53 => {
                    let d = Sha256::digest(next.as_bytes());
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&d[..8]);
                    let _ = write!(cur, "{}", u64::from_be_bytes(b) >> 11);
                }
                _ => return None,
            }
            Some(V::Text)
        }
    }
}

/// The host of `scheme://[user@]host[:port][/?#...]`, when there is one.
fn url_host(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host.strip_prefix('[') {
        Some(v6) => &host[..v6.find(']').map_or(host.len(), |i| i + 2)],
        None => host.split(':').next().unwrap_or(host),
    };
    (!host.is_empty()).then_some(host)
}

/// Appends the lowercase hex SHA-256 of `text`.
pub(crate) fn sha256_hex(text: &str, out: &mut String) {
    for b in Sha256::digest(text.as_bytes()) {
        let _ = write!(out, "{b:02x}");
    }
}

#[cfg(test)]
mod tests {
    use super::url_host;

    #[test]
    fn url_host_is_the_host_without_user_or_port() {
        assert_eq!(
            url_host("https://app.example.com/settings"),
            Some("app.example.com")
        );
        assert_eq!(
            url_host("https://www.example.com?plan=pro"),
            Some("www.example.com")
        );
        assert_eq!(url_host("http://u:p@h.example:8080/x#y"), Some("h.example"));
        assert_eq!(url_host("http://[::1]:80/"), Some("[::1]"));
        assert_eq!(url_host("/relative/path"), None);
        assert_eq!(url_host("https:///nohost"), None);
    }
}
