//! An integration's live events over HTTP: a server-sent event stream for a client that asks
//! for `text/event-stream`, else the most recent as JSON. The events themselves are kept by
//! `crate::live`.

use super::reply::{error, limit};
use super::state::AdminState;
use crate::http::{Resp, json};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;
use signal_store::IntegrationRecord;

/// Whether the client asked for a stream (`Accept: text/event-stream`).
pub(super) fn wants_stream(req: &Request<Incoming>) -> bool {
    req.headers()
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/event-stream"))
}

/// `GET /integrations/{id}/events`: the stream (409 while the integration is disabled), or
/// the most recent `?limit=` (default 50, 1 to 1000; not a number: 422) as `{"data": [...]}`;
/// on JetStream, both hold every node's live events.
pub(super) async fn events(
    shared: &AdminState,
    rec: &IntegrationRecord,
    wants_stream: bool,
    query: &str,
) -> Resp {
    if wants_stream {
        return match shared.runtimes().await.get(&rec.id) {
            Some(rt) => {
                // The stream outlives this request: it ends once the caller may no longer read.
                let still = super::audit::caller().map(|c| shared.access().keeps(&c));
                crate::http::event_stream(rt.live.subscribe(), move || {
                    still.as_ref().is_some_and(|keeps| keeps())
                })
            }
            None => error(
                StatusCode::CONFLICT,
                "CONFLICT",
                "the integration is disabled",
            ),
        };
    }
    let limit = match limit(query, 50, 1000) {
        Ok(limit) => limit,
        Err(bad) => return bad.answer(),
    };
    let data = shared
        .runtimes()
        .await
        .get(&rec.id)
        .map(|rt| rt.live.recent(limit))
        .unwrap_or_default();
    // On JetStream, every node's (each says which node delivered it).
    let data = match shared.cluster() {
        Some(c) => c.recent(&rec.id, limit, data).await,
        None => data,
    };
    json(StatusCode::OK, &json!({"data": data}))
}
