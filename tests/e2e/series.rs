//! The stats' `series` (outcomes and latency per second, the last 15 minutes) against a run on
//! the Pendo sandbox with failures: each outcome's seconds add up to its count, the deliveries
//! the sandbox accepted are all in the series, and a second has latency percentiles exactly
//! when it has deliveries.

use crate::harness::delivered_ns;
use crate::harness::{series_sum, with_sandbox};
use crate::vendors::{count, send};
use serde_json::{Value, json};
use signal_sandbox::FaultPlan;
use std::time::{Duration, Instant};

const OUTCOMES: [&str; 5] = [
    "delivered",
    "dropped",
    "retrying",
    "failed",
    "dead_lettered",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_series_adds_up_to_the_events_delivered_dropped_and_retried() {
    let (_dir, sim, edge) = with_sandbox(
        "ik",
        &[
            ("SIGNAL_RETRY_MAX_ATTEMPTS", "3".into()),
            ("SIGNAL_RETRY_BASE_MS", "50".into()),
        ],
    )
    .await;
    let id = edge
        .install(json!({"api_key": "a", "integration_key": "ik"}))
        .await;
    // A third of the requests fail with 500/503: retried, some given up on.
    sim.set_faults(FaultPlan {
        error_rate: 0.34,
        ..FaultPlan::default()
    });
    let mut events: Vec<Value> = (0..30)
        .map(|n| json!({"type": "track", "userId": format!("u-{n}"), "event": "Clicked", "properties": {"n": n}}))
        .collect();
    // Dropped before any request: no consent.
    events.extend((0..4).map(|n| {
        json!({"type": "track", "userId": format!("u-{n}"), "event": "Private",
               "context": {"consent": {"analytics": false}}})
    }));
    send(&edge, &events).await;

    let path = format!("/v1/admin/integrations/{id}/stats");
    let start = Instant::now();
    let stats = loop {
        let s = edge.admin("GET", &path, None).await.1;
        let done = count(&s, "delivered") + count(&s, "dropped") + count(&s, "dead_lettered");
        // The series is counted just after the totals: equal a moment later.
        let even = OUTCOMES.iter().all(|o| series_sum(&s, o) == count(&s, o));
        if (done >= 34 && even) || start.elapsed() > Duration::from_secs(30) {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let series = &stats["series"];
    assert_eq!(series["interval_s"], 1, "{series}");
    assert_eq!(series["points"], 900);
    for o in OUTCOMES {
        assert_eq!(series[o].as_array().map(Vec::len), Some(900), "{o}");
        assert_eq!(
            series_sum(&stats, o),
            count(&stats, o),
            "{o}: {}",
            stats["counts"]
        );
    }
    assert_eq!(
        count(&stats, "delivered") + count(&stats, "dropped") + count(&stats, "dead_lettered"),
        34
    );
    assert_eq!(series_sum(&stats, "dropped"), 4, "the consent drops");
    assert!(
        series_sum(&stats, "retrying") > 0,
        "a third of the requests failed: {}",
        stats["counts"]
    );
    // Every Track event the sandbox accepted is a delivery in the series.
    let accepted = delivered_ns(&sim).len() as u64;
    assert_eq!(
        series_sum(&stats, "delivered"),
        accepted,
        "{}",
        stats["counts"]
    );
    // Latency percentiles where there were deliveries, null elsewhere; ordered.
    let delivered = series["delivered"].as_array().cloned().unwrap_or_default();
    for (i, d) in delivered.iter().enumerate() {
        let p = |k: &str| series["latency_ms"][k][i].as_u64();
        if d.as_u64() == Some(0) {
            assert_eq!(series["latency_ms"]["p50"][i], Value::Null, "second {i}");
        } else {
            let (p50, p95, p99) = (p("p50"), p("p95"), p("p99"));
            assert!(
                p50.is_some() && p50 <= p95 && p95 <= p99,
                "second {i}: {series}"
            );
        }
    }
    // The last point is this second: `end` is within a few seconds of now.
    let end = series["end"].as_str().unwrap_or_default();
    let now = crate::harness::now_ms().parse::<i64>().unwrap_or(0) / 1000;
    let end_s = signal_core::time::parse_iso8601(end).unwrap_or(0) / 1000;
    assert!((now - end_s).abs() <= 5, "end {end} against now {now}");
}
