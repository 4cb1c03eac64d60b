//! One installed integration's delivery: its spool consumer, read on a thread of its own,
//! each event parsed and mapped there (CPU work), handed to the integration's delivery task
//! (`signal-forward`) through a tokio channel; the outcomes come back on another, and acknowledge
//! the spool (delivered), dead-letter (given up) or pause (held). Every step is a live event.

mod dead_letter;
mod outcomes;

use crate::app::{Shared, lock, now_ms};
use crate::live::{Entry, Live, Meta, Stats};
use bytes::Bytes;
use outcomes::Outcomes;
use serde_json::Value;
use signal_core::{Blueprint, IntegrationConfig, Mapped, Mapper, Parser, Shape};
use signal_forward::{ForwardConfig, Job, RetryPolicy};
use signal_spool::{Consumer, DeadLetters, Receipt, Start};
use signal_store::IntegrationRecord;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// The consumer and the records in delivery, shared by the reader thread and the outcome task.
/// A record's bytes are kept once, in its live-event facts (`Meta::input`).
struct Reading {
    consumer: Consumer,
    inflight: HashMap<u64, (Receipt, Arc<Meta>)>,
}

/// A running integration.
pub struct Runtime {
    /// Its live events.
    pub live: Arc<Live>,
    /// Its counters.
    pub stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
    reader: Option<std::thread::JoinHandle<()>>,
    integration: signal_forward::Integration,
    outcomes: Outcomes,
    reading: Arc<Mutex<Reading>>,
    /// The consumer's dead letters, shared: listing, replaying and purging them never takes
    /// `reading`, the lock delivery works under.
    dead: Arc<DeadLetters>,
}

pub(crate) fn forward_config(
    shared: &Shared,
    rec: &IntegrationRecord,
    bp: &'static Blueprint,
    config: &IntegrationConfig,
) -> Result<ForwardConfig, String> {
    let base = shared
        .settings
        .base_url(bp, &config.region)
        .ok_or_else(|| format!("unknown region {}", config.region))?;
    let mut f = ForwardConfig::new(&rec.id, bp, &base, &config.auth);
    f.rate_limit_per_second = config.rate_limit_per_second;
    f.retry = RetryPolicy {
        base: shared.settings.retry_base,
        cap: shared.settings.retry_cap,
        max_attempts: shared.settings.retry_max_attempts,
        max_age: Duration::from_secs(bp.delivery.max_age_hours * 3600),
    };
    f.probe_interval = shared.settings.pause_probe;
    Ok(f)
}

impl Runtime {
    /// Starts delivery for `rec`, reading the spool from its cursor (or `start` the first time).
    pub fn start(
        shared: Arc<Shared>,
        rec: &IntegrationRecord,
        start: Start,
    ) -> Result<Self, String> {
        let bp = Blueprint::get(&rec.blueprint)
            .ok_or_else(|| format!("no blueprint {}", rec.blueprint))?;
        let variant = bp
            .variant(&rec.variant)
            .ok_or_else(|| format!("no variant {}", rec.variant))?;
        let config = IntegrationConfig::validate(bp, &Value::Object(rec.config.clone()))
            .map_err(|e| e.to_string())?;
        let fcfg = forward_config(&shared, rec, bp, &config)?;
        let consumer = shared
            .spool
            .consumer(&rec.id, start)
            .map_err(|e| e.to_string())?;
        let dead = consumer.dead_letters();
        let live = Arc::new(Live::new(1000));
        let stats = Arc::new(Stats::default());
        let (tx, rx) = mpsc::unbounded_channel();
        let integration = shared.engine.start(fcfg, tx);
        let reading = Arc::new(Mutex::new(Reading {
            consumer,
            inflight: HashMap::new(),
        }));
        let outcomes = Outcomes::spawn(
            rx,
            reading.clone(),
            live.clone(),
            stats.clone(),
            dead.clone(),
            dead_letter::Backoff::DEFAULT,
        );
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (stop, reading, live, stats, integration) = (
                stop.clone(),
                reading.clone(),
                live.clone(),
                stats.clone(),
                integration.clone(),
            );
            let mapper = Mapper::new(bp, variant, config);
            let store = shared.store.clone();
            let spool = shared.spool.clone();
            std::thread::Builder::new()
                .name(format!("read-{}", rec.id))
                .spawn(move || {
                    read_loop(
                        spool,
                        stop,
                        reading,
                        mapper,
                        store,
                        integration,
                        live,
                        stats,
                    )
                })
                .map_err(|e| e.to_string())?
        };
        Ok(Self {
            live,
            stats,
            stop,
            reader: Some(reader),
            integration,
            outcomes,
            reading,
            dead,
        })
    }

    /// Events read but not yet acknowledged (in delivery or held).
    pub fn in_flight(&self) -> usize {
        lock(&self.reading).inflight.len()
    }

    /// The integration's dead letters, for listing, replay and purge: a handle of their own, so
    /// that reading them (from disk) never holds up delivery.
    pub fn dead_letters(&self) -> Arc<DeadLetters> {
        self.dead.clone()
    }

    /// Stops reading and delivering; what is not acknowledged stays in the spool.
    pub async fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(r) = self.reader.take() {
            let _ = tokio::task::spawn_blocking(move || r.join()).await;
        }
        self.integration.stop().await;
        self.outcomes.finish().await;
        let _ = lock(&self.reading).consumer.flush();
    }
}

