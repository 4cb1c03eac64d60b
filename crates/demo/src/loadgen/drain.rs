//! `loadgen --drain N`: delivery alone. The figure Part D of issue 13 cuts against: drain rate
//! and node CPU per vendor request.
//!
//! 1. Warm-up (not measured): a tenth of N (at least 1,000 events, at most 50,000) ingested and
//!    delivered to the end, so connections are open and the pools and caches warm.
//! 2. Once the node has acknowledged the warm-up (its stats: nothing in flight or queued, so
//!    nothing is sent twice), the integration is disabled (`PATCH enabled: false`); N events (whole batches, so a few
//!    more) are ingested flat out and acknowledged (durable in the spool).
//! 3. The drain starts when the `PATCH enabled: true` is sent: the sink's counts, this process's
//!    CPU time (`/proc/self/stat` utime + stime, every thread: the node runs here; the null sink
//!    is another process) and the clock are read just before.
//! 4. It ends when the sink has counted every track request the backlog holds (one per track
//!    and page event, known from the batches sent), polled every 20 ms; the sink's counts, the
//!    CPU time and the clock are read then.
//!
//! The null sink's CPU time over the drain is reported beside (its own process, so not in the
//! node's), to show whether the sink was the limit. With `--sink sandbox` the sandbox runs in
//! this process and its CPU is counted in the node's.
//!
//! Requests delivered = every request the sink counted between start and end (track requests
//! and the batched identify/group metadata requests); node CPU per request = CPU time over the
//! drain / requests delivered. The ingest clients are idle through the drain; the polling costs
//! the node's process about 1 µs per poll.

use super::body::cpu_us;
use super::{Counters, Delivered, LoadOptions, Phase, Started, admin, spawn_clients};
use crate::DemoError;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The longest a phase's delivery may take before the run gives up (and reports what it saw).
const PATIENCE: Duration = Duration::from_secs(600);

/// Ingests `events` (from request number `first`) with every client flat out; returns when all
/// are acknowledged. The counters keep the totals.
async fn ingest(
    opts: &LoadOptions,
    s: &Started,
    counters: &Arc<Counters>,
    events: u64,
    first: usize,
) -> Duration {
    let began = Instant::now();
    let until = counters.accepted.load(Ordering::Relaxed) + events;
    let phase = Phase {
        interval: None,
        until,
        first,
    };
    for t in spawn_clients(opts, s, counters, phase) {
        let _ = t.await;
    }
    began.elapsed()
}

