//! The ingestion gateway's handler (interface.md section 2): a key (Bearer, Basic) checked from
//! the headers, the body read under its size and time limits and the listener's byte budget
//! (held until the answer, 503 when it is spent), then the pure steps of `gateway.rs` (encoding, authentication, origin, parsing,
//! records), with the stateful ones between them: the source's rate limit, deduplication,
//! identity links and the spool. A 200 is sent only once the events are durable, and a messageId
//! is remembered only then.

use crate::app::{Shared, lock, now_ms};
use crate::cors::{self, Audience};
use crate::encoding::DecodeError;
use crate::gateway::{self, Admitted, Built, Prepared, Rejection, Route};
use crate::http::{Buffered, ReadError, Resp, json, read_budgeted};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Request, StatusCode};
use serde_json::{Value, json};
use signal_core::limits::MAX_BODY_BYTES;
use signal_store::SourceRecord;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError};
use tokio::sync::Semaphore;

fn error(status: StatusCode, code: &str, message: &str) -> Resp {
    json(
        status,
        &json!({"success": false, "error": {"code": code, "message": message}}),
    )
}

/// An error that asks the client to retry after `secs` seconds.
fn retry_later(status: StatusCode, code: &str, message: &str, secs: &'static str) -> Resp {
    let mut r = error(status, code, message);
    r.headers_mut()
        .insert("retry-after", HeaderValue::from_static(secs));
    r
}

/// The answer to a request refused whole, with CORS headers for `source` (or, when it is not
/// known, for any source that takes the origin).
fn refuse(
    shared: &Shared,
    rej: &Rejection,
    request: &HeaderMap,
    source: Option<&SourceRecord>,
) -> Resp {
    shared.gateway_count(
        source.map_or("unknown", |s| &s.id),
        &format!("rejected_{}", rej.code()),
        1,
    );
    let mut r = error(rej.status(), rej.code(), &rej.to_string());
    if let Rejection::Encoding(DecodeError::Unsupported(_)) = rej {
        r.headers_mut()
            .insert("accept-encoding", HeaderValue::from_static("gzip, deflate"));
    }
    // A refused origin is never named back, even when another source would take it.
    if *rej != Rejection::Origin {
        with_cors(shared, &mut r, request, source);
    }
    r
}

fn with_cors(shared: &Shared, resp: &mut Resp, request: &HeaderMap, source: Option<&SourceRecord>) {
    match source {
        Some(s) => cors::add_headers(resp.headers_mut(), request, Audience::Source(s)),
        None => {
            let sources = shared
                .sources
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            cors::add_headers(resp.headers_mut(), request, Audience::AnyOf(&sources));
        }
    }
}

/// Handles one ingestion request.
pub async fn handle(shared: Arc<Shared>, req: Request<Incoming>, peer: SocketAddr) -> Resp {
    let (shape, hmac_required) = match gateway::route(req.method(), req.uri().path()) {
        Ok(Route::Ingest {
            shape,
            hmac_required,
        }) => (shape, hmac_required),
        Ok(Route::Preflight) => {
            let mut r = crate::http::text(StatusCode::NO_CONTENT, "text/plain", "");
            with_cors(&shared, &mut r, req.headers(), None);
            return r;
        }
        Err(rej) => return error(rej.status(), rej.code(), &rej.to_string()),
    };
    if let Some(r) = refused_by_headers(&shared, req.headers(), hmac_required) {
        return r;
    }
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let buffered = match read_budgeted(req, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(e) => return unread(&shared, e),
    };
    let Buffered {
        parts, bytes: wire, ..
    } = &buffered;
    let request = gateway::Request {
        method: &method,
        path: &path,
        headers: &parts.headers,
        body: wire,
        peer: peer.ip(),
        now_ms: now_ms(),
    };
    let admitted = if crate::auth::is_signed(&parts.headers) {
        match admit_signed(&shared, &request, wire.clone(), hmac_required).await {
            Some(a) => a,
            None => {
                return retry_later(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "UNAVAILABLE",
                    "the signature could not be checked; retry",
                    "1",
                );
            }
        }
    } else {
        let sources = shared
            .sources
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        gateway::admit(&request, &sources, hmac_required)
    };
    let Admitted { source, inflated } = match admitted {
        Ok(a) => a,
        Err(rej) => return refuse(&shared, &rej, &parts.headers, None),
    };
    if let Some(r) = rate_limited(&shared, &source, &parts.headers) {
        return r;
    }
    // What the body became is held under the same budget as the bytes that came in: an
    // inflated body, and the records built from it.
    if let Some(inflated) = &inflated
        && let Err(e) = buffered.hold(wire.len() + inflated.len())
    {
        return unread(&shared, e);
    }
    let body = inflated.as_deref().unwrap_or(wire);
    let built = gateway::build(&request, body, &source, shape, &mut || {
        crate::app::random_token(32).unwrap_or_default()
    })
    .and_then(|b| b.check_fits(shared.spool_limit).map(|()| b));
    let built = match built {
        Ok(b) => b,
        Err(rej) => return refuse(&shared, &rej, &parts.headers, Some(&source)),
    };
    let records: usize = built.events.iter().map(|p| p.record.len()).sum();
    let made = wire.len() + inflated.as_ref().map_or(0, Vec::len) + records;
    if let Err(e) = buffered.hold(made) {
        return unread(&shared, e);
    }
    let mut r = store(&shared, &source, built).await;
    with_cors(&shared, &mut r, &parts.headers, Some(&source));
    r
}

