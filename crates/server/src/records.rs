//! A request's body into spool records (the gateway's step 3, re-exported by `gateway.rs`):
//! one record per event, `{"receivedAt":..,"sourceId":..,"context":{..},"batch":[event]}`
//! after a version 2 header of what validating the event computed (`signal_core::record`),
//! the context being the batch's own enriched with the request's ip and User-Agent (cut to
//! [`MAX_USER_AGENT_BYTES`]). The batch's context is copied into every record, so it counts
//! against each event's 32 KiB limit: an event whose bytes plus the context's pass it is
//! rejected on its own, and no record is much over 32 KiB whatever the request. And it counts
//! against the request's: all its records together take at most [`MAX_REQUEST_RECORD_BYTES`]
//! in the spool, or the request is a 413 decided from the events' sizes before any record is
//! built (`records_limits.rs`, with the check that each record is one the pipeline reads).

use crate::rejection::{Rejection, Request};
use hyper::header::HeaderMap;
use signal_core::limits::MAX_EVENT_BYTES;
use signal_core::{
    Document, Event, EventError, EventType, Id, Link, PADDING, Parser, Rule, Shape, record,
};
use signal_store::SourceRecord;
use std::cell::RefCell;
use std::net::IpAddr;

#[path = "records_limits.rs"]
mod limits;
pub use limits::MAX_REQUEST_RECORD_BYTES;
use limits::{check_multiplied, grown_past_the_limit, readable};

/// The longest User-Agent copied into a record, in bytes; a longer one is cut (at a character
/// boundary). Real browsers send under 300 bytes.
pub const MAX_USER_AGENT_BYTES: usize = 1024;
/// Bytes the spool adds to each record (its frame header).
pub const RECORD_OVERHEAD: u64 = 16;

thread_local! {
    static PARSER: RefCell<Parser> = RefCell::new(Parser::new());
    /// For re-reading one event with the cookie's anonymousId, while `PARSER`'s document lives.
    static SECOND: RefCell<Parser> = RefCell::new(Parser::new());
}

/// An identity link, owned, to be written after the parse's borrows end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedLink {
    /// anonymousId -> userId.
    User(String, String),
    /// userId -> accountId.
    Account(String, String),
    /// userId -> groupId.
    Group(String, String),
}

impl OwnedLink {
    fn of(l: Link<'_>) -> Self {
        match l {
            Link::AnonymousToUser {
                anonymous_id,
                user_id,
            } => OwnedLink::User(anonymous_id.into(), user_id.into()),
            Link::UserToAccount {
                user_id,
                account_id,
            } => OwnedLink::Account(user_id.into(), account_id.into()),
            Link::UserToGroup { user_id, group_id } => {
                OwnedLink::Group(user_id.into(), group_id.into())
            }
        }
    }

    /// Borrowed, as the store takes it.
    pub fn as_link(&self) -> Link<'_> {
        match self {
            OwnedLink::User(a, u) => Link::AnonymousToUser {
                anonymous_id: a,
                user_id: u,
            },
            OwnedLink::Account(u, a) => Link::UserToAccount {
                user_id: u,
                account_id: a,
            },
            OwnedLink::Group(u, g) => Link::UserToGroup {
                user_id: u,
                group_id: g,
            },
        }
    }
}

/// One accepted event: its spool record, its messageId, its identity links.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// A version 2 header (`signal_core::record`), then
    /// `{"receivedAt":..,"sourceId":..,"context":{..},"batch":[event]}`.
    pub record: Vec<u8>,
    /// The event's messageId, for deduplication.
    pub message_id: Option<String>,
    /// The identity links the event carries.
    pub links: Vec<OwnedLink>,
}

/// One event of a batch refused on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Its index in the batch.
    pub index: usize,
    /// The API's code (`INVALID_EVENT`, `TOO_LARGE`).
    pub code: &'static str,
    /// Where and which rule (`batch[3].timestamp: ...`).
    pub message: String,
}

impl Rejected {
    fn of(index: usize, e: &EventError) -> Self {
        Self {
            index,
            code: e.code(),
            message: e.to_string(),
        }
    }

    /// An error of event `index` read on its own (with a browser's id), located in the batch.
    fn within_batch(index: usize, e: &EventError) -> Self {
        let at = match e.path() {
            "body" => format!("batch[{index}]"),
            p if p.starts_with('[') => format!("batch[{index}]{p}"),
            p => format!("batch[{index}].{p}"),
        };
        Self {
            index,
            code: e.code(),
            message: format!("{at}: {}", e.rule()),
        }
    }

