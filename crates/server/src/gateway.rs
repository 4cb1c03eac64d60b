//! The ingestion gateway's decisions as pure functions, with no socket and no shared state, so
//! that they can be fuzzed (`fuzz/fuzz_targets/gateway.rs`) and tested one by one:
//!
//! 1. [`route`]: the endpoint and method (404, 405, or a preflight);
//! 2. [`admit`]: the body's `Content-Encoding` undone under the size limit (415, 413, 400), the
//!    credentials (401), the source's allowed origins (403);
//! 3. [`build`]: parse and validate, one spool record per event, each with its source, the
//!    request's ip and (capped) User-Agent, and the batch's context; a record whose client bytes
//!    (event plus batch context) pass the event limit is rejected on its own;
//! 4. [`Built::check_fits`]: a request whose records the spool could never take in one append
//!    is a 413, not a 503 inviting a retry.
//!
//! Rate limiting, deduplication, identity links and the spool append are the caller's
//! (`ingest.rs`): they hold state.

pub use crate::auth::AuthError;
use crate::auth::authenticate;
use crate::cors;
use crate::encoding;
pub use crate::encoding::{Coding, DecodeError};
use hyper::header::HeaderMap;
use hyper::{Method, StatusCode};
use signal_core::limits::{MAX_BODY_BYTES, MAX_EVENT_BYTES};
use signal_core::{EventError, EventType, Link, PADDING, Parser, Rule, Shape, links_of};
use signal_store::SourceRecord;
use std::cell::RefCell;
use std::fmt;
use std::net::IpAddr;

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

/// What the gateway knows of a request, without the socket.
pub struct Request<'a> {
    /// The method.
    pub method: &'a Method,
    /// The URL's path.
    pub path: &'a str,
    /// The headers.
    pub headers: &'a HeaderMap,
    /// The body as received (possibly compressed), at most 512 KiB.
    pub body: &'a [u8],
    /// The peer's address.
    pub peer: IpAddr,
    /// Now, in unix milliseconds.
    pub now_ms: i64,
}

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// A CORS preflight.
    Preflight,
    /// An ingestion endpoint: what its body holds, and whether it needs an HMAC signature.
    Ingest {
        /// The body's expected shape.
        shape: Shape,
        /// `/v1/events` takes only signed requests.
        hmac_required: bool,
    },
}

/// Why a request is refused whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// No such endpoint (404).
    NotFound,
    /// Not POST or OPTIONS (405).
    MethodNotAllowed,
    /// The body as sent is over 512 KiB (413).
    BodyTooLarge,
    /// The body's coding is unknown (415), corrupt (400) or inflates past the limit (413).
    Encoding(DecodeError),
    /// The credentials name no source (401).
    Unauthorized(AuthError),
    /// The source does not take requests from this `Origin` (403).
    Origin,
    /// The body, or its one event, breaks a rule (400, or 413 for a size).
    Invalid(EventError),
    /// The request's records are more than the spool can ever take in one append (413).
    NeverFits {
        /// The records' size in the spool.
        bytes: u64,
        /// What the spool can take at once.
        limit: u64,
    },
}

