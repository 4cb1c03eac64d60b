//! Counters: the Prometheus text at `/metrics` (unauthenticated) and one integration's
//! stats (counts, latency percentiles, queue depth, status).

use crate::app::Shared;
use crate::http::{Resp, json, text};
use hyper::StatusCode;
use serde_json::json;
use signal_store::IntegrationRecord;

/// The Prometheus text format of every counter and gauge.
fn render(
    shared: &Shared,
    runtimes: &std::collections::BTreeMap<String, crate::pipeline::Runtime>,
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
    out.push_str("# HELP signal_delivery_latency_ms Time from a request's send to Pendo's answer.\n# TYPE signal_delivery_latency_ms histogram\n");
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
    for ((source, what), n) in crate::app::lock(&shared.gateway).iter() {
        let (result, code) = what
            .split_once('_')
            .map_or((what.as_str(), ""), |(r, c)| (r, c));
        out.push_str(&format!("signal_gateway_events_total{{source=\"{source}\",result=\"{result}\",code=\"{code}\"}} {n}\n"));
    }
    let stats = shared.spool.stats();
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
    out
}

/// `GET /metrics`.
pub(super) async fn metrics(shared: &Shared) -> Resp {
    let runtimes = shared.runtimes.lock().await;
    text(
        StatusCode::OK,
        "text/plain; version=0.0.4",
        render(shared, &runtimes),
    )
}

/// `GET /integrations/{id}/stats`.
pub(super) async fn stats(shared: &Shared, rec: &IntegrationRecord) -> Resp {
    let runtimes = shared.runtimes.lock().await;
    let depth = shared
        .spool
        .stats()
        .consumers
        .iter()
        .find(|(n, _, _)| n == &rec.id)
        .map_or(0, |(_, _, d)| *d);
    match runtimes.get(&rec.id) {
        Some(rt) => {
            let (status, diagnosis) = rt.stats.status();
            json(
                StatusCode::OK,
                &json!({
                    "counts": rt.stats.counts(), "latency_ms": rt.stats.percentiles(),
                    "queue_depth": depth, "in_flight": rt.in_flight(), "status": status, "diagnosis": diagnosis,
                }),
            )
        }
        None => json(
            StatusCode::OK,
            &json!({"counts": {}, "queue_depth": depth, "status": "paused", "diagnosis": null}),
        ),
    }
}
