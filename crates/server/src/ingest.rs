//! The ingestion gateway's handler (interface.md section 2), as its stages in order; each one
//! that stops the request answers for it:
//!
//! 1. [`route`]: the endpoint (404, 405; a CORS preflight is answered here, and the first-party
//!    tag, `GET /v1/datafly.js`, by `tag.rs`);
//! 2. [`authenticate`]: a key (Bearer, Basic) checked from the headers, before any body is read
//!    (a signed request, or one with no credentials whose body may carry a `writeKey`, is
//!    checked once its body is read, in [`admit`]);
//! 3. [`read`]: the body under its size and time limits and the listener's byte budget (held
//!    until the answer; 503 when it is spent);
//! 4. [`admit`]: the signature, the body's coding undone, the origin; then [`throttle`], the
//!    source's rate limit;
//! 5. [`parse_and_enrich`]: parsed and validated, one spool record per event with its source,
//!    the request's ip and User-Agent and the batch's context (`gateway::build`, pure);
//! 6. [`store`]: [`deduplicate`] (messageIds seen), [`link_identities`] (identity links to the
//!    store), [`spool`] (the append, made durable), [`answer`] (the 200 and its counters).
//!
//! A 200 is sent only once the events are durable, and a messageId is remembered only then.

use crate::clock::now_ms;
use crate::cors::{self, Audience};
use crate::encoding::DecodeError;
use crate::gateway::{self, Admitted, Built, Prepared, Rejected, Rejection, Route};
use crate::http::{Buffered, ReadError, Resp, json, read_budgeted};
use crate::state::GatewayState;
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Request, StatusCode};
use serde_json::{Value, json};
use signal_core::Shape;
use signal_core::limits::MAX_BODY_BYTES;
use signal_store::SourceRecord;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
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
    gw: &GatewayState,
    rej: &Rejection,
    request: &HeaderMap,
    source: Option<&SourceRecord>,
) -> Resp {
    gw.count(
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
        with_cors(gw, &mut r, request, source);
    }
    r
}

fn with_cors(
    gw: &GatewayState,
    resp: &mut Resp,
    request: &HeaderMap,
    source: Option<&SourceRecord>,
) {
    match source {
        Some(s) => cors::add_headers(resp.headers_mut(), request, Audience::Source(s)),
        None => {
            let sources = gw.sources();
            cors::add_headers(resp.headers_mut(), request, Audience::AnyOf(&sources));
        }
    }
}

/// Handles one ingestion request.
pub async fn handle(gateway: Arc<GatewayState>, req: Request<Incoming>, peer: SocketAddr) -> Resp {
    match stages(&gateway, req, peer).await {
        Ok(answer) => answer,
        Err(refusal) => *refusal,
    }
}

/// The stages in order; `Err` is the answer of the stage that stopped the request.
async fn stages(gw: &GatewayState, req: Request<Incoming>, peer: SocketAddr) -> Stage<Resp> {
    if let Some(tag) = crate::tag::answer(req.method(), req.uri().path(), req.headers()) {
        return Ok(tag);
    }
    let endpoint = route(gw, &req)?;
    authenticate(gw, req.headers(), endpoint.hmac_required)?;
    let received = read(gw, req, peer.ip()).await?;
    let admitted = admit(gw, &received, endpoint.hmac_required).await?;
    throttle(gw, &admitted.source, received.headers())?;
    let built = parse_and_enrich(gw, &received, &admitted, endpoint.shape)?;
    let mut answer = store(gw, &admitted.source, built).await;
    with_cors(gw, &mut answer, received.headers(), Some(&admitted.source));
    Ok(answer)
}

/// What a stage gives the next one, or the answer that ends the request (boxed: an answer is
/// large, and every stage's success would carry its size).
type Stage<T> = Result<T, Box<Resp>>;

/// An ingestion endpoint: what its body holds, and whether it takes only signed requests.
struct Endpoint {
    shape: Shape,
    hmac_required: bool,
}

