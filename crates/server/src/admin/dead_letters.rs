//! The routes under `/integrations/{id}/dead-letters`: a page of them (the cursor is the last
//! id of the page before), replay (all, or `{"ids": [...]}`), purge. The reading and writing is
//! `crate::dead_letters`'s.

use super::reply::{body_json, error, not_found, param};
use crate::app::Shared;
use crate::http::{Resp, json, text};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::{Value, json};
use signal_store::IntegrationRecord;

/// The routes under `/integrations/{id}/dead-letters`; 409 while the integration is disabled.
pub(super) async fn route(
    shared: &Shared,
    rec: &IntegrationRecord,
    m: Method,
    more: &[&str],
    req: Request<Incoming>,
    query: &str,
) -> Resp {
    // The store itself, not the consumer: nothing here waits on delivery, and
    // the runtimes' lock is let go before any file is read.
    let dead = shared
        .runtimes
        .lock()
        .await
        .get(&rec.id)
        .map(|rt| rt.dead_letters());
    let Some(dead) = dead else {
        return error(
            StatusCode::CONFLICT,
            "CONFLICT",
            "the integration is disabled",
        );
    };
    let unavailable = |e: crate::dead_letters::DeadLetterError| {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            &e.to_string(),
        )
    };
    match (m, more) {
        (Method::GET, []) => {
            let limit = param(query, "limit")
                .and_then(|l| l.parse::<usize>().ok())
                .unwrap_or(50)
                .clamp(1, 100);
            // The cursor is the last id of the page before.
            let after = param(query, "cursor").and_then(|c| c.parse::<u64>().ok());
            match crate::dead_letters::page(dead, after, limit).await {
                Ok(page) => json(StatusCode::OK, &page),
                Err(e) => unavailable(e),
            }
        }
        (Method::POST, ["replay"]) => {
            let body = body_json(req).await.unwrap_or(Value::Null);
            let ids: Option<Vec<u64>> = body.get("ids").and_then(Value::as_array).map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().and_then(|s| s.parse().ok()).or(v.as_u64()))
                    .collect()
            });
            match crate::dead_letters::replay(dead, ids).await {
                Ok(n) => json(StatusCode::OK, &json!({"replayed": n})),
                Err(e) => unavailable(e),
            }
        }
        (Method::DELETE, []) => match crate::dead_letters::purge(dead).await {
            Ok(_) => text(StatusCode::NO_CONTENT, "text/plain", ""),
            Err(e) => unavailable(e),
        },
        _ => not_found("such endpoint"),
    }
}