impl Rejection {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Rejection::NotFound => StatusCode::NOT_FOUND,
            Rejection::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Rejection::BodyTooLarge | Rejection::NeverFits { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::Encoding(DecodeError::Unsupported(_)) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Rejection::Encoding(DecodeError::TooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::Encoding(DecodeError::Corrupt { .. }) => StatusCode::BAD_REQUEST,
            Rejection::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Rejection::Origin => StatusCode::FORBIDDEN,
            Rejection::Invalid(e) if e.is_too_large() => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::Invalid(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// The API's error code.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::NotFound => "NOT_FOUND",
            Rejection::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Rejection::BodyTooLarge
            | Rejection::NeverFits { .. }
            | Rejection::Encoding(DecodeError::TooLarge { .. }) => "TOO_LARGE",
            Rejection::Encoding(DecodeError::Unsupported(_)) => "UNSUPPORTED_ENCODING",
            Rejection::Encoding(DecodeError::Corrupt { .. }) => "INVALID_REQUEST",
            Rejection::Unauthorized(_) => "UNAUTHORIZED",
            Rejection::Origin => "FORBIDDEN",
            Rejection::Invalid(e) => e.code(),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::NotFound => f.write_str("no such endpoint"),
            Rejection::MethodNotAllowed => f.write_str("use POST"),
            Rejection::BodyTooLarge => {
                write!(f, "body is over the limit of {MAX_BODY_BYTES} bytes")
            }
            Rejection::Encoding(e) => e.fmt(f),
            Rejection::Unauthorized(e) => e.fmt(f),
            Rejection::Origin => {
                f.write_str("this source does not take requests from the request's Origin")
            }
            Rejection::Invalid(e) => e.fmt(f),
            Rejection::NeverFits { bytes, limit } => write!(
                f,
                "the request's events take {bytes} bytes in the spool, more than it can ever \
                 take at once ({limit}): send fewer or smaller events"
            ),
        }
    }
}

impl std::error::Error for Rejection {}

/// The endpoint of `path` for `method`.
///
/// # Errors
///
/// [`Rejection::NotFound`], [`Rejection::MethodNotAllowed`].
pub fn route(method: &Method, path: &str) -> Result<Route, Rejection> {
    let t = |t| (Shape::Event(Some(t)), false);
    let (shape, hmac_required) = match path {
        "/v1/t" | "/v1/track" => t(EventType::Track),
        "/v1/p" | "/v1/page" => t(EventType::Page),
        "/v1/i" | "/v1/identify" => t(EventType::Identify),
        "/v1/g" | "/v1/group" => t(EventType::Group),
        "/v1/batch" => (Shape::Batch, false),
        "/v1/events" => (Shape::EventOrBatch, true),
        _ => return Err(Rejection::NotFound),
    };
    if method == Method::OPTIONS {
        Ok(Route::Preflight)
    } else if method == Method::POST {
        Ok(Route::Ingest {
            shape,
            hmac_required,
        })
    } else {
        Err(Rejection::MethodNotAllowed)
    }
}

/// A request whose credentials and origin are good.
#[derive(Debug, Clone)]
pub struct Admitted {
    /// The source it came from.
    pub source: SourceRecord,
    /// The body inflated, when it was sent compressed.
    pub inflated: Option<Vec<u8>>,
}

impl Admitted {
    /// The body to parse: the inflated one, else `wire` as it came.
    pub fn body<'a>(&'a self, wire: &'a [u8]) -> &'a [u8] {
        self.inflated.as_deref().unwrap_or(wire)
    }
}

/// Undoes the body's coding, authenticates, and checks the origin.
///
/// # Errors
///
/// [`Rejection::BodyTooLarge`], [`Rejection::Encoding`], [`Rejection::Unauthorized`],
/// [`Rejection::Origin`].
pub fn admit(
    req: &Request<'_>,
    sources: &[SourceRecord],
    hmac_required: bool,
) -> Result<Admitted, Rejection> {
    if req.body.len() > MAX_BODY_BYTES {
        return Err(Rejection::BodyTooLarge);
    }
    let coding = encoding::coding_of(req.headers).map_err(Rejection::Encoding)?;
    let inflated =
        encoding::decode(coding, req.body, MAX_BODY_BYTES).map_err(Rejection::Encoding)?;
    let mut bodies: Vec<&[u8]> = vec![req.body];
    if let Some(b) = &inflated {
        bodies.push(b);
    }
    let source = authenticate(sources, req.headers, &bodies, hmac_required, req.now_ms)
        .map_err(Rejection::Unauthorized)?;
    if !cors::admits(source, req.headers) {
        return Err(Rejection::Origin);
    }
    Ok(Admitted {
        source: source.clone(),
        inflated,
    })
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
}

impl Envelope<'_> {
    /// The record of one event, given its `type` when the endpoint implied it.
    fn record(&self, raw: &[u8], typed: bool, kind: EventType) -> Vec<u8> {
        let mut rec = Vec::with_capacity(raw.len() + self.context.len() + 96);
        rec.extend_from_slice(b"{\"receivedAt\":");
        rec.extend_from_slice(self.received.to_string().as_bytes());
        rec.extend_from_slice(b",\"sourceId\":");
        signal_core::json::write_str(&mut rec, self.source);
        rec.extend_from_slice(b",\"context\":");
        rec.extend_from_slice(&self.context);
        rec.extend_from_slice(b",\"batch\":[");
        if typed {
            rec.extend_from_slice(raw);
        } else {
            rec.extend_from_slice(&with_first_key(raw, "type", kind.as_str()));
        }
        rec.extend_from_slice(b"]}");
        rec
    }
}

