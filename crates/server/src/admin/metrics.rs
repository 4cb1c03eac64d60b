//! Counters: the Prometheus text at `/metrics` (unauthenticated) and one integration's
//! stats (counts, latency percentiles, queue depth, status, dead letters, and `series`: the
//! outcomes and latency percentiles per second of the last 15 minutes).
//!
//! The dead letters' figures take their store's lock, which a dead-letter write holds across
//! its fsync: they are read on the blocking pool, with the runtimes' lock let go.

use super::state::AdminState;
use crate::http::{Resp, json, text};
use crate::pipeline::Runtime;
use hyper::StatusCode;
use serde_json::{Value, json};
use signal_spool::{DeadLetterStats, DeadLetters};
use signal_store::IntegrationRecord;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The dead-letter figures of these integrations, read off the async workers.
async fn dead_letter_stats(
    handles: Vec<(String, Arc<DeadLetters>)>,
) -> BTreeMap<String, DeadLetterStats> {
    tokio::task::spawn_blocking(move || {
        handles
            .into_iter()
            .map(|(id, dead)| (id, dead.stats()))
            .collect()
    })
    .await
    .unwrap_or_default()
}

/// One gauge or counter per integration, with its HELP and TYPE lines.
fn per_integration<'a>(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    values: impl Iterator<Item = (&'a String, u64)>,
) {
    out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
    for (id, v) in values {
        out.push_str(&format!("{name}{{integration=\"{id}\"}} {v}\n"));
    }
}

/// The dead letters' part of the Prometheus text: kept, their bytes, dropped past the cap,
/// waiting to be written, failed writes.
fn render_dead_letters(
    out: &mut String,
    runtimes: &BTreeMap<String, Runtime>,
    dead: &BTreeMap<String, DeadLetterStats>,
) {
    per_integration(
        out,
        "signal_dead_letters",
        "gauge",
        "Dead letters kept, by integration.",
        dead.iter().map(|(id, d)| (id, d.letters)),
    );
    per_integration(
        out,
        "signal_dead_letter_bytes",
        "gauge",
        "Bytes of the dead letters kept (what their cap counts), by integration.",
        dead.iter().map(|(id, d)| (id, d.bytes)),
    );
    per_integration(
        out,
        "signal_dead_letters_dropped_total",
        "counter",
        "Dead letters dropped to stay within their cap since the node started, by integration.",
        dead.iter().map(|(id, d)| (id, d.dropped)),
    );
    per_integration(
        out,
        "signal_dead_letters_waiting",
        "gauge",
        "Events given up on whose dead letter is not written yet (still in flight), by integration.",
        runtimes
            .iter()
            .map(|(id, rt)| (id, rt.stats.dead_letter_writes().0)),
    );
    per_integration(
        out,
        "signal_dead_letter_write_failures_total",
        "counter",
        "Dead-letter writes that failed (each tried again later), by integration.",
        runtimes
            .iter()
            .map(|(id, rt)| (id, rt.stats.dead_letter_writes().1)),
    );
}

/// The Prometheus text format of every counter and gauge.
fn render(
    shared: &AdminState,
    runtimes: &BTreeMap<String, Runtime>,
    dead: &BTreeMap<String, DeadLetterStats>,
) -> String {
    let mut out = String::new();
    out.push_str("# HELP signal_outcomes_total Events by integration and outcome.\n# TYPE signal_outcomes_total counter\n");
    for (id, rt) in runtimes {
        for (outcome, n) in rt.stats.counts() {
            out.push_str(&format!(
                "signal_outcomes_total{{integration=\"{id}\",outcome=\"{outcome}\"}} {n}\n"
            ));
        }
    }
    out.push_str("# HELP signal_outcome_reasons_total Dropped and dead-lettered events by reason.\n# TYPE signal_outcome_reasons_total counter\n");
    for (id, rt) in runtimes {
        for ((outcome, reason), n) in rt.stats.reasons() {
            let reason = reason.replace('\\', "\\\\").replace('"', "\\\"");
            out.push_str(&format!("signal_outcome_reasons_total{{integration=\"{id}\",outcome=\"{outcome}\",reason=\"{reason}\"}} {n}\n"));
        }
    }
    out.push_str("# HELP signal_delivery_latency_ms Time from a request's send to the vendor's answer.\n# TYPE signal_delivery_latency_ms histogram\n");
    for (id, rt) in runtimes {
        let (buckets, sum) = rt.stats.histogram();
        let mut cumulative = 0;
        for (i, n) in buckets.iter().enumerate() {
            cumulative += n;
            let le = crate::live::BUCKETS
                .get(i)
                .map_or_else(|| "+Inf".to_owned(), u64::to_string);
            out.push_str(&format!("signal_delivery_latency_ms_bucket{{integration=\"{id}\",le=\"{le}\"}} {cumulative}\n"));
        }
        out.push_str(&format!("signal_delivery_latency_ms_sum{{integration=\"{id}\"}} {sum}\nsignal_delivery_latency_ms_count{{integration=\"{id}\"}} {cumulative}\n"));
    }
    out.push_str("# HELP signal_gateway_events_total Events at the gateway by source and result.\n# TYPE signal_gateway_events_total counter\n");
    for ((source, what), n) in shared.gateway().counters().iter() {
        let (result, code) = what
            .split_once('_')
            .map_or((what.as_str(), ""), |(r, c)| (r, c));
        out.push_str(&format!("signal_gateway_events_total{{source=\"{source}\",result=\"{result}\",code=\"{code}\"}} {n}\n"));
    }
    let stats = shared.spool().stats();
    out.push_str("# HELP signal_spool_depth Events not yet acknowledged, by integration.\n# TYPE signal_spool_depth gauge\n");
    for (name, _, depth) in &stats.consumers {
        out.push_str(&format!(
            "signal_spool_depth{{integration=\"{name}\"}} {depth}\n"
        ));
    }
    out.push_str(&format!("# HELP signal_spool_bytes Bytes of spool segments.\n# TYPE signal_spool_bytes gauge\nsignal_spool_bytes {}\n", stats.bytes));
    out.push_str("# HELP signal_integration_paused Whether an integration is paused.\n# TYPE signal_integration_paused gauge\n");
    for (id, rt) in runtimes {
        let paused = u8::from(rt.stats.status().0 == "paused");
        out.push_str(&format!(
            "signal_integration_paused{{integration=\"{id}\"}} {paused}\n"
        ));
    }
    render_dead_letters(&mut out, runtimes, dead);
    out
}