/// The reader thread: spool -> parse -> map -> delivery task.
#[allow(clippy::too_many_arguments)]
fn read_loop(
    spool: signal_spool::Spool,
    stop: Arc<AtomicBool>,
    reading: Arc<Mutex<Reading>>,
    mut mapper: Mapper,
    store: signal_store::Store,
    integration: signal_forward::Integration,
    live: Arc<Live>,
    stats: Arc<Stats>,
) {
    let mut parser = Parser::new();
    let mut last_seen = lock(&reading).consumer.committed();
    while !stop.load(Ordering::Acquire) {
        let batch = {
            let mut r = lock(&reading);
            // Bounded: at most 10,000 events in delivery at once per integration.
            if r.inflight.len() >= 10_000 {
                Vec::new()
            } else {
                r.consumer.read(500).unwrap_or_else(|e| {
                    tracing::error!(error = %e, "spool read failed");
                    Vec::new()
                })
            }
        };
        if batch.is_empty() {
            if lock(&reading).inflight.len() >= 10_000 {
                std::thread::sleep(Duration::from_millis(20));
            } else {
                // Wait without holding the consumer, so acknowledgements go on meanwhile.
                spool.wait_durable_after(last_seen, Duration::from_millis(100));
            }
            continue;
        }
        if let Some(last) = batch.iter().filter(|r| !r.replayed).map(|r| r.seq).max() {
            last_seen = last_seen.max(last);
        }
        for mut record in batch {
            let input = Bytes::from(std::mem::take(&mut record.payload));
            let mut buf = input.to_vec();
            let doc = match parser.parse(&mut buf, Shape::Batch) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(seq = record.seq, error = %e, "a spooled record does not parse");
                    let _ = lock(&reading).consumer.ack(record.receipt());
                    continue;
                }
            };
            let Ok(ev) = doc.event(0) else {
                let _ = lock(&reading).consumer.ack(record.receipt());
                continue;
            };
            let mapping = mapper.map(&ev, &store, now_ms());
            let meta = Arc::new(Meta {
                kind: ev.kind,
                event: ev
                    .event
                    .map(str::to_owned)
                    .or_else(|| ev.name.map(str::to_owned)),
                message_id: ev.message_id.map(str::to_owned),
                warnings: mapping.warnings.to_vec(),
                input,
            });
            let job = match mapping.outcome {
                Mapped::Track { body, .. } => Job::Track {
                    id: record.seq,
                    body: Bytes::copy_from_slice(body),
                },
                Mapped::Metadata(r) => Job::from_record(record.seq, &r),
                Mapped::Dropped(reason) => {
                    let _ = lock(&reading).consumer.ack(record.receipt());
                    stats.count_reason("dropped", reason.as_str());
                    live.push(Entry {
                        at_ms: now_ms(),
                        meta,
                        outcome: "dropped",
                        reason: Some(reason.as_str().to_owned()),
                        attempt: 0,
                        latency_ms: None,
                        result: None,
                    });
                    continue;
                }
            };
            lock(&reading)
                .inflight
                .insert(record.seq, (record.receipt(), meta));
            integration.deliver(job);
        }
    }
}

#[cfg(test)]
mod tests;