/// `s` cut to at most `max` bytes, at a character boundary.
fn capped(s: &str, max: usize) -> &str {
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

/// The `_dfid` cookie's id, when it has a usable one.
fn cookie_id(headers: &HeaderMap) -> Option<String> {
    headers
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
        .map(str::to_owned)
}

/// Parses `body`, as `req` sent it to `source` for `shape`, into spool records. `new_id` makes
/// an anonymousId for a browser that has none.
///
/// # Errors
///
/// [`Rejection::Invalid`] for a body refused whole (not JSON, not a batch, one invalid event).
pub fn build(
    req: &Request<'_>,
    body: &[u8],
    source: &SourceRecord,
    shape: Shape,
    new_id: &mut dyn FnMut() -> String,
) -> Result<Built, Rejection> {
    let browser = req.headers.contains_key("origin") || req.headers.contains_key("cookie");
    let cookie = cookie_id(req.headers);
    let mut new_cookie: Option<String> = None;
    let mut browser_id = |new_cookie: &mut Option<String>| match (&cookie, &*new_cookie) {
        (Some(c), _) | (None, Some(c)) => c.clone(),
        (None, None) => {
            let fresh = new_id();
            *new_cookie = Some(fresh.clone());
            fresh
        }
    };
    let ua = req
        .headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .map(|v| capped(v, MAX_USER_AGENT_BYTES))
        .unwrap_or_default();
    let ip = client_ip(req.headers, req.peer);
    let link_trait = signal_core::Blueprint::get("pendo")
        .map_or_else(|| "accountId".to_owned(), |b| b.metadata.link_trait.clone());
    // A single browser event without ids takes the cookie's (or a new) anonymousId.
    let needs_id = browser
        && matches!(shape, Shape::Event(_))
        && SECOND.with_borrow_mut(|p| {
            let mut probe = padded(body);
            p.parse_padded(&mut probe, body.len(), shape)
                .err()
                .is_some_and(|e| matches!(e.rule(), Rule::NoIdentity))
        });
    let injected;
    let body = if needs_id {
        injected = with_first_key(body, "anonymousId", &browser_id(&mut new_cookie));
        &injected[..]
    } else {
        body
    };
    PARSER.with_borrow_mut(|parser| {
        let mut buf = padded(body);
        let doc = parser
            .parse_padded(&mut buf, body.len(), shape)
            .map_err(Rejection::Invalid)?;
        // The batch's context as the client sent it: it is copied into every event's record,
        // so it counts against each event's limit.
        let mut client_context = Vec::new();
        doc.write_batch_context(&mut client_context, &[]);
        let merged = if doc.is_batch() && client_context.len() > 2 {
            client_context.len()
        } else {
            0
        };
        let mut extra: Vec<(&str, &str)> = vec![("ip", &ip)];
        if !ua.is_empty() {
            extra.push(("userAgent", ua));
        }
        let mut envelope = Envelope {
            received: req.now_ms,
            source: &source.id,
            context: client_context,
        };
        envelope.context.clear();
        doc.write_batch_context(&mut envelope.context, &extra);
        let mut built = Built::default();
        for (i, event) in doc.events().enumerate() {
            let raw = doc
                .span(i)
                .and_then(|r| body.get(r))
                .unwrap_or(body)
                .trim_ascii();
            if merged > 0 && raw.len() + merged > MAX_EVENT_BYTES {
                built.rejected.push(Rejected {
                    index: i,
                    code: "TOO_LARGE",
                    message: format!(
                        "batch[{i}]: event is over the limit of {MAX_EVENT_BYTES} bytes with \
                         the batch's context ({merged} bytes) merged in"
                    ),
                });
                continue;
            }
            let reject = |e: EventError| Rejected {
                index: i,
                code: e.code(),
                message: e.to_string(),
            };
            match event {
                Ok(ev) => built.events.push(Prepared {
                    record: envelope.record(raw, ev.typed, ev.kind),
                    message_id: ev.message_id.map(str::to_owned),
                    links: links_of(&ev, &link_trait)
                        .into_iter()
                        .map(OwnedLink::of)
                        .collect(),
                }),
                Err(e) if browser && matches!(e.rule(), Rule::NoIdentity) => {
                    let with_id = with_first_key(raw, "anonymousId", &browser_id(&mut new_cookie));
                    let implied = match shape {
                        Shape::Event(t) => t,
                        _ => None,
                    };
                    let checked = SECOND.with_borrow_mut(|p| {
                        let mut buf = padded(&with_id);
                        let doc = p.parse_padded(&mut buf, with_id.len(), Shape::Event(implied))?;
                        let ev = doc.event(0)?;
                        Ok::<_, EventError>(Prepared {
                            record: envelope.record(&with_id, ev.typed, ev.kind),
                            message_id: ev.message_id.map(str::to_owned),
                            links: links_of(&ev, &link_trait)
                                .into_iter()
                                .map(OwnedLink::of)
                                .collect(),
                        })
                    });
                    match checked {
                        Ok(p) => built.events.push(p),
                        Err(e) if !doc.is_batch() => return Err(Rejection::Invalid(e)),
                        Err(e) => built.rejected.push(reject(e)),
                    }
                }
                Err(e) if !doc.is_batch() => return Err(Rejection::Invalid(e)),
                Err(e) => built.rejected.push(reject(e)),
            }
        }
        built.new_cookie = new_cookie;
        Ok(built)
    })
}

/// `body` followed by the parser's padding.
fn padded(body: &[u8]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(body.len() + PADDING);
    buf.extend_from_slice(body);
    buf.resize(body.len() + PADDING, b' ');
    buf
}

#[cfg(test)]
#[path = "gateway_tests.rs"]
mod tests;