/// The dead-letter handles of the running integrations (all, or only `id`).
async fn dead_letter_handles(
    shared: &AdminState,
    id: Option<&str>,
) -> Vec<(String, Arc<DeadLetters>)> {
    shared
        .runtimes()
        .await
        .iter()
        .filter(|(i, _)| id.is_none_or(|id| id == i.as_str()))
        .filter_map(|(i, rt)| match rt.dead_letters() {
            // JetStream's dead letters are counted by its own monitoring, not here.
            crate::dead_letters::Letters::Local(d) => Some((i.clone(), d)),
            crate::dead_letters::Letters::Nats { .. } => None,
        })
        .collect()
}

/// `GET /metrics`.
pub(super) async fn metrics(shared: &AdminState) -> Resp {
    let dead = dead_letter_stats(dead_letter_handles(shared, None).await).await;
    let runtimes = shared.runtimes().await;
    text(
        StatusCode::OK,
        "text/plain; version=0.0.4",
        render(shared, &runtimes, &dead),
    )
}

/// The stats' `dead_letters` object: kept, their bytes, dropped past the cap, waiting to be
/// written, failed writes.
fn dead_letters_json(d: &DeadLetterStats, rt: &Runtime) -> Value {
    let (waiting, write_failures) = rt.stats.dead_letter_writes();
    json!({
        "count": d.letters, "bytes": d.bytes, "dropped": d.dropped,
        "waiting": waiting, "write_failures": write_failures,
    })
}

/// `GET /integrations/{id}/stats`.
pub(super) async fn stats(shared: &AdminState, rec: &IntegrationRecord) -> Resp {
    let dead = dead_letter_stats(dead_letter_handles(shared, Some(&rec.id)).await).await;
    let runtimes = shared.runtimes().await;
    let depth = shared
        .spool()
        .stats()
        .consumers
        .iter()
        .find(|(n, _, _)| n == &rec.id)
        .map_or(0, |(_, _, d)| *d);
    match runtimes.get(&rec.id) {
        Some(rt) => {
            let (status, diagnosis) = rt.stats.status();
            let mut body = json!({
                "counts": rt.stats.counts(), "latency_ms": rt.stats.percentiles(),
                "queue_depth": depth, "in_flight": rt.in_flight(), "status": status, "diagnosis": diagnosis,
            });
            body["in_flight_bytes"] = rt.in_flight_bytes().into();
            // Added to interface.md's fields, which stay as they are.
            if let Some(d) = dead.get(&rec.id) {
                body["dead_letters"] = dead_letters_json(d, rt);
            }
            // Per second, the last 15 minutes: this node's, or on JetStream every node's added
            // up by the cluster (from this node's part, made once).
            if let Some(c) = shared.cluster() {
                let mine = crate::cluster::node_stats(c.node(), rt);
                drop(runtimes);
                body = c.stats(&rec.id, body, mine).await;
            } else {
                body["series"] = rt.stats.window().to_json();
            }
            json(StatusCode::OK, &body)
        }
        None => json(
            StatusCode::OK,
            &json!({"counts": {}, "queue_depth": depth, "status": "paused", "diagnosis": null}),
        ),
    }
}
