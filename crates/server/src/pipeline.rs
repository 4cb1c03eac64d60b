//! One installed integration's delivery: its spool consumer, read on a thread of its own,
//! each event parsed and mapped there (CPU work, `read.rs`), handed to the integration's
//! delivery task (`signal-forward`) through a tokio channel; the outcomes come back on another
//! (`outcomes.rs`), and acknowledge the spool (delivered), dead-letter (given up) or pause
//! (held). Dead letters and the ends of replays, synced writes, are made on the blocking pool
//! without delivery's lock, and retried when they fail (`dead_letter.rs`). Every step is a live
//! event.

mod dead_letter;
mod deliveries;
#[cfg(test)]
mod memory_tests;
mod outcomes;
mod read;
mod source;
mod start_error;
#[cfg(test)]
mod threads_tests;

pub(crate) use deliveries::Deliveries;
pub use start_error::PipelineStartError;

use crate::dead_letters::Letters;
use crate::live::{Live, Meta, Stats};
use crate::state::PipelineState;
use crate::sync::lock;
use outcomes::Outcomes;
use serde_json::Value;
use signal_core::{Blueprint, IntegrationConfig, Mapper};
use signal_forward::{ForwardConfig, RetryPolicy};
use signal_spool::{DeadLetterInfo, Receipt, Start};
use signal_store::IntegrationRecord;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// How much one integration holds in delivery at once: read no more from the spool while
/// either is reached (the records stay there, durable, until there is room).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Records in delivery.
    pub events: usize,
    /// Their bytes: the spooled record plus the mapped request body each one holds.
    pub bytes: usize,
}

impl Limits {
    /// 10,000 records or 64 MiB, whichever comes first: a paused vendor and 32 KiB events hold
    /// at most about 64 MiB per integration, not 10,000 x 64 KiB.
    pub(crate) const DEFAULT: Self = Self {
        events: 10_000,
        bytes: 64 << 20,
    };
}

/// The consumer and the records in delivery, shared by the reader thread and the outcome task.
/// A record's bytes are kept once, in its live-event facts (`Meta::input`). Only in-memory work
/// is done under its lock: file writes are made without it (`dead_letter.rs`).
struct Reading {
    consumer: source::Source,
    inflight: HashMap<u64, Flight>,
    /// The sum of the `bytes` of `inflight`.
    inflight_bytes: usize,
}

impl Reading {
    fn new(consumer: source::Source) -> Self {
        Self {
            consumer,
            inflight: HashMap::new(),
            inflight_bytes: 0,
        }
    }

    /// Puts `flight` in delivery, counting its bytes.
    fn hold(&mut self, seq: u64, flight: Flight) {
        self.inflight_bytes += flight.bytes;
        if let Some(old) = self.inflight.insert(seq, flight) {
            self.inflight_bytes -= old.bytes;
        }
    }

    /// One of `seq`'s items reached its end (`dead`: it was dead-lettered, with this answer).
    /// A record is finished when its last item is: acknowledged if every item was delivered or
    /// dropped, else kept whole as a dead letter with the first dead item's answer (a replay
    /// sends every item again: at least once, never lost).
    fn settle(&mut self, seq: u64, dead: Option<DeadLetterInfo>) -> Settle {
        let Some(f) = self.inflight.get_mut(&seq) else {
            return Settle::Unknown;
        };
        if f.dead.is_none() {
            f.dead = dead;
        }
        f.items = f.items.saturating_sub(1);
        if f.items > 0 {
            return Settle::Pending;
        }
        match f.dead.take() {
            Some(info) => Settle::DeadLetter(info),
            None => Settle::Done,
        }
    }

    /// Takes `seq` out of delivery, uncounting its bytes.
    fn release(&mut self, seq: u64) -> Option<Flight> {
        let f = self.inflight.remove(&seq)?;
        self.inflight_bytes -= f.bytes;
        Some(f)
    }
}

/// A record in delivery.
struct Flight {
    /// What acknowledges it.
    receipt: Receipt,
    /// What its live events say of it, its bytes included.
    meta: Arc<Meta>,
    /// Whether it is a replayed dead letter (finishing it is a synced write).
    replayed: bool,
    /// What it holds in memory: its record and its mapped request body.
    bytes: usize,
    /// Its items not yet delivered, dropped or dead-lettered (an event may make several
    /// requests: Amplitude's and Heap's group calls make two).
    items: u32,
    /// The answer of its first dead-lettered item, while others are still out.
    dead: Option<DeadLetterInfo>,
}

/// What a record needs once one of its items reached its end.
enum Settle {
    /// Not in delivery (already finished).
    Unknown,
    /// Other items are still out.
    Pending,
    /// Every item was delivered or dropped: acknowledge it.
    Done,
    /// An item was dead-lettered: keep the record as a dead letter with this answer.
    DeadLetter(DeadLetterInfo),
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
    dead: Letters,
    /// The integration's rate limit, requests a second (for the whole cluster on JetStream:
    /// this node sends its share, `PipelineState::rate_share`).
    rate_limit: u32,
    /// This node's share of it, which the reader holds two seconds of at most (JetStream).
    share: Arc<AtomicU32>,
}