    /// Event `index` is `bytes` long with a browser's `anonymousId` written in: over the event
    /// limit.
    fn grown(index: usize, bytes: usize) -> Self {
        Self {
            index,
            code: "TOO_LARGE",
            message: format!(
                "batch[{index}]: event is over the limit of {MAX_EVENT_BYTES} bytes with the \
                 browser's anonymousId written in ({bytes} bytes)"
            ),
        }
    }

    /// Event `index` and the batch's context of `merged` bytes are over the event limit.
    fn merged(index: usize, merged: usize) -> Self {
        Self {
            index,
            code: "TOO_LARGE",
            message: format!(
                "batch[{index}]: event is over the limit of {MAX_EVENT_BYTES} bytes with the \
                 batch's context ({merged} bytes) merged in"
            ),
        }
    }
}

/// What a request's body became.
#[derive(Debug, Clone, Default)]
pub struct Built {
    /// The accepted events, in order.
    pub events: Vec<Prepared>,
    /// The refused events of a batch.
    pub rejected: Vec<Rejected>,
    /// A new `_dfid` to set, when one was made for a browser.
    pub new_cookie: Option<String>,
}

impl Built {
    /// The bytes the records take in the spool.
    pub fn spool_bytes(&self) -> u64 {
        self.events
            .iter()
            .map(|e| e.record.len() as u64 + RECORD_OVERHEAD)
            .sum()
    }

    /// Refuses a request the spool could never take: its records are over `limit`, the most
    /// one append can hold.
    ///
    /// # Errors
    ///
    /// [`Rejection::NeverFits`].
    pub fn check_fits(&self, limit: u64) -> Result<(), Rejection> {
        let bytes = self.spool_bytes();
        if bytes > limit {
            return Err(Rejection::NeverFits { bytes, limit });
        }
        Ok(())
    }
}

/// `event` (a JSON object's text) with `"<key>":"<value>"` as its first key.
fn with_first_key(event: &[u8], key: &str, value: &str) -> Vec<u8> {
    let raw = event.trim_ascii_start();
    let mut out = Vec::with_capacity(raw.len() + key.len() + value.len() + 8);
    out.push(b'{');
    signal_core::json::write_str(&mut out, key);
    out.push(b':');
    signal_core::json::write_str(&mut out, value);
    if raw
        .get(1..)
        .is_some_and(|rest| rest.trim_ascii_start().first() != Some(&b'}'))
    {
        out.push(b',');
    }
    out.extend_from_slice(raw.get(1..).unwrap_or_default());
    out
}

/// What every record of one request shares.
struct Envelope<'a> {
    received: i64,
    source: &'a str,
    context: Vec<u8>,
    /// The identify traits that link a user to an account (`crate::links`).
    link_traits: &'static [&'static str],
}

impl Envelope<'_> {
    /// Everything of a record's JSON but its event: `{"receivedAt":..,"sourceId":..,"context":..,"batch":[`.
    fn head(&self) -> Vec<u8> {
        let mut rec = Vec::with_capacity(self.context.len() + 96);
        self.write_head(&mut rec);
        rec
    }

    fn write_head(&self, rec: &mut Vec<u8>) {
        rec.extend_from_slice(b"{\"receivedAt\":");
        rec.extend_from_slice(self.received.to_string().as_bytes());
        rec.extend_from_slice(b",\"sourceId\":");
        signal_core::json::write_str(rec, self.source);
        rec.extend_from_slice(b",\"context\":");
        rec.extend_from_slice(&self.context);
        rec.extend_from_slice(b",\"batch\":[");
    }

    /// The version 2 record of one event (`signal_core::record`): the header of what was
    /// computed validating `ev`, then the JSON, the event given its `type` when the endpoint
    /// implied it.
    fn record(&self, ev: &Event<'_, '_>, raw: &[u8]) -> Vec<u8> {
        let mut rec =
            Vec::with_capacity(record::MAX_HEADER_BYTES + self.context.len() + 96 + raw.len() + 32);
        record::write_header(&mut rec, ev, self.received);
        self.write_head(&mut rec);
        if ev.typed {
            rec.extend_from_slice(raw);
        } else {
            rec.extend_from_slice(&with_first_key(raw, "type", ev.kind.as_str()));
        }
        rec.extend_from_slice(b"]}");
        rec
    }

    /// An accepted event, `raw` its text.
    fn prepare(&self, ev: &Event<'_, '_>, raw: &[u8]) -> Prepared {
        Prepared {
            record: self.record(ev, raw),
            message_id: ev.message_id.map(str::to_owned),
            links: crate::links::links(ev, self.link_traits)
                .into_iter()
                .map(OwnedLink::of)
                .collect(),
        }
    }

    /// A browser's event without ids, `raw` its text, given the browser's `id` and read again.
    fn with_id(
        &self,
        raw: &[u8],
        id: &str,
        implied: Option<EventType>,
    ) -> Result<Prepared, EventError> {
        let with_id = with_first_key(raw, "anonymousId", id);
        SECOND.with_borrow_mut(|p| {
            let mut buf = padded(&with_id);
            let doc = p.parse_padded(&mut buf, with_id.len(), Shape::Event(implied))?;
            Ok(self.prepare(&doc.event(0)?, &with_id))
        })
    }
}

