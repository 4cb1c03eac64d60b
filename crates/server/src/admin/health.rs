//! Liveness and readiness, unauthenticated: `/healthz` says the process answers, `/readyz`
//! whether it can take events now (spool directory writable and its appends not failing, or on
//! JetStream, connected and its appends not failing; the store open).
//! `HEAD` on either answers as `GET` without the body (load balancers and uptime checks use it).

use super::state::AdminState;
use crate::http::{Resp, json};
use http_body_util::BodyExt as _;
use hyper::StatusCode;
use serde_json::json;

/// `GET /healthz`.
pub(super) fn healthz() -> Resp {
    json(StatusCode::OK, &json!({"status": "ok"}))
}

/// `GET /readyz`.
pub(super) fn readyz(shared: &AdminState) -> Resp {
    let spool_dir = shared.data_dir().join("spool");
    let writable = std::fs::metadata(&spool_dir).is_ok_and(|m| !m.permissions().readonly());
    // Not ready while spool appends fail (a full or failing disk): ingestion answers 503.
    // And, on JetStream, while the connection to it is down or its appends fail (the gateway
    // answers 503 then; a node whose appends failed probes the stream every second).
    let log_up = shared
        .gateway()
        .nats()
        .is_none_or(|n| n.is_connected() && !n.is_failing());
    // On JetStream the local spool holds no events: its disk does not decide.
    let spool_ok = shared.gateway().nats().is_some() || (writable && !shared.spool().is_failing());
    let ready = spool_ok && log_up && shared.store().integrations().is_ok();
    if ready {
        json(StatusCode::OK, &json!({"status": "ready"}))
    } else {
        json(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"status": "not ready"}),
        )
    }
}

/// `HEAD`: the answer's status and headers (its `content-length` included), without the body.
pub(super) fn without_body(r: Resp) -> Resp {
    let (mut parts, body) = r.into_parts();
    if let Some(n) = hyper::body::Body::size_hint(&body).exact() {
        parts
            .headers
            .insert(hyper::header::CONTENT_LENGTH, n.into());
    }
    hyper::Response::from_parts(parts, http_body_util::Empty::new().boxed())
}
