//! The ingestion gateway (interface.md section 2): authentication (Bearer pipeline key, Basic
//! write key, HMAC), CORS, limits, per-event validation with partial acceptance, enrichment,
//! deduplication, identity links, and the spool. A 200 is sent only once the events are durable.

use crate::app::{Shared, lock, now_ms};
use crate::http::{BodyError, Resp, json, read_body};
use base64::Engine as _;
use bytes::Bytes;
use hmac::{KeyInit, Mac};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, Request, StatusCode};
use serde_json::{Value, json};
use signal_core::limits::MAX_BODY_BYTES;
use signal_core::{EventType, Link, PADDING, Parser, Rule, Shape, links_of};
use signal_store::SourceRecord;
use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::Arc;

thread_local! {
    static PARSER: RefCell<Parser> = RefCell::new(Parser::new());
    /// For re-reading one event with the cookie's anonymousId, while `PARSER`'s document lives.
    static SECOND: RefCell<Parser> = RefCell::new(Parser::new());
}

fn shape_of(path: &str) -> Option<(Shape, bool)> {
    let t = |t| Some((Shape::Event(Some(t)), false));
    match path {
        "/v1/t" | "/v1/track" => t(EventType::Track),
        "/v1/p" | "/v1/page" => t(EventType::Page),
        "/v1/i" | "/v1/identify" => t(EventType::Identify),
        "/v1/g" | "/v1/group" => t(EventType::Group),
        "/v1/batch" => Some((Shape::Batch, false)),
        "/v1/events" => Some((Shape::EventOrBatch, true)),
        _ => None,
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Resp {
    json(
        status,
        &json!({"success": false, "error": {"code": code, "message": message}}),
    )
}

/// CORS: the request's origin, when the source allows it (an empty allow-list allows any).
fn cors(resp: &mut Resp, headers: &HeaderMap, source: Option<&SourceRecord>) {
    let Some(origin) = headers.get("origin").and_then(|v| v.to_str().ok()) else {
        return;
    };
    let allowed = source.is_none_or(|s| {
        s.allowed_origins.is_empty() || s.allowed_origins.iter().any(|o| o == origin)
    });
    if !allowed {
        return;
    }
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(origin) {
        h.insert("access-control-allow-origin", v);
    }
    h.insert(
        "access-control-allow-credentials",
        HeaderValue::from_static("true"),
    );
    h.insert(
        "access-control-allow-headers",
        HeaderValue::from_static("authorization, content-type, x-timestamp, x-signature"),
    );
    h.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("POST, OPTIONS"),
    );
    h.insert("access-control-max-age", HeaderValue::from_static("86400"));
    h.insert("vary", HeaderValue::from_static("Origin"));
}

/// An error that asks the client to retry after `secs` seconds.
fn retry_later(status: StatusCode, code: &str, message: &str, secs: &'static str) -> Resp {
    let mut r = error(status, code, message);
    r.headers_mut()
        .insert("retry-after", HeaderValue::from_static(secs));
    r
}

fn ct_eq(a: &str, b: &str) -> bool {
    crate::secrets::credential_matches(a, b)
}

/// The source a request's credentials name, or why none.
fn authenticate(
    shared: &Shared,
    headers: &HeaderMap,
    body: &[u8],
    hmac_required: bool,
) -> Result<SourceRecord, &'static str> {
    let sources = shared
        .sources
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let (Some(ts), Some(sig)) = (headers.get("x-timestamp"), headers.get("x-signature")) {
        let ts = ts.to_str().map_err(|_| "bad X-Timestamp")?;
        let ms: i64 = ts
            .parse()
            .map_err(|_| "X-Timestamp is not unix milliseconds")?;
        if (now_ms() - ms).abs() > 300_000 {
            return Err("X-Timestamp is more than 300 s from the server's clock");
        }
        let sig = sig.to_str().map_err(|_| "bad X-Signature")?;
        let hex = sig
            .strip_prefix("sha256=")
            .ok_or("X-Signature must be sha256=<hex>")?;
        for s in sources.iter().filter(|s| !s.secret.is_empty()) {
            let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(s.secret.as_bytes())
            else {
                continue;
            };
            mac.update(ts.as_bytes());
            mac.update(b".");
            mac.update(body);
            let expected: String = mac
                .finalize()
                .into_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            if ct_eq(&expected, hex) {
                return Ok(s.clone());
            }
        }
        return Err("bad signature");
    }
    if hmac_required {
        return Err("this endpoint needs an HMAC signature (X-Timestamp, X-Signature)");
    }
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or("missing Authorization")?;
    let key = if let Some(k) = auth.strip_prefix("Bearer ") {
        k.trim().to_owned()
    } else if let Some(b) = auth.strip_prefix("Basic ") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b.trim())
            .map_err(|_| "bad Basic credentials")?;
        let text = String::from_utf8(decoded).map_err(|_| "bad Basic credentials")?;
        text.split(':').next().unwrap_or_default().to_owned()
    } else {
        return Err("Authorization must be Bearer or Basic");
    };
    sources
        .iter()
        .find(|s| ct_eq(&s.pipeline_key, &key))
        .cloned()
        .ok_or("unknown pipeline key")
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