/// `s` cut to at most `max` bytes, at a character boundary.
pub(crate) fn capped(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The client's address: the first `X-Forwarded-For` entry when the request came through a
/// proxy on this host, else the peer's.
fn client_ip(headers: &HeaderMap, peer: IpAddr) -> String {
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|v| peer.is_loopback() && v.parse::<IpAddr>().is_ok())
        .map_or_else(|| peer.to_string(), str::to_owned)
}

/// First-party identity for browsers: the `_dfid` cookie's id, or a new one made once.
struct BrowserIds<'a> {
    browser: bool,
    cookie: Option<String>,
    made: Option<String>,
    new_id: &'a mut dyn FnMut() -> String,
}

impl<'a> BrowserIds<'a> {
    fn new(headers: &HeaderMap, new_id: &'a mut dyn FnMut() -> String) -> Self {
        let cookie = headers
            .get_all("cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().strip_prefix("_dfid="))
            .find(|v| {
                !v.is_empty()
                    && v.len() <= 64
                    && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
            .map(str::to_owned);
        Self {
            browser: headers.contains_key("origin") || headers.contains_key("cookie"),
            cookie,
            made: None,
            new_id,
        }
    }

    /// Whether this is a browser whose id is known (its cookie, or one made for this request).
    fn known(&self) -> bool {
        self.browser && (self.cookie.is_some() || self.made.is_some())
    }

    fn id(&mut self) -> String {
        if let Some(c) = self.cookie.as_ref().or(self.made.as_ref()) {
            return c.clone();
        }
        let fresh = (self.new_id)();
        self.made = Some(fresh.clone());
        fresh
    }
}

/// The envelope of `doc`'s records, and the bytes of the batch's own context (0 when it has
/// none) that each of its events carries.
fn envelope<'a>(
    doc: &Document<'_, '_>,
    req: &Request<'_>,
    source: &'a SourceRecord,
) -> (Envelope<'a>, usize) {
    let mut context = Vec::new();
    doc.write_batch_context(&mut context, &[]);
    let merged = if doc.is_batch() && context.len() > 2 {
        context.len()
    } else {
        0
    };
    let ip = client_ip(req.headers, req.peer);
    let ua = req
        .headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .map(|v| capped(v, MAX_USER_AGENT_BYTES))
        .unwrap_or_default();
    let mut extra: Vec<(&str, &str)> = vec![("ip", &ip)];
    if !ua.is_empty() {
        extra.push(("userAgent", ua));
    }
    context.clear();
    doc.write_batch_context(&mut context, &extra);
    let envelope = Envelope {
        received: req.now_ms,
        source: &source.id,
        context,
        link_traits: crate::links::link_traits(),
    };
    (envelope, merged)
}

/// Parses `body`, as `req` sent it to `source` for `shape`, into spool records. `new_id` makes
/// an anonymousId for a browser that has none.
///
/// # Errors
///
/// [`Rejection::Invalid`] for a body refused whole (not JSON, not a batch, one invalid event);
/// [`Rejection::Multiplied`] for records that would pass [`MAX_REQUEST_RECORD_BYTES`].
pub fn build(
    req: &Request<'_>,
    body: &[u8],
    source: &SourceRecord,
    shape: Shape,
    new_id: &mut dyn FnMut() -> String,
) -> Result<Built, Rejection> {
    let mut ids = BrowserIds::new(req.headers, new_id);
    // A single browser event without ids takes the cookie's (or a new) anonymousId.
    let injected;
    let body = if ids.browser && single_without_ids(body, shape) {
        injected = with_first_key(body, "anonymousId", &ids.id());
        &injected[..]
    } else {
        body
    };
    let implied = match shape {
        Shape::Event(t) => t,
        _ => None,
    };
    PARSER.with_borrow_mut(|parser| {
        let mut buf = padded(body);
        let doc = parser
            .parse_padded(&mut buf, body.len(), shape)
            .map_err(Rejection::Invalid)?;
        let (envelope, merged) = envelope(&doc, req, source);
        let raw = |i: usize| {
            doc.span(i)
                .and_then(|r| body.get(r))
                .unwrap_or(body)
                .trim_ascii()
        };
        let too_big = |raw: &[u8]| merged > 0 && raw.len() + merged > MAX_EVENT_BYTES;
        check_multiplied(&envelope, (0..doc.len()).map(raw).filter(|r| !too_big(r)))?;
        let head_len = envelope.head().len();
        let mut built = Built::default();
        for (i, event) in doc.events().enumerate() {
            let raw = raw(i);
            if too_big(raw) {
                built.rejected.push(Rejected::merged(i, merged));
                continue;
            }
            // An event read again on its own (with a browser's id) has errors located in
            // itself, not in the batch.
            let (prepared, read_alone) = match event {
                // A browser's event with a userId but no anonymousId takes the browser's id
                // (interface.md: "a browser event without an anonymousId takes it from the
                // `_dfid` cookie"), so that an identify links the pages before it; only when
                // the browser has one (its cookie, or one made for an earlier event here). The
                // event read is valid already: it is given the id, not read again.
                Ok(ev) if ids.known() && ev.anonymous_id.is_none() => {
                    let id = ids.id();
                    let raw = with_first_key(raw, "anonymousId", &id);
                    let mut ev: Event<'_, '_> = ev;
                    ev.anonymous_id = Some(Id::Str(&id));
                    (Ok(envelope.prepare(&ev, &raw)), false)
                }
                Ok(ev) => (Ok(envelope.prepare(&ev, raw)), false),
                Err(e) if ids.browser && matches!(e.rule(), Rule::NoIdentity) => {
                    (envelope.with_id(raw, &ids.id(), implied), true)
                }
                Err(e) => (Err(e), false),
            };
            match prepared {
                Ok(p) if !doc.is_batch() => {
                    readable(&p.record).map_err(Rejection::Unstorable)?;
                    built.events.push(p);
                }
                Ok(p) => match grown_past_the_limit(&p, head_len) {
                    None => built.events.push(p),
                    Some(bytes) => built.rejected.push(Rejected::grown(i, bytes)),
                },
                Err(e) if !doc.is_batch() => return Err(Rejection::Invalid(e)),
                Err(e) if read_alone => built.rejected.push(Rejected::within_batch(i, &e)),
                Err(e) => built.rejected.push(Rejected::of(i, &e)),
            }
        }
        // A browser's events given an anonymousId grew after the check above: by a few bytes
        // each.
        let bytes = built.spool_bytes();
        if bytes > MAX_REQUEST_RECORD_BYTES {
            return Err(Rejection::Multiplied {
                context: envelope.context.len(),
                events: built.events.len(),
                bytes,
                limit: MAX_REQUEST_RECORD_BYTES,
            });
        }
        built.new_cookie = ids.made;
        Ok(built)
    })
}

/// Whether `body` is one event refused only for having no ids.
fn single_without_ids(body: &[u8], shape: Shape) -> bool {
    matches!(shape, Shape::Event(_))
        && SECOND.with_borrow_mut(|p| {
            let mut probe = padded(body);
            p.parse_padded(&mut probe, body.len(), shape)
                .err()
                .is_some_and(|e| matches!(e.rule(), Rule::NoIdentity))
        })
}

/// `body` followed by the parser's padding.
fn padded(body: &[u8]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(body.len() + PADDING);
    buf.extend_from_slice(body);
    buf.resize(body.len() + PADDING, b' ');
    buf
}
