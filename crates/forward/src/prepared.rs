//! A resolved [`Target`] made ready to send many times: hyper's URL, method and headers built
//! once, the response rules looked up once, and the request bodies written from its pieces
//! (the envelope's prefix, the items joined by `,`, its suffix), real or as shown.

use crate::config::ForwardConfig;
use bytes::{BufMut, Bytes, BytesMut};
use hyper::header::{HeaderName, HeaderValue};
use signal_core::request::{Envelope, ItemFields, Target};
use signal_core::response::ResponseRule;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One item of a request, with the events behind it (several when merged by id).
#[derive(Debug, Clone)]
pub(crate) struct Piece {
    /// The item's JSON.
    pub bytes: Bytes,
    /// The caller's ids of the events it carries.
    pub jobs: Vec<u64>,
    /// Its hold id.
    pub hold: Option<Box<str>>,
    /// When the oldest of its events arrived.
    pub first_at: Instant,
}

/// Batching limits of a batched target.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub max_items: usize,
    pub max_bytes: Option<usize>,
    pub linger: Duration,
}

/// A target ready to send.
pub(crate) struct Prepared {
    pub method: hyper::Method,
    pub method_str: &'static str,
    /// The URL, parsed once (a URL that does not parse is each request's connect error).
    pub uri: Result<hyper::Uri, Arc<str>>,
    pub shown_url: Arc<str>,
    pub headers: Arc<[(HeaderName, HeaderValue)]>,
    envelope: Option<Envelope>,
    item_fields: Option<ItemFields>,
    /// Whether the shown body is the real one (no credential in the body).
    shown_same: bool,
    /// Batching, when batched.
    pub limits: Option<Limits>,
    /// `merge_by` and `merge_into`, when items merge by id.
    pub merge: Option<(Box<str>, Box<str>)>,
    /// The response policy.
    pub rules: Arc<[ResponseRule]>,
}

impl Prepared {
    /// Every target of a configuration.
    pub fn all(cfg: &ForwardConfig) -> Vec<Prepared> {
        cfg.targets.iter().map(|t| Prepared::new(cfg, t)).collect()
    }

    /// A header that is not valid HTTP (resolve refuses those; a hand-made target may not) is
    /// sent empty, and the vendor's answer (401) decides.
    fn new(cfg: &ForwardConfig, t: &Target) -> Self {
        let headers: Vec<(HeaderName, HeaderValue)> = t
            .headers
            .iter()
            .filter_map(|(k, v)| {
                let name = HeaderName::from_bytes(k.as_bytes()).ok()?;
                let value = HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static(""));
                Some((name, value))
            })
            .collect();
        let shown_same = t
            .envelope
            .as_ref()
            .is_none_or(|e| e.prefix == e.shown_prefix && e.suffix == e.shown_suffix)
            && t.item_fields.as_ref().is_none_or(|f| f.bytes == f.shown);
        let (method, method_str) = match t.method {
            signal_core::request::Method::Post => (hyper::Method::POST, "POST"),
            signal_core::request::Method::Put => (hyper::Method::PUT, "PUT"),
        };
        Self {
            method,
            method_str,
            uri: t
                .url
                .parse::<hyper::Uri>()
                .map_err(|e| Arc::from(format!("bad request: {e}"))),
            shown_url: Arc::from(t.shown_url.as_str()),
            headers: headers.into(),
            envelope: t.envelope.clone(),
            item_fields: t.item_fields.clone(),
            shown_same,
            limits: t.batch.as_ref().map(|b| Limits {
                max_items: b.max_items.max(1),
                max_bytes: b.max_bytes,
                linger: Duration::from_millis(b.linger_ms),
            }),
            merge: t.batch.as_ref().and_then(|b| {
                Some((
                    Box::from(b.merge_by.as_deref()?),
                    Box::from(b.merge_into.as_deref().unwrap_or("values")),
                ))
            }),
            rules: cfg
                .responses
                .get(&t.response)
                .map(|r| Arc::from(r.as_slice()))
                .unwrap_or_else(|| Arc::from(Vec::new())),
        }
    }

    /// The envelope's bytes around the items (0 when unbatched).
    pub fn overhead(&self) -> usize {
        self.envelope
            .as_ref()
            .map_or(0, |e| e.prefix.len() + e.suffix.len())
    }

    /// The request body of `pieces`, as sent.
    pub fn body(&self, pieces: &[Piece]) -> Bytes {
        self.write(pieces, false)
    }

    /// The body as live events show it, given the body as sent: the same bytes when no
    /// credential is in the body (no copy), else written again with the masked envelope.
    pub fn shown_body(&self, pieces: &[Piece], sent: &Bytes) -> Bytes {
        if self.shown_same {
            sent.clone()
        } else {
            self.write(pieces, true)
        }
    }

    fn write(&self, pieces: &[Piece], shown: bool) -> Bytes {
        if let Some(env) = &self.envelope {
            let (prefix, suffix) = if shown {
                (&env.shown_prefix, &env.shown_suffix)
            } else {
                (&env.prefix, &env.suffix)
            };
            return join(prefix, pieces, suffix);
        }
        let Some(first) = pieces.first() else {
            return Bytes::new();
        };
        match &self.item_fields {
            Some(f) => splice(if shown { &f.shown } else { &f.bytes }, &first.bytes),
            None => first.bytes.clone(),
        }
    }
}

/// `prefix` + the pieces joined by `,` + `suffix`.
pub(crate) fn join(prefix: &[u8], pieces: &[Piece], suffix: &[u8]) -> Bytes {
    let len = prefix.len() + suffix.len() + pieces.iter().map(|p| p.bytes.len() + 1).sum::<usize>();
    let mut body = BytesMut::with_capacity(len);
    body.put_slice(prefix);
    for (i, p) in pieces.iter().enumerate() {
        if i > 0 {
            body.put_u8(b',');
        }
        body.put_slice(&p.bytes);
    }
    body.put_slice(suffix);
    body.freeze()
}

/// `{` + `fields` + the item's own fields: the item with body-auth fields first. An item that
/// is not an object is sent as it is.
fn splice(fields: &[u8], item: &Bytes) -> Bytes {
    let trimmed = item.trim_ascii_start();
    let Some(rest) = trimmed.strip_prefix(b"{") else {
        return item.clone();
    };
    let empty = rest.trim_ascii_start().starts_with(b"}");
    let mut body = BytesMut::with_capacity(fields.len() + item.len() + 2);
    body.put_u8(b'{');
    body.put_slice(fields);
    if !empty {
        body.put_u8(b',');
    }
    body.put_slice(rest);
    body.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_fields_are_spliced_at_the_start_of_the_item() {
        let f = br#""app_id":"1""#;
        assert_eq!(
            &splice(f, &Bytes::from_static(br#"{"event":"e"}"#))[..],
            br#"{"app_id":"1","event":"e"}"#
        );
        assert_eq!(
            &splice(f, &Bytes::from_static(b"{ }"))[..],
            br#"{"app_id":"1" }"#
        );
        assert_eq!(&splice(f, &Bytes::from_static(b"[1]"))[..], b"[1]");
    }
}