/// Route: the endpoint, or the answer to a preflight, an unknown path or a wrong method.
fn route(gw: &GatewayState, req: &Request<Incoming>) -> Stage<Endpoint> {
    match gateway::route(req.method(), req.uri().path()) {
        Ok(Route::Ingest {
            shape,
            hmac_required,
        }) => Ok(Endpoint {
            shape,
            hmac_required,
        }),
        Ok(Route::Preflight) => {
            let mut r = crate::http::text(StatusCode::NO_CONTENT, "text/plain", "");
            with_cors(gw, &mut r, req.headers(), None);
            Err(Box::new(r))
        }
        Err(rej) => Err(Box::new(error(rej.status(), rej.code(), &rej.to_string()))),
    }
}

/// Authenticate: a 401 for a request whose headers already show it has no good key (a signed
/// request, and one with no credentials at all, whose body may hold a `writeKey`, are checked
/// once their body is read): its body is never read.
fn authenticate(gw: &GatewayState, headers: &HeaderMap, hmac_required: bool) -> Stage<()> {
    let sources = gw.sources();
    let Err(e) = crate::auth::authenticate_headers(&sources, headers, hmac_required) else {
        return Ok(());
    };
    drop(sources);
    Err(Box::new(refuse(
        gw,
        &Rejection::Unauthorized(e),
        headers,
        None,
    )))
}

/// A request whose body has been read, holding its part of the listener's byte budget.
struct Received {
    buffered: Buffered,
    peer: IpAddr,
    now_ms: i64,
}

impl Received {
    fn headers(&self) -> &HeaderMap {
        &self.buffered.parts.headers
    }

    /// The body as it came (possibly compressed).
    fn wire(&self) -> &bytes::Bytes {
        &self.buffered.bytes
    }

    /// What the gateway's pure steps know of it.
    fn request(&self) -> gateway::Request<'_> {
        gateway::Request {
            method: &self.buffered.parts.method,
            path: self.buffered.parts.uri.path(),
            headers: self.headers(),
            body: self.wire(),
            peer: self.peer,
            now_ms: self.now_ms,
        }
    }

    /// Holds `total` bytes of the budget for what the request made from its body.
    fn hold(&self, gw: &GatewayState, total: usize) -> Stage<()> {
        self.buffered
            .hold(total)
            .map_err(|e| Box::new(unread(gw, e, false)))
    }
}

/// Read: the body, under its size and time limits and the listener's byte budget.
async fn read(gw: &GatewayState, req: Request<Incoming>, peer: IpAddr) -> Stage<Received> {
    // A body read to find its `writeKey` (no credentials in the headers) is a beacon's at most.
    let key_in_body = crate::auth::key_in_body(req.headers());
    let limit = if key_in_body {
        crate::auth::MAX_KEY_IN_BODY_BYTES
    } else {
        MAX_BODY_BYTES
    };
    let buffered = read_budgeted(req, limit)
        .await
        .map_err(|e| Box::new(unread(gw, e, key_in_body)))?;
    Ok(Received {
        buffered,
        peer,
        now_ms: now_ms(),
    })
}

/// Admit: the signature (of a signed request), the body's coding undone, the origin checked.
async fn admit(gw: &GatewayState, received: &Received, hmac_required: bool) -> Stage<Admitted> {
    let request = received.request();
    let admitted = if crate::auth::is_signed(received.headers()) {
        admit_signed(gw, &request, received.wire().clone(), hmac_required)
            .await
            .ok_or_else(|| {
                Box::new(retry_later(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "UNAVAILABLE",
                    "the signature could not be checked; retry",
                    "1",
                ))
            })?
    } else {
        gateway::admit(&request, &gw.sources(), hmac_required)
    };
    admitted.map_err(|rej| Box::new(refuse(gw, &rej, received.headers(), None)))
}

/// Throttle: a 429 when `source` is over its rate limit.
fn throttle(gw: &GatewayState, source: &SourceRecord, headers: &HeaderMap) -> Stage<()> {
    if gw.limiter(source).check().is_ok() {
        return Ok(());
    }
    gw.count(&source.id, "rejected_RATE_LIMITED", 1);
    let mut r = retry_later(
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED",
        "over this source's rate limit",
        "1",
    );
    with_cors(gw, &mut r, headers, Some(source));
    Err(Box::new(r))
}