/// Waits until the sink has counted `tracks` track requests in all (or [`PATIENCE`] passed);
/// true if it did.
async fn wait_for(s: &Started, d: &mut Delivered, tracks: u64) -> Result<bool, DemoError> {
    let began = Instant::now();
    loop {
        d.update(&s.vendor).await?;
        if d.tracks >= tracks {
            return Ok(true);
        }
        if began.elapsed() > PATIENCE {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the node has acknowledged every event it delivered (the integration's stats show
/// nothing in flight and nothing left in its queue), so none is delivered again after a restart
/// of delivery (delivery is at least once: an event sent but not yet acknowledged when delivery
/// stops goes again).
async fn settle(s: &Started) -> Result<(), DemoError> {
    let id = s.integration.as_deref().unwrap_or_default();
    let path = format!("/v1/admin/integrations/{id}/stats");
    let began = Instant::now();
    while began.elapsed() < PATIENCE {
        let (_, stats) = admin(&s.client, &s.node, "GET", &path, &Value::Null).await?;
        if stats["in_flight"] == 0 && stats["queue_depth"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Turns the integration's delivery on or off.
async fn enable(s: &Started, on: bool) -> Result<(), DemoError> {
    let id = s.integration.as_deref().unwrap_or_default();
    let path = format!("/v1/admin/integrations/{id}");
    let (status, body) = admin(&s.client, &s.node, "PATCH", &path, &json!({"enabled": on})).await?;
    if status != 200 {
        return Err(DemoError::Admin {
            call: format!("PATCH {path}"),
            status,
            body: body.to_string(),
        });
    }
    Ok(())
}

/// The drain; its report.
pub(super) async fn run(opts: &LoadOptions, s: &Started, events: u64) -> Result<Value, DemoError> {
    let counters = Arc::new(Counters::default());
    let mut d = Delivered::new();
    // 1. Warm-up.
    let warm = (events / 10).clamp(1_000, 50_000);
    ingest(opts, s, &counters, warm, 0).await;
    let warm_tracks = counters.tracks_sent.load(Ordering::Relaxed);
    let warmed = wait_for(s, &mut d, warm_tracks).await?;
    eprintln!(
        "warm-up: {} events, {} track requests delivered{}",
        counters.accepted.load(Ordering::Relaxed),
        d.tracks,
        if warmed { "" } else { " (NOT all: gave up)" }
    );
    // 2. The backlog, with delivery held.
    settle(s).await?;
    enable(s, false).await?;
    let before = counters.accepted.load(Ordering::Relaxed);
    let took = ingest(opts, s, &counters, events, 1 << 28).await;
    let backlog_events = counters.accepted.load(Ordering::Relaxed) - before;
    let backlog_tracks = counters.tracks_sent.load(Ordering::Relaxed) - warm_tracks;
    eprintln!(
        "backlog: {backlog_events} events ({backlog_tracks} track requests) ingested in {:.2} s; draining",
        took.as_secs_f64()
    );
    // 3. The drain.
    d.update(&s.vendor).await?;
    let (requests0, tracks0, http2_0) = (d.requests, d.tracks, d.http2);
    let (cpu0, sink0) = (cpu_us(), s.vendor.sink_cpu_us());
    let t0 = Instant::now();
    enable(s, true).await?;
    let done = wait_for(s, &mut d, tracks0 + backlog_tracks).await?;
    let seconds = t0.elapsed().as_secs_f64();
    let cpu = cpu_us().zip(cpu0).map(|(b, a)| b.saturating_sub(a));
    let sink_cpu = s
        .vendor
        .sink_cpu_us()
        .zip(sink0)
        .map(|(b, a)| b.saturating_sub(a));
    let requests = d.requests - requests0;
    let per_request = cpu
        .filter(|_| requests > 0)
        .map(|c| c as f64 / requests as f64);
    let rate = requests as f64 / seconds;
    eprintln!(
        "drain: {requests} requests in {seconds:.2} s = {rate:.0} requests/s; node CPU {} µs per request{}",
        per_request.map_or("unknown".into(), |c| format!("{c:.1}")),
        if done {
            ""
        } else {
            " (NOT every request arrived)"
        }
    );
    Ok(json!({
        "sink": opts.sink.name(),
        "sink_placement": s.vendor.placement(),
        "vendor_http": s.http,
        "clients": opts.clients, "batch": opts.batch,
        "warmup_events": warm,
        "backlog_events": backlog_events,
        "backlog_track_requests": backlog_tracks,
        "backlog_ingest_seconds": took.as_secs_f64(),
        "drain_complete": done,
        "drain_seconds": seconds,
        "drain_requests": requests,
        "drain_track_requests": d.tracks - tracks0,
        "drain_requests_over_http2": d.http2.zip(http2_0).map(|(b, a)| b.saturating_sub(a)),
        "drain_requests_per_s": rate,
        "node_cpu_us": cpu,
        "node_cpu_us_per_request": per_request,
        "node_cores_busy": cpu.map(|c| c as f64 / 1e6 / seconds),
        "sink_cpu_us_per_request": sink_cpu.filter(|_| requests > 0).map(|c| c as f64 / requests as f64),
        "sink_cores_busy": sink_cpu.map(|c| c as f64 / 1e6 / seconds),
        "errors": counters.errors.load(Ordering::Relaxed),
    }))
}