/// The spool record of one event: `{"receivedAt":..,"context":{..},"batch":[event]}`, the event
/// given its `type` when the endpoint implied it.
fn envelope(received: i64, ctx: &[u8], raw: &[u8], typed: bool, kind: EventType) -> Vec<u8> {
    let mut rec = Vec::with_capacity(raw.len() + ctx.len() + 64);
    rec.extend_from_slice(b"{\"receivedAt\":");
    rec.extend_from_slice(received.to_string().as_bytes());
    rec.extend_from_slice(b",\"context\":");
    rec.extend_from_slice(ctx);
    rec.extend_from_slice(b",\"batch\":[");
    if typed {
        rec.extend_from_slice(raw);
    } else {
        rec.extend_from_slice(&with_first_key(raw, "type", kind.as_str()));
    }
    rec.extend_from_slice(b"]}");
    rec
}

/// Owned identity links, to be written after the parse's borrows end.
enum OwnedLink {
    User(String, String),
    Account(String, String),
    Group(String, String),
}

/// Handles one ingestion request.
pub async fn handle(shared: Arc<Shared>, req: Request<Incoming>, peer: SocketAddr) -> Resp {
    let path = req.uri().path().to_owned();
    let Some((shape, hmac_required)) = shape_of(&path) else {
        return error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such endpoint");
    };
    if req.method() == Method::OPTIONS {
        let mut r = crate::http::text(StatusCode::NO_CONTENT, "text/plain", "");
        cors(&mut r, req.headers(), None);
        return r;
    }
    if req.method() != Method::POST {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "use POST",
        );
    }
    let (parts, body) = match read_body(req, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            shared.gateway_count("unknown", "rejected_TOO_LARGE", 1);
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "TOO_LARGE",
                "body is over the limit of 524288 bytes",
            );
        }
        Err(BodyError::Broken) => {
            return error(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "the body could not be read",
            );
        }
    };
    let source = match authenticate(&shared, &parts.headers, &body, hmac_required) {
        Ok(s) => s,
        Err(why) => {
            shared.gateway_count("unknown", "rejected_UNAUTHORIZED", 1);
            let mut r = error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", why);
            cors(&mut r, &parts.headers, None);
            return r;
        }
    };
    let limiter = lock(&shared.limiters)
        .entry(source.id.clone())
        .or_insert_with(|| {
            let rate = std::num::NonZeroU32::new(source.rate_limit_per_second.max(1))
                .unwrap_or(std::num::NonZeroU32::MIN);
            Arc::new(governor::RateLimiter::direct(governor::Quota::per_second(
                rate,
            )))
        })
        .clone();
    if limiter.check().is_err() {
        shared.gateway_count(&source.id, "rejected_RATE_LIMITED", 1);
        let mut r = retry_later(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            "over this source's rate limit",
            "1",
        );
        cors(&mut r, &parts.headers, Some(&source));
        return r;
    }
    // The first X-Forwarded-For entry, when the request came through a proxy on this host.
    let ip = parts
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|v| peer.ip().is_loopback() && v.parse::<std::net::IpAddr>().is_ok())
        .map_or_else(|| peer.ip().to_string(), str::to_owned);
    // First-party identity for browsers: the `_dfid` cookie, or a new one when an event needs it.
    let browser = parts.headers.contains_key("origin") || parts.headers.contains_key("cookie");
    let cookie_id = parts
        .headers
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
    let mut new_cookie: Option<String> = None;
    let ua = parts
        .headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let received = now_ms();
    let link_trait = signal_core::Blueprint::get("pendo")
        .map_or_else(|| "accountId".to_owned(), |b| b.metadata.link_trait.clone());
    // Parse and build the spool records synchronously: the parser is this thread's.
    // A single browser event without ids takes the cookie's (or a new) anonymousId.
    let single = matches!(shape, Shape::Event(_));
    let needs_id = browser && single && {
        let mut probe = Vec::with_capacity(body.len() + PADDING);
        probe.extend_from_slice(&body);
        probe.resize(body.len() + PADDING, b' ');
        SECOND.with_borrow_mut(|p| {
            p.parse_padded(&mut probe, body.len(), shape)
                .err()
                .is_some_and(|e| matches!(e.rule(), Rule::NoIdentity))
        })
    };
    let body: Bytes = if needs_id {
        let id = cookie_id.clone().unwrap_or_else(|| {
            let fresh = crate::app::random_token(32).unwrap_or_default();
            new_cookie = Some(fresh.clone());
            fresh
        });
        Bytes::from(with_first_key(&body, "anonymousId", &id))
    } else {
        body
    };
    let built = PARSER.with_borrow_mut(|parser| {
        let mut buf = Vec::with_capacity(body.len() + PADDING);
        buf.extend_from_slice(&body);
        buf.resize(body.len() + PADDING, b' ');
        let doc = match parser.parse_padded(&mut buf, body.len(), shape) {
            Ok(d) => d,
            Err(e) => return Err(e),
        };
        let mut ctx = Vec::new();
        let mut extra: Vec<(&str, &str)> = vec![("ip", &ip)];
        if !ua.is_empty() {
            extra.push(("userAgent", &ua));
        }
        doc.write_batch_context(&mut ctx, &extra);
        let mut records = Vec::new();
        let mut rejected = Vec::new();
        let mut links = Vec::new();
        let mut duplicates = 0;
        for (i, event) in doc.events().enumerate() {
            let ev = match event {
                Ok(ev) => ev,
                Err(e) if browser && matches!(e.rule(), Rule::NoIdentity) => {
                    let id = match (&cookie_id, &new_cookie) {
                        (Some(c), _) | (None, Some(c)) => c.clone(),
                        (None, None) => {
                            let fresh = crate::app::random_token(32).unwrap_or_default();
                            new_cookie = Some(fresh.clone());
                            fresh
                        }
                    };
                    let raw = doc.span(i).map_or(&body[..], |r| &body[r]);
                    let injected = with_first_key(raw, "anonymousId", &id);
                    let implied = match shape {
                        Shape::Event(t) => t,
                        _ => None,
                    };
                    let checked = SECOND.with_borrow_mut(|p| {
                        let len = injected.len();
                        let mut buf = injected.clone();
                        buf.resize(len + PADDING, b' ');
                        p.parse_padded(&mut buf, len, Shape::Event(implied))
                            .and_then(|d| d.event(0).map(|ev| (ev.typed, ev.kind)))
                    });
                    match checked {
                        Ok((typed, kind)) => {
                            records.push(envelope(received, &ctx, &injected, typed, kind))
                        }
                        Err(e) if !doc.is_batch() => return Err(e),
                        Err(e) => rejected
                            .push(json!({"index": i, "code": e.code(), "message": e.to_string()})),
                    }
                    continue;
                }
                Err(e) if !doc.is_batch() => return Err(e),
                Err(e) => {
                    rejected.push(json!({"index": i, "code": e.code(), "message": e.to_string()}));
                    continue;
                }
            };
            if let Some(mid) = ev.message_id
                && lock(&shared.dedup).seen(&source.id, mid)
            {
                duplicates += 1;
                continue;
            }
            for l in links_of(&ev, &link_trait) {
                links.push(match l {
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
                });
            }
            let raw = doc.span(i).map_or(&body[..], |r| &body[r]);
            records.push(envelope(received, &ctx, raw, ev.typed, ev.kind));
        }
        Ok((records, rejected, links, duplicates, new_cookie))
    });
    let (records, rejected, links, duplicates, new_cookie) = match built {
        Ok(b) => b,
        Err(e) => {
            shared.gateway_count(&source.id, &format!("rejected_{}", e.code()), 1);
            let status = if e.is_too_large() {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            };
            let mut r = error(status, e.code(), &e.to_string());
            cors(&mut r, &parts.headers, Some(&source));
            return r;
        }
    };
    if !links.is_empty() {
        let store = shared.store.clone();
        let written = tokio::task::spawn_blocking(move || {
            let borrowed: Vec<Link<'_>> = links
                .iter()
                .map(|l| match l {
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
                })
                .collect();
            store.record_links(&borrowed)
        })
        .await;
        if !matches!(written, Ok(Ok(()))) {
            return retry_later(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                "identity links could not be stored; retry",
                "5",
            );
        }
    }
    let accepted = records.len() + duplicates;
    if !records.is_empty()
        && let Err(e) = shared.spool.append(records).await
    {
        tracing::error!(error = %e, "spool append failed");
        let mut r = retry_later(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "events could not be made durable; retry",
            "5",
        );
        cors(&mut r, &parts.headers, Some(&source));
        return r;
    }
    let mut v = json!({"success": true, "accepted": accepted});
    if !rejected.is_empty() {
        shared.gateway_count(&source.id, "rejected", rejected.len() as u64);
        v["rejected"] = Value::Array(rejected);
    }
    shared.gateway_count(&source.id, "accepted", accepted as u64);
    let mut r = json(StatusCode::OK, &v);
    if let Some(id) = new_cookie
        && let Ok(c) = HeaderValue::from_str(&format!(
            "_dfid={id}; Path=/; Max-Age=63072000; HttpOnly; Secure; SameSite=Lax"
        ))
    {
        r.headers_mut().insert("set-cookie", c);
    }
    cors(&mut r, &parts.headers, Some(&source));
    r
}