/// Parse and enrich: the events parsed and validated, each made a spool record with its
/// source, the request's ip and User-Agent and the batch's context; a request the spool could
/// never take in one append is a 413. What the body became (an inflated body, the records built
/// from it) is held under the same budget as the bytes that came in.
fn parse_and_enrich(
    gw: &GatewayState,
    received: &Received,
    admitted: &Admitted,
    shape: Shape,
) -> Stage<Built> {
    let wire = received.wire();
    if let Some(inflated) = &admitted.inflated {
        received.hold(gw, wire.len() + inflated.len())?;
    }
    let built = gateway::build(
        &received.request(),
        admitted.body(wire),
        &admitted.source,
        shape,
        &mut || crate::secrets::random_token(32).unwrap_or_default(),
    )
    .and_then(|b| b.check_fits(gw.spool_limit()).map(|()| b))
    .map_err(|rej| Box::new(refuse(gw, &rej, received.headers(), Some(&admitted.source))))?;
    let records: usize = built.events.iter().map(|p| p.record.len()).sum();
    let made = wire.len() + admitted.inflated.as_ref().map_or(0, Vec::len) + records;
    received.hold(gw, made)?;
    Ok(built)
}

/// The stateful stages, once the records are built: [`deduplicate`], [`link_identities`],
/// [`spool`], [`answer`].
async fn store(gw: &GatewayState, source: &SourceRecord, built: Built) -> Resp {
    let Built {
        events,
        rejected,
        new_cookie,
    } = built;
    let (events, duplicates) = deduplicate(gw, &source.id, events);
    if let Err(r) = link_identities(gw, &events).await {
        return *r;
    }
    let accepted = events.len() + duplicates;
    if let Err(r) = spool(gw, &source.id, events).await {
        return *r;
    }
    answer(gw, &source.id, accepted, rejected, new_cookie)
}

/// Signed requests being checked at once, node-wide. Checking one is up to one HMAC per source
/// over up to 512 KiB (and, once a source matches, an inflate), before anything says who sent
/// it: the checks run on blocking threads, two at a time, so that signed junk cannot hold the
/// async workers that answer everyone else, nor the sources lock.
static SIGNATURE_CHECKS: Semaphore = Semaphore::const_new(2);