pub(crate) fn forward_config(
    shared: &PipelineState,
    rec: &IntegrationRecord,
    bp: &'static Blueprint,
    config: &IntegrationConfig,
) -> Result<ForwardConfig, PipelineStartError> {
    let base = shared
        .settings
        .base_url(bp, &config.region)
        .ok_or_else(|| PipelineStartError::UnknownRegion(config.region.clone()))?;
    // The blueprint's requests made concrete for this integration (URLs, credentials,
    // envelopes); its response policies come with the blueprint.
    let targets = signal_core::request::resolve(&bp.requests, &config.values, &base)
        .map_err(PipelineStartError::Targets)?;
    let mut f = ForwardConfig::new(&rec.id, bp, targets);
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
    #[cfg(test)]
    pub(crate) fn start(
        shared: &PipelineState,
        rec: &IntegrationRecord,
        start: Start,
    ) -> Result<Self, PipelineStartError> {
        Self::start_with(shared, rec, start, Limits::DEFAULT)
    }

    /// `start`, holding at most `limits` in delivery.
    #[cfg(test)]
    pub(crate) fn start_with(
        shared: &PipelineState,
        rec: &IntegrationRecord,
        start: Start,
        limits: Limits,
    ) -> Result<Self, PipelineStartError> {
        Self::start_on(shared, rec, start, None, limits)
    }

    /// `start_with`, reading from `nats` (the integration's JetStream consumer, made by the
    /// caller: it is async) when the node's log is JetStream, else from the local spool.
    pub(crate) fn start_on(
        shared: &PipelineState,
        rec: &IntegrationRecord,
        start: Start,
        nats: Option<signal_nats::NatsConsumer>,
        limits: Limits,
    ) -> Result<Self, PipelineStartError> {
        let bp = Blueprint::get(&rec.blueprint)
            .ok_or_else(|| PipelineStartError::NoBlueprint(rec.blueprint.clone()))?;
        let variant = bp
            .variant(&rec.variant)
            .ok_or_else(|| PipelineStartError::NoVariant(rec.variant.clone()))?;
        let config = IntegrationConfig::validate(bp, &Value::Object(rec.config.clone()))
            .map_err(PipelineStartError::Config)?;
        let mut fcfg = forward_config(shared, rec, bp, &config)?;
        let rate_limit = fcfg.rate_limit_per_second;
        fcfg.rate_limit_per_second = shared.rate_share(rate_limit);
        let share = Arc::new(AtomicU32::new(fcfg.rate_limit_per_second));
        let live = Arc::new(match shared.cluster() {
            Some(c) => Live::new(1000).with_tap(c.live_tap(&rec.id)),
            None => Live::new(1000),
        });
        let stats = Arc::new(Stats::default());
        let (tx, rx) = mpsc::unbounded_channel();
        // The delivery task, its requests and the outcome task run on delivery's own threads
        // (when it has them), never behind ingestion's tasks.
        let _on_delivery_threads = shared.threads().enter();
        let runtime = tokio::runtime::Handle::current();
        let (consumer, dead, letters): (_, Arc<dyn dead_letter::DeadLetterStore>, _) =
            match (nats, shared.nats()) {
                (Some(c), Some(log)) => {
                    let ack_wait = log.settings().ack_wait;
                    let letters = Letters::Nats {
                        log: Box::new(log.clone()),
                        integration: Arc::from(rec.id.as_str()),
                    };
                    (
                        source::Source::Nats(Arc::new(source::NatsSource::new(
                            c,
                            runtime.clone(),
                            ack_wait,
                            shared.cluster().cloned(),
                        ))),
                        Arc::new(source::NatsDeadLetters::new(
                            log.clone(),
                            &rec.id,
                            runtime.clone(),
                        )),
                        letters,
                    )
                }
                _ => {
                    let consumer = shared
                        .spool()
                        .consumer(&rec.id, start)
                        .map_err(PipelineStartError::Spool)?;
                    let dead = consumer.dead_letters();
                    (
                        source::Source::Local(consumer),
                        dead.clone(),
                        Letters::Local(dead),
                    )
                }
            };
        let integration = shared.engine().start(fcfg, tx);
        let reading = Arc::new(Mutex::new(Reading::new(consumer)));
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
            let read = read::ReadLoop {
                spool: shared.spool().clone(),
                stop: stop.clone(),
                reading: reading.clone(),
                dead: dead.clone(),
                mapper: Mapper::new(bp, variant, config),
                store: shared.store().clone(),
                integration: integration.clone(),
                live: live.clone(),
                stats: stats.clone(),
                limits,
                share: shared.nats().map(|_| share.clone()),
            };
            std::thread::Builder::new()
                .name(format!("read-{}", rec.id))
                .spawn(move || read.run())
                .map_err(PipelineStartError::Thread)?
        };
        Ok(Self {
            live,
            stats,
            stop,
            reader: Some(reader),
            integration,
            outcomes,
            reading,
            dead: letters,
            rate_limit,
            share,
        })
    }

    /// Sends this node's share of the rate limit as it is now (the nodes alive changed).
    pub(crate) fn reshare(&self, shared: &PipelineState) {
        let share = shared.rate_share(self.rate_limit);
        self.share.store(share, Ordering::Release);
        self.integration.set_rate(share);
    }

    /// Events read but not yet acknowledged (in delivery or held).
    pub fn in_flight(&self) -> usize {
        lock(&self.reading).inflight.len()
    }

    /// The bytes the events in delivery hold (records and mapped bodies): at most the
    /// in-flight cap (64 MiB) plus one record.
    pub fn in_flight_bytes(&self) -> usize {
        lock(&self.reading).inflight_bytes
    }

    /// The integration's dead letters, for listing, replay and purge: a handle of their own, so
    /// that reading them (from disk) never holds up delivery.
    pub(crate) fn dead_letters(&self) -> Letters {
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
        let nats = {
            let r = lock(&self.reading);
            r.consumer.flush();
            r.consumer.nats()
        };
        if let Some(n) = nats {
            n.hand_back_all().await;
        }
    }
}

#[cfg(test)]
mod tests;