/// Signed requests being checked at once, node-wide. Checking one is up to one HMAC per source
/// over up to 512 KiB (and, once a source matches, an inflate), before anything says who sent
/// it: the checks run on blocking threads, two at a time, so that signed junk cannot hold the
/// async workers that answer everyone else, nor the sources lock.
static SIGNATURE_CHECKS: Semaphore = Semaphore::const_new(2);

/// [`gateway::admit`] of a signed request, on a blocking thread under [`SIGNATURE_CHECKS`];
/// `None` if the check did not finish (it panicked).
async fn admit_signed(
    shared: &Shared,
    req: &gateway::Request<'_>,
    wire: bytes::Bytes,
    hmac_required: bool,
) -> Option<Result<Admitted, Rejection>> {
    let sources = shared
        .sources
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let (method, path, headers) = (req.method.clone(), req.path.to_owned(), req.headers.clone());
    let (peer, now_ms) = (req.peer, req.now_ms);
    let _turn = SIGNATURE_CHECKS.acquire().await.ok()?;
    tokio::task::spawn_blocking(move || {
        let req = gateway::Request {
            method: &method,
            path: &path,
            headers: &headers,
            body: &wire,
            peer,
            now_ms,
        };
        gateway::admit(&req, &sources, hmac_required)
    })
    .await
    .ok()
}

/// A 401 for a request whose headers already show it has no good key (a signed request is
/// checked once its body is read): its body is never read.
fn refused_by_headers(shared: &Shared, headers: &HeaderMap, hmac_required: bool) -> Option<Resp> {
    let sources = shared
        .sources
        .read()
        .unwrap_or_else(PoisonError::into_inner);
    let rej = Rejection::Unauthorized(
        crate::auth::authenticate_headers(&sources, headers, hmac_required).err()?,
    );
    drop(sources);
    Some(refuse(shared, &rej, headers, None))
}

/// The answer to a body that could not be read.
fn unread(shared: &Shared, e: ReadError) -> Resp {
    match e {
        ReadError::TooLarge => {
            shared.gateway_count("unknown", "rejected_TOO_LARGE", 1);
            error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "TOO_LARGE",
                &Rejection::BodyTooLarge.to_string(),
            )
        }
        ReadError::TimedOut => error(
            StatusCode::REQUEST_TIMEOUT,
            "TIMEOUT",
            "the body did not arrive in time",
        ),
        ReadError::Busy => {
            shared.gateway_count("unknown", "rejected_BUSY", 1);
            retry_later(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                "the node is busy: too many request bodies are being received at once; retry",
                "1",
            )
        }
        ReadError::Broken => error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "the body could not be read",
        ),
    }
}

/// A 429 when `source` is over its rate limit.
fn rate_limited(shared: &Shared, source: &SourceRecord, headers: &HeaderMap) -> Option<Resp> {
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
    if limiter.check().is_ok() {
        return None;
    }
    shared.gateway_count(&source.id, "rejected_RATE_LIMITED", 1);
    let mut r = retry_later(
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED",
        "over this source's rate limit",
        "1",
    );
    with_cors(shared, &mut r, headers, Some(source));
    Some(r)
}

/// The events not seen before: a messageId twice in one request counts once, and one already
/// durable from an earlier request is not stored again. Returns them and how many were dropped.
fn fresh_events(shared: &Shared, source: &str, events: Vec<Prepared>) -> (Vec<Prepared>, usize) {
    let dedup = lock(&shared.dedup);
    let mut here = HashSet::new();
    let before = events.len();
    let fresh: Vec<Prepared> = events
        .into_iter()
        .filter(|e| {
            e.message_id
                .as_deref()
                .is_none_or(|id| !dedup.contains(source, id) && here.insert(id.to_owned()))
        })
        .collect();
    let dropped = before - fresh.len();
    (fresh, dropped)
}

/// Writes the links and appends the records; the answer.
///
/// Identity links are shared by every source, not kept per source: the node serves one
/// organisation, every integration receives every source's events, and a visitor identified by
/// the web site must be the same visitor when the back end sends their events. Each record names
/// its source (`sourceId`), so where a link came from can be traced.
async fn store(shared: &Shared, source: &SourceRecord, built: Built) -> Resp {
    let Built {
        events,
        rejected,
        new_cookie,
    } = built;
    let (events, duplicates) = fresh_events(shared, &source.id, events);
    let links: Vec<_> = events
        .iter()
        .flat_map(|e| e.links.iter().cloned())
        .collect();
    if !links.is_empty() {
        let store = shared.store.clone();
        let written = tokio::task::spawn_blocking(move || {
            let borrowed: Vec<_> = links.iter().map(|l| l.as_link()).collect();
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
    let accepted = events.len() + duplicates;
    let mut ids = Vec::with_capacity(events.len());
    let mut records = Vec::with_capacity(events.len());
    for e in events {
        ids.push(e.message_id);
        records.push(e.record);
    }
    if !records.is_empty() {
        if let Err(e) = shared.spool.append(records).await {
            tracing::error!(error = %e, "spool append failed");
            return retry_later(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                "events could not be made durable; retry",
                "5",
            );
        }
        // Durable now: only from here is a retry of these ids a duplicate.
        let mut dedup = lock(&shared.dedup);
        for id in ids.iter().flatten() {
            dedup.remember(&source.id, id);
        }
    }
    let mut v = json!({"success": true, "accepted": accepted});
    if !rejected.is_empty() {
        shared.gateway_count(&source.id, "rejected", rejected.len() as u64);
        v["rejected"] = Value::Array(
            rejected
                .into_iter()
                .map(|r| json!({"index": r.index, "code": r.code, "message": r.message}))
                .collect(),
        );
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
    r
}

#[cfg(test)]
#[path = "ingest_tests.rs"]
mod tests;