/// [`gateway::admit`] of a signed request, on a blocking thread under [`SIGNATURE_CHECKS`];
/// `None` if the check did not finish (it panicked).
async fn admit_signed(
    gw: &GatewayState,
    req: &gateway::Request<'_>,
    wire: bytes::Bytes,
    hmac_required: bool,
) -> Option<Result<Admitted, Rejection>> {
    let sources = gw.sources().clone();
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

/// The answer to a body that could not be read (`keyless`: read for its `writeKey`, under that
/// smaller limit).
fn unread(gw: &GatewayState, e: ReadError, keyless: bool) -> Resp {
    match e {
        ReadError::TooLarge => {
            gw.count("unknown", "rejected_TOO_LARGE", 1);
            let why = if keyless {
                Rejection::KeylessBodyTooLarge
            } else {
                Rejection::BodyTooLarge
            };
            error(StatusCode::PAYLOAD_TOO_LARGE, "TOO_LARGE", &why.to_string())
        }
        ReadError::TimedOut => error(
            StatusCode::REQUEST_TIMEOUT,
            "TIMEOUT",
            "the body did not arrive in time",
        ),
        ReadError::Busy => {
            gw.count("unknown", "rejected_BUSY", 1);
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

/// Deduplicate: the events not seen before: a messageId twice in one request counts once, and
/// one already durable from an earlier request is not stored again. Returns them and how many
/// were dropped.
fn deduplicate(gw: &GatewayState, source: &str, events: Vec<Prepared>) -> (Vec<Prepared>, usize) {
    let before = events.len();
    let keep = gw
        .dedup()
        .fresh(source, events.iter().map(|e| e.message_id.as_deref()));
    let fresh: Vec<Prepared> = events
        .into_iter()
        .zip(keep)
        .filter_map(|(e, keep)| keep.then_some(e))
        .collect();
    let dropped = before - fresh.len();
    (fresh, dropped)
}

/// Link identities: the identity links the events carry, written to the store (on JetStream,
/// the shared links bucket every node copies) for the mapping to resolve later events by; a
/// 503 when they cannot be.
///
/// Identity links are shared by every source, not kept per source: the node serves one
/// organisation, every integration receives every source's events, and a visitor identified by
/// the web site must be the same visitor when the back end sends their events. Each record names
/// its source (`sourceId`), so where a link came from can be traced.
///
/// A link the store already holds is not written again (`known_links.rs`): identify and group
/// calls repeat theirs.
async fn link_identities(gw: &GatewayState, events: &[Prepared]) -> Stage<()> {
    let links = gw
        .known_links()
        .unknown(events.iter().flat_map(|e| &e.links));
    if links.is_empty() {
        return Ok(());
    }
    let (store, known) = (gw.store().clone(), gw.known_links().clone());
    let written = match gw.cluster() {
        // On JetStream the links' home is the shared bucket: every node's follower copies it
        // into its store and only then remembers them (`known_links.rs`). Requests put theirs
        // concurrently; the bucket's order is the links' order.
        Some(cluster) => match cluster.put_links(&links).await {
            Ok(()) => Ok(true),
            Err(e) => {
                tracing::error!(error = %e, "identity links could not be put in JetStream");
                Ok(false)
            }
        },
        None => tokio::task::spawn_blocking(move || known.write(&store, &links).is_ok()).await,
    };
    if matches!(written, Ok(true)) {
        Ok(())
    } else {
        Err(Box::new(retry_later(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "identity links could not be stored; retry",
            "5",
        )))
    }
}

/// Spool: the records appended and made durable; only then are their messageIds remembered
/// (from here a retry of these ids is a duplicate). A 503 when the append fails.
async fn spool(gw: &GatewayState, source: &str, events: Vec<Prepared>) -> Stage<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::with_capacity(events.len());
    let mut records = Vec::with_capacity(events.len());
    for e in events {
        ids.push(e.message_id);
        records.push(e.record);
    }
    if let Some(nats) = gw.nats() {
        // JetStream: the 200 only once it has acknowledged every record; a record another
        // node (or a retry) already put there is acknowledged as a duplicate, kept once.
        let appends = ids
            .iter()
            .zip(records)
            .map(|(id, record)| signal_nats::ToAppend {
                message_id: id.clone(),
                payload: bytes::Bytes::from(record),
            })
            .collect();
        if let Err(e) = nats.append(source, appends).await {
            tracing::error!(error = %e, "JetStream append failed");
            return Err(not_durable(
                "events could not be made durable (JetStream did not acknowledge them); retry",
            ));
        }
    } else if let Err(e) = gw.spool().append(records).await {
        tracing::error!(error = %e, "spool append failed");
        return Err(not_durable("events could not be made durable; retry"));
    }
    gw.dedup()
        .remember_all(source, ids.iter().flatten().map(String::as_str));
    Ok(())
}

/// The 503 of an append that was not made durable: nothing of the request was accepted.
fn not_durable(message: &str) -> Box<Resp> {
    Box::new(retry_later(
        StatusCode::SERVICE_UNAVAILABLE,
        "UNAVAILABLE",
        message,
        "5",
    ))
}

/// Answer: the 200 with how many were accepted and which were rejected, counted; a browser's
/// new `_dfid` cookie set.
fn answer(
    gw: &GatewayState,
    source: &str,
    accepted: usize,
    rejected: Vec<Rejected>,
    new_cookie: Option<String>,
) -> Resp {
    let mut v = json!({"success": true, "accepted": accepted});
    if !rejected.is_empty() {
        gw.count(source, "rejected", rejected.len() as u64);
        v["rejected"] = Value::Array(
            rejected
                .into_iter()
                .map(|r| json!({"index": r.index, "code": r.code, "message": r.message}))
                .collect(),
        );
    }
    gw.count(source, "accepted", accepted as u64);
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
